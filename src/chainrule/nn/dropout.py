"""The Dropout layer: :func:`chainrule.ops.dropout.dropout` while training, the identity after ``eval()``."""

from __future__ import annotations

from chainrule.nn.module import Module
from chainrule.ops.dropout import check_probability, dropout
from chainrule.tensor import Tensor

__all__ = ["Dropout", "dropout"]


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
