"""Pictures of training: learning curves and the learning-rate range test, as image files.

matplotlib is imported only when a picture is drawn. Figures are built with
matplotlib's object API on an Agg canvas, never through ``pyplot``, so drawing
here neither switches the backend of the user's session (a notebook keeps its
inline plots) nor leaves figures open. Files are written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainrule.io import atomic_path
from chainrule.train.diagnosis import overfitting_epoch

if TYPE_CHECKING:
    from chainrule.train.history import History

__all__ = ["history_figure", "new_figure", "plot_history", "plot_lr_finder", "save_figure"]

_TRAIN_COLOR = "tab:blue"
_VAL_COLOR = "tab:orange"
_MARK_COLOR = "tab:red"


def new_figure(width: float, height: float) -> Any:
    """A Figure on an Agg canvas (matplotlib imported here, lazily)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names (PNG when it has none).

    The image goes to a temporary file beside ``path`` and replaces it in one
    rename, so a reader never sees half a picture.
    """
    target = Path(os.fspath(path))
    fmt = target.suffix.lstrip(".").lower() or "png"
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(
            f"save_figure: cannot write a {fmt!r} image to {str(target)!r}; "
            f"use one of the suffixes {', '.join('.' + k for k in sorted(supported))}"
        )
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return target


def _finite(values: Sequence[float]) -> list[float]:
    """NaN for every non-finite value, so matplotlib leaves a gap instead of stretching the axis to inf."""
    return [v if math.isfinite(v) else math.nan for v in values]


def _panels(history: History) -> list[str]:
    """Base names to draw, one panel each: ``loss`` first, then the metrics in recorded order, ``lr`` last."""
    names: list[str] = []
    for key in history.history:
        base = key[4:] if key.startswith("val_") else key
        if base not in names:
            names.append(base)
    ordered = [n for n in names if n == "loss"] + [n for n in names if n not in ("loss", "lr")]
    return ordered + [n for n in names if n == "lr"]


def _title(name: str) -> str:
    return {"loss": "loss", "lr": "learning rate"}.get(name, name.replace("_", " "))


def plot_history(
    history: History,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    overfit_epoch: int | str | None = "auto",
) -> Path:
    """Draw the learning curves of ``history`` into one image at ``path``; return the path.

    The picture is :func:`history_figure`'s, written atomically.
    """
    return save_figure(history_figure(history, title=title, overfit_epoch=overfit_epoch), path)


def history_figure(
    history: History, *, title: str | None = None, overfit_epoch: int | str | None = "auto"
) -> Any:
    """The learning curves of ``history`` as a Figure (``cr.viz.learning_curves``; ``History.plot`` saves it).

    One panel for the loss and one per metric, training (``x``) against
    validation (``val_x``), epochs on the x axis; ``lr``, when recorded, gets a
    log-scale panel of its own. The epoch where overfitting began
    (``overfit_epoch="auto"``: found by :func:`overfitting_epoch`; an int to
    choose it; None for no mark) is marked with a labelled vertical line.
    """
    epochs = list(history.epochs)
    if not epochs:
        raise ValueError("History.plot: nothing to plot, the history has no epochs recorded")
    if overfit_epoch == "auto":
        overfit_epoch = overfitting_epoch(history)
    elif overfit_epoch is not None and (
        isinstance(overfit_epoch, bool) or not isinstance(overfit_epoch, int)
    ):
        raise TypeError(f"History.plot: overfit_epoch must be an int, None or 'auto', got {overfit_epoch!r}")

    names = _panels(history)
    ncols = min(len(names), 3)
    nrows = math.ceil(len(names) / ncols)
    fig = new_figure(4.8 * ncols, 3.4 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    marker = "o" if len(epochs) <= 30 else None
    for i, (ax, name) in enumerate(zip(axes, names)):
        train_label = "learning rate" if name == "lr" else "train"
        for key, label, color in (
            (name, train_label, _TRAIN_COLOR),
            ("val_" + name, "validation", _VAL_COLOR),
        ):
            if key in history.history:
                ax.plot(epochs, _finite(history.history[key]), color=color, label=label, marker=marker, ms=3)
        if name == "lr":
            ax.set_yscale("log")
        if overfit_epoch is not None:
            # every panel shows the line; the first (the loss) names it in its legend
            label = f"overfitting from epoch {overfit_epoch}" if i == 0 else None
            ax.axvline(overfit_epoch, color=_MARK_COLOR, linestyle="--", linewidth=1, label=label)
        ax.set_title(_title(name))
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize="small")
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(title if title is not None else "Learning curves")
    return fig


def plot_lr_finder(
    lrs: Sequence[float],
    losses: Sequence[float],
    suggested_lr: float | None,
    path: str | os.PathLike,
    *,
    title: str | None = None,
) -> Path:
    """Draw the smoothed loss against the learning rate (log axis), the suggestion marked; return the path."""
    if len(lrs) == 0:
        raise ValueError("LRFinderResult.plot: nothing to plot, the range test recorded no points")
    fig = new_figure(6.4, 4.2)
    ax = fig.subplots()
    ax.plot(list(lrs), _finite(losses), color=_TRAIN_COLOR, label="smoothed loss")
    ax.set_xscale("log")
    if suggested_lr is not None:
        i = min(range(len(lrs)), key=lambda k: abs(math.log(lrs[k] / suggested_lr)))
        ax.axvline(suggested_lr, color=_MARK_COLOR, linestyle="--", linewidth=1)
        ax.plot([lrs[i]], [losses[i]], "o", color=_MARK_COLOR, label=f"suggested lr = {suggested_lr:.3g}")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title if title is not None else "Learning-rate range test")
    return save_figure(fig, path)
