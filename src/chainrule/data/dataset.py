"""Datasets: indexable collections of samples, as ``torch.utils.data``.

A dataset maps an index to a sample (usually an ``(input, target)`` tuple);
an :class:`IterableDataset` is a stream of samples instead (lines of a file,
records from a socket), which each DataLoader worker iterates on its own copy.
:class:`TensorDataset` wraps tensors that share a first dimension; the
:class:`~chainrule.data.DataLoader` recognises it (and :class:`Subset` views of
it) and cuts whole batches with one fancy index per tensor instead of stacking
samples one by one. :func:`random_split` draws from chainrule's seeded
generator, so ``cr.manual_seed`` makes a split reproducible.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from chainrule import random as _random
from chainrule.creation import as_tensor
from chainrule.tensor import Tensor
from chainrule.validation import is_int

T_co = TypeVar("T_co", covariant=True)


class Dataset(ABC, Generic[T_co]):
    """The base of map-style datasets: subclasses define ``__getitem__`` (and usually ``__len__``).

    ``a + b`` concatenates two datasets. ``__len__`` is not required by the
    base (a sampler may know the indices), but ``DataLoader`` needs it for its
    default samplers and ``len(loader)``.
    """

    @abstractmethod
    def __getitem__(self, index: Any) -> T_co:
        """The sample at ``index``."""

    def __add__(self, other: Dataset[T_co]) -> ConcatDataset[T_co]:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """A stream of samples: subclasses define ``__iter__``, as ``torch.utils.data.IterableDataset``.

    The DataLoader iterates it instead of indexing it, so it takes no sampler and
    no ``shuffle``. With ``num_workers=0`` it is iterated directly; with workers
    each worker iterates its own copy, so a dataset that does not shard itself
    (with :func:`chainrule.data.get_worker_info`: ``id`` and ``num_workers``)
    yields every sample once per worker. Batches from the workers are
    interleaved round-robin, as PyTorch does. ``a + b`` chains two streams.
    """

    def __getitem__(self, index: Any) -> T_co:
        raise TypeError(
            f"{type(self).__name__} is an IterableDataset, a stream without random access: iterate it "
            "instead of indexing it"
        )

    def __iter__(self) -> Iterator[T_co]:
        raise TypeError(f"{type(self).__name__}: an IterableDataset subclass must define __iter__")

    def __add__(self, other: Dataset[T_co]) -> ChainDataset[T_co]:
        return ChainDataset([self, other])


class ChainDataset(IterableDataset[T_co]):
    """Several iterable datasets one after another (what ``a + b`` gives for streams)."""

    def __init__(self, datasets: Iterable[Dataset[T_co]]) -> None:
        self.datasets = list(datasets)
        for i, d in enumerate(self.datasets):
            if not isinstance(d, IterableDataset):
                raise TypeError(
                    f"ChainDataset: dataset {i} is a {type(d).__name__}; only IterableDatasets can be chained"
                )

    def __iter__(self) -> Iterator[T_co]:
        for d in self.datasets:
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)  # type: ignore[arg-type]


class TensorDataset(Dataset[tuple[Tensor, ...]]):
    """Samples are slices along the first dimension of each tensor: ``ds[i] == (t[i] for t in tensors)``.

    NumPy arrays are accepted too and wrapped without copying.
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        ts = []
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                if not isinstance(t, np.ndarray):
                    raise TypeError(f"TensorDataset: argument {i} is a {type(t).__name__}, expected a Tensor")
                t = as_tensor(t)
            if t.ndim == 0:
                raise ValueError(
                    f"TensorDataset: tensor {i} is 0-d; every tensor needs a first (sample) dimension"
                )
            ts.append(t)
        n = ts[0].shape[0]
        for i, t in enumerate(ts):
            if t.shape[0] != n:
                raise ValueError(
                    f"TensorDataset: size mismatch: tensor 0 has {n} samples (first dimension) "
                    f"but tensor {i} has {t.shape[0]} (shape {t.shape})"
                )
        self.tensors: tuple[Tensor, ...] = tuple(ts)

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


def _samples_at(dataset: Any, indices: list[int]) -> list[Any]:
    """``dataset``'s samples at ``indices``: its ``__getitems__`` when it has one (a batch in one call),
    else one ``__getitem__`` each."""
    getitems = getattr(dataset, "__getitems__", None)
    if getitems is not None:
        return getitems(indices)
    return [dataset[i] for i in indices]


