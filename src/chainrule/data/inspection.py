"""Know the data before training on it: :func:`inspect`, and :func:`inspect_csv` behind ``chainrule inspect``.

The checks are the ones that quietly spoil a training run: missing and
infinite values (one NaN poisons the loss), constant columns, duplicate rows,
class imbalance, features whose scales are 10x apart (standardize them), test
rows that also sit in the training set, and columns that give the target away.
Numeric columns are checked with vectorized NumPy in column chunks, so memory
stays bounded on wide data. pandas DataFrames are accepted but pandas is never
imported. Reading CSV files and parsing columns live in
:mod:`chainrule.data.csv_reader` (re-exported here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.data.csv_reader import MISSING_TOKENS, DataError, parse_column, read_csv
from chainrule.tensor import Tensor

__all__ = [
    "MISSING_TOKENS",
    "ColumnSummary",
    "DataError",
    "DataReport",
    "inspect",
    "inspect_csv",
    "read_csv",
]

IMBALANCE_RATIO = 10.0  # warn when the rarest class is under 1/10 of the most common
SCALE_RATIO = 10.0  # a column whose std and range are 10x off the others' calls for standardization
MAX_CLASSES = 100  # integer targets with more distinct values are treated as regression
MIN_ROWS_TARGET_LEAK = 5  # fewer labelled rows than this: perfect prediction proves nothing
MIN_REPEATS_TARGET_LEAK = 10  # a column "determines" y only if its values repeat this often (chance ~2**-10)
MIN_ROWS_IDENTIFIER = 20  # a unique value per row only suggests an identifier on this many rows
_CHUNK = 1 << 22  # elements per column chunk of the numeric pass (32 MiB of float64)
_SHOW = 5  # names/indices quoted in a warning


# ------------------------------------------------------------------------------------------- the report
@dataclass
class ColumnSummary:
    """One feature column: its kind, how many values are missing or infinite, and its spread."""

    name: str
    kind: str  # "numeric" or "categorical"
    missing: int
    infinite: int
    distinct: int  # distinct non-missing values
    mean: float | None = None  # numeric columns only, over finite values
    std: float | None = None
    min: float | None = None
    max: float | None = None


@dataclass
class DataReport:
    """What :func:`inspect` found. ``warnings`` says it in plain language; ``to_dict()`` is JSON-safe.

    Row indices count data rows from 0 (in a CSV file, the first row after the header is row 0).
    """

    n_rows: int
    n_columns: int
    columns: list[ColumnSummary]
    missing: dict[str, int]  # columns with missing values -> count
    infinite: dict[str, int]  # numeric columns with +-inf -> count
    constant_columns: list[str]
    categorical_columns: dict[str, int]  # non-numeric columns -> number of distinct values
    identifier_columns: list[str]  # a different value in every row (or a row counter)
    duplicate_rows: int  # rows that repeat an earlier row (identifier columns ignored)
    duplicate_examples: list[tuple[int, int]]  # (first row, its repeat), up to 10
    target: str | None = None
    task: str | None = None  # "classification" or "regression", guessed from the target
    target_missing: int = 0
    class_counts: dict[str, int] | None = None
    imbalance_ratio: float | None = None  # most common class count / rarest class count
    conflicting_duplicates: int = 0  # repeated rows whose label differs from the first copy's
    target_leaks: dict[str, str] = field(default_factory=dict)  # column -> how it gives y away
    scale_ratio: float | None = None  # largest / smallest std of the non-constant numeric columns
    standardize: list[str] = field(default_factory=list)  # columns on a scale 10x off the others
    n_test_rows: int | None = None
    leaked_rows: int | None = None  # test rows identical to a training row
    leaked_indices: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain Python (NaN and inf become None), ready for ``json.dumps``."""
        return _json_safe(asdict(self))

    def __str__(self) -> str:
        return _render(self)


