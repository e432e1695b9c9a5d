"""A strict stand-in for CuPy, so the device tests run (and catch leaks) on machines without a GPU.

CuPy offers NumPy's API on GPU arrays, and its arrays refuse to become NumPy
arrays implicitly. ``StrictArray`` holds a NumPy array and behaves like a CuPy
array where it matters to chainrule, and stricter where that helps catch a
bug:

- ``numpy.asarray(a)``, ``numpy.float32(a)`` and any NumPy function or ufunc
  called on it (``np.exp(a)``, ``np.concatenate([a, b])``) raise TypeError:
  op code must compute through the array module of its inputs
  (``xp.exp(a)``), never NumPy directly (a real GPU array would be copied to
  the host, or refused);
- floating-point warnings are silenced (a GPU gives inf and nan without a
  word; op code wraps ``devices.errstate`` around the CPU path only);
- mixing it with a NumPy array (``a + numpy_array``, ``a[numpy_index]``,
  ``xp.add(a, numpy_array)``) raises TypeError, as CuPy does;
- ``ufunc.at`` is refused (CuPy's scatter-add is ``cupyx.scatter_add``:
  ``chainrule.devices.scatter_add`` picks the right one, as
  ``scatter_max``/``scatter_min`` do for ``maximum.at``/``minimum.at``), as are NumPy
  functions CuPy does not have (``errstate``, ``nditer``, ...).

Explicit moves are allowed: ``xp.asarray(numpy_array)`` (host to device),
``a.get()`` (device to host), ``a.item()``, ``a.tolist()``, ``float(a)`` of
one element (CuPy synchronises and copies for these too).
"""

from __future__ import annotations

import copy
import operator
import types
from typing import Any

import numpy as np

from chainrule import devices

_REFUSED_MSG = (
    "Implicit conversion to a NumPy array is not allowed (strict device array, like CuPy's). "
    "Please use `.get()` to construct a NumPy array explicitly."
)

# NumPy names CuPy does not offer (or that only make sense on the host)
_NOT_IN_CUPY = frozenset(
    {
        "errstate",
        "seterr",
        "geterr",
        "seterrcall",
        "nditer",
        "frompyfunc",
        "ma",
        "char",
        "rec",
        "ctypeslib",
        "ndenumerate",
        "ndindex",
        "fromiter",
        "memmap",
        "save",
        "load",
        "savez",
        "loadtxt",
        "genfromtxt",
        "lib",
        "set_printoptions",
        "get_printoptions",
        "printoptions",
        "array2string",
        "testing",
        "polynomial",
        "emath",
        "dtypes",
        "exceptions",
    }
)
_FROM_HOST = frozenset({"asarray", "array", "ascontiguousarray", "asanyarray"})


