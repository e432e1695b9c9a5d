"""Batches of sequences: padding sequences of different lengths into one array, and reordering the batch.

Both are selections, so each backward pass is the inverse selection: a padded
sequence's gradient is its own (unpadded) rows of the output gradient, and a
reordered batch's gradient is put back in the original order.
"""

from __future__ import annotations

import numpy as np

from chainrule import devices
from chainrule.autograd import Function

__all__ = ["PadSequence", "ReorderBatch"]


class PadSequence(Function):
    """Pad sequences of shape ``(L_i, *rest)`` into one ``(B, L_max, *rest)`` array (or ``(L_max, B, ...)``).

    The backward pass is the inverse selection: each sequence's gradient is its
    own (unpadded) rows of the output gradient; padded positions get none.
    """

    def forward(ctx, *arrays, batch_first, value, left, max_len, dtype):
        batch = len(arrays)
        shape = (batch, max_len) if batch_first else (max_len, batch)
        xp = devices.array_module(*arrays)
        out = xp.full((*shape, *arrays[0].shape[1:]), value, dtype=dtype)  # built in its final layout
        ctx.index = []
        for b, a in enumerate(arrays):
            steps = slice(max_len - a.shape[0], max_len) if left else slice(0, a.shape[0])
            ctx.index.append((b, steps) if batch_first else (steps, b))
            out[ctx.index[-1]] = a
        ctx.dtypes = [a.dtype for a in arrays]
        return out

    def backward(ctx, g):
        return tuple(g[i].astype(dt, copy=False) for i, dt in zip(ctx.index, ctx.dtypes, strict=True))


class ReorderBatch(Function):
    """Reorder the batch axis by a permutation (sorting by length and back); backward undoes it."""

    def forward(ctx, a, order, axis):
        xp = devices.array_module(a)
        if xp is not np:  # a host order (from the lengths) joins the array's device
            order = devices.to_device(order, devices.device_of(a))
        ctx.inverse, ctx.axis = xp.argsort(order), axis
        return xp.take(a, order, axis=axis)

    def backward(ctx, g):
        return devices.array_module(g).take(g, ctx.inverse, axis=ctx.axis), None, None
