"""NAdam (Dozat, 2016): Adam with Nesterov momentum and a decaying momentum schedule.

:func:`nadam_update` is the rule for one parameter, as PyTorch's single-tensor
implementation computes it; :class:`NAdam` applies it to each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import devices
from chainrule.optim.optimizer import ParamsT
from chainrule.optim.per_param import PerParameterOptimizer, decayed_grad, lerp_, options, scalar, zeros_like
from chainrule.tensor import Tensor

__all__ = ["NAdam", "nadam_update"]


def nadam_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    mu_product: np.ndarray,
    *,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float = 0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
) -> None:
    """One NAdam step (``step`` counts this one), in place on the arrays (``mu_product`` is 0-d)::

    mu_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay)), mu_{t+1} likewise
    prod *= mu_t
    m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
    denom = sqrt(v / (1 - beta2^t)) + eps
    param -= lr (1 - mu_t) / (1 - prod) * g / denom
    param -= lr mu_{t+1} / (1 - prod mu_{t+1}) * m / denom
    """
    g = decayed_grad(
        param, grad, lr=lr, weight_decay=weight_decay, maximize=maximize, decoupled=decoupled_weight_decay
    )
    bias_correction2 = 1 - beta2**step
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    mu_product *= mu_product.dtype.type(mu)  # kept in float32, as PyTorch keeps it
    lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += g * g * (1 - beta2)
    denom = devices.array_module(exp_avg_sq).sqrt(exp_avg_sq / param.dtype.type(bias_correction2))
    product = float(mu_product)
    product_next = product * mu_next
    denom += param.dtype.type(eps)
    param += g / denom * param.dtype.type(-lr * (1.0 - mu) / (1.0 - product))
    param += exp_avg / denom * param.dtype.type(-lr * mu_next / (1.0 - product_next))


class NAdam(PerParameterOptimizer):
    """NAdam; state per parameter: ``step``, ``mu_product``, ``exp_avg``, ``exp_avg_sq``."""

    _param_state_keys = frozenset(["exp_avg", "exp_avg_sq"])

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
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
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        self._check_nonnegative(group, "eps", "weight_decay", "momentum_decay")
        self._check_betas(group)

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Tensor]:
        return {"mu_product": scalar(1.0), "exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}

    def _step_one(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict) -> None:
        beta1, beta2 = group["betas"]
        nadam_update(
            param,
            grad,
            state["exp_avg"]._array,
            state["exp_avg_sq"]._array,
            state["mu_product"]._array,
            step=float(state["step"]._array),
            beta1=beta1,
            beta2=beta2,
            **options(
                group, "lr", "eps", "weight_decay", "momentum_decay", "decoupled_weight_decay", "maximize"
            ),
        )
