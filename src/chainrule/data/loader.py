"""The DataLoader: batches from a dataset, shuffled per epoch, with ``torch.utils.data`` semantics.

A sampler yields dataset indices; a :class:`BatchSampler` groups them into
batches; a fetcher (:mod:`chainrule.data.fetch`) reads the samples of each
batch and collates them into tensors. Shuffling draws a fresh permutation
every epoch from the given :class:`chainrule.random.Generator` or the global
one, so ``cr.manual_seed`` fixes the batches of a whole run.

With ``num_workers=0`` batches are made in this process, as they are asked
for. With ``num_workers > 0`` worker processes (:mod:`chainrule.data.worker`)
make them: the sampler still runs here, so the order is decided here, and each
task sent to a worker is one whole batch. ``prefetch_factor`` tasks per worker
are kept in flight; results are put back in sampler order (or taken as they
come with ``in_order=False``), so a loader gives the same batches with or
without workers. Every ``iter(loader)`` draws one base seed from the
generator, with or without workers (as PyTorch's iterators do), which is what
keeps the shuffling identical; the workers seed their generators from it.

Speed by construction: chainrule's own samplers make one index array per
epoch, and a :class:`TensorDataset` batch is one fancy index per tensor (see
:mod:`chainrule.data.fetch`), so in-memory tensors need no workers at all:
workers pay when each sample costs real work (decoding, augmentation).
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import os
import pickle
import queue
import signal
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule import random as _random
from chainrule.data import shm
from chainrule.data.collate import default_collate, default_convert, move_to_device
from chainrule.data.dataset import IterableDataset
from chainrule.data.fetch import make_fetcher
from chainrule.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
)
from chainrule.data.worker import (
    STATUS_INTERVAL,
    IterableEnd,
    ResumeIteration,
    WorkerFailure,
    WorkerSpec,
    worker_loop,
)
from chainrule.validation import check_bool as _check_bool
from chainrule.validation import positive_count as _positive_int


def _context(value: Any) -> Any:
    """A multiprocessing context: the one given (or named), else ``fork`` where the platform has it."""
    if value is None:
        return multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        )
    if isinstance(value, str):
        methods = multiprocessing.get_all_start_methods()
        if value not in methods:
            raise ValueError(
                f"DataLoader: multiprocessing_context {value!r} is not available here; "
                f"valid: {', '.join(methods)}"
            )
        return multiprocessing.get_context(value)
    if not isinstance(value, multiprocessing.context.BaseContext):
        raise TypeError(
            "DataLoader: multiprocessing_context should be a start method name ('fork', 'spawn', "
            f"'forkserver') or a multiprocessing context, got {type(value).__name__}"
        )
    return value


class DataLoader:
    """Iterate over a dataset in (shuffled) batches, as ``torch.utils.data.DataLoader``.

    Each epoch (each ``iter(loader)``) visits every sample once, in a fresh
    random order when ``shuffle=True`` (drawn from ``generator`` or the global
    generator). ``batch_size=None`` turns batching off: samples come one by
    one through ``default_convert``. An :class:`IterableDataset` is iterated
    rather than indexed (no sampler, no shuffle).

    ``num_workers > 0`` makes batches in that many worker processes (``fork``
    where the platform has it, else ``spawn``; or ``multiprocessing_context``),
    each fetching whole batches, ``prefetch_factor`` (default 2) in flight per
    worker. ``persistent_workers`` keeps them from one epoch to the next;
    ``worker_init_fn(worker_id)`` runs in each at start; ``timeout`` (seconds,
    0: none) bounds the wait for one batch; ``in_order=False`` yields batches
    as they are ready instead of in sampler order. In a worker,
    :func:`~chainrule.data.get_worker_info` says which one it is, and
    chainrule's, NumPy's and Python's generators are seeded with the loader's
    base seed plus the worker id.

    ``transform``, if given, is called on each collated batch's inputs (its
    first element, or the whole batch if it is a tensor), in the process that
    makes the batch: the hook for batch augmentation.

    ``device`` (``"cuda"``, ``cr.device("cuda", 1)``, ...), if given, moves
    every tensor of each batch (inside tuples, lists and dicts too) to that
    device after collation, in the main process (so it works with workers),
    as Keras users expect; PyTorch users may leave it out and write
    ``x.to(device)`` in the loop instead. ``pin_memory`` is accepted for
    PyTorch compatibility (host-to-device copies go from ordinary memory).
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler | Iterable[int] | None = None,
        batch_sampler: Sampler | Iterable[Sequence[int]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], Any] | None = None,
        multiprocessing_context: str | Any = None,
        generator: _random.Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        in_order: bool = True,
        transform: Callable[[Any], Any] | None = None,
        device: Any = None,
    ) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers should be a non-negative integer, got {num_workers!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform should be callable, got {type(transform).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn should be callable, got {type(collate_fn).__name__}")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError(
                f"DataLoader: worker_init_fn should be callable, got {type(worker_init_fn).__name__}"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
            raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout!r}")
        persistent_workers = _check_bool(persistent_workers, "persistent_workers", "DataLoader")
        in_order = _check_bool(in_order, "in_order", "DataLoader")
        if num_workers == 0:
            if prefetch_factor is not None:
                raise ValueError(
                    "DataLoader: prefetch_factor option could only be specified in multiprocessing; "
                    "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None"
                )
            if persistent_workers:
                raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
            if multiprocessing_context is not None:
                raise ValueError(
                    "DataLoader: multiprocessing_context can only be used with multi-process loading "
                    "(num_workers > 0), but got num_workers=0"
                )
        else:
            prefetch_factor = (
                2
                if prefetch_factor is None
                else _positive_int(prefetch_factor, "prefetch_factor", "DataLoader")
            )
            multiprocessing_context = _context(multiprocessing_context)
        drop_last = _check_bool(drop_last, "drop_last", "DataLoader")
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler), ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(
                        f"DataLoader with IterableDataset: expected unspecified {name} option, but got "
                        f"{name}={value!r}"
                    )
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "DataLoader: batch_sampler option is mutually exclusive with batch_size, "
                    "shuffle, sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise ValueError(
                    "DataLoader: batch_size=None option disables auto-batching and is mutually "
                    "exclusive with drop_last"
                )
        else:
            batch_size = _positive_int(batch_size, "batch_size", "DataLoader")
        if iterable:
            auto_collation = batch_size is not None
        else:
            if sampler is None:
                sampler = (
                    RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
                )
            if batch_size is not None and batch_sampler is None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)
            auto_collation = batch_sampler is not None

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = bool(pin_memory)
        self.device = backend.check_device(device, "DataLoader")
        self.timeout = float(timeout)
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self.transform = transform
        self._auto_collation = auto_collation
        self._iterable = iterable
        if collate_fn is None:
            collate_fn = default_collate if auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator: _WorkerIterator | None = None  # kept between epochs with persistent_workers
        self._initialized = True

    # what the sampler and batch sampler were built from: changing one later would be silently ignored
    _FROZEN = frozenset(
        ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")
    )

    def __setattr__(self, name: str, value: Any) -> None:
        if name in DataLoader._FROZEN and self.__dict__.get("_initialized", False):
            raise ValueError(
                f"DataLoader: {name} attribute should not be set after DataLoader is initialized; "
                "make a new DataLoader instead"
            )
        object.__setattr__(self, name, value)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # a stream without __len__ has no length: TypeError, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self._auto_collation else self.sampler)

    def __iter__(self) -> Iterator[Any]:
        # one draw per epoch, with or without workers, so that both see the same shuffling
        base_seed = int(_random.rng(self.generator).integers(0, 2**63 - 1, dtype=np.int64))
        if self.num_workers == 0:
            it: Any = _InProcessIterator(self._in_process(), self)
        elif not self.persistent_workers:
            it = _WorkerIterator(self, base_seed)
        else:
            it = self._iterator
            if it is None or it.closed:
                it = self._iterator = _WorkerIterator(self, base_seed)
            else:
                it.reset(self)  # the workers keep their generators' streams, as PyTorch's do
        return it if self.device is None else _OnDevice(it, self.device)

    def _fetcher(self) -> Any:
        return make_fetcher(
            self.dataset, self._auto_collation, self.collate_fn, self.drop_last, self.transform
        )

    def _in_process(self) -> Iterator[Any]:
        fetch = self._fetcher()
        if self._iterable:
            size = self.batch_size if self._auto_collation else None
            while True:
                try:
                    batch = fetch(size)
                except StopIteration:
                    return
                yield batch
        else:
            indices = self._index_batches() if self._auto_collation else iter(self.sampler)
            for idx in indices:
                yield fetch(idx)

    def _index_batches(self) -> Iterator[Any]:
        """One epoch of batch indices: int arrays from our samplers, else whatever batch_sampler yields."""
        bs = self.batch_sampler
        if type(bs).__iter__ is BatchSampler.__iter__:
            arrays = bs._array_batches()
            if arrays is not None:
                return arrays
        return iter(bs)

    def _tasks(self) -> Iterator[Any]:
        """What each worker task fetches: batch indices, one index, or (streams) how many samples."""
        if self._iterable:
            return itertools.repeat(self.batch_size if self._auto_collation else None)
        return self._index_batches() if self._auto_collation else iter(self.sampler)


