"""W4: a Transformer encoder classifier trained in both libraries from the same weights."""

from __future__ import annotations

import numpy as np
from workloads import _same_weights, _training_step


def _encoder_classifier(lib, d_model: int, nhead: int, dim_ff: int, layers: int, classes: int):
    """nn.TransformerEncoder (batch_first, no dropout) -> mean over tokens -> Linear, in ``lib``."""

    class Classifier(lib.nn.Module):
        def __init__(self):
            super().__init__()
            layer = lib.nn.TransformerEncoderLayer(d_model, nhead, dim_ff, dropout=0.0, batch_first=True)
            self.encoder = lib.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = lib.nn.Linear(d_model, classes)

        def forward(self, x):
            return self.head(self.encoder(x).mean(1))

    return Classifier()


def transformer_encoder(batch: int = 32, tokens: int = 64, d_model: int = 128):
    """W4: 2 encoder layers (d_model 128, 4 heads, FFN 512), 64 tokens, batch 32, mean-pool, cross-entropy."""
    import torch

    import chainrule as cr

    rng = np.random.default_rng(0)
    X0 = rng.standard_normal((batch, tokens, d_model)).astype(np.float32)
    y0 = rng.integers(0, 10, batch).astype(np.int64)
    ours = _encoder_classifier(cr, d_model, 4, 512, 2, 10)
    theirs = _encoder_classifier(torch, d_model, 4, 512, 2, 10)
    _same_weights(ours, theirs)
    return (
        _training_step(cr, ours, cr.nn.CrossEntropyLoss(), X0, y0),
        _training_step(torch, theirs, torch.nn.CrossEntropyLoss(), X0, y0),
    )
