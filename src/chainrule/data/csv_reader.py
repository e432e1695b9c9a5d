"""Reading CSV files into columns, and parsing a column of cells into numbers or categories.

:func:`read_csv` reads a CSV (or TSV) file with a header row into
``{column name: values}``; :func:`parse_column` decides what each column is:
float64 when every present value is a number (NaN where missing), otherwise
strings or objects (None where missing). A cell is missing when it is empty or
one of :data:`MISSING_TOKENS`. Used by :mod:`chainrule.data.inspection`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MISSING_TOKENS", "DataError", "is_missing", "parse_column", "read_csv"]

# Strings that mean "no value" (compared stripped and lower-cased).
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})


class DataError(ValueError):
    """Data that cannot be inspected: a bad file, mismatched shapes, an unknown target column."""


def is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float | np.floating):
        return v != v
    if isinstance(v, str):
        return v.strip().lower() in MISSING_TOKENS
    return type(v).__name__ in ("NAType", "NaTType")  # pandas.NA, pandas.NaT


def parse_column(c: np.ndarray) -> np.ndarray:
    """A column as float64 (NaN = missing) when every present value is a number, else as objects
    (None = missing)."""
    if c.dtype.kind in "biuf":
        return c.astype(np.float64)
    if c.dtype.kind in "mM":  # dates and durations: categories, not nanosecond counts
        out = c.astype(str).astype(object)
        out[np.isnat(c)] = None
        return out
    if c.dtype.kind in "US":
        strings = c.astype(str)
        low = np.char.lower(np.char.strip(strings))
        miss = np.isin(low, list(MISSING_TOKENS))
        values: np.ndarray = strings
    else:
        obj = c.astype(object)
        miss = np.fromiter((is_missing(v) for v in obj), dtype=bool, count=len(obj))
        values = obj
    try:
        parsed = values[~miss].astype(np.float64)
    except (ValueError, TypeError, OverflowError):
        out = values.astype(object)
        out[miss] = None
        return out
    out = np.full(len(c), np.nan)
    out[~miss] = parsed
    return out


def read_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Read a CSV (or TSV) file with a header row into ``{column name: values}``, in file order.

    The delimiter is sniffed (``,`` ``;`` tab ``|``; tab for ``.tsv`` when in doubt). A column whose
    values all parse as numbers becomes float64, with NaN where the cell is empty or one of
    ``NA``, ``N/A``, ``nan``, ``null``, ``none``, ``?``; any other column stays strings (None = missing).
    Raises :class:`DataError` with a one-line message for a file that cannot be read as a table.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a CSV file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or e})") from None
    not_csv = f"{path}: not a CSV file"
    if path.suffix.lower() in (".xlsx", ".xls", ".parquet", ".feather", ".npy", ".npz", ".pkl", ".pickle"):
        not_csv += f" ({path.suffix} data: export it as CSV first)"
    if b"\x00" in raw[:65536]:
        raise DataError(f"{not_csv} (it holds binary data)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{not_csv} (byte {e.start} is not UTF-8 text; save it as UTF-8)") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty")

    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[:sample.rindex("\n")]
    lines = sample.strip().splitlines()
    first_line = lines[0] if lines else ""
    tsv = path.suffix.lower() == ".tsv"
    delimiter = "\t" if tsv else ","
    if any(d in first_line for d in ",;\t|"):
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = "\t" if tsv or ("\t" in first_line and "," not in first_line) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True,
                        strict=True)
    try:
        header = next((r for r in reader if r), None)
        if header is None:
            raise DataError(f"{path}: the file is empty")
        names = [h.strip() or f"unnamed_{j}" for j, h in enumerate(header)]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise DataError(f"{path}: column name {name!r} appears twice in the header")
            seen.add(name)
        rows = []
        width = len(names)
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                raise DataError(f"{path}: line {reader.line_num} has {_fields(len(row))}, the header"
                                f" has {width} (delimiter {delimiter!r})")
            rows.append(row)
    except csv.Error as e:
        raise DataError(f"{not_csv} (line {reader.line_num}: {e})") from None
    if not rows:
        raise DataError(f"{path}: only a header row, no data rows")
    cols = zip(*rows)
    return {name: parse_column(np.array(col, dtype=str)) for name, col in zip(names, cols)}


def _fields(k: int) -> str:
    return f"{k} field" if k == 1 else f"{k} fields"
