"""chainrule.io: safetensors save/load (round trips, PyTorch interop, errors that name the file),
atomic writes (exceptions and SIGKILL leave the old file), and loading never unpickling.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.io import SafetensorsError, atomic_path, atomic_write, load, load_metadata, save

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_]
SHAPES = [(), (0,), (2, 0, 3), (1,), (5,), (3, 4), (2, 3, 4)]


def _values(dtype: type, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Values spanning the dtype's range: extremes and signs for integers, inf/nan/-0.0 for floats."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    arr = rng.standard_normal(shape).astype(dt) * dt.type(100)
    specials = np.array([np.inf, -np.inf, np.nan, -0.0, np.finfo(dt).max, np.finfo(dt).tiny], dtype=dt)
    flat = arr.reshape(-1)
    flat[: min(flat.size, specials.size)] = specials[: flat.size]
    return arr


def _assert_same(loaded: cr.Tensor, expected: np.ndarray) -> None:
    assert isinstance(loaded, cr.Tensor)
    assert loaded.dtype == expected.dtype
    assert loaded.shape == expected.shape
    # bit-exact: compares nan with nan, and -0.0 apart from 0.0
    assert loaded._array.tobytes() == np.ascontiguousarray(expected).tobytes()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------ round trips
def test_round_trip_every_dtype_and_shape(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        f"{np.dtype(dt).name}.{'x'.join(map(str, shape)) or 'scalar'}": _values(dt, shape, rng)
        for dt in DTYPES
        for shape in SHAPES
    }
    path = tmp_path / "all.safetensors"
    save(arrays, path)
    loaded = load(path)
    assert sorted(loaded) == sorted(arrays)
    for key, arr in arrays.items():
        _assert_same(loaded[key], arr)


@given(
    arrays=st.dictionaries(
        st.text(min_size=0, max_size=8).filter(lambda k: k != "__metadata__"),
        hnp.arrays(st.sampled_from(DTYPES), hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)),
        max_size=5,
    )
)
def test_round_trip_hypothesis(
    arrays: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("hyp") / "x.safetensors"
    save(arrays, path)
    loaded = load(path)
    assert sorted(loaded) == sorted(arrays)
    for key, arr in arrays.items():
        _assert_same(loaded[key], arr)


def test_tensors_are_saved_by_value_and_load_without_grad(tmp_path: Path) -> None:
    w = cr.randn(3, 4, requires_grad=True)
    (w * 2).sum().backward()  # a gradient exists; only the values go to disk
    b = cr.zeros(4, dtype=cr.float64)
    path = tmp_path / "m.safetensors"
    save({"w": w, "b": b, "n": cr.tensor(7)}, path)
    out = load(path)
    _assert_same(out["w"], w._array)
    _assert_same(out["b"], b._array)
    _assert_same(out["n"], np.array(7, np.int64))
    for t in out.values():
        assert not t.requires_grad and t.grad is None and t.is_leaf
        assert t._array.flags.writeable and t._array.flags.aligned and t._array.flags.c_contiguous
    assert out["w"].dtype == np.float32  # float32 stays float32, no promotion to the default dtype
    # each tensor owns writable memory of its own, apart from the file and from each other
    out["w"]._array[0, 0] = 123.0
    out["b"]._array += 1
    assert not np.shares_memory(out["w"]._array, out["b"]._array)
    _assert_same(load(path)["w"], w._array)


def test_non_contiguous_and_foreign_byte_order(tmp_path: Path) -> None:
    base = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    views = {
        "transposed": base.transpose(2, 0, 1),
        "strided": base[:, ::2, 1::2],
        "reversed": base[::-1],
        "fortran": np.asfortranarray(base),
        "big_endian": base.astype(">f4"),
        "tensor_view": cr.tensor(base).permute(1, 0, 2),
    }
    path = tmp_path / "v.safetensors"
    save(views, path)
    out = load(path)
    for key, value in views.items():
        expected = value._array if isinstance(value, cr.Tensor) else value
        np.testing.assert_array_equal(out[key]._array, expected)
        assert out[key].shape == expected.shape and out[key].dtype == np.float32


def test_numpy_scalar_and_empty_mapping(tmp_path: Path) -> None:
    path = tmp_path / "s.safetensors"
    save({"s": np.float16(1.5)}, path)
    _assert_same(load(path)["s"], np.array(1.5, np.float16))
    save({}, path)
    assert load(path) == {}


def test_metadata_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "meta.safetensors"
    meta = {"epoch": "12", "config": json.dumps({"lr": 1e-3}), "note": "unicode: ü ✓", "empty": ""}
    save({"w": np.ones(2, np.float32)}, path, metadata=meta)
    assert load_metadata(path) == meta
    _assert_same(load(path)["w"], np.ones(2, np.float32))
    save({"w": np.ones(2, np.float32)}, path)
    assert load_metadata(path) == {}


def test_paths_can_be_str_or_pathlike(tmp_path: Path) -> None:
    class Where(os.PathLike):
        def __fspath__(self) -> str:
            return str(tmp_path / "custom.safetensors")

    for path in (str(tmp_path / "plain.safetensors"), tmp_path / "pathlib.safetensors", Where()):
        save({"x": np.arange(3)}, path)
        _assert_same(load(path)["x"], np.arange(3))
        assert load_metadata(path) == {}


# ------------------------------------------------------------------ PyTorch interop
def test_file_written_by_pytorch_loads(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    theirs = {
        "linear.weight": torch.randn(4, 3, generator=g),
        "linear.bias": torch.randn(4, generator=g, dtype=torch.float64),
        "half": torch.randn(2, 2, generator=g).half(),
        "steps": torch.tensor(5),
        "ids": torch.randint(-100, 100, (3,), generator=g, dtype=torch.int32),
        "mask": torch.tensor([True, False, True]),
        "bytes": torch.tensor([0, 255], dtype=torch.uint8),
        "empty": torch.zeros(0, 3),
        "scalar": torch.tensor(2.5),
    }
    path = tmp_path / "torch.safetensors"
    safetensors.torch.save_file(theirs, path, metadata={"format": "pt"})
    ours = load(path)
    assert sorted(ours) == sorted(theirs)
    for key, t in theirs.items():
        _assert_same(ours[key], t.numpy())
    assert load_metadata(path) == {"format": "pt"}


def test_bfloat16_from_pytorch_widens_exactly_to_float32(tmp_path: Path) -> None:
    t = torch.randn(5, 3).to(torch.bfloat16)
    t[0, :3] = torch.tensor([float("inf"), float("nan"), -0.0])
    path = tmp_path / "bf16.safetensors"
    safetensors.torch.save_file({"w": t, "b": torch.ones(2)}, path)
    out = load(path)
    _assert_same(out["w"], t.float().numpy())
    _assert_same(out["b"], np.ones(2, np.float32))


def test_file_written_by_chainrule_loads_in_pytorch(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ours = {f"{np.dtype(dt).name}": _values(dt, (3, 2), rng) for dt in DTYPES}
    path = tmp_path / "ours.safetensors"
    save(ours, path, metadata={"format": "pt"})
    theirs = safetensors.torch.load_file(path)
    for key, arr in ours.items():
        assert theirs[key].numpy().tobytes() == arr.tobytes()
        assert str(theirs[key].dtype) == "torch." + arr.dtype.name


def test_unsupported_dtype_in_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "u16.safetensors"
    safetensors.torch.save_file({"ok": torch.ones(1), "counts": torch.zeros(3, dtype=torch.uint16)}, path)
    with pytest.raises(
        SafetensorsError, match=r"tensor 'counts' has dtype U16, which chainrule does not support"
    ):
        load(path)


# ------------------------------------------------------------------ atomicity
def test_failure_during_write_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.safetensors"
    save({"w": np.arange(4.0)}, path, metadata={"v": "old"})

    def half_then_fail(arrays: dict, filename: str, metadata: dict | None = None) -> None:
        with open(filename, "wb") as f:
            f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{half a header")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.numpy, "save_file", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save({"w": np.zeros(4)}, path)
    monkeypatch.undo()
    assert load_metadata(path) == {"v": "old"}
    _assert_same(load(path)["w"], np.arange(4.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


@pytest.mark.parametrize("exc", [OSError("rename refused"), KeyboardInterrupt()])
def test_failing_replace_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exc: BaseException
) -> None:
    path = tmp_path / "model.safetensors"
    save({"w": np.arange(4.0)}, path)

    def refuse(src: str, dst: str) -> None:
        raise exc

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(type(exc)):
        save({"w": np.zeros(4)}, path)
    monkeypatch.undo()
    _assert_same(load(path)["w"], np.arange(4.0))
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_value_that_fails_serialization_leaves_old_file(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save({"w": np.arange(4.0)}, path)
    with pytest.raises(TypeError, match=r"tensors\['bad'\]"):
        save({"w": np.zeros(4), "bad": np.array(["a"])}, path)
    _assert_same(load(path)["w"], np.arange(4.0))
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


_KILLED_WRITER = """
import os, sys, time
import numpy as np
from chainrule.io import save

