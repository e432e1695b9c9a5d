"""DataLoader worker processes: what runs inside each one, and what it sends back.

A worker is started by the loader's iterator (``num_workers > 0``). It sets
itself up as PyTorch's workers do (one compute thread, its generators seeded
from the loader's base seed plus its id, :func:`get_worker_info` answering,
``worker_init_fn`` called), then takes tasks from its own index queue: each
task is one whole batch (its dataset indices, or for an
:class:`~chainrule.data.IterableDataset` the number of samples to take from
the worker's own copy of the stream). It fetches the batch with the same
fetcher as the main process, packs it (large arrays into shared memory, see
:mod:`chainrule.data.shm`) and puts it on the shared result queue.

An exception in a worker does not end it: it travels back as a
:class:`WorkerFailure` (the worker id, which batch or dataset index, and the
original traceback text), which the main process raises. The worker watches
its parent: if the main process dies, the worker removes its shared blocks
and exits.
"""

from __future__ import annotations

import os
import pickle
import queue
import random
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from chainrule import random as _random
from chainrule import runtime
from chainrule.data import shm
from chainrule.data.dataset import IterableDataset
from chainrule.data.fetch import make_fetcher

__all__ = [
    "IterableEnd",
    "ResumeIteration",
    "STATUS_INTERVAL",
    "WorkerFailure",
    "WorkerInfo",
    "WorkerSpec",
    "get_worker_info",
    "seed_worker",
    "worker_loop",
]

# Seconds between liveness checks while waiting: the main process on its workers,
# each worker on the main process. A dead worker is reported within this time.
STATUS_INTERVAL = 0.2


@dataclass(frozen=True)
class WorkerInfo:
    """What :func:`get_worker_info` tells code running in a worker, as in PyTorch.

    ``id`` is the worker's number (0 to ``num_workers - 1``), ``seed`` the seed
    of its generators (the loader's base seed plus ``id``), ``dataset`` the
    worker's own copy of the dataset (an IterableDataset shards itself with
    ``id`` and ``num_workers``).
    """

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker, its :class:`WorkerInfo`; in the main process, None (as PyTorch)."""
    return _worker_info


@dataclass
class WorkerSpec:
    """What every worker of one iterator needs (pickled once per worker under ``spawn``)."""

    dataset: Any
    auto_collation: bool
    collate_fn: Callable[[Any], Any]
    drop_last: bool
    transform: Callable[[Any], Any] | None
    worker_init_fn: Callable[[int], Any] | None
    num_workers: int
    base_seed: int
    block_prefix: str
    min_shared_bytes: int
    # the main process and how it starts workers: a fork or spawn child whose parent is already
    # another process was orphaned before it could look (the main one died while it started)
    main_pid: int = 0
    start_method: str = ""


class ResumeIteration:
    """Sent to persistent workers at a new epoch: start the dataset (stream) afresh, and acknowledge."""

    def __reduce__(self) -> tuple[Any, ...]:
        return ResumeIteration, ()


class IterableEnd:
    """A worker's copy of an IterableDataset is exhausted: send it no more tasks this epoch."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id

    def __reduce__(self) -> tuple[Any, ...]:
        return IterableEnd, (self.worker_id,)


class _Message(str):
    """An error message whose repr is itself, so a KeyError built from it prints readably (as PyTorch)."""

    def __repr__(self) -> str:
        return str(self)


def _found_by_name(cls: type) -> bool:
    """Whether ``cls`` is what its module and qualified name lead to (how pickle sends a class)."""
    obj: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        obj = getattr(obj, part, None)
    return obj is cls


class WorkerFailure:
    """An exception raised in a worker, carried to the main process as its type and traceback text.

    The exception object itself may not pickle (or not import in the main
    process); its class travels when it can, so ``except ValueError`` still
    catches a ValueError from a worker.
    """

    def __init__(self, worker_id: int, context: str, exc: BaseException) -> None:
        self.worker_id = worker_id
        self.context = context
        self.type_name = type(exc).__qualname__
        self.traceback = "".join(traceback.format_exception(exc))
        # a class travels by module and name; one defined in a function has none: say its name only
        self.exc_type: type[BaseException] | None = type(exc) if _found_by_name(type(exc)) else None

    def message(self) -> str:
        return (
            f"DataLoader worker {self.worker_id} raised {self.type_name} {self.context}.\n"
            f"Original traceback (most recent call last) in the worker:\n{self.traceback}"
        )

    def reraise(self) -> NoReturn:
        """Raise in the main process: the original type where it takes one message, else RuntimeError."""
        msg = self.message()
        exc: BaseException | None = None
        if self.exc_type is not None:
            try:
                exc = self.exc_type(_Message(msg) if issubclass(self.exc_type, KeyError) else msg)
            except Exception:
                exc = None
        if exc is None:
            exc = RuntimeError(msg)
        try:
            raise exc
        finally:
            exc = None  # no cycle through this frame: the iterator is freed as soon as the error is


