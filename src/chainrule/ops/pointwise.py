"""Elementwise math beyond the basic arithmetic: trigonometric, hyperbolic, other
log bases, error functions, and binary functions (atan2, hypot, fmod, ...).

Each Function keeps the derivative next to its forward; integer inputs are
computed in the default float dtype, as in PyTorch. Binary ops return the
gradient at the broadcast shape; the engine sums it back to each input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend, devices
from chainrule.autograd import Function
from chainrule.ops.elementwise import (
    as_operand,
    cast,
    check_integer_divisor,
    constant,
    float_pair,
    float_unary,
    nondiff,
    promote,
    promote_pair,
)
from chainrule.ops.special import erf as _erf_array
from chainrule.ops.special import erfc as _erfc_array
from chainrule.tensor import Tensor

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)
_errstate = devices.errstate  # NumPy's error state on the CPU, nothing on a device


# --------------------------------------------------------------- trigonometric
class Tan(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.out = xp.tan(a)
        return ctx.out

    def backward(ctx, g):
        # d tan = 1 + tan^2
        return g * (1 + ctx.out * ctx.out)


class Asin(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        return xp.arcsin(a)

    def backward(ctx, g):
        xp = _xp(g)
        # d asin = 1 / sqrt(1 - a^2)
        with _errstate(g, divide="ignore", invalid="ignore"):
            return g / xp.sqrt(1 - ctx.a * ctx.a)


class Acos(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        return xp.arccos(a)

    def backward(ctx, g):
        xp = _xp(g)
        # d acos = -1 / sqrt(1 - a^2)
        with _errstate(g, divide="ignore", invalid="ignore"):
            return -g / xp.sqrt(1 - ctx.a * ctx.a)


class Atan(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        return xp.arctan(a)

    def backward(ctx, g):
        # d atan = 1 / (1 + a^2)
        return g / (1 + ctx.a * ctx.a)


class Sinh(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        return xp.sinh(a)

    def backward(ctx, g):
        xp = _xp(g)
        return g * xp.cosh(ctx.a)


class Cosh(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        return xp.cosh(a)

    def backward(ctx, g):
        xp = _xp(g)
        return g * xp.sinh(ctx.a)


class Asinh(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        return xp.arcsinh(a)

    def backward(ctx, g):
        xp = _xp(g)
        # d asinh = 1 / sqrt(a^2 + 1)
        return g / xp.sqrt(ctx.a * ctx.a + 1)


class Acosh(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        return xp.arccosh(a)

    def backward(ctx, g):
        xp = _xp(g)
        # d acosh = 1 / sqrt(a^2 - 1)
        with _errstate(g, divide="ignore", invalid="ignore"):
            return g / xp.sqrt(ctx.a * ctx.a - 1)


class Atanh(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        return xp.arctanh(a)

    def backward(ctx, g):
        # d atanh = 1 / (1 - a^2)
        with _errstate(g, divide="ignore"):
            return g / (1 - ctx.a * ctx.a)


# ------------------------------------------------------ logarithms, exponentials
class Log2(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        with _errstate(a, divide="ignore", invalid="ignore"):
            return xp.log2(a)

    def backward(ctx, g):
        # d log2 a = 1 / (a ln 2)
        return g / (ctx.a * constant(_LN2, ctx.a.dtype, g))


class Log10(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        with _errstate(a, divide="ignore", invalid="ignore"):
            return xp.log10(a)

    def backward(ctx, g):
        return g / (ctx.a * constant(_LN10, ctx.a.dtype, g))


class Exp2(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.out = xp.exp2(a)
        return ctx.out

    def backward(ctx, g):
        # d 2^a = 2^a ln 2
        return g * ctx.out * constant(_LN2, ctx.out.dtype, g)


# ------------------------------------------------------------- error functions
class Erf(Function):
    def forward(ctx, a):
        ctx.a = a
        return _erf_array(a)

    def backward(ctx, g):
        xp = _xp(g)
        # d erf = 2/sqrt(pi) exp(-a^2)
        a = ctx.a
        return g * (constant(_TWO_OVER_SQRT_PI, a.dtype, g) * xp.exp(-a * a))


class Erfc(Function):
    def forward(ctx, a):
        ctx.a = a
        return _erfc_array(a)

    def backward(ctx, g):
        xp = _xp(g)
        a = ctx.a
        return -g * (constant(_TWO_OVER_SQRT_PI, a.dtype, g) * xp.exp(-a * a))


def _erfinv_array(y: np.ndarray) -> np.ndarray:
    # Giles' single-precision approximation ("Approximating the erfinv function",
    # 2010) as a start, then two Newton steps on erf(x) - y in float64.
    xp = _xp(y)
    y64 = y.astype(np.float64)
    with _errstate(y, divide="ignore", invalid="ignore"):
        w = -xp.log((1.0 - y64) * (1.0 + y64))
        small = w < 5.0
        ws = w - 2.5
        p1 = 2.81022636e-08
        for c in (
            3.43273939e-07,
            -3.5233877e-06,
            -4.39150654e-06,
            0.00021858087,
            -0.00125372503,
            -0.00417768164,
            0.246640727,
            1.50140941,
        ):
            p1 = c + p1 * ws
        wl = xp.sqrt(w) - 3.0
        p2 = -0.000200214257
        for c in (
            0.000100950558,
            0.00134934322,
            -0.00367342844,
            0.00573950773,
            -0.0076224613,
            0.00943887047,
            1.00167406,
            2.83297682,
        ):
            p2 = c + p2 * wl
        x = xp.where(small, p1, p2) * y64
        for _ in range(2):
            # Newton: x -= (erf(x) - y) / erf'(x)
            step = (_erf_array(x) - y64) / (_TWO_OVER_SQRT_PI * xp.exp(-x * x))
            x = xp.where(xp.isfinite(step), x - step, x)
        x = xp.where(y64 == 1, np.inf, xp.where(y64 == -1, -np.inf, x))
        x = xp.where(xp.abs(y64) > 1, np.nan, x)
    return x.astype(y.dtype, copy=False)


class Erfinv(Function):
    def forward(ctx, a):
        ctx.out = _erfinv_array(a)
        return ctx.out

    def backward(ctx, g):
        xp = _xp(g)
        # the inverse's derivative: 1 / erf'(x) = sqrt(pi)/2 exp(x^2)
        x = ctx.out
        return g * (constant(1 / _TWO_OVER_SQRT_PI, x.dtype, g) * xp.exp(x * x))


# ------------------------------------------------------------------ the others
class Logit(Function):
    def forward(ctx, a, eps):
        xp = _xp(a, eps)
        if eps is not None:
            ctx.inside = (a >= eps) & (a <= 1 - eps)
            a = xp.clip(a, eps, 1 - eps)
        else:
            ctx.inside = None
        ctx.a = a
        with _errstate(a, divide="ignore", invalid="ignore"):
            return xp.log(a / (1 - a))

    def backward(ctx, g):
        xp = _xp(g)
        # d logit = 1 / (a (1 - a)); zero where eps clamped the input, and nan
        # outside [0, 1] without eps, where logit itself is nan (as PyTorch)
        a = ctx.a
        with _errstate(g, divide="ignore", invalid="ignore"):
            ga = g / (a * (1 - a))
        if ctx.inside is not None:
            ga = xp.where(ctx.inside, ga, xp.zeros((), ga.dtype))
        else:
            ga = xp.where((a < 0) | (a > 1), xp.full((), xp.nan, ga.dtype), ga)
        return ga, None


class Softsign(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.den = 1 + xp.abs(a)
        return a / ctx.den

    def backward(ctx, g):
        # d a/(1+|a|) = 1 / (1+|a|)^2
        return g / (ctx.den * ctx.den)


class Frac(Function):
    def forward(ctx, a):
        xp = _xp(a)
        return a - xp.trunc(a)

    def backward(ctx, g):
        # the integer part is flat: slope 1
        return g


class Sign(Function):
    def forward(ctx, a):
        # PyTorch's (0 < a) - (a < 0): NaN gives 0
        return (a > 0).astype(a.dtype) - (a < 0).astype(a.dtype)

    def backward(ctx, g):
        xp = _xp(g)
        # flat everywhere but at 0: gradient zero, as PyTorch
        return xp.zeros_like(g)


class NanToNum(Function):
    def forward(ctx, a, nan, posinf, neginf):
        xp = _xp(a, nan, posinf, neginf)
        ctx.finite = xp.isfinite(a)
        return xp.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)

    def backward(ctx, g):
        xp = _xp(g)
        # replaced elements are constants: slope 0 there, 1 elsewhere
        return xp.where(ctx.finite, g, xp.zeros((), g.dtype)), None, None, None


tan = float_unary(Tan)
asin = float_unary(Asin)
acos = float_unary(Acos)
atan = float_unary(Atan)
sinh = float_unary(Sinh)
cosh = float_unary(Cosh)
asinh = float_unary(Asinh)
acosh = float_unary(Acosh)
atanh = float_unary(Atanh)
log2 = float_unary(Log2)
log10 = float_unary(Log10)
exp2 = float_unary(Exp2)
erf = float_unary(Erf)
erfc = float_unary(Erfc)
erfinv = float_unary(Erfinv)
softsign = float_unary(Softsign)
arcsin, arccos, arctan = asin, acos, atan
arcsinh, arccosh, arctanh = asinh, acosh, atanh


def logit(a: Tensor, eps: float | None = None) -> Tensor:
    """``log(a / (1 - a))``; with ``eps`` the input is first clamped to [eps, 1 - eps]."""
    if a._array.dtype.kind != "f":
        a = cast(a, backend.get_default_dtype())
    return Logit.apply(a, eps)


def frac(a: Tensor) -> Tensor:
    """The fractional part ``a - trunc(a)`` (gradient 1); floating-point tensors only, as PyTorch."""
    if a._array.dtype.kind != "f":
        raise TypeError(f"frac: expected a floating-point tensor, got {a.dtype}")
    return Frac.apply(a)


def sign(a: Tensor) -> Tensor:
    """-1, 0 or 1 per element; differentiable with gradient zero for float tensors (as PyTorch)."""
    if a._array.dtype == np.bool_:
        return Tensor._make(a._array.copy(), None)  # a bool is its own sign
    if a._array.dtype.kind != "f":
        return nondiff(lambda x: (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype), "sign", a)
    return Sign.apply(a)


sgn = sign  # for real tensors, sgn is sign


def nan_to_num(
    a: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Tensor:
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (default: the dtype's extremes)."""
    if a._array.dtype.kind != "f":
        return Tensor._make(a._array.copy(), None)
    return NanToNum.apply(a, nan, posinf, neginf)