# ------------------------------------------------------------------------------------------- the frame
class _Frame:
    """Feature columns in one of two forms: numeric ones as a single 2-D float block, the rest as objects.

    ``is_num[i]`` says where column ``i`` lives; ``pos[i]`` is its index in ``num`` or ``cat``.
    Categorical columns are object arrays with None for a missing value.
    """

    __slots__ = ("cat", "is_num", "n_rows", "named", "names", "num", "pos")

    def __init__(self, names: list[str], is_num: list[bool], num: np.ndarray, cat: list[np.ndarray],
                 n_rows: int, named: bool) -> None:
        self.names, self.is_num, self.num, self.cat = names, is_num, num, cat
        self.n_rows, self.named = n_rows, named
        counters = [0, 0]
        self.pos = []
        for flag in is_num:
            self.pos.append(counters[flag])
            counters[flag] += 1

    @classmethod
    def from_matrix(cls, a: np.ndarray, names: list[str], named: bool) -> _Frame:
        return cls(names, [True] * a.shape[1], a, [], a.shape[0], named)

    @classmethod
    def from_columns(cls, names: list[str], cols: list[np.ndarray], n_rows: int, named: bool) -> _Frame:
        parsed = [parse_column(c) for c in cols]
        is_num = [p.dtype != object for p in parsed]
        numeric = [p for p in parsed if p.dtype != object]
        num = np.empty((n_rows, len(numeric)), dtype=np.float64)
        for j, p in enumerate(numeric):
            num[:, j] = p
        return cls(names, is_num, num, [p for p in parsed if p.dtype == object], n_rows, named)

    def column(self, i: int) -> np.ndarray:
        return self.num[:, self.pos[i]] if self.is_num[i] else self.cat[self.pos[i]]

    def select(self, keep: list[int]) -> _Frame:
        """The frame restricted to columns ``keep`` (in that order)."""
        if keep == list(range(len(self.names))):
            return self
        nums = [self.pos[i] for i in keep if self.is_num[i]]
        num = self.num if nums == list(range(self.num.shape[1])) else self.num[:, nums]
        return _Frame([self.names[i] for i in keep], [self.is_num[i] for i in keep], num,
                      [self.cat[self.pos[i]] for i in keep if not self.is_num[i]], self.n_rows, self.named)


def _default_names(k: int) -> list[str]:
    return [f"x{j}" for j in range(k)]


def _as_frame(X: Any, feature_names: list[str] | None, what: str) -> _Frame:  # noqa: N803
    """Any accepted table (array, Tensor, rows, dict of columns, DataFrame) as a :class:`_Frame`."""
    if isinstance(X, Tensor):
        X = X._array  # noqa: N806
    if hasattr(X, "columns") and hasattr(X, "to_numpy") and not isinstance(X, np.ndarray):
        # a DataFrame (pandas by position, as names may repeat; polars and the like by name)
        names = [str(c) for c in X.columns]
        if hasattr(X, "iloc"):
            series = [X.iloc[:, j] for j in range(len(names))]
        else:
            series = [X[c] for c in X.columns]
        cols = [np.asarray(c.to_numpy() if hasattr(c, "to_numpy") else c) for c in series]
        frame = _frame_from_columns(names, cols, len(X), what)
    elif isinstance(X, Mapping):
        names = [str(k) for k in X]
        cols = [np.asarray(v._array if isinstance(v, Tensor) else v) for v in X.values()]
        frame = _frame_from_columns(names, cols, len(cols[0]) if cols else 0, what)
    else:
        a = X if isinstance(X, np.ndarray) else _rows_to_array(X, what)
        if a.ndim == 0:
            raise DataError(f"inspect: {what} is a single value; expected a table of rows")
        if a.ndim == 1:
            a = a.reshape(-1, 1)
        elif a.ndim > 2:
            a = a.reshape(a.shape[0], -1)  # images and sequences: one column per element
        names = _default_names(a.shape[1])
        if a.dtype.kind in "biuf":
            if a.dtype.kind != "f" or a.dtype.itemsize < 4:
                a = a.astype(np.float64)
            frame = _Frame.from_matrix(a, names, named=False)
        else:
            frame = _Frame.from_columns(names, [a[:, j] for j in range(a.shape[1])], a.shape[0], named=False)
    if feature_names is not None:
        feature_names = [str(n) for n in feature_names]
        if len(feature_names) != len(frame.names):
            raise DataError(f"inspect: {len(feature_names)} feature_names for the {len(frame.names)} "
                            f"columns of {what}")
        _check_unique(feature_names, what)
        frame.names, frame.named = feature_names, True
    return frame


def _frame_from_columns(names: list[str], cols: list[np.ndarray], n: int, what: str) -> _Frame:
    _check_unique(names, what)
    for name, c in zip(names, cols):
        if c.ndim != 1 or len(c) != n:
            raise DataError(f"inspect: column {name!r} of {what} has shape {c.shape}; expected ({n},)")
    return _Frame.from_columns(names, cols, n, named=True)


def _check_unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise DataError(f"inspect: column name {n!r} appears twice in {what}")
        seen.add(n)


def _rows_to_array(rows: Any, what: str) -> np.ndarray:
    """A list of rows as a 2-D array: float when every value is a number, objects otherwise."""
    try:
        return np.asarray(rows, dtype=np.float64)
    except (ValueError, TypeError):
        pass
    try:
        rows = list(rows)
    except TypeError:
        raise DataError(f"inspect: {what} is a {type(rows).__name__}; expected an array, a Tensor, "
                        "a list of rows, a dict of columns or a DataFrame") from None
    if not rows or not isinstance(rows[0], list | tuple | np.ndarray):  # one value per row: one column
        a = np.empty((len(rows), 1), dtype=object)
        a[:, 0] = rows
        return a
    width = len(rows[0])
    a = np.empty((len(rows), width), dtype=object)
    for i, r in enumerate(rows):
        if len(r) != width:
            raise DataError(f"inspect: row {i} of {what} has {len(r)} values, row 0 has {width}")
        a[i] = list(r)
    return a


