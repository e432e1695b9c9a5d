"""Elementwise operations and their derivatives.

Each op's ``backward`` returns the gradient at the broadcast (output) shape;
the engine sums it back to each input's shape. Binary ops first bring their
operands to one dtype with PyTorch's promotion rule (:func:`promote`).
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from chainrule import backend, devices
from chainrule.autograd import Function, record_plain
from chainrule.ops import compiled
from chainrule.runtime import MEMORY_BOUND_ELEMENTS, MIN_PARALLEL_ELEMENTS, map_rows
from chainrule.tensor import Tensor

_SCALARS = (builtins.int, builtins.float, builtins.bool)
_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)
_errstate = devices.errstate  # NumPy's error state on the CPU, nothing on a device


# ----------------------------------------------------------------- operands
def as_operand(x: Any) -> Any:
    """A Tensor or a Python scalar; NumPy scalars become Python scalars, arrays become tensors."""
    if isinstance(x, np.generic):  # before the scalar check: np.float64 is a float subclass
        return x.item()
    if isinstance(x, (Tensor, *_SCALARS)):
        return x
    if isinstance(x, np.ndarray) or devices.is_device_array(x):
        return Tensor._make(x, None)
    raise TypeError(f"expected a Tensor or a number, got {type(x).__name__}")


def cast_to(x: Any, dtype: np.dtype) -> Any:
    """``x`` converted to ``dtype`` if it is a tensor of another dtype (differentiably)."""
    if isinstance(x, Tensor) and x._array.dtype != dtype:
        return cast(x, dtype)
    return x


def promote(*operands: Any) -> list[Any]:
    """Operands brought to the dtype PyTorch would compute in; scalars stay scalars."""
    ops = [as_operand(x) for x in operands]
    dt = backend.result_type(*[x._array if isinstance(x, Tensor) else x for x in ops])
    if dt.kind in "iu":
        # a Python int outside a small integer dtype's range wraps around, as in PyTorch
        # (uint8 - 1 is 255 - ...); NumPy 2 would raise OverflowError deep in the op
        info = np.iinfo(dt)
        ops = [
            np.array(x).astype(dt)[()]
            if type(x) is builtins.int and not info.min <= x <= info.max
            else x
            for x in ops
        ]
    return [cast_to(x, dt) for x in ops]


def promote_pair(a: Any, b: Any) -> list[Any] | tuple[Any, Any]:
    # Fast paths for the two common cases: same-dtype tensors, and a float
    # tensor with a Python number.
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            if a._array.dtype is b._array.dtype:
                return a, b
        elif type(b) is builtins.float or type(b) is builtins.int:
            if a._array.dtype.kind == "f":
                return a, b
    elif isinstance(b, Tensor) and (type(a) is builtins.float or type(a) is builtins.int):
        if b._array.dtype.kind == "f":
            return a, b
    return promote(a, b)


def float_pair(a: Any, b: Any) -> list[Any] | tuple[Any, Any]:
    """Like promote_pair, but integer results become the default float (true division)."""
    pa, pb = promote_pair(a, b)
    for x in (pa, pb):
        if isinstance(x, Tensor):
            if x._array.dtype.kind != "f":
                # from the original operands: a Python int stays exact (-1 / uint8 is -1.0, not 255.0)
                dt = backend.get_default_dtype()
                return cast_to(as_operand(a), dt), cast_to(as_operand(b), dt)
            break
    return pa, pb


def constant(value: Any, dtype: Any, like: Any) -> Any:
    """``value`` as a ``dtype`` constant to combine with array ``like``: a 0-d array on the CPU, a NumPy
    scalar on a device (a kernel argument there, so nothing is copied to the device)."""
    if type(like) is np.ndarray:
        return np.asarray(value, dtype)
    return np.dtype(dtype).type(value)


def _data(x: Any) -> Any:
    return x._array if isinstance(x, Tensor) else x


# ---------------------------------------------------------------- arithmetic
def _split_binary(ufunc: np.ufunc, a: Any, b: Any) -> Any:
    """``ufunc(a, b)`` for a large array ``a``: chunks on the pool's threads when ``b`` matches it.

    Chunks of a contiguous pass give the same bits as one pass. Callers test
    ``a.size >= MIN_PARALLEL_ELEMENTS`` first, so small arrays pay one compare.
    """
    if (
        type(b) is not np.ndarray
        or a.shape != b.shape
        or a.dtype != b.dtype
        or not (a.flags.c_contiguous and b.flags.c_contiguous)
    ):
        return ufunc(a, b)
    out = np.empty_like(a)
    fa, fb, fo = a.reshape(-1), b.reshape(-1), out.reshape(-1)
    map_rows(lambda i, j: ufunc(fa[i:j], fb[i:j], out=fo[i:j]), a.size, 1, min_elements=MEMORY_BOUND_ELEMENTS)
    return out


class Add(Function):
    def forward(ctx, a, b):
        if type(a) is np.ndarray and a.size >= MIN_PARALLEL_ELEMENTS:
            return _split_binary(np.add, a, b)
        return a + b

    def backward(ctx, g):
        return g, g


class Sub(Function):
    def forward(ctx, a, b):
        return a - b

    def backward(ctx, g):
        return g, -g


class Mul(Function):
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        if type(a) is np.ndarray and a.size >= MIN_PARALLEL_ELEMENTS:
            return _split_binary(np.multiply, a, b)
        return a * b

    def backward(ctx, g):
        # d(ab)/da = b, d(ab)/db = a
        if type(g) is np.ndarray and g.size >= MIN_PARALLEL_ELEMENTS:
            return _split_binary(np.multiply, g, ctx.b), _split_binary(np.multiply, g, ctx.a)
        return g * ctx.b, g * ctx.a


class Div(Function):
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a / b

    def backward(ctx, g):
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        ga = g / ctx.b
        return ga, -ga * ctx.a / ctx.b


class Neg(Function):
    def forward(ctx, a):
        return -a

    def backward(ctx, g):
        return -g


def _integer_power(a: Any, b: Any) -> Any:
    """Integer ``a ** b`` where a tensor exponent holds negatives, as PyTorch: ``a ** -n``
    is 1 for a = 1, +-1 for a = -1 (by parity) and 0 otherwise (NumPy refuses)."""
    xp = _xp(a, b)
    if not hasattr(a, "dtype"):  # a Python int takes the tensor's dtype (promote_pair's rule)
        a = xp.asarray(a, dtype=b.dtype)
    negative = b < 0
    out = xp.power(a, xp.where(negative, 0, b).astype(b.dtype, copy=False))
    sign = xp.where(b % 2 == 0, 1, -1).astype(out.dtype)
    small = xp.where(a == 1, xp.ones((), out.dtype), xp.where(a == -1, sign, xp.zeros((), out.dtype)))
    return xp.where(negative, small, out)


class Pow(Function):
    def forward(ctx, a, b):
        if hasattr(b, "ndim") and b.dtype.kind in "iu" and bool((b < 0).any()):
            out = _integer_power(a, b)  # NumPy refuses integers to negative integer powers
        else:  # (a negative number as the exponent stays refused, as in PyTorch)
            out = _xp(a, b).power(a, b)
        ctx.a, ctx.b, ctx.out = a, b, out
        return out

    def backward(ctx, g):
        a, b, out = ctx.a, ctx.b, ctx.out
        xp = _xp(out)
        needs = ctx.needs_input_grad
        ga = gb = None
        if needs[0]:
            # d(a^b)/da = b a^(b-1); zero where b == 0 (also at a == 0, where
            # a^(b-1) may be inf: that branch is discarded, without a warning)
            with _errstate(out, divide="ignore", invalid="ignore"):
                ga = xp.where(b == 0, 0, g * b * xp.power(a, b - 1))
        if needs[1]:
            # d(a^b)/db = a^b ln a; zero at a == 0 for b >= 0, as PyTorch defines it.
            # A Python-number base takes out's dtype first (np.log(2.0) is float64).
            with _errstate(out, divide="ignore", invalid="ignore"):
                la = xp.log(xp.asarray(a, dtype=out.dtype))
                gb = g * xp.where((a == 0) & (b >= 0), 0, out * la)
        return ga, gb


class PowScalar(Function):
    """``a ** p`` for a Python-number exponent: the common case, without Pow's masks."""

    def forward(ctx, a, p):
        ctx.a, ctx.p = a, p
        return a * a if p == 2 else _xp(a).power(a, p)

    def backward(ctx, g):
        # d(a^p)/da = p a^(p-1) (and 0 for p == 0)
        a, p = ctx.a, ctx.p
        if p == 2:
            return 2 * g * a, None
        if p == 0:
            return _xp(g).zeros_like(g), None
        with _errstate(a, divide="ignore", invalid="ignore"):
            return g * p * _xp(a).power(a, p - 1), None


