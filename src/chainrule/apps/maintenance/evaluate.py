"""Scores of RUL predictions on test engines: RMSE, the PHM08 score, and the service decision they imply."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.train.metrics import RMSE

__all__ = ["blend_weight", "conformal_scale", "interval_view", "maintenance_view", "phm08_score", "rmse"]


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


def conformal_scale(members: Any, true: Any, coverage: float = 0.9) -> float:
    """How many ensemble standard deviations an interval needs to cover ``coverage`` of ``true``.

    Split conformal prediction with the ensemble spread as the scale: on
    held-out engines, the ``coverage`` quantile of |true - mean| / (std + 1).
    A seed ensemble's spread alone is too narrow (its members share data and
    architecture); calibrating on held-out engines makes the interval honest
    without looking at the test engines. ``members`` is (members, n); with one
    row (out-of-fold predictions) the spread is 0 and the interval's half-width
    is the plain ``coverage`` quantile of |true - prediction|.
    """
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"conformal_scale: coverage must lie in (0, 1), got {coverage}")
    m = np.asarray(members, dtype=np.float64)
    mean, t = _pair(m.mean(axis=0), true, "conformal_scale")
    score = np.abs(t - mean) / (m.std(axis=0).ravel() + 1.0)
    n = score.size
    level = min(1.0, np.ceil((n + 1) * coverage) / n)
    return float(np.quantile(score, level, method="higher"))


def interval_view(
    lower: Any, upper: Any, true: Any, units: Any, within: float = 30, capped_at: float | None = None
) -> dict[str, Any]:
    """The RUL intervals' measured coverage and width, and the service list built from their lower end.

    An engine is serviced when its interval's lower end is within ``within``
    cycles: the cautious reading of the prediction. Coverage is measured against
    ``true`` capped at ``capped_at`` (the training labels' cap) when given; the
    service decision always uses the uncapped true RUL.
    """
    lo, t = _pair(lower, true, "interval_view")
    hi, _ = _pair(upper, true, "interval_view")
    target = t if capped_at is None else np.minimum(t, capped_at)
    view = maintenance_view(lo, t, units, within)
    return {
        "coverage": float(np.mean((lo <= target) & (target <= hi))),
        "mean_width": float(np.mean(hi - lo)),
        "intervals": [[round(float(a), 2), round(float(b), 2)] for a, b in zip(lo, hi, strict=True)],
        "service_from_lower_end": view,
    }


def blend_weight(a: Any, b: Any, true: Any, steps: int = 10) -> float:
    """The weight ``w`` in 0, 1/steps, ..., 1 for which ``(1 - w) * a + w * b`` best fits ``true`` (RMSE).

    Meant for out-of-fold predictions of two models on the same windows: one
    number chosen on many engines, so the blend's out-of-fold RMSE is barely
    optimistic. Ties go to the smaller weight.
    """
    p, t = _pair(a, true, "blend_weight")
    q, _ = _pair(b, true, "blend_weight")
    if steps < 1:
        raise ValueError(f"blend_weight: steps must be at least 1, got {steps}")
    weights = np.arange(steps + 1) / steps
    errors = [rmse((1 - w) * p + w * q, t) for w in weights]
    return float(weights[int(np.argmin(errors))])
