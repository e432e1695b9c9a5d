"""Dimension arguments: PyTorch-style negative dims and tuples, checked with clear errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def axis(dim: Any, ndim: int, op: str) -> int:
    """One dimension, made non-negative; a 0-d tensor accepts 0 and -1 as PyTorch does."""
    if not isinstance(dim, int) or isinstance(dim, bool):
        try:
            dim = dim.__index__()
        except AttributeError:
            raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}") from None
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{op}: dimension {dim} is out of range for a tensor with {ndim} dims "
            f"(expected a value in [{-n}, {n - 1}])"
        )
    return dim % n


def axes(dim: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """Dimensions to reduce over: None (or an empty tuple) means all of them."""
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        if not dim:
            return None
        out = tuple(axis(d, ndim, op) for d in dim)
        if len(set(out)) != len(out):
            raise ValueError(f"{op}: dimension repeated in dim={tuple(dim)}")
        return out
    return (axis(dim, ndim, op),)


def numpy_axes(dims: tuple[int, ...] | None, ndim: int) -> tuple[int, ...] | None:
    """The same dims for NumPy: a 0-d array has no axis 0."""
    if ndim == 0:
        return None
    return dims


def numpy_keywords(fn: Callable) -> Callable:
    """Accept NumPy's spellings PyTorch also takes: ``axis=`` for ``dim=``, ``keepdims=`` for ``keepdim=``.

    One wrapper for every op that takes dims, instead of two more parameters in each signature.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not kwargs:
            return fn(*args)
        if "axis" in kwargs:
            if "dim" in kwargs:
                raise TypeError(f"{fn.__name__}: give dim or axis, not both")
            kwargs["dim"] = kwargs.pop("axis")
        if "keepdims" in kwargs:
            if "keepdim" in kwargs:
                raise TypeError(f"{fn.__name__}: give keepdim or keepdims, not both")
            kwargs["keepdim"] = kwargs.pop("keepdims")
        return fn(*args, **kwargs)

    return wrapper
