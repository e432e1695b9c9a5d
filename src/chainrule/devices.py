"""Where tensors live: devices, the array module of each, and moving arrays between them.

Every op computes on arrays through the *array module* of its inputs
(:func:`array_module`): NumPy for the CPU, CuPy for CUDA GPUs, which offers
NumPy's API on the GPU. So one op's code runs on either device, and a tensor's
device is simply the kind of array it holds. A device type other than the CPU
is a :class:`DeviceBackend` registered here: CUDA registers itself (lazily,
when CuPy imports and finds a GPU), and the tests register a strict stand-in
that refuses every implicit trip to the host.

The few places where NumPy and CuPy differ (scatter-add, -max and -min,
floating-point error state) have a function here that does the right thing
for each.

Rules for op code (Functions' forward/backward and the helpers they call),
checked by the tests' strict stand-in device ``"strict"`` (tests/strict_array.py;
every op test that uses ``check_against_torch`` runs on it: select those runs
with ``pytest -k strict``):

1. Arrays through ``xp = devices.array_module(a, b, ...)``: ``xp.exp(a)``,
   ``xp.zeros_like(a)``, ``xp.arange(n)`` for index arrays. Dtype objects and
   shape-only helpers stay NumPy (``np.float32``, ``np.finfo``,
   ``np.broadcast_shapes``): they are CuPy's too. Operators (``a + b``) work on
   every array type and are the cheapest in hot paths.
2. ``np.add.at`` is :func:`scatter_add` (``np.maximum.at`` :func:`scatter_max`,
   ``np.minimum.at`` :func:`scatter_min`; CuPy has no multiplying scatter);
   ``np.errstate`` is :func:`errstate`;
   no ``where=`` in ufunc calls (CuPy has none); ``xp.lib.stride_tricks.as_strided``.
3. Never tell arrays from scalars with ``isinstance(x, np.ndarray)``; never
   ``np.asarray`` an array that may live on a device.
4. No hidden trips to the host (``.item()``, ``float()``, ``.tolist()`` of
   device data) except where a value decides control flow or an output shape.
5. The runtime's thread-pool kernels are for NumPy arrays; a device array takes
   the plain ``xp`` expression. The CPU path stays as fast and bit-identical.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy


@dataclass(frozen=True)
class DeviceBackend:
    """What a device type needs: its array module, its array type, and the moves to and from the host."""

    type: str  # the device type's name, as in device("cuda:0")
    xp: Any  # the array module (NumPy's API)
    array_type: type
    index_of: Callable[[Any], int]  # the device index an array lives on
    from_host: Callable[[numpy.ndarray, int], Any]  # a NumPy array onto device ``index``
    to_host: Callable[[Any], numpy.ndarray]
    move: Callable[[Any, int], Any]  # an array of this type onto device ``index`` of this type
    device_count: Callable[[], int]
    scatter_add: Callable[[Any, Any, Any], None]  # a[index] += values, repeated indices adding up
    scatter_max: Callable[[Any, Any, Any], None]  # numpy.maximum.at(a, index, values) (NaN propagates)
    scatter_min: Callable[[Any, Any, Any], None]  # numpy.minimum.at(a, index, values) (NaN propagates)
    unavailable: str = ""  # why the type cannot be used (empty when it can)


_KNOWN_TYPES = ("cpu", "cuda", "mps", "xpu", "meta")
_backends: dict[str, DeviceBackend] = {}
_by_array_type: dict[type, DeviceBackend] = {}


def register(backend: DeviceBackend) -> None:
    """Make a device type usable: its arrays are recognised, ``device(backend.type)`` accepted."""
    _backends[backend.type] = backend
    if not backend.unavailable:  # an unusable type has no arrays to recognise
        _by_array_type[backend.array_type] = backend


def unregister(type_name: str) -> None:
    """Forget a registered device type (the tests' stand-in cleans up with this)."""
    b = _backends.pop(type_name, None)
    if b is not None:
        _by_array_type.pop(b.array_type, None)


class device:  # noqa: N801 (PyTorch's name)
    """A device, as ``torch.device``: ``device("cpu")``, ``device("cuda", 0)``, ``device("cuda:1")``.

    Any of PyTorch's device types can be named (code that builds
    ``device("cuda" if available else "cpu")`` runs); putting a tensor on one
    that is not available here is refused with the reason. A device equals its
    string form (``cr.device("cpu") == "cpu"``).
    """

    __slots__ = ("index", "type")

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index  # noqa: A001
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a device string such as 'cpu', got {type!r}")
        kind, _, number = type.partition(":")
        if kind not in _KNOWN_TYPES and kind not in _backends:
            known = ", ".join((*_KNOWN_TYPES, *(k for k in _backends if k not in _KNOWN_TYPES)))
            raise RuntimeError(
                f"device(): expected one of {known} device type at the start of the device string, "
                f"got {type!r}"
            )
        if number:
            if index is not None or not number.isdigit():
                raise RuntimeError(f"device(): invalid device string {type!r}")
            index = int(number)
        self.type, self.index = kind, index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        extra = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{extra})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (RuntimeError, TypeError):
                return False
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


