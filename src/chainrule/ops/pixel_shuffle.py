"""``pixel_shuffle`` and ``pixel_unshuffle``: trade channels for resolution (sub-pixel convolution), exactly.

(*, C*r*r, H, W) <-> (*, C, H*r, W*r) is a reshape, a permutation and a
reshape, so the gradient is the same rearrangement run backwards (the
reshape and permute ops carry it).
"""

from __future__ import annotations

import numpy as np

from chainrule.tensor import Tensor

__all__ = ["pixel_shuffle", "pixel_unshuffle"]


def _check(x: object, r: object, name: str, op: str) -> int:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.ndim < 3:
        raise ValueError(f"{op}: expected an input of at least 3 dims (*, C, H, W), got shape {x.shape}")
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
        raise ValueError(f"{op}: {name} must be a positive int, got {r!r}")
    return int(r)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """(*, C*r*r, H, W) to (*, C, H*r, W*r): each group of r*r channels becomes an r x r block of pixels."""
    op = "pixel_shuffle"
    r = _check(input, upscale_factor, "upscale_factor", op)
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ValueError(
            f"{op}: channels {c} (input of shape {input.shape}) must be divisible by {r}^2 = {r * r}"
        )
    k = len(lead)
    y = input.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)  # (*, C, H, r, W, r)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H*r, W*r) to (*, C*r*r, H, W): the inverse of ``pixel_shuffle``."""
    op = "pixel_unshuffle"
    r = _check(input, downscale_factor, "downscale_factor", op)
    *lead, c, h, w = input.shape
    if h % r or w % r:
        raise ValueError(
            f"{op}: height {h} and width {w} (input of shape {input.shape}) must be divisible by {r}"
        )
    k = len(lead)
    y = input.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)  # (*, C, r, r, H, W)
    return y.reshape(*lead, c * r * r, h // r, w // r)
