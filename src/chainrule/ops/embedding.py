"""Embedding lookup as one autograd node: a row gather forward, a scatter-add of rows backward.

``out[..., :] = weight[input[...], :]``: each integer index picks a row of the
table. The chain rule sends each output row's gradient back to the row it was
read from, so a row used k times receives the sum of k gradients:

    dweight[v] = sum over positions p with input[p] == v of g[p].

``np.add.at`` does exactly that but slowly (an unbuffered loop). Here the
indices are sorted once; rows used once (most of them in text) are written
with one gather and one scatter, and only the rows used several times are
summed, over contiguous runs of the sorted gradient. The gradient is dense,
``(num_embeddings, embedding_dim)``, as PyTorch's is with ``sparse=False``.
On a device the backward is one scatter-add (``devices.scatter_add``, which
CuPy runs with atomic adds), and the index check reads the smallest and largest
index back (a sync).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import Function, no_grad, record_plain
from chainrule.ops.shape import key_on, out_of_range
from chainrule.tensor import Tensor

__all__ = ["EmbeddingIndexError", "embedding", "embedding_renorm_"]


class EmbeddingIndexError(IndexError, ValueError):
    """An index outside the table: an IndexError as in PyTorch, and a ValueError so that
    ``Module.__call__`` names the layer (its path inside the model) in the message."""


# Above this many repeated indices, one ``np.add.reduceat`` call beats a Python loop over runs.
_LOOP_RUNS = 256


def _scatter_rows(
    idx: np.ndarray, g: np.ndarray, num_rows: int, by_freq: bool, padding_idx: int | None
) -> np.ndarray:
    """``out[v] = sum of g[p] where idx[p] == v`` (divided by the count when ``by_freq``), dense."""
    if type(g) is not np.ndarray:
        return _scatter_rows_device(idx, g, num_rows, by_freq, padding_idx)
    m = idx.size
    out = np.zeros((num_rows, g.shape[1]), dtype=g.dtype)
    if m == 0:
        return out
    order = np.argsort(idx, kind="stable")
    s = idx[order]
    # run boundaries of the sorted indices: starts of runs, plus m at the end
    edge = np.empty(m + 1, dtype=bool)
    edge[0] = edge[m] = True
    np.not_equal(s[1:], s[:-1], out=edge[1:m])
    bounds = np.flatnonzero(edge)
    starts, lens = bounds[:-1], np.diff(bounds)
    once = lens == 1
    if once.all():  # no index repeats: a plain scatter
        out[idx] = g
    else:
        first = starts[once]
        out[s[first]] = g[order[first]]
        rs, rl = starts[~once], lens[~once]
        # the repeated rows, gathered into one contiguous block of runs
        sel = np.repeat(rs - (np.cumsum(rl) - rl), rl) + np.arange(int(rl.sum()))
        block = g[order[sel]]
        run_starts = np.cumsum(rl) - rl
        if rs.size <= _LOOP_RUNS:
            sums = np.empty((rs.size, g.shape[1]), dtype=g.dtype)
            for i, (a, n) in enumerate(zip(run_starts.tolist(), rl.tolist(), strict=True)):
                np.add.reduce(block[a : a + n], axis=0, out=sums[i])
        else:
            sums = np.add.reduceat(block, run_starts, axis=0)
        if by_freq:
            sums /= rl[:, None].astype(g.dtype)
        out[s[rs]] = sums
    if padding_idx is not None:
        out[padding_idx] = 0  # the padding row is a constant: it learns nothing
    return out


def _scatter_rows_device(idx: Any, g: Any, num_rows: int, by_freq: bool, padding_idx: int | None) -> Any:
    """:func:`_scatter_rows` on a device: one scatter-add of the rows, no sort and no read-back."""
    xp = devices.array_module(g)
    out = xp.zeros((num_rows, g.shape[1]), dtype=g.dtype)
    devices.scatter_add(out, idx, g)
    if by_freq:
        counts = xp.bincount(idx, minlength=num_rows)
        out /= xp.maximum(counts, 1)[:, None].astype(g.dtype)
    if padding_idx is not None:
        out[padding_idx] = 0  # the padding row is a constant: it learns nothing
    return out


class Embedding(Function):
    def forward(ctx, weight, idx, padding_idx, scale_grad_by_freq):
        ctx.idx, ctx.rows = idx, weight.shape[0]
        ctx.padding_idx, ctx.by_freq = padding_idx, scale_grad_by_freq
        # out[p] = weight[idx[p]]; np.take along axis 0 is a tight row copy
        return devices.array_module(weight).take(weight, idx, axis=0)

    def backward(ctx, g):
        # d out[p] / d weight[v] = [idx[p] == v] * I, so dweight[v] sums g[p] over those p
        # (scaled by 1 / count(v) with scale_grad_by_freq); the indices get no gradient.
        d = g.shape[-1]
        gw = _scatter_rows(ctx.idx.reshape(-1), g.reshape(-1, d), ctx.rows, ctx.by_freq, ctx.padding_idx)
        return gw, None, None, None


def _indices(input: Any, num_rows: int, who: str) -> np.ndarray:
    """The index array, checked: integer dtype and every value in ``[0, num_rows)``."""
    if isinstance(input, Tensor):
        idx = input._array
    elif isinstance(input, np.ndarray) or devices.is_device_array(input):
        idx = input
    else:
        raise TypeError(f"{who}: expected an integer Tensor of indices, got {type(input).__name__}")
    if idx.dtype.kind not in "iu":
        raise TypeError(
            f"{who}: expected an integer (int64 or int32) tensor of indices, got dtype {idx.dtype}"
        )
    if out_of_range(idx, 0, num_rows):  # on a device: one flag read back (a sync)
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= num_rows:
            bad = lo if lo < 0 else hi
            raise EmbeddingIndexError(
                f"{who}: index {bad} is out of range for an embedding table of {num_rows} rows "
                f"(valid indices are 0..{num_rows - 1})"
            )
    return idx


def padding_index(padding_idx: int | None, num_rows: int, who: str) -> int | None:
    """A padding index in ``[-num_rows, num_rows)``, made non-negative (PyTorch's rule)."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"{who}: padding_idx must be an int or None, got {padding_idx!r}")
    if not -num_rows <= padding_idx < num_rows:
        raise ValueError(f"{who}: padding_idx {padding_idx} must be within num_embeddings ({num_rows})")
    return int(padding_idx) % num_rows


def embedding_renorm_(weight: Tensor, input: Any, max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Rescale, in place, the rows of ``weight`` named in ``input`` whose p-norm exceeds ``max_norm``.

    PyTorch's rule: a row with norm ``n > max_norm`` is multiplied by
    ``max_norm / (n + 1e-7)``. Not recorded in the graph.
    """
    idx = key_on(_indices(input, weight.shape[0], "embedding_renorm_"), weight._array)
    xp = devices.array_module(weight._array)
    rows = xp.unique(idx)
    with no_grad():
        w = weight._array[rows]
        p = float(norm_type)
        norms = xp.linalg.norm(w, ord=p, axis=1)
        big = norms > max_norm
        if big.any():
            scale = (max_norm / (norms[big] + 1e-7)).astype(weight._array.dtype)
            weight._array[rows[big]] = w[big] * scale[:, None]
    return weight


def embedding_lookup(
    input: Any,
    weight: Tensor,
    padding_idx: int | None,
    max_norm: float | None,
    norm_type: float,
    scale_grad_by_freq: bool,
    who: str,
) -> Tensor:
    """The lookup behind ``F.embedding`` and ``nn.Embedding``; ``who`` names the caller in errors."""
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        shape = getattr(weight, "shape", None)
        raise ValueError(f"{who}: weight must be a 2-D Tensor (num_embeddings, embedding_dim), got {shape}")
    rows = weight.shape[0]
    idx = key_on(_indices(input, rows, who), weight._array)  # a host index array joins the table's device
    pad = padding_index(padding_idx, rows, who)
    if max_norm is not None:
        embedding_renorm_(weight, idx, max_norm, norm_type)
        # an export's graph renormalises too (the rows other inputs use are renormalised when used)
        record_plain("embedding_renorm", (weight,), {"max_norm": max_norm, "norm_type": norm_type}, weight)
    return Embedding.apply(weight, idx, padding_idx=pad, scale_grad_by_freq=bool(scale_grad_by_freq))


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` picked by the integer ``input`` (any shape): output ``(*input.shape, dim)``.

    ``padding_idx``'s row gets no gradient; ``max_norm`` renormalises, in
    place, the rows used whose ``norm_type``-norm exceeds it;
    ``scale_grad_by_freq`` divides each row's gradient by how often the row
    was used in the batch. ``sparse`` is accepted for PyTorch's signature; the
    gradient is always a dense array (chainrule has no sparse tensors).
    """
    return embedding_lookup(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, "embedding")