CPU = device("cpu")


# ---------------------------------------------------------------- the arrays
def array_module(*arrays: Any) -> Any:
    """The array module to compute on these arrays with: the first device array's, else NumPy.

    Non-array arguments (Python scalars, None) are ignored, so an op can pass
    all its inputs as they come.
    """
    if not _by_array_type:  # no device in use: every array is NumPy's (the CPU's fast path)
        return numpy
    for a in arrays:
        b = _by_array_type.get(type(a))
        if b is not None:
            return b.xp
    return numpy


def is_device_array(obj: Any) -> bool:
    """Whether ``obj`` is an array of a registered non-CPU device (a CuPy array, say)."""
    return type(obj) in _by_array_type


def device_of(array: Any) -> device:
    """The device an array lives on (NumPy arrays and anything else: the CPU)."""
    b = _by_array_type.get(type(array))
    return CPU if b is None else device(b.type, b.index_of(array))


def to_host(array: Any) -> numpy.ndarray:
    """A NumPy array with the values of ``array`` (a copy from the device; NumPy arrays as they are)."""
    b = _by_array_type.get(type(array))
    return array if b is None else b.to_host(array)


def to_device(array: Any, where: device) -> Any:
    """``array`` on device ``where`` (the same object when it is there already)."""
    src = _by_array_type.get(type(array))
    if where.type == "cpu":
        return array if src is None else src.to_host(array)
    dst = backend_of(where)
    index = 0 if where.index is None else where.index
    if src is None:
        return dst.from_host(numpy.asarray(array, order="C"), index)  # ascontiguousarray makes 0-d 1-d
    if src is dst:
        return array if src.index_of(array) == index else dst.move(array, index)
    return dst.from_host(src.to_host(array), index)


def backend_of(where: device) -> DeviceBackend:
    """The registered backend of a non-CPU device, or a clear error saying why it is unavailable."""
    if where.type == "cuda" and "cuda" not in _backends:
        _register_cuda()
    b = _backends.get(where.type)
    if b is None or b.unavailable:
        why = b.unavailable if b is not None else _UNSUPPORTED.get(where.type, "")
        raise RuntimeError(f"device {str(where)!r} is not available: {why}")
    count = b.device_count()
    if where.index is not None and where.index >= count:
        raise RuntimeError(f"device {str(where)!r} is not available: there are {count} {where.type} devices")
    return b


_UNSUPPORTED = {
    "mps": "chainrule computes on the CPU and on CUDA GPUs (through CuPy), not on Apple's MPS",
    "xpu": "chainrule computes on the CPU and on CUDA GPUs (through CuPy), not on Intel XPUs",
    "meta": "chainrule has no meta device (tensors without data)",
}


def parse(where: Any, who: str) -> device | None:
    """``where`` as a device (None stays None), checked to be usable; the error names ``who``."""
    if where is None:
        return None
    if isinstance(where, int) and not isinstance(where, bool):
        where = device("cuda", where)  # PyTorch reads an int as a CUDA device index
    try:
        dev = device(where)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"{who}: {e}") from None
    if dev.type == "cpu":
        return CPU
    try:
        backend_of(dev)
    except RuntimeError as e:
        raise RuntimeError(f"{who}: {e}") from None
    # "cuda" means the current device, which is device 0 here (as torch.cuda.current_device())
    return dev if dev.index is not None else device(dev.type, 0)


def check_same_device(inputs: Any, op: str) -> None:
    """Raise PyTorch's error when an op's tensor inputs live on different devices."""
    seen: dict[str, None] = {}
    for x in inputs:
        arr = getattr(x, "_array", None)
        if arr is not None and getattr(arr, "ndim", 0) > 0:
            seen[str(device_of(arr))] = None
    if len(seen) > 1:
        a, b = list(seen)[:2]
        raise RuntimeError(
            f"{op}: expected all tensors to be on the same device, but found at least two devices, "
            f"{a} and {b}!"
        )


