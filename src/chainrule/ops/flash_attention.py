"""Blocked attention with a running softmax (FlashAttention-2 on NumPy): memory linear in the length.

The direct computation (``ops/attention.py``) builds each head's whole (L, S)
score matrix. Here queries are taken ``block_q`` rows at a time and keys
``block_k`` columns at a time, so nothing larger than a (heads, block_q,
block_k) tile ever exists, and the softmax is made *online*: for each query
row the kernel keeps a running maximum ``m``, a running denominator ``l`` and
an unnormalised output ``acc``; a new key block with scores ``s`` updates them as

    m'   = max(m, max_j s_j)
    l'   = l * exp(m - m') + sum_j exp(s_j - m')
    acc' = acc * exp(m - m') + exp(s - m') @ v_block

and at the end ``out = acc / l``. Forward keeps only ``out`` and the
log-sum-exp ``lse = m + log l`` per query (O(L) per head). The backward
recomputes each tile's probabilities from it, ``P = exp(S - lse)``, instead of
storing them (FlashAttention-2):

    D  = rowsum(dO * O)                      (= sum_j dP_ij P_ij, also with dropout)
    dV += P_drop^T dO,    dP = drop(dO V^T)
    dS = P * (dP - D)
    dQ += scale * dS K,   dK += scale * dS^T Q,   dmask = dS

A causal mask skips every tile above the diagonal (a query block only reads
keys up to its last row) and masks elementwise only the tile that crosses it.

Work is spread over the cores by one task per thread on
:func:`chainrule.runtime.parallel_for`, each thread pulling the next piece of
work from a shared queue (:func:`_spread`): in the forward a piece is (a group
of heads) x (a query block) and writes its own rows of ``out``; in the backward
it is a group of heads, which owns those heads' dK and dV outright, so no
accumulation races. Each tile's GEMMs are small, so they run on one BLAS
thread (:func:`chainrule.runtime.serial_blas`).

Dropout is drawn per tile from a counter-based generator (Philox) keyed by one
seed taken from chainrule's global generator per call and by the tile's
(head, query block, key block): the backward regenerates the same keep mask
without storing it, and the result is the same whichever thread runs a tile.

The arrays here are (B, L, E) queries, (B, S, E) keys, (B, S, Ev) values with
the batch dims flattened into B, on any device: they go through the array
module of the inputs (``xp``, see chainrule.devices). On a device the tiles run
one after another on the calling thread (the pool is for NumPy arrays), and
dropout's per-tile masks are drawn on the host and moved over. The autograd
node that calls these kernels is in ``ops/attention.py``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.runtime import get_num_threads, parallel_for, serial_blas

__all__ = ["BlockMask", "flash_backward", "flash_forward", "tile_sizes"]

# Tile sizes, chosen by measurement at head size 32. 256 x 256 tiles (256 KiB of float32 scores,
# in L2 with their inputs) serve the backward and causal passes, where a larger diagonal tile
# computes more masked-out scores. A forward without a causal mask (or dropout, whose per-tile masks
# the backward draws again on its own tiles) takes tiles twice as tall and
# wide (WIDE): each NumPy call is then large enough that the per-call cost and the lock each tile
# holds between calls stop dominating (two threads ran it 1.3-1.5x faster at T = 512 and 2,048).
BLOCK_Q = 256
BLOCK_K = 256
WIDE = 2
# Elements in one (heads, block_q, block_k) tile: short sequences put several heads in one task,
# so that each NumPy call still gets a sizeable array.
TILE_ELEMENTS = 1 << 16
# The kernels work in base 2: scores are scaled by log2(e) (folded into the queries' scale) and
# exponentiated with exp2, which NumPy computes twice as fast as exp; exp2(x log2 e) = exp(x).
LOG2E = 1.4426950408889634
# The forward copies k and v with a column of ones (see _scores) this many bytes' worth of heads at a time.
_STAGE_BYTES = 4 << 20


def tile_sizes(n_q: int, n_k: int, heads: int, wide: bool = False) -> tuple[int, int, int]:
    """(heads per task, query rows per tile, key columns per tile) for a problem of this shape.

    ``wide``: the larger tiles of a forward pass without a causal mask.
    """
    grow = WIDE if wide else 1
    bq = max(1, min(BLOCK_Q * grow, n_q))
    bk = max(1, min(BLOCK_K * grow, n_k))
    g = max(1, min(heads, TILE_ELEMENTS // (bq * bk)))
    return g, bq, bk


@functools.lru_cache(maxsize=64)
def _future(rows: int, cols: int, offset: int) -> np.ndarray:
    """Bool (rows, cols): True where key ``j0 + c`` lies after query ``i0 + r`` (offset = i0 - j0)."""
    above = ~np.tri(rows, cols, k=offset, dtype=bool)
    above.flags.writeable = False
    return above


def _future_on(xp: Any, rows: int, cols: int, offset: int) -> Any:
    """:func:`_future` on the device of array module ``xp`` (made there; cached only on the CPU)."""
    return _future(rows, cols, offset) if xp is np else ~xp.tri(rows, cols, k=offset, dtype=bool)


class BlockMask:
    """An attention mask broadcastable to (B, L, S), read one tile at a time without expanding it.

    ``data`` is the mask with its batch dims flattened to (M, Lm, Sm) (a float
    one multiplied by log2(e), as the kernels' scores are), where Lm
    is 1 or L and Sm is 1 or S; ``index[b]`` is the row of ``data`` that head
    ``b`` of the flattened batch uses. A bool mask says where to attend; a float
    one is added to the scores.
    """

    def __init__(self, mask: np.ndarray, batch: tuple[int, ...], n_q: int, n_k: int) -> None:
        full = (*batch, n_q, n_k)
        m = mask.reshape((1,) * (len(full) - mask.ndim) + mask.shape)
        lead = m.shape[:-2]
        self.data = devices.array_module(mask).ascontiguousarray(m.reshape(-1, *m.shape[-2:]))
        if mask.dtype != np.bool_:  # the kernels' scores are in base-2 units (see LOG2E)
            self.data = self.data * self.data.dtype.type(LOG2E)
        # which row of data each head reads: host ints worked out from the shapes alone
        slots = np.arange(self.data.shape[0]).reshape(lead)
        self.index = np.broadcast_to(slots, batch).reshape(-1)
        self.is_bool = mask.dtype == np.bool_
        self.shape = mask.shape
        self.rows_vary = m.shape[-2] != 1
        self.cols_vary = m.shape[-1] != 1
        # heads that share a row of ``data`` (its gradient then sums over them)
        self.shared = self.data.shape[0] < self.index.shape[0]

    def tile(self, b0: int, b1: int, i0: int, i1: int, j0: int, j1: int) -> np.ndarray:
        """The mask for heads b0:b1, queries i0:i1, keys j0:j1, broadcastable to that tile."""
        rows = slice(i0, i1) if self.rows_vary else slice(0, 1)
        cols = slice(j0, j1) if self.cols_vary else slice(0, 1)
        idx = self.index[b0:b1]
        first = int(idx[0])
        if idx.shape[0] == 1 or np.all(idx == first):
            return self.data[first : first + 1, rows, cols]
        if np.all(np.diff(idx) == 1):
            return self.data[first : first + idx.shape[0], rows, cols]
        if type(self.data) is not np.ndarray:  # the host index goes next to the data
            idx = devices.array_module(self.data).asarray(idx)
        return self.data[idx, rows, cols]  # gathers only the tile's part of each head's mask

    def add_grad(self, gm: np.ndarray, b0: int, ds: np.ndarray, i0: int, i1: int, j0: int, j1: int) -> None:
        """Add a tile's dS (heads b0:, queries i0:i1, keys j0:j1) into ``gm`` (M, Lm, Sm).

        dS is first summed over the axes along which the mask was broadcast.
        """
        if not self.rows_vary:
            ds = ds.sum(axis=1, keepdims=True)
        if not self.cols_vary:
            ds = ds.sum(axis=2, keepdims=True)
        rows = slice(i0, i1) if self.rows_vary else slice(0, 1)
        cols = slice(j0, j1) if self.cols_vary else slice(0, 1)
        for g in range(ds.shape[0]):
            gm[int(self.index[b0 + g]), rows, cols] += ds[g]


def _spread(fn: Callable[..., None], tasks: Sequence[tuple], like: Any = None) -> int:
    """Call ``fn(worker, *task)`` for every task; each of the threads takes the next task when done.

    :func:`chainrule.runtime.parallel_for` hands out its tasks up front, one
    per thread at best; tiles are many and unequal (a causal query block's
    work grows with its position), so here each thread pulls the next tile
    from a shared queue. ``worker`` (0 .. n-1) names the thread, for results
    a thread keeps to itself. Returns the number of workers. ``like``: an array
    of the work; for a device array (not NumPy) every task runs on this thread.
    """
    n = min(get_num_threads(), len(tasks)) if like is None or type(like) is np.ndarray else 1
    if n <= 1:
        for t in tasks:
            fn(0, *t)
        return 1
    lock = threading.Lock()
    upcoming = iter(tasks)

    def worker(w: int) -> None:
        while True:
            with lock:
                t = next(upcoming, None)
            if t is None:
                return
            fn(w, *t)

    parallel_for(worker, [(w,) for w in range(n)])
    return n


def _keep(
    seed: int, b: int, qi: int, kj: int, shape: tuple[int, ...], p: float, dtype: Any, xp: Any = np
) -> Any:
    """The dropout keep-mask of one tile (heads from b, query block qi, key block kj), the same every call.

    Drawn on the host (the same bits on every device), then moved to ``xp``'s device.
    """
    gen = np.random.Generator(np.random.Philox(key=seed, counter=[0, kj, qi, b]))
    keep = gen.random(shape, dtype=np.float64 if dtype == np.float64 else np.float32) >= p
    return keep if xp is np else xp.asarray(keep)


def _scores(
    qa: np.ndarray,
    kh: np.ndarray,
    mask: BlockMask | None,
    causal: bool,
    b0: int,
    b1: int,
    i0: int,
    i1: int,
    j0: int,
    j1: int,
) -> np.ndarray:
    """S - c + mask for one tile (heads b0:b1, queries i0:i1, keys j0:j1), in one GEMM.

    ``qa`` is (scale q | -c) and ``kh`` is (k | 1) of heads b0:b1: the extra column subtracts
    each query's shift ``c`` inside the GEMM, saving a pass over the tile.
    """
    xp = devices.array_module(qa)
    s = xp.matmul(qa, xp.swapaxes(kh[:, j0:j1], -1, -2))
    # (copyto's where=, which CuPy's copyto has too; not a ufunc's)
    if causal and j1 - 1 > i0:  # the tile crosses the diagonal: keys after each query are hidden
        xp.copyto(s, -np.inf, where=_future_on(xp, i1 - i0, j1 - j0, i0 - j0))
    elif mask is not None:
        m = mask.tile(b0, b1, i0, i1, j0, j1)
        if mask.is_bool:
            xp.copyto(s, -np.inf, where=~m)
        else:
            s += m
    return s


def _with_ones(a: np.ndarray) -> np.ndarray:
    """(B, n, e) -> (B, n, e + 1) with a last column of ones (see :func:`_scores`)."""
    out = devices.array_module(a).empty((*a.shape[:-1], a.shape[-1] + 1), dtype=a.dtype)
    out[..., :-1] = a
    out[..., -1] = 1
    return out


def flash_forward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: BlockMask | None,
    scale: float,
    causal: bool,
    dropout_p: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(out (B, L, Ev), lse (B, L))`` of softmax(scale q k^T + mask) @ v, one tile at a time.

    ``lse`` is each query's log-sum-exp of its scores in base 2 (log2 e times the natural one).

    Each query row's shift ``c`` is the running maximum of its scores only
    while it has to be: once every row of the task has seen a finite score,
    later tiles keep ``c`` (any shift gives the same softmax) and skip the
    max, the subtraction and the rescaling. A tile whose exp overflows (a
    score more than ~88 above ``c``) is redone the careful way, raising ``c``.
    Without dropout the row sums ride in the P @ (V | 1) GEMM as one more column.
    """
    n_b, n_q, e = q.shape
    n_k, ev = k.shape[1], v.shape[2]
    dt = q.dtype
    xp = devices.array_module(q)
    out = xp.empty((n_b, n_q, ev), dtype=dt)
    lse = xp.empty((n_b, n_q), dtype=dt)
    # dropout masks are drawn per tile and drawn again by the backward: both passes tile alike then
    g, bq, bk = tile_sizes(n_q, n_k, n_b, wide=not causal and dropout_p == 0.0)
    drop = 1.0 / (1.0 - dropout_p) if dropout_p < 1.0 else 0.0
    fold_sum = dropout_p == 0.0
    ka = va = None  # (k | 1) and (v | 1) of the heads from c0 on, made a stage of heads at a time
    c0 = 0

    def task(w: int, b0: int, b1: int, i0: int, i1: int) -> None:
        kh = ka[b0 - c0 : b1 - c0]
        vh = va[b0 - c0 : b1 - c0] if fold_sum else v[b0:b1]
        qa = xp.empty((b1 - b0, i1 - i0, e + 1), dtype=dt)
        xp.multiply(q[b0:b1, i0:i1], dt.type(scale * LOG2E), out=qa[..., :e])
        qa[..., e] = 0
        c = xp.zeros((b1 - b0, i1 - i0, 1), dtype=dt)  # each row's shift
        seen = None  # rows that have met a finite score (None: not yet known for every row)
        acc = den = None  # acc: sum_j exp(S_j - c) v_j (| its row sums, the denominator, when folded)
        hi = min(i1, n_k) if causal else n_k  # causal: keys past the block's last query are never read
        for j0 in range(0, hi, bk):
            j1 = min(j0 + bk, hi)
            s = _scores(qa, kh, mask, causal, b0, b1, i0, i1, j0, j1)
            keep = None
            if dropout_p > 0.0:
                keep = _keep(seed, b0, i0 // bq, j0 // bk, s.shape, dropout_p, dt, xp)
            if seen is True:  # fast: the shift stands
                with devices.errstate(s, over="ignore", invalid="ignore"):  # an overflow is caught just below
                    xp.exp2(s, out=s)
                    row = None if fold_sum else s.sum(axis=-1, keepdims=True)
                    if keep is not None:
                        s *= keep
                    part = xp.matmul(s, vh[:, j0:j1])
                total = part[..., ev:] if fold_sum else row
                # finite and far from overflowing however many tiles follow (NaN fails the test too);
                # a device syncs here once per tile: the answer decides the control flow
                if xp.all(total < 1e30):
                    acc += part
                    if not fold_sum:
                        den += row
                    continue
                s = _scores(qa, kh, mask, causal, b0, b1, i0, i1, j0, j1)  # overflowed: redo carefully
            # careful: raise each row's shift to the tile's maximum, and rescale what was summed
            mb = s.max(axis=-1, keepdims=True)  # relative to the current shift
            if seen is True:
                delta, seen_rows = xp.maximum(mb, 0), None  # only ever raise the shift
            else:
                # a row that met no finite score yet takes this tile's maximum (0 while it still sees none)
                now = mb > -np.inf
                first = xp.where(now, mb, dt.type(0))
                if seen is None:
                    delta, seen_rows = first, now
                else:
                    delta, seen_rows = xp.where(seen, xp.maximum(mb, 0), first), seen | now
            s -= delta
            xp.exp2(s, out=s)
            row = None if fold_sum else s.sum(axis=-1, keepdims=True)
            if keep is not None:
                s *= keep
            part = xp.matmul(s, vh[:, j0:j1])
            if acc is None:
                acc, den = part, row
            else:
                alpha = xp.exp2(-xp.maximum(delta, 0))  # seen rows: delta >= 0; the others hold zeros
                acc *= alpha
                acc += part
                if not fold_sum:
                    den *= alpha
                    den += row
            c += delta
            qa[..., e] = -c[..., 0]
            if seen_rows is not None:  # (a device syncs: the answer picks the fast path for the next tiles)
                seen = True if seen_rows.all() else seen_rows
        if acc is None:  # no keys at all
            out[b0:b1, i0:i1] = 0
            lse[b0:b1, i0:i1] = 0
            return
        if fold_sum:
            acc, den = acc[..., :ev], acc[..., ev:]
        den = den.copy()
        empty = den == 0  # every key hidden: zero weights and a zero output, as PyTorch
        den[empty] = 1.0
        xp.divide(acc, den, out=out[b0:b1, i0:i1])
        if dropout_p > 0.0:
            out[b0:b1, i0:i1] *= dt.type(drop)
        xp.log2(den, out=den)
        den += c  # lse = c + log2 sum_j exp2(S_j - c), in base 2 as the scores
        # the backward sees zero probabilities too: exp(S - huge) = 0 (finite, as inf in a GEMM gives NaN)
        den[empty] = np.finfo(dt).max / 4
        lse[b0:b1, i0:i1] = den[..., 0]

    # the heads go in stages whose (k | 1) and (v | 1) copies take a few MiB, not a copy of all of k and v
    stage = max(1, _STAGE_BYTES // max(1, n_k * (e + ev + 2) * q.itemsize) // g) * g
    with serial_blas(bq * bk * e):
        for c0 in range(0, n_b, stage):
            c1 = min(c0 + stage, n_b)
            ka = _with_ones(k[c0:c1])
            va = _with_ones(v[c0:c1]) if fold_sum else None
            tasks = [
                (b0, min(b0 + g, c1), i0, min(i0 + bq, n_q))
                for b0 in range(c0, c1, g)
                for i0 in range(0, n_q, bq)
            ]
            if causal:  # the longest tasks (last query blocks) first, so the threads finish together
                tasks.sort(key=lambda t: -t[2])
            _spread(task, tasks, like=q)
    return out, lse


def flash_backward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: BlockMask | None,
    scale: float,
    causal: bool,
    dropout_p: float,
    seed: int,
    out: np.ndarray,
    lse: np.ndarray,
    g_out: np.ndarray,
    need_mask: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """``(dq, dk, dv, dmask)`` of :func:`flash_forward`, recomputing each tile's P from ``lse``."""
    n_b, n_q, _ = q.shape
    n_k = k.shape[1]
    dt = q.dtype
    sc = dt.type(scale)
    sc2 = dt.type(scale * LOG2E)  # the queries' scale in the base-2 scores
    drop = dt.type(1.0 / (1.0 - dropout_p) if dropout_p < 1.0 else 0.0)
    xp = devices.array_module(g_out)
    gq = xp.empty_like(q)
    gk = xp.zeros_like(k)
    gv = xp.zeros_like(v)
    g, bq, bk = tile_sizes(n_q, n_k, n_b)
    # D = rowsum(dO * O), one number per query (CuPy has no vecdot)
    d_all = np.vecdot(g_out, out) if xp is np else (g_out * out).sum(axis=-1)
    e, ev = q.shape[-1], v.shape[-1]
    fold_d = dropout_p == 0.0  # with dropout, D comes after the keep mask: subtracted on its own
    # dmask: one array that each head group adds its own rows to, or, where heads share mask rows,
    # one per thread, summed at the end
    private = need_mask and mask.shared
    gms: list[np.ndarray | None] = [None] * max(1, get_num_threads())
    if need_mask and not private:
        gms[0] = xp.zeros(mask.data.shape, dtype=dt)

    def task(w: int, b0: int, b1: int) -> None:
        gm = gms[w] if private else gms[0]
        if need_mask and gm is None:
            gm = gms[w] = xp.zeros(mask.data.shape, dtype=dt)
        kh = _with_ones(k[b0:b1])
        vh = _with_ones(v[b0:b1]) if fold_d else v[b0:b1]
        for i0 in range(0, n_q, bq):
            i1 = min(i0 + bq, n_q)
            # (scale q | -lse): the GEMM gives S - lse; (dO | -D): the GEMM gives dP - D
            qa = xp.empty((b1 - b0, i1 - i0, e + 1), dtype=dt)
            xp.multiply(q[b0:b1, i0:i1], sc2, out=qa[..., :e])
            xp.negative(lse[b0:b1, i0:i1], out=qa[..., e])
            qs = qa[..., :e]
            if fold_d:
                da = xp.empty((b1 - b0, i1 - i0, ev + 1), dtype=dt)
                da[..., :ev] = g_out[b0:b1, i0:i1]
                xp.negative(d_all[b0:b1, i0:i1], out=da[..., ev])
                do = da[..., :ev]
            else:
                do = g_out[b0:b1, i0:i1]
                d_i = d_all[b0:b1, i0:i1, None]
            dq = None
            for j0 in range(0, min(i1, n_k) if causal else n_k, bk):
                j1 = min(j0 + bk, n_k, i1) if causal else min(j0 + bk, n_k)
                p = _scores(qa, kh, mask, causal, b0, b1, i0, i1, j0, j1)
                xp.exp2(p, out=p)  # P = exp(S - lse) = exp2(S log2 e - lse2): this tile's weights
                if fold_d:
                    dp = xp.matmul(da, xp.swapaxes(vh[:, j0:j1], -1, -2))  # dP - D = dO V^T - D
                    gv[b0:b1, j0:j1] += xp.matmul(xp.swapaxes(p, -1, -2), do)  # dV += P^T dO
                else:
                    keep = _keep(seed, b0, i0 // bq, j0 // bk, p.shape, dropout_p, dt, xp)
                    pd = p * keep
                    pd *= drop
                    gv[b0:b1, j0:j1] += xp.matmul(xp.swapaxes(pd, -1, -2), do)  # dV += P_drop^T dO
                    dp = xp.matmul(do, xp.swapaxes(vh[:, j0:j1], -1, -2))  # dP = drop(dO V^T)
                    dp *= keep
                    dp *= drop
                    dp -= d_i
                dp *= p  # dS = P * (dP - D)
                part = xp.matmul(dp, kh[:, j0:j1, :e])
                if dq is None:
                    dq = part
                else:
                    dq += part
                # dK += scale dS^T Q (qs holds scale log2(e) Q: the log2 e comes off at the end)
                gk[b0:b1, j0:j1] += xp.matmul(xp.swapaxes(dp, -1, -2), qs)
                if need_mask:
                    mask.add_grad(gm, b0, dp, i0, i1, j0, j1)
            if dq is None:
                gq[b0:b1, i0:i1] = 0
            else:
                xp.multiply(dq, sc, out=gq[b0:b1, i0:i1])  # dQ = scale dS K

    # a task is a group of g heads (as in the forward, so each tile's dropout draw is the same):
    # it alone writes those heads' dK and dV
    with serial_blas(bq * bk * q.shape[-1]):
        _spread(task, [(b0, min(b0 + g, n_b)) for b0 in range(0, n_b, g)], like=q)
    gk *= dt.type(1.0 / LOG2E)
    gm = None
    if need_mask:
        parts = [a for a in gms if a is not None]
        gm = parts[0]
        for a in parts[1:]:
            gm += a
        gm = gm.reshape(mask.shape)
    return gq, gk, gv, gm