class Remainder(Function):
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return _xp(a, b).mod(a, b)

    def backward(ctx, g):
        # a mod b = a - b floor(a / b): the floor is piecewise constant
        return g, -g * _xp(g).floor_divide(ctx.a, ctx.b)


def add(a: Any, b: Any, *, alpha: Any = 1) -> Tensor:
    """``a + alpha * b``, as ``torch.add``."""
    return Add.apply(*promote_pair(a, b if alpha == 1 else b * alpha))


def sub(a: Any, b: Any, *, alpha: Any = 1) -> Tensor:
    """``a - alpha * b``, as ``torch.sub``; a bool tensor on either side is refused, as in PyTorch."""
    for x in (a, b):
        if isinstance(x, Tensor) and x._array.dtype == np.bool_:
            raise TypeError(
                "sub: subtraction with a bool tensor is not supported; to invert a mask use ~ or "
                "logical_not(), to count use .int() or .float() first"
            )
    return Sub.apply(*promote_pair(a, b if alpha == 1 else b * alpha))


def mul(a: Any, b: Any) -> Tensor:
    return Mul.apply(*promote_pair(a, b))


class DivRounded(Function):
    """``a / b`` rounded toward zero ("trunc") or down ("floor"): flat, so gradient zero."""

    def forward(ctx, a, b, mode):
        xp = _xp(a)
        b_kind = b.dtype.kind if hasattr(b, "dtype") else np.asarray(b).dtype.kind
        if a.dtype.kind in "iu" and b_kind in "iu":
            q = xp.floor_divide(a, b)
            if mode == "trunc":  # floor and trunc differ where the exact quotient is negative and inexact
                q = q + ((xp.remainder(a, b) != 0) & ((a < 0) != (b < 0)))
            return q
        with _errstate(a, divide="ignore", invalid="ignore"):
            if mode == "floor":
                # floor_divide, not floor(a / b): the quotient that goes with remainder's
                # a = b q + r (1.0 // 0.1 is 9, though 1.0 / 0.1 rounds to 10.0), as PyTorch
                return xp.floor_divide(a, b)
            return xp.trunc(a / b)

    def backward(ctx, g):
        xp = _xp(g)
        return xp.zeros_like(g), xp.zeros_like(g), None