# ------------------------------------------------- where NumPy and CuPy differ
def scatter_add(target: Any, index: Any, values: Any) -> None:
    """``target[index] += values`` with repeated indices adding up (``numpy.add.at``), on any device."""
    b = _by_array_type.get(type(target))
    if b is None:
        numpy.add.at(target, index, values)
    else:
        b.scatter_add(target, index, values)


def scatter_max(target: Any, index: Any, values: Any) -> None:
    """``numpy.maximum.at(target, index, values)`` on any device: each position keeps the largest
    of its value and the values sent to it (NaN propagates, as in NumPy)."""
    b = _by_array_type.get(type(target))
    if b is None:
        numpy.maximum.at(target, index, values)
    else:
        b.scatter_max(target, index, values)


def scatter_min(target: Any, index: Any, values: Any) -> None:
    """``numpy.minimum.at(target, index, values)`` on any device (NaN propagates, as in NumPy)."""
    b = _by_array_type.get(type(target))
    if b is None:
        numpy.minimum.at(target, index, values)
    else:
        b.scatter_min(target, index, values)


def errstate(array: Any, **kw: Any) -> Any:
    """NumPy's floating-point error state for a CPU array; nothing for a device array (GPUs do not raise)."""
    return numpy.errstate(**kw) if type(array) not in _by_array_type else contextlib.nullcontext()


# ------------------------------------------------------------------ CUDA
def _register_cuda() -> None:
    """Register CUDA through CuPy, or register the reason it cannot be used."""
    try:
        import cupy
        import cupyx
    except ImportError:
        reason = "CuPy is not installed (pip install 'chainrule[cuda12]' on a machine with an NVIDIA GPU)"
        register(_unusable("cuda", reason))
        return
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CuPy raises its own CUDARuntimeError when no driver is present
        count, error = 0, e
    else:
        error = None
    if count == 0:
        reason = f"CuPy is installed but finds no CUDA GPU ({error or 'no device'})"
        register(_unusable("cuda", reason))
        return

    def from_host(a: numpy.ndarray, index: int) -> Any:
        with cupy.cuda.Device(index):
            return cupy.asarray(a)

    def move(a: Any, index: int) -> Any:
        with cupy.cuda.Device(index):
            return a.copy()

    register(
        DeviceBackend(
            type="cuda",
            xp=cupy,
            array_type=cupy.ndarray,
            index_of=lambda a: a.device.id,
            from_host=from_host,
            to_host=cupy.asnumpy,
            move=move,
            device_count=lambda: count,
            scatter_add=_exact_add_scatter(cupy, cupyx.scatter_add),
            scatter_max=_exact_extreme_scatter(cupy, cupyx.scatter_max, largest=True),
            scatter_min=_exact_extreme_scatter(cupy, cupyx.scatter_min, largest=False),
        )
    )


# the dtypes cupyx.scatter_add accepts (atomicAdd; int64 only in some CuPy versions)
_ATOMIC_ADD_DTYPES = frozenset(
    numpy.dtype(t) for t in ("int32", "uint32", "uint64", "float16", "float32", "float64")
)


def _exact_add_scatter(xp: Any, raw: Callable[[Any, Any, Any], None]) -> Callable:
    """``numpy.add.at`` semantics from CuPy's ``cupyx.scatter_add``, for every integer dtype too.

    CuPy's takes int32, uint32, uint64 and the floats; int64 is added as
    uint64 (two's complement wraps alike), bool and the narrow integers
    through an int32 copy (cast back, they wrap as NumPy's do).
    """

    def scatter(target: Any, index: Any, values: Any) -> None:
        dt = target.dtype
        if dt in _ATOMIC_ADD_DTYPES or dt.kind not in "biu":
            raw(target, index, values)
        elif dt == numpy.int64:
            as_unsigned = xp.asarray(values).astype(dt, copy=False).view(numpy.uint64)
            raw(target.view(numpy.uint64), index, as_unsigned)
        else:
            work = target.astype(numpy.int32)
            raw(work, index, xp.asarray(values).astype(numpy.int32))
            target[...] = work.astype(dt)

    return scatter


# the dtypes cupyx.scatter_max/scatter_min accept (atomicMax/atomicMin)
_ATOMIC_EXTREME_DTYPES = frozenset(
    numpy.dtype(t) for t in ("int32", "uint32", "uint64", "float32", "float64")
)


