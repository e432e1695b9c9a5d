"""DataLoader, samplers and collation, with ``torch.utils.data`` semantics.

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

import collections.abc
import copy
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from chainrule import backend
from chainrule import random as _random
from chainrule.creation import as_array, as_tensor
from chainrule.data.dataset import Subset, TensorDataset
from chainrule.ops.shape import getitem as _getitem
from chainrule.ops.shape import stack as _stack
from chainrule.tensor import Tensor

_make = Tensor._make


def _positive_int(value: Any, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{owner}: {name} should be a positive integer, got {name}={value!r}")
    return int(value)


def _check_bool(value: Any, name: str, owner: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} should be a bool, got {name}={value!r}")
    return bool(value)


# --------------------------------------------------------------------- samplers
T_co = TypeVar("T_co", covariant=True)


class Sampler(Generic[T_co]):
    """Yields dataset indices; subclasses define ``__iter__`` (and ``__len__`` when the count is known)."""

    def __iter__(self) -> Iterator[T_co]:
        raise TypeError(f"{type(self).__name__}: a Sampler subclass must define __iter__")


class _ArraySampler(Sampler[int]):
    """A sampler that draws one epoch of indices as a single int64 array (``_indices``).

    ``__iter__`` yields that array as Python ints; the loader and
    :class:`BatchSampler` use the array directly when a subclass keeps this
    ``__iter__``.
    """

    def _indices(self) -> np.ndarray:
        raise TypeError(f"{type(self).__name__}: an array sampler must define _indices")

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())


def _index_array(sampler: Any) -> Callable[[], np.ndarray] | None:
    """The sampler's whole-epoch index function, if it is one of ours with its ``__iter__`` unchanged."""
    if isinstance(sampler, _ArraySampler) and type(sampler).__iter__ is _ArraySampler.__iter__:
        return sampler._indices
    return None