def check_integer_divisor(a: Tensor, b: Any, name: str) -> None:
    """Integer ``a`` over ``b``: refuse a zero divisor (as PyTorch) instead of NumPy's silent 0."""
    if a._array.dtype.kind not in "iub" or not a._array.size:
        return
    if isinstance(b, Tensor):
        if b._array.dtype.kind in "iub" and bool((b._array == 0).any()):
            raise ZeroDivisionError(f"{name}: integer division by zero (the divisor tensor holds a 0)")
    elif isinstance(b, (builtins.int, builtins.bool, np.integer)) and b == 0:  # np: a wrapped int
        raise ZeroDivisionError(f"{name}: integer division by zero")


def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Tensor:
    """True division; ``rounding_mode`` "trunc" or "floor" rounds the quotient (integers stay integers)."""
    if rounding_mode is None:
        return Div.apply(*float_pair(a, b))
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")
    a, b = promote_pair(a, b)
    if not isinstance(a, Tensor):  # a number over a tensor: the number joins the tensor's device
        a = Tensor._make(_xp(b._array).asarray(a, dtype=backend.result_type(a, b._array)), None)
    check_integer_divisor(a, b, "div")
    return DivRounded.apply(a, b, rounding_mode)


divide = div
true_divide = div


def neg(a: Tensor) -> Tensor:
    return Neg.apply(a)


def pow(a: Any, b: Any) -> Tensor:
    a, b = promote_pair(a, b)
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and a._array.dtype.kind == "f":
        return PowScalar.apply(a, b)
    return Pow.apply(a, b)


def remainder(a: Any, b: Any) -> Tensor:
    a, b = promote_pair(a, b)
    check_integer_divisor(a if isinstance(a, Tensor) else b, b, "remainder")
    return Remainder.apply(a, b)


