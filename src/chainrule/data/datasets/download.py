"""Download a file once, verify its SHA-256, and keep it in a cache directory.

The real-dataset loaders fetch their files through :func:`download`. A cached
file whose checksum matches is used without touching the network. A new
download goes to a temporary file in the cache directory and is renamed into
place only after its checksum is verified, so an interrupted or corrupted
download never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile
import urllib.error
import urllib.parse
import urllib.request

_CHUNK = 1 << 20


class ChecksumError(OSError):
    """A file's SHA-256 digest is not the expected one."""


def data_root(root: str | os.PathLike | None = None) -> pathlib.Path:
    """The cache directory: ``root`` if given, else ``$CHAINRULE_DATA``, else ``~/.cache/chainrule``."""
    if root is None:
        root = os.environ.get("CHAINRULE_DATA") or pathlib.Path.home() / ".cache" / "chainrule"
    return pathlib.Path(root).expanduser()


def _normalise_digest(expected: str, owner: str) -> str:
    digest = str(expected).strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{owner}: sha256 should be 64 hexadecimal characters, got {expected!r}")
    return digest


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 digest of a file, as 64 lowercase hex characters (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_sha256(path: str | os.PathLike, expected: str) -> bool:
    """Whether the file at ``path`` exists and has the SHA-256 digest ``expected`` (hex, any case)."""
    digest = _normalise_digest(expected, "check_sha256")
    path = pathlib.Path(path)
    return path.is_file() and file_sha256(path) == digest


def _target_name(url: str, filename: str | os.PathLike | None) -> pathlib.PurePath:
    if filename is None:
        name = urllib.parse.unquote(urllib.parse.urlsplit(url).path).rsplit("/", 1)[-1]
        if not name:
            raise ValueError(f"download: cannot tell a file name from the URL {url!r}; pass filename=")
        return pathlib.PurePath(name)
    rel = pathlib.PurePath(filename)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(
            f"download: filename should be a relative path inside the cache, got {str(filename)!r}"
        )
    return rel


def download(
    url: str,
    filename: str | os.PathLike | None = None,
    sha256: str | None = None,
    root: str | os.PathLike | None = None,
) -> pathlib.Path:
    """The local path of ``url``'s file in the cache, downloading it if needed.

    ``filename`` (a path relative to the cache, default the last part of the
    URL) names the cached copy; ``root`` overrides the cache directory (see
    :func:`data_root`). With ``sha256``, a cached file is reused only if its
    digest matches, and a fresh download must match or a :class:`ChecksumError`
    names the URL and both digests (nothing is kept). Without it, any cached
    file is reused. The file appears atomically: complete or not at all.
    """
    digest = None if sha256 is None else _normalise_digest(sha256, "download")
    target = data_root(root) / _target_name(url, filename)
    if target.is_file() and (digest is None or file_sha256(target) == digest):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = pathlib.Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    while chunk := response.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, TimeoutError, ValueError) as e:
                reason = getattr(e, "reason", e)
                raise OSError(
                    f"download: could not fetch {url} ({reason}); "
                    f"to work offline, put the file at {target}"
                ) from e
            out.flush()
            os.fsync(out.fileno())
        actual = h.hexdigest()
        if digest is not None and actual != digest:
            raise ChecksumError(
                f"download: checksum mismatch for {url}: expected sha256 {digest}, got {actual}; "
                "the download was discarded"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a cache file is for every reader
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
