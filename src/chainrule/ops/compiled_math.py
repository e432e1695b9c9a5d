"""float32 ``exp`` and ``tanh`` for numba kernels, written so that the compiler vectorises them.

numba compiles ``math.exp`` and ``math.tanh`` to calls of the C library's
scalar functions, five to forty times slower than NumPy's vectorised loops.
These are branch-free: Cody-Waite range reduction ``x = k ln2 + r``,
``|r| <= ln2/2``, the Taylor series of ``e^r`` to degree 8 (its remainder,
``0.35^9/9!``, is below float32's half-ulp), and ``2^k`` built from its
exponent bits. Each is inlined where a kernel calls it.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["OPTIONS", "exp32", "expm1_neg32", "tanh32"]

# what every compiled kernel is built with: no GIL, machine code cached on disk, NumPy's float
# semantics (a division by zero gives inf, not an exception), fused multiply-adds allowed
OPTIONS = {"nogil": True, "cache": True, "error_model": "numpy", "fastmath": {"contract"}}
_F = np.float32
_LOG2E, _LN2_HI, _LN2_LO = _F(1.4426950408889634), _F(0.693359375), _F(-2.12194440e-4)
_EXP_HI, _EXP_LO, _TANH_CUT = _F(88.0), _F(-87.0), _F(9.0)  # e^88 < float32 max; tanh(9) rounds to 1
_ONE, _TWO, _HALF, _ZERO = _F(1.0), _F(2.0), _F(0.5), _F(0.0)
# 1/n! for n = 2..8: e^r - 1 = r (1 + r/2! + r^2/3! + ... ) in Horner form
_C2, _C3, _C4, _C5 = _F(1 / 2), _F(1 / 6), _F(1 / 24), _F(1 / 120)
_C6, _C7, _C8 = _F(1 / 720), _F(1 / 5040), _F(1 / 40320)
OPTIONS = {"nogil": True, "cache": True, "error_model": "numpy", "fastmath": {"contract"}}


@intrinsic
def _bits_as_float32(typingctx, bits):
    """The float32 whose IEEE bits are the int32 ``bits`` (a free reinterpretation, unlike a conversion)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@njit(inline="always", **OPTIONS)
def _pow2_and_rest(x):
    """``(2^k, e^r - 1)`` with ``x = k ln2 + r``: the two factors of ``e^x`` (x in float32's exp range)."""
    k = math.floor(x * _LOG2E + _HALF)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    q = r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (_C6 + r * (_C7 + r * _C8)))))))
    return _bits_as_float32((np.int32(k) + np.int32(127)) << np.int32(23)), q


@njit(inline="always", **OPTIONS)
def exp32(x):
    """``e^x`` in float32, clamped to ``[e^-87, e^88]`` (a NaN stays NaN)."""
    if x > _EXP_HI:
        x = _EXP_HI
    if x < _EXP_LO:
        x = _EXP_LO
    two_k, q = _pow2_and_rest(x)
    return two_k * q + two_k


@njit(inline="always", **OPTIONS)
def expm1_neg32(y):
    """``e^y - 1`` for ``-20 <= y <= 0`` with full relative precision near 0 (no ``1 - 1`` cancellation)."""
    two_k, q = _pow2_and_rest(y)
    return two_k * q + (two_k - _ONE)


@njit(inline="always", **OPTIONS)
def tanh32(x):
    """``tanh x = -(e^{-2|x|} - 1) / (e^{-2|x|} + 1)`` with the sign of x; precise near 0 too."""
    ax = abs(x)
    if ax > _TANH_CUT:
        ax = _TANH_CUT
    em = expm1_neg32(-_TWO * ax)
    return math.copysign(-em / (_TWO + em), x)


