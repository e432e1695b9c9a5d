"""DataLoader worker processes: the same batches as num_workers=0, seeds, faults, and nothing left behind.

Every test bounds its waits (the loader's own liveness checks, ``timeout=``),
so a broken worker shows up as a failure, not a hung suite. The datasets are
defined at module level so that ``spawn`` workers can import them. This
module does not import torch: spawned workers import it, and should start fast.
"""

from __future__ import annotations

import gc
import glob
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import chainrule as cr
import chainrule.data as crd
from chainrule import runtime
from chainrule.data import shm
from chainrule.random import Generator


# ------------------------------------------------------------ datasets (module level: spawn imports them)
class Items(crd.Dataset):
    """Sample i is (an array filled with i, i): per-item work, so the general fetch path runs."""

    def __init__(self, n: int, shape: tuple[int, ...] = (4,)) -> None:
        self.n, self.shape = n, shape

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return np.full(self.shape, i, dtype=np.float32), i


class WhoAmI(crd.Dataset):
    """Sample i says which process made it and what its generators draw there."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        info = crd.get_worker_info()
        return {
            "i": i,
            "pid": os.getpid(),
            "worker": -1 if info is None else info.id,
            "seed": -1 if info is None else info.seed,
            "threads": runtime.get_num_threads(),
            "np": np.random.rand(),
            "py": random.random(),
            "cr": float(cr.rand(1).item()),
        }


class Pids(crd.Dataset):
    """Sample i is (i, the pid of the process that read it)."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        return {"i": i, "pid": os.getpid()}


class Faulty(crd.Dataset):
    """Raises on index 7; kills its worker with SIGKILL on index 9; sleeps on index 11."""

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int) -> int:
        if i == 7:
            raise ValueError("sample 7 is corrupt")
        if i == 9:
            os.kill(os.getpid(), signal.SIGKILL)
        if i == 11:
            time.sleep(3)
        return i


class Slow(crd.Dataset):
    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> int:
        time.sleep(0.05)
        return i


