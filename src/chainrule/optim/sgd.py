"""Stochastic gradient descent, with optional (Nesterov) momentum and weight decay.

``p -= lr * g`` in its plain form. With momentum the step follows a velocity
``b = momentum * b + (1 - dampening) * g`` (the buffer starts as the first
gradient, as in PyTorch); Nesterov's variant steps along ``g + momentum * b``,
the gradient looked at from where the momentum is about to carry the weights.

:func:`sgd_update` is the rule as PyTorch's documentation writes it, for one
parameter; :class:`SGD` computes the same arithmetic for many parameters at
once in shared flat buffers (the fast path).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from chainrule.optim.optimizer import Chunk, Optimizer, ParamsT, refuse_differentiable
from chainrule.optim.per_param import decayed_grad

__all__ = ["SGD", "sgd_update"]

_SPEC_MOMENTUM = (("momentum_buffer", None),)


def sgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    momentum_buffer: np.ndarray | None,
    *,
    lr: float,
    momentum: float = 0,
    dampening: float = 0,
    weight_decay: float = 0,
    nesterov: bool = False,
    maximize: bool = False,
) -> np.ndarray | None:
    """One SGD step for one parameter, in place; returns the momentum buffer (None without momentum).

    Pass None as ``momentum_buffer`` on the first step: the buffer starts as the
    first gradient and is returned, to be passed back on the next step::

        g = -grad if maximize else grad
        g = g + weight_decay * param
        b = g (first step), else momentum * b + (1 - dampening) * g
        direction = g + momentum * b (Nesterov), else b (momentum), else g
        param -= lr * direction
    """
    g = decayed_grad(param, grad, lr=lr, weight_decay=weight_decay, maximize=maximize)
    direction = g
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = g.copy()
        else:
            momentum_buffer *= momentum
            momentum_buffer += g * (1 - dampening) if dampening != 0 else g
        direction = g + momentum_buffer * momentum if nesterov else momentum_buffer
    param -= direction * lr
    return momentum_buffer


class _SGDScalars(NamedTuple):
    """The scalars of one chunk's SGD step, as 0-d arrays in the parameters' dtype."""

    neg_lr: np.ndarray
    momentum: np.ndarray
    one_minus_dampening: np.ndarray


class SGD(Optimizer):
    """Stochastic gradient descent; state per parameter: ``momentum_buffer`` (when momentum is used)."""

    _has_step = False
    _param_state_keys = frozenset(["momentum_buffer"])
    Scalars = _SGDScalars

    _chunks_in_parallel = True  # each chunk's update is its own

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        refuse_differentiable("SGD", differentiable)  # fused: PyTorch's, the same update here
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
        }
        self._check_group(dict(defaults))
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        self._check_nonnegative(group, "momentum", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"{self._name}: Nesterov momentum requires a momentum and zero dampening, "
                f"got momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _state_spec(self, group: dict[str, Any]) -> tuple:
        return _SPEC_MOMENTUM if group["momentum"] != 0 else ()

    def _update(self, group: dict[str, Any], chunks: list[Chunk], grads: list) -> None:
        lr = group["lr"]
        momentum = group["momentum"]
        dampening = group["dampening"]
        weight_decay = group["weight_decay"]
        nesterov = group["nesterov"]
        maximize = group["maximize"]
        for ch in chunks:
            add, mul = ch.xp.add, ch.xp.multiply  # NumPy, or CuPy for parameters on a GPU
            s = ch.scalars
            s.neg_lr[()] = -lr
            g = ch.grad(grads, maximize)
            if weight_decay != 0:
                g = ch.add_weight_decay(g, weight_decay)
            t = ch.tmp
            direction = g
            if momentum != 0:
                s.momentum[()] = momentum
                buf = ch.bufs[0]
                if ch.fresh:  # the first step starts the velocity at the gradient
                    buf[...] = g
                    ch.fresh = False
                else:
                    # b = momentum * b + (1 - dampening) * g
                    mul(buf, s.momentum, buf)
                    if dampening != 0:
                        s.one_minus_dampening[()] = 1 - dampening
                        mul(g, s.one_minus_dampening, t)
                        add(buf, t, buf)
                    else:
                        add(buf, g, buf)
                if nesterov:
                    mul(buf, s.momentum, t)
                    add(g, t, t)
                    direction = t
                else:
                    direction = buf
            # p += -lr * direction
            mul(direction, s.neg_lr, t)
            ch.apply(t)
