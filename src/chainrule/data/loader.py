"""The DataLoader: batches from a dataset, shuffled per epoch, with ``torch.utils.data`` semantics.

A sampler yields dataset indices; a :class:`BatchSampler` groups them into
batches; the loader fetches the samples of each batch and collates them into
tensors. Shuffling draws a fresh permutation every epoch from the given
:class:`chainrule.random.Generator` or the global one, so ``cr.manual_seed``
fixes the batches of a whole run.

Speed by construction: chainrule's own samplers make one index array per epoch,
and for a :class:`TensorDataset` (or a :class:`Subset` of one) with the default
collate a batch is one fancy index of each whole tensor, never per-sample
``__getitem__`` and stack. Any other dataset takes the general path (through
its ``__getitems__`` when it has one, as in PyTorch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from chainrule import random as _random
from chainrule.data.collate import default_collate, default_convert
from chainrule.data.dataset import Subset, TensorDataset
from chainrule.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
)
from chainrule.ops.shape import getitem as _getitem
from chainrule.tensor import Tensor
from chainrule.validation import check_bool as _check_bool
from chainrule.validation import positive_count as _positive_int

_make = Tensor._make


# -------------------------------------------------------------------- the loader
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


def _apply_transform(transform: Callable[[Any], Any], batch: Any) -> Any:
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


class DataLoader:
    """Iterate over a dataset in (shuffled) batches, as ``torch.utils.data.DataLoader``.

    Each epoch (each ``iter(loader)``) visits every sample once, in a fresh
    random order when ``shuffle=True`` (drawn from ``generator`` or the global
    generator). ``batch_size=None`` turns batching off: samples come one by
    one through ``default_convert``. ``transform``, if given, is called on each
    collated batch's inputs (its first element, or the whole batch if it is a
    tensor): the hook for batch augmentation. ``num_workers`` and
    ``pin_memory`` are accepted for PyTorch compatibility; batches are always
    made in this process (the tensor fast path makes workers unnecessary).
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable[int] | None = None,
        batch_sampler: Sampler | Iterable[Sequence[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        *,
        generator: _random.Generator | None = None,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers should be a non-negative integer, got {num_workers!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform should be callable, got {type(transform).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn should be callable, got {type(collate_fn).__name__}")
        shuffle = bool(shuffle)
        drop_last = _check_bool(drop_last, "drop_last", "DataLoader")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                    "shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise ValueError(
                    "DataLoader: batch_size=None option disables auto-batching and is mutually "
                    "exclusive with drop_last"
                )
        else:
            batch_size = _positive_int(batch_size, "batch_size", "DataLoader")
        if sampler is None:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = bool(pin_memory)
        self.generator = generator
        self.transform = transform
        self._auto_collation = batch_sampler is not None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn

    def __len__(self) -> int:
        return len(self.batch_sampler if self._auto_collation else self.sampler)

    def __iter__(self) -> Iterator[Any]:
        batches = self._batches()
        transform = self.transform
        if transform is None:
            return batches
        return (_apply_transform(transform, b) for b in batches)

    def _batches(self) -> Iterator[Any]:
        if not self._auto_collation:
            return self._single_samples()
        source = _tensor_source(self.dataset) if self.collate_fn is default_collate else None
        if source is not None:
            return self._tensor_batches(*source)
        return self._collated_batches()

    def _index_batches(self) -> Iterator[Any]:
        """One epoch of batch indices: int arrays from our samplers, else whatever batch_sampler yields."""
        bs = self.batch_sampler
        if type(bs).__iter__ is BatchSampler.__iter__:
            arrays = bs._array_batches()
            if arrays is not None:
                return arrays
        return iter(bs)

    def _tensor_batches(
        self, tensors: tuple[Tensor, ...], index_map: np.ndarray | None
    ) -> Iterator[list[Tensor]]:
        # the fast path: a batch is one fancy index of each whole tensor (rows copied, as a stack would)
        arrays = [None if t._requires_grad else t._array for t in tensors]
        size = len(tensors[0]) if index_map is None else len(index_map)
        for pos in self._index_batches():
            pos = np.asarray(pos, dtype=np.int64)
            try:
                idx = pos if index_map is None else index_map[pos]
                batch = [
                    _make(a[idx], None) if a is not None else _getitem(t, idx)
                    for a, t in zip(arrays, tensors)
                ]
            except IndexError:
                bad = pos[(pos < -size) | (pos >= size)]
                raise IndexError(
                    f"DataLoader: sampler index {bad[0] if bad.size else pos} is out of range "
                    f"for a dataset of {size} samples"
                ) from None
            yield batch

    def _collated_batches(self) -> Iterator[Any]:
        dataset, collate = self.dataset, self.collate_fn
        getitems = getattr(dataset, "__getitems__", None)
        for idx in self._index_batches():
            if isinstance(idx, np.ndarray):
                idx = idx.tolist()
            samples = getitems(idx) if getitems is not None else [dataset[i] for i in idx]
            yield collate(samples)

    def _single_samples(self) -> Iterator[Any]:
        dataset, convert = self.dataset, self.collate_fn
        for i in self.sampler:
            yield convert(dataset[i])
