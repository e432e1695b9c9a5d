"""Score a detector on labelled records: the usual binary metrics with attack as the positive class,
plus how many attacks of types never seen in training it catches, and the best accuracy any
threshold could have given (what the score's ranking allows, whatever the threshold rule)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Evaluation", "best_threshold_accuracy", "evaluate_detector", "validation_metrics"]


@dataclass
class Evaluation:
    """One model's results on the test file: metrics, plus the scores and alarms behind them (for plots)."""

    metrics: dict[str, float | int | None]
    scores: np.ndarray = field(repr=False)
    alarms: np.ndarray = field(repr=False)


def best_threshold_accuracy(scores: np.ndarray, is_attack: np.ndarray) -> float:
    """The highest accuracy that alarms ``score > t`` reach over every threshold ``t``, found with the
    very labels it is measured on.

    A diagnosis, never a choice: it separates what a detector loses in its
    score's ranking (no threshold does better than this) from what it loses
    in its threshold (the gap between this and the accuracy at the threshold
    chosen on validation). Cuts fall between distinct scores, or alarm on
    everything or nothing.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(is_attack, dtype=bool)
    if scores.shape != y.shape or scores.ndim != 1 or len(y) == 0:
        raise ValueError(
            f"best_threshold_accuracy: scores {scores.shape} and labels {y.shape} "
            "must be one non-empty 1-D shape"
        )
    if not np.isfinite(scores).all():
        raise ValueError("best_threshold_accuracy: the scores hold NaN or infinity")
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], y[order]
    # cut k: the k lowest scores pass, the rest raise alarms; correct = normals passed + attacks alarmed
    normals_passed = np.concatenate([[0], np.cumsum(~y)])
    attacks_alarmed = y.sum() - np.concatenate([[0], np.cumsum(y)])
    cut = np.ones(len(s) + 1, dtype=bool)
    cut[1:-1] = s[:-1] < s[1:]  # a cut inside a run of equal scores is no threshold
    return float((normals_passed + attacks_alarmed)[cut].max() / len(s))


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
    ``best_threshold_accuracy`` (:func:`best_threshold_accuracy`) is the most
    any threshold on these scores could give, found with the test labels: a
    diagnosis of the score, not a figure the detector reaches.
    """
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    y = labels != "normal"
    alarms = np.asarray(alarms, dtype=bool)
    unseen = y & ~np.isin(labels, sorted(train_labels))
    seen = y & ~unseen
    both = 0 < y.sum() < len(y)
    metrics: dict[str, float | int | None] = {
        "accuracy": float(accuracy_score(y, alarms)),
        "best_threshold_accuracy": best_threshold_accuracy(scores, y),
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


def validation_metrics(
    scores: np.ndarray, threshold: float, labels: np.ndarray, min_count: int = 10
) -> dict[str, float | dict[str, float]]:
    """What the validation split says of a detector's ``scores`` at ``threshold`` (the figures it was
    chosen by): balanced accuracy, the type-balanced accuracy of
    :mod:`~chainrule.apps.traffic.thresholds` (attack types with ``min_count``+ records), ROC-AUC,
    the false positive rate and each such type's detection rate."""
    from sklearn.metrics import roc_auc_score

    scores = np.asarray(scores, dtype=np.float64)
    y = labels != "normal"
    alarms = scores > threshold
    types, counts = np.unique(labels[y], return_counts=True)
    per_type = {str(t): float(alarms[labels == t].mean()) for t in types[counts >= min_count]}
    tnr = float((~alarms[~y]).mean())
    mean_tpr = float(np.mean(list(per_type.values()))) if per_type else float(alarms[y].mean())
    return {
        "balanced_accuracy": (tnr + float(alarms[y].mean())) / 2,
        "type_balanced_accuracy": (tnr + mean_tpr) / 2,
        "roc_auc": float(roc_auc_score(y, scores)),
        "false_positive_rate": 1.0 - tnr,
        "detection_rate_by_type": per_type,
    }
