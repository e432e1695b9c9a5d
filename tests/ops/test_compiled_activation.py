"""The compiled ReLU (numba) against PyTorch and against the NumPy passes it replaces."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import torch

import chainrule as cr
from chainrule import runtime
from chainrule.ops import compiled_activation
from helpers import count_calls

pytestmark = pytest.mark.usefixtures("restore_runtime")


def _relu(x0, g0, compiled_on=True, threads=1):
    runtime.set_compiled_kernels(compiled_on)
    cr.set_num_threads(threads)
    x = cr.tensor(x0, requires_grad=True)
    y = cr.nn.functional.relu(x)
    y.backward(cr.tensor(g0))
    return y.numpy(), x.grad.numpy()


def _specials(rng, shape, dtype):
    """Random values with zeros of both signs, NaN and infinities mixed in."""
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    picks = rng.choice(flat.size, 40, replace=False)
    flat[picks] = np.array([0.0, -0.0, np.nan, np.inf, -np.inf] * 8, dtype)
    return x


@pytest.mark.filterwarnings("ignore:invalid value encountered in multiply")  # inf * 0, on purpose
@pytest.mark.parametrize("case", range(6))
def test_compiled_relu_matches_torch_and_numpy(case, monkeypatch):
    calls = count_calls(monkeypatch, compiled_activation, "relu_forward", "relu_backward")
    rng = np.random.default_rng(case)
    dtype = np.float32 if case % 3 else np.float64
    shape = (int(rng.integers(4, 9)), int(rng.integers(60, 90)), int(rng.integers(600, 700)))  # >= 2**17
    x0, g0 = _specials(rng, shape, dtype), _specials(rng, shape, dtype)
    threads = 1 + case % 2
    ours = _relu(x0, g0, threads=threads)
    assert len(calls) == 2
    numpy_passes = _relu(x0, g0, compiled_on=False, threads=threads)
    xt = torch.tensor(x0, requires_grad=True)
    yt = torch.relu(xt)
    yt.backward(torch.tensor(g0))
    for a, n in zip(ours, numpy_passes, strict=True):  # bit for bit, signs of zero and NaN included
        assert a.dtype == dtype
        np.testing.assert_array_equal(a.view(np.uint8), n.view(np.uint8))
    np.testing.assert_array_equal(ours[0], yt.detach().numpy())
    # PyTorch's threshold_backward writes 0 where the input was not positive; ours is g * 0 there,
    # which is NaN for a NaN or infinite g: the same wherever g is finite
    finite = np.isfinite(g0)
    np.testing.assert_array_equal(ours[1][finite], xt.grad.numpy()[finite])


def test_relu_keeps_a_mask_not_its_output():
    x0 = np.random.default_rng(0).standard_normal((4, 64, 32, 32)).astype(np.float32)
    x = cr.tensor(x0, requires_grad=True)
    y = cr.nn.functional.relu(x)
    saved = [v for v in vars(y.grad_fn).values() if isinstance(v, np.ndarray)]
    assert [a.dtype for a in saved] == [np.bool_]
    assert not any(np.shares_memory(a, y.numpy()) for a in saved)


def test_small_and_strided_inputs_keep_the_numpy_pass(monkeypatch):
    calls = []
    monkeypatch.setattr(compiled_activation, "relu_forward", lambda *a: calls.append(1))
    runtime.set_compiled_kernels(True)
    small = cr.tensor(np.array([-1.0, 2.0, np.nan], np.float32))
    np.testing.assert_array_equal(cr.nn.functional.relu(small).numpy(), [0.0, 2.0, np.nan])
    strided = np.random.default_rng(1).standard_normal((600, 600)).astype(np.float32).T
    np.testing.assert_array_equal(cr.nn.functional.relu(cr.tensor(strided)).numpy(), np.maximum(strided, 0))
    assert not calls
