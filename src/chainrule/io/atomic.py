"""Atomic file writes: a reader finds the old file or the complete new one, never a mix.

The new content goes to a temporary file beside the target (the same directory,
so the final rename stays on one file system), is flushed to disk with
``os.fsync``, and only then ``os.replace`` swaps it in; a rename is atomic on
POSIX and Windows. An exception, a crash or a kill before the rename leaves the
file at the target exactly as it was. Model files, checkpoints and logs all
write through here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from typing import IO, Any

_WRITE_MODES = frozenset({"w", "wt", "wb"})


def _target(path: Any) -> str:
    """The target as a str, checked writable: its directory exists and it is not a directory."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"expected a file path (str or os.PathLike), got {type(path).__name__}")
    target = os.fsdecode(os.fspath(path))
    if not target:
        raise ValueError("expected a file path, got an empty string")
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        raise FileNotFoundError(
            errno.ENOENT, f"cannot write {target!r}: its directory does not exist", parent
        )
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "cannot write a file over a directory", target)
    return target


def _reserve(target: str) -> str:
    """Create an empty, uniquely named temporary file beside ``target``; return its path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = f"{target}.tmp-{secrets.token_hex(4)}"
        try:
            fd = os.open(tmp, flags, 0o666)  # 0o666 minus the umask, as open() would make it
        except FileExistsError:  # a name clash with another writer: draw again
            continue
        os.close(fd)
        break
    # Replacing a file keeps its permissions, as an editor saving it would.
    with contextlib.suppress(OSError):
        os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
    return tmp


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable; skipped where directories cannot be opened or synced (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield the path of a fresh temporary file beside ``path``; on success it replaces ``path``.

    For writers that want a file name rather than a file object (a library's
    ``save_file(obj, name)``): write the whole content to the yielded path. On a
    clean exit the temporary file is fsynced and renamed onto ``path``; if the
    block raises (or the process dies), ``path`` is untouched and the temporary
    file is removed (a killed process leaves a ``<name>.tmp-<hex>`` file behind).
    """
    target = _target(path)
    tmp = _reserve(target)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(os.path.dirname(os.path.abspath(target)))


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None, newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that it changes all at once, when the block ends without error.

    ``mode`` is ``"wb"`` (bytes) or ``"w"``/``"wt"`` (text, UTF-8 unless
    ``encoding`` says otherwise; pass ``newline=""`` for the csv module). The
    file object writes to a temporary file beside ``path``, which is synced to
    disk and renamed onto ``path`` on a clean exit and removed if the block
    raises, leaving any previous file at ``path`` untouched::

        with atomic_write("log.csv", "w", newline="") as f:
            csv.writer(f).writerows(rows)
    """
    if mode not in _WRITE_MODES:
        raise ValueError(f"atomic_write: mode must be 'wb', 'w' or 'wt', got {mode!r}")
    if "b" in mode:
        if encoding is not None or newline is not None:
            raise ValueError("atomic_write: encoding and newline apply to text modes only")
    elif encoding is None:
        encoding = "utf-8"  # the same bytes on every machine, whatever the locale
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding, newline=newline) as f:
        yield f
