"""The benchmark workloads: each returns (chainrule step, PyTorch step) on identical data."""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np

# Where the workloads run: "cpu", or "cuda" (both libraries on the GPU; run.py --device cuda sets it).
DEVICE = "cpu"


def set_device(device: str) -> None:
    """Make every workload built from now on put its models and data on ``device``."""
    global DEVICE
    DEVICE = device


def on_device(obj):
    """A model or tensor of either library on the workloads' device (chainrule and torch both have .to)."""
    return obj if DEVICE == "cpu" else obj.to(DEVICE)


def load_compiled_kernels() -> None:
    """Run each of chainrule's compiled kernels once on tiny inputs, so numba and their machine code load now.

    A once-per-process cost (numba's compiler and runtime, like importing a
    library), which the peak memory of a step leaves out as it leaves out each
    library's import. Without numba it does nothing but a few tiny ops.
    """
    import chainrule as cr

    nn = cr.nn
    for layer in (nn.LSTM(4, 8), nn.GRU(4, 8), nn.RNN(4, 8)):
        layer(cr.randn(3, 2, 4, requires_grad=True))[0].sum().backward()
    conv = nn.Conv2d(64, 64, 3, padding=1)
    x = cr.randn(1, 64, 16, 16, requires_grad=True)
    with cr.no_grad():  # Winograd's forward, max pool's
        nn.functional.max_pool2d(conv(x), 2)
    nn.functional.max_pool2d(conv(x), 2).sum().backward()  # Winograd's input gradient, max pool's backward
    z = cr.randn(4, 16, requires_grad=True)
    nn.functional.layer_norm(nn.functional.gelu(z), (16,)).sum().backward()


def chain_of_ops(n_ops: int = 1000, size: int = 16):
    """Autograd overhead: 1,000 elementwise ops (mul, add, tanh in turn) on 16x16, forward + backward."""
    import torch

    import chainrule as cr

    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((size, size)).astype(np.float32)
    a0 = (1 + 0.1 * rng.standard_normal((size, size))).astype(np.float32)
    b0 = (0.1 * rng.standard_normal((size, size))).astype(np.float32)

    def make(lib):
        x = on_device(lib.tensor(x0)).requires_grad_()
        a = on_device(lib.tensor(a0)).requires_grad_()
        b = on_device(lib.tensor(b0)).requires_grad_()

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


