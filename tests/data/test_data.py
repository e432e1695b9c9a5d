"""Datasets, samplers, collation and the DataLoader, against ``torch.utils.data``.

Split lengths, batch counts and batch sizes are compared with PyTorch's on
configurations drawn by hypothesis; collation is compared value by value and
dtype by dtype. Shuffling is checked for what users rely on: the same seed
gives the same batches, each epoch a new order, every sample exactly once.
"""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tud
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.data as crd
from chainrule.random import Generator


def make_ds(n: int, features: int = 3) -> crd.TensorDataset:
    x = cr.tensor(np.arange(n * features, dtype=np.float32).reshape(n, features))
    y = cr.tensor(np.arange(n, dtype=np.int64))
    return crd.TensorDataset(x, y)


def epoch_labels(loader: crd.DataLoader) -> list[list[int]]:
    """The label batches of one epoch (labels are the sample indices in make_ds)."""
    return [y.tolist() for _, y in loader]


class PlainDataset(crd.Dataset):
    """A dataset the loader does not recognise: forces the general (per-sample) path."""

    def __init__(self, n: int, features: int = 3) -> None:
        self.inner = make_ds(n, features)

    def __getitem__(self, i: int):
        return self.inner[i]

    def __len__(self) -> int:
        return len(self.inner)


# ------------------------------------------------------------------ datasets
def test_tensor_dataset_items_and_len() -> None:
    ds = make_ds(5)
    assert len(ds) == 5
    x, y = ds[2]
    np.testing.assert_array_equal(x._array, [6, 7, 8])
    assert y.item() == 2 and y.dtype == np.int64
    # NumPy arrays are accepted and shared, not copied
    arr = np.zeros((4, 2), np.float32)
    ds2 = crd.TensorDataset(arr)
    assert ds2.tensors[0]._array is arr


def test_tensor_dataset_errors() -> None:
    with pytest.raises(ValueError, match=r"TensorDataset: size mismatch: tensor 0 has 5 .* tensor 1 has 4"):
        crd.TensorDataset(cr.zeros(5, 2), cr.zeros(4))
    with pytest.raises(ValueError, match="0-d"):
        crd.TensorDataset(cr.zeros(5), cr.tensor(1.0))
    with pytest.raises(ValueError, match="at least one"):
        crd.TensorDataset()
    with pytest.raises(TypeError, match="argument 0 is a list"):
        crd.TensorDataset([1, 2, 3])


def test_dataset_base_needs_getitem() -> None:
    class NoItems(crd.Dataset):
        pass

    with pytest.raises(TypeError, match="__getitem__"):
        NoItems()

    class Squares(crd.Dataset[int]):  # subscriptable, as torch's Dataset[T]
        def __getitem__(self, i: int) -> int:
            return i * i

        def __len__(self) -> int:
            return 3

    assert [b.tolist() for b in crd.DataLoader(Squares(), batch_size=2)] == [[0, 1], [4]]


def test_subset() -> None:
    ds = make_ds(10)
    sub = crd.Subset(ds, [7, 2, 5])
    assert len(sub) == 3
    assert sub[0][1].item() == 7 and sub[-1][1].item() == 5
    assert [s[1].item() for s in sub.__getitems__([2, 0])] == [5, 7]
    nested = crd.Subset(sub, [2, 1])
    assert [nested[i][1].item() for i in range(2)] == [5, 2]


def test_concat_dataset() -> None:
    a, b = make_ds(3), make_ds(4)
    cat = a + b
    assert isinstance(cat, crd.ConcatDataset)
    assert len(cat) == 7 and cat.cumulative_sizes == [3, 7]
    labels = [cat[i][1].item() for i in range(7)]
    assert labels == [0, 1, 2, 0, 1, 2, 3]
    assert cat[-1][1].item() == 3 and cat[-7][1].item() == 0
    torch_cat = tud.ConcatDataset([list(range(3)), list(range(4))])
    assert [torch_cat[i] for i in range(-7, 7)] == [cat[i][1].item() for i in range(-7, 7)]
    for bad in (7, -8):
        with pytest.raises(IndexError, match=r"ConcatDataset: index .* out of range for 7"):
            cat[bad]
    with pytest.raises(ValueError, match="empty"):
        crd.ConcatDataset([])


