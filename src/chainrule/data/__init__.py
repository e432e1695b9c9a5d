"""Feeding data to a model, as ``torch.utils.data``: datasets, samplers, collation and the DataLoader.

``chainrule.data.datasets`` holds loaders for real datasets (the bundled digits,
and a checked, cached downloader for the others).
"""

from chainrule.data import datasets, transforms
from chainrule.data.collate import default_collate, default_convert
from chainrule.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
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

__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "datasets",
    "transforms",
    "inspect",
    "DataReport",
    "default_collate",
    "default_convert",
    "random_split",
    "SlidingWindowDataset",
    "collate_sequences",
    "detach_state",
    "lengths_to_mask",
    "pad_sequences",
    "tbptt_batches",
]
