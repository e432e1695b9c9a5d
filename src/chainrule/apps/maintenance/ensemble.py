"""Cross-validation ensembles of networks: each training engine teaches all members but its fold's.

The training engines are cut into folds, one per CNN (``size``); fold 0 is the
study's validation engines. The members of fold ``k`` (``repeats`` of them,
from different seeds) train on every engine outside it (fold 0's on the
fitting engines alone, as the other models do), so the ensemble as a whole
learns from all the training engines, while each engine still has members
that never saw it. Their mean, the out-of-fold prediction, gives an honest
error on every training engine: fold 0's on the validation engines is what
the study compares with the other models, and all of them calibrate the RUL
interval (split conformal on |true - out-of-fold prediction|) and choose the
weight of a mix of two ensembles. The ensemble predicts the mean of its members."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.apps.maintenance import models
from chainrule.apps.maintenance.evaluate import rmse
from chainrule.apps.maintenance.preprocess import Preprocessor

__all__ = ["TRAINING", "FoldEnsemble", "engine_folds", "fold_splits", "train_fold_ensemble"]


def engine_folds(units: np.ndarray, held: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """``k`` disjoint arrays of units: ``held`` first, then ``k - 1`` folds drawn at random from the others.

    No fold is larger than ``held``: with few members some engines are in no
    fold (every member trains on them); with ``(k - 1) * len(held)`` other
    engines or fewer, every engine is in one fold.
    """
    if k < 1:
        raise ValueError(f"engine_folds: expected at least one fold, got {k}")
    rest = np.random.default_rng(seed).permutation(np.setdiff1d(units, held))
    if k > 1 and len(rest) < k - 1:
        raise ValueError(
            f"engine_folds: {len(rest)} engine(s) outside the validation ones cannot make {k - 1} folds"
        )
    others = np.array_split(rest[: (k - 1) * len(held)], k - 1) if k > 1 else []
    return [np.sort(np.asarray(held)), *(np.sort(f) for f in others)]


def fold_splits(
    prep: Preprocessor, train: np.ndarray, folds: list[np.ndarray], min_history: int | None = None
) -> Iterator[tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]]:
    """For each fold in turn: the (windows, RUL) of the engines outside it (to train on) and inside it.

    Every model that is cross-validated over ``folds`` sees the same windows,
    so their out-of-fold errors compare like for like. One fold's copies at a time.
    """
    units = train[:, 0]
    windows = {int(u): prep.windows(train[units == u], min_history)[:2] for u in np.unique(units)}

    def stack(fold_units: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = [windows[int(u)] for u in fold_units]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    for fold in folds:
        yield stack(np.setdiff1d(np.unique(units), fold)), stack(fold)


# how each kind of member trains (Adam, cosine schedule; see models.fit_model)
TRAINING = {"cnn": {"batch_size": 512, "lr": 1e-3}, "mlp": {"batch_size": 256, "lr": 1e-3}}


@dataclass
class FoldEnsemble:
    """The trained members, the folds, and the out-of-fold predictions of the training windows.

    Members are in fold order, ``repeats`` per fold: ``members[k * repeats + r]``
    is the ``r``-th network trained without fold ``k``.
    """

    members: list[nn.Module]
    folds: list[np.ndarray]
    epochs: list[int]
    oof: np.ndarray  # RUL predicted for each training window by the members that never saw its engine
    target: np.ndarray  # those windows' true (capped) RUL
    val_rmse: float  # fold 0's members on fold 0, the study's validation engines
    repeats: int = 1

    def predict(self, x: np.ndarray, max_rul: float) -> tuple[np.ndarray, np.ndarray]:
        """The ensemble's mean RUL for windows ``x`` and every member's prediction, shape (members, n)."""
        each = models.predict_members(self.members, x, max_rul)
        return each.mean(axis=0), each


def train_fold_ensemble(
    prep: Preprocessor,
    train: np.ndarray,
    held: np.ndarray,
    size: int,
    max_rul: float,
    *,
    seed: int = 0,
    epochs: int = 60,
    min_history: int | None = None,
    progress: int = 0,
    kind: str = "cnn",
    repeats: int = 1,
) -> FoldEnsemble:
    """Train ``size * repeats`` networks on ``train``: ``repeats`` without each fold (fold 0: ``held``).

    ``kind`` is ``"cnn"`` (:class:`models.CNNRegressor`) or ``"mlp"``
    (:class:`models.SummaryMLP`, its summaries standardized on the windows it
    trains on). The ``r``-th member without fold ``k`` starts from seed
    ``seed + k + size * r`` and trains for exactly ``epochs`` epochs on a cosine
    schedule (see :func:`models.fit_model`). A window's out-of-fold prediction is
    the mean of its fold's members, as the ensemble's is the mean of all.
    """
    if kind not in TRAINING:
        raise ValueError(f"train_fold_ensemble: kind must be one of {', '.join(TRAINING)}, got {kind!r}")
    if repeats < 1:
        raise ValueError(f"train_fold_ensemble: repeats must be at least 1, got {repeats}")
    folds = engine_folds(np.unique(train[:, 0]), held, size, seed)
    config = {"n_features": len(prep.channels), "window": prep.window}
    members, epochs_run, oof, target, val_rmse = [], [], [], [], float("nan")
    for k, (inside, out) in enumerate(fold_splits(prep, train, folds, min_history)):
        preds = []
        for r in range(repeats):
            cr.manual_seed(seed + k + size * r)
            net = models.build_model(kind, **config)
            learner, train_xy, held_xy = net, inside, out
            if isinstance(net, models.SummaryMLP):  # its summaries are fixed: made once, not every epoch
                net.fit_scaling(inside[0])
                learner = net.net
                train_xy, held_xy = (net.features(inside[0]), inside[1]), (net.features(out[0]), out[1])
            history = models.fit_model(
                learner,
                train_xy,
                held_xy,
                max_rul,
                epochs=epochs,
                progress=progress,
                schedule="cosine",
                **TRAINING[kind],
            )
            preds.append(models.predict(net, out[0], max_rul))
            epochs_run.append(len(history.epochs))
            members.append(net)
        pred = np.mean(preds, axis=0)
        if k == 0:
            val_rmse = rmse(pred, out[1])
        oof.append(pred)
        target.append(out[1])
    return FoldEnsemble(
        members, folds, epochs_run, np.concatenate(oof), np.concatenate(target), val_rmse, repeats
    )
