"""The benchmark workloads: each returns (chainrule step, PyTorch step) on identical data."""

from __future__ import annotations

import itertools

import numpy as np


def chain_of_ops(n_ops: int = 1000, size: int = 16):
    """Autograd overhead: 1,000 elementwise ops (mul, add, tanh in turn) on 16x16, forward + backward."""
    import torch

    import chainrule as cr

    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((size, size)).astype(np.float32)
    a0 = (1 + 0.1 * rng.standard_normal((size, size))).astype(np.float32)
    b0 = (0.1 * rng.standard_normal((size, size))).astype(np.float32)

    def make(lib):
        x = lib.tensor(x0, requires_grad=True)
        a = lib.tensor(a0, requires_grad=True)
        b = lib.tensor(b0, requires_grad=True)

        def step():
            x.grad = a.grad = b.grad = None
            y = x
            for i in range(n_ops):
                k = i % 3
                if k == 0:
                    y = y * a
                elif k == 1:
                    y = y + b
                else:
                    y = y.tanh()
            y.sum().backward()
            return x.grad

        return step

    return make(cr), make(torch)


def _mlp_step(lib, sizes, activation, loss_name, X0, y0, seed=0):
    """One training step of an MLP in ``lib`` (chainrule or torch): forward, loss, backward, Adam."""
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(lib.nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(getattr(lib.nn, activation)())
    model = lib.nn.Sequential(*layers)
    init = _mlp_init(sizes, seed)
    model.load_state_dict(
        init if lib.__name__ == "chainrule" else {k: lib.tensor(v) for k, v in init.items()}
    )
    loss_fn = getattr(lib.nn, loss_name)()
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)
    X, y = lib.tensor(X0), lib.tensor(y0)

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def _mlp_init(sizes, seed):
    rng = np.random.default_rng(seed)
    state, index = {}, 0
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        bound = 1 / np.sqrt(n_in)
        state[f"{index}.weight"] = rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32)
        state[f"{index}.bias"] = rng.uniform(-bound, bound, n_out).astype(np.float32)
        index += 2 if i < len(sizes) - 2 else 1
    return state


def tiny_mlp(n_points: int = 100):
    """W0: MLP 2-16-16-1, tanh, 100 points, MSE, Adam: per-op overhead is everything."""
    import torch

    import chainrule as cr

    rng = np.random.default_rng(0)
    X0 = rng.uniform(-1, 1, (n_points, 2)).astype(np.float32)
    y0 = (np.sin(3 * X0[:, :1]) * X0[:, 1:]).astype(np.float32)
    return tuple(_mlp_step(lib, (2, 16, 16, 1), "Tanh", "MSELoss", X0, y0) for lib in (cr, torch))


def mnist_mlp(batch: int = 128):
    """W1: MLP 784-256-256-10, ReLU, batch 128, cross-entropy, Adam: GEMMs and the optimizer."""
    import torch

    import chainrule as cr

    rng = np.random.default_rng(0)
    X0 = rng.uniform(0, 1, (batch, 784)).astype(np.float32)
    y0 = rng.integers(0, 10, batch).astype(np.int64)
    return tuple(
        _mlp_step(lib, (784, 256, 256, 10), "ReLU", "CrossEntropyLoss", X0, y0) for lib in (cr, torch)
    )


WORKLOADS = {
    "chain": {
        "title": "autograd chain 1000 ops 16x16",
        "make": chain_of_ops,
        "repeats": 5,
        "bar": 1.0,  # issue 2: per-op overhead at most PyTorch's
    },
    "W0": {
        "title": "W0 MLP 2-16-16-1 tanh, Adam",
        "make": tiny_mlp,
        "repeats": 200,
        "bar": 0.5,  # issue 3
    },
    "W1": {
        "title": "W1 MLP 784-256-256-10, Adam",
        "make": mnist_mlp,
        "repeats": 20,
        "bar": 1.2,  # issue 3
        "memory_bar": 1.5,
    },
}
