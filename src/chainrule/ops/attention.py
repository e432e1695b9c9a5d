"""Scaled dot-product attention as one fused autograd node.

For queries ``q`` (..., L, E), keys ``k`` (..., S, E) and values ``v`` (..., S, Ev):

    scores = scale * q @ k^T + mask          (..., L, S)
    P      = softmax(scores, dim=-1)         each query's weights over the keys
    out    = dropout(P) @ v                  (..., L, Ev)

Composed of primitives this would record half a dozen nodes and keep an
``(L, S)`` temporary for each. Here it is one node, in one of two forms:

* short sequences (up to :data:`DIRECT_MAX_SCORES` scores per head):
  :class:`ScaledDotProductAttention` builds every score matrix in one buffer,
  normalises it in place and keeps ``P`` (and the dropout mask when there is
  one) for a backward that uses the closed form of the softmax Jacobian;
* longer ones: :class:`FlashAttention` computes in tiles with a running
  softmax (``ops/flash_attention.py``), so that memory grows linearly with
  the length, and its backward recomputes each tile's ``P``.

Masks follow PyTorch: a bool mask says where to attend (True = attend), a
float mask is added to the scores (and gets a gradient when it requires one),
``is_causal`` masks the upper triangle aligned at the top left (query i sees
keys 0..i). A query whose keys are all masked gets zero weights and a zero
output, as PyTorch 2.13 returns on the CPU.

Arrays go through the array module of the inputs (``xp``, see chainrule.devices);
the slabs on the thread pool are for NumPy arrays, a device array is one slab.
Dropout draws on the host (chainrule's one generator) and moves the mask over.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from chainrule import devices, random
from chainrule.autograd import Function, is_grad_enabled
from chainrule.ops import flash_attention as flash
from chainrule.ops.special import softmax_backward_rows as _softmax_backward_rows
from chainrule.ops.special import softmax_rows as _softmax_rows
from chainrule.runtime import chunk_bounds, parallel_for, serial_blas, worth_splitting
from chainrule.tensor import Tensor

__all__ = ["scaled_dot_product_attention"]

_OP = "scaled_dot_product_attention"


@functools.lru_cache(maxsize=32)
def _future(n_q: int, n_k: int) -> np.ndarray:
    """The (L, S) bool mask of keys a causal query may not see: j > i (read-only, cached)."""
    above = ~np.tri(n_q, n_k, dtype=bool)
    above.flags.writeable = False
    return above


class ScaledDotProductAttention(Function):
    """The direct computation: every score matrix at once, ``P`` kept for the backward (short sequences).

    The heads are independent, so both passes are cut into slabs along one
    batch axis and the slabs run on the thread pool (:func:`_slabs`), each
    with its GEMMs on one BLAS thread: a head's GEMMs are too small for
    OpenBLAS's own threads to help.
    """

    def forward(ctx, q, k, v, mask, scale, is_causal, dropout_p, keep_p=True):
        n_q, n_k = q.shape[-2], k.shape[-2]
        xp = devices.array_module(q)
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2])
        # without a backward to feed, P need not be normalised: the (L, Ev) output is, one pass less
        normalise = keep_p or dropout_p > 0.0
        s = xp.empty((*batch, n_q, n_k), dtype=q.dtype)
        keep = None
        if dropout_p > 0.0:  # drawn on the host, then moved next to the scores
            keep = random.rng().random(s.shape, dtype=np.float64 if s.dtype == np.float64 else np.float32)
            keep = xp.asarray(keep >= dropout_p)
        out_shape = (*np.broadcast_shapes(batch, v.shape[:-2]), n_q, v.shape[-1])
        slabs = _slabs(q, k, v, s.size)
        out = xp.empty(out_shape, dtype=q.dtype) if len(slabs) > 1 else None
        future = (_future(n_q, n_k) if xp is np else ~xp.tri(n_q, n_k, dtype=bool)) if is_causal else None
        # the scores in base 2 (times log2 e) and exp2 for exp: NumPy's exp2 takes half exp's time
        qs = q.dtype.type(scale * flash.LOG2E)
        if mask is not None and mask.dtype != np.bool_:
            mask = mask * mask.dtype.type(flash.LOG2E)
        drop = 1.0 / (1.0 - dropout_p) if dropout_p < 1.0 else 0.0

        def task(at: tuple) -> np.ndarray:
            sl = s[at]
            # scale the (L, E) queries rather than the (L, S) scores: fewer multiplications when E < S
            xp.matmul(q[at] * qs, xp.swapaxes(k[at], -1, -2), out=sl)
            if is_causal:
                sl[..., future] = -np.inf
            elif mask is not None:
                m = _slab_of(mask, at, s.ndim)
                if m.dtype == np.bool_:
                    xp.copyto(sl, -np.inf, where=~m)  # copyto's where= (CuPy's has it too), not a ufunc's
                else:
                    sl += m
            inv = _softmax_rows(sl, is_causal or mask is not None, normalise, base2=True)
            if not normalise:
                if out is None:
                    return xp.multiply(xp.matmul(sl, v[at]), inv)
                o = out[at]
                xp.matmul(sl, v[at], out=o)
                o *= inv
                return out
            if keep is not None:
                pd = sl * keep[at]
                pd *= drop
            else:
                pd = sl
            if out is None:
                return xp.matmul(pd, v[at])
            xp.matmul(pd, v[at], out=out[at])
            return out

        with serial_blas(n_q * n_k * q.shape[-1]):
            result = parallel_for(task, [(at,) for at in slabs])[0]
        ctx.q, ctx.k, ctx.v, ctx.p, ctx.keep = q, k, v, s, keep
        ctx.scale, ctx.dropout_p = scale, dropout_p
        return result

    def backward(ctx, g):
        # With out = D(P) @ v, D the dropout (keep / (1 - p) or the identity):
        #   dv = D(P)^T @ g,  dP = D(g @ v^T)
        # softmax Jacobian per row, dP_i/dS_j = P_i (delta_ij - P_j):
        #   dS = P * (dP - sum_j dP_j P_j)
        # and S = scale * q k^T + mask:
        #   dq = scale * dS @ k,  dk = scale * dS^T @ q,  dmask = dS
        q, k, v, p, keep = ctx.q, ctx.k, ctx.v, ctx.p, ctx.keep
        xp = devices.array_module(g)
        scale = q.dtype.type(ctx.scale)
        needs = ctx.needs_input_grad
        need_mask = len(needs) > 3 and needs[3]
        drop = 1.0 / (1.0 - ctx.dropout_p) if ctx.dropout_p < 1.0 else 0.0
        slabs = _slabs(q, k, v, p.size) if g.shape[:-2] == p.shape[:-2] else [()]
        split = len(slabs) > 1
        # with slabs, q, k and v share the batch shape: each slab writes its own rows of these
        gq = xp.empty_like(q) if split and needs[0] else None
        gk = xp.empty_like(k) if split and needs[1] else None
        gv = xp.empty_like(v) if split and needs[2] else None
        gm = xp.empty_like(p) if split and need_mask else None

        def task(at: tuple) -> tuple:
            pa, ga = p[at], g[at]
            ka = None if keep is None else keep[at]
            dq = dk = dv = ds = None
            if needs[2]:
                pd = pa if ka is None else (pa * ka) * drop
                dv = xp.matmul(xp.swapaxes(pd, -1, -2), ga, out=None if gv is None else gv[at])
            if needs[0] or needs[1] or need_mask:
                ds = xp.matmul(ga, xp.swapaxes(v[at], -1, -2))
                if ka is not None:
                    ds *= ka
                    ds *= drop
                _softmax_backward_rows(ds, pa)  # dS = P (dP - sum_j dP_j P_j), row by row
                if needs[0]:
                    dq = xp.matmul(ds, k[at], out=None if gq is None else gq[at])
                    dq *= scale
                if needs[1]:
                    dk = xp.matmul(xp.swapaxes(ds, -1, -2), q[at], out=None if gk is None else gk[at])
                    dk *= scale
                if gm is not None:
                    gm[at] = ds
            return dq, dk, dv, ds

        with serial_blas(p.shape[-2] * p.shape[-1] * q.shape[-1]):
            parts = parallel_for(task, [(at,) for at in slabs])
        if not split:
            dq, dk, dv, ds = parts[0]
            return dq, dk, dv, ds if need_mask else None, None, None, None, None
        return gq, gk, gv, gm, None, None, None, None


def _slabs(q: np.ndarray, k: np.ndarray, v: np.ndarray, scores: int) -> list[tuple]:
    """Index tuples that cut the batch into slabs along its longest axis, one per thread when it pays.

    Only when q, k and v share one batch shape (each slab then reads and writes
    its own rows of every array); otherwise ``[()]``, the whole batch at once.
    """
    batch = q.shape[:-2]
    parts = worth_splitting(scores, like=q)  # 1 for a device array: one slab
    if parts <= 1 or not batch or k.shape[:-2] != batch or v.shape[:-2] != batch:
        return [()]
    axis = max(range(len(batch)), key=lambda a: batch[a])
    if batch[axis] < 2:
        return [()]
    lead = (slice(None),) * axis
    return [(*lead, slice(a, b)) for a, b in chunk_bounds(batch[axis], parts)]


def _slab_of(mask: np.ndarray, at: tuple, ndim: int) -> np.ndarray:
    """The part of a mask (broadcastable to ``ndim`` dims) that lines up with the scores' slab ``at``."""
    if not at:
        return mask
    axis = len(at) - 1 - (ndim - mask.ndim)  # the sliced axis, counted in the mask's own dims
    if axis < 0 or mask.shape[axis] == 1:
        return mask
    return mask[(slice(None),) * axis + (at[-1],)]