class StrictArray:
    """A NumPy array behind a wall: arithmetic, indexing and methods, but no implicit NumPy."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # np.exp(a) and ndarray-op-a fail instead of converting
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, array: np.ndarray) -> None:
        if not isinstance(array, np.ndarray):
            raise TypeError(f"StrictArray wraps a numpy.ndarray, got {type(array).__name__}")
        self._a = array

    # ------------------------------------------------------------ the wall
    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(_REFUSED_MSG)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        raise TypeError(
            f"numpy.{func.__name__} was called on a strict device array: compute through the "
            f"array module of the inputs (xp.{func.__name__}), as a CuPy array would need"
        )

    def get(self) -> np.ndarray:
        """The values as a NumPy array (an explicit copy to the host, as ``cupy.ndarray.get``)."""
        return self._a.copy()

    # ------------------------------------------------------------ attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: StrictArray(self._a.T))
    mT = property(lambda self: StrictArray(self._a.mT))  # noqa: N815 (NumPy's name)
    real = property(lambda self: StrictArray(self._a.real))
    imag = property(lambda self: StrictArray(self._a.imag))

    @property
    def base(self) -> StrictArray | None:
        return (
            None
            if self._a.base is None
            else StrictArray(self._a.base)
            if isinstance(self._a.base, np.ndarray)
            else None
        )

    @property
    def device(self) -> str:
        return "strict:0"

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._a, name)  # methods: sum, reshape, astype, ...
        if not callable(attr):
            raise AttributeError(f"StrictArray has no attribute {name!r}")

        def method(*args: Any, **kwargs: Any) -> Any:
            return wrap(attr(*unwrap(args), **unwrap(kwargs)))

        return method

    # ------------------------------------------------------------ host values (explicit, as in CuPy)
    def item(self) -> Any:
        return self._a.item()

    def tolist(self) -> Any:
        return self._a.tolist()

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __index__(self) -> int:
        return operator.index(self._a.item()) if self._a.ndim == 0 else operator.index(self._a)

    def __complex__(self) -> complex:
        return complex(self._a)

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        return (wrap(row) for row in self._a)

    def __repr__(self) -> str:
        return f"strict_array({np.array2string(self._a, separator=', ')}, dtype={self._a.dtype})"

    # ------------------------------------------------------------ copies
    def __copy__(self) -> StrictArray:
        return StrictArray(self._a.copy())

    def __deepcopy__(self, memo: dict) -> StrictArray:
        return StrictArray(copy.deepcopy(self._a, memo))

    def __reduce__(self) -> Any:
        return (StrictArray, (self._a,))

    # ------------------------------------------------------------ indexing
    def __getitem__(self, key: Any) -> Any:
        return wrap(self._a[unwrap_index(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[unwrap_index(key)] = operand(value)


def _binary(op: Any, name: str) -> tuple[Any, Any]:
    def forward(self: StrictArray, other: Any) -> Any:
        with np.errstate(all="ignore"):
            return wrap(op(self._a, operand(other)))

    def reflected(self: StrictArray, other: Any) -> Any:
        with np.errstate(all="ignore"):
            return wrap(op(operand(other), self._a))

    forward.__name__, reflected.__name__ = f"__{name}__", f"__r{name}__"
    return forward, reflected


def _inplace(op: Any, name: str) -> Any:
    def method(self: StrictArray, other: Any) -> StrictArray:
        op(self._a, operand(other))
        return self

    method.__name__ = f"__i{name}__"
    return method


for _name, _op, _iop in [
    ("add", operator.add, operator.iadd),
    ("sub", operator.sub, operator.isub),
    ("mul", operator.mul, operator.imul),
    ("truediv", operator.truediv, operator.itruediv),
    ("floordiv", operator.floordiv, operator.ifloordiv),
    ("mod", operator.mod, operator.imod),
    ("pow", operator.pow, operator.ipow),
    ("matmul", operator.matmul, operator.imatmul),
    ("and", operator.and_, operator.iand),
    ("or", operator.or_, operator.ior),
    ("xor", operator.xor, operator.ixor),
    ("lshift", operator.lshift, operator.ilshift),
    ("rshift", operator.rshift, operator.irshift),
]:
    _f, _r = _binary(_op, _name)
    setattr(StrictArray, f"__{_name}__", _f)
    setattr(StrictArray, f"__r{_name}__", _r)
    setattr(StrictArray, f"__i{_name}__", _inplace(_iop, _name))

for _name, _op in [
    ("eq", operator.eq),
    ("ne", operator.ne),
    ("lt", operator.lt),
    ("le", operator.le),
    ("gt", operator.gt),
    ("ge", operator.ge),
]:
    setattr(StrictArray, f"__{_name}__", _binary(_op, _name)[0])

for _name, _op in [
    ("neg", operator.neg),
    ("pos", operator.pos),
    ("abs", operator.abs),
    ("invert", operator.invert),
]:
    setattr(StrictArray, f"__{_name}__", (lambda op: lambda self: wrap(op(self._a)))(_op))


# ---------------------------------------------------------------- wrapping rules
def operand(x: Any) -> Any:
    """An operand for the NumPy array inside: strict arrays unwrap, scalars pass, host arrays are refused."""
    if isinstance(x, StrictArray):
        return x._a
    if isinstance(x, np.ndarray):
        raise TypeError(
            f"a strict device array met a numpy.ndarray of shape {x.shape} {x.dtype}: move it to the "
            "device first (xp.asarray), as CuPy requires"
        )
    if isinstance(x, (list, tuple)):
        return type(x)(operand(v) for v in x)
    if hasattr(x, "_array"):  # a chainrule Tensor reaching array code
        raise TypeError("a strict device array met a chainrule Tensor; ops compute on arrays")
    return x


def unwrap(x: Any) -> Any:
    """Arguments for a NumPy function: strict arrays unwrap (recursively), host arrays are refused."""
    if isinstance(x, dict):
        return {k: unwrap(v) for k, v in x.items()}
    return operand(x)


def unwrap_index(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(operand(k) for k in key)
    return operand(key)


def wrap(x: Any) -> Any:
    """Results back behind the wall: arrays and NumPy scalars (0-d, as CuPy's reductions give)."""
    if isinstance(x, np.ndarray):
        return StrictArray(x)
    if isinstance(x, np.generic):
        return StrictArray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(wrap(v) for v in x)
    if isinstance(x, list):
        return [wrap(v) for v in x]
    return x


class _StrictUfunc:
    """A NumPy ufunc that takes and gives strict arrays; ``.at`` and ``where=`` are refused (as in CuPy)."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self._u = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout = ufunc.nin, ufunc.nout

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if "where" in kwargs:
            raise TypeError(f"{self.__name__}: CuPy's ufuncs take no where= argument")
        with np.errstate(all="ignore"):
            out = self._u(*unwrap(args), **unwrap(kwargs))
        given = kwargs.get("out")
        if given is not None:
            return given  # the caller's strict array, now holding the result
        return wrap(out)

    def reduce(self, *args: Any, **kwargs: Any) -> Any:
        return wrap(self._u.reduce(*unwrap(args), **unwrap(kwargs)))

    def accumulate(self, *args: Any, **kwargs: Any) -> Any:
        return wrap(self._u.accumulate(*unwrap(args), **unwrap(kwargs)))

    def outer(self, *args: Any, **kwargs: Any) -> Any:
        return wrap(self._u.outer(*unwrap(args), **unwrap(kwargs)))

    def at(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            f"{self.__name__}.at on a strict device array: use chainrule.devices.scatter_add, "
            "scatter_max or scatter_min (cupyx's on a GPU)"
        )


class StrictModule(types.ModuleType):
    """NumPy's namespace for strict arrays (what ``cupy`` is for CuPy arrays)."""

    def __init__(self, name: str, numpy_module: Any) -> None:
        super().__init__(name)
        self._np = numpy_module
        self.ndarray = StrictArray

    def __getattr__(self, name: str) -> Any:
        if name == "lib" and self._np is np:  # CuPy's lib has stride_tricks.as_strided (not the rest)
            as_strided = _function(np.lib.stride_tricks.as_strided)
            lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=as_strided))
            setattr(self, name, lib)
            return lib
        if name.startswith("__") or name in _NOT_IN_CUPY:
            raise AttributeError(f"{self.__name__} has no {name!r} (CuPy does not offer it)")
        attr = getattr(self._np, name)
        if isinstance(attr, np.ufunc):
            wrapped: Any = _StrictUfunc(attr)
        elif isinstance(attr, types.ModuleType):
            wrapped = StrictModule(f"{self.__name__}.{name}", attr)
        elif isinstance(attr, type) or not callable(attr):
            return attr  # dtypes, constants, finfo, ...
        elif name in _FROM_HOST:
            wrapped = _from_host(attr)
        else:
            wrapped = _function(attr)
        setattr(self, name, wrapped)
        return wrapped


