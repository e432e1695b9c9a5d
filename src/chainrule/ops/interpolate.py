"""Interpolating resize (``F.interpolate``: linear, bilinear, bicubic, trilinear), forward beside backward.

Each of these modes is separable: the value at an output pixel is a weighted
sum over input pixels whose weight is a product of one weight per axis. So
the resize is one small (out, in) matrix per spatial axis, applied along that
axis in turn; the backward applies the transposed matrices in reverse order.
The matrices follow PyTorch's source-index rule (``align_corners``, the
scale from ``scale_factor`` unless recomputed) and, for bicubic, its cubic
convolution with A = -0.75 and clamped border taps. ``nearest`` modes are
passed to :func:`chainrule.ops.pool.interpolate`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chainrule import devices
from chainrule.autograd import Function
from chainrule.ops import pool
from chainrule.ops.dtypes import as_floating
from chainrule.tensor import Tensor

__all__ = [
    "Resample",
    "adaptive_avg_pool3d",
    "along_nonfinite",
    "apply_along",
    "area_matrix",
    "interpolate",
    "resample_matrix",
    "resample_taps",
]

# mode -> number of spatial dims it needs
_LINEAR = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_CUBIC_A = -0.75


def _cubic_weights(t: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution weights (A = -0.75) of the taps at offsets -1, 0, 1, 2 from floor(src)."""
    a = _CUBIC_A

    def near(x: np.ndarray) -> np.ndarray:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: np.ndarray) -> np.ndarray:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def resample_matrix(
    n_in: int, n_out: int, scale: float | None, align_corners: bool, cubic: bool
) -> np.ndarray:
    """The (n_out, n_in) float64 matrix of 1-D linear or cubic interpolation, PyTorch's source rule.

    ``scale`` is the user's scale factor (its inverse is the source step) or
    None to use n_in / n_out. With ``align_corners`` the end pixels' centres
    line up: step (n_in - 1) / (n_out - 1).
    """
    return resample_taps(n_in, n_out, scale, align_corners, cubic)[0]