def _exact_extreme_scatter(xp: Any, raw: Callable[[Any, Any, Any], None], largest: bool) -> Callable:
    """``numpy.maximum.at`` (or ``minimum.at``) semantics from CuPy's ``cupyx.scatter_max`` (``_min``).

    CuPy's versions take only int32, uint32, uint64, float32 and float64, and
    their float atomics go through ``fmaxf``/``fminf``: NaN is dropped, not
    propagated, and float64 passes through float32. So floats are scattered
    as order-preserving unsigned integer keys (exact, with NaN mapped to the
    winning end), int64 as uint64 with its sign bit flipped, and the narrow
    types through an int32 copy. ``raw(target, index, values)`` is the
    library's scatter; ``xp`` the array module (NumPy in the tests).
    """

    def scatter(target: Any, index: Any, values: Any) -> None:
        dt = target.dtype
        values = xp.asarray(values).astype(dt, copy=False)
        if dt.kind == "f":
            bits = dt.itemsize * 8
            u = numpy.dtype(f"uint{bits}")
            wide = u if bits >= 32 else numpy.dtype(numpy.uint32)
            sign = u.type(1 << (bits - 1))
            top = wide.type(numpy.iinfo(wide).max)

            def key(x: Any) -> Any:
                b = x.view(u)
                k = xp.where((b & sign) != 0, ~b, b | sign).astype(wide)  # float order as unsigned order
                return xp.where(xp.isnan(x), top if largest else wide.type(0), k)  # NaN always wins

            k = key(target)
            raw(k, index, key(values))
            if bits < 32:
                k = k.astype(u)
            # decoding the NaN keys gives a NaN: all ones (min's 0 key) or 0x7ff..f (max's top)
            target[...] = xp.where((k & sign) != 0, k & ~sign, ~k).view(dt)
        elif dt == numpy.int64:
            flip = numpy.uint64(1 << 63)  # int64 order as uint64 order
            k = target.view(numpy.uint64) ^ flip
            raw(k, index, values.view(numpy.uint64) ^ flip)
            target[...] = (k ^ flip).view(dt)
        elif dt in _ATOMIC_EXTREME_DTYPES:
            raw(target, index, values)
        else:  # bool and the narrow integers: exactly through int32
            work = target.astype(numpy.int32)
            raw(work, index, values.astype(numpy.int32))
            target[...] = work.astype(dt)

    return scatter


class _Unusable:
    """A placeholder array type for a device type that is known but cannot be used here."""


def _unusable(type_name: str, reason: str) -> DeviceBackend:
    def refuse(*_: Any) -> Any:
        raise RuntimeError(f"device {type_name!r} is not available: {reason}")

    return DeviceBackend(
        type=type_name,
        xp=None,
        array_type=_Unusable,
        index_of=refuse,
        from_host=refuse,
        to_host=refuse,
        move=refuse,
        device_count=lambda: 0,
        scatter_add=refuse,
        scatter_max=refuse,
        scatter_min=refuse,
        unavailable=reason,
    )


class _Cuda:
    """``cr.cuda``: whether CUDA GPUs can be used here, and how many."""

    def _backend(self) -> DeviceBackend:
        if "cuda" not in _backends:
            _register_cuda()
        return _backends["cuda"]

    def is_available(self) -> bool:
        return not self._backend().unavailable

    def device_count(self) -> int:
        return self._backend().device_count()

    def why_unavailable(self) -> str:
        """The reason ``is_available()`` is False ("" when it is True)."""
        return self._backend().unavailable

    def current_device(self) -> int:
        b = self._backend()
        if b.unavailable:
            raise RuntimeError(f"cuda.current_device(): {b.unavailable}")
        return int(b.xp.cuda.Device().id)

    def synchronize(self) -> None:
        """Wait for the GPU's queued work (for timing); nothing to wait for without a GPU."""
        b = self._backend()
        if not b.unavailable:
            b.xp.cuda.Device().synchronize()

    def is_built(self) -> bool:
        return self.is_available()

    def manual_seed(self, seed: int) -> None:
        """chainrule draws random numbers on the host for every device: ``cr.manual_seed`` seeds them all."""

    manual_seed_all = manual_seed

    def __repr__(self) -> str:
        b = self._backend()
        return "<chainrule.cuda: " + (f"not available ({b.unavailable})>" if b.unavailable else "available>")


cuda = _Cuda()
