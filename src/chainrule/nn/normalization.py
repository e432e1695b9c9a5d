"""Normalisation layers: ``BatchNorm1d``, ``BatchNorm2d``, ``GroupNorm``, ``LayerNorm`` and ``RMSNorm``.

Batch norm standardises each channel with the statistics of the current batch
while training and keeps running estimates of them (buffers ``running_mean``,
``running_var``, ``num_batches_tracked``) for evaluation, when a sample's
output must not depend on the rest of its batch: call ``model.eval()`` before
evaluating. Group norm and layer norm use per-sample statistics, so they
behave the same in both modes. Arguments, defaults, buffers, state-dict keys
and reprs are PyTorch's, so a ``torch.nn.BatchNorm2d`` state dict loads as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.norm import batch_norm, check_batch_statistics, group_norm, layer_norm, rms_norm
from chainrule.tensor import Tensor
from chainrule.validation import factory_dtype, positive_int

__all__ = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "LayerNorm", "RMSNorm"]


def _register_affine(module: Module, shape: Any, dt: np.dtype, affine: bool, bias: bool) -> None:
    """The learnable scale ``weight`` and shift ``bias`` of a normalisation layer (or None where absent)."""
    module.register_parameter("weight", Parameter(np.empty(shape, dtype=dt)) if affine else None)
    module.register_parameter("bias", Parameter(np.empty(shape, dtype=dt)) if affine and bias else None)


def _reset_affine(module: Module) -> None:
    """Weight 1 and bias 0: the identity affine map, PyTorch's start."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d, which differ only in the input ranks they accept."""

    _ranks: tuple[int, ...] = ()
    _expected = ""
    # files from PyTorch < 0.4.1 lack the counter: they load, the counter kept, as in PyTorch
    _optional_state: ClassVar[tuple[str, ...]] = ("num_batches_tracked",)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        layer = type(self).__name__
        dt = factory_dtype(device, dtype, layer)
        self.num_features = positive_int(num_features, "num_features", layer)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _register_affine(self, num_features, dt, affine, bias)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dt)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dt)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def reset_running_stats(self) -> None:
        """Forget the running estimates: mean 0, variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean._array[...] = 0
            self.running_var._array[...] = 1
            self.num_batches_tracked._array[...] = 0

    def reset_parameters(self) -> None:
        """Running statistics reset; weight 1 and bias 0 (the identity affine map), as PyTorch does."""
        self.reset_running_stats()
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        shape = getattr(input, "shape", None)
        if shape is None:
            raise TypeError(f"expected a Tensor, got {type(input).__name__}")
        if len(shape) not in self._ranks:
            raise ValueError(f"expected {self._expected} input, got shape {shape} ({len(shape)}D)")
        if shape[1] != self.num_features:
            raise ValueError(
                f"expected {self.num_features} channels (num_features) in dim 1, got input of shape {shape}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training:
            check_batch_statistics(input, "batch_norm")
            if self.track_running_stats and self.num_batches_tracked is not None:
                self.num_batches_tracked._array += 1
                if self.momentum is None:  # cumulative moving average: the mean over all batches so far
                    # (the op takes the factor as a Python float: a host read of the counter, on a device
                    # one sync per training step, only with momentum=None)
                    factor = 1.0 / float(self.num_batches_tracked._array)
        # Batch statistics while training, and in eval when no running statistics are kept.
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        return batch_norm(
            input, self.running_mean if keep else None, self.running_var if keep else None,
            self.weight, self.bias, use_batch, factor, self.eps,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) features or (N, C, L) sequences, per channel C.

    Training: ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the
    batch's mean and (biased) variance, and the running estimates move by
    ``momentum`` towards them (the variance unbiased; ``momentum=None`` keeps a
    cumulative average). Evaluation: the running estimates are used instead.
    """

    _ranks = (2, 3)
    _expected = "a 2D (N, C) or 3D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) images, per channel: statistics over N, H and W.

    See :class:`BatchNorm1d` for training versus evaluation behaviour.
    """

    _ranks = (4,)
    _expected = "a 4D (N, C, H, W)"


class GroupNorm(Module):
    """Normalise each of ``num_groups`` groups of channels within each sample, then scale per channel.

    Independent of the batch (same in training and evaluation), so it works
    with batches of one; ``GroupNorm(1, C)`` normalises all channels together,
    ``GroupNorm(C, C)`` each channel alone (instance norm).
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        dt = factory_dtype(device, dtype, "GroupNorm")
        num_groups = positive_int(num_groups, "num_groups", "GroupNorm")
        num_channels = positive_int(num_channels, "num_channels", "GroupNorm")
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        _register_affine(self, num_channels, dt, affine, bias)
        self.reset_parameters()
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dims of each sample, then an elementwise affine map.

    The Transformer's normalisation: every token is standardised over its own
    features; ``weight`` and ``bias`` have shape ``normalized_shape``.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        dt = factory_dtype(device, dtype, "LayerNorm")
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if not self.normalized_shape or min(self.normalized_shape) < 0:
            raise ValueError(f"LayerNorm: normalized_shape must be non-empty sizes, got {normalized_shape!r}")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _register_affine(self, self.normalized_shape, dt, elementwise_affine, bias)
        self.reset_parameters()
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """Divide each sample by its root mean square over the trailing ``normalized_shape`` dims, then scale.

    Layer norm without the centring and the bias (Zhang & Sennrich, 2019):
    ``y = x / sqrt(mean(x^2) + eps) * weight``. ``eps=None`` takes the machine
    epsilon of the input's dtype, as PyTorch does.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        dt = factory_dtype(device, dtype, "RMSNorm")
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if not self.normalized_shape or min(self.normalized_shape) < 0:
            raise ValueError(f"RMSNorm: normalized_shape must be non-empty sizes, got {normalized_shape!r}")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _register_affine(self, self.normalized_shape, dt, elementwise_affine, bias=False)
        self.reset_parameters()
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
