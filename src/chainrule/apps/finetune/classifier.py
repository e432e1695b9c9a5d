"""A sentence classifier on a pretrained BERT encoder, and views of it for the two fine-tuning phases.

:class:`SentenceClassifier` is the model users keep: the encoder, masked mean
pooling (how all-MiniLM-L6-v2 was trained to pool) and a linear head. Its
state dict is the encoder's under ``encoder.`` and the head's under ``head.``.

Fine-tuning trains parts of it on inputs that can be computed once:

- :class:`PooledHead` is the head alone, on pooled sentence vectors (phase 1:
  encoder frozen, its output computed once).
- :class:`TopLayers` is the encoder from layer ``start`` up plus the head, fed
  with the hidden states of the frozen layers below (phase 2: the frozen
  layers' output is computed once, each step runs only the top layers).

Both share their parameters with the classifier, so training them trains it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import nn
from chainrule.autograd import no_grad
from chainrule.models.bert import key_mask, mean_pool
from chainrule.tensor import Tensor

__all__ = ["PooledHead", "SentenceClassifier", "TopLayers"]


def _layers(encoder: Any) -> Any:
    return encoder.encoder.layer


class SentenceClassifier(nn.Module):
    """``encoder`` (a BertModel), masked mean pooling, dropout and a ``Linear(hidden, num_classes)`` head."""

    def __init__(self, encoder: nn.Module, num_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_classes)

    @property
    def num_layers(self) -> int:
        return len(_layers(self.encoder))

    def hidden_states(self, input_ids: Tensor, attention_mask: Tensor, stop: int | None = None) -> Tensor:
        """The token vectors after layer ``stop`` (all layers by default): (N, L, hidden)."""
        h = self.encoder.embeddings(input_ids)
        return run_layers(self.encoder, h, attention_mask, 0, self.num_layers if stop is None else stop)

    def classify(self, hidden: Tensor, attention_mask: Tensor) -> Tensor:
        """Logits from the last layer's token vectors: pool over real tokens, dropout, linear."""
        return self.head(self.dropout(mean_pool(hidden, attention_mask)))

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.classify(self.hidden_states(input_ids, attention_mask), attention_mask)


def run_layers(bert: Any, hidden: Tensor, attention_mask: Tensor, start: int, stop: int) -> Tensor:
    """Apply the encoder layers ``start .. stop - 1`` of ``bert`` to ``hidden`` with padding masked."""
    layers = _layers(bert)
    if start >= stop:
        return hidden
    # BertLayer attends where the (N, 1, 1, L) key mask is True; None when no sentence has padding
    mask = key_mask(attention_mask, tuple(attention_mask.shape), hidden._array)
    for layer in layers[start:stop]:
        hidden = layer(hidden, mask)
    return hidden


class PooledHead(nn.Module):
    """The classifier's dropout and head applied to pooled sentence vectors (N, hidden)."""

    def __init__(self, classifier: SentenceClassifier) -> None:
        super().__init__()
        self.dropout = classifier.dropout
        self.head = classifier.head

    def forward(self, pooled: Tensor) -> Tensor:
        return self.head(self.dropout(pooled))


class TopLayers(nn.Module):
    """The classifier from encoder layer ``start`` up, on the frozen layers' output.

    ``forward(inputs, attention_mask)`` takes the cached (N, L, hidden) float
    states of layer ``start``, or int64 token ids, in which case the frozen
    layers run first, without a graph and in eval mode (as when they were cached).
    """

    def __init__(self, classifier: SentenceClassifier, start: int) -> None:
        super().__init__()
        if not 0 <= start <= classifier.num_layers:
            raise ValueError(f"TopLayers: start must be in 0..{classifier.num_layers}, got {start}")
        self.start = start
        self.layers = nn.ModuleList(list(_layers(classifier.encoder)[start:]))
        self.dropout = classifier.dropout
        self.head = classifier.head
        self._classifier = [classifier]  # a list: not a submodule, so no duplicate parameters

    def forward(self, inputs: Tensor, attention_mask: Tensor) -> Tensor:
        classifier = self._classifier[0]
        if np.issubdtype(inputs.dtype, np.integer):
            # only the frozen part switches to eval: the trained layers keep their dropout
            frozen = [classifier.encoder.embeddings, *_layers(classifier.encoder)[: self.start]]
            modes = [m.training for m in frozen]
            for m in frozen:
                m.eval()
            try:
                with no_grad():
                    inputs = classifier.hidden_states(inputs, attention_mask, stop=self.start)
            finally:
                for m, mode in zip(frozen, modes):
                    m.train(mode)
        h = run_layers(classifier.encoder, inputs, attention_mask, self.start, classifier.num_layers)
        return classifier.classify(h, attention_mask)
