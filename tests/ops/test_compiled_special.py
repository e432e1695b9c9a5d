"""The compiled normal CDF (exact GELU's Phi) and softmax backward against references and the NumPy paths."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("numba")

import torch

import chainrule as cr
from chainrule import runtime
from chainrule.ops import compiled_special, special
from chainrule.ops.special import normal_cdf
from helpers import count_calls

pytestmark = pytest.mark.usefixtures("restore_runtime")


def _exact(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x.astype(np.float64)])


def test_compiled_normal_cdf_is_accurate_in_both_tails(monkeypatch):
    calls = count_calls(monkeypatch, compiled_special, "normal_cdf32")
    x = np.concatenate([np.linspace(-13, 13, 20_000), np.random.default_rng(0).standard_normal(5000)])
    x = x.astype(np.float32).reshape(5, -1)  # any shape: the kernel sees it flat
    ours = normal_cdf(x)
    assert calls and ours.shape == x.shape and ours.dtype == np.float32
    exact = _exact(x.ravel()).reshape(x.shape)
    assert (np.abs(ours - exact) <= 2e-5 * exact + 1e-37).all()  # relative, Phi(-13) ~ 6e-39 included
    runtime.set_compiled_kernels(False)
    np.testing.assert_allclose(ours, normal_cdf(x), rtol=3e-5, atol=1e-37)  # both within 2e-5 of exact


def test_compiled_normal_cdf_special_values():
    out = normal_cdf(np.array([np.nan, -np.inf, np.inf, 0.0, -40.0, 40.0], np.float32))
    assert np.isnan(out[0])
    np.testing.assert_array_equal(out[1:], np.array([0.0, 1.0, 0.5, 0.0, 1.0], np.float32))


@pytest.mark.parametrize("case", range(5))
def test_compiled_softmax_backward_matches_numpy_and_torch(case, monkeypatch):
    calls = count_calls(monkeypatch, compiled_special, "softmax_backward_rows32")
    rng = np.random.default_rng(case)
    shape = tuple(int(rng.integers(lo, hi)) for lo, hi in ((1, 5), (1, 4), (8, 70), (60, 130)))
    scores = rng.standard_normal(shape).astype(np.float32) * 3
    scores[0, 0, :2] = -np.inf  # fully masked rows: P is 0 there, and so is the gradient
    p = torch.softmax(torch.tensor(scores), -1).nan_to_num(0.0).numpy()
    g = rng.standard_normal(shape).astype(np.float32)
    runtime.set_compiled_kernels(True)
    ours = special.softmax_backward_rows(g.copy(), p)
    assert calls
    runtime.set_compiled_kernels(False)
    numpy_rows = special.softmax_backward_rows(g.copy(), p)
    theirs = torch.ops.aten._softmax_backward_data(torch.tensor(g), torch.tensor(p), -1, torch.float32)
    theirs = theirs.numpy()
    np.testing.assert_allclose(ours, numpy_rows, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not ours[0, 0, :2].any()


def test_attention_gradients_with_the_compiled_softmax_backward():
    rng = np.random.default_rng(3)
    q0, k0, v0 = (rng.standard_normal((4, 2, 40, 16)).astype(np.float32) for _ in range(3))
    g0 = rng.standard_normal((4, 2, 40, 16)).astype(np.float32)
    grads = []
    for on in (True, False):
        runtime.set_compiled_kernels(on)
        q, k, v = (cr.tensor(a, requires_grad=True) for a in (q0, k0, v0))
        cr.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).backward(cr.tensor(g0))
        grads.append([t.grad.numpy() for t in (q, k, v)])
    qt, kt, vt = (torch.tensor(a, requires_grad=True) for a in (q0, k0, v0))
    torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, is_causal=True).backward(torch.tensor(g0))
    for ours, numpy_rows, theirs in zip(grads[0], grads[1], (qt.grad, kt.grad, vt.grad), strict=True):
        np.testing.assert_allclose(ours, numpy_rows, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-4, atol=1e-5)
