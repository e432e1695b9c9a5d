"""Dropout: zero each element with probability p during training, as one autograd node.

Inverted dropout (Srivastava et al., 2014, as PyTorch implements it): the
survivors are scaled by ``1 / (1 - p)`` while training, so the expected value
of every element is unchanged and evaluation needs no rescaling: in eval mode
(or ``training=False``) dropout is the identity and returns its input. The
mask comes from the library's seeded generator, so ``cr.manual_seed(s)``
makes it reproducible. On a device the mask is drawn on the host (the same
generator, so the same mask for the same seed on every device) and moved to
the input's device once: one host-to-device copy per call (a generator on the
device would save it).
"""

from __future__ import annotations

import numpy as np

from chainrule import devices, random
from chainrule.autograd import Function
from chainrule.ops.dtypes import as_floating
from chainrule.ops.inplace import write_back
from chainrule.tensor import Tensor

__all__ = [
    "Dropout",
    "alpha_dropout",
    "check_probability",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "feature_alpha_dropout",
]


class Dropout(Function):
    def forward(ctx, a, mask):
        ctx.mask = mask
        return a * mask

    def backward(ctx, g):
        # out = a * m with a fixed mask m (0 or 1/(1-p)): d out / d a = m
        return g * ctx.mask, None


def _on_device_of(mask: np.ndarray, x: Tensor) -> np.ndarray:
    """A host-drawn mask moved to ``x``'s device (the CPU's arrays as they are)."""
    if type(x._array) is np.ndarray:
        return mask
    return devices.to_device(mask, devices.device_of(x._array))


def check_probability(p: float, owner: str) -> float:
    if not 0.0 <= p <= 1.0:  # also refuses NaN
        raise ValueError(f"{owner}: dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (when training).

    Not training, or ``p == 0``: the input itself is returned. ``p == 1`` zeroes
    everything. ``inplace=True`` writes into the input when no graph is recorded
    (see :mod:`chainrule.ops.inplace`).
    """
    p = check_probability(p, "dropout")
    if not training or p == 0.0:
        return input
    x = as_floating(input, "dropout")
    dtype = x._array.dtype
    if p == 1.0:
        mask = np.zeros(x.shape, dtype=dtype)
    else:
        # keep where u >= p (probability 1 - p); the mask carries the 1/(1-p) scale
        u = random.rng().random(x.shape, dtype=np.float64 if dtype == np.float64 else np.float32)
        mask = np.multiply(u >= p, 1.0 / (1.0 - p), dtype=dtype)
    out = Dropout.apply(x, _on_device_of(mask, x))
    return write_back(input, out) if inplace else out


def _keep_mask(shape: tuple[int, ...], p: float, dtype: np.dtype) -> np.ndarray:
    """1 with probability 1 - p, else 0 (from the seeded generator)."""
    u = random.rng().random(shape, dtype=np.float64 if dtype == np.float64 else np.float32)
    return (u >= p).astype(dtype)


# channel dropout: (accepted ndims, ndims of an unbatched input) per layer
_FEATURE = {"dropout1d": ((2, 3), 2), "dropout2d": ((3, 4), None), "dropout3d": ((4, 5), 4)}


def _feature_dropout(input: Tensor, p: float, training: bool, inplace: bool, name: str) -> Tensor:
    p = check_probability(p, name)
    accepted, unbatched = _FEATURE[name]
    if input.ndim not in accepted:
        raise ValueError(
            f"{name}: expected a {accepted[0]}-D or {accepted[1]}-D input ((N,) C, spatial...), "
            f"got shape {input.shape}"
        )
    if not training or p == 0.0:
        return input
    x = as_floating(input, name)
    dtype = x._array.dtype
    # whole channels are zeroed: one draw per (sample, channel), broadcast over
    # the spatial dims. A 3-D input to dropout2d is read as (N, C, L), as PyTorch does.
    lead = 1 if x.ndim == unbatched else 2
    shape = x.shape[:lead] + (1,) * (x.ndim - lead)
    mask = np.zeros(shape, dtype) if p == 1.0 else _keep_mask(shape, p, dtype) * dtype.type(1.0 / (1.0 - p))
    out = Dropout.apply(x, _on_device_of(mask, x))
    return write_back(input, out) if inplace else out


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of a (N, C, L) or (C, L) input with probability ``p`` (survivors scaled)."""
    return _feature_dropout(input, p, training, inplace, "dropout1d")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of a (N, C, H, W) input with probability ``p`` (survivors scaled)."""
    return _feature_dropout(input, p, training, inplace, "dropout2d")


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of a (N, C, D, H, W) or (C, D, H, W) input with probability ``p``."""
    return _feature_dropout(input, p, training, inplace, "dropout3d")


_SELU_ALPHA = 1.7580993408473766  # -SELU's negative saturation value, scale * alpha


def _alpha(input: Tensor, p: float, training: bool, inplace: bool, name: str, feature: bool) -> Tensor:
    p = check_probability(p, name)
    if not training or p == 0.0:
        return input
    x = as_floating(input, name)
    dtype = x._array.dtype
    if p == 1.0:
        out = Dropout.apply(x, _on_device_of(np.zeros(x.shape, dtype), x))
        return write_back(input, out) if inplace else out
    # Dropped units are set to SELU's saturation value -alpha instead of 0, then
    # an affine map a*y + b restores zero mean and unit variance (Klambauer et
    # al., 2017): out = x * (keep * a) + alpha * a * (keep - 1 + p).
    # d out / d x = keep * a.
    shape = x.shape[:2] + (1,) * (x.ndim - 2) if feature else x.shape
    keep = _keep_mask(shape, p, dtype)
    a = 1.0 / np.sqrt((_SELU_ALPHA**2 * p + 1) * (1 - p))
    shift = _on_device_of(((keep - 1 + p) * (_SELU_ALPHA * a)).astype(dtype), x)
    out = Dropout.apply(x, _on_device_of((keep * a).astype(dtype), x)) + Tensor._make(shift, None)
    return write_back(input, out) if inplace else out


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout for self-normalizing (SELU) networks: keeps the mean and variance of its input."""
    return _alpha(input, p, training, inplace, "alpha_dropout", feature=False)


def feature_alpha_dropout(
    input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """:func:`alpha_dropout` of whole channels of a (N, C, ...) input."""
    return _alpha(input, p, training, inplace, "feature_alpha_dropout", feature=True)