# -------------------------------------------------------------------- binary
class Atan2(Function):
    def forward(ctx, a, b):
        xp = _xp(a, b)
        ctx.a, ctx.b = a, b
        return xp.arctan2(a, b)

    def backward(ctx, g):
        # d atan2(a, b) = (b da - a db) / (a^2 + b^2)
        a, b = ctx.a, ctx.b
        with _errstate(g, divide="ignore", invalid="ignore"):
            s = g / (a * a + b * b)
        return s * b, -s * a


class Hypot(Function):
    def forward(ctx, a, b):
        xp = _xp(a, b)
        ctx.a, ctx.b = a, b
        ctx.out = xp.hypot(a, b)
        return ctx.out

    def backward(ctx, g):
        # d sqrt(a^2 + b^2) = (a da + b db) / out
        with _errstate(g, divide="ignore", invalid="ignore"):
            s = g / ctx.out
        return s * ctx.a, s * ctx.b


class Fmod(Function):
    def forward(ctx, a, b):
        xp = _xp(a, b)
        ctx.a, ctx.b = a, b
        return xp.fmod(a, b)

    def backward(ctx, g):
        xp = _xp(g)
        # fmod(a, b) = a - b trunc(a / b): the trunc is flat
        if not ctx.needs_input_grad[1]:
            return g, None
        with _errstate(g, divide="ignore", invalid="ignore"):
            return g, -g * xp.trunc(ctx.a / ctx.b)


