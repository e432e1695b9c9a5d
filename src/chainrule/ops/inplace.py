"""``inplace=True`` for ops that compute out of place: write the result back into the input when allowed.

When no graph is recorded for the call (grad mode off, or the input does not
require grad) the result is written into the input's array and the input is
returned, as in PyTorch. When a graph is recorded the result stays a new
tensor: chainrule's graph points at tensors, so rebinding the input would send
the gradients of its earlier uses through this op. While an export traces the
model the result stays a new tensor too: the recorder saw the op make ``out``,
and a write into ``x`` would hide it (the graph would return ``x`` unchanged).
"""

from __future__ import annotations

from chainrule import devices
from chainrule.autograd import bump_version, is_tracing
from chainrule.tensor import Tensor

__all__ = ["write_back"]


def write_back(x: Tensor, out: Tensor) -> Tensor:
    """``inplace=True``: write into ``x`` and return it when no graph was recorded."""
    if out._ctx is not None or out._array.dtype != x._array.dtype or is_tracing():
        return out
    devices.array_module(x._array).copyto(x._array, out._array)
    bump_version(x)
    return x
