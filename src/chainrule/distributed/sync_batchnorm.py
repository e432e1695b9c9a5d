"""SyncBatchNorm: batch statistics pooled over every rank's batch, so two ranks of 32 act as one batch of 64.

Training: the per-channel sum (and the sample count) are summed over the
ranks, then the sum of squared deviations from that global mean, each with one
all-reduce. Both sums are autograd nodes (``ops.collective``) whose backward
sums the incoming gradients over the ranks, so the gradient that reaches each
rank's inputs is the gradient of the one big batch. Evaluation uses the
running statistics, which are then the same on every rank without any
communication. In a world of one process it is exactly BatchNorm.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd import no_grad
from chainrule.distributed import process_group as pg
from chainrule.nn.module import Module
from chainrule.nn.normalization import BatchNorm1d, BatchNorm2d
from chainrule.ops.collective import all_reduce_sum
from chainrule.ops.shape import cat
from chainrule.tensor import Tensor

__all__ = ["SyncBatchNorm"]


def _sum_over_ranks(array: np.ndarray) -> np.ndarray:
    return pg.all_reduce_array(array, pg.ReduceOp.SUM)


class SyncBatchNorm(BatchNorm1d):
    """Batch normalisation over the union of all ranks' batches (``torch.nn.SyncBatchNorm``).

    Accepts any input of rank 2 or more, ``(N, C, ...)``; parameters,
    buffers and state_dict keys are BatchNorm's. ``convert_sync_batchnorm``
    swaps it in for every BatchNorm of a model. ``process_group`` is accepted
    for PyTorch's signature; the statistics always pool the whole world.
    """

    _ranks = (2, 3, 4, 5)
    _expected = "a (N, C, ...)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        if not use_batch or not pg.is_initialized():
            return super().forward(input)
        shape = getattr(input, "shape", None)
        if shape is None or len(shape) < 2 or shape[1] != self.num_features:
            raise ValueError(
                f"SyncBatchNorm: expected an (N, {self.num_features}, ...) input, got "
                f"{'a ' + type(input).__name__ if shape is None else f'shape {shape}'}"
            )
        c = shape[1]
        dims = (0, *range(2, len(shape)))
        view = (1, c) + (1,) * (len(shape) - 2)
        local = shape[0] * math.prod(shape[2:])
        # one all-reduce for the channel sums and the sample count
        count = Tensor(np.array([local], dtype=input._array.dtype))
        pooled = all_reduce_sum(cat([input.sum(dim=dims), count]), _sum_over_ranks)
        total = float(pooled._array[c])
        if total <= 1:
            raise ValueError(
                f"SyncBatchNorm: Expected more than 1 value per channel when training, got {total:g}"
            )
        mean = pooled[:c] / total
        centred = input - mean.reshape(view)
        var = all_reduce_sum((centred * centred).sum(dim=dims), _sum_over_ranks) / total  # biased
        out = centred / (var + self.eps).sqrt().reshape(view)
        if self.weight is not None:
            out = out * self.weight.reshape(view)
        if self.bias is not None:
            out = out + self.bias.reshape(view)
        if self.training and self.track_running_stats and self.running_mean is not None:
            with no_grad():
                self.num_batches_tracked._array += 1
                tracked = float(self.num_batches_tracked._array)
                m = self.momentum if self.momentum is not None else 1.0 / tracked
                self.running_mean._array[...] = (1 - m) * self.running_mean._array + m * mean._array
                unbiased = var._array * (total / (total - 1))
                self.running_var._array[...] = (1 - m) * self.running_var._array + m * unbiased
        return out

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with each BatchNorm1d/2d replaced by a SyncBatchNorm sharing its tensors."""
        if isinstance(module, BatchNorm1d | BatchNorm2d) and not isinstance(module, SyncBatchNorm):
            sync = cls(
                module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                process_group,
            )  # fmt: skip
            for name in ("weight", "bias"):
                setattr(sync, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(sync, name, getattr(module, name))
            sync.train(module.training)
            return sync
        for name, child in list(module.named_children()):
            converted = cls.convert_sync_batchnorm(child, process_group)
            if converted is not child:
                setattr(module, name, converted)
        return module
