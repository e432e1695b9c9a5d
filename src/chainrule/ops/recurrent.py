"""Recurrent layers as fused autograd nodes: one node runs a whole sequence for one layer and direction.

A recurrent layer applies the same cell at every time step, ``h_t = cell(x_t, h_{t-1})``.
Recording each step's dozen small operations as separate graph nodes would
make a 50-step LSTM a graph of ~1,000 nodes and a 5,000-step one a graph deep
enough to matter; here each layer-direction is **one** node:

* **forward**: the input projection of all time steps is one GEMM,
  ``(T*N, I+1) @ [W_ih | b]^T`` (a column of ones in the input carries the
  biases, so the same GEMM adds them); then a Python loop over time does one
  GEMM per step, ``h_{t-1} @ W_hh^T``, and the gate nonlinearities in place on
  preallocated ``(T, N, gates*H)`` buffers, keeping what backward needs;
* **backward**: backpropagation through time as an explicit loop (no
  recursion, so 5,000 steps are fine) that writes the gradient of every gate
  pre-activation into a ``(T, N, gates*H)`` buffer; the weight gradients are
  then one GEMM each over all steps, ``dW_hh = dA^T @ [h_{-1} .. h_{T-2}]`` and
  ``[dW_ih | db] = dA^T @ [x | 1]``, and the input gradient is one GEMM,
  ``dx = dA @ W_ih``.

Both loops use the cores by splitting the batch, not the step: the sequences
of a batch never meet inside the loop, so each of the pool's threads runs the
whole loop on its own rows (:func:`_over_rows`), with the per-step GEMMs on
one BLAS thread each. A loop too small to split keeps one BLAS thread for its
per-step GEMMs too (:func:`chainrule.runtime.serial_blas`: at that size a
second thread gains nothing and costs many times over when the cores are
shared); the large GEMMs after the loops keep every thread.

Sigmoids and tanhs with one ``exp``: sigma(x) = 1 / (1 + e^-x) and
tanh(x) = 2 sigma(2x) - 1. The forward multiplies the rows of the (small)
weight matrices by -1 for sigmoid gates and by -2 for the LSTM's tanh gate,
so the pre-activations arrive as ``-x`` and ``-2x`` and a single
``exp``, ``+1``, ``1/`` pass over all four LSTM gates gives every sigmoid
(the tanh gate then needs ``2s - 1``). Backward works with the true,
unscaled weights and derivatives, so the scaling lives in the forward alone.

Variable lengths (``batch_sizes``): as in PyTorch's packed sequences, the
batch is sorted by length (longest first) by the caller, and at time ``t``
only the first ``batch_sizes[t]`` rows, the sequences still running, are
computed. A finished sequence's state stays as it was at its own last step,
its later outputs stay zero, and the reverse direction starts each sequence
at its own last step (its initial state is put in place just before).

Layout of the array a layer node returns, ``(T + 2, N, H)`` (``T + 3`` for the
LSTM): the outputs ``h_0 .. h_{T-1}`` in time order at rows ``1..T`` (forward
direction; ``h_{-1}`` sits in row 0) or ``0..T-1`` (reverse direction; its
initial state sits in row T), the final hidden state in row ``T + 1`` and the
LSTM's final cell state in row ``T + 2``. :func:`rnn_layer` and friends slice
it into ``(output, h_n[, c_n])``.

In the code, ``nt``, ``nb``, ``ni`` and ``nh`` are T (steps), N (batch), I
(input features) and H (hidden size).

Arrays go through the array module of the inputs (``xp``, see chainrule.devices):
each node binds the loop's kernels (``_matmul``, ``_add``, ...) from it. The
scratch pool serves NumPy arrays only (``like=`` on every take); the small
cached gate scales and the sequence lengths, made on the host, move next to
the data.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import autograd, devices
from chainrule.autograd import Function
from chainrule.ops import compiled
from chainrule.ops.shape import GetItem
from chainrule.runtime import chunk_bounds, get_num_threads, parallel_for, serial_blas
from chainrule.runtime import scratch as _pool
from chainrule.tensor import Tensor

__all__ = ["gru_layer", "lstm_layer", "rnn_layer"]

_matmul, _add, _sub, _mul = np.matmul, np.add, np.subtract, np.multiply
_div, _exp, _tanh, _maximum = np.divide, np.exp, np.tanh, np.maximum


# A recurrent loop is split only when each thread gets at least this many batch rows and
# this many multiply-adds in each step's GEMM. Below that the threads spend their time taking
# turns at the GIL (a step is a dozen NumPy calls): measured on 2 quiet cores, an LSTM of
# batch 32 and hidden 32 ran 2x slower split, one of batch 64 and hidden 128 (4 M per step)
# 1.43x faster (1.12x unsplit), batch 128 and hidden 256 1.75x (1.54x unsplit).
MIN_ROWS_PER_THREAD = 16
MIN_STEP_MNK_PER_THREAD = 1 << 20


def _over_rows(loop: Any, nb: int, step_mnk: int, like: Any) -> None:
    """Run ``loop(r0, r1)``, the time loop over batch rows ``r0:r1``, split over the pool's threads.

    The rows of a recurrent layer never meet inside its time loop (each
    sequence carries its own state), so each thread runs the whole loop on
    its own rows: one hand-off per sequence rather than one per step, and
    every elementwise result is the serial one. The threads' per-step GEMMs
    then run on one BLAS thread each; unsplit, a step's GEMM (``step_mnk``
    multiply-adds) keeps one BLAS thread when small (:func:`serial_blas`).
    """
    parts = 1
    if type(like) is np.ndarray:  # the pool is for NumPy arrays
        parts = min(get_num_threads(), nb // MIN_ROWS_PER_THREAD, step_mnk // MIN_STEP_MNK_PER_THREAD)
    if parts <= 1:
        with serial_blas(step_mnk):
            loop(0, nb)
        return
    with serial_blas(0):
        parallel_for(loop, chunk_bounds(nb, parts))


def _compiled(*arrays: Any) -> Any:
    """The compiled loops (:mod:`chainrule.ops.compiled_recurrent`) if they serve these arrays, else None."""
    found = compiled.kernels("compiled_recurrent", *arrays)
    return found if found is not None and found.SGEMM is not None else None


def _plan_array(plan: list) -> np.ndarray:
    """The plan's steps as an ``(S, 6)`` int64 array, the form the compiled loops read."""
    return np.asarray(plan, dtype=np.int64).reshape(len(plan), 6)


