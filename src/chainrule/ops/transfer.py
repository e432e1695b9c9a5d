"""Moving a tensor between devices, as a differentiable op.

``x.to("cuda")`` is part of the graph, as in PyTorch: the gradient that
reaches the copy on the GPU travels back to the original on the CPU.
"""

from __future__ import annotations

from typing import Any

from chainrule import devices
from chainrule.autograd import Function
from chainrule.tensor import Tensor

__all__ = ["to_device"]


class ToDevice(Function):
    def forward(ctx, a, where):
        ctx.source = devices.device_of(a)
        return devices.to_device(a, where)

    def backward(ctx, g):
        # the copy is the identity on values, so its gradient is the incoming one, moved back
        return devices.to_device(g, ctx.source), None


def to_device(x: Tensor, where: Any) -> Tensor:
    """``x`` on device ``where`` (``x`` itself when it is there already)."""
    where = devices.parse(where, "to_device") or devices.CPU
    if where == devices.device_of(x._array):
        return x
    return ToDevice.apply(x, where)
