"""Pools as passes along one axis at a time: max_pool3d, avg_pool1d, avg_pool3d, adaptive_avg_pool1d.

The max (or the sum) of a box is the max (sum) along depth of the maxima
(sums) of its 2-D slices, and PyTorch's average divisor is a product of one
count per axis. So a 3-D pool is the 2-D kernel of :mod:`chainrule.ops.pool`
over (H, W) with depth folded into the channels, then a 1-D pass along depth;
the 1-D pools are the 2-D ones with a height of 1. The backward is theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import record_plain
from chainrule.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool1d, max_pool2d
from chainrule.tensor import Tensor

__all__ = ["adaptive_avg_pool1d", "avg_pool1d", "avg_pool3d", "max_pool3d"]


def _ints(value: Any, n: int, name: str, op: str, minimum: int) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        t = (int(value),) * n
    elif (
        isinstance(value, (tuple, list))
        and len(value) in (1, n)
        and all(isinstance(v, (int, np.integer)) for v in value)
    ):
        t = tuple(int(v) for v in value) * (n // len(value))
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in t):
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return t


def _window(
    x: Any,
    dims: int,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    op: str,
    dilation: Any = 1,
    ceil_mode: bool = False,
) -> tuple:
    """The input batched (and whether it was not), kernel, stride and padding, checked as PyTorch does."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.ndim not in (dims + 1, dims + 2):
        raise ValueError(
            f"{op}: expected a {dims + 1}-D (unbatched) or {dims + 2}-D (batched) input, got shape {x.shape}"
        )
    k = _ints(kernel_size, dims, "kernel_size", op, 1)
    s = (
        k
        if stride is None or (isinstance(stride, (list, tuple)) and not stride)
        else _ints(stride, dims, "stride", op, 1)
    )
    p = _ints(padding, dims, "padding", op, 0)
    if any(2 * pi > ki for pi, ki in zip(p, k, strict=True)):
        raise ValueError(
            f"{op}: padding should be at most half of kernel_size, got padding={p}, kernel_size={k}"
        )
    d = _ints(dilation, dims, "dilation", op, 1)
    spatial = x.shape[-dims:]
    out = []
    for n, ki, si, pi, di in zip(spatial, k, s, p, d, strict=True):
        span = n + 2 * pi - di * (ki - 1) - 1
        o = (-(-span // si) if ceil_mode else span // si) + 1
        if ceil_mode and (o - 1) * si >= n + pi:  # a last window may not start in the padding
            o -= 1
        out.append(o)
    if min(out) < 1:
        raise ValueError(
            f"{op}: input of spatial size {tuple(spatial)} is too small for kernel_size={k}, stride={s}, "
            f"padding={p}, dilation={d}: the output would be {tuple(out)}"
        )
    unbatched = x.ndim == dims + 1
    return (x.unsqueeze(0) if unbatched else x), unbatched, k, s, p


def max_pool3d(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """The maximum over each box of a (N, C, D, H, W) or (C, D, H, W) input (``F.max_pool3d``).

    Padding counts as -inf. ``return_indices=True`` also returns each
    maximum's index in the flattened (D, H, W) input, as PyTorch does.
    """
    op = "max_pool3d"
    x, unbatched, k, s, p = _window(input, 3, kernel_size, stride, padding, op, dilation, ceil_mode)
    d = _ints(dilation, 3, "dilation", op, 1)
    n, c, depth, h, w = x.shape
    flat = x.reshape(n, c * depth, h, w)
    y1, i1 = max_pool2d(flat, k[1:], s[1:], p[1:], d[1:], ceil_mode, return_indices=True)
    ho, wo = y1.shape[-2:]
    cols = y1.reshape(n, c, depth, ho * wo).permute(0, 1, 3, 2).reshape(n, c * ho * wo, depth)
    y2, i2 = max_pool1d(cols, k[0], s[0], p[0], d[0], ceil_mode, return_indices=True)
    do = y2.shape[-1]
    y = y2.reshape(n, c, ho, wo, do).permute(0, 1, 4, 2, 3)
    if unbatched:
        y = y.squeeze(0)
    if not return_indices:
        return y
    # the depth pass picked a slice per output; the 2-D pass knows where in that slice the max was
    # (index arrays on the input's device, through its array module)
    xp = devices.array_module(i2._array)
    depth_idx = i2._array.reshape(n, c, ho, wo, do).transpose(0, 1, 4, 2, 3)
    plane_idx = xp.take_along_axis(i1._array.reshape(n, c, depth, ho, wo), depth_idx, axis=2)
    idx = depth_idx * (h * w) + plane_idx
    indices = Tensor._make(idx[0] if unbatched else idx, None)
    record_plain("max_pool3d_indices", (input,), {}, indices)  # which an export refuses, naming it
    return y, indices


def avg_pool1d(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """The mean over each window of a (N, C, L) or (C, L) input (``F.avg_pool1d``)."""
    op = "avg_pool1d"
    x, unbatched, k, s, p = _window(input, 1, kernel_size, stride, padding, op, 1, ceil_mode)
    y = avg_pool2d(x.unsqueeze(-2), (1, *k), (1, *s), (0, *p), ceil_mode, count_include_pad).squeeze(-2)
    return y.squeeze(0) if unbatched else y


def avg_pool3d(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """The mean over each box of a (N, C, D, H, W) or (C, D, H, W) input (``F.avg_pool3d``).

    ``count_include_pad`` counts zero padding in the mean; ``divisor_override``
    divides each box's sum by that number instead.
    """
    op = "avg_pool3d"
    x, unbatched, k, s, p = _window(input, 3, kernel_size, stride, padding, op, 1, ceil_mode)
    if any(n < ki for n, ki in zip(x.shape[-3:], k, strict=True)):  # PyTorch's rule here, padding aside
        raise ValueError(
            f"{op}: input of spatial size {tuple(x.shape[-3:])} is smaller than kernel_size={k} "
            "(each of D, H, W must be at least the kernel's, whatever the padding)"
        )
    if divisor_override is not None and (isinstance(divisor_override, bool) or not divisor_override):
        raise ValueError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
    # with an override, both passes sum (divisor 1) and the total is divided once at the end
    each = None if divisor_override is None else 1
    n, c, depth, h, w = x.shape
    y1 = avg_pool2d(x.reshape(n, c * depth, h, w), k[1:], s[1:], p[1:], ceil_mode, count_include_pad, each)
    ho, wo = y1.shape[-2:]
    cols = y1.reshape(n, c, depth, ho * wo).permute(0, 1, 3, 2).reshape(n, c * ho * wo, 1, depth)
    y2 = avg_pool2d(cols, (1, k[0]), (1, s[0]), (0, p[0]), ceil_mode, count_include_pad, each)
    y = y2.reshape(n, c, ho, wo, y2.shape[-1]).permute(0, 1, 4, 2, 3)
    if divisor_override is not None:
        y = y / float(divisor_override)
    return y.squeeze(0) if unbatched else y


def adaptive_avg_pool1d(input: Tensor, output_size: int | Sequence[int]) -> Tensor:
    """The mean over ``output_size`` near-equal windows of a (N, C, L) or (C, L) input."""
    op = "adaptive_avg_pool1d"
    if not isinstance(input, Tensor) or input.ndim not in (2, 3):
        got = f"shape {input.shape}" if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"{op}: expected a 2-D (unbatched) or 3-D (batched) input, got {got}")
    (size,) = _ints(output_size, 1, "output_size", op, 0)
    return adaptive_avg_pool2d(input.unsqueeze(-2), (1, size)).squeeze(-2)