class FlashAttention(Function):
    """The same attention computed in tiles with a running softmax (``ops/flash_attention.py``).

    Memory grows linearly with the length: forward keeps the output and one
    log-sum-exp per query, and backward recomputes each tile's probabilities
    from them. The leading dims of q, k, v are broadcast and flattened into one
    batch axis for the kernels; the autograd engine sums gradients back over
    broadcast axes.
    """

    def forward(ctx, q, k, v, mask, scale, is_causal, dropout_p, batch):
        n_q, n_k = q.shape[-2], k.shape[-2]
        q3, k3, v3 = (_flat(a, batch) for a in (q, k, v))
        bm = None if mask is None else flash.BlockMask(mask, batch, n_q, n_k)
        # one seed per call from the global generator: reproducible after manual_seed, fresh each call
        seed = int(random.rng().integers(0, 1 << 62)) if dropout_p > 0.0 else 0
        out, lse = flash.flash_forward(q3, k3, v3, bm, scale, is_causal, dropout_p, seed)
        ctx.q, ctx.k, ctx.v, ctx.mask, ctx.out, ctx.lse = q3, k3, v3, bm, out, lse
        ctx.scale, ctx.is_causal, ctx.dropout_p, ctx.seed = scale, is_causal, dropout_p, seed
        ctx.shapes = (q.shape[:-2], k.shape[:-2], v.shape[:-2])
        ctx.batch = batch
        return out.reshape(*batch, n_q, v.shape[-1])

    def backward(ctx, g):
        # the chain rule per tile, in flash_backward: dV = P_drop^T dO, dS = P * (D(dO V^T) - rowsum(dO * O)),
        # dQ = scale dS K, dK = scale dS^T Q, dmask = dS (summed over the mask's broadcast axes)
        needs = ctx.needs_input_grad
        need_mask = len(needs) > 3 and needs[3]
        q, k, v = ctx.q, ctx.k, ctx.v
        g3 = devices.array_module(g).ascontiguousarray(g.reshape(ctx.out.shape))
        gq, gk, gv, gm = flash.flash_backward(
            q,
            k,
            v,
            ctx.mask,
            ctx.scale,
            ctx.is_causal,
            ctx.dropout_p,
            ctx.seed,
            ctx.out,
            ctx.lse,
            g3,
            need_mask,
        )
        batch = ctx.batch
        return (
            gq.reshape(*batch, *q.shape[-2:]) if needs[0] else None,
            gk.reshape(*batch, *k.shape[-2:]) if needs[1] else None,
            gv.reshape(*batch, *v.shape[-2:]) if needs[2] else None,
            gm,
            None,
            None,
            None,
            None,
        )


