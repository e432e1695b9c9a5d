"""Sequence and time-series data tools: sliding windows, padding, masks, collation, truncated BPTT.

Windows are checked against PyTorch's ``Tensor.unfold`` (and the length formula
on configurations drawn by hypothesis), padding against
``torch.nn.utils.rnn.pad_sequence`` (values and gradients, plus finite
differences), the TBPTT layout against the ``batchify`` of PyTorch's
word-language-model example, and the carry-and-detach loop end to end with an
LSTM on a toy stream.
"""

from __future__ import annotations

import functools
from collections import namedtuple

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn.utils.rnn import pad_sequence as torch_pad_sequence

import chainrule as cr
import chainrule.data as crd
from chainrule.data import (
    SlidingWindowDataset,
    collate_sequences,
    detach_state,
    lengths_to_mask,
    pad_sequences,
    tbptt_batches,
)
from helpers import check_against_torch, check_gradcheck


def rand(shape: tuple[int, ...], seed: int = 0, dtype: type = np.float32) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ sliding windows
@given(
    steps=st.integers(2, 40),
    window=st.integers(1, 10),
    horizon=st.integers(1, 5),
    stride=st.integers(1, 6),
    features=st.sampled_from([None, 1, 3]),
)
def test_sliding_windows_match_unfold_and_the_length_formula(
    steps: int, window: int, horizon: int, stride: int, features: int | None
) -> None:
    shape = (steps,) if features is None else (steps, features)
    series = rand(shape, seed=steps)
    if steps < window + horizon:
        with pytest.raises(ValueError, match="too short for window"):
            SlidingWindowDataset(series, window, horizon, stride)
        return
    ds = SlidingWindowDataset(series, window, horizon, stride)
    assert len(ds) == (steps - window - horizon) // stride + 1
    # PyTorch's unfold cuts the same windows of window + horizon steps: (N, F..., window + horizon)
    unfolded = torch.from_numpy(series).unfold(0, window + horizon, stride)
    assert len(ds) == unfolded.shape[0]
    whole = unfolded.numpy() if features is None else np.moveaxis(unfolded.numpy(), -1, 1)
    xs, ys = ds[:]
    f = 1 if features is None else features
    assert xs.shape == (len(ds), window, f) and xs.dtype == np.float32
    assert ys.shape == ((len(ds), horizon) if features is None else (len(ds), horizon, f))
    np.testing.assert_array_equal(xs._array, whole[:, :window].reshape(len(ds), window, f))
    np.testing.assert_array_equal(ys._array, whole[:, window:])
    for i in (0, len(ds) - 1, -1):
        x, y = ds[i]
        np.testing.assert_array_equal(x._array, xs._array[i])
        np.testing.assert_array_equal(y._array, ys._array[i])


def test_sliding_window_target_columns_select_the_targets() -> None:
    series = np.arange(30, dtype=np.float64).reshape(10, 3)  # value = 3 * step + column
    one = SlidingWindowDataset(series, window=4, horizon=2, target_columns=1)
    x, y = one[0]
    assert x.shape == (4, 3) and y.shape == (2,)
    np.testing.assert_array_equal(y._array, [13, 16])  # steps 4 and 5, column 1
    several = SlidingWindowDataset(series, window=4, horizon=2, target_columns=[2, 0])
    np.testing.assert_array_equal(several[1][1]._array, [[17, 15], [20, 18]])  # steps 5, 6
    last = SlidingWindowDataset(series, window=4, target_columns=-1)
    np.testing.assert_array_equal(last[-1][1]._array, [29])
    every = SlidingWindowDataset(series, window=4, horizon=3)
    assert every[0][1].shape == (3, 3)


