"""A batch's trip from a worker process to the main one: arrays through shared memory, the rest pickled.

Pickling a batch through a multiprocessing queue copies its arrays four
times (into the pickle, into the pipe, out of the pipe, out of the pickle).
Instead, a worker writes a large batch's arrays into one file in
``/dev/shm`` (memory, not disk) and sends only the file's name and where each
array lies in it. The main process maps the file, unlinks it at once and
wraps the arrays around the mapping without copying; the memory goes back to
the OS when the last array made from it is freed. Small batches, and
platforms without ``/dev/shm``, travel pickled, where a file would cost more
than it saves (see :data:`MIN_SHARED_BYTES`).

No block is left behind: the main process unlinks a block as soon as it maps
it, and every block's name starts with its iterator's prefix, so when an
iterator shuts down, :func:`remove_blocks` deletes whatever never arrived
(batches still in flight, a worker killed halfway through a write). A worker
that outlives its main process removes its own blocks before it exits.
"""

from __future__ import annotations

import functools
import glob
import mmap
import os
import secrets
from typing import Any

import numpy as np

from chainrule.tensor import Tensor

__all__ = ["MIN_SHARED_BYTES", "Packed", "block_prefix", "discard", "pack", "remove_blocks", "unpack"]

_make = Tensor._make

# Below this many bytes of arrays a batch is pickled: creating, writing, mapping and unlinking a
# file costs more than pickling a 256 KiB batch through a pipe, and less from about 1 MiB on
# (benchmarks/loader_workers.py prints both; 16-64 MiB batches: 3-5x the rate, 1/4-1/6 of the main
# process's CPU time per batch, measured on a loaded 2-core machine).
MIN_SHARED_BYTES = 512 << 10
_ALIGN = 64  # each array starts on a cache line


@functools.cache
def shm_dir() -> str | None:
    """Where shared blocks live: ``/dev/shm`` where it is a writable directory (Linux), else None."""
    path = "/dev/shm"
    return path if os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK) else None


def block_prefix() -> str:
    """A fresh name prefix for one iterator's blocks: no two iterators (or processes) share one."""
    return f"chainrule-loader-{os.getpid()}-{secrets.token_hex(6)}"


class _Slot:
    """Where an array stood in a batch: its position in the array list, and whether it was a Tensor."""

    __slots__ = ("index", "requires_grad", "tensor")

    def __init__(self, index: int, tensor: bool, requires_grad: bool) -> None:
        self.index, self.tensor, self.requires_grad = index, tensor, requires_grad

    def __reduce__(self) -> tuple[Any, ...]:
        return _Slot, (self.index, self.tensor, self.requires_grad)


