"""Attention weights as heatmaps: which keys each query looks at, one panel per head."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.viz.common import as_array, figure_of, new_figure

__all__ = ["attention"]


def attention(
    weights: Any,
    tokens: list[str] | None = None,
    *,
    query_tokens: list[str] | None = None,
    head: int | None = None,
    ax: Any = None,
) -> Any:
    """Heatmap of attention weights, queries down the side and keys along the top; returns the Figure.

    ``weights`` is a Tensor or array of shape ``(L, S)`` (one head, or heads
    averaged, as ``nn.MultiheadAttention`` returns by default), ``(H, L, S)``
    or ``(N, H, L, S)`` (``average_attn_weights=False``; the first sample of
    the batch is drawn: pass ``weights[i]`` for another). Several heads are
    drawn as a grid, one panel each, unless ``head`` picks one. ``tokens``
    label the keys (S of them) and, for self-attention (L == S), the queries
    too; ``query_tokens`` label the queries when they differ. With ``ax``,
    the heatmap goes into those axes, which holds one head only.
    """
    arr = as_array(weights, "attention")
    if arr.ndim not in (2, 3, 4):
        raise ValueError(
            f"attention: expected weights of shape (L, S), (H, L, S) or (N, H, L, S), got shape {arr.shape}"
        )
    sample = arr.ndim == 4 and arr.shape[0] > 1
    if arr.ndim == 4:
        arr = arr[0]
    heads = arr[None] if arr.ndim == 2 else arr
    n_heads, n_q, n_k = heads.shape
    if head is not None:
        is_int = isinstance(head, (int, np.integer)) and not isinstance(head, bool)
        if not is_int or not -n_heads <= head < n_heads:
            raise ValueError(
                f"attention: head must be an int in [0, {n_heads}) for weights with {n_heads} head(s), "
                f"got {head!r}"
            )
        picked = [int(head) % n_heads]
    else:
        picked = list(range(n_heads))
    if ax is not None and len(picked) > 1:
        raise ValueError(f"attention: the weights have {n_heads} heads and ax holds one; pass head=")
    keys = _labels(tokens, n_k, "tokens", "keys (S)")
    if query_tokens is None and tokens is not None and n_q == n_k:
        queries = keys
    else:
        queries = _labels(query_tokens, n_q, "query_tokens", "queries (L)")

    data = np.asarray(heads, dtype=np.float64)
    vmax = float(np.nanmax(data[picked])) if data.size else 1.0
    vmin = min(0.0, float(np.nanmin(data[picked]))) if data.size else 0.0
    if ax is not None:
        fig = figure_of(ax)
        axes = [ax]
    else:
        ncols = min(len(picked), 4)
        nrows = math.ceil(len(picked) / ncols)
        side = max(2.4, min(6.0, 0.28 * max(n_q, n_k) + 1.2))
        fig = new_figure(side * ncols + 1.0, side * nrows + 0.4)
        axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
        for extra in axes[len(picked):]:
            extra.set_visible(False)
    image = None
    for a, h in zip(axes, picked):
        image = a.imshow(data[h], cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        if n_heads > 1:
            a.set_title(f"head {h}" + (" (sample 0)" if sample else ""), fontsize="medium")
        _ticks(a.set_xticks, keys, n_k, rotation=90)
        _ticks(a.set_yticks, queries, n_q)
        a.set_xlabel("key")
        a.set_ylabel("query")
        a.xaxis.set_label_position("top")
        a.xaxis.tick_top()
    if image is not None:
        fig.colorbar(image, ax=axes[: len(picked)], shrink=0.8, label="attention weight")
    return fig


def _labels(names: Sequence[str] | None, n: int, what: str, axis: str) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(f"attention: {what} must be a list of strings, got {type(names).__name__}")
    if len(names) != n:
        raise ValueError(f"attention: {what} has {len(names)} labels but the weights have {n} {axis}")
    return [str(t) for t in names]


def _ticks(setter: Any, labels: list[str] | None, n: int, rotation: int = 0) -> None:
    if labels is not None:
        setter(range(n), labels, rotation=rotation, fontsize="small")
    elif n <= 32:
        setter(range(n))
