"""Feeding data to a model, as ``torch.utils.data``: datasets, samplers, collation and the DataLoader.

``chainrule.data.datasets`` holds loaders for real datasets (the bundled digits,
and a checked, cached downloader for the others).
"""

from chainrule.data import datasets
from chainrule.data.collate import default_collate, default_convert
from chainrule.data.dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from chainrule.data.inspection import DataReport, inspect
from chainrule.data.loader import DataLoader
from chainrule.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = [
    "BatchSampler",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "datasets",
    "inspect",
    "DataReport",
    "default_collate",
    "default_convert",
    "random_split",
]
