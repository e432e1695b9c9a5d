"""Argument checks shared by the layers, the data tools and the training toolkit.

One rule each, written once, so that every constructor refuses the same bad
values with the same words: a bool is never an int (``True`` is an ``int`` to
Python, never a layer size to us), sizes are positive or non-negative ints as
the argument demands, and chainrule computes on the CPU only. Each check
returns the value in its plain Python form, or raises naming the owner (the
layer or function), the argument and the value given.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend

__all__ = [
    "check_bool",
    "factory_device",
    "factory_dtype",
    "is_int",
    "non_negative_int",
    "positive_count",
    "positive_int",
]


def is_int(value: Any) -> bool:
    """True for a Python or NumPy integer, False for everything else, bools included."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def positive_int(value: Any, name: str, owner: str) -> int:
    """``value`` as an int >= 1; a ValueError ``"{owner}: {name} must be a positive int, got ..."`` if not."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


def non_negative_int(value: Any, name: str, owner: str) -> int:
    """``value`` as an int >= 0; else a ValueError ``"{owner}: {name} must be a non-negative int, ..."``."""
    if not is_int(value) or value < 0:
        raise ValueError(f"{owner}: {name} must be a non-negative int, got {value!r}")
    return int(value)


def positive_count(value: Any, name: str, owner: str) -> int:
    """A positive int, refused in PyTorch's data-loading words (``"... should be a positive integer"``)."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{owner}: {name} should be a positive integer, got {name}={value!r}")
    return int(value)


def check_bool(value: Any, name: str, owner: str) -> bool:
    """``value`` as a bool (Python or NumPy); a TypeError for anything else, 0 and 1 included."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} should be a bool, got {name}={value!r}")
    return bool(value)


def factory_device(device: Any, owner: str) -> Any:
    """A layer's ``device=`` argument as a usable device (None stays None), or an error naming ``owner``.

    Layers make their parameters on the host (one random generator serves
    every device) and move them there at the end of their constructor.
    """
    return backend.check_device(device, owner)


def factory_dtype(device: Any, dtype: Any, owner: str) -> np.dtype:
    """The dtype a layer's ``device=``/``dtype=`` arguments ask for (the default dtype when None)."""
    factory_device(device, owner)
    return backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
