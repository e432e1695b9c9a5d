"""Order statistics: sort, argsort, topk, kthvalue, median, mode, unique.

Each finds its indices with NumPy and gathers the values from the input at
those indices (:class:`~chainrule.ops.shape.Gather`), so the gradient of a value
flows back to the one element it came from; indices are not differentiable.
NaN counts as larger than every number, as in PyTorch. On a device the
indices are found there (CuPy's sorts are stable too; ``mode``'s run lengths,
a running maximum on the CPU, come from a cumsum and a scatter-max there), and
``unique`` and ``median`` without ``dim`` read back what sizes their output.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import Function, record_plain
from chainrule.ops import dims as _dims
from chainrule.ops.elementwise import clone
from chainrule.ops.shape import Gather, GetItem
from chainrule.tensor import Tensor

SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])
MedianResult = namedtuple("median", ["values", "indices"])
ModeResult = namedtuple("mode", ["values", "indices"])
_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)


def _index(idx: np.ndarray) -> Tensor:
    return Tensor._make(idx.astype(np.int64, copy=False), None)


def _recorded(x: Tensor, dim: int, k: int, largest: bool, idx: np.ndarray) -> Tensor:
    """The first ``k`` indices in order along ``dim`` as a tensor, shown to an export's recorder as topk."""
    out = _index(idx)
    record_plain("topk", (x,), {"dim": dim, "k": k, "largest": largest}, out)
    return out


def _order(a: np.ndarray, dim: int, descending: bool) -> np.ndarray:
    """Stable sort order along ``dim``; descending keeps equal elements in their original order."""
    xp = _xp(a)
    if not descending:
        return xp.argsort(a, axis=dim, kind="stable")
    n = a.shape[dim]
    rev = xp.flip(a, dim)
    # sort the reversed slice ascending (stable), read the result backwards, map back
    return (n - 1) - xp.flip(xp.argsort(rev, axis=dim, kind="stable"), dim)


def _zero_index(x: Tensor) -> Tensor:
    """The index 0 of a 0-d input, on its device."""
    return _index(_xp(x._array).zeros((), np.int64))


def _positions(order: np.ndarray, dim: int, start: int, stop: int) -> np.ndarray:
    """``order[start:stop]`` along ``dim``, as a copy."""
    return order[(slice(None),) * dim + (slice(start, stop),)].copy()


def _take(x: Tensor, dim: int, idx: np.ndarray) -> Tensor:
    return Gather.apply(x, dim, idx)


