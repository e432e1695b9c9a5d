"""Feeding data to a model, as ``torch.utils.data``: datasets, samplers, collation and the DataLoader.

``DataLoader(..., num_workers=N)`` makes batches in worker processes; code
running in one asks :func:`get_worker_info` which it is (to shard an
:class:`IterableDataset`, for one).

``chainrule.data.datasets`` holds loaders for real datasets (the bundled digits,
and a checked, cached downloader for the others).
"""

from chainrule.data import datasets, transforms
from chainrule.data.collate import default_collate, default_convert, move_to_device
from chainrule.data.dataset import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
from chainrule.data.inspection import DataReport, inspect
from chainrule.data.loader import DataLoader
from chainrule.data.sampler import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from chainrule.data.sequences import (
    SlidingWindowDataset,
    collate_sequences,
    detach_state,
    lengths_to_mask,
    pad_sequences,
    tbptt_batches,
)
from chainrule.data.worker import WorkerInfo, get_worker_info

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "WorkerInfo",
    "datasets",
    "move_to_device",
    "transforms",
    "inspect",
    "DataReport",
    "default_collate",
    "default_convert",
    "random_split",
    "get_worker_info",
    "SlidingWindowDataset",
    "collate_sequences",
    "detach_state",
    "lengths_to_mask",
    "pad_sequences",
    "tbptt_batches",
]
