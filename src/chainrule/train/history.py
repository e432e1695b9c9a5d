"""History: what training recorded, one value per epoch under Keras's names.

Besides the record itself it reads and draws the run: ``to_csv`` (the format
the trainer's CSV log shares), ``plot`` (learning curves as an image) and
``diagnose`` (a verdict such as overfitting, with its numbers).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainrule.io import atomic_write

if TYPE_CHECKING:
    from chainrule.train.diagnosis import Diagnosis

__all__ = ["History", "csv_value"]


def csv_value(value: float) -> str:
    """One value as a CSV cell: the shortest text that reads back as the same float (``nan``, ``inf`` too)."""
    return repr(float(value))


class History:
    """``history["loss"]``, ``history["val_loss"]``, ``history["accuracy"]``...: one float per epoch.

    ``epochs`` lists the (1-based) epochs recorded, ``stopped_reason`` says why
    training ended early (``"early_stopping"``, ``"diverged"``, ``"interrupted"``)
    or is None when it ran all its epochs.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.stopped_reason: str | None = None
        self.stopped_message: str | None = None

    def record(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Add one epoch's values; a name missing at some epochs is padded with NaN so lists stay aligned."""
        n = len(self.epochs)
        for name in logs:
            if name not in self.history:
                self.history[name] = [math.nan] * n
        for name, values in self.history.items():
            values.append(float(logs[name]) if name in logs else math.nan)
        self.epochs.append(int(epoch))

    def __getitem__(self, name: str) -> list[float]:
        return self.history[name]

    def __len__(self) -> int:
        return len(self.epochs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy (checkpoints store it so a resumed run continues the same curves)."""
        return {
            "history": {k: list(v) for k, v in self.history.items()},
            "epochs": list(self.epochs),
            "stopped_reason": self.stopped_reason,
            "stopped_message": self.stopped_message,
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> History:
        h = cls()
        h.history = {k: [float(x) for x in v] for k, v in state["history"].items()}
        h.epochs = [int(e) for e in state["epochs"]]
        h.stopped_reason = state.get("stopped_reason")
        h.stopped_message = state.get("stopped_message")
        return h

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write an ``epoch`` column and one column per name (recorded order) to ``path``, atomically.

        Values are written exactly (``csv_value``), so :meth:`from_csv` reads
        back the same floats; the trainer's CSV log uses the same layout.
        """
        target = Path(os.fspath(path))
        names = list(self.history)
        with atomic_write(target, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["epoch", *names])
            for i, epoch in enumerate(self.epochs):
                writer.writerow([epoch, *(csv_value(self.history[k][i]) for k in names)])
        return target

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> History:
        """Read a file written by :meth:`to_csv` (or the trainer's CSV log); empty cells read as NaN."""
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        if not rows or not rows[0] or rows[0][0] != "epoch":
            raise ValueError(f"History.from_csv: {os.fspath(path)!r} has no header row starting with 'epoch'")
        names = rows[0][1:]
        h = cls()
        h.history = {k: [] for k in names}
        for line, row in enumerate(rows[1:], start=2):
            if len(row) != len(names) + 1:
                raise ValueError(
                    f"History.from_csv: line {line} of {os.fspath(path)!r} has {len(row)} cells, "
                    f"the header has {len(names) + 1}"
                )
            h.epochs.append(int(row[0]))
            for k, cell in zip(names, row[1:]):
                h.history[k].append(float(cell) if cell.strip() else math.nan)
        return h

    def plot(
        self, path: str | os.PathLike, *, title: str | None = None, overfit_epoch: int | str | None = "auto"
    ) -> Path:
        """Draw the learning curves into one image at ``path`` (PNG unless its suffix names another format).

        One panel for the loss and one per metric, train against validation
        by epoch, the epoch where overfitting began marked with a labelled
        line (``overfit_epoch="auto"`` finds it, an int sets it, None drops
        it); written atomically. See :func:`chainrule.train.plots.plot_history`.
        """
        from chainrule.train.plots import plot_history

        return plot_history(self, path, title=title, overfit_epoch=overfit_epoch)

    def diagnose(self, patience: int = 3) -> Diagnosis:
        """A verdict on the run (``diverged``, ``lr_too_high``, ``overfitting``, ...) with numbers and advice.

        ``print(history.diagnose())`` says it in plain language; the rules are
        in :func:`chainrule.train.diagnose.diagnose`.
        """
        from chainrule.train.diagnosis import diagnose

        return diagnose(self, patience=patience)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epochs)}, keys={list(self.history)})"
