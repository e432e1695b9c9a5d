"""RMSprop: divide each coordinate's step by a running root-mean-square of its gradients.

``v = alpha v + (1 - alpha) g^2`` and ``p -= lr g / (sqrt(v) + eps)``
(Hinton's lecture notes, 2012). ``centered`` subtracts the square of the running
mean gradient from ``v`` (an estimate of the variance rather than the raw
second moment); ``momentum`` accumulates the scaled steps in a buffer.
The arithmetic follows PyTorch's single-tensor implementation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, ParamsT, _Chunk

__all__ = ["RMSprop"]

_SPECS = {
    (momentum, centered): (("square_avg", 0.0),)
    + ((("momentum_buffer", 0.0),) if momentum else ())
    + ((("grad_avg", 0.0),) if centered else ())
    for momentum in (False, True)
    for centered in (False, True)
}


class RMSprop(Optimizer):
    """RMSprop; state per parameter: ``step``, ``square_avg``, ``momentum_buffer``, ``grad_avg`` (as used)."""

    _param_state_keys = frozenset(["square_avg", "momentum_buffer", "grad_avg"])

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
        }
        self._check_group(dict(defaults))
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        self._check_nonnegative(group, "eps", "momentum", "weight_decay", "alpha")

    def _state_spec(self, group: dict[str, Any]) -> tuple:
        return _SPECS[group["momentum"] > 0, bool(group["centered"])]

    def _update(self, group: dict[str, Any], chunks: list[_Chunk], grads: list) -> None:
        lr = group["lr"]
        alpha = group["alpha"]
        weight_decay = group["weight_decay"]
        momentum = group["momentum"]
        centered = group["centered"]
        maximize = group["maximize"]
        w = 1 - alpha
        add, sub, mul, div, sqrt = np.add, np.subtract, np.multiply, np.divide, np.sqrt
        for ch in chunks:
            ch.advance()
            A, CA, W, EPS, M, NLR, _, _ = ch.s  # noqa: N806 (0-d scalars)
            A[()] = alpha
            CA[()] = w
            EPS[()] = group["eps"]
            NLR[()] = -lr
            g = ch.grad(grads, maximize)
            if weight_decay != 0:
                g = ch.add_weight_decay(g, weight_decay)
            t = ch.tmp
            square_avg = ch.bufs[0]
            # v = alpha v + (1 - alpha) g^2
            mul(square_avg, A, square_avg)
            mul(g, CA, t)
            mul(t, g, t)
            add(square_avg, t, square_avg)
            if centered:
                grad_avg = ch.bufs[-1]
                # mean gradient: lerp(grad_avg, g, 1 - alpha); then avg = sqrt(v - mean^2)
                W[()] = w if w < 0.5 else 1 - W.dtype.type(w)
                sub(g, grad_avg, t)
                mul(t, W, t)
                if w < 0.5:
                    add(grad_avg, t, grad_avg)
                else:
                    sub(g, t, grad_avg)
                mul(grad_avg, grad_avg, t)
                sub(square_avg, t, t)
                sqrt(t, t)
            else:
                sqrt(square_avg, t)
            add(t, EPS, t)
            if momentum > 0:
                # b = momentum b + g / avg;  p -= lr b
                M[()] = momentum
                buf = ch.bufs[1]
                mul(buf, M, buf)
                div(g, t, t)
                add(buf, t, buf)
                mul(buf, NLR, t)
            else:
                # p -= lr g / avg
                div(g, t, t)
                mul(t, NLR, t)
            ch.apply(t)
