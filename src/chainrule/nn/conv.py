"""Convolution layers: small learned filters slid over a signal or an image, as in ``torch.nn``.

A convolution shares one small set of weights across every position, so a
layer that finds an edge finds it anywhere in the image, with far fewer
parameters than a fully connected layer. ``Conv2d.weight`` is
(out_channels, in_channels/groups, kh, kw) and ``ConvTranspose2d.weight`` is
(in_channels, out_channels/groups, kh, kw), as in PyTorch, with PyTorch's
default initialisation; the arithmetic lives in :mod:`chainrule.ops.conv`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d, pad_nd
from chainrule.ops.volumetric import conv3d, conv_transpose3d
from chainrule.tensor import Tensor
from chainrule.validation import factory_device, is_int, positive_int

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value: Any, n: int, name: str, layer: str, minimum: int) -> tuple[int, ...]:
    """An int or n ints (PyTorch's ``_pair``), each at least ``minimum``."""
    if is_int(value):
        t = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n:
        t = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{layer}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in t):
        raise ValueError(f"{layer}: {name} must be at least {minimum}, got {value!r}")
    return t


class _ConvNd(Module):
    """What every convolution layer shares: its settings, weight, bias, init and repr."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        transposed: bool,
        output_padding: Any,
        groups: int,
        bias: bool,
        padding_mode: str,
        device: Any,
        dtype: Any,
        ndim: int,
    ) -> None:
        super().__init__()
        layer = type(self).__name__
        in_channels = positive_int(in_channels, "in_channels", layer)
        out_channels = positive_int(out_channels, "out_channels", layer)
        groups = positive_int(groups, "groups", layer)
        if in_channels % groups:
            raise ValueError(f"{layer}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"{layer}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        kernel_size = _ntuple(kernel_size, ndim, "kernel_size", layer, 1)
        stride = _ntuple(stride, ndim, "stride", layer, 1)
        dilation = _ntuple(dilation, ndim, "dilation", layer, 1)
        output_padding = _ntuple(output_padding, ndim, "output_padding", layer, 0)
        if isinstance(padding, str):
            if transposed or padding not in ("same", "valid"):
                allowed = "an int or a tuple of ints" if transposed else "an int, a tuple, 'same' or 'valid'"
                raise ValueError(f"{layer}: padding must be {allowed}, got {padding!r}")
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError(
                    f"{layer}: padding='same' is not supported for strided convolutions (stride={stride})"
                )
        else:
            padding = _ntuple(padding, ndim, "padding", layer, 0)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{layer}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        if transposed and padding_mode != "zeros":
            raise ValueError(f'{layer}: only "zeros" padding mode is supported, got {padding_mode!r}')
        factory_device(device, layer)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.transposed, self.output_padding, self.groups = transposed, output_padding, groups
        self.padding_mode = padding_mode
        # F.pad order (last dim first, (before, after) each), for the non-zero padding modes
        if isinstance(padding, str):
            pairs = [(0, 0)] * ndim
            if padding == "same":
                pairs = [
                    (d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for d, k in zip(dilation, kernel_size)
                ]
        else:
            pairs = [(p, p) for p in padding]
        self._reversed_padding_repeated_twice = [a for pair in reversed(pairs) for a in pair]
        dt = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
        if transposed:
            shape = (in_channels, out_channels // groups, *kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *kernel_size)
        self.weight = Parameter(np.empty(shape, dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def reset_parameters(self) -> None:
        """PyTorch's default: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming, a=sqrt(5))."""
        init.fan_in_uniform_(self.weight, self.bias)

    def _check_input(self, x: Any, ndim: int) -> None:
        if (
            not isinstance(x, Tensor)
            or x.ndim not in (ndim + 1, ndim + 2)
            or x.shape[-ndim - 1] != self.in_channels
        ):
            spatial = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}[ndim]
            batched = ", ".join(("N", str(self.in_channels), *spatial))
            single = ", ".join((str(self.in_channels), *spatial))
            got = f"input of shape {x.shape}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"expected input of shape ({batched}) or ({single}) for in_channels={self.in_channels}, "
                f"got {got}"
            )

    def _convolve(self, input: Tensor, conv: Any) -> Tensor:  # noqa: A002
        """``conv`` (conv1d, conv2d or conv3d) with this layer's settings; other padding modes pad first."""
        self._check_input(input, len(self.kernel_size))
        if self.padding_mode != "zeros":
            x = pad_nd(input, self._reversed_padding_repeated_twice, self.padding_mode)
            return conv(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        padding = self.padding
        if padding != (0,) * len(padding):
            s += f", padding={padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _ConvForwardNd(_ConvNd):
    """What Conv1d, Conv2d and Conv3d share: PyTorch's constructor and the forward, for ``_ndim`` dims."""

    _ndim: int = 0
    _conv: Any = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups, bias,
            padding_mode, device, dtype, ndim=self._ndim,
        )  # fmt: skip

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return self._convolve(input, type(self)._conv)


