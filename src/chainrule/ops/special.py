"""Numerically stable special functions on NumPy arrays, written once for every op that needs them.

They compute through the array module of their input (NumPy on the CPU, CuPy
on a GPU). These work on arrays, not tensors: they are the arithmetic inside forward and
backward passes (activations, losses, GELU in BERT, attention's softmax), not
differentiable ops themselves. Each is the fastest form found that stays exact
in the tails and never overflows:

- :func:`sigmoid`, :func:`softplus`: no exponential sees an argument that could
  overflow; :func:`log1p` and :func:`expm1_nonpositive` are float32 forms of
  NumPy's (whose float32 versions are scalar loops) accurate to a few ulps.
- :func:`erf`, :func:`erfc`: W. J. Cody's rational Chebyshev approximations
  ("Rational Chebyshev approximations for the error function", Math. Comp. 23,
  1969; Netlib SPECFUN ``calerf``), vectorised, accurate to float64 rounding.
- :func:`normal_cdf`: Cody's erfc in float64; in float32 a one-expression fit
  of erfc accurate to float32, several times faster.
- :func:`softmax_rows`: softmax over the last axis in place, fully masked rows
  (all ``-inf``) giving zeros; :func:`softmax_backward_rows`, its backward
  (in float32 a compiled row loop where numba is installed).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.ops import compiled
from chainrule.tensor import Tensor

__all__ = [
    "erf",
    "erfc",
    "expm1_nonpositive",
    "log1p",
    "normal_cdf",
    "sigmoid",
    "softmax_backward_rows",
    "softmax_rows",
    "softplus",
]

_SQRT1_2 = math.sqrt(0.5)
_xp = devices.array_module  # NumPy for a CPU array, CuPy for a GPU one


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
    xp = _xp(y)
    s = xp.trunc(y * 16.0)
    s /= 16.0
    d = (y - s) * (y + s)  # y^2 - s^2, accurate; s^2 itself is exact
    s *= s
    xp.negative(s, out=s)
    xp.exp(s, out=s)
    xp.negative(d, out=d)
    xp.exp(d, out=d)
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


def _erfc_tail(y: Any) -> Any:
    """``erfc(y)`` for y > 0.46875 on a device: both of Cody's tail approximations everywhere, then a
    select (no read-back of which elements fall where; each side sees its inputs clipped to its range)."""
    xp = _xp(y)
    ym = xp.minimum(y, 4.0)
    mid = _horner(ym, _C, _D) * _exp_neg_square(ym)
    yb = xp.clip(y, 4.0, 30.0)  # NaN stays NaN, and goes to this side as on the CPU
    z = 1.0 / (yb * yb)
    r = _horner(z, _P, _Q)
    r *= z
    xp.subtract(_INV_SQRT_PI, r, out=r)
    r /= yb
    r *= _exp_neg_square(yb)
    return xp.where(y <= 4.0, mid, r)


def _error_function_device(a: Any, complement: bool, dtype: np.dtype, work: np.dtype) -> Any:
    """The CPU's regions without gathering them by index: each approximation on the whole array, then
    a select, so that a GPU never waits for a count of the elements in each region."""
    xp = _xp(a)
    x = a.astype(work, copy=False)
    y = xp.abs(x)
    xs = xp.clip(x, -_ERF_SMALL, _ERF_SMALL)  # x itself where it is small
    e = xs * _horner(xs * xs, _A, _B)  # erf(x)
    if complement:
        e = 1.0 - e
    c = _erfc_tail(xp.maximum(y, _ERF_SMALL))  # erfc(|x|)
    if complement:
        fix = c * -2.0
        fix += 2.0
        fix *= x < 0
        c += fix
    else:
        c = 0.5 - c
        c += 0.5
        xp.copysign(c, x, out=c)
    return xp.where(y <= _ERF_SMALL, e, c).astype(dtype, copy=False)


def _error_function(x: Any, complement: bool) -> np.ndarray:
    a = x._array if isinstance(x, Tensor) else x if devices.is_device_array(x) else np.asarray(x)
    dtype = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    work = np.promote_types(dtype, np.float32)  # float16 computes in float32
    if type(a) is not np.ndarray:
        return _error_function_device(a, complement, dtype, work)
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


def normal_cdf(a: np.ndarray) -> np.ndarray:
    """The standard normal CDF ``Phi(x) = erfc(-x / sqrt 2) / 2``, accurate in both tails.

    float64 uses Cody's erfc; float32 (and float16, through float32) uses the
    single-expression fit above, several times faster than Cody's three regions.
    """
    if a.dtype == np.float64:
        cdf = erfc(a * -_SQRT1_2)
        cdf *= 0.5
        return cdf
    kernels = compiled.kernels("compiled_special", a)
    if kernels is not None:  # the same expression, one compiled pass
        out = np.empty_like(a)
        kernels.normal_cdf32(a.reshape(-1), out.reshape(-1))
        return out
    xp = _xp(a)
    x = a if a.dtype == np.float32 else a.astype(np.float32)
    z = xp.abs(x)
    z *= _SQRT1_2
    t = z * 0.5
    t += 1.0
    xp.reciprocal(t, out=t)
    p = t * _NR_ERFC[0]
    for c in _NR_ERFC[1:-1]:
        p += c
        p *= t
    p += _NR_ERFC[-1]
    z *= z
    p -= z
    xp.exp(p, out=p)
    p *= t
    p *= 0.5  # erfc(|x| / sqrt 2) / 2 = Phi(-|x|), exact in relative terms
    # Phi(x) = 1 - Phi(-x) for x >= 0, added as a masked term so the x < 0 side stays exact
    fix = p * -2.0
    fix += 1.0
    fix *= x >= 0
    p += fix
    return p if p.dtype == a.dtype else p.astype(a.dtype)



# ------------------------------------------------------ logistic and softplus
# The largest argument whose exp stays finite, per dtype: exp(-x) is taken of
# max(x, -limit), so sigmoid never overflows (and never warns).
_EXP_LIMIT = {np.dtype(np.float16): 11.0, np.dtype(np.float32): 88.0, np.dtype(np.float64): 709.0}

# NumPy's float32 log1p and expm1 are scalar loops, five to seven times slower
# than its vectorised exp, log and tanh; the float32 forms below use those and
# stay within a few ulps (float64 keeps NumPy's own).
_FAST = (np.dtype(np.float32), np.dtype(np.float16))


def sigmoid(a: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-a))``, exact in both tails and without overflow (no branch, no mask)."""
    xp = _xp(a)
    e = xp.maximum(a, -_EXP_LIMIT.get(a.dtype, 88.0))
    xp.negative(e, out=e)
    xp.exp(e, out=e)
    e += 1.0
    return xp.reciprocal(e, out=e)


