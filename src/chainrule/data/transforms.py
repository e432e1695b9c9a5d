"""Batch-wise image augmentation, as ``torchvision.transforms.v2``, seeded and vectorised over the batch.

Every transform is a callable on a batch of images of shape ``(N, C, H, W)``
(a :class:`~chainrule.Tensor` or a NumPy array; one image ``(C, H, W)`` works
too) and returns a Tensor of the same shape and dtype. The random ones draw
one set of parameters *per sample* from ``chainrule.random.rng(generator)``
(the ``generator=`` argument, else the global generator that
``cr.manual_seed`` seeds), so a seeded run augments the same way every time.
Transforms act on data, not inside the graph: their outputs never require
grad, and they never modify their input unless asked (``inplace=True``).

Augmentation belongs to the training data only. The DataLoader applies a
transform to the inputs of each batch (the first element of the batch; the
labels pass through), so give one to the training loader and none to the
validation and test loaders::

    import chainrule as cr
    from chainrule.data import DataLoader, TensorDataset
    from chainrule.data import transforms as T

    augment = T.Compose([
        T.RandomCrop(28, padding=2),
        T.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        T.RandomErasing(p=0.25, scale=(0.02, 0.1)),
        T.Normalize(mean=[0.13], std=[0.31]),
    ])
    train = DataLoader(TensorDataset(x_train, y_train), batch_size=64, shuffle=True, transform=augment)
    val = DataLoader(TensorDataset(x_val, y_val), batch_size=256,
                     transform=T.Normalize(mean=[0.13], std=[0.31]))  # the same scaling, no randomness

Where torchvision differs: each sample of a batch gets its own random draw
(torchvision v2 draws once for a whole batched tensor); ``interpolation`` and
``padding_mode`` are strings (``"nearest"``, ``"bilinear"``; ``"constant"``,
``"edge"``, ``"reflect"``, ``"symmetric"``); each random transform takes a
``generator=`` keyword; ``RandomVerticalFlip`` and ``affine`` (the
deterministic warp, per-sample parameters allowed) come along.
Bilinear :class:`RandomAffine` treats points outside the image as having the
fill value (``grid_sample`` of ``x - fill``, plus ``fill``), where torchvision
blends with a resampled mask that darkens the borders (pytorch/vision#8083).
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from chainrule import backend
from chainrule import random as _random
from chainrule.tensor import Tensor

__all__ = [
    "Compose",
    "GaussianNoise",
    "Normalize",
    "RandomAffine",
    "RandomCrop",
    "RandomErasing",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "Transform",
    "affine",
]

_make = Tensor._make
_PADDING_MODES = ("constant", "edge", "reflect", "symmetric")
_INTERPOLATIONS = ("nearest", "bilinear")


# ------------------------------------------------------------------ argument checks
def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _is_seq(x: Any) -> bool:
    return isinstance(x, (Sequence, np.ndarray)) and not isinstance(x, str)


def _probability(p: Any, name: str) -> float:
    if not _is_number(p) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: p should be a probability between 0 and 1, got {p!r}")
    return float(p)


def _range(
    value: Any, name: str, arg: str, low: float = -math.inf, strict: bool = False
) -> tuple[float, float]:
    """A ``(min, max)`` pair of numbers with ``low <= min <= max`` (``low < min`` when ``strict``)."""
    if not _is_seq(value) or len(value) != 2 or not all(_is_number(v) for v in value):
        raise ValueError(f"{name}: {arg} should be a (min, max) pair of numbers, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name}: {arg} should be a finite (min, max) pair with min <= max, got {value!r}")
    if lo < low or (strict and lo <= low):
        bound = "greater than" if strict else "at least"
        raise ValueError(f"{name}: {arg} values should be {bound} {low:g}, got {value!r}")
    return lo, hi


def _symmetric_range(value: Any, name: str, arg: str) -> tuple[float, float]:
    """A number ``d >= 0`` means ``(-d, d)``; a pair is taken as given."""
    if _is_number(value):
        if not 0 <= value < math.inf:
            raise ValueError(f"{name}: if {arg} is a single number, it must be non-negative, got {value!r}")
        return -float(value), float(value)
    return _range(value, name, arg)


def _fill_values(fill: Any, name: str, arg: str = "fill") -> np.ndarray:
    """A fill given as a number or one number per channel, as a float64 vector."""
    if _is_number(fill):
        return np.array([fill], dtype=np.float64)
    if _is_seq(fill) and len(fill) > 0 and all(_is_number(v) for v in fill):
        return np.asarray(fill, dtype=np.float64)
    raise TypeError(
        f"{name}: {arg} should be a number or a sequence of numbers (one per channel), got {fill!r}"
    )


def _per_channel(values: np.ndarray, c: int, dtype: np.dtype, name: str, arg: str) -> np.ndarray:
    """``values`` (one number, or one per channel) as a ``(C, 1, 1)`` array of ``dtype``."""
    if values.size not in (1, c):
        raise ValueError(f"{name}: {arg} has {values.size} values but the images have {c} channels")
    if dtype.kind in "iub":
        values = np.rint(values)
    return np.broadcast_to(values.astype(dtype), (c,)).reshape(c, 1, 1)


# ------------------------------------------------------------------ batches in and out
def _as_batch(images: Any, name: str) -> tuple[np.ndarray, bool]:
    """The ``(N, C, H, W)`` array behind ``images``, and whether it was one ``(C, H, W)`` image."""
    if isinstance(images, Tensor):
        a = images._array
    elif isinstance(images, np.ndarray):
        a = images
    else:
        raise TypeError(f"{name}: expected a Tensor or NumPy array of images, got {type(images).__name__}")
    if a.dtype not in backend.SUPPORTED_DTYPES:
        raise TypeError(f"{name}: unsupported image dtype {a.dtype}")
    if a.ndim == 4:
        return a, False
    if a.ndim == 3:
        return a[None], True
    raise ValueError(
        f"{name}: expected an image batch of shape (N, C, H, W) or one image (C, H, W), got shape {a.shape}"
    )


def _floating(x: np.ndarray, name: str) -> None:
    if x.dtype.kind != "f":
        raise TypeError(
            f"{name}: expected floating-point images, got {x.dtype} (convert first, e.g. x.float() / 255)"
        )


def _writable(x: np.ndarray, name: str) -> None:
    if not x.flags.writeable:
        raise ValueError(f"{name}: inplace=True needs a writable array, but the input is read-only")


class Transform(abc.ABC):
    """Base class: checks the input, runs ``_apply`` on the ``(N, C, H, W)`` array, wraps the result.

    A custom transform subclasses it and implements ``_apply(x)``, returning a
    new array (or ``x`` itself when it works in place), and ``_args()`` for
    the repr; single images and Tensor/NumPy inputs are then handled here.
    """

    def __call__(self, images: Tensor | np.ndarray) -> Tensor:
        x, single = _as_batch(images, type(self).__name__)
        out = self._apply(x)
        return _make(out[0] if single else out, None)

    @abc.abstractmethod
    def _apply(self, x: np.ndarray) -> np.ndarray:
        """The transformed ``(N, C, H, W)`` batch."""

    def _args(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._args()})"


class Compose:
    """Apply transforms one after the other, as ``torchvision.transforms.v2.Compose``.

    Any callable taking and returning images fits. An empty ``Compose``
    returns its input unchanged.
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        if not _is_seq(transforms):
            raise TypeError(
                f"Compose: transforms should be a sequence of callables, got {type(transforms).__name__}"
            )
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"Compose: transforms[{i}] is not callable (got {type(t).__name__})")
        self.transforms = list(transforms)

    def __call__(self, images: Any) -> Any:
        for t in self.transforms:
            images = t(images)
        return images

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, i: int) -> Callable[[Any], Any]:
        return self.transforms[i]

    def __repr__(self) -> str:
        lines = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({lines}\n)"