def test_sliding_window_accepts_tensors_lists_and_indexes_like_a_dataset() -> None:
    values = rand((25, 2))
    from_tensor = SlidingWindowDataset(cr.tensor(values, requires_grad=True), 6, 2, 2)
    from_list = SlidingWindowDataset(values.tolist(), 6, 2, 2)
    for a, b in zip(from_tensor[:], from_list[:], strict=True):
        np.testing.assert_array_equal(a._array, b._array)
        assert not a.requires_grad and a.dtype == np.float32
    ds = from_tensor
    np.testing.assert_array_equal(ds[[3, 0]][0]._array, np.stack([ds[3][0]._array, ds[0][0]._array]))
    np.testing.assert_array_equal(ds[1::3][1]._array, ds[np.array([1, 4, 7])][1]._array)
    mask = np.zeros(len(ds), bool)
    mask[2] = True
    np.testing.assert_array_equal(ds[mask][0]._array[0], ds[2][0]._array)
    # a sample is a copy: changing it leaves the dataset as it was
    x, _ = ds[0]
    x._array[:] = 99.0
    assert ds[0][0]._array[0, 0] == values[0, 0]
    assert "samples=9" in repr(ds)


def test_sliding_window_batches_through_the_dataloader() -> None:
    series = np.sin(np.arange(50) / 3.0)
    ds = SlidingWindowDataset(series, window=8, horizon=2)
    per_sample = list(crd.DataLoader(ds, batch_size=16))  # the general path: samples stacked by collate
    fast = list(crd.DataLoader(crd.TensorDataset(*ds[:]), batch_size=16))  # one fancy index per batch
    assert len(per_sample) == len(fast) == 3
    for (xa, ya), (xb, yb) in zip(per_sample, fast, strict=True):
        np.testing.assert_array_equal(xa._array, xb._array)
        np.testing.assert_array_equal(ya._array, yb._array)
    assert per_sample[0][0].shape == (16, 8, 1) and per_sample[0][1].shape == (16, 2)


def test_sliding_window_errors_name_the_problem() -> None:
    ok = np.zeros((20, 2))
    with pytest.raises(ValueError, match=r"SlidingWindowDataset: a series of 5 steps is too short.*6 steps"):
        SlidingWindowDataset(np.zeros(5), window=4, horizon=2)
    with pytest.raises(ValueError, match=r"SlidingWindowDataset: series must have shape \(T,\) or \(T, F\)"):
        SlidingWindowDataset(np.zeros((4, 2, 2)), 2)
    with pytest.raises(ValueError, match="window must be a positive int"):
        SlidingWindowDataset(ok, 0)
    with pytest.raises(ValueError, match="stride must be a positive int"):
        SlidingWindowDataset(ok, 2, stride=1.5)
    nan = np.arange(10.0)
    nan[[3, 7]] = np.nan
    with pytest.raises(ValueError, match=r"2 NaN or infinite value\(s\), at step\(s\) 3, 7"):
        SlidingWindowDataset(nan, 2)
    with pytest.raises(ValueError, match="target column 2 is out of range for a series of 2 columns"):
        SlidingWindowDataset(ok, 3, target_columns=2)
    with pytest.raises(ValueError, match="target_columns needs a"):
        SlidingWindowDataset(np.zeros(20), 3, target_columns=0)
    with pytest.raises(TypeError, match="target_columns must be None, an int or a list"):
        SlidingWindowDataset(ok, 3, target_columns="a")
    with pytest.raises(ValueError, match="target_columns is empty"):
        SlidingWindowDataset(ok, 3, target_columns=[])
    with pytest.raises(TypeError, match="series must be numeric"):
        SlidingWindowDataset(["a", "b", "c"], 1)
    ds = SlidingWindowDataset(ok, 3)
    with pytest.raises(IndexError, match="index 17 is out of range for 17 samples"):
        ds[17]
    with pytest.raises(IndexError, match="index -18 is out of range for 17 samples"):
        ds[[0, -18]]


# ------------------------------------------------------------------ padding
@st.composite
def sequence_batches(draw: st.DrawFn) -> tuple[list[tuple[int, ...]], bool, float, str]:
    rest = draw(st.sampled_from([(), (1,), (3,), (2, 2)]))
    lengths = draw(st.lists(st.integers(0, 6), min_size=1, max_size=5).filter(lambda ls: max(ls) > 0))
    shapes = [(n, *rest) for n in lengths]
    side = draw(st.sampled_from(["right", "left"]))
    return shapes, draw(st.booleans()), draw(st.sampled_from([0.0, -1.5])), side