def _mlp(lib, sizes, activation):
    """An MLP in ``lib`` (chainrule or torch) with ``activation`` between its Linear layers."""
    layers = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(lib.nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(getattr(lib.nn, activation)())
    return lib.nn.Sequential(*layers)


def _mlp_pair(sizes, activation, loss_name, X0, y0):
    import torch

    import chainrule as cr

    ours, theirs = _mlp(cr, sizes, activation), _mlp(torch, sizes, activation)
    _same_weights(ours, theirs)
    return (
        _training_step(cr, ours, getattr(cr.nn, loss_name)(), X0, y0),
        _training_step(torch, theirs, getattr(torch.nn, loss_name)(), X0, y0),
    )


def tiny_mlp(n_points: int = 100):
    """W0: MLP 2-16-16-1, tanh, 100 points, MSE, Adam: per-op overhead is everything."""
    rng = np.random.default_rng(0)
    X0 = rng.uniform(-1, 1, (n_points, 2)).astype(np.float32)
    y0 = (np.sin(3 * X0[:, :1]) * X0[:, 1:]).astype(np.float32)
    return _mlp_pair((2, 16, 16, 1), "Tanh", "MSELoss", X0, y0)


def mnist_mlp(batch: int = 128):
    """W1: MLP 784-256-256-10, ReLU, batch 128, cross-entropy, Adam: GEMMs and the optimizer."""
    rng = np.random.default_rng(0)
    X0 = rng.uniform(0, 1, (batch, 784)).astype(np.float32)
    y0 = rng.integers(0, 10, batch).astype(np.int64)
    return _mlp_pair((784, 256, 256, 10), "ReLU", "CrossEntropyLoss", X0, y0)


def _training_step(lib, model, loss_fn, X0, y0):
    """forward, loss, backward and an Adam step of ``model`` in ``lib`` on one fixed batch."""
    model = on_device(model)  # before the optimizer: PyTorch's .to keeps the parameter objects too
    optimizer = lib.optim.Adam(model.parameters(), lr=1e-3)
    X, y = on_device(lib.tensor(X0)), on_device(lib.tensor(y0))

    def step():
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        return loss

    return step


def _same_weights(ours, theirs):
    """Copy PyTorch's initial weights into the chainrule model, so both start identical."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def mnist_cnn(batch: int = 64):
    """W2: conv 1->32, pool, conv 32->64, pool, linear 3136->128->10 on 1x28x28, batch 64, Adam."""
    import torch

    import chainrule as cr

    def build(lib):
        nn = lib.nn
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
        )  # fmt: skip

    rng = np.random.default_rng(0)
    X0 = rng.uniform(0, 1, (batch, 1, 28, 28)).astype(np.float32)
    y0 = rng.integers(0, 10, batch).astype(np.int64)
    ours, theirs = build(cr), build(torch)
    _same_weights(ours, theirs)
    return (
        _training_step(cr, ours, cr.nn.CrossEntropyLoss(), X0, y0),
        _training_step(torch, theirs, torch.nn.CrossEntropyLoss(), X0, y0),
    )


def sequence_lstm(batch: int = 64, steps: int = 50):
    """W3: LSTM (input 14, hidden 128), 50 steps, batch 64, last hidden -> linear 128->1, MSE, Adam."""
    import torch

    import chainrule as cr

    def build(lib):
        class Regressor(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = lib.nn.LSTM(14, 128, batch_first=True)
                self.head = lib.nn.Linear(128, 1)

            def forward(self, x):
                out, _ = self.lstm(x)
                return self.head(out[:, -1])

        return Regressor()

    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((batch, steps, 14)).astype(np.float32)
    y0 = rng.standard_normal((batch, 1)).astype(np.float32)
    ours, theirs = build(cr), build(torch)
    _same_weights(ours, theirs)
    return (
        _training_step(cr, ours, cr.nn.MSELoss(), X0, y0),
        _training_step(torch, theirs, torch.nn.MSELoss(), X0, y0),
    )


def resnet18_inference(batch: int = 8):
    """ResNet-18 forward in eval mode without a graph, batch 8 of 3x224x224."""
    import torch

    import chainrule as cr
    from chainrule.models import resnet18

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from reference_models import TBasic, TResNet

    theirs = TResNet(TBasic, [2, 2, 2, 2]).eval()
    ours = resnet18().eval()
    _same_weights(ours, theirs)
    ours, theirs = on_device(ours), on_device(theirs)
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    xo, xt = on_device(cr.tensor(x)), on_device(torch.tensor(x))

    def ours_step():
        with cr.no_grad():
            return ours(xo)

    def theirs_step():
        with torch.no_grad():
            return theirs(xt)

    return ours_step, theirs_step


def transformer_encoder():
    """W4: Transformer encoder, 2 layers, d_model 128, 4 heads, FFN 512, 64 tokens, batch 32, Adam."""
    from transformer_workloads import transformer_encoder as make

    return make()


def minilm_inference():
    """W5: BERT encoder shaped like all-MiniLM-L6-v2, inference, batch 32 x 128 tokens."""
    from bert_workloads import minilm_inference as make

    return make()


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
        "bar": 1.0,  # issue 13 (1.2 in issue 3)
        "memory_bar": 1.5,
    },
    "W2": {
        "title": "W2 CNN on 1x28x28, Adam",
        "make": mnist_cnn,
        "repeats": 3,
        "bar": 1.2,  # issue 13 (1.5 in issue 5)
        "speedup_bar": 1.6,  # issue 13: chainrule's own 1 -> 2 thread speed-up
        "memory_bar": 1.5,
    },
    "resnet18": {
        "title": "ResNet-18 inference, batch 8",
        "make": resnet18_inference,
        "repeats": 1,
        "bar": 1.2,  # issue 13 (2.0 in issue 5)
    },
    "W3": {
        "title": "W3 LSTM 14-128, 50 steps, Adam",
        "make": sequence_lstm,
        "repeats": 5,
        "bar": 1.2,  # issue 13 (1.5 in issue 6)
        "speedup_bar": 1.6,  # issue 13
        "memory_bar": 1.5,
    },
    "W4": {
        "title": "W4 Transformer encoder 2x128, Adam",
        "make": transformer_encoder,
        "repeats": 5,
        "bar": 1.2,  # issue 13 (1.5 in issue 7)
        "speedup_bar": 1.6,  # issue 13
        "memory_bar": 1.5,
    },
    "W5": {
        "title": "W5 MiniLM-shaped BERT inference 32x128",
        "make": minilm_inference,
        "repeats": 2,
        "bar": 1.2,  # issue 13 (1.5 in issue 7)
        "speedup_bar": 1.6,  # issue 13
        "memory_bar": 1.5,
    },
}
