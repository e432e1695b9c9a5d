"""Products (matmul, einsum, tensordot, cross) and norms, with their derivatives.

Arrays go through the array module of the inputs (``xp``, see chainrule.devices).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import Function, unbroadcast
from chainrule.ops import dims as _dims
from chainrule.ops import reduce as _reduce
from chainrule.ops.elementwise import abs as _abs
from chainrule.ops.elementwise import cast, promote
from chainrule.ops.elementwise import promote_pair as _pair
from chainrule.ops.layout import diagonal
from chainrule.runtime import MEMORY_BOUND_ELEMENTS, map_rows
from chainrule.tensor import Tensor


class MatMul(Function):
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return devices.array_module(a, b).matmul(a, b)

    def backward(ctx, g):
        # For C = A B: dA = dC B^T and dB = A^T dC, on the last two axes. A 1-D
        # operand is treated as a row (left) or column (right) vector, and the
        # batch axes it was broadcast along are summed away.
        a, b = ctx.a, ctx.b
        needs = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the plain matrix case, without the general machinery
            return (g @ b.T if needs[0] else None), (a.T @ g if needs[1] else None)
        xp = devices.array_module(g)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        # restore the dropped vector axes: the column axis first, so that for
        # 1-D @ 1-D the 0-d gradient becomes (1,) and then (1, 1)
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        ga = gb = None
        if needs[0]:
            ga = unbroadcast(xp.matmul(g, b2.swapaxes(-1, -2)), a2.shape).reshape(a.shape)
        if needs[1]:
            gb = unbroadcast(xp.matmul(a2.swapaxes(-1, -2), g), b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy/PyTorch semantics: 1-D vectors, 2-D matrices, broadcast batches.

    Both tensors must have one dtype, as in PyTorch: float64 data reaching
    float32 weights is an error, not a silent float64 product.
    """
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a._array.dtype != b._array.dtype:
        raise TypeError(
            f"matmul: both operands must have the same dtype, got {a.dtype} (shape {a.shape}) "
            f"and {b.dtype} (shape {b.shape}); convert one with .to(dtype)"
        )
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


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` as a matrix of its last axis, the leading axes folded (counted, not -1: either may be 0)."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


class Linear(Function):
    """``y = x W^T + b`` as one node: one GEMM forward, two GEMMs and a sum backward."""

    def forward(ctx, x, weight, bias=None):
        ctx.x, ctx.weight = x, weight
        if x.ndim == 2:
            y = x @ weight.T
        else:  # any leading batch axes: fold them into one for a single GEMM
            y = (_rows(x) @ weight.T).reshape(*x.shape[:-1], weight.shape[0])
        if bias is not None:
            # over the pool's threads when large enough for a pass at memory speed (BLAS's threads
            # sleep soon after the GEMM: runtime.BLAS_SPIN_LOG2_CYCLES); the same single add either way
            add, rows = devices.array_module(y).add, _rows(y)
            map_rows(
                lambda i, j: add(rows[i:j], bias, out=rows[i:j]), rows.shape[0], rows.shape[1],
                like=y, min_elements=MEMORY_BOUND_ELEMENTS,
            )
        return y

    def backward(ctx, g):
        # y_ni = sum_j x_nj W_ij + b_i, so dx = g W, dW = g^T x (summed over
        # every leading axis) and db = g summed over every leading axis.
        x, w = ctx.x, ctx.weight
        needs = ctx.needs_input_grad
        g2 = _rows(g)
        gx = gw = gb = None
        if needs[0]:
            gx = (g2 @ w).reshape(x.shape)
        if needs[1]:
            gw = g2.T @ _rows(x)
        if len(needs) > 2 and needs[2]:
            gb = g2.sum(axis=0)  # ndarray.sum is np.add.reduce: the same sums
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


# ------------------------------------------------------------------- products
def _einsum_parse(equation: str, ndims: list[int]) -> tuple[list[str], str]:
    """Operand and output subscripts with ``...`` spelt out as letters; the implicit output made explicit."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(ndims):
        raise ValueError(f"einsum: the equation {equation!r} names {len(subs)} operands, got {len(ndims)}")
    spare = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq)
    letters = [s.replace("...", "") for s in subs]
    n_ell = max(
        (n - len(s) for s, sub, n in zip(letters, subs, ndims, strict=True) if "..." in sub), default=0
    )
    ell = "".join(next(spare) for _ in range(n_ell))
    out_subs = []
    for s, sub, n in zip(letters, subs, ndims, strict=True):
        if not s.isalpha() and s:
            raise ValueError(f"einsum: subscripts must be letters, got {sub!r} in {equation!r}")
        full = sub.replace("...", ell[n_ell - (n - len(s)) :] if n - len(s) else "") if "..." in sub else sub
        if len(full) != n:
            raise ValueError(f"einsum: subscripts {sub!r} do not fit an operand with {n} dims")
        out_subs.append(full)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        counts = {c: "".join(out_subs).count(c) for c in set("".join(letters))}
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1))
    return out_subs, out


class Einsum(Function):
    def forward(ctx, equation, *operands):
        subs, out = _einsum_parse(equation, [o.ndim for o in operands])
        seen: dict[str, set[int]] = {}
        for sub, o in zip(subs, operands, strict=True):
            for c, n in zip(sub, o.shape, strict=True):
                seen.setdefault(c, set()).add(n)
        sizes = {}
        for c, ns in seen.items():
            big = ns - {1}
            if len(big) > 1:
                raise ValueError(f"subscript {c!r} has sizes {sorted(ns)} in {equation!r}")
            sizes[c] = big.pop() if big else 1
        # size-1 dims broadcast against the same letter elsewhere, as in PyTorch
        xp = devices.array_module(*operands)
        ops = [
            xp.broadcast_to(o, tuple(sizes[c] for c in sub)) for sub, o in zip(subs, operands, strict=True)
        ]
        ctx.subs, ctx.out, ctx.sizes, ctx.ops = subs, out, sizes, ops
        return xp.einsum(",".join(subs) + "->" + out, *ops, optimize=len(ops) > 2)

    def backward(ctx, g):
        # d out / d operand_i is the contraction of g with every other operand,
        # written back onto operand i's subscripts: letters that appear only in
        # operand i were summed, so their gradient is g's broadcast along them;
        # a letter repeated in operand i (a diagonal) gets the gradient on that
        # diagonal only.
        grads: list[Any] = [None]
        xp = devices.array_module(g)
        for i, sub in enumerate(ctx.subs):
            if not ctx.needs_input_grad[i + 1]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(ctx.subs) if j != i]
            letters = "".join(dict.fromkeys(sub))
            seen = set(ctx.out) | set("".join(others))
            present = "".join(c for c in letters if c in seen)
            r = xp.einsum(
                ",".join([ctx.out, *others]) + "->" + present,
                g,
                *[o for j, o in enumerate(ctx.ops) if j != i],
                optimize=len(others) > 1,
            )
            full = tuple(ctx.sizes[c] for c in letters)
            r = xp.broadcast_to(r.reshape(tuple(ctx.sizes[c] if c in seen else 1 for c in letters)), full)
            if len(letters) == len(sub):
                grads.append(r.transpose([letters.index(c) for c in sub]) if letters != sub else r)
                continue
            grad = xp.zeros(tuple(ctx.sizes[c] for c in sub), g.dtype)
            # np.indices(full, sparse=True), on g's device: an arange along each axis
            coords = [
                xp.arange(n).reshape((1,) * k + (n,) + (1,) * (len(full) - k - 1)) for k, n in enumerate(full)
            ]
            grad[tuple(coords[letters.index(c)] for c in sub)] = r
            grads.append(grad)
        return tuple(grads)


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation over the operands' subscripts (``...`` and implicit output as in PyTorch)."""
    if len(operands) == 1 and isinstance(operands[0], (tuple, list)):
        operands = tuple(operands[0])
    ops = promote(*operands)
    if not all(isinstance(o, Tensor) for o in ops):
        raise TypeError("einsum: every operand must be a Tensor")
    return Einsum.apply(equation, *ops)


def tensordot(a: Tensor, b: Tensor, dims: Any = 2) -> Tensor:
    """Contract the last ``dims`` dims of ``a`` with the first of ``b`` (or the listed pairs of dims)."""
    if isinstance(dims, int):
        if dims < 0 or dims > min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: dims={dims} does not fit shapes {a.shape} and {b.shape}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
        da = [d % a.ndim for d in da]
        db = [d % b.ndim for d in db]
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    sa = [next(letters) for _ in range(a.ndim)]
    sb = [next(letters) for _ in range(b.ndim)]
    for x, y in zip(da, db, strict=True):
        if a.shape[x] != b.shape[y]:
            raise ValueError(f"tensordot: dim {x} of {a.shape} and dim {y} of {b.shape} differ in size")
        sb[y] = sa[x]
    out = [c for i, c in enumerate(sa) if i not in da] + [c for i, c in enumerate(sb) if i not in db]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)


def outer(a: Tensor, b: Tensor) -> Tensor:
    """The outer product of two vectors: ``out[i, j] = a[i] b[j]``."""
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer: expects two 1-D tensors, got shapes {a.shape} and {b.shape}")
    return a.reshape(-1, 1) * b.reshape(1, -1)


ger = outer


def trace(x: Tensor) -> Tensor:
    """The sum of the main diagonal of a matrix."""
    if x.ndim != 2:
        raise ValueError(f"trace: expects a matrix, got shape {x.shape}")
    return diagonal(x).sum()


class Cross(Function):
    def forward(ctx, a, b, dim):
        ctx.a, ctx.b, ctx.dim = a, b, dim
        return devices.array_module(a, b).cross(a, b, axis=dim)

    def backward(ctx, g):
        # c = a x b: dL/da = b x g, dL/db = g x a
        d = ctx.dim
        xp = devices.array_module(g)
        return xp.cross(ctx.b, g, axis=d), xp.cross(g, ctx.a, axis=d), None


@_dims.numpy_keywords
def cross(a: Tensor, b: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (default: the first dim of size 3, as torch.cross)."""
    a, b = promote(a, b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    if dim is None:
        dim = next((i for i, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise ValueError(f"cross: no dim of size 3 in shapes {a.shape} and {b.shape}")
    d = _dims.axis(dim, len(shape), "cross")
    if shape[d] != 3:
        raise ValueError(f"cross: dim {dim} must have size 3, got shapes {a.shape} and {b.shape}")
    a = a if a.shape == shape else a.expand(shape)
    b = b if b.shape == shape else b.expand(shape)
    return Cross.apply(a, b, d)


# ------------------------------------------------------------------------ norms
class VectorNorm(Function):
    def forward(ctx, a, p, axes, keepdim):
        ax = _dims.numpy_axes(axes, a.ndim)
        xp = devices.array_module(a)
        absa = xp.abs(a)
        if p == 0:  # the count of non-zeros: flat, gradient zero
            out = xp.sum(a != 0, axis=ax, keepdims=True)
        elif p == 2:
            out = xp.sqrt(xp.sum(a * a, axis=ax, keepdims=True))
        else:
            out = xp.sum(absa**p, axis=ax, keepdims=True) ** (1.0 / p)
        out = out.astype(a.dtype, copy=False)
        ctx.a, ctx.p, ctx.out, ctx.axes, ctx.keepdim = a, p, out, axes, keepdim
        return _squeeze(out, axes, keepdim)

    def backward(ctx, g):
        # d (sum |a|^p)^(1/p) / d a_i = sign(a_i) |a_i|^(p-1) / norm^(p-1);
        # zero where the norm is zero (PyTorch's subgradient)
        a, p, out = ctx.a, ctx.p, ctx.out
        xp = devices.array_module(g)
        if p == 0:
            return xp.zeros_like(a), None, None, None
        if not ctx.keepdim and ctx.axes is not None and a.ndim:
            g = xp.expand_dims(g, ctx.axes)
        with devices.errstate(g, divide="ignore", invalid="ignore"):
            if p == 2:
                local = a / out
            else:
                # PyTorch's sign (0 at NaN, where NumPy's is NaN): p = 1 gives 0 there
                sign = (a > 0).astype(a.dtype) - (a < 0).astype(a.dtype)
                local = sign * xp.abs(a) ** (p - 1) / out ** (p - 1)
        local = xp.where((out == 0) | (a == 0) & (p < 1), xp.zeros((), a.dtype), local)
        return g * local, None, None, None


def _squeeze(out: np.ndarray, axes: tuple[int, ...] | None, keepdim: bool) -> np.ndarray:
    if keepdim or out.ndim == 0:
        return out
    return devices.array_module(out).squeeze(out, axis=axes)


@_dims.numpy_keywords
def vector_norm(
    x: Tensor, ord: Any = 2, dim: Any = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """The ``ord``-norm of the elements over ``dim`` (all when None): ``(sum |x|^ord)^(1/ord)``,
    the largest (inf) or smallest (-inf) ``|x|``, or the count of non-zeros (0)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"vector_norm: expected a Tensor, got {type(x).__name__}")
    if dtype is not None:
        x = cast(x, dtype)
    if x._array.dtype.kind != "f":
        raise TypeError(f"vector_norm: expected a floating-point tensor, got {x.dtype}")
    axes = _dims.axes(dim, x.ndim, "vector_norm")
    p = float(ord)
    if p == np.inf or p == -np.inf:
        return (_reduce.amax if p > 0 else _reduce.amin)(_abs(x), axes or (), keepdim)
    return VectorNorm.apply(x, p, axes, keepdim)


class Svdvals(Function):
    def forward(ctx, a):
        u, s, vh = devices.array_module(a).linalg.svd(a, full_matrices=False)
        ctx.u, ctx.vh = u, vh
        return s

    def backward(ctx, g):
        # d s_k = u_k^T dA v_k, so dL/dA = U diag(g) V^T (distinct singular values)
        return (ctx.u * g[..., None, :]) @ ctx.vh


def svdvals(x: Tensor) -> Tensor:
    """The singular values of the matrices in the last two dims, largest first."""
    if x.ndim < 2:
        raise ValueError(f"svdvals: expects at least 2 dims, got shape {x.shape}")
    return Svdvals.apply(x)


@_dims.numpy_keywords
def matrix_norm(
    x: Tensor, ord: Any = "fro", dim: Any = (-2, -1), keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """A matrix norm over the two dims ``dim``: "fro", "nuc", 1, -1, 2, -2, inf, -inf (as torch.linalg)."""
    if x.ndim < 2:
        raise ValueError(f"matrix_norm: expects at least 2 dims, got shape {x.shape}")
    d0, d1 = (_dims.axis(d, x.ndim, "matrix_norm") for d in dim)
    if d0 == d1:
        raise ValueError(f"matrix_norm: dim must name two different dims, got {dim}")
    if ord == "fro":
        return vector_norm(x, 2, (d0, d1), keepdim, dtype=dtype)
    if ord in (1, -1, np.inf, -np.inf):
        pick = _reduce.amax if ord > 0 else _reduce.amin
        summed, other = (d0, d1) if ord in (1, -1) else (d1, d0)
        out = pick(_reduce.sum(_abs(x), summed, keepdim=True), other, keepdim=True)
    elif ord in ("nuc", 2, -2):
        moved = x.permute(*[i for i in range(x.ndim) if i not in (d0, d1)], d0, d1)
        s = svdvals(moved)
        s = s.sum(-1) if ord == "nuc" else (_reduce.amax if ord == 2 else _reduce.amin)(s, -1)
        out = s.reshape(s.shape[: min(d0, d1)] + (1,) + s.shape[min(d0, d1) :])
        out = out.reshape(out.shape[: max(d0, d1)] + (1,) + out.shape[max(d0, d1) :])
    else:
        raise ValueError(f"matrix_norm: ord must be 'fro', 'nuc', 1, -1, 2, -2, inf or -inf, got {ord!r}")
    return out if keepdim else out.squeeze((d0, d1))


@_dims.numpy_keywords
def linalg_norm(
    x: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """``torch.linalg.norm``: a vector norm over one dim (or all, without ord), a matrix norm over two."""
    if dim is None:
        if ord is None:
            return vector_norm(x, 2, None, keepdim, dtype=dtype)
        if x.ndim == 1:
            return vector_norm(x, ord, None, keepdim, dtype=dtype)
        if x.ndim == 2:
            return matrix_norm(x, ord, (0, 1), keepdim, dtype=dtype)
        raise ValueError(
            f"linalg.norm: with ord and no dim the input must be 1-D or 2-D, got shape {x.shape}"
        )
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    if len(dims) == 1:
        return vector_norm(x, 2 if ord is None else ord, dims, keepdim, dtype=dtype)
    if len(dims) == 2:
        return matrix_norm(x, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
    raise ValueError(f"linalg.norm: dim must name one or two dims, got {dim}")


@_dims.numpy_keywords
def norm(x: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """``torch.norm``: the ``p``-norm over ``dim`` ("fro": the 2-norm; "nuc": a matrix norm)."""
    if p == "nuc":
        return matrix_norm(x, "nuc", (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
    return vector_norm(x, 2 if p == "fro" else p, dim, keepdim, dtype=dtype)
