"""Tensors on disk as safetensors: written atomically, read without ever unpickling.

A safetensors file is an 8-byte little-endian header length, a JSON header
(each tensor's dtype, shape and byte range, plus an optional ``__metadata__``
map of strings) and the raw little-endian bytes. Reading one runs no code, so a
downloaded model file cannot attack the machine, which a pickle (``torch.save``)
can. The ``safetensors`` package does the format; this module adds chainrule
Tensors, atomic writes, and errors that say which file is wrong and how.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping
from typing import IO, Any

import numpy as np

from chainrule import backend, devices
from chainrule.io.atomic import atomic_path
from chainrule.tensor import Tensor

# safetensors' dtype codes that NumPy and chainrule both hold.
_DTYPES = {
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
    "I8": np.int8,
    "I16": np.int16,
    "I32": np.int32,
    "I64": np.int64,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_SUPPORTED = ", ".join(str(d) for d in backend.SUPPORTED_DTYPES)
_MAX_HEADER = 100_000_000  # the safetensors format's own limit on the JSON header


class SafetensorsError(ValueError):
    """A file that is not a readable safetensors file (truncated, corrupt, another format)."""


# ------------------------------------------------------------------------ save
def _arrays(tensors: Any) -> dict[str, np.ndarray]:
    """Check ``tensors`` and return its values as C-contiguous, native-order arrays."""
    if not isinstance(tensors, Mapping):
        raise TypeError(
            f"save: expected a mapping of names to tensors (e.g. model.state_dict()), "
            f"got {type(tensors).__name__}"
        )
    out = {}
    for key, value in tensors.items():
        if not isinstance(key, str):
            raise TypeError(f"save: tensor names must be str, got {type(key).__name__} key {key!r}")
        if key == "__metadata__":
            raise ValueError("save: '__metadata__' is reserved by the safetensors header; rename that tensor")
        if isinstance(value, Tensor):
            arr = devices.to_host(value._array)  # a device tensor is written from a host copy
        elif devices.is_device_array(value):
            arr = devices.to_host(value)
        elif isinstance(value, (np.ndarray, np.generic)):
            arr = np.asarray(value)
        else:
            kind = type(value)
            hint = ""
            if isinstance(value, Mapping):
                hint = "; nested dicts must be flattened to one level of dotted names, as state_dict() does"
            elif kind.__module__ == "torch":
                hint = "; convert a torch.Tensor with .detach().numpy()"
            raise TypeError(
                f"save: tensors[{key!r}] is a {kind.__module__}.{kind.__qualname__}; "
                f"expected a chainrule Tensor or a NumPy array{hint}"
            )
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if arr.dtype not in backend.SUPPORTED_DTYPES:
            raise TypeError(
                f"save: tensors[{key!r}] has dtype {arr.dtype}; supported dtypes are {_SUPPORTED}"
            )
        # np.ascontiguousarray would turn a 0-d array into 1-d
        out[key] = arr if arr.flags.c_contiguous else arr.copy(order="C")
    return out


def _metadata(metadata: Any) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise TypeError(f"save: metadata must be a mapping of str to str, got {type(metadata).__name__}")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"save: metadata must map str to str, got {type(key).__name__} {key!r} -> "
                f"{type(value).__name__} {value!r} (convert values with str() or json.dumps())"
            )
    return dict(metadata)


def _is_file(obj: Any) -> bool:
    return not isinstance(obj, (str, os.PathLike)) and (hasattr(obj, "read") or hasattr(obj, "write"))


def save(
    tensors: Mapping[str, Tensor | np.ndarray],
    path: str | os.PathLike | IO[bytes],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write named tensors (chainrule Tensors or NumPy arrays) to ``path`` as a safetensors file.

    ``path`` may also be a file object open for binary writing (as
    ``torch.save`` takes one): the bytes are written to it at its position.
    A write to a path is atomic: the file at ``path`` is the old one until the new one
    is complete on disk. ``metadata`` is a str -> str map kept in the header
    (read it back with :func:`load_metadata`). Gradients and ``requires_grad``
    are not saved, only values; tensors that share memory (tied weights) are
    written once per name. Tensors on a device (a GPU) are copied to the host
    to be written; the file records no device, so it loads anywhere.
    """
    from safetensors import numpy as st_numpy

    if not isinstance(path, (str, os.PathLike)) and not hasattr(path, "write"):
        raise TypeError(
            f"save: path must be a str, an os.PathLike or a binary file object, got {type(path).__name__}"
        )
    arrays = _arrays(tensors)
    meta = _metadata(metadata)
    if not isinstance(path, (str, os.PathLike)):
        try:
            path.write(st_numpy.save(arrays, metadata=meta))
        except TypeError as e:
            raise TypeError(f"save: the file object must be open for binary writing ('wb'): {e}") from e
        return
    with atomic_path(path) as tmp:
        st_numpy.save_file(arrays, tmp, metadata=meta)


