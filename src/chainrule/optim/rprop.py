"""Rprop (Riedmiller & Braun, 1993): a per-coordinate step size grown or shrunk by the gradient's sign.

:func:`rprop_update` is the rule for one parameter, as PyTorch's single-tensor
implementation computes it; :class:`Rprop` applies it to each. Only the sign
of the gradient is used, so Rprop suits full-batch training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import devices
from chainrule.optim.optimizer import ParamsT
from chainrule.optim.per_param import PerParameterOptimizer, zeros_like
from chainrule.tensor import Tensor

__all__ = ["Rprop", "rprop_update"]


def rprop_update(
    param: np.ndarray,
    grad: np.ndarray,
    prev: np.ndarray,
    step_size: np.ndarray,
    *,
    etaminus: float,
    etaplus: float,
    step_size_min: float,
    step_size_max: float,
    maximize: bool = False,
) -> None:
    """One Rprop step, in place on ``param``, ``prev`` (last gradient) and ``step_size``::

    s = sign(g * prev): the step size grows by etaplus where the sign held (s > 0),
    shrinks by etaminus where it flipped (s < 0), is kept where s = 0 (or NaN); clamped
    to [step_size_min, step_size_max]. Where it flipped the gradient counts as 0.
    param -= sign(g) * step_size  (sign(NaN) = 0, as torch.sign);  prev = g
    """
    xp = devices.array_module(param)
    g = xp.array(-grad if maximize else grad, copy=True)  # a private copy (0-d stays an array)
    sign = xp.sign(g * prev)
    factor = xp.where(sign > 0, etaplus, xp.where(sign < 0, etaminus, 1.0)).astype(param.dtype)
    step_size *= factor
    xp.clip(step_size, step_size_min, step_size_max, out=step_size)
    g[sign < 0] = 0
    # sign(g) as torch.sign computes it: 0 for NaN, so a NaN gradient element makes no step
    # there (its step size is kept too: NaN * prev has no sign)
    param -= ((g > 0).astype(param.dtype) - (g < 0)) * step_size
    prev[...] = g


class Rprop(PerParameterOptimizer):
    """Rprop; state per parameter: ``step``, ``prev``, ``step_size``."""

    _param_state_keys = frozenset(["prev", "step_size"])

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "etas": etas,
            "step_sizes": step_sizes,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        etaminus, etaplus = group["etas"]
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(
                f"Rprop: invalid eta values {group['etas']!r}, expected 0 < etaminus < 1 < etaplus"
            )

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Tensor]:
        size = Tensor._make(devices.array_module(p._array).full_like(p._array, group["lr"]), None)
        return {"prev": zeros_like(p), "step_size": size}

    def _step_one(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict) -> None:
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        rprop_update(
            param,
            grad,
            state["prev"]._array,
            state["step_size"]._array,
            etaminus=etaminus,
            etaplus=etaplus,
            step_size_min=lo,
            step_size_max=hi,
            maximize=group["maximize"],
        )
