"""Positional encodings: attention is blind to order, so each position adds its own vector to the tokens.

* :class:`SinusoidalPositionalEncoding`, the fixed table of Vaswani et al.
  (2017): ``PE[pos, 2i] = sin(pos / 10000^(2i/d))``, ``PE[pos, 2i+1] = cos(...)``,
  kept as a non-persistent buffer (recomputed, never saved in a state dict);
* :class:`LearnedPositionalEncoding`, one trained vector per position (BERT,
  GPT-2): a ``weight`` of shape (max_len, d_model) initialised N(0, 0.02^2).

Both add the encoding to an input of shape (N, L, d_model) (``batch_first=True``)
or (L, N, d_model), then apply dropout.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.nn import init
from chainrule.nn.dropout import Dropout
from chainrule.nn.module import Module, Parameter
from chainrule.tensor import Tensor
from chainrule.validation import factory_dtype, positive_int

__all__ = ["LearnedPositionalEncoding", "SinusoidalPositionalEncoding"]


def _positions(x: Any, d_model: int, max_len: int, batch_first: bool, layer: str) -> tuple[int, int]:
    """The sequence length and its axis, after checking the input against the layer."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: expected a Tensor, got {type(x).__name__}")
    layout = "(N, L, d_model)" if batch_first else "(L, N, d_model)"
    if x.ndim != 3 or x.shape[-1] != d_model:
        raise ValueError(
            f"{layer}: expected an input of shape {layout} with d_model={d_model}, got {x.shape}"
        )
    axis = 1 if batch_first else 0
    length = x.shape[axis]
    if length > max_len:
        raise ValueError(
            f"{layer}: the sequence has {length} positions but max_len is {max_len} (input {x.shape})"
        )
    return length, axis


def sinusoidal_table(max_len: int, d_model: int, dtype: Any = None) -> np.ndarray:
    """The (max_len, d_model) table: feature 2i is ``sin(pos / 10000^(2i/d))``, feature 2i+1 its cos."""
    dt = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    freq = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
    table = np.zeros((max_len, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(pos * freq)
    table[:, 1::2] = np.cos(pos * freq[: d_model // 2])
    return table.astype(dt)


class SinusoidalPositionalEncoding(Module):
    """Add the fixed sinusoidal encoding of each position (nothing to learn), then dropout."""

    def __init__(
        self,
        d_model: int,
        max_len: int = 5000,
        dropout: float = 0.0,
        batch_first: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        layer = "SinusoidalPositionalEncoding"
        self.d_model = positive_int(d_model, "d_model", layer)
        self.max_len = positive_int(max_len, "max_len", layer)
        self.batch_first = bool(batch_first)
        self.dropout = Dropout(dropout)
        self.register_buffer(
            "pe", Tensor(sinusoidal_table(self.max_len, self.d_model, dtype)), persistent=False
        )

    def forward(self, x: Tensor) -> Tensor:
        n, axis = _positions(x, self.d_model, self.max_len, self.batch_first, type(self).__name__)
        pe = self.pe[:n]  # an op, not the array: an export's graph cuts the table to the input's length
        table = pe if axis == 1 else pe.unsqueeze(1)
        if table.dtype != x.dtype:
            table = table.to(x.dtype)
        return self.dropout(x + table)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class LearnedPositionalEncoding(Module):
    """Add a trained vector per position (``weight`` (max_len, d_model), from N(0, 0.02^2)), then dropout."""

    def __init__(
        self, max_len: int, d_model: int, dropout: float = 0.0, batch_first: bool = True, dtype: Any = None
    ) -> None:
        super().__init__()
        layer = "LearnedPositionalEncoding"
        self.max_len = positive_int(max_len, "max_len", layer)
        self.d_model = positive_int(d_model, "d_model", layer)
        self.batch_first = bool(batch_first)
        dt = factory_dtype(None, dtype, layer)
        self.weight = Parameter(np.empty((self.max_len, self.d_model), dtype=dt))
        self.dropout = Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x: Tensor) -> Tensor:
        n, axis = _positions(x, self.d_model, self.max_len, self.batch_first, type(self).__name__)
        pe = self.weight[:n]
        return self.dropout(x + (pe if axis == 1 else pe.unsqueeze(1)))

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}, batch_first={self.batch_first}"
