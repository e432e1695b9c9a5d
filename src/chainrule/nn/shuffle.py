"""Rearranging layers: PixelShuffle, PixelUnshuffle, Fold and Unfold.

Thin modules over :mod:`chainrule.ops.pixel_shuffle` and :mod:`chainrule.ops.unfold`.
"""

from __future__ import annotations

from typing import Any

from chainrule.nn.module import Module
from chainrule.ops.pixel_shuffle import pixel_shuffle, pixel_unshuffle
from chainrule.ops.unfold import fold, unfold
from chainrule.tensor import Tensor

__all__ = ["Fold", "PixelShuffle", "PixelUnshuffle", "Unfold"]


class PixelShuffle(Module):
    """(*, C*r*r, H, W) to (*, C, H*r, W*r): the sub-pixel upsampling of ESPCN."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H*r, W*r) to (*, C*r*r, H, W): the inverse of PixelShuffle."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class Unfold(Module):
    """Sliding blocks of (N, C, H, W) as columns (N, C*kh*kw, L): im2col as a layer."""

    def __init__(self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> None:
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        k, d, p, s = self.kernel_size, self.dilation, self.padding, self.stride
        return f"kernel_size={k}, dilation={d}, padding={p}, stride={s}"


class Fold(Module):
    """Columns (N, C*kh*kw, L) summed back into (N, C, *output_size): col2im as a layer."""

    def __init__(
        self, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
    ) -> None:
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )
