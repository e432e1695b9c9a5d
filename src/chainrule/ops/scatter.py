"""Writes at indices, out of place: scatter, scatter_add, scatter_reduce, index_add,
index_copy, index_fill, masked_scatter; and the reads masked_select, take_along_dim.

Each returns a new tensor (the in-place ``scatter_`` family belongs to the
Tensor). The backward sends each output position's gradient to whatever
produced it: the input where it survived, the written source elements where
they landed (gathered back from the same indices).

On a device every op computes there (``scatter_reduce``'s sum and mean through
``devices.scatter_add``, amax and amin through ``devices.scatter_max``/``_min``)
except ``scatter_reduce(..., "prod")`` and ``scatter(..., reduce="multiply")``:
CuPy has no multiplying scatter, so the product computes on the host, a round
trip per forward and per backward.
Index checks, ``masked_select`` and ``masked_scatter`` read a count or a bound
back from the device (their output's size or an error depends on it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import Function, record_plain
from chainrule.ops import dims as _dims
from chainrule.ops.elementwise import bool_mask, cast_to
from chainrule.ops.shape import GetItem, expand, gather, index_input, key_on, out_of_range
from chainrule.tensor import Tensor

_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")
_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)


def _where(index: np.ndarray, dim: int) -> tuple[np.ndarray, ...]:
    """Full coordinates of the positions ``index`` names along ``dim`` (open grids elsewhere)."""
    if type(index) is np.ndarray:
        where = list(np.indices(index.shape, sparse=True))
    else:  # the same open grid on the index's device
        xp = _xp(index)
        nd = index.ndim
        where = [
            xp.arange(n).reshape((1,) * i + (n,) + (1,) * (nd - i - 1)) for i, n in enumerate(index.shape)
        ]
    where[dim] = index
    return tuple(where)


def _region(index: np.ndarray) -> tuple[slice, ...]:
    return tuple(slice(0, n) for n in index.shape)


class Scatter(Function):
    def forward(ctx, a, src, dim, index):
        ctx.where, ctx.src_shape, ctx.region = _where(index, dim), getattr(src, "shape", ()), _region(index)
        out = a.copy()
        out[ctx.where] = src[ctx.region] if getattr(src, "ndim", 0) else src
        return out

    def backward(ctx, g):
        # overwritten positions belong to src: a gets zero there, src gets g there
        ga = g.copy()
        ga[ctx.where] = 0
        gsrc = None
        if ctx.needs_input_grad[1]:
            gsrc = _xp(g).zeros(ctx.src_shape, g.dtype)
            gsrc[ctx.region] = g[ctx.where]
        return ga, gsrc, None, None


class ScatterAdd(Function):
    def forward(ctx, a, src, dim, index):
        ctx.where, ctx.src_shape, ctx.region = _where(index, dim), src.shape, _region(index)
        out = a.copy()
        devices.scatter_add(out, ctx.where, src[ctx.region])
        return out

    def backward(ctx, g):
        # out = a + sum of the src elements sent to each position: slope 1 for both
        gsrc = _xp(g).zeros(ctx.src_shape, g.dtype)
        gsrc[ctx.region] = g[ctx.where]
        return g, gsrc, None, None


class ScatterReduce(Function):
    def forward(ctx, a, src, dim, index, reduce, include_self):
        # sum, mean, amax and amin compute on the input's device (devices.scatter_add/_max/_min);
        # prod on a device computes on the host, the result moved back: CuPy has no multiplying
        # scatter (a round trip per forward and per backward)
        ctx.device = devices.device_of(a) if reduce == "prod" and devices.is_device_array(a) else None
        if ctx.device is not None:
            a, src, index = devices.to_host(a), devices.to_host(src), devices.to_host(index)
        xp = _xp(a)
        where, region = _where(index, dim), _region(index)
        s = src[region]
        touched = xp.zeros(a.shape, bool)
        touched[where] = True
        out = a.copy()
        if reduce in ("sum", "mean"):
            if not include_self:
                out[where] = 0
            devices.scatter_add(out, where, s)
            # int32 counts: cupyx.scatter_add takes no int64, and a float or integer divided by
            # int32 or by int64 promotes alike (float32 / int32 is float64), so the CPU's values
            # are the same either way
            count = xp.zeros(a.shape, np.int32)
            devices.scatter_add(count, where, 1)
            count += 1 if include_self else 0
            count = xp.maximum(count, 1)
            if reduce == "mean":
                out = out / count if a.dtype.kind == "f" else out // count
                out = out.astype(a.dtype, copy=False)
            ctx.count = count
        elif reduce == "prod":  # host arrays only (see above)
            if not include_self:
                out[where] = 1
            np.multiply.at(out, where, s)
        else:
            if not include_self:
                info = np.finfo if a.dtype.kind == "f" else np.iinfo
                out[where] = info(a.dtype).min if reduce == "amax" else info(a.dtype).max
            (devices.scatter_max if reduce == "amax" else devices.scatter_min)(out, where, s)
        ctx.a, ctx.s, ctx.out, ctx.where, ctx.region = a, s, out, where, region
        ctx.touched, ctx.reduce, ctx.include_self, ctx.src_shape = touched, reduce, include_self, src.shape
        return out if ctx.device is None else devices.to_device(out, ctx.device)

    def backward(ctx, g):
        if ctx.device is not None:
            g = devices.to_host(g)
        xp = _xp(g)
        a, s, out, where, touched = ctx.a, ctx.s, ctx.out, ctx.where, ctx.touched
        zero = xp.zeros((), g.dtype)
        # a's element takes part where it was untouched, or where include_self keeps it
        a_in = ~touched | ctx.include_self
        if ctx.reduce in ("sum", "mean"):
            # slope 1 (sum) or 1/count (mean) for every contributor
            gp = g / ctx.count if ctx.reduce == "mean" else g
            ga = xp.where(a_in, gp if ctx.reduce == "mean" else g, zero)
            gs = gp[where]
        elif ctx.reduce == "prod":  # host arrays only (see the forward)
            # d prod / d x = product of the other contributors, counted without
            # division where zeros are involved: with z zeros among them, a
            # nonzero x gets out/x if z == 0 else 0, a zero x gets the product of
            # the nonzero ones if z == 1 else 0
            zeros = np.where(a_in & (a == 0), 1, 0)
            nonzero = np.where(a_in & (a != 0), a, 1).astype(a.dtype)
            np.add.at(zeros, where, (s == 0).astype(np.int64))
            np.multiply.at(nonzero, where, np.where(s == 0, 1, s).astype(a.dtype))

            def others(x: np.ndarray, z: np.ndarray, p: np.ndarray) -> np.ndarray:
                with np.errstate(divide="ignore", invalid="ignore"):
                    return np.where(
                        x == 0, np.where(z == 1, p, 0), np.where(z == 0, p / np.where(x == 0, 1, x), 0)
                    )

            ga = np.where(a_in, g * others(a, zeros, nonzero), zero)
            gs = g[where] * others(s, zeros[where], nonzero[where])
        else:
            # the contributors equal to the result share its gradient evenly (as PyTorch);
            # int32 counts as in the forward
            a_hit = a_in & (a == out)
            s_hit = s == out[where]
            n = a_hit.astype(np.int32)
            devices.scatter_add(n, where, s_hit.astype(np.int32))
            share = g / xp.maximum(n, 1)
            ga = xp.where(a_hit, share, zero)
            gs = xp.where(s_hit, share[where], zero)
        gsrc = xp.zeros(ctx.src_shape, g.dtype)
        gsrc[ctx.region] = gs
        ga = ga.astype(g.dtype, copy=False)
        if ctx.device is not None:
            ga, gsrc = devices.to_device(ga, ctx.device), devices.to_device(gsrc, ctx.device)
        return ga, gsrc, None, None, None, None


def _index_array(index: Any, op: str) -> np.ndarray:
    idx = index_input(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must be an integer tensor, got {idx.dtype}")
    return idx.astype(np.int64, copy=False)


def _scatter_args(x: Tensor, dim: Any, index: Any, src: Any, op: str) -> tuple[int, np.ndarray, Any]:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    d = _dims.axis(dim, x.ndim, op)
    idx = key_on(_index_array(index, op), x._array)
    if idx.ndim != max(x.ndim, 1) and not (x.ndim == 0 and idx.ndim == 0):
        raise ValueError(f"{op}: index has {idx.ndim} dims {idx.shape} but the input has {x.ndim} {x.shape}")
    if x.ndim == 0:
        raise ValueError(f"{op}: the input must have at least one dim, got a 0-d tensor")
    for i, n in enumerate(idx.shape):
        if i != d and n > x.shape[i]:
            raise ValueError(f"{op}: index shape {idx.shape} is larger than the input {x.shape} in dim {i}")
        if isinstance(src, Tensor) and n > src.shape[i]:
            raise ValueError(f"{op}: index shape {idx.shape} is larger than src {src.shape} in dim {i}")
    if out_of_range(idx, 0, x.shape[d]):
        raise IndexError(f"{op}: index out of range for dim {d} of size {x.shape[d]} (input shape {x.shape})")
    if isinstance(src, Tensor):
        src = cast_to(src, x._array.dtype)
    return d, idx, src


@_dims.numpy_keywords
def scatter(
    x: Tensor, dim: int, index: Any, src: Any = None, *, value: Any = None, reduce: str | None = None
) -> Tensor:
    """A copy of ``x`` with ``out[index[i][j]][j] = src[i][j]`` along ``dim`` (or ``value`` there)."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: give src (a tensor) or value (a number)")
    if reduce is not None:
        modes = {"add": "sum", "multiply": "prod"}
        if reduce not in modes:
            raise ValueError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
        idx = _index_array(index, "scatter")
        if not isinstance(src, Tensor):
            src = Tensor._make(_xp(x._array).full(idx.shape, src, dtype=x._array.dtype), None)
        return scatter_reduce(x, dim, index, src, modes[reduce])
    d, idx, src = _scatter_args(x, dim, index, src, "scatter")
    if not isinstance(src, Tensor):
        src = _xp(x._array).asarray(src, dtype=x._array.dtype)
    return Scatter.apply(x, src, d, idx)