def floor_divide(a: Any, b: Any) -> Tensor:
    """``a // b`` rounded toward negative infinity; not differentiable (its derivative is zero)."""
    a, b = promote_pair(a, b)
    check_integer_divisor(a if isinstance(a, Tensor) else b, b, "floor_divide")
    return nondiff("floor_divide", "floor_divide", a, b)


# ------------------------------------------------------------ unary functions
class Exp(Function):
    def forward(ctx, a):
        ctx.out = _xp(a).exp(a)
        return ctx.out

    def backward(ctx, g):
        return g * ctx.out


class Log(Function):
    def forward(ctx, a):
        ctx.a = a
        return _xp(a).log(a)

    def backward(ctx, g):
        return g / ctx.a


class Sqrt(Function):
    def forward(ctx, a):
        ctx.out = _xp(a).sqrt(a)
        return ctx.out

    def backward(ctx, g):
        # d sqrt(a) = 1 / (2 sqrt(a))
        return g / (2 * ctx.out)


class Abs(Function):
    def forward(ctx, a):
        ctx.a = a
        return _xp(a).abs(a)

    def backward(ctx, g):
        # d|a| = sign(a), with PyTorch's sign: 0 at a = 0 and at nan (not nan * g)
        a = ctx.a
        return g * ((a > 0).astype(g.dtype) - (a < 0).astype(g.dtype))


class Sin(Function):
    def forward(ctx, a):
        ctx.a = a
        return _xp(a).sin(a)

    def backward(ctx, g):
        return g * _xp(g).cos(ctx.a)


class Cos(Function):
    def forward(ctx, a):
        ctx.a = a
        return _xp(a).cos(a)

    def backward(ctx, g):
        return -g * _xp(g).sin(ctx.a)


class Tanh(Function):
    def forward(ctx, a):
        ctx.out = _xp(a).tanh(a)
        return ctx.out

    def backward(ctx, g):
        # d tanh = 1 - tanh^2
        y = ctx.out
        return g * (1 - y * y)


class Sigmoid(Function):
    def forward(ctx, a):
        # exp(-|a|) never overflows; pick the form that is exact on each side
        xp = _xp(a)
        e = xp.exp(-xp.abs(a))
        out = xp.where(a >= 0, 1, e) / (1 + e)
        ctx.out = out.astype(a.dtype, copy=False)
        return ctx.out

    def backward(ctx, g):
        # d sigmoid = sigmoid (1 - sigmoid)
        y = ctx.out
        return g * y * (1 - y)


class Relu(Function):
    # The backward needs only where the input was positive (or NaN, whose gradient passes, as in
    # PyTorch, which tests ``not out <= 0``): a boolean mask (1 byte an element)
    # is kept rather than the output (4 or 8), a quarter of the memory for an activation that
    # nothing else keeps (a ReLU before max pooling).
    def forward(ctx, a):
        if type(a) is not np.ndarray or a.size < MIN_PARALLEL_ELEMENTS or not a.flags.c_contiguous:
            out = _xp(a).maximum(a, 0)  # a device array (one kernel there), or a small one
            ctx.mask = ~(out <= 0)
            return out
        out, mask = np.empty_like(a), np.empty(a.shape, np.bool_)
        src, dst, m = a.reshape(-1), out.reshape(-1), mask.reshape(-1)
        kernels = compiled.kernels("compiled_activation", a, dtypes=_COMPILED_DTYPES)
        if kernels is not None:  # one pass, split over the pool only where it pays (see below)
            map_rows(
                lambda i, j: kernels.relu_forward(src[i:j], dst[i:j], m[i:j]), a.size, 1,
                min_elements=MEMORY_BOUND_ELEMENTS,
            )
        else:  # a large array: chunks of it on the pool's threads, the same values

            def chunk(i: int, j: int) -> None:
                np.maximum(src[i:j], 0, out=dst[i:j])
                np.less_equal(dst[i:j], 0, out=m[i:j])
                np.logical_not(m[i:j], out=m[i:j])

            map_rows(chunk, a.size, 1)
        ctx.mask = mask
        return out

    def backward(ctx, g):
        # slope 1 where the input was positive, 0 elsewhere (0 at 0, as PyTorch; NaN lets g through)
        mask = ctx.mask
        if (
            type(g) is not np.ndarray
            or g.size < MIN_PARALLEL_ELEMENTS
            or g.shape != mask.shape
            or not g.flags.c_contiguous
        ):
            return g * mask
        gx = np.empty(g.shape, np.result_type(g.dtype, np.bool_))
        gf, mf, xf = g.reshape(-1), mask.reshape(-1), gx.reshape(-1)
        kernels = compiled.kernels("compiled_activation", g, gx, dtypes=_COMPILED_DTYPES)
        if kernels is not None:
            map_rows(
                lambda i, j: kernels.relu_backward(gf[i:j], mf[i:j], xf[i:j]), g.size, 1,
                min_elements=MEMORY_BOUND_ELEMENTS,
            )
        else:
            map_rows(lambda i, j: np.multiply(gf[i:j], mf[i:j], out=xf[i:j]), g.size, 1)
        return gx