def _flat(a: np.ndarray, batch: tuple[int, ...]) -> np.ndarray:
    """``a`` (..., n, e) broadcast to (*batch, n, e) and flattened to a C-contiguous (B, n, e)."""
    xp = devices.array_module(a)
    if a.shape[:-2] != batch:
        a = xp.broadcast_to(a, (*batch, *a.shape[-2:]))
    return xp.ascontiguousarray(a.reshape(-1, *a.shape[-2:]))


# Up to this many scores per head (L * S) the direct computation is as fast as the tiles (it builds every
# score matrix at once and keeps P for the backward); beyond it the tiles win (1 thread, 4 x 12 heads of
# 32: equal at L = S = 128, forward+backward 1.2x faster at 192 and 2.3x at 512).
DIRECT_MAX_SCORES = 128 * 128


def _check_qkv(q: Any, k: Any, v: Any) -> None:
    for name, t in (("query", q), ("key", k), ("value", v)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{_OP}: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"{_OP}: {name} needs at least 2 dims (..., seq, features), got shape {t.shape}")
        if t._array.dtype.kind != "f":
            raise TypeError(f"{_OP}: {name} must be floating point, got {t.dtype}")
    if not q._array.dtype == k._array.dtype == v._array.dtype:
        raise TypeError(
            f"{_OP}: query, key and value must have the same dtype, got {q.dtype}, {k.dtype} and {v.dtype}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"{_OP}: query (..., L, E) and key (..., S, E) must share the feature size E, "
            f"got query {q.shape} and key {k.shape}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"{_OP}: key (..., S, E) and value (..., S, Ev) must have the same length S, "
            f"got key {k.shape} and value {v.shape}"
        )


