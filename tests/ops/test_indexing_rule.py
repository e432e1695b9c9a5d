"""PyTorch's indexing rule on a generated grid of index mixes: reads, writes and gradients.

Every key mixes integers (plain and 0-d tensors), slices, None, Ellipsis,
boolean masks and index tensors; chainrule must give PyTorch's shape and
values (an integer beside index tensors is basic indexing in PyTorch, not an
index array as in NumPy), the same gradient, and the same result of writing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
from helpers import check_against_torch, check_gradcheck

SHAPE = (3, 4, 5, 6)


def _part(kind: str, n: int, rng: np.random.Generator) -> object:
    if kind == "int":
        return int(rng.integers(-n, n))
    if kind == "int0d":
        return ("tensor", np.array(int(rng.integers(0, n))))
    if kind == "slice":
        return [slice(1, None), slice(None, None, 2), slice(None), slice(-2, None)][int(rng.integers(4))]
    if kind == "idx":
        return ("tensor", rng.choice(n, size=3, replace=False).astype(np.int64))
    if kind == "idx2":
        return ("tensor", rng.integers(-n, n, size=(2, 3)).astype(np.int64))
    if kind == "mask":
        m = np.zeros(n, dtype=bool)
        m[rng.choice(n, size=3, replace=False)] = True
        return ("tensor", m)
    raise AssertionError(kind)


def _keys(count: int, seed: int = 0) -> list[tuple]:
    rng = np.random.default_rng(seed)
    kinds = ["int", "int0d", "slice", "idx", "idx2", "mask"]
    keys = []
    while len(keys) < count:
        used = int(rng.integers(2, 5))  # index 2..4 of the 4 dims
        # the parts before an Ellipsis index the leading dims, those after it the trailing ones
        split = int(rng.integers(0, used + 1)) if used < 4 and rng.random() < 0.4 else used
        dims = list(range(split)) + list(range(len(SHAPE) - (used - split), len(SHAPE)))
        parts = [_part(kinds[int(rng.integers(len(kinds)))], SHAPE[d], rng) for d in dims]
        if not any(isinstance(p, tuple) and p[1].ndim > 0 for p in parts):
            continue  # the grid is about mixes with index tensors
        if split < used or (used < 4 and rng.random() < 0.3):
            parts.insert(split, Ellipsis)
        if rng.random() < 0.3:
            parts.insert(int(rng.integers(0, len(parts) + 1)), None)
        keys.append(tuple(parts))
    return keys


def _build(key: tuple, lib: object) -> tuple:
    return tuple(lib.tensor(p[1]) if isinstance(p, tuple) else p for p in key)


KEYS = _keys(120)


def _ids(key: tuple) -> str:
    def one(p: object) -> str:
        if isinstance(p, tuple):
            return f"T{p[1].dtype.kind}{list(p[1].shape)}"
        return "None" if p is None else "..." if p is Ellipsis else repr(p).replace(" ", "")

    return ",".join(one(p) for p in key)


@pytest.mark.parametrize("key", KEYS, ids=[_ids(k) for k in KEYS])
def test_read_and_gradient_follow_pytorch(key):
    x = np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)
    check_against_torch(lambda t: t[_build(key, cr)], lambda t: t[_build(key, torch)], [x])


@pytest.mark.parametrize("key", KEYS[:40], ids=[_ids(k) for k in KEYS[:40]])
def test_write_and_its_gradients_follow_pytorch(key):
    rng = np.random.default_rng(2)
    positions = torch.arange(int(np.prod(SHAPE))).reshape(SHAPE)[_build(key, torch)]
    if positions.unique().numel() != positions.numel():
        pytest.skip("a position written twice: PyTorch's result is unspecified")
    x = rng.standard_normal(SHAPE).astype(np.float32)
    v = rng.standard_normal(tuple(positions.shape)).astype(np.float32)

    # in place, outside a graph
    ours, theirs = cr.tensor(x), torch.tensor(x)
    ours[_build(key, cr)] = cr.tensor(v)
    theirs[_build(key, torch)] = torch.tensor(v)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())

    # in a graph: both the tensor and the written value get gradients
    def write(lib):
        def fn(a, b):
            out = a * 1
            out[_build(key, lib)] = b
            return out

        return fn

    check_against_torch(write(cr), write(torch), [x, v])


@pytest.mark.parametrize("key", KEYS[:6], ids=[_ids(k) for k in KEYS[:6]])
def test_gradcheck_of_mixed_indexing(key):
    x = np.random.default_rng(3).standard_normal(SHAPE)
    check_gradcheck(lambda t: t[_build(key, cr)], [x])


def test_the_issue_example():
    x = cr.randn(2, 5, 6)
    assert x[1, :, cr.tensor([0, 1, 2])].shape == (5, 3)
    assert x[cr.tensor(1), :, cr.tensor([0, 1, 2])].shape == (5, 3)


def test_an_out_of_range_integer_beside_an_index_tensor_names_the_dim():
    x = cr.zeros(2, 5, 6)
    with pytest.raises(IndexError, match="out of bounds for dimension 0 with size 2"):
        x[2, :, cr.tensor([0, 1])]
