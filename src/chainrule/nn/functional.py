"""The stateless API, ``torch.nn.functional`` by another name: ``import chainrule.nn.functional as F``.

Every differentiable function is re-exported from the ``ops`` module that
implements it, forward beside backward (:mod:`chainrule.ops.activation`,
:mod:`chainrule.ops.loss`, :mod:`chainrule.ops.dropout`,
:mod:`chainrule.ops.normalize`, ...); ``one_hot`` (no gradient) lives here.
"""

from __future__ import annotations

import numpy as np

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
from chainrule.ops.dropout import dropout
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
from chainrule.ops.normalize import normalize
from chainrule.ops.pointwise import softsign
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
    "softsign",
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
