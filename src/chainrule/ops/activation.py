"""Activation functions: one fused autograd node each, the derivative written beside the forward.

Every function follows ``torch.nn.functional``: same name, argument names and
defaults, and the same value of the derivative at the kinks (ReLU-like
functions take the left slope at their breakpoints, as PyTorch does). All of
them stay finite for large |x|: no exponential sees an argument that could
overflow (``exp(-|x|)``, ``expm1(min(x, 0))``, ``exp`` of an argument clipped
at the dtype's limit), so x = +-1e4 gives no warning and a finite gradient.
Masks enter as multiplications rather than ``np.where`` (a data-dependent
select over a large array is several times slower), and work arrays are
updated in place.

The exact GELU needs the error function, which NumPy lacks: :func:`erf` and
:func:`erfc` below are W. J. Cody's rational Chebyshev approximations
("Rational Chebyshev approximations for the error function", Math. Comp. 23,
1969; Netlib SPECFUN ``calerf``), vectorised, accurate to float64 rounding.
GELU uses them in float64; in float32 it uses a one-expression fit of erfc
accurate to float32 (see :func:`_normal_cdf`), several times faster.

``inplace=True`` (accepted wherever PyTorch accepts it): when no graph is
recorded for the call (grad mode off, or the input does not require grad) the
result is written into the input's array and the input tensor is returned, as
in PyTorch. When a graph is recorded the op runs out of place and returns a new
tensor, leaving the input as it was: chainrule's graph points at tensors, so
rebinding the input would send the gradients of its earlier uses through this
op. Code that uses the returned value (``x = F.relu(x, inplace=True)``,
``nn.ReLU(inplace=True)``) gets the same values and gradients either way.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd import Function
from chainrule.ops.elementwise import Relu, Sigmoid, Tanh, cast
from chainrule.ops.fused import log_softmax as _log_softmax
from chainrule.ops.fused import softmax as _softmax
from chainrule.tensor import Tensor

__all__ = [
    "celu",
    "elu",
    "elu_",
    "erf",
    "erfc",
    "gelu",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hardtanh_",
    "leaky_relu",
    "leaky_relu_",
    "log_softmax",
    "logsigmoid",
    "mish",
    "relu",
    "relu6",
    "relu_",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softmin",
    "softplus",
    "tanh",
]

_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_C = 0.044715
# SELU's constants (Klambauer et al., 2017), as PyTorch spells them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# ---------------------------------------------------------------- error function
# Cody's coefficients (Netlib SPECFUN calerf), in Horner order as used below.
# |x| <= 0.46875:  erf(x) = x A(x^2) / B(x^2)
_A = (1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02,
      3.77485237685302021e02, 3.20937758913846947e03)  # fmt: skip
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)  # fmt: skip
# 0.46875 < |x| <= 4:  erfc(x) = exp(-x^2) C(|x|) / D(|x|)
_C = (2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00,
      6.61191906371416295e01, 2.98635138197400131e02, 8.81952221241769090e02,
      1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03)  # fmt: skip
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
# |x| > 4:  erfc(x) = exp(-x^2) / |x| (1/sqrt(pi) - z P(z) / Q(z)),  z = 1 / x^2
_P = (1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1,
      1.25781726111229246e-1, 1.60837851487422766e-2, 6.58749161529837803e-4)  # fmt: skip
_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)  # fmt: skip
_INV_SQRT_PI = 5.6418958354775628695e-1
_ERF_SMALL = 0.46875


def _horner(t: np.ndarray, num: tuple[float, ...], den: tuple[float, ...]) -> np.ndarray:
    """``num(t) / den(t)``; ``den`` is monic (its leading 1 is implicit), both evaluated in place."""
    p = t * num[0]
    for c in num[1:-1]:
        p += c
        p *= t
    p += num[-1]
    q = t + den[0]
    for c in den[1:-1]:
        q *= t
        q += c
    q *= t
    q += den[-1]
    p /= q
    return p


def _exp_neg_square(y: np.ndarray) -> np.ndarray:
    """``exp(-y^2)`` without the rounding error of y^2: y = s + r with s a multiple of 1/16 (Cody)."""
    s = np.trunc(y * 16.0)
    s /= 16.0
    d = (y - s) * (y + s)  # y^2 - s^2, accurate; s^2 itself is exact
    s *= s
    np.negative(s, out=s)
    np.exp(s, out=s)
    np.negative(d, out=d)
    np.exp(d, out=d)
    s *= d
    return s


def _erfc_beyond_small(y: np.ndarray) -> np.ndarray:
    """``erfc(y)`` for y > 0.46875 (a 1-D array), by Cody's second and third approximations."""
    mid = y <= 4.0
    if mid.all():
        return _horner(y, _C, _D) * _exp_neg_square(y)
    out = np.empty_like(y)
    i_mid, i_big = np.flatnonzero(mid), np.flatnonzero(~mid)  # NaN goes to the big side, and stays NaN
    ym = y[i_mid]
    out[i_mid] = _horner(ym, _C, _D) * _exp_neg_square(ym)
    yb = np.minimum(y[i_big], 30.0)  # erfc(30) underflows to 0 even in float64; y*y stays finite
    z = 1.0 / (yb * yb)
    r = _horner(z, _P, _Q)
    r *= z
    np.subtract(_INV_SQRT_PI, r, out=r)
    r /= yb
    r *= _exp_neg_square(yb)
    out[i_big] = r
    return out


