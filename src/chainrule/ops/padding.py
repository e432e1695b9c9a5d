"""``F.pad`` with every mode PyTorch has: constant (any dims), reflect, replicate and circular (1-3 dims).

The arithmetic lives beside the ops that own it: constant padding is
:func:`chainrule.ops.shape.pad` and the copying modes are
:func:`chainrule.ops.conv.pad_nd` (each folds its gradient back onto the
padded copies' sources). This module only checks PyTorch's rules and routes.
"""

from __future__ import annotations

from collections.abc import Sequence

from chainrule.ops import shape
from chainrule.ops.conv import pad_nd
from chainrule.tensor import Tensor

__all__ = ["pad"]

_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad ``input``, PyTorch's order: ``(left, right)`` of the last dim, then the one before, ...

    ``mode`` 'constant' fills with ``value`` (negative amounts crop);
    'reflect' mirrors without repeating the edge, 'replicate' repeats the
    edge, 'circular' wraps around. The copying modes pad the last 1, 2 or 3
    dims of a batched (N, C, ...) or unbatched (C, ...) input, as in PyTorch.
    """
    if mode not in _MODES:
        raise ValueError(f"pad: mode must be one of {_MODES}, got {mode!r}")
    if not isinstance(input, Tensor):
        raise TypeError(f"pad: expected a Tensor, got {type(input).__name__}")
    if mode == "constant":
        return shape.pad(input, pad, mode, value)
    if value is not None and value != 0:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    amounts = [int(p) for p in pad]
    if len(amounts) not in (2, 4, 6):
        raise ValueError(
            f"pad: {mode} padding takes 2, 4 or 6 amounts (1-D, 2-D or 3-D), got {len(amounts)}: {tuple(pad)}"
        )
    n = len(amounts) // 2
    if input.ndim not in (n + 1, n + 2):
        raise ValueError(
            f"pad: {mode} padding of {n} dim(s) expects a {n + 1}-D or {n + 2}-D input, "
            f"got shape {input.shape}"
        )
    return pad_nd(input, tuple(amounts), mode)