_COMPILED_DTYPES = (np.float32, np.float64)


class Square(Function):
    def forward(ctx, a):
        ctx.a = a
        return a * a

    def backward(ctx, g):
        return 2 * g * ctx.a


class Reciprocal(Function):
    def forward(ctx, a):
        ctx.out = 1 / a
        return ctx.out

    def backward(ctx, g):
        # d(1/a) = -1/a^2
        return -g * ctx.out * ctx.out


class Rsqrt(Function):
    def forward(ctx, a):
        ctx.out = 1 / _xp(a).sqrt(a)
        return ctx.out

    def backward(ctx, g):
        # d a^(-1/2) = -1/2 a^(-3/2)
        y = ctx.out
        return -0.5 * g * y * y * y


class Log1p(Function):
    def forward(ctx, a):
        ctx.a = a
        return _xp(a).log1p(a)

    def backward(ctx, g):
        return g / (1 + ctx.a)


class Expm1(Function):
    def forward(ctx, a):
        ctx.out = _xp(a).expm1(a)
        return ctx.out

    def backward(ctx, g):
        return g * (ctx.out + 1)


class Clone(Function):
    def forward(ctx, a):
        return a.copy()

    def backward(ctx, g):
        return g


class Cast(Function):
    def forward(ctx, a, dtype, copy=False):
        ctx.src = a.dtype
        return a.astype(dtype, copy=copy)

    def backward(ctx, g):
        return g.astype(ctx.src), None


def float_unary(fn: type[Function]) -> Any:
    def op(input: Tensor) -> Tensor:  # PyTorch's argument name
        if isinstance(input, Tensor) and input._array.dtype.kind == "f":
            return fn.apply(input)
        a = as_operand(input)
        if not isinstance(a, Tensor):
            a = Tensor._make(np.asarray(a), None)
        if a._array.dtype.kind != "f":
            a = cast(a, backend.get_default_dtype())
        return fn.apply(a)

    op.__name__ = fn.__name__.lower()
    op.__doc__ = f"Elementwise {op.__name__} (integer inputs give the default float dtype)."
    return op


exp = float_unary(Exp)
log = float_unary(Log)
sqrt = float_unary(Sqrt)
sin = float_unary(Sin)
cos = float_unary(Cos)
tanh = float_unary(Tanh)
sigmoid = float_unary(Sigmoid)
reciprocal = float_unary(Reciprocal)
rsqrt = float_unary(Rsqrt)
log1p = float_unary(Log1p)
expm1 = float_unary(Expm1)


def abs(a: Tensor) -> Tensor:
    return Abs.apply(a)


def relu(a: Tensor) -> Tensor:
    return Relu.apply(a)


def square(a: Tensor) -> Tensor:
    """``a * a``; a bool tensor squares as int64, as PyTorch's ``pow(a, 2)``."""
    if a._array.dtype == np.bool_:
        a = cast(a, backend.int64)
    return Square.apply(a)


def clone(a: Tensor) -> Tensor:
    return Clone.apply(a)


def cast(a: Tensor, dtype: Any, copy: bool = False) -> Tensor:
    """``a`` as ``dtype``; differentiable between floating dtypes, a plain conversion otherwise."""
    dt = backend.as_dtype(dtype)
    if dt == a._array.dtype and not copy:
        return a
    if dt.kind != "f":
        out = Tensor._make(a._array.astype(dt), None)
        record_plain(Cast, (a, dt), {"copy": copy}, out)
        return out
    return Cast.apply(a, dt, copy=copy)


