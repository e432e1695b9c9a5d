"""The report's pictures: ROC and precision-recall curves of every model, reconstruction-error histograms.

Drawn on matplotlib's Agg canvas without pyplot, written atomically (the
project's way, see :mod:`chainrule.train.plots`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from chainrule.apps.traffic.evaluate import Evaluation
from chainrule.train.plots import new_figure, save_figure

__all__ = ["plot_curves", "plot_error_histogram"]


def plot_curves(results: Mapping[str, Evaluation], y: np.ndarray, path: str | os.PathLike) -> Path:
    """ROC (left) and precision-recall (right) curves of each model (``y``: attack=True)."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    fig = new_figure(11, 4.6)
    roc_ax, pr_ax = fig.subplots(1, 2)
    for name, ev in results.items():
        auc = ev.metrics.get("roc_auc")
        fpr, tpr, _ = roc_curve(y, ev.scores)
        roc_ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})" if auc is not None else name)
        precision, recall, _ = precision_recall_curve(y, ev.scores)
        pr_ax.plot(recall, precision, label=name)
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate (detection rate)", title="ROC")
    pr_ax.axhline(float(np.mean(y)), color="grey", linestyle=":", linewidth=1, label="always attack")
    pr_ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (attack = positive)")
    for ax in (roc_ax, pr_ax):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_error_histogram(
    errors: np.ndarray,
    y: np.ndarray,
    threshold: float,
    path: str | os.PathLike,
    log_scale: bool = True,
    xlabel: str = "reconstruction error (mean squared)",
) -> Path:
    """Histograms of the detector's anomaly score, normal vs attack, threshold marked; ``log_scale``
    for a positive score spanning orders of magnitude, linear bins otherwise (the hybrid's z-score)."""
    fig = new_figure(7, 4.4)
    ax = fig.subplots()
    if log_scale:
        positive = errors[errors > 0]
        lo = positive.min() if len(positive) else 1e-6
        hi = max(errors.max(), lo * 10)
        bins = np.geomspace(lo, hi, 60)  # errors span orders of magnitude: log-spaced bins
    else:
        lo, hi = np.percentile(errors, [0.5, 99.5]) if len(errors) else (0.0, 1.0)
        hi = max(hi, threshold, lo + 1e-6)
        lo = min(lo, threshold)
        bins = np.linspace(lo, hi, 60)
    clipped = np.clip(errors, lo, hi)
    ax.hist(clipped[~y], bins=bins, alpha=0.6, label=f"normal ({int((~y).sum())})", color="tab:blue")
    ax.hist(clipped[y], bins=bins, alpha=0.6, label=f"attack ({int(y.sum())})", color="tab:red")
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    if log_scale:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel="records", title="Anomaly score: normal vs attack")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return save_figure(fig, path)
