"""The benchmark workloads: each returns (chainrule step, PyTorch step) on identical data."""

from __future__ import annotations

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


def tiny_mlp_raw(n_points: int = 100):
    """W0's shape with raw tensors: MLP 2-16-16-1, tanh, MSE, plain SGD written by hand.

    The layers and optimizers arrive with chainrule.nn/optim; until then this
    row measures the engine on W0's mix of ops (matmul, broadcast add, tanh,
    mean) rather than on a uniform chain.
    """
    import torch

    import chainrule as cr

    rng = np.random.default_rng(0)
    X0 = rng.uniform(-1, 1, (n_points, 2)).astype(np.float32)
    y0 = np.sin(3 * X0[:, :1]) * X0[:, 1:]
    shapes = [(2, 16), (16,), (16, 16), (16,), (16, 1), (1,)]
    init = [(rng.standard_normal(s) * 0.5).astype(np.float32) for s in shapes]

    def make(lib, no_grad):
        X, y = lib.tensor(X0), lib.tensor(y0.astype(np.float32))
        params = [lib.tensor(p.copy(), requires_grad=True) for p in init]

        def step():
            w1, b1, w2, b2, w3, b3 = params
            h = (X @ w1 + b1).tanh()
            h = (h @ w2 + b2).tanh()
            loss = ((h @ w3 + b3 - y) ** 2).mean()
            for p in params:
                p.grad = None
            loss.backward()
            with no_grad():
                for p in params:
                    p -= 0.05 * p.grad
            return loss

        return step

    return make(cr, cr.no_grad), make(torch, torch.no_grad)


WORKLOADS = {
    "chain": {
        "title": "autograd chain 1000 ops 16x16",
        "make": chain_of_ops,
        "repeats": 5,
        "bar": 1.0,  # issue 2: per-op overhead at most PyTorch's
    },
    "tiny_mlp": {
        "title": "tiny MLP 2-16-16-1 raw, SGD step",
        "make": tiny_mlp_raw,
        "repeats": 200,
    },
}
