"""Dtype arguments of the ops: inputs that must be floating, made so as PyTorch does."""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.ops.elementwise import cast
from chainrule.tensor import Tensor

__all__ = ["as_floating"]


def as_floating(x: Any, name: str) -> Tensor:
    """The input as a floating tensor: integer and bool tensors become the default float dtype."""
    if isinstance(x, Tensor):
        kind = x._array.dtype.kind
        if kind == "f":
            return x
        if kind in "biu":
            return cast(x, backend.get_default_dtype())
    raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
