"""A sum across processes as one autograd node: what lets a layer pool statistics over every rank's batch.

The op knows nothing of MPI: the caller (``chainrule.distributed``) passes the
function that sums an array over the processes, so the engine stays free of
any communication library.

Every rank computes ``s = sum_r x_r`` and the global loss is the sum of the
ranks' losses, so ``dL/dx_r = sum_k dL_k/ds``: the backward is the same sum
across processes, applied to the incoming gradients.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from chainrule import devices
from chainrule.autograd import Function
from chainrule.tensor import Tensor

__all__ = ["all_reduce_sum"]


class AllReduceSum(Function):
    def forward(ctx, x, reduce):
        ctx.reduce = reduce
        # a copy for the reduction to sum into, on x's device (``reduce`` must accept that device's arrays)
        return reduce(devices.array_module(x).array(x, copy=True))

    def backward(ctx, g):
        # s = sum_r x_r on every rank, L = sum_k L_k: dL/dx_r = sum_k dL_k/ds
        return ctx.reduce(devices.array_module(g).array(g, copy=True))


def all_reduce_sum(x: Tensor, reduce: Callable[[np.ndarray], np.ndarray]) -> Tensor:
    """``reduce(x)`` (an array summed over the processes, same shape), differentiable through the same sum."""
    return AllReduceSum.apply(x, reduce=reduce)
