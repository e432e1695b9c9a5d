"""Fused operations: one autograd node where composing primitives would be slower or unstable.

Softmax and log-softmax subtract the maximum before exponentiating, so large
inputs never overflow, and their backward passes use the closed forms below
instead of differentiating through exp, sum and division.
"""

from __future__ import annotations

import numpy as np

from chainrule import backend, devices
from chainrule.autograd import Function
from chainrule.ops import dims as _dims
from chainrule.ops.elementwise import cast
from chainrule.runtime import MIN_PARALLEL_ELEMENTS, map_rows
from chainrule.tensor import Tensor

_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)


def _by_rows(kernel, dim: int | None, *arrays: np.ndarray) -> np.ndarray:
    """``kernel(*arrays, dim)``; along the last axis of a large array, blocks of rows on the pool.

    Every row is computed by the same NumPy calls as in one pass (its max and
    sum along the contiguous last axis do not depend on the other rows), so
    the result is bit-identical to the serial one. Callers send only large arrays.
    """
    a = arrays[0]
    if dim != a.ndim - 1 or not all(x.flags.c_contiguous for x in arrays):
        return kernel(*arrays, dim)
    d = a.shape[-1]
    rows = [x.reshape(-1, d) for x in arrays]
    out = np.empty(a.shape, np.result_type(*arrays)).reshape(-1, d)

    def block(i: int, j: int) -> None:
        out[i:j] = kernel(*(r[i:j] for r in rows), 1)

    map_rows(block, out.shape[0], d)
    return out.reshape(a.shape)


def _serial(a: np.ndarray) -> bool:
    """One pass, not blocks of rows on the pool: a small array, or a device array (one kernel each)."""
    return a.size < MIN_PARALLEL_ELEMENTS or type(a) is not np.ndarray


def _softmax(a: np.ndarray, dim: int | None) -> np.ndarray:
    if a.size == 0:  # an empty axis has no maximum to subtract: nothing to normalise
        return a.copy()
    e = _xp(a).exp(a - a.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _softmax_backward(y: np.ndarray, g: np.ndarray, dim: int | None) -> np.ndarray:
    # Jacobian of softmax: dy_i/dx_j = y_i (delta_ij - y_j), so
    # dx = y * (g - sum_j g_j y_j)
    return y * (g - (g * y).sum(axis=dim, keepdims=True))


def _log_softmax(a: np.ndarray, dim: int | None) -> np.ndarray:
    if a.size == 0:  # as in _softmax
        return a.copy()
    shifted = a - a.max(axis=dim, keepdims=True)
    xp = _xp(a)
    return shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))


def _log_softmax_backward(out: np.ndarray, g: np.ndarray, dim: int | None) -> np.ndarray:
    # d log_softmax_i / dx_j = delta_ij - softmax_j, so dx = g - softmax * sum(g)
    return g - _xp(out).exp(out) * g.sum(axis=dim, keepdims=True)


class Softmax(Function):
    def forward(ctx, a, dim):
        if not a.size:  # nothing to normalise (and no maximum to shift by): an empty result
            out = a.copy()
        else:
            out = _softmax(a, dim) if _serial(a) else _by_rows(_softmax, dim, a)
        ctx.out, ctx.dim = out, dim
        return out

    def backward(ctx, g):
        if _serial(g):
            return _softmax_backward(ctx.out, g, ctx.dim), None
        return _by_rows(_softmax_backward, ctx.dim, ctx.out, g), None


class LogSoftmax(Function):
    def forward(ctx, a, dim):
        if not a.size:  # nothing to normalise (and no maximum to shift by): an empty result
            out = a.copy()
        else:
            out = _log_softmax(a, dim) if _serial(a) else _by_rows(_log_softmax, dim, a)
        ctx.out, ctx.dim = out, dim
        return out

    def backward(ctx, g):
        if _serial(g):
            return _log_softmax_backward(ctx.out, g, ctx.dim), None
        return _by_rows(_log_softmax_backward, ctx.dim, ctx.out, g), None


def _prepare(x: Tensor, dim: int, dtype: object, op: str) -> tuple[Tensor, int]:
    if dtype is not None:
        x = cast(x, dtype)
    elif x._array.dtype.kind != "f":
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