def _error_function(x: Any, complement: bool) -> np.ndarray:
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    work = np.promote_types(dtype, np.float32)  # float16 computes in float32
    flat = a.astype(work, copy=False).ravel()
    y = np.abs(flat)
    small = y <= _ERF_SMALL
    # Gather each region's elements by index (far cheaper than boolean masks on
    # large arrays), evaluate its rational approximation, scatter back.
    i_small, i_tail = np.flatnonzero(small), np.flatnonzero(~small)
    out = np.empty_like(flat)
    if i_small.size:
        xs = flat[i_small]
        e = xs * _horner(xs * xs, _A, _B)  # erf(x)
        if complement:
            np.subtract(1.0, e, out=e)
        out[i_small] = e
    if i_tail.size:
        c = _erfc_beyond_small(y[i_tail])  # erfc(|x|)
        negative = flat[i_tail] < 0
        if complement:
            # erfc(-y) = 2 - erfc(y); added as a masked term, so that erfc(y) itself stays exact
            fix = c * -2.0
            fix += 2.0
            fix *= negative
            c += fix
        else:
            np.subtract(0.5, c, out=c)
            c += 0.5  # 1 - erfc(|x|), rounded as Cody does
            np.copysign(c, flat[i_tail], out=c)  # erf is odd
        out[i_tail] = c
    return out.reshape(a.shape).astype(dtype, copy=False)


def erf(x: Any) -> np.ndarray:
    """The error function of an array (or a tensor's array), elementwise, to float64 rounding.

    Cody's three rational approximations (|x| <= 0.46875, <= 4, beyond), in the
    input's floating dtype (float16 through float32; integers give float64).
    Not differentiable: it works on arrays, for use inside forward passes.
    """
    return _error_function(x, complement=False)


def erfc(x: Any) -> np.ndarray:
    """The complementary error function ``1 - erf(x)``, accurate in the tail where ``1 - erf`` is not."""
    return _error_function(x, complement=True)


# Numerical Recipes' erfc (Press et al., "erfcc": a Chebyshev fit of
# erfc(z) = t exp(-z^2 + R(t)), t = 1 / (1 + z/2)), with a relative error below
# 1.2e-7 for every z >= 0: float32 accuracy, tails included, in one exp and no
# branches. Coefficients of R from the highest power down.
_NR_ERFC = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
            0.09678418, 0.37409196, 1.00002368, -1.26551223)  # fmt: skip


