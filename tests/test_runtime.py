"""The runtime: thread count, the thread pool and the scratch pool."""

from __future__ import annotations

import itertools
import os
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import runtime


@pytest.fixture
def threads():
    before = cr.get_num_threads()
    yield
    cr.set_num_threads(before)


def test_set_num_threads_round_trip(threads):
    cr.set_num_threads(1)
    assert cr.get_num_threads() == 1
    cr.set_num_threads(3)
    assert cr.get_num_threads() == 3


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_refuses(bad, threads):
    with pytest.raises(ValueError, match="positive int"):
        cr.set_num_threads(bad)


def test_set_num_threads_reaches_blas(threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    cr.set_num_threads(1)
    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert blas and all(i["num_threads"] == 1 for i in blas)
    cr.set_num_threads(2)
    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert all(i["num_threads"] == 2 for i in blas)


def test_serial_blas_restores(threads):
    found = runtime.openblas_threads()
    if found is None:
        pytest.skip("NumPy's BLAS is not a bundled OpenBLAS: serial_blas leaves threading alone")
    get = found[1]
    cr.set_num_threads(2)
    with runtime.serial_blas(10):
        assert get() == 1
    assert get() == 2
    with pytest.raises(RuntimeError), runtime.serial_blas(10):
        raise RuntimeError
    assert get() == 2
    with runtime.serial_blas(runtime.SERIAL_MNK + 1):  # large GEMMs keep their threads
        assert get() == 2


_SPIN_CHECK = """
import os, numpy as np
import chainrule as cr
from chainrule import runtime
print(os.environ.get("OPENBLAS_THREAD_TIMEOUT"), runtime._numpy_openblas() is not None)
cr.set_num_threads(2)
a = np.random.default_rng(0).standard_normal((300, 300))
assert np.allclose(a @ a, np.einsum("ij,jk->ik", a, a))  # the restarted BLAS threads compute right
"""


@pytest.mark.parametrize("preset", [None, "22"])
def test_blas_threads_spin_briefly_unless_the_user_said(preset):
    """Importing chainrule shortens OpenBLAS's idle spin (keeping a user's own setting), GEMMs unharmed."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if preset is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = preset
    run = subprocess.run([sys.executable, "-c", _SPIN_CHECK], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    value, bundled = run.stdout.split()
    if bundled == "False":
        pytest.skip("NumPy's BLAS is not a bundled OpenBLAS: its threads are left alone")
    assert value == (preset or str(runtime.BLAS_SPIN_LOG2_CYCLES))


def test_parallel_for_runs_every_task_in_order(threads):
    cr.set_num_threads(4)
    seen = []

    def task(a, b):
        seen.append(threading.get_ident())
        return a * b

    out = runtime.parallel_for(task, [(i, 2) for i in range(9)])
    assert out == [2 * i for i in range(9)]
    assert len(seen) == 9


def test_parallel_for_raises_after_all_finish(threads):
    cr.set_num_threads(2)
    done = []

    def task(i):
        if i == 0:
            raise KeyError("first")
        done.append(i)

    with pytest.raises(KeyError, match="first"):
        runtime.parallel_for(task, [(i,) for i in range(4)])
    assert sorted(done) == [1, 2, 3]


def test_nested_parallel_for_runs_serially(threads):
    cr.set_num_threads(2)

    def outer(i):
        return sum(runtime.parallel_for(lambda j: i * j, [(j,) for j in range(3)]))

    assert runtime.parallel_for(outer, [(i,) for i in range(4)]) == [3 * i for i in range(4)]


def test_map_rows_equals_serial(threads):
    cr.set_num_threads(2)
    x = np.random.default_rng(0).standard_normal((1000, 300)).astype(np.float32)
    out = np.empty_like(x)

    def rows(a, b):
        np.tanh(x[a:b], out=out[a:b])

    runtime.map_rows(rows, x.shape[0], x.shape[1])
    np.testing.assert_array_equal(out, np.tanh(x))


@pytest.mark.parametrize("n,parts", [(0, 3), (1, 4), (10, 3), (7, 7), (100, 1)])
def test_chunk_bounds_cover(n, parts):
    b = runtime.chunk_bounds(n, parts)
    assert b[0][0] == 0 and b[-1][1] == n
    assert all(x[1] == y[0] for x, y in itertools.pairwise(b))
    sizes = [hi - lo for lo, hi in b]
    assert max(sizes) - min(sizes) <= 1


def test_worth_splitting_threshold(threads):
    cr.set_num_threads(2)
    assert runtime.worth_splitting(10) == 1
    assert runtime.worth_splitting(10**7) == 2
    cr.set_num_threads(1)
    assert runtime.worth_splitting(10**7) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_survives_fork(threads):
    cr.set_num_threads(2)
    runtime.parallel_for(lambda i: i, [(0,), (1,)])  # the parent's pool exists
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a fresh pool must start and work
        try:
            ok = runtime.parallel_for(lambda i: i + 1, [(i,) for i in range(4)]) == [1, 2, 3, 4]
            os.write(w, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 1)
    os.waitpid(pid, 0)
    assert got == b"1"


def test_shutdown_then_restart(threads):
    cr.set_num_threads(2)
    runtime.parallel_for(lambda i: i, [(0,), (1,)])
    runtime.shutdown()
    assert runtime.parallel_for(lambda i: i * 3, [(1,), (2,)]) == [3, 6]


def test_scratch_reuses_and_keeps_sizes_apart():
    s = runtime.Scratch(min_bytes=1024)
    a = s.take((64, 64), np.float32)
    a_id = a.__array_interface__["data"][0]
    s.give(a)
    b = s.take((32, 128), np.float32)  # same bytes, other shape: the same memory
    assert b.__array_interface__["data"][0] == a_id and b.shape == (32, 128)
    c = s.take((64, 64), np.float32)  # b is live: a fresh buffer
    assert c.__array_interface__["data"][0] != a_id
    z = s.take((10, 100), np.float64, zero=True)
    assert not z.any()


def test_scratch_owned_and_limit():
    s = runtime.Scratch(limit=1 << 20, min_bytes=1024)
    owner: list = []
    for _ in range(3):
        s.take_owned(owner, (256, 256), np.float32)  # 256 KiB each
    s.give_all(owner)
    assert owner == [] and s.pooled <= 1 << 20


def test_scratch_output_reused_only_when_released():
    s = runtime.Scratch(min_bytes=1024)
    a = s.take_output((100, 100), np.float32)
    b = s.take_output((100, 100), np.float32)
    assert a is not b  # a is still held
    a_id = id(a)
    del a
    c = s.take_output((100, 100), np.float32)
    assert id(c) == a_id


def test_device_arrays_skip_the_pool_and_the_scratch_buffers(threads):
    """The thread pool and the scratch pool are for NumPy arrays: a device array (here the strict
    stand-in) is never split, pooled or mixed with a NumPy buffer, even by a caller that forgets."""
    import strict_array

    strict_array.register()
    cr.set_num_threads(2)
    a = strict_array.strict.zeros((1 << 20,), np.float32)
    assert runtime.worth_splitting(a.size, like=a) == 1
    assert runtime.worth_splitting(a.size, like=np.zeros(1)) == 2
    calls = []
    runtime.map_rows(lambda i, j: calls.append((i, j)), 4, 1 << 20, like=a)
    assert calls == [(0, 4)]
    seen = set()
    runtime.parallel_for(lambda x, k: seen.add(threading.current_thread().name), [(a, 0), (a, 1), (a, 2)])
    assert seen == {threading.current_thread().name}  # serially, on the calling thread
    s = runtime.Scratch()
    buf = s.take((256, 256), np.float32, zero=True, like=a)
    assert type(buf) is strict_array.StrictArray and buf.shape == (256, 256) and not buf.any()
    assert type(s.take_output((256, 256), np.float32, like=a)) is strict_array.StrictArray
    s.give(buf)  # nothing to pool
    assert s.pooled == 0 and not s.free
