"""Compiled layer norm and eval batch norm (numba) against PyTorch and the NumPy code they replace."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import torch

import chainrule as cr
from chainrule import runtime
from chainrule.ops import compiled_norm
from helpers import count_calls

pytestmark = pytest.mark.usefixtures("restore_runtime")


def _layer_norm(x0, shape, w0, b0, g0, compiled_on=True, threads=1):
    runtime.set_compiled_kernels(compiled_on)
    cr.set_num_threads(threads)
    x = cr.tensor(x0, requires_grad=True)
    w = None if w0 is None else cr.tensor(w0, requires_grad=True)
    b = None if b0 is None else cr.tensor(b0, requires_grad=True)
    y = cr.nn.functional.layer_norm(x, shape, w, b, eps=1e-5)
    y.backward(cr.tensor(g0))
    return [y.numpy(), x.grad.numpy()] + [t.grad.numpy() for t in (w, b) if t is not None]


@pytest.mark.parametrize("case", range(8))
def test_compiled_layer_norm_matches_torch_and_numpy(case, monkeypatch):
    calls = count_calls(monkeypatch, compiled_norm, "layer_norm_rows")
    rng = np.random.default_rng(case)
    lead = tuple(int(v) for v in rng.integers(1, 40, int(rng.integers(1, 3))))
    shape = tuple(int(v) for v in rng.integers(1, 70, 1 + case % 2))
    x0 = (rng.standard_normal((*lead, *shape)) * 3 + 1).astype(np.float32)
    g0 = rng.standard_normal(x0.shape).astype(np.float32)
    w0, b0 = (None, None) if case % 3 == 0 else (rng.standard_normal(shape).astype(np.float32),
                                                  rng.standard_normal(shape).astype(np.float32))
    ours = _layer_norm(x0, shape, w0, b0, g0)
    assert calls
    xt = torch.tensor(x0, requires_grad=True)
    wt = None if w0 is None else torch.tensor(w0, requires_grad=True)
    bt = None if b0 is None else torch.tensor(b0, requires_grad=True)
    yt = torch.nn.functional.layer_norm(xt, shape, wt, bt, eps=1e-5)
    yt.backward(torch.tensor(g0))
    theirs = [yt.detach().numpy(), xt.grad.numpy()] + [t.grad.numpy() for t in (wt, bt) if t is not None]
    numpy_rows = _layer_norm(x0, shape, w0, b0, g0, compiled_on=False)
    for a, t, n in zip(ours, theirs, numpy_rows, strict=True):
        scale = max(1.0, float(np.abs(t).max()))
        np.testing.assert_allclose(a, t, rtol=1e-4, atol=2e-5 * scale)
        np.testing.assert_allclose(a, n, rtol=1e-4, atol=2e-5 * scale)


def test_compiled_layer_norm_over_two_threads_and_nan_rows():
    rng = np.random.default_rng(9)
    x0 = rng.standard_normal((2048, 128)).astype(np.float32)
    x0[5, 7] = np.nan
    g0 = rng.standard_normal(x0.shape).astype(np.float32)
    w0, b0 = rng.standard_normal(128).astype(np.float32), rng.standard_normal(128).astype(np.float32)
    one = _layer_norm(x0, (128,), w0, b0, g0, threads=1)
    two = _layer_norm(x0, (128,), w0, b0, g0, threads=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_allclose(one[2], two[2], rtol=1e-6)  # dw, db: the blocks' float64 sums, added
    assert np.isnan(one[0][5]).all() and np.isfinite(np.delete(one[0], 5, axis=0)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_eval_compiled_affine_matches_numpy_and_torch(dtype, monkeypatch):
    calls = count_calls(monkeypatch, compiled_norm, "channel_affine")
    rng = np.random.default_rng(31)
    # (8, 16, 96, 96): 1.2 M elements, split over two threads at 2
    for shape, threads in (((3, 4, 5, 6), 1), ((8, 16, 96, 96), 1), ((8, 16, 96, 96), 2)):
        bn, tbn = cr.nn.BatchNorm2d(shape[1]).to(dtype), torch.nn.BatchNorm2d(shape[1]).to(torch.float64)
        for name in ("weight", "bias", "running_mean"):
            getattr(bn, name)._array[:] = rng.standard_normal(shape[1])
        bn.running_var._array[:] = rng.uniform(0.5, 2.0, shape[1])
        tbn.load_state_dict({k: torch.tensor(v.numpy()) for k, v in bn.state_dict().items()})
        bn.eval(), tbn.eval()
        x0 = rng.standard_normal(shape).astype(dtype)
        cr.set_num_threads(threads)
        results = []
        for compiled_on in (True, False):
            runtime.set_compiled_kernels(compiled_on)
            with cr.no_grad():
                results.append(bn(cr.tensor(x0)).numpy())
        assert len(calls) == threads  # compiled, in one piece or split in two
        calls.clear()
        np.testing.assert_array_equal(results[0], results[1])  # the same two roundings an element
        expected = tbn(torch.tensor(x0.astype(np.float64))).detach().numpy()
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(results[0], expected, rtol=tol, atol=tol)

