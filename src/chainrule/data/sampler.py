"""Samplers: which dataset indices an epoch visits, and in what order (``torch.utils.data`` semantics).

chainrule's own samplers draw one whole epoch of indices as a single array,
so the loader can batch without a Python loop over samples.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from chainrule import random as _random
from chainrule.tensor import Tensor
from chainrule.validation import check_bool, positive_count

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
        self.replacement = check_bool(replacement, "replacement", "RandomSampler")
        self._num_samples = num_samples
        self.generator = generator
        positive_count(self.num_samples, "num_samples", "RandomSampler")

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
        w = np.asarray(weights._array if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if w.ndim != 1 or not w.size:
            raise ValueError(
                f"WeightedRandomSampler: weights should be a non-empty 1-D sequence, got shape {w.shape}"
            )
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights should be finite, non-negative and not all zero")
        self.num_samples = positive_count(num_samples, "num_samples", "WeightedRandomSampler")
        self.replacement = check_bool(replacement, "replacement", "WeightedRandomSampler")
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


class DistributedSampler(_ArraySampler):
    """This rank's share of the dataset, for data-parallel training (``torch.utils.data.DistributedSampler``).

    The ``num_replicas`` shards are disjoint, and together they cover the
    dataset: the index list is padded by repeating its start to a multiple of
    ``num_replicas`` (or cut to one with ``drop_last``), and rank ``r`` takes
    every ``num_replicas``-th index from ``r``. With ``shuffle`` the order is
    a permutation drawn from ``seed + epoch``, the same on every rank: call
    ``set_epoch(epoch)`` before each epoch for a new one. ``num_replicas`` and
    ``rank`` default to the world ``mpiexec`` started (read from its
    environment), or 1 and 0 without it.
    """

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        env_rank, env_size = _launcher_world()
        if num_replicas is None:
            num_replicas = env_size
        num_replicas = positive_count(num_replicas, "num_replicas", "DistributedSampler")
        rank = env_rank if rank is None else rank
        if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or not 0 <= rank < num_replicas:
            raise ValueError(
                f"DistributedSampler: invalid rank {rank!r}, rank should be in the interval "
                f"[0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle = check_bool(shuffle, "shuffle", "DistributedSampler")
        self.drop_last = check_bool(drop_last, "drop_last", "DistributedSampler")
        self.seed = int(seed)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = -(-(n - self.num_replicas) // self.num_replicas)  # ceil, as torch
        else:
            self.num_samples = -(-n // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Which epoch comes next: with ``shuffle``, it picks the permutation (the same on every rank)."""
        self.epoch = int(epoch)

    def _indices(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n).astype(np.int64)
        else:
            order = np.arange(n, dtype=np.int64)
        if self.drop_last:
            order = order[: self.total_size]
        elif self.total_size > n:  # pad by repeating the start, as many times as it takes
            order = np.resize(order, self.total_size)
        return order[self.rank : self.total_size : self.num_replicas]

    def __len__(self) -> int:
        return self.num_samples


def _launcher_world() -> tuple[int, int]:
    """``(rank, world size)`` from the environment an MPI launcher sets, or ``(0, 1)`` without one."""
    for rank_var, size_var in (
        ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ("PMI_RANK", "PMI_SIZE"),
    ):
        if rank_var in os.environ and size_var in os.environ:
            return int(os.environ[rank_var]), int(os.environ[size_var])
    return 0, 1


class BatchSampler(Sampler[list[int]]):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last short unless drop_last)."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        self.batch_size = positive_count(batch_size, "batch_size", "BatchSampler")
        self.drop_last = check_bool(drop_last, "drop_last", "BatchSampler")
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