# ------------------------------------------------------------------------ load
def _open(path: Any, who: str) -> tuple[str, IO[bytes]]:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{who}: path must be a str or os.PathLike, got {type(path).__name__}")
    name = os.fsdecode(os.fspath(path))
    try:
        return name, open(name, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"{who}: no such file", name) from None
    except IsADirectoryError:
        raise IsADirectoryError(
            errno.EISDIR, f"{who}: expected a safetensors file, got a directory", name
        ) from None


def _looks_like(f: IO[bytes], size: int) -> str | None:
    """Name the format of a file that failed as safetensors, from its first and last bytes."""
    f.seek(0)
    head = f.read(512)
    f.seek(size - 1)
    last = f.read(1)
    pickled = (
        "it looks like a pickle/PyTorch .pt file; chainrule never unpickles, because loading a "
        "pickle can run arbitrary code; convert it in PyTorch with safetensors.torch.save_file"
        "(torch.load(path, weights_only=True), 'model.safetensors')"
    )
    if head[:4] == b"PK\x03\x04":
        if b".pkl" in head:  # torch.save writes a zip archive around <name>/data.pkl
            return pickled
        return (
            "it is a zip archive, such as NumPy's .npz; load it with numpy.load and save the arrays with "
            "chainrule.save"
        )
    # pickle protocols 2-5 open with PROTO; 0 and 1 open with MARK or an empty container and end with STOP
    if (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or (
        head[:1] in (b"(", b"}", b"]", b"c") and last == b"."
    ):
        return pickled
    if head[:6] == b"\x93NUMPY":
        return "it looks like a NumPy .npy file; load it with numpy.load and save it with chainrule.save"
    return None


def _fail(who: str, name: str, f: IO[bytes], size: int, problem: str) -> SafetensorsError:
    """The error for a file that is not valid safetensors, naming its real format where recognisable."""
    kind = _looks_like(f, size)
    if kind is not None:
        return SafetensorsError(f"{who}: {name} is not a safetensors file ({kind})")
    return SafetensorsError(f"{who}: {name} {problem}")


def _header(who: str, name: str, f: IO[bytes]) -> tuple[dict, int]:
    """Read and check the header: return it and the byte offset where tensor data starts.

    These checks catch what an interrupted copy or a wrong file produces, with a
    message for each; safetensors then validates the rest when it opens the file.
    """
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        raise SafetensorsError(f"{who}: {name} is empty (0 bytes), not a safetensors file")
    prefix = f.read(8)
    n = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
    header: Any = None
    if n < 0:
        problem = f"is truncated or not a safetensors file: {size} bytes, too short for a header"
    elif n > _MAX_HEADER:
        problem = f"is not a safetensors file: its first 8 bytes give an impossible header length ({n})"
    elif 8 + n > size:
        problem = (
            f"is truncated or not a safetensors file: its header length ({n} bytes) runs past "
            f"the end of the file ({size} bytes)"
        )
    else:
        problem = None
        try:
            header = json.loads(f.read(n))
        except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            problem = f"is not a safetensors file: its header is not valid JSON ({e})"
        if problem is None and not isinstance(header, dict):
            problem = "is not a safetensors file: its header is no JSON object"
    if problem is not None:
        raise _fail(who, name, f, size, problem)
    available = size - 8 - n
    for key, entry in header.items():
        if key == "__metadata__" or not isinstance(entry, dict):
            continue
        offsets = entry.get("data_offsets")
        if isinstance(offsets, list) and len(offsets) == 2 and isinstance(offsets[1], int):
            if offsets[1] > available:
                raise SafetensorsError(
                    f"{who}: {name} is truncated: tensor {key!r} ends at byte {offsets[1]} of the data, "
                    f"but the file holds only {available} bytes of data"
                )
    return header, 8 + n


def _wrap(who: str, name: str, e: Exception) -> SafetensorsError:
    return SafetensorsError(f"{who}: {name} is not a valid safetensors file: {e}")


def _read_bf16(f: IO[bytes], start: int, entry: dict) -> np.ndarray:
    """bfloat16 is the top half of a float32: widen it exactly (NumPy has no bfloat16)."""
    begin, end = entry["data_offsets"]
    half = np.empty((end - begin) // 2, dtype="<u2")
    f.seek(start + begin)
    f.readinto(memoryview(half).cast("B"))
    return (half.astype(np.uint32) << 16).view(np.float32).reshape(entry["shape"])


def _unsupported(who: str, name: str, header: dict) -> None:
    for key, entry in header.items():
        if key == "__metadata__" or not isinstance(entry, dict):
            continue
        code = entry.get("dtype")
        if code not in _DTYPES and code != "BF16":
            raise SafetensorsError(
                f"{who}: {name} cannot be loaded: tensor {key!r} has dtype {code}, which chainrule "
                f"does not support (it holds {_SUPPORTED}; bfloat16 loads as float32)"
            )


def load(path: str | os.PathLike | IO[bytes], map_location: Any = None) -> dict[str, Tensor]:
    """Read a safetensors file into a dict of Tensors, by name (sorted), without unpickling anything.

    ``path`` may also be a file object open for binary reading; it is read
    from its position to the end.

    ``map_location`` says where the tensors go, as in ``torch.load``: None or
    ``"cpu"`` (the default: the CPU), a device (``"cuda"``, ``cr.device("cuda", 1)``,
    an int for a CUDA index), a dict mapping the saved location (always
    ``"cpu"``: the file records none) to one, or a callable ``f(tensor, "cpu")``
    returning the tensor to keep. A model's ``load_state_dict`` puts values on
    its parameters' devices whatever the tensors' device.

    Tensors keep the file's dtype (float32 stays float32; bfloat16, which
    NumPy lacks, widens exactly to float32), hold writable memory of their own
    and do not require grad. A file that is missing, empty, truncated, corrupt
    or in another format (a pickle from ``torch.save``) raises an error naming it.
    """
    from safetensors import safe_open

    where, remap = _map_location(map_location)
    if _is_file(path):
        return _placed(_load_file_object(path), where, remap)
    name, f = _open(path, "load")
    with f:
        header, start = _header("load", name, f)
        _unsupported("load", name, header)
        try:
            with safe_open(name, framework="np") as st:
                out = {}
                for key in st.keys():
                    if header[key]["dtype"] == "BF16":
                        arr = _read_bf16(f, start, header[key])
                    else:
                        arr = st.get_tensor(key)
                    out[key] = Tensor._make(arr, None)
        except Exception as e:  # the Rust reader's SafetensorError, and anything else it raises
            raise _wrap("load", name, e) from e
    return _placed(out, where, remap)


def _map_location(map_location: Any) -> tuple[devices.device | None, Any]:
    """``map_location`` as (a device to move every tensor to, or None; a callable, or None)."""
    if map_location is None:
        return None, None
    if callable(map_location) and not isinstance(map_location, (str, devices.device)):
        return None, map_location
    if isinstance(map_location, Mapping):  # {saved location: new location}; the file's is the CPU
        target = map_location.get("cpu", map_location.get(devices.CPU))
        return (None, None) if target is None else _map_location(target)
    where = devices.parse(map_location, "load: map_location")
    return (None if where is None or where.type == "cpu" else where), None


def _placed(tensors: dict[str, Tensor], where: devices.device | None, remap: Any) -> dict[str, Tensor]:
    if where is not None:
        return {k: Tensor._make(devices.to_device(t._array, where), None) for k, t in tensors.items()}
    if remap is not None:
        out = {}
        for k, t in tensors.items():
            moved = remap(t, "cpu")
            out[k] = t if moved is None else moved
        return out
    return tensors


def _load_file_object(f: IO[bytes]) -> dict[str, Tensor]:
    """Load from an open binary file: its bytes go through a private temporary file, checked as a path."""
    import tempfile

    if not hasattr(f, "read"):
        raise TypeError(f"load: expected a path or a file object open for reading, got {type(f).__name__}")
    data = f.read()
    if not isinstance(data, bytes):
        raise TypeError("load: the file object must be open in binary mode ('rb'), it returned text")
    fd, tmp = tempfile.mkstemp(suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        try:
            return load(tmp)
        except SafetensorsError as e:
            what = getattr(f, "name", "the file object")
            raise SafetensorsError(str(e).replace(tmp, f"{what} (read from a file object)")) from None
    finally:
        os.unlink(tmp)


def load_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``__metadata__`` map in a safetensors header (``{}`` if none); reads no tensor data."""
    from safetensors import safe_open

    name, f = _open(path, "load_metadata")
    with f:
        _header("load_metadata", name, f)
    try:
        with safe_open(name, framework="np") as st:
            return dict(st.metadata() or {})
    except Exception as e:
        raise _wrap("load_metadata", name, e) from e