@given(sequence_batches())
def test_pad_sequences_matches_torch_values_and_gradients(case: tuple) -> None:
    shapes, batch_first, value, side = case
    arrays = [rand(s, seed=i) for i, s in enumerate(shapes)]

    def ours(*seqs: cr.Tensor) -> cr.Tensor:
        padded, lengths = pad_sequences(list(seqs), batch_first, value, padding_side=side)
        np.testing.assert_array_equal(lengths._array, [s[0] for s in shapes])
        assert lengths.dtype == np.int64
        return padded

    def theirs(*seqs: torch.Tensor) -> torch.Tensor:
        return torch_pad_sequence(list(seqs), batch_first=batch_first, padding_value=value, padding_side=side)

    check_against_torch(ours, theirs, arrays)


def test_pad_sequences_gradcheck() -> None:
    arrays = [rand((3, 2), seed=1), rand((1, 2), seed=2), rand((4, 2), seed=3)]
    check_gradcheck(lambda *s: pad_sequences(list(s), batch_first=False)[0], arrays)
    check_gradcheck(lambda *s: pad_sequences(list(s), padding_side="left")[0], arrays)


def test_pad_sequences_keeps_dtypes_and_accepts_arrays_and_lists() -> None:
    ids, lengths = pad_sequences([np.array([3, 1, 4]), [1, 5], cr.tensor([9])], padding_value=-1)
    assert ids.dtype == np.int64 and lengths.tolist() == [3, 2, 1]
    np.testing.assert_array_equal(ids._array, [[3, 1, 4], [1, 5, -1], [9, -1, -1]])
    mixed, _ = pad_sequences([cr.ones(2, dtype=cr.float32), np.zeros(1, np.float64)])
    assert mixed.dtype == np.float64  # promoted by PyTorch's rule
    kept, _ = pad_sequences([np.zeros((2, 3))])
    assert kept.dtype == np.float64  # NumPy arrays keep their dtype, as cr.as_tensor does
    only_grad = cr.ones(2, 3, requires_grad=True)
    padded, _ = pad_sequences([cr.zeros(1, 3), only_grad])
    (padded * cr.tensor(rand((2, 2, 3)))).sum().backward()
    assert only_grad.grad is not None and only_grad.grad.shape == (2, 3)


@pytest.mark.parametrize(
    ("dtype", "value"),
    [
        (np.uint8, -1),
        (np.uint8, 300),
        (np.uint8, -2.5),
        (np.int8, 1e6),
        (np.int64, float("nan")),
        (np.int32, float("inf")),
        (np.float16, 1e6),
    ],
)
def test_pad_sequences_refuses_a_padding_value_the_dtype_cannot_hold(dtype, value) -> None:
    # PyTorch raises; NumPy would wrap -2.5 into uint8 254 and 1e6 into int8 64
    seqs = [np.ones(1, dtype), np.ones(2, dtype)]
    with pytest.raises(RuntimeError, match="cannot be converted to type"):
        torch_pad_sequence([torch.tensor(s) for s in seqs], padding_value=value)
    with pytest.raises(
        RuntimeError, match=f"pad_sequences: padding_value .* cannot be converted to .*{dtype.__name__}"
    ):
        pad_sequences(seqs, padding_value=value)


