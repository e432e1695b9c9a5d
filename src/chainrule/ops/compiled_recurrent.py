"""The recurrent layers' time loops compiled with numba: one call runs every step of a row block.

:mod:`chainrule.ops.recurrent` runs a layer's time loop as a dozen NumPy calls
per step. Each call is fast, but each gives the GIL up and takes it back, and
when the pool's threads run their own blocks of rows side by side they spend
the step queueing for it: an LSTM of batch 64 and hidden 128 gained nothing
from a second core. Here each block's whole loop is one compiled call that
holds no GIL (``nogil``): the gate arithmetic of a step is one pass over the
row, and the step's GEMM is NumPy's own OpenBLAS ``cblas_sgemm``, called
directly (:func:`chainrule.runtime.numpy_sgemm`), with the same thread
setting ``matmul`` would have.

The buffers and their meaning are exactly those of the NumPy loops (the
pre-scaled gate pre-activations, the state rows, the plan of steps), so a
layer's forward may run here and its backward there; the results agree to
float32 rounding. float32 on the host only: float64 (gradcheck's dtype) and
devices keep the NumPy loops.

``exp`` and ``tanh`` come from :mod:`chainrule.ops.compiled_math`, which the
compiler vectorises (numba's own call the C library's scalar functions).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from chainrule.ops.compiled_math import OPTIONS as _NOGIL
from chainrule.ops.compiled_math import exp32, tanh32
from chainrule.runtime import numpy_sgemm

__all__ = [
    "BLAS",
    "SGEMM",
    "gru_backward_rows",
    "gru_forward_rows",
    "lstm_backward_rows",
    "lstm_forward_rows",
    "rnn_backward_rows",
    "rnn_forward_rows",
]

# NumPy's cblas_sgemm (its address, and whether its ints are 32-bit), or None where NumPy has no
# OpenBLAS of its own (the NumPy loops serve then). The address is passed to the kernels at each
# call rather than baked in, so that their machine code can be cached on disk between processes.
SGEMM, LP64 = numpy_sgemm() or (None, False)
BLAS = (SGEMM, LP64)  # what the kernels take as ``blas``
_ROW_MAJOR, _NO_TRANS = 101, 111
_F = np.float32
_ONE, _TWO, _ZERO = _F(1.0), _F(2.0), _F(0.0)


@njit(inline="always", **_NOGIL)
def _sigmoid_of_negated(a):
    """``sigma(x) = 1 / (1 + e^-x)`` from ``a = -x`` (the loops' gate pre-activations arrive negated)."""
    return _ONE / (_ONE + exp32(a))


def _cblas_sgemm(index_bits: int):
    """A call to ``cblas_sgemm`` at a run-time address, its ints ``index_bits`` wide: C = A B + beta C."""

    @intrinsic
    def call(typingctx, address, m, n, k, a, lda, b, ldb, beta, c, ldc):
        sig = types.void(types.intp, types.intp, types.intp, types.intp, types.uintp, types.intp,
                         types.uintp, types.intp, types.float32, types.uintp, types.intp)

        def codegen(context, builder, signature, args):
            i32, index, f32 = ir.IntType(32), ir.IntType(index_bits), ir.FloatType()
            ptr = ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, index, index, index, f32, ptr, index,
                                                   ptr, index, f32, ptr, index])
            address, m, n, k, a, lda, b, ldb, beta, c, ldc = args
            ints = [v if index_bits == 64 else builder.trunc(v, index) for v in (m, n, k, lda, ldb, ldc)]
            a, b, c = (builder.inttoptr(v, ptr) for v in (a, b, c))
            builder.call(builder.inttoptr(address, fnty.as_pointer()), [
                ir.Constant(i32, _ROW_MAJOR), ir.Constant(i32, _NO_TRANS), ir.Constant(i32, _NO_TRANS),
                ints[0], ints[1], ints[2], ir.Constant(f32, 1.0), a, ints[3], b, ints[4], beta, c, ints[5]])
            return context.get_dummy_value()

        return sig, codegen

    return call


_sgemm_ilp64, _sgemm_lp64 = _cblas_sgemm(64), _cblas_sgemm(32)


@njit(inline="always", **_NOGIL)
def _gemm(blas, m, n, k, a, lda, b, ldb, beta, c, ldc):
    """``C (m, n) = A (m, k) @ B (k, n) + beta C``, row-major, pointers to first elements.

    ``blas`` is :data:`BLAS`, ``(address of cblas_sgemm, whether its ints are 32-bit)``.
    """
    if blas[1]:
        _sgemm_lp64(blas[0], m, n, k, a, lda, b, ldb, beta, c, ldc)
    else:
        _sgemm_ilp64(blas[0], m, n, k, a, lda, b, ldb, beta, c, ldc)