def test_concat_dataset_refuses_streams() -> None:
    class Stream(crd.IterableDataset):
        def __iter__(self):
            return iter(range(3))

        def __len__(self) -> int:
            return 3

    class TorchStream(tud.IterableDataset):
        __iter__, __len__ = Stream.__iter__, Stream.__len__

    with pytest.raises(AssertionError, match="does not support IterableDataset"):
        tud.ConcatDataset([list(range(2)), TorchStream()])  # PyTorch refuses too
    with pytest.raises(TypeError, match="ConcatDataset: dataset 1 is an IterableDataset \\(Stream\\)"):
        crd.ConcatDataset([make_ds(2), Stream()])


def test_stack_dataset_matches_torch_and_batches_through_the_loader() -> None:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((7, 2, 3)).astype(np.float32)
    labels = rng.integers(0, 4, 7)
    words = [f"w{i}" for i in range(7)]
    ours_t = crd.StackDataset(crd.TensorDataset(cr.tensor(images)), list(labels), words)
    theirs_t = tud.StackDataset(tud.TensorDataset(torch.tensor(images)), list(labels), words)
    ours_d = crd.StackDataset(x=crd.TensorDataset(cr.tensor(images)), y=list(labels))
    theirs_d = tud.StackDataset(x=tud.TensorDataset(torch.tensor(images)), y=list(labels))
    assert len(ours_t) == len(theirs_t) == len(ours_d) == 7
    for i in (0, 3, -1):
        (img,), label, word = ours_t[i]
        (t_img,), t_label, t_word = theirs_t[i]
        np.testing.assert_array_equal(img.numpy(), t_img.numpy())
        assert (label, word) == (t_label, t_word)
        assert set(ours_d[i]) == {"x", "y"} and ours_d[i]["y"] == theirs_d[i]["y"]
    # batches: each dataset fetched once per batch (its __getitems__ when it has one), then zipped
    fetched = ours_d.__getitems__([4, 1])
    assert [f["y"] for f in fetched] == [labels[4], labels[1]]
    for f, i in zip(fetched, (4, 1), strict=True):
        np.testing.assert_array_equal(f["x"][0].numpy(), images[i])
    for ours, theirs in ((ours_t, theirs_t), (ours_d, theirs_d)):
        ours_batches = list(crd.DataLoader(ours, batch_size=3))
        theirs_batches = list(tud.DataLoader(theirs, batch_size=3))
        assert len(ours_batches) == len(theirs_batches) == 3
        for ob, tb in zip(ours_batches, theirs_batches, strict=True):
            if isinstance(ob, dict):
                np.testing.assert_array_equal(ob["x"][0].numpy(), tb["x"][0].numpy())
                np.testing.assert_array_equal(ob["y"].numpy(), tb["y"].numpy())
            else:
                np.testing.assert_array_equal(ob[0][0].numpy(), tb[0][0].numpy())
                np.testing.assert_array_equal(ob[1].numpy(), tb[1].numpy())
                assert list(ob[2]) == list(tb[2])