def _kernels(xp: Any) -> tuple:
    """``(matmul, add, subtract, multiply, divide, exp, tanh, maximum)`` of array module ``xp``.

    For NumPy, the module's aliases above, read at each call (a test wraps ``_matmul``).
    """
    if xp is np:
        return _matmul, _add, _sub, _mul, _div, _exp, _tanh, _maximum
    return (xp.matmul, xp.add, xp.subtract, xp.multiply, xp.divide, xp.exp, xp.tanh, xp.maximum)


def _on(xp: Any, a: np.ndarray) -> Any:
    """A small host array (a cached gate scale) on ``xp``'s device."""
    return a if xp is np else xp.asarray(a)


def _release(ctx: Function) -> None:
    """After backward (or when the graph is dropped unused): the node's work arrays go back to the pool."""
    owned = ctx.__dict__.get("owned")
    if owned:
        _pool.give_all(owned)
    Function.release(ctx)


def _done_forward(ctx: Function) -> None:
    """Without a graph to record nothing will read the saved arrays: give them back now."""
    if not autograd.is_grad_enabled():
        _pool.give_all(ctx.owned)


# ----------------------------------------------------------------- shared parts
def _augment(
    owner: list, x: np.ndarray, bias: np.ndarray | None, batch_first: bool
) -> tuple[np.ndarray, int, int]:
    """The inputs of all steps as one time-major matrix ``(T*N, I)``, plus a column of ones for the bias.

    A 2-D ``x`` is one time step ``(N, I)`` (the cells). Returns the matrix, T and N.
    """
    if x.ndim == 2:
        nt, (nb, ni) = 1, x.shape
        x3 = x[None]
    elif batch_first:
        nb, nt, ni = x.shape
        x3 = x.transpose(1, 0, 2)
    else:
        nt, nb, ni = x.shape
        x3 = x
    if bias is None and x3.flags.c_contiguous:
        return x3.reshape(nt * nb, ni), nt, nb
    width = ni if bias is None else ni + 1
    xa = _pool.take_owned(owner, (nt, nb, width), x.dtype, like=x)
    xa[..., :ni] = x3
    if bias is not None:
        xa[..., ni] = 1
    return xa.reshape(nt * nb, width), nt, nb


def _input_weights(w_ih: np.ndarray, bias: np.ndarray | None, scale: np.ndarray | None) -> np.ndarray:
    """``[W_ih | bias]`` with row k multiplied by ``scale[k]``: the weight of the input-projection GEMM."""
    if bias is None:
        return w_ih if scale is None else w_ih * scale[:, None]
    wb = devices.array_module(w_ih).empty((w_ih.shape[0], w_ih.shape[1] + 1), dtype=w_ih.dtype)
    wb[:, :-1] = w_ih
    wb[:, -1] = bias
    if scale is not None:
        wb *= scale[:, None]
    return wb


