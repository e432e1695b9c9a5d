"""Scaled dot-product attention as one fused autograd node.

For queries ``q`` (..., L, E), keys ``k`` (..., S, E) and values ``v`` (..., S, Ev):

    scores = scale * q @ k^T + mask          (..., L, S)
    P      = softmax(scores, dim=-1)         each query's weights over the keys
    out    = dropout(P) @ v                  (..., L, Ev)

Composed of primitives this would record half a dozen nodes and keep an
``(L, S)`` temporary for each; here forward keeps only ``P`` (and the dropout
mask when there is one) and backward uses the closed form of the softmax
Jacobian. The scores are built and normalised in place in one buffer.

Masks follow PyTorch: a bool mask says where to attend (True = attend), a
float mask is added to the scores (and gets a gradient when it requires one),
``is_causal`` masks the upper triangle aligned at the top left (query i sees
keys 0..i). A query whose keys are all masked gets zero weights and a zero
output, as PyTorch 2.13 returns on the CPU.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from chainrule import random
from chainrule.autograd import Function
from chainrule.ops.special import softmax_rows as _softmax_rows
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
    def forward(ctx, q, k, v, mask, scale, is_causal, dropout_p):
        kt = np.swapaxes(k, -1, -2)
        # scale the (L, E) queries rather than the (L, S) scores: fewer multiplications when E < S
        s = np.matmul(q * q.dtype.type(scale), kt)
        masked = is_causal or mask is not None
        if is_causal:
            s[..., _future(s.shape[-2], s.shape[-1])] = -np.inf
        elif mask is not None:
            if mask.dtype == np.bool_:
                np.copyto(s, -np.inf, where=~mask)
            else:
                s += mask
        _softmax_rows(s, masked)
        p = s
        keep = None
        if dropout_p > 0.0:
            keep = random.rng().random(p.shape, dtype=np.float64 if p.dtype == np.float64 else np.float32)
            keep = keep >= dropout_p
            pd = p * keep
            pd *= 1.0 / (1.0 - dropout_p) if dropout_p < 1.0 else 0.0
            out = np.matmul(pd, v)
        else:
            out = np.matmul(p, v)
        ctx.q, ctx.k, ctx.v, ctx.p, ctx.keep = q, k, v, p, keep
        ctx.scale, ctx.dropout_p = scale, dropout_p
        return out

    def backward(ctx, g):
        # With out = D(P) @ v, D the dropout (keep / (1 - p) or the identity):
        #   dv = D(P)^T @ g,  dP = D(g @ v^T)
        # softmax Jacobian per row, dP_i/dS_j = P_i (delta_ij - P_j):
        #   dS = P * (dP - sum_j dP_j P_j)
        # and S = scale * q k^T + mask:
        #   dq = scale * dS @ k,  dk = scale * dS^T @ q,  dmask = dS
        q, k, v, p, keep = ctx.q, ctx.k, ctx.v, ctx.p, ctx.keep
        scale = q.dtype.type(ctx.scale)
        needs = ctx.needs_input_grad
        need_mask = len(needs) > 3 and needs[3]
        drop = 1.0 / (1.0 - ctx.dropout_p) if ctx.dropout_p < 1.0 else 0.0
        gv = None
        if needs[2]:
            pd = p if keep is None else (p * keep) * drop
            gv = np.matmul(np.swapaxes(pd, -1, -2), g)
        gq = gk = gm = None
        if needs[0] or needs[1] or need_mask:
            ds = np.matmul(g, np.swapaxes(v, -1, -2))
            if keep is not None:
                ds *= keep
                ds *= drop
            row = np.vecdot(ds, p)  # sum_j dP_j P_j per query
            ds -= row[..., None]
            ds *= p
            if needs[0]:
                gq = np.matmul(ds, k)
                gq *= scale
            if needs[1]:
                gk = np.matmul(np.swapaxes(ds, -1, -2), q)
                gk *= scale
            if need_mask:
                gm = ds
        return gq, gk, gv, gm, None, None, None


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
    _broadcast([query.shape[:-2], key.shape[:-2], value.shape[:-2]], "query, key and value")
    batch = _broadcast([query.shape[:-2], key.shape[:-2]], "query and key")
    scores = (*batch, query.shape[-2], key.shape[-2])
    mask = None
    if attn_mask is not None:
        if is_causal:
            raise ValueError(f"{_OP}: pass either attn_mask or is_causal=True, not both (as PyTorch)")
        mask = _mask(attn_mask, query, scores)
    return ScaledDotProductAttention.apply(query, key, value, mask, scale, bool(is_causal), float(dropout_p))


def _mask(attn_mask: Any, query: Tensor, scores: tuple[int, ...]) -> Any:
    """The mask as the op takes it: a bool array, or a float array/Tensor of the query's dtype."""
    m = attn_mask._array if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
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
        m = mask if isinstance(mask, Tensor) else Tensor(np.asarray(mask))
        if m.ndim >= 3 and m.shape[-3] != 1:
            m = m.reshape(*m.shape[:-3], hk, g, *m.shape[-2:])
        else:
            m = m.unsqueeze(-3)
        mask = m
    out = scaled_dot_product_attention(qg, kg, vg, mask, dropout_p, is_causal, scale)
    return out.reshape(*out.shape[:-4], hq, *out.shape[-2:])