class Stream(crd.IterableDataset):
    """``range(n)``, each worker taking its own contiguous share (PyTorch's sharding recipe)."""

    def __init__(self, n: int, shard: bool = True) -> None:
        self.n, self.shard = n, shard

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        info = crd.get_worker_info()
        if info is None or not self.shard:
            return iter(range(self.n))
        per = -(-self.n // info.num_workers)
        return iter(range(info.id * per, min(self.n, (info.id + 1) * per)))


_init_calls: list[int] = []


def record_init(worker_id: int) -> None:
    _init_calls.append(worker_id)


class InitSeen(crd.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> int:
        return _init_calls[-1] if _init_calls else -1


def failing_init(worker_id: int) -> None:
    raise OSError(f"worker {worker_id} cannot open its file")


# ------------------------------------------------------------------ helpers
def batches(loader: crd.DataLoader) -> list:
    return [(x._array.tolist(), y.tolist()) for x, y in loader]


def leftover_blocks() -> list[str]:
    if shm.shm_dir() is None:
        return []
    return glob.glob(os.path.join(shm.shm_dir(), f"chainrule-loader-{os.getpid()}-*"))


def no_workers_left() -> bool:
    return not [p for p in multiprocessing.active_children() if p.name.startswith("chainrule-loader")]


# ------------------------------------------------------------------ same batches as num_workers=0
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_same_batches_as_in_process(shuffle: bool, drop_last: bool) -> None:
    ds = Items(23)
    runs = []
    for workers in (0, 2):
        cr.manual_seed(5)
        loader = crd.DataLoader(ds, batch_size=5, shuffle=shuffle, drop_last=drop_last, num_workers=workers)
        runs.append([batches(loader), batches(loader)])  # two epochs
    assert runs[0] == runs[1]
    assert len(runs[0][0]) == (4 if drop_last else 5)
    assert no_workers_left() and not leftover_blocks()


def test_num_workers_set_after_init_starts_workers() -> None:
    # PyTorch lets num_workers change after __init__ (it is not baked into a sampler); the start
    # method is then picked at the first epoch with workers
    loader = crd.DataLoader(Items(7), batch_size=3)
    expected = batches(loader)
    loader.num_workers = 2
    assert batches(loader) == expected
    assert no_workers_left() and not leftover_blocks()


def test_large_batches_travel_through_shared_memory() -> None:
    # 32 samples of 3x48x48 float32 = 864 KiB a batch: above MIN_SHARED_BYTES, so a mapped block
    ds = Items(70, (3, 48, 48))
    cr.manual_seed(1)
    expected = batches(crd.DataLoader(ds, batch_size=32, shuffle=True))
    cr.manual_seed(1)
    loader = crd.DataLoader(ds, batch_size=32, shuffle=True, num_workers=2)
    got = []
    for x, y in loader:
        base = x._array
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        if x._array.nbytes >= shm.MIN_SHARED_BYTES:  # a view of the shared block, not a copy
            assert type(base.obj).__name__ == "mmap"
        else:  # the short last batch (6 samples) is pickled
            assert type(base.obj).__name__ == "bytearray"
        assert x._array.flags.writeable
        got.append((x._array.tolist(), y.tolist()))
    assert got == expected
    assert not leftover_blocks()


def test_tensor_dataset_transform_and_unbatched() -> None:
    x = cr.tensor(np.arange(60, dtype=np.float32).reshape(20, 3))
    y = cr.tensor(np.arange(20))
    ds = crd.TensorDataset(x, y)

    def double(t: cr.Tensor) -> cr.Tensor:
        return t * 2

    for kwargs in ({"batch_size": 6, "shuffle": True, "transform": double}, {"batch_size": None}):
        runs = []
        for workers in (0, 3):
            cr.manual_seed(2)
            loader = crd.DataLoader(ds, num_workers=workers, **kwargs)
            runs.append([(a._array.tolist(), b.tolist()) for a, b in loader])
        assert runs[0] == runs[1]


def test_iterable_dataset_sharded_and_interleaved() -> None:
    ds = Stream(14)
    flat = list(range(14))
    in_process = [y.tolist() for y in crd.DataLoader(ds, batch_size=3)]
    assert in_process == [flat[i : i + 3] for i in range(0, 14, 3)]
    # two workers, 7 samples each; their batches come round-robin, as PyTorch interleaves them
    loader = crd.DataLoader(ds, batch_size=3, num_workers=2)
    got = [y.tolist() for y in loader]
    assert got == [[0, 1, 2], [7, 8, 9], [3, 4, 5], [10, 11, 12], [6], [13]]
    assert sorted(i for b in got for i in b) == flat
    # drop_last drops each worker's own short last batch; unsharded, every worker yields everything
    assert [y.tolist() for y in crd.DataLoader(ds, batch_size=3, num_workers=2, drop_last=True)] == got[:4]
    twice = list(crd.DataLoader(Stream(5, shard=False), batch_size=None, num_workers=2))
    assert sorted(twice) == sorted(list(range(5)) * 2)
    assert len(crd.DataLoader(ds, batch_size=3)) == 5
    # persistent workers start their copies of the stream afresh each epoch
    persistent = crd.DataLoader(ds, batch_size=3, num_workers=2, persistent_workers=True)
    assert [y.tolist() for y in persistent] == got == [y.tolist() for y in persistent]
    with pytest.raises(ValueError, match="IterableDataset: expected unspecified shuffle"):
        crd.DataLoader(ds, shuffle=True)
    with pytest.raises(TypeError, match="stream without random access"):
        ds[0]


def test_in_order_false_gives_the_same_multiset() -> None:
    ds = Items(40)
    cr.manual_seed(3)
    expected = batches(crd.DataLoader(ds, batch_size=4, shuffle=True))
    cr.manual_seed(3)
    got = batches(crd.DataLoader(ds, batch_size=4, shuffle=True, num_workers=3, in_order=False))
    assert sorted(map(str, got)) == sorted(map(str, expected))


# ------------------------------------------------------------------ randomness and set-up
def _draws(seed: int | None = None, generator: Generator | None = None) -> list[dict]:
    if seed is not None:
        cr.manual_seed(seed)
    loader = crd.DataLoader(WhoAmI(), batch_size=None, num_workers=2, generator=generator)
    return [{k: v.item() if isinstance(v, cr.Tensor) else v for k, v in s.items()} for s in loader]


def test_worker_seeds_distinct_and_reproducible() -> None:
    first = _draws(seed=7)
    by_worker = {s["worker"]: s for s in first}
    assert set(by_worker) == {0, 1}
    base = by_worker[0]["seed"]
    assert by_worker[1]["seed"] == base + 1
    for key in ("np", "py", "cr"):  # augmentation differs between workers ...
        assert by_worker[0][key] != by_worker[1][key]
    assert all(s["threads"] == 1 for s in first)  # one compute thread in each worker, as PyTorch
    assert {s["pid"] for s in first}.isdisjoint({os.getpid()})
    strip = [{k: v for k, v in s.items() if k != "pid"} for s in first]
    assert [{k: v for k, v in s.items() if k != "pid"} for s in _draws(seed=7)] == strip  # ... repeats
    assert _draws(seed=8)[0]["seed"] != base
    # an explicit generator fixes the base seed whatever the global one
    a = _draws(seed=1, generator=Generator(42))[0]["seed"]
    assert _draws(seed=2, generator=Generator(42))[0]["seed"] == a
    assert crd.get_worker_info() is None  # in the main process


def test_worker_init_fn_and_its_failure() -> None:
    _init_calls.clear()
    loader = crd.DataLoader(InitSeen(), batch_size=None, num_workers=2, worker_init_fn=record_init)
    seen = [int(v) for v in loader]
    assert sorted(set(seen)) == [0, 1] and _init_calls == []  # it ran in the workers, not here
    loader = crd.DataLoader(InitSeen(), batch_size=1, num_workers=2, worker_init_fn=failing_init)
    it = iter(loader)
    for worker in (0, 1, 0):  # every batch says why, not only the first
        with pytest.raises(
            OSError, match=rf"worker {worker} raised OSError while starting, in worker_init_fn"
        ):
            next(it)
    with pytest.raises(OSError, match=r"Original traceback(.|\n)*worker 0 cannot open its file"):
        list(loader)


# ------------------------------------------------------------------ faults
def test_exception_in_worker_names_worker_and_index() -> None:
    loader = crd.DataLoader(Faulty(), batch_size=2, sampler=range(8), num_workers=2, timeout=20)
    it = iter(loader)
    assert [next(it).tolist() for _ in range(3)] == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ValueError) as info:
        next(it)
    message = str(info.value)
    assert "DataLoader worker 1 raised ValueError while fetching dataset index 7" in message
    assert "batch 3 of the epoch, dataset indices [6, 7]" in message
    assert "Original traceback" in message and "sample 7 is corrupt" in message
    assert "in __getitem__" in message  # the worker's own frames
    del it, info  # the traceback holds the iterator's frames
    gc.collect()
    assert no_workers_left() and not leftover_blocks()


def test_killed_worker_is_an_error_not_a_hang() -> None:
    # the message proves the death was seen: the 20 s timeout would say "timed out" (no clock is
    # asserted, which a loaded machine would make flaky)
    loader = crd.DataLoader(Faulty(), batch_size=1, sampler=[0, 1, 9, 2], num_workers=2, timeout=20)
    dead = r"DataLoader worker 0 \(pid \d+\) exited unexpectedly with signal SIGKILL"
    with pytest.raises(RuntimeError, match=dead):
        list(loader)
    assert no_workers_left() and not leftover_blocks()


def test_timeout_is_a_clear_error() -> None:
    loader = crd.DataLoader(Faulty(), batch_size=1, sampler=[10, 11], num_workers=1, timeout=0.5)
    it = iter(loader)
    assert next(it).tolist() == [10]
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.5 seconds waiting for batch 1"):
        next(it)
    del it
    gc.collect()
    assert no_workers_left()


def test_unpicklable_batch_is_an_error_not_a_hang() -> None:
    loader = crd.DataLoader(Items(4), batch_size=2, num_workers=1, collate_fn=lambda s: lambda: s, timeout=20)
    with pytest.raises(Exception, match=r"DataLoader worker 0 raised .* while sending batch 0"):
        next(iter(loader))


# ------------------------------------------------------------------ lifetimes
def test_workers_end_when_iterator_or_loader_goes() -> None:
    loader = crd.DataLoader(Items(400, (3, 48, 48)), batch_size=32, num_workers=2)
    it = iter(loader)
    next(it)  # batches in flight, some in shared blocks not yet read
    pids = [w.pid for w in it._workers]
    assert all(_alive(p) for p in pids)
    del it
    gc.collect()
    assert no_workers_left() and not any(_alive(p) for p in pids)
    assert not leftover_blocks()
    # an epoch run to the end stops its workers too
    batches(crd.DataLoader(Items(10), batch_size=4, num_workers=2))
    assert no_workers_left()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_stops_the_workers() -> None:
    loader = crd.DataLoader(Slow(), batch_size=16, num_workers=2)
    # a shell starts background jobs with SIGINT ignored, and Python then never raises
    # KeyboardInterrupt: put Python's own handler in place, as in an interactive session
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in loader:
                pass
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    gc.collect()
    assert no_workers_left() and not leftover_blocks()


_LEAVE = """
import os, signal, sys
sys.path[:0] = [{src!r}, {tests!r}]
import chainrule.data as crd
from test_data_workers import Items
loader = crd.DataLoader(Items(400, (3, 48, 48)), batch_size=32, num_workers=2, persistent_workers=True)
it = iter(loader)
next(it)  # batches in flight, some in shared blocks
print(os.getpid(), *(w.pid for w in it._workers), flush=True)
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_workers_end_with_the_main_process(how: str) -> None:
    # at interpreter exit the loader stops its workers; if the main process is killed, they notice
    # within a status interval, remove their shared blocks and exit
    src = os.path.dirname(os.path.dirname(os.path.dirname(crd.__file__)))
    script = _LEAVE.format(src=src, tests=os.path.dirname(__file__))
    # wait for the main process itself, not for the end of its output: the workers share its pipes
    proc = subprocess.Popen(
        [sys.executable, "-c", script, how], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        main_pid, *pids = map(int, proc.stdout.readline().split())
        returncode = proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)
        stderr = proc.stderr.read()
    finally:
        proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    assert returncode == (-signal.SIGKILL if how == "kill" else 0), stderr
    assert "Traceback" not in stderr and "leaked" not in stderr
    if shm.shm_dir() is not None:
        assert not glob.glob(os.path.join(shm.shm_dir(), f"chainrule-loader-{main_pid}-*"))


def test_persistent_workers_are_reused_across_epochs() -> None:
    ds = Pids()
    cr.manual_seed(4)
    reference = [[s["i"] for s in crd.DataLoader(ds, batch_size=None, shuffle=True)] for _ in range(3)]
    cr.manual_seed(4)
    loader = crd.DataLoader(ds, batch_size=None, shuffle=True, num_workers=2, persistent_workers=True)
    epochs = [list(loader) for _ in range(3)]
    assert [[s["i"] for s in e] for e in epochs] == reference  # same order as without workers
    pids = [{s["pid"] for s in e} for e in epochs]
    assert len(pids[0]) == 2 and pids[0] == pids[1] == pids[2]
    # a persistent iterator cut short still starts the next epoch cleanly
    it = iter(loader)
    next(it)
    assert [s["i"] for s in loader] and {s["pid"] for s in loader} == pids[0]
    del loader, it
    gc.collect()
    assert no_workers_left() and not any(_alive(p) for p in pids[0])


def test_epoch_cut_short_leaves_no_blocks_behind() -> None:
    # results of the abandoned epoch (in the queue, or held out of turn) are freed when the next starts
    loader = crd.DataLoader(Items(200, (3, 48, 48)), batch_size=32, num_workers=2, persistent_workers=True)
    it = iter(loader)
    next(it)
    time.sleep(0.2)  # let the workers fill their prefetch
    assert len(batches(loader)) == 7
    assert not leftover_blocks()  # while the loader and its workers still live
    del loader, it
    gc.collect()
    assert no_workers_left()


def test_spawn_context() -> None:
    ds = Items(20, (3, 32, 32))
    cr.manual_seed(6)
    expected = batches(crd.DataLoader(ds, batch_size=8, shuffle=True))
    cr.manual_seed(6)
    loader = crd.DataLoader(ds, batch_size=8, shuffle=True, num_workers=2, multiprocessing_context="spawn")
    assert batches(loader) == expected
    assert no_workers_left() and not leftover_blocks()
    local = crd.DataLoader(
        ds, batch_size=8, num_workers=1, multiprocessing_context="spawn", collate_fn=lambda s: s
    )
    with pytest.raises(Exception) as info:
        iter(local)
    assert "define them at module level" in "".join(getattr(info.value, "__notes__", []))
    del info
    assert no_workers_left()


def test_option_checks() -> None:
    ds = Items(4)
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified in multiprocessing"):
        crd.DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        crd.DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="timeout option should be non-negative"):
        crd.DataLoader(ds, num_workers=1, timeout=-1)
    with pytest.raises(ValueError, match="multiprocessing_context 'nope' is not available"):
        crd.DataLoader(ds, num_workers=1, multiprocessing_context="nope")
    with pytest.raises(ValueError, match="prefetch_factor should be a positive integer"):
        crd.DataLoader(ds, num_workers=1, prefetch_factor=0)
    assert crd.DataLoader(ds, num_workers=1).prefetch_factor == 2