class _InProcessIterator:
    """Batches made in this process as they are asked for; ``len()`` is the loader's, as in PyTorch."""

    def __init__(self, batches: Iterator[Any], loader: DataLoader) -> None:
        self._batches, self._loader = batches, loader

    def __iter__(self) -> _InProcessIterator:
        return self

    def __next__(self) -> Any:
        return next(self._batches)

    def __len__(self) -> int:
        return len(self._loader)


class _OnDevice:
    """A loader's batches, each moved to ``device`` as it is taken (in the main process)."""

    def __init__(self, batches: Iterator[Any], device: Any) -> None:
        self._batches, self._device = batches, device

    def __iter__(self) -> _OnDevice:
        return self

    def __next__(self) -> Any:
        return move_to_device(next(self._batches), self._device)

    def __len__(self) -> int:
        return len(self._batches)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:  # shutdown(), closed, ... of a worker iterator
        if name.startswith("__") or name in ("_batches", "_device"):
            raise AttributeError(name)  # not set yet (a copy being made): no recursion
        return getattr(self._batches, name)


# ------------------------------------------------------------------- worker iteration
_live_iterators: weakref.WeakSet[_WorkerIterator] = weakref.WeakSet()


def _shutdown_all() -> None:
    """At interpreter exit: stop every iterator's workers and remove its shared blocks."""
    for it in list(_live_iterators):
        it.shutdown()


