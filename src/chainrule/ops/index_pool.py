"""Pools that route by index: adaptive max pooling (with ``return_indices``) and max unpooling.

``adaptive_max_pool1d/2d`` take the maximum over PyTorch's adaptive windows
(``floor(i n / out)`` to ``ceil((i + 1) n / out)``) and remember where it
was; ``max_unpool1d/2d/3d`` put values back at such indices in a zero map.
Both backwards move the gradient along the same indices, the other way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import Function
from chainrule.ops.dtypes import as_floating
from chainrule.ops.shape import out_of_range
from chainrule.tensor import Tensor

__all__ = [
    "AdaptiveMaxPool",
    "MaxUnpool",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
]


_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)


def _bounds(n_in: int, n_out: int) -> list[tuple[int, int]]:
    return [((i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)) for i in range(n_out)]


class AdaptiveMaxPool(Function):
    """Max over adaptive (H, W) windows of (B, H, W); the flat H*W index of each max is kept."""

    def forward(ctx, x, out_hw, sink):
        b, h, w = x.shape
        oh, ow = out_hw
        xp = _xp(x)
        y = xp.empty((b, oh, ow), dtype=x.dtype)
        idx = xp.empty((b, oh, ow), dtype=np.int64)
        rows = xp.arange(b)
        for i, (hs, he) in enumerate(_bounds(h, oh)):
            for j, (ws, we) in enumerate(_bounds(w, ow)):
                win = x[:, hs:he, ws:we].reshape(b, (he - hs) * (we - ws))  # b may be 0
                am = win.argmax(axis=1)  # the first maximum, or the first NaN
                nan = win != win
                if nan.any():  # PyTorch picks the window's last NaN
                    last = nan.shape[1] - 1 - nan[:, ::-1].argmax(axis=1)
                    am = xp.where(nan.any(axis=1), last, am)
                y[:, i, j] = win[rows, am]
                idx[:, i, j] = (hs + am // (we - ws)) * w + ws + am % (we - ws)
        ctx.idx, ctx.shape = idx, x.shape
        sink.append(idx)
        return y

    def backward(ctx, g):
        # dx[b, idx[b, o]] += g[b, o]: each max receives the gradient of every output it won
        b, h, w = ctx.shape
        xp = _xp(g)
        flat = (ctx.idx + (xp.arange(b) * (h * w))[:, None, None]).ravel()
        gx = xp.bincount(flat, weights=g.ravel(), minlength=b * h * w)
        return gx.astype(g.dtype, copy=False).reshape(ctx.shape), None, None


def _adaptive_max(x: Any, output_size: Any, return_indices: bool, dims: int, op: str) -> Any:
    x = as_floating(x, op)
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(
            f"{op}: expected a {dims + 1}-D (unbatched) or {dims + 2}-D (batched) input, got shape {x.shape}"
        )
    sizes = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size] * dims
    if len(sizes) != dims:
        raise TypeError(
            f"{op}: output_size must be an int or a tuple of {dims} (int or None), got {output_size!r}"
        )
    spatial = x.shape[-dims:]
    sizes = [n if o is None else o for o, n in zip(sizes, spatial, strict=True)]
    if any(isinstance(o, bool) or not isinstance(o, (int, np.integer)) or o < 1 for o in sizes):
        raise ValueError(f"{op}: output_size must be positive ints (or None), got {output_size!r}")
    if min(spatial) < 1:
        raise ValueError(f"{op}: expected non-empty spatial dims, got input of shape {x.shape}")
    lead = x.shape[:-dims]
    h, w = (1, *spatial) if dims == 1 else spatial
    oh, ow = (1, *sizes) if dims == 1 else sizes
    sink: list = []
    y = AdaptiveMaxPool.apply(x.reshape(-1, h, w), (int(oh), int(ow)), sink)
    out_shape = (*lead, *(int(o) for o in sizes))
    y = y.reshape(out_shape)
    if not return_indices:
        return y
    return y, Tensor._make(sink[0].reshape(out_shape), None)


def adaptive_max_pool2d(
    input: Tensor,
    output_size: int | Sequence[int | None],
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The max over ``output_size`` adaptive windows of (N, C, H, W) or (C, H, W) (``F.adaptive_max_pool2d``).

    ``return_indices=True`` also returns each max's index in the flattened (H, W) input.
    """
    return _adaptive_max(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool1d(
    input: Tensor,
    output_size: int | Sequence[int],
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The max over ``output_size`` adaptive windows of (N, C, L) or (C, L) (``F.adaptive_max_pool1d``)."""
    return _adaptive_max(input, output_size, return_indices, 1, "adaptive_max_pool1d")


class MaxUnpool(Function):
    """Scatter (B, K) values to positions ``idx`` of a zero (B, M) map; the backward gathers them back."""

    def forward(ctx, x, idx, size):
        xp = _xp(x)
        out = xp.zeros((x.shape[0], size), dtype=x.dtype)
        if xp is np:
            np.put_along_axis(out, idx, x, axis=1)
        else:  # the same scatter, spelled with an index grid (CuPy has no put_along_axis)
            out[xp.arange(x.shape[0])[:, None], idx] = x
        ctx.idx = idx
        return out

    def backward(ctx, g):
        # y[b, idx[b, k]] = x[b, k]  =>  dx[b, k] = g[b, idx[b, k]]
        return _xp(g).take_along_axis(g, ctx.idx, axis=1), None, None


def _max_unpool(
    x: Any, indices: Any, kernel_size: Any, stride: Any, padding: Any, output_size: Any, dims: int, op: str
) -> Tensor:
    x = as_floating(x, op)
    if not isinstance(indices, Tensor) or indices.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: indices must be an integer (int64) Tensor, "
            f"got {getattr(indices, 'dtype', type(indices).__name__)}"
        )
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(
            f"{op}: expected a {dims + 1}-D (unbatched) or {dims + 2}-D (batched) input, got shape {x.shape}"
        )
    if indices.shape != x.shape:
        raise ValueError(f"{op}: indices of shape {indices.shape} must match the input's shape {x.shape}")

    def ints(v: Any, name: str) -> tuple[int, ...]:
        t = tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * dims
        if len(t) != dims:
            raise ValueError(f"{op}: {name} must be an int or a tuple of {dims} ints, got {v!r}")
        return t

    k = ints(kernel_size, "kernel_size")
    s = k if stride is None else ints(stride, "stride")
    p = ints(padding, "padding")
    spatial = x.shape[-dims:]
    if output_size is None:
        out = tuple((n - 1) * si - 2 * pi + ki for n, si, pi, ki in zip(spatial, s, p, k, strict=True))
    else:
        out = tuple(int(o) for o in output_size)[-dims:]
        if len(tuple(output_size)) not in (dims, x.ndim):
            raise ValueError(
                f"{op}: output_size must have {dims} or {x.ndim} elements, got {tuple(output_size)}"
            )
    lead = x.shape[:-dims]
    m = math.prod(out)
    idx = indices._array.reshape(-1, math.prod(spatial)).astype(np.int64, copy=False)
    if out_of_range(idx, 0, m):  # on a device: one flag read back (a sync)
        raise ValueError(
            f"{op}: found an invalid max index {int(idx.max()) if idx.max() >= m else int(idx.min())} "
            f"for an output of spatial size {out} ({m} positions)"
        )
    y = MaxUnpool.apply(x.reshape(idx.shape), idx, m)
    return y.reshape(*lead, *out)


def max_unpool1d(
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    """Undo ``max_pool1d(return_indices=True)``: each value back at its index in a zero (N, C, L_out) map."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 1, "max_unpool1d")


def max_unpool2d(
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    """Undo ``max_pool2d(return_indices=True)``: values back at their flat (H, W) indices, zeros elsewhere.

    The output is ``(H - 1)*stride - 2*padding + kernel_size`` high (likewise
    wide) unless ``output_size`` says otherwise, as in PyTorch.
    """
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2, "max_unpool2d")


def max_unpool3d(
    input: Tensor,
    indices: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    """Undo ``max_pool3d(return_indices=True)``: values back at flat (D, H, W) indices, zeros elsewhere."""
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3, "max_unpool3d")