class Copysign(Function):
    def forward(ctx, a, b):
        xp = _xp(a, b)
        ctx.a = a
        ctx.out = xp.copysign(a, b)
        return ctx.out

    def backward(ctx, g):
        xp = _xp(g)
        # |a| with b's sign: slope out/a (+-1) for a, 0 at a == 0; none for b
        a = ctx.a
        with _errstate(g, divide="ignore", invalid="ignore"):
            ga = xp.where(a == 0, xp.zeros((), g.dtype), g * (ctx.out / a))
        return ga, xp.zeros_like(g)


class Logaddexp(Function):
    def forward(ctx, a, b):
        xp = _xp(a, b)
        ctx.a, ctx.b = a, b
        ctx.out = xp.logaddexp(a, b)
        return ctx.out

    def backward(ctx, g):
        xp = _xp(g)
        # d log(e^a + e^b) / da = e^a / (e^a + e^b) = 1 / (1 + e^(b - a)), written
        # with the difference (as PyTorch) so that a = inf, b finite gives 1, not
        # exp(inf - inf) = nan; e^(b - a) overflowing to inf gives the right 0
        a, b = ctx.a, ctx.b
        with _errstate(g, over="ignore", invalid="ignore"):
            return g / (1 + xp.exp(b - a)), g / (1 + xp.exp(a - b))


