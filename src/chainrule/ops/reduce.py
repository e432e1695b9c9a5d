"""Reductions (sum, mean, prod, max, min, var, std, logsumexp), cumsum, and their derivatives.

A reduction's backward spreads the output gradient back over the reduced
axes: every input element that contributed gets ``g`` times its local
derivative (1 for sum, 1/N for mean, the product of the others for prod, ...).
"""

from __future__ import annotations

import builtins
from collections import namedtuple
from typing import Any

import numpy as np

from chainrule import backend, devices
from chainrule.autograd import Function, record_plain
from chainrule.ops import dims as _dims
from chainrule.ops.elementwise import cast, constant
from chainrule.tensor import Tensor

# ``max(dim)`` and ``min(dim)`` return these, like torch.return_types.
MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])
_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)
_errstate = devices.errstate  # NumPy's error state on the CPU, nothing on a device


def _expand(g: np.ndarray, axes: tuple[int, ...] | None, keepdim: bool, shape: tuple[int, ...]) -> np.ndarray:
    """The output gradient reshaped so that it broadcasts against the input."""
    if not keepdim and axes is not None and len(shape):
        g = _xp(g).expand_dims(g, axes)
    return g


def _float_input(x: Tensor, dtype: Any) -> Tensor:
    if dtype is not None:
        return cast(x, dtype)
    if x._array.dtype.kind != "f":
        return cast(x, backend.get_default_dtype())
    return x


def _accumulating_input(x: Tensor, dtype: Any) -> Tensor:
    """Input of sum/prod/cumsum: cast to ``dtype`` if given; bool and int accumulate in int64."""
    if dtype is not None:
        return cast(x, dtype)
    if x._array.dtype.kind in "biu":
        return cast(x, backend.int64)
    return x


def _spread(g: np.ndarray, axes: tuple[int, ...] | None, keepdim: bool, shape: tuple[int, ...]) -> np.ndarray:
    """The gradient of a reduction's output, repeated over the reduced axes (a broadcast view)."""
    xp = _xp(g)
    if g.ndim == 0:  # reduced to one number: a constant array, made in C
        return xp.full(shape, g, dtype=g.dtype)
    return xp.broadcast_to(_expand(g, axes, keepdim, shape), shape)


class Sum(Function):
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        if type(a) is not np.ndarray:
            return a.sum(axis=_dims.numpy_axes(axes, a.ndim), keepdims=keepdim)
        return np.add.reduce(a, axis=_dims.numpy_axes(axes, a.ndim), keepdims=keepdim)

    def backward(ctx, g):
        # every summed element contributed with slope 1
        return _spread(g, ctx.axes, ctx.keepdim, ctx.shape)


