"""DistributedSampler: disjoint shards that together cover the dataset, PyTorch's padding and lengths."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.data import DataLoader, DistributedSampler


def shards(n: int, world: int, **kw) -> list[list[int]]:
    return [list(DistributedSampler(range(n), world, r, **kw)) for r in range(world)]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), world=st.integers(1, 5), shuffle=st.booleans(), epoch=st.integers(0, 3))
def test_shards_are_disjoint_and_complete(n, world, shuffle, epoch):
    parts = []
    for r in range(world):
        s = DistributedSampler(range(n), world, r, shuffle=shuffle, seed=3)
        s.set_epoch(epoch)
        parts.append(list(s))
        assert len(parts[-1]) == len(s) == -(-n // world)
    every = [i for p in parts for i in p]
    assert sorted(set(every)) == list(range(n))  # complete
    if n % world == 0:
        assert len(every) == n  # disjoint: nothing repeated
    else:  # padded by repeating the start of the order, as few as it takes
        assert len(every) - n == -n % world


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), world=st.integers(1, 5), drop_last=st.booleans())
def test_unshuffled_shards_are_pytorchs(n, world, drop_last):
    for r in range(world):
        ours = DistributedSampler(range(n), world, r, shuffle=False, drop_last=drop_last)
        theirs = torch.utils.data.DistributedSampler(range(n), world, r, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


def test_drop_last_cuts_to_equal_disjoint_shards():
    parts = shards(10, 3, drop_last=True)
    assert [len(p) for p in parts] == [3, 3, 3]
    every = [i for p in parts for i in p]
    assert len(set(every)) == 9


def test_set_epoch_reshuffles_the_same_way_on_every_rank():
    a = DistributedSampler(range(20), 2, 0, seed=1)
    b = DistributedSampler(range(20), 2, 1, seed=1)
    first = list(a) + list(b)
    assert list(a) == list(DistributedSampler(range(20), 2, 0, seed=1))  # a seed fixes the order
    a.set_epoch(1)
    b.set_epoch(1)
    second = list(a) + list(b)
    assert sorted(first) == sorted(second) == list(range(20))
    assert first != second


def test_the_world_comes_from_the_launcher_environment(monkeypatch):
    monkeypatch.setenv("OMPI_COMM_WORLD_RANK", "1")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "3")
    s = DistributedSampler(range(9), shuffle=False)
    assert (s.rank, s.num_replicas, list(s)) == (1, 3, [1, 4, 7])
    monkeypatch.delenv("OMPI_COMM_WORLD_RANK")
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    assert (DistributedSampler(range(9)).rank, DistributedSampler(range(9)).num_replicas) == (0, 1)


def test_a_loader_batches_its_shard():
    x = np.arange(10, dtype=np.float32)[:, None]
    loader = DataLoader(x, batch_size=2, sampler=DistributedSampler(x, 2, 1, shuffle=False))
    assert [b._array.ravel().tolist() for b in loader] == [[1, 3], [5, 7], [9]]


def test_a_bad_rank_is_named():
    with pytest.raises(ValueError, match=r"DistributedSampler: invalid rank 2.*\[0, 1\]"):
        DistributedSampler(range(4), 2, 2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), 0, 0)
