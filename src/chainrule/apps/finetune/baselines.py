"""The two baselines the fine-tuned encoder must beat, trained on the same sentences.

- Bag of words: unigram and bigram counts (binary) into a logistic regression
  (scikit-learn). What a sentence classifier scores with no notion of order
  beyond two words and no pretraining.
- A small Transformer trained from scratch here (2 layers, d_model 128, 4
  heads, mean-pooled): the same kind of model as the encoder, the same WordPiece
  tokens, but no pretraining — the gap to the fine-tuned encoder is what
  pretraining buys.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.apps.finetune.batching import Batches, TokenizedTexts, length_batches, pad_batch
from chainrule.apps.finetune.metrics import classification_figures
from chainrule.models.bert import mean_pool
from chainrule.nn.embedding import Embedding
from chainrule.nn.positional import LearnedPositionalEncoding
from chainrule.nn.transformer import TransformerEncoder, TransformerEncoderLayer
from chainrule.tensor import Tensor

__all__ = ["SmallTransformerClassifier", "bag_of_words", "transformer_from_scratch"]


def bag_of_words(
    train_texts: list[str], train_y: np.ndarray, eval_texts: list[str], eval_y: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """Fit binary unigram+bigram counts and a logistic regression; score it on the eval sentences."""
    try:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise ImportError(
            "finetune: the bag-of-words baseline needs scikit-learn: pip install 'chainrule[apps]'"
        ) from None
    start = time.perf_counter()
    # single-character words count too ("a", "i"): scikit-learn's default pattern drops them
    vectorizer = CountVectorizer(ngram_range=(1, 2), binary=True, token_pattern=r"(?u)\b\w+\b")
    width = int(max(train_y.max(), eval_y.max())) + 1
    try:
        x_train = vectorizer.fit_transform(train_texts)
    except ValueError:  # not one word in the training sentences: predict the most frequent class
        x_train = None
    if x_train is None:
        scores = np.tile(np.bincount(train_y, minlength=width), (len(eval_texts), 1)).astype(np.float64)
    else:
        clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
        clf.fit(x_train, train_y)
        proba = clf.predict_proba(vectorizer.transform(eval_texts))
        # predict_proba's columns are the classes seen in training: put them at their ids
        scores = np.zeros((len(eval_texts), width))
        scores[:, clf.classes_] = proba
    seconds = time.perf_counter() - start
    return {
        **classification_figures(scores, eval_y),
        "train_seconds": round(seconds, 2),
        "features": "none (no words)" if x_train is None else f"{x_train.shape[1]} binary word 1-2-grams",
    }


class SmallTransformerClassifier(nn.Module):
    """Embedding + learned positions, a pre-norm GELU TransformerEncoder, masked mean pooling, a linear head.

    ``forward(input_ids, attention_mask)`` with int64 ``(N, L)`` ids and a
    ``(N, L)`` mask (1 for tokens, 0 for padding) returns ``(N, num_classes)`` logits.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        d_model: int = 128,
        nhead: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 512,
        max_length: int = 128,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.embed = Embedding(vocab_size, d_model, padding_idx=0)
        self.position = LearnedPositionalEncoding(max_length, d_model, dropout=dropout)
        layer = TransformerEncoderLayer(
            d_model, nhead, dim_feedforward, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        h = self.position(self.embed(input_ids))
        padding = attention_mask == 0  # a Tensor op: an exported graph takes the mask as an input
        h = self.encoder(h, src_key_padding_mask=padding)
        return self.head(mean_pool(self.norm(h), attention_mask))


def _compact_vocab(train: TokenizedTexts) -> np.ndarray:
    """A map from WordPiece id to a small id: tokens seen in training get 2.., the rest 1 (unknown), pad 0."""
    seen = np.unique(train.flat)
    table = np.ones(int(max(train.flat.max(initial=0), 0)) + 1, dtype=np.int64)
    table[seen] = np.arange(2, len(seen) + 2)
    return table


def _remap(texts: TokenizedTexts, table: np.ndarray) -> TokenizedTexts:
    out = TokenizedTexts([])
    out.lengths, out.offsets = texts.lengths, texts.offsets
    flat = texts.flat
    inside = flat < len(table)
    out.flat = np.where(inside, table[np.where(inside, flat, 0)], 1)
    return out


def _id_batches(texts: TokenizedTexts, y: np.ndarray, batch_size: int, rng: Any = None) -> Batches:
    items, order = [], []
    for index in length_batches(texts.lengths, batch_size):
        ids, mask = pad_batch(texts, index)
        items.append(([Tensor._make(ids, None), Tensor._make(mask, None)], Tensor._make(y[index], None)))
        order.append(index)
    return Batches(items, rng, order)


def transformer_from_scratch(
    train: TokenizedTexts,
    train_y: np.ndarray,
    val: TokenizedTexts | None,
    val_y: np.ndarray | None,
    eval_texts: TokenizedTexts,
    eval_y: np.ndarray,
    num_classes: int,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Train :class:`SmallTransformerClassifier` on the WordPiece ids; keep the epoch best on ``val``."""
    from chainrule import optim
    from chainrule.apps.finetune.finetune import warmup_linear
    from chainrule.random import manual_seed
    from chainrule.train import EarlyStopping, Trainer

    start = time.perf_counter()
    manual_seed(seed)
    table = _compact_vocab(train)
    train, eval_texts = _remap(train, table), _remap(eval_texts, table)
    max_length = int(max(t.lengths.max(initial=1) for t in (train, eval_texts, val) if t is not None))
    model = SmallTransformerClassifier(int(table.max()) + 1, num_classes, max_length=max_length)
    rng = np.random.default_rng(seed)
    loader = _id_batches(train, train_y, batch_size, rng)
    optimizer = optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = warmup_linear(optimizer, epochs * len(loader), 0.1)
    callbacks = []
    val_loader = None
    if val is not None and val_y is not None and len(val):
        val_loader = _id_batches(_remap(val, table), val_y, 256)
        callbacks.append(EarlyStopping(monitor="val_accuracy", mode="max", patience=epochs, verbose=0))
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        optimizer,
        metrics=["accuracy"],
        callbacks=callbacks,
        scheduler=schedule,
        scheduler_interval="batch",
        grad_clip=1.0,
        progress=1 if progress else 0,
    )
    history = trainer.fit(loader, val_loader, epochs=epochs)
    seconds = time.perf_counter() - start
    scores = _id_batches(eval_texts, eval_y, 256).in_order(trainer.predict)
    result = {
        **classification_figures(scores, eval_y),
        "train_seconds": round(seconds, 2),
        "epochs": len(history.epochs),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if val_loader is not None:
        result["val_accuracy"] = round(max(history["val_accuracy"]), 6)
    return result