@njit(inline="always", **_NOGIL)
def _restart_rows(plan, s, r0, r1, nt, buf):
    """Copy the initial state (row ``nt``) into the rows that start at this step (reverse, with lengths)."""
    lo, hi = max(plan[s, 4], r0), min(plan[s, 5], r1)
    p = plan[s, 1]
    for r in range(lo, hi):
        buf[p, r, :] = buf[nt, r, :]


# ------------------------------------------------------------------------- LSTM
@njit(**_NOGIL)
def lstm_forward_rows(acts, hbuf, cbuf, g_all, tc_all, whh_t, plan, blas, r0, r1):
    """The LSTM forward loop over rows ``r0:r1``; see ``LSTMLayer`` for the buffers and the gate scaling."""
    nt, nh = acts.shape[0], whh_t.shape[0]
    n4 = 4 * nh
    for s in range(plan.shape[0]):
        t, p, q, m = plan[s, 0], plan[s, 1], plan[s, 2], min(r1, plan[s, 3])
        if m <= r0:
            continue
        _restart_rows(plan, s, r0, r1, nt, hbuf)
        _restart_rows(plan, s, r0, r1, nt, cbuf)
        # A += h_{t-1} (W_hh^T scaled): the pre-activations of all four gates, negated
        _gemm(blas, m - r0, n4, nh, hbuf[p, r0:].ctypes.data, nh, whh_t.ctypes.data, n4, _ONE,
              acts[t, r0:].ctypes.data, n4)
        for r in range(r0, m):
            a = acts[t, r]
            for j in range(n4):
                a[j] = _sigmoid_of_negated(a[j])
            c_prev, c, g, tc, h = cbuf[p, r], cbuf[q, r], g_all[t, r], tc_all[t, r], hbuf[q, r]
            for j in range(nh):
                gj = _TWO * a[2 * nh + j] - _ONE  # tanh(a_g) = 2 sigma(2 a_g) - 1
                cj = a[nh + j] * c_prev[j] + a[j] * gj  # c_t = f c_{t-1} + i g
                tj = tanh32(cj)
                g[j], c[j], tc[j], h[j] = gj, cj, tj, a[3 * nh + j] * tj  # h_t = o tanh(c_t)


@njit(**_NOGIL)
def lstm_backward_rows(acts, hbuf, cbuf, g_all, tc_all, gout, dhs, dcs, d_acts, w_hh4, plan, blas, r0, r1):
    """The LSTM's backpropagation through time over rows ``r0:r1`` (the math: ``LSTMLayer.backward``)."""
    nh = w_hh4.shape[1]
    n4 = 4 * nh
    for s in range(plan.shape[0] - 1, -1, -1):
        t, p, q, m = plan[s, 0], plan[s, 1], plan[s, 2], min(r1, plan[s, 3])
        if m <= r0:
            continue
        for r in range(r0, m):
            a, da, dh, dc = acts[t, r], d_acts[t, r], dhs[r], dcs[r]
            c_prev, g, tc, h, go = cbuf[p, r], g_all[t, r], tc_all[t, r], hbuf[q, r], gout[t, r]
            for j in range(nh):
                i, f, sg, o = a[j], a[nh + j], a[2 * nh + j], a[3 * nh + j]
                dhj = dh[j] + go[j]
                dcj = dc[j] + dhj * (o - h[j] * tc[j])  # o (1 - tanh(c)^2) = o - h tanh(c)
                da[j] = dcj * g[j] * (i - i * i)
                da[nh + j] = dcj * c_prev[j] * (f - f * f)
                da[2 * nh + j] = dcj * i * (sg - sg * sg)  # d(a_g) / 4: the 4 is in w_hh4's g rows
                da[3 * nh + j] = dhj * tc[j] * (o - o * o)
                dc[j] = dcj * f
        # dh_{t-1} = dA W_hh (g rows times 4)
        _gemm(blas, m - r0, nh, n4, d_acts[t, r0:].ctypes.data, n4, w_hh4.ctypes.data, nh, _ZERO,
              dhs[r0:].ctypes.data, nh)


