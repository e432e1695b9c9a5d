"""Multi-head attention, ``torch.nn.MultiheadAttention`` with its arguments and parameter layout.

Each of ``num_heads`` heads attends with its own slice of the projected
queries, keys and values (``head_dim = embed_dim / num_heads`` features):

    Q = query W_q^T + b_q,  K = key W_k^T + b_k,  V = value W_v^T + b_v
    head_h = softmax(Q_h K_h^T / sqrt(head_dim) + mask) V_h
    out = concat(head_1 .. head_H) W_o^T + b_o

The three projections are stacked in ``in_proj_weight`` (3E, E) and
``in_proj_bias`` (3E,) as in PyTorch, so that self-attention projects with one
GEMM; when ``kdim``/``vdim`` differ from ``embed_dim`` they are separate
(``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight``). State dicts move
between the two libraries unchanged. Masks keep PyTorch's MHA convention,
which is the opposite of ``scaled_dot_product_attention``'s: in a bool
``attn_mask`` or ``key_padding_mask`` True means *not allowed to attend*.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.nn import init
from chainrule.nn.linear import NonDynamicallyQuantizableLinear
from chainrule.nn.module import Module, Parameter
from chainrule.ops.activation import softmax
from chainrule.ops.attention import scaled_dot_product_attention
from chainrule.ops.elementwise import cast, where
from chainrule.ops.linalg import linear
from chainrule.ops.shape import cat
from chainrule.tensor import Tensor
from chainrule.validation import factory_dtype as _dtype

__all__ = ["MultiheadAttention"]

_NAME = "MultiheadAttention"


class MultiheadAttention(Module):
    """Attention with ``num_heads`` parallel heads over ``embed_dim / num_heads`` features each.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True,
    attn_mask=None, average_attn_weights=True, is_causal=False)`` returns
    ``(output, weights)``; ``weights`` is None unless ``need_weights``. Inputs are
    (L, N, E) or, with ``batch_first=True``, (N, L, E); unbatched (L, E) works too.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        for name, value in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{_NAME}: {name} must be a positive int, got {value!r}")
        if embed_dim % num_heads:
            raise ValueError(f"{_NAME}: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{_NAME}: dropout probability has to be between 0 and 1, but got {dropout}")
        dt = _dtype(device, dtype, _NAME)
        self.embed_dim = int(embed_dim)
        self.kdim = self.embed_dim if kdim is None else int(kdim)
        self.vdim = self.embed_dim if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.num_heads = int(num_heads)
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.head_dim = self.embed_dim // self.num_heads
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * e, e), dtype=dt))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(np.empty((e, e), dtype=dt))
            self.k_proj_weight = Parameter(np.empty((e, self.kdim), dtype=dt))
            self.v_proj_weight = Parameter(np.empty((e, self.vdim), dtype=dt))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(np.empty(3 * e, dtype=dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(e, e, bias=bias, dtype=dt)
        if add_bias_kv:
            self.bias_k = Parameter(np.empty((1, 1, e), dtype=dt))
            self.bias_v = Parameter(np.empty((1, 1, e), dtype=dt))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = bool(add_zero_attn)
        self._reset_parameters()
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def _reset_parameters(self) -> None:
        """PyTorch's start: Xavier-uniform projections, zero biases, Xavier-normal bias_k/bias_v."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"{_NAME}: {name} must be a Tensor, got {type(t).__name__}")
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(
                f"{_NAME}: query, key and value must all be 3-D (batched) or 2-D (unbatched), got "
                f"{query.shape}, {key.shape} and {value.shape}"
            )
        if not batched:  # unbatched: a batch of one
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = _as_tensor(key_padding_mask, query._array).reshape(1, -1)
        out, weights = self._attend(
            query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights, is_causal,
            batched and self.batch_first,
        )  # fmt: skip
        if not batched:
            out = out.squeeze(1)
            weights = None if weights is None else weights.squeeze(0)
        return out, weights

    def _attend(
        self, query, key, value, key_padding_mask, need_weights, attn_mask, average, is_causal, batch_first
    ):
        # Batch-first inputs are projected as they are (no transposed copies, and self-attention's
        # query, key and value stay one tensor: one GEMM); only the heads' views differ by layout.
        b_ax, l_ax = (0, 1) if batch_first else (1, 0)
        tgt_len, bsz, e = query.shape[l_ax], query.shape[b_ax], query.shape[2]
        src_len = key.shape[l_ax]
        layout = "(N, L, E)" if batch_first else "(L, N, E)"
        h, d = self.num_heads, self.head_dim
        if e != self.embed_dim:
            raise ValueError(
                f"{_NAME}: expected query features {self.embed_dim}, got query of shape {query.shape}"
            )
        if key.shape[:2] != value.shape[:2] or key.shape[b_ax] != bsz:
            raise ValueError(
                f"{_NAME}: key and value must have the query's batch size and one length, got query "
                f"{query.shape}, key {key.shape} and value {value.shape} (in the {layout} layout)"
            )
        if key.shape[2] != self.kdim or value.shape[2] != self.vdim:
            raise ValueError(
                f"{_NAME}: expected key features {self.kdim} and value features {self.vdim}, got key "
                f"{key.shape} and value {value.shape}"
            )
        # As PyTorch: with the is_causal hint and no other mask to merge, the attention is told it is
        # causal and the mask itself is dropped, so that it skips the keys after each query altogether.
        causal = (
            is_causal
            and key_padding_mask is None
            and not need_weights
            and self.bias_k is None
            and not self.add_zero_attn
        )
        if causal:
            attn_mask = None
        elif is_causal and attn_mask is None:  # PyTorch refuses this; the causal mask is what is meant
            xp = devices.array_module(query._array)  # made on the input's device
            attn_mask = Tensor._make(xp.triu(xp.ones((tgt_len, src_len), dtype=bool), 1), None)
        q, k, v = self._project(query, key, value)  # in the inputs' layout: query's, key's, value's shape
        mask = _merge_masks(attn_mask, key_padding_mask, bsz, h, tgt_len, src_len, q._array)
        if self.bias_k is not None:
            one_key = (bsz, 1, e) if batch_first else (1, bsz, e)
            k = cat([k, self.bias_k.reshape(1, 1, e).expand(*one_key)], l_ax)
            v = cat([v, self.bias_v.reshape(1, 1, e).expand(*one_key)], l_ax)
            mask = _pad_mask(mask)
            src_len += 1
        # heads: (L, N, E) -> (L, N, H, D) -> (N, H, L, D), or (N, L, E) -> (N, L, H, D) -> (N, H, L, D):
        # views until the attention needs them
        heads = (0, 2, 1, 3) if batch_first else (1, 2, 0, 3)
        q = q.reshape(*query.shape[:2], h, d).permute(*heads)
        k = k.reshape(*k.shape[:2], h, d).permute(*heads)
        v = v.reshape(*v.shape[:2], h, d).permute(*heads)
        if self.add_zero_attn:
            zeros = Tensor._make(devices.array_module(q._array).zeros((bsz, h, 1, d), q._array.dtype), None)
            k, v = cat([k, zeros], 2), cat([v, zeros], 2)
            mask = _pad_mask(mask)
        p = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            # the weights are an output too: compose the steps so that both get gradients
            scores = (q * (1.0 / math.sqrt(d))).matmul(k.transpose(-1, -2))
            if mask is not None:
                scores = scores.masked_fill(~mask, -math.inf) if _is_bool(mask) else scores + mask
            weights = softmax(scores, -1)
            if p > 0.0:
                from chainrule.nn.dropout import dropout

                weights = dropout(weights, p)
            out = weights.matmul(v)
            if average:
                weights = weights.mean(1)
        else:
            out = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        # merge heads: (N, H, L, D) -> (L, N, H, D) -> (L, N, E), or -> (N, L, H, D) -> (N, L, E)
        out = out.permute(*((0, 2, 1, 3) if batch_first else (2, 0, 1, 3))).reshape(*query.shape[:2], e)
        return linear(out, self.out_proj.weight, self.out_proj.bias), weights

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The three input projections, as one GEMM where the inputs are shared."""
        e, b = self.embed_dim, self.in_proj_bias
        if not self._qkv_same_embed_dim:
            bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e : 2 * e], b[2 * e :])
            return (
                linear(query, self.q_proj_weight, bq),
                linear(key, self.k_proj_weight, bk),
                linear(value, self.v_proj_weight, bv),
            )
        w = self.in_proj_weight
        if query is key and key is value:  # self-attention: one (3E, E) GEMM
            return linear(query, w, b).chunk(3, -1)
        if key is value:  # encoder-decoder attention: queries alone, keys and values in one GEMM
            q = linear(query, w[:e], None if b is None else b[:e])
            return (q, *linear(key, w[e:], None if b is None else b[e:]).chunk(2, -1))
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e : 2 * e], b[2 * e :])
        return linear(query, w[:e], bq), linear(key, w[e : 2 * e], bk), linear(value, w[2 * e :], bv)


