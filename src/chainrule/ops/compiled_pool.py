"""Max pooling compiled with numba: the forward without a graph, and the backward.

The NumPy kernel in :mod:`chainrule.ops.pool` takes the maximum offset by
offset, a strided pass over the whole output per kernel position, and its
backward makes two passes per offset. Here the forward folds each window row
into the output row while both are in cache (ResNet-18's 3x3/2 pool at batch
8: 26 -> 8 ms), and the backward sends each output's gradient straight to its
pixel (W2's 2x2 pool 2.3 -> 1.8 ms, ResNet-18's 50 -> 12 ms). All hold no
GIL, so the pool's threads run their slabs of planes side by side. The
forward that must also record which offset won is compiled for 2x2 windows
of stride 2 (the common pool), written out so that the compiler vectorises
it (W2's (64, 32, 28, 28) at one thread: 1.83 -> 0.34 ms); a general form
with the index did not vectorise and was slower than NumPy, which serves the
other shapes.

Planes are the input's leading axes flattened, ``(P, H, W)`` (the padded input
for the forward, its gradient for the backward), C-contiguous. The offset of
window position ``(i, j)`` is ``i * kw + j``. NaN wins over any number, so a
window holding NaN gives NaN, as in PyTorch.
"""

from __future__ import annotations

from numba import njit

__all__ = ["max_pool_2x2_index_planes", "max_pool_backward_planes", "max_pool_planes"]

_OPTIONS = {"nogil": True, "cache": True, "error_model": "numpy"}


@njit(inline="always", **_OPTIONS)
def _fold_row(best, row, left, step):
    """``best[x] = max(best[x], row[left + x*step])`` along a row of windows."""
    for x in range(best.shape[0]):
        v, b = row[left + x * step], best[x]
        best[x] = v if (v > b) | (v != v) else b  # v != v: NaN, which wins (and then stays)


@njit(**_OPTIONS)
def max_pool_planes(xpad, out, kh, kw, sh, sw, dh, dw):
    """``out[p, y, x]``: the max of its window in ``xpad[p]``."""
    planes, oh, ow = out.shape
    for p in range(planes):
        for y in range(oh):
            best = out[p, y]  # the row's maxima so far, kept in the output row itself
            first = xpad[p, y * sh]
            for x in range(ow):
                best[x] = first[x * sw]
            for i in range(kh):
                row = xpad[p, y * sh + i * dh]
                for j in range(kw):
                    if i == 0 and j == 0:
                        continue
                    # the window stride as a constant where it is one: the compiler then vectorises
                    if sw == 1:
                        _fold_row(best, row, j * dw, 1)
                    elif sw == 2:
                        _fold_row(best, row, j * dw, 2)
                    else:
                        _fold_row(best, row, j * dw, sw)


@njit(**_OPTIONS)
def max_pool_backward_planes(g, idx, gx, kh, kw, sh, sw, dh, dw, tiled):
    """Each ``g[p, y, x]`` to the pixel its window picked, in ``gx[p]`` (the padded input's gradient).

    ``tiled`` (stride = kernel, no padding, the windows cover the input once):
    every pixel of ``gx`` is written, the unpicked ones with zero, so ``gx``
    may come uninitialised. Otherwise ``gx`` must come zeroed and windows that
    share a pixel add up there.
    """
    planes, oh, ow = g.shape
    for p in range(planes):
        for y in range(oh):
            if tiled:
                for i in range(kh):
                    row = y * kh + i
                    for x in range(ow):
                        k, gv = idx[p, y, x], g[p, y, x]
                        for j in range(kw):
                            gx[p, row, x * kw + j] = gv if k == i * kw + j else 0
            else:
                for x in range(ow):
                    k = idx[p, y, x]
                    i = k // kw
                    gx[p, y * sh + i * dh, x * sw + (k - i * kw) * dw] += g[p, y, x]


@njit(**_OPTIONS)
def max_pool_2x2_backward_planes(g, idx, gx):
    """The tiled backward of 2x2 windows of stride 2: every pixel of ``gx`` written, g or zero.

    :func:`max_pool_backward_planes` for this geometry, written out so that
    the compiler vectorises it: one loop per output row of ``gx`` with two
    stores an iteration (3x faster on W2's first pool, (64, 32, 14, 14)).
    """
    planes, oh, ow = g.shape
    for p in range(planes):
        for y in range(oh):
            gy, ky = g[p, y], idx[p, y]
            top, bottom = gx[p, 2 * y], gx[p, 2 * y + 1]
            for x in range(ow):
                k, v = ky[x], gy[x]
                top[2 * x] = v if k == 0 else 0
                top[2 * x + 1] = v if k == 1 else 0
            for x in range(ow):
                k, v = ky[x], gy[x]
                bottom[2 * x] = v if k == 2 else 0
                bottom[2 * x + 1] = v if k == 3 else 0


@njit(inline="always", **_OPTIONS)
def _max_nan(m, v):
    """``np.maximum(m, v)``: NaN if either is NaN, else the larger."""
    return v if (v > m) | (v != v) else m


@njit(**_OPTIONS)
def max_pool_2x2_index_planes(xpad, out, idx):
    """2x2 windows of stride 2: ``out`` their maxima and ``idx`` the offset that won (0..3, row-major).

    The same values as the NumPy offset-by-offset kernel: offset k takes over
    only where it is strictly greater than the maximum so far, so the first
    maximum wins a tie, and the maximum is NaN once a NaN is met (the caller
    then points such a window's index at its last NaN, PyTorch's rule: a check
    inside this loop costs W2's pool half its speed).
    """
    planes, oh, ow = out.shape
    for p in range(planes):
        for y in range(oh):
            top, bottom = xpad[p, 2 * y], xpad[p, 2 * y + 1]
            best, which = out[p, y], idx[p, y]
            for x in range(ow):
                a, b, c, d = top[2 * x], top[2 * x + 1], bottom[2 * x], bottom[2 * x + 1]
                k = 1 if b > a else 0
                m = _max_nan(a, b)
                k = 2 if c > m else k
                m = _max_nan(m, c)
                k = 3 if d > m else k
                best[x] = _max_nan(m, d)
                which[x] = k
