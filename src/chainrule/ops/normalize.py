"""L_p normalisation along one dimension (``F.normalize``): unit vectors, forward beside backward."""

from __future__ import annotations

import math
from typing import Any

from chainrule import devices
from chainrule.autograd import Function
from chainrule.ops import dims
from chainrule.ops.dtypes import as_floating
from chainrule.tensor import Tensor

__all__ = ["Normalize", "normalize"]

_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)
_errstate = devices.errstate  # NumPy's error state on the CPU, nothing on a device


class Normalize(Function):
    def forward(ctx, a, p, dim, eps):
        xp = _xp(a)
        absa = xp.abs(a)
        if p == 2.0:
            norm = xp.sqrt((a * a).sum(axis=dim, keepdims=True))
        elif p == 1.0:
            norm = absa.sum(axis=dim, keepdims=True)
        elif math.isinf(p):  # inf: the largest magnitude, -inf: the smallest
            norm = (absa.max if p > 0 else absa.min)(axis=dim, keepdims=True)
        elif p == 0.0:
            norm = (a != 0).sum(axis=dim, keepdims=True).astype(a.dtype)  # CuPy's count_nonzero: no keepdims
        else:
            norm = (absa**p).sum(axis=dim, keepdims=True) ** (1.0 / p)
        denom = xp.maximum(norm, eps)
        ctx.a, ctx.absa, ctx.norm, ctx.denom, ctx.p, ctx.dim, ctx.eps = a, absa, norm, denom, p, dim, eps
        return a / denom

    def backward(ctx, g):
        xp = _xp(g)
        # y = x / d with d = max(||x||_p, eps):
        #   dx = g / d - x-independent part:  (sum_j g_j x_j / d^2) * dd/dx
        # where dd/dx = d||x||_p/dx while the norm is >= eps (0 once eps takes over), and
        #   d||x||_p/dx_i = sign(x_i) |x_i|^(p-1) / ||x||^(p-1)  (x_i / ||x|| for p = 2,
        #   sign for p = 1, sign at the extreme magnitudes shared evenly for p = +-inf, 0 for p = 0;
        #   the general form holds for negative and fractional p too).
        a, absa, norm, denom, p, dim = ctx.a, ctx.absa, ctx.norm, ctx.denom, ctx.p, ctx.dim
        gx = g / denom
        if p == 0.0:
            return gx, None, None, None
        s = (g * a).sum(axis=dim, keepdims=True)
        s /= denom * denom
        s *= norm >= ctx.eps  # the clamp passes no gradient to the norm below eps (PyTorch's rule)
        with _errstate(g, divide="ignore", invalid="ignore"):
            if p == 2.0:
                dn = a / norm
            elif p == 1.0:
                dn = xp.sign(a)
            elif math.isinf(p):
                at_extreme = absa == norm
                dn = xp.sign(a) * at_extreme / at_extreme.sum(axis=dim, keepdims=True)
            else:
                dn = xp.sign(a) * absa ** (p - 1.0) / norm ** (p - 1.0)
            dn = xp.where(norm == 0, 0, dn).astype(a.dtype, copy=False)  # a zero vector: no direction
        dn *= s
        gx -= dn
        return gx, None, None, None


def normalize(
    input: Tensor,
    p: float = 2.0,
    dim: int = 1,
    eps: float = 1e-12,
    out: Any = None,
) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``: unit vectors (``F.normalize``).

    ``p`` is any real number or ``float('inf')``/``-inf`` (the largest or the
    smallest magnitude), as PyTorch's vector norm takes; ``out`` is accepted for
    PyTorch's signature and must be None (chainrule returns new tensors).
    """
    if out is not None:
        raise ValueError("normalize: out= is not supported; use the returned tensor")
    x = as_floating(input, "normalize")
    p = float(p)
    if math.isnan(p):
        raise ValueError("normalize: p must be a number or +-inf, got nan")
    d = dims.axis(dim, x.ndim, "normalize") if x.ndim else None
    return Normalize.apply(x, p, d, float(eps))