# ---------------------------------------------------------------------- masks
# The masks are combined with Tensor ops, not NumPy: an exported graph then
# takes them as inputs (a padding mask changes with every batch).
def _is_bool(m: Any) -> bool:
    return (m._array if isinstance(m, Tensor) else m).dtype == np.bool_


def _as_tensor(m: Any, like: Any) -> Tensor:
    """A mask as a Tensor on the device of ``like`` (the queries' array). A float mask Tensor on
    another device is refused by the ops that meet it, as in PyTorch; a bool one or host data moves."""
    if isinstance(m, Tensor):
        if m._array.dtype.kind == "f" or devices.device_of(m._array) == devices.device_of(like):
            return m
        m = m._array
    elif not (isinstance(m, np.ndarray) or devices.is_device_array(m)):
        m = np.asarray(m)  # lists and scalars are host data
    return Tensor._make(devices.to_device(m, devices.device_of(like)), None)


def _merge_masks(attn_mask, key_padding_mask, bsz, h, tgt_len, src_len, like) -> Tensor | None:
    """One mask in ``scaled_dot_product_attention``'s convention, broadcastable to (N, H, L, S).

    Bool masks (True = masked) become one bool "may attend" mask; as soon as
    one mask is float, both become additive (-inf where a bool one is True).
    Masks are arrays on the device of ``like`` (the queries' array), or float Tensors.
    """
    masks = []
    if attn_mask is not None:
        m = _as_tensor(attn_mask, like)
        if m._array.dtype.kind not in "bf":
            raise TypeError(f"{_NAME}: attn_mask must be bool or float, got {m.dtype}")
        if m.shape == (tgt_len, src_len):
            pass
        elif m.shape == (bsz * h, tgt_len, src_len):
            m = m.reshape(bsz, h, tgt_len, src_len)
        else:
            raise ValueError(
                f"{_NAME}: attn_mask must have shape (L, S) = {(tgt_len, src_len)} or "
                f"(N * num_heads, L, S) = {(bsz * h, tgt_len, src_len)}, got {tuple(m.shape)}"
            )
        masks.append(m)
    if key_padding_mask is not None:
        m = _as_tensor(key_padding_mask, like)
        if m._array.dtype.kind not in "bf":
            raise TypeError(f"{_NAME}: key_padding_mask must be bool or float, got {m.dtype}")
        if m.shape != (bsz, src_len):
            raise ValueError(
                f"{_NAME}: key_padding_mask must have shape (N, S) = {(bsz, src_len)}, got {tuple(m.shape)}"
            )
        masks.append(m[:, None, None, :])
    if not masks:
        return None
    if all(_is_bool(m) for m in masks):
        allowed = ~masks[0]
        for m in masks[1:]:
            allowed = allowed & ~m
        return allowed
    dtype = like.dtype
    total = None
    for m in masks:
        if _is_bool(m):
            xp = devices.array_module(like)
            minus_inf, zero = xp.asarray(-math.inf, dtype), xp.asarray(0, dtype)
            m = where(m, Tensor._make(minus_inf, None), Tensor._make(zero, None))
        elif m._array.dtype != dtype:
            m = cast(m, dtype)
        total = m if total is None else total + m
    return total


def _pad_mask(mask: Tensor | None) -> Tensor | None:
    """One more key (bias_k or the zero key) that every query may attend to: pad the last axis."""
    if mask is None:
        return None
    xp = devices.array_module(mask._array)
    column = xp.ones if _is_bool(mask) else xp.zeros
    return cat([mask, Tensor._make(column((*mask.shape[:-1], 1), dtype=mask._array.dtype), None)], -1)
