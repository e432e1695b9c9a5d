"""Batch, group and layer normalisation, each one autograd node with the closed-form backward.

All three standardise groups of values, ``xhat = (x - mean) / sqrt(var + eps)``
with the biased variance, then apply a learned affine map ``y = xhat * w + b``.
They differ only in which values form a group: batch norm pools every sample
and position of a channel, group norm the channels of a group within one
sample, layer norm the trailing ``normalized_shape`` dims of one sample.

The backward pass is the same formula for all three. With ``gh = dL/dxhat``
(the output gradient times ``w``) and means taken over a group,

    dx = (1 / sigma) * (gh - mean(gh) - xhat * mean(gh * xhat)),

because xhat depends on x directly and through the group's mean (hence the
``- mean(gh)``) and its standard deviation (hence the ``xhat`` term).
``dw = sum(g * xhat)`` and ``db = sum(g)`` are summed over everything that
shares a weight. Only the input, the mean and 1/sigma are kept for backward
(``x - mean`` is recomputed there), as PyTorch does, to keep training memory
low. Batch and group norm expand the formula into per-group coefficients, so
that it takes a few whole-array passes: ``dx = a g - k (x - mean) - c``.

Sums over (N, C, L) arrays are row dot products (``np.vecdot``, with a vector
of ones for a plain sum) over the contiguous last axis, then a small sum over
N: several times faster than NumPy's reductions over non-contiguous axes, and
single-threaded, so never stalled waiting for a busy core. On a device (CuPy,
which has no ``vecdot``) they are plain sums; every array goes through the
array module of the inputs (``xp``, see chainrule.devices), and the thread pool
serves NumPy arrays only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import Function
from chainrule.ops import compiled
from chainrule.ops.dtypes import as_floating as _floating
from chainrule.runtime import (
    MEMORY_BOUND_ELEMENTS,
    MIN_PARALLEL_ELEMENTS,
    chunk_bounds,
    map_rows,
    parallel_for,
    worth_splitting,
)
from chainrule.tensor import Tensor

__all__ = ["batch_norm", "group_norm", "layer_norm", "rms_norm"]


def _xp(a: Any) -> Any:
    """The array module of ``a``: NumPy after one type test (the CPU's hot path), else the device's."""
    return np if type(a) is np.ndarray else devices.array_module(a)


# ------------------------------------------------------------------ reductions
def _row_sum(a: np.ndarray) -> np.ndarray:
    """Sum over the last axis, as a dot product with ones (SIMD, and no threads to wait for)."""
    if type(a) is not np.ndarray:  # a device array
        return a.sum(axis=-1)
    return np.vecdot(a, np.ones(a.shape[-1], a.dtype))


def _row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum(a * b)`` over the last axis, without the product's temporary."""
    if type(a) is not np.ndarray:  # a device array
        return (a * b).sum(axis=-1)
    return np.vecdot(a, b)


def _last_sum(a3: np.ndarray) -> np.ndarray:
    """Sum over the last axis (which may have length 1)."""
    return a3[..., 0] if a3.shape[-1] == 1 else _row_sum(a3)


def _last_dot(a3: np.ndarray, b3: np.ndarray) -> np.ndarray:
    """``sum(a * b)`` over the last axis (which may have length 1)."""
    return a3[..., 0] * b3[..., 0] if a3.shape[-1] == 1 else _row_dot(a3, b3)


def _channel_sum(a3: np.ndarray) -> np.ndarray:
    """Per-channel sum of a (N, C, L) array: over samples and positions."""
    if a3.shape[2] == 1:
        return a3[:, :, 0].sum(axis=0)
    return _row_sum(a3).sum(axis=0)


def _channel_dot(a3: np.ndarray, b3: np.ndarray) -> np.ndarray:
    """Per-channel ``sum(a * b)`` of two (N, C, L) arrays."""
    if a3.shape[2] == 1:
        return _xp(a3).einsum("nc,nc->c", a3[:, :, 0], b3[:, :, 0])
    return _row_dot(a3, b3).sum(axis=0)


def _standardize_backward(gh: np.ndarray, xhat: np.ndarray, invstd: np.ndarray) -> np.ndarray:
    """``invstd * (gh - mean(gh) - xhat * mean(gh * xhat))`` per row of (R, D) arrays.

    The result is written over ``xhat``; ``gh`` (possibly the incoming gradient) is only read.
    """
    d = gh.shape[-1]
    mean_g = _row_sum(gh) / d
    mean_gx = _row_dot(gh, xhat) / d
    xhat *= mean_gx[:, None]
    dx = _xp(xhat).subtract(gh, xhat, out=xhat)
    dx -= mean_g[:, None]
    dx *= invstd[:, None]
    return dx


# ------------------------------------------------------------------ batch norm
# the dtypes batch norm's compiled affine map (evaluation) is built for, each compiled on first use
_AFFINE_DTYPES = (np.float32, np.float64)


class BatchNorm(Function):
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        n, c = x.shape[:2]
        xp = _xp(x)
        x3 = x.reshape(n, c, -1)
        if training:
            count = x3.shape[0] * x3.shape[2]
            mean = _channel_sum(x3) / count
            xc = xp.subtract(x3, mean[:, None])
            sq = _channel_dot(xc, xc)
            invstd = 1.0 / xp.sqrt(sq / count + eps)
            if running_mean is not None:
                # the running estimate takes the unbiased variance, normalisation the biased one
                running_mean *= 1.0 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1.0 - momentum
                running_var += (momentum / (count - 1)) * sq
            scale = invstd if weight is None else invstd * weight
            y = xc
            y *= scale[:, None]
            if bias is not None:
                y += bias[:, None]
        else:  # evaluation: a fixed affine map from the running statistics
            mean = running_mean.copy()
            invstd = 1.0 / xp.sqrt(running_var + eps)
            scale = invstd if weight is None else invstd * weight
            shift = (-mean * scale if bias is None else bias - mean * scale)[:, None]
            kernels = compiled.kernels("compiled_norm", x3, scale, shift, dtypes=_AFFINE_DTYPES)
            if kernels is not None and x3.dtype == scale.dtype == shift.dtype:  # one pass, not two
                y = np.empty(x3.shape, x3.dtype)
                shift1 = shift.reshape(-1)
                map_rows(
                    lambda i, j: kernels.channel_affine(x3[i:j], scale, shift1, y[i:j]), n, x3.size // n,
                    min_elements=MEMORY_BOUND_ELEMENTS,
                )
            elif x3.size < MIN_PARALLEL_ELEMENTS or xp is not np:
                y = x3 * scale[:, None]
                y += shift
            else:  # samples on the pool's threads
                y = np.empty(x3.shape, np.result_type(x3, scale))

                def samples(i: int, j: int) -> None:
                    np.multiply(x3[i:j], scale[:, None], out=y[i:j])
                    y[i:j] += shift

                map_rows(samples, n, x3.size // n)
        ctx.x3, ctx.mean, ctx.invstd, ctx.weight, ctx.training = x3, mean, invstd, weight, training
        return y.reshape(x.shape)

    def backward(ctx, g):
        x3, mean, invstd, weight, training = ctx.x3, ctx.mean, ctx.invstd, ctx.weight, ctx.training
        needs = ctx.needs_input_grad
        need_w, need_b = needs[1], len(needs) > 2 and needs[2]
        g3 = g.reshape(x3.shape)
        count = x3.shape[0] * x3.shape[2]
        xc = sum_gxhat = sum_g = None
        if need_w or (needs[0] and training):
            xc = _xp(g).subtract(x3, mean[:, None])
            sum_gxhat = _channel_dot(g3, xc) * invstd  # sum(g * xhat) per channel
        if need_b or (needs[0] and training):
            sum_g = _channel_sum(g3)
        gx = None
        if needs[0]:
            a = invstd if weight is None else invstd * weight
            gx = g3 * a[:, None]
            if training:
                # dx = a (g - mean(g) - xhat mean(g xhat)) with a = w / sigma, xhat = (x - mean) / sigma and
                # the means over the channel's M = N*L values:
                #    = a g - [a sum(g xhat) / (sigma M)] (x - mean) - a sum(g) / M
                xc *= (a * invstd * sum_gxhat / count)[:, None]
                gx -= xc
                gx -= (a * sum_g / count)[:, None]
            # (in evaluation mean and sigma are constants, so dx = a g)
            gx = gx.reshape(g.shape)
        return gx, (sum_gxhat if need_w else None), (sum_g if need_b else None), None, None, None, None, None


def _check_vector(t: Any, name: str, c: int, x: Tensor, op: str) -> None:
    if t is None:
        return
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(t).__name__}")
    if t.shape != (c,):
        raise ValueError(
            f"{op}: {name} of shape {t.shape} does not match the {c} channels of the input of shape {x.shape}"
        )
    if t._array.dtype != x._array.dtype:
        raise TypeError(f"{op}: {name} dtype {t.dtype} does not match input dtype {x.dtype}")


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (dim 1) of a (N, C, *) input, PyTorch's ``F.batch_norm``.

    Training: with the batch's mean and biased variance over N and every
    position, and, if given, ``running_mean``/``running_var`` are updated in
    place: ``r = (1 - momentum) r + momentum * stat``, the variance unbiased.
    Otherwise: with ``running_mean``/``running_var``.
    """
    op = "batch_norm"
    x = _floating(input, op)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C, *) with at least 2 dims, got {x.shape}")
    c = x.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight)):
        _check_vector(t, name, c, x, op)
    _check_vector(bias, "bias", c, x, op)
    if x._array.size == 0:  # no statistics to take or to fold into the running ones
        return _empty(x, weight, bias, per_channel=True)
    if training:
        check_batch_statistics(x, op)
    elif running_mean is None or running_var is None:
        raise ValueError(f"{op}: running_mean and running_var must be given in evaluation (training=False)")
    return BatchNorm.apply(
        x, weight, bias,
        running_mean=None if running_mean is None else running_mean._array,
        running_var=None if running_var is None else running_var._array,
        training=bool(training), momentum=float(momentum), eps=float(eps),
    )  # fmt: skip


def _empty(x: Tensor, weight: Tensor | None, bias: Tensor | None, per_channel: bool) -> Tensor:
    """The output for an empty input (batch 0, length 0): empty, as in PyTorch, and still in the graph
    of ``weight`` and ``bias``, whose gradients are sums over no values, zeros.

    ``per_channel``: weight and bias are (C,) vectors for the channel dim 1 (batch and group norm);
    otherwise they have the trailing normalized shape (layer and RMS norm).
    """
    shape = (-1,) + (1,) * (x.ndim - 2) if per_channel else None
    y = x * 0.0
    for t, combine in ((weight, Tensor.__mul__), (bias, Tensor.__add__)):
        if t is not None:
            y = combine(y, t if shape is None else t.reshape(shape))
    return y


def check_batch_statistics(x: Tensor, op: str) -> None:
    """Batch statistics need more than one value per channel (PyTorch's rule and message)."""
    if x.shape[0] * math.prod(x.shape[2:]) == 1:
        raise ValueError(
            f"{op}: Expected more than 1 value per channel when training, got input of shape {x.shape}"
        )


# ------------------------------------------------------------------ group norm
class GroupNorm(Function):
    def forward(ctx, x, weight, bias, groups, eps):
        n, c = x.shape[:2]
        xp = _xp(x)
        xr = x.reshape(n * groups, -1)  # one row per (sample, group)
        d = xr.shape[1]
        mean = _row_sum(xr) / d
        y = xp.subtract(xr, mean[:, None])
        invstd = 1.0 / xp.sqrt(_row_dot(y, y) / d + eps)
        # one scale per (sample, channel): its group's 1/sigma times the channel's weight
        scale = xp.repeat(invstd.reshape(n, groups), c // groups, axis=1)
        if weight is not None:
            scale *= weight
        y3 = y.reshape(n, c, -1)
        y3 *= scale[:, :, None]
        if bias is not None:
            y3 += bias[:, None]
        ctx.xr, ctx.mean, ctx.invstd, ctx.weight, ctx.groups = xr, mean, invstd, weight, groups
        return y3.reshape(x.shape)

    def backward(ctx, g):
        # Per group of D values, with gh = g w_c and xhat = (x - mean) / sigma:
        #     dx = (1/sigma) (gh - mean(gh) - xhat mean(gh xhat)).
        # Both means are sums over the group's channels of per-(sample, channel) sums
        # S_nc = sum_l g and P_nc = sum_l g (x - mean), weighted by w_c, so gh is never formed:
        #     dx = (w_c / sigma) g - (mean(gh xhat) / sigma^2) (x - mean) - mean(gh) / sigma.
        # dw_c = sum_n P_nc / sigma_n and db_c = sum_n S_nc.
        xr, mean, invstd, weight, groups = ctx.xr, ctx.mean, ctx.invstd, ctx.weight, ctx.groups
        needs = ctx.needs_input_grad
        n, c, cg, d = g.shape[0], g.shape[1], g.shape[1] // groups, xr.shape[1]
        xp = _xp(g)
        xc = xp.subtract(xr, mean[:, None])
        g3, xc3 = g.reshape(n, c, -1), xc.reshape(n, c, -1)
        s_nc = _last_sum(g3)
        p_nc = _last_dot(g3, xc3)
        inv = invstd.reshape(n, groups)
        inv_c = xp.repeat(inv, cg, axis=1)
        gw = (p_nc * inv_c).sum(axis=0) if needs[1] else None
        gb = s_nc.sum(axis=0) if len(needs) > 2 and needs[2] else None
        gx = None
        if needs[0]:
            w = 1.0 if weight is None else weight
            mean_gh = (s_nc * w).reshape(n, groups, cg).sum(axis=2) / d
            mean_ghx = (p_nc * w).reshape(n, groups, cg).sum(axis=2) * inv / d
            gx = g3 * (inv_c * w)[:, :, None]
            xc3 *= xp.repeat(mean_ghx * inv * inv, cg, axis=1)[:, :, None]
            gx -= xc3
            gx -= xp.repeat(mean_gh * inv, cg, axis=1)[:, :, None]
            gx = gx.reshape(g.shape)
        return gx, gw, gb, None, None


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each group of ``C / num_groups`` channels of each sample of a (N, C, *) input.

    Statistics do not depend on the batch, so training and evaluation agree.
    """
    op = "group_norm"
    x = _floating(input, op)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected an input of shape (N, C, *) with at least 2 dims, got {x.shape}")
    c = x.shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or num_groups < 1:
        raise ValueError(f"{op}: num_groups must be a positive int, got {num_groups!r}")
    if c % num_groups:
        raise ValueError(
            f"{op}: the {c} channels of the input of shape {x.shape} are not divisible by "
            f"num_groups={num_groups}"
        )
    _check_vector(weight, "weight", c, x, op)
    _check_vector(bias, "bias", c, x, op)
    if x._array.size == 0:
        return _empty(x, weight, bias, per_channel=True)
    if x.shape[0] * (c // num_groups) * math.prod(x.shape[2:]) == 1:  # PyTorch refuses this case too
        raise ValueError(
            f"{op}: Expected more than 1 value per channel when training, got input of shape {x.shape} "
            f"with num_groups={num_groups}"
        )
    return GroupNorm.apply(x, weight, bias, groups=int(num_groups), eps=float(eps))


# ------------------------------------------------------------------ layer norm
class LayerNorm(Function):
    def forward(ctx, x, weight, bias, ndim, eps):
        d = math.prod(x.shape[x.ndim - ndim :])
        xr = x.reshape(-1, d)
        w1, b1 = _affine(weight, bias, d, x.dtype)
        kernels = compiled.kernels("compiled_norm", xr, w1, b1)
        if kernels is not None:  # two passes a row, blocks of rows on the pool's threads
            y = np.empty(xr.shape, x.dtype)
            mean, invstd = np.empty(xr.shape[0], x.dtype), np.empty(xr.shape[0], x.dtype)

            def compiled_rows(i: int, j: int) -> None:
                kernels.layer_norm_rows(xr[i:j], w1, b1, eps, y[i:j], mean[i:j], invstd[i:j])

            map_rows(compiled_rows, xr.shape[0], d // COMPILED_SPEEDUP)
        elif xr.size < MIN_PARALLEL_ELEMENTS or type(xr) is not np.ndarray:  # small, or on a device
            mean, y, invstd = _layer_norm_rows(xr, weight, bias, eps)
        else:  # blocks of rows on the pool's threads: each row is computed exactly as serially
            y = np.empty(xr.shape, x.dtype)
            mean, invstd = np.empty(xr.shape[0], x.dtype), np.empty(xr.shape[0], x.dtype)

            def rows(i: int, j: int) -> None:
                _layer_norm_rows(xr[i:j], weight, bias, eps, (mean[i:j], y[i:j], invstd[i:j]))

            map_rows(rows, xr.shape[0], d)
        ctx.xr, ctx.mean, ctx.invstd, ctx.weight, ctx.shape = xr, mean, invstd, weight, x.shape
        ctx.pshape = x.shape[x.ndim - ndim :]
        return y.reshape(x.shape)

    def backward(ctx, g):
        xr, mean, invstd, weight, pshape = ctx.xr, ctx.mean, ctx.invstd, ctx.weight, ctx.pshape
        needs = ctx.needs_input_grad
        g2 = g.reshape(xr.shape)
        need_w, need_b = needs[1], len(needs) > 2 and needs[2]
        w1 = _affine(weight, None, xr.shape[1], xr.dtype)[0]
        kernels = compiled.kernels("compiled_norm", g2, xr, w1, mean)
        parts = worth_splitting(xr.size // (1 if kernels is None else COMPILED_SPEEDUP), like=xr)  # 1: device
        if kernels is not None:
            xhat = np.empty(xr.shape, xr.dtype)

            def compiled_rows(i: int, j: int) -> tuple:
                sums = np.zeros((2, xr.shape[1]))  # this block's dw and db, in float64
                kernels.layer_norm_backward_rows(g2[i:j], xr[i:j], mean[i:j], invstd[i:j], w1, xhat[i:j],
                                                 sums[0], sums[1])
                return sums

            total = np.add.reduce(parallel_for(compiled_rows, chunk_bounds(xr.shape[0], parts)))
            gw = total[0].astype(xr.dtype) if need_w else None
            gb = total[1].astype(xr.dtype) if need_b else None
        elif parts <= 1:
            xhat, gw, gb = _layer_norm_back_rows(g2, xr, mean, invstd, weight, needs[0], need_w, need_b)
        else:  # blocks of rows on the pool's threads; dw and db add up the blocks' partial sums
            xhat = np.empty(xr.shape, np.result_type(xr, invstd))

            def rows(i: int, j: int):
                return _layer_norm_back_rows(
                    g2[i:j], xr[i:j], mean[i:j], invstd[i:j], weight, needs[0], need_w, need_b, xhat[i:j]
                )

            sums = parallel_for(rows, chunk_bounds(xr.shape[0], parts))
            gw = np.add.reduce([s[1] for s in sums]) if need_w else None
            gb = np.add.reduce([s[2] for s in sums]) if need_b else None
        gw = None if gw is None else gw.reshape(pshape)
        gb = None if gb is None else gb.reshape(pshape)
        gx = xhat.reshape(ctx.shape) if needs[0] else None
        return gx, gw, gb, None, None


# The compiled layer norm takes about a quarter of the NumPy rows' time an element, so it is split
# over the pool only at four times their size: a (2048, 128) block at 2 threads took 0.16 ms split
# and 0.11 ms on one thread (W4's layer norms).
COMPILED_SPEEDUP = 4


def _affine(weight: Any, bias: Any, d: int, dtype: Any) -> tuple[Any, Any]:
    """Layer norm's ``(w, b)`` as flat (D,) arrays for the compiled kernels: ones and zeros where absent."""
    w = np.ones(d, dtype) if weight is None else weight.reshape(d)
    b = np.zeros(d, dtype) if bias is None else bias.reshape(d)
    return w, b


def _layer_norm_rows(
    xr: np.ndarray, weight: Any, bias: Any, eps: float, out: tuple[np.ndarray, ...] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer norm of the rows of ``xr`` (R, D): ``(mean, y, invstd)``, written into ``out`` if given."""
    d = xr.shape[1]
    xp = _xp(xr)
    mean = _row_sum(xr) / d
    y = xp.subtract(xr, mean[:, None], out=None if out is None else out[1])
    invstd = 1.0 / xp.sqrt(_row_dot(y, y) / d + eps)
    y *= invstd[:, None]
    if weight is not None:
        y *= weight.reshape(d)
    if bias is not None:
        y += bias.reshape(d)
    if out is not None:
        out[0][...], out[2][...] = mean, invstd
    return mean, y, invstd


def _layer_norm_back_rows(
    g2: np.ndarray,
    xr: np.ndarray,
    mean: np.ndarray,
    invstd: np.ndarray,
    weight: Any,
    need_x: bool,
    need_w: bool,
    need_b: bool,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, Any, Any]:
    """For rows of (R, D): ``(dx, dw, db)``, dw and db summed over these rows; dx is written into ``out``."""
    xhat = _xp(xr).subtract(xr, mean[:, None], out=out)
    xhat *= invstd[:, None]
    # weight and bias are shared by every row: their gradients sum over the rows
    gw = (g2 * xhat).sum(axis=0) if need_w else None
    gb = g2.sum(axis=0) if need_b else None
    if need_x:
        gh = g2 * weight.reshape(-1) if weight is not None else g2
        xhat = _standardize_backward(gh, xhat, invstd)  # written over xhat
    return xhat, gw, gb


def _trailing_shape(x: np.ndarray, normalized_shape: int | Sequence[int], op: str) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple, checked to be the trailing dims of ``x`` (layer and RMS norm)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
    shape = tuple(int(s) for s in shape)
    k = len(shape)
    if k == 0 or x.ndim < k or x.shape[x.ndim - k :] != shape:
        raise ValueError(
            f"{op}: normalized_shape={shape} expects an input of shape (*, {', '.join(map(str, shape))}), "
            f"got {x.shape}"
        )
    return shape


def layer_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing dims ``normalized_shape`` of each sample, PyTorch's ``F.layer_norm``."""
    op = "layer_norm"
    x = _floating(input, op)
    shape = _trailing_shape(x, normalized_shape, op)
    k = len(shape)
    for name, t in (("weight", weight), ("bias", bias)):
        if t is None:
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(t).__name__}")
        if t.shape != shape:
            raise ValueError(f"{op}: {name} of shape {t.shape} does not match normalized_shape={shape}")
        if t._array.dtype != x._array.dtype:
            raise TypeError(f"{op}: {name} dtype {t.dtype} does not match input dtype {x.dtype}")
    if x._array.size == 0:
        return _empty(x, weight, bias, per_channel=False)
    return LayerNorm.apply(x, weight, bias, ndim=k, eps=float(eps))


# ------------------------------------------------------------------ RMS norm
class RMSNorm(Function):
    def forward(ctx, x, weight, ndim, eps):
        d = math.prod(x.shape[x.ndim - ndim :])
        xr = x.reshape(-1, d)
        # y = x / rms(x) * w with rms(x) = sqrt(mean(x^2) + eps): no centring, unlike layer norm
        invrms = 1.0 / _xp(x).sqrt(_row_dot(xr, xr) / d + eps)
        y = xr * invrms[:, None]
        if weight is not None:
            y *= weight.reshape(d)
        ctx.xr, ctx.invrms, ctx.weight, ctx.shape = xr, invrms, weight, x.shape
        ctx.pshape = x.shape[x.ndim - ndim :]
        return y.reshape(x.shape)

    def backward(ctx, g):
        # With xhat = x r, r = 1/rms(x) and gh = g w: dr/dx_j = -r^3 x_j / D, so
        #   dx = r (gh - xhat mean(gh * xhat)),  dw = sum over rows of g * xhat.
        xr, invrms, weight = ctx.xr, ctx.invrms, ctx.weight
        needs = ctx.needs_input_grad
        g2 = g.reshape(xr.shape)
        xhat = xr * invrms[:, None]
        gw = (g2 * xhat).sum(axis=0).reshape(ctx.pshape) if len(needs) > 1 and needs[1] else None
        gx = None
        if needs[0]:
            gh = g2 * weight.reshape(-1) if weight is not None else g2
            mean_gx = _row_dot(gh, xhat) / xr.shape[1]
            xhat *= mean_gx[:, None]
            gx = _xp(g).subtract(gh, xhat, out=xhat)
            gx *= invrms[:, None]
            gx = gx.reshape(ctx.shape)
        return gx, gw, None, None


def rms_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing dims ``normalized_shape``, ``F.rms_norm``.

    ``eps=None`` uses the machine epsilon of the input's dtype, as PyTorch does.
    """
    op = "rms_norm"
    x = _floating(input, op)
    shape = _trailing_shape(x, normalized_shape, op)
    k = len(shape)
    if weight is not None:
        if not isinstance(weight, Tensor):
            raise TypeError(f"{op}: weight must be a Tensor or None, got {type(weight).__name__}")
        if weight.shape != shape:
            raise ValueError(f"{op}: weight of shape {weight.shape} does not match normalized_shape={shape}")
        if weight._array.dtype != x._array.dtype:
            raise TypeError(f"{op}: weight dtype {weight.dtype} does not match input dtype {x.dtype}")
    if x._array.size == 0:
        return _empty(x, weight, None, per_channel=False)
    eps = float(np.finfo(x._array.dtype).eps) if eps is None else float(eps)
    return RMSNorm.apply(x, weight, ndim=k, eps=eps)