# ------------------------------------------------------------------ Normalize
class Normalize(Transform):
    """``(x - mean[c]) / std[c]`` for every channel ``c``; deterministic, so it fits validation data too.

    ``mean`` and ``std`` are a number or one number per channel. The images
    must be floating point; the arithmetic is done in their dtype.
    """

    def __init__(
        self, mean: float | Sequence[float], std: float | Sequence[float], inplace: bool = False
    ) -> None:
        self._mean = _fill_values(mean, "Normalize", "mean")
        self._std = _fill_values(std, "Normalize", "std")
        if not np.all(np.isfinite(self._std)) or np.any(self._std == 0):
            raise ValueError(f"Normalize: std should be finite and non-zero, got {std!r} (division by zero)")
        self.mean, self.std, self.inplace = mean, std, bool(inplace)

    def _apply(self, x: np.ndarray) -> np.ndarray:
        _floating(x, "Normalize")
        c = x.shape[1]
        mean = _per_channel(self._mean, c, x.dtype, "Normalize", "mean")
        std = _per_channel(self._std, c, x.dtype, "Normalize", "std")
        if not std.all():  # a tiny std that rounds to 0 in the images' dtype, as torchvision checks
            raise ValueError(
                f"Normalize: std {self.std!r} evaluated to zero after conversion to {x.dtype}, "
                "leading to division by zero"
            )
        if self.inplace:
            _writable(x, "Normalize")
            out = x
            np.subtract(x, mean, out=out)
        else:
            out = np.subtract(x, mean)
        return np.divide(out, std, out=out)

    def _args(self) -> str:
        return f"mean={self.mean!r}, std={self.std!r}, inplace={self.inplace}"