@pytest.mark.parametrize(
    ("dtype", "value"),
    [
        (np.uint8, 2.5),
        (np.int8, -2.5),
        (np.int64, 1e6),
        (np.bool_, -7),
        (np.float16, float("inf")),
        (np.float32, float("nan")),
    ],
)
def test_pad_sequences_padding_values_the_dtype_holds_match_torch(dtype, value) -> None:
    seqs = [np.ones(1, dtype), np.ones(3, dtype)]
    want = torch_pad_sequence([torch.tensor(s) for s in seqs], batch_first=True, padding_value=value)
    got, _ = pad_sequences(seqs, padding_value=value)
    assert got.dtype == want.numpy().dtype
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_pad_sequences_mixed_dtypes_promote_by_torch_rule() -> None:
    # PyTorch's pad_sequence casts to the first sequence's dtype; we promote, by PyTorch's rule
    got, _ = pad_sequences([np.ones(2, np.int64), np.full(1, 2.5, np.float16)])
    assert got.dtype == np.float16 and got.tolist() == [[1.0, 1.0], [2.5, 0.0]]
    got, _ = pad_sequences([np.ones(1, np.float32), np.ones(2, np.int64)])
    assert got.dtype == np.float32


def test_pad_sequences_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="pad_sequences: expected a non-empty list of sequences"):
        pad_sequences([])
    with pytest.raises(ValueError, match="expected a non-empty list of sequences, got a Tensor"):
        pad_sequences(cr.ones(3, 2))
    with pytest.raises(ValueError, match=r"sequence 1 has shape \(2, 4\); every sequence must be \(L, 3\)"):
        pad_sequences([cr.ones(2, 3), cr.ones(2, 4)])
    with pytest.raises(ValueError, match=r"sequence 0 has shape \(\); every sequence must be at least 1-D"):
        pad_sequences([cr.tensor(1.0)])
    with pytest.raises(ValueError, match="padding_side must be 'right' or 'left'"):
        pad_sequences([cr.ones(2)], padding_side="pre")


def test_lengths_to_mask_marks_the_real_steps() -> None:
    lengths = [3, 0, 5, 1]
    mask = lengths_to_mask(cr.tensor(lengths))
    assert mask.dtype == np.bool_ and mask.shape == (4, 5)
    expected = np.array([[t < n for t in range(5)] for n in lengths])
    np.testing.assert_array_equal(mask._array, expected)
    wide = lengths_to_mask(np.array(lengths), max_len=7)
    np.testing.assert_array_equal(wide._array[:, :5], expected)
    assert not wide._array[:, 5:].any()
    # the mask of pad_sequences' lengths is where the padding is not
    padded, lens = pad_sequences([cr.ones(2), cr.ones(4)], padding_value=0.0)
    np.testing.assert_array_equal(lengths_to_mask(lens)._array, padded._array == 1)
    assert lengths_to_mask([]).shape == (0, 0)


def test_lengths_to_mask_errors() -> None:
    with pytest.raises(ValueError, match=r"max_len must be an int >= the longest length \(5\)"):
        lengths_to_mask([5, 2], max_len=4)
    with pytest.raises(ValueError, match="lengths must be >= 0, got -1"):
        lengths_to_mask([2, -1])
    with pytest.raises(ValueError, match="lengths must be a 1-D sequence of ints"):
        lengths_to_mask([[1, 2]])
    with pytest.raises(ValueError, match="lengths must be a 1-D sequence of ints, got float32"):
        lengths_to_mask([1.0, 2.0])


class VariableLengths(crd.Dataset):
    """Sequences of length 1..n with a class label: the samples a collate_fn must pad."""

    def __init__(self, n: int) -> None:
        self.seqs = [rand((i + 1, 2), seed=i) for i in range(n)]

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.seqs[i], i % 3

    def __len__(self) -> int:
        return len(self.seqs)


def test_collate_sequences_pads_each_batch_in_a_dataloader() -> None:
    ds = VariableLengths(7)
    loader = crd.DataLoader(ds, batch_size=3, shuffle=True, collate_fn=collate_sequences)
    seen = []
    for (x, lengths), y in loader:
        idx = [int(n) - 1 for n in lengths.tolist()]  # sample i has length i + 1
        expected = torch_pad_sequence([torch.from_numpy(ds.seqs[i]) for i in idx], batch_first=True)
        np.testing.assert_array_equal(x._array, expected.numpy())
        assert x.shape[1] == max(lengths.tolist())
        assert y.dtype == np.int64 and y.tolist() == [i % 3 for i in idx]
        seen += idx
    assert sorted(seen) == list(range(7))
    time_major = functools.partial(collate_sequences, batch_first=False, padding_value=-9.0)
    (x, lengths), _ = time_major([ds[0], ds[2]])
    assert x.shape == (3, 2, 2) and x._array[1, 0, 0] == -9.0