def _as_target(y: Any, n: int) -> np.ndarray:
    """Labels as a parsed 1-D column (float64 or objects); one-hot rows become class indices."""
    if isinstance(y, Tensor):
        y = y._array
    elif hasattr(y, "to_numpy"):  # a pandas Series
        y = y.to_numpy()
    a = np.array(y, dtype=object) if isinstance(y, list | tuple) else np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    elif a.ndim == 2 and a.dtype.kind in "biuf" and np.isin(a, (0, 1)).all() and (a.sum(1) == 1).all():
        a = a.argmax(1)  # one-hot rows
    if a.ndim != 1:
        raise DataError(f"inspect: y has shape {a.shape}; expected one label per row (1-D) or one-hot rows")
    if len(a) != n:
        raise DataError(f"inspect: y has {len(a)} labels but X has {n} rows")
    return parse_column(a)


# ------------------------------------------------------------------------------------------- equal rows
def _canonical_bits(a: np.ndarray) -> np.ndarray:
    """Values as float64 bits (uint64), with -0.0 made 0.0 and every NaN one NaN: equal values, equal bits."""
    c = np.array(a, dtype=np.float64)
    c += 0.0  # -0.0 + 0.0 == +0.0
    c[np.isnan(c)] = np.nan
    return c.view(np.uint64)


