"""SST-2 (GLUE's Stanford Sentiment Treebank, binary): the checked train/dev files, local or downloaded.

The canonical source is GLUE's zip. It has no published checksum, so what is
checked is its content: ``train.tsv`` and ``dev.tsv`` must have the SHA-256
sums below (those of the files every GLUE copy holds). A local directory that
already holds the two files is used as it is, after the same check.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import zipfile
from collections.abc import Mapping

from chainrule.data.datasets import ChecksumError, data_root, download, file_sha256
from chainrule.io import atomic_write

__all__ = ["LABEL_COLUMN", "SST2_SHA256", "SST2_URL", "TEXT_COLUMN", "load_sst2"]

SST2_URL = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
SST2_SHA256 = {
    "train.tsv": "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
    "dev.tsv": "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
}
TEXT_COLUMN = "sentence"
LABEL_COLUMN = "label"
_SPLITS = {"train": "train.tsv", "dev": "dev.tsv"}


def _check_local(directory: pathlib.Path, checksums: Mapping[str, str]) -> dict[str, pathlib.Path]:
    out = {}
    for split, name in _SPLITS.items():
        path = directory / name
        if not path.is_file():
            raise FileNotFoundError(f"load_sst2: {directory} has no {name} (expected train.tsv and dev.tsv)")
        actual = file_sha256(path)
        if actual != checksums[name]:
            raise ChecksumError(
                f"load_sst2: {path} is not GLUE's SST-2 {name}: "
                f"expected sha256 {checksums[name]}, got {actual}"
            )
        out[split] = path
    return out


def _extract(archive: pathlib.Path, target: pathlib.Path, checksums: Mapping[str, str]) -> None:
    """Copy train.tsv/dev.tsv out of the zip into ``target``, each checked before it is written."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = {pathlib.PurePosixPath(n).name: n for n in zf.namelist() if not n.endswith("/")}
            for name in _SPLITS.values():
                if name not in members:
                    raise OSError(f"load_sst2: {archive} has no {name}; is it GLUE's SST-2.zip?")
                data = zf.read(members[name])
                actual = hashlib.sha256(data).hexdigest()
                if actual != checksums[name]:
                    raise ChecksumError(
                        f"load_sst2: {name} in {archive} has sha256 {actual}, expected {checksums[name]}; "
                        "the download was discarded"
                    )
                with atomic_write(target / name, "wb") as f:
                    f.write(data)
    except zipfile.BadZipFile:
        raise OSError(f"load_sst2: {archive} is not a zip file; the download was discarded") from None


def load_sst2(
    path: str | os.PathLike | None = None,
    *,
    root: str | os.PathLike | None = None,
    url: str = SST2_URL,
    checksums: Mapping[str, str] = SST2_SHA256,
) -> dict[str, pathlib.Path]:
    """The paths of SST-2's ``train.tsv`` and ``dev.tsv`` (columns ``sentence``, ``label``), checked.

    With ``path``, a directory holding the two files (e.g. ``../shared/data/text/sst2``).
    Without it, the files cached in ``root/sst2`` (see ``data_root``), or else
    GLUE's zip downloaded from ``url`` and the two files extracted there. A
    wrong file raises :class:`ChecksumError`, and a bad download is deleted so
    that the next call fetches it again.
    """
    if path is not None:
        directory = pathlib.Path(path).expanduser()
        if not directory.is_dir():
            raise FileNotFoundError(f"load_sst2: {directory} is not a directory with train.tsv and dev.tsv")
        return _check_local(directory, checksums)
    target = data_root(root) / "sst2"
    try:
        return _check_local(target, checksums)
    except (FileNotFoundError, ChecksumError):
        pass  # not cached yet (or damaged): fetch it
    archive = download(url, filename="sst2/SST-2.zip", root=root)
    try:
        _extract(archive, target, checksums)
    except OSError:
        archive.unlink(missing_ok=True)
        raise
    return _check_local(target, checksums)
