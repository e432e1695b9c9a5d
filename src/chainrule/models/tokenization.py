"""Text to token ids for BERT-style models, through the Hugging Face ``tokenizers`` package.

:class:`BertTokenizer` wraps a ``tokenizer.json`` (WordPiece for BERT, but any
``tokenizers`` file works): it pads each batch to its longest sentence,
truncates to ``max_length`` and returns chainrule int64 tensors named as the
model's ``forward`` arguments, so ``model(**tokenizer(sentences))`` runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.tensor import Tensor
from chainrule.validation import is_int

__all__ = ["BertTokenizer"]


class BertTokenizer:
    """Sentences (or sentence pairs) to ``input_ids``, ``attention_mask`` and ``token_type_ids``.

    Build it with :meth:`from_file`. Calling it on a list of strings returns a
    dict of (N, L) int64 Tensors, L the longest tokenized sentence of the
    batch (at most ``max_length``); ``attention_mask`` is 1 on real tokens and
    0 on padding. A pair ``(a, b)`` is encoded as ``[CLS] a [SEP] b [SEP]``
    with ``token_type_ids`` 1 on ``b``.
    """

    def __init__(self, tokenizer: Any, max_length: int = 512, path: str | None = None) -> None:
        if not is_int(max_length) or max_length < 2:
            raise ValueError(f"BertTokenizer: max_length must be an int >= 2, got {max_length!r}")
        self._tok = tokenizer
        self.path = path
        self.max_length = int(max_length)
        pad = tokenizer.padding or {}
        pad_token = pad.get("pad_token", "[PAD]")
        pad_id = tokenizer.token_to_id(pad_token)
        self.pad_token = pad_token
        self.pad_token_id = int(pad.get("pad_id", 0) if pad_id is None else pad_id)
        # pad to the longest sentence of each batch (length=None), cut at max_length
        tokenizer.enable_padding(pad_id=self.pad_token_id, pad_token=pad_token)
        tokenizer.enable_truncation(max_length=self.max_length)

    @classmethod
    def from_file(cls, path: str | os.PathLike, max_length: int = 512) -> BertTokenizer:
        """Read a Hugging Face ``tokenizer.json``; a missing or unreadable file raises an error naming it."""
        from tokenizers import Tokenizer

        name = os.fspath(path)
        if not os.path.isfile(name):
            raise FileNotFoundError(f"BertTokenizer: no tokenizer file at {name}")
        try:
            tok = Tokenizer.from_file(name)
        except Exception as e:  # the Rust parser's error type is not importable
            raise ValueError(f"BertTokenizer: {name} is not a readable tokenizer.json ({e})") from e
        return cls(tok, max_length=max_length, path=name)

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    @property
    def backend_tokenizer(self) -> Any:
        """The underlying ``tokenizers.Tokenizer`` (padding and truncation already set)."""
        return self._tok

    def encode_batch(self, sentences: Sequence[Any]) -> list[Any]:
        """The ``tokenizers`` encodings of the batch (ids, tokens, offsets), padded and truncated."""
        batch = _check_sentences(sentences)
        return self._tok.encode_batch(batch)

    def __call__(self, sentences: str | Sequence[Any]) -> dict[str, Tensor]:
        """``{"input_ids", "attention_mask", "token_type_ids"}``: (N, L) int64 Tensors."""
        enc = self.encode_batch(sentences)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        types = np.array([e.type_ids for e in enc], dtype=np.int64)
        return {
            "input_ids": Tensor._make(ids, None),
            "attention_mask": Tensor._make(mask, None),
            "token_type_ids": Tensor._make(types, None),
        }

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        """Token ids (a list or a 1-D Tensor) back to text."""
        arr = ids._array if isinstance(ids, Tensor) else ids
        # ids on a device come to the host in one copy (text is made there), not one read per token
        arr = devices.to_host(arr) if devices.is_device_array(arr) else np.asarray(arr)
        return self._tok.decode([int(i) for i in arr.reshape(-1)], skip_special_tokens=skip_special_tokens)

    def tokenize(self, text: str) -> list[str]:
        """The word pieces of one text, special tokens included."""
        return self._tok.encode(text).tokens

    def __repr__(self) -> str:
        return (
            f"BertTokenizer(vocab_size={self.vocab_size}, max_length={self.max_length}, path={self.path!r})"
        )


def _check_sentences(sentences: Any) -> list[Any]:
    """A list of str or of (str, str) pairs; one str is a batch of one."""
    if isinstance(sentences, str):
        return [sentences]
    if isinstance(sentences, tuple) and len(sentences) == 2 and all(isinstance(s, str) for s in sentences):
        sentences = [sentences]  # one pair
    if not isinstance(sentences, Sequence) or isinstance(sentences, bytes):
        raise TypeError(f"BertTokenizer: expected a str or a list of str, got {type(sentences).__name__}")
    batch = list(sentences)
    if not batch:
        raise ValueError("BertTokenizer: expected at least one sentence, got an empty list")
    for i, s in enumerate(batch):
        ok = isinstance(s, str) or (
            isinstance(s, (tuple, list)) and len(s) == 2 and all(isinstance(p, str) for p in s)
        )
        if not ok:
            raise TypeError(
                f"BertTokenizer: sentence {i} is a {type(s).__name__} ({s!r:.60}); expected a str "
                "or a pair (str, str)"
            )
    return [tuple(s) if isinstance(s, list) else s for s in batch]
