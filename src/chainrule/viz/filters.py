"""What a convolutional network learned and sees: its kernels, and the feature maps a layer produces."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd import no_grad
from chainrule.nn import Conv2d, Module
from chainrule.tensor import Tensor
from chainrule.viz.common import as_array, figure_of, new_figure

__all__ = ["feature_maps", "filters"]


def _normalise(a: np.ndarray) -> np.ndarray:
    """``a`` stretched to [0, 1] (a constant array becomes 0.5), so each image uses the full colour range."""
    a = np.asarray(a, dtype=np.float64)
    lo, hi = float(np.min(a)), float(np.max(a))
    return np.full_like(a, 0.5) if hi - lo <= 0 else (a - lo) / (hi - lo)


def _grid(n: int, width: float, title: str) -> tuple[Any, list[Any]]:
    """A Figure with ``n`` image panels in a near-square grid, ticks off."""
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    cell = max(0.6, min(1.6, width / ncols))
    fig = new_figure(cell * ncols + 0.4, cell * nrows + 0.6)
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for a in axes:
        a.set_axis_off()
    fig.suptitle(title)
    return fig, axes[:n]


def filters(conv_layer: Conv2d, *, max_filters: int = 64, ax: Any = None) -> Any:
    """A grid of a Conv2d's kernels, the first ``max_filters`` of them, each normalised to its own range.

    With 3 input channels per group (an RGB first layer) each kernel is
    drawn in colour; otherwise in grayscale, averaged over its input
    channels (the pattern the filter answers to, summed over what it reads;
    a single input channel is drawn as it is). Each filter is stretched to
    the full colour range on its own, so read shapes, not magnitudes across
    filters. With ``ax``, the kernels are tiled into one mosaic image there.
    Returns the Figure.
    """
    if not isinstance(conv_layer, Conv2d):
        raise TypeError(f"filters: expected an nn.Conv2d, got {type(conv_layer).__name__}")
    if isinstance(max_filters, bool) or not isinstance(max_filters, int) or max_filters < 1:
        raise ValueError(f"filters: max_filters must be a positive int, got {max_filters!r}")
    w = conv_layer.weight._array  # (out, in/groups, kh, kw)
    n = min(w.shape[0], max_filters)
    if w.shape[1] == 3:
        images = [_normalise(k).transpose(1, 2, 0) for k in w[:n]]  # (kh, kw, 3)
        cmap = None
    else:
        images = [_normalise(k.mean(axis=0)) for k in w[:n]]
        cmap = "gray"
    title = f"Conv2d filters ({n} of {w.shape[0]}, {w.shape[2]}x{w.shape[3]})"
    if ax is not None:
        ax.imshow(_mosaic(images), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(title)
        return figure_of(ax)
    fig, axes = _grid(n, 8.0, title)
    for a, img in zip(axes, images):
        a.imshow(img, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    return fig


def _mosaic(images: list[np.ndarray]) -> np.ndarray:
    """Tile equally sized images into one near-square image, one pixel of white between them."""
    ncols = math.ceil(math.sqrt(len(images)))
    nrows = math.ceil(len(images) / ncols)
    h, w = images[0].shape[:2]
    out = np.ones((nrows * (h + 1) - 1, ncols * (w + 1) - 1, *images[0].shape[2:]))
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        out[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = img
    return out


def feature_maps(
    model_or_layer: Module, x: Any, *, layer: str | Module | None = None, max_maps: int = 32
) -> Any:
    """Run ``x`` through the model and draw the channels ``layer`` outputs, a panel each; returns the Figure.

    ``layer`` is a submodule or its name in ``model.named_modules()``
    (``"features.0"``); None takes the model's own output. The output is
    caught with a forward hook (removed afterwards) under ``no_grad``; it
    must be feature maps, ``(N, C, H, W)`` (the first sample is drawn) or
    ``(C, H, W)``. The first ``max_maps`` channels are drawn, each on its own
    colour scale.
    """
    if not isinstance(model_or_layer, Module):
        raise TypeError(f"feature_maps: expected an nn.Module, got {type(model_or_layer).__name__}")
    if isinstance(max_maps, bool) or not isinstance(max_maps, int) or max_maps < 1:
        raise ValueError(f"feature_maps: max_maps must be a positive int, got {max_maps!r}")
    target, name = _find_layer(model_or_layer, layer)
    inputs = x if isinstance(x, Tensor) else Tensor(as_array(x, "feature_maps"))
    caught: list[Any] = []
    handle = target.register_forward_hook(lambda module, args, out: caught.append(out))
    try:
        with no_grad():
            model_or_layer(inputs)
    finally:
        handle.remove()
    if not caught:
        raise RuntimeError(f"feature_maps: layer {name!r} was not called when the model ran on x")
    out = caught[0]
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        out = out[0]
    caught_maps = as_array(out, "feature_maps")
    maps = caught_maps[0] if caught_maps.ndim == 4 else caught_maps
    if maps.ndim != 3:
        raise ValueError(
            f"feature_maps: layer {name!r} gave an output of shape {tuple(caught_maps.shape)}; "
            "expected feature maps (N, C, H, W) or (C, H, W): pick a convolutional or pooling layer"
        )
    n = min(maps.shape[0], max_maps)
    fig, axes = _grid(n, 9.0, f"Feature maps of {name} ({n} of {maps.shape[0]} channels)")
    for i, a in enumerate(axes):
        a.imshow(np.asarray(maps[i], dtype=np.float64), cmap="viridis", interpolation="nearest")
        a.set_title(str(i), fontsize="x-small")
    return fig


def _find_layer(model: Module, layer: str | Module | None) -> tuple[Module, str]:
    """The module to hook and a name for it in messages."""
    if layer is None:
        return model, type(model).__name__
    named = dict(model.named_modules())
    if isinstance(layer, str):
        found = named.get(layer)
        if found is None:
            names = [k for k in named if k]
            shown = ", ".join(repr(k) for k in names[:12]) + (", ..." if len(names) > 12 else "")
            raise ValueError(
                f"feature_maps: {type(model).__name__} has no layer {layer!r}; its layers: {shown}"
            )
        return found, layer
    if isinstance(layer, Module):
        for k, m in named.items():
            if m is layer:
                return m, k or type(model).__name__
        raise ValueError(f"feature_maps: the {type(layer).__name__} passed as layer is not part of the model")
    raise TypeError(f"feature_maps: layer must be a module, its name or None, got {type(layer).__name__}")
