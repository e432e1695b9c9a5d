"""The compiled max pool (numba) against the NumPy kernel it replaces, on random window geometries.

PyTorch checks the default path in tests/ops/test_ops_pool*.py; here the two
paths meet each other: the forward without a graph, the forward of 2x2
windows of stride 2 that records the winning offset, and the backward
(compiled for float32 and float64).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import chainrule as cr
from chainrule import runtime
from helpers import count_calls

pytestmark = pytest.mark.usefixtures("restore_runtime")


def _geometries(n: int):
    rng = np.random.default_rng(7)
    for _ in range(n):
        k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        p = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
        size = (int(rng.integers(d[0] * (k[0] - 1) + 1, 12)), int(rng.integers(d[1] * (k[1] - 1) + 1, 12)))
        yield k, s, p, d, bool(rng.integers(0, 2)), size


def _pool(compiled_on: bool, x0: np.ndarray, g0: np.ndarray | None, k, s, p, d, ceil_mode):
    runtime.set_compiled_kernels(compiled_on)
    x = cr.tensor(x0, requires_grad=g0 is not None)
    if g0 is None:
        with cr.no_grad():
            return cr.nn.functional.max_pool2d(x, k, s, p, d, ceil_mode).numpy(), None
    y = cr.nn.functional.max_pool2d(x, k, s, p, d, ceil_mode)
    y.backward(cr.tensor(g0[tuple(slice(0, n) for n in y.shape)]))
    return y.numpy(), x.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("grad", [False, True])
def test_compiled_max_pool_matches_numpy(dtype, grad):
    rng = np.random.default_rng(3)
    for k, s, p, d, ceil_mode, size in _geometries(40):
        x0 = rng.standard_normal((2, 3, *size)).astype(dtype)
        x0[0, 1, 0, 0] = np.nan  # a window holding NaN gives NaN on both paths
        x0[1, 0] = np.round(x0[1, 0])  # ties: the first maximum in row-major window order wins
        g0 = rng.standard_normal((2, 3, 16, 16)).astype(dtype) if grad else None
        ours = _pool(True, x0, g0, k, s, p, d, ceil_mode)
        numpy_kernel = _pool(False, x0, g0, k, s, p, d, ceil_mode)
        np.testing.assert_array_equal(ours[0], numpy_kernel[0])
        if grad:
            np.testing.assert_allclose(ours[1], numpy_kernel[1], rtol=1e-6, atol=1e-6)


def test_compiled_max_pool_splits_over_threads_like_one():
    x0 = np.random.default_rng(4).standard_normal((16, 32, 30, 30)).astype(np.float32)
    g0 = np.random.default_rng(5).standard_normal((16, 32, 16, 16)).astype(np.float32)
    results = []
    for threads in (1, 2):  # (restore_runtime puts the thread count back)
        cr.set_num_threads(threads)
        results.append(_pool(True, x0, None, 3, 2, 1, 1, False)[0])
        results.append(_pool(True, x0, g0, 3, 2, 1, 1, False)[1])
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_2x2_pool_with_indices_matches_numpy_and_torch(dtype, monkeypatch):
    import torch

    from chainrule.ops import compiled_pool

    calls = count_calls(monkeypatch, compiled_pool, "max_pool_2x2_index_planes")
    rng = np.random.default_rng(11)
    for case in range(12):
        size = (int(rng.integers(2, 15)), int(rng.integers(2, 15)))
        padding, ceil_mode, threads = case % 2, bool(case % 3 == 0), 1 + case % 2
        x0 = rng.standard_normal((int(rng.integers(1, 5)), 3, *size)).astype(dtype)
        x0[:, 1] = np.round(x0[:, 1])  # ties: the first maximum in row-major window order wins
        g0 = rng.standard_normal((8, 3, 16, 16)).astype(dtype)
        cr.set_num_threads(threads)
        calls.clear()
        ours = _pool(True, x0, g0, 2, 2, padding, 1, ceil_mode)
        assert calls
        numpy_kernel = _pool(False, x0, g0, 2, 2, padding, 1, ceil_mode)
        np.testing.assert_array_equal(ours[0], numpy_kernel[0])
        np.testing.assert_array_equal(ours[1], numpy_kernel[1])
        runtime.set_compiled_kernels(True)
        _, idx = cr.nn.functional.max_pool2d(cr.tensor(x0), 2, 2, padding, 1, ceil_mode, return_indices=True)
        _, idx_torch = torch.nn.functional.max_pool2d(torch.tensor(x0), 2, 2, padding, 1, ceil_mode, True)
        np.testing.assert_array_equal(idx.numpy(), idx_torch.numpy())
    x0 = rng.standard_normal((2, 2, 6, 6)).astype(dtype)
    x0[0, 0, 0, 1] = x0[1, 1, 3, 3] = np.nan  # a window holding NaN gives NaN on both paths
    g0 = rng.standard_normal((2, 2, 3, 3)).astype(dtype)
    ours, numpy_kernel = _pool(True, x0, g0, 2, 2, 0, 1, False), _pool(False, x0, g0, 2, 2, 0, 1, False)
    assert np.isnan(ours[0][0, 0, 0, 0]) and np.isnan(ours[0][1, 1, 1, 1])
    np.testing.assert_array_equal(ours[0], numpy_kernel[0])
    np.testing.assert_array_equal(ours[1], numpy_kernel[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_2x2_tiled_backward_matches_numpy(dtype, monkeypatch):
    from chainrule.ops import compiled_pool

    calls = count_calls(monkeypatch, compiled_pool, "max_pool_2x2_backward_planes")
    rng = np.random.default_rng(12)
    # (8, 16, 96, 96) writes 1.2 M gradient pixels: split in two at 2 threads
    for shape, threads in (((2, 3, 6, 10), 1), ((8, 16, 96, 96), 1), ((8, 16, 96, 96), 2)):
        x0 = rng.standard_normal(shape).astype(dtype)
        x0[0, 0, :2, :2] = np.round(x0[0, 0, :2, :2])
        g0 = rng.standard_normal((shape[0], shape[1], shape[2] // 2, shape[3] // 2)).astype(dtype)
        g0[0, 1, 0, :3] = [np.nan, np.inf, -0.0]  # reach the picked pixel only; the others get +0
        cr.set_num_threads(threads)
        calls.clear()
        ours = _pool(True, x0, g0, 2, 2, 0, 1, False)[1]
        assert len(calls) == (2 if shape[2] == 96 and threads == 2 else 1)
        numpy_kernel = _pool(False, x0, g0, 2, 2, 0, 1, False)[1]
        np.testing.assert_array_equal(ours, numpy_kernel)
        assert np.array_equal(np.signbit(ours), np.signbit(numpy_kernel))
