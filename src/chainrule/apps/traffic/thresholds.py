"""Alarm thresholds chosen on validation records, where every attack type counts alike.

:func:`~chainrule.apps.traffic.models.choose_threshold` maximises balanced
accuracy: the mean of the share of normals let through and the share of
attacks caught. On NSL-KDD's validation records the attacks are mostly one
type (``neptune``, a SYN flood that any detector sees): the threshold it
picks is tuned to catch SYN floods, and it sits above the subtler attack
types. Traffic to come holds an unknown mix of attack types, some never seen
in training, so here each attack type with enough validation records weighs
as much as any other: the threshold maximises the mean of the normals' true
negative rate and the *mean over attack types* of their detection rates.
"""

from __future__ import annotations

import numpy as np

__all__ = ["choose_type_balanced_threshold"]


def choose_type_balanced_threshold(
    scores: np.ndarray, labels: np.ndarray, min_count: int = 10, normal: str = "normal"
) -> float:
    """The threshold on validation ``scores`` (alarm: score > threshold) that maximises
    ``(TNR + mean over attack types of TPR) / 2``.

    ``labels`` name each record's type (``normal`` or the attack). Attack types
    with fewer than ``min_count`` records are too few to measure a rate: they
    are left out, and when no type has that many, all attacks count as one
    type (plain balanced accuracy). Candidates are midpoints between
    consecutive distinct scores.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError(
            f"choose_type_balanced_threshold: scores {scores.shape} and labels {labels.shape} "
            "must be the same 1-D shape"
        )
    is_normal = labels == normal
    if is_normal.all() or not is_normal.any():
        raise ValueError(
            "choose_type_balanced_threshold: the validation records need both normal and attack records, "
            f"got {int(is_normal.sum())} normal and {int((~is_normal).sum())} attack"
        )
    types, counts = np.unique(labels[~is_normal], return_counts=True)
    groups = [labels == t for t in types[counts >= min_count]] or [~is_normal]
    values = np.unique(scores)
    cand = (values[:-1] + values[1:]) / 2 if len(values) > 1 else values
    tnr = np.searchsorted(np.sort(scores[is_normal]), cand, side="right") / is_normal.sum()
    tpr = np.mean(
        [1.0 - np.searchsorted(np.sort(scores[g]), cand, side="right") / g.sum() for g in groups], axis=0
    )
    return float(cand[int(np.argmax(tnr + tpr))])