class Mean(Function):
    def forward(ctx, a, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        ax = _dims.numpy_axes(axes, a.ndim)
        if type(a) is np.ndarray:
            total = np.add.reduce(a, axis=ax, keepdims=keepdim)
        else:
            total = a.sum(axis=ax, keepdims=keepdim)
        ctx.count = a.size // builtins.max(total.size, 1) if a.size else 0
        with _errstate(a, invalid="ignore"):  # the mean of nothing is nan, as in NumPy
            return total / constant(ctx.count, a.dtype, a)

    def backward(ctx, g):
        # each of the N averaged elements has slope 1/N
        return _spread(
            g / constant(builtins.max(ctx.count, 1), g.dtype, g), ctx.axes, ctx.keepdim, ctx.shape
        )


class Prod(Function):
    def forward(ctx, a, axes, keepdim):
        ctx.a, ctx.axes, ctx.keepdim = a, axes, keepdim
        return _xp(a).prod(a, axis=_dims.numpy_axes(axes, a.ndim), keepdims=keepdim)

    def backward(ctx, g):
        # d(prod)/da_i is the product of all the other elements; computed from
        # exclusive running products from both ends, so zeros are handled exactly.
        a, axes = ctx.a, ctx.axes
        xp = _xp(a)
        if a.ndim == 0:
            return g * xp.ones_like(a)
        if a.size == 0:  # nothing was multiplied: an empty gradient (no running products to take)
            return xp.zeros_like(a)
        red = tuple(range(a.ndim)) if axes is None else axes
        keep = [i for i in range(a.ndim) if i not in red]
        order = keep + list(red)
        moved = xp.transpose(a, order)
        flat = moved.reshape(moved.shape[: len(keep)] + (-1,))
        left = xp.ones_like(flat)
        right = xp.ones_like(flat)
        left[..., 1:] = xp.cumprod(flat[..., :-1], axis=-1)
        right[..., :-1] = xp.cumprod(flat[..., :0:-1], axis=-1)[..., ::-1]
        others = xp.transpose((left * right).reshape(moved.shape), tuple(np.argsort(order).tolist()))
        return _expand(g, axes, ctx.keepdim, a.shape) * others


class Extreme(Function):
    """amax/amin over some axes; ties share the gradient evenly (as PyTorch).

    With ``nan_shares`` (``max()``/``min()`` of the whole tensor) a NaN result
    sends its gradient to the NaN elements, as PyTorch's full max/min does;
    amax/amin give NaN gradients there instead (no element equals NaN), as
    PyTorch's amax/amin do.
    """

    def forward(ctx, a, axes, keepdim, largest, nan_shares=False):
        xp = _xp(a)
        reduce = xp.max if largest else xp.min
        out = reduce(a, axis=_dims.numpy_axes(axes, a.ndim), keepdims=True)
        ctx.a, ctx.out, ctx.axes, ctx.keepdim, ctx.nan_shares = a, out, axes, keepdim, nan_shares
        return out if keepdim or a.ndim == 0 else xp.squeeze(out, axis=axes)

    def backward(ctx, g):
        a, axes = ctx.a, ctx.axes
        xp = _xp(a)
        if ctx.nan_shares and a.dtype.kind == "f" and bool(xp.isnan(ctx.out).any()):
            hit = xp.isnan(a)  # the NaN elements made the result: they share its gradient
        else:
            hit = a == ctx.out
        # counted in the input's dtype, so the gradient stays float32 for float32 inputs
        count = hit.sum(axis=_dims.numpy_axes(axes, a.ndim), keepdims=True, dtype=a.dtype)
        return _expand(g, axes, ctx.keepdim, a.shape) * hit / count


class Var(Function):
    def forward(ctx, a, axes, keepdim, correction):
        ax = _dims.numpy_axes(axes, a.ndim)
        # centred on each slice's first element before averaging (shifted data):
        # a constant slice is then exactly 0 (its std gradient 0, as PyTorch),
        # and cancellation is smaller when the mean is large
        first = tuple(slice(0, 1) if ax is None or i in ax else slice(None) for i in range(a.ndim))
        xp = _xp(a)
        shifted = a - a[first]
        mean = xp.mean(shifted, axis=ax, keepdims=True)
        centered = shifted - mean
        n = a.size // builtins.max(mean.size, 1)
        ctx.centered, ctx.axes, ctx.keepdim, ctx.denom = centered, axes, keepdim, n - correction
        # degrees of freedom max(0, N - correction), as PyTorch: a correction >= N
        # gives inf or nan, never a negative variance
        dof = builtins.max(n - correction, 0)
        with _errstate(a, divide="ignore", invalid="ignore"):
            return xp.sum(centered * centered, axis=ax, keepdims=keepdim) / constant(dof, a.dtype, a)

    def backward(ctx, g):
        # d var / d a_i = 2 (a_i - mean) / (N - correction); the mean's own
        # dependence on a_i cancels because the centered values sum to zero.
        c = ctx.centered
        with _errstate(c, divide="ignore", invalid="ignore"):  # N <= correction: inf/nan, as PyTorch
            return _expand(g, ctx.axes, ctx.keepdim, c.shape) * (2 / constant(ctx.denom, c.dtype, c)) * c


class Std(Var):
    def forward(ctx, a, axes, keepdim, correction):
        ctx.std = _xp(a).sqrt(Var.forward(ctx, a, axes, keepdim, correction))
        return ctx.std

    def backward(ctx, g):
        # d std = d var / (2 std); on a constant slice (std 0) PyTorch takes the
        # subgradient 0 rather than 0 * inf = nan
        with _errstate(g, divide="ignore", invalid="ignore"):
            g = _xp(g).where(ctx.std == 0, 0, g / (2 * ctx.std))
        return Var.backward(ctx, g)


class LogSumExp(Function):
    def forward(ctx, a, axes, keepdim):
        ax = _dims.numpy_axes(axes, a.ndim)
        xp = _xp(a)
        if a.size == 0:  # an empty sum is 0 and its log -inf (as PyTorch); max has nothing to shift by
            m = xp.zeros_like(xp.sum(a, axis=ax, keepdims=True))
        else:
            m = xp.max(a, axis=ax, keepdims=True)
            m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or inf) slices: no shift
        with _errstate(a, divide="ignore"):
            out = xp.log(xp.sum(xp.exp(a - m), axis=ax, keepdims=True)) + m
        ctx.a, ctx.out, ctx.axes, ctx.keepdim = a, out, axes, keepdim
        return out if keepdim or a.ndim == 0 else xp.squeeze(out, axis=axes)

    def backward(ctx, g):
        # d logsumexp / d a_i = softmax(a)_i
        return _expand(g, ctx.axes, ctx.keepdim, ctx.a.shape) * _xp(g).exp(ctx.a - ctx.out)


