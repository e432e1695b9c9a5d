"""Score a detector on labelled records: the usual binary metrics with attack as the positive class,
plus how many attacks of types never seen in training it catches."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Evaluation", "evaluate_detector"]


@dataclass
class Evaluation:
    """One model's results on the test file: metrics, plus the scores and alarms behind them (for plots)."""

    metrics: dict[str, float | int | None]
    scores: np.ndarray = field(repr=False)
    alarms: np.ndarray = field(repr=False)


def evaluate_detector(
    scores: np.ndarray,
    alarms: np.ndarray,
    labels: np.ndarray,
    train_labels: set[str],
) -> Evaluation:
    """Metrics of a detector whose anomaly ``scores`` (higher = more suspicious) gave ``alarms``.

    ``labels`` are the test records' labels (``normal`` or an attack name);
    ``train_labels`` the labels present in training, so attacks of other
    types count as unseen. ROC-AUC is None when the test has one class only.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    y = labels != "normal"
    alarms = np.asarray(alarms, dtype=bool)
    unseen = y & ~np.isin(labels, sorted(train_labels))
    seen = y & ~unseen
    both = 0 < y.sum() < len(y)
    metrics: dict[str, float | int | None] = {
        "accuracy": float(accuracy_score(y, alarms)),
        "precision": float(precision_score(y, alarms, zero_division=0)),
        "recall": float(recall_score(y, alarms, zero_division=0)),
        "f1": float(f1_score(y, alarms, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, scores)) if both else None,
        "false_positive_rate": float(alarms[~y].mean()) if (~y).any() else None,
        "seen_attack_detection_rate": float(alarms[seen].mean()) if seen.any() else None,
        "unseen_attack_detection_rate": float(alarms[unseen].mean()) if unseen.any() else None,
        "unseen_attack_records": int(unseen.sum()),
    }
    return Evaluation(metrics, np.asarray(scores, dtype=np.float64), alarms)
