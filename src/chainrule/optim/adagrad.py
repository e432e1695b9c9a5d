"""Adagrad: each coordinate's step shrinks with the sum of its squared gradients so far.

``s += g^2`` and ``p -= clr g / (sqrt(s) + eps)`` with
``clr = lr / (1 + (step - 1) lr_decay)`` (Duchi, Hazan & Singer, 2011): rarely
updated coordinates keep large steps, frequent ones slow down. The arithmetic
follows PyTorch's single-tensor implementation.

:func:`adagrad_update` is the rule as PyTorch's documentation writes it, for
one parameter; :class:`Adagrad` computes the same arithmetic for many
parameters at once in shared flat buffers (the fast path).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from chainrule import devices
from chainrule.optim.optimizer import Chunk, Optimizer, ParamsT, refuse_differentiable
from chainrule.optim.per_param import decayed_grad
from chainrule.tensor import Tensor

__all__ = ["Adagrad", "adagrad_update"]


def adagrad_update(
    param: np.ndarray,
    grad: np.ndarray,
    state_sum: np.ndarray,
    step: int | float,
    *,
    lr: float,
    lr_decay: float = 0,
    weight_decay: float = 0,
    eps: float = 1e-10,
    maximize: bool = False,
) -> None:
    """One Adagrad step for one parameter, in place on ``param`` and ``state_sum``.

    ``step`` is the count including this step (1 on the first)::

        g = -grad if maximize else grad
        g = g + weight_decay * param
        clr = lr / (1 + (step - 1) lr_decay)
        s = s + g^2
        param -= clr g / (sqrt(s) + eps)
    """
    g = decayed_grad(param, grad, lr=lr, weight_decay=weight_decay, maximize=maximize)
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    param -= g / (devices.array_module(state_sum).sqrt(state_sum) + eps) * clr


class _AdagradScalars(NamedTuple):
    """The scalars of one chunk's Adagrad step, as 0-d arrays in the parameters' dtype."""

    eps: np.ndarray
    neg_clr: np.ndarray  # -lr / (1 + (step - 1) lr_decay)


class Adagrad(Optimizer):
    """Adagrad; state per parameter (created at construction, as in PyTorch): ``step`` and ``sum``."""

    _param_state_keys = frozenset(["sum"])
    Scalars = _AdagradScalars

    _chunks_in_parallel = True  # each chunk's update is its own

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        refuse_differentiable("Adagrad", differentiable)  # fused: PyTorch's, the same update here
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
        }
        self._check_group(dict(defaults))
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = Tensor._make(np.zeros((), np.float32), None)
                state["sum"] = Tensor._make(
                    devices.array_module(p._array).full(
                        p._array.shape, group["initial_accumulator_value"], p._array.dtype
                    ), None
                )

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        self._check_nonnegative(group, "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _state_spec(self, group: dict[str, Any]) -> tuple:
        return (("sum", group["initial_accumulator_value"]),)

    def _update(self, group: dict[str, Any], chunks: list[Chunk], grads: list) -> None:
        lr = group["lr"]
        lr_decay = group["lr_decay"]
        weight_decay = group["weight_decay"]
        maximize = group["maximize"]
        for ch in chunks:
            xp = ch.xp  # NumPy, or CuPy for parameters on a GPU
            add, mul, div, sqrt = xp.add, xp.multiply, xp.divide, xp.sqrt
            step = ch.advance()
            s = ch.scalars
            s.eps[()] = group["eps"]
            s.neg_clr[()] = -(lr / (1 + (step - 1) * lr_decay))
            g = ch.grad(grads, maximize)
            if weight_decay != 0:
                g = ch.add_weight_decay(g, weight_decay)
            t = ch.tmp
            state_sum = ch.bufs[0]
            # s += g^2;  p -= clr g / (sqrt(s) + eps)
            mul(g, g, t)
            add(state_sum, t, state_sum)
            sqrt(state_sum, t)
            add(t, s.eps, t)
            div(g, t, t)
            mul(t, s.neg_clr, t)
            ch.apply(t)
