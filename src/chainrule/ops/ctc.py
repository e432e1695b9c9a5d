"""Connectionist temporal classification loss (``F.ctc_loss``): forward-backward in log space, batched.

The target ``l`` is extended with blanks, ``l' = (blank, l1, blank, l2, ..., blank)``.
``alpha[t, s]`` is the log-probability of all alignments of the first t+1
frames that end in ``l'_s``; ``beta[t, s]`` of those of frames t.. that start
there (both include frame t's own probability). The recursions step over
time only; every sample of the batch and every position s moves at once.
The loss is ``-log p(l|x) = -logsumexp(alpha[T-1, L-1], alpha[T-1, L-2])``.

Targets and lengths are read on the host, as PyTorch reads them (they decide
the shapes; a device copy of them is fetched once); the recursions run on
the log-probabilities' device through its array module (``xp``, see
chainrule.devices), the extended labels and lengths moved there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import Function
from chainrule.tensor import Tensor

__all__ = ["CtcLoss", "ctc_loss"]

_NEG = -np.inf


def _shift(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` moved k places along the last axis (right for k > 0, left for k < 0), filled with -inf."""
    out = devices.array_module(a).full_like(a, _NEG)
    if k > 0:
        out[..., k:] = a[..., :-k]
    else:
        out[..., :k] = a[..., -k:]
    return out


class CtcLoss(Function):
    """Per-sample ``-log p(target | log_probs)`` for (T, N, C) log-probabilities, gradient in closed form."""

    def forward(ctx, lp, ext, in_len, ext_len, zero_infinity):
        # ext: (N, L) extended labels; ext_len: 2 S_n + 1 per sample; in_len: T_n per sample
        dt = lp.dtype
        xp = devices.array_module(lp)
        if xp is not np:  # the labels and lengths (host arrays) next to the log-probabilities
            ext, in_len, ext_len = xp.asarray(ext), xp.asarray(in_len), xp.asarray(ext_len)
        lp64 = lp.astype(np.float64)
        t_max, n = lp.shape[:2]
        width = ext.shape[1]
        s = xp.arange(width)
        valid = s[None, :] < ext_len[:, None]
        blank_pos = (s % 2 == 0)[None, :]
        # a skip from s - 2 is allowed onto a label that differs from the label two back
        skip = ~blank_pos & (s >= 2)[None, :] & (ext != xp.roll(ext, 2, axis=1))
        lpe = lp64[:, xp.arange(n)[:, None], ext]  # (T, N, L): each frame's log-prob of each l'_s
        lpe = xp.where(valid[None], lpe, _NEG)
        alpha = xp.full((t_max, n, width), _NEG)
        alpha[0, :, :2] = lpe[0, :, :2]
        with devices.errstate(lp, invalid="ignore"):
            for t in range(1, t_max):
                prev = alpha[t - 1]
                best = xp.logaddexp(prev, _shift(prev, 1))
                best = xp.logaddexp(best, xp.where(skip, _shift(prev, 2), _NEG))
                alpha[t] = best + lpe[t]
            rows = xp.arange(n)
            last = alpha[in_len - 1, rows]  # (N, L) at each sample's own last frame
            ll = xp.logaddexp(last[rows, ext_len - 1], xp.where(ext_len >= 2, last[rows, ext_len - 2], _NEG))
            # beta, from each sample's last frame back to the first
            beta = xp.full((t_max, n, width), _NEG)
            init = xp.full((n, width), _NEG)
            init[rows, ext_len - 1] = 0.0
            two = ext_len >= 2
            if xp is np:
                init[rows[two], ext_len[two] - 2] = 0.0
            else:  # the same, without a mask's data-dependent shape (a sync): rows with one label get 0 again
                init[rows, xp.where(two, ext_len - 2, ext_len - 1)] = 0.0
            nxt = xp.full((n, width), _NEG)
            for t in range(t_max - 1, -1, -1):
                step = xp.logaddexp(nxt, _shift(nxt, -1))
                step = xp.logaddexp(step, _shift(xp.where(skip, nxt, _NEG), -2))
                step = xp.where((in_len - 1 == t)[:, None], init, step)
                beta[t] = step + lpe[t]
                nxt = beta[t]
        loss = -ll
        bad = ~xp.isfinite(loss)
        if zero_infinity:
            loss = xp.where(bad, 0.0, loss)
        ctx.alpha, ctx.beta, ctx.lpe, ctx.ll, ctx.ext = alpha, beta, lpe, ll, ext
        ctx.in_len, ctx.shape, ctx.dtype = in_len, lp.shape, dt
        ctx.drop = bad if zero_infinity else xp.zeros(n, bool)
        ctx.undefined = xp.zeros(n, bool) if zero_infinity else bad  # an infinite loss: NaN gradients
        return loss.astype(dt)

    def backward(ctx, g):
        # d(-log p)/d lp[t, n, c] = -sum_{s: l'_s = c} alpha[t, s] beta[t, s] / (y[t, c] p)
        # (frames past a sample's length, and samples whose loss zero_infinity zeroed, get none)
        t_max, n, c = ctx.shape
        xp = devices.array_module(g)
        with devices.errstate(g, invalid="ignore", over="ignore"):
            occ = xp.exp(ctx.alpha + ctx.beta - ctx.lpe - ctx.ll[None, :, None])
        occ = xp.nan_to_num(occ, nan=0.0, posinf=0.0)
        frames = xp.arange(t_max)[:, None] < ctx.in_len[None, :]
        occ *= (frames & ~ctx.drop[None, :])[..., None]
        grad = xp.zeros((t_max, n, c))
        devices.scatter_add(grad, (slice(None), xp.arange(n)[:, None], ctx.ext), occ)
        grad *= -g.astype(np.float64)[None, :, None]
        # an impossible alignment (loss inf, zero_infinity off) has no gradient: NaN over the sample's
        # frames, as PyTorch gives, rather than a silent 0 that hides it
        grad = xp.where((frames & ctx.undefined[None, :])[..., None], np.nan, grad)
        return grad.astype(ctx.dtype), None, None, None, None


