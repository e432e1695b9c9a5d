"""Real datasets: the bundled digits (shapes, dtypes, ranges, a fixed stratified split) and the downloader.

The downloader is tested offline with ``file://`` URLs of files the test
writes: cache hits, checksum mismatches, and that a failed download never
leaves a file behind.
"""

from __future__ import annotations

import hashlib
import io
import pathlib
import sys
import urllib.request

import numpy as np
import pytest
from sklearn.datasets import load_digits as sk_load_digits

import chainrule as cr
from chainrule.data.datasets import ChecksumError, check_sha256, data_root, download, file_sha256, load_digits


# ------------------------------------------------------------------ digits
def test_digits_shapes_dtypes_ranges() -> None:
    train, test = load_digits()
    assert (len(train), len(test)) == (1437, 360)
    for ds in (train, test):
        x, y = ds.tensors
        assert x.shape == (len(ds), 64) and x.dtype == np.float32
        assert y.shape == (len(ds),) and y.dtype == np.int64
        assert x._array.min() == 0.0 and x._array.max() == 1.0
        assert set(np.unique(y._array)) == set(range(10))


def test_digits_are_sklearn_pixels_over_16() -> None:
    train, test = load_digits()
    ours = np.concatenate([train.tensors[0]._array, test.tensors[0]._array])
    labels = np.concatenate([train.tensors[1]._array, test.tensors[1]._array])
    x, y = sk_load_digits(return_X_y=True)
    order_ours = np.lexsort(np.column_stack([ours, labels]).T)
    order_sk = np.lexsort(np.column_stack([x / 16, y]).T)
    np.testing.assert_array_equal(ours[order_ours], (x / 16).astype(np.float32)[order_sk])
    np.testing.assert_array_equal(labels[order_ours], y[order_sk])


def test_digits_split_is_stratified() -> None:
    train, test = load_digits(test_size=0.25)
    y_all = sk_load_digits().target
    counts_test = np.bincount(test.tensors[1]._array, minlength=10)
    counts_all = np.bincount(y_all, minlength=10)
    assert len(test) == 450
    assert np.all(np.abs(counts_test - 0.25 * counts_all) <= 1)
    assert np.all(np.bincount(train.tensors[1]._array, minlength=10) + counts_test == counts_all)


def test_digits_split_ignores_global_seed_and_image_layout() -> None:
    cr.manual_seed(1)
    a_train, a_test = load_digits()
    cr.manual_seed(2)
    b_train, b_test = load_digits(flatten=False)
    assert b_train.tensors[0].shape == (1437, 1, 8, 8)
    np.testing.assert_array_equal(a_train.tensors[0]._array, b_train.tensors[0]._array.reshape(-1, 64))
    np.testing.assert_array_equal(a_test.tensors[1]._array, b_test.tensors[1]._array)


def test_digits_test_size_as_count_and_errors() -> None:
    train, test = load_digits(test_size=100)
    assert (len(train), len(test)) == (1697, 100)
    with pytest.raises(ValueError, match=r"load_digits: test_size as a fraction should be in \(0, 1\)"):
        load_digits(test_size=1.5)
    with pytest.raises(ValueError, match="load_digits: cannot split 1797 images with test_size=5"):
        load_digits(test_size=5)
    with pytest.raises(TypeError, match="load_digits: test_size should be a float or an int"):
        load_digits(test_size="0.2")


def test_digits_without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[datasets\]'"):
        load_digits()


# ------------------------------------------------------------------ downloader
def write(path: pathlib.Path, data: bytes) -> str:
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def source(tmp_path: pathlib.Path) -> tuple[str, str, bytes]:
    """A file to 'download': its file:// URL, its sha256 and its bytes."""
    data = bytes(range(256)) * 50
    path = tmp_path / "remote" / "table.csv"
    path.parent.mkdir()
    return path.as_uri(), write(path, data), data


def leftovers(root: pathlib.Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_download_and_cache_hit(tmp_path: pathlib.Path, source, monkeypatch: pytest.MonkeyPatch) -> None:
    url, digest, data = source
    cache = tmp_path / "cache"
    path = download(url, sha256=digest, root=cache)
    assert path == cache / "table.csv" and path.read_bytes() == data
    # the source is gone and the network is off: the verified cached copy is used
    pathlib.Path(url.removeprefix("file://")).unlink()

    def no_network(*args, **kwargs):
        raise AssertionError("network used on a cache hit")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert download(url, sha256=digest.upper(), root=cache) == path
    assert download(url, root=cache) == path  # no checksum: any cached copy is reused
    assert leftovers(cache) == ["table.csv"]


def test_checksum_mismatch_names_url_and_digests(tmp_path: pathlib.Path, source) -> None:
    url, digest, _ = source
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as err:
        download(url, sha256=wrong, root=cache)
    message = str(err.value)
    assert url in message and wrong in message and digest in message
    assert leftovers(cache) == []


def test_stale_cached_file_is_replaced(tmp_path: pathlib.Path, source) -> None:
    url, digest, data = source
    cache = tmp_path / "cache"
    cache.mkdir()
    write(cache / "table.csv", b"truncated")
    path = download(url, sha256=digest, root=cache)
    assert path.read_bytes() == data and leftovers(cache) == ["table.csv"]


def test_interrupted_download_leaves_nothing(
    tmp_path: pathlib.Path, source, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, digest, data = source
    cache = tmp_path / "cache"

    class Broken(io.BytesIO):
        def read(self, n: int = -1) -> bytes:
            if self.tell():
                raise ConnectionResetError("connection lost")
            return super().read(100)

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Broken(data))
    with pytest.raises(ConnectionResetError):
        download(url, sha256=digest, root=cache)
    assert leftovers(cache) == []


def test_unreachable_url_says_where_to_put_the_file(tmp_path: pathlib.Path) -> None:
    missing = (tmp_path / "nowhere.bin").as_uri()
    with pytest.raises(OSError, match=r"could not fetch file://.*nowhere\.bin.*put the file at .*cache"):
        download(missing, root=tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []


def test_filename_root_and_env(tmp_path: pathlib.Path, source, monkeypatch: pytest.MonkeyPatch) -> None:
    url, digest, _ = source
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("CHAINRULE_DATA")
    assert data_root() == pathlib.Path.home() / ".cache" / "chainrule"
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "env"))
    path = download(url, filename="nsl-kdd/train.csv", sha256=digest)
    assert path == tmp_path / "env" / "nsl-kdd" / "train.csv" and path.is_file()
    for bad in ("../escape.csv", "/abs/path.csv"):
        with pytest.raises(ValueError, match="relative path inside the cache"):
            download(url, filename=bad)
    with pytest.raises(ValueError, match="cannot tell a file name"):
        download("https://example.com/")
    with pytest.raises(ValueError, match="sha256 should be 64 hexadecimal characters"):
        download(url, sha256="abc")


def test_check_sha256(tmp_path: pathlib.Path) -> None:
    digest = write(tmp_path / "f.bin", b"chainrule")
    assert file_sha256(tmp_path / "f.bin") == digest
    assert check_sha256(tmp_path / "f.bin", digest)
    assert not check_sha256(tmp_path / "f.bin", "f" * 64)
    assert not check_sha256(tmp_path / "missing.bin", digest)
    with pytest.raises(ValueError, match="check_sha256: sha256 should be 64 hexadecimal"):
        check_sha256(tmp_path / "f.bin", "xyz")