def _hidden_weights_t(w_hh: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """``W_hh^T`` (H, gates*H), column k multiplied by ``scale[k]``, C-contiguous for the per-step GEMM."""
    xp = devices.array_module(w_hh)
    out = xp.empty(w_hh.shape[::-1], dtype=w_hh.dtype)
    if scale is None:
        xp.copyto(out, w_hh.T)
    else:
        xp.multiply(w_hh.T, scale, out=out)
    return out


def _plan(nt: int, reverse: bool, batch_sizes: Sequence[int] | None, nb: int) -> list[tuple[int, ...]]:
    """The steps in processing order: ``(t, prev row, row, active rows, first new row, end of new rows)``.

    State rows: forward, ``h_{-1}`` is row 0 and ``h_t`` row ``t + 1``; reverse,
    ``h_t`` is row ``t`` and the initial state row ``T``. With ``batch_sizes``
    in the reverse direction, the sequences whose last step is t (rows
    ``batch_sizes[t+1] .. batch_sizes[t]``) start at t from their initial state.
    """
    if batch_sizes is None:
        if reverse:
            return [(t, t + 1, t, nb, 0, 0) for t in range(nt - 1, -1, -1)]
        return [(t, t, t + 1, nb, 0, 0) for t in range(nt)]
    if not reverse:
        return [(t, t, t + 1, batch_sizes[t], 0, 0) for t in range(nt)]
    plan = []
    for t in range(nt - 1, -1, -1):
        lo = batch_sizes[t + 1] if t + 1 < nt else batch_sizes[t]  # row T already holds every h_{-1}
        plan.append((t, t + 1, t, batch_sizes[t], lo, batch_sizes[t]))
    return plan


def _last_rows(buf: np.ndarray, nt: int, reverse: bool, lengths: np.ndarray | None) -> np.ndarray:
    """Each sequence's state after its own last step (forward) or after step 0 (reverse)."""
    if reverse:
        return buf[0]
    if lengths is None:
        return buf[nt]
    xp = devices.array_module(buf)
    return buf[_on(xp, lengths), xp.arange(buf.shape[1])]  # lengths: host ints, as PyTorch takes them


def _outputs_buffer(
    hbuf: np.ndarray, nt: int, reverse: bool, batch_sizes: Sequence[int] | None, plan: list
) -> np.ndarray:
    """The returned array: ``hbuf`` itself, except in the reverse direction with lengths.

    There the initial states were copied into padded positions of the state
    buffer (where each sequence starts); the returned outputs must be zero there.
    """
    if not (reverse and batch_sizes is not None):
        return hbuf
    out = _pool.take_output(hbuf.shape, hbuf.dtype, zero=True, like=hbuf)
    out[:nt] = hbuf[:nt]
    for _t, p, _q, _n, lo, hi in plan:
        if hi > lo and p < nt:
            out[p, lo:hi] = 0
    return out


def _start(ctx: Function, reverse: bool, batch_sizes: Any) -> None:
    """What every layer node records first: its pooled arrays, its direction, whether lengths vary."""
    ctx.owned, ctx.reverse, ctx.padded = [], reverse, batch_sizes is not None


def _project(ctx: Function, x, w_ih, bias, scale, batch_first):
    """The input projection of every time step, one GEMM: ``A = [x | 1] @ [W_ih | b]^T``, shape (T, N, G)."""
    xa, nt, nb = _augment(ctx.owned, x, bias, batch_first)
    acts = _pool.take_owned(ctx.owned, (nt, nb, w_ih.shape[0]), x.dtype, like=x)
    matmul = _kernels(devices.array_module(x))[0]
    matmul(xa, _input_weights(w_ih, bias, scale).T, out=acts.reshape(nt * nb, -1))
    ctx.xa, ctx.x_shape, ctx.batch_first, ctx.w_ih = xa, x.shape, batch_first, w_ih
    return acts, nt, nb


def _input_grad(ctx: Function, dx: np.ndarray) -> np.ndarray:
    """The time-major ``(T*N, I)`` input gradient in the input's own layout."""
    shape = ctx.x_shape
    if len(shape) == 3 and ctx.batch_first:
        return dx.reshape(shape[1], shape[0], shape[2]).transpose(1, 0, 2)
    return dx.reshape(shape)


def _input_grads(ctx: Function, d2: np.ndarray, has_bias: bool, needs: tuple) -> tuple:
    """``dx = dA @ W_ih`` and ``[dW_ih | db] = dA^T @ [x | 1]``: one GEMM each over all steps."""
    dx = dw = db = None
    matmul = _kernels(devices.array_module(d2))[0]
    if needs[0]:
        dx = _input_grad(ctx, matmul(d2, ctx.w_ih))
    if needs[1] or (has_bias and (needs[3] or needs[4])):
        dwb = matmul(d2.T, ctx.xa)
        dw = dwb[:, :-1] if has_bias else dwb
        db = dwb[:, -1] if has_bias else None
    return dx, dw, db


def _hidden_owner(ctx: Function) -> list | None:
    """Where the hidden-state buffer comes from: it is the returned array, except reverse with lengths."""
    return ctx.owned if ctx.reverse and ctx.padded else None


def _state_rows(h0, nt, nb, nh, dtype, reverse, batch_sizes, extra_rows, owner=None, like=None):
    """The state buffer ``(T + 1 + extra_rows, N, H)`` with the initial state in its row.

    With ``owner`` (a list) the buffer is internal to the node; without, it is
    the array returned to the caller (except in the reverse direction with
    lengths, see :func:`_outputs_buffer`). ``like``: an array on the device the buffer is for.
    """
    shape, zero = (nt + 1 + extra_rows, nb, nh), batch_sizes is not None  # padded positions read as zero
    if owner is None:
        buf = _pool.take_output(shape, dtype, zero, like=like)
    else:
        buf = _pool.take_owned(owner, shape, dtype, zero, like=like)
    row = nt if reverse else 0
    if h0 is None:
        buf[row] = 0
    else:
        buf[row] = h0
    return buf


# --------------------------------------------------------------------- Elman RNN
class RNNLayer(Function):
    """``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` over a sequence, act = tanh or relu."""

    release = _release

    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, relu=False, reverse=False, batch_sizes=None,
                batch_first=False, lengths=None):
        _start(ctx, reverse, batch_sizes)
        _matmul, _add, _sub, _mul, _div, _exp, _tanh, _maximum = _kernels(devices.array_module(x))
        bias = None if b_ih is None else b_ih + b_hh
        acts, nt, nb = _project(ctx, x, w_ih, bias, None, batch_first)
        nh = w_hh.shape[1]
        plan = _plan(nt, reverse, batch_sizes, nb)
        hbuf = _state_rows(h0, nt, nb, nh, acts.dtype, reverse, batch_sizes, 1, _hidden_owner(ctx), like=x)
        whh_t = _hidden_weights_t(w_hh, None)

        def rows(r0: int, r1: int) -> None:
            for t, p, q, n, lo, hi in plan:
                m = min(r1, n)  # the rows of r0:r1 still running at step t
                if m <= r0:
                    continue
                if min(hi, r1) > max(lo, r0):
                    hbuf[p, max(lo, r0):min(hi, r1)] = hbuf[nt, max(lo, r0):min(hi, r1)]
                h = hbuf[q, r0:m]
                _matmul(hbuf[p, r0:m], whh_t, out=h)
                _add(h, acts[t, r0:m], out=h)
                if relu:
                    _maximum(h, 0, out=h)
                else:
                    _tanh(h, out=h)

        loops = _compiled(acts, hbuf, whh_t)
        if loops is not None:  # the same loop compiled: no GIL taken between its steps
            rows = functools.partial(loops.rnn_forward_rows, acts, hbuf, whh_t, relu, _plan_array(plan),
                loops.BLAS)
        _over_rows(rows, nb, nb * nh * nh, x)
        out = _outputs_buffer(hbuf, nt, reverse, batch_sizes, plan)
        out[nt + 1] = _last_rows(hbuf, nt, reverse, lengths)
        ctx.hbuf, ctx.w_hh, ctx.plan, ctx.relu = hbuf, w_hh, plan, relu
        ctx.shape, ctx.has_bias = (nt, nb, nh), b_ih is not None
        ctx.owned = [a for a in ctx.owned if a is not acts]  # backward needs only h: acts can go now
        _pool.give_all([acts])
        _done_forward(ctx)
        return out

    def backward(ctx, g):
        # h = tanh(a):  da = dh * (1 - h^2);   h = relu(a):  da = dh * [h > 0]
        # a = x W_ih^T + b_ih + h_prev W_hh^T + b_hh:  dh_prev = da W_hh (carried to the step before)
        nt, nb, nh = ctx.shape
        _matmul, _add, _sub, _mul, _div, _exp, _tanh, _maximum = _kernels(devices.array_module(g))
        hbuf, w_hh, relu = ctx.hbuf, ctx.w_hh, ctx.relu
        needs = ctx.needs_input_grad
        off = 0 if ctx.reverse else 1
        gout = g[off:off + nt]
        dhs = g[nt + 1].copy()  # the gradient reaching each sequence's state, h_n's to begin with
        scratch: list = []
        d_acts = _pool.take_owned(scratch, (nt, nb, nh), g.dtype, ctx.padded, like=g)

        def rows(r0: int, r1: int) -> None:
            for t, _p, q, n, _lo, _hi in reversed(ctx.plan):
                m = min(r1, n)
                if m <= r0:
                    continue
                dh = dhs[r0:m]
                _add(dh, gout[t, r0:m], out=dh)
                da = d_acts[t, r0:m]
                h = hbuf[q, r0:m]
                if relu:
                    _mul(dh, h > 0, out=da)
                else:
                    _mul(h, h, out=da)
                    _sub(1, da, out=da)
                    _mul(da, dh, out=da)
                _matmul(da, w_hh, out=dh)

        loops = _compiled(hbuf, gout, dhs, d_acts, w_hh)
        if loops is not None:  # the same loop compiled: no GIL taken between its steps
            rows = functools.partial(loops.rnn_backward_rows, hbuf, gout, dhs, d_acts, w_hh, relu,
                _plan_array(ctx.plan), loops.BLAS)
        _over_rows(rows, nb, nb * nh * nh, g)
        d2 = d_acts.reshape(nt * nb, nh)
        dx, dw_ih, db = _input_grads(ctx, d2, ctx.has_bias, needs)
        dw_hh = None
        if needs[2]:
            prev = hbuf[1 - off:nt + 1 - off].reshape(nt * nb, nh)
            dw_hh = _matmul(d2.T, prev)
        _pool.give_all(scratch)
        return dx, dw_ih, dw_hh, db, db, (dhs if needs[5] else None)


