"""Token ids for every sentence, once, and batches of sentences of nearly equal length.

Padding is where short-sentence fine-tuning loses most of its time: a batch
padded to its longest sentence computes on padding tokens for nothing. Sorting
the sentences by length and cutting the sorted list into batches leaves almost
no padding; shuffling the order of the batches (not their content) keeps the
training order random from epoch to epoch.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule.tensor import Tensor

__all__ = ["Batches", "TokenizedTexts", "length_batches", "load_tokenizer", "pad_batch", "tokenize"]


def load_tokenizer(model_dir: str | os.PathLike, max_length: int = 128) -> Any:
    """A private ``tokenizers.Tokenizer`` of ``model_dir/tokenizer.json``: truncating, never padding.

    Read through :class:`BertTokenizer` (same checks and errors); padding is
    switched off because :func:`pad_batch` pads each length-sorted batch itself.
    """
    from chainrule.models.tokenization import BertTokenizer

    tok = BertTokenizer.from_file(pathlib.Path(model_dir) / "tokenizer.json", max_length=max_length)
    backend = tok.backend_tokenizer  # a fresh instance, ours alone
    backend.no_padding()
    return backend


class TokenizedTexts:
    """Every sentence's token ids, concatenated, with offsets: one array, no per-sentence objects."""

    def __init__(self, ids: list[list[int]]) -> None:
        self.lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        self.offsets = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=self.offsets[1:])
        self.flat = np.fromiter((t for x in ids for t in x), dtype=np.int64, count=int(self.offsets[-1]))

    def __len__(self) -> int:
        return len(self.lengths)

    def row(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i] : self.offsets[i + 1]]


def tokenize(tokenizer: Any, texts: list[str]) -> TokenizedTexts:
    """Token ids (with [CLS]/[SEP]) of every sentence, in parallel inside the tokenizers library."""
    return TokenizedTexts([e.ids for e in tokenizer.encode_batch(texts)])


def length_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Sentence indices cut into batches of similar length.

    Sentences are sorted by length (ties in random order when ``rng`` is given)
    and cut into consecutive batches of ``batch_size``; the batches come back
    in random order with ``rng``, in length order without it.
    """
    n = len(lengths)
    if n == 0:
        return []
    tiebreak = rng.random(n) if rng is not None else np.arange(n)
    order = np.lexsort((tiebreak, lengths))
    batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def pad_batch(texts: TokenizedTexts, index: np.ndarray, pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)`` of the sentences at ``index``, padded to the longest: int64 arrays."""
    lengths = texts.lengths[index]
    width = int(lengths.max())
    ids = np.full((len(index), width), pad_id, dtype=np.int64)
    mask = np.arange(width) < lengths[:, None]
    for r, i in enumerate(index):
        ids[r, : lengths[r]] = texts.row(int(i))
    return ids, mask.astype(np.int64)


class Batches:
    """Prepared ``(inputs, targets)`` batches that the Trainer iterates, in a fresh random order each epoch.

    The batches themselves are fixed (sentences of similar length together), so
    anything computed per batch once, such as the frozen layers' output, stays valid.
    """

    def __init__(
        self,
        items: list[tuple[Any, Any]],
        rng: np.random.Generator | None = None,
        index: list[np.ndarray] | None = None,
    ) -> None:
        self.items = items
        self.rng = rng
        self.index = index  # which sentences each batch holds, to put predictions back in file order

    def in_order(self, predict: Callable[[Batches], Any]) -> np.ndarray:
        """``predict(self)`` (outputs batch after batch) rearranged into the sentences' original order."""
        if self.rng is not None or self.index is None:
            raise ValueError("Batches.in_order: needs unshuffled batches built with their sentence index")
        out = predict(self)
        out = np.asarray(out._array if isinstance(out, Tensor) else out)
        result = np.empty_like(out)
        result[np.concatenate(self.index)] = out
        return result

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        order = self.rng.permutation(len(self.items)) if self.rng is not None else range(len(self.items))
        for i in order:
            yield self.items[i]
