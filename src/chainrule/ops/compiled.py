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
from typing import Any

import numpy as np

from chainrule.runtime import compiled_kernels

__all__ = ["kernels"]


@functools.cache
def _module(name: str) -> Any:
    try:
        return importlib.import_module(f"chainrule.ops.{name}")
    except ImportError:  # numba is not installed (chainrule[fast] brings it)
        return None


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