# -------------------------------------------------------------------------- LSTM
@functools.lru_cache(maxsize=64)
def _lstm_scale(nh: int, dtype: np.dtype) -> np.ndarray:
    # gates i, f, g, o: sigma(x) from e^-x for i, f, o; tanh(x) = 2 sigma(2x) - 1 from e^-2x for g
    s = np.full(4 * nh, -1.0, dtype=dtype)
    s[2 * nh:3 * nh] = -2.0
    s.flags.writeable = False  # shared between calls
    return s


class LSTMLayer(Function):
    """The LSTM over a sequence, PyTorch's gate order (i, f, g, o) and equations.

    i = sigma(a_i), f = sigma(a_f), g = tanh(a_g), o = sigma(a_o) with
    a = x W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh;  c_t = f*c_{t-1} + i*g;  h_t = o*tanh(c_t).

    The gate buffer keeps a sigmoid in all four columns (for g, s_g = sigma(2 a_g),
    and g = 2 s_g - 1 goes to a buffer of its own), so that backward takes the
    four gates' derivatives in one pass, s (1 - s): dg/da_g = 4 s_g (1 - s_g),
    and the factor 4 is carried by the g rows of the weights instead.
    """

    release = _release

    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, c0, reverse=False, batch_sizes=None,
                batch_first=False, lengths=None):
        _start(ctx, reverse, batch_sizes)
        xp = devices.array_module(x)
        _matmul, _add, _sub, _mul, _div, _exp, _tanh, _maximum = _kernels(xp)
        nh = w_hh.shape[1]
        scale = _on(xp, _lstm_scale(nh, w_ih.dtype))
        bias = None if b_ih is None else b_ih + b_hh
        acts, nt, nb = _project(ctx, x, w_ih, bias, scale, batch_first)  # A = -a (i, f, o), -2a (g)
        plan = _plan(nt, reverse, batch_sizes, nb)
        dtype = acts.dtype
        hbuf = _state_rows(h0, nt, nb, nh, dtype, reverse, batch_sizes, 2, _hidden_owner(ctx), like=x)
        cbuf = _state_rows(c0, nt, nb, nh, dtype, reverse, batch_sizes, 0, ctx.owned, like=x)
        g_all = _pool.take_owned(ctx.owned, (nt, nb, nh), dtype, like=x)  # g = tanh(a_g), kept for backward
        tc_all = _pool.take_owned(ctx.owned, (nt, nb, nh), dtype, like=x)  # tanh(c_t), kept for backward
        whh_t = _hidden_weights_t(w_hh, scale)
        tmp, tmp_h = xp.empty((nb, 4 * nh), dtype=dtype), xp.empty((nb, nh), dtype=dtype)
        k2, k3 = 2 * nh, 3 * nh

        def rows(r0: int, r1: int) -> None:
            # e^-x = inf for very negative x gives sigma = 0, as it should (the error state is per thread)
            with devices.errstate(x, over="ignore"):
                for t, p, q, n, lo, hi in plan:
                    m = min(r1, n)  # the rows of r0:r1 still running at step t
                    if m <= r0:
                        continue
                    lo, hi = max(lo, r0), min(hi, r1)
                    if hi > lo:
                        hbuf[p, lo:hi] = hbuf[nt, lo:hi]
                        cbuf[p, lo:hi] = cbuf[nt, lo:hi]
                    a = acts[t, r0:m]
                    z = tmp[r0:m]
                    _matmul(hbuf[p, r0:m], whh_t, out=z)
                    _add(a, z, out=a)
                    # one pass for all four gates: s = 1 / (1 + e^{-x})
                    _exp(a, out=a)
                    _add(a, 1, out=a)
                    _div(1, a, out=a)  # (np.reciprocal has no SIMD loop; divide has)
                    gg = g_all[t, r0:m]  # tanh(a_g) = 2 sigma(2 a_g) - 1
                    _mul(a[:, k2:k3], 2, out=gg)
                    _sub(gg, 1, out=gg)
                    c = cbuf[q, r0:m]
                    _mul(a[:, nh:k2], cbuf[p, r0:m], out=c)  # c_t = f * c_{t-1} + i * g
                    ig = tmp_h[r0:m]
                    _mul(a[:, :nh], gg, out=ig)
                    _add(c, ig, out=c)
                    tc = tc_all[t, r0:m]
                    _tanh(c, out=tc)
                    _mul(a[:, k3:], tc, out=hbuf[q, r0:m])  # h_t = o * tanh(c_t)

        loops = _compiled(acts, hbuf, cbuf, g_all, tc_all, whh_t)
        if loops is not None:  # the same loop compiled: no GIL taken between its steps
            rows = functools.partial(loops.lstm_forward_rows, acts, hbuf, cbuf, g_all, tc_all, whh_t,
                _plan_array(plan), loops.BLAS)
        _over_rows(rows, nb, nb * nh * 4 * nh, x)
        out = _outputs_buffer(hbuf, nt, reverse, batch_sizes, plan)
        out[nt + 1] = _last_rows(hbuf, nt, reverse, lengths)
        out[nt + 2] = _last_rows(cbuf, nt, reverse, lengths)
        ctx.acts, ctx.hbuf, ctx.cbuf, ctx.tc, ctx.g, ctx.w_hh = acts, hbuf, cbuf, tc_all, g_all, w_hh
        ctx.plan, ctx.shape, ctx.has_bias = plan, (nt, nb, nh), b_ih is not None
        _done_forward(ctx)
        return out

    def backward(ctx, g):
        # With dh = dL/dh_t (from the output and from step t+1) and dc = dL/dc_t (from step t+1):
        #   h = o * tanh(c):            do = dh * tanh(c),   dc += dh * o * (1 - tanh(c)^2)
        #                               (o * (1 - tanh(c)^2) = o - h * tanh(c): no extra tanh)
        #   c = f * c_prev + i * g:     di = dc * g,  df = dc * c_prev,  dg = dc * i,  dc_prev = dc * f
        #   gates from pre-activations: da_{i,f,o} = d{i,f,o} * s (1 - s),  da_g = dg * 4 s_g (1 - s_g)
        #   a = x W_ih^T + h_prev W_hh^T + b:  dh_prev = da W_hh  (dW, db, dx: one GEMM each after the loop)
        # The loop stores da_g / 4 (one s (1 - s) pass over all gates); the 4 multiplies the g rows
        # of W_hh in the per-step GEMM and of dW_hh, [dW_ih | db] and W_ih after the loop.
        nt, nb, nh = ctx.shape
        xp = devices.array_module(g)
        _matmul, _add, _sub, _mul, _div, _exp, _tanh, _maximum = _kernels(xp)
        acts, hbuf, cbuf, tc_all, g_all = ctx.acts, ctx.hbuf, ctx.cbuf, ctx.tc, ctx.g
        needs = ctx.needs_input_grad
        k2, k3 = 2 * nh, 3 * nh
        four = _on(xp, _lstm_g_factor(nh, g.dtype))
        w_hh4 = ctx.w_hh * four[:, None]
        off = 0 if ctx.reverse else 1
        gout = g[off:off + nt]
        dhs, dcs = g[nt + 1].copy(), g[nt + 2].copy()
        scratch: list = []
        d_acts = _pool.take_owned(scratch, (nt, nb, 4 * nh), g.dtype, ctx.padded, like=g)
        tmp_h, tmp4 = xp.empty((nb, nh), dtype=g.dtype), xp.empty((nb, 4 * nh), dtype=g.dtype)

        def rows(r0: int, r1: int) -> None:
            for t, p, q, n, _lo, _hi in reversed(ctx.plan):
                m = min(r1, n)
                if m <= r0:
                    continue
                a = acts[t, r0:m]
                dh, dc = dhs[r0:m], dcs[r0:m]
                _add(dh, gout[t, r0:m], out=dh)
                da = d_acts[t, r0:m]
                tc = tc_all[t, r0:m]
                _mul(dh, tc, out=da[:, k3:])  # do
                u = tmp_h[r0:m]
                _mul(hbuf[q, r0:m], tc, out=u)
                _sub(a[:, k3:], u, out=u)
                _mul(u, dh, out=u)
                _add(dc, u, out=dc)  # dc += dh * o * (1 - tanh(c)^2)
                _mul(dc, g_all[t, r0:m], out=da[:, :nh])  # di
                _mul(dc, cbuf[p, r0:m], out=da[:, nh:k2])  # df
                _mul(dc, a[:, :nh], out=da[:, k2:k3])  # dg
                _mul(dc, a[:, nh:k2], out=dc)  # dc_prev
                d = tmp4[r0:m]  # s (1 - s) = s - s^2 for every gate
                _mul(a, a, out=d)
                _sub(a, d, out=d)
                _mul(da, d, out=da)
                _matmul(da, w_hh4, out=dh)  # dh_prev

        loops = _compiled(acts, hbuf, cbuf, g_all, tc_all, gout, dhs, dcs, d_acts, w_hh4)
        if loops is not None:  # the same loop compiled: no GIL taken between its steps
            rows = functools.partial(loops.lstm_backward_rows, acts, hbuf, cbuf, g_all, tc_all, gout, dhs,
                dcs, d_acts, w_hh4, _plan_array(ctx.plan), loops.BLAS)
        _over_rows(rows, nb, nb * nh * 4 * nh, g)
        d2 = d_acts.reshape(nt * nb, 4 * nh)
        dx = dw_ih = db = dw_hh = None
        if needs[0]:
            dx = _input_grad(ctx, _matmul(d2, ctx.w_ih * four[:, None]))
        input_side = needs[1] or (ctx.has_bias and (needs[3] or needs[4]))
        prev = hbuf[1 - off:nt + 1 - off].reshape(nt * nb, nh)
        if input_side and needs[2]:
            # both weight gradients from one GEMM, [h_prev | x | 1]^T dA: a (T*N, I+1) right-hand side
            # alone is too narrow for BLAS's threads (W3's two GEMMs, in isolation: 6.3 -> 5.7 ms at
            # 1 thread, 3.7 -> 2.9 ms at 2)
            xa = ctx.xa
            lhs = _pool.take_owned(scratch, (nt * nb, nh + xa.shape[1]), g.dtype, like=g)
            lhs[:, :nh], lhs[:, nh:] = prev, xa
            both = _matmul(lhs.T, d2)
            both[:, k2:k3] *= 4
            dw_hh, dwb = both[:nh].T.copy(), both[nh:].T
        elif input_side:
            dwb = _matmul(d2.T, ctx.xa)
            dwb[k2:k3] *= 4
        elif needs[2]:
            dw_hh = _matmul(d2.T, prev)
            dw_hh[k2:k3] *= 4
        if input_side:
            dw_ih = dwb[:, :-1] if ctx.has_bias else dwb
            db = dwb[:, -1] if ctx.has_bias else None
        _pool.give_all(scratch)
        return dx, dw_ih, dw_hh, db, db, (dhs if needs[5] else None), (dcs if needs[6] else None)


