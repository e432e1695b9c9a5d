"""Sequences and time series: sliding windows for forecasting, padding for variable lengths, truncated BPTT.

* :class:`SlidingWindowDataset` cuts a series into ``(window, horizon)``
  pairs: the past ``window`` steps as input, the next ``horizon`` steps as
  target.
* :func:`pad_sequences`, :func:`lengths_to_mask` and :func:`collate_sequences`
  batch sequences of different lengths: pad them to the longest and keep the
  lengths, which recurrent layers take (``lstm(x, lengths=lengths)``) so that
  padded steps change nothing.
* :func:`tbptt_batches` and :func:`detach_state` train on a stream too long to
  back-propagate through at once: cut it into chunks, carry the recurrent state
  from chunk to chunk, and detach it so each backward pass stops at the chunk's
  start (truncated backpropagation through time).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from chainrule import backend, devices
from chainrule.creation import as_array
from chainrule.data.collate import default_collate
from chainrule.data.dataset import Dataset
from chainrule.ops.sequence import PadSequence
from chainrule.tensor import Tensor
from chainrule.validation import positive_int

__all__ = [
    "SlidingWindowDataset",
    "collate_sequences",
    "detach_state",
    "lengths_to_mask",
    "pad_sequences",
    "tbptt_batches",
]

_make = Tensor._make


# ------------------------------------------------------------------ argument checks
def _numeric(data: Any, owner: str, what: str) -> np.ndarray:
    """``data`` (Tensor, ndarray, list, pandas object) as an ndarray without copying where possible."""
    try:
        arr = as_array(data, copy=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{owner}: {what} must be numeric (a Tensor, NumPy array or list); {e}") from None
    return arr


def _float_series(data: Any, owner: str) -> np.ndarray:
    """A (T,) or (T, F) series as a finite array of the default float dtype."""
    arr = _numeric(data, owner, "series")
    if arr.ndim not in (1, 2):
        raise ValueError(f"{owner}: series must have shape (T,) or (T, F), got shape {arr.shape}")
    arr = arr.astype(backend.get_default_dtype(), copy=True)
    bad = ~np.isfinite(arr)
    if bad.any():
        steps = np.unique(np.nonzero(bad)[0])
        shown = ", ".join(str(s) for s in steps[:5]) + (", ..." if steps.size > 5 else "")
        raise ValueError(
            f"{owner}: series has {int(bad.sum())} NaN or infinite value(s), at step(s) {shown}; "
            "fill or drop them first (e.g. pandas .interpolate() or .dropna())"
        )
    return arr


# ------------------------------------------------------------------ sliding windows
class SlidingWindowDataset(Dataset[tuple[Tensor, Tensor]]):
    """Forecasting samples from one series: the past ``window`` steps and the ``horizon`` steps after them.

    ``series`` is ``(T,)`` or ``(T, F)`` (a Tensor, NumPy array, list or
    pandas object); its values become the default float dtype (float32), as
    the models that read them are. Sample ``i`` starts at step
    ``s = i * stride``::

        input  = series[s : s + window]                          # (window, F); F = 1 for a (T,) series
        target = series[s + window : s + window + horizon, cols] # (horizon,) or (horizon, F_target)

    The target is ``(horizon,)`` when the series is 1-D or ``target_columns``
    is one int, and ``(horizon, F_target)`` when it is a list of columns (or
    None, meaning all columns, on a 2-D series). The inputs keep every column,
    targets included (an autoregressive model sees the past of what it
    predicts). There are ``len(ds) = (T - window - horizon) // stride + 1``
    samples: the last target ends at most at step ``T``.

    ``ds[i]`` is one ``(input, target)`` pair; ``ds[a:b]`` or ``ds[indices]``
    gives a batch of pairs as two tensors, so ``TensorDataset(*ds[:])`` holds
    every window at once (the DataLoader batches a TensorDataset fastest), and
    ``ds[:]`` feeds a scikit-learn baseline.
    """

    def __init__(
        self,
        series: Any,
        window: int,
        horizon: int = 1,
        stride: int = 1,
        target_columns: int | Sequence[int] | None = None,
    ) -> None:
        owner = "SlidingWindowDataset"
        arr = _float_series(series, owner)
        self.window = positive_int(window, "window", owner)
        self.horizon = positive_int(horizon, "horizon", owner)
        self.stride = positive_int(stride, "stride", owner)
        values = arr if arr.ndim == 2 else arr[:, None]
        steps, features = values.shape
        if target_columns is None:
            targets = arr
        elif isinstance(target_columns, (int, np.integer)) and not isinstance(target_columns, bool):
            targets = values[:, self._column(int(target_columns), features, arr.ndim)]
        elif isinstance(target_columns, Sequence) and not isinstance(target_columns, str):
            if not len(target_columns):
                raise ValueError(f"{owner}: target_columns is empty; give at least one column, or None")
            cols = [self._column(c, features, arr.ndim) for c in target_columns]
            targets = values[:, cols]
        else:
            raise TypeError(
                f"{owner}: target_columns must be None, an int or a list of ints, "
                f"got {type(target_columns).__name__}"
            )
        need = self.window + self.horizon
        if steps < need:
            raise ValueError(
                f"{owner}: a series of {steps} steps is too short for window={self.window} plus "
                f"horizon={self.horizon} ({need} steps)"
            )
        self.target_columns = target_columns
        self.num_features = features
        self._values = values
        self._targets = np.ascontiguousarray(targets)
        self._len = (steps - need) // self.stride + 1
        self._in_offsets = np.arange(self.window)
        self._out_offsets = np.arange(self.window, need)

    @staticmethod
    def _column(c: Any, features: int, ndim: int) -> int:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"SlidingWindowDataset: target column {c!r} is not an int")
        if ndim == 1:
            raise ValueError(
                "SlidingWindowDataset: target_columns needs a (T, F) series; this one is 1-D (the target "
                "is the series itself)"
            )
        if not -features <= c < features:
            raise ValueError(
                f"SlidingWindowDataset: target column {c} is out of range for a series of {features} columns"
            )
        return int(c) % features

    def __len__(self) -> int:
        return self._len

    def _starts(self, index: Any) -> np.ndarray:
        """The first step of each sample selected by a slice or an index array."""
        if isinstance(index, slice):
            return np.arange(*index.indices(self._len)) * self.stride
        idx = np.asarray(index)
        if idx.dtype == bool:
            if idx.shape != (self._len,):
                raise IndexError(
                    f"SlidingWindowDataset: a boolean index must have shape ({self._len},), got {idx.shape}"
                )
            idx = np.nonzero(idx)[0]
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise IndexError(
                "SlidingWindowDataset: index must be an int, a slice, or a 1-D array of ints or bools, "
                f"got {index!r}"
            )
        idx = idx.astype(np.int64, copy=False)
        bad = (idx < -self._len) | (idx >= self._len)
        if bad.any():
            raise IndexError(
                f"SlidingWindowDataset: index {int(idx[bad][0])} is out of range for {self._len} samples"
            )
        return (idx % self._len) * self.stride

    def __getitem__(self, index: Any) -> tuple[Tensor, Tensor]:
        try:
            i = operator.index(index)
        except TypeError:
            # a batch: one fancy index for all windows, (B, window, F) and (B, horizon[, F_target])
            starts = self._starts(index)[:, None]
            x = self._values[starts + self._in_offsets]
            y = self._targets[starts + self._out_offsets]
            return _make(x, None), _make(y, None)
        n = self._len
        if not -n <= i < n:
            raise IndexError(f"SlidingWindowDataset: index {i} is out of range for {n} samples")
        s = (i % n) * self.stride
        w = s + self.window
        # copies: a sample changed in place must not change the dataset
        return (
            _make(self._values[s:w].copy(), None),
            _make(self._targets[w : w + self.horizon].copy(), None),
        )

    def __repr__(self) -> str:
        return (
            f"SlidingWindowDataset(samples={self._len}, window={self.window}, horizon={self.horizon}, "
            f"stride={self.stride}, features={self.num_features}, target_columns={self.target_columns!r})"
        )


# ------------------------------------------------------------------ padding
def pad_sequences(
    seqs: Sequence[Any], batch_first: bool = True, padding_value: float = 0.0, padding_side: str = "right"
) -> tuple[Tensor, Tensor]:
    """Pad sequences of different lengths to the longest; return ``(padded, lengths)``.

    Each sequence has shape ``(L_i, *rest)`` (``rest`` the same for all): a
    Tensor, NumPy array or list. ``padded`` is ``(B, L_max, *rest)`` with
    ``batch_first=True`` (the default here, as in Keras; PyTorch's
    ``pad_sequence`` defaults to False), else ``(L_max, B, *rest)``; ``lengths`` is
    an int64 tensor of the ``L_i``. Values keep their dtype, as
    :func:`torch.nn.utils.rnn.pad_sequence`, which this extends by also
    returning the lengths; mixed dtypes promote by PyTorch's rule (where
    PyTorch casts them all to the first sequence's dtype, truncating floats
    into ints). A ``padding_value`` the dtype cannot hold (-1 for uint8, 1e6
    for float16, NaN for ints) is an error, as in PyTorch. ``padding_side="left"`` puts the padding
    first; recurrent layers' ``lengths`` expect the default, right padding.
    Gradients flow back to sequences that require grad.
    """
    owner = "pad_sequences"
    if isinstance(seqs, (Tensor, np.ndarray)) or not isinstance(seqs, Sequence) or not len(seqs):
        raise ValueError(f"{owner}: expected a non-empty list of sequences, got {_describe(seqs)}")
    if padding_side not in ("right", "left"):
        raise ValueError(f"{owner}: padding_side must be 'right' or 'left', got {padding_side!r}")
    items = [s if isinstance(s, Tensor) else _numeric(s, owner, f"sequence {i}") for i, s in enumerate(seqs)]
    rest = items[0].shape[1:] if items[0].ndim else None
    for i, s in enumerate(items):
        if s.ndim == 0 or s.shape[1:] != rest:
            want = "at least 1-D" if rest is None else f"(L, {', '.join(map(str, rest))})".replace(", )", ")")
            raise ValueError(
                f"{owner}: sequence {i} has shape {tuple(s.shape)}; every sequence must be {want} "
                f"like sequence 0 (shape {tuple(items[0].shape)}), differing only in length"
            )
    lengths = np.array([s.shape[0] for s in items], dtype=np.int64)
    dtype = backend.promote_types(*[s.dtype for s in items])
    _check_fill(padding_value, dtype, owner)
    padded = PadSequence.apply(
        *items,
        batch_first=bool(batch_first),
        value=padding_value,
        left=padding_side == "left",
        max_len=int(lengths.max()),
        dtype=dtype,
    )
    return padded, _make(lengths, None)


def _check_fill(value: Any, dtype: np.dtype, owner: str) -> None:
    """Refuse a padding value that ``dtype`` cannot hold, as PyTorch does (no silent wrap-around)."""
    if not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: padding_value should be a number, got {type(value).__name__}")
    if dtype.kind == "b" or (dtype.kind == "f" and not math.isfinite(value)):
        return  # any number is a bool; inf and NaN are floats
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    kind = int if dtype.kind in "iu" else float  # compare as Python numbers: no cast, no warning
    lo, hi = kind(info.min), kind(info.max)
    if not lo <= value <= hi:  # NaN fails this too
        raise RuntimeError(
            f"{owner}: padding_value {value!r} cannot be converted to the sequences' dtype {dtype} "
            f"without overflow (it holds {lo} to {hi})"
        )


def lengths_to_mask(lengths: Any, max_len: int | None = None) -> Tensor:
    """A ``(B, max_len)`` bool mask, True at the real steps of each sequence: ``mask[b, t] = t < lengths[b]``.

    ``max_len`` defaults to the longest length. Multiply a per-step loss by
    the mask (or index with it) so padded steps do not count.
    """
    owner = "lengths_to_mask"
    arr = _numeric(lengths, owner, "lengths")
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(
            f"{owner}: lengths must be a 1-D sequence of ints, got {arr.dtype} of shape {arr.shape}"
        )
    xp = devices.array_module(arr)  # the mask is made where the lengths are
    lo = longest = 0
    if arr.size:  # the range sizes the mask and decides the errors: one read of two numbers
        lo, longest = (int(v) for v in devices.to_host(xp.stack([arr.min(), arr.max()])).tolist())
    if lo < 0:
        raise ValueError(f"{owner}: lengths must be >= 0, got {lo}")
    if max_len is None:
        max_len = longest
    elif isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < longest:
        raise ValueError(
            f"{owner}: max_len must be an int >= the longest length ({longest}), got {max_len!r}"
        )
    return _make(xp.arange(int(max_len)) < arr[:, None], None)


def collate_sequences(
    batch: Sequence[Any], batch_first: bool = True, padding_value: float = 0.0
) -> tuple[tuple[Tensor, Tensor], Any]:
    """A DataLoader ``collate_fn`` for ``(sequence, target)`` samples of different lengths.

    Returns ``((padded, lengths), targets)``: the sequences padded as by
    :func:`pad_sequences` with their int64 lengths, and the targets collated by
    :func:`~chainrule.data.default_collate` (so they must share a shape). The
    nesting is the ``(inputs, targets)`` pair a Trainer expects, the inputs
    being the two arguments of a model ``forward(x, lengths)``::

        loader = DataLoader(dataset, batch_size=32, shuffle=True, collate_fn=collate_sequences)
        for (x, lengths), y in loader:
            out, h_n = rnn(x, lengths=lengths)
        Trainer(model, loss_fn, optimizer).fit(loader)  # calls model(x, lengths)

    For other options pass ``functools.partial(collate_sequences, padding_value=-1.0)``.
    """
    owner = "collate_sequences"
    if not len(batch):
        raise ValueError(f"{owner}: the batch is empty")
    for i, sample in enumerate(batch):
        if not isinstance(sample, (tuple, list)) or len(sample) != 2:
            raise TypeError(f"{owner}: sample {i} is {_describe(sample)}; expected a pair (sequence, target)")
    padded, lengths = pad_sequences([s for s, _ in batch], batch_first, padding_value)
    try:
        targets = default_collate([t for _, t in batch])
    except (RuntimeError, TypeError) as e:
        raise type(e)(
            f"{owner}: the targets cannot be batched ({e}); targets must share a shape, "
            "so pad per-step targets yourself"
        ) from None
    return (padded, lengths), targets


# ------------------------------------------------------------------ truncated BPTT
def _stream(data: Any, owner: str, what: str) -> np.ndarray:
    """A stream as an array: Tensors keep their dtype; other float data become the default float dtype."""
    if isinstance(data, Tensor):
        arr = data._array
    else:
        arr = _numeric(data, owner, what)
        if arr.dtype.kind == "f":
            arr = arr.astype(backend.get_default_dtype(), copy=False)
    if arr.ndim == 0:
        raise ValueError(f"{owner}: {what} must have a time dimension first, (T,) or (T, F), got a scalar")
    return arr


def tbptt_batches(
    stream: Any,
    chunk_len: int,
    batch_size: int,
    *,
    targets: Any = None,
    batch_first: bool = True,
    drop_last: bool = False,
) -> Iterator[Any]:
    """Chunks of a long stream for truncated backpropagation through time.

    The stream, shape ``(T, *rest)`` (``(T, F)`` values, or ``(T,)`` token
    ids), is cut into ``batch_size`` contiguous parts of ``T // batch_size``
    steps that run side by side (the last ``T % batch_size`` steps are
    dropped): row ``b`` of the batch continues, chunk after chunk, where it
    stopped. Each chunk is ``(batch_size, chunk_len, *rest)`` (``(chunk_len,
    batch_size, *rest)`` with ``batch_first=False``); the last one is shorter
    unless ``drop_last``. With ``targets`` (a stream of the same length, e.g.
    the next values ``series[1:]`` against ``stream=series[:-1]``) each item is
    an ``(inputs, targets)`` pair cut the same way. Float data become the
    default float dtype; integer ids stay int64; Tensors keep their dtype.

    Carry the recurrent state across chunks and detach it after each update,
    so gradients flow back ``chunk_len`` steps at most::

        state = None
        for x, y in tbptt_batches(series[:-1], 50, 16, targets=series[1:]):
            out, state = lstm(x, state)
            loss = F.mse_loss(head(out), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            state = detach_state(state)  # keep the values, cut the graph
    """
    owner = "tbptt_batches"
    chunk_len = positive_int(chunk_len, "chunk_len", owner)
    batch_size = positive_int(batch_size, "batch_size", owner)
    arrays = [_stream(stream, owner, "stream")]
    if targets is not None:
        arrays.append(_stream(targets, owner, "targets"))
        if arrays[1].shape[0] != arrays[0].shape[0]:
            raise ValueError(
                f"{owner}: targets has {arrays[1].shape[0]} steps but stream has {arrays[0].shape[0]}; "
                "they must be aligned step by step"
            )
    steps = arrays[0].shape[0] // batch_size
    if steps == 0:
        raise ValueError(
            f"{owner}: a stream of {arrays[0].shape[0]} steps cannot feed batch_size={batch_size} parallel "
            "streams of at least one step"
        )
    # (T, *rest) -> (batch_size, steps, *rest): row b is the b-th contiguous part of the stream
    parts = [a[: batch_size * steps].reshape(batch_size, steps, *a.shape[1:]) for a in arrays]
    return _chunks(parts, chunk_len, steps, bool(batch_first), bool(drop_last), targets is not None)


def _chunks(
    parts: list[np.ndarray], chunk_len: int, steps: int, batch_first: bool, drop_last: bool, pairs: bool
) -> Iterator[Any]:
    last = steps - steps % chunk_len if drop_last else steps
    for start in range(0, last, chunk_len):
        cut = []
        for p in parts:
            c = p[:, start : start + chunk_len]
            cut.append(_make(np.ascontiguousarray(c if batch_first else c.swapaxes(0, 1)), None))
        yield tuple(cut) if pairs else cut[0]


def detach_state(state: Any) -> Any:
    """The recurrent state with its values kept and its graph cut: a Tensor, a tuple/list of them, or None.

    An LSTM's ``(h, c)`` stays a tuple (nested tuples and lists keep their
    structure). Call it between chunks of truncated BPTT (see
    :func:`tbptt_batches`): without it, every backward pass would run back
    through all the chunks before (and fail once their graphs are freed).
    """
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a namedtuple
        return type(state)(*(detach_state(s) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    raise TypeError(
        f"detach_state: expected a Tensor, a tuple or list of Tensors, or None; got {_describe(state)}"
    )


def _describe(obj: Any) -> str:
    if isinstance(obj, (Tensor, np.ndarray)):
        return f"a {type(obj).__name__} of shape {tuple(obj.shape)}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of {len(obj)} element(s)"
    return f"a {type(obj).__name__}"