# ------------------------------------------------------------------- rounding
# Piecewise constant: the derivative is 0 wherever it exists. As in PyTorch the
# output of a float input that requires grad requires grad too, and the
# gradient it passes back is zeros (not None).
def _flat_backward(ctx, g):
    # flat between the rounding points: slope 0 (any options get None)
    return _xp(g).zeros_like(g)


class Floor(Function):
    def forward(ctx, a):
        return _xp(a).floor(a)

    backward = _flat_backward


class Ceil(Function):
    def forward(ctx, a):
        return _xp(a).ceil(a)

    backward = _flat_backward


class Trunc(Function):
    def forward(ctx, a):
        return _xp(a).trunc(a)

    backward = _flat_backward


class Round(Function):
    def forward(ctx, a, decimals):
        xp = _xp(a)
        if decimals == 0:
            return xp.rint(a)  # half to even, as torch.round
        # PyTorch's steps, in at least float32: scale, round half to even, scale back
        work = np.promote_types(a.dtype, np.float32)
        x = a.astype(work, copy=False)
        p = work.type(10.0 ** builtins.abs(decimals))
        out = xp.rint(x * p) / p if decimals > 0 else xp.rint(x / p) * p
        return out.astype(a.dtype, copy=False)

    backward = _flat_backward


def _rounding(fn: type[Function], name: str, a: Any, *options: Any) -> Tensor:
    if not isinstance(a, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(a).__name__}")
    kind = a._array.dtype.kind
    if kind == "b":
        raise TypeError(f"{name}: not available for bool tensors")
    if kind in "iu":
        if options and options[0] != 0:
            raise TypeError(f"{name}: decimals={options[0]} needs a floating-point tensor, got {a.dtype}")
        return Tensor._make(a._array.copy(), None)  # integers are already whole (as PyTorch)
    return fn.apply(a, *options)


def floor(a: Tensor) -> Tensor:
    """The largest integer <= each element (gradient zero; integer tensors come back unchanged)."""
    return _rounding(Floor, "floor", a)


def ceil(a: Tensor) -> Tensor:
    """The smallest integer >= each element (gradient zero; integer tensors come back unchanged)."""
    return _rounding(Ceil, "ceil", a)


def trunc(a: Tensor) -> Tensor:
    """Each element rounded toward zero (gradient zero; integer tensors come back unchanged)."""
    return _rounding(Trunc, "trunc", a)


def round(a: Tensor, *, decimals: int = 0) -> Tensor:
    """Round to ``decimals`` decimal places, halves to even as ``torch.round`` (gradient zero)."""
    if isinstance(decimals, builtins.bool) or not hasattr(decimals, "__index__"):
        raise TypeError(f"round: decimals must be an int, got {type(decimals).__name__}")
    return _rounding(Round, "round", a, decimals.__index__())


# ------------------------------------------------- selections and comparisons
def _extreme_shares(g: Any, a: Any, b: Any) -> tuple[Any, Any]:
    """The gradients of ``maximum(a, b)`` (``minimum`` passes ``b, a``), PyTorch's rule.

    ``a`` gets ``g`` where it is not below ``b`` and ``b`` where it is not below
    ``a``, halved at a tie. A NaN compares false both ways: the NaN went
    through, so both inputs get the full ``g``.
    """
    # in g's dtype: 0.5 * (bool array) alone would be float64
    half = (0.5 * (a == b)).astype(g.dtype, copy=False)
    not_below_b = (~(a < b)).astype(g.dtype, copy=False)
    not_below_a = (~(b < a)).astype(g.dtype, copy=False)
    return g * (not_below_b - half), g * (not_below_a - half)


class Maximum(Function):
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return _xp(a, b).maximum(a, b)

    def backward(ctx, g):
        # the larger input gets the gradient; a tie splits it evenly (as PyTorch)
        return _extreme_shares(g, ctx.a, ctx.b)


class Minimum(Function):
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return _xp(a, b).minimum(a, b)

    def backward(ctx, g):
        return _extreme_shares(g, ctx.b, ctx.a)


