"""Dropout: zero each element with probability p during training, as one autograd node.

Inverted dropout (Srivastava et al., 2014, as PyTorch implements it): the
survivors are scaled by ``1 / (1 - p)`` while training, so the expected value
of every element is unchanged and evaluation needs no rescaling: in eval mode
(or ``training=False``) dropout is the identity and returns its input. The
mask comes from the library's seeded generator, so ``cr.manual_seed(s)``
makes it reproducible.
"""

from __future__ import annotations

import numpy as np

from chainrule import random
from chainrule.autograd import Function
from chainrule.ops.dtypes import as_floating
from chainrule.ops.inplace import write_back
from chainrule.tensor import Tensor

__all__ = ["Dropout", "check_probability", "dropout"]


class Dropout(Function):
    def forward(ctx, a, mask):
        ctx.mask = mask
        return a * mask

    def backward(ctx, g):
        # out = a * m with a fixed mask m (0 or 1/(1-p)): d out / d a = m
        return g * ctx.mask, None


def check_probability(p: float, owner: str) -> float:
    if not 0.0 <= p <= 1.0:  # also refuses NaN
        raise ValueError(f"{owner}: dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (when training).

    Not training, or ``p == 0``: the input itself is returned. ``p == 1`` zeroes
    everything. ``inplace=True`` writes into the input when no graph is recorded
    (see :mod:`chainrule.ops.inplace`).
    """
    p = check_probability(p, "dropout")
    if not training or p == 0.0:
        return input
    x = as_floating(input, "dropout")
    dtype = x._array.dtype
    if p == 1.0:
        mask = np.zeros(x.shape, dtype=dtype)
    else:
        # keep where u >= p (probability 1 - p); the mask carries the 1/(1-p) scale
        u = random.rng().random(x.shape, dtype=np.float64 if dtype == np.float64 else np.float32)
        mask = np.multiply(u >= p, 1.0 / (1.0 - p), dtype=dtype)
    out = Dropout.apply(x, mask)
    return write_back(input, out) if inplace else out
