"""NASA C-MAPSS turbofan files: read and check them, or fetch them from NASA's archive (cached, checked).

Each subset (FD001-FD004) is three whitespace-separated text files: the
training engines run to failure (``train_FD00x.txt``), the test engines cut
off before failure (``test_FD00x.txt``), and the true remaining useful life
of each test engine, one number per line in unit order (``RUL_FD00x.txt``).
A table row is 26 numbers: unit, cycle, 3 operational settings, 21 sensors.
Every problem is reported with the file and line it comes from.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chainrule.data.datasets.download import ChecksumError, data_root, download, file_sha256
from chainrule.io import atomic_write

__all__ = [
    "ARCHIVE_URL",
    "COLUMNS",
    "SHA256",
    "SUBSETS",
    "CMAPSSData",
    "CMAPSSError",
    "download_cmapss",
    "load_cmapss",
    "load_files",
    "read_rul",
    "read_table",
]

COLUMNS = ("unit", "cycle", "setting1", "setting2", "setting3", *(f"s{i}" for i in range(1, 22)))
SUBSETS = ("FD001", "FD002", "FD003", "FD004")
# NASA's Prognostics Center of Excellence archive: a zip holding CMAPSSData.zip, which holds the files.
ARCHIVE_URL = (
    "https://phm-datasets.s3.amazonaws.com/NASA/6.+Turbofan+Engine+Degradation+Simulation+Data+Set.zip"
)
# The published sums (../shared/data/README.md). There are none for the archive itself nor for the
# FD002-FD004 files: those are checked for format only, and download_cmapss warns that it did so.
SHA256 = {
    "train_FD001.txt": "963b5e22825b34d8b21c69e1aeb4af3e647050eb672ee8834ba4b5d91d2de0f8",
    "test_FD001.txt": "3cda7109ce17bafb5443f2ac926cfcf88154b941b8c4cf95eb55d1ddd6f52851",
    "RUL_FD001.txt": "a19c8ec94931949d0485bdc35118206e9c81c4547b422efb9cf86f4ceddbceca",
}


class CMAPSSError(ValueError):
    """A C-MAPSS file is missing or not in the expected format (the message names the file and line)."""


@dataclass(frozen=True)
class CMAPSSData:
    """One subset: the training and test tables (rows x 26, float64) and the test engines' true RUL."""

    train: np.ndarray
    test: np.ndarray
    rul: np.ndarray
    name: str = "C-MAPSS"