def _normal_cdf(a: np.ndarray) -> np.ndarray:
    """The standard normal CDF ``Phi(x) = erfc(-x / sqrt 2) / 2``, accurate in both tails.

    float64 uses Cody's erfc; float32 (and float16, through float32) uses the
    single-expression fit above, several times faster than Cody's three regions.
    """
    if a.dtype == np.float64:
        cdf = erfc(a * -_SQRT1_2)
        cdf *= 0.5
        return cdf
    x = a if a.dtype == np.float32 else a.astype(np.float32)
    z = np.abs(x)
    z *= _SQRT1_2
    t = z * 0.5
    t += 1.0
    np.reciprocal(t, out=t)
    p = t * _NR_ERFC[0]
    for c in _NR_ERFC[1:-1]:
        p += c
        p *= t
    p += _NR_ERFC[-1]
    z *= z
    p -= z
    np.exp(p, out=p)
    p *= t
    p *= 0.5  # erfc(|x| / sqrt 2) / 2 = Phi(-|x|), exact in relative terms
    # Phi(x) = 1 - Phi(-x) for x >= 0, added as a masked term so the x < 0 side stays exact
    fix = p * -2.0
    fix += 1.0
    fix *= x >= 0
    p += fix
    return p if p.dtype == a.dtype else p.astype(a.dtype)


# -------------------------------------------------------------------- helpers
def _floating(x: Any, name: str) -> Tensor:
    """The input as a floating tensor: integer and bool tensors become the default float dtype."""
    if isinstance(x, Tensor):
        kind = x.data.dtype.kind
        if kind == "f":
            return x
        if kind in "biu":
            return cast(x, backend.get_default_dtype())
    raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")


def _apply(fn: type[Function], x: Tensor, *options: Any) -> Tensor:
    """``fn.apply(x, *options)``; a 0-d tensor goes through as shape (1,), because NumPy turns
    0-d results into scalars, which the in-place (``out=``) arithmetic of the ops cannot write to."""
    if x.data.ndim:
        return fn.apply(x, *options)
    return fn.apply(x.reshape(1), *options).reshape(())


def _write_back(x: Tensor, out: Tensor) -> Tensor:
    """``inplace=True``: write into ``x`` and return it when no graph was recorded (module docstring)."""
    if out._ctx is not None or out.data.dtype != x.data.dtype:
        return out
    np.copyto(x.data, out.data)
    return x


# The largest argument whose exp stays finite, per dtype: exp(-x) is taken of
# max(x, -limit), so sigmoid never overflows (and never warns).
_EXP_LIMIT = {np.dtype(np.float16): 11.0, np.dtype(np.float32): 88.0, np.dtype(np.float64): 709.0}

# NumPy's float32 log1p and expm1 are scalar loops, five to seven times slower
# than its vectorised exp, log and tanh; the float32 forms below use those and
# stay within a few ulps (float64 keeps NumPy's own).
_FAST = (np.dtype(np.float32), np.dtype(np.float16))


