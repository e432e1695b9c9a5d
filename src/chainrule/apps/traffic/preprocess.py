"""Turn connection records into model inputs, with every choice learned from the training records alone.

Fitted on training data, then frozen and saved beside the model as JSON so
that new records are scored exactly as the training ones were prepared:

- the categorical columns (protocol, service, flag) become one-hot blocks
  over the categories seen in training; a category never seen in training
  maps to an all-zero block (the record is still scored: "none of the known
  services"), and :meth:`Preprocessor.unseen_counts` says how often it happened;
- numeric columns constant in training carry no information and are dropped;
- heavy-tailed counts (non-negative columns that go beyond 1, such as bytes,
  durations and connection counts, unlike the rates and flags in [0, 1]) are
  log1p-scaled, so a 300 MB transfer does not dwarf everything else;
- then every column is standardized to zero mean and unit variance;
- and, with ``clip``, limited to ``[-clip, clip]`` deviations: a record whose
  byte count lies 40 deviations out is as unusual as one at ``clip``, and
  clipping keeps that one column from outweighing all the others in the
  autoencoders' training loss and in the distance to the nearest normal.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from chainrule.apps.traffic.data import CATEGORICAL, NUMERIC, Records, TrafficDataError
from chainrule.io import atomic_write

__all__ = ["Preprocessor"]

_FORMAT = "chainrule.apps.traffic.Preprocessor/1"


class Preprocessor:
    """One-hot + drop-constant + log1p + standardize (+ clip), fitted on training records (module doc).

    ``clip``: the largest absolute standardized value a numeric column keeps (None: no limit).
    """

    def __init__(self, clip: float | None = None) -> None:
        if clip is not None and not clip > 0:
            raise ValueError(
                f"Preprocessor: clip must be a positive number of deviations or None, got {clip!r}"
            )
        self.clip = None if clip is None else float(clip)
        self.categories: dict[str, list[str]] | None = None
        self.keep: list[str] = []  # numeric columns kept (non-constant in training)
        self.log_scaled: list[str] = []
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    @property
    def fitted(self) -> bool:
        return self.categories is not None

    @property
    def feature_names(self) -> list[str]:
        """Names of the output columns: kept numeric columns, then ``column=category`` one-hot columns."""
        self._check_fitted("feature_names")
        return self.keep + [f"{c}={v}" for c in CATEGORICAL for v in self.categories[c]]

    def fit(self, records: Records) -> Preprocessor:
        """Learn categories, constant columns, log-scaled columns, means and deviations from ``records``."""
        if len(records) < 2:
            raise TrafficDataError(f"Preprocessor.fit: need at least 2 training records, got {len(records)}")
        cats = records.categorical
        self.categories = {c: sorted(set(cats[:, j].tolist())) for j, c in enumerate(CATEGORICAL)}
        num = records.numeric
        lo, hi = num.min(axis=0), num.max(axis=0)
        keep = lo < hi
        self.keep = [c for c, k in zip(NUMERIC, keep) if k]
        self.log_scaled = [c for c, k, a, b in zip(NUMERIC, keep, lo, hi) if k and a >= 0 and b > 1]
        x = self._numeric(records)
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.mean = mean
        self.std = np.where(std > 0, std, 1.0)
        return self

    def _check_fitted(self, who: str) -> None:
        if not self.fitted:
            raise RuntimeError(f"Preprocessor.{who}: call fit(training_records) first")

    def _numeric(self, records: Records) -> np.ndarray:
        idx = [NUMERIC.index(c) for c in self.keep]
        x = records.numeric[:, idx]
        logs = [self.keep.index(c) for c in self.log_scaled]
        # counts below zero cannot come from a real connection; clip so log1p stays finite
        x[:, logs] = np.log1p(np.maximum(x[:, logs], 0.0))
        return x

    def transform(self, records: Records) -> np.ndarray:
        """The (n, features) float32 input matrix for ``records``."""
        self._check_fitted("transform")
        x = (self._numeric(records) - self.mean) / self.std
        if self.clip is not None:
            np.clip(x, -self.clip, self.clip, out=x)
        blocks = [x.astype(np.float32)]
        for j, c in enumerate(CATEGORICAL):
            known = self.categories[c]
            lookup = {v: i for i, v in enumerate(known)}
            codes = np.array([lookup.get(v, -1) for v in records.categorical[:, j].tolist()], dtype=np.int64)
            onehot = np.zeros((len(records), len(known)), dtype=np.float32)
            seen = codes >= 0
            onehot[np.flatnonzero(seen), codes[seen]] = 1.0  # unseen category: an all-zero block
            blocks.append(onehot)
        return np.concatenate(blocks, axis=1)

    def unseen_counts(self, records: Records) -> dict[str, dict[str, int]]:
        """``{column: {category: count}}`` for the categories of ``records`` not seen in training."""
        self._check_fitted("unseen_counts")
        out: dict[str, dict[str, int]] = {}
        for j, c in enumerate(CATEGORICAL):
            values, counts = np.unique(records.categorical[:, j], return_counts=True)
            known = set(self.categories[c])
            new = {str(v): int(n) for v, n in zip(values, counts) if v not in known}
            if new:
                out[c] = new
        return out

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted("to_dict")
        return {
            "format": _FORMAT,
            "categories": self.categories,
            "keep": self.keep,
            "log_scaled": self.log_scaled,
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "clip": self.clip,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any], source: str = "preprocessing") -> Preprocessor:
        """Rebuild a fitted Preprocessor from :meth:`to_dict`'s output (``source`` names it in errors)."""
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise TrafficDataError(
                f"{source}: not a traffic preprocessing file (format {_FORMAT!r} expected)"
            )
        clip = state.get("clip")  # absent in files written before clipping existed: no limit
        number = isinstance(clip, (int, float)) and not isinstance(clip, bool)
        if clip is not None and not (number and clip > 0):
            raise TrafficDataError(f"{source}: clip must be a positive number or null, got {clip!r}")
        p = cls(clip)
        try:
            p.categories = {c: [str(v) for v in state["categories"][c]] for c in CATEGORICAL}
            p.keep = [str(c) for c in state["keep"]]
            p.log_scaled = [str(c) for c in state["log_scaled"]]
            p.mean = np.asarray(state["mean"], dtype=np.float64)
            p.std = np.asarray(state["std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise TrafficDataError(
                f"{source}: incomplete preprocessing state ({type(e).__name__}: {e})"
            ) from None
        unknown = sorted(set(p.keep) - set(NUMERIC))
        shape = (len(p.keep),)
        if unknown or not set(p.log_scaled) <= set(p.keep) or p.mean.shape != shape or p.std.shape != shape:
            raise TrafficDataError(f"{source}: inconsistent preprocessing state")
        return p

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted state as JSON, atomically."""
        with atomic_write(path, "w") as f:
            json.dump(self.to_dict(), f, indent=1)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Preprocessor:
        name = os.fspath(path)
        try:
            with open(name, encoding="utf-8") as f:
                state = json.load(f)
        except FileNotFoundError:
            raise TrafficDataError(
                f"{name}: no such file (the model directory lacks its preprocessing)"
            ) from None
        except json.JSONDecodeError as e:
            raise TrafficDataError(f"{name}: not valid JSON ({e})") from None
        return cls.from_dict(state, name)