def _row_groups(frames: list[_Frame], keep: list[int]) -> np.ndarray:
    """For each row of the stacked frames, the index of the first row identical to it over columns ``keep``.

    Rows are hashed first (a multiply-and-add hash of the canonical bits, in row chunks to bound
    memory); only rows whose hash is shared are compared exactly, so a hash collision costs time,
    never a wrong answer. Categorical columns compare by codes shared across the frames.
    """
    numeric = [i for i in keep if all(f.is_num[i] for f in frames)]
    other = [i for i in keep if not all(f.is_num[i] for f in frames)]
    codes = []
    for i in other:
        table: dict[Any, int] = {}
        vals = np.concatenate([_as_objects(f.column(i)) for f in frames])
        codes.append(np.fromiter((table.setdefault(_hashable(v), len(table)) for v in vals),
                                 dtype=np.uint64, count=len(vals)))
    offsets = np.cumsum([0] + [f.n_rows for f in frames])

    def block(fi: int, rows: slice | np.ndarray) -> np.ndarray:
        f = frames[fi]
        bits = _canonical_bits(f.num[rows][:, [f.pos[i] for i in numeric]])
        if not codes:
            return bits
        start = offsets[fi]
        glob = slice(rows.start + start, rows.stop + start) if isinstance(rows, slice) else rows + start
        return np.concatenate([bits, np.stack([c[glob] for c in codes], axis=1)], axis=1)

    width = len(numeric) + len(codes)
    mult = np.random.default_rng(0x5EED).integers(1, 2**63, size=width, dtype=np.uint64) | np.uint64(1)
    hashes = np.empty(offsets[-1], dtype=np.uint64)
    step = max(1, _CHUNK // width)
    for fi, f in enumerate(frames):
        for r0 in range(0, f.n_rows, step):
            rows = slice(r0, min(r0 + step, f.n_rows))
            b = block(fi, rows)
            b ^= b >> np.uint64(29)
            b *= mult  # wraps modulo 2**64, as a hash should
            hashes[rows.start + offsets[fi]:rows.stop + offsets[fi]] = b.sum(1, dtype=np.uint64)

    order = np.argsort(hashes, kind="stable")
    same = hashes[order[1:]] == hashes[order[:-1]]
    shared = np.zeros(len(hashes), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    candidates = np.sort(order[shared])
    first = np.arange(len(hashes))
    if candidates.size:
        parts = []
        for fi in range(len(frames)):
            local = candidates[(candidates >= offsets[fi]) & (candidates < offsets[fi + 1])] - offsets[fi]
            parts.append(block(fi, local))
        keys = np.ascontiguousarray(np.concatenate(parts)).view(np.dtype((np.void, 8 * width))).ravel()
        _, first_index, inverse = np.unique(keys, return_index=True, return_inverse=True)
        first[candidates] = candidates[first_index[inverse.ravel()]]
    return first


def _as_objects(col: np.ndarray) -> np.ndarray:
    if col.dtype == object:
        return col
    out = col.astype(object)
    out[np.isnan(col)] = None
    return out


def _hashable(v: Any) -> Any:
    try:
        hash(v)
    except TypeError:
        return repr(v)
    return v


def _codes(col: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes for a column's values (missing -> -1) and the number of distinct present values."""
    if col.dtype != object:
        uniq, inv = np.unique(col, return_inverse=True)  # NaNs sort last and share one code
        inv = inv.astype(np.int64)
        nan = np.isnan(col)
        inv[nan] = -1
        return inv, len(uniq) - bool(nan.any())
    codes: dict[Any, int] = {}
    out = np.fromiter((-1 if v is None else codes.setdefault(_hashable(v), len(codes)) for v in col),
                      dtype=np.int64, count=len(col))
    return out, len(codes)


# ------------------------------------------------------------------------------------------- numeric pass
def _numeric_pass(num: np.ndarray, target: _Target | None) -> dict[str, np.ndarray]:
    """Per-column statistics of the numeric block, a chunk of columns at a time to bound memory.

    Returns missing/infinite/distinct counts, mean/std/min/max over finite values, whether the
    column counts rows (an identifier), and, given labels worth checking, whether the column
    equals y, is perfectly correlated with y, or determines y (equal values always share a label).
    Each chunk is transposed to one column per row so that every reduction runs over contiguous memory.
    """
    n, k = num.shape
    out = {name: np.zeros(k, dtype) for name, dtype in (
        ("missing", np.int64), ("infinite", np.int64), ("distinct", np.int64), ("mean", np.float64),
        ("std", np.float64), ("min", np.float64), ("max", np.float64), ("counter", bool),
        ("equal", bool), ("correlated", bool), ("determines", bool))}
    leak = target is not None and target.leak_checks
    if leak:
        rows = None if target.labelled.all() else target.labelled
        ycodes = target.codes if rows is None else target.codes[rows]
        ynum = target.num if rows is None or target.num is None else target.num[rows]
    step = max(1, _CHUNK // max(n, 1))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for c0 in range(0, k, step):
            t = np.array(num[:, c0:c0 + step].T, dtype=np.float64, order="C")
            sl = slice(c0, c0 + len(t))
            fin = np.isfinite(t)
            clean = bool(fin.all())
            cnt = fin.sum(1)
            out["missing"][sl] = missing = np.isnan(t).sum(1)
            out["infinite"][sl] = n - cnt - missing
            out["mean"][sl] = mean = (t if clean else np.where(fin, t, 0.0)).sum(1) / cnt
            dev = t - mean[:, None]
            if not clean:
                dev[~fin] = 0.0
            out["std"][sl] = np.sqrt(np.einsum("ij,ij->i", dev, dev) / cnt)
            out["min"][sl] = (t if clean else np.where(fin, t, np.inf)).min(1)
            out["max"][sl] = (t if clean else np.where(fin, t, -np.inf)).max(1)
            if n >= MIN_ROWS_IDENTIFIER:
                out["counter"][sl] = (np.diff(t, axis=1) == 1).all(1) & (t[:, 0] == np.floor(t[:, 0]))
            s = np.sort(t, axis=1)  # NaNs last
            out["distinct"][sl] = _distinct_sorted(s)
            if not leak:
                continue
            if rows is not None:
                t = t[:, rows]
                s = np.sort(t, axis=1)
            if ynum is not None:
                out["equal"][sl] = (t == ynum).all(1)
                out["correlated"][sl] = _perfectly_correlated(t, ynum)
            out["determines"][sl] = _determines(t, s, ycodes)
    return out


def _distinct_sorted(s: np.ndarray) -> np.ndarray:
    """Distinct non-NaN values per row of a row-sorted array (NaNs sort last)."""
    present = ~np.isnan(s)
    return ((s[:, 1:] != s[:, :-1]) & present[:, 1:]).sum(1) + present[:, :1].any(1)


def _determines(t: np.ndarray, s: np.ndarray, ycodes: np.ndarray) -> np.ndarray:
    """Which columns (rows of ``t``; ``s`` is ``t`` sorted) determine the labels: equal values always
    come with equal labels, missing counting as a value of its own.

    A column with (almost) a different value per row trivially does, so only columns that repeat
    their values (at most one distinct value per two rows, and ``MIN_REPEATS_TARGET_LEAK`` repeats
    in all, each of which could have disagreed) can count. Integer-valued columns pair
    each value with its label in one exact float key, ``value * n_classes + label``: the column
    determines y when there are no more distinct pairs than distinct values. Other columns sort
    the labels along with the values and compare neighbours.
    """
    m = t.shape[1]
    nan = np.isnan(s)
    groups = _distinct_sorted(s) + nan.any(1)
    result = np.zeros(len(t), dtype=bool)
    candidates = np.flatnonzero((groups >= 2) & (2 * groups <= m) & (m - groups >= MIN_REPEATS_TARGET_LEAK))
    if candidates.size == 0:
        return result
    c = t[candidates]
    k = int(ycodes.max()) + 1
    finite = np.where(np.isnan(c), 0.0, c)
    lo = finite.min(1, keepdims=True)
    integral = (finite == np.round(finite)).all(1) & (np.abs(finite).max(1) * k < 2.0**50)
    if integral.any():
        v = np.where(np.isnan(c[integral]), lo[integral] - 1, c[integral])  # missing: a value of its own
        pairs = np.sort(v * k + ycodes, axis=1)
        n_pairs = 1 + (pairs[:, 1:] != pairs[:, :-1]).sum(1)
        result[candidates[integral]] = n_pairs == groups[candidates[integral]]
    if not integral.all():
        rest = c[~integral]
        order = np.argsort(rest, axis=1)
        ordered = np.take_along_axis(rest, order, axis=1)
        result[candidates[~integral]] = _determines_sorted(ordered, ycodes[order])
    return result


def _determines_sorted(s: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Per row of a row-sorted array ``s`` with its labels ``ys`` carried along: do equal neighbours
    always have equal labels? Equal values are neighbours after sorting, so then each value has one label."""
    same = s[:, 1:] == s[:, :-1]
    if s.dtype.kind == "f":
        nan = np.isnan(s)
        same |= nan[:, 1:] & nan[:, :-1]
    return ~(same & (ys[:, 1:] != ys[:, :-1])).any(1)


def _perfectly_correlated(t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|Pearson r| > 1 - 1e-6 between each row of ``t`` and ``y``, over the entries where both are finite."""
    m = np.isfinite(t) & np.isfinite(y)
    if m.all():
        x = t - t.mean(1, keepdims=True)
        yc = y - y.mean()
        c = np.full(len(t), t.shape[1])
        sxx, syy, sxy = np.einsum("ij,ij->i", x, x), yc @ yc, x @ yc
    else:
        c = m.sum(1)
        x = np.where(m, t, 0.0)
        x = np.where(m, x - x.sum(1, keepdims=True) / c[:, None], 0.0)
        yy = np.where(m, y, 0.0)
        yy = np.where(m, yy - yy.sum(1, keepdims=True) / c[:, None], 0.0)
        sxx, syy, sxy = (np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", yy, yy),
                         np.einsum("ij,ij->i", x, yy))
    r = sxy / np.sqrt(sxx * syy)
    return (c >= MIN_ROWS_TARGET_LEAK) & (sxx > 0) & (syy > 0) & (np.abs(r) > 1 - 1e-6)


def _off_scale(scales: np.ndarray) -> np.ndarray:
    """Which scales sit more than 10x from the (geometric) median; if none but the extremes are
    more than 10x apart, the two extremes."""
    logs = np.log10(scales)
    off = np.abs(logs - np.median(logs)) > math.log10(SCALE_RATIO)
    if not off.any() and logs.max() - logs.min() > math.log10(SCALE_RATIO):
        off[logs.argmax()] = off[logs.argmin()] = True
    return off


# ------------------------------------------------------------------------------------------- inspect
class _Target:
    """The labels, parsed once: integer codes (missing -> -1), which rows have one, and the float
    values when the labels are numbers."""

    __slots__ = ("codes", "distinct", "labelled", "leak_checks", "name", "num", "values")

    def __init__(self, values: np.ndarray, name: str) -> None:
        self.values, self.name = values, name
        self.codes, self.distinct = _codes(values)
        self.labelled = self.codes >= 0
        self.num = values if values.dtype != object else None
        # perfect prediction of a constant, or of a handful of labels, proves nothing
        self.leak_checks = self.distinct >= 2 and int(self.labelled.sum()) >= MIN_ROWS_TARGET_LEAK


def inspect(X: Any, y: Any = None, X_test: Any = None, feature_names: list[str] | None = None) -> DataReport:  # noqa: N803
    """Check a data set for the problems that spoil training, and say what to do about each.

    ``X`` is a 2-D NumPy array or Tensor (more dimensions are flattened to one column per element),
    a list of rows, a dict of columns, or a pandas DataFrame. Columns whose values are not all
    numbers are categorical: their distinct values are counted and they skip the numeric checks.
    ``y`` holds one label per row (one-hot rows are accepted), or is the name of a column of ``X``
    to take out as the target. ``X_test``, in the same form, is checked for rows that also appear
    in ``X`` (leakage). ``feature_names`` names the columns of an array.
    """
    frame = _as_frame(X, feature_names, "X")
    if frame.n_rows == 0:
        raise DataError("inspect: X has no rows")
    target = None
    if isinstance(y, str):
        if y not in frame.names:
            raise DataError(f"inspect: X has no column {y!r}; its columns are "
                            f"{_quote_names(frame.names, 20)}")
        i = frame.names.index(y)
        target = _Target(parse_column(frame.column(i)), y)
        frame = frame.select([j for j in range(len(frame.names)) if j != i])
    elif y is not None:
        target = _Target(_as_target(y, frame.n_rows), "y")
    test = None if X_test is None else _align_test(frame, _as_frame(X_test, None, "X_test"), target)

    report = _summarize_columns(frame, target)
    _check_rows(report, frame, test, target)
    if target is not None:
        _check_target(report, target)
    _check_scales(report)
    return report


def _summarize_columns(frame: _Frame, target: _Target | None) -> DataReport:
    """The per-column part of the report: summaries, missing/infinite/constant/identifier columns,
    and columns that give the target away."""
    n = frame.n_rows
    leak = target is not None and target.leak_checks
    stats = _numeric_pass(frame.num, target)
    columns: list[ColumnSummary] = []
    identifiers: list[str] = []
    target_leaks: dict[str, str] = {}
    for i, name in enumerate(frame.names):
        p = frame.pos[i]
        why = None
        if frame.is_num[i]:
            present = n - stats["missing"][p] - stats["infinite"][p]
            spread = (float(stats[s][p]) if present else None for s in ("mean", "std", "min", "max"))
            columns.append(ColumnSummary(name, "numeric", int(stats["missing"][p]), int(stats["infinite"][p]),
                                         int(stats["distinct"][p]), *spread))
            if stats["counter"][p]:
                identifiers.append(name)
            if stats["equal"][p]:
                why = _EQUAL
            elif stats["correlated"][p]:
                why = "perfectly correlated with the target"
            elif stats["determines"][p]:
                why = _DETERMINES
        else:
            col = frame.cat[p]
            codes, distinct = _codes(col)
            columns.append(ColumnSummary(name, "categorical", int((codes < 0).sum()), 0, distinct))
            if n >= MIN_ROWS_IDENTIFIER and distinct == n:
                identifiers.append(name)
            if leak:
                why = _categorical_leak(col, codes, target)
        if why is not None:
            target_leaks[name] = why

    report = DataReport(
        n_rows=n, n_columns=len(columns), columns=columns,
        missing={c.name: c.missing for c in columns if c.missing},
        infinite={c.name: c.infinite for c in columns if c.infinite},
        constant_columns=[c.name for c in columns if c.distinct <= 1],
        categorical_columns={c.name: c.distinct for c in columns if c.kind == "categorical"},
        identifier_columns=identifiers, duplicate_rows=0, duplicate_examples=[],
        target_leaks=target_leaks)
    warn = report.warnings.append
    if report.missing:
        warn(f"{_count(len(report.missing), 'column')} with missing values: "
             f"{_quote_counts(report.missing, n)}; impute them (e.g. with the training median) or drop those"
             " rows or columns: a single NaN turns the loss into NaN")
    if report.infinite:
        warn(f"{_count(len(report.infinite), 'column')} with infinite values: "
             f"{_quote_counts(report.infinite, n)}; replace or clip them (often a division by zero upstream)")
    if report.constant_columns:
        constant = report.constant_columns
        warn(f"{_count(len(constant), 'constant column')} (at most one distinct value):"
             f" {_quote_names(constant)}; {_verb(len(constant), 'it carries', 'they carry')} no information,"
             f" drop {_verb(len(constant), 'it', 'them')}")
    if identifiers:
        k = len(identifiers)
        warn(f"{_count(k, 'column')} {_verb(k, 'looks', 'look')} like a row identifier (a different value in"
             f" every row, or a row counter): {_quote_names(identifiers)}; drop {_verb(k, 'it', 'them')}, a"
             f" model can only memorize {_verb(k, 'it', 'them')} (left out when looking for duplicate rows)")
    return report


_EQUAL = "equal to the target"
_DETERMINES = "determines the target (each of its values always comes with the same label)"


def _leak_clause(why: str) -> str:
    """A reason of ``target_leaks`` as the predicate of a sentence about the column."""
    return why if why == _DETERMINES else f"is {why}"


def _categorical_leak(col: np.ndarray, codes: np.ndarray, target: _Target) -> str | None:
    """Whether a categorical column equals the (categorical) labels, or determines them."""
    rows = target.labelled
    if target.num is None and bool((col[rows] == target.values[rows]).all()):
        return _EQUAL
    sub = codes[rows].astype(np.float64)[None]
    return _DETERMINES if _determines(sub, np.sort(sub, axis=1), target.codes[rows])[0] else None


def _check_rows(report: DataReport, frame: _Frame, test: _Frame | None, target: _Target | None) -> None:
    """Duplicate rows, repeats whose label disagrees, and test rows found in the training data.

    Whole rows are compared, identifier columns aside (they would make every row unique).
    """
    n = frame.n_rows
    keep = [i for i, name in enumerate(frame.names) if name not in report.identifier_columns]
    if test is not None:
        report.n_test_rows, report.leaked_rows = test.n_rows, 0
    if not keep:
        return
    groups = _row_groups([frame] if test is None else [frame, test], keep)
    first = groups[:n]
    dup = np.flatnonzero(first != np.arange(n))
    report.duplicate_rows = len(dup)
    report.duplicate_examples = [(int(first[d]), int(d)) for d in dup[:10]]
    if len(dup):
        report.warnings.append(
            f"{_count(len(dup), 'duplicate row')} ({len(dup) / n:.1%}), e.g. "
            + ", ".join(f"row {b} repeats row {a}" for a, b in report.duplicate_examples[:3])
            + "; drop the repeats: they weigh double in training and can land on both sides of a"
            " train/test split")
        if target is not None:
            labelled = target.labelled[dup] & target.labelled[first[dup]]
            differs = labelled & (target.codes[dup] != target.codes[first[dup]])
            report.conflicting_duplicates = conflicting = int(differs.sum())
            if conflicting:
                report.warnings.append(
                    f"{_count(conflicting, 'repeated row')} {_verb(conflicting, 'carries', 'carry')} a"
                    " different label than the first copy: the labels are noisy, or a feature that tells"
                    " the rows apart is missing")
    if test is not None:
        leaked = np.flatnonzero(groups[n:] < n).tolist()  # the first copy of the row is a training row
        report.leaked_rows, report.leaked_indices = len(leaked), leaked
        if leaked:
            report.warnings.append(
                f"{_count(len(leaked), 'test row')} ({len(leaked) / test.n_rows:.1%}) also"
                f" {_verb(len(leaked), 'appears', 'appear')} in the training data (test rows"
                f" {_quote_indices(leaked)}): test scores will be optimistic; remove them from one side")


def _check_target(report: DataReport, target: _Target) -> None:
    """Missing labels, the task, class balance, and the columns that leak the target."""
    warn = report.warnings.append
    report.target = target.name
    report.target_missing = int((~target.labelled).sum())
    if report.target_missing:
        warn(f"the target has {_count(report.target_missing, 'missing label')} (rows "
             f"{_quote_indices(np.flatnonzero(~target.labelled).tolist())}); drop those rows")
    report.task, counts = _classes(target)
    report.class_counts = counts
    if counts:
        most, least = max(counts.values()), min(counts.values())
        report.imbalance_ratio = most / least
        if len(counts) == 1:
            warn(f"the target has a single class ({next(iter(counts))!r}): there is nothing to learn")
        elif least * IMBALANCE_RATIO < most:
            rare, common = min(counts, key=counts.__getitem__), max(counts, key=counts.__getitem__)
            warn(f"the classes are imbalanced: class {rare!r} has {least} rows, class {common!r} has {most}"
                 f" ({most / least:.1f}:1); use class weights or a WeightedRandomSampler, and judge the model"
                 " by per-class recall or F1, not accuracy")
    leaks = list(report.target_leaks.items())
    if leaks:
        reasons = "; ".join(f"{name!r} {_leak_clause(why)}" for name, why in leaks[:_SHOW])
        warn("possible target leakage: " + reasons
             + (f" (and {len(leaks) - _SHOW} more)" if len(leaks) > _SHOW else "")
             + "; a feature that gives the label away is not there at prediction time, drop it")


def _check_scales(report: DataReport) -> None:
    """Numeric columns whose std and range both sit 10x off the others': the data wants standardizing."""
    scaled = [c for c in report.columns if c.kind == "numeric" and c.name not in report.identifier_columns
              and c.std and math.isfinite(c.std) and math.isfinite(c.max - c.min) and c.max > c.min]
    if len(scaled) < 2:
        return
    stds = np.array([c.std for c in scaled])
    report.scale_ratio = float(stds.max() / stds.min())
    off = _off_scale(stds) & _off_scale(np.array([c.max - c.min for c in scaled]))
    report.standardize = [c.name for c, o in zip(scaled, off) if o]
    if report.standardize:
        lo, hi = scaled[int(stds.argmin())], scaled[int(stds.argmax())]
        report.warnings.append(
            f"the features are on different scales (std from {lo.std:.3g} in {lo.name!r} to {hi.std:.3g} in"
            f" {hi.name!r}, {report.scale_ratio:.3g}x apart; off the others:"
            f" {_quote_names(report.standardize)});"
            " standardize them: subtract each column's mean and divide by its std, with statistics from the"
            " training set only")


def _align_test(frame: _Frame, test: _Frame, target: _Target | None) -> _Frame:
    """``X_test`` with the columns of ``X`` in the same order (by name when both are named)."""
    if test.named and target is not None and target.name in test.names:
        test = test.select([j for j, nm in enumerate(test.names) if nm != target.name])
    if frame.named and test.named:
        absent = [nm for nm in frame.names if nm not in test.names]
        if absent:
            raise DataError(f"inspect: X_test lacks the columns {_quote_names(absent)} of X")
        index = {nm: j for j, nm in enumerate(test.names)}
        test = test.select([index[nm] for nm in frame.names])
    elif len(test.names) != len(frame.names):
        raise DataError(f"inspect: X_test has {len(test.names)} columns, X has {len(frame.names)}")
    test.names = frame.names
    return test


def _classes(target: _Target) -> tuple[str | None, dict[str, int] | None]:
    """Guess the task from the labels; for classification, the count of each class (sorted labels).

    Text labels are classes; numbers are classes when they are integers with few distinct values
    (at most ``MAX_CLASSES``, and on average at least two rows each), otherwise a regression target.
    """
    if target.distinct == 0:
        return None, None
    present = target.values[target.labelled]
    if target.num is not None:
        integral = bool(np.isfinite(present).all()) and bool((present == np.round(present)).all())
        few = target.distinct <= 2 or target.distinct <= min(MAX_CLASSES, len(present) // 2)
        if not (integral and few):
            return "regression", None
        values, counts = np.unique(present, return_counts=True)
        return "classification", {str(int(v)): int(c) for v, c in zip(values, counts)}
    counts: dict[str, int] = {}
    for v in present:
        counts[str(v)] = counts.get(str(v), 0) + 1
    return "classification", dict(sorted(counts.items()))


# ------------------------------------------------------------------------------------------- CSV files
def inspect_csv(path: str | Path, target: str | None = None, test: str | Path | None = None) -> DataReport:
    """:func:`inspect` a CSV file: ``target`` names the label column, ``test`` is a CSV file whose rows
    are looked for in the first (leakage)."""
    data = read_csv(path)
    if target is not None and target not in data:
        raise DataError(f"{path}: no column {target!r}; the columns are {_quote_names(list(data), 20)}")
    test_data = None
    if test is not None:
        test_data = read_csv(test)
        absent = [c for c in data if c != target and c not in test_data]
        if absent:
            raise DataError(f"{test}: lacks the columns {_quote_names(absent)} of {path}")
    return inspect(data, y=target, X_test=test_data)


# ------------------------------------------------------------------------------------------- text
def _verb(k: int, singular: str, plural: str) -> str:
    return singular if k == 1 else plural


def _count(k: int, noun: str) -> str:
    return f"{k} {noun}" if k == 1 else f"{k} {noun}s"


def _quote_names(names: list[str], show: int = _SHOW) -> str:
    quoted = ", ".join(repr(nm) for nm in names[:show])
    return quoted + (f" and {len(names) - show} more" if len(names) > show else "")


def _quote_counts(counts: dict[str, int], n: int) -> str:
    items = list(counts.items())
    quoted = ", ".join(f"{nm!r} ({c}, {c / n:.1%})" for nm, c in items[:_SHOW])
    return quoted + (f" and {len(items) - _SHOW} more" if len(items) > _SHOW else "")


def _quote_indices(indices: list[int]) -> str:
    return ", ".join(map(str, indices[:_SHOW])) + (", ..." if len(indices) > _SHOW else "")


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer | np.bool_):
        return obj.item()
    return obj


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """Rows aligned under the header: the first ``left`` columns flush left, the others right."""
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]
    return ["  ".join(cell.ljust(w) if j < left else cell.rjust(w)
                      for j, (cell, w) in enumerate(zip(r, widths))).rstrip() for r in [header, *rows]]


def _short(name: str, width: int = 30) -> str:
    return name if len(name) <= width else name[:width - 3] + "..."


def _render(r: DataReport, max_columns: int = 40, max_classes: int = 30) -> str:
    n_cat = len(r.categorical_columns)
    lines = [f"{r.n_rows} rows x {r.n_columns} columns ({r.n_columns - n_cat} numeric, {n_cat} categorical)"
             + (f", target {r.target!r}" if r.target is not None else "")]
    if r.columns:
        rows = [[_short(c.name), c.kind, str(c.missing), "-" if c.kind == "categorical" else str(c.infinite),
                 str(c.distinct), _fmt(c.mean), _fmt(c.std), _fmt(c.min), _fmt(c.max)]
                for c in r.columns[:max_columns]]
        lines += ["", *_table(["column", "kind", "missing", "inf", "distinct", "mean", "std", "min", "max"],
                              rows, left=2)]
        if len(r.columns) > max_columns:
            lines.append(f"... and {len(r.columns) - max_columns} more columns (--json lists them all)")
    if r.target is not None:
        lines += ["", f"target {r.target!r}: {r.task or 'no labels'}"
                  + (f", {len(r.class_counts)} classes" if r.class_counts else "")]
        if r.class_counts:
            total = sum(r.class_counts.values())
            classes = list(r.class_counts.items())[:max_classes]
            rows = [[_short(k), str(c), f"{c / total:.1%}"] for k, c in classes]
            lines += _table(["class", "count", "share"], rows)
            if len(r.class_counts) > max_classes:
                lines.append(f"... and {len(r.class_counts) - max_classes} more classes")
    if r.n_test_rows is not None:
        lines += ["", f"test set: {r.n_test_rows} rows, {r.leaked_rows} of them also in the training data"]
    lines.append("")
    if r.warnings:
        lines.append(f"warnings ({len(r.warnings)}):")
        lines += [f"  - {w}" for w in r.warnings]
    else:
        lines.append("no problems found")
    return "\n".join(lines)
