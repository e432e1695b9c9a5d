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

The exact GELU needs the error function, which NumPy lacks: :func:`erf`,
:func:`erfc` and the normal CDF come from :mod:`chainrule.ops.special` (Cody's
approximations in float64, a one-expression fit in float32), as do the stable
sigmoid and softplus used below.

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

from chainrule import devices
from chainrule.autograd import Function, bump_version, is_grad_enabled, is_tracing
from chainrule.ops.dtypes import as_floating as _floating
from chainrule.ops.elementwise import Relu, Sigmoid, Tanh
from chainrule.ops.fused import log_softmax as _log_softmax
from chainrule.ops.fused import softmax as _softmax
from chainrule.ops.inplace import write_back as _write_back
from chainrule.ops.special import erf, erfc
from chainrule.ops.special import expm1_nonpositive as _expm1_nonpositive
from chainrule.ops.special import log1p as _log1p
from chainrule.ops.special import normal_cdf as _normal_cdf
from chainrule.ops.special import sigmoid as _sigmoid
from chainrule.ops.special import softplus as _softplus
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

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_C = 0.044715
# SELU's constants (Klambauer et al., 2017), as PyTorch spells them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)


# -------------------------------------------------------------------- helpers
def _apply(fn: type[Function], x: Tensor, *options: Any) -> Tensor:
    """``fn.apply(x, *options)``; a 0-d tensor goes through as shape (1,), because NumPy turns
    0-d results into scalars, which the in-place (``out=``) arithmetic of the ops cannot write to."""
    if x._array.ndim:
        return fn.apply(x, *options)
    return fn.apply(x.reshape(1), *options).reshape(())


# ------------------------------------------------------------- piecewise linear
class LeakyRelu(Function):
    def forward(ctx, a, slope):
        xp = _xp(a)
        # the local slope: 1 for x > 0, negative_slope for x <= 0 (PyTorch takes the slope at 0)
        s = xp.multiply(a > 0, 1.0 - slope, dtype=a.dtype)
        s += slope
        ctx.s = s
        return a * s

    def backward(ctx, g):
        # piecewise linear: d/dx = the slope used in forward
        return g * ctx.s, None


class Hardtanh(Function):
    def forward(ctx, a, lo, hi):
        xp = _xp(a)
        ctx.a, ctx.lo, ctx.hi = a, lo, hi
        return xp.clip(a, lo, hi)

    def backward(ctx, g):
        # slope 1 strictly inside (min_val, max_val), 0 outside and at the bounds
        a = ctx.a
        return g * ((a > ctx.lo) & (a < ctx.hi)), None, None


class Hardsigmoid(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        out = a / 6.0
        out += 0.5
        return xp.clip(out, 0.0, 1.0, out=out)

    def backward(ctx, g):
        # relu6(x + 3) / 6: slope 1/6 strictly inside (-3, 3), 0 elsewhere
        a = ctx.a
        d = g * ((a > -3.0) & (a < 3.0))
        d /= 6.0
        return d


class Hardswish(Function):
    def forward(ctx, a):
        xp = _xp(a)
        ctx.a = a
        gate = a / 6.0
        gate += 0.5
        xp.clip(gate, 0.0, 1.0, out=gate)
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
        xp = _xp(a)
        v = xp.minimum(a, 0.0)  # expm1 of a non-positive number: never overflows
        if input_scale != 1.0:
            v *= input_scale
        neg = _expm1_nonpositive(v)  # 0 where x > 0
        neg *= alpha * scale
        ctx.a, ctx.neg, ctx.consts = a, neg, (alpha, scale, input_scale)
        pos = xp.maximum(a, 0.0)
        if scale != 1.0:
            pos *= scale
        pos += neg
        return pos

    def backward(ctx, g):
        xp = _xp(g)
        # x > 0: scale.  x <= 0: scale alpha input_scale exp(input_scale x)
        # = input_scale (neg + scale alpha), from the saved negative part. The
        # positive side, where neg = 0, gets scale - input_scale scale alpha added.
        alpha, scale, input_scale = ctx.consts
        d = ctx.neg + scale * alpha
        if input_scale != 1.0:
            d *= input_scale
        d += xp.multiply(ctx.a > 0, scale - input_scale * scale * alpha, dtype=d.dtype)
        d *= g
        return d, None, None, None


class Gelu(Function):
    def forward(ctx, a, approximate):
        xp = _xp(a)
        ctx.a, ctx.approximate = a, approximate
        if approximate == "tanh":
            # 0.5 x (1 + tanh(u)),  u = sqrt(2/pi) (x + 0.044715 x^3)
            u = a * a
            u *= _GELU_TANH_C
            u += 1.0
            u *= a
            u *= _SQRT_2_OVER_PI
            t = xp.tanh(u, out=u)
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
        xp = _xp(g)
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
        xp.exp(pdf, out=pdf)
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
        xp = _xp(a)
        ba = a * beta if beta != 1.0 else a
        linear = ba > threshold  # PyTorch returns x itself above the threshold
        soft = _softplus(ba)
        if beta != 1.0:
            soft /= beta
        ctx.ba, ctx.linear = ba, linear
        xp.copyto(soft, a, where=linear)  # the linear part is rare (or empty): a cheap masked copy
        return soft

    def backward(ctx, g):
        xp = _xp(g)
        # d/dx log(1 + exp(beta x)) / beta = sigmoid(beta x); 1 on the linear part
        s = _sigmoid(ctx.ba)
        xp.copyto(s, 1.0, where=ctx.linear)
        s *= g
        return s, None, None


class Mish(Function):
    def forward(ctx, a):
        xp = _xp(a)
        sp = _softplus(a)
        t = xp.tanh(sp)
        ctx.a, ctx.sp, ctx.t = a, sp, t
        return a * t

    def backward(ctx, g):
        xp = _xp(g)
        # d/dx x tanh(sp(x)) = tanh(sp) + x (1 - tanh^2(sp)) sigmoid(x), and
        # sigmoid(x) = 1 - exp(-sp(x)) = -expm1(-sp): no overflow, exact for small sp
        t = ctx.t
        sig = _expm1_nonpositive(-ctx.sp)
        xp.negative(sig, out=sig)
        sig *= 1.0 - t * t
        sig *= ctx.a
        sig += t
        sig *= g
        return sig


class LogSigmoid(Function):
    def forward(ctx, a):
        xp = _xp(a)
        # log sigmoid(x) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|))
        u = xp.abs(a)
        xp.negative(u, out=u)
        xp.exp(u, out=u)
        out = _log1p(u)
        xp.subtract(xp.minimum(a, 0.0), out, out=out)
        ctx.out = out
        return out

    def backward(ctx, g):
        xp = _xp(g)
        # d/dx log sigmoid(x) = 1 - sigmoid(x) = 1 - exp(out) = -expm1(out), out <= 0
        d = _expm1_nonpositive(ctx.out)
        xp.negative(d, out=d)
        d *= g
        return d


# ---------------------------------------------------------------- public API
def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)``; gradient 1 for x > 0, else 0."""
    if not isinstance(input, Tensor):
        raise TypeError(f"relu: expected a Tensor, got {type(input).__name__}")
    a = input._array
    if not (input._requires_grad and is_grad_enabled()) and not is_tracing() and a.dtype.kind in "fiu":
        # no graph: one pass, and no mask for a backward that will not come
        xp = devices.array_module(a)
        if not inplace:
            return Tensor._make(xp.maximum(a, 0), None)
        xp.maximum(a, 0, out=a)
        bump_version(input)
        return input
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
