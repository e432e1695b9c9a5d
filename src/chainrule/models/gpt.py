"""GPT: a decoder-only Transformer that predicts each next token from the tokens before it.

Tokens and their positions are embedded and summed, then ``n_layer`` pre-norm
Transformer blocks (``nn.TransformerEncoderLayer`` with ``norm_first=True``
and a causal mask, so position t attends to positions <= t only) refine them;
a final LayerNorm and a linear head turn each position into logits over the
vocabulary. Trained with cross-entropy on the sequence shifted by one, the
model is a language model: :meth:`GPT.generate` samples from it one token at
a time. The structure and initialisation follow GPT-2 (Radford et al., 2019)
as nanoGPT writes it; the names are our own.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import devices, nn
from chainrule import random as _random
from chainrule.autograd import no_grad
from chainrule.nn import functional as F  # noqa: N812 (PyTorch's convention)
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.embedding import Embedding
from chainrule.nn.transformer import TransformerEncoderLayer, generate_square_subsequent_mask
from chainrule.tensor import Tensor
from chainrule.validation import non_negative_int, positive_int

__all__ = ["GPT", "sample_logits"]


def _token_ids(idx: Any, owner: str, what: str) -> np.ndarray:
    """``idx`` (a Tensor, array or nested list) as an int64 array (where it lives), or a clear error."""
    ids = idx._array if isinstance(idx, Tensor) else idx
    if not devices.is_device_array(ids):
        ids = np.asarray(ids)
    if ids.dtype.kind not in "iu" and not (ids.size == 0 and ids.dtype.kind == "f"):
        raise TypeError(f"{owner}: {what} must hold integer token ids (int64), got dtype {ids.dtype}")
    return ids.astype(np.int64, copy=False)


def sample_logits(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: _random.Generator | None = None,
) -> np.ndarray:
    """One token id per row of ``logits`` (N, V): drawn from ``softmax(logits / temperature)``.

    ``top_k`` keeps only the k most likely tokens (ties with the k-th kept, as
    nanoGPT does); ``temperature == 0`` or ``top_k == 1`` picks the arg-max
    (greedy decoding). The uniform draws come from ``generator`` or
    chainrule's global generator, so ``cr.manual_seed`` makes sampling
    reproducible. Returns int64 ids of shape (N,).
    """
    if temperature == 0 or top_k == 1:
        return np.argmax(logits, axis=-1).astype(np.int64)
    z = np.array(logits, dtype=np.float64)  # a copy in float64: the cumulative sum below needs the range
    z /= temperature
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.partition(z, -top_k, axis=-1)[:, -top_k, None]
        z[z < kth] = -np.inf
    # softmax, then inverse-CDF sampling: the first token whose cumulative probability reaches u
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    cdf = np.cumsum(z, axis=-1)
    cdf /= cdf[:, -1:]  # the last entry becomes exactly 1, so some token always reaches u
    u = 1.0 - _random.rng(generator).random((len(cdf), 1))  # in (0, 1]: a token of probability 0 never wins
    return (cdf < u).sum(axis=-1).astype(np.int64)


class GPT(nn.Module):
    """A GPT language model: ``GPT(vocab_size, block_size)`` maps token ids (N, T) to next-token logits.

    ``forward(idx)`` returns logits (N, T, vocab_size); ``forward(idx, targets)``
    returns ``(logits, loss)``, the mean cross-entropy over every position whose
    target is not ``-100`` (targets are ``idx`` shifted left by one). Sequences
    may be at most ``block_size`` tokens long (the learned positions end there).
    ``tie_weights=True`` shares the LM head's weight with the token embedding
    (fewer parameters, and it usually helps). ``bias=False`` drops the biases of
    every Linear and LayerNorm, as in nanoGPT.

    Weights start as GPT-2's: N(0, 0.02) for linear and embedding weights, zero
    biases, and N(0, 0.02 / sqrt(2 n_layer)) for the two projections that add
    into the residual stream in each block (attention output and second MLP
    layer), so the stream's variance does not grow with depth.
    """

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        n_layer: int = 4,
        n_head: int = 4,
        n_embd: int = 128,
        dropout: float = 0.0,
        bias: bool = True,
        tie_weights: bool = True,
    ) -> None:
        super().__init__()
        self.vocab_size = positive_int(vocab_size, "vocab_size", "GPT")
        self.block_size = positive_int(block_size, "block_size", "GPT")
        self.n_layer = positive_int(n_layer, "n_layer", "GPT")
        self.n_head = positive_int(n_head, "n_head", "GPT")
        self.n_embd = positive_int(n_embd, "n_embd", "GPT")
        if n_embd % n_head:
            raise ValueError(f"GPT: n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"GPT: dropout must be between 0 and 1, got {dropout}")
        self.tie_weights = bool(tie_weights)

        self.tok_emb = Embedding(vocab_size, n_embd)
        self.pos_emb = Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerEncoderLayer(
                n_embd,
                n_head,
                dim_feedforward=4 * n_embd,
                dropout=dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
                bias=bias,
            )
            for _ in range(n_layer)
        )
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        if self.tie_weights:
            self.lm_head.weight = self.tok_emb.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's initialisation (see the class docstring); LayerNorms start as the identity."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, MultiheadAttention):
                nn.init.normal_(m.in_proj_weight, std=0.02)
                if m.in_proj_bias is not None:
                    nn.init.zeros_(m.in_proj_bias)
            elif isinstance(m, nn.LayerNorm):
                m.reset_parameters()
        residual_std = 0.02 / math.sqrt(2 * self.n_layer)
        for block in self.blocks:
            nn.init.normal_(block.self_attn.out_proj.weight, std=residual_std)
            nn.init.normal_(block.linear2.weight, std=residual_std)

    def _check_ids(self, idx: Any, what: str = "idx") -> Tensor:
        ids = idx if isinstance(idx, Tensor) and idx.dtype == np.int64 else None
        arr = _token_ids(idx, "GPT", what) if ids is None else idx._array
        if arr.ndim != 2:
            raise ValueError(f"GPT: {what} must be token ids of shape (N, T), got shape {arr.shape}")
        if arr.shape[1] > self.block_size:
            raise ValueError(
                f"GPT: a sequence of {arr.shape[1]} tokens is longer than block_size={self.block_size}; "
                "crop it to the last block_size tokens"
            )
        # on a device the embedding lookup checks the range (reading it here too would be a second sync)
        if arr.size and not devices.is_device_array(arr) and (arr.min() < 0 or arr.max() >= self.vocab_size):
            bad = arr.min() if arr.min() < 0 else arr.max()
            raise ValueError(f"GPT: token id {bad} is out of range for vocab_size={self.vocab_size}")
        return ids if ids is not None else Tensor._make(arr, None)

    def hidden_states(self, idx: Tensor) -> Tensor:
        """The final LayerNorm's output (N, T, n_embd): what the LM head reads at every position."""
        idx = self._check_ids(idx)
        t = idx.shape[1]
        xp = devices.array_module(idx._array)  # positions and the mask are made where the ids are
        positions = Tensor._make(xp.arange(t, dtype=np.int64), None)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(positions))
        mask = generate_square_subsequent_mask(t, device=x.device, dtype=x.dtype)  # -inf above the diagonal
        for block in self.blocks:
            x = block(x, src_mask=mask, is_causal=True)
        return self.ln_f(x)

    def forward(self, idx: Tensor, targets: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        logits = self.lm_head(self.hidden_states(idx))
        if targets is None:
            return logits
        tgt = (
            targets
            if isinstance(targets, Tensor)
            else Tensor._make(_token_ids(targets, "GPT", "targets"), None)
        )
        if tgt.shape != logits.shape[:2]:
            raise ValueError(f"GPT: targets must have the shape of idx {logits.shape[:2]}, got {tgt.shape}")
        loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), tgt.reshape(-1), ignore_index=-100)
        return logits, loss

    def generate(
        self,
        prompt: Any,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: _random.Generator | None = None,
    ) -> Tensor:
        """Extend ``prompt`` (token ids (T,) or (N, T)) by ``max_new_tokens`` sampled tokens.

        Each step feeds the last ``block_size`` tokens, takes the logits of the
        last position and draws the next token with :func:`sample_logits`
        (``temperature``, ``top_k``, ``generator``; greedy for temperature 0 or
        top_k 1). Runs without recording a graph and in eval mode (no dropout),
        then restores the model's mode. Returns int64 ids, prompt included, of
        shape (T + max_new_tokens,) or (N, T + max_new_tokens), on the model's device.

        On a device the ids stay there; greedy decoding picks the arg-max there
        too, while sampling reads the last position's logits (N, V) back to the
        host once per new token (the draws come from chainrule's host generator)
        and sends the N chosen ids back.
        """
        ids = _token_ids(prompt, "GPT.generate", "prompt")
        if ids.ndim not in (1, 2) or ids.shape[-1] == 0:
            raise ValueError(
                f"GPT.generate: prompt must be token ids of shape (T,) or (N, T) with T >= 1, got {ids.shape}"
            )
        steps = non_negative_int(max_new_tokens, "max_new_tokens", "GPT.generate")
        if not (isinstance(temperature, (int, float, np.number)) and 0 <= temperature < math.inf):
            raise ValueError(f"GPT.generate: temperature must be a finite number >= 0, got {temperature!r}")
        if top_k is not None:
            top_k = positive_int(top_k, "top_k", "GPT.generate")
        single = ids.ndim == 1
        batch = ids[None] if single else ids
        n, t = batch.shape
        where = devices.device_of(self.tok_emb.weight._array)
        xp = devices.array_module(self.tok_emb.weight._array)
        out = xp.empty((n, t + steps), dtype=np.int64)
        out[:, :t] = devices.to_device(batch, where)
        greedy = temperature == 0 or top_k == 1
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                for end in range(t, t + steps):
                    context = Tensor._make(out[:, max(0, end - self.block_size) : end], None)
                    last = self.hidden_states(context)[:, -1]  # only the last position is needed
                    logits = self.lm_head(last)._array
                    if greedy:  # where the logits are: no trip to the host
                        out[:, end] = xp.argmax(logits, axis=-1)
                    else:  # one read of the logits per token; the sampled ids go back
                        ids = sample_logits(devices.to_host(logits), temperature, top_k, generator)
                        out[:, end] = devices.to_device(ids, where)
        finally:
            self.train(was_training)
        return Tensor._make(out[0] if single else out, None)

    def extra_repr(self) -> str:
        return f"vocab_size={self.vocab_size}, block_size={self.block_size}, tie_weights={self.tie_weights}"