class Clamp(Function):
    def forward(ctx, a, lo, hi):
        ctx.a, ctx.lo, ctx.hi = a, lo, hi
        xp = _xp(a)
        out = a if lo is None else xp.maximum(a, lo)
        return out if hi is None else xp.minimum(out, hi)

    def backward(ctx, g):
        # Each output element is one of a, lo or hi; that one gets the gradient.
        # PyTorch's masks: a where lo <= a <= hi (so a NaN a gets 0), lo where
        # a < lo < hi, hi where a > hi or hi < lo (inverted bounds give hi).
        a, lo, hi = ctx.a, ctx.lo, ctx.hi
        xp = _xp(g)
        zero = xp.zeros((), dtype=g.dtype)
        if lo is None:
            inside = a <= hi
        elif hi is None:
            inside = a >= lo
        else:
            inside = (a >= lo) & (a <= hi)
        ga = xp.where(inside, g, zero)
        glo = ghi = None
        if lo is not None:
            glo = xp.where((a < lo) & (lo < hi) if hi is not None else a < lo, g, zero)
        if hi is not None:
            ghi = xp.where((a > hi) | (hi < lo) if lo is not None else a > hi, g, zero)
        return ga, glo, ghi


class Where(Function):
    def forward(ctx, cond, a, b):
        ctx.cond = cond
        return _xp(cond, a, b).where(cond, a, b)

    def backward(ctx, g):
        cond = ctx.cond
        xp = _xp(g)
        zero = xp.zeros((), dtype=g.dtype)
        return None, xp.where(cond, g, zero), xp.where(cond, zero, g)


class MaskedFill(Function):
    def forward(ctx, a, mask, value):
        ctx.mask = mask
        xp = _xp(a)
        fill = xp.asarray(value, dtype=a.dtype) if hasattr(value, "shape") else constant(value, a.dtype, a)
        return xp.where(mask, fill, a)

    def backward(ctx, g):
        mask = ctx.mask
        xp = _xp(g)
        zero = xp.zeros((), dtype=g.dtype)
        gv = xp.where(mask, g, zero).sum() if ctx.needs_input_grad[2] else None
        return xp.where(mask, zero, g), None, gv


def maximum(a: Any, b: Any) -> Tensor:
    return Maximum.apply(*promote_pair(a, b))


def minimum(a: Any, b: Any) -> Tensor:
    return Minimum.apply(*promote_pair(a, b))


def clamp(a: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Limit every element to [min, max]; either bound may be None, a number or a tensor."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    ops = promote(a, *(x for x in (min, max) if x is not None))
    a = ops[0]
    lo = ops[1] if min is not None else None
    hi = ops[-1] if max is not None else None
    return Clamp.apply(a, lo, hi)


clip = clamp


_NOT_GIVEN = object()


def where(condition: Any, a: Any = _NOT_GIVEN, b: Any = _NOT_GIVEN) -> Any:
    """``a`` where ``condition`` holds, else ``b`` (all three broadcast together).

    With the condition alone, the indices where it holds: ``nonzero(condition, as_tuple=True)``.
    """
    if a is _NOT_GIVEN and b is _NOT_GIVEN:
        return nonzero(condition, as_tuple=True)
    if a is _NOT_GIVEN or b is _NOT_GIVEN:
        raise TypeError("where: give both values (where(condition, a, b)) or neither (where(condition))")
    cond = bool_mask(condition, "where")
    a, b = promote_pair(a, b)
    values = a._array if isinstance(a, Tensor) else b._array if isinstance(b, Tensor) else None
    if type(cond) is np.ndarray and devices.is_device_array(values):  # a host mask joins the values' device
        cond = devices.to_device(cond, devices.device_of(values))
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):  # two numbers: on the condition's device
        a = Tensor._make(_xp(cond).asarray(a, dtype=backend.result_type(a, b)), None)
    return Where.apply(cond, a, b)


def nonzero(a: Tensor, *, as_tuple: bool = False) -> Any:
    """Indices of the non-zero elements: (count, ndim) int64, or one index tensor per dim."""
    data = a._array if isinstance(a, Tensor) else np.asarray(a)
    xp = _xp(data)  # on a device the count of non-zeros is read back to size the result (a sync)
    if as_tuple:
        if data.ndim == 0:
            out = (Tensor._make(xp.flatnonzero(data).astype(np.int64), None),)
        else:
            out = tuple(Tensor._make(i.astype(np.int64, copy=False), None) for i in xp.nonzero(data))
        for axis, t in enumerate(out):  # an export's graph: NonZero's row for this axis
            record_plain("nonzero", (a,), {"axis": axis}, t)
        return out
    out = Tensor._make(xp.argwhere(data).astype(np.int64, copy=False), None)
    record_plain("nonzero", (a,), {"axis": None}, out)
    return out


