"""The vanishing-gradient picture: how large each parameter's gradient is, layer by layer, after backward."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.nn import Module
from chainrule.viz.common import figure_of, new_figure

__all__ = ["gradient_flow"]

_KINDS = {
    "norm": ("gradient L2 norm", lambda g: float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))),
    "mean": ("mean |gradient|", lambda g: float(np.mean(np.abs(g), dtype=np.float64)) if g.size else 0.0),
    "max": ("max |gradient|", lambda g: float(np.max(np.abs(g))) if g.size else 0.0),
}
WEIGHT_COLOR = "tab:blue"
BIAS_COLOR = "tab:orange"
MISSING_COLOR = "tab:red"
FROZEN_COLOR = "tab:gray"


def gradient_flow(model: Module, *, ax: Any = None, kind: str = "norm") -> Any:
    """Bars of each parameter's gradient size, in model order, on a log scale; returns the Figure.

    Read after ``loss.backward()``: bars that shrink by orders of magnitude
    towards the first layers are vanishing gradients, bars that grow are
    exploding ones. ``kind`` is ``"norm"`` (L2 norm of ``.grad``), ``"mean"``
    (mean absolute value, comparable across layer sizes) or ``"max"``.
    Weights (parameters of two or more dimensions) and biases (one
    dimension or fewer) have different colours; a parameter with no
    gradient (unused in the forward, or its gradient all zero) is marked
    with a red x on the axis, a frozen one (``requires_grad=False``) with a
    grey x.
    """
    if not isinstance(model, Module):
        raise TypeError(f"gradient_flow: expected an nn.Module, got {type(model).__name__}")
    if kind not in _KINDS:
        raise ValueError(f"gradient_flow: kind must be one of {', '.join(map(repr, _KINDS))}, got {kind!r}")
    params = list(model.named_parameters())
    if not params:
        raise ValueError(f"gradient_flow: {type(model).__name__} has no parameters")
    if all(p.grad is None for _, p in params):
        raise RuntimeError(
            f"gradient_flow: no parameter of {type(model).__name__} has a gradient; "
            "call loss.backward() first"
        )
    title, measure = _KINDS[kind]
    values: list[float] = []
    for _, p in params:
        values.append(math.nan if p.grad is None else measure(p.grad._array))
    shown = [v for v in values if math.isfinite(v) and v > 0]
    floor = min(shown) / 10 if shown else 1e-12

    fig = new_figure(max(6.4, 0.35 * len(params) + 2), 4.2) if ax is None else figure_of(ax)
    if ax is None:
        ax = fig.subplots()
    xs = np.arange(len(params))
    bars = [i for i, v in enumerate(values) if math.isfinite(v) and v > 0]
    colors = [WEIGHT_COLOR if params[i][1].ndim >= 2 else BIAS_COLOR for i in bars]
    ax.bar(xs[bars], [values[i] for i in bars], color=colors, width=0.7)
    ax.set_yscale("log")
    missing = [i for i, (_, p) in enumerate(params) if i not in bars and p.requires_grad]
    frozen = [i for i, (_, p) in enumerate(params) if i not in bars and not p.requires_grad]
    marks = ((missing, MISSING_COLOR, "no gradient (or all zero)"), (frozen, FROZEN_COLOR, "frozen"))
    for which, color, label in marks:
        if which:
            ax.scatter(xs[which], [floor] * len(which), marker="x", color=color, zorder=3, label=label)
    ax.set_xticks(xs, [name for name, _ in params], rotation=60, ha="right", fontsize="small")
    ax.set_xlim(-0.6, len(params) - 0.4)
    ax.set_ylabel(title)
    ax.set_title(f"Gradient flow ({type(model).__name__})")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    from matplotlib.patches import Patch

    handles = [Patch(color=WEIGHT_COLOR, label="weight"), Patch(color=BIAS_COLOR, label="bias")]
    handles += [h for h in ax.get_legend_handles_labels()[0] if not isinstance(h, Patch)]
    ax.legend(handles=handles, fontsize="small")
    return fig