def _broadcast(shapes: list[tuple[int, ...]], what: str) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{_OP}: the batch dims of {what} do not broadcast: {shapes}") from None


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value``, PyTorch's ``F.scaled_dot_product_attention``.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the
    leading dims broadcast. ``attn_mask`` broadcasts to (..., L, S): bool (True
    = take part in attention) or float (added to the scores). ``is_causal``
    lets query i see keys 0..i only. ``scale`` defaults to 1/sqrt(E). Dropout
    with probability ``dropout_p`` is applied to the attention weights
    whenever ``dropout_p > 0`` (pass 0.0 in evaluation, as with PyTorch).
    ``enable_gqa`` lets the key/value heads (dim -3) divide the query heads.
    """
    _check_qkv(query, key, value)
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{_OP}: dropout_p must be in [0, 1], got {dropout_p}")
    e = query.shape[-1]
    scale = 1.0 / math.sqrt(e) if scale is None else float(scale)
    if enable_gqa:
        return _grouped(query, key, value, attn_mask, dropout_p, is_causal, scale)
    full = _broadcast([query.shape[:-2], key.shape[:-2], value.shape[:-2]], "query, key and value")
    batch = _broadcast([query.shape[:-2], key.shape[:-2]], "query and key")
    scores = (*batch, query.shape[-2], key.shape[-2])
    mask = None
    if attn_mask is not None:
        if is_causal:
            raise ValueError(f"{_OP}: pass either attn_mask or is_causal=True, not both (as PyTorch)")
        mask = _mask(attn_mask, query, scores)
    n_q, n_k = query.shape[-2], key.shape[-2]
    if n_q * n_k > DIRECT_MAX_SCORES:  # long sequences: tiles, memory linear in the length
        return FlashAttention.apply(query, key, value, mask, scale, bool(is_causal), float(dropout_p), full)
    keep_p = is_grad_enabled() and any(
        isinstance(t, Tensor) and t.requires_grad for t in (query, key, value, mask)
    )
    return ScaledDotProductAttention.apply(
        query, key, value, mask, scale, bool(is_causal), float(dropout_p), keep_p
    )


def _mask(attn_mask: Any, query: Tensor, scores: tuple[int, ...]) -> Any:
    """The mask as the op takes it: a bool array, or a float array/Tensor of the query's dtype."""
    # a mask given as an array or list goes next to the query (a device's array module takes host data)
    xp = devices.array_module(query._array)
    m = attn_mask._array if isinstance(attn_mask, Tensor) else xp.asarray(attn_mask)
    if m.dtype != np.bool_ and m.dtype != query._array.dtype:
        raise TypeError(
            f"{_OP}: attn_mask must be bool or have the query's dtype {query.dtype}, got {m.dtype}"
        )
    if m.ndim < 1 or not _fits(m.shape, scores) or np.broadcast_shapes(m.shape, scores) != scores:
        raise ValueError(
            f"{_OP}: attn_mask of shape {m.shape} does not broadcast to the attention scores' shape "
            f"{scores} (..., L, S)"
        )
    if m.dtype == np.bool_ or not isinstance(attn_mask, Tensor):
        return m
    return attn_mask


def _fits(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(shape, target)
    except ValueError:
        return False
    return True


def _grouped(q: Tensor, k: Tensor, v: Tensor, mask: Any, dropout_p: float, is_causal: bool, scale: float):
    """Grouped-query attention: each of Hk key/value heads serves Hq / Hk query heads.

    The query heads are split into (Hk, G) and the key/value heads get a size-1
    group axis, so plain broadcasting pairs them, with no copies of k and v.
    """
    if q.ndim < 3 or k.ndim < 3 or v.ndim < 3:
        raise ValueError(
            f"{_OP}: enable_gqa needs (..., H, L, E) inputs, got {q.shape}, {k.shape} and {v.shape}"
        )
    hq, hk = q.shape[-3], k.shape[-3]
    if v.shape[-3] != hk or hq % hk:
        raise ValueError(
            f"{_OP}: with enable_gqa the query heads ({hq}) must be a multiple of the key/value heads "
            f"({hk} and {v.shape[-3]})"
        )
    g = hq // hk
    qg = q.reshape(*q.shape[:-3], hk, g, *q.shape[-2:])
    kg, vg = k.unsqueeze(-3), v.unsqueeze(-3)
    if mask is not None:
        m = mask if isinstance(mask, Tensor) else Tensor(devices.array_module(q._array).asarray(mask))
        if m.ndim >= 3 and m.shape[-3] != 1:
            m = m.reshape(*m.shape[:-3], hk, g, *m.shape[-2:])
        else:
            m = m.unsqueeze(-3)
        mask = m
    out = scaled_dot_product_attention(qg, kg, vg, mask, dropout_p, is_causal, scale)
    return out.reshape(*out.shape[:-4], hq, *out.shape[-2:])
