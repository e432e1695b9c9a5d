"""Adamax (Kingma & Ba, 2015, section 7.1): Adam with the infinity norm in place of the second moment.

:func:`adamax_update` is the rule for one parameter, as PyTorch's
single-tensor implementation computes it; :class:`Adamax` applies it to each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import devices
from chainrule.optim.optimizer import ParamsT
from chainrule.optim.per_param import PerParameterOptimizer, decayed_grad, lerp_, options, zeros_like
from chainrule.tensor import Tensor

__all__ = ["Adamax", "adamax_update"]


def adamax_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_inf: np.ndarray,
    *,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float = 0,
    maximize: bool = False,
) -> None:
    """One Adamax step (``step`` counts this one), in place on ``param``, ``exp_avg``, ``exp_inf``::

    g = -grad if maximize else grad;  g = g + weight_decay * param
    m = lerp(m, g, 1 - beta1)
    u = max(beta2 u, |g| + eps)
    param -= lr / (1 - beta1^step) * m / u
    """
    g = decayed_grad(param, grad, lr=lr, weight_decay=weight_decay, maximize=maximize)
    lerp_(exp_avg, g, 1 - beta1)
    exp_inf *= beta2
    xp = devices.array_module(exp_inf)
    xp.maximum(exp_inf, xp.abs(g) + param.dtype.type(eps), out=exp_inf)
    clr = lr / (1 - beta1**step)
    param += exp_avg / exp_inf * param.dtype.type(-clr)


class Adamax(PerParameterOptimizer):
    """Adamax; state per parameter: ``step``, ``exp_avg``, ``exp_inf``."""

    _param_state_keys = frozenset(["exp_avg", "exp_inf"])

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        self._check_nonnegative(group, "eps", "weight_decay")
        self._check_betas(group)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Tensor]:
        return {"exp_avg": zeros_like(p), "exp_inf": zeros_like(p)}

    def _step_one(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict) -> None:
        beta1, beta2 = group["betas"]
        adamax_update(
            param,
            grad,
            state["exp_avg"]._array,
            state["exp_inf"]._array,
            step=float(state["step"]._array),
            beta1=beta1,
            beta2=beta2,
            **options(group, "lr", "eps", "weight_decay", "maximize"),
        )
