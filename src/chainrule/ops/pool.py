"""Pooling and nearest-neighbour upsampling, each one autograd node working on strided views.

A pooling window slides over the (padded) image; instead of a Python loop over
output pixels, each op loops over the kh*kw *offsets inside a window*: for
offset (i, j), the input pixels that sit at that offset in every window form
one strided view ``x[:, :, i*dh :: sh, j*dw :: sw]`` of the output's shape.
The max (or the sum) over a window is then kh*kw whole-array operations, and
the backward pass scatters the gradient back with kh*kw strided writes. When
windows do not overlap (the common ``stride == kernel_size``), every input
pixel belongs to at most one window, so the backward writes instead of adds.

Adaptive average pooling is a linear map along each spatial axis: a matrix
``P`` (out, in) whose row o averages the input indices PyTorch assigns to
output o, so ``y = P_h x P_w^T`` and ``dx = P_h^T dy P_w``. Nearest upsampling
gathers along each axis; its backward sums the gradient of the copies of each
source pixel (a segment sum, the indices being sorted).

Arrays go through the array module of the inputs (``xp``, see chainrule.devices);
the small index and averaging arrays that depend on shapes alone are made on
the host and moved next to the data.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import autograd, devices
from chainrule.autograd import Function
from chainrule.ops import compiled
from chainrule.ops.dtypes import as_floating as _floating
from chainrule.runtime import MEMORY_BOUND_ELEMENTS, MIN_PARALLEL_ELEMENTS, map_rows
from chainrule.tensor import Tensor

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "interpolate",
    "keep_nonfinite",
    "max_pool1d",
    "max_pool2d",
    "resize_target",
]


def _xp(a: Any) -> Any:
    """The array module of ``a``: NumPy after one type test (the CPU's hot path), else the device's."""
    return np if type(a) is np.ndarray else devices.array_module(a)


# ------------------------------------------------------------------ geometry
def _ints(value: Any, n: int, name: str, op: str) -> tuple[int, ...]:
    """An int or a sequence of 1 or ``n`` ints, as ``n`` ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    if isinstance(value, (tuple, list)) and len(value) in (1, n):
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            return tuple(int(v) for v in value) * (n if len(value) == 1 else 1)
    raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")


def _out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output size: floor (or ceil) of the window count; with ceil_mode
    the last window must still start inside the input or its left padding."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


class _Geometry:
    """Where the windows of a 2-D pooling lie: sizes, the padding to add and the per-offset views."""

    __slots__ = ("bottom", "d", "k", "out", "overlap", "p", "right", "s", "size", "tiled")

    def __init__(self, size, k, s, p, d, ceil_mode, op):
        """Check the settings as PyTorch does (errors name ``op``) and work out the output size."""
        (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = size, k, s, p, d
        show = (lambda t: t[1]) if op.endswith("1d") else (lambda t: tuple(t))  # 1-D ops run with H = 1
        for name, value in (("kernel_size", k), ("stride", s), ("dilation", d)):
            if min(value) < 1:
                raise ValueError(f"{op}: {name} must be greater than zero, got {show(value)}")
        if ph < 0 or pw < 0:
            raise ValueError(f"{op}: padding must be non-negative, got {show(p)}")
        if ph > kh // 2 or pw > kw // 2:
            raise ValueError(
                f"{op}: padding should be at most half of kernel_size, got padding={show(p)} "
                f"with kernel_size={show(k)}"
            )
        oh, ow = _out_size(h, kh, sh, ph, dh, ceil_mode), _out_size(w, kw, sw, pw, dw, ceil_mode)
        if oh < 1 or ow < 1:
            raise ValueError(
                f"{op}: input of spatial size {show(size)} is too small for kernel_size={show(k)}, "
                f"stride={show(s)}, padding={show(p)}, dilation={show(d)}: the output would be "
                f"{show((oh, ow))}"
            )
        self.size, self.k, self.s, self.p, self.d, self.out = size, k, s, p, d, (oh, ow)
        # padding beyond the input needed at the bottom/right (ceil_mode windows may overhang)
        self.bottom = max(0, (oh - 1) * sh + dh * (kh - 1) + 1 - h - ph)
        self.right = max(0, (ow - 1) * sw + dw * (kw - 1) + 1 - w - pw)
        self.overlap = sh < dh * (kh - 1) + 1 or sw < dw * (kw - 1) + 1
        # windows that cover the input exactly once (stride == kernel, no padding, nothing left over)
        self.tiled = (
            (sh, sw) == (kh, kw) and (dh == 1 or kh == 1) and (dw == 1 or kw == 1)
            and (ph, pw) == (0, 0) and (oh * kh, ow * kw) == (h, w)
        )  # fmt: skip

    @property
    def padded(self) -> bool:
        return bool(self.p[0] or self.p[1] or self.bottom or self.right)

    def padded_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        (ph, pw), (h, w) = self.p, self.size
        return (*shape[:-2], ph + h + self.bottom, pw + w + self.right)

    def pad(self, x: Any, value: float) -> Any:
        """``x`` with its padding (filled with ``value``), or ``x`` itself when none is needed."""
        if not self.padded:
            return x
        (ph, pw), (h, w) = self.p, self.size
        xpad = _xp(x).full(self.padded_shape(x.shape), value, dtype=x.dtype)
        xpad[..., ph : ph + h, pw : pw + w] = x
        return xpad

    def crop(self, xpad: Any) -> Any:
        if not self.padded:
            return xpad
        (ph, pw), (h, w) = self.p, self.size
        return _xp(xpad).ascontiguousarray(xpad[..., ph : ph + h, pw : pw + w])

    def views(self, xpad: Any) -> list[Any]:
        """One strided view per kernel offset (row-major): the pixel at that offset in every window."""
        (kh, kw), (sh, sw), (dh, dw), (oh, ow) = self.k, self.s, self.d, self.out
        return [
            xpad[..., i * dh : i * dh + (oh - 1) * sh + 1 : sh, j * dw : j * dw + (ow - 1) * sw + 1 : sw]
            for i in range(kh)
            for j in range(kw)
        ]


def _stride(stride: Any, k: tuple[int, ...], op: str) -> tuple[int, ...]:
    """``stride``, defaulting (None or an empty tuple, as PyTorch accepts) to the kernel size."""
    if stride is None or (isinstance(stride, (tuple, list)) and not stride):
        return k
    return _ints(stride, len(k), "stride", op)


def _spatial(x: Tensor, dims: int, op: str) -> None:
    if x.ndim not in (dims + 1, dims + 2):
        want = "(C, L) or (N, C, L)" if dims == 1 else "(C, H, W) or (N, C, H, W)"
        raise ValueError(f"{op}: expected a {dims + 1}-D or {dims + 2}-D input {want}, got shape {x.shape}")
    if 0 in x.shape[-dims - 1 :]:
        raise ValueError(f"{op}: expected non-empty channel and spatial dims, got input of shape {x.shape}")


# ------------------------------------------------------------------ max pool
def _max_block(views: list[np.ndarray], out: np.ndarray, idx: np.ndarray | None) -> None:
    """Write each window's maximum (and, into ``idx``, its offset) over one slab of the batch."""
    xp = _xp(out)
    if len(views) == 1:
        xp.copyto(out, views[0])
        if idx is not None:
            idx.fill(0)
        return
    xp.maximum(views[0], views[1], out=out)
    if idx is None:
        for v in views[2:]:
            xp.maximum(out, v, out=out)
        return
    # The first maximum in row-major window order wins, as in PyTorch: offset k
    # takes over only where it is strictly greater (a window holding a NaN is
    # mended afterwards by _last_nan_wins). Offsets are visited in increasing k,
    # so "idx = k where taken" is "idx = max(idx, k * taken)".
    itype = idx.dtype.type
    taken = xp.greater(views[1], views[0])
    xp.copyto(idx, taken)
    # out already holds max(views[0], views[1]), as "taken" was computed before it
    step = xp.empty(out.shape, itype)
    for k, v in enumerate(views[2:], 2):
        xp.greater(v, out, out=taken)
        xp.maximum(out, v, out=out)
        xp.multiply(taken, itype(k), out=step)
        xp.maximum(idx, step, out=idx)


def _last_nan_wins(views: list[np.ndarray], out: np.ndarray, idx: np.ndarray) -> None:
    """Where a window holds a NaN (its maximum is NaN), its offset becomes that of its last NaN, as in
    PyTorch, so the gradient goes to a NaN the output shows. The kernels pick by strict comparison,
    which a NaN never wins; one look at the output finds the rare windows to mend."""
    xp = _xp(out)
    bad = xp.isnan(out)
    if not bool(bad.any()):
        return
    for k, v in enumerate(views):  # later offsets overwrite earlier ones: the last NaN stays
        idx[bad & xp.isnan(v)] = k


def _max_back_block(geom: _Geometry, g: np.ndarray, idx: np.ndarray, gxp: np.ndarray) -> None:
    """Route one slab's output gradients to the pixels their windows picked (into ``gxp``, padded)."""
    xp = _xp(g)
    hit = xp.empty(idx.shape, bool)
    zero = g.dtype.type(0)
    for k, view in enumerate(geom.views(gxp)):
        xp.equal(idx, k, out=hit)
        # g where offset k was picked, 0 elsewhere, as PyTorch's scatter into zeros gives (a product
        # g * hit would spread a NaN or inf in g over the whole window)
        picked = xp.where(hit, g, zero)
        if geom.overlap:  # windows share pixels: accumulate
            view += picked
        else:
            view[...] = picked


# the dtypes the compiled max pool is built for (each one compiles once, on first use)
_COMPILED_DTYPES = (np.float32, np.float64)


def _planes(a: np.ndarray) -> np.ndarray:
    """``a`` as (P, H, W): its leading axes are planes that windows never cross."""
    return a.reshape(-1, *a.shape[-2:])


def _compiled_max(kernels: Any, geom: _Geometry, xpad: np.ndarray, out: np.ndarray) -> None:
    """The forward without indices on :mod:`chainrule.ops.compiled_pool`, slabs of planes over the pool."""
    (kh, kw), (sh, sw), (dh, dw) = geom.k, geom.s, geom.d
    x3, out3 = _planes(xpad), _planes(out)

    def slab(a: int, b: int) -> None:
        kernels.max_pool_planes(x3[a:b], out3[a:b], kh, kw, sh, sw, dh, dw)

    map_rows(slab, x3.shape[0], out3[0].size * kh * kw // 4)


def _compiled_max_2x2_index(kernels: Any, xpad: np.ndarray, out: np.ndarray, idx: np.ndarray) -> None:
    """The forward with indices of 2x2 windows of stride 2, compiled; slabs of planes over the pool."""
    x3, out3, idx3 = _planes(xpad), _planes(out), _planes(idx)

    def slab(a: int, b: int) -> None:
        kernels.max_pool_2x2_index_planes(x3[a:b], out3[a:b], idx3[a:b])

    map_rows(slab, x3.shape[0], out3[0].size)


def _compiled_max_backward(kernels: Any, geom: _Geometry, g: np.ndarray, idx: Any, gxp: np.ndarray) -> None:
    """The backward on :mod:`chainrule.ops.compiled_pool` (``gxp`` zeroed unless the windows tile)."""
    (kh, kw), (sh, sw), (dh, dw) = geom.k, geom.s, geom.d
    g3, idx3, gx3 = _planes(g), _planes(idx), _planes(gxp)
    if geom.tiled and geom.k == (2, 2):  # tiled: stride = kernel, no padding or dilation

        def slab(a: int, b: int) -> None:
            kernels.max_pool_2x2_backward_planes(g3[a:b], idx3[a:b], gx3[a:b])

        # a pass at memory speed: every pixel written once
        map_rows(slab, g3.shape[0], gx3[0].size, min_elements=MEMORY_BOUND_ELEMENTS)
        return

    def slab(a: int, b: int) -> None:
        kernels.max_pool_backward_planes(g3[a:b], idx3[a:b], gx3[a:b], kh, kw, sh, sw, dh, dw, geom.tiled)

    map_rows(slab, g3.shape[0], g3[0].size * kh * kw // 4)


def _pick_a_pixel_when_all_minus_inf(geom: _Geometry, out: np.ndarray, idx: np.ndarray) -> None:
    """Where a window's maximum is -inf, its offset becomes that of its first input pixel, as in
    PyTorch (nothing beats its starting -inf, and padding is not a candidate): the -inf padding
    before it would otherwise win the tie, giving an index outside the input and losing the gradient."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow), (h, w) = (
        geom.k, geom.s, geom.p, geom.d, geom.out, geom.size
    )

    def first_inside(n_out: int, s: int, p: int, d: int, k: int, n: int) -> np.ndarray:
        taps = (np.arange(n_out) * s - p)[:, None] + np.arange(k) * d
        return ((taps >= 0) & (taps < n)).argmax(axis=1)  # 0 for a window wholly in the padding

    xp = _xp(idx)
    first = first_inside(oh, sh, ph, dh, kh, h)[:, None] * kw + first_inside(ow, sw, pw, dw, kw, w)
    xp.copyto(idx, xp.asarray(first.astype(idx.dtype)), where=out == -np.inf)


class MaxPool(Function):
    def forward(ctx, x, geom, need_index, sink):
        fill = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
        xp = _xp(x)
        xpad = geom.pad(x, fill)
        shape = (*xpad.shape[:-2], *geom.out)
        out = xp.empty(shape, x.dtype)
        nk = math.prod(geom.k)
        idx = xp.empty(shape, np.uint8 if nk < 256 else np.int32) if need_index else None
        kernels = compiled.kernels("compiled_pool", xpad, dtypes=_COMPILED_DTYPES)
        if out.size == 0:  # an empty batch or channel axis: no window to take the max of
            pass
        elif kernels is not None and idx is None:
            _compiled_max(kernels, geom, xpad, out)
        elif kernels is not None and geom.k == geom.s == (2, 2) and geom.d == (1, 1):  # the common pool
            _compiled_max_2x2_index(kernels, xpad, out, idx)
        elif x.size < MIN_PARALLEL_ELEMENTS or x.ndim < 3:  # one integer compare on the small path
            _max_block(geom.views(xpad), out, idx)
        else:  # slabs of the batch (windows never cross axis 0) on the pool's threads

            def slab(a: int, b: int) -> None:
                _max_block(geom.views(xpad[a:b]), out[a:b], None if idx is None else idx[a:b])

            map_rows(slab, x.shape[0], x.size // x.shape[0] * nk // 4, like=x)
        if idx is not None and x.dtype.kind == "f" and out.size:
            _last_nan_wins(geom.views(xpad), out, idx)
            if geom.padded:
                _pick_a_pixel_when_all_minus_inf(geom, out, idx)
        ctx.geom, ctx.idx, ctx.shape = geom, idx, x.shape
        if sink is not None:
            sink.append(idx)
        return out

    def backward(ctx, g):
        # y = x[argmax of the window]: dy/dx is 1 at the chosen pixel, 0 elsewhere. The
        # gradient of each output goes back to the pixel its window picked, offset by
        # offset: the pixels at offset k receive g where idx == k.
        geom, idx = ctx.geom, ctx.idx
        xp = _xp(g)
        g = xp.ascontiguousarray(g)
        # every pixel in exactly one window: one write per offset covers all, no zero-fill needed
        make = xp.empty if geom.tiled else xp.zeros
        gxp = make(ctx.shape if geom.tiled else geom.padded_shape(ctx.shape), g.dtype)
        kernels = compiled.kernels("compiled_pool", g, dtypes=_COMPILED_DTYPES)
        if g.size == 0:
            gxp[...] = 0
        elif kernels is not None:
            _compiled_max_backward(kernels, geom, g, idx, gxp)
        elif g.size < MIN_PARALLEL_ELEMENTS or g.ndim < 3:
            _max_back_block(geom, g, idx, gxp)
        else:
            map_rows(
                lambda a, b: _max_back_block(geom, g[a:b], idx[a:b], gxp[a:b]),
                g.shape[0],
                g.size // g.shape[0] * math.prod(geom.k),
                like=g,
            )
        return (gxp if geom.tiled else geom.crop(gxp)), None, None, None


def _flat_indices(idx: np.ndarray, geom: _Geometry) -> np.ndarray:
    """PyTorch's indices: the position of each window's max in the flattened (H, W) input."""
    kw, (sh, sw), (ph, pw), (dh, dw), (oh, ow) = geom.k[1], geom.s, geom.p, geom.d, geom.out
    w = geom.size[1]
    xp = _xp(idx)
    ki, kj = xp.divmod(idx.astype(np.int64), kw)
    rows = (xp.arange(oh, dtype=np.int64) * sh - ph)[:, None] + ki * dh
    cols = xp.arange(ow, dtype=np.int64) * sw - pw + kj * dw
    return rows * w + cols


def _max_pool(x: Tensor, k, s, p, d, ceil_mode: bool, return_indices: bool, op: str) -> Any:
    geom = _Geometry(x.shape[-2:], k, s, p, d, ceil_mode, op)
    sink = [] if return_indices else None
    need = return_indices or (x.requires_grad and autograd.is_grad_enabled())
    out = MaxPool.apply(x, geom=geom, need_index=need, sink=sink)
    if return_indices:
        indices = Tensor._make(_flat_indices(sink[0], geom), None)
        autograd.record_plain("max_pool_indices", (x,), {"geom": geom}, indices)  # an export's graph
        return out, indices
    return out


def _check_tensor(x: Any, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x._array.dtype.kind not in "fiu":
        raise TypeError(f"{op}: expected a floating or integer tensor, got {x.dtype}")
    return x


def max_pool2d(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The maximum over each ``kernel_size`` window of a (N, C, H, W) or (C, H, W) input.

    ``stride`` defaults to ``kernel_size``; padding counts as -inf (it never wins);
    ``dilation`` spaces the window's taps; ``ceil_mode`` keeps a last partial
    window. ``return_indices=True`` also returns, as PyTorch does, each max's
    index in the flattened (H, W) input (int64). Ties go to the first maximum in
    row-major window order, as in PyTorch; a window holding NaN gives NaN (its
    index may then differ from PyTorch's).
    """
    op = "max_pool2d"
    x = _check_tensor(input, op)
    _spatial(x, 2, op)
    k = _ints(kernel_size, 2, "kernel_size", op)
    s = _stride(stride, k, op)
    return _max_pool(
        x, k, s, _ints(padding, 2, "padding", op), _ints(dilation, 2, "dilation", op), ceil_mode,
        return_indices, op,
    )  # fmt: skip


def max_pool1d(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The maximum over each window of a (N, C, L) or (C, L) input (``max_pool2d`` with a height of 1)."""
    op = "max_pool1d"
    x = _check_tensor(input, op)
    _spatial(x, 1, op)
    k = _ints(kernel_size, 1, "kernel_size", op)
    s = _stride(stride, k, op)
    p, d = _ints(padding, 1, "padding", op), _ints(dilation, 1, "dilation", op)
    x4 = x.unsqueeze(-2)
    res = _max_pool(x4, (1, *k), (1, *s), (0, *p), (1, *d), ceil_mode, return_indices, op)
    if return_indices:
        return res[0].squeeze(-2), res[1].squeeze(-2)
    return res.squeeze(-2)


# ------------------------------------------------------------------ average pool
def _avg_divisor(geom: _Geometry, count_include_pad: bool, divisor_override: int | None) -> Any:
    """What each window's sum is divided by: a number, or an (OH, OW) array where windows differ.

    PyTorch's rule: a window counts the padding it covers (``count_include_pad``)
    but never the part a ceil_mode window hangs past the padding; otherwise it
    counts only real pixels. The count factors into a row part times a column part.
    """
    if divisor_override is not None:
        return divisor_override
    if not geom.padded:
        return geom.k[0] * geom.k[1]
    factors = []
    for n, k, s, p, o in zip(geom.size, geom.k, geom.s, geom.p, geom.out, strict=True):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)
        if count_include_pad:
            factors.append(end - start)
        else:
            factors.append(np.minimum(end, n) - np.maximum(start, 0))
    div = np.multiply.outer(factors[0], factors[1])
    return int(div.flat[0]) if (div == div.flat[0]).all() else div


class AvgPool(Function):
    def forward(ctx, x, geom, divisor):
        xp = _xp(x)
        views = geom.views(geom.pad(x, 0))
        out = xp.array(views[0]) if len(views) == 1 else xp.add(views[0], views[1])
        for v in views[2:]:
            out += v
        if type(divisor) is np.ndarray:  # per-window counts, worked out from the shapes on the host
            divisor = xp.asarray(divisor.astype(out.dtype))
        out /= divisor
        ctx.geom, ctx.divisor, ctx.shape = geom, divisor, x.shape
        return out

    def backward(ctx, g):
        # y = (1/n) * sum of the window, so every pixel of a window receives g / n
        # (summed over the windows that contain it).
        geom, divisor = ctx.geom, ctx.divisor
        xp = _xp(g)
        gs = g / divisor  # an array divisor was moved next to the data (and cast) in forward
        if geom.tiled:
            gx = xp.empty(ctx.shape, g.dtype)
            for view in geom.views(gx):
                view[...] = gs
            return gx, None, None
        gxp = xp.zeros(geom.padded_shape(ctx.shape), g.dtype)
        for view in geom.views(gxp):
            if geom.overlap:
                view += gs
            else:
                view[...] = gs
        return geom.crop(gxp), None, None


def avg_pool2d(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """The mean over each ``kernel_size`` window of a (N, C, H, W) or (C, H, W) input.

    Zero padding counts in the mean when ``count_include_pad`` (PyTorch's
    default); ``divisor_override`` replaces the window size as the divisor.
    """
    op = "avg_pool2d"
    x = _floating(input, op)
    _spatial(x, 2, op)
    k = _ints(kernel_size, 2, "kernel_size", op)
    s = _stride(stride, k, op)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not divisor_override):
        raise ValueError(f"avg_pool2d: divisor_override must be a non-zero int, got {divisor_override!r}")
    geom = _Geometry(x.shape[-2:], k, s, _ints(padding, 2, "padding", op), (1, 1), ceil_mode, op)
    return AvgPool.apply(x, geom=geom, divisor=_avg_divisor(geom, count_include_pad, divisor_override))


# ------------------------------------------------------------------ adaptive average pool
def _adaptive_matrix(n_in: int, n_out: int, dtype: np.dtype) -> np.ndarray | None:
    """(n_out, n_in): row o averages inputs floor(o n_in / n_out) .. ceil((o+1) n_in / n_out) - 1
    (PyTorch's windows, which overlap when the sizes do not divide); None when n_out == n_in."""
    if n_in == n_out:
        return None
    o = np.arange(n_out)
    start = (o * n_in) // n_out
    end = ((o + 1) * n_in + n_out - 1) // n_out
    cols = np.arange(n_in)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def keep_nonfinite(x: np.ndarray, apply: Any, reach: Any = None) -> np.ndarray:
    """``apply(x)``, a linear map along some axes, with each inf and NaN of ``x`` reaching only the
    outputs whose weights read it, as PyTorch's sums over windows and taps give.

    A matrix product also multiplies a non-finite input by the zero weights of every other output,
    making whole rows NaN. Only when ``y`` shows a non-finite value is ``x`` redone: its finite part,
    then +inf, -inf and NaN written where they arrive. ``reach(mask)`` gives the outputs that a set of
    input cells reaches through a positive, a negative and a zero weight (three bool arrays; an inf
    times a negative weight is -inf, times a zero NaN); None for a map of non-negative weights
    (window means), where ``apply(mask) > 0`` is the positive reach and there is no other.
    """
    xp = _xp(x)
    with np.errstate(invalid="ignore"):  # an inf times a zero weight: NaN, redone below
        y = apply(x)
    if xp.isfinite(y).all():  # the common case: one pass over the output
        return y
    y = apply(xp.where(xp.isfinite(x), x, xp.zeros((), x.dtype)))
    if reach is None:

        def reach(mask: np.ndarray) -> tuple[np.ndarray, ...]:
            plus = apply(mask.astype(x.dtype)) > 0
            return plus, xp.zeros_like(plus), xp.zeros_like(plus)

    (up_plus, up_minus, up_zero), (down_plus, down_minus, down_zero) = reach(x == np.inf), reach(x == -np.inf)
    up, down = up_plus | down_minus, down_plus | up_minus
    nan_plus, nan_minus, nan_zero = reach(xp.isnan(x))
    nan = nan_plus | nan_minus | nan_zero | up_zero | down_zero
    y[up] = np.inf
    y[down] = -np.inf
    y[nan | (up & down)] = np.nan  # inf - inf in a sum is NaN too
    return y


class AdaptiveAvgPool(Function):
    def forward(ctx, x, ph, pw):
        ctx.shape = x.shape
        if ph is not None and ph.shape[0] == 1 and pw is not None and pw.shape[0] == 1:
            ctx.ph = ctx.pw = False  # global pooling: the plain mean
            return x.mean(axis=(-2, -1), keepdims=True)
        xp = _xp(x)
        if xp is not np:  # the averaging matrices (made from the shapes on the host) next to x
            ph = None if ph is None else xp.asarray(ph)
            pw = None if pw is None else xp.asarray(pw)
        ctx.ph, ctx.pw = ph, pw

        def pool(a: np.ndarray) -> np.ndarray:  # y = P_h x P_w^T, one matrix product per spatial axis
            y = a if pw is None else xp.matmul(a, pw.T)
            return y if ph is None else xp.matmul(ph, y)

        return keep_nonfinite(x, pool)

    def backward(ctx, g):
        # y is linear in x: y = P_h x P_w^T, so dx = P_h^T g P_w.
        ph, pw = ctx.ph, ctx.pw
        xp = _xp(g)
        if ph is False:  # every pixel contributes 1/(H W) to the mean
            gx = xp.empty(ctx.shape, g.dtype)
            gx[...] = g / (ctx.shape[-1] * ctx.shape[-2])
            return gx, None, None
        gx = g if ph is None else xp.matmul(ph.T, g)
        return (gx if pw is None else xp.matmul(gx, pw)), None, None


def adaptive_avg_pool2d(input: Tensor, output_size: int | Sequence[int | None] | None) -> Tensor:
    """Average pooling to a fixed (OH, OW) whatever the input size; None keeps that input dim.

    Windows follow PyTorch: output o along an axis of n inputs averages indices
    ``floor(o n / out)`` to ``ceil((o + 1) n / out) - 1``.
    """
    op = "adaptive_avg_pool2d"
    x = _floating(input, op)
    _spatial(x, 2, op)
    if output_size is None or isinstance(output_size, (int, np.integer)):
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2:
        raise TypeError(
            f"{op}: output_size must be an int or a tuple of 2 (int or None), got {output_size!r}"
        )
    h, w = x.shape[-2:]
    size = tuple(n if o is None else o for o, n in zip(output_size, (h, w), strict=True))
    if any(isinstance(o, bool) or not isinstance(o, (int, np.integer)) or o < 0 for o in size):
        raise ValueError(f"{op}: output_size must be non-negative ints (or None), got {output_size!r}")
    dt = x._array.dtype
    return AdaptiveAvgPool.apply(
        x, ph=_adaptive_matrix(h, int(size[0]), dt), pw=_adaptive_matrix(w, int(size[1]), dt)
    )


# ------------------------------------------------------------------ nearest upsampling
_MODES = ("nearest", "nearest-exact")


def _nearest_source(n_in: int, n_out: int, scale: float | None, exact: bool) -> Any:
    """For each output index along an axis, the input index it copies (PyTorch's float32 rule).

    Returns None for the identity and an int k when the map is a plain k-fold repeat.
    """
    if n_out == n_in:
        return None
    # the source step: 1/scale_factor when one was given, else n_in/n_out, in float32
    if scale is not None and scale > 0:
        step = np.float32(1.0 / scale)
    else:
        step = np.float32(n_in) / np.float32(n_out)
    dst = np.arange(n_out)
    if exact:  # the centre of the output pixel: floor((d + 0.5) * step)
        src = np.floor(((dst + 0.5) * np.float64(step)).astype(np.float32))
    elif n_out == 2 * n_in:  # PyTorch's shortcut for the common 2x
        src = dst >> 1
    else:
        src = np.floor(dst.astype(np.float32) * step)
    src = np.minimum(src.astype(np.intp), n_in - 1)
    if n_out % n_in == 0 and np.array_equal(src, dst // (n_out // n_in)):
        return n_out // n_in
    return src


def _segment_sum(g: np.ndarray, src: np.ndarray, n_in: int, axis: int) -> np.ndarray:
    """Sum ``g`` along ``axis`` over the positions that copied the same input index (src is sorted).

    ``src`` is a host array (made from the shapes); on a device, whose ufuncs have
    no ``reduceat``, the copies are scatter-added onto their source instead.
    """
    if type(g) is not np.ndarray:
        xp = _xp(g)
        out = xp.zeros((n_in, *g.shape[:axis], *g.shape[axis + 1 :]), g.dtype)
        devices.scatter_add(out, xp.asarray(src), xp.moveaxis(g, axis, 0))
        return xp.ascontiguousarray(xp.moveaxis(out, 0, axis))
    starts = np.flatnonzero(np.concatenate(([True], src[1:] != src[:-1])))
    sums = np.add.reduceat(g, starts, axis=axis)
    used = src[starts]
    if used.size == n_in:  # every input index was copied at least once, in order
        return sums
    out = np.zeros((*g.shape[:axis], n_in, *g.shape[axis + 1 :]), g.dtype)
    out[(slice(None),) * axis + (used,)] = sums
    return out


def _split_shape(shape: tuple[int, ...], reps: Sequence[int]) -> list[int]:
    """(..., H, W) and repeats (rh, rw) -> (..., H, rh, W, rw): each spatial dim beside its copies."""
    lead = len(shape) - len(reps)
    return [*shape[:lead], *(d for n, r in zip(shape[lead:], reps, strict=True) for d in (n, r))]


class NearestUpsample(Function):
    def forward(ctx, x, plan):
        ctx.plan, ctx.shape = plan, x.shape
        xp = _xp(x)
        lead = x.ndim - len(plan)
        if all(type(p) is int or p is None for p in plan):
            # k-fold repeats along every axis: (..., H, 1, W, 1) broadcast to (..., H, kh, W, kw), one copy
            reps = [1 if p is None else p for p in plan]
            ones = x.reshape(_split_shape(x.shape, [1] * len(plan)))
            out_shape = [*x.shape[:lead], *(n * r for n, r in zip(x.shape[lead:], reps, strict=True))]
            return xp.broadcast_to(ones, _split_shape(x.shape, reps)).reshape(out_shape)
        y = x
        for a, p in enumerate(plan, lead):
            if p is not None:  # p: a repeat count, or the source indices (a host array made from shapes)
                y = xp.repeat(y, p, axis=a) if type(p) is int else xp.take(y, xp.asarray(p), axis=a)
        return y

    def backward(ctx, g):
        # y copies x: y[..., o] = x[..., src(o)]. An input pixel's gradient is the sum of
        # the gradients of its copies (zero for pixels a downsampling skipped).
        plan, shape = ctx.plan, ctx.shape
        lead = len(shape) - len(plan)
        if all(type(p) is int or p is None for p in plan):
            # each input pixel has one copy per offset inside its (fh, fw) block: add the
            # strided views of the offsets (a few whole-array adds, no small-axis reduction)
            reps = [1 if p is None else p for p in plan]
            views = [
                g[(Ellipsis, *(slice(o, None, r) for o, r in zip(offsets, reps, strict=True)))]
                for offsets in itertools.product(*(range(r) for r in reps))
            ]
            xp = _xp(g)
            gx = xp.array(views[0]) if len(views) == 1 else xp.add(views[0], views[1])
            for v in views[2:]:
                gx += v
            return gx, None
        for a, p in reversed(list(enumerate(plan, lead))):
            if type(p) is int:
                g = g.reshape(*g.shape[:a], shape[a], p, *g.shape[a + 1 :]).sum(axis=a + 1)
            elif p is not None:
                g = _segment_sum(g, p, shape[a], a)
        return g, None


def _per_dim(value: Any, n: int, name: str, shape: tuple[int, ...]) -> list:
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(
                f"interpolate: input has {n} spatial dims {list(shape[2:])} but {name} has "
                f"{len(value)} entries: {tuple(value)}"
            )
        return list(value)
    return [value] * n


def resize_target(
    shape: tuple[int, ...],
    size: Any,
    scale_factor: Any,
    recompute_scale_factor: bool | None,
    *,
    positive_scale: bool = False,
) -> tuple[list, list]:
    """``interpolate``'s output sizes and per-dim scales (None: from the sizes) for an input of ``shape``.

    Exactly one of ``size`` and ``scale_factor`` is given, each one value or one
    per spatial dim. ``positive_scale`` also refuses scale factors <= 0 (the
    interpolating modes do; the nearest modes let the empty output be refused).
    """
    dims, spatial = len(shape) - 2, shape[2:]
    if (size is None) == (scale_factor is None):
        raise ValueError(
            "interpolate: only one of size or scale_factor should be defined"
            if size is not None
            else "interpolate: either size or scale_factor should be defined"
        )
    if size is not None:
        if recompute_scale_factor:
            raise ValueError("interpolate: recompute_scale_factor is not meaningful with an explicit size")
        out = _per_dim(size, dims, "size", shape)
        if not all(isinstance(o, (int, np.integer)) and not isinstance(o, bool) for o in out):
            raise TypeError(f"interpolate: size must be an int or a tuple of ints, got {size!r}")
        scales: list = [None] * dims
    else:
        scales = [float(s) for s in _per_dim(scale_factor, dims, "scale_factor", shape)]
        if positive_scale and not all(math.isfinite(s) and s > 0 for s in scales):
            raise ValueError(f"interpolate: scale_factor must be positive and finite, got {scale_factor!r}")
        if not all(math.isfinite(s) for s in scales):
            raise ValueError(f"interpolate: scale_factor must be finite, got {scale_factor!r}")
        out = [math.floor(n * s) for n, s in zip(spatial, scales, strict=True)]
        if recompute_scale_factor:
            scales = [None] * dims
    if min(spatial) <= 0 or min(out) <= 0:
        raise ValueError(
            f"interpolate: input and output sizes should be greater than 0, got input {tuple(spatial)} "
            f"and output {tuple(out)}"
        )
    return out, scales


def interpolate(
    input: Tensor,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize a (N, C, L), (N, C, H, W) or (N, C, D, H, W) input by copying the nearest pixel.

    Give either ``size`` or ``scale_factor`` (per spatial dim or one for all).
    ``mode="nearest"`` copies input pixel ``floor(o * in / out)`` as PyTorch's
    "nearest" does; ``"nearest-exact"`` uses the pixel centres. The
    interpolating modes (bilinear, bicubic, ...) are not implemented.
    """
    op = "interpolate"
    x = _check_tensor(input, op)
    if mode not in _MODES:
        raise ValueError(
            f"interpolate: mode {mode!r} is not supported; chainrule implements "
            + " and ".join(repr(m) for m in _MODES)
        )
    if align_corners is not None:
        raise ValueError(
            "interpolate: align_corners option can only be set with the interpolating modes "
            "(linear, bilinear, bicubic, trilinear), which chainrule does not implement"
        )
    if antialias:
        raise ValueError("interpolate: antialias applies to bilinear/bicubic modes only")
    if x.ndim not in (3, 4, 5):
        raise ValueError(
            f"interpolate: expected a 3-D, 4-D or 5-D input (N, C, *spatial), got shape {x.shape}"
        )
    spatial = x.shape[2:]
    out, scales = resize_target(x.shape, size, scale_factor, recompute_scale_factor)
    exact = mode == "nearest-exact"
    plan = tuple(_nearest_source(n, int(o), s, exact) for n, o, s in zip(spatial, out, scales, strict=True))
    if all(p is None for p in plan):
        return x
    return NearestUpsample.apply(x, plan=plan)