def seed_worker(seed: int, worker_id: int) -> None:
    """Seed chainrule's, NumPy's global and Python's generators for the worker ``worker_id``."""
    _random.manual_seed(seed)
    random.seed(seed)
    np.random.seed(np.random.SeedSequence([seed, worker_id]).generate_state(4))


def _where(task_index: int, indices: Any, fetcher: Any, iterable: bool) -> str:
    """Which batch (and which dataset index, where known) a worker was fetching: for error messages."""
    if iterable:
        return f"while fetching batch {task_index} from its copy of the IterableDataset"
    if isinstance(indices, np.ndarray):
        indices = indices.tolist()
    batch = f"batch {task_index} of the epoch, dataset indices {indices}"
    if fetcher.current is not None:
        return f"while fetching dataset index {fetcher.current} ({batch})"
    return f"while fetching {batch}"


def _send(results: Any, task_index: int | None, worker_id: int, payload: Any) -> None:
    """Pickle here, not in the queue's feeder thread: a batch that cannot pickle is an error, not a hang."""
    try:
        data = pickle.dumps(payload, pickle.HIGHEST_PROTOCOL)
    except Exception as e:
        shm.discard(payload)
        what = f"batch {task_index}" if task_index is not None else "a message"
        data = pickle.dumps(WorkerFailure(worker_id, f"while sending {what} (it does not pickle)", e))
    results.put((task_index, worker_id, data))


def worker_loop(
    spec: WorkerSpec,
    worker_id: int,
    index_queue: Any,
    results: Any,
    done_event: Any,
) -> None:
    """The body of a worker process: set up, then fetch batches until told to stop (None) or orphaned."""
    global _worker_info
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the main process, which stops us
    except (ValueError, OSError):
        pass
    # the process that started us: the main one (fork, spawn) or its fork server, which ends with it;
    # once it is gone we are re-parented, and nobody is left to read our batches
    parent = os.getppid()
    born_orphaned = spec.start_method in ("fork", "spawn") and spec.main_pid not in (0, parent)
    runtime.set_num_threads(1)
    seed = spec.base_seed + worker_id
    seed_worker(seed, worker_id)
    _worker_info = WorkerInfo(id=worker_id, num_workers=spec.num_workers, seed=seed, dataset=spec.dataset)
    iterable = isinstance(spec.dataset, IterableDataset)

    def new_fetcher() -> Any:
        return make_fetcher(
            spec.dataset, spec.auto_collation, spec.collate_fn, spec.drop_last, spec.transform
        )

    # a failure to start is the answer to every task, until a new epoch's start succeeds
    failure: WorkerFailure | None = None
    fetcher: Any = None
    initialised = False
    try:
        if spec.worker_init_fn is not None:
            spec.worker_init_fn(worker_id)
        initialised = True
        fetcher = new_fetcher()
    except Exception as e:
        step = "opening its dataset" if initialised else "in worker_init_fn"
        failure = WorkerFailure(worker_id, f"while starting, {step}", e)

    blocks = f"{spec.block_prefix}-w{worker_id}-"

    def terminated(signum: int, frame: Any) -> None:
        # killed politely (the main process's shutdown, or a whole process group): take our unread
        # blocks along, since the main process may be going down with us, then die of the signal
        shm.remove_blocks(blocks)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if signum is not None:
            signal.signal(signum, terminated)
    count = 0
    ended = False
    orphaned = False
    while True:
        if born_orphaned or os.getppid() != parent:
            orphaned = True
            break
        try:
            task = index_queue.get(timeout=STATUS_INTERVAL)
        except queue.Empty:
            if done_event.is_set():  # the None may never come (its queue collected with the iterator)
                break
            continue
        if task is None:
            break
        if isinstance(task, ResumeIteration):
            ended = False
            if initialised:
                try:
                    fetcher, failure = new_fetcher(), None
                except Exception as e:
                    failure = WorkerFailure(worker_id, "while restarting its dataset for a new epoch", e)
            _send(results, None, worker_id, task)
            continue
        if done_event.is_set() or ended:
            continue  # shutting down, or this worker's stream is exhausted: skip until None comes
        task_index, indices = task
        payload: Any
        if failure is not None:
            payload = failure
        else:
            try:
                batch = fetcher(indices)
                count += 1
                payload = shm.pack(batch, f"{blocks}{count}", spec.min_shared_bytes)
                del batch
            except StopIteration:
                if not iterable:
                    payload = WorkerFailure(
                        worker_id, _where(task_index, indices, fetcher, iterable), StopIteration()
                    )
                else:
                    payload, ended = IterableEnd(worker_id), True
            except Exception as e:
                payload = WorkerFailure(worker_id, _where(task_index, indices, fetcher, iterable), e)
        _send(results, task_index, worker_id, payload)
        del payload
    if orphaned:
        shm.remove_blocks(blocks)  # nobody is left to read them
    if done_event.is_set() or orphaned:
        results.cancel_join_thread()  # do not wait to flush into a pipe nobody reads
    results.close()
