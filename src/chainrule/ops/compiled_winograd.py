"""Winograd's F(2x2, 3x3) transforms compiled with numba: 3x3 convolutions with 2.25x fewer multiplies.

A 3x3 stride-1 convolution computes each 2x2 block of outputs from a 4x4
patch of the input. Winograd's minimal filtering algorithm (Lavin and Gray,
2016) does it with 16 products instead of 36:

    Y = A^T [ (G g G^T) * (B^T d B) ] A

with d the 4x4 input patch, g the 3x3 kernel and ``*`` elementwise. Summed
over input channels, the 16 products become 16 GEMMs, one per position xi
of the 4x4 transformed tile: ``M_xi (O, T) = U_xi (O, C) @ V_xi (C, T)``
over all T tiles, with ``U = G g G^T`` (the kernels, transformed once a
call) and ``V = B^T d B`` (the input tiles). The transforms are additions
only; here they are compiled loops that read each patch once and hold no
GIL. The matrices (F(2, 3) in its usual form):

    B^T = [1  0 -1  0]     G = [ 1    0    0 ]     A^T = [1  1  1  0]
          [0  1  1  0]         [1/2  1/2  1/2]           [0  1 -1 -1]
          [0 -1  1  0]         [1/2 -1/2  1/2]
          [0  1  0 -1]         [ 0    0    1 ]

The tiles cover the output in steps of 2, so an odd output size reads one row
or column of extra zero padding and drops the outputs it makes there. The
rounding differs from the direct sum by a few float32 ulps (F(2, 3)'s
transforms are exact in binary but reorder the sums); larger Winograd tiles
are faster still but lose digits, so this library stops at F(2, 3).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["winograd_input", "winograd_output"]

_OPTIONS = {"nogil": True, "cache": True, "error_model": "numpy"}


@njit(**_OPTIONS)
def winograd_input(xpad, v, th, tw):
    """``v[xi, c, (n*th + ty)*tw + tx] = (B^T d B)[xi]``, d: the 4x4 patch of ``xpad[n, c]`` at (2ty, 2tx).

    Each step is a simple loop over a row, so the compiler vectorises it: B^T
    combines the patch rows' whole width first (``rows``), then B combines
    columns 2tx..2tx+3 of those rows into the 16 outputs, one row of each.
    """
    nb, channels, width = xpad.shape[0], xpad.shape[1], xpad.shape[3]
    rows = np.empty((4, width), xpad.dtype)
    for c in range(channels):
        for n in range(nb):
            for ty in range(th):
                r0, r1 = xpad[n, c, 2 * ty], xpad[n, c, 2 * ty + 1]
                r2, r3 = xpad[n, c, 2 * ty + 2], xpad[n, c, 2 * ty + 3]
                for x in range(width):  # B^T d: r0 - r2, r1 + r2, r2 - r1, r1 - r3
                    rows[0, x] = r0[x] - r2[x]
                    rows[1, x] = r1[x] + r2[x]
                    rows[2, x] = r2[x] - r1[x]
                    rows[3, x] = r1[x] - r3[x]
                t0 = (n * th + ty) * tw
                for i in range(4):  # (B^T d) B: the same combinations of columns x .. x+3, x = 2tx
                    a = rows[i]
                    v0, v1, v2, v3 = v[4 * i, c], v[4 * i + 1, c], v[4 * i + 2, c], v[4 * i + 3, c]
                    for tx in range(tw):
                        v0[t0 + tx] = a[2 * tx] - a[2 * tx + 2]
                    for tx in range(tw):
                        v1[t0 + tx] = a[2 * tx + 1] + a[2 * tx + 2]
                    for tx in range(tw):
                        v2[t0 + tx] = a[2 * tx + 2] - a[2 * tx + 1]
                    for tx in range(tw):
                        v3[t0 + tx] = a[2 * tx + 1] - a[2 * tx + 3]


@njit(**_OPTIONS)
def winograd_output(m, out, bias, th, tw):
    """``out[n, o, 2ty:2ty+2, 2tx:2tx+2] = A^T M A + bias[o]`` from the 16 products ``m[:, o, tile]``.

    ``out`` is (N, O, 2 th, 2 tw): whole tiles (the caller crops an odd size).
    A^T combines the 4x4 product's rows (``s`` and ``d``, one row of tiles
    at a time), then its columns, into the two output rows.
    """
    nb, channels = out.shape[0], out.shape[1]
    s = np.empty((4, tw), m.dtype)
    d = np.empty((4, tw), m.dtype)
    for o in range(channels):
        bo = bias[o]
        for n in range(nb):
            for ty in range(th):
                t0 = (n * th + ty) * tw
                for j in range(4):  # A^T M: rows m0 + m1 + m2 and m1 - m2 - m3, at column j
                    m0, m1, m2, m3 = m[j, o, t0:], m[4 + j, o, t0:], m[8 + j, o, t0:], m[12 + j, o, t0:]
                    sj, dj = s[j], d[j]
                    for tx in range(tw):
                        sj[tx] = m0[tx] + m1[tx] + m2[tx]
                        dj[tx] = m1[tx] - m2[tx] - m3[tx]
                top, low = out[n, o, 2 * ty], out[n, o, 2 * ty + 1]
                for tx in range(tw):  # (A^T M) A: the same combinations of the columns
                    top[2 * tx] = s[0, tx] + s[1, tx] + s[2, tx] + bo
                    top[2 * tx + 1] = s[1, tx] - s[2, tx] - s[3, tx] + bo
                    low[2 * tx] = d[0, tx] + d[1, tx] + d[2, tx] + bo
                    low[2 * tx + 1] = d[1, tx] - d[2, tx] - d[3, tx] + bo