def _host(v: Any) -> np.ndarray:
    """Targets or lengths as a host array (from a Tensor or an array on any device: one copy)."""
    if isinstance(v, Tensor):
        v = v._array
    return devices.to_host(v) if devices.is_device_array(v) else np.asarray(v)


def _lengths(v: Any, n: int, what: str) -> np.ndarray:
    arr = _host(v)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: {what} must be integers, got dtype {arr.dtype}")
    arr = arr.reshape(-1).astype(np.int64)
    if arr.shape != (n,):
        raise ValueError(f"ctc_loss: {what} must have one entry per batch element ({n}), got {arr.shape[0]}")
    return arr


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """CTC loss of (T, N, C) (or unbatched (T, C)) log-probabilities against label sequences.

    ``targets`` is (N, S) padded, or 1-D with the sequences concatenated
    (``sum(target_lengths)`` labels). ``reduction="mean"`` divides each
    sample's loss by its target length, then averages over the batch, as
    PyTorch does. ``zero_infinity`` turns impossible alignments (inf) into 0, and their
    gradients too; without it their gradient is NaN, as in PyTorch.
    The gradient is the exact one of the loss in ``log_probs``; PyTorch's
    differs from it by a term that a preceding log_softmax cancels, so the
    gradients upstream of the usual log_softmax agree.
    """
    op = "ctc_loss"
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    if not isinstance(log_probs, Tensor) or log_probs.dtype.kind != "f":
        raise TypeError(f"{op}: log_probs must be a floating-point Tensor (T, N, C)")
    unbatched = log_probs.ndim == 2
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    if lp.ndim != 3:
        raise ValueError(f"{op}: expected log_probs of shape (T, N, C) or (T, C), got {log_probs.shape}")
    t_max, n, c = lp.shape
    if not 0 <= blank < c:
        raise ValueError(f"{op}: blank must be in [0, {c}), got {blank}")
    tg = _host(targets)  # read on the host: the labels decide shapes and are checked
    if tg.dtype.kind not in "iu":
        raise TypeError(f"{op}: targets must be integer labels, got dtype {tg.dtype}")
    in_len = _lengths(input_lengths, n, "input_lengths")
    tgt_len = _lengths(target_lengths, n, "target_lengths")
    if np.any(in_len < 1) or np.any(in_len > t_max):
        raise ValueError(f"{op}: input_lengths must be in [1, {t_max}], got {in_len.tolist()}")
    if np.any(tgt_len < 0):
        raise ValueError(f"{op}: target_lengths must be non-negative, got {tgt_len.tolist()}")
    s_max = int(tgt_len.max()) if n else 0
    padded = np.full((n, s_max), blank, dtype=np.int64)
    if tg.ndim == 1:  # the sequences concatenated (or one unbatched sequence)
        flat = tg.reshape(-1)
        if flat.shape[0] < tgt_len.sum():
            raise ValueError(
                f"{op}: targets hold {flat.shape[0]} labels, target_lengths need {int(tgt_len.sum())}"
            )
        starts = np.concatenate([[0], np.cumsum(tgt_len)[:-1]])
        for i in range(n):
            padded[i, : tgt_len[i]] = flat[starts[i] : starts[i] + tgt_len[i]]
    elif tg.ndim == 2 and tg.shape[0] == n and tg.shape[1] >= s_max:
        for i in range(n):
            padded[i, : tgt_len[i]] = tg[i, : tgt_len[i]]
    else:
        raise ValueError(
            f"{op}: targets of shape {tg.shape} are neither (N={n}, S >= {s_max}) padded nor 1-D of "
            f"sum(target_lengths)={int(tgt_len.sum())} labels"
        )
    labels = padded[np.arange(s_max)[None, :] < tgt_len[:, None]]
    if labels.size and (labels.min() < 0 or labels.max() >= c or np.any(labels == blank)):
        raise ValueError(f"{op}: target labels must be in [0, {c}) and differ from blank={blank}")
    ext = np.full((n, 2 * s_max + 1), blank, dtype=np.int64)
    ext[:, 1::2] = padded
    per_sample = CtcLoss.apply(lp, ext, in_len, 2 * tgt_len + 1, bool(zero_infinity))
    if reduction == "none":
        return per_sample.squeeze(0) if unbatched else per_sample
    if reduction == "sum":
        return per_sample.sum()
    xp = devices.array_module(per_sample._array)
    scale = Tensor._make(xp.asarray(np.maximum(tgt_len, 1).astype(per_sample.dtype)), None)
    return (per_sample / scale).mean()
