"""Stochastic gradient descent, with optional (Nesterov) momentum and weight decay.

``p -= lr * g`` in its plain form. With momentum the step follows a velocity
``b = momentum * b + (1 - dampening) * g`` (the buffer starts as the first
gradient, as in PyTorch); Nesterov's variant steps along ``g + momentum * b``,
the gradient looked at from where the momentum is about to carry the weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, ParamsT, _Chunk

__all__ = ["SGD"]

_SPEC_MOMENTUM = (("momentum_buffer", None),)


class SGD(Optimizer):
    """Stochastic gradient descent; state per parameter: ``momentum_buffer`` (when momentum is used)."""

    _has_step = False
    _param_state_keys = frozenset(["momentum_buffer"])

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
    ) -> None:
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

    def _update(self, group: dict[str, Any], chunks: list[_Chunk], grads: list) -> None:
        lr = group["lr"]
        momentum = group["momentum"]
        dampening = group["dampening"]
        weight_decay = group["weight_decay"]
        nesterov = group["nesterov"]
        maximize = group["maximize"]
        add, mul = np.add, np.multiply
        for ch in chunks:
            NLR, M, D, _, _, _, _, _ = ch.s  # noqa: N806 (0-d scalars)
            NLR[()] = -lr
            g = ch.grad(grads, maximize)
            if weight_decay != 0:
                g = ch.add_weight_decay(g, weight_decay)
            t = ch.tmp
            direction = g
            if momentum != 0:
                M[()] = momentum
                buf = ch.bufs[0]
                if ch.fresh:  # the first step starts the velocity at the gradient
                    buf[...] = g
                    ch.fresh = False
                else:
                    # b = momentum * b + (1 - dampening) * g
                    mul(buf, M, buf)
                    if dampening != 0:
                        D[()] = 1 - dampening
                        mul(g, D, t)
                        add(buf, t, buf)
                    else:
                        add(buf, g, buf)
                if nesterov:
                    mul(buf, M, t)
                    add(g, t, t)
                    direction = t
                else:
                    direction = buf
            # p += -lr * direction
            mul(direction, NLR, t)
            ch.apply(t)