@functools.lru_cache(maxsize=64)
def _lstm_g_factor(nh: int, dtype: np.dtype) -> np.ndarray:
    """1 for the rows of gates i, f, o and 4 for g's: what the loop's d(a_g) / 4 is multiplied by."""
    s = np.ones(4 * nh, dtype=dtype)
    s[2 * nh:3 * nh] = 4.0
    s.flags.writeable = False  # shared between calls
    return s


# --------------------------------------------------------------------------- GRU
@functools.lru_cache(maxsize=64)
def _gru_scale(nh: int, dtype: np.dtype) -> np.ndarray:
    # gates r, z, n: sigma(x) from e^-x for r and z; n's tanh is taken directly
    s = np.full(3 * nh, -1.0, dtype=dtype)
    s[2 * nh:] = 1.0
    s.flags.writeable = False  # shared between calls
    return s


class GRULayer(Function):
    """The GRU over a sequence, PyTorch's gate order (r, z, n) and equations.

    r = sigma(x W_ir^T + b_ir + h W_hr^T + b_hr), z likewise,
    n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)),  h' = (1 - z) * n + z * h.
    """

    release = _release

    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, h0, reverse=False, batch_sizes=None, batch_first=False,
                lengths=None):
        _start(ctx, reverse, batch_sizes)
        xp = devices.array_module(x)
        _matmul, _add, _sub, _mul, _div, _exp, _tanh, _maximum = _kernels(xp)
        nh = w_hh.shape[1]
        k2 = 2 * nh
        scale = _on(xp, _gru_scale(nh, w_ih.dtype))
        bias = None
        if b_ih is not None:  # b_hr and b_hz join b_ih; b_hn stays inside r * (...)
            bias = b_ih.copy()
            bias[:k2] += b_hh[:k2]
        acts, nt, nb = _project(ctx, x, w_ih, bias, scale, batch_first)  # A = -a (r, z), a (n)
        plan = _plan(nt, reverse, batch_sizes, nb)
        hbuf = _state_rows(h0, nt, nb, nh, acts.dtype, reverse, batch_sizes, 1, _hidden_owner(ctx), like=x)
        # h W_hh^T (+ b_hn); its n part is kept for backward
        hh_all = _pool.take_owned(ctx.owned, (nt, nb, 3 * nh), acts.dtype, like=x)
        whh_t = _hidden_weights_t(w_hh, scale)
        b_hn = None if b_hh is None else b_hh[k2:]
        tmp = xp.empty((nb, nh), dtype=acts.dtype)

        def rows(r0: int, r1: int) -> None:
            # (the floating-point error state is per thread)
            with devices.errstate(x, over="ignore"):
                for t, p, q, n, lo, hi in plan:
                    m = min(r1, n)
                    if m <= r0:
                        continue
                    lo, hi = max(lo, r0), min(hi, r1)
                    if hi > lo:
                        hbuf[p, lo:hi] = hbuf[nt, lo:hi]
                    h_prev = hbuf[p, r0:m]
                    hh = hh_all[t, r0:m]
                    _matmul(h_prev, whh_t, out=hh)
                    a = acts[t, r0:m]
                    rz = a[:, :k2]
                    _add(rz, hh[:, :k2], out=rz)
                    _exp(rz, out=rz)
                    _add(rz, 1, out=rz)
                    _div(1, rz, out=rz)  # r, z = sigma(...)
                    hn = hh[:, k2:]
                    if b_hn is not None:
                        _add(hn, b_hn, out=hn)
                    nn = a[:, k2:]
                    u = tmp[r0:m]
                    _mul(a[:, :nh], hn, out=u)
                    _add(nn, u, out=nn)
                    _tanh(nn, out=nn)  # n
                    _sub(h_prev, nn, out=u)  # h' = n + z * (h - n)
                    _mul(a[:, nh:k2], u, out=u)
                    _add(nn, u, out=hbuf[q, r0:m])

        loops = _compiled(acts, hbuf, hh_all, whh_t)
        if loops is not None:  # the same loop compiled: no GIL taken between its steps
            b_hn_c = np.zeros(nh, np.float32) if b_hn is None else np.ascontiguousarray(b_hn, np.float32)
            rows = functools.partial(loops.gru_forward_rows, acts, hbuf, hh_all, whh_t, b_hn_c,
                _plan_array(plan), loops.BLAS)
        _over_rows(rows, nb, nb * nh * 3 * nh, x)
        out = _outputs_buffer(hbuf, nt, reverse, batch_sizes, plan)
        out[nt + 1] = _last_rows(hbuf, nt, reverse, lengths)
        ctx.acts, ctx.hh, ctx.hbuf, ctx.w_hh, ctx.plan = acts, hh_all, hbuf, w_hh, plan
        ctx.shape, ctx.has_bias = (nt, nb, nh), b_ih is not None
        _done_forward(ctx)
        return out

    def backward(ctx, g):
        # h' = (1 - z) * n + z * h:  dn = dh' * (1 - z),  dz = dh' * (h - n),  dh += dh' * z
        # n = tanh(a_n + r * hn), hn = h W_hn^T + b_hn:
        #     dpre_n = dn * (1 - n^2),  dr = dpre_n * hn,  dhn = dpre_n * r
        # r, z = sigma(.):  dpre_{r,z} = d{r,z} * s (1 - s)
        # hidden side [dpre_r, dpre_z, dhn] feeds dh_prev = (.) W_hh and dW_hh;
        # input side [dpre_r, dpre_z, dpre_n] feeds dx, dW_ih and db_ih.
        nt, nb, nh = ctx.shape
        xp = devices.array_module(g)
        _matmul, _add, _sub, _mul, _div, _exp, _tanh, _maximum = _kernels(xp)
        k2 = 2 * nh
        acts, hh_all, hbuf, w_hh, w_ih = ctx.acts, ctx.hh, ctx.hbuf, ctx.w_hh, ctx.w_ih
        needs = ctx.needs_input_grad
        off = 0 if ctx.reverse else 1
        gout = g[off:off + nt]
        dhs = g[nt + 1].copy()
        scratch: list = []
        # [dpre_r, dpre_z, dhn]
        dhh = _pool.take_owned(scratch, (nt, nb, 3 * nh), g.dtype, ctx.padded, like=g)
        dxn = _pool.take_owned(scratch, (nt, nb, nh), g.dtype, ctx.padded, like=g)  # dpre_n
        dhz_buf, u_buf = xp.empty((nb, nh), dtype=g.dtype), xp.empty((nb, nh), dtype=g.dtype)
        d_buf = xp.empty((nb, k2), dtype=g.dtype)

        def rows(r0: int, r1: int) -> None:
            for t, p, _q, n, _lo, _hi in reversed(ctx.plan):
                m = min(r1, n)
                if m <= r0:
                    continue
                a = acts[t, r0:m]
                r, z, nn = a[:, :nh], a[:, nh:k2], a[:, k2:]
                dh = dhs[r0:m]
                _add(dh, gout[t, r0:m], out=dh)
                dg = dhh[t, r0:m]
                dn = dxn[t, r0:m]
                dhz, u = dhz_buf[r0:m], u_buf[r0:m]
                _mul(dh, z, out=dhz)  # the direct path h -> h'
                _sub(dh, dhz, out=dn)  # dn = dh * (1 - z)
                _sub(hbuf[p, r0:m], nn, out=u)
                _mul(dh, u, out=dg[:, nh:k2])  # dz
                _mul(nn, nn, out=u)
                _sub(1, u, out=u)
                _mul(dn, u, out=dn)  # dpre_n
                _mul(dn, hh_all[t, r0:m, k2:], out=dg[:, :nh])  # dr
                _mul(dn, r, out=dg[:, k2:])  # dhn
                rz, d = a[:, :k2], d_buf[r0:m]
                _mul(rz, rz, out=d)
                _sub(rz, d, out=d)
                _mul(dg[:, :k2], d, out=dg[:, :k2])  # dpre_r, dpre_z
                _matmul(dg, w_hh, out=dh)
                _add(dh, dhz, out=dh)

        loops = _compiled(acts, hbuf, hh_all, gout, dhs, dhh, dxn, w_hh)
        if loops is not None:  # the same loop compiled: no GIL taken between its steps
            rows = functools.partial(loops.gru_backward_rows, acts, hbuf, hh_all, gout, dhs, dhh, dxn, w_hh,
                _plan_array(ctx.plan), loops.BLAS)
        _over_rows(rows, nb, nb * nh * 3 * nh, g)
        dhh2, dxn2 = dhh.reshape(nt * nb, 3 * nh), dxn.reshape(nt * nb, nh)
        dx = dw_ih = db_ih = db_hh = dw_hh = None
        if needs[0]:  # the input side in two GEMMs: its r, z columns live in dHH, its n column in dXn
            dx = _matmul(dhh2[:, :k2], w_ih[:k2])
            dx += _matmul(dxn2, w_ih[k2:])
            dx = _input_grad(ctx, dx)
        if needs[1] or (ctx.has_bias and needs[3]):
            xa = ctx.xa
            dwb = xp.empty((3 * nh, xa.shape[1]), dtype=g.dtype)
            _matmul(dhh2[:, :k2].T, xa, out=dwb[:k2])
            _matmul(dxn2.T, xa, out=dwb[k2:])
            dw_ih = dwb[:, :-1] if ctx.has_bias else dwb
            db_ih = dwb[:, -1] if ctx.has_bias else None
        if needs[2]:
            prev = hbuf[1 - off:nt + 1 - off].reshape(nt * nb, nh)
            dw_hh = _matmul(dhh2.T, prev)
        if ctx.has_bias and needs[4]:
            db_hh = dhh2.sum(axis=0)  # ndarray.sum is np.add.reduce: the same sums
        _pool.give_all(scratch)
        return dx, dw_ih, dw_hh, db_ih, db_hh, (dhs if needs[5] else None)