class Logaddexp2(Function):
    def forward(ctx, a, b):
        xp = _xp(a, b)
        ctx.a, ctx.b = a, b
        ctx.out = xp.logaddexp2(a, b)
        return ctx.out

    def backward(ctx, g):
        xp = _xp(g)
        # d log2(2^a + 2^b) / da = 2^a / (2^a + 2^b) = 1 / (1 + 2^(b - a)) (see Logaddexp)
        a, b = ctx.a, ctx.b
        with _errstate(g, over="ignore", invalid="ignore"):
            return g / (1 + xp.exp2(b - a)), g / (1 + xp.exp2(a - b))


class Xlogy(Function):
    def forward(ctx, x, y):
        xp = _xp(x, y)
        ctx.x, ctx.y = x, y
        with _errstate(x, divide="ignore", invalid="ignore"):
            out = x * xp.log(y)
        # 0 where x == 0 (unless y is NaN), as PyTorch
        return xp.where((x == 0) & ~xp.isnan(y), xp.zeros((), out.dtype), out)

    def backward(ctx, g):
        xp = _xp(g)
        # d x log y = log y dx + x / y dy; PyTorch takes dx = 0 where x == 0 and y <= 0
        x, y = ctx.x, ctx.y
        zero = xp.zeros((), g.dtype)
        with _errstate(g, divide="ignore", invalid="ignore"):
            gx = xp.where((x == 0) & (y <= 0), zero, g * xp.log(y))
            gy = g * x / y
        return gx, gy


class Lerp(Function):
    def forward(ctx, start, end, weight):
        xp = _xp(start, end, weight)
        ctx.weight, ctx.diff = weight, end - start
        # PyTorch's two-sided form: exact at weight 0 and at weight 1
        w = weight if isinstance(weight, np.ndarray) else xp.asarray(weight, dtype=start.dtype)
        return xp.where(xp.abs(w) < 0.5, start + w * ctx.diff, end - ctx.diff * (1 - w))

    def backward(ctx, g):
        xp = _xp(g)
        # d/dstart = 1 - w, d/dend = w, d/dweight = end - start
        w = ctx.weight if isinstance(ctx.weight, np.ndarray) else xp.asarray(ctx.weight, g.dtype)
        gw = g * ctx.diff if ctx.needs_input_grad[2] else None  # a number weight needs no gradient
        return g * (1 - w), g * w, gw


def _binary_float(fn: type[Function], name: str) -> Any:
    def op(a: Any, b: Any) -> Tensor:
        a, b = float_pair(a, b)
        if not isinstance(a, Tensor) and not isinstance(b, Tensor):
            raise TypeError(
                f"{name}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}"
            )
        if not isinstance(a, Tensor):
            a = Tensor._make(_xp(b._array).asarray(a, dtype=b._array.dtype), None)
        if not isinstance(b, Tensor):
            b = Tensor._make(_xp(a._array).asarray(b, dtype=a._array.dtype), None)
        return fn.apply(a, b)

    op.__name__ = name
    op.__doc__ = f"Elementwise ``{name}`` (broadcasting; integer inputs give the default float dtype)."
    return op


atan2 = _binary_float(Atan2, "atan2")
arctan2 = atan2
hypot = _binary_float(Hypot, "hypot")
copysign = _binary_float(Copysign, "copysign")
logaddexp = _binary_float(Logaddexp, "logaddexp")
logaddexp2 = _binary_float(Logaddexp2, "logaddexp2")
xlogy = _binary_float(Xlogy, "xlogy")


def fmod(a: Any, b: Any) -> Tensor:
    """C's remainder: ``a - b trunc(a / b)``, with the sign of ``a`` (``remainder`` takes b's)."""
    a, b = promote_pair(a, b)
    if not isinstance(a, Tensor):
        a = Tensor._make(_xp(b._array).asarray(a, dtype=backend.result_type(a, b._array)), None)
    check_integer_divisor(a, b, "fmod")
    return Fmod.apply(a, b)


def lerp(start: Tensor, end: Any, weight: Any) -> Tensor:
    """``start + weight * (end - start)``; ``weight`` is a number or a tensor (broadcasting)."""
    start, end, w = promote(start, end, weight)
    if not isinstance(end, Tensor):
        end = Tensor._make(_xp(start._array).asarray(end, dtype=start._array.dtype), None)
    return Lerp.apply(start, end, w if isinstance(w, Tensor) else float(w))


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """Elementwise ``|a - b| <= atol + rtol |b|`` as a bool tensor (not differentiable)."""
    return nondiff(
        lambda x, y: _xp(x, y).isclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan),
        "isclose",
        as_operand(a),
        as_operand(b),
    )