# ------------------------------------------------------------------ flips
class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``, independently per sample."""

    _axis = 3

    def __init__(self, p: float = 0.5, *, generator: _random.Generator | None = None) -> None:
        self.p = _probability(p, type(self).__name__)
        self.generator = generator

    def _apply(self, x: np.ndarray) -> np.ndarray:
        flip = _random.rng(self.generator).random(x.shape[0]) < self.p
        out = x.copy()
        if flip.any():
            # one fancy index picks the flipped samples, one reversed view mirrors them all
            out[flip] = np.flip(x[flip], axis=self._axis)
        return out

    def _args(self) -> str:
        return f"p={self.p}"


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror each image top-bottom with probability ``p``, independently per sample."""

    _axis = 2


# ------------------------------------------------------------------ RandomCrop
def _size_pair(size: Any, name: str) -> tuple[int, int]:
    if _is_seq(size) and len(size) == 1:
        size = size[0]
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        h = w = int(size)
    elif (
        _is_seq(size)
        and len(size) == 2
        and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size)
    ):
        h, w = int(size[0]), int(size[1])
    else:
        raise ValueError(f"{name}: size should be an int or an (h, w) pair of ints, got {size!r}")
    if h <= 0 or w <= 0:
        raise ValueError(f"{name}: size should be positive, got {size!r}")
    return h, w


def _padding4(padding: Any, name: str) -> tuple[int, int, int, int]:
    """torchvision's padding forms as ``(left, top, right, bottom)``: p, (lr, tb) or (l, t, r, b)."""
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        pad = [int(padding)] * 4
    elif (
        _is_seq(padding)
        and len(padding) in (1, 2, 4)
        and all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in padding)
    ):
        p = [int(v) for v in padding]
        pad = p * 4 if len(p) == 1 else (p * 2 if len(p) == 2 else p)
    else:
        raise ValueError(
            f"{name}: padding should be an int or a sequence of 1, 2 or 4 ints "
            f"(all sides; left/right, top/bottom; left, top, right, bottom), got {padding!r}"
        )
    if min(pad) < 0:
        raise ValueError(f"{name}: padding should be non-negative, got {padding!r}")
    return pad[0], pad[1], pad[2], pad[3]


