"""The hybrid anomaly score: the autoencoder ensemble's score and the distance to the nearest training
normal, each put on a common scale, averaged.

The two novelty scores fail differently: the autoencoders judge how well a
record fits the structure of normal traffic as a whole, the nearest-normal
distance how far it lies from any one normal record seen. Neither sees an
attack in training. Their raw scores live on unrelated scales, so each is
calibrated on the validation normals: its log is centred on their median and
divided by their interquartile range (a robust z-score: a few odd normals do
not move it), and the hybrid score is the mean of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NearestNormal", "RobustZ", "hybrid_score"]

_CHUNK = 1024  # query rows per distance block: 1024 x (training normals) float32 at a time
_TINY = 1e-9  # added before the log: a record identical to a training normal has distance 0


class NearestNormal:
    """The Euclidean distance from each row to the nearest of the stored (training, normal) rows."""

    def __init__(self, normals: np.ndarray) -> None:
        normals = np.asarray(normals, dtype=np.float32)
        if normals.ndim != 2 or len(normals) == 0:
            raise ValueError(
                f"NearestNormal: needs a non-empty (n, features) array, got shape {normals.shape}"
            )
        self.normals = normals
        self._n64 = normals.astype(np.float64)
        self._sq = np.einsum("ij,ij->i", self._n64, self._n64)

    def score(self, x: np.ndarray) -> np.ndarray:
        """(n,) float64: the distance of each row of ``x`` to its nearest stored row."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.normals.shape[1]:
            raise ValueError(
                f"NearestNormal.score: expected rows of {self.normals.shape[1]} features, got shape {x.shape}"
            )
        out = np.empty(len(x), dtype=np.float64)
        for i in range(0, len(x), _CHUNK):
            q = x[i : i + _CHUNK].astype(np.float64)
            # |q - n|^2 = |q|^2 - 2 q.n + |n|^2, minimised over the stored rows n
            d2 = np.einsum("ij,ij->i", q, q)[:, None] - 2.0 * (q @ self._n64.T) + self._sq
            out[i : i + _CHUNK] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
        return out


@dataclass
class RobustZ:
    """``(log(score) - median) / iqr``, the median and interquartile range of the log scores of normals;
    with ``log=False`` the scores themselves (for a score that is already a log, such as a logit)."""

    median: float
    iqr: float
    log: bool = True

    @classmethod
    def fit(cls, normal_scores: np.ndarray, log: bool = True) -> RobustZ:
        """Calibrate on the scores of normal records (non-negative with ``log``): at least two distinct
        values needed."""
        logs = cls._values(normal_scores, log)
        if logs.ndim != 1 or len(logs) < 2:
            raise ValueError(f"RobustZ.fit: needs at least 2 normal scores, got shape {logs.shape}")
        q25, q50, q75 = np.percentile(logs, [25, 50, 75])
        iqr = q75 - q25
        if not iqr > 0:
            iqr = float(np.std(logs))
        if not iqr > 0:
            raise ValueError("RobustZ.fit: the normal scores are all equal; nothing to calibrate on")
        return cls(float(q50), float(iqr), log)

    @staticmethod
    def _values(scores: np.ndarray, log: bool) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        return np.log(scores + _TINY) if log else scores

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return (self._values(scores, self.log) - self.median) / self.iqr


def hybrid_score(
    autoencoder_scores: np.ndarray, nearest_scores: np.ndarray, calibrations: tuple[RobustZ, RobustZ]
) -> np.ndarray:
    """The mean of the two calibrated scores (autoencoder ensemble, nearest normal), (n,) float64."""
    ae_z, nn_z = calibrations
    return (ae_z(autoencoder_scores) + nn_z(nearest_scores)) / 2.0
