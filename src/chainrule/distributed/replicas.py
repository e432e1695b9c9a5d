"""The Trainer's view of the MPI world: shards, a wrapped model, sums across ranks (see train/parallel.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.data.loader import DataLoader
from chainrule.data.sampler import DistributedSampler, RandomSampler
from chainrule.distributed import process_group as pg
from chainrule.distributed.ddp import DistributedDataParallel
from chainrule.train.parallel import Replicas

__all__ = ["MPIReplicas"]


class MPIReplicas(Replicas):
    """Installed by ``init_process_group``: the Trainer on each rank trains its shard of a DDP model."""

    def __init__(self) -> None:
        self.rank = pg.get_rank()
        self.world_size = pg.get_world_size()

    def wrap(self, model: Any) -> Any:
        if self.world_size == 1 or isinstance(model, DistributedDataParallel):
            return model
        return DistributedDataParallel(model)

    def shard(self, loader: Any, train: bool) -> Any:
        """Training: a DistributedSampler (padded, shuffled like the loader); else exact shards."""
        if loader is None or self.world_size == 1:
            return loader
        if isinstance(loader, list | tuple):  # a list of batches: every world_size-th batch
            return list(loader[self.rank :: self.world_size])
        if not isinstance(loader, DataLoader) or loader.batch_size is None:
            raise TypeError(
                f"Trainer: under mpiexec the loaders are split across ranks, which needs a DataLoader with a "
                f"batch_size (or a list of batches); got {type(loader).__name__}. Give each rank its own "
                "loader with a chainrule.data.DistributedSampler and run it without init_process_group"
            )
        n = len(loader.dataset)
        if train:
            shuffle = isinstance(loader.sampler, RandomSampler)
            sampler: Any = DistributedSampler(loader.dataset, self.world_size, self.rank, shuffle=shuffle)
        else:  # no padding: every sample is evaluated exactly once over the ranks
            sampler = list(range(self.rank, n, self.world_size))
        return DataLoader(
            loader.dataset, batch_size=loader.batch_size, sampler=sampler, num_workers=loader.num_workers,
            collate_fn=loader.collate_fn, drop_last=loader.drop_last, transform=loader.transform,
        )  # fmt: skip

    def sum(self, values: np.ndarray) -> np.ndarray:
        return pg.all_reduce_array(np.ascontiguousarray(values, dtype=np.float64), pg.ReduceOp.SUM)

    def gather(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.world_size
        pg.all_gather_object(out, obj)
        return out
