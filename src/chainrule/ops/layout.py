"""Rearrangements of PyTorch's wider surface: roll, movedim, unflatten, narrow,
tensor_split, tile, repeat_interleave, unfold (sliding windows), diagonals,
meshgrid and cartesian_prod.

Most are a few of the basic moves of :mod:`chainrule.ops.shape` (reshape,
permute, slicing, index_select, expand), so their gradients come from those;
roll, diagonal and diag_embed have Functions of their own.
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import Function
from chainrule.ops import dims as _dims
from chainrule.ops.shape import GetItem, Permute, Reshape, expand, index_select, repeat, stack
from chainrule.tensor import Tensor

_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)


def _ints(args: tuple[Any, ...]) -> tuple[int, ...]:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(a) for a in args)


class Roll(Function):
    def forward(ctx, a, shifts, axes):
        ctx.shifts, ctx.axes = shifts, axes
        return _xp(a).roll(a, shifts, axis=axes)

    def backward(ctx, g):
        # rolling back by the same shifts undoes the move
        back = tuple(-s for s in ctx.shifts) if isinstance(ctx.shifts, tuple) else -ctx.shifts
        return _xp(g).roll(g, back, axis=ctx.axes), None, None


def roll(x: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Shift elements along ``dims`` cyclically (over the flattened tensor when ``dims`` is None)."""
    if dims is None:
        if isinstance(shifts, (tuple, list)):
            if len(shifts) != 1:
                raise ValueError(f"roll: without dims, give one shift, got {shifts}")
            shifts = shifts[0]
        return Roll.apply(x.reshape(-1), int(shifts), None).reshape(x.shape)
    shifts_t = _ints((shifts,)) if not isinstance(shifts, (tuple, list)) else _ints(tuple(shifts))
    dims_t = dims if isinstance(dims, (tuple, list)) else (dims,)
    if len(shifts_t) != len(dims_t):
        raise ValueError(f"roll: {len(shifts_t)} shifts for {len(dims_t)} dims")
    axes = tuple(_dims.axis(d, x.ndim, "roll") for d in dims_t)
    if x.ndim == 0:
        return x * 1
    return Roll.apply(x, shifts_t, axes)