atexit.register(_shutdown_all)


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        hint = " (the system may have run out of memory)" if name == "SIGKILL" else ""
        return f"with signal {name}{hint}"
    return f"with exit code {code}"


class _WorkerIterator:
    """Batches made by worker processes: one epoch, or every epoch with persistent workers.

    The main process keeps ``prefetch_factor * num_workers`` tasks in flight,
    sent round-robin to the workers' index queues; results arrive on one
    queue, in any order, and wait in ``_tasks`` until their turn. The
    bookkeeping follows PyTorch's ``_MultiProcessingDataLoaderIter``:
    ``_send_idx`` counts the tasks sent, ``_rcvd_idx`` the next one to yield.
    """

    def __init__(self, loader: DataLoader, base_seed: int) -> None:
        ctx = _context(loader.multiprocessing_context)  # None: num_workers was raised after __init__
        n = self._num_workers = loader.num_workers
        self._prefetch = loader.prefetch_factor or 2
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._persistent = loader.persistent_workers
        self._owner = os.getpid()  # a forked child holding a copy of this object must not stop our workers
        self._prefix = shm.block_prefix()
        self.closed = False
        try:
            self._length: int | None = len(loader)
        except TypeError:  # a stream without __len__
            self._length = None
        spec = WorkerSpec(
            dataset=loader.dataset,
            auto_collation=loader._auto_collation,
            collate_fn=loader.collate_fn,
            drop_last=loader.drop_last,
            transform=loader.transform,
            worker_init_fn=loader.worker_init_fn,
            num_workers=n,
            base_seed=base_seed,
            block_prefix=self._prefix,
            min_shared_bytes=shm.MIN_SHARED_BYTES,
            main_pid=os.getpid(),
            start_method=ctx.get_start_method(),
        )
        self._done = ctx.Event()
        self._results = ctx.Queue()
        self._index_queues: list[Any] = []
        self._workers: list[Any] = []
        _live_iterators.add(self)
        try:
            for wid in range(n):
                index_queue = ctx.Queue()
                index_queue.cancel_join_thread()  # never wait at exit to flush indices nobody will read
                w = ctx.Process(
                    target=worker_loop,
                    args=(spec, wid, index_queue, self._results, self._done),
                    daemon=True,
                    name=f"chainrule-loader-worker-{wid}",
                )
                try:
                    w.start()
                except Exception as e:
                    if ctx.get_start_method() != "fork":
                        e.add_note(
                            f"DataLoader: with the {ctx.get_start_method()!r} start method each worker gets "
                            "a pickled copy of the dataset, collate_fn, worker_init_fn and transform: define "
                            "them at module level (no lambdas or local classes)"
                        )
                    raise
                self._index_queues.append(index_queue)
                self._workers.append(w)
            self.reset(loader, first=True)
        except BaseException:
            self.shutdown()
            raise

    # ---------------------------------------------------------------- epochs
    def reset(self, loader: DataLoader, first: bool = False) -> None:
        """Start an epoch: a fresh pass of the sampler, and (persistent workers) fresh dataset iterators."""
        n = self._num_workers
        for info in getattr(self, "_tasks", {}).values():
            if len(info) == 2:  # arrived out of turn in an epoch cut short: free its shared block
                shm.discard(info[1])
        self._source = loader._tasks()
        self._send_idx = self._rcvd_idx = 0
        self._tasks: dict[int, tuple[Any, ...]] = {}  # task index -> (worker,) or (worker, payload)
        self._active = [True] * n
        self._worker_tasks = [0] * n
        self._cycle = itertools.cycle(range(n))
        if not first:
            for q in self._index_queues:
                q.put(ResumeIteration())
            waiting = n
            while waiting:
                _, _, payload = self._get()
                if isinstance(payload, ResumeIteration):
                    waiting -= 1
                else:  # a result of the last epoch, cut short: drop it (and its shared block)
                    shm.discard(payload)
        for _ in range(self._prefetch * n):
            self._put_task()

    def _put_task(self) -> None:
        """Send the next task to a worker: the next in turn (in order), else the least busy one."""
        active = [w for w in range(self._num_workers) if self._active[w]]
        if not active:
            return
        worker = -1
        if self._in_order:
            while not self._active[worker := next(self._cycle)]:
                pass
        else:
            share = -(-self._prefetch * self._num_workers // len(active))
            for _ in range(self._num_workers):
                w = next(self._cycle)
                if self._active[w] and self._worker_tasks[w] < share:
                    worker = w
                    break
            else:
                worker = min(active, key=self._worker_tasks.__getitem__)
        try:
            index = next(self._source)
        except StopIteration:
            return
        self._index_queues[worker].put((self._send_idx, index))
        self._tasks[self._send_idx] = (worker,)
        self._worker_tasks[worker] += 1
        self._send_idx += 1

    # ---------------------------------------------------------------- batches
    def __iter__(self) -> _WorkerIterator:
        return self

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError("DataLoader: this IterableDataset has no __len__, so the loader has no length")
        return self._length

    def __next__(self) -> Any:
        if self.closed:
            raise StopIteration
        try:
            return self._next_batch()
        except KeyboardInterrupt:
            self.shutdown()
            raise

    def _next_batch(self) -> Any:
        while True:
            # skip tasks that will never be answered (their worker's stream ended)
            while self._rcvd_idx < self._send_idx:
                info = self._tasks.get(self._rcvd_idx)
                if info is not None and (len(info) == 2 or self._active[info[0]]):
                    break
                self._tasks.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self.shutdown()
                raise StopIteration
            info = self._tasks[self._rcvd_idx]
            if len(info) == 2:  # arrived earlier, out of turn
                del self._tasks[self._rcvd_idx]
                self._rcvd_idx += 1
                return self._process(info[1])
            idx, worker, payload = self._get()
            if idx is None:  # an acknowledgement from an earlier reset cannot come here; ignore it
                continue
            self._worker_tasks[worker] -= 1
            if isinstance(payload, IterableEnd):
                self._active[worker] = False
                self._tasks.pop(idx, None)
                self._put_task()
                continue
            if idx == self._rcvd_idx:
                del self._tasks[idx]
                self._rcvd_idx += 1
                return self._process(payload)
            if not self._in_order:
                del self._tasks[idx]
                return self._process(payload)
            self._tasks[idx] += (payload,)

    def _process(self, payload: Any) -> Any:
        self._put_task()
        if isinstance(payload, WorkerFailure):
            payload.reraise()
        try:
            return shm.unpack(payload)
        except FileNotFoundError:  # its worker was killed and took its blocks along: say so
            self._check_workers()
            raise

    def _get(self) -> tuple[int | None, int, Any]:
        """The next result from any worker; checks that they live while waiting, and the timeout."""
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = (
                STATUS_INTERVAL
                if deadline is None
                else max(0.0, min(STATUS_INTERVAL, deadline - time.monotonic()))
            )
            try:
                idx, worker, data = self._results.get(timeout=wait)
            except queue.Empty:
                self._check_workers()
                if deadline is not None and time.monotonic() >= deadline:
                    waiting = self._tasks.get(self._rcvd_idx, (None,))[0]
                    raise RuntimeError(
                        f"DataLoader timed out after {self._timeout:g} seconds waiting for batch "
                        f"{self._rcvd_idx} of the epoch (from worker {waiting})"
                    ) from None
                continue
            # bytes this iterator's own worker pickled (worker._send) and sent through the queue it
            # made: the objects its dataset returned, as multiprocessing carries them; never a file
            return idx, worker, pickle.loads(data)

    def _check_workers(self) -> None:
        for wid, w in enumerate(self._workers):
            if not w.is_alive():
                reason = _exit_reason(w.exitcode)
                pid = w.pid
                self.shutdown()
                raise RuntimeError(f"DataLoader worker {wid} (pid {pid}) exited unexpectedly {reason}")

    # ---------------------------------------------------------------- the end
    def shutdown(self) -> None:
        """Stop the workers (politely, then by force), close the queues, remove leftover shared blocks."""
        if self.closed or os.getpid() != self._owner:
            return
        self.closed = True
        _live_iterators.discard(self)
        try:
            self._done.set()
            for q in self._index_queues:
                try:
                    q.put(None)
                except (OSError, ValueError):
                    pass
            deadline = time.monotonic() + 1.0
            for w in self._workers:
                w.join(timeout=max(0.0, deadline - time.monotonic()))
            for w in self._workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=1.0)
                if w.is_alive():
                    w.kill()
                    w.join()
            for q in self._index_queues:
                q.close()
            self._results.cancel_join_thread()
            self._results.close()
        finally:
            shm.remove_blocks(self._prefix + "-")

    def __del__(self) -> None:
        try:
            self.shutdown()
        except Exception:  # at interpreter exit modules may already be gone
            pass
