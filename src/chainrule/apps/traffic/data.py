"""NSL-KDD connection records: the file format, the checked download, and a tolerant parser.

Each line of an NSL-KDD file is one connection: 41 features (three of them
categorical: protocol, service, flag), the label (``normal`` or an attack name)
and a difficulty score, comma-separated, no header. The parser accepts CRLF
or LF endings, a missing final newline, blank lines, KDD'99-style labels with
a trailing dot, and any float formatting; a row it cannot read is reported
with its file name and line number instead of a NumPy traceback.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CATEGORICAL",
    "FEATURES",
    "NSL_KDD_FILES",
    "NSL_KDD_URL",
    "NUMERIC",
    "Records",
    "TrafficDataError",
    "load_nsl_kdd",
    "nsl_kdd_path",
    "read_records",
]

FEATURES = (
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land", "wrong_fragment",
    "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised", "root_shell", "su_attempted",
    "num_root", "num_file_creations", "num_shells", "num_access_files", "num_outbound_cmds",
    "is_host_login", "is_guest_login", "count", "srv_count", "serror_rate", "srv_serror_rate",
    "rerror_rate", "srv_rerror_rate", "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate",
    "dst_host_count", "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
)  # fmt: skip
CATEGORICAL = ("protocol_type", "service", "flag")
NUMERIC = tuple(f for f in FEATURES if f not in CATEGORICAL)
_CAT_INDEX = tuple(FEATURES.index(c) for c in CATEGORICAL)
_NUM_INDEX = tuple(FEATURES.index(c) for c in NUMERIC)

# The original files, mirrored on GitHub (the UNB download page sits behind a form).
NSL_KDD_URL = "https://raw.githubusercontent.com/defcom17/NSL_KDD/master/{name}.txt"
# sha256 of each file, from ../shared/data/nsl-kdd/README. KDDTrain+ and KDDTest-21 have no published
# sum we could check against: they are downloaded unverified, and load_nsl_kdd warns so every time.
NSL_KDD_FILES: dict[str, str | None] = {
    "KDDTrain+": None,
    "KDDTrain+_20Percent": "5bf25df3ec1544eb3297b9a90b56736ba11e31f429df20e5aa0cfd49ca0fc896",
    "KDDTest+": "6ff4e09deee2c50c4877bbfe84f926dffafe3ef33d24f9dcfe0e425f4a8df5a2",
    "KDDTest-21": None,
}


class TrafficDataError(ValueError):
    """An NSL-KDD file that cannot be read: missing, malformed row, wrong column count, bad value."""


@dataclass
class Records:
    """Parsed connection records: ``numeric`` (n, 38) float64, ``categorical`` (n, 3) str,
    ``labels`` (n,) str or None, ``difficulty`` (n,) int64 or None, and the ``source`` they came from."""

    numeric: np.ndarray
    categorical: np.ndarray
    labels: np.ndarray | None
    difficulty: np.ndarray | None
    source: str

    def __len__(self) -> int:
        return len(self.numeric)

    @property
    def is_attack(self) -> np.ndarray:
        """Boolean (n,): whether each record is an attack (any label but ``normal``)."""
        if self.labels is None:
            raise TrafficDataError(f"{self.source}: the records have no label column")
        return self.labels != "normal"

    def subset(self, index: np.ndarray) -> Records:
        """The records at ``index`` (an integer or boolean array)."""

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index]

        return Records(
            self.numeric[index],
            self.categorical[index],
            take(self.labels),
            take(self.difficulty),
            self.source,
        )


def nsl_kdd_path(name: str, root: str | os.PathLike | None = None, url: str | None = None) -> Path:
    """The local copy of the NSL-KDD file ``name`` (e.g. ``"KDDTest+"``), downloaded and checked if needed.

    The file is cached under ``<data root>/nsl-kdd/`` (see
    :func:`chainrule.data.datasets.data_root`); ``url`` overrides the mirror.
    Files without a known checksum are fetched unverified, with a warning.
    """
    from chainrule.data.datasets import download

    key = name[:-4] if name.endswith(".txt") else name
    if key not in NSL_KDD_FILES:
        raise TrafficDataError(
            f"nsl_kdd_path: unknown NSL-KDD file {name!r}; expected one of {', '.join(NSL_KDD_FILES)} "
            "or the path of a local file"
        )
    sha256 = NSL_KDD_FILES[key]
    if sha256 is None:
        warnings.warn(
            f"nsl_kdd_path: no published sha256 for {key}.txt; the file is used without a checksum check",
            stacklevel=2,
        )
    source = url if url is not None else NSL_KDD_URL.format(name=key)
    return download(source, filename=f"nsl-kdd/{key}.txt", sha256=sha256, root=root)


def _number(text: str, where: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TrafficDataError(f"{where}: column {column!r} should be a number, got {text!r}") from None
    if not np.isfinite(value):
        raise TrafficDataError(f"{where}: column {column!r} should be a finite number, got {text!r}")
    return value


def read_records(path: str | os.PathLike, require_labels: bool = True) -> Records:
    """Parse an NSL-KDD file (41 features, then the label, then the difficulty).

    Rows of 43 columns (NSL-KDD), 42 (KDD'99: no difficulty) and, with
    ``require_labels=False``, 41 (features only, records to score) are read;
    every row must have the same count. A first line naming the columns
    (``duration,protocol_type,...``) is skipped. Raises
    :class:`TrafficDataError` naming the file and line for anything else.
    """
    p = Path(os.fspath(path))
    name = p.name
    if not p.is_file():
        raise TrafficDataError(f"{p}: no such file")
    try:
        # newline=None: universal newlines, so CRLF, LF and a missing final newline read alike
        with open(p, encoding="utf-8", newline=None) as f:
            lines = f.read().split("\n")
    except UnicodeDecodeError as e:
        raise TrafficDataError(f"{name}: not a text file (bytes at offset {e.start} are not UTF-8)") from None
    allowed = (41, 42, 43) if not require_labels else (42, 43)
    rows: list[list[str]] = []
    numbers: list[list[float]] = []
    line_numbers: list[int] = []
    width = None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if not rows and cells[0].lower() == "duration":
            continue  # a header line
        where = f"{name} line {lineno}"
        if len(cells) not in allowed:
            expected = "41, 42 or 43" if not require_labels else "42 or 43"
            raise TrafficDataError(
                f"{where}: expected {expected} comma-separated columns (41 features, the label, the "
                f"difficulty{' optional' if not require_labels else ''}), got {len(cells)}"
            )
        if width is None:
            width = len(cells)
        elif len(cells) != width:
            raise TrafficDataError(f"{where}: has {len(cells)} columns but the rows before it have {width}")
        try:
            numbers.append([float(cells[i]) for i in _NUM_INDEX])
        except ValueError:
            for i in _NUM_INDEX:
                _number(cells[i], where, FEATURES[i])
        if any(not cells[i] for i in _CAT_INDEX) or (width > 41 and not cells[41]):
            empty = next(FEATURES[i] if i < 41 else "label" for i in (*_CAT_INDEX, 41) if not cells[i])
            raise TrafficDataError(f"{where}: column {empty!r} is empty")
        rows.append(cells)
        line_numbers.append(lineno)
    if not rows:
        raise TrafficDataError(f"{name}: no records (the file is empty)")
    numeric = np.array(numbers, dtype=np.float64)
    bad = ~np.isfinite(numeric)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise TrafficDataError(
            f"{name} line {line_numbers[r]}: column {NUMERIC[c]!r} should be a finite number, "
            f"got {rows[r][_NUM_INDEX[c]]!r}"
        )
    categorical = np.array([[row[i] for i in _CAT_INDEX] for row in rows], dtype=str)
    labels = difficulty = None
    if width >= 42:
        labels = np.array([row[41].rstrip(".") for row in rows], dtype=str)
    if width == 43:
        diff = [_number(row[42], f"{name} line {n}", "difficulty") for row, n in zip(rows, line_numbers)]
        difficulty = np.array(diff, dtype=np.int64)
    return Records(numeric, categorical, labels, difficulty, name)


def load_nsl_kdd(
    source: str | os.PathLike, root: str | os.PathLike | None = None, require_labels: bool = True
) -> Records:
    """Records from a local file path, or from the NSL-KDD file named ``source`` (downloaded, checked).

    ``source`` is a path to an existing file, or one of ``KDDTrain+``,
    ``KDDTrain+_20Percent``, ``KDDTest+``, ``KDDTest-21`` (with or without
    ``.txt``), fetched once from the public mirror into the cache under ``root``.
    """
    path = Path(os.fspath(source))
    key = os.fspath(source).removesuffix(".txt")
    if not path.exists() and key in NSL_KDD_FILES:
        path = nsl_kdd_path(key, root=root)
    return read_records(path, require_labels=require_labels)