def test_stack_dataset_errors() -> None:
    with pytest.raises(ValueError, match=r"by position .* or by name"):
        crd.StackDataset([1, 2], y=[3, 4])
    with pytest.raises(ValueError, match="at least one dataset"):
        crd.StackDataset()
    with pytest.raises(ValueError, match=r"size mismatch between datasets, lengths \{'0': 2, '1': 3\}"):
        crd.StackDataset([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="Size mismatch"):
        tud.StackDataset([1, 2], [1, 2, 3])  # PyTorch refuses too
    with pytest.raises(TypeError, match=r"dataset y \(int\) needs __getitem__ and __len__"):
        crd.StackDataset(x=[1], y=5)


@given(
    n=st.integers(0, 60),
    fracs=st.lists(st.integers(1, 20), min_size=1, max_size=5),
)
def test_random_split_fraction_lengths_match_torch(n: int, fracs: list[int]) -> None:
    lengths = [f / sum(fracs) for f in fracs]
    if not (abs(sum(lengths) - 1) < 1e-9 and sum(lengths) <= 1):
        lengths[-1] = 1 - sum(lengths[:-1])  # keep the fractions summing to 1 exactly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = tud.random_split(range(n), lengths)
        ours = crd.random_split(list(range(n)), lengths)
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    flat = [i for s in ours for i in s.indices]
    assert sorted(flat) == list(range(n))


def test_random_split_ints_and_errors() -> None:
    ds = make_ds(10)
    parts = crd.random_split(ds, [3, 7])
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    assert [len(p) for p in crd.random_split(ds, [0.5, 0.3, 0.2])] == [5, 3, 2]
    assert [len(p) for p in tud.random_split(range(10), [0.5, 0.3, 0.2])] == [5, 3, 2]
    with pytest.raises(ValueError, match="sum to 9, but the dataset has 10"):
        crd.random_split(ds, [4, 5])
    with pytest.raises(ValueError, match="non-negative"):
        crd.random_split(ds, [-1, 11])
    with pytest.raises(ValueError, match="not between 0 and 1"):
        crd.random_split(ds, [1.5, -0.5])
    with pytest.warns(UserWarning, match="split at index 1 is 0"):
        assert [len(p) for p in crd.random_split(ds, [0.95, 0.05])] == [10, 0]


def test_random_split_is_seeded() -> None:
    ds = make_ds(50)
    cr.manual_seed(7)
    a = [p.indices for p in crd.random_split(ds, [0.6, 0.4])]
    cr.manual_seed(7)
    b = [p.indices for p in crd.random_split(ds, [0.6, 0.4])]
    assert a == b
    c = [p.indices for p in crd.random_split(ds, [0.6, 0.4], generator=Generator(7))]
    d = [p.indices for p in crd.random_split(ds, [0.6, 0.4], generator=Generator(7))]
    assert c == d
    assert a != [p.indices for p in crd.random_split(ds, [0.6, 0.4])]


# ------------------------------------------------------------------ samplers
def test_samplers() -> None:
    data = list(range(6))
    assert list(crd.SequentialSampler(data)) == data and len(crd.SequentialSampler(data)) == 6
    perm = list(crd.RandomSampler(data))
    assert sorted(perm) == data and all(type(i) is int for i in perm)
    long = list(crd.RandomSampler(data, num_samples=14))
    assert len(long) == 14 and sorted(long[:6]) == data and sorted(long[6:12]) == data
    drawn = list(crd.RandomSampler(data, replacement=True, num_samples=100))
    assert len(drawn) == 100 and set(drawn) <= set(data)
    sub = list(crd.SubsetRandomSampler([10, 20, 30]))
    assert sorted(sub) == [10, 20, 30]
    weighted = list(crd.WeightedRandomSampler([0.0, 1.0, 3.0], 200))
    assert len(weighted) == 200 and 0 not in weighted and weighted.count(2) > weighted.count(1)
    assert sorted(crd.WeightedRandomSampler([1, 1, 1, 0], 3, replacement=False)) == [0, 1, 2]


def test_sampler_errors() -> None:
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        crd.RandomSampler([])
    with pytest.raises(TypeError, match="replacement should be a bool"):
        crd.RandomSampler([1], replacement=1)
    with pytest.raises(ValueError, match="cannot draw 3 samples without replacement from 2"):
        crd.WeightedRandomSampler([1, 0, 1], 3, replacement=False)
    with pytest.raises(ValueError, match="non-negative"):
        crd.WeightedRandomSampler([1, -1], 3)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        crd.BatchSampler(range(3), 0, False)


@given(n=st.integers(0, 30), bs=st.integers(1, 8), drop_last=st.booleans(), as_list=st.booleans())
def test_batch_sampler_matches_torch(n: int, bs: int, drop_last: bool, as_list: bool) -> None:
    # a plain list takes the generic path, a SequentialSampler the array path
    sampler = list(range(n)) if as_list else crd.SequentialSampler(range(n))
    ours = crd.BatchSampler(sampler, bs, drop_last)
    theirs = tud.BatchSampler(range(n), bs, drop_last)
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs)