def _pad(
    x: np.ndarray, left: int, top: int, right: int, bottom: int, mode: str, fill: np.ndarray
) -> np.ndarray:
    """The whole batch padded at once; constant padding writes the per-channel fill directly."""
    if mode != "constant":
        return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=mode)
    n, c, h, w = x.shape
    out = np.empty((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
    out[...] = _per_channel(fill, c, x.dtype, "RandomCrop", "fill")
    out[:, :, top : top + h, left : left + w] = x
    return out


class RandomCrop(Transform):
    """Crop each image at a random place, after optional padding, as ``torchvision.transforms.v2.RandomCrop``.

    ``size`` is an int or ``(h, w)``; ``padding`` an int (all sides), a pair
    (left/right, top/bottom) or four ints (left, top, right, bottom), added
    before cropping with ``fill`` (a number or one per channel) or by
    ``padding_mode`` ``"edge"``, ``"reflect"`` or ``"symmetric"``.
    ``pad_if_needed`` pads both sides of a dimension smaller than the crop by
    the difference, as torchvision does. Each sample gets its own offset.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        padding: int | Sequence[int] | None = None,
        pad_if_needed: bool = False,
        fill: float | Sequence[float] = 0,
        padding_mode: str = "constant",
        *,
        generator: _random.Generator | None = None,
    ) -> None:
        self.size = _size_pair(size, "RandomCrop")
        self.padding = padding
        self._pad = (0, 0, 0, 0) if padding is None else _padding4(padding, "RandomCrop")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"RandomCrop: padding_mode should be one of {_PADDING_MODES}, got {padding_mode!r}"
            )
        self.pad_if_needed = bool(pad_if_needed)
        self.fill, self._fill = fill, _fill_values(fill, "RandomCrop")
        self.padding_mode = padding_mode
        self.generator = generator

    def _apply(self, x: np.ndarray) -> np.ndarray:
        n, _, height, width = x.shape
        h, w = self.size
        left, top, right, bottom = self._pad
        ph, pw = height + top + bottom, width + left + right
        if self.pad_if_needed and pw < w:
            d = w - pw
            left, right, pw = left + d, right + d, pw + 2 * d
        if self.pad_if_needed and ph < h:
            d = h - ph
            top, bottom, ph = top + d, bottom + d, ph + 2 * d
        if ph < h or pw < w:
            what = "padded image size" if ph != height or pw != width else "image size"
            raise ValueError(f"RandomCrop: crop size {(h, w)} is larger than the {what} {(ph, pw)}")
        rng = _random.rng(self.generator)
        tops = rng.integers(0, ph - h + 1, size=n)
        lefts = rng.integers(0, pw - w + 1, size=n)
        if left or top or right or bottom:
            x = _pad(x, left, top, right, bottom, self.padding_mode, self._fill)
        # every (h, w) window as a strided view; one fancy index takes each sample's own window
        windows = sliding_window_view(x, (h, w), axis=(2, 3))
        return windows[np.arange(n), :, tops, lefts]

    def _args(self) -> str:
        return (
            f"size={self.size}, padding={self.padding}, pad_if_needed={self.pad_if_needed}, "
            f"fill={self.fill!r}, padding_mode={self.padding_mode!r}"
        )


# ------------------------------------------------------------------ affine
def _inverse_affine(
    angle: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    scale: np.ndarray,
    shear_x: np.ndarray,
    shear_y: np.ndarray,
    cx: float,
    cy: float,
) -> np.ndarray:
    """Per-sample ``(N, 2, 3)`` output-to-input maps, torchvision's ``_get_inverse_affine_matrix``.

    The forward map is ``M = T C RSS C^-1`` with ``RSS = R(a) S(s) SHy(sy) SHx(sx)``
    in coordinates centred on the image, y pointing down (so a positive angle
    turns the picture clockwise). ``det(RSS/s) = 1``, so its inverse is the
    adjugate divided by ``s``; the centre and translation are undone around it:
    ``M^-1 = C RSS^-1 C^-1 T^-1``.
    """
    rot, sx, sy = np.radians(angle), np.radians(shear_x), np.radians(shear_y)
    cos_sy = np.cos(sy)
    a = np.cos(rot - sy) / cos_sy
    b = -np.cos(rot - sy) * np.tan(sx) / cos_sy - np.sin(rot)
    c = np.sin(rot - sy) / cos_sy
    d = -np.sin(rot - sy) * np.tan(sx) / cos_sy + np.cos(rot)
    m = np.empty((angle.shape[0], 2, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = d / scale, -b / scale, -c / scale, a / scale
    ox, oy = -cx - tx, -cy - ty
    m[:, 0, 2] = m[:, 0, 0] * ox + m[:, 0, 1] * oy + cx
    m[:, 1, 2] = m[:, 1, 0] * ox + m[:, 1, 1] * oy + cy
    return m


def _sample(x: np.ndarray, m: np.ndarray, interpolation: str, fill: np.ndarray) -> np.ndarray:
    """Gather ``x`` through per-sample inverse maps ``m``: grid_sample with align_corners=False.

    Output pixel ``(i, j)`` sits at ``(j + 0.5 - W/2, i + 0.5 - H/2)`` relative
    to the centre; ``m`` sends it to the input point whose pixel coordinates
    are ``u + W/2 - 0.5``. The batch gets a one-pixel border of ``fill`` and
    the coordinates are clipped onto it, so every point outside the image
    reads ``fill`` (bilinear taps too: ``grid_sample(x - fill) + fill``)
    without masks. All samples are gathered at once, one ``take`` per channel
    and tap.
    """
    n, c, h, w = x.shape
    # integer images interpolate in float32 and are rounded back, as torchvision does
    exact = interpolation == "nearest" or (x.dtype.kind == "f" and x.dtype != np.float16)
    work = x.dtype if exact else np.dtype(np.float32)
    hp, wp = h + 2, w + 2
    padded = np.empty((c, n, hp, wp), dtype=work)  # channel-major: each channel one flat plane
    padded[...] = _per_channel(fill, c, work, "RandomAffine", "fill")[:, None]
    padded[:, :, 1:-1, 1:-1] = x.transpose(1, 0, 2, 3)
    planes = padded.reshape(c, n * hp * wp)
    # (x, y, 1) of every output pixel, mapped for all samples by one batched product
    gy, gx = np.mgrid[0:h, 0:w]
    grid = np.stack([gx.ravel() + (0.5 - w / 2), gy.ravel() + (0.5 - h / 2), np.ones(h * w)])
    uv = m @ grid  # (N, 2, H*W)
    px, py = uv[:, 0], uv[:, 1]
    px += w / 2 - 0.5
    py += h / 2 - 0.5
    np.clip(px, -1, w, out=px)  # onto the fill border: -1 and W, -1 and H
    np.clip(py, -1, h, out=py)
    origin = (np.arange(n, dtype=np.intp) * (hp * wp) + (wp + 1))[:, None]  # flat index of each pixel (0, 0)
    out = np.empty((n, c, h * w), dtype=work)

    if interpolation == "nearest":
        np.rint(uv, out=uv)
        idx = (py * wp + px).astype(np.intp)
        idx += origin
        for k in range(c):
            np.take(planes[k], idx, out=out[:, k], mode="clip")
        return out.reshape(n, c, h, w)

    x0, y0 = np.floor(px), np.floor(py)
    fx, fy = (px - x0).astype(work), (py - y0).astype(work)
    i00 = (y0 * wp + x0).astype(np.intp)
    i00 += origin
    # the next column/row, except on the far border, where the weight is 0 anyway
    i01 = i00 + (x0 < w)
    i10 = i00 + (y0 < h) * wp
    i11 = i10 + (x0 < w)
    gx_, gy_ = 1 - fx, 1 - fy
    for k in range(c):
        p = planes[k]
        # each neighbour weighted by the area of the opposite sub-rectangle
        top = p.take(i00) * gx_ + p.take(i01) * fx
        bottom = p.take(i10) * gx_ + p.take(i11) * fx
        out[:, k] = top * gy_ + bottom * fy
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        np.clip(np.rint(out, out=out), info.min, info.max, out=out)
    return out.astype(x.dtype, copy=False).reshape(n, c, h, w)


def _per_sample(value: Any, n: int, name: str, arg: str, width: int = 1) -> list[np.ndarray]:
    """A scalar (or ``width``-tuple) or one per sample, as ``width`` float64 vectors of length ``n``."""
    a = np.asarray(value, dtype=np.float64)
    if width == 1 and a.shape in ((), (n,)):
        return [np.broadcast_to(a, (n,))]
    if width > 1 and a.shape in ((width,), (n, width)):
        a = np.broadcast_to(a, (n, width))
        return [a[:, k] for k in range(width)]
    form = "a number" if width == 1 else f"{width} numbers"
    per = f"({n},)" if width == 1 else f"({n}, {width})"
    raise ValueError(f"{name}: {arg} should be {form} or an array of shape {per}, got shape {a.shape}")


def _interpolation(mode: Any, name: str) -> str:
    mode = getattr(mode, "value", mode)  # accept an enum whose value is the name, as torchvision's
    if mode not in _INTERPOLATIONS:
        raise ValueError(f"{name}: interpolation should be one of {_INTERPOLATIONS}, got {mode!r}")
    return mode


def _center(center: Any, name: str) -> tuple[float, float] | None:
    if center is None:
        return None
    if not _is_seq(center) or len(center) != 2 or not all(_is_number(v) for v in center):
        raise ValueError(f"{name}: center should be None or an (x, y) pair of numbers, got {center!r}")
    return float(center[0]), float(center[1])


def affine(
    images: Tensor | np.ndarray,
    angle: float | np.ndarray,
    translate: Sequence[float] | np.ndarray,
    scale: float | np.ndarray,
    shear: float | Sequence[float] | np.ndarray,
    interpolation: str = "nearest",
    fill: float | Sequence[float] = 0,
    center: Sequence[float] | None = None,
) -> Tensor:
    """Apply an affine map to every image, as ``torchvision.transforms.v2.functional.affine``, vectorised.

    ``angle`` (degrees, clockwise), ``translate`` (pixels, ``(tx, ty)``),
    ``scale`` and ``shear`` (degrees; a number is the x shear, a pair is
    ``(x, y)``) are either one value for the whole batch or one per sample
    (arrays of shape ``(N,)``, ``(N, 2)``). ``center`` is ``(x, y)`` in
    coordinates where the image covers ``[0, W] x [0, H]`` (default its
    middle). Pixels that come from outside the image get ``fill``.
    """
    name = "affine"
    x, single = _as_batch(images, name)
    n, _, h, w = x.shape
    interpolation = _interpolation(interpolation, name)
    (ang,) = _per_sample(angle, n, name, "angle")
    tx, ty = _per_sample(translate, n, name, "translate", 2)
    (sc,) = _per_sample(scale, n, name, "scale")
    if np.any(sc <= 0):
        raise ValueError(f"{name}: scale should be positive, got {scale!r}")
    shear_a = np.asarray(shear, dtype=np.float64)
    if shear_a.shape == (1,):  # torchvision: a one-element shear applies to both axes
        shear_a = np.repeat(shear_a, 2)
    if shear_a.ndim == 0 or (shear_a.shape == (n,) and n != 2):
        (shx,) = _per_sample(shear_a, n, name, "shear")
        shy = np.zeros(n)
    else:
        shx, shy = _per_sample(shear_a, n, name, "shear", 2)
    cxy = _center(center, name)
    cx, cy = (0.0, 0.0) if cxy is None else (cxy[0] - w * 0.5, cxy[1] - h * 0.5)
    m = _inverse_affine(ang, tx, ty, sc, shx, shy, cx, cy)
    out = _sample(x, m, interpolation, _fill_values(fill, name))
    return _make(out[0] if single else out, None)


class RandomAffine(Transform):
    """Rotate, translate, scale and shear each image by its own random amounts, as torchvision's.

    Per sample: an angle uniform in ``degrees`` (a number ``d`` means
    ``(-d, d)``; clockwise), a shift of ``round(U(-a W, a W))`` and
    ``round(U(-b H, b H))`` pixels for ``translate=(a, b)``, a factor uniform
    in ``scale=(lo, hi)``, and shears uniform in ``shear`` (a number, an x
    range, or x and y ranges as four numbers). One inverse-affine sampling
    grid per sample, gathered with ``interpolation`` (``"nearest"`` or
    ``"bilinear"``); pixels from outside the image get ``fill``.
    """

    def __init__(
        self,
        degrees: float | Sequence[float],
        translate: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
        shear: float | Sequence[float] | None = None,
        interpolation: str = "nearest",
        fill: float | Sequence[float] = 0,
        center: Sequence[float] | None = None,
        *,
        generator: _random.Generator | None = None,
    ) -> None:
        name = "RandomAffine"
        self.degrees = _symmetric_range(degrees, name, "degrees")
        self.translate = None if translate is None else _range(translate, name, "translate", 0.0)
        if self.translate is not None and max(self.translate) > 1:
            raise ValueError(f"{name}: translate values should be between 0 and 1, got {translate!r}")
        self.scale = None if scale is None else _range(scale, name, "scale", 0.0, strict=True)
        if shear is None:
            self.shear = None
        elif _is_seq(shear) and len(shear) == 4:
            self.shear = _range(shear[:2], name, "shear") + _range(shear[2:], name, "shear")
        else:
            self.shear = _symmetric_range(shear, name, "shear") + (0.0, 0.0)
        self.interpolation = _interpolation(interpolation, name)
        self.fill, self._fill = fill, _fill_values(fill, name)
        self.center = _center(center, name)
        self.generator = generator

    def _apply(self, x: np.ndarray) -> np.ndarray:
        n, _, h, w = x.shape
        rng = _random.rng(self.generator)
        angle = rng.uniform(*self.degrees, size=n)
        if self.translate is not None:
            mx, my = self.translate[0] * w, self.translate[1] * h
            tx, ty = np.rint(rng.uniform(-mx, mx, size=n)), np.rint(rng.uniform(-my, my, size=n))
        else:
            tx = ty = np.zeros(n)
        sc = rng.uniform(*self.scale, size=n) if self.scale is not None else np.ones(n)
        if self.shear is not None:
            shx = rng.uniform(*self.shear[:2], size=n)
            shy = rng.uniform(*self.shear[2:], size=n)
        else:
            shx = shy = np.zeros(n)
        cx, cy = (0.0, 0.0) if self.center is None else (self.center[0] - w * 0.5, self.center[1] - h * 0.5)
        m = _inverse_affine(angle, tx, ty, sc, shx, shy, cx, cy)
        return _sample(x, m, self.interpolation, self._fill)

    def _args(self) -> str:
        return (
            f"degrees={self.degrees}, translate={self.translate}, scale={self.scale}, shear={self.shear}, "
            f"interpolation={self.interpolation!r}, fill={self.fill!r}, center={self.center}"
        )


# ------------------------------------------------------------------ noise
class GaussianNoise(Transform):
    """Add ``N(mean, sigma^2)`` noise to every pixel, as ``torchvision.transforms.v2.GaussianNoise``.

    The images must be floating point (scaled to ``[0, 1]``); with
    ``clip=True`` (the default, as torchvision) the result is clipped back to
    ``[0, 1]``, so pass ``clip=False`` for standardised data.
    """

    def __init__(
        self,
        mean: float = 0.0,
        sigma: float = 0.1,
        clip: bool = True,
        *,
        generator: _random.Generator | None = None,
    ) -> None:
        if not _is_number(mean) or not math.isfinite(mean):
            raise ValueError(f"GaussianNoise: mean should be a finite number, got {mean!r}")
        if not _is_number(sigma) or not 0 <= sigma < math.inf:
            raise ValueError(f"GaussianNoise: sigma should be a non-negative number, got {sigma!r}")
        self.mean, self.sigma, self.clip = float(mean), float(sigma), bool(clip)
        self.generator = generator

    def _apply(self, x: np.ndarray) -> np.ndarray:
        _floating(x, "GaussianNoise")
        draw = np.float64 if x.dtype == np.float64 else np.float32
        out = _random.rng(self.generator).standard_normal(x.shape, dtype=draw)
        out *= self.sigma
        out += self.mean
        out = out.astype(x.dtype, copy=False)
        out += x
        if self.clip:
            np.clip(out, 0, 1, out=out)
        return out

    def _args(self) -> str:
        return f"mean={self.mean}, sigma={self.sigma}, clip={self.clip}"


# ------------------------------------------------------------------ RandomErasing
class RandomErasing(Transform):
    """Erase a random rectangle of each image with probability ``p``, as torchvision's ``RandomErasing``.

    Per sample, up to ten candidate rectangles are drawn with an area fraction
    uniform in ``scale`` and an aspect ratio (h / w) log-uniform in ``ratio``;
    the first that fits strictly inside the image is erased, at a uniform
    position (if none fits, the image is left as it is, as in torchvision).
    ``value`` is a number, one number per channel, or ``"random"`` for
    standard-normal noise.
    """

    _ATTEMPTS = 10

    def __init__(
        self,
        p: float = 0.5,
        scale: Sequence[float] = (0.02, 0.33),
        ratio: Sequence[float] = (0.3, 3.3),
        value: float | Sequence[float] | str = 0,
        inplace: bool = False,
        *,
        generator: _random.Generator | None = None,
    ) -> None:
        name = "RandomErasing"
        self.p = _probability(p, name)
        self.scale = _range(scale, name, "scale", 0.0)
        if self.scale[1] > 1:
            raise ValueError(f"{name}: scale should be between 0 and 1, got {scale!r}")
        self.ratio = _range(ratio, name, "ratio", 0.0, strict=True)
        if isinstance(value, str):
            if value != "random":
                raise ValueError(
                    f"{name}: value should be a number, a sequence of numbers or 'random', got {value!r}"
                )
            self._value = None
        else:
            self._value = _fill_values(value, name, "value")
        self.value = value
        self.inplace = bool(inplace)
        self.generator = generator

    def _apply(self, x: np.ndarray) -> np.ndarray:
        n, c, height, width = x.shape
        if self._value is None:
            _floating(x, "RandomErasing with value='random'")
        else:
            value = _per_channel(self._value, c, x.dtype, "RandomErasing", "value")
        if self.inplace:
            _writable(x, "RandomErasing")
        k = self._ATTEMPTS
        rng = _random.rng(self.generator)
        apply = rng.random(n) < self.p
        area = height * width * rng.uniform(*self.scale, size=(n, k))
        aspect = np.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1]), size=(n, k)))
        hs = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        ws = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (hs < height) & (ws < width)
        # hs/ws of 0 fit but erase nothing, as in torchvision
        first = fits.argmax(axis=1)
        apply &= fits.any(axis=1)
        rows = np.arange(n)
        h, w = np.where(apply, hs[rows, first], 0), np.where(apply, ws[rows, first], 0)
        top = rng.integers(0, height - h + 1)
        left = rng.integers(0, width - w + 1)

        r, q = np.arange(height), np.arange(width)
        in_rows = (r >= top[:, None]) & (r < (top + h)[:, None])  # (N, H)
        in_cols = (q >= left[:, None]) & (q < (left + w)[:, None])  # (N, W)
        mask = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # (N, 1, H, W), same for every channel
        out = x if self.inplace else x.copy()
        if self._value is None:
            full = np.broadcast_to(mask, out.shape)
            noise = rng.standard_normal(int(np.count_nonzero(full)), dtype=np.float32)
            out[full] = noise.astype(out.dtype)
        else:
            np.copyto(out, value, where=mask)
        return out

    def _args(self) -> str:
        return (
            f"p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value!r}, "
            f"inplace={self.inplace}"
        )
