"""Optimizers whose step runs their plain per-parameter rule, one parameter at a time.

The fused chunk machinery of :class:`~chainrule.optim.optimizer.Optimizer` pays
off for the optimizers every model uses; the rarer ones (Adadelta, Adamax,
NAdam, RAdam, Rprop, ASGD) run their single-tensor rule (``*_update``) on
each parameter's arrays in place. The state is PyTorch's: a dict of Tensors
per parameter, ``step`` a 0-d float32 Tensor, so state dicts load both ways.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import bump_version, enable_grad, no_grad
from chainrule.optim.optimizer import Optimizer, ParamsT, check_grad_shapes, refuse_differentiable
from chainrule.tensor import Tensor

__all__ = ["PerParameterOptimizer", "decayed_grad", "lerp_", "options"]


def decayed_grad(
    param: np.ndarray,
    grad: np.ndarray,
    *,
    lr: float,
    weight_decay: float,
    maximize: bool,
    decoupled: bool = False,
) -> np.ndarray:
    """The gradient a rule steps along: negated to maximize, plus ``weight_decay * param`` (L2).

    With ``decoupled`` the decay shrinks ``param`` in place instead
    (``param *= 1 - lr * weight_decay``, AdamW's form) and the gradient is left as it is.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled:
            param *= param.dtype.type(1 - lr * weight_decay)
        else:
            g = g + weight_decay * param
    return g


def options(group: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The group's options named by ``keys``, as keyword arguments for an ``*_update`` rule."""
    return {key: group[key] for key in keys}


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start += weight * (end - start)`` in place, rounded as PyTorch's lerp computes it."""
    if weight < 0.5:
        start += (end - start) * start.dtype.type(weight)
    else:
        start[...] = end - (end - start) * start.dtype.type(1 - weight)


class PerParameterOptimizer(Optimizer):
    """Base of the optimizers that step each parameter with a plain rule.

    Subclasses give ``_init_state(group, p)`` (the state dict of a parameter's
    first step, Tensors by key) and ``_step_one(group, param, grad, state)``
    (the update, in place on the arrays; ``state["step"]`` already counts it).
    The constructor checks the defaults before any group is added.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        refuse_differentiable(self._name, defaults.get("differentiable", False))
        self._check_group(dict(defaults))
        super().__init__(params, defaults)

    def _check_betas(self, group: dict[str, Any]) -> None:
        for i, b in enumerate(group["betas"]):
            if not 0.0 <= b < 1.0:
                raise ValueError(
                    f"{self._name}: invalid beta parameter at index {i}: {b!r}, expected 0 <= beta < 1"
                )

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if a closure is given."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._opt_called = True
        with no_grad():
            for group in self.param_groups:
                check_grad_shapes(self._name, group["params"], [p.grad for p in group["params"]])
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if p._array.dtype.kind != "f":
                        raise TypeError(
                            f"{self._name}: can only optimize floating-point parameters, got dtype "
                            f"{p._array.dtype}"
                        )
                    state = self.state[p]
                    if not state:
                        state["step"] = Tensor._make(np.zeros((), np.float32), None)
                        state.update(self._init_state(group, p))
                    state["step"]._array[...] += 1
                    self._step_one(group, p._array, p.grad._array, state)
                    bump_version(p)
        return loss

    def _init_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Tensor]:
        return {}

    def _step_one(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict) -> None:
        raise TypeError(f"{self._name} defines no per-parameter rule (_step_one)")


def zeros_like(p: Tensor) -> Tensor:
    return Tensor._make(devices.array_module(p._array).zeros_like(p._array), None)


def scalar(value: float) -> Tensor:
    """A 0-d float32 state value, as PyTorch keeps ``eta``, ``mu`` and ``mu_product``."""
    return Tensor._make(np.array(value, np.float32), None)