def masked_fill(a: Tensor, mask: Any, value: Any) -> Tensor:
    """``a`` with ``value`` written where ``mask`` is True (mask broadcasts to ``a``)."""
    m = bool_mask(mask, "masked_fill", a._array)
    try:
        fits = np.broadcast_shapes(m.shape, a.shape) == a.shape
    except ValueError:  # NumPy's message names neither the op nor the tensor
        fits = False
    if not fits:
        raise ValueError(
            f"masked_fill: mask of shape {m.shape} does not broadcast to the tensor's shape {a.shape}"
        )
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
        if value._array.dtype != a._array.dtype:
            value = cast(value, a._array.dtype)
    return MaskedFill.apply(a, m, value)


def bool_mask(mask: Any, op: str, like: Any = None) -> np.ndarray:
    """The mask's bool array; a mask given as a list (or NumPy array) joins the device of array ``like``."""
    if isinstance(mask, Tensor):
        m = mask._array
    elif devices.is_device_array(mask):
        m = mask
    else:
        m = np.asarray(mask)
        if like is not None and devices.is_device_array(like):
            m = devices.to_device(m, devices.device_of(like))
    if m.dtype != np.bool_:
        raise TypeError(f"{op}: expected a bool mask, got dtype {m.dtype}")
    return m


def nondiff(fn: Any, name: str, *operands: Any) -> Tensor:
    """``fn`` on the operands' arrays as a tensor outside the graph (a str names an array-module function)."""
    arrays = [_data(x) for x in operands]
    if isinstance(fn, str):
        fn = getattr(_xp(*arrays), fn)
    try:
        out = fn(*arrays)
    except ValueError as e:
        shapes = ", ".join(str(getattr(x, "shape", ())) for x in arrays)
        raise ValueError(f"{name}: {e} (shapes {shapes})") from e
    t = Tensor._make(out, None)
    record_plain(name, operands, {}, t)
    return t


def _comparison(fn: Any, name: str) -> Any:
    def op(a: Any, b: Any) -> Tensor:
        return nondiff(fn, name, as_operand(a), as_operand(b))

    op.__name__ = name
    op.__doc__ = f"Elementwise ``{name}`` as a bool tensor (not differentiable)."
    return op


eq = _comparison("equal", "eq")
ne = _comparison("not_equal", "ne")
lt = _comparison("less", "lt")
le = _comparison("less_equal", "le")
gt = _comparison("greater", "gt")
ge = _comparison("greater_equal", "ge")
logical_and = _comparison("logical_and", "logical_and")
logical_or = _comparison("logical_or", "logical_or")
logical_xor = _comparison("logical_xor", "logical_xor")
bitwise_and = _comparison("bitwise_and", "bitwise_and")
bitwise_or = _comparison("bitwise_or", "bitwise_or")
bitwise_xor = _comparison("bitwise_xor", "bitwise_xor")


def logical_not(a: Tensor) -> Tensor:
    return nondiff("logical_not", "logical_not", a)


def bitwise_not(a: Tensor) -> Tensor:
    """``~a``: logical not for bool tensors, bitwise not for integers."""
    return nondiff("invert", "bitwise_not", a)


def isnan(a: Tensor) -> Tensor:
    return nondiff("isnan", "isnan", a)


def isinf(a: Tensor) -> Tensor:
    return nondiff("isinf", "isinf", a)


def isfinite(a: Tensor) -> Tensor:
    return nondiff("isfinite", "isfinite", a)


def equal(a: Tensor, b: Tensor) -> bool:
    """True when both tensors have the same shape and elements (``torch.equal``)."""
    return a.shape == b.shape and bool(_xp(a._array).array_equal(a._array, b._array))  # a Python bool: a sync


def allclose(a: Tensor, b: Any, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    x, y = _data(a), _data(b)
    return bool(_xp(x, y).allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan))  # a Python bool: a sync