# -------------------------------------------------------------------------- GRU
@njit(**_NOGIL)
def gru_forward_rows(acts, hbuf, hh_all, whh_t, b_hn, plan, blas, r0, r1):
    """The GRU forward loop over rows ``r0:r1``; see ``GRULayer`` (``b_hn``: zeros without biases)."""
    nt, nh = acts.shape[0], whh_t.shape[0]
    n3 = 3 * nh
    for s in range(plan.shape[0]):
        t, p, q, m = plan[s, 0], plan[s, 1], plan[s, 2], min(r1, plan[s, 3])
        if m <= r0:
            continue
        _restart_rows(plan, s, r0, r1, nt, hbuf)
        _gemm(blas, m - r0, n3, nh, hbuf[p, r0:].ctypes.data, nh, whh_t.ctypes.data, n3, _ZERO,
              hh_all[t, r0:].ctypes.data, n3)
        for r in range(r0, m):
            a, hh, h_prev, h = acts[t, r], hh_all[t, r], hbuf[p, r], hbuf[q, r]
            for j in range(2 * nh):
                a[j] = _sigmoid_of_negated(a[j] + hh[j])  # r, z
            for j in range(nh):
                hn = hh[2 * nh + j] + b_hn[j]
                hh[2 * nh + j] = hn
                nj = tanh32(a[2 * nh + j] + a[j] * hn)  # n = tanh(a_n + r (h W_hn^T + b_hn))
                a[2 * nh + j] = nj
                h[j] = nj + a[nh + j] * (h_prev[j] - nj)  # h' = (1 - z) n + z h


@njit(**_NOGIL)
def gru_backward_rows(acts, hbuf, hh_all, gout, dhs, dhh, dxn, w_hh, plan, blas, r0, r1):
    """The GRU's backpropagation through time over rows ``r0:r1`` (the math: ``GRULayer.backward``)."""
    nh = w_hh.shape[1]
    n3 = 3 * nh
    for s in range(plan.shape[0] - 1, -1, -1):
        t, p, m = plan[s, 0], plan[s, 1], min(r1, plan[s, 3])
        if m <= r0:
            continue
        for r in range(r0, m):
            a, hh, dg, dn_row = acts[t, r], hh_all[t, r], dhh[t, r], dxn[t, r]
            dh, h_prev, go = dhs[r], hbuf[p, r], gout[t, r]
            for j in range(nh):
                rr, z, nj = a[j], a[nh + j], a[2 * nh + j]
                dhj = dh[j] + go[j]
                dz = dhj * (h_prev[j] - nj)
                dn = (dhj - dhj * z) * (_ONE - nj * nj)  # d pre_n
                dn_row[j] = dn
                dg[j] = dn * hh[2 * nh + j] * (rr - rr * rr)  # d pre_r
                dg[nh + j] = dz * (z - z * z)  # d pre_z
                dg[2 * nh + j] = dn * rr  # d hn
                dh[j] = dhj * z  # the direct path h -> h'; the GEMM adds the rest
        _gemm(blas, m - r0, nh, n3, dhh[t, r0:].ctypes.data, n3, w_hh.ctypes.data, nh, _ONE,
              dhs[r0:].ctypes.data, nh)


# -------------------------------------------------------------------- Elman RNN
@njit(**_NOGIL)
def rnn_forward_rows(acts, hbuf, whh_t, relu, plan, blas, r0, r1):
    """The Elman RNN forward loop over rows ``r0:r1``: ``h_t = act(A_t + h_{t-1} W_hh^T)``."""
    nt, nh = acts.shape[0], whh_t.shape[0]
    for s in range(plan.shape[0]):
        t, p, q, m = plan[s, 0], plan[s, 1], plan[s, 2], min(r1, plan[s, 3])
        if m <= r0:
            continue
        _restart_rows(plan, s, r0, r1, nt, hbuf)
        for r in range(r0, m):
            hbuf[q, r, :] = acts[t, r, :]
        _gemm(blas, m - r0, nh, nh, hbuf[p, r0:].ctypes.data, nh, whh_t.ctypes.data, nh, _ONE,
              hbuf[q, r0:].ctypes.data, nh)
        for r in range(r0, m):
            h = hbuf[q, r]
            if relu:
                for j in range(nh):
                    if h[j] < _ZERO:  # a NaN stays, as np.maximum keeps it
                        h[j] = _ZERO
            else:
                for j in range(nh):
                    h[j] = tanh32(h[j])


@njit(**_NOGIL)
def rnn_backward_rows(hbuf, gout, dhs, d_acts, w_hh, relu, plan, blas, r0, r1):
    """The Elman RNN's backpropagation through time over rows ``r0:r1`` (the math: ``RNNLayer.backward``)."""
    nh = w_hh.shape[1]
    for s in range(plan.shape[0] - 1, -1, -1):
        t, q, m = plan[s, 0], plan[s, 2], min(r1, plan[s, 3])
        if m <= r0:
            continue
        for r in range(r0, m):
            dh, da, h, go = dhs[r], d_acts[t, r], hbuf[q, r], gout[t, r]
            if relu:
                for j in range(nh):
                    da[j] = (dh[j] + go[j]) * (_ONE if h[j] > _ZERO else _ZERO)
            else:
                for j in range(nh):
                    da[j] = (dh[j] + go[j]) * (_ONE - h[j] * h[j])
        _gemm(blas, m - r0, nh, nh, d_acts[t, r0:].ctypes.data, nh, w_hh.ctypes.data, nh, _ZERO,
              dhs[r0:].ctypes.data, nh)
