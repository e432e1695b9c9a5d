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


WORKLOADS = {
    "chain": {
        "title": "autograd chain 1000 ops 16x16",
        "make": chain_of_ops,
        "repeats": 5,
    },
}
