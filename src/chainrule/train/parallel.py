"""Replicas: how the Trainer runs as one of several processes, without knowing how they talk.

The Trainer asks :func:`current` when ``fit`` starts. By default it is the
only replica (rank 0 of 1) and nothing changes.
``chainrule.distributed.init_process_group()`` installs replicas that talk
over MPI: they shard the loaders, wrap the model in DistributedDataParallel
and sum values across the processes. ``train`` sits below ``distributed`` in
the layers, so it defines this small interface and never imports MPI.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

__all__ = ["GatheredMetric", "Replicas", "current", "install"]


class Replicas:
    """One process training alone: every method is the identity. Subclassed by chainrule.distributed."""

    rank: int = 0
    world_size: int = 1

    def wrap(self, model: Any) -> Any:
        """The model the training steps call (DistributedDataParallel around ``model`` when parallel)."""
        return model

    def shard(self, loader: Any, train: bool) -> Any:
        """The part of ``loader``'s data this rank sees (training shards shuffle when the loader does)."""
        return loader

    def sum(self, values: np.ndarray) -> np.ndarray:
        """``values`` (float64) summed over the ranks, the same on every rank."""
        return values

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order."""
        return [obj]


_current: Replicas = Replicas()


def current() -> Replicas:
    """The replicas this process belongs to (a lone one unless chainrule.distributed installed others)."""
    return _current


def install(replicas: Replicas | None) -> None:
    """Make ``replicas`` the current ones (None: back to training alone)."""
    global _current
    _current = Replicas() if replicas is None else replicas


class GatheredMetric:
    """A metric whose epoch value is computed over every rank's batches, exactly as over one big epoch.

    ``update`` feeds the wrapped metric (whose ``compute`` stays the local,
    running value a progress bar shows) and keeps the batch;
    ``compute_global`` gathers the batches of all ranks and computes a fresh
    copy of the metric over them, so any metric (ROC-AUC included) is global.
    """

    def __init__(self, metric: Any, replicas: Replicas) -> None:
        self.metric, self.replicas = metric, replicas
        self.name = metric.name
        self.higher_is_better = getattr(metric, "higher_is_better", True)
        self._batches: list[tuple[np.ndarray, np.ndarray]] = []

    def reset(self) -> None:
        self.metric.reset()
        self._batches = []

    def update(self, output: Any, target: Any) -> None:
        self.metric.update(output, target)
        self._batches.append((np.asarray(output), np.asarray(target)))

    def compute(self) -> float:
        return self.metric.compute()

    def compute_global(self) -> float:
        fresh = copy.deepcopy(self.metric)
        fresh.reset()
        for batches in self.replicas.gather(self._batches):
            for output, target in batches:
                fresh.update(output, target)
        return fresh.compute()
