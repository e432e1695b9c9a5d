"""Making tensors: from data, filled with constants, ranges, and random draws.

Python floats become the default float dtype (float32), Python ints int64 and
bools bool, as in PyTorch; NumPy arrays keep their dtype. Random draws come
from the seeded generator in :mod:`chainrule.random`.
"""

from __future__ import annotations

import builtins
import operator
from typing import Any

import numpy as np

from chainrule import backend, devices
from chainrule import random as _random
from chainrule.tensor import Tensor


def as_array(data: Any, dtype: Any = None, copy: bool = True) -> np.ndarray:
    """An ndarray of a supported dtype holding ``data`` (copied unless ``copy`` is False)."""
    dt = backend.as_dtype(dtype) if dtype is not None else None
    if isinstance(data, Tensor):
        arr = data._array
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
    elif devices.is_device_array(data):
        arr = data
    else:
        try:
            arr = np.asarray(data)
        except ValueError as e:
            raise ValueError(f"tensor: cannot make a tensor from this data ({e})") from None
        if (dt is None or dt.kind in "iu") and _int_overflow(data, arr):
            raise OverflowError("tensor: a Python int in the data is out of range for int64")
        if arr.dtype == np.float64 and dt is None:
            arr = arr.astype(backend.get_default_dtype())
        elif arr.dtype.kind in "iu" and dt is None:
            arr = arr.astype(np.int64, copy=False)
        copy = False  # already a fresh array
    if arr.dtype == object or arr.dtype.kind in "USV":
        raise TypeError(
            f"tensor: cannot make a tensor of {arr.dtype} from {type(data).__name__}; "
            "expected numbers (nested sequences must be rectangular)"
        )
    if dt is None:
        dt = backend.as_dtype(arr.dtype)
    return arr.astype(dt, copy=copy) if copy or arr.dtype != dt else arr


def _int_overflow(data: Any, arr: np.ndarray) -> bool:
    """Whether Python ints in ``data`` lie outside int64, where ``arr = np.asarray(data)``.

    NumPy holds ints in [2**63, 2**64) as uint64 (which would wrap as int64),
    larger ones as objects, and a mix with smaller ints as float64.
    """
    if arr.dtype == np.uint64:
        return True
    if arr.dtype == object:
        return builtins.any(type(v) is builtins.int for v in arr.flat)
    if arr.dtype == np.float64 and arr.size and np.abs(arr).max() >= 2.0**63:
        values = np.asarray(data, dtype=object).flat
        return builtins.all(isinstance(v, builtins.int) for v in values)
    return False


def _leaf(arr: Any, requires_grad: bool, device: Any = None) -> Tensor:
    """A leaf tensor of ``arr``, moved to ``device`` (a parsed device or None for where it is)."""
    if device is not None:
        arr = devices.to_device(arr, device)
    t = Tensor._make(arr, None)
    if requires_grad:
        t.requires_grad = True
    return t


def _size(size: tuple[Any, ...]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for n in size:
        try:
            n = operator.index(n)
        except TypeError:
            raise TypeError(f"size must be a tuple of ints, got {tuple(size)}") from None
        if n < 0:
            raise ValueError(f"negative dimension {n} in size {tuple(size)}")
        out.append(n)
    return tuple(out)


def _float_dtype(dtype: Any) -> np.dtype:
    return backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)


def _random_float_dtype(dtype: Any, op: str) -> np.dtype:
    dt = _float_dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{op}: expected a floating-point dtype, got {dt}")
    return dt


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (a number, nested lists, an array or a tensor)."""
    device = backend.check_device(device, "tensor")
    return _leaf(as_array(data, dtype), requires_grad, device)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like :func:`tensor`, but shares memory with a NumPy array or tensor when the dtype allows."""
    device = backend.check_device(device, "as_tensor")
    if isinstance(data, Tensor) and (dtype is None or backend.as_dtype(dtype) == data.dtype):
        return data if device is None or device == data.device else data.to(device)
    return _leaf(as_array(data, dtype, copy=False), False, device)


def from_numpy(array: np.ndarray, device: Any = None) -> Tensor:
    """A tensor sharing memory with ``array`` (its dtype kept)."""
    device = backend.check_device(device, "from_numpy")
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    backend.as_dtype(array.dtype)
    return Tensor._make(array, None)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    device = backend.check_device(device, "zeros")
    return _leaf(np.zeros(_size(size), _float_dtype(dtype)), requires_grad, device)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    device = backend.check_device(device, "ones")
    return _leaf(np.ones(_size(size), _float_dtype(dtype)), requires_grad, device)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    device = backend.check_device(device, "empty")
    return _leaf(np.empty(_size(size), _float_dtype(dtype)), requires_grad, device)