class Packed:
    """A batch ready to travel: its structure with the arrays taken out, and the arrays or their block.

    ``arrays`` holds the arrays themselves (pickled with the message) when
    ``block`` is None; otherwise they are in the shared file ``block`` at the
    ``(offset, shape, dtype)`` of ``layout``, ``size`` bytes in all.
    """

    __slots__ = ("arrays", "block", "layout", "size", "structure")

    def __init__(
        self,
        structure: Any,
        arrays: list[np.ndarray] | None,
        block: str | None = None,
        layout: list[tuple[int, tuple[int, ...], np.dtype]] | None = None,
        size: int = 0,
    ) -> None:
        self.structure, self.arrays, self.block, self.layout, self.size = (
            structure,
            arrays,
            block,
            layout,
            size,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return Packed, (self.structure, self.arrays, self.block, self.layout, self.size)


def _take_arrays(obj: Any, arrays: list[np.ndarray]) -> Any:
    """``obj`` with each Tensor and numeric array replaced by a :class:`_Slot` (arrays go to ``arrays``)."""
    t = type(obj)
    if t is Tensor or isinstance(obj, Tensor):
        if obj._ctx is not None and obj._requires_grad:
            raise RuntimeError(
                "DataLoader: a batch made in a worker holds a tensor with an autograd graph "
                "(requires_grad, not a leaf); a graph cannot cross processes: detach it in the dataset"
            )
        data = obj._array
        if not isinstance(data, np.ndarray) or data.dtype.hasobject:
            return obj
        arrays.append(data)
        return _Slot(len(arrays) - 1, True, obj._requires_grad)
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            return obj
        arrays.append(obj)
        return _Slot(len(arrays) - 1, False, False)
    if t is list:
        return [_take_arrays(o, arrays) for o in obj]
    if t is tuple:
        return tuple(_take_arrays(o, arrays) for o in obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return t(*(_take_arrays(o, arrays) for o in obj))
    if t is dict:
        return {k: _take_arrays(v, arrays) for k, v in obj.items()}
    return obj


def _put_arrays(obj: Any, arrays: list[np.ndarray]) -> Any:
    """The inverse of :func:`_take_arrays`: each :class:`_Slot` becomes its array (or Tensor) again."""
    t = type(obj)
    if t is _Slot:
        a = arrays[obj.index]
        if not obj.tensor:
            return a
        out = _make(a, None)
        return out.requires_grad_() if obj.requires_grad else out
    if t is list:
        return [_put_arrays(o, arrays) for o in obj]
    if t is tuple:
        return tuple(_put_arrays(o, arrays) for o in obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return t(*(_put_arrays(o, arrays) for o in obj))
    if t is dict:
        return {k: _put_arrays(v, arrays) for k, v in obj.items()}
    return obj


def _write_block(
    path: str, arrays: list[np.ndarray]
) -> tuple[list[tuple[int, tuple[int, ...], np.dtype]], int]:
    """Write ``arrays`` into a new file at ``path``; return their layout and the file's size."""
    layout, offset = [], 0
    for a in arrays:
        layout.append((offset, a.shape, a.dtype))
        offset += -(-a.nbytes // _ALIGN) * _ALIGN
    size = max(offset, 1)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, size)
        for a, (start, _, _) in zip(arrays, layout):
            # pwrite copies straight into the file's pages: no page faults, and a full /dev/shm
            # is an OSError here rather than a SIGBUS on a mapped write
            view = memoryview(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
            while view.nbytes:
                n = os.pwrite(fd, view, start)
                view, start = view[n:], start + n
    finally:
        os.close(fd)
    return layout, size


def pack(batch: Any, block: str | None = None, min_bytes: int = MIN_SHARED_BYTES) -> Packed:
    """``batch`` ready to send; its arrays go into the shared block named ``block`` when they are large.

    With ``block=None``, below ``min_bytes``, without ``/dev/shm``, or when the
    block cannot be written (``/dev/shm`` full), the arrays travel pickled.
    """
    arrays: list[np.ndarray] = []
    structure = _take_arrays(batch, arrays)
    directory = shm_dir()
    if block is None or directory is None or not arrays or sum(a.nbytes for a in arrays) < max(1, min_bytes):
        return Packed(structure, arrays)
    path = os.path.join(directory, block)
    try:
        layout, size = _write_block(path, arrays)
    except OSError:
        _unlink(path)
        return Packed(structure, arrays)
    return Packed(structure, None, block, layout, size)


def unpack(packed: Packed) -> Any:
    """The batch again: arrays from a shared block are views of its mapping (no copy), writable."""
    if packed.block is None:
        return _put_arrays(packed.structure, packed.arrays or [])
    path = os.path.join(shm_dir() or "", packed.block)
    fd = os.open(path, os.O_RDWR)
    try:
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)  # map every page now, not one fault each
        mm = mmap.mmap(fd, packed.size, flags=flags, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
        _unlink(path)  # the mapping keeps the memory; the name is no longer needed
    raw = np.frombuffer(mm, dtype=np.uint8)  # the mapping lives as long as any array made from it
    arrays = [
        raw[start : start + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize].view(dtype).reshape(shape)
        for start, shape, dtype in packed.layout or []
    ]
    return _put_arrays(packed.structure, arrays)


def discard(packed: Any) -> None:
    """Free a batch that will not be used (a stale result): its shared block, if any, is unlinked."""
    if isinstance(packed, Packed) and packed.block is not None and shm_dir() is not None:
        _unlink(os.path.join(shm_dir(), packed.block))


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove_blocks(prefix: str) -> int:
    """Unlink every block whose name starts with ``prefix``; return how many there were."""
    directory = shm_dir()
    if directory is None:
        return 0
    paths = glob.glob(os.path.join(directory, glob.escape(prefix) + "*"))
    for path in paths:
        _unlink(path)
    return len(paths)