# ------------------------------------------------------------------ DataLoader
@given(
    n=st.integers(1, 40),
    bs=st.integers(1, 9),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
    plain=st.booleans(),
)
def test_every_sample_once_per_epoch(n: int, bs: int, drop_last: bool, shuffle: bool, plain: bool) -> None:
    ds = PlainDataset(n) if plain else make_ds(n)
    loader = crd.DataLoader(ds, batch_size=bs, shuffle=shuffle, drop_last=drop_last)
    theirs = tud.DataLoader(range(n), batch_size=bs, drop_last=drop_last)
    batches = epoch_labels(loader)
    assert len(loader) == len(theirs) == len(batches)
    assert [len(b) for b in batches] == [len(b) for b in theirs]
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))
    if drop_last:
        assert len(flat) == n - n % bs
    else:
        assert sorted(flat) == list(range(n))
    if not shuffle:
        assert flat == list(range(len(flat)))


def test_batches_hold_the_right_rows() -> None:
    ds = make_ds(20)
    for x, y in crd.DataLoader(ds, batch_size=6, shuffle=True):
        assert x.shape == (len(y), 3) and x.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(x._array, ds.tensors[0]._array[y._array])


def test_same_seed_same_batches_new_order_each_epoch() -> None:
    ds = make_ds(100)
    cr.manual_seed(3)
    loader = crd.DataLoader(ds, batch_size=16, shuffle=True)
    first, second = epoch_labels(loader), epoch_labels(loader)
    assert first != second
    cr.manual_seed(3)
    assert epoch_labels(loader) == first and epoch_labels(loader) == second
    # an explicit generator gives the same stream whatever the global state
    a = epoch_labels(crd.DataLoader(ds, batch_size=16, shuffle=True, generator=Generator(5)))
    cr.manual_seed(123)
    b = epoch_labels(crd.DataLoader(ds, batch_size=16, shuffle=True, generator=Generator(5)))
    assert a == b


@pytest.mark.parametrize("subsets", [False, True])
def test_fast_and_general_paths_agree(subsets: bool) -> None:
    # same seed: a TensorDataset (one fancy index per batch) and the per-sample path give equal batches
    n = 37

    def epoch(ds: crd.Dataset) -> list:
        if subsets:
            ds = crd.Subset(crd.Subset(ds, list(range(n - 1, -1, -1))), range(0, n, 2))
        cr.manual_seed(11)
        loader = crd.DataLoader(ds, batch_size=5, shuffle=True)
        return [(x._array.tolist(), y._array.tolist()) for x, y in loader]

    assert epoch(make_ds(n)) == epoch(PlainDataset(n))


def test_subset_of_tensor_dataset_fast_path() -> None:
    ds = make_ds(10)
    train, _ = crd.random_split(ds, [7, 3])
    labels = [i for b in epoch_labels(crd.DataLoader(train, batch_size=3)) for i in b]
    assert labels == train.indices
    with pytest.raises(IndexError, match="sampler index 7 is out of range for a dataset of 7"):
        list(crd.DataLoader(train, batch_size=2, sampler=[0, 7]))
    bad = crd.Subset(ds, [0, 10])
    with pytest.raises(IndexError, match="Subset: index 10 is out of range for a dataset of 10"):
        list(crd.DataLoader(bad, batch_size=2))