def _function(fn: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return wrap(fn(*unwrap(args), **unwrap(kwargs)))

    call.__name__ = getattr(fn, "__name__", "function")
    return call


def _from_host(fn: Any) -> Any:
    """``xp.asarray(x)``: host data (lists, scalars, NumPy arrays) onto the device, as cupy.asarray."""

    def call(obj: Any, *args: Any, **kwargs: Any) -> Any:
        inner = obj._a if isinstance(obj, StrictArray) else obj
        out = fn(inner, *args, **unwrap(kwargs))
        if not isinstance(obj, StrictArray):
            out = np.array(out, copy=True)  # a real device copy never shares host memory
        return wrap(out)

    call.__name__ = fn.__name__
    return call


strict = StrictModule("strict", np)


def _scatter_add(target: StrictArray, index: Any, values: Any) -> None:
    np.add.at(target._a, unwrap_index(index), operand(values))


def _scatter_max(target: StrictArray, index: Any, values: Any) -> None:
    with np.errstate(all="ignore"):
        np.maximum.at(target._a, unwrap_index(index), operand(values))


def _scatter_min(target: StrictArray, index: Any, values: Any) -> None:
    with np.errstate(all="ignore"):
        np.minimum.at(target._a, unwrap_index(index), operand(values))


BACKEND = devices.DeviceBackend(
    type="strict",
    xp=strict,
    array_type=StrictArray,
    index_of=lambda a: 0,
    from_host=lambda a, index: StrictArray(np.array(a, copy=True)),
    to_host=lambda a: a._a.copy(),
    move=lambda a, index: StrictArray(a._a.copy()),
    device_count=lambda: 1,
    scatter_add=_scatter_add,
    scatter_max=_scatter_max,
    scatter_min=_scatter_min,
)


def register() -> None:
    """Make ``device("strict")`` usable (the tests' conftest calls this once)."""
    devices.register(BACKEND)