class SequentialSampler(_ArraySampler):
    """``0, 1, ..., len(data_source) - 1``, in order."""

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def _indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_ArraySampler):
    """A random order of the indices, new on every pass (or ``num_samples`` draws with replacement).

    Without replacement and ``num_samples > len(data_source)``, whole
    permutations are concatenated and the last one is cut, as in PyTorch.
    """

    def __init__(
        self,
        data_source: Any,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: _random.Generator | None = None,
    ) -> None:
        self.data_source = data_source
        self.replacement = _check_bool(replacement, "replacement", "RandomSampler")
        self._num_samples = num_samples
        self.generator = generator
        _positive_int(self.num_samples, "num_samples", "RandomSampler")

    @property
    def num_samples(self) -> int:
        # the dataset may grow or shrink between epochs
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _indices(self) -> np.ndarray:
        n, k = len(self.data_source), self.num_samples
        rng = _random.rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=k, dtype=np.int64)
        if k == n:
            return rng.permutation(n)
        perms = [rng.permutation(n) for _ in range(-(-k // n))]
        return np.concatenate(perms)[:k]

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_ArraySampler):
    """The given indices in a random order, new on every pass."""

    def __init__(self, indices: Sequence[int], generator: _random.Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator

    def _indices(self) -> np.ndarray:
        idx = np.asarray(self.indices, dtype=np.int64)
        return idx[_random.rng(self.generator).permutation(len(idx))]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_ArraySampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (to balance classes)."""

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        generator: _random.Generator | None = None,
    ) -> None:
        w = np.asarray(weights.data if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if w.ndim != 1 or not w.size:
            raise ValueError(
                f"WeightedRandomSampler: weights should be a non-empty 1-D sequence, got shape {w.shape}"
            )
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights should be finite, non-negative and not all zero")
        self.num_samples = _positive_int(num_samples, "num_samples", "WeightedRandomSampler")
        self.replacement = _check_bool(replacement, "replacement", "WeightedRandomSampler")
        nonzero = int(np.count_nonzero(w))
        if not self.replacement and self.num_samples > nonzero:
            raise ValueError(
                f"WeightedRandomSampler: cannot draw {self.num_samples} samples without replacement "
                f"from {nonzero} non-zero weights"
            )
        self.weights = w
        self.generator = generator
        self._p = w / w.sum()

    def _indices(self) -> np.ndarray:
        rng = _random.rng(self.generator)
        return rng.choice(self._p.size, size=self.num_samples, replace=self.replacement, p=self._p)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last short unless drop_last)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        self.batch_size = _positive_int(batch_size, "batch_size", "BatchSampler")
        self.drop_last = _check_bool(drop_last, "drop_last", "BatchSampler")
        self.sampler = sampler

    def _array_batches(self) -> Iterator[np.ndarray] | None:
        """Batches as slices of one index array, when the sampler draws its epoch as an array."""
        indices = _index_array(self.sampler)
        if indices is None:
            return None
        return self._slices(indices())

    def _slices(self, idx: np.ndarray) -> Iterator[np.ndarray]:
        bs = self.batch_size
        stop = len(idx) - len(idx) % bs if self.drop_last else len(idx)
        for start in range(0, stop, bs):
            yield idx[start : start + bs]

    def __iter__(self) -> Iterator[list[int]]:
        arrays = self._array_batches()
        if arrays is not None:
            for b in arrays:
                yield b.tolist()
            return
        batch: list[int] = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


# -------------------------------------------------------------------- collation
_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
_STR_OBJ = re.compile("[SaUO]")


def _same_shapes(batch: Sequence[Any], kind: type, what: str) -> bool:
    """Check that every sample is a ``kind`` of sample 0's shape; return whether the dtypes all agree."""
    shape, dtype = batch[0].shape, batch[0].dtype
    same_dtype = True
    for i, b in enumerate(batch):
        if not isinstance(b, kind):
            raise TypeError(f"default_collate: sample {i} is a {type(b).__name__} but sample 0 is a {what}")
        if b.shape != shape:
            raise RuntimeError(
                f"default_collate: {what}s in a batch must have the same shape; "
                f"sample {i} has shape {b.shape} but sample 0 has {shape}"
            )
        same_dtype = same_dtype and b.dtype == dtype
    return same_dtype


def _collate_tensors(batch: Sequence[Tensor]) -> Tensor:
    if not _same_shapes(batch, Tensor, "Tensor") or any(b._requires_grad for b in batch):
        return _stack(batch)  # PyTorch's dtype promotion, and the graph kept
    return _make(np.stack([b.data for b in batch]), None)


def _collate_arrays(batch: Sequence[np.ndarray]) -> Tensor:
    if _STR_OBJ.search(batch[0].dtype.str):
        raise TypeError(_ERR.format(batch[0].dtype))
    _same_shapes(batch, np.ndarray, "ndarray")
    return _make(as_array(np.stack(batch), copy=False), None)


def _collate_numpy_scalars(batch: Sequence[Any]) -> Tensor:
    arr = np.asarray(batch)
    if _STR_OBJ.search(arr.dtype.str):
        raise TypeError(_ERR.format(type(batch[0])))
    return _make(as_array(arr, copy=False), None)


def _collate_floats(batch: Sequence[float]) -> Tensor:
    # PyTorch gives float64 here; chainrule keeps its default float dtype (float32)
    return _make(as_array(batch, backend.get_default_dtype()), None)


def _collate_ints(batch: Sequence[int]) -> Tensor:
    # ints become int64, bools bool (a mix with floats becomes the default float)
    return _make(as_array(batch), None)


def _collate_strings(batch: Sequence[Any]) -> list[Any]:
    return list(batch)


_COLLATE: dict[type, Callable[[Sequence[Any]], Any]] = {
    Tensor: _collate_tensors,
    np.ndarray: _collate_arrays,
    float: _collate_floats,
    int: _collate_ints,
    bool: _collate_ints,
    str: _collate_strings,
    bytes: _collate_strings,
}
_COLLATE_BASES: tuple[tuple[type | tuple[type, ...], Callable[[Sequence[Any]], Any]], ...] = (
    (Tensor, _collate_tensors),
    (np.ndarray, _collate_arrays),
    ((np.bool_, np.number, np.object_), _collate_numpy_scalars),
    (float, _collate_floats),
    (int, _collate_ints),
    ((str, bytes), _collate_strings),
)


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch, as ``torch.utils.data.default_collate``.

    Tensors and NumPy arrays are stacked along a new first dimension; Python
    ints become an int64 tensor, bools a bool tensor, floats a tensor of the
    default float dtype (float32; PyTorch gives float64); NumPy scalars keep
    their dtype; strings stay a list. Dicts, namedtuples and lists are collated
    field by field, keeping their type; tuples become lists, as in PyTorch.
    """
    if not len(batch):
        raise ValueError("default_collate: the batch is empty")
    elem = batch[0]
    elem_type = type(elem)
    fn = _COLLATE.get(elem_type)
    if fn is not None:
        return fn(batch)
    for kind, fn in _COLLATE_BASES:
        if isinstance(elem, kind):
            return fn(batch)
    if isinstance(elem, collections.abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        return _rebuild_mapping(elem, out)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        for i, b in enumerate(batch):
            if len(b) != size:
                raise RuntimeError(
                    f"default_collate: each element in list of batch should be of equal size; "
                    f"sample {i} has {len(b)} elements but sample 0 has {size}"
                )
        out = [default_collate(samples) for samples in zip(*batch)]
        return out if elem_type is tuple or elem_type is list else _rebuild_seq(elem, out)
    raise TypeError(_ERR.format(elem_type))


def _rebuild_mapping(elem: collections.abc.Mapping, out: dict) -> Any:
    """``out`` in the mapping type of ``elem`` where that type allows it, else a dict."""
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(out)
            return clone
        return type(elem)(out)
    except TypeError:
        return out


def _rebuild_seq(elem: Sequence, out: list) -> Any:
    """``out`` in the sequence type of ``elem`` (tuples give lists, as in PyTorch)."""
    if isinstance(elem, tuple):
        return out
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, v in enumerate(out):
                clone[i] = v
            return clone
        return type(elem)(out)
    except TypeError:
        return out


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays (also inside dicts, lists and tuples) into tensors; leave everything else.

    The collate function when ``batch_size=None`` (no batching), as
    ``torch.utils.data.default_convert``: tuples become lists, as in PyTorch.
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.bool_, np.number)):
        if _STR_OBJ.search(data.dtype.str):
            return data
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        out = [default_convert(d) for d in data]
        return out if type(data) in (tuple, list) else _rebuild_seq(data, out)
    return data


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
        arrays = [None if t._requires_grad else t.data for t in tensors]
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
