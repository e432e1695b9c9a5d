"""A validation split without leakage: whole sentences held out together with their sub-phrases.

Some training files (SST-2's among them) hold, next to each sentence, many
phrases cut out of it. A random row split then puts phrases of one sentence on
both sides, and validation scores phrases the model has nearly seen, and
mostly short ones, easier than whole sentences: it overstates accuracy.

:func:`phrase_groups` gives each row the longest row that contains it (word
for word), its *root*; :func:`grouped_split` holds out whole roots, drops
their sub-phrases from training, and validates on the held-out roots alone,
which look like an eval file of whole sentences. A file of unrelated sentences
has one row per group and splits as a random row split does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["grouped_split", "phrase_groups"]


def _padded(text: str) -> str:
    # one space between words and around the whole: "a b" in " x a b y " only as whole words
    return " " + " ".join(text.split()) + " "


def phrase_groups(texts: list[str]) -> np.ndarray:
    """The row index of each row's root: the longest row containing it as a run of whole words.

    A root is its own root. Rows go longest first; a row is looked up only in
    the roots holding its rarest word, so unrelated texts cost one dictionary
    look-up a word (SST-2's 67k rows: under a second).
    """
    padded = [_padded(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: (-len(padded[i]), i))
    roots: list[int] = []  # row index of each root, longest first
    holding: dict[str, list[int]] = {}  # word -> the roots (positions in `roots`) that hold it
    root_of = np.empty(len(texts), dtype=np.int64)
    for i in order:
        text = padded[i]
        words = set(text.split())
        found = -1
        if words:
            rarest = min(words, key=lambda w: len(holding.get(w, ())))
            for r in holding.get(rarest, ()):  # longest first: the first match is the longest root
                if text in padded[roots[r]]:
                    found = roots[r]
                    break
        if found < 0:
            found = i
            for w in words:
                holding.setdefault(w, []).append(len(roots))
            roots.append(i)
        root_of[i] = found
    return root_of


def grouped_split(
    texts: list[str], fraction: float, limit: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Training rows and validation rows (sorted indices into ``texts``).

    A random ``fraction`` of the roots (at most ``limit``) is held out; the
    validation rows are those roots, and every row whose root is held out
    leaves training. With fewer than 20 roots nothing is held out.
    """
    root_of = phrase_groups(texts)
    roots = np.unique(root_of)
    n_val = min(limit, int(len(roots) * fraction)) if len(roots) >= 20 else 0
    held = np.sort(rng.permutation(roots)[:n_val])
    out = np.isin(root_of, held)
    return np.flatnonzero(~out), held
