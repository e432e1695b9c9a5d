"""The scikit-learn baselines: ridge regression and gradient boosting on summary features of each window.

A window becomes, per channel, its last value, mean, standard deviation,
minimum, maximum and least-squares slope over time: what an engineer would
compute by hand, and what a model without memory can use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule.apps.maintenance.evaluate import rmse

__all__ = ["cross_validate", "fit_gradient_boosting", "fit_ridge", "summary_features"]


def summary_features(x: np.ndarray) -> np.ndarray:
    """(n, window, channels) windows -> (n, 6 * channels) features: last, mean, std, min, max, slope."""
    t = np.arange(x.shape[1], dtype=np.float64)
    t -= t.mean()
    slope = np.einsum("t,ntc->nc", t, x) / (t @ t)
    return np.concatenate([x[:, -1], x.mean(1), x.std(1), x.min(1), x.max(1), slope], axis=1)


def fit_ridge(
    train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], max_rul: float
) -> tuple[Any, float]:
    """Ridge regression on standardized summary features, its alpha chosen on the validation windows.

    Returns the fitted pipeline (features in, RUL out) and its validation RMSE.
    """
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ft, fv = summary_features(train[0]), summary_features(val[0])
    best: tuple[float, Any] | None = None
    for alpha in (0.1, 1.0, 10.0, 100.0, 1000.0):
        model = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(ft, train[1])
        score = rmse(np.clip(model.predict(fv), 0, max_rul), val[1])
        if best is None or score < best[0]:
            best = (score, model)
    assert best is not None
    return best[1], best[0]


def fit_gradient_boosting(
    train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], max_rul: float, seed: int = 0
) -> tuple[Any, float]:
    """Histogram gradient boosting on summary features; returns the model and its validation RMSE."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(
        max_iter=300, learning_rate=0.05, max_leaf_nodes=31, min_samples_leaf=40, random_state=seed
    ).fit(summary_features(train[0]), train[1])
    return model, rmse(np.clip(model.predict(summary_features(val[0])), 0, max_rul), val[1])


Windows = tuple[np.ndarray, np.ndarray]


def cross_validate(
    fit: Callable[[Windows, Windows], tuple[Any, float]],
    splits: Iterable[tuple[Windows, Windows]],
    max_rul: float,
) -> tuple[list[Any], list[float], np.ndarray, np.ndarray]:
    """Fit a baseline on each split's training windows and predict its held-out ones.

    ``fit`` is :func:`fit_ridge` or :func:`fit_gradient_boosting` (bound to its
    other arguments); ``splits`` yields (train, held-out) windows, as
    :func:`.ensemble.fold_splits` does. Returns the fitted models, each one's
    held-out RMSE, and the out-of-fold predictions with their true RUL, in fold
    order: the same windows the CNN ensemble's out-of-fold errors are measured on.
    """
    fitted, scores, oof, target = [], [], [], []
    for inside, out in splits:
        model, score = fit(inside, out)
        fitted.append(model)
        scores.append(score)
        oof.append(np.clip(model.predict(summary_features(out[0])), 0, max_rul))
        target.append(out[1])
    if not fitted:
        raise ValueError("cross_validate: expected at least one split, got none")
    return fitted, scores, np.concatenate(oof), np.concatenate(target)