class CumSum(Function):
    def forward(ctx, a, dim):
        ctx.dim = dim
        return a.copy() if a.ndim == 0 else _xp(a).cumsum(a, axis=dim)

    def backward(ctx, g):
        # out_j = sum_{i<=j} a_i, so a_i collects g_j for every j >= i: the
        # cumulative sum of g taken from the far end (reversed, cumsum, reversed)
        if g.ndim == 0:
            return g, None
        d = ctx.dim
        xp = _xp(g)
        return xp.flip(xp.cumsum(xp.flip(g, d), axis=d), d), None


@_dims.numpy_keywords
def sum(x: Tensor, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """Sum over ``dim`` (an int, a tuple, or None for all); bool and int sum to int64."""
    x = _accumulating_input(x, dtype)
    return Sum.apply(x, _dims.axes(dim, x.ndim, "sum"), keepdim)


@_dims.numpy_keywords
def mean(x: Tensor, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """Mean over ``dim``; integer tensors are averaged in the default float dtype."""
    x = _float_input(x, dtype)
    return Mean.apply(x, _dims.axes(dim, x.ndim, "mean"), keepdim)


@_dims.numpy_keywords
def prod(x: Tensor, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """Product over ``dim``; bool and int multiply in int64 (as :func:`sum`)."""
    x = _accumulating_input(x, dtype)
    return Prod.apply(x, _dims.axes(dim, x.ndim, "prod"), keepdim)


@_dims.numpy_keywords
def cumsum(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sums along ``dim``: ``out[..., j, ...] = sum(x[..., :j+1, ...])``; bool and int give int64."""
    d = _dims.axis(dim, x.ndim, "cumsum")
    x = _accumulating_input(x, dtype)
    return CumSum.apply(x, d)


def _check_nonempty(x: Tensor, axes: tuple[int, ...] | None, name: str) -> None:
    """max/min/argmax/... have no value over zero elements; other empty axes are fine."""
    if x._array.size == 0 and (axes is None or builtins.any(x.shape[a] == 0 for a in axes)):
        raise IndexError(f"{name}: cannot reduce a tensor with no elements (shape {x.shape})")


def _extreme(x: Tensor, dim: Any, keepdim: bool, largest: bool, name: str) -> Any:
    if isinstance(dim, Tensor):  # torch.max(a, b) is the elementwise maximum
        from chainrule.ops.elementwise import maximum, minimum

        return (maximum if largest else minimum)(x, dim)
    if dim is None:
        _check_nonempty(x, None, name)
        return Extreme.apply(x, None, False, largest, True)
    ax = _dims.axis(dim, x.ndim, name)
    _check_nonempty(x, (ax,), name)
    xp = _xp(x._array)
    if x.ndim == 0:  # the value itself (a copy that keeps the dtype: bool stays bool)
        values = Extreme.apply(x, None, False, largest)
        return (MaxResult if largest else MinResult)(values, Tensor._make(xp.zeros((), np.int64), None))
    idx = (xp.argmax if largest else xp.argmin)(x._array, axis=ax)
    idx = xp.expand_dims(idx, ax)
    name = "argmax" if largest else "argmin"
    record_plain(name, (x,), {"dim": ax, "keepdim": True}, Tensor._make(idx, None))  # an export's graph
    from chainrule.ops.shape import Gather

    values = Gather.apply(x, ax, idx)
    if not keepdim:
        values = values.squeeze(ax)
        idx = xp.squeeze(idx, ax)
    indices = Tensor._make(idx, None)
    record_plain(name, (x,), {"dim": ax, "keepdim": keepdim}, indices)
    return (MaxResult if largest else MinResult)(values, indices)


@_dims.numpy_keywords
def max(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The largest element; with ``dim``, a ``(values, indices)`` pair as in PyTorch."""
    return _extreme(x, dim, keepdim, True, "max")


@_dims.numpy_keywords
def min(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """The smallest element; with ``dim``, a ``(values, indices)`` pair as in PyTorch."""
    return _extreme(x, dim, keepdim, False, "min")


@_dims.numpy_keywords
def amax(x: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    axes = _dims.axes(dim, x.ndim, "amax")
    _check_nonempty(x, axes, "amax")
    return Extreme.apply(x, axes, keepdim, True)


@_dims.numpy_keywords
def amin(x: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    axes = _dims.axes(dim, x.ndim, "amin")
    _check_nonempty(x, axes, "amin")
    return Extreme.apply(x, axes, keepdim, False)


def _dim_or_unbiased(dim: Any, unbiased: Any, name: str) -> tuple[Any, Any]:
    """PyTorch's positional forms: ``var(x, dim, unbiased, keepdim)`` and ``var(x, unbiased)``.

    A bool where the dim goes is ``unbiased`` (``x.std(False)`` is the population
    std of everything, not the std over dim 0).
    """
    if isinstance(dim, (bool, np.bool_)):
        if unbiased is not None:
            raise TypeError(f"{name}: got unbiased twice (a bool dim, {dim}, and unbiased={unbiased})")
        return None, builtins.bool(dim)
    return dim, unbiased


def _correction(correction: Any, unbiased: Any) -> float:
    if correction is not None and unbiased is not None:
        raise ValueError("var/std: give either correction or unbiased, not both")
    if unbiased is not None:
        return 1 if unbiased else 0
    return 1 if correction is None else correction


@_dims.numpy_keywords
def var(
    x: Tensor,
    dim: Any = None,
    unbiased: Any = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> Tensor:
    """Variance over ``dim`` with Bessel's ``correction`` (1 by default, as PyTorch).

    Positional arguments follow PyTorch's ``var(x, dim, unbiased, keepdim)``
    (``x.var(0, False)`` is the population variance over dim 0), and a bool
    in the place of ``dim`` is ``unbiased`` (``x.var(False)``).
    """
    dim, unbiased = _dim_or_unbiased(dim, unbiased, "var")
    x = _float_input(x, None)
    return Var.apply(x, _dims.axes(dim, x.ndim, "var"), keepdim, _correction(correction, unbiased))


@_dims.numpy_keywords
def std(
    x: Tensor,
    dim: Any = None,
    unbiased: Any = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> Tensor:
    """Standard deviation: the square root of :func:`var` (gradient 0 where it is 0, as PyTorch)."""
    dim, unbiased = _dim_or_unbiased(dim, unbiased, "std")
    x = _float_input(x, None)
    return Std.apply(x, _dims.axes(dim, x.ndim, "std"), keepdim, _correction(correction, unbiased))


@_dims.numpy_keywords
def logsumexp(x: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``dim``, computed without overflow."""
    x = _float_input(x, None)
    return LogSumExp.apply(x, _dims.axes(dim, x.ndim, "logsumexp"), keepdim)


def _arg(fn: str, x: Tensor, dim: Any, keepdim: bool, name: str) -> Tensor:
    xp = _xp(x._array)
    op = fn
    fn = getattr(xp, fn)  # argmax or argmin
    if dim is None:
        _check_nonempty(x, None, name)
        idx = xp.asarray(fn(x._array))
        out = Tensor._make(idx.reshape((1,) * x.ndim) if keepdim else idx, None)
    else:
        ax = _dims.axis(dim, x.ndim, name)
        _check_nonempty(x, (ax,), name)
        if x.ndim == 0:
            return Tensor._make(xp.zeros((), np.int64), None)
        out = Tensor._make(fn(x._array, axis=ax, keepdims=keepdim), None)
        dim = ax
    record_plain(op, (x,), {"dim": dim, "keepdim": keepdim}, out)  # an export's graph needs the indices
    return out


@_dims.numpy_keywords
def argmax(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (over the flattened tensor when ``dim`` is None)."""
    return _arg("argmax", x, dim, keepdim, "argmax")


@_dims.numpy_keywords
def argmin(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _arg("argmin", x, dim, keepdim, "argmin")


@_dims.numpy_keywords
def any(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    ax = _dims.numpy_axes(_dims.axes(dim, x.ndim, "any"), x.ndim)
    out = Tensor._make(_xp(x._array).any(x._array, axis=ax, keepdims=keepdim), None)
    record_plain("any", (x,), {"dim": ax, "keepdim": keepdim}, out)
    return out


@_dims.numpy_keywords
def all(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    ax = _dims.numpy_axes(_dims.axes(dim, x.ndim, "all"), x.ndim)
    out = Tensor._make(_xp(x._array).all(x._array, axis=ax, keepdims=keepdim), None)
    record_plain("all", (x,), {"dim": ax, "keepdim": keepdim}, out)
    return out


@_dims.numpy_keywords
def var_mean(
    x: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
) -> tuple[Tensor, Tensor]:
    """``(var, mean)`` over ``dim`` in one call, as ``torch.var_mean`` (positional order as :func:`var`)."""
    dim, unbiased = _dim_or_unbiased(dim, unbiased, "var_mean")
    return var(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)


@_dims.numpy_keywords
def std_mean(
    x: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
) -> tuple[Tensor, Tensor]:
    """``(std, mean)`` over ``dim`` in one call, as ``torch.std_mean`` (positional order as :func:`std`)."""
    dim, unbiased = _dim_or_unbiased(dim, unbiased, "std_mean")
    return std(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)
