"""Text-classification tables: read a CSV or TSV file into sentences and label ids, with clear errors.

The delimiter follows the extension (``.csv`` comma, ``.tsv`` tab). The first
row is the header. Labels may be strings (``positive``) or integers (``0``,
``1``); they are mapped to ids in sorted order (numeric order when every label
is an integer), so the ids are the same whichever file is read first. Every
problem (a missing file, an empty one, a missing column, a short row, an empty
label, a single class) raises :class:`TableError` naming the file, and the line
where there is one.
"""

from __future__ import annotations

import csv
import os
import pathlib
from dataclasses import dataclass

__all__ = ["LabelMap", "Table", "TableError", "read_table"]

_DELIMITERS = {".csv": ",", ".tsv": "\t"}


class TableError(ValueError):
    """A data file that cannot be read as a text-classification table."""


@dataclass
class Table:
    """The sentences and their labels (as written in the file) of one file."""

    path: pathlib.Path
    texts: list[str]
    labels: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def _field_limit() -> None:
    # A long review can exceed csv's default 128 KiB field limit.
    csv.field_size_limit(1 << 30)


def read_table(path: str | os.PathLike, text_column: str, label_column: str) -> Table:
    """Read ``text_column`` and ``label_column`` of a CSV/TSV file with a header row.

    TSV files are read without quote processing (as GLUE writes them: a ``"``
    is part of the sentence); CSV files follow the usual quoting rules.
    """
    path = pathlib.Path(path)
    delimiter = _DELIMITERS.get(path.suffix.lower())
    if delimiter is None:
        raise TableError(
            f"finetune: cannot tell the format of {path}: expected a .csv or .tsv file, got {path.suffix!r}"
        )
    if not path.is_file():
        raise TableError(f"finetune: no such file: {path}")
    _field_limit()
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, delimiter=delimiter, quoting=quoting)
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise TableError(f"finetune: {path} is empty: expected a header row naming the columns")
            names = [h.strip() for h in header]
            cols = []
            for wanted, role in ((text_column, "text"), (label_column, "label")):
                if wanted not in names:
                    raise TableError(
                        f"finetune: {path} has no {role} column {wanted!r}; its columns are "
                        + ", ".join(repr(n) for n in names)
                    )
                cols.append(names.index(wanted))
            ti, li = cols
            need = max(ti, li) + 1
            texts, labels = [], []
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                if len(row) < need:
                    raise TableError(
                        f"finetune: {path}, line {reader.line_num}: expected {len(names)} fields "
                        f"({', '.join(names)}), got {len(row)}"
                    )
                label = row[li].strip()
                if not label:
                    raise TableError(f"finetune: {path}, line {reader.line_num}: the label is empty")
                texts.append(row[ti].strip())
                labels.append(label)
    except UnicodeDecodeError as e:
        raise TableError(f"finetune: {path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise TableError(f"finetune: {path} is malformed: {e}") from None
    except OSError as e:
        raise TableError(f"finetune: cannot read {path}: {e.strerror or e}") from None
    if not texts:
        raise TableError(f"finetune: {path} has a header but no data rows")
    return Table(path, texts, labels)


def _is_int(s: str) -> bool:
    try:
        int(s)
    except ValueError:
        return False
    return True


class LabelMap:
    """Labels as written in the files <-> class ids ``0..C-1``.

    Built from the training labels: sorted numerically when all are integers
    (so ``0``/``1`` stay ids 0/1), else as strings. Needs two classes at least.
    """

    def __init__(self, labels: list[str], source: str = "the training file") -> None:
        distinct = set(labels)
        if len(distinct) < 2:
            only = next(iter(distinct), None)
            raise TableError(
                f"finetune: {source} has a single class ({only!r}); classification needs two at least"
            )
        self.numeric = all(_is_int(s) for s in distinct)
        key = (lambda s: (int(s), s)) if self.numeric else None
        self.names: list[str] = sorted(distinct, key=key)
        self._ids = {n: i for i, n in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)

    def encode(self, labels: list[str], source: str) -> list[int]:
        """Class ids of ``labels``; a label the training file never had is an error naming it."""
        ids = self._ids
        unknown = sorted({s for s in labels if s not in ids})
        if unknown:
            shown = ", ".join(repr(s) for s in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise TableError(
                f"finetune: {source} has labels the training file does not: {shown} "
                f"(training labels: {', '.join(repr(n) for n in self.names)})"
            )
        return [ids[s] for s in labels]

    def to_dict(self) -> dict[str, object]:
        """The JSON form saved next to the model: the label of each class id."""
        return {"labels": self.names, "numeric": self.numeric}
