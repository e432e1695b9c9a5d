"""Where numba-compiled kernels take over from NumPy: the arrays they serve, their modules on first use.

A compiled kernel (``chainrule.ops.compiled_*``) is an option, never a
requirement: numba comes with the ``fast`` extra, and
:func:`chainrule.runtime.set_compiled_kernels` switches the kernels off. Each
caller keeps its NumPy path and asks here, at each call, whether the compiled
one serves its arrays.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from typing import Any

import numpy as np

from chainrule.runtime import compiled_kernels

__all__ = ["kernels"]


@functools.cache
def _module(name: str) -> Any:
    try:
        return importlib.import_module(f"chainrule.ops.{name}")
    except ImportError as e:
        if e.name not in ("numba", "llvmlite"):  # installed, but refuses this NumPy (its message says why)
            _fall_back(name, e)
        return None  # numba is not installed (chainrule[fast] brings it): NumPy serves, silently
    except Exception as e:  # a broken numba/llvmlite install must not stop a training run
        _fall_back(name, e)
        return None


def _fall_back(name: str, error: BaseException) -> None:
    warnings.warn(
        f"chainrule: the compiled kernels of chainrule.ops.{name} could not be loaded "
        f"({type(error).__name__}: {error}); the NumPy kernels serve instead, with the same results. "
        "Reinstall numba ('pip install -U numba') or set CHAINRULE_COMPILED_KERNELS=0 to silence this.",
        RuntimeWarning,
        stacklevel=3,
    )


def kernels(name: str, *arrays: Any, dtypes: tuple = (np.float32,)) -> Any:
    """Module ``chainrule.ops.<name>`` when its kernels serve ``arrays``; else None (use NumPy).

    They serve C-contiguous NumPy arrays (not a device's) of one of ``dtypes``,
    with compiled kernels switched on and numba installed.
    """
    if not compiled_kernels():
        return None
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype not in dtypes or not a.flags.c_contiguous:
            return None
    return _module(name)
