"""The scikit-learn baselines: ridge regression and gradient boosting on summary features of each window.

A window becomes, per channel, its last value, mean, standard deviation,
minimum, maximum and least-squares slope over time: what an engineer would
compute by hand, and what a model without memory can use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.apps.maintenance.evaluate import rmse

__all__ = ["fit_gradient_boosting", "fit_ridge", "summary_features"]


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