class Subset(Dataset[T_co]):
    """The samples of ``dataset`` at ``indices``, in that order (a view: nothing is copied)."""

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: Any) -> T_co:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        """Samples at several indices, through the wrapped dataset's ``__getitems__`` when it has one."""
        return _samples_at(self.dataset, [self.indices[i] for i in indices])

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset[T_co]):
    """Several datasets one after another; ``cumulative_sizes[i]`` is where dataset ``i`` ends."""

    def __init__(self, datasets: Iterable[Dataset[T_co]]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for i, d in enumerate(self.datasets):
            if isinstance(d, IterableDataset):
                raise TypeError(
                    f"ConcatDataset: dataset {i} is an IterableDataset ({type(d).__name__}), which has no "
                    "random access; chain streams with ChainDataset (or a + b)"
                )
            if not hasattr(d, "__len__") or not hasattr(d, "__getitem__"):
                raise TypeError(
                    f"ConcatDataset: dataset {i} ({type(d).__name__}) needs __getitem__ and __len__"
                )
        self.cumulative_sizes: list[int] = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> T_co:
        n = self.cumulative_sizes[-1]
        idx = operator.index(idx)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f"ConcatDataset: index {idx} is out of range for {n} samples")
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][idx - start]


class StackDataset(Dataset[Any]):
    """Several datasets of one length side by side, as ``torch.utils.data.StackDataset``: sample ``i``
    is the tuple of their samples ``i`` (datasets given by position) or the dict of them (by name).

    ``StackDataset(images, labels)[3] == (images[3], labels[3])``;
    ``StackDataset(x=images, y=labels)[3] == {"x": images[3], "y": labels[3]}``.
    """

    def __init__(self, *args: Dataset[Any], **kwargs: Dataset[Any]) -> None:
        if args and kwargs:
            raise ValueError(
                "StackDataset: give the datasets by position (tuple samples) or by name (dict samples), "
                "not both"
            )
        if not args and not kwargs:
            raise ValueError("StackDataset: at least one dataset should be passed")
        named = dict(kwargs) if kwargs else {str(i): d for i, d in enumerate(args)}
        for name, d in named.items():
            if not hasattr(d, "__len__") or not hasattr(d, "__getitem__"):
                raise TypeError(
                    f"StackDataset: dataset {name} ({type(d).__name__}) needs __getitem__ and __len__"
                )
        lengths = {name: len(d) for name, d in named.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"StackDataset: size mismatch between datasets, lengths {lengths}")
        self.datasets: tuple[Dataset[Any], ...] | dict[str, Dataset[Any]] = dict(kwargs) if kwargs else args
        self._length = next(iter(lengths.values()))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(self.datasets, dict):
            return {name: d[index] for name, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __getitems__(self, indices: list[int]) -> list[Any]:
        """Samples at several indices: each dataset fetched once for all of them (through its own
        ``__getitems__`` when it has one), then zipped per index."""
        parts = self.datasets.values() if isinstance(self.datasets, dict) else self.datasets
        columns = []
        for d in parts:
            column = _samples_at(d, indices)
            if len(column) != len(indices):
                raise ValueError(
                    f"StackDataset: {type(d).__name__}.__getitems__ returned {len(column)} samples "
                    f"for {len(indices)} indices"
                )
            columns.append(column)
        if isinstance(self.datasets, dict):
            names = list(self.datasets)
            return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        return [tuple(row) for row in zip(*columns, strict=True)]

    def __len__(self) -> int:
        return self._length


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Integer split sizes: ints as given, or fractions floored with the remainder dealt round-robin."""
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths is empty")
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction at index {i} is {frac}, not between 0 and 1")
            sizes.append(math.floor(n * frac))
        # PyTorch's rule: add 1 to each split in turn until the sizes sum to n
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(
                    f"random_split: length of split at index {i} is 0; this gives an empty dataset",
                    stacklevel=3,
                )
        return sizes
    for i, k in enumerate(lengths):
        if not is_int(k) or k < 0:
            raise ValueError(
                f"random_split: lengths must be non-negative ints or fractions summing to 1, "
                f"got {lengths[i]!r} at index {i}"
            )
    if total != n:
        raise ValueError(f"random_split: lengths {lengths} sum to {total}, but the dataset has {n} samples")
    return [int(k) for k in lengths]


def random_split(
    dataset: Dataset[T_co], lengths: Sequence[float], generator: _random.Generator | None = None
) -> list[Subset[T_co]]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths.

    ``lengths`` are ints summing to ``len(dataset)`` or fractions summing to 1
    (each split gets ``floor(n * frac)``, and the remainder is added one by one
    to the splits in order, as PyTorch does). The permutation comes from
    ``generator`` or the global generator seeded by ``cr.manual_seed``.
    """
    sizes = _split_lengths(len(dataset), lengths)
    perm = _random.rng(generator).permutation(len(dataset)).tolist()
    return [
        Subset(dataset, perm[end - size : end])
        for end, size in zip(itertools.accumulate(sizes), sizes, strict=True)
    ]
