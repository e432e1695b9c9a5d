"""Running (cumulative) operations along one dimension: cumprod, cummax, cummin, logcumsumexp.

``cumsum`` lives with the reductions; these are its siblings. cummax and cummin
return ``(values, indices)`` like PyTorch, the values gathered from the input
at the indices, so their gradient flows back to the element each came from.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from chainrule import backend, devices
from chainrule.autograd import Function, record_plain
from chainrule.ops import dims as _dims
from chainrule.ops.elementwise import cast, clone
from chainrule.ops.shape import Gather
from chainrule.tensor import Tensor

CummaxResult = namedtuple("cummax", ["values", "indices"])
CumminResult = namedtuple("cummin", ["values", "indices"])
_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)
_errstate = devices.errstate  # NumPy's error state on the CPU, nothing on a device


class Cumprod(Function):
    def forward(ctx, a, dim):
        ctx.a, ctx.dim = a, dim
        return _xp(a).cumprod(a, axis=dim)

    def backward(ctx, g):
        # out_j = prod_{k<=j} a_k, so d out_j / d a_i = P_{i-1} prod_{i<k<=j} a_k
        # (j >= i), with P the exclusive running product. Summing over j:
        # grad_i = P_{i-1} R_i, where R_i = g_i + a_{i+1} R_{i+1} (no division,
        # so zeros are handled exactly).
        xp = _xp(g)
        a = xp.moveaxis(ctx.a, ctx.dim, 0)
        gm = xp.moveaxis(g, ctx.dim, 0)
        n = a.shape[0]
        exclusive = xp.ones_like(a)
        if n > 1:
            exclusive[1:] = xp.cumprod(a[:-1], axis=0)
        r = xp.empty_like(gm)
        if n:
            r[-1] = gm[-1]
        for i in range(n - 2, -1, -1):
            r[i] = gm[i] + a[i + 1] * r[i + 1]
        return xp.moveaxis(exclusive * r, 0, ctx.dim), None


class Logcumsumexp(Function):
    def forward(ctx, a, dim):
        ctx.a, ctx.dim = a, dim
        if type(a) is np.ndarray:
            ctx.out = np.logaddexp.accumulate(a, axis=dim)
        else:  # CuPy's logaddexp has no accumulate: the same recurrence, one step per position
            xp = _xp(a)
            src = xp.moveaxis(a, dim, 0)
            out = xp.empty_like(src)
            out[:1] = src[:1]
            for i in range(1, src.shape[0]):
                xp.logaddexp(out[i - 1 : i], src[i : i + 1], out=out[i : i + 1])
            ctx.out = xp.moveaxis(out, 0, dim)
        return ctx.out

    def backward(ctx, g):
        # out_j = log sum_{i<=j} exp(a_i): d out_j / d a_i = exp(a_i - out_j) for
        # i <= j, so grad_i = exp(a_i - s) * sum_{j>=i} g_j exp(s - out_j), with the
        # shift s = the slice's last output (the largest), computed in float64
        xp = _xp(g)
        a, out, d = ctx.a.astype(np.float64), ctx.out.astype(np.float64), ctx.dim
        if a.shape[d] == 0:
            return xp.zeros_like(ctx.a), None
        s = out[(slice(None),) * d + (slice(-1, None),)]
        s = xp.where(xp.isfinite(s), s, 0)
        with _errstate(g, over="ignore", invalid="ignore"):
            tail = xp.flip(xp.cumsum(xp.flip(g * xp.exp(s - out), d), axis=d), d)
            grad = xp.exp(a - s) * tail
        return grad.astype(ctx.a.dtype, copy=False), None


def _scan_dim(x: Tensor, dim: Any, name: str) -> int:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    return _dims.axis(dim, x.ndim, name)


@_dims.numpy_keywords
def cumprod(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running products along ``dim``; bool and int multiply in int64 (as ``cumsum``)."""
    d = _scan_dim(x, dim, "cumprod")
    if dtype is not None:
        x = cast(x, dtype)
    elif x._array.dtype.kind in "biu":
        x = cast(x, backend.int64)
    if x.ndim == 0:
        return x * 1
    return Cumprod.apply(x, d)


@_dims.numpy_keywords
def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """``log(cumsum(exp(x)))`` along ``dim``, without overflow; floating-point tensors only."""
    d = _scan_dim(x, dim, "logcumsumexp")
    if x._array.dtype.kind != "f":
        raise TypeError(f"logcumsumexp: expected a floating-point tensor, got {x.dtype}")
    if x.ndim == 0:
        return x * 1
    return Logcumsumexp.apply(x, d)


def _running_index(a: np.ndarray, dim: int, largest: bool) -> np.ndarray:
    # The index of the running extreme: a later equal value takes over (PyTorch's
    # rule, ties go to the last index); a NaN takes over and so does each later
    # NaN (the index follows the last NaN so far, as PyTorch's loop does).
    xp = _xp(a)
    m = xp.moveaxis(a, dim, 0)
    idx = xp.zeros(m.shape, dtype=np.int64)
    if m.shape[0] == 0:
        return xp.moveaxis(idx, 0, dim)
    best = m[0].copy()
    cur = xp.zeros(m.shape[1:], dtype=np.int64)
    for i in range(1, m.shape[0]):
        v = m[i]
        better = (v >= best) if largest else (v <= best)
        better = (better & ~xp.isnan(best)) | xp.isnan(v) if m.dtype.kind == "f" else better
        cur = xp.where(better, i, cur)
        best = xp.where(better, v, best)
        idx[i] = cur
    return xp.moveaxis(idx, 0, dim)


def _cumextreme(x: Tensor, dim: Any, largest: bool, name: str) -> Any:
    d = _scan_dim(x, dim, name)
    result = CummaxResult if largest else CumminResult
    if x.ndim == 0:
        return result(clone(x), Tensor._make(_xp(x._array).zeros((), np.int64), None))
    idx = Tensor._make(_running_index(x._array, d, largest), None)
    record_plain(name, (x,), {}, idx)  # an export refuses it by name rather than bake the indices in
    return result(Gather.apply(x, d, idx._array), idx)


@_dims.numpy_keywords
def cummax(x: Tensor, dim: int) -> Any:
    """Running maximum along ``dim`` and where it was: ``(values, indices)``; ties take the last index."""
    return _cumextreme(x, dim, True, "cummax")


@_dims.numpy_keywords
def cummin(x: Tensor, dim: int) -> Any:
    """Running minimum along ``dim`` and where it was: ``(values, indices)``; ties take the last index."""
    return _cumextreme(x, dim, False, "cummin")
