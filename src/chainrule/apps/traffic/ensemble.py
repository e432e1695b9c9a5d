"""A seed ensemble of autoencoders whose anomaly score weighs each feature's error by its usual size.

The plain score, the mean squared reconstruction error, lets the features an
autoencoder reconstructs worst on *normal* traffic (byte counts, say) drown
out those it reconstructs almost perfectly (a flag, a rate): a small but
unusual error on the latter is the sign of an anomaly. So each feature's
squared error is divided by its mean on the training normals (the residual
scale) before averaging — a diagonal Mahalanobis distance on the residuals.

One autoencoder's score depends on its initial weights more than the
validation split shows; members trained from different seeds average that
out. The ensemble's score is the geometric mean of its members' scores
(the mean of their logs: the scores span orders of magnitude), so it stays
positive and every member counts alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from chainrule.apps.traffic.models import Autoencoder, fit_autoencoder, reconstructions

__all__ = ["AutoencoderEnsemble", "fit_ensemble", "noise_levels", "residual_scale", "standardized_error"]

_EPS = 1e-6  # floor under a residual scale, for a feature reconstructed exactly


def noise_levels(noise_std: float | Sequence[float], members: int) -> list[float]:
    """One denoising noise level per member: ``noise_std`` repeated, or the sequence's levels in
    turn (member ``k`` gets ``noise_std[k % len(noise_std)]``); each must be >= 0."""
    given = [float(noise_std)] if np.ndim(noise_std) == 0 else [float(v) for v in noise_std]
    if not given or any(not v >= 0 for v in given):
        raise ValueError(f"fit_ensemble: noise_std must be one or more levels >= 0, got {noise_std!r}")
    return [given[k % len(given)] for k in range(members)]


def residual_scale(model: Autoencoder, x_normal: np.ndarray) -> np.ndarray:
    """Per-feature mean squared reconstruction error of ``model`` on normal rows, (features,) float64."""
    if len(x_normal) == 0:
        raise ValueError("residual_scale: needs at least one normal row")
    diff = reconstructions(model, x_normal) - x_normal
    return np.mean(diff * diff, axis=0) + _EPS


def standardized_error(model: Autoencoder, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per-row mean of each feature's squared error divided by its ``scale``, (n,) float64."""
    diff = reconstructions(model, x) - x
    return np.einsum("ij,ij,j->i", diff, diff, 1.0 / scale) / x.shape[1]


@dataclass
class AutoencoderEnsemble:
    """Autoencoders of one architecture, each with the residual scale measured on training normals."""

    members: list[Autoencoder]
    scales: list[np.ndarray]

    def __post_init__(self) -> None:
        if not self.members or len(self.members) != len(self.scales):
            raise ValueError(
                f"AutoencoderEnsemble: needs one scale per member and at least one member, got "
                f"{len(self.members)} members and {len(self.scales)} scales"
            )

    def score(self, x: np.ndarray) -> np.ndarray:
        """The anomaly score of each row: the geometric mean of the members' standardized errors."""
        logs = [np.log(standardized_error(m, x, s) + _EPS) for m, s in zip(self.members, self.scales)]
        return np.exp(np.mean(logs, axis=0))

    def reconstruction_error(self, x: np.ndarray) -> np.ndarray:
        """The members' mean squared reconstruction error of each row, averaged: for reading, not alarms."""
        errors = []
        for m in self.members:
            diff = reconstructions(m, x) - x
            errors.append(np.einsum("ij,ij->i", diff, diff) / x.shape[1])
        return np.mean(errors, axis=0)


def fit_ensemble(
    x_train: np.ndarray,
    x_val: np.ndarray,
    members: int = 5,
    seed: int = 0,
    hidden_sizes: Sequence[int] = (128,),
    code_size: int = 32,
    epochs: int = 60,
    batch_size: int = 128,
    lr: float = 1e-3,
    progress: bool = True,
    noise_std: float | Sequence[float] = 0.0,
) -> tuple[AutoencoderEnsemble, list[dict[str, list[float]]]]:
    """Train ``members`` autoencoders on the (normal) rows ``x_train``, member ``k`` from seed
    ``seed * members + k``; each stops early on ``x_val``'s loss. Returns the ensemble and the histories.

    ``noise_std`` is the denoising noise (see :class:`~chainrule.apps.traffic.models.Autoencoder`):
    one level for every member, or a sequence of levels taken in turn (a mix of clean and
    denoising autoencoders)."""
    import chainrule as cr

    if members < 1:
        raise ValueError(f"fit_ensemble: members must be at least 1, got {members}")
    levels = noise_levels(noise_std, members)
    models, scales, histories = [], [], []
    for k in range(members):
        cr.manual_seed(seed * members + k)
        model, history = fit_autoencoder(
            x_train,
            x_val,
            hidden_sizes,
            code_size,
            epochs,
            batch_size,
            lr,
            progress=progress,
            noise_std=levels[k],
        )
        models.append(model)
        scales.append(residual_scale(model, x_train))
        histories.append(history)
    return AutoencoderEnsemble(models, scales), histories
