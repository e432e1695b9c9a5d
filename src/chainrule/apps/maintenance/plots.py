"""Pictures of a maintenance study: predicted against true RUL per test engine, and the service decision.

Drawn on matplotlib's Agg canvas without pyplot (as :mod:`chainrule.train.plots`)
and written atomically as PNG files.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from chainrule.train.plots import new_figure, save_figure

__all__ = ["plot_maintenance", "plot_predictions"]


def plot_predictions(path: str | os.PathLike, true: np.ndarray, predictions: dict[str, np.ndarray]) -> Path:
    """One panel per model: every test engine's true RUL (sorted) and the model's prediction for it."""
    order = np.argsort(true, kind="stable")
    x = np.arange(1, len(true) + 1)
    ncols = min(len(predictions), 2)
    nrows = math.ceil(len(predictions) / ncols)
    fig = new_figure(6.0 * ncols, 3.6 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
    for ax, (name, pred) in zip(axes, predictions.items()):
        err = float(np.sqrt(np.mean((pred - true) ** 2)))
        ax.plot(x, true[order], color="black", lw=1.5, label="true RUL")
        ax.scatter(x, pred[order], s=10, color="tab:blue", label="predicted")
        ax.vlines(x, true[order], pred[order], color="tab:blue", alpha=0.25, lw=0.8)
        ax.set_title(f"{name} (RMSE {err:.1f})")
        ax.set_xlabel("test engine, sorted by true RUL")
        ax.set_ylabel("RUL (cycles)")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    for ax in axes[len(predictions) :]:
        ax.set_visible(False)
    return save_figure(fig, path)


def plot_maintenance(
    path: str | os.PathLike, true: np.ndarray, pred: np.ndarray, within: float, model: str
) -> Path:
    """Predicted against true RUL with the service threshold on both axes: hits, false alarms, misses."""
    fig = new_figure(6.0, 5.0)
    ax = fig.subplots()
    flagged, due = pred <= within, true <= within
    groups = (
        (flagged & due, "tab:green", "serviced, was due"),
        (flagged & ~due, "tab:orange", "serviced, not yet due"),
        (~flagged & due, "tab:red", "missed: due, not serviced"),
        (~flagged & ~due, "tab:gray", "left in service, not due"),
    )
    for mask, color, label in groups:
        ax.scatter(true[mask], pred[mask], s=18, color=color, label=f"{label} ({int(mask.sum())})")
    top = float(max(true.max(), pred.max(), within)) * 1.05
    ax.plot([0, top], [0, top], color="black", lw=0.8, alpha=0.5)
    ax.axvline(within, color="black", ls="--", lw=0.8)
    ax.axhline(within, color="black", ls="--", lw=0.8)
    precision = _ratio(flagged & due, flagged)
    recall = _ratio(flagged & due, due)
    ax.set_title(f"service within {within:g} cycles ({model}): precision {precision}, recall {recall}")
    ax.set_xlabel("true RUL (cycles)")
    ax.set_ylabel("predicted RUL (cycles)")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def _ratio(part: np.ndarray, whole: np.ndarray) -> str:
    """``part/whole`` as a two-decimal string, or "n/a" when ``whole`` is empty."""
    n = int(whole.sum())
    return f"{int(part.sum()) / n:.2f}" if n else "n/a"
