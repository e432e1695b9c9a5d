"""The compiled normal CDF (exact GELU's Phi) against float64 and against the NumPy expression it replaces."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("numba")

from chainrule import runtime
from chainrule.ops import compiled_special
from chainrule.ops.special import normal_cdf

pytestmark = pytest.mark.usefixtures("restore_runtime")


def _exact(x: np.ndarray) -> np.ndarray:
    return np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x.astype(np.float64)])


def test_compiled_normal_cdf_is_accurate_in_both_tails(monkeypatch):
    calls = []
    real = compiled_special.normal_cdf32
    monkeypatch.setattr(compiled_special, "normal_cdf32", lambda *a: calls.append(1) or real(*a))
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
