"""Distances between batches of vectors: ``cosine_similarity`` and ``pairwise_distance``, as in PyTorch.

Both are compositions of differentiable ops (the unit-vector op of
:mod:`chainrule.ops.normalize`, elementwise arithmetic and sums), so their
gradients are the chain rule through those. ``vector_norm_last`` is the p-norm
over the last dim that ``pairwise_distance`` and the triplet loss share.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.ops import dims
from chainrule.ops.normalize import normalize
from chainrule.tensor import Tensor

__all__ = ["cosine_similarity", "pairwise_distance", "vector_norm_last"]


def _floating_pair(x1: Any, x2: Any, op: str) -> tuple[Tensor, Tensor]:
    if not isinstance(x1, Tensor) or not isinstance(x2, Tensor):
        raise TypeError(f"{op}: x1 and x2 must be Tensors, got {type(x1).__name__} and {type(x2).__name__}")
    if x1.dtype.kind != "f" or x2.dtype.kind != "f":
        raise TypeError(f"{op}: expected floating-point tensors, got {x1.dtype} and {x2.dtype}")
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(
            f"{op}: x1 of shape {x1.shape} and x2 of shape {x2.shape} do not broadcast"
        ) from None
    return x1.expand(*shape), x2.expand(*shape)


def vector_norm_last(d: Tensor, p: float, keepdim: bool) -> Tensor:
    """``||d||_p`` over the last dim: any real p, +-inf (largest/smallest magnitude), 0 (non-zeros)."""
    a = d.abs()
    if math.isinf(p):
        return a.amax(-1, keepdim) if p > 0 else a.amin(-1, keepdim)
    if p == 0:
        return (a != 0).to(d.dtype).sum(-1, keepdim=keepdim)
    if p == 1:
        return a.sum(-1, keepdim=keepdim)
    if p == 2:
        return (d * d).sum(-1, keepdim=keepdim).sqrt()
    return (a**p).sum(-1, keepdim=keepdim) ** (1.0 / p)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``x1 . x2 / (max(||x1||, eps) max(||x2||, eps))`` along ``dim``, after broadcasting the two.

    As PyTorch does, each vector is scaled to unit length (its norm clamped at
    ``eps``) before the dot product.
    """
    op = "cosine_similarity"
    a, b = _floating_pair(x1, x2, op)
    if a.ndim == 0:
        raise ValueError(f"{op}: expected inputs with at least one dim, got 0-d tensors")
    d = dims.axis(dim, a.ndim, op)
    return (normalize(a, 2.0, d, eps) * normalize(b, 2.0, d, eps)).sum(d)


def pairwise_distance(
    x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """``||x1 - x2 + eps||_p`` over the last dim (``eps`` keeps the norm's gradient finite at x1 == x2)."""
    op = "pairwise_distance"
    a, b = _floating_pair(x1, x2, op)
    if a.ndim == 0:
        raise ValueError(f"{op}: expected inputs with at least one dim, got 0-d tensors")
    return vector_norm_last(a - b + eps, float(p), keepdim)
