"""Adadelta (Zeiler, 2012): steps scaled by the ratio of running RMS of updates and of gradients.

:func:`adadelta_update` is the rule for one parameter, as PyTorch's
single-tensor implementation computes it; :class:`Adadelta` applies it to each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import devices
from chainrule.optim.optimizer import ParamsT
from chainrule.optim.per_param import PerParameterOptimizer, decayed_grad, options, zeros_like
from chainrule.tensor import Tensor

__all__ = ["Adadelta", "adadelta_update"]


def adadelta_update(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    acc_delta: np.ndarray,
    *,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float = 0,
    maximize: bool = False,
) -> None:
    """One Adadelta step, in place on ``param``, ``square_avg`` and ``acc_delta``::

    g = -grad if maximize else grad;  g = g + weight_decay * param
    v = rho v + (1 - rho) g^2
    delta = sqrt(u + eps) / sqrt(v + eps) * g
    u = rho u + (1 - rho) delta^2
    param -= lr delta
    """
    g = decayed_grad(param, grad, lr=lr, weight_decay=weight_decay, maximize=maximize)
    square_avg *= rho
    square_avg += g * g * (1 - rho)
    xp = devices.array_module(square_avg)
    std = xp.sqrt(square_avg + eps)
    delta = xp.sqrt(acc_delta + eps)
    delta /= std
    delta *= g
    acc_delta *= rho
    acc_delta += delta * delta * (1 - rho)
    param -= delta * param.dtype.type(lr)


class Adadelta(PerParameterOptimizer):
    """Adadelta; state per parameter: ``step``, ``square_avg``, ``acc_delta``."""

    _param_state_keys = frozenset(["square_avg", "acc_delta"])

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        self._check_nonnegative(group, "eps", "weight_decay")
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Adadelta: invalid rho value {group['rho']!r}, expected 0 <= rho <= 1")

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Tensor]:
        return {"square_avg": zeros_like(p), "acc_delta": zeros_like(p)}

    def _step_one(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict) -> None:
        adadelta_update(
            param,
            grad,
            state["square_avg"]._array,
            state["acc_delta"]._array,
            **options(group, "lr", "rho", "eps", "weight_decay", "maximize"),
        )