big = np.ones(50_000_000, dtype=np.float32)  # 200 MB
# A slow fsync (save() syncs before it renames) keeps the rename from winning the
# race with the parent's kill: the kill always lands before the new file is in place.
os.fsync = lambda fd: time.sleep(120)
save({"big": big}, sys.argv[1])
"""


def _temp_file(directory: Path) -> Path | None:
    found = list(directory.glob("model.safetensors.tmp-*"))
    return found[0] if found else None


def _has_data(directory: Path) -> bool:
    tmp = _temp_file(directory)
    try:
        return tmp is not None and tmp.stat().st_size > 0
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize(
    "ready",
    [
        pytest.param(lambda d: _temp_file(d) is not None, id="temp-file-created"),
        pytest.param(_has_data, id="data-being-written"),
    ],
)
def test_sigkill_while_writing_a_large_file_leaves_old_file(tmp_path: Path, ready) -> None:
    path = tmp_path / "model.safetensors"
    save({"w": np.arange(4.0)}, path, metadata={"v": "old"})
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)])
    try:
        deadline = time.monotonic() + 60
        while not ready(tmp_path):
            assert proc.poll() is None, f"the writer exited (status {proc.returncode}) before it was killed"
            assert time.monotonic() < deadline, "the writer never got to the point of the kill"
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert load_metadata(path) == {"v": "old"}
    _assert_same(load(path)["w"], np.arange(4.0))


def test_atomic_write_text_and_binary(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    with atomic_write(path, "w", newline="") as f:
        f.write("epoch,loss\r\n1,0.5 ✓\r\n")
        assert not path.exists()  # nothing at the target until the block ends
    assert path.read_bytes() == "epoch,loss\r\n1,0.5 ✓\r\n".encode()
    with pytest.raises(RuntimeError, match="boom"), atomic_write(path, "w") as f:
        f.write("half")
        raise RuntimeError("boom")
    assert path.read_bytes() == "epoch,loss\r\n1,0.5 ✓\r\n".encode()
    with atomic_write(str(path), "wb") as f:
        f.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]


def test_atomic_path_replaces_only_on_success(tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    path.write_bytes(b"old")
    with pytest.raises(ValueError, match="no plot"), atomic_path(path) as tmp:
        assert Path(tmp).parent == tmp_path and Path(tmp).name.startswith("plot.png.tmp-")
        Path(tmp).write_bytes(b"partial")
        raise ValueError("no plot")
    assert path.read_bytes() == b"old"
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_atomic_write_keeps_the_permissions_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "shared.txt"
    path.write_text("old")
    os.chmod(path, 0o640)
    with atomic_write(path, "w") as f:
        f.write("new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.txt"
    with atomic_write(fresh, "w") as f:
        f.write("x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask  # as open() would make it, not 0o600


def test_atomic_write_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"atomic_write: mode must be 'wb', 'w' or 'wt', got 'a'"):
        with atomic_write(tmp_path / "x", "a"):
            pass
    with pytest.raises(ValueError, match="encoding and newline apply to text modes only"):
        with atomic_write(tmp_path / "x", "wb", encoding="utf-8"):
            pass
    with pytest.raises(FileNotFoundError, match="its directory does not exist"):
        with atomic_write(tmp_path / "missing" / "x", "w"):
            pass
    with pytest.raises(IsADirectoryError, match="cannot write a file over a directory"):
        with atomic_path(tmp_path):
            pass
    with pytest.raises(TypeError, match=r"expected a file path \(str or os.PathLike\), got int"):
        with atomic_path(3):
            pass
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ save errors
@pytest.mark.parametrize(
    ("tensors", "error", "match"),
    [
        ([np.ones(2)], TypeError, r"save: expected a mapping of names to tensors .* got list"),
        ({1: np.ones(2)}, TypeError, r"save: tensor names must be str, got int key 1"),
        ({"a": 1.5}, TypeError, r"save: tensors\['a'\] is a builtins.float; expected a chainrule Tensor or"),
        ({"a": [1, 2]}, TypeError, r"save: tensors\['a'\] is a builtins.list"),
        (
            {"a": {"w": np.ones(1)}},
            TypeError,
            r"tensors\['a'\] is a builtins.dict.*nested dicts must be flat",
        ),
        ({"a": torch.ones(2)}, TypeError, r"tensors\['a'\] is a torch.Tensor.*\.detach\(\)\.numpy\(\)"),
        ({"a": np.ones(2, np.uint16)}, TypeError, r"tensors\['a'\] has dtype uint16; supported dtypes are"),
        ({"a": np.ones(2, np.complex64)}, TypeError, r"tensors\['a'\] has dtype complex64"),
        ({"a": np.array([object()])}, TypeError, r"tensors\['a'\] has dtype object"),
        ({"__metadata__": np.ones(2)}, ValueError, r"save: '__metadata__' is reserved"),
    ],
)
def test_save_rejects_bad_tensors(tmp_path: Path, tensors: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        save(tensors, tmp_path / "x.safetensors")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        ({"epoch": 3}, r"save: metadata must map str to str, got str 'epoch' -> int 3 \(convert values"),
        ({1: "x"}, r"save: metadata must map str to str, got int 1 -> str 'x'"),
        ([("a", "b")], r"save: metadata must be a mapping of str to str, got list"),
    ],
)
def test_save_rejects_bad_metadata(tmp_path: Path, metadata: object, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        save({"w": np.ones(1)}, tmp_path / "x.safetensors", metadata=metadata)


def test_save_path_errors(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(FileNotFoundError, match="its directory does not exist") as info:
        save({"w": np.ones(1)}, missing / "x.safetensors")
    assert info.value.filename == str(missing)
    with pytest.raises(IsADirectoryError, match="cannot write a file over a directory"):
        save({"w": np.ones(1)}, tmp_path)
    message = r"save: path must be a str, an os.PathLike or a binary file object, got int"
    with pytest.raises(TypeError, match=message):
        save({"w": np.ones(1)}, 3)


# ------------------------------------------------------------------ load errors
@pytest.fixture
def good_file(tmp_path: Path) -> bytes:
    path = tmp_path / "good.safetensors"
    save({"a": np.arange(10, dtype=np.float32), "b": np.ones((2, 3))}, path, metadata={"k": "v"})
    return path.read_bytes()


def _header_file(header: object, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.safetensors"
    for fn, who in ((load, "load"), (load_metadata, "load_metadata")):
        with pytest.raises(FileNotFoundError, match=rf"{who}: no such file: .*nope\.safetensors") as info:
            fn(path)
        assert info.value.filename == str(path)
    with pytest.raises(IsADirectoryError, match="load: expected a safetensors file, got a directory"):
        load(tmp_path)
    with pytest.raises(TypeError, match=r"load: path must be a str or os\.PathLike, got bytes"):
        load(b"x.safetensors")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda good: b"", r"is empty \(0 bytes\), not a safetensors file"),
        (lambda good: good[:5], r"is truncated or not a safetensors file: 5 bytes, too short for a header"),
        (
            lambda good: good[:40],
            r"is truncated or not a safetensors file: its header length \(\d+ bytes\) runs past",
        ),
        (
            lambda good: good[:-1],
            r"is truncated: tensor '\w' ends at byte \d+ of the data, but the file holds only",
        ),
        (lambda good: good[: len(good) // 2 + 80], r"is truncated: tensor"),
        (
            lambda good: np.random.default_rng(0).bytes(4096),
            r"is not a safetensors file: its first 8 bytes give an impossible header length",
        ),
        (
            lambda good: struct.pack("<Q", 12) + b"{not json!!}",
            r"is not a safetensors file: its header is not valid JSON \(Expecting property name",
        ),
        (lambda good: struct.pack("<Q", 4) + b"\xff\xfe{}", r"its header is not valid JSON"),
        (lambda good: _header_file([1, 2]), r"is not a safetensors file: its header is no JSON object"),
        (
            lambda good: _header_file(
                {"w": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]}}, b"\0" * 8
            ),
            r"is truncated: tensor 'w' ends at byte 400 of the data, but the file holds only 8 bytes",
        ),
        (
            lambda good: _header_file(
                {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8
            ),
            r"is not a valid safetensors file: .*invalid shape, data type, or offset",
        ),
        (lambda good: good + b"tail", r"is not a valid safetensors file: .*not fully covered"),
        (
            lambda good: _header_file({"w": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}}, b"\0"),
            r"tensor 'w' has dtype Q7, which chainrule does not support",
        ),
        (
            lambda good: _header_file({"__metadata__": {"epoch": 3}}),
            r"is not a valid safetensors file: .*expected a string",
        ),
    ],
    ids=[
        "empty",
        "too-short",
        "cut-in-header",
        "cut-last-byte",
        "cut-in-data",
        "garbage",
        "bad-json",
        "bad-utf8",
        "header-not-object",
        "offsets-overrun",
        "offsets-mismatch",
        "trailing-bytes",
        "unknown-dtype",
        "metadata-not-str",
    ],
)
def test_corrupt_files_raise_naming_the_file(tmp_path: Path, good_file: bytes, make, match: str) -> None:
    path = _write(tmp_path / "broken.safetensors", make(good_file))
    with pytest.raises(SafetensorsError, match=r"^load: " + re.escape(str(path)) + " .*" + match) as info:
        load(path)
    assert isinstance(info.value, ValueError)
    if "dtype" not in match:  # the header checks are shared: load_metadata reports the same file problems
        with pytest.raises(SafetensorsError, match=r"^load_metadata: " + re.escape(str(path))):
            load_metadata(path)


_PICKLE_MESSAGE = (
    r"is not a safetensors file \(it looks like a pickle/PyTorch \.pt file; chainrule never unpickles.*"
    r"convert it in PyTorch with safetensors\.torch\.save_file"
)


def test_other_formats_are_recognised(tmp_path: Path) -> None:
    torch.save({"w": torch.ones(2)}, tmp_path / "model.pt")
    (tmp_path / "state.pkl").write_bytes(pickle.dumps({"w": np.ones(2)}))
    (tmp_path / "old.pkl").write_bytes(pickle.dumps({"w": [1.0]}, protocol=0))
    np.save(tmp_path / "w.npy", np.ones(2))
    np.savez(tmp_path / "w.npz", w=np.ones(2))
    for name in ("model.pt", "state.pkl", "old.pkl"):
        with pytest.raises(SafetensorsError, match=re.escape(str(tmp_path / name)) + " " + _PICKLE_MESSAGE):
            load(tmp_path / name)
    with pytest.raises(
        SafetensorsError, match=r"w\.npy is not a safetensors file \(it looks like a NumPy \.npy"
    ):
        load(tmp_path / "w.npy")
    with pytest.raises(SafetensorsError, match=r"w\.npz is not a safetensors file \(it is a zip archive"):
        load(tmp_path / "w.npz")


def test_valid_file_whose_bytes_resemble_a_pickle_still_loads(tmp_path: Path) -> None:
    # A header of 0x280 bytes makes the file start with b"\x80\x02", pickle protocol 2's opening:
    # format sniffing must only explain failures, never reject a valid file.
    pad = next(
        n for n in range(700) if safetensors.numpy.save({"k" * n: np.ones(1, np.float32)})[:2] == b"\x80\x02"
    )
    path = tmp_path / "lookalike.safetensors"
    save({"k" * pad: np.ones(1, np.float32)}, path)
    assert path.read_bytes()[:2] == b"\x80\x02"
    _assert_same(load(path)["k" * pad], np.ones(1, np.float32))


# ------------------------------------------------------------------ never unpickle
class _Payload:
    """Unpickling this creates ``marker``: the stand-in for arbitrary code in a malicious model file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def test_malicious_pickle_is_never_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the payload is live: unpickling it really does run code
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Payload(proof))).close()
    assert proof.exists()

    marker = tmp_path / "pwned"
    evil = {
        "evil.pkl": pickle.dumps(_Payload(marker)),
        "evil0.pkl": pickle.dumps(_Payload(marker), protocol=0),
        "evil.safetensors": pickle.dumps({"w": _Payload(marker)}),  # the name does not matter
    }
    for name, data in evil.items():
        _write(tmp_path / name, data)
    torch.save({"w": _Payload(marker)}, tmp_path / "evil.pt")

    # belt and braces: nothing on the load path may reach an unpickler or np.load at all
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("load reached an unpickler")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (np, "load")]:
        monkeypatch.setattr(module, name, forbidden)
    for name in [*evil, "evil.pt"]:
        with pytest.raises(SafetensorsError, match=r"is not a safetensors file \(it looks like a pickle"):
            load(tmp_path / name)
        with pytest.raises(SafetensorsError, match="not a safetensors file"):
            load_metadata(tmp_path / name)
    assert not marker.exists()
    save({"w": np.ones(2)}, tmp_path / "fine.safetensors")
    _assert_same(load(tmp_path / "fine.safetensors")["w"], np.ones(2))


