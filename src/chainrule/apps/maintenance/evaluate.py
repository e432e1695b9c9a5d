"""Scores of RUL predictions on test engines: RMSE, the PHM08 score, and the service decision they imply."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.train.metrics import RMSE

__all__ = ["maintenance_view", "phm08_score", "rmse"]


def _pair(pred: Any, true: Any, who: str) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred, dtype=np.float64).ravel(), np.asarray(true, dtype=np.float64).ravel()
    if p.shape != t.shape or p.size == 0:
        raise ValueError(
            f"{who}: expected as many predictions as true values (at least one), got {p.size} and {t.size}"
        )
    return p, t


def rmse(pred: Any, true: Any) -> float:
    """Root mean squared error, in cycles (the training toolkit's :class:`~chainrule.train.metrics.RMSE`)."""
    p, t = _pair(pred, true, "rmse")
    metric = RMSE()
    metric.update(p, t)
    return metric.compute()


def phm08_score(pred: Any, true: Any) -> float:
    """The PHM08 score: sum of exp(-d/13) - 1 for d < 0 and exp(d/10) - 1 for d >= 0, d = pred - true.

    Late predictions (d > 0: the engine fails before the predicted time) cost
    more than early ones, as they do in a hangar. Lower is better.
    """
    p, t = _pair(pred, true, "phm08_score")
    d = p - t
    return float(np.sum(np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))))


def maintenance_view(pred: Any, true: Any, units: Any, within: float = 30) -> dict[str, Any]:
    """Which engines to service within ``within`` cycles (predicted RUL <= within), and how right that is.

    Precision: the share of flagged engines that truly fail within the horizon;
    recall: the share of those that were flagged. Either is None when its
    denominator is zero (nothing flagged, or nothing truly due).
    """
    p, t = _pair(pred, true, "maintenance_view")
    units = np.asarray(units).ravel()
    flagged, due = p <= within, t <= within
    hits = int(np.sum(flagged & due))
    return {
        "within": within,
        "service": [int(u) for u in units[flagged]],
        "truly_due": [int(u) for u in units[due]],
        "true_positives": hits,
        "false_positives": int(np.sum(flagged & ~due)),
        "false_negatives": int(np.sum(~flagged & due)),
        "precision": hits / int(flagged.sum()) if flagged.any() else None,
        "recall": hits / int(due.sum()) if due.any() else None,
    }