def test_collated_batches_feed_a_recurrent_layer_with_their_lengths() -> None:
    """Padding plus ``lengths`` changes nothing: each final state is the one of the sequence run alone."""
    ds = VariableLengths(5)
    (x, lengths), _ = collate_sequences([ds[4], ds[1], ds[2]])
    gru = cr.nn.GRU(2, 3, batch_first=True)
    out, h_n = gru(x, lengths=lengths)
    for b, i in enumerate((4, 1, 2)):
        alone_out, alone_h = gru(cr.tensor(ds.seqs[i])[None])
        np.testing.assert_allclose(h_n._array[0, b], alone_h._array[0, 0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out._array[b, : i + 1], alone_out._array[0], rtol=1e-5, atol=1e-6)
    mask = lengths_to_mask(lengths, x.shape[1])
    # outputs at padded steps are zeros, as PyTorch's packed sequences
    assert not out._array[~mask._array].any()


def test_collate_sequences_errors() -> None:
    with pytest.raises(ValueError, match="collate_sequences: the batch is empty"):
        collate_sequences([])
    with pytest.raises(TypeError, match="sample 1 is a Tensor of shape \\(3,\\); expected a pair"):
        collate_sequences([(cr.ones(2), 0), cr.ones(3)])
    with pytest.raises(RuntimeError, match="collate_sequences: the targets cannot be batched"):
        collate_sequences([(cr.ones(2), cr.ones(2)), (cr.ones(3), cr.ones(3))])


# ------------------------------------------------------------------ truncated BPTT
def torch_batchify(data: torch.Tensor, bsz: int) -> torch.Tensor:
    """PyTorch's word_language_model example: (T,) -> (T // bsz, bsz), column b the b-th part."""
    nbatch = data.size(0) // bsz
    return data.narrow(0, 0, nbatch * bsz).view(bsz, -1).t().contiguous()


@given(steps=st.integers(1, 60), chunk_len=st.integers(1, 9), batch_size=st.integers(1, 5))
def test_tbptt_layout_matches_pytorch_batchify(steps: int, chunk_len: int, batch_size: int) -> None:
    stream = np.arange(steps, dtype=np.int64)
    if steps < batch_size:
        with pytest.raises(ValueError, match="cannot feed batch_size"):
            tbptt_batches(stream, chunk_len, batch_size)
        return
    expected = torch_batchify(torch.from_numpy(stream), batch_size).numpy()  # (steps // bsz, bsz)
    chunks = list(tbptt_batches(stream, chunk_len, batch_size, batch_first=False))
    per_row = steps // batch_size
    assert len(chunks) == -(-per_row // chunk_len)
    assert all(c.shape == (chunk_len, batch_size) for c in chunks[:-1])
    np.testing.assert_array_equal(np.concatenate([c._array for c in chunks]), expected)
    assert chunks[0].dtype == np.int64  # token ids stay ids
    batch_major = list(tbptt_batches(stream, chunk_len, batch_size, drop_last=True))
    assert len(batch_major) == per_row // chunk_len
    for a, b in zip(batch_major, chunks, strict=False):
        np.testing.assert_array_equal(a._array, b._array.T)


def test_tbptt_targets_stay_aligned_and_features_are_kept() -> None:
    series = np.arange(41, dtype=np.float64)[:, None] * [1.0, -1.0]  # (T, 2)
    pairs = list(tbptt_batches(series[:-1], chunk_len=4, batch_size=3, targets=series[1:, 0]))
    assert len(pairs) == 4  # 40 // 3 = 13 steps per stream: chunks of 4, 4, 4, 1
    for x, y in pairs:
        assert x.dtype == np.float32 and x.shape[::2] == (3, 2) and y.shape == x.shape[:2]
        np.testing.assert_array_equal(y._array, x._array[..., 0] + 1)  # the next value
    # consecutive chunks continue each row where the last one stopped
    assert pairs[1][0]._array[0, 0, 0] == pairs[0][0]._array[0, -1, 0] + 1
    assert pairs[0][0]._array[1, 0, 0] == 13.0  # row 1 starts at the second part of the stream
    from_tensor = next(tbptt_batches(cr.tensor(series, dtype=cr.float64), 4, 3))
    assert from_tensor.dtype == np.float64  # Tensors keep their dtype


def test_tbptt_errors() -> None:
    with pytest.raises(ValueError, match="tbptt_batches: chunk_len must be a positive int"):
        tbptt_batches(np.zeros(10), 0, 2)
    with pytest.raises(ValueError, match="tbptt_batches: batch_size must be a positive int"):
        tbptt_batches(np.zeros(10), 3, -1)
    with pytest.raises(ValueError, match="targets has 9 steps but stream has 10"):
        tbptt_batches(np.zeros(10), 3, 2, targets=np.zeros(9))
    with pytest.raises(ValueError, match="a stream of 3 steps cannot feed batch_size=4"):
        tbptt_batches(np.zeros(3), 3, 4)
    with pytest.raises(ValueError, match="stream must have a time dimension first"):
        tbptt_batches(np.float32(1.0), 3, 4)


def flatten(state: object) -> list[cr.Tensor]:
    if isinstance(state, (tuple, list)):
        return [t for s in state for t in flatten(s)]
    return [state]


def test_detach_state_keeps_values_and_structure_and_cuts_the_graph() -> None:
    w = cr.ones(2, 3, requires_grad=True)
    h, c = w * 2, w * 3
    for state in (h, (h, c), [(h, c), (h, c)]):
        out = detach_state(state)
        assert type(out) is type(state)
        for t in flatten(out):
            assert isinstance(t, cr.Tensor) and not t.requires_grad and t._ctx is None
    h2, c2 = detach_state((h, c))
    assert h2._array is h._array and c2._array is c._array  # the same values, not copied
    State = namedtuple("State", "h c")
    assert isinstance(detach_state(State(h, c)), State)
    assert detach_state(None) is None
    with pytest.raises(TypeError, match="detach_state: expected a Tensor, a tuple or list of Tensors"):
        detach_state({"h": h})


def test_tbptt_training_loop_learns_a_toy_stream() -> None:
    """The docstring's carry-and-detach loop, end to end: an LSTM learns to predict a noisy sine stream."""
    cr.manual_seed(0)
    t = np.arange(4001)
    series = (np.sin(2 * np.pi * t / 25) + 0.05 * np.random.default_rng(0).standard_normal(t.size))[:, None]
    lstm, head = cr.nn.LSTM(1, 16, batch_first=True), cr.nn.Linear(16, 1)
    params = list(lstm.parameters()) + list(head.parameters())
    opt = cr.optim.Adam(params, lr=0.02)
    losses = []
    for _ in range(4):
        state = None  # each epoch starts the 16 parallel streams afresh
        for x, y in tbptt_batches(series[:-1], 25, 16, targets=series[1:]):
            out, state = lstm(x, state)
            loss = cr.nn.functional.mse_loss(head(out), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            state = detach_state(state)
            assert not state[0].requires_grad and not state[1].requires_grad
            losses.append(loss.item())
    assert len(losses) == 4 * 10  # 4000 // 16 = 250 steps per stream, in chunks of 25
    # the sine has variance 0.5: predicting it from its past must do far better than its mean
    assert np.mean(losses[:3]) > 0.2
    assert np.mean(losses[-5:]) < 0.05, losses
    # without detach_state the next backward runs into the previous chunk's freed graph
    chunks = tbptt_batches(series[:-1], 25, 16, targets=series[1:])
    (x1, _), (x2, _) = next(chunks), next(chunks)
    out, state = lstm(x1)
    out.sum().backward()
    out, _ = lstm(x2, state)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.sum().backward()