class Conv1d(_ConvForwardNd):
    """1-D convolution over (N, C_in, L) or (C_in, L): each output channel slides its filters along L.

    ``padding`` may be an int, ``"same"`` or ``"valid"``; ``padding_mode`` is
    'zeros', 'reflect', 'replicate' or 'circular'. ``weight`` is
    (out_channels, in_channels/groups, kernel_size).
    """

    _ndim = 1
    _conv = staticmethod(conv1d)


class Conv2d(_ConvForwardNd):
    """2-D convolution over (N, C_in, H, W) or (C_in, H, W): learned kh x kw filters slid over the image.

    ``padding`` may be an int, a pair, ``"same"`` (output as large as the
    input; stride 1 only) or ``"valid"`` (none); ``groups`` splits channels
    into independent blocks (``groups == in_channels`` is depthwise);
    ``padding_mode`` is 'zeros', 'reflect', 'replicate' or 'circular'.
    ``weight`` is (out_channels, in_channels/groups, kh, kw), ``bias``
    (out_channels,).
    """

    _ndim = 2
    _conv = staticmethod(conv2d)


class _ConvTransposeNd(_ConvNd):
    """What the transposed layers share: PyTorch's constructor, output_size -> output_padding, the forward."""

    _ndim: int = 0
    _conv: Any = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] = 0,
        output_padding: int | tuple[int, ...] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, ...] = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding, groups,
            bias, padding_mode, device, dtype, ndim=self._ndim,
        )  # fmt: skip

    def _output_padding(self, x: Tensor, output_size: Any) -> tuple[int, ...]:
        """The output_padding that gives ``output_size`` (its last n entries), within the valid range."""
        if output_size is None:
            return self.output_padding
        n = len(self.kernel_size)
        size = [int(s) for s in output_size]
        if len(size) == x.ndim:
            size = size[-n:]
        if len(size) != n:
            raise ValueError(
                f"{type(self).__name__}: output_size must have {n} or {x.ndim} elements for a {x.ndim}-D "
                f"input, got {tuple(output_size)}"
            )
        lows = [
            (m - 1) * s - 2 * p + d * (k - 1) + 1
            for m, s, p, d, k in zip(x.shape[-n:], self.stride, self.padding, self.dilation, self.kernel_size)
        ]
        highs = [lo + s - 1 for lo, s in zip(lows, self.stride)]
        if any(not lo <= s <= hi for s, lo, hi in zip(size, lows, highs)):
            raise ValueError(
                f"{type(self).__name__}: requested an output size of {tuple(size)}, but valid sizes range "
                f"from {tuple(lows)} to {tuple(highs)} (for an input of {x.shape[-n:]})"
            )
        return tuple(s - lo for s, lo in zip(size, lows))

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:  # noqa: A002
        self._check_input(input, len(self.kernel_size))
        output_padding = self._output_padding(input, output_size)
        return type(self)._conv(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
        )


class ConvTranspose2d(_ConvTransposeNd):
    """Transposed 2-D convolution: the adjoint of Conv2d, which upsamples (N, C_in, H, W) by ``stride``.

    Each input pixel stamps its filter, scaled, onto the output. The output is
    ``(H - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1`` high
    (likewise wide); ``forward(x, output_size)`` picks ``output_padding`` to hit
    a requested size. ``weight`` is (in_channels, out_channels/groups, kh, kw).
    """

    _ndim = 2
    _conv = staticmethod(conv_transpose2d)


class ConvTranspose1d(_ConvTransposeNd):
    """Transposed 1-D convolution over (N, C_in, L) or (C_in, L): the adjoint of Conv1d.

    The output is ``(L - 1)*stride - 2*padding + dilation*(k - 1) +
    output_padding + 1`` long. ``weight`` is (in_channels, out_channels/groups, k).
    """

    _ndim = 1
    _conv = staticmethod(conv_transpose1d)


class ConvTranspose3d(_ConvTransposeNd):
    """Transposed 3-D convolution over (N, C_in, D, H, W) or (C_in, D, H, W): the adjoint of Conv3d.

    Each output side is ``(n - 1)*stride - 2*padding + dilation*(k - 1) +
    output_padding + 1``. ``weight`` is (in_channels, out_channels/groups, kd, kh, kw).
    """

    _ndim = 3
    _conv = staticmethod(conv_transpose3d)


class Conv3d(_ConvForwardNd):
    """3-D convolution over (N, C_in, D, H, W) or (C_in, D, H, W): kd x kh x kw filters slid over a volume.

    Same options as Conv2d, one per dim of three. ``weight`` is
    (out_channels, in_channels/groups, kd, kh, kw), ``bias`` (out_channels,).
    """

    _ndim = 3
    _conv = staticmethod(conv3d)
