"""The Transformer (Vaswani et al., 2017) as ``torch.nn`` builds it: encoder and decoder layers and stacks.

An encoder layer is self-attention then a position-wise feed-forward network
(``linear2(dropout(activation(linear1(x))))``), each wrapped in a residual
connection and a layer norm: after the sum (``norm_first=False``, the
original "post-norm") or on the branch input (``norm_first=True``, "pre-norm",
which trains more stably in deep stacks). A decoder layer adds cross-attention
to the encoder's output (``memory``) between the two. Submodule names and
therefore state-dict keys (``self_attn.in_proj_weight``, ``linear1.weight``,
``norm1.bias``, ``layers.0...``) are PyTorch's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import backend, devices
from chainrule.nn import init
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.dropout import Dropout
from chainrule.nn.linear import Linear
from chainrule.nn.module import Module, ModuleList
from chainrule.nn.normalization import LayerNorm
from chainrule.ops.activation import gelu, relu
from chainrule.tensor import Tensor
from chainrule.validation import factory_dtype, non_negative_int, positive_int

__all__ = [
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "generate_square_subsequent_mask",
]


def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
    """The (sz, sz) causal mask: 0 where position i may see j (j <= i), -inf above the diagonal."""
    sz = non_negative_int(sz, "sz", "generate_square_subsequent_mask")
    where = backend.check_device(device, "generate_square_subsequent_mask")
    dt = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    xp = np if where is None or where.type == "cpu" else devices.backend_of(where).xp
    mask = xp.triu(xp.full((sz, sz), -np.inf, dtype=dt), 1)  # made where it is asked for
    return Tensor._make(mask if where is None else devices.to_device(mask, where), None)


def _activation(activation: str | Callable, layer: str) -> Callable:
    if isinstance(activation, str):
        if activation == "relu":
            return relu
        if activation == "gelu":
            return gelu
        raise ValueError(f"{layer}: activation should be relu/gelu, not {activation!r}")
    if not callable(activation):
        raise TypeError(f"{layer}: activation must be 'relu', 'gelu' or a callable, got {activation!r}")
    return activation


def _layer_dtype(layer: str, d_model: int, nhead: int, device: Any, dtype: Any) -> np.dtype:
    positive_int(d_model, "d_model", layer)
    positive_int(nhead, "nhead", layer)
    if d_model % nhead:
        raise ValueError(f"{layer}: d_model ({d_model}) must be divisible by nhead ({nhead})")
    return factory_dtype(device, dtype, layer)


def _check_input(x: Any, name: str, d_model: int, layer: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: {name} must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        raise ValueError(
            f"{layer}: {name} must have shape (L, N, {d_model}), (N, L, {d_model}) with batch_first, "
            f"or unbatched (L, {d_model}); got {x.shape}"
        )


class _TransformerLayer(Module):
    """What encoder and decoder layers share: attention, the feed-forward network, norms and dropouts.

    Submodules are created in PyTorch's order, so that state-dict keys come in
    the same order too. ``_blocks`` residual blocks (2 in an encoder layer, 3
    in a decoder layer, whose middle one is cross-attention) each get a norm
    and a dropout.
    """

    _blocks = 2

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable = relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        dt = _layer_dtype(name, d_model, nhead, device, dtype)
        for attn in ("self_attn", "multihead_attn")[: self._blocks - 1]:
            setattr(
                self,
                attn,
                MultiheadAttention(d_model, nhead, dropout, bias=bias, batch_first=batch_first, dtype=dt),
            )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dt)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dt)
        self.norm_first = norm_first
        for i in range(1, self._blocks + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt))
        for i in range(1, self._blocks + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = _activation(activation, name)
        self.batch_first = batch_first
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def _sa_block(self, x: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        out = self.self_attn(
            x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
            is_causal=is_causal,
        )[0]  # fmt: skip
        return self.dropout1(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        last = getattr(self, f"dropout{self._blocks}")
        return last(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoderLayer(_TransformerLayer):
    """Self-attention and a feed-forward network, each with a residual connection and a layer norm."""

    def forward(
        self,
        src: Tensor,
        src_mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool = False,
    ) -> Tensor:
        _check_input(src, "src", self.self_attn.embed_dim, "TransformerEncoderLayer")
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))


class TransformerDecoderLayer(_TransformerLayer):
    """Self-attention, cross-attention to ``memory`` and a feed-forward network, each residual and normed."""

    _blocks = 3

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        d = self.self_attn.embed_dim
        _check_input(tgt, "tgt", d, "TransformerDecoderLayer")
        _check_input(memory, "memory", d, "TransformerDecoderLayer")
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(
                self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal
            )
            return x + self._ff_block(self.norm3(x))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
        return self.norm3(x + self._ff_block(x))

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Any, key_padding_mask: Any, is_causal: bool):
        out = self.multihead_attn(
            x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
            is_causal=is_causal,
        )[0]  # fmt: skip
        return self.dropout2(out)


def _clones(layer: Module, n: int, name: str) -> ModuleList:
    n = non_negative_int(n, "num_layers", name)
    if not isinstance(layer, Module):
        raise TypeError(f"{name}: expected a layer Module to copy, got {type(layer).__name__}")
    return ModuleList([copy.deepcopy(layer) for _ in range(n)])


class TransformerEncoder(Module):
    """``num_layers`` independent copies of ``encoder_layer``, then an optional final ``norm``.

    ``enable_nested_tensor`` and ``mask_check`` are accepted for PyTorch's
    signature; chainrule has no nested tensors, so padded positions are
    computed like the others (PyTorch's fast path zeroes them in eval mode).
    """

    def __init__(
        self,
        encoder_layer: Module,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers, "TransformerEncoder")
        self.num_layers = int(num_layers)
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(
        self,
        src: Tensor,
        mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=bool(is_causal))
        return x if self.norm is None else self.norm(x)


class TransformerDecoder(Module):
    """``num_layers`` independent copies of ``decoder_layer``, then an optional final ``norm``."""

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers, "TransformerDecoder")
        self.num_layers = int(num_layers)
        self.norm = norm

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        x = tgt
        for layer in self.layers:
            x = layer(
                x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal,
            )  # fmt: skip
        return x if self.norm is None else self.norm(x)


class Transformer(Module):
    """An encoder-decoder Transformer: ``decoder(tgt, encoder(src))``, both stacks ending in a layer norm.

    Every weight matrix starts Xavier-uniform, as in PyTorch.
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable = relu,
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        dt = _layer_dtype("Transformer", d_model, nhead, device, dtype)
        layer_args = dict(
            d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward, dropout=dropout,
            activation=activation, layer_norm_eps=layer_norm_eps, batch_first=batch_first,
            norm_first=norm_first, bias=bias, dtype=dt,
        )  # fmt: skip
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(**layer_args), num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt),
            )  # fmt: skip
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(**layer_args), num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dt),
            )  # fmt: skip
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Any = None,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        src_key_padding_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        _check_input(src, "src", self.d_model, "Transformer")
        _check_input(tgt, "tgt", self.d_model, "Transformer")
        if src.ndim != tgt.ndim:
            raise ValueError(
                f"Transformer: src and tgt must both be batched or unbatched, got {src.shape}, {tgt.shape}"
            )
        batch_dim = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise ValueError(
                f"Transformer: the batch number of src and tgt must be equal, got src {src.shape} and tgt "
                f"{tgt.shape} (batch_first={self.batch_first})"
            )
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        return self.decoder(
            tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )  # fmt: skip

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
        """The (sz, sz) causal mask: 0 on and below the diagonal, -inf above it."""
        return generate_square_subsequent_mask(sz, device, dtype)
