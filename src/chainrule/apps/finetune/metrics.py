"""Eval figures: accuracy and macro F1, computed by chainrule's streaming metrics (scikit-learn's values)."""

from __future__ import annotations

import numpy as np

from chainrule.train.metrics import F1, Accuracy

__all__ = ["classification_figures"]


def classification_figures(scores: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """``eval_accuracy`` and ``eval_f1`` (macro over classes) of ``(N, C)`` scores against class ids."""
    figures = {}
    for key, metric in (("eval_accuracy", Accuracy()), ("eval_f1", F1(average="macro"))):
        metric.update(np.asarray(scores), np.asarray(targets, dtype=np.int64))
        figures[key] = round(float(metric.compute()), 6)
    return figures

