"""The Dropout layers: :mod:`chainrule.ops.dropout` while training, the identity after ``eval()``."""

from __future__ import annotations

from chainrule.nn.module import Module
from chainrule.ops.dropout import (
    alpha_dropout,
    check_probability,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
)
from chainrule.tensor import Tensor

__all__ = ["AlphaDropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "FeatureAlphaDropout", "dropout"]


class Dropout(Module):
    """Randomly zero elements with probability ``p`` while training (survivors scaled by 1/(1-p)).

    Active in ``train()`` mode (the default), the identity after ``eval()``.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        check_probability(p, "Dropout")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class _DropoutVariant(Module):
    fn = staticmethod(dropout)

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        check_probability(p, type(self).__name__)
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return self.fn(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout1d(_DropoutVariant):
    """Zero whole channels of a (N, C, L) or (C, L) input with probability ``p`` while training."""

    fn = staticmethod(dropout1d)


class Dropout2d(_DropoutVariant):
    """Zero whole channels of a (N, C, H, W) input with probability ``p`` while training."""

    fn = staticmethod(dropout2d)


class Dropout3d(_DropoutVariant):
    """Zero whole channels of a (N, C, D, H, W) or (C, D, H, W) input with probability ``p``."""

    fn = staticmethod(dropout3d)


class AlphaDropout(_DropoutVariant):
    """Dropout that keeps a SELU network's mean and variance (dropped units go to SELU's floor)."""

    fn = staticmethod(alpha_dropout)


class FeatureAlphaDropout(_DropoutVariant):
    """:class:`AlphaDropout` of whole channels."""

    fn = staticmethod(feature_alpha_dropout)
