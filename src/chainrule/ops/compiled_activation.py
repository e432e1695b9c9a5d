"""ReLU compiled with numba: the forward and its mask in one pass, the backward in one pass.

NumPy's ReLU is two passes in training, ``maximum(a, 0)`` and a compare for
the mask the backward multiplies by, and its backward multiplies by a boolean
array through a casting loop. Here each is one vectorised pass that holds no
GIL (W2's (64, 32, 28, 28) activation at one thread: forward and mask 0.98 ->
0.22 ms, backward 0.75 -> 0.22 ms), with the values of the NumPy path. As in
PyTorch a NaN input passes through the forward and lets its gradient through;
the backward is ``g * mask``, so a NaN or infinite gradient gives NaN where the
mask is 0 (PyTorch writes 0 there).

Arrays are flat and C-contiguous, float32 or float64.
"""

from __future__ import annotations

from numba import njit

from chainrule.ops.compiled_math import OPTIONS

__all__ = ["relu_backward", "relu_forward"]


@njit(**OPTIONS)
def relu_forward(a, out, mask):
    """``out = max(a, 0)`` and ``mask = not (a <= 0)``: NaN passes both, as in PyTorch."""
    zero = a.dtype.type(0)
    for i in range(a.shape[0]):
        v = a[i]
        passes = not v <= zero
        mask[i] = passes
        out[i] = v if passes else zero


@njit(**OPTIONS)
def relu_backward(g, mask, gx):
    """``gx = g * mask``: the slope is 1 where the input was positive, 0 elsewhere."""
    for i in range(g.shape[0]):
        gx[i] = g[i] * g.dtype.type(mask[i])