def resample_taps(
    n_in: int, n_out: int, scale: float | None, align_corners: bool, cubic: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``resample_matrix`` and the signs of its taps: a (3, n_out, n_in) bool array saying where an
    output reads an input pixel with a positive, a negative and a zero weight (its 2 or 4 taps, some of
    them the same clamped pixel). PyTorch multiplies every tap, so an inf read with weight 0 gives NaN."""
    dst = np.arange(n_out, dtype=np.float64)
    if align_corners:
        step = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        src = dst * step
    else:
        step = 1.0 / scale if scale is not None and scale > 0 else n_in / n_out
        src = (dst + 0.5) * step - 0.5
        if not cubic:
            src = np.maximum(src, 0.0)  # linear modes clamp the source at the first pixel
    base = np.floor(src)
    t = src - base
    base = base.astype(np.intp)
    m = np.zeros((n_out, n_in))
    signs = np.zeros((3, n_out, n_in), bool)  # positive, negative, zero weight
    rows = np.arange(n_out)
    if cubic:
        w = _cubic_weights(t)
        cols = [np.clip(base - 1 + k, 0, n_in - 1) for k in range(4)]
    else:
        base = np.minimum(base, n_in - 1)
        w = np.stack([1.0 - t, t], axis=-1)
        cols = [base, np.minimum(base + 1, n_in - 1)]
    for k, c in enumerate(cols):
        wk = w[:, k]
        np.add.at(m, (rows, c), wk)
        for i, sel in enumerate((wk > 0, wk < 0, wk == 0)):
            signs[i, rows[sel], c[sel]] = True
    return m, signs


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The (n_out, n_in) matrix of adaptive averaging: row o is the mean of ``floor(o n / out)`` to
    ``ceil((o + 1) n / out) - 1`` (``mode="area"``, ``adaptive_avg_pool``)."""
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        start, end = (o * n_in) // n_out, -(-((o + 1) * n_in) // n_out)
        m[o, start:end] = 1.0 / (end - start)
    return m


def apply_along(x: np.ndarray, m: np.ndarray, axis: int) -> np.ndarray:
    """``m`` (out, in) applied along ``axis`` of a C-contiguous ``x``, without moving axes.

    The array is viewed as (before, in, after): the last axis is one GEMM with
    ``m^T``; any other is ``m @`` each (in, after) slab. No transposed copies.
    """
    before = int(np.prod(x.shape[:axis]))
    after = int(np.prod(x.shape[axis + 1 :]))
    shape = (*x.shape[:axis], m.shape[0], *x.shape[axis + 1 :])
    if after == 1:
        return (x.reshape(before, x.shape[axis]) @ m.T).reshape(shape)
    return devices.array_module(x).matmul(m, x.reshape(before, x.shape[axis], after)).reshape(shape)


def along_nonfinite(x: np.ndarray, m: np.ndarray, taps: np.ndarray | None, axis: int) -> np.ndarray:
    """``apply_along(x, m, axis)`` with each inf and NaN of ``x`` reaching only the outputs that read it
    (:func:`~chainrule.ops.pool.keep_nonfinite`).

    PyTorch sums ``weight * pixel`` over each output's taps: an inf gives +-inf by the weight's sign, or
    NaN where the weight is 0. ``taps``: the (3, out, in) signs of :func:`resample_taps`, None for a
    matrix of non-negative weights (area mode).
    """
    xp = devices.array_module(x)

    def reach(mask: np.ndarray) -> tuple[np.ndarray, ...]:
        cells = mask.astype(x.dtype)
        return tuple(apply_along(cells, xp.ascontiguousarray(t.astype(x.dtype)), axis) > 0 for t in taps)

    return pool.keep_nonfinite(x, lambda a: apply_along(a, m, axis), None if taps is None else reach)


class Resample(Function):
    """``y = x M_a^T`` along each spatial axis a (a matrix along that axis), and its adjoint."""

    def forward(ctx, x, mats, taps=None):
        # mats: one (out, in) matrix per trailing spatial axis, or None where the axis is unchanged;
        # made on the host (small), they join a device input there (one copy each, no read-back).
        # taps: per axis, the input cells each output reads (None: the matrices' non-zeros)
        xp = devices.array_module(x)
        taps = (None,) * len(mats) if taps is None else taps
        if xp is not np:
            where = devices.device_of(x)
            mats = tuple(None if m is None else devices.to_device(m, where) for m in mats)
            taps = tuple(None if t is None else devices.to_device(t, where) for t in taps)
        ctx.mats = mats
        lead = x.ndim - len(mats)
        x = xp.ascontiguousarray(x)
        for i, (m, t) in enumerate(zip(mats, taps, strict=True)):
            if m is not None:
                x = along_nonfinite(x, m, t, lead + i)
        return x

    def backward(ctx, g):
        # y = x M^T along the axis  =>  dx = g M along it (M^T applied); the axes undone in reverse order
        lead = g.ndim - len(ctx.mats)
        xp = devices.array_module(g)
        g = xp.ascontiguousarray(g)
        for i in reversed(range(len(ctx.mats))):
            m = ctx.mats[i]
            if m is not None:
                g = apply_along(g, xp.ascontiguousarray(m.T), lead + i)
        return g, None


def interpolate(
    input: Tensor,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize (N, C, L), (N, C, H, W) or (N, C, D, H, W) to ``size`` or by ``scale_factor``.

    ``mode`` is 'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear'
    or 'bicubic' (4-D), 'trilinear' (5-D), or 'area' (adaptive averaging). ``align_corners`` (interpolating
    modes only, default False) lines up the corner pixels' centres;
    ``recompute_scale_factor=True`` derives the step from the output size
    rather than the given factor. Bicubic may overshoot the input range, as
    in PyTorch.
    """
    if mode not in _LINEAR and mode != "area":
        if align_corners is not None:
            raise ValueError(
                "interpolate: align_corners option can only be set with the interpolating modes: "
                f"linear | bilinear | bicubic | trilinear (mode is {mode!r})"
            )
        return pool.interpolate(
            input, size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
        )
    x = as_floating(input, "interpolate")
    if antialias:
        raise ValueError("interpolate: antialias=True is not implemented in chainrule")
    if mode == "area" and align_corners is not None:
        raise ValueError(
            "interpolate: align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear (mode is 'area')"
        )
    want = _LINEAR.get(mode, max(1, min(x.ndim - 2, 3)))
    if x.ndim != want + 2:
        raise ValueError(
            f"interpolate: got {x.ndim}D input of shape {x.shape}, but {mode} mode needs {want + 2}D input "
            f"(N, C, {', '.join('DHW'[3 - want :])})"
        )
    spatial = x.shape[2:]
    out, scales = pool.resize_target(x.shape, size, scale_factor, recompute_scale_factor, positive_scale=True)
    corners = bool(align_corners)
    cubic = mode == "bicubic"
    dt = x.dtype
    if mode == "area":  # adaptive average pooling to the output size
        return Resample.apply(
            x, tuple(area_matrix(n, int(o)).astype(dt) for n, o in zip(spatial, out, strict=True))
        )
    pairs = tuple(
        None if (n == o and (corners or s is None or s == 1.0)) else
        resample_taps(n, int(o), s, corners, cubic)
        for n, o, s in zip(spatial, out, scales, strict=True)
    )  # fmt: skip
    mats = tuple(None if p is None else p[0].astype(dt) for p in pairs)
    return Resample.apply(x, mats, taps=tuple(None if p is None else p[1] for p in pairs))


def adaptive_avg_pool3d(input: Tensor, output_size: int | Sequence[int | None]) -> Tensor:
    """Mean over adaptive boxes of (N, C, D, H, W) or (C, D, H, W) to ``output_size`` (None keeps a dim)."""
    op = "adaptive_avg_pool3d"
    x = as_floating(input, op)
    if x.ndim not in (4, 5):
        raise ValueError(f"{op}: expected a 4-D (unbatched) or 5-D (batched) input, got shape {x.shape}")
    sizes = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size] * 3
    if len(sizes) != 3:
        raise TypeError(
            f"{op}: output_size must be an int or a tuple of 3 (int or None), got {output_size!r}"
        )
    spatial = x.shape[-3:]
    sizes = [n if o is None else o for o, n in zip(sizes, spatial, strict=True)]
    if any(isinstance(o, bool) or not isinstance(o, (int, np.integer)) or o < 1 for o in sizes):
        raise ValueError(f"{op}: output_size must be positive ints (or None), got {output_size!r}")
    dt = x.dtype
    return Resample.apply(
        x, tuple(area_matrix(n, int(o)).astype(dt) for n, o in zip(spatial, sizes, strict=True))
    )
