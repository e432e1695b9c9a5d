"""Without numba the NumPy kernels serve: silently when it is absent, with a warning when it is broken."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from chainrule.ops import compiled


@pytest.fixture
def fresh(monkeypatch):
    compiled._module.cache_clear()
    yield monkeypatch
    compiled._module.cache_clear()


def test_no_numba_means_numpy_silently(fresh, recwarn):
    def missing(name):
        raise ImportError("No module named 'numba'", name="numba")

    fresh.setattr(importlib, "import_module", missing)
    assert compiled.kernels("compiled_norm", np.zeros(3, np.float32)) is None
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_broken_numba_warns_and_numpy_serves(fresh):
    def broken(name):
        raise OSError("libllvmlite.so: cannot open shared object file")

    fresh.setattr(importlib, "import_module", broken)
    with pytest.warns(RuntimeWarning, match="NumPy kernels serve instead.*CHAINRULE_COMPILED_KERNELS=0"):
        assert compiled.kernels("compiled_norm", np.zeros(3, np.float32)) is None


def test_kernels_serve_only_contiguous_host_arrays_of_their_dtypes():
    pytest.importorskip("numba")
    ok = np.zeros((3, 4), np.float32)
    assert compiled.kernels("compiled_norm", ok) is not None
    assert compiled.kernels("compiled_norm", ok.T) is None  # not C-contiguous
    assert compiled.kernels("compiled_norm", ok.astype(np.float64)) is None
    assert compiled.kernels("compiled_norm", ok.astype(np.float64), dtypes=(np.float64,)) is not None
