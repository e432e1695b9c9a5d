"""The stateless API, ``torch.nn.functional`` by another name: ``import chainrule.nn.functional as F``.

Every differentiable function is re-exported from the ``ops`` module that
implements it, forward beside backward (:mod:`chainrule.ops.activation`,
:mod:`chainrule.ops.loss`, :mod:`chainrule.ops.dropout`,
:mod:`chainrule.ops.normalize`, ...); ``one_hot`` (no gradient) lives here.
"""

from __future__ import annotations

import numpy as np

from chainrule import autograd, devices
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
from chainrule.ops.bilinear import bilinear
from chainrule.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d
from chainrule.ops.ctc import ctc_loss
from chainrule.ops.distance import cosine_similarity, pairwise_distance
from chainrule.ops.dropout import (
    alpha_dropout,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
)
from chainrule.ops.embedding import embedding
from chainrule.ops.index_pool import (
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
from chainrule.ops.interpolate import adaptive_avg_pool3d, interpolate
from chainrule.ops.linalg import linear
from chainrule.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    gaussian_nll_loss,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    mse_loss,
    nll_loss,
    poisson_nll_loss,
    smooth_l1_loss,
    triplet_margin_loss,
)
from chainrule.ops.norm import batch_norm, group_norm, layer_norm, rms_norm
from chainrule.ops.normalize import normalize
from chainrule.ops.padding import pad
from chainrule.ops.pixel_shuffle import pixel_shuffle, pixel_unshuffle
from chainrule.ops.pointwise import softsign
from chainrule.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool1d, max_pool2d
from chainrule.ops.separable_pool import adaptive_avg_pool1d, avg_pool1d, avg_pool3d, max_pool3d
from chainrule.ops.unfold import fold, unfold
from chainrule.ops.volumetric import conv3d, conv_transpose3d
from chainrule.tensor import Tensor

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "bilinear",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "cosine_similarity",
    "ctc_loss",
    "cross_entropy",
    "alpha_dropout",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "feature_alpha_dropout",
    "elu",
    "elu_",
    "embedding",
    "fold",
    "gaussian_nll_loss",
    "gelu",
    "group_norm",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hardtanh_",
    "huber_loss",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "leaky_relu_",
    "linear",
    "log_softmax",
    "logsigmoid",
    "margin_ranking_loss",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "mish",
    "mse_loss",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "pairwise_distance",
    "pixel_shuffle",
    "pixel_unshuffle",
    "poisson_nll_loss",
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
    "triplet_margin_loss",
    "unfold",
]


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """Class indices of any shape to int64 one-hot vectors along a new last dim of size ``num_classes``.

    ``num_classes=-1`` uses the largest index plus one.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"one_hot: expected a Tensor of class indices, got {type(tensor).__name__}")
    idx = tensor._array
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer (int64) tensor of class indices, got {idx.dtype}")
    xp = devices.array_module(idx)
    lo = hi = None
    if idx.size:  # the range decides the output's width and the errors: one host read of two numbers
        lo, hi = (int(v) for v in devices.to_host(xp.stack([idx.min(), idx.max()])).tolist())
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; pass num_classes")
        num_classes = hi + 1
    elif num_classes < 0:
        raise ValueError(f"one_hot: num_classes must be -1 or non-negative, got {num_classes}")
    if idx.size:
        if lo < 0:
            raise ValueError(f"one_hot: class values must be non-negative, got {lo}")
        if hi >= num_classes:
            raise ValueError(f"one_hot: class value {hi} is out of range for num_classes={num_classes}")
    out = Tensor._make(xp.equal(idx[..., None], xp.arange(num_classes)).astype(np.int64), None)
    autograd.record_plain("one_hot", (tensor,), {"num_classes": num_classes}, out)  # an export's graph
    return out