def test_overridden_getitem_is_respected() -> None:
    class Doubled(crd.TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 2, y

    ds = Doubled(cr.ones(4, 2), cr.zeros(4))
    (x, _), = crd.DataLoader(ds, batch_size=4)
    np.testing.assert_array_equal(x._array, np.full((4, 2), 2.0))


def test_getitems_is_used() -> None:
    calls = []

    class Batched(PlainDataset):
        def __getitems__(self, indices):
            calls.append(list(indices))
            return [self.inner[i] for i in indices]

    loader = crd.DataLoader(Batched(5), batch_size=2)
    assert epoch_labels(loader) == [[0, 1], [2, 3], [4]]
    assert calls == [[0, 1], [2, 3], [4]]


def test_batch_size_none_yields_samples() -> None:
    ds = make_ds(4)
    samples = list(crd.DataLoader(ds, batch_size=None))
    assert len(samples) == 4 and len(crd.DataLoader(ds, batch_size=None)) == 4
    x, y = samples[1]
    assert x.shape == (3,) and y.item() == 1
    arrays = list(crd.DataLoader([np.arange(2), np.arange(2, 4)], batch_size=None))
    assert isinstance(arrays[1], cr.Tensor) and arrays[1].tolist() == [2, 3]


def test_custom_sampler_batch_sampler_and_collate() -> None:
    ds = make_ds(6)
    loader = crd.DataLoader(ds, batch_size=2, sampler=[5, 4, 3, 2, 1, 0])
    assert epoch_labels(loader) == [[5, 4], [3, 2], [1, 0]]
    loader = crd.DataLoader(ds, batch_sampler=[[0, 5], [1], [2, 3, 4]])
    assert epoch_labels(loader) == [[0, 5], [1], [2, 3, 4]]
    assert len(loader) == 3
    loader = crd.DataLoader(ds, batch_size=4, collate_fn=lambda samples: len(samples))
    assert list(loader) == [4, 2]
    loader = crd.DataLoader(ds, batch_size=4, sampler=crd.SubsetRandomSampler([1, 3, 5]))
    assert sorted(epoch_labels(loader)[0]) == [1, 3, 5]


def test_loader_errors() -> None:
    ds = make_ds(4)
    with pytest.raises(ValueError, match=r"DataLoader: batch_size should be a positive integer, got .*=0"):
        crd.DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        crd.DataLoader(ds, sampler=crd.SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        crd.DataLoader(ds, batch_size=2, batch_sampler=[[0, 1]])
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        crd.DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_workers"):
        crd.DataLoader(ds, num_workers=-1)
    with pytest.raises(IndexError, match="sampler index 9 is out of range for a dataset of 4"):
        list(crd.DataLoader(ds, batch_size=2, sampler=[0, 9]))
    with pytest.raises(ValueError, match="size mismatch"):
        crd.DataLoader(crd.TensorDataset(cr.zeros(4, 2), cr.zeros(3)))


@pytest.mark.parametrize("batch_size", [None, 2])
def test_iterator_has_the_loader_length(batch_size) -> None:
    ours = iter(crd.DataLoader(make_ds(5), batch_size=batch_size))
    theirs = iter(tud.DataLoader(list(range(5)), batch_size=batch_size))
    assert len(ours) == len(theirs) == (5 if batch_size is None else 3)
    assert iter(ours) is ours and len(list(ours)) == len(theirs)


def test_loader_attributes_fixed_at_init_cannot_be_set() -> None:
    # they built the sampler and batch sampler: setting one later would be silently ignored
    ours, theirs = crd.DataLoader(make_ds(6), batch_size=2), tud.DataLoader(list(range(6)), batch_size=2)
    for name in ("batch_size", "drop_last", "dataset", "sampler", "batch_sampler", "persistent_workers"):
        with pytest.raises(ValueError, match=f"{name} attribute should not be set after DataLoader is init"):
            setattr(theirs, name, None)
        with pytest.raises(ValueError, match=f"DataLoader: {name} attribute should not be set after"):
            setattr(ours, name, None)
    assert [len(y) for _, y in ours] == [2, 2, 2]
    ours.collate_fn = lambda samples: len(samples)  # others may change, as in PyTorch
    assert list(ours) == [2, 2, 2]


def test_batch_keeps_graph_of_tensors_that_require_grad() -> None:
    x = cr.tensor(np.arange(8, dtype=np.float32).reshape(4, 2), requires_grad=True)
    ds = crd.TensorDataset(x, cr.arange(4))
    (xb, _), = crd.DataLoader(ds, batch_size=2, sampler=[3, 1])
    (xb * cr.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    np.testing.assert_array_equal(x.grad._array, [[0, 0], [3, 4], [0, 0], [1, 2]])


def test_transform_hook() -> None:
    ds = make_ds(6)
    loader = crd.DataLoader(ds, batch_size=4, transform=lambda x: x * 10)
    (x, y), _ = list(loader)
    np.testing.assert_array_equal(x._array, ds.tensors[0]._array[:4] * 10)
    np.testing.assert_array_equal(y._array, [0, 1, 2, 3])
    # a tensor batch is transformed whole; tuples and namedtuples keep their type
    tensors = crd.DataLoader([np.ones(2)] * 2, batch_size=2, transform=lambda x: x + 1)
    np.testing.assert_array_equal(next(iter(tensors))._array, np.full((2, 2), 2.0))
    Pair = collections.namedtuple("Pair", ["x", "y"])
    pairs = crd.DataLoader([Pair(1, 2)] * 2, batch_size=2, transform=lambda x: x * 3)
    batch = next(iter(pairs))
    assert isinstance(batch, Pair) and batch.x.tolist() == [3, 3] and batch.y.tolist() == [2, 2]
    dicts = crd.DataLoader([{"a": 1}] * 2, batch_size=2, transform=lambda x: x)
    with pytest.raises(TypeError, match="transform applies to the first element"):
        next(iter(dicts))
    with pytest.raises(TypeError, match="transform should be callable"):
        crd.DataLoader(ds, transform=3)


def test_w1_sized_epoch_takes_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # a W1-sized epoch (60,000 x 784) must not fetch samples one by one
    ds = crd.TensorDataset(cr.zeros(60000, 784), cr.zeros(60000, dtype=cr.int64))

    def no_per_sample(self, i):
        raise AssertionError("per-sample __getitem__ on the fast path")

    monkeypatch.setattr(crd.TensorDataset, "__getitem__", no_per_sample)
    loader = crd.DataLoader(ds, batch_size=128, shuffle=True)
    count = sum(len(y) for _, y in loader)
    assert count == 60000 and len(loader) == 469


# ------------------------------------------------------------------ collation
def as_numpy(value):
    """Collated output in a comparable form: arrays (with dtype) for tensors, containers by type."""
    if isinstance(value, (cr.Tensor, torch.Tensor)):
        arr = value.numpy() if isinstance(value, torch.Tensor) else value._array
        return ("tensor", arr.dtype.name, arr.tolist())
    if isinstance(value, dict):
        return ("dict", {k: as_numpy(v) for k, v in value.items()})
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return (type(value).__name__, [as_numpy(v) for v in value])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [as_numpy(v) for v in value])
    return value


Point = collections.namedtuple("Point", ["x", "y"])


def test_default_collate_nested_matches_torch() -> None:
    rng = np.random.default_rng(0)

    def sample(i: int, lib) -> dict:
        return {
            "image": lib.tensor(rng_arrays[i]),
            "array": np.arange(3, dtype=np.int32) + i,
            "label": i,
            "flag": i % 2 == 0,
            "npscalar": np.float64(i / 2),
            "name": f"s{i}",
            "point": Point(np.float32(i), lib.tensor([i, i + 1])),
            "pair": (lib.tensor(float(i)), [i, i * 2]),
        }

    rng_arrays = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(4)]
    ours = crd.default_collate([sample(i, cr) for i in range(4)])
    theirs = tud.default_collate([sample(i, torch) for i in range(4)])
    assert as_numpy(ours) == as_numpy(theirs)
    assert ours["label"].dtype == np.int64 and ours["flag"].dtype == np.bool_
    assert ours["image"].shape == (4, 2, 3) and ours["array"].dtype == np.int32
    assert isinstance(ours["point"], Point) and isinstance(ours["pair"], list)


def test_default_collate_promotes_dtypes_like_torch() -> None:
    ours = crd.default_collate([cr.tensor([1, 2]), cr.tensor([1.5, 2.0])])
    theirs = tud.default_collate([torch.tensor([1, 2]), torch.tensor([1.5, 2.0])])
    assert as_numpy(ours) == as_numpy(theirs)


@pytest.mark.parametrize(
    "dtypes",
    [
        (np.float32, np.int64),
        (np.int64, np.float16),
        (np.int16, np.float16),
        (np.uint8, np.int8),
        (np.bool_, np.uint8),
        (np.int32, np.float64),
    ],
)
@pytest.mark.parametrize("shape", [(2,), ()])
def test_default_collate_promotes_numpy_dtypes_like_torch(dtypes, shape) -> None:
    # PyTorch makes each sample a tensor and stacks: float32 with int64 is float32, not NumPy's float64
    arrays = [np.full(shape, i + 1, dtype=d) for i, d in enumerate(dtypes)]
    assert as_numpy(crd.default_collate(arrays)) == as_numpy(tud.default_collate(arrays))
    scalars = [d(i + 1) for i, d in enumerate(dtypes)]
    if np.bool_ not in dtypes:  # PyTorch cannot read a NumPy bool beside ints; we can
        assert as_numpy(crd.default_collate(scalars)) == as_numpy(tud.default_collate(scalars))
    mixed = [np.int32(1), 2, np.float16(3.0), True]  # Python ints count as int64, as torch.as_tensor
    assert as_numpy(crd.default_collate(mixed)) == as_numpy(tud.default_collate(mixed))


def test_default_collate_strings_and_tensors_after_arrays_like_torch() -> None:
    # strings come back as PyTorch leaves them: a tuple inside tuple/list samples, a list in dicts
    samples = [("a", 1, {"k": "x"}), ("b", 2, {"k": "y"})]
    assert as_numpy(crd.default_collate(samples)) == as_numpy(tud.default_collate(samples))
    assert crd.default_collate(samples)[0] == ("a", "b")
    # an array first, then tensors: PyTorch converts each sample and stacks
    ours = crd.default_collate([np.ones(2, np.float32), cr.tensor([2, 3])])
    theirs = tud.default_collate([np.ones(2, np.float32), torch.tensor([2, 3])])
    assert as_numpy(ours) == as_numpy(theirs)
    with pytest.raises(TypeError, match="unsupported dtype datetime64"):
        crd.default_convert(np.datetime64("2020-01-01"))  # PyTorch cannot make a tensor of it either


def test_default_collate_python_floats_are_float32() -> None:
    # a deliberate difference: PyTorch makes float64 from Python floats, we keep the default float dtype
    ours = crd.default_collate([0.5, 1.5])
    theirs = tud.default_collate([0.5, 1.5])
    assert ours.dtype == np.float32 and theirs.dtype == torch.float64
    np.testing.assert_array_equal(ours._array, theirs.numpy())


def test_default_convert_matches_torch() -> None:
    data = {"a": np.arange(3), "b": (np.float32(2.0), 5, "s"), "c": [np.ones(2)], "p": Point(np.int64(1), 2)}
    assert as_numpy(crd.default_convert(data)) == as_numpy(tud.default_convert(data))
    assert crd.default_convert(7) == 7


def test_default_collate_errors() -> None:
    with pytest.raises(RuntimeError, match=r"sample 1 has shape \(3,\) but sample 0 has \(2,\)"):
        crd.default_collate([cr.zeros(2), cr.zeros(3)])
    with pytest.raises(RuntimeError, match="same shape"):
        crd.default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="sample 1 is a list but sample 0 is a Tensor"):
        crd.default_collate([cr.zeros(2), [1, 2]])
    with pytest.raises(RuntimeError, match="each element in list of batch should be of equal size"):
        crd.default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        crd.default_collate([None, None])
    with pytest.raises(TypeError, match="default_collate: batch must contain tensors"):
        crd.default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(ValueError, match="empty"):
        crd.default_collate([])
