"""Pooling, unpooling and upsampling layers: MaxPool1d/2d/3d, AvgPool1d/2d/3d, adaptive pools, Upsample.

Thin modules over :mod:`chainrule.ops.pool`, with PyTorch's arguments,
defaults and reprs. Pooling shrinks a feature map by summarising each window
(its maximum or its mean); ``Upsample`` grows one by copying pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.nn.module import Module
from chainrule.ops.index_pool import (
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
from chainrule.ops.interpolate import adaptive_avg_pool3d, interpolate
from chainrule.ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool1d, max_pool2d
from chainrule.ops.separable_pool import adaptive_avg_pool1d, avg_pool1d, avg_pool3d, max_pool3d
from chainrule.tensor import Tensor

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
    "Upsample",
]

_Size = int | Sequence[int]
_UPSAMPLE_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear")


class _WindowNd(Module):
    """What the windowed layers share: ``kernel_size``, ``stride`` (default ``kernel_size``), ``padding``."""

    def __init__(self, kernel_size: _Size, stride: _Size | None, padding: _Size) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptiveNd(Module):
    """What the adaptive pools share: ``output_size``, its repr, and ``_pool(input, output_size)``."""

    _pool: Any = None

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        return type(self)._pool(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _MaxPoolNd(_WindowNd):
    _pool = staticmethod(max_pool2d)

    def __init__(
        self,
        kernel_size: _Size,
        stride: _Size | None = None,
        padding: _Size = 0,
        dilation: _Size = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        return type(self)._pool(
            input, self.kernel_size, self.stride, self.padding, self.dilation,
            ceil_mode=self.ceil_mode, return_indices=self.return_indices,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dilation={self.dilation}, ceil_mode={self.ceil_mode}"


class MaxPool1d(_MaxPoolNd):
    """The maximum of each window of a (N, C, L) or (C, L) signal; padding counts as -inf.

    ``stride`` defaults to ``kernel_size``; ``return_indices=True`` also returns
    where each maximum came from (as ``torch.nn.MaxPool1d``).
    """

    _pool = staticmethod(max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """The maximum of each ``kernel_size`` window of a (N, C, H, W) or (C, H, W) image.

    ``stride`` defaults to ``kernel_size``; padding counts as -inf (it never
    wins); ``dilation`` spaces the window's taps; ``ceil_mode`` keeps a last
    partial window; ``return_indices=True`` also returns each maximum's index in
    the flattened (H, W) input.
    """

    _pool = staticmethod(max_pool2d)


class AvgPool2d(_WindowNd):
    """The mean of each ``kernel_size`` window of a (N, C, H, W) or (C, H, W) image.

    Zero padding counts in the mean while ``count_include_pad`` (the default);
    ``divisor_override`` divides every window's sum by a fixed number instead.
    """

    def __init__(
        self,
        kernel_size: _Size,
        stride: _Size | None = None,
        padding: _Size = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    _pool = staticmethod(avg_pool2d)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return type(self)._pool(
            input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, self.divisor_override,
        )  # fmt: skip


class AdaptiveAvgPool2d(_AdaptiveNd):
    """Average pooling to a fixed ``output_size`` (int, or (OH, OW) with None keeping that input dim).

    ``AdaptiveAvgPool2d(1)`` is global average pooling, the head of a ResNet.
    """

    _pool = staticmethod(adaptive_avg_pool2d)


class Upsample(Module):
    """Grow a (N, C, L), (N, C, H, W) or (N, C, D, H, W) input to ``size`` or by ``scale_factor``.

    ``mode`` is 'nearest' (copy the nearest pixel), 'nearest-exact', 'linear',
    'bilinear', 'bicubic' or 'trilinear' (interpolate; ``align_corners`` as in
    PyTorch), computed by :func:`chainrule.ops.interpolate.interpolate`.
    """

    def __init__(
        self,
        size: _Size | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor
        # refuse an unknown mode now rather than at the first forward
        if mode not in _UPSAMPLE_MODES:
            raise ValueError(f"Upsample: mode must be one of {_UPSAMPLE_MODES}, got {mode!r}")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return interpolate(
            input, self.size, self.scale_factor, self.mode, self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )  # fmt: skip

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            return f"scale_factor={self.scale_factor!r}, mode={self.mode!r}"
        return f"size={self.size!r}, mode={self.mode!r}"


class MaxPool3d(_MaxPoolNd):
    """The maximum of each box of a (N, C, D, H, W) or (C, D, H, W) volume; padding counts as -inf.

    ``return_indices=True`` also returns each maximum's index in the flattened (D, H, W) input.
    """

    _pool = staticmethod(max_pool3d)


class AvgPool1d(_WindowNd):
    """The mean of each window of a (N, C, L) or (C, L) signal (padding counts if ``count_include_pad``)."""

    def __init__(
        self,
        kernel_size: _Size,
        stride: _Size | None = None,
        padding: _Size = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        # PyTorch keeps these three as 1-tuples here (only here among the pools): same attributes and repr
        self.kernel_size, self.stride, self.padding = (
            tuple(v) if isinstance(v, (tuple, list)) else (v,)
            for v in (self.kernel_size, self.stride, self.padding)
        )
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return avg_pool1d(
            input, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad
        )


class AvgPool3d(AvgPool2d):
    """The mean of each box of a (N, C, D, H, W) or (C, D, H, W) volume; options as AvgPool2d."""

    _pool = staticmethod(avg_pool3d)


class AdaptiveAvgPool1d(_AdaptiveNd):
    """Average pooling of (N, C, L) or (C, L) to a fixed length ``output_size``."""

    _pool = staticmethod(adaptive_avg_pool1d)


class _AdaptiveMaxPoolNd(_AdaptiveNd):
    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:  # noqa: A002
        return type(self)._pool(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, L) or (C, L) to a fixed length; ``return_indices`` as MaxPool1d."""

    _pool = staticmethod(adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, H, W) or (C, H, W) to a fixed ``output_size`` (None keeps that dim)."""

    _pool = staticmethod(adaptive_max_pool2d)


class _MaxUnpoolNd(_WindowNd):
    _unpool: Any = None
    _dims = 2

    def __init__(self, kernel_size: _Size, stride: _Size | None = None, padding: _Size = 0) -> None:
        super().__init__(kernel_size, stride, padding)
        # PyTorch keeps all three as n-tuples here: the same attributes and repr
        n = self._dims
        self.kernel_size, self.stride, self.padding = (
            tuple(v) if isinstance(v, (tuple, list)) else (v,) * n
            for v in (self.kernel_size, self.stride, self.padding)
        )

    def forward(self, input: Tensor, indices: Tensor, output_size: Any = None) -> Tensor:  # noqa: A002
        return type(self)._unpool(input, indices, self.kernel_size, self.stride, self.padding, output_size)


class MaxUnpool1d(_MaxUnpoolNd):
    """The inverse of MaxPool1d(return_indices=True): maxima back in place, zeros elsewhere."""

    _unpool = staticmethod(max_unpool1d)
    _dims = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """The inverse of MaxPool2d(return_indices=True): maxima back in place, zeros elsewhere."""

    _unpool = staticmethod(max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    """The inverse of MaxPool3d(return_indices=True): maxima back in place, zeros elsewhere."""

    _unpool = staticmethod(max_unpool3d)
    _dims = 3


class AdaptiveAvgPool3d(AdaptiveAvgPool1d):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed ``output_size`` (None keeps that dim)."""

    _pool = staticmethod(adaptive_avg_pool3d)
