"""History: what training recorded, one value per epoch under Keras's names."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["History"]


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

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epochs)}, keys={list(self.history)})"
