"""ASGD (Polyak & Juditsky, 1992): SGD with a decaying step and a running average of the iterates.

:func:`asgd_update` is the rule for one parameter, as PyTorch's single-tensor
implementation computes it; :class:`ASGD` applies it to each. The averaged
parameters are ``optimizer.state[p]["ax"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.optim.optimizer import ParamsT
from chainrule.optim.per_param import PerParameterOptimizer, decayed_grad, options, scalar, zeros_like
from chainrule.tensor import Tensor

__all__ = ["ASGD", "asgd_update"]


def asgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    ax: np.ndarray,
    eta: np.ndarray,
    mu: np.ndarray,
    *,
    step: float,
    lr: float,
    lambd: float,
    alpha: float,
    t0: float,
    weight_decay: float = 0,
    maximize: bool = False,
) -> None:
    """One ASGD step (``step`` counts this one), in place (``eta`` and ``mu`` are 0-d float32)::

    param *= 1 - lambd eta;  param -= eta g
    ax = param if mu == 1 else ax + mu (param - ax)
    eta = lr / (1 + lambd lr t)^alpha;  mu = 1 / max(1, t - t0)
    """
    g = decayed_grad(param, grad, lr=lr, weight_decay=weight_decay, maximize=maximize)
    eta_value = float(eta)
    param *= param.dtype.type(1 - lambd * eta_value)
    param -= g * param.dtype.type(eta_value)
    if float(mu) != 1:
        ax += (param - ax) * ax.dtype.type(float(mu))
    else:
        ax[...] = param
    # rounded to float32 even where eta and mu are float64 (a float64 parameter's loaded state),
    # as PyTorch's torch.as_tensor(python float) rounds them
    eta[...] = np.float32(lr / ((1 + lambd * lr * step) ** alpha))
    mu[...] = np.float32(1 / max(1, step - t0))


class ASGD(PerParameterOptimizer):
    """ASGD; state per parameter: ``step``, ``eta``, ``mu``, ``ax``."""

    _param_state_keys = frozenset(["ax"])

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        self._check_nonnegative(group, "weight_decay")

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Tensor]:
        return {"eta": scalar(group["lr"]), "mu": scalar(1.0), "ax": zeros_like(p)}

    def _step_one(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict) -> None:
        asgd_update(
            param,
            grad,
            state["ax"]._array,
            state["eta"]._array,
            state["mu"]._array,
            step=float(state["step"]._array),
            **options(group, "lr", "lambd", "alpha", "t0", "weight_decay", "maximize"),
        )
