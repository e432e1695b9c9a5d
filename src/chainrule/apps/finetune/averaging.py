"""Checkpoint averaging: the element-wise mean of the weights after the last few epochs.

Fine-tuning ends with the learning rate decaying to zero, so the weights after
the last epochs lie close together in one basin; their mean sits nearer its
centre than any one of them and often generalises a little better. The model
has no BatchNorm (LayerNorm only), so the averaged weights need no
re-estimated statistics: they are used as they are.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np

from chainrule.train import Callback, Trainer

__all__ = ["LastWeights", "average_states"]


def average_states(states: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The element-wise mean of state dicts with the same keys and shapes.

    Floating-point entries are averaged (summed in float64, returned in their
    own dtype); other entries (integer buffers, counters) are taken from the
    last state, as averaging them means nothing.
    """
    if not states:
        raise ValueError("average_states: expected at least one state dict, got none")
    keys = list(states[-1])
    for i, state in enumerate(states):
        if set(state) != set(keys):
            diff = sorted(set(state) ^ set(keys))
            raise ValueError(f"average_states: state {i} has other keys than the last one: {diff[:5]}")
        for key in keys:
            if np.shape(state[key]) != np.shape(states[-1][key]):
                raise ValueError(
                    f"average_states: {key!r} has shape {np.shape(state[key])} in state {i}, "
                    f"expected {np.shape(states[-1][key])} as in the last state"
                )
    out = {}
    for key in keys:
        last = np.asarray(states[-1][key])
        if np.issubdtype(last.dtype, np.floating):
            total = np.zeros(last.shape, dtype=np.float64)
            for state in states:
                total += state[key]
            out[key] = (total / len(states)).astype(last.dtype)
        else:
            out[key] = last.copy()
    return out


class LastWeights(Callback):
    """Copies of the model's weights after each of the last ``n`` epochs (oldest first in ``states``)."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"LastWeights: n must be at least 1, got {n}")
        self.states: deque[dict[str, np.ndarray]] = deque(maxlen=n)
        self.epochs: deque[int] = deque(maxlen=n)

    def on_train_begin(self, trainer: Trainer, logs: dict | None = None) -> None:
        self.states.clear()
        self.epochs.clear()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict | None = None) -> None:
        self.states.append({k: v._array.copy() for k, v in trainer.model.state_dict().items()})
        self.epochs.append(epoch)
