"""RAdam (Liu et al., 2019): Adam whose adaptive step is switched on once its variance is tractable.

:func:`radam_update` is the rule for one parameter, as PyTorch's single-tensor
implementation computes it; :class:`RAdam` applies it to each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import devices
from chainrule.optim.optimizer import ParamsT
from chainrule.optim.per_param import PerParameterOptimizer, decayed_grad, lerp_, options, zeros_like
from chainrule.tensor import Tensor

__all__ = ["RAdam", "radam_update"]


def radam_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    *,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float = 0,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
) -> None:
    """One RAdam step (``step`` counts this one), in place on the arrays::

    m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
    rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    m_hat = m / (1 - beta1^t)
    rho_t > 5:  param -= lr m_hat * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r_t,
                r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
    otherwise:  param -= lr m_hat
    """
    g = decayed_grad(
        param, grad, lr=lr, weight_decay=weight_decay, maximize=maximize, decoupled=decoupled_weight_decay
    )
    lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += g * g * (1 - beta2)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    corrected = exp_avg / param.dtype.type(bias_correction1)
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
    if rho_t > 5.0:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        root = devices.array_module(exp_avg_sq).sqrt(exp_avg_sq)
        adaptive = param.dtype.type(bias_correction2**0.5) / (root + param.dtype.type(eps))
        param -= corrected * param.dtype.type(lr) * adaptive * param.dtype.type(rect)
    else:
        param -= corrected * param.dtype.type(lr)


class RAdam(PerParameterOptimizer):
    """RAdam; state per parameter: ``step``, ``exp_avg``, ``exp_avg_sq``."""

    _param_state_keys = frozenset(["exp_avg", "exp_avg_sq"])

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        self._check_nonnegative(group, "eps", "weight_decay")
        self._check_betas(group)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Tensor]:
        return {"exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}

    def _step_one(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict) -> None:
        beta1, beta2 = group["betas"]
        radam_update(
            param,
            grad,
            state["exp_avg"]._array,
            state["exp_avg_sq"]._array,
            step=float(state["step"]._array),
            beta1=beta1,
            beta2=beta2,
            **options(group, "lr", "eps", "weight_decay", "decoupled_weight_decay", "maximize"),
        )