def _sigmoid(a: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-a))``, exact in both tails and without overflow (no branch, no mask)."""
    e = np.maximum(a, -_EXP_LIMIT.get(a.dtype, 88.0))
    np.negative(e, out=e)
    np.exp(e, out=e)
    e += 1.0
    return np.reciprocal(e, out=e)


def _log1p(u: np.ndarray) -> np.ndarray:
    """``log(1 + u)`` (in place on u's copy). float32: log(w) + (u - (w - 1)) / w with w = 1 + u,
    which adds back the rounding error of 1 + u (exactly computable) to first order."""
    if u.dtype not in _FAST:
        return np.log1p(u)
    w = u + 1.0
    r = np.log(w)
    err = w - 1.0
    np.subtract(u, err, out=err)
    err /= w
    r += err
    return r


def _expm1_nonpositive(v: np.ndarray) -> np.ndarray:
    """``exp(v) - 1`` for v <= 0. float32: 2 t / (1 - t) with t = tanh(v / 2), which has no
    cancellation near 0 (tanh is accurate there) and tends to -1 as v -> -inf."""
    if v.dtype not in _FAST:
        return np.expm1(v)
    t = np.multiply(v, 0.5)
    np.tanh(t, out=t)
    d = 1.0 - t
    t *= 2.0
    t /= d
    return t


def _softplus(a: np.ndarray) -> np.ndarray:
    """``log(1 + exp(a)) = max(a, 0) + log1p(exp(-|a|))``: no overflow for large a, exact for small."""
    u = np.abs(a)
    np.negative(u, out=u)
    np.exp(u, out=u)
    out = _log1p(u)
    out += np.maximum(a, 0.0)
    return out


# ------------------------------------------------------------- piecewise linear
class LeakyRelu(Function):
    def forward(ctx, a, slope):
        # the local slope: 1 for x > 0, negative_slope for x <= 0 (PyTorch takes the slope at 0)
        s = np.multiply(a > 0, 1.0 - slope, dtype=a.dtype)
        s += slope
        ctx.s = s
        return a * s

    def backward(ctx, g):
        # piecewise linear: d/dx = the slope used in forward
        return g * ctx.s, None


class Hardtanh(Function):
    def forward(ctx, a, lo, hi):
        ctx.a, ctx.lo, ctx.hi = a, lo, hi
        return np.clip(a, lo, hi)

    def backward(ctx, g):
        # slope 1 strictly inside (min_val, max_val), 0 outside and at the bounds
        a = ctx.a
        return g * ((a > ctx.lo) & (a < ctx.hi)), None, None


class Hardsigmoid(Function):
    def forward(ctx, a):
        ctx.a = a
        out = a / 6.0
        out += 0.5
        return np.clip(out, 0.0, 1.0, out=out)

    def backward(ctx, g):
        # relu6(x + 3) / 6: slope 1/6 strictly inside (-3, 3), 0 elsewhere
        a = ctx.a
        d = g * ((a > -3.0) & (a < 3.0))
        d /= 6.0
        return d


class Hardswish(Function):
    def forward(ctx, a):
        ctx.a = a
        gate = a / 6.0
        gate += 0.5
        np.clip(gate, 0.0, 1.0, out=gate)
        gate *= a
        return gate

    def backward(ctx, g):
        # x relu6(x + 3) / 6: slope 0 for x <= -3, x/3 + 1/2 for -3 < x < 3, 1 for x >= 3
        a = ctx.a
        d = a / 3.0
        d += 0.5
        d *= (a > -3.0) & (a < 3.0)
        d += a >= 3.0
        d *= g
        return d


# --------------------------------------------------------------- exponential
class Elu(Function):
    """``scale * x`` for x > 0, ``scale * alpha * (exp(input_scale * x) - 1)`` otherwise.

    ELU, SELU and CELU are this one function with different constants (as in PyTorch's kernel).
    """

    def forward(ctx, a, alpha, scale, input_scale):
        v = np.minimum(a, 0.0)  # expm1 of a non-positive number: never overflows
        if input_scale != 1.0:
            v *= input_scale
        neg = _expm1_nonpositive(v)  # 0 where x > 0
        neg *= alpha * scale
        ctx.a, ctx.neg, ctx.consts = a, neg, (alpha, scale, input_scale)
        pos = np.maximum(a, 0.0)
        if scale != 1.0:
            pos *= scale
        pos += neg
        return pos

    def backward(ctx, g):
        # x > 0: scale.  x <= 0: scale alpha input_scale exp(input_scale x)
        # = input_scale (neg + scale alpha), from the saved negative part. The
        # positive side, where neg = 0, gets scale - input_scale scale alpha added.
        alpha, scale, input_scale = ctx.consts
        d = ctx.neg + scale * alpha
        if input_scale != 1.0:
            d *= input_scale
        d += np.multiply(ctx.a > 0, scale - input_scale * scale * alpha, dtype=d.dtype)
        d *= g
        return d, None, None, None


class Gelu(Function):
    def forward(ctx, a, approximate):
        ctx.a, ctx.approximate = a, approximate
        if approximate == "tanh":
            # 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
            u = a * a
            u *= _GELU_TANH_C
            u += 1.0
            u *= a
            u *= _SQRT_2_OVER_PI
            t = np.tanh(u, out=u)
            ctx.t = t
            out = t + 1.0
            out *= a
            out *= 0.5
            return out
        # x Phi(x), with the normal CDF Phi(x) = erfc(-x / sqrt 2) / 2
        cdf = _normal_cdf(a)
        ctx.cdf = cdf
        return a * cdf

    def backward(ctx, g):
        a = ctx.a
        if ctx.approximate == "tanh":
            # d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
            t = ctx.t
            du = a * a
            du *= 3.0 * _GELU_TANH_C
            du += 1.0
            du *= _SQRT_2_OVER_PI
            du *= 1.0 - t * t
            du *= a
            du += t
            du += 1.0
            du *= 0.5
            du *= g
            return du, None
        # d/dx x Phi(x) = Phi(x) + x phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
        pdf = a * a
        pdf *= -0.5
        np.exp(pdf, out=pdf)
        pdf *= _INV_SQRT_2PI
        pdf *= a
        pdf += ctx.cdf
        pdf *= g
        return pdf, None


class Silu(Function):
    def forward(ctx, a):
        s = _sigmoid(a)
        ctx.a, ctx.s = a, s
        return a * s

    def backward(ctx, g):
        # d/dx x s(x) = s + x s (1 - s) = s (1 + x (1 - s))
        s = ctx.s
        d = 1.0 - s
        d *= ctx.a
        d += 1.0
        d *= s
        d *= g
        return d


class Softplus(Function):
    def forward(ctx, a, beta, threshold):
        ba = a * beta if beta != 1.0 else a
        linear = ba > threshold  # PyTorch returns x itself above the threshold
        soft = _softplus(ba)
        if beta != 1.0:
            soft /= beta
        ctx.ba, ctx.linear = ba, linear
        np.copyto(soft, a, where=linear)  # the linear part is rare (or empty): a cheap masked copy
        return soft

    def backward(ctx, g):
        # d/dx log(1 + exp(beta x)) / beta = sigmoid(beta x); 1 on the linear part
        s = _sigmoid(ctx.ba)
        np.copyto(s, 1.0, where=ctx.linear)
        s *= g
        return s, None, None


class Mish(Function):
    def forward(ctx, a):
        sp = _softplus(a)
        t = np.tanh(sp)
        ctx.a, ctx.sp, ctx.t = a, sp, t
        return a * t

    def backward(ctx, g):
        # d/dx x tanh(sp(x)) = tanh(sp) + x (1 - tanh^2(sp)) sigmoid(x), and
        # sigmoid(x) = 1 - exp(-sp(x)) = -expm1(-sp): no overflow, exact for small sp
        t = ctx.t
        sig = _expm1_nonpositive(-ctx.sp)
        np.negative(sig, out=sig)
        sig *= 1.0 - t * t
        sig *= ctx.a
        sig += t
        sig *= g
        return sig


class LogSigmoid(Function):
    def forward(ctx, a):
        # log sigmoid(x) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|))
        u = np.abs(a)
        np.negative(u, out=u)
        np.exp(u, out=u)
        out = _log1p(u)
        np.subtract(np.minimum(a, 0.0), out, out=out)
        ctx.out = out
        return out

    def backward(ctx, g):
        # d/dx log sigmoid(x) = 1 - sigmoid(x) = 1 - exp(out) = -expm1(out), out <= 0
        d = _expm1_nonpositive(ctx.out)
        np.negative(d, out=d)
        d *= g
        return d


# ---------------------------------------------------------------- public API
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)``; gradient 1 for x > 0, else 0."""
    if not isinstance(input, Tensor):
        raise TypeError(f"relu: expected a Tensor, got {type(input).__name__}")
    out = Relu.apply(input)
    return _write_back(input, out) if inplace else out


def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))``, computed without overflow."""
    return Sigmoid.apply(_floating(input, "sigmoid"))


def tanh(input: Tensor) -> Tensor:
    return Tanh.apply(_floating(input, "tanh"))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` for x > 0, ``negative_slope * x`` otherwise."""
    out = _apply(LeakyRelu, _floating(input, "leaky_relu"), float(negative_slope))
    return _write_back(input, out) if inplace else out


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` clipped to ``[min_val, max_val]``; gradient 1 strictly inside, 0 elsewhere."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    out = _apply(Hardtanh, _floating(input, "hardtanh"), float(min_val), float(max_val))
    return _write_back(input, out) if inplace else out


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``: hardtanh on [0, 6]."""
    out = _apply(Hardtanh, _floating(input, "relu6"), 0.0, 6.0)
    return _write_back(input, out) if inplace else out


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``relu6(x + 3) / 6``: a piecewise-linear sigmoid."""
    out = _apply(Hardsigmoid, _floating(input, "hardsigmoid"))
    return _write_back(input, out) if inplace else out


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * relu6(x + 3) / 6`` (MobileNetV3)."""
    out = _apply(Hardswish, _floating(input, "hardswish"))
    return _write_back(input, out) if inplace else out


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    out = _apply(Elu, _floating(input, "elu"), float(alpha), 1.0, 1.0)
    return _write_back(input, out) if inplace else out


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """Self-normalising ELU: ``scale * elu(x, alpha)`` with the fixed constants of Klambauer et al."""
    out = _apply(Elu, _floating(input, "selu"), _SELU_ALPHA, _SELU_SCALE, 1.0)
    return _write_back(input, out) if inplace else out


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``: ELU made continuously differentiable."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (the function divides by it)")
    out = _apply(Elu, _floating(input, "celu"), float(alpha), 1.0, 1.0 / alpha)
    return _write_back(input, out) if inplace else out


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """``x * Phi(x)`` with the normal CDF Phi (exact, through erf), or its tanh approximation.

    ``approximate="tanh"`` computes ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.
    """
    if approximate != "none" and approximate != "tanh":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _apply(Gelu, _floating(input, "gelu"), approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)`` (also called swish)."""
    out = _apply(Silu, _floating(input, "silu"))
    return _write_back(input, out) if inplace else out


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``."""
    out = _apply(Mish, _floating(input, "mish"))
    return _write_back(input, out) if inplace else out


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold`` (PyTorch's rule).

    Computed as ``max(bx, 0) + log1p(exp(-|bx|))``, so it stays finite for any threshold.
    """
    return _apply(Softplus, _floating(input, "softplus"), float(beta), float(threshold))


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(x))`` computed as ``min(x, 0) - log1p(exp(-|x|))``: finite for any x."""
    return _apply(LogSigmoid, _floating(input, "logsigmoid"))


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    """PyTorch's legacy implicit dim (0 for 0-, 1- and 3-D input, else 1), with its warning."""
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (``F.softmax``: dim=None picks PyTorch's legacy dim)."""
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    return _softmax(input, dim, dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """``log(softmax(x))`` along ``dim``, computed directly (``F.log_softmax``)."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    return _log_softmax(input, dim, dtype)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """``softmax(-x)`` along ``dim``."""
    if dim is None:
        dim = _softmax_dim("softmin", input.ndim, _stacklevel)
    return _softmax(-_floating(input, "softmin"), dim, dtype)
