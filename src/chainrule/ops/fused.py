"""Fused operations: one autograd node where composing primitives would be slower or unstable.

Softmax and log-softmax subtract the maximum before exponentiating, so large
inputs never overflow, and their backward passes use the closed forms below
instead of differentiating through exp, sum and division.
"""

from __future__ import annotations

import numpy as np

from chainrule import backend
from chainrule.autograd import Function
from chainrule.ops import dims as _dims
from chainrule.ops.elementwise import cast
from chainrule.tensor import Tensor


class Softmax(Function):
    def forward(ctx, a, dim):
        e = np.exp(a - a.max(axis=dim, keepdims=True))
        out = e / e.sum(axis=dim, keepdims=True)
        ctx.out, ctx.dim = out, dim
        return out

    def backward(ctx, g):
        # Jacobian of softmax: dy_i/dx_j = y_i (delta_ij - y_j), so
        # dx = y * (g - sum_j g_j y_j)
        y = ctx.out
        return y * (g - (g * y).sum(axis=ctx.dim, keepdims=True)), None


class LogSoftmax(Function):
    def forward(ctx, a, dim):
        shifted = a - a.max(axis=dim, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.out, ctx.dim = out, dim
        return out

    def backward(ctx, g):
        # d log_softmax_i / dx_j = delta_ij - softmax_j, so dx = g - softmax * sum(g)
        return g - np.exp(ctx.out) * g.sum(axis=ctx.dim, keepdims=True), None


def _prepare(x: Tensor, dim: int, dtype: object, op: str) -> tuple[Tensor, int]:
    if dtype is not None:
        x = cast(x, dtype)
    elif x.data.dtype.kind != "f":
        x = cast(x, backend.get_default_dtype())
    d = _dims.axis(dim, x.ndim, op)
    return x, (d if x.ndim else None)


@_dims.numpy_keywords
def softmax(x: Tensor, dim: int, dtype: object = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, computed without overflow."""
    x, d = _prepare(x, dim, dtype, "softmax")
    return Softmax.apply(x, d)


@_dims.numpy_keywords
def log_softmax(x: Tensor, dim: int, dtype: object = None) -> Tensor:
    """``log(softmax(x))`` along ``dim``, computed directly (never log of 0)."""
    x, d = _prepare(x, dim, dtype, "log_softmax")
    return LogSoftmax.apply(x, d)
