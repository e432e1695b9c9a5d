"""The array module behind every tensor, and chainrule's dtype rules.

Op code computes through the array module of its inputs
(:func:`chainrule.devices.array_module`: NumPy on the CPU, CuPy on a GPU);
``xp`` is the CPU's. Dtypes are NumPy dtypes; the promotion rule
follows PyTorch's (a dimensioned tensor outranks a 0-d tensor, which outranks a
Python scalar, within the same category bool < integer < floating).
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy

from chainrule import devices

xp = numpy

float16 = numpy.dtype("float16")
float32 = numpy.dtype("float32")
float64 = numpy.dtype("float64")
int8 = numpy.dtype("int8")
int16 = numpy.dtype("int16")
int32 = numpy.dtype("int32")
int64 = numpy.dtype("int64")
uint8 = numpy.dtype("uint8")
bool_ = numpy.dtype("bool")

SUPPORTED_DTYPES = (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)
_SUPPORTED = frozenset(SUPPORTED_DTYPES)

_default_float = float32


def get_default_dtype() -> numpy.dtype:
    """The dtype given to tensors made from Python floats (float32 unless changed)."""
    return _default_float


def set_default_dtype(dtype: Any) -> None:
    """Change the default floating dtype (float32 or float64), as ``torch.set_default_dtype``."""
    global _default_float
    d = as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _default_float = d


def as_dtype(dtype: Any) -> numpy.dtype:
    """Normalise anything NumPy understands as a dtype, refusing the ones chainrule does not support."""
    if dtype is builtins.float:
        return _default_float
    if dtype is builtins.int:
        return int64
    try:
        d = numpy.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"unknown dtype {dtype!r}") from e
    if d not in _SUPPORTED:
        names = ", ".join(str(s) for s in SUPPORTED_DTYPES)
        raise TypeError(f"unsupported dtype {d}; chainrule supports {names}")
    return d


def is_floating(dtype: numpy.dtype) -> bool:
    return dtype.kind == "f"


def _category(kind: str) -> int:
    # bool < integer < floating, as in PyTorch's promotion categories
    return 0 if kind == "b" else (2 if kind == "f" else 1)


def _scalar_category(value: Any) -> int:
    if isinstance(value, (bool, numpy.bool_)):
        return 0
    if isinstance(value, (int, numpy.integer)):
        return 1
    if isinstance(value, (complex, numpy.complexfloating)):
        raise TypeError(f"unsupported scalar {value!r}: chainrule has no complex dtypes")
    return 2


def promote_types(*dtypes: numpy.dtype) -> numpy.dtype:
    """The dtype ``torch.promote_types`` gives these dtypes (of tensors alike in rank).

    The highest category present (bool < integer < floating) decides, then
    NumPy's rule within it: float32 with int64 is float32 (NumPy says float64).
    """
    top = max(_category(d.kind) for d in dtypes)
    return numpy.result_type(*[d for d in dtypes if _category(d.kind) == top])


def result_type(*operands: Any) -> numpy.dtype:
    """The dtype PyTorch would give an op on these operands.

    Operands are arrays (the data of tensors) or Python scalars. Within the
    highest category present, dimensioned arrays decide the dtype, then 0-d
    arrays, then scalars (which give int64 or the default float).
    """
    tiers: list[list[numpy.dtype]] = [[], [], []]  # dimensioned, 0-d, scalar
    top = 0
    for op in operands:
        if isinstance(op, numpy.ndarray) or devices.is_device_array(op):  # a CuPy array is no ndarray
            d = op.dtype
            tiers[0 if op.ndim else 1].append(d)
            top = max(top, _category(d.kind))
        else:
            c = _scalar_category(op)
            tiers[2].append((bool_, int64, _default_float)[c])
            top = max(top, c)
    for tier in tiers:
        in_cat = [d for d in tier if _category(d.kind) == top]
        if in_cat:
            return numpy.result_type(*in_cat)
    raise ValueError("result_type needs at least one operand")


CPU = devices.CPU
device = devices.device
cuda = devices.cuda


# ``where`` as a usable device (None stays None); an unusable one gets an error saying why
check_device = devices.parse


class _NoAccelerator:
    """``cr.cuda`` / ``cr.accelerator`` / ``cr.backends.mps``: the queries of a missing accelerator."""

    def __init__(self, name: str) -> None:
        self._name = name

    def is_available(self) -> bool:
        return False

    def device_count(self) -> int:
        return 0

    def current_accelerator(self) -> None:
        return None

    def is_built(self) -> bool:
        return False

    def manual_seed(self, seed: int) -> None:
        """Ignored, as PyTorch ignores ``torch.cuda.manual_seed`` without CUDA."""

    manual_seed_all = manual_seed

    def __repr__(self) -> str:
        return f"<chainrule.{self._name}: not available (chainrule computes on the CPU)>"


class _Accelerator(_NoAccelerator):
    """``cr.accelerator``: the CUDA GPU when CuPy finds one, else none (as ``torch.accelerator``)."""

    def is_available(self) -> bool:
        return cuda.is_available()

    def device_count(self) -> int:
        return cuda.device_count()

    def current_accelerator(self) -> devices.device | None:
        return device("cuda", 0) if cuda.is_available() else None

    def is_built(self) -> bool:
        return cuda.is_available()

    def __repr__(self) -> str:
        return f"<chainrule.accelerator: {'cuda' if cuda.is_available() else 'none available'}>"


accelerator = _Accelerator("accelerator")


class _Backends:
    """``cr.backends.mps.is_available()`` (False) and ``cr.backends.cudnn`` flags (accepted, unused)."""

    def __init__(self) -> None:
        self.mps = _NoAccelerator("backends.mps")
        self.cuda = _NoAccelerator("backends.cuda")
        self.cudnn = _CudnnFlags()


class _CudnnFlags:
    def __init__(self) -> None:
        self.enabled, self.benchmark, self.deterministic = False, False, False

    def is_available(self) -> bool:
        return False


backends = _Backends()


def parse_to_args(args: tuple, dtype: Any = None, device: Any = None) -> tuple[Any, devices.device | None]:
    """The dtype and the device asked for by ``to(*args, dtype=, device=)``.

    Positional arguments may be a dtype, a tensor (its dtype and device) or a
    device (a ``device``, a string such as "cuda:0", or an int CUDA index).
    """
    for a in args:
        if hasattr(a, "dtype") and hasattr(a, "_array") and not isinstance(a, (type, numpy.dtype)):
            dtype, device = a.dtype, a.device  # a tensor: take its dtype and device
        elif isinstance(a, devices.device) or (isinstance(a, str) and _names_device(a)):
            device = a
        elif isinstance(a, int) and not isinstance(a, bool):
            device = a
        else:
            dtype = a
    return dtype, check_device(device, "to()")


def _names_device(s: str) -> bool:
    try:
        devices.device(s)
    except (RuntimeError, TypeError):
        return False
    return True
