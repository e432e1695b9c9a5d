"""Matrix multiplication and its derivative."""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd import Function, unbroadcast
from chainrule.ops.elementwise import promote_pair as _pair
from chainrule.tensor import Tensor


class MatMul(Function):
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return np.matmul(a, b)

    def backward(ctx, g):
        # For C = A B: dA = dC B^T and dB = A^T dC, on the last two axes. A 1-D
        # operand is treated as a row (left) or column (right) vector, and the
        # batch axes it was broadcast along are summed away.
        a, b = ctx.a, ctx.b
        needs = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the plain matrix case, without the general machinery
            return (g @ b.T if needs[0] else None), (a.T @ g if needs[1] else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # restore the dropped vector axes: the column axis first, so that for
        # 1-D @ 1-D the 0-d gradient becomes (1,) and then (1, 1)
        if b.ndim == 1:
            g = np.expand_dims(g, -1)
        if a.ndim == 1:
            g = np.expand_dims(g, -2)
        ga = gb = None
        if needs[0]:
            ga = unbroadcast(np.matmul(g, b2.swapaxes(-1, -2)), a2.shape).reshape(a.shape)
        if needs[1]:
            gb = unbroadcast(np.matmul(a2.swapaxes(-1, -2), g), b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy/PyTorch semantics: 1-D vectors, 2-D matrices, broadcast batches."""
    a, b = _pair(a, b)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul: both operands must be tensors, not scalars")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: inner dimensions do not match: {a.shape} @ {b.shape} ({k_a} != {k_b})")
    return MatMul.apply(a, b)


def mm(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"mm: expects two matrices, got shapes {a.shape} and {b.shape}")
    return matmul(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ValueError(
            f"bmm: expects two 3-D tensors with the same batch size, got {a.shape} and {b.shape}"
        )
    return matmul(a, b)


class Linear(Function):
    """``y = x W^T + b`` as one node: one GEMM forward, two GEMMs and a sum backward."""

    def forward(ctx, x, weight, bias=None):
        ctx.x, ctx.weight = x, weight
        if x.ndim == 2:
            y = x @ weight.T
        else:  # any leading batch axes: fold them into one for a single GEMM
            y = (x.reshape(-1, x.shape[-1]) @ weight.T).reshape(*x.shape[:-1], weight.shape[0])
        if bias is not None:
            # on this thread: right after a GEMM, BLAS's threads still spin on the other cores
            # and a pool task would compete with them (measured: no gain)
            y += bias
        return y

    def backward(ctx, g):
        # y_ni = sum_j x_nj W_ij + b_i, so dx = g W, dW = g^T x (summed over
        # every leading axis) and db = g summed over every leading axis.
        x, w = ctx.x, ctx.weight
        needs = ctx.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        gx = gw = gb = None
        if needs[0]:
            gx = (g2 @ w).reshape(x.shape)
        if needs[1]:
            gw = g2.T @ x.reshape(-1, x.shape[-1])
        if len(needs) > 2 and needs[2]:
            gb = np.add.reduce(g2, axis=0)
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``, PyTorch's ``F.linear``: weight is (out_features, in_features)."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError(
            f"linear: input and weight must be Tensors, got {type(input).__name__} "
            f"and {type(weight).__name__}"
        )
    if weight.ndim != 2 or input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {input.shape} does not fit weight of shape {weight.shape} "
            f"(expected input (..., {weight.shape[-1] if weight.ndim == 2 else '?'}))"
        )
    if input._array.dtype != weight._array.dtype:
        raise TypeError(f"linear: input dtype {input.dtype} does not match weight dtype {weight.dtype}")
    if bias is None:
        return Linear.apply(input, weight)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias of shape {bias.shape}, expected ({weight.shape[0]},)")
    return Linear.apply(input, weight, bias)