def test_public_names() -> None:
    import chainrule.io as crio

    assert issubclass(crio.SafetensorsError, ValueError)
    assert {"save", "load", "load_metadata", "atomic_write", "atomic_path", "SafetensorsError"} <= set(
        crio.__all__
    )


def test_save_and_load_through_open_binary_files(tmp_path):
    model = cr.nn.Linear(3, 2)
    path = tmp_path / "m.safetensors"
    with open(path, "wb") as f:
        cr.save(model.state_dict(), f)
    with open(path, "rb") as f:
        loaded = cr.load(f)
    assert list(loaded) == sorted(model.state_dict())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded[k].numpy(), v.numpy())
    # the bytes are the same as a save to a path, and an in-memory buffer works too
    import io

    buf = io.BytesIO()
    cr.save(model.state_dict(), buf)
    cr.save(model.state_dict(), tmp_path / "p.safetensors")
    assert buf.getvalue() == (tmp_path / "p.safetensors").read_bytes()
    buf.seek(0)
    assert set(cr.load(buf)) == set(model.state_dict())


def test_load_from_a_file_object_names_a_bad_file(tmp_path):
    import io

    with pytest.raises(cr.io.SafetensorsError, match="file object"):
        cr.load(io.BytesIO(b"not a safetensors file at all"))
    with pytest.raises(TypeError, match="binary"):
        cr.load(io.StringIO("text"))
    with pytest.raises(TypeError, match="binary"):
        cr.save({"a": cr.ones(1)}, io.StringIO())