def _check(x: Any, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")


@_dims.numpy_keywords
def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """``(values, indices)`` sorted along ``dim``; always stable here (equal elements keep their order)."""
    _check(x, "sort")
    d = _dims.axis(dim, x.ndim, "sort")
    if x.ndim == 0:
        return SortResult(clone(x), _zero_index(x))
    idx = _recorded(x, d, x.shape[d], descending, _order(x._array, d, descending))
    return SortResult(_take(x, d, idx._array), idx)


@_dims.numpy_keywords
def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``x`` along ``dim`` (stable)."""
    _check(x, "argsort")
    d = _dims.axis(dim, x.ndim, "argsort")
    if x.ndim == 0:
        return _zero_index(x)
    return _recorded(x, d, x.shape[d], descending, _order(x._array, d, descending))


def msort(x: Tensor) -> Tensor:
    return sort(x, 0).values


@_dims.numpy_keywords
def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices, largest first."""
    _check(x, "topk")
    d = _dims.axis(dim, x.ndim, "topk")
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise IndexError(f"topk: k={k} is out of range for dim {d} of size {n} (input shape {x.shape})")
    if x.ndim == 0:
        return TopkResult(clone(x), _zero_index(x))
    idx = _recorded(x, d, k, largest, _positions(_order(x._array, d, largest), d, 0, k))
    return TopkResult(_take(x, d, idx._array), idx)


def _select(x: Tensor, d: int, idx: np.ndarray, keepdim: bool, result: Any) -> Any:
    """Values at ``idx`` (one per slice, kept as a size-1 dim ``d``), squeezed unless keepdim."""
    # an export has no translation for these indices: it refuses the op by name, not baking them in
    record_plain(result.__name__, (x,), {}, Tensor._make(idx, None))
    values = _take(x, d, idx)
    if not keepdim:
        values = GetItem.apply(values, (slice(None),) * d + (0,))
        idx = idx.squeeze(axis=d)
    return result(values, _index(idx))


def _one_per_slice(x: Tensor, dim: Any, name: str) -> int:
    _check(x, name)
    d = _dims.axis(dim, x.ndim, name)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{name}: dim {d} of the input {x.shape} is empty")
    return d


@_dims.numpy_keywords
def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """The ``k``-th smallest element (1-based) along ``dim`` and its index: ``(values, indices)``."""
    d = _one_per_slice(x, dim, "kthvalue")
    n = x.shape[d] if x.ndim else 1
    if not 1 <= k <= n:
        raise IndexError(f"kthvalue: k={k} is out of range for dim {d} of size {n} (input shape {x.shape})")
    if x.ndim == 0:
        return KthvalueResult(clone(x), _zero_index(x))
    idx = _positions(_order(x._array, d, False), d, k - 1, k)
    return _select(x, d, idx, keepdim, KthvalueResult)


class Median(Function):
    """The median of a whole tensor: the element at flat position ``pos``.

    Its gradient is shared evenly by every element equal to it (every NaN
    when it is NaN), PyTorch's rule for ``median()`` without ``dim``; with
    ``dim`` the one element at the returned index gets it, as for the other
    order statistics.
    """

    def forward(ctx, a, pos):
        ctx.a = a
        ctx.out = a.reshape(-1)[pos : pos + 1].reshape(())
        return ctx.out.copy()

    def backward(ctx, g):
        a, out = ctx.a, ctx.out
        xp = _xp(a)
        # d median / d a_i = 1 / #ties for each of the tied elements
        hit = xp.isnan(a) if a.dtype.kind == "f" and bool(xp.isnan(out)) else a == out
        return g * hit / hit.sum(dtype=a.dtype), None


@_dims.numpy_keywords
def median(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The median (the lower middle value for an even count); with ``dim``, ``(values, indices)``."""
    _check(x, "median")
    if dim is None:
        xp = _xp(x._array)
        if x._array.size == 0:
            return Tensor._make(xp.asarray(np.nan, x.dtype), None)
        flat = x._array.reshape(-1)
        # on a device, the NaN test and the position are read back (they pick the element: a sync)
        nan = xp.isnan(flat) if flat.dtype.kind == "f" else None
        if nan is not None and nan.any():  # NaN propagates, as in PyTorch (nanmedian skips it)
            return Median.apply(x, int(xp.argmax(nan)))
        pos = _order(flat, 0, False)[(flat.shape[0] - 1) // 2]
        return Median.apply(x, int(pos))
    d = _one_per_slice(x, dim, "median")
    if x.ndim == 0:
        return MedianResult(clone(x), _zero_index(x))
    n = x.shape[d]
    xp = _xp(x._array)
    idx = _positions(_order(x._array, d, False), d, (n - 1) // 2, (n - 1) // 2 + 1)
    if x._array.dtype.kind == "f":  # a slice holding NaN gives its first NaN, as in PyTorch
        nan = xp.isnan(x._array)
        has = nan.any(axis=d, keepdims=True)
        idx = xp.where(has, xp.argmax(nan, axis=d, keepdims=True), idx)
    return _select(x, d, idx, keepdim, MedianResult)


@_dims.numpy_keywords
def mode(x: Tensor, dim: int = -1, keepdim: bool = False) -> Any:
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and its last index."""
    d = _one_per_slice(x, dim, "mode")
    if x.ndim == 0:
        return ModeResult(clone(x), _zero_index(x))
    a = x._array
    xp = _xp(a)
    order = _order(a, d, False)
    m = xp.moveaxis(xp.take_along_axis(a, order, axis=d), d, -1)
    n = m.shape[-1]
    # run lengths in the sorted slice: a run's count is read at its last element
    new_run = xp.ones(m.shape, bool)
    new_run[..., 1:] = m[..., 1:] != m[..., :-1]
    pos = xp.arange(n)
    if xp is np:
        start = np.maximum.accumulate(np.where(new_run, pos, 0), axis=-1)
    else:
        # CuPy's ufuncs have no running maximum: number the runs (a cumsum of their starts),
        # scatter each run's start position to its number, read it back at every element
        run = xp.cumsum(new_run, axis=-1) - 1
        lead = tuple(  # open grids over the slices
            xp.arange(k).reshape((1,) * i + (k,) + (1,) * (m.ndim - i - 1))
            for i, k in enumerate(m.shape[:-1])
        )
        first = xp.zeros(m.shape, pos.dtype)
        devices.scatter_max(first, (*lead, run), xp.where(new_run, pos, 0))
        start = xp.take_along_axis(first, run, axis=-1)
    count = pos - start + 1
    # the first run reaching the largest count is the smallest value among the modes;
    # its last element is, by the stable order, the value's last index in the input
    best_count = count.max(axis=-1, keepdims=True)
    first_best = xp.argmax(count == best_count, axis=-1)[..., None]
    idx = xp.moveaxis(xp.take_along_axis(xp.moveaxis(order, d, -1), first_best, axis=-1), -1, d)
    return _select(x, d, idx, keepdim, ModeResult)


@_dims.numpy_keywords
def unique(
    x: Tensor,
    sorted: bool = True,
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: int | None = None,
) -> Any:
    """The distinct elements (sorted), optionally with inverse indices and counts (not differentiable)."""
    _check(x, "unique")
    xp = _xp(x._array)  # on a device the number of distinct values is read back (a sync)
    if dim is None:
        vals, inv, counts = xp.unique(x._array, return_inverse=True, return_counts=True)
        inv = inv.reshape(x.shape)
    else:
        d = _dims.axis(dim, x.ndim, "unique")
        vals, inv, counts = xp.unique(x._array, return_inverse=True, return_counts=True, axis=d)
        inv = inv.reshape(-1)
    out = [Tensor._make(vals, None)]
    record_plain("unique", (x,), {}, out[0])  # a size read from the values: an export refuses it by name
    if return_inverse:
        out.append(_index(inv))
    if return_counts:
        out.append(_index(counts))
    return out[0] if len(out) == 1 else tuple(out)
