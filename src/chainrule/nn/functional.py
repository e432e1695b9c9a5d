"""The stateless API, ``torch.nn.functional`` by another name: ``import chainrule.nn.functional as F``.

Activations, losses, dropout, ``linear`` and ``pad`` are re-exported from
where they are implemented (:mod:`chainrule.ops.activation`,
:mod:`chainrule.ops.loss`, :mod:`chainrule.nn.dropout`, ...); ``one_hot`` and
``normalize`` live here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd import Function
from chainrule.nn.dropout import dropout
from chainrule.ops import dims as _dims
from chainrule.ops.activation import (
    celu,
    elu,
    elu_,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    hardtanh_,
    leaky_relu,
    leaky_relu_,
    log_softmax,
    logsigmoid,
    mish,
    relu,
    relu6,
    relu_,
    selu,
    sigmoid,
    silu,
    softmax,
    softmin,
    softplus,
    tanh,
)
from chainrule.ops.attention import scaled_dot_product_attention
from chainrule.ops.conv import conv1d, conv2d, conv_transpose2d
from chainrule.ops.dtypes import as_floating
from chainrule.ops.embedding import embedding
from chainrule.ops.linalg import linear
from chainrule.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from chainrule.ops.norm import batch_norm, group_norm, layer_norm, rms_norm
from chainrule.ops.pool import adaptive_avg_pool2d, avg_pool2d, interpolate, max_pool1d, max_pool2d
from chainrule.ops.shape import pad
from chainrule.tensor import Tensor

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "conv1d",
    "conv2d",
    "conv_transpose2d",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "elu_",
    "gelu",
    "group_norm",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hardtanh_",
    "huber_loss",
    "interpolate",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "leaky_relu_",
    "linear",
    "log_softmax",
    "logsigmoid",
    "max_pool1d",
    "max_pool2d",
    "mish",
    "mse_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "relu",
    "relu6",
    "relu_",
    "rms_norm",
    "scaled_dot_product_attention",
    "selu",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "softmax",
    "softmin",
    "softplus",
    "tanh",
]


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Class indices of any shape to int64 one-hot vectors along a new last dim of size ``num_classes``.

    ``num_classes=-1`` uses the largest index plus one.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"one_hot: expected a Tensor of class indices, got {type(tensor).__name__}")
    idx = tensor.data
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer (int64) tensor of class indices, got {idx.dtype}")
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = int(idx.max()) + 1
    elif num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be -1 or non-negative, got {num_classes}")
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0:
            raise ValueError(f"one_hot: class values must be non-negative, got {lo}")
        if hi >= num_classes:
            raise ValueError(f"one_hot: class value {hi} is out of range for num_classes={num_classes}")
    out = np.equal(idx[..., None], np.arange(num_classes)).astype(np.int64)
    return Tensor._make(out, None)


class _Normalize(Function):
    def forward(ctx, a, p, dim, eps):
        absa = np.abs(a)
        if p == 2.0:
            norm = np.sqrt((a * a).sum(axis=dim, keepdims=True))
        elif p == 1.0:
            norm = absa.sum(axis=dim, keepdims=True)
        elif math.isinf(p):
            norm = absa.max(axis=dim, keepdims=True)
        elif p == 0.0:
            norm = np.count_nonzero(a, axis=dim, keepdims=True).astype(a.dtype)
        else:
            norm = (absa**p).sum(axis=dim, keepdims=True) ** (1.0 / p)
        denom = np.maximum(norm, eps)
        ctx.a, ctx.absa, ctx.norm, ctx.denom, ctx.p, ctx.dim, ctx.eps = a, absa, norm, denom, p, dim, eps
        return a / denom

    def backward(ctx, g):
        # y = x / d with d = max(||x||_p, eps):
        #   dx = g / d - x-independent part:  (sum_j g_j x_j / d^2) * dd/dx
        # where dd/dx = d||x||_p/dx while the norm is >= eps (0 once eps takes over), and
        #   d||x||_p/dx_i = sign(x_i) |x_i|^(p-1) / ||x||^(p-1)  (x_i / ||x|| for p = 2,
        #   sign for p = 1, sign at the maxima shared evenly for p = inf, 0 for p = 0).
        a, absa, norm, denom, p, dim = ctx.a, ctx.absa, ctx.norm, ctx.denom, ctx.p, ctx.dim
        gx = g / denom
        if p == 0.0:
            return gx, None, None, None
        s = (g * a).sum(axis=dim, keepdims=True)
        s /= denom * denom
        s *= norm >= ctx.eps  # the clamp passes no gradient to the norm below eps (PyTorch's rule)
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 2.0:
                dn = a / norm
            elif p == 1.0:
                dn = np.sign(a)
            elif math.isinf(p):
                at_max = absa == norm
                dn = np.sign(a) * at_max / at_max.sum(axis=dim, keepdims=True)
            else:
                dn = np.sign(a) * absa ** (p - 1.0) / norm ** (p - 1.0)
            dn = np.where(norm == 0, 0, dn).astype(a.dtype, copy=False)  # a zero vector: no direction
        dn *= s
        gx -= dn
        return gx, None, None, None


def normalize(
    input: Tensor,  # noqa: A002
    p: float = 2.0,
    dim: int = 1,
    eps: float = 1e-12,
    out: Any = None,
) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``: unit vectors (``F.normalize``).

    ``p`` is any non-negative number or ``float('inf')``; ``out`` is accepted for
    PyTorch's signature and must be None (chainrule returns new tensors).
    """
    if out is not None:
        raise ValueError("normalize: out= is not supported; use the returned tensor")
    x = as_floating(input, "normalize")
    p = float(p)
    if not p >= 0:
        raise ValueError(f"normalize: p must be non-negative (or inf), got {p}")
    d = _dims.axis(dim, x.ndim, "normalize") if x.ndim else None
    return _Normalize.apply(x, p, d, float(eps))