# ------------------------------------------------------------------ functional
def _split(packed: Tensor, nt: int, reverse: bool, lstm: bool) -> tuple[Tensor, ...]:
    # rows [h0, h_1..h_T, h_n(, c_n)] (reverse: [h_1..h_T, h0, h_n(, c_n)]), counted from the end
    # past the outputs, so that the slices do not depend on T (an exported graph's dynamic length)
    tail = 3 if lstm else 2  # h0 or nothing, h_n, c_n
    start, stop = (0, -tail) if reverse else (1, -tail + 1)
    parts = [
        GetItem.apply(packed, slice(start, stop)),
        GetItem.apply(packed, slice(-tail + 1, -tail + 2 or None)),
    ]
    if lstm:
        parts.append(GetItem.apply(packed, slice(-1, None)))
    return tuple(parts)


def _layer_options(x: Tensor, reverse: bool, batch_first: bool, batch_sizes: Any, lengths: Any) -> dict:
    return {
        "reverse": bool(reverse),
        "batch_sizes": None if batch_sizes is None else tuple(int(b) for b in batch_sizes),
        "batch_first": bool(batch_first),
        # host ints (they steer the loop), as PyTorch reads them; one copy if they live on a device
        "lengths": None if lengths is None else np.asarray(_host(lengths), dtype=np.int64),
    }


