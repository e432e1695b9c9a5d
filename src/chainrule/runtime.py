"""How chainrule uses the cores: one thread count, one thread pool, one scratch-buffer pool.

This module is the one place that decides how work is spread over the CPU:

* :func:`set_num_threads` / :func:`get_num_threads` (as in PyTorch) govern the
  BLAS library's threads and chainrule's own pool together;
* :func:`serial_blas` runs a block's small GEMMs on one BLAS thread (a second
  thread on a small GEMM only waits on the first, many times over when the
  cores are shared);
* :func:`parallel_for` splits memory-bound work (elementwise passes, reductions,
  normalisations, copies) into chunks run on a persistent pool of threads.
  NumPy releases the GIL inside its loops over large arrays, so the chunks run
  truly in parallel; small arrays stay on the calling thread, where a hand-off
  would cost more than it saves (see :func:`worth_splitting`);
* NumPy's OpenBLAS threads sleep soon after each GEMM instead of spinning for
  a tenth of a second on the cores the pool is about to use
  (:data:`BLAS_SPIN_LOG2_CYCLES`);
* kernels with a compiled path (numba, where installed: the recurrent
  layers' time loops, Winograd convolutions, max pool, layer norm, GELU's
  CDF) use it unless :func:`set_compiled_kernels` says otherwise; they hold
  no GIL, so the pool's threads run them side by side;
* :data:`scratch` keeps large work arrays from one step to the next, so that a
  training loop does not fault fresh pages in from the OS every step.

No other module touches thread counts.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import glob
import math
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from chainrule import devices

__all__ = [
    "MEMORY_BOUND_ELEMENTS",
    "MIN_PARALLEL_ELEMENTS",
    "Scratch",
    "chunk_bounds",
    "compiled_kernels",
    "get_num_threads",
    "limit_threads",
    "parallel_for",
    "scratch",
    "serial_blas",
    "set_compiled_kernels",
    "set_num_threads",
    "worth_splitting",
]


def _default_threads() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_num_threads = _default_threads()


# ------------------------------------------------------------------ the allocator
# glibc serves a large array (above a threshold that starts at 128 KiB) with a fresh mmap and
# unmaps it on free, and trims the heap's free top back to the OS: every training step then
# faults its multi-megabyte temporaries in again, page by page, the kernel zeroing each one,
# which costs as much as the arithmetic on them (W2 step 52 -> 43 ms, W4 97 -> 78 ms at one
# thread, measured). Served from the heap and kept there, freed arrays are reused warm.
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value (64-bit)
TRIM_THRESHOLD = 512 << 20  # free heap kept before any is returned to the OS


def keep_freed_memory() -> bool:
    """Ask glibc to keep large freed blocks for reuse (once, at import); False where it is not glibc.

    Set ``CHAINRULE_MALLOC_DEFAULTS=1`` in the environment to leave the allocator as it is.
    """
    if os.environ.get("CHAINRULE_MALLOC_DEFAULTS") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, MMAP_THRESHOLD)) and bool(mallopt(m_trim_threshold, TRIM_THRESHOLD))


keep_freed_memory()


# ------------------------------------------------------------------ BLAS threads
@functools.cache
def _numpy_openblas() -> Any:
    """NumPy's bundled OpenBLAS as a ``ctypes`` library, or None where NumPy uses another BLAS.

    Found by name next to NumPy (the ``numpy.libs``/``.dylibs`` folder of the
    wheels); opening it again returns the copy NumPy already loaded.
    """
    blas = getattr(np.__config__, "CONFIG", {}).get("Build Dependencies", {}).get("blas", {})
    if "openblas" not in str(blas.get("name", "")):
        return None
    here = os.path.dirname(np.__file__)
    for pattern in ("../numpy.libs/lib*openblas*", ".dylibs/lib*openblas*"):
        for path in sorted(glob.glob(os.path.join(here, pattern))):
            try:
                return ctypes.CDLL(path)
            except OSError:
                continue
    return None


@functools.cache
def openblas_threads() -> tuple[Any, Any] | None:
    """``(set, get)`` of the thread count of NumPy's bundled OpenBLAS, or None where there is none.

    Setting it through these two C calls takes well under a microsecond, so it
    can change around every small GEMM loop. With another BLAS, or none found,
    :func:`set_num_threads` falls back to threadpoolctl.
    """
    lib = _numpy_openblas()
    if lib is None:
        return None
    for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", "")):
        setter = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
        getter = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
        if setter is not None and getter is not None:
            setter.argtypes, setter.restype, getter.restype = [ctypes.c_int], None, ctypes.c_int
            return setter, getter
    return None


@functools.cache
def numpy_sgemm() -> tuple[int, bool] | None:
    """``(address of cblas_sgemm, whether its ints are 32-bit)`` in NumPy's bundled OpenBLAS, or None.

    Compiled loops (:mod:`chainrule.ops.compiled_recurrent`) call it at that
    address for their per-step GEMMs: the same library and thread setting
    NumPy's ``matmul`` uses, reached without taking the GIL. The ILP64 builds
    NumPy ships (symbol suffix ``64_``) take 64-bit ints.
    """
    lib = _numpy_openblas()
    if lib is None:
        return None
    for name, lp64 in (("scipy_cblas_sgemm64_", False), ("cblas_sgemm64_", False),
                       ("scipy_cblas_sgemm", True), ("cblas_sgemm", True)):
        fn = getattr(lib, name, None)
        if fn is not None:
            return ctypes.cast(fn, ctypes.c_void_p).value, lp64
    return None


# Compiled kernels (numba, where installed) serve the loops they exist for unless switched off,
# here or with CHAINRULE_COMPILED_KERNELS=0 in the environment.
_compiled = os.environ.get("CHAINRULE_COMPILED_KERNELS", "1").strip().lower() not in {"0", "false", "off"}


def set_compiled_kernels(enabled: bool) -> None:
    """Use the numba-compiled kernels where they exist (default), or NumPy everywhere.

    The NumPy path gives the same results to float32 rounding; switching off
    is for comparing the two, or for a platform where numba misbehaves.
    """
    global _compiled
    _compiled = bool(enabled)


def compiled_kernels() -> bool:
    """Whether compiled kernels may be used (they also need numba installed: ``chainrule[fast]``)."""
    return _compiled


# How long (2**N CPU cycles) an idle OpenBLAS thread spins before it sleeps. OpenBLAS's default,
# 2**28 (about 0.1 s), keeps its threads busy-waiting on the other cores after every threaded
# GEMM, exactly when chainrule's pool splits the elementwise work that follows (a bias add, a
# ReLU, a pooling, col2im): the pool's thread then shares its core with a spinning one and the
# split gains nothing. Measured on 2 quiet cores, three rounds, 2 threads, against the default:
# W2 CNN step 33.8-44.6 -> 24.7-30.9 ms, W4 encoder 53-64 -> 47-57 ms, W5 MiniLM 869-888 ->
# 781-823 ms; W1 and W3 unchanged; a lone 64x288x12544 GEMM about 5% slower (each threaded
# GEMM now wakes a sleeping thread). 2**16 cycles (~25 us) still bridges back-to-back GEMMs.
BLAS_SPIN_LOG2_CYCLES = 16


def _shorten_blas_spin() -> bool:
    """Make NumPy's OpenBLAS threads sleep soon after their work (see :data:`BLAS_SPIN_LOG2_CYCLES`).

    OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` when it starts its threads, so the
    variable is set (unless the user set it) and the running threads are
    stopped; the next threaded GEMM starts them again with the new timeout, as
    OpenBLAS does itself after a fork. Returns whether it was applied.
    """
    lib = _numpy_openblas()
    read_env = getattr(lib, "openblas_read_env", None)
    stop_threads = getattr(lib, "blas_thread_shutdown_", None)
    if read_env is None or stop_threads is None:
        return False
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", str(BLAS_SPIN_LOG2_CYCLES))
    read_env()
    stop_threads()
    return True


_shorten_blas_spin()


def _set_blas_threads(n: int) -> None:
    """Every BLAS loaded in the process to ``n`` threads.

    NumPy's OpenBLAS directly; the others (SciPy's own OpenBLAS, once
    scikit-learn or SciPy is imported) through threadpoolctl, which takes
    milliseconds: the per-loop switch, :func:`serial_blas`, touches NumPy's alone.
    """
    found = openblas_threads()
    if found is not None:
        found[0](n)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")


# Per-step GEMMs of up to ~16 M multiply-adds (an LSTM step's h @ W_hh^T, one head's q @ k^T)
# run single-threaded inside serial_blas; larger ones keep every thread.
SERIAL_MNK = 1 << 24


@contextlib.contextmanager
def serial_blas(mnk: int = 0) -> Iterator[None]:
    """Run the block's GEMMs on one BLAS thread when each is at most :data:`SERIAL_MNK` multiply-adds.

    ``mnk`` is the size (m*n*k) of the block's typical GEMM; a larger one keeps
    the threads. The previous count is restored on exit, also on error.
    """
    found = openblas_threads() if mnk <= SERIAL_MNK else None
    before = found[1]() if found is not None else 1
    if before <= 1:
        yield
        return
    found[0](1)
    try:
        yield
    finally:
        found[0](before)


# ------------------------------------------------------------------ the thread pool
class _Worker:
    """One persistent thread that runs the tasks it is handed, one batch at a time.

    The hand-off is two plain locks used as binary semaphores (``go`` released by
    the caller, ``done`` by the worker): waking a thread blocked on a lock is one
    futex call, some 5-15 us, where a ThreadPoolExecutor's queue and futures cost
    35-50 us. The worker sleeps in the kernel between batches (no spinning, which
    would steal the core from BLAS and from the caller).
    """

    def __init__(self, index: int) -> None:
        self.go = threading.Lock()
        self.go.acquire()
        self.done = threading.Lock()
        self.done.acquire()
        self.fn: Callable[..., Any] | None = None
        self.tasks: Sequence[Sequence[Any]] = ()
        self.results: list[Any] = []
        self.error: BaseException | None = None
        self.stop = False
        self.thread = threading.Thread(target=self._loop, name=f"chainrule-{index}", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        _local.inside = True  # a task that itself calls parallel_for runs that serially: no deadlock
        while True:
            self.go.acquire()
            if self.stop:
                self.done.release()
                return
            fn, results, error = self.fn, [], None
            for task in self.tasks:
                try:
                    results.append(fn(*task))
                except BaseException as e:
                    error = error or e
                    results.append(None)
            self.results, self.error = results, error
            self.fn, self.tasks = None, ()
            self.done.release()

    def start(self, fn: Callable[..., Any], tasks: Sequence[Sequence[Any]]) -> None:
        self.fn, self.tasks = fn, tasks
        self.go.release()

    def wait(self) -> tuple[list[Any], BaseException | None]:
        self.done.acquire()
        return self.results, self.error

    def close(self) -> None:
        self.stop = True
        self.go.release()
        self.done.acquire()
        self.thread.join()


_workers: list[_Worker] = []
_pool_lock = threading.Lock()  # guards _workers
_busy = threading.Lock()  # held while a parallel_for uses the workers
_local = threading.local()  # ``inside``: this thread is running a pool task


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for BLAS and for chainrule's own parallel kernels (``torch.set_num_threads``)."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _num_threads = int(n)
    _set_blas_threads(_num_threads)


def get_num_threads() -> int:
    """The number of threads chainrule computes with (``torch.get_num_threads``)."""
    return _num_threads


def _take_workers(count: int) -> list[_Worker]:
    """The first ``count`` persistent workers, started on first need."""
    with _pool_lock:
        while len(_workers) < count:
            _workers.append(_Worker(len(_workers)))
        return _workers[:count]


def shutdown() -> None:
    """Stop the pool's threads (at interpreter exit; the next parallel call starts new ones)."""
    with _busy, _pool_lock:
        workers = list(_workers)
        _workers.clear()
    for w in workers:
        w.close()


def _after_fork_in_child() -> None:
    # the parent's threads do not exist in a forked child: forget them, new ones start on demand
    global _pool_lock, _busy
    _workers.clear()
    _pool_lock, _busy = threading.Lock(), threading.Lock()


atexit.register(shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# A pass is split only from twice this many elements (so each chunk has at least this many);
# smaller ones stay on the calling thread. Measured on 2 cores (a ReLU pass, serial against two
# chunks): the hand-off to a sleeping worker costs ~8 us at best and 15-30 us typically; at
# load ~0.5, 128 Ki elements lost (50 -> 72 us), 256 Ki broke even (98 -> 99 us), 1 Mi gained
# 1.5-2.1x. Under heavier load splitting loses up to 512 Ki, so the threshold errs high.
MIN_PARALLEL_ELEMENTS = 1 << 17

# Passes that run at memory speed (an add, a multiply, a bias add, the compiled ReLU) do so little
# per element that the hand-off (a no-op parallel_for costs ~60 us on a busy 2-core host: two
# futex wake-ups and two GIL hand-offs) pays only from about a million elements. Measured at 2
# threads: an add of 262k float32 38 us whole, 80 us in two; of 1M 173 us either way; W4's bias
# add on (2048, 128) 88 us whole, 156 us in two.
MEMORY_BOUND_ELEMENTS = 4 * MIN_PARALLEL_ELEMENTS


def worth_splitting(elements: int, min_elements: int = MIN_PARALLEL_ELEMENTS, like: Any = None) -> int:
    """How many chunks a pass over ``elements`` items should be cut into (1: do not split).

    ``like``: an array of the pass; one that is not a NumPy array (a device
    array: the pool is for the CPU) is never split.
    """
    if _num_threads <= 1 or elements < 2 * min_elements or getattr(_local, "inside", False):
        return 1
    if like is not None and type(like) is not np.ndarray:
        return 1
    return int(min(_num_threads, elements // min_elements))


def chunk_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ``[start, stop)`` ranges covering ``range(n)``, as even as can be."""
    parts = max(1, min(parts, n)) if n else 1
    step, extra = divmod(n, parts)
    bounds, start = [], 0
    for k in range(parts):
        stop = start + step + (k < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


def parallel_for(fn: Callable[..., Any], tasks: Sequence[Sequence[Any]]) -> list[Any]:
    """Call ``fn(*task)`` for each task, spread over the pool; results in task order.

    With ``n`` threads, task ``k`` runs on thread ``k % n`` (the calling thread
    is thread 0 and runs its share itself), so which thread runs which task is
    fixed. Tasks must write disjoint memory: the result then cannot depend on
    the scheduling. An exception in any task is raised here once every task
    has finished. A call made while the pool is busy (from a pool task, or from
    a second user thread) runs its tasks serially on its own thread.
    """
    threads = min(_num_threads, len(tasks))
    if (
        threads <= 1
        or getattr(_local, "inside", False)
        or _on_device(tasks[0])
        or not _busy.acquire(blocking=False)
    ):
        return [fn(*t) for t in tasks]
    try:
        workers = _take_workers(threads - 1)
        for k, w in enumerate(workers, start=1):
            w.start(fn, tasks[k::threads])
        first_error: BaseException | None = None
        mine: list[Any] = []
        _local.inside = True
        for task in tasks[::threads]:  # every task runs, also after one fails: they may write to our arrays
            try:
                mine.append(fn(*task))
            except BaseException as e:
                first_error = first_error or e
                mine.append(None)
        _local.inside = False
        shares = [mine]
        for w in workers:
            results, error = w.wait()
            shares.append(results)
            first_error = first_error or error
    finally:
        _busy.release()
    if first_error is not None:
        raise first_error
    out: list[Any] = [None] * len(tasks)
    for k, share in enumerate(shares):
        out[k::threads] = share
    return out


def _on_device(task: Sequence[Any]) -> bool:
    """Whether a task's arguments hold a device array (the pool's threads are for NumPy arrays)."""
    return any(devices.is_device_array(a) for a in task)


def map_rows(
    fn: Callable[[int, int], Any],
    rows: int,
    row_elements: int,
    like: Any = None,
    min_elements: int = MIN_PARALLEL_ELEMENTS,
) -> None:
    """Call ``fn(start, stop)`` over row ranges that cover ``range(rows)``, in parallel when it pays.

    ``row_elements`` is the work per row (in elements) that decides whether a
    split is worth it; ``fn`` must write only rows ``start:stop`` of its outputs.
    ``like``: an array ``fn`` works on; a device array (not NumPy) runs in one call.
    ``min_elements``: the least work a chunk should get (:data:`MEMORY_BOUND_ELEMENTS`
    for a pass at memory speed).
    """
    parts = worth_splitting(rows * row_elements, min_elements, like=like)
    if parts <= 1 or rows < 2:
        fn(0, rows)
        return
    parallel_for(fn, chunk_bounds(rows, parts))


# ------------------------------------------------------------------ scratch buffers
class Scratch:
    """Large work arrays kept from one call to the next, so a training loop does not fault in fresh pages.

    A new multi-megabyte array comes from the OS as untouched pages that the
    kernel zeroes on first write, which costs about as much as the arithmetic
    on it. Kernels take their big temporaries here (the padded input and the
    columns of a convolution, the gate buffers of a recurrent layer) and give
    them back once nothing can read them. Buffers are raw bytes keyed by size,
    so a buffer freed by one phase (a forward's GEMM result) serves another of
    the same size (the backward's gradient). A buffer is never shared by two
    live users: callers write every element they later read.

    ``take_output`` serves arrays handed to callers: one is reused only once
    nothing else refers to it, which CPython's reference count tells exactly.
    """

    def __init__(
        self, limit: int = 256 << 20, per_size: int = 4, min_bytes: int = 64 << 10, outputs: int = 8
    ) -> None:
        self.free: dict[int, list[np.ndarray]] = {}  # nbytes -> raw uint8 buffers, least recent first
        self.pooled = 0
        self.limit, self.per_size, self.min_bytes = limit, per_size, min_bytes
        self.outputs: list[np.ndarray] = []  # arrays returned to callers, newest last
        self.max_outputs = outputs
        self.lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: Any, zero: bool = False, like: Any = None) -> Any:
        """An array of ``shape`` (uninitialised unless ``zero``), pooled when one of its size is free.

        ``like``: an array on the device the buffer is for; for a device array
        (not NumPy) a fresh one of its module, never pooled (the device's own
        allocator, CuPy's memory pool, keeps its memory).
        """
        if like is not None and type(like) is not np.ndarray:
            return _device_empty(like, shape, dtype, zero)
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < self.min_bytes:  # malloc serves small arrays from reused memory anyway
            return (np.zeros if zero else np.empty)(shape, dtype=dtype)
        with self.lock:
            free = self.free.get(nbytes)
            raw = free.pop() if free else None
            if raw is not None:
                self.pooled -= nbytes
        if raw is None:
            raw = np.empty(nbytes, np.uint8)
        a = raw.view(dtype).reshape(shape)
        if zero:
            a.fill(0)
        return a

    def give(self, a: np.ndarray) -> None:
        """Return an array from :meth:`take` (or any view of it) to the pool (a device array: not pooled)."""
        if type(a) is not np.ndarray:
            return
        raw = a
        while raw.base is not None and isinstance(raw.base, np.ndarray):
            raw = raw.base
        nbytes = raw.nbytes
        if nbytes < self.min_bytes or nbytes > self.limit // 4 or raw.dtype != np.uint8:
            return
        with self.lock:
            free = self.free.pop(nbytes, [])
            if len(free) < self.per_size and not any(b is raw for b in free):
                free.append(raw)
                self.pooled += nbytes
            self.free[nbytes] = free  # re-inserted last: the most recently used
            while self.pooled > self.limit:
                self.pooled -= sum(b.nbytes for b in self.free.pop(next(iter(self.free))))

    def take_owned(
        self, owner: list, shape: tuple[int, ...], dtype: Any, zero: bool = False, like: Any = None
    ) -> Any:
        """:meth:`take`, remembering the array in ``owner`` so :meth:`give_all` can return it later."""
        a = self.take(shape, dtype, zero, like)
        owner.append(a)
        return a

    def give_all(self, owner: list) -> None:
        """Return every array in ``owner`` to the pool and empty the list."""
        for a in owner:
            self.give(a)
        owner.clear()

    def take_output(self, shape: tuple[int, ...], dtype: Any, zero: bool = False, like: Any = None) -> Any:
        """A new array for the caller, made of one they have let go of if any (``like``: see take)."""
        if like is not None and type(like) is not np.ndarray:
            return _device_empty(like, shape, dtype, zero)
        dtype = np.dtype(dtype)
        if math.prod(shape) * dtype.itemsize < self.min_bytes:
            return (np.zeros if zero else np.empty)(shape, dtype=dtype)
        with self.lock:
            outs = self.outputs
            for k in range(len(outs)):
                a = outs[k]
                # 3 references: the list, ``a`` and getrefcount's argument; any other is a user's
                if a.shape == shape and a.dtype == dtype and sys.getrefcount(a) == 3:
                    del outs[k]
                    if zero:
                        a.fill(0)
                    break
            else:
                a = (np.zeros if zero else np.empty)(shape, dtype=dtype)
            outs.append(a)
            if len(outs) > self.max_outputs:
                del outs[0]
        return a

    def clear(self) -> None:
        """Drop every kept buffer (their memory goes back to the allocator)."""
        with self.lock:
            self.free.clear()
            self.outputs.clear()
            self.pooled = 0


def _device_empty(like: Any, shape: tuple[int, ...], dtype: Any, zero: bool) -> Any:
    """A new array on ``like``'s device (zeroed when asked), through its array module."""
    xp = devices.array_module(like)
    return (xp.zeros if zero else xp.empty)(shape, dtype=dtype)


scratch = Scratch()


# ------------------------------------------------------------------ limits for a block
@contextlib.contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """Run the block with at most ``n`` threads in every pool: BLAS, OpenMP and chainrule's own.

    For applications that share a machine or run small models, where idle
    threads spin and cost more than they give. The native pools (BLAS, and the
    OpenMP runtime scikit-learn uses) are limited through threadpoolctl, which
    reaches only the libraries already loaded, so import what should be limited first. ``None``
    limits nothing. Everything is restored on exit, also on error.
    """
    global _num_threads
    if n is None:
        yield
        return
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"limit_threads: expected a positive int or None, got {n!r}")
    from threadpoolctl import threadpool_limits

    native = threadpool_limits(limits=int(n))
    before = _num_threads
    _num_threads = min(before, int(n))
    try:
        with native:
            yield
    finally:
        _num_threads = before