def full(
    size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; the dtype follows the value if not given."""
    device = backend.check_device(device, "full")
    if dtype is None:
        dtype = backend.result_type(fill_value.item() if isinstance(fill_value, Tensor) else fill_value)
    size = _size((size,) if isinstance(size, int) else tuple(size))
    return _leaf(np.full(size, fill_value, backend.as_dtype(dtype)), requires_grad, device)


def eye(
    n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    device = backend.check_device(device, "eye")
    return _leaf(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad, device)


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    """``start, start + step, ...`` up to but excluding ``end``; int64 when all three are ints."""
    device = backend.check_device(device, "arange")
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(
            f"arange: upper bound and lower bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    if dtype is None:
        ints = builtins.all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = backend.int64 if ints else backend.get_default_dtype()
    count = builtins.max(int(np.ceil((end - start) / step)), 0)
    dt = backend.as_dtype(dtype)
    values = start + step * np.arange(count, dtype=np.float64 if dt.kind == "f" else np.int64)
    return _leaf(values.astype(dt), requires_grad, device)


def linspace(
    start: float, end: float, steps: int, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    device = backend.check_device(device, "linspace")
    return _leaf(np.linspace(start, end, steps).astype(_float_dtype(dtype)), requires_grad, device)


def rand(
    *size: Any, generator: Any = None, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """Uniform draws in [0, 1)."""
    device = backend.check_device(device, "rand")
    dt = _random_float_dtype(dtype, "rand")
    rng = _random.rng(generator)
    shape = _size(size)
    if dt == np.float16:
        # Multiples of 2**-11 (float16's precision): a float64 draw rounded to
        # float16 could round up to 1.0.
        arr = rng.integers(0, 1 << 11, shape) * (1.0 / (1 << 11))
    else:
        arr = rng.random(shape, dtype=dt)
    return _leaf(arr.astype(dt, copy=False), requires_grad, device)


def randn(
    *size: Any, generator: Any = None, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """Standard normal draws."""
    device = backend.check_device(device, "randn")
    dt = _random_float_dtype(dtype, "randn")
    rng = _random.rng(generator)
    arr = rng.standard_normal(_size(size), dtype=dt if dt in (np.float32, np.float64) else np.float64)
    return _leaf(arr.astype(dt, copy=False), requires_grad, device)


def randint(
    *args: Any, size: Any = None, generator: Any = None, dtype: Any = None, device: Any = None
) -> Tensor:
    """Integers in [low, high): ``randint(high, size)`` or ``randint(low, high, size)``."""
    device = backend.check_device(device, "randint")
    if size is None:
        if not args:
            raise TypeError("randint: missing size")
        *args, size = args
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError("randint: expected randint(high, size) or randint(low, high, size)")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    size = _size((size,) if isinstance(size, int) else tuple(size))
    dt = backend.int64 if dtype is None else backend.as_dtype(dtype)
    return _leaf(_random.rng(generator).integers(low, high, size).astype(dt), False, device)


def randperm(n: int, generator: Any = None, dtype: Any = None, device: Any = None) -> Tensor:
    device = backend.check_device(device, "randperm")
    dt = backend.int64 if dtype is None else backend.as_dtype(dtype)
    return _leaf(_random.rng(generator).permutation(n).astype(dt), False, device)


def _like_dtype(t: Tensor, dtype: Any) -> Any:
    return t.dtype if dtype is None else dtype


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    device = backend.check_device(device, "zeros_like")
    return zeros(t.shape, dtype=_like_dtype(t, dtype), requires_grad=requires_grad, device=device or t.device)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    device = backend.check_device(device, "ones_like")
    return ones(t.shape, dtype=_like_dtype(t, dtype), requires_grad=requires_grad, device=device or t.device)


def empty_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    device = backend.check_device(device, "empty_like")
    return empty(t.shape, dtype=_like_dtype(t, dtype), requires_grad=requires_grad, device=device or t.device)


def full_like(
    t: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    device = backend.check_device(device, "full_like")
    return full(
        t.shape,
        fill_value,
        dtype=_like_dtype(t, dtype),
        requires_grad=requires_grad,
        device=device or t.device,
    )


def rand_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    device = backend.check_device(device, "rand_like")
    return rand(t.shape, dtype=_like_dtype(t, dtype), requires_grad=requires_grad, device=device or t.device)


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    device = backend.check_device(device, "randn_like")
    return randn(t.shape, dtype=_like_dtype(t, dtype), requires_grad=requires_grad, device=device or t.device)


def randint_like(
    t: Tensor, low: int, high: int | None = None, dtype: Any = None, device: Any = None
) -> Tensor:
    device = backend.check_device(device, "randint_like")
    if high is None:
        low, high = 0, low
    return randint(low, high, t.shape, dtype=_like_dtype(t, dtype), device=device or t.device)