@_dims.numpy_keywords
def scatter_add(x: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """A copy of ``x`` with ``src[i][j]`` added at ``index[i][j]`` along ``dim`` (repeats accumulate)."""
    d, idx, src = _scatter_args(x, dim, index, src, "scatter_add")
    return ScatterAdd.apply(x, src, d, idx)


@_dims.numpy_keywords
def scatter_reduce(
    x: Tensor, dim: int, index: Any, src: Tensor, reduce: str, *, include_self: bool = True
) -> Tensor:
    """Reduce the ``src`` elements sent to each position (sum, prod, mean, amax, amin), with ``x``'s own
    value taking part unless ``include_self=False``."""
    if reduce not in _REDUCTIONS:
        raise ValueError(f"scatter_reduce: reduce must be one of {_REDUCTIONS}, got {reduce!r}")
    d, idx, src = _scatter_args(x, dim, index, src, "scatter_reduce")
    return ScatterReduce.apply(x, src, d, idx, reduce, bool(include_self))


# ---------------------------------------------------------------- index_*
class IndexAdd(Function):
    def forward(ctx, a, src, dim, index, alpha):
        ctx.dim, ctx.index, ctx.alpha = dim, index, alpha
        out = a.copy()
        xp = _xp(a)
        devices.scatter_add(
            xp.moveaxis(out, dim, 0), index, xp.moveaxis(src * alpha if alpha != 1 else src, dim, 0)
        )
        return out

    def backward(ctx, g):
        # out = a + alpha * (src's slices added at index): slope 1 and alpha
        gs = _xp(g).take(g, ctx.index, axis=ctx.dim)
        return g, gs * ctx.alpha if ctx.alpha != 1 else gs, None, None, None


class IndexCopy(Function):
    def forward(ctx, a, src, dim, index):
        ctx.dim, ctx.index = dim, index
        out = a.copy()
        xp = _xp(a)
        xp.moveaxis(out, dim, 0)[index] = xp.moveaxis(src, dim, 0)
        return out

    def backward(ctx, g):
        # the copied slices belong to src
        xp = _xp(g)
        ga = g.copy()
        xp.moveaxis(ga, ctx.dim, 0)[ctx.index] = 0
        return ga, xp.take(g, ctx.index, axis=ctx.dim), None, None


class IndexFill(Function):
    def forward(ctx, a, value, dim, index):
        ctx.dim, ctx.index = dim, index
        out = a.copy()
        _xp(a).moveaxis(out, dim, 0)[index] = value
        return out

    def backward(ctx, g):
        # the filled slices hold value: a gets zero there, value the sum
        xp = _xp(g)
        ga = g.copy()
        xp.moveaxis(ga, ctx.dim, 0)[ctx.index] = 0
        gv = None
        if ctx.needs_input_grad[1]:
            gv = xp.moveaxis(g, ctx.dim, 0)[xp.unique(ctx.index)].sum()
        return ga, gv, None, None


def _index_args(x: Tensor, dim: Any, index: Any, op: str) -> tuple[int, np.ndarray]:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.ndim == 0:
        x = x.reshape(1)
    d = _dims.axis(dim, x.ndim, op)
    idx = key_on(_index_array(index, op), x._array)
    if idx.ndim > 1:
        raise IndexError(f"{op}: index must be a 1-D tensor, got shape {idx.shape}")
    idx = idx.reshape(-1)
    n = x.shape[d]
    if out_of_range(idx, -n, n):
        raise IndexError(f"{op}: index out of range for dim {d} of size {n} (input shape {x.shape})")
    return d, idx % n if n else idx


def _source(x: Tensor, d: int, idx: np.ndarray, source: Tensor, op: str) -> Tensor:
    want = x.shape[:d] + (idx.size,) + x.shape[d + 1 :]
    if not isinstance(source, Tensor) or source.shape != want:
        got = source.shape if isinstance(source, Tensor) else type(source).__name__
        raise ValueError(f"{op}: source must be a tensor of shape {want}, got {got}")
    return cast_to(source, x._array.dtype)


@_dims.numpy_keywords
def index_add(x: Tensor, dim: int, index: Any, source: Tensor, *, alpha: Any = 1) -> Tensor:
    """A copy of ``x`` with ``alpha * source``'s slices added at positions ``index`` along ``dim``."""
    d, idx = _index_args(x, dim, index, "index_add")
    if x.ndim == 0:
        return index_add(x.reshape(1), 0, idx, source.reshape(-1), alpha=alpha).reshape(())
    return IndexAdd.apply(x, _source(x, d, idx, source, "index_add"), d, idx, alpha)


@_dims.numpy_keywords
def index_copy(x: Tensor, dim: int, index: Any, source: Tensor) -> Tensor:
    """A copy of ``x`` with ``source``'s slices written at positions ``index`` along ``dim``."""
    d, idx = _index_args(x, dim, index, "index_copy")
    if x.ndim == 0:
        return index_copy(x.reshape(1), 0, idx, source.reshape(-1)).reshape(())
    return IndexCopy.apply(x, _source(x, d, idx, source, "index_copy"), d, idx)


@_dims.numpy_keywords
def index_fill(x: Tensor, dim: int, index: Any, value: Any) -> Tensor:
    """A copy of ``x`` with the slices at positions ``index`` along ``dim`` set to ``value``."""
    d, idx = _index_args(x, dim, index, "index_fill")
    if x.ndim == 0:
        return index_fill(x.reshape(1), 0, idx, value).reshape(())
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"index_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
        value = cast_to(value, x._array.dtype)
    return IndexFill.apply(x, value, d, idx)


# ------------------------------------------------------------------- masks
class MaskedSelect(Function):
    def forward(ctx, a, mask):
        xp = _xp(a)
        shape = np.broadcast_shapes(a.shape, mask.shape)
        ctx.mask = xp.broadcast_to(mask, shape)
        return xp.broadcast_to(a, shape)[ctx.mask]

    def backward(ctx, g):
        # each selected element goes back to its place (the engine sums broadcasts)
        grad = _xp(g).zeros(ctx.mask.shape, g.dtype)
        grad[ctx.mask] = g
        return grad, None


class MaskedScatter(Function):
    def forward(ctx, a, mask, src):
        ctx.mask = _xp(a).broadcast_to(mask, a.shape)
        ctx.count, ctx.src_shape = int(ctx.mask.sum()), src.shape  # read back on a device: a sync
        out = a.copy()
        out[ctx.mask] = src.reshape(-1)[: ctx.count]
        return out

    def backward(ctx, g):
        # masked positions took src's leading elements in order
        xp = _xp(g)
        ga = xp.where(ctx.mask, xp.zeros((), g.dtype), g)
        gs = xp.zeros(int(np.prod(ctx.src_shape)), g.dtype)
        gs[: ctx.count] = g[ctx.mask]
        return ga, None, gs.reshape(ctx.src_shape)


def masked_select(x: Tensor, mask: Any) -> Tensor:
    """The elements of ``x`` where ``mask`` (broadcast with it) is True, as a 1-D tensor."""
    m = key_on(bool_mask(mask, "masked_select"), x._array)
    try:
        np.broadcast_shapes(x.shape, m.shape)
    except ValueError:
        raise ValueError(
            f"masked_select: mask of shape {m.shape} does not broadcast with {x.shape}"
        ) from None
    return MaskedSelect.apply(x, m)


def masked_scatter(x: Tensor, mask: Any, source: Tensor) -> Tensor:
    """A copy of ``x`` with the masked positions filled, in order, from ``source``'s elements."""
    m = key_on(bool_mask(mask, "masked_scatter"), x._array)
    try:
        fits = np.broadcast_shapes(m.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"masked_scatter: mask of shape {m.shape} does not broadcast to {x.shape}")
    n = int(_xp(m).broadcast_to(m, x.shape).sum())
    if source.numel() < n:
        raise ValueError(
            f"masked_scatter: {n} masked positions but source has only {source.numel()} elements"
        )
    return MaskedScatter.apply(x, m, cast_to(source, x._array.dtype))


@_dims.numpy_keywords
def take_along_dim(x: Tensor, indices: Any, dim: int | None = None) -> Tensor:
    """``gather`` with broadcasting: ``x`` and ``indices`` broadcast in every dim but ``dim``;
    with ``dim=None``, indices into the flattened tensor."""
    idx = key_on(_index_array(indices, "take_along_dim"), x._array)
    if dim is None:
        flat = x.reshape(-1)
        n = flat.shape[0]
        if out_of_range(idx, -n, n):
            raise IndexError(f"take_along_dim: index out of range for {n} elements (input shape {x.shape})")
        return GetItem.apply(flat, (idx.reshape(-1),))
    d = _dims.axis(dim, x.ndim, "take_along_dim")
    if idx.ndim != x.ndim:
        raise ValueError(
            f"take_along_dim: indices have {idx.ndim} dims {idx.shape}, the input {x.ndim} {x.shape}"
        )
    xs, ins = list(x.shape), list(idx.shape)
    xs[d] = ins[d] = 1
    common = list(np.broadcast_shapes(tuple(xs), tuple(ins)))
    x_to, i_to = common.copy(), common.copy()
    x_to[d], i_to[d] = x.shape[d], idx.shape[d]
    xb = expand(x, tuple(x_to)) if tuple(x_to) != x.shape else x
    n = x.shape[d]
    xp = _xp(idx)
    final = Tensor._make(xp.broadcast_to(xp.where(idx < 0, idx + n, idx), tuple(i_to)), None)
    if isinstance(indices, Tensor):  # an export refuses it by name rather than bake the indices in
        record_plain("take_along_dim", (indices,), {}, final)
    return gather(xb, d, final._array)