def movedim(x: Tensor, source: Any, destination: Any) -> Tensor:
    """Move dims ``source`` to positions ``destination``; the others keep their order."""
    src = source if isinstance(source, (tuple, list)) else (source,)
    dst = destination if isinstance(destination, (tuple, list)) else (destination,)
    if len(src) != len(dst):
        raise ValueError(f"movedim: {len(src)} source dims but {len(dst)} destinations")
    src = [_dims.axis(d, x.ndim, "movedim") for d in src]
    dst = [_dims.axis(d, x.ndim, "movedim") for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: repeated dim in source {source} or destination {destination}")
    if x.ndim == 0:
        return Permute.apply(x, ())
    return Permute.apply(x, tuple(_moved_order(x.ndim, src, dst)))


def _moved_order(ndim: int, src: list[int], dst: list[int]) -> list[int]:
    order = [-1] * ndim
    for s, d in zip(src, dst, strict=True):
        order[d] = s
    rest = iter(i for i in range(ndim) if i not in src)
    return [o if o >= 0 else next(rest) for o in order]


moveaxis = movedim


def swapdims(x: Tensor, dim0: int, dim1: int) -> Tensor:
    return x.transpose(dim0, dim1)


swapaxes = swapdims


@_dims.numpy_keywords
def unflatten(x: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one of them may be -1)."""
    d = _dims.axis(dim, x.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    if not sizes:
        raise ValueError("unflatten: sizes must not be empty")
    known = int(np.prod([s for s in sizes if s != -1]))
    if sizes.count(-1) > 1:
        raise ValueError(f"unflatten: only one size may be -1, got {sizes}")
    if -1 in sizes:
        if known == 0 or x.shape[d] % known:
            raise ValueError(f"unflatten: sizes {sizes} do not divide dim {d} of size {x.shape[d]}")
        sizes = tuple(x.shape[d] // known if s == -1 else s for s in sizes)
    elif known != x.shape[d]:
        raise ValueError(f"unflatten: sizes {sizes} multiply to {known}, but dim {d} has size {x.shape[d]}")
    return Reshape.apply(x, x.shape[:d] + sizes + x.shape[d + 1 :])


@_dims.numpy_keywords
def narrow(x: Tensor, dim: int, start: Any, length: int) -> Tensor:
    """The slice ``start : start + length`` of dim ``dim`` (a view in PyTorch, a copy's gradient here)."""
    d = _dims.axis(dim, x.ndim, "narrow")
    n = x.shape[d]
    start = int(start)
    if start < 0:
        start += n
    if not (0 <= start <= n and 0 <= length and start + length <= n):
        raise IndexError(
            f"narrow: start {start} and length {length} exceed dim {d} of size {n} (shape {x.shape})"
        )
    return GetItem.apply(x, (slice(None),) * d + (slice(start, start + length),))


@_dims.numpy_keywords
def tensor_split(x: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Split along ``dim`` into n nearly equal parts (the first ones one larger), or at the given indices."""
    d = _dims.axis(dim, x.ndim, "tensor_split")
    n = x.shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        ios = ios.tolist()
    if isinstance(ios, (int, np.integer)):
        parts = int(ios)
        if parts <= 0:
            raise ValueError(f"tensor_split: the number of sections must be positive, got {parts}")
        q, r = divmod(n, parts)
        bounds = np.cumsum([0] + [q + 1] * r + [q] * (parts - r)).tolist()
    else:
        cuts = [int(i) for i in ios]
        bounds = [0] + cuts + [n]
    lead = (slice(None),) * d
    return tuple(
        GetItem.apply(
            x, lead + (slice(builtins.min(a, n), builtins.max(builtins.min(b, n), builtins.min(a, n))),)
        )
        for a, b in itertools.pairwise(bounds)
    )


def _split_dim(x: Tensor, sections: Any, dim: int, name: str, need: int) -> tuple[Tensor, ...]:
    if x.ndim < need:
        raise ValueError(f"{name}: needs a tensor with at least {need} dims, got shape {x.shape}")
    if isinstance(sections, int) and x.shape[dim] % sections:
        raise ValueError(
            f"{name}: dim {dim} of size {x.shape[dim]} does not split into {sections} equal parts"
        )
    return tensor_split(x, sections, dim)


def hsplit(x: Tensor, sections: Any) -> tuple[Tensor, ...]:
    """Split along the columns (dim 1; dim 0 for a 1-D tensor)."""
    return _split_dim(x, sections, 0 if x.ndim == 1 else 1, "hsplit", 1)


def vsplit(x: Tensor, sections: Any) -> tuple[Tensor, ...]:
    """Split along the rows (dim 0) of a tensor with at least 2 dims."""
    return _split_dim(x, sections, 0, "vsplit", 2)


def dsplit(x: Tensor, sections: Any) -> tuple[Tensor, ...]:
    """Split along the depth (dim 2) of a tensor with at least 3 dims."""
    return _split_dim(x, sections, 2, "dsplit", 3)


def tile(x: Tensor, dims: Any) -> Tensor:
    """Repeat the whole tensor ``dims`` times per dim (missing leading reps count as 1)."""
    reps = _ints((dims,)) if not isinstance(dims, (tuple, list)) else _ints(tuple(dims))
    if len(reps) < x.ndim:
        reps = (1,) * (x.ndim - len(reps)) + reps
    return repeat(x, *reps)


@_dims.numpy_keywords
def repeat_interleave(
    x: Any, repeats: Any = None, dim: int | None = None, *, output_size: int | None = None
) -> Tensor:
    """Each element (or slice along ``dim``) repeated ``repeats`` times in place (counts may vary)."""
    if repeats is None:  # repeat_interleave(repeats): indices 0..n-1, each its count times
        r = x._array if isinstance(x, Tensor) else np.asarray(x)
        # the counts size the output: on a device they are read back (a sync); the indices go back there
        rh = devices.to_host(r)
        idx = np.repeat(np.arange(rh.shape[0] if rh.ndim else 1), rh.reshape(-1))
        return Tensor._make(devices.to_device(idx, devices.device_of(r)), None)
    if dim is None:
        x = x.reshape(-1)
        d = 0
    else:
        if x.ndim == 0:
            raise IndexError("repeat_interleave: a 0-d tensor has no dim to repeat along (use dim=None)")
        d = _dims.axis(dim, x.ndim, "repeat_interleave")
    n = x.shape[d]
    r = repeats._array if isinstance(repeats, Tensor) else np.asarray(repeats)
    r = devices.to_host(r)  # the counts size the output: on a device they are read back (a sync)
    r = r.reshape(-1) if r.ndim else r
    if r.size not in (1, n):
        raise ValueError(f"repeat_interleave: {r.size} repeats for dim {d} of size {n}")
    if np.any(r < 0):
        raise ValueError("repeat_interleave: repeats must be non-negative")
    idx = np.repeat(np.arange(n), r if r.ndim else int(r))
    return index_select(x, d, idx)


def unfold(x: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Windows of ``size`` elements along ``dimension``, ``step`` apart, as a new last dim (Tensor.unfold)."""
    d = _dims.axis(dimension, x.ndim, "unfold")
    n = x.shape[d] if x.ndim else 1
    if step <= 0:
        raise ValueError(f"unfold: step must be positive, got {step}")
    if not 0 <= size <= n:
        raise ValueError(f"unfold: size {size} exceeds dim {d} of size {n} (shape {x.shape})")
    if x.ndim == 0:
        return x.reshape(1)
    windows = (n - size) // step + 1
    idx = (np.arange(windows)[:, None] * step + np.arange(size)[None, :]).reshape(-1)
    picked = index_select(x, d, idx)
    split = picked.reshape(x.shape[:d] + (windows, size) + x.shape[d + 1 :])
    return movedim(split, d + 1, -1)


# ------------------------------------------------------------------ diagonals
def _diag_coords(n1: int, n2: int, offset: int, xp: Any = np) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of each element of the ``offset`` diagonal of an n1 x n2 matrix (arrays of ``xp``)."""
    length = builtins.max(0, builtins.min(n1 + builtins.min(offset, 0), n2 - builtins.max(offset, 0)))
    i = xp.arange(length)
    return i + builtins.max(-offset, 0), i + builtins.max(offset, 0)


class Diagonal(Function):
    def forward(ctx, a, offset, dim1, dim2):
        ctx.shape, ctx.dims = a.shape, (dim1, dim2)
        xp = _xp(a)
        m = xp.moveaxis(a, (dim1, dim2), (-2, -1))
        ctx.rows, ctx.cols = _diag_coords(m.shape[-2], m.shape[-1], offset, xp)
        return m[..., ctx.rows, ctx.cols]

    def backward(ctx, g):
        # each diagonal element came from one matrix position: put it back there
        xp = _xp(g)
        grad = xp.zeros(ctx.shape, g.dtype)
        xp.moveaxis(grad, ctx.dims, (-2, -1))[..., ctx.rows, ctx.cols] = g
        return grad, None, None, None


class DiagEmbed(Function):
    def forward(ctx, a, offset, dim1, dim2):
        xp = _xp(a)
        m = a.shape[-1] + builtins.abs(offset)
        ctx.rows, ctx.cols = _diag_coords(m, m, offset, xp)
        out = xp.zeros(a.shape[:-1] + (m, m), a.dtype)
        out[..., ctx.rows, ctx.cols] = a
        ctx.dims = (dim1, dim2)
        return xp.moveaxis(out, (-2, -1), (dim1, dim2))

    def backward(ctx, g):
        # the inverse move: read the diagonal of the gradient
        return _xp(g).moveaxis(g, ctx.dims, (-2, -1))[..., ctx.rows, ctx.cols], None, None, None


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The ``offset`` diagonal of the matrices in dims (dim1, dim2), as a new last dim."""
    if x.ndim < 2:
        raise ValueError(f"diagonal: needs at least 2 dims, got shape {x.shape}")
    a, b = _dims.axis(dim1, x.ndim, "diagonal"), _dims.axis(dim2, x.ndim, "diagonal")
    if a == b:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, both are {a}")
    return Diagonal.apply(x, int(offset), a, b)


def diag_embed(x: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices whose ``offset`` diagonal (in dims dim1, dim2 of the output) holds the last dim of ``x``."""
    if x.ndim < 1:
        raise ValueError("diag_embed: needs at least 1 dim, got a 0-d tensor")
    a, b = _dims.axis(dim1, x.ndim + 1, "diag_embed"), _dims.axis(dim2, x.ndim + 1, "diag_embed")
    if a == b:
        raise ValueError(f"diag_embed: dim1 and dim2 must differ, both are {a}")
    return DiagEmbed.apply(x, int(offset), a, b)


def diag(x: Tensor, diagonal: int = 0) -> Tensor:
    """A vector becomes a matrix with it on the ``diagonal``; a matrix gives its ``diagonal``."""
    if x.ndim == 1:
        return DiagEmbed.apply(x, int(diagonal), 0, 1)
    if x.ndim == 2:
        return Diagonal.apply(x, int(diagonal), 0, 1)
    raise ValueError(f"diag: expects a 1-D or 2-D tensor, got shape {x.shape}")


# ------------------------------------------------------------------- grids
def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors; ``indexing`` "ij" (matrix) or "xy" (first two swapped)."""
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for t in tensors:
        if t.ndim > 1:
            raise ValueError(f"meshgrid: expects 0-d or 1-D tensors, got shape {t.shape}")
    ts = [t.reshape(-1) for t in tensors]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    n = len(ts)
    grids = [expand(t.reshape((1,) * i + (-1,) + (1,) * (n - i - 1)), shape) for i, t in enumerate(ts)]
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """Every combination of one element from each 1-D tensor, as rows (like itertools.product)."""
    if len(tensors) == 1:
        return tensors[0] * 1
    grids = meshgrid(*tensors, indexing="ij")
    return stack([g.reshape(-1) for g in grids], dim=1)