def _host(v: Any) -> Any:
    """A Tensor's or a device array's values on the host (one copy); anything else as it is."""
    return devices.to_host(v._array if isinstance(v, Tensor) else v)


def _time_steps(x: Tensor, batch_first: bool) -> int:
    return 1 if x.ndim == 2 else x.shape[1 if batch_first else 0]


def rnn_layer(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    h0: Tensor | None = None,
    nonlinearity: str = "tanh",
    reverse: bool = False,
    batch_first: bool = False,
    batch_sizes: Sequence[int] | None = None,
    lengths: Any = None,
) -> tuple[Tensor, Tensor]:
    """One Elman RNN layer in one direction: ``(output (T, N, H), h_n (1, N, H))``.

    ``x`` is ``(T, N, I)`` (``(N, T, I)`` with ``batch_first``; the output is
    time-major either way). With variable lengths the batch must be sorted
    longest first, ``batch_sizes[t]`` is the number of sequences longer than t
    and ``lengths`` their lengths (see the module docstring). The layers in
    :mod:`chainrule.nn` check shapes; this function trusts them.
    """
    opts = _layer_options(x, reverse, batch_first, batch_sizes, lengths)
    packed = RNNLayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, relu=nonlinearity == "relu", **opts)
    return _split(packed, _time_steps(x, batch_first), reverse, False)


def lstm_layer(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    h0: Tensor | None = None,
    c0: Tensor | None = None,
    reverse: bool = False,
    batch_first: bool = False,
    batch_sizes: Sequence[int] | None = None,
    lengths: Any = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One LSTM layer in one direction: ``(output (T, N, H), h_n (1, N, H), c_n (1, N, H))``.

    Arguments as in :func:`rnn_layer`.
    """
    opts = _layer_options(x, reverse, batch_first, batch_sizes, lengths)
    packed = LSTMLayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, c0, **opts)
    return _split(packed, _time_steps(x, batch_first), reverse, True)


def gru_layer(
    x: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
    h0: Tensor | None = None,
    reverse: bool = False,
    batch_first: bool = False,
    batch_sizes: Sequence[int] | None = None,
    lengths: Any = None,
) -> tuple[Tensor, Tensor]:
    """One GRU layer in one direction: ``(output (T, N, H), h_n (1, N, H))``.

    Arguments as in :func:`rnn_layer`.
    """
    opts = _layer_options(x, reverse, batch_first, batch_sizes, lengths)
    packed = GRULayer.apply(x, w_ih, w_hh, b_ih, b_hh, h0, **opts)
    return _split(packed, _time_steps(x, batch_first), reverse, False)