def _read_text(path: str | os.PathLike, what: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        raise CMAPSSError(f"{what} file not found: {os.fspath(path)}") from None
    except IsADirectoryError:
        raise CMAPSSError(f"{what} file {os.fspath(path)} is a directory; expected a text file") from None
    except OSError as e:
        raise CMAPSSError(f"cannot read the {what} file {os.fspath(path)}: {e.strerror or e}") from None


def _bad_token(path: str, numbered: list[tuple[int, list[str]]]) -> CMAPSSError:
    """The error for the first token that is not a finite number."""
    for lineno, parts in numbered:
        for j, token in enumerate(parts):
            try:
                ok = np.isfinite(float(token))
            except ValueError:
                ok = False
            if not ok:
                name = COLUMNS[j] if len(parts) == len(COLUMNS) else f"column {j + 1}"
                return CMAPSSError(
                    f"{path}, line {lineno}: {name} (column {j + 1}) is {token!r}, not a finite number"
                )
    return CMAPSSError(f"{path}: could not parse the numbers")  # not reached: np.array found a bad token


def _check_engines(path: str, table: np.ndarray, lines: np.ndarray) -> None:
    """Units and cycles are positive integers; each unit's rows are together, cycles counting up by one."""
    for k, name in ((0, "unit"), (1, "cycle")):
        col = table[:, k]
        bad = np.flatnonzero((col != np.round(col)) | (col < 1))
        if bad.size:
            i = bad[0]
            raise CMAPSSError(f"{path}, line {lines[i]}: {name} is {col[i]:g}; expected a positive integer")
    unit, cycle = table[:, 0], table[:, 1]
    same = unit[1:] == unit[:-1]
    bad = np.flatnonzero(same & (cycle[1:] != cycle[:-1] + 1))
    if bad.size:
        i = bad[0] + 1
        raise CMAPSSError(
            f"{path}, line {lines[i]}: unit {unit[i]:g} goes from cycle {cycle[i - 1]:g} to {cycle[i]:g}; "
            "each engine's cycles must count up by one, without gaps"
        )
    seen: set[float] = set()
    for i in np.r_[0, np.flatnonzero(~same) + 1]:
        if unit[i] in seen:
            raise CMAPSSError(
                f"{path}, line {lines[i]}: unit {unit[i]:g} appears again after other units; "
                "each engine's rows must be together"
            )
        seen.add(unit[i])


def read_table(path: str | os.PathLike, what: str = "C-MAPSS") -> np.ndarray:
    """The rows of a train/test file as a (rows, 26) float64 array, checked line by line.

    Blank lines and trailing spaces are ignored. A row without exactly 26
    numbers, a value that is not a finite number, a non-integer unit or cycle,
    or an engine whose cycles skip is a :class:`CMAPSSError` naming the file and line.
    """
    path_s = os.fspath(path)
    numbered = [(i, line.split()) for i, line in enumerate(_read_text(path, what).splitlines(), 1)]
    numbered = [(i, parts) for i, parts in numbered if parts]
    if not numbered:
        raise CMAPSSError(f"{path_s}: the {what} file is empty; expected rows of 26 numbers")
    for lineno, parts in numbered:
        if len(parts) != len(COLUMNS):
            raise CMAPSSError(
                f"{path_s}, line {lineno}: expected {len(COLUMNS)} whitespace-separated columns "
                f"(unit, cycle, 3 settings, 21 sensors), got {len(parts)}"
            )
    try:
        table = np.array([parts for _, parts in numbered], dtype=np.float64)
    except ValueError:
        raise _bad_token(path_s, numbered) from None
    if not np.isfinite(table).all():
        raise _bad_token(path_s, numbered)
    _check_engines(path_s, table, np.array([i for i, _ in numbered]))
    return table


def read_rul(
    path: str | os.PathLike, n_engines: int | None = None, test_path: str | None = None
) -> np.ndarray:
    """The true RUL of each test engine (one non-negative number per line), checked against ``n_engines``."""
    path_s = os.fspath(path)
    values = []
    for lineno, line in enumerate(_read_text(path, "RUL").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 1:
            raise CMAPSSError(
                f"{path_s}, line {lineno}: expected one number (an engine's RUL), got {len(parts)}"
            )
        try:
            value = float(parts[0])
        except ValueError:
            value = float("nan")
        if not np.isfinite(value) or value < 0:
            raise CMAPSSError(f"{path_s}, line {lineno}: {parts[0]!r} is not a RUL (a number >= 0)")
        values.append(value)
    if n_engines is not None and len(values) != n_engines:
        source = f"{test_path} has" if test_path else "the test file has"
        raise CMAPSSError(
            f"{path_s}: has {len(values)} RUL value(s) but {source} {n_engines} engine(s); "
            "the RUL file needs one value per test engine, in unit order"
        )
    return np.array(values, dtype=np.float64)


def _file_names(subset: str) -> tuple[str, str, str]:
    if subset not in SUBSETS:
        raise CMAPSSError(f"unknown C-MAPSS subset {subset!r}; expected one of {', '.join(SUBSETS)}")
    return f"train_{subset}.txt", f"test_{subset}.txt", f"RUL_{subset}.txt"


def _members(archive: zipfile.ZipFile, names: tuple[str, ...], depth: int = 0) -> dict[str, bytes]:
    """The bytes of each wanted file in the archive, looking inside nested zips (NASA's holds one)."""
    found: dict[str, bytes] = {}
    by_base = {Path(m).name: m for m in archive.namelist() if not m.endswith("/")}
    for name in names:
        if name in by_base:
            found[name] = archive.read(by_base[name])
    if len(found) < len(names) and depth < 2:
        for member in (m for base, m in by_base.items() if base.lower().endswith(".zip")):
            with zipfile.ZipFile(io.BytesIO(archive.read(member))) as inner:
                rest = tuple(n for n in names if n not in found)
                found.update(_members(inner, rest, depth + 1))
            if len(found) == len(names):
                break
    return found


def download_cmapss(
    subset: str = "FD001",
    root: str | os.PathLike | None = None,
    url: str = ARCHIVE_URL,
    sha256: dict[str, str] | None = None,
) -> tuple[Path, Path, Path]:
    """The paths of a subset's (train, test, RUL) files in the cache, fetching NASA's archive if needed.

    The archive is downloaded once into ``<cache>/cmapss/`` (see
    :func:`~chainrule.data.datasets.data_root`; ``root`` overrides it), the
    subset's three files are extracted beside it, and each is checked against
    ``sha256`` (file name -> hex digest; default :data:`SHA256`) before it is
    written, atomically. A file without a known digest is kept with a warning
    that only its format will be checked.
    """
    names = _file_names(subset)
    sums = SHA256 if sha256 is None else sha256
    folder = data_root(root) / "cmapss"
    paths = tuple(folder / n for n in names)
    if all(p.is_file() and (n not in sums or file_sha256(p) == sums[n]) for n, p in zip(names, paths)):
        return paths  # type: ignore[return-value]
    # NASA publishes no digest of the archive: the extracted files are what gets checked.
    archive_path = download(url, filename=Path("cmapss") / "CMAPSS-archive.zip", root=root)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members = _members(archive, names)
    except zipfile.BadZipFile as e:
        raise CMAPSSError(
            f"the downloaded archive {archive_path} is not a valid zip file ({e}); "
            "delete it to download again"
        ) from None
    missing = [n for n in names if n not in members]
    if missing:
        raise CMAPSSError(f"the archive from {url} holds no {', '.join(missing)} (cached at {archive_path})")
    unchecked = [n for n in names if n not in sums]
    for name in names:
        content = members[name]
        actual = hashlib.sha256(content).hexdigest()
        if name in sums and actual != sums[name].lower():
            raise ChecksumError(
                f"download_cmapss: {name} from {url} has sha256 {actual}, expected {sums[name].lower()}; "
                f"nothing was extracted (delete {archive_path} to download the archive again)"
            )
    if unchecked:
        warnings.warn(
            f"download_cmapss: no published SHA-256 for {', '.join(unchecked)}; only their format is checked",
            stacklevel=2,
        )
    for name, path in zip(names, paths):
        with atomic_write(path) as f:
            f.write(members[name])
    return paths  # type: ignore[return-value]


def load_cmapss(
    subset: str = "FD001",
    path: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
) -> CMAPSSData:
    """One C-MAPSS subset, read and checked: from the directory ``path``, else downloaded and cached."""
    names = _file_names(subset)
    if path is not None:
        train, test, rul = (Path(path) / n for n in names)
    else:
        train, test, rul = download_cmapss(subset, root=root)
    return load_files(train, test, rul, name=subset)


def load_files(
    train: str | os.PathLike, test: str | os.PathLike, rul: str | os.PathLike, name: str = "C-MAPSS"
) -> CMAPSSData:
    """The three files of a subset, read and checked (the RUL count must match the test engines)."""
    train_table = read_table(train, "training")
    test_table = read_table(test, "test")
    n_test = len(np.unique(test_table[:, 0]))
    return CMAPSSData(train_table, test_table, read_rul(rul, n_test, os.fspath(test)), name)
