"""Layer norm compiled with numba (float32): a row's statistics, normalisation and affine map, two passes.

:func:`chainrule.ops.norm.layer_norm` in NumPy takes six or seven whole-array
passes forward and about ten backward; on a Transformer's (tokens, 128)
activations those passes cost more than their arithmetic, and they run one
after another whatever the thread count. Here each row is read twice (its
sums, then its outputs) while it sits in cache, with no GIL held, so the
pool's threads run their blocks of rows side by side.

The sums are vectorised (``reassoc``: the compiler may add in any order, as
NumPy's own pairwise and SIMD sums do) and accumulate in float64, so the
statistics are at least as accurate as NumPy's. The math is that of
:class:`chainrule.ops.norm.LayerNorm`: ``y = (x - mean) / sqrt(var + eps) * w + b``,
the biased variance, and backward ``dx = (gh - xhat mean(gh xhat) - mean(gh)) / sigma``
with ``gh = g w``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["channel_affine", "layer_norm_backward_rows", "layer_norm_rows"]

# NumPy's float semantics, no GIL, cached machine code; sums may be reordered (vectorised)
_OPTIONS = {"nogil": True, "cache": True, "error_model": "numpy", "fastmath": {"reassoc", "contract"}}


@njit(**_OPTIONS)
def layer_norm_rows(x, w, b, eps, y, mean, invstd):
    """``y[r] = (x[r] - mean[r]) * invstd[r] * w + b`` for every row of ``x`` (R, D); mean and invstd kept."""
    rows, d = x.shape
    for r in range(rows):
        xr, yr = x[r], y[r]
        total = 0.0
        for j in range(d):
            total += xr[j]
        m = total / d
        square = 0.0
        for j in range(d):
            c = xr[j] - m
            square += c * c
        inv = 1.0 / math.sqrt(square / d + eps)
        mean[r], invstd[r] = m, inv
        m32, inv32 = np.float32(m), np.float32(inv)
        for j in range(d):
            yr[j] = (xr[j] - m32) * inv32 * w[j] + b[j]


@njit(**_OPTIONS)
def layer_norm_backward_rows(g, x, mean, invstd, w, dx, gw, gb):
    """``dx`` for rows of (R, D); the rows' sums of ``g * xhat`` and of ``g`` are added to ``gw``, ``gb``."""
    rows, d = x.shape
    for r in range(rows):
        gr, xr, dr = g[r], x[r], dx[r]
        m, inv = mean[r], invstd[r]
        sum_gh, sum_ghx = 0.0, 0.0
        for j in range(d):
            xh = (xr[j] - m) * inv
            dr[j] = xh  # xhat, until the second pass turns it into dx
            gw[j] += gr[j] * xh
            gb[j] += gr[j]
            gh = gr[j] * w[j]
            sum_gh += gh
            sum_ghx += gh * xh
        mean_gh, mean_ghx = np.float32(sum_gh / d), np.float32(sum_ghx / d)
        for j in range(d):
            dr[j] = (gr[j] * w[j] - dr[j] * mean_ghx - mean_gh) * inv


# batch norm's affine map rounds as NumPy's two passes do: no contraction into fused multiply-adds
_EXACT = {"nogil": True, "cache": True, "error_model": "numpy"}


@njit(**_EXACT)
def channel_affine(x, scale, shift, y):
    """``y[n, c] = x[n, c] * scale[c] + shift[c]`` over (N, C, M): batch norm in evaluation, one pass.

    NumPy's form, ``y = x * scale; y += shift``, reads and writes every
    element twice; this reads it once, and gives the same bits.
    """
    n, c, m = x.shape
    for i in range(n):
        for k in range(c):
            a, b = scale[k], shift[k]
            xr, yr = x[i, k], y[i, k]
            for j in range(m):
                yr[j] = xr[j] * a + b
