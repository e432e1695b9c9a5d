"""Learning curves, drawn by the training toolkit's own plotting (``History.plot``), as a Figure."""

from __future__ import annotations

from typing import Any

from chainrule.train.history import History
from chainrule.train.plots import history_figure

__all__ = ["learning_curves"]


def learning_curves(
    history: History, *, title: str | None = None, overfit_epoch: int | str | None = "auto"
) -> Any:
    """Training against validation loss and metrics by epoch, overfitting's start marked; returns the Figure.

    The same picture ``History.plot(path)`` writes to a file (see
    :func:`chainrule.train.plots.history_figure`).
    """
    if not isinstance(history, History):
        raise TypeError(
            "learning_curves: expected a train.History (what Trainer.fit returns), "
            f"got {type(history).__name__}"
        )
    return history_figure(history, title=title, overfit_epoch=overfit_epoch)
