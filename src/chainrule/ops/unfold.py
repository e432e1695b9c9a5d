"""Sliding blocks as columns and back: ``F.unfold`` (im2col) and ``F.fold`` (col2im), forward beside backward.

``unfold`` turns (N, C, H, W) into (N, C*kh*kw, L): every block a column,
its rows ordered channel, then kernel row, then kernel column, as PyTorch.
``fold`` is its adjoint: each column is added back onto the block it came
from, overlaps summing. So each one's backward is the other's forward, done
as one strided slice per kernel tap (kh*kw slices, never a loop over pixels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import Function
from chainrule.ops.dtypes import as_floating
from chainrule.tensor import Tensor

__all__ = ["Fold", "Unfold", "fold", "unfold"]


def _taps(k, d, s, p, out):
    """Per kernel tap (i, j): the slice of the padded image it reads for every block."""
    (kh, kw), (dh, dw), (sh, sw), (oh, ow) = k, d, s, out
    for i in range(kh):
        for j in range(kw):
            yield (
                i,
                j,
                (
                    slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
                    slice(j * dw, j * dw + sw * (ow - 1) + 1, sw),
                ),
            )


def _im2col(x: np.ndarray, geo: tuple) -> np.ndarray:
    k, d, s, p, out = geo
    n, c = x.shape[:2]
    xp = devices.array_module(x)
    padded = xp.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1]))) if any(p) else x
    cols = xp.empty((n, c, k[0], k[1], *out), dtype=x.dtype)
    for i, j, (rows, columns) in _taps(k, d, s, p, out):
        cols[:, :, i, j] = padded[:, :, rows, columns]
    return cols.reshape(n, c * k[0] * k[1], out[0] * out[1])


def _col2im(cols: np.ndarray, geo: tuple, size: tuple[int, int]) -> np.ndarray:
    k, d, s, p, out = geo
    n = cols.shape[0]
    c = cols.shape[1] // (k[0] * k[1])
    blocks = cols.reshape(n, c, k[0], k[1], *out)
    xp = devices.array_module(cols)
    padded = xp.zeros((n, c, size[0] + 2 * p[0], size[1] + 2 * p[1]), dtype=cols.dtype)
    for i, j, (rows, columns) in _taps(k, d, s, p, out):
        padded[:, :, rows, columns] += blocks[:, :, i, j]
    return xp.ascontiguousarray(padded[:, :, p[0] : p[0] + size[0], p[1] : p[1] + size[1]])


class Unfold(Function):
    def forward(ctx, x, geo):
        ctx.geo, ctx.size = geo, x.shape[2:]
        return _im2col(x, geo)

    def backward(ctx, g):
        # each input pixel receives the gradient of every column entry that copied it: col2im
        return _col2im(g, ctx.geo, ctx.size), None


class Fold(Function):
    def forward(ctx, cols, geo, size):
        ctx.geo = geo
        return _col2im(cols, geo, size)

    def backward(ctx, g):
        # each column entry was added onto one pixel, so it reads that pixel's gradient: im2col
        return _im2col(g, ctx.geo), None, None


def _pair(value: Any, name: str, op: str, minimum: int) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        t = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        t = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of 2 ints, got {value!r}")
    if min(t) < minimum:
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return t


def _geometry(size: tuple, kernel_size: Any, dilation: Any, padding: Any, stride: Any, op: str) -> tuple:
    k = _pair(kernel_size, "kernel_size", op, 1)
    d = _pair(dilation, "dilation", op, 1)
    p = _pair(padding, "padding", op, 0)
    s = _pair(stride, "stride", op, 1)
    out = tuple(
        (n + 2 * pi - di * (ki - 1) - 1) // si + 1 for n, ki, di, pi, si in zip(size, k, d, p, s, strict=True)
    )
    if min(out) < 1:
        raise ValueError(
            f"{op}: the spatial size {tuple(size)} with padding {p} is too small for kernel_size {k} "
            f"with dilation {d}: no block fits"
        )
    return k, d, s, p, out


def unfold(
    input: Tensor,
    kernel_size: int | tuple[int, int],
    dilation: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    stride: int | tuple[int, int] = 1,
) -> Tensor:
    """Blocks of (N, C, H, W) (or unbatched (C, H, W)) as columns: (N, C*kh*kw, L), ``F.unfold``."""
    op = "unfold"
    x = as_floating(input, op)
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (unbatched) or 4-D (batched) input, got shape {x.shape}")
    unbatched = x.ndim == 3
    x = x.unsqueeze(0) if unbatched else x
    geo = _geometry(x.shape[2:], kernel_size, dilation, padding, stride, op)
    y = Unfold.apply(x, geo)
    return y.squeeze(0) if unbatched else y


def fold(
    input: Tensor,
    output_size: int | tuple[int, int],
    kernel_size: int | tuple[int, int],
    dilation: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    stride: int | tuple[int, int] = 1,
) -> Tensor:
    """Columns (N, C*kh*kw, L) (or unbatched (C*kh*kw, L)) summed back into (N, C, *output_size)."""
    op = "fold"
    x = as_floating(input, op)
    if x.ndim not in (2, 3):
        raise ValueError(f"{op}: expected a 2-D (unbatched) or 3-D (batched) input, got shape {x.shape}")
    unbatched = x.ndim == 2
    x = x.unsqueeze(0) if unbatched else x
    size = _pair(output_size, "output_size", op, 1)
    geo = _geometry(size, kernel_size, dilation, padding, stride, op)
    kk = geo[0][0] * geo[0][1]
    blocks = geo[4][0] * geo[4][1]
    if x.shape[1] % kk or x.shape[2] != blocks:
        raise ValueError(
            f"{op}: expected an input of shape (N, C*{kk}, {blocks}) for output_size {size}, kernel_size "
            f"{geo[0]}, dilation {geo[1]}, padding {geo[3]}, stride {geo[2]}; got shape {input.shape}"
        )
    y = Fold.apply(x, geo, size)
    return y.squeeze(0) if unbatched else y
