"""Fetchers: what the sampler gives (a batch of indices) turned into a batch, alike in every process.

The DataLoader's main process (``num_workers=0``) and each of its worker
processes call the same fetcher, so a batch is the same whichever process
made it. A fetcher runs the whole per-batch pipeline: the samples, the
collation and the loader's ``transform``.

Speed by construction: for a :class:`TensorDataset` (or a :class:`Subset` of
one) with the default collate, a batch is one fancy index of each whole
tensor, never per-sample ``__getitem__`` and stack. Any other map-style
dataset takes the general path (through its ``__getitems__`` when it has one,
as in PyTorch). An :class:`IterableDataset` is iterated: each call takes the
next ``batch_size`` samples of the stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from chainrule.data.collate import default_collate
from chainrule.data.dataset import IterableDataset, Subset, TensorDataset
from chainrule.ops.shape import getitem as _getitem
from chainrule.tensor import Tensor

__all__ = ["IterableFetcher", "MapFetcher", "make_fetcher"]

_make = Tensor._make


def _unchanged(ds: Any, cls: type) -> bool:
    """Whether ``ds`` is a ``cls`` whose ``__getitem__`` and ``__getitems__`` are not overridden."""
    t = type(ds)
    return (
        isinstance(ds, cls)
        and t.__getitem__ is cls.__getitem__
        and getattr(t, "__getitems__", None) is getattr(cls, "__getitems__", None)
    )


def _tensor_source(dataset: Any) -> tuple[tuple[Tensor, ...], np.ndarray | None] | None:
    """``(tensors, index_map)`` when ``dataset`` is a TensorDataset or a chain of Subsets of one.

    ``index_map[i]`` is the row of the tensors behind sample ``i`` (None: the
    identity). Subclasses that change ``__getitem__`` are not recognised, so
    their own logic still runs.
    """
    index_map = None
    ds = dataset
    while _unchanged(ds, Subset):
        ind = np.asarray(ds.indices, dtype=np.int64)
        index_map = ind if index_map is None else ind[index_map]
        ds = ds.dataset
    if not _unchanged(ds, TensorDataset):
        return None
    if index_map is not None and index_map.size:
        n = len(ds)
        lo, hi = int(index_map.min()), int(index_map.max())
        if lo < -n or hi >= n:
            bad = lo if lo < -n else hi
            raise IndexError(f"Subset: index {bad} is out of range for a dataset of {n} samples")
    return ds.tensors, index_map


def apply_transform(transform: Callable[[Any], Any], batch: Any) -> Any:
    """``transform`` applied to the inputs of a batch: its first element, or the batch if it is a tensor."""
    if isinstance(batch, Tensor):
        return transform(batch)
    if isinstance(batch, list):
        return [transform(batch[0]), *batch[1:]]
    if isinstance(batch, tuple) and batch:
        if hasattr(batch, "_fields"):
            return batch._replace(**{batch._fields[0]: transform(batch[0])})
        return (transform(batch[0]), *batch[1:])
    raise TypeError(
        "DataLoader: transform applies to the first element of each batch, so batches must be "
        f"tensors, lists or tuples; got {type(batch).__name__}"
    )


class MapFetcher:
    """Batches of a map-style dataset: ``fetcher(indices)`` (one index when batching is off).

    ``current`` is the dataset index being read on the per-sample path, so
    that an error in a worker can name the sample that raised it.
    """

    def __init__(
        self,
        dataset: Any,
        auto_collation: bool,
        collate_fn: Callable[[Any], Any],
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        self.dataset, self.collate_fn, self.transform = dataset, collate_fn, transform
        self.current: Any = None
        source = _tensor_source(dataset) if auto_collation and collate_fn is default_collate else None
        if not auto_collation:
            self._fetch = self._single
        elif source is not None:
            self.tensors, self.index_map = source
            # rows of tensors that require grad go through getitem, which keeps their graph
            self.arrays = [None if t._requires_grad else t._array for t in self.tensors]
            self.size = len(self.tensors[0]) if self.index_map is None else len(self.index_map)
            self._fetch = self._tensor_batch
        else:
            self._fetch = self._collated

    def __call__(self, indices: Any) -> Any:
        batch = self._fetch(indices)
        return batch if self.transform is None else apply_transform(self.transform, batch)

    def _tensor_batch(self, pos: Any) -> list[Tensor]:
        # the fast path: a batch is one fancy index of each whole tensor (rows copied, as a stack would)
        pos = np.asarray(pos, dtype=np.int64)
        try:
            idx = pos if self.index_map is None else self.index_map[pos]
            return [
                _make(a[idx], None) if a is not None else _getitem(t, idx)
                for a, t in zip(self.arrays, self.tensors)
            ]
        except IndexError:
            size = self.size
            bad = pos[(pos < -size) | (pos >= size)]
            raise IndexError(
                f"DataLoader: sampler index {bad[0] if bad.size else pos} is out of range "
                f"for a dataset of {size} samples"
            ) from None

    def _collated(self, idx: Any) -> Any:
        if isinstance(idx, np.ndarray):
            idx = idx.tolist()
        dataset = self.dataset
        getitems = getattr(dataset, "__getitems__", None)
        if getitems is not None:
            samples = getitems(idx)
        else:
            samples = []
            for i in idx:
                self.current = i
                samples.append(dataset[i])
            self.current = None
        return self.collate_fn(samples)

    def _single(self, i: Any) -> Any:
        self.current = i
        sample = self.dataset[i]
        self.current = None
        return self.collate_fn(sample)


class IterableFetcher:
    """Batches of an :class:`IterableDataset`: ``fetcher(batch_size)`` takes the stream's next samples.

    ``batch_size=None`` (batching off) takes one sample. A short last batch is
    kept unless ``drop_last``; once the stream is exhausted every call raises
    StopIteration, as PyTorch's fetcher does.
    """

    def __init__(
        self,
        dataset: Any,
        auto_collation: bool,
        collate_fn: Callable[[Any], Any],
        drop_last: bool,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        self.iterator: Iterator[Any] = iter(dataset)
        self.auto_collation, self.collate_fn = auto_collation, collate_fn
        self.drop_last, self.transform = drop_last, transform
        self.ended = False
        self.current: Any = None

    def __call__(self, batch_size: int | None) -> Any:
        if self.ended:
            raise StopIteration
        if self.auto_collation:
            samples = []
            for _ in range(batch_size or 0):
                try:
                    samples.append(next(self.iterator))
                except StopIteration:
                    self.ended = True
                    break
            if not samples or (self.drop_last and len(samples) < (batch_size or 0)):
                self.ended = True
                raise StopIteration
            batch = self.collate_fn(samples)
        else:
            try:
                sample = next(self.iterator)
            except StopIteration:
                self.ended = True
                raise
            batch = self.collate_fn(sample)
        return batch if self.transform is None else apply_transform(self.transform, batch)


def make_fetcher(
    dataset: Any,
    auto_collation: bool,
    collate_fn: Callable[[Any], Any],
    drop_last: bool,
    transform: Callable[[Any], Any] | None = None,
) -> MapFetcher | IterableFetcher:
    """The fetcher for ``dataset``: iterated if it is an IterableDataset, indexed otherwise."""
    if isinstance(dataset, IterableDataset):
        return IterableFetcher(dataset, auto_collation, collate_fn, drop_last, transform)
    return MapFetcher(dataset, auto_collation, collate_fn, transform)
