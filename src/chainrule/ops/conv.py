"""Convolution and transposed convolution: im2col, one GEMM, and col2im, each one autograd node.

A convolution is a matrix product in disguise. Unfold every receptive field
of the (padded) input into a column, ``cols`` of shape (C*kh*kw, N*OH*OW),
and the layer is ``Y = W cols`` with ``W`` of shape (O, C*kh*kw): one GEMM.
The unfolding (im2col) is one copy out of a strided view of the padded
input, never a loop over pixels. Its adjoint (col2im) folds columns back onto
the image: ``kh * kw`` strided adds, one per kernel offset.

The backward pass is the chain rule on ``Y = W cols`` (with ``g = dL/dY``):

* ``dW = g cols^T``          (a GEMM contracting over every output position),
* ``dcols = W^T g``, then ``dx = col2im(dcols)`` (a GEMM and the fold),
* ``db = sum of g`` over batch and positions.

A transposed convolution is exactly the backward-to-input of a convolution,
so its forward is ``col2im(W^T x)`` and its backward is a convolution of
``g``. Groups split the channels into independent blocks: one batched GEMM
over the groups.

Speed comes from the memory layout. Columns are channel-major, so each GEMM
is one large product of contiguous operands, and the change to NCHW is one
copy fused with the bias add. Layers with few columns per output (a first
layer on grey images, 1x1 convolutions) instead run one GEMM per sample that
writes NCHW directly. For stride 1 the input gradient is folded in a "wide"
layout whose adds run over long contiguous stretches (see ``_col2im_wide``),
and large temporaries are reused between calls rather than reallocated.
Training keeps for ``dW`` whichever is smaller, the input or its columns; a
kept input is unfolded again in the backward, a block of samples at a time.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from chainrule import autograd, devices
from chainrule.autograd import Function
from chainrule.ops import compiled
from chainrule.runtime import (
    MIN_PARALLEL_ELEMENTS,
    chunk_bounds,
    get_num_threads,
    map_rows,
    parallel_for,
    scratch,
    serial_blas,
    worth_splitting,
)
from chainrule.tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "pad_nd"]


def _xp(a: Any) -> Any:
    """The array module of ``a``: NumPy after one type test (the CPU's hot path), else the device's."""
    return np if type(a) is np.ndarray else devices.array_module(a)


# Large temporaries (the padded input, the columns, the GEMM result before its
# transpose, the column gradient) come from the runtime's scratch pool, so that
# a training loop does not page-fault them in from the OS every step. Every take
# names an array of the computation (``like``): on a device (not NumPy) the
# buffer is a fresh array of its module, and map_rows runs in one call there.
# Arrays go through the module of the inputs (``xp``, from devices.array_module).
_take, _give = scratch.take, scratch.give


def _over_samples(fn: Any, n: int, sample_elements: int, like: Any) -> list:
    """``fn(i, j)`` over blocks of samples, results in block order; on the pool's threads when it pays.

    For the per-sample layout's batched GEMMs (NumPy runs a batch of small
    GEMMs one after another on one thread): ``sample_elements`` (the memory
    a sample's GEMM reads and writes) decides the split; the blocks' GEMMs
    then run on one BLAS thread each.
    """
    parts = min(n, worth_splitting(n * sample_elements, like=like))
    if parts <= 1:
        return [fn(0, n)]
    with serial_blas(0):
        return parallel_for(fn, chunk_bounds(n, parts))


def _padded(x: Any, pads: tuple[int, int, int, int]) -> Any:
    """``x`` (N, C, H, W) zero-padded by (top, bottom, left, right), in a pooled buffer."""
    n, c, h, w = x.shape
    pt, pb, pl, pr = pads
    xpad = _take((n, c, h + pt + pb, w + pl + pr), x.dtype, like=x)
    if xpad.nbytes < scratch.min_bytes:  # small: zero it all, one call
        xpad.fill(0)
        xpad[:, :, pt : pt + h, pl : pl + w] = x
        return xpad

    def samples(a: int, b: int) -> None:  # samples a..b-1: the border zeroed, the interior copied
        if pt:
            xpad[a:b, :, :pt] = 0
        xpad[a:b, :, pt + h :] = 0
        if pl:
            xpad[a:b, :, pt : pt + h, :pl] = 0
        if pr:
            xpad[a:b, :, pt : pt + h, pl + w :] = 0
        xpad[a:b, :, pt : pt + h, pl : pl + w] = x[a:b]

    map_rows(samples, n, xpad.size // n, like=x)
    return xpad


# ----------------------------------------------------------------- kernels
def _strided(a: Any, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
    """A read-only view of ``a``'s memory with the given shape and strides (``as_strided``, faster)."""
    if type(a) is not np.ndarray:  # a device array: its module's as_strided (CuPy's has no writeable=)
        return _xp(a).lib.stride_tricks.as_strided(a, shape, strides)
    if a.flags.c_contiguous:
        view = np.ndarray(shape, a.dtype, buffer=a, strides=strides)
        view.flags.writeable = False
        return view
    return as_strided(a, shape, strides, writeable=False)


def _im2col(
    x: np.ndarray,
    kh: int,
    kw: int,
    stride: tuple[int, int],
    pads: tuple[int, int, int, int],
    dilation: tuple[int, int],
    oh: int,
    ow: int,
    out: np.ndarray | None = None,
    per_sample: bool = False,
) -> np.ndarray:
    """Columns (C*kh*kw, N*oh*ow) of every receptive field of ``x`` (N, C, H, W), zero-padded.

    Row ``(c, i, j)`` holds input channel ``c`` at kernel offset ``(i, j)`` for
    every output position: one copy from a strided view of the padded input.
    With ``per_sample`` the columns are (N, C*kh*kw, oh*ow) instead.
    """
    n, c = x.shape[:2]
    xpad = _padded(x, pads) if any(pads) else x
    view = _fields(xpad, kh, kw, oh, ow, stride, dilation)
    if per_sample:
        if out is None:
            out = _take((n, c * kh * kw, oh * ow), x.dtype, like=x)
        dst, src, axis = out.reshape(n, c, kh, kw, oh, ow), view.transpose(3, 0, 1, 2, 4, 5), 0
    else:
        if out is None:
            out = _take((c * kh * kw, n * oh * ow), x.dtype, like=x)
        dst, src, axis = out.reshape(c, kh, kw, n, oh, ow), view, 3
    _copy_split(dst, src, axis)
    if xpad is not x:
        _give(xpad)
    return out


def _fields(xpad: Any, kh: int, kw: int, oh: int, ow: int, stride: tuple, dilation: tuple) -> Any:
    """The receptive fields of the padded ``xpad`` (N, C, Hp, Wp), a read-only (C, kh, kw, N, oh, ow) view."""
    n, c = xpad.shape[:2]
    sn, sc, sh, sw = xpad.strides
    strides = (sc, sh * dilation[0], sw * dilation[1], sn, sh * stride[0], sw * stride[1])
    return _strided(xpad, (c, kh, kw, n, oh, ow), strides)


def _copy_split(dst: np.ndarray, src: np.ndarray, axis: int) -> None:
    """``copyto(dst, src)``, cut along ``axis`` (the batch) into slabs copied on the pool's threads."""
    lead = (slice(None),) * axis
    copyto = _xp(dst).copyto

    def slab(a: int, b: int) -> None:
        copyto(dst[(*lead, slice(a, b))], src[(*lead, slice(a, b))])

    map_rows(slab, dst.shape[axis], dst.size // max(1, dst.shape[axis]), like=dst)


def _offsets(size: int, out_size: int, k: int, s: int, pad: int, d: int) -> list[tuple[int, int, slice]]:
    """Per kernel offset: the outputs [lo, hi) that read inside the image, and the input slice they read.

    Output position ``o`` at offset ``i`` reads input ``o*s + i*d - pad``;
    positions that fall into the padding are skipped, not materialised.
    """
    result = []
    for i in range(k):
        shift = i * d - pad
        lo = -(shift // s) if shift < 0 else 0  # the first o with o*s + shift >= 0
        hi = min(out_size, (size - 1 - shift) // s + 1)
        if hi <= lo:
            result.append((0, 0, slice(0, 0)))
            continue
        start = lo * s + shift
        result.append((lo, hi, slice(start, start + (hi - lo - 1) * s + 1, s)))
    return result


def _fold(
    dc: np.ndarray,
    acc: np.ndarray,
    stride: tuple[int, int],
    pads: tuple[int, int],
    dilation: tuple[int, int],
) -> None:
    """Add columns ``dc`` (C, kh, kw, N, oh, ow) onto the image ``acc`` (C, N, H, W) they were read from.

    Every kernel offset adds its slab onto the strided positions it read, one
    vectorised add per offset; reads from the padding are dropped.
    """
    _, kh, kw, _, oh, ow = dc.shape
    h, w = acc.shape[2:]
    rows = _offsets(h, oh, kh, stride[0], pads[0], dilation[0])
    columns = _offsets(w, ow, kw, stride[1], pads[1], dilation[1])
    for i, (ra, rb, rs) in enumerate(rows):
        if rb <= ra:
            continue
        for j, (ca, cb, cs) in enumerate(columns):
            if cb > ca:
                acc[:, :, rs, cs] += dc[:, i, j, :, ra:rb, ca:cb]


def _col2im(
    cols: np.ndarray,
    shape: tuple[int, int, int, int],
    kh: int,
    kw: int,
    stride: tuple[int, int],
    pads: tuple[int, int],
    dilation: tuple[int, int],
    oh: int,
    ow: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Fold columns (C*kh*kw, N*oh*ow) back onto an image (N, C, H, W): the adjoint of im2col.

    The image is a new array, or ``out`` (a block of samples of a larger one).
    """
    n, c, h, w = shape
    xp = _xp(cols)
    acc = _take((c, n, h, w), cols.dtype, like=cols)  # channel-major, so the adds are layout-matched
    dc = cols.reshape(c, kh, kw, n, oh, ow)
    dx = xp.empty((n, c, h, w), cols.dtype) if out is None else out

    def samples(a: int, b: int) -> None:  # samples a..b-1 are folded independently
        acc[:, a:b].fill(0)
        _fold(dc[:, :, :, a:b], acc[:, a:b], stride, pads, dilation)
        xp.copyto(dx[a:b], acc[:, a:b].transpose(1, 0, 2, 3))

    map_rows(samples, n, c * kh * kw * oh * ow, like=cols)
    _give(acc)
    return dx


def _gemm(a: np.ndarray, b: np.ndarray, groups: int, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` per group: a (G, m, k) and b (G, k, n) give (G*m, n); G == 1 is one plain GEMM."""
    matmul = _xp(a).matmul
    if groups == 1:
        return matmul(a[0], b[0], out=out)
    if out is not None:
        matmul(a, b, out=out.reshape(groups, a.shape[1], b.shape[2]))
        return out
    r = matmul(a, b)
    return r.reshape(-1, r.shape[-1])


def _to_channel_major(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """(N, C, H, W) to (C, N*H*W) in ``out``: one transposing copy."""
    n, c, h, w = x.shape
    _xp(x).copyto(out.reshape(c, n, h, w), x.transpose(1, 0, 2, 3))
    return out


def _from_channel_major(y: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """A (O, N, oh, ow) view to a new (N, O, oh, ow) array, adding the bias in the same pass."""
    o, n, oh, ow = y.shape
    xp = _xp(y)
    out = xp.empty((n, o, oh, ow), y.dtype)
    src = y.transpose(1, 0, 2, 3)
    if bias is None:
        _copy_split(out, src, 0)
        return out
    b = bias.reshape(o, 1, 1)
    map_rows(lambda i, j: xp.add(src[i:j], b, out=out[i:j]), n, o * oh * ow, like=y)
    return out


# Columns of the forward made a block of samples at a time when they are not kept for backward
# (inference): at most this many bytes of columns at once.
FORWARD_COLUMN_BLOCK_BYTES = 8 << 20


def _channel_major_forward(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    sizes: tuple[int, int, int, int],
    stride: tuple[int, int],
    pads: tuple[int, int, int, int],
    dilation: tuple[int, int],
    groups: int,
    keep_cols: bool,
    block_bytes: int,
) -> tuple[np.ndarray | None, np.ndarray]:
    """``(cols or None, y)``: im2col, ``Y = W cols`` and the change to NCHW (and bias), per block of samples.

    Samples are independent, so each block's unfold, GEMM (on one BLAS thread)
    and transposing copy run together on one of the pool's threads, the
    block's columns still in cache for its GEMM. Kept columns (for backward)
    are the block's slice of one (C*kh*kw, N*oh*ow) array; otherwise each
    block takes a buffer of its own, of at most ``block_bytes``, and the
    columns never exist whole.
    """
    kh, kw, oh, ow = sizes
    n, c = x.shape[:2]
    o, per, rows = w.shape[0], oh * ow, c * kh * kw
    xp = _xp(x)
    w3 = w.reshape(groups, o // groups, rows // groups)
    cols = _take((rows, n * per), x.dtype, like=x) if keep_cols else None
    out = xp.empty((n, o, oh, ow), x.dtype)
    b3 = None if b is None else b.reshape(o, 1, 1)

    def block(a: int, z: int) -> None:
        if cols is not None:  # the block's columns: a slice of the kept array (a view, not a copy)
            dst = cols.reshape(c, kh, kw, n, oh, ow)[:, :, :, a:z]
            cb = cols[:, a * per : z * per]
        else:
            cb = _take((rows, (z - a) * per), x.dtype, like=x)
            dst = cb.reshape(c, kh, kw, z - a, oh, ow)
        _unfold(x[a:z], dst, kh, kw, stride, pads, dilation)
        y = _take((o, (z - a) * per), x.dtype, like=x)
        _gemm(w3, cb.reshape(groups, rows // groups, -1), groups, out=y)
        src = y.reshape(o, z - a, oh, ow).transpose(1, 0, 2, 3)
        if b3 is None:
            xp.copyto(out[a:z], src)
        else:
            xp.add(src, b3, out=out[a:z])
        _give(y)
        if cols is None:
            _give(cb)

    memory_blocks = 1 if keep_cols else -(-n * rows * per * x.dtype.itemsize // block_bytes)
    _in_sample_blocks(block, n, memory_blocks, n * (rows + o) * per, x)
    return cols, out


def _unfold(xb: Any, dst: Any, kh: int, kw: int, stride: tuple, pads: tuple, dilation: tuple) -> None:
    """im2col of a block of samples ``xb`` (b, C, H, W) into ``dst`` (C, kh, kw, b, oh, ow)."""
    xpad = _padded(xb, pads) if any(pads) else xb
    _xp(xb).copyto(dst, _fields(xpad, kh, kw, *dst.shape[-2:], stride, dilation))
    if xpad is not xb:
        _give(xpad)


def _weight_grad_unfolding(x: Any, gt: Any, geom: tuple) -> Any:
    """``dW = g cols^T`` with the columns unfolded again from the kept input, a block of samples at a time.

    Training keeps the input instead of its columns where the columns are the
    larger (a 3x3 convolution's are 9x its input): each block's columns live
    only for its GEMM, in a pooled buffer that the input gradient's blocks
    reuse. The blocks' partial products run on the pool's threads and are
    summed in block order, so a result depends on the thread count (the
    blocks), never on scheduling.
    """
    n, c, _h, _wd, o, kh, kw, oh, ow, stride, pads, dilation, groups, _ = geom
    per, rows = oh * ow, c * kh * kw
    w3 = gt.reshape(groups, o // groups, -1)
    parts: dict[int, Any] = {}

    def block(a: int, z: int) -> None:
        cb = _take((rows, (z - a) * per), x.dtype, like=x)
        _unfold(x[a:z], cb.reshape(c, kh, kw, z - a, oh, ow), kh, kw, stride, pads, dilation)
        cols = cb.reshape(groups, rows // groups, -1).transpose(0, 2, 1)
        parts[a] = _gemm(w3[:, :, a * per : z * per], cols, groups)
        _give(cb)

    memory_blocks = -(-n * rows * per * x.dtype.itemsize // GRAD_COLUMN_BLOCK_BYTES)
    _in_sample_blocks(block, n, memory_blocks, n * (rows + o) * per, x)
    return functools.reduce(_xp(x).add, (parts[a] for a in sorted(parts)))


# Winograd's F(2x2, 3x3) (chainrule.ops.compiled_winograd) for 3x3 stride-1 convolutions whose
# columns are not kept (inference, and training, which keeps the input): 2.25x fewer multiplies,
# and the transformed input is 4x the input where im2col's columns are 9x. Measured at 1 thread,
# batch 8, C = O: 56x56x64 29.0 -> 21.4 ms, 28x28x128 23.6 -> 16.8, 14x14x256 21.9 -> 15.6
# (PyTorch: 18.6, 16.8, 16.0), but 7x7x512 20.8 -> 22.6: whole 2x2 tiles compute 64 outputs for
# its 49. With few channels the transforms cost more than the multiplies they save (at 1 thread:
# 32 -> 32 channels on 28x28, batch 32, 7.9 -> 9.9 ms; 64 -> 32 on 14x14, batch 64, 9.2 -> 9.7 ms,
# W2's input gradient; but 64 -> 64 on 28x28, batch 16, 12.2 -> 10.5 ms). So: at least this many
# channels in and out, at least this many outputs per channel, and at most this much of the tiles
# outside an odd-sized output.
WINOGRAD_MIN_CHANNELS = 64
WINOGRAD_MIN_OUTPUTS = 256
WINOGRAD_MAX_TILE_WASTE = 1.15
# the kernel transform G (x) G: row 4i + j, column 3a + b holds G[i, a] G[j, b]
_WINOGRAD_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_WINOGRAD_KERNEL = np.kron(_WINOGRAD_G, _WINOGRAD_G)


def _winograd_kernels(x: Any, w: Any, sizes: tuple, stride: tuple, dilation: tuple, groups: int) -> Any:
    """The compiled Winograd transforms when they serve this convolution (see above), else None."""
    kh, kw, oh, ow = sizes
    if (kh, kw, stride, dilation, groups) != (3, 3, (1, 1), (1, 1), 1) or min(oh, ow) < 2:
        return None
    if min(x.shape[1], w.shape[0]) < WINOGRAD_MIN_CHANNELS or x.shape[0] * oh * ow < WINOGRAD_MIN_OUTPUTS:
        return None
    if (oh + oh % 2) * (ow + ow % 2) > WINOGRAD_MAX_TILE_WASTE * oh * ow:
        return None
    return compiled.kernels("compiled_winograd", x, w)


def _winograd_forward(
    kernels: Any, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, pads: tuple, oh: int, ow: int
) -> np.ndarray:
    """``y = conv(x, w) + b`` by F(2x2, 3x3): per block of samples, transform, 16 GEMMs, transform back."""
    n, c = x.shape[:2]
    o = w.shape[0]
    th, tw = -(-oh // 2), -(-ow // 2)  # 2x2 output tiles
    pt, pb, pl, pr = pads
    xpad = _padded(x, (pt, pb + 2 * th - oh, pl, pr + 2 * tw - ow))  # whole tiles read one more zero row
    u = (_WINOGRAD_KERNEL.astype(x.dtype) @ w.reshape(o * c, 9).T).reshape(16, o, c)  # U = G g G^T
    bias = np.zeros(o, x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    out = np.empty((n, o, oh, ow), x.dtype)
    whole = (2 * th, 2 * tw) == (oh, ow)

    def block(a: int, z: int) -> None:
        tiles = (z - a) * th * tw
        v = _take((16, c, tiles), x.dtype, like=x)
        kernels.winograd_input(xpad[a:z], v, th, tw)
        m = _take((16, o, tiles), x.dtype, like=x)
        np.matmul(u, v, out=m)
        _give(v)
        if whole:
            kernels.winograd_output(m, out[a:z], bias, th, tw)
        else:  # odd size: whole tiles, then the outputs inside
            full = _take((z - a, o, 2 * th, 2 * tw), x.dtype, like=x)
            kernels.winograd_output(m, full, bias, th, tw)
            out[a:z] = full[:, :, :oh, :ow]
            _give(full)
        _give(m)

    per_sample = 16 * (c + o) * th * tw
    memory_blocks = -(-n * per_sample * x.dtype.itemsize // FORWARD_COLUMN_BLOCK_BYTES)
    _in_sample_blocks(block, n, memory_blocks, n * per_sample, x)
    if xpad is not x:
        _give(xpad)
    return out


def _winograd_input_grad(w: Any, g: Any, geom: tuple) -> Any:
    """A 3x3 stride-1 convolution's input gradient by Winograd, or None where it does not serve.

    ``dx`` is the convolution of ``g`` with the kernel flipped in space and its
    channels swapped, ``wf[c, o] = w[o, c, ::-1, ::-1]``, padded by ``k - 1 - p``
    on each side (p: the forward's padding): a 3x3 stride-1 convolution of its
    own, where Winograd replaces the GEMM ``W^T g`` and the fold.
    """
    _n, _c, h, wd, _o, kh, kw, _oh, _ow, stride, pads, dilation, groups, _ = geom
    back = (kh - 1 - pads[0], kh - 1 - pads[1], kw - 1 - pads[2], kw - 1 - pads[3])
    if min(back) < 0 or type(g) is not np.ndarray or type(w) is not np.ndarray:
        return None
    wf = np.ascontiguousarray(w.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
    g = np.ascontiguousarray(g)
    kernels = _winograd_kernels(g, wf, (kh, kw, h, wd), stride, dilation, groups)
    return None if kernels is None else _winograd_forward(kernels, g, wf, None, back, h, wd)


def _in_sample_blocks(block: Any, n: int, memory_blocks: int, elements: int, like: Any) -> None:
    """``block(a, b)`` over ``n`` samples cut into at least ``memory_blocks`` contiguous blocks.

    When the work (``elements`` read and written) is worth splitting there is
    also at least one block per thread, and the blocks run on the pool's
    threads with their GEMMs on one BLAS thread each (with one thread,
    :func:`parallel_for` runs them in order here). On a device (``like`` not
    NumPy): one block, its own kernels are parallel.
    """
    if type(like) is not np.ndarray:
        block(0, n)
        return
    blocks = memory_blocks
    if elements >= 2 * MIN_PARALLEL_ELEMENTS:
        # a multiple of the thread count: the pool hands block k to thread k % threads, so 7 blocks
        # of 8 samples gave one thread 5 samples and the other 3 (ResNet-18's layer1 at batch 8)
        threads = get_num_threads()
        blocks = -(-max(blocks, threads) // threads) * threads
    parts = min(n, blocks)
    if parts <= 1:
        block(0, n)
        return
    with serial_blas(0):
        parallel_for(block, chunk_bounds(n, parts))


# For stride 1 (the common case) the input gradient takes a faster road.
# The column gradient is computed "wide": at every column of the padded row
# (wp of them) instead of the ow valid ones, with a zero gradient at the extra
# wp - ow. Flat output position q at kernel offset (i, j) then reads flat
# padded-input position q + i*dh*wp + j*dw, so col2im becomes kh*kw adds of
# long contiguous runs instead of many short rows: much faster, for
# (wp - ow)/ow more work in one GEMM.
def _col2im_wide(
    cols: np.ndarray,
    shape: tuple[int, int, int, int],
    kh: int,
    kw: int,
    pads: tuple[int, int, int, int],
    dilation: tuple[int, int],
    oh: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Fold wide columns (C*kh*kw, N*oh*wp) onto an image (N, C, H, W): kh*kw contiguous adds, then a crop.

    The canvas is the padded image plus a spare row, which the last runs reach.
    The image is a new array, or ``out`` (a block of samples of a larger one).
    """
    n, c, h, w = shape
    pt, pb, pl, pr = pads
    hp, wp = h + pt + pb, w + pl + pr
    run = oh * wp
    dc = cols.reshape(c, kh, kw, n, run)
    xp = _xp(cols)
    canvas = _take((c, n, hp + 1, wp), cols.dtype, like=cols)
    flat = canvas.reshape(c, n, -1)
    dx = xp.empty((n, c, h, w), cols.dtype) if out is None else out

    def samples(a: int, b: int) -> None:  # samples a..b-1 have canvases of their own
        flat[:, a:b, :run] = dc[:, 0, 0, a:b]  # offset (0, 0) starts at 0: assign, then add the others
        flat[:, a:b, run:] = 0
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    start = i * dilation[0] * wp + j * dilation[1]
                    flat[:, a:b, start : start + run] += dc[:, i, j, a:b]
        xp.copyto(dx[a:b], canvas[:, a:b, pt : pt + h, pl : pl + w].transpose(1, 0, 2, 3))

    map_rows(samples, n, c * kh * kw * run, like=cols)
    _give(canvas)
    return dx


def _as_2d(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """Views of a 1-D or unbatched problem as a batched 2-D one: (N, C, L) is (N, C, 1, L)."""
    is1d = w.ndim == 3
    unbatched = x.ndim == w.ndim - 1
    if is1d:
        x = x[..., None, :]
        w = w[:, :, None, :]
    if unbatched:
        x = x[None]
    return x, w, is1d, unbatched


def _from_2d(out: np.ndarray, is1d: bool, unbatched: bool) -> np.ndarray:
    if is1d:
        out = out[:, :, 0, :]
    return out[0] if unbatched else out


# --------------------------------------------------------------- functions
def _grad_channel_major(g: np.ndarray, rw: int) -> np.ndarray:
    """The output gradient (N, O, oh, ow) as a pooled (O, N*oh*rw), zero in the columns past ow."""
    n, o, oh, ow = g.shape
    gt = _take((o, n, oh, rw), g.dtype, like=g)
    if rw != ow:
        gt[:, :, :, ow:] = 0
    _copy_split(gt[:, :, :, :ow], g.transpose(1, 0, 2, 3), 1)
    return gt.reshape(o, n * oh * rw)


# The input gradient's columns, W^T g, are as large as the forward's columns (C*kh*kw rows, a
# column per output position): made in blocks of samples of at most this many bytes, each folded
# onto its own samples at once, the peak memory of a backward is a block, not the whole batch.
GRAD_COLUMN_BLOCK_BYTES = 4 << 20


def _input_grad(w: np.ndarray, gt: np.ndarray, geom: tuple, wide: bool) -> np.ndarray:
    """dx = col2im(W^T g), computed in blocks of samples that run on the pool's threads.

    ``w`` is (G, O/G, K), ``gt`` the output gradient (G, O/G, N*oh*rw) in the
    layout of ``Y = W cols`` (``rw`` is the padded width in the wide layout).
    Samples are independent here: each block's GEMM and fold write only its
    samples' rows of ``dx``, so blocks run in parallel (each GEMM on one BLAS
    thread) with the serial result.
    """
    n, c, h, wd, _o, kh, kw, oh, ow, stride, pads, dilation, groups, _ = geom
    xp = _xp(gt)
    per = gt.shape[-1] // n  # columns per sample
    rows = c * kh * kw
    dx = xp.empty((n, c, h, wd), gt.dtype)

    def block(a: int, b: int) -> None:
        dcols = _take((rows, (b - a) * per), gt.dtype, like=gt)
        _gemm(w.transpose(0, 2, 1), gt[:, :, a * per : b * per], groups, out=dcols)
        if wide:
            _col2im_wide(dcols, (b - a, c, h, wd), kh, kw, pads, dilation, oh, out=dx[a:b])
        else:
            pads2 = (pads[0], pads[2])
            _col2im(dcols, (b - a, c, h, wd), kh, kw, stride, pads2, dilation, oh, ow, out=dx[a:b])
        _give(dcols)

    memory_blocks = -(-n * rows * per * gt.dtype.itemsize // GRAD_COLUMN_BLOCK_BYTES)
    _in_sample_blocks(block, n, memory_blocks, n * rows * per, gt)
    return dx


class ConvNd(Function):
    """1-D or 2-D convolution (cross-correlation, as PyTorch's) as one node.

    1-D arrays are viewed as 2-D with a height of 1, and an unbatched input as
    a batch of one; gradients are reshaped back. Two layouts of the same math:
    channel-major, one GEMM (O, K) @ (K, N*oh*ow) then a transpose to NCHW;
    and per-sample, a batch of GEMMs (O, K) @ (K, oh*ow) that write NCHW
    directly, chosen when the output is much larger than the columns (the
    transpose would cost more than the GEMM) and for 1x1 convolutions (whose
    columns are the input itself, with no copy at all).
    """

    def forward(ctx, x, w, b=None, *, stride, pads, dilation, groups, save_cols, save_w):
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        x, w, is1d, unbatched = _as_2d(x, w)
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        pt, pb, pl, pr = pads
        oh = (h + pt + pb - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        ow = (wd + pl + pr - dilation[1] * (kw - 1) - 1) // stride[1] + 1
        k = cg * kh * kw
        pointwise = kh == kw == 1 and stride == (1, 1) and not any(pads)
        per_sample = groups == 1 and (pointwise or 2 * k <= o)
        pooled = True
        xp = _xp(x)
        if per_sample:
            if pointwise:  # the input is its own columns
                cols, pooled = x.reshape(n, c, h * wd), False
            else:
                cols = _im2col(x, kh, kw, stride, pads, dilation, oh, ow, per_sample=True)
            # Y_n = W cols_n (+ b) for every sample n, written straight into the NCHW output
            out = xp.empty((n, o, oh, ow), x.dtype)
            out3, w2 = out.reshape(n, o, oh * ow), w.reshape(o, k)
            b2 = None if b is None else b.reshape(o, 1)

            def samples(i: int, j: int) -> None:
                xp.matmul(w2, cols[i:j], out=out3[i:j])
                if b2 is not None:
                    xp.add(out3[i:j], b2, out=out3[i:j])

            _over_samples(samples, n, (o + k) * oh * ow, x)
        else:
            sizes = (kh, kw, oh, ow)
            # For the weight gradient keep the input or its columns, whichever is smaller (PyTorch
            # keeps the input). A 3x3 convolution's columns are 9x its input: W2's second layer kept
            # 14 MiB of them; unfolding them again block by block in the backward costs about what
            # the blocked forward saves (W2 at 1 thread +3%, at 2 the same; its step 76 -> 66 MiB).
            keep_x = save_cols and k * groups * oh * ow > c * h * wd
            if keep_x:
                ctx.x, save_cols = x, False
            winograd = None if save_cols else _winograd_kernels(x, w, sizes, stride, dilation, groups)
            if winograd is not None:  # no columns to keep: the fewest multiplies
                cols, out = None, _winograd_forward(winograd, x, w, b, pads, oh, ow)
            else:  # Y = W cols: one GEMM (per group) over the output positions of a block of samples
                # with the input kept, blocks of the backward's size: the two share their buffers
                block_bytes = GRAD_COLUMN_BLOCK_BYTES if keep_x else FORWARD_COLUMN_BLOCK_BYTES
                cols, out = _channel_major_forward(
                    x, w, b, sizes, stride, pads, dilation, groups, save_cols, block_bytes
                )
            pooled = cols is not None  # unkept columns were handed back block by block
        ctx.geom = (n, c, h, wd, o, kh, kw, oh, ow, stride, pads, dilation, groups, per_sample)
        ctx.cols = cols if save_cols else None
        ctx.pooled = pooled and save_cols  # release() hands pooled columns back
        if pooled and not save_cols and cols is not None:
            _give(cols)
        ctx.w = w if save_w else None
        return _from_2d(out, is1d, unbatched)

    def backward(ctx, g):
        n, c, _, wd, o, kh, kw, oh, ow, stride, pads, _, groups, per_sample = ctx.geom
        if per_sample:
            return ctx._backward_per_sample(g)
        needs = ctx.needs_input_grad
        g = g.reshape(n, o, oh, ow)
        og, k = o // groups, (c // groups) * kh * kw
        gx = gw = gb = None
        gt = _grad_channel_major(g, ow)  # g in the layout of Y = W cols
        if needs[1]:
            # dW = g cols^T: each output position adds its receptive field times its gradient
            if ctx.cols is None:  # the input was kept instead: its columns again, block by block
                gw = _weight_grad_unfolding(ctx.x, gt, ctx.geom).reshape(ctx.w_shape)
            else:
                cols = ctx.cols.reshape(groups, k, -1)
                gw = _gemm(gt.reshape(groups, og, -1), cols.transpose(0, 2, 1), groups).reshape(ctx.w_shape)
        if len(needs) > 2 and needs[2]:
            # db = g summed over the batch and every position
            gb = gt.sum(axis=1)  # ndarray.sum is np.add.reduce: the same sums
        winograd_gx = _winograd_input_grad(ctx.w, g, ctx.geom) if needs[0] else None
        if winograd_gx is not None:
            gx = winograd_gx.reshape(ctx.x_shape)
        elif needs[0]:
            # dcols = W^T g, then fold the columns back onto the input: dx = col2im(dcols)
            wp = wd + pads[2] + pads[3]
            wide = stride == (1, 1) and wp != ow
            if wide:  # the wide layout (see _col2im_wide)
                _give(gt)
                gt = _grad_channel_major(g, wp)
            gx = _input_grad(ctx.w.reshape(groups, og, k), gt.reshape(groups, og, -1), ctx.geom, wide)
            gx = gx.reshape(ctx.x_shape)
        _give(gt)
        return gx, gw, gb

    def _backward_per_sample(ctx, g):
        # The same chain rule with the batch outermost: per sample n,
        # dW += g_n cols_n^T, db += sum of g_n, dcols_n = W^T g_n.
        n, c, h, wd, o, kh, kw, oh, ow, stride, pads, dilation, _, _ = ctx.geom
        needs = ctx.needs_input_grad
        g3 = g.reshape(n, o, oh * ow)
        k = c * kh * kw
        gx = gw = gb = None
        xp = _xp(g)
        if needs[1]:  # summed per block of samples, then over the blocks
            cols_t, work = ctx.cols.transpose(0, 2, 1), (o + k) * oh * ow
            parts = _over_samples(lambda i, j: xp.matmul(g3[i:j], cols_t[i:j]).sum(axis=0), n, work, g)
            gw = functools.reduce(xp.add, parts).reshape(ctx.w_shape)
        if len(needs) > 2 and needs[2]:
            gb = g3.sum(axis=(0, 2))
        if needs[0]:
            w = ctx.w.reshape(o, k)
            if kh == kw == 1 and stride == (1, 1) and not any(pads):  # 1x1: the columns are the input
                gx3 = xp.empty((n, k, oh * ow), g.dtype)
                _over_samples(lambda i, j: xp.matmul(w.T, g3[i:j], out=gx3[i:j]), n, (o + k) * oh * ow, g)
                gx = gx3.reshape(ctx.x_shape)
            else:
                dcols = _take((n, k, oh * ow), g.dtype, like=g)
                _over_samples(lambda i, j: xp.matmul(w.T, g3[i:j], out=dcols[i:j]), n, (o + k) * oh * ow, g)
                gx = xp.zeros((n, c, h, wd), g.dtype)
                dc = dcols.reshape(n, c, kh, kw, oh, ow).transpose(1, 2, 3, 0, 4, 5)
                _fold(dc, gx.transpose(1, 0, 2, 3), stride, (pads[0], pads[2]), dilation)
                _give(dcols)
                gx = gx.reshape(ctx.x_shape)
        return gx, gw, gb

    def release(ctx) -> None:
        cols = ctx.__dict__.get("cols") if ctx.__dict__.get("pooled") else None
        super().release()
        if cols is not None:  # the graph is done with the columns: the next forward reuses them
            _give(cols)


class ConvTransposeNd(Function):
    """1-D or 2-D transposed convolution as one node: the input-gradient of a convolution, run forward.

    ``weight`` is (C_in, C_out/groups, kh, kw): read as a convolution weight it
    maps C_out channels to C_in, and this op is that convolution's adjoint.
    """

    def forward(ctx, x, w, b=None, *, stride, pads, output_padding, dilation, groups, save_x, save_w):
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        x, w, is1d, unbatched = _as_2d(x, w)
        n, c, h, wd = x.shape
        _, cog, kh, kw = w.shape
        o = cog * groups
        pt, pb, pl, pr = pads
        oh = (h - 1) * stride[0] - pt - pb + dilation[0] * (kh - 1) + output_padding[0] + 1
        ow = (wd - 1) * stride[1] - pl - pr + dilation[1] * (kw - 1) + output_padding[1] + 1
        cg, k = c // groups, cog * kh * kw
        # x as (C_in, N*H*W), kept for dW when the weight needs a gradient
        xt = _to_channel_major(x, _take((c, n * h * wd), x.dtype, like=x))
        # cols = W^T x (the columns of the output), then fold them onto the output: col2im
        cols = _take((o * kh * kw, n * h * wd), x.dtype, like=x)
        _gemm(w.reshape(groups, cg, k).transpose(0, 2, 1), xt.reshape(groups, cg, -1), groups, out=cols)
        folded = _col2im(cols, (n, o, oh, ow), kh, kw, stride, (pt, pl), dilation, h, wd)
        _give(cols)
        if b is not None:
            folded += b.reshape(o, 1, 1)
        ctx.geom = (n, c, h, wd, o, kh, kw, oh, ow, stride, pads, dilation, groups)
        if save_x:
            ctx.xt = xt
        else:
            _give(xt)
        ctx.w = w if save_w else None
        return _from_2d(folded, is1d, unbatched)

    def backward(ctx, g):
        n, c, h, wd, o, kh, kw, oh, ow, stride, pads, dilation, groups = ctx.geom
        needs = ctx.needs_input_grad
        g = g.reshape(n, o, oh, ow)
        cg, k = c // groups, (o // groups) * kh * kw
        # the columns of g: g seen as the input of the convolution this op is the adjoint of
        pad_bottom = max(0, (h - 1) * stride[0] + dilation[0] * (kh - 1) + 1 - pads[0] - oh)
        pad_right = max(0, (wd - 1) * stride[1] + dilation[1] * (kw - 1) + 1 - pads[2] - ow)
        cols = _im2col(g, kh, kw, stride, (pads[0], pad_bottom, pads[2], pad_right), dilation, h, wd)
        cols3 = cols.reshape(groups, k, -1)
        gx = gw = gb = None
        if needs[0]:
            # dx = W cols(g): the forward convolution with the same weight
            y = _take((c, n * h * wd), g.dtype, like=g)
            _gemm(ctx.w.reshape(groups, cg, k), cols3, groups, out=y)
            gx = _from_channel_major(y.reshape(c, n, h, wd), None).reshape(ctx.x_shape)
            _give(y)
        if needs[1]:
            # dW = x cols(g)^T, contracting over the batch and every input position
            xt = ctx.xt.reshape(groups, cg, -1)
            gw = _gemm(xt, cols3.transpose(0, 2, 1), groups).reshape(ctx.w_shape)
        _give(cols)
        if len(needs) > 2 and needs[2]:
            gb = g.sum(axis=(0, 2, 3))  # ndarray.sum is np.add.reduce: the same sums
        return gx, gw, gb

    def release(ctx) -> None:
        xt = ctx.__dict__.get("xt")
        super().release()
        if xt is not None:
            _give(xt)


class PadNd(Function):
    """Reflect, replicate or circular padding of the last one or two dims (what Conv's padding_mode uses).

    The backward folds the gradient of every padded copy back onto the
    element it was copied from: the interior is sliced out, then each padded
    row or column (a few per side) is added onto its source, one axis at a time.
    """

    def forward(ctx, x, pairs, mode):
        ctx.shape, ctx.pairs, ctx.mode = x.shape, pairs, mode
        width = [(0, 0)] * (x.ndim - len(pairs)) + list(pairs)
        return _xp(x).pad(x, width, mode=_NP_MODES[mode])

    def backward(ctx, g):
        shape, pairs = ctx.shape, ctx.pairs
        xp = _xp(g)
        lead = len(shape) - len(pairs)
        for axis_offset, (lo, hi) in reversed(list(enumerate(pairs))):
            axis = lead + axis_offset
            size = shape[axis]
            padded = size + lo + hi
            # which source index each padded position copies (np.pad on an index vector: host
            # ints from the shape alone, used as Python ints to index the gradient)
            source = np.pad(np.arange(size), (lo, hi), mode=_NP_MODES[ctx.mode]).tolist()
            moved = xp.moveaxis(g, axis, 0)
            folded = moved[lo : lo + size].copy()
            for p in list(range(lo)) + list(range(lo + size, padded)):
                folded[source[p]] += moved[p]
            g = xp.moveaxis(folded, 0, axis)
        return xp.ascontiguousarray(g), None, None


_NP_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


# -------------------------------------------------------------- arguments
def _tuple(value: Any, n: int, name: str, op: str, minimum: int) -> tuple[int, ...]:
    """An int or a sequence of ``n`` ints, each at least ``minimum``, as an n-tuple."""
    if type(value) is tuple and len(value) == n and all(type(v) is int and v >= minimum for v in value):
        return value  # what layers pass on every call
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        t = (int(value),) * n
    elif (
        isinstance(value, (tuple, list))
        and len(value) == n
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        t = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in t):
        raise ValueError(f"{op}: {name} must be at least {minimum} in every dim, got {value!r}")
    return t


def _check_tensors(op: str, x: Any, w: Any, b: Any, ndim: int) -> None:
    if not isinstance(x, Tensor) or not isinstance(w, Tensor):
        raise TypeError(
            f"{op}: input and weight must be Tensors, got {type(x).__name__} and {type(w).__name__}"
        )
    if x.ndim not in (ndim + 1, ndim + 2):
        raise ValueError(
            f"{op}: expected a {ndim + 1}-D (unbatched) or {ndim + 2}-D (batched) input, "
            f"got input of shape {x.shape}"
        )
    if w.ndim != ndim + 2:
        raise ValueError(f"{op}: expected a {ndim + 2}-D weight, got weight of shape {w.shape}")
    dt = x._array.dtype
    if dt.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got {dt}")
    if w._array.dtype != dt:
        raise TypeError(f"{op}: input dtype {dt} does not match weight dtype {w.dtype}")
    if b is not None:
        if not isinstance(b, Tensor):
            raise TypeError(f"{op}: bias must be a Tensor or None, got {type(b).__name__}")
        if b._array.dtype != dt:
            raise TypeError(f"{op}: input dtype {dt} does not match bias dtype {b.dtype}")


def _needs(t: Tensor | None) -> bool:
    return t is not None and t._requires_grad and autograd.grad_enabled


def _conv(
    op: str,
    ndim: int,
    x: Tensor,
    w: Tensor,
    b: Tensor | None,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
) -> Tensor:
    _check_tensors(op, x, w, b, ndim)
    stride = _tuple(stride, ndim, "stride", op, 1)
    dilation = _tuple(dilation, ndim, "dilation", op, 1)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    kernel = w.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pairs = [(0, 0)] * ndim
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"{op}: padding='same' is not supported for strided convolutions (stride={stride})"
                )
            # the total d*(k-1) split with the odd one out at the end, as PyTorch does
            pairs = [((d * (k - 1)) // 2, d * (k - 1) - (d * (k - 1)) // 2) for d, k in zip(dilation, kernel)]
        else:
            raise ValueError(f"{op}: padding string must be 'same' or 'valid', got {padding!r}")
    else:
        pairs = [(p, p) for p in _tuple(padding, ndim, "padding", op, 0)]
    o, cg = w.shape[0], w.shape[1]
    c = x.shape[-ndim - 1]
    if o % groups:
        raise ValueError(
            f"{op}: out_channels ({o}, weight of shape {w.shape}) is not divisible by groups={groups}"
        )
    if c != cg * groups:
        raise ValueError(
            f"{op}: expected input with {cg * groups} channels (weight of shape {w.shape}, groups={groups}), "
            f"got input of shape {x.shape}"
        )
    if b is not None and b.shape != (o,):
        raise ValueError(f"{op}: bias of shape {b.shape}, expected ({o},)")
    spatial = x.shape[-ndim:]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, pairs))
    reach = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    if any(r > p for r, p in zip(reach, padded)) or 0 in kernel:
        raise ValueError(
            f"{op}: kernel of size {tuple(kernel)} (dilated: {reach}) is bigger than the padded input "
            f"{padded} (input of shape {x.shape})"
        )
    if ndim == 1:
        pads = (0, 0, *pairs[0])
        stride, dilation = (1, stride[0]), (1, dilation[0])
    else:
        pads = (*pairs[0], *pairs[1])
    save_cols = _needs(w)
    save_w = _needs(x)
    return ConvNd.apply(
        x,
        w,
        *(() if b is None else (b,)),
        stride=stride,
        pads=pads,
        dilation=dilation,
        groups=int(groups),
        save_cols=save_cols,
        save_w=save_w,
    )


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution over (N, C_in, L) (or unbatched (C_in, L)); ``weight`` is (C_out, C_in/groups, k).

    ``padding`` is an int, a 1-tuple, ``"valid"`` (none) or ``"same"`` (output
    as long as the input; stride 1 only). PyTorch's ``F.conv1d``.
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution over (N, C_in, H, W) or unbatched (C_in, H, W), PyTorch's ``F.conv2d``.

    ``weight`` is (C_out, C_in/groups, kh, kw). ``padding`` is an int, a pair,
    ``"valid"`` or ``"same"`` (stride 1 only; an odd total is split with the
    extra row/column at the bottom/right, as in PyTorch). ``groups`` splits
    the channels into independent blocks (``groups == C_in``: depthwise).
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(
    op: str,
    ndim: int,
    x: Tensor,
    w: Tensor,
    b: Tensor | None,
    stride: Any,
    padding: Any,
    output_padding: Any,
    groups: int,
    dilation: Any,
) -> Tensor:
    _check_tensors(op, x, w, b, ndim)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of ints, got {padding!r}")
    stride = _tuple(stride, ndim, "stride", op, 1)
    padding = _tuple(padding, ndim, "padding", op, 0)
    output_padding = _tuple(output_padding, ndim, "output_padding", op, 0)
    dilation = _tuple(dilation, ndim, "dilation", op, 1)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    for op_, s, d in zip(output_padding, stride, dilation):
        if op_ >= s and op_ >= d:
            raise ValueError(
                f"{op}: output_padding must be smaller than either stride or dilation, got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    c_in = w.shape[0]
    c = x.shape[-ndim - 1]
    if c_in % groups:
        raise ValueError(
            f"{op}: in_channels ({c_in}, weight of shape {w.shape}) is not divisible by groups={groups}"
        )
    if c != c_in:
        raise ValueError(
            f"{op}: expected input with {c_in} channels (weight of shape {w.shape}), "
            f"got input of shape {x.shape}"
        )
    o = w.shape[1] * groups
    if b is not None and b.shape != (o,):
        raise ValueError(f"{op}: bias of shape {b.shape}, expected ({o},)")
    kernel = w.shape[2:]
    size = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + op_ + 1
        for n, s, p, d, k, op_ in zip(x.shape[-ndim:], stride, padding, dilation, kernel, output_padding)
    )
    if any(s <= 0 for s in size) or 0 in kernel:
        raise ValueError(
            f"{op}: the output would have size {size}: padding {padding} is too large "
            f"for input of shape {x.shape}"
        )
    if ndim == 1:
        pads = (0, 0, padding[0], padding[0])
        stride, dilation, output_padding = (1, stride[0]), (1, dilation[0]), (0, output_padding[0])
    else:
        pads = (padding[0], padding[0], padding[1], padding[1])
    opts = dict(
        stride=stride,
        pads=pads,
        output_padding=output_padding,
        dilation=dilation,
        groups=int(groups),
        save_x=_needs(w),
        save_w=_needs(x),
    )
    if b is None:
        return ConvTransposeNd.apply(x, w, **opts)
    return ConvTransposeNd.apply(x, w, b, **opts)


def conv_transpose1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] = 0,
    output_padding: int | tuple[int] = 0,
    groups: int = 1,
    dilation: int | tuple[int] = 1,
) -> Tensor:
    """1-D transposed convolution over (N, C_in, L), PyTorch's ``F.conv_transpose1d``.

    ``weight`` is (C_in, C_out/groups, k); see :func:`conv_transpose2d`.
    """
    return _conv_transpose(
        "conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups, dilation
    )


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """2-D transposed convolution ("deconvolution") over (N, C_in, H, W), PyTorch's ``F.conv_transpose2d``.

    ``weight`` is (C_in, C_out/groups, kh, kw). The output is
    ``(H - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1`` high
    (likewise wide): the shape of the input that a convolution with these
    settings maps to (N, C_in, H, W), ``output_padding`` choosing among the
    several that map there. Note that ``groups`` comes before ``dilation``.
    """
    return _conv_transpose(
        "conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups, dilation
    )


def pad_nd(x: Tensor, pad: tuple[int, ...], mode: str) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims with ``mode`` 'reflect', 'replicate' or 'circular'.

    ``pad`` is in PyTorch's order: (left, right) of the last dim, then (top,
    bottom) of the one before. Reflect needs each amount below the dim's size,
    circular at most the size, as in PyTorch.
    """
    if mode not in _NP_MODES:
        raise ValueError(f"pad: mode must be one of {sorted(_NP_MODES)}, got {mode!r}")
    n = len(pad) // 2
    pairs = tuple((int(pad[2 * i]), int(pad[2 * i + 1])) for i in reversed(range(n)))
    for size, (lo, hi) in zip(x.shape[-n:], pairs):
        if lo < 0 or hi < 0:
            raise ValueError(f"pad: mode {mode!r} needs non-negative amounts, got {tuple(pad)}")
        limit = size - 1 if mode == "reflect" else size
        if mode != "replicate" and (lo > limit or hi > limit):
            raise ValueError(
                f"pad: {mode} padding of {tuple(pad)} is too large for input of shape {x.shape} "
                f"(at most {'size - 1' if mode == 'reflect' else 'size'} per side)"
            )
    return PadNd.apply(x, pairs, mode)
