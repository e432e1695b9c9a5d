"""What the figure functions share: a Figure or the caller's axes, and arrays from tensors."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.tensor import Tensor
from chainrule.train.plots import new_figure

__all__ = ["as_array", "figure_of", "new_figure"]


def figure_of(ax: Any) -> Any:
    """The top-level Figure that ``ax`` belongs to (what the figure functions return)."""
    fig = ax.get_figure(root=True) if hasattr(ax, "get_figure") else None
    if fig is None:
        raise TypeError(f"expected matplotlib Axes for ax, got {type(ax).__name__}")
    return fig


def as_array(x: Any, what: str) -> np.ndarray:
    """A NumPy copy-free view of a Tensor, an array or anything ``np.asarray`` takes (a CPU torch tensor)."""
    if isinstance(x, Tensor):
        return x._array
    try:
        arr = np.asarray(x)
    except Exception as e:  # torch raises RuntimeError for a tensor that requires grad, etc.
        raise TypeError(f"{what}: expected a Tensor or an array, got {type(x).__name__} ({e})") from e
    if arr.dtype == object:
        raise TypeError(f"{what}: expected a Tensor or an array of numbers, got {type(x).__name__}")
    return arr