def log1p(u: np.ndarray) -> np.ndarray:
    """``log(1 + u)`` (in place on u's copy). float32: log(w) + (u - (w - 1)) / w with w = 1 + u,
    which adds back the rounding error of 1 + u (exactly computable) to first order."""
    xp = _xp(u)
    if u.dtype not in _FAST:
        return xp.log1p(u)
    w = u + 1.0
    r = xp.log(w)
    err = w - 1.0
    xp.subtract(u, err, out=err)
    err /= w
    r += err
    return r


def expm1_nonpositive(v: np.ndarray) -> np.ndarray:
    """``exp(v) - 1`` for v <= 0. float32: 2 t / (1 - t) with t = tanh(v / 2), which has no
    cancellation near 0 (tanh is accurate there) and tends to -1 as v -> -inf."""
    xp = _xp(v)
    if v.dtype not in _FAST:
        return xp.expm1(v)
    t = xp.multiply(v, 0.5)
    xp.tanh(t, out=t)
    d = 1.0 - t
    t *= 2.0
    t /= d
    return t


def softplus(a: np.ndarray) -> np.ndarray:
    """``log(1 + exp(a)) = max(a, 0) + log1p(exp(-|a|))``: no overflow for large a, exact for small."""
    xp = _xp(a)
    u = xp.abs(a)
    xp.negative(u, out=u)
    xp.exp(u, out=u)
    out = log1p(u)
    out += xp.maximum(a, 0.0)
    return out


# -------------------------------------------------------------------- softmax
# Below this many scores NumPy serves the softmax's backward (no compiled kernel loaded for a tiny one).
_COMPILED_SOFTMAX_MIN = 1 << 12


def softmax_backward_rows(ds: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``ds = p * (ds - sum_j ds_j p_j)`` over the last axis, in place: the softmax's backward.

    ``p`` is the softmax and ``ds`` the gradient of its output on entry, of
    the scores on return (rows of the Jacobian ``P_i (delta_ij - P_j)``).
    """
    kernels = compiled.kernels("compiled_special", ds, p) if ds.size >= _COMPILED_SOFTMAX_MIN else None
    if kernels is not None and ds.shape == p.shape:
        kernels.softmax_backward_rows32(ds.reshape(-1, ds.shape[-1]), p.reshape(-1, p.shape[-1]))
        return ds
    xp = _xp(ds)
    row = np.vecdot(ds, p) if xp is np else (ds * p).sum(axis=-1)  # CuPy has no vecdot
    ds -= row[..., None]
    ds *= p
    return ds


def softmax_rows(s: np.ndarray, masked: bool, normalise: bool = True, base2: bool = False) -> np.ndarray:
    """Softmax over the last axis, in place; with ``masked``, rows with every entry -inf become all zeros.

    With ``base2`` the scores are in base 2 (s log2 e) and exp2 stands for exp
    (NumPy's exp2 takes about half exp's time). Returns each row's 1 / sum; with
    ``normalise=False`` the rows are left as exp(s - max), for a caller that
    scales a smaller result by it instead.
    """
    xp = _xp(s)
    m = xp.max(s, axis=-1, keepdims=True)
    if masked:
        # a fully masked row has max -inf; shifting by 0 instead leaves exp(-inf) = 0 everywhere
        m = xp.where(m == -np.inf, 0.0, m).astype(m.dtype, copy=False)
    s -= m
    (xp.exp2 if base2 else xp.exp)(s, out=s)
    total = s.sum(axis=-1, keepdims=True) if xp is not np else np.add.reduce(s, axis=-1, keepdims=True)
    if masked:
        total = xp.where(total == 0, 1.0, total).astype(total.dtype, copy=False)
    xp.reciprocal(total, out=total)
    if normalise:
        s *= total
    return total
