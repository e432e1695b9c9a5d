"""RMSprop: divide each coordinate's step by a running root-mean-square of its gradients.

``v = alpha v + (1 - alpha) g^2`` and ``p -= lr g / (sqrt(v) + eps)``
(Hinton's lecture notes, 2012). ``centered`` subtracts the square of the running
mean gradient from ``v`` (an estimate of the variance rather than the raw
second moment); ``momentum`` accumulates the scaled steps in a buffer.
The arithmetic follows PyTorch's single-tensor implementation.

:func:`rmsprop_update` is the rule as PyTorch's documentation writes it, for
one parameter; :class:`RMSprop` computes the same arithmetic for many
parameters at once in shared flat buffers (the fast path).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from chainrule import devices
from chainrule.optim.optimizer import Chunk, Optimizer, ParamsT, refuse_differentiable
from chainrule.optim.per_param import decayed_grad

__all__ = ["RMSprop", "rmsprop_update"]


def rmsprop_update(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float = 0,
    momentum: float = 0,
    centered: bool = False,
    maximize: bool = False,
    momentum_buffer: np.ndarray | None = None,
    grad_avg: np.ndarray | None = None,
) -> None:
    """One RMSprop step for one parameter, in place on ``param`` and the state arrays.

    ``momentum_buffer`` (zeros at the start) is needed when ``momentum > 0``,
    ``grad_avg`` (zeros at the start) when ``centered``::

        g = -grad if maximize else grad
        g = g + weight_decay * param
        v = alpha v + (1 - alpha) g^2
        mean = alpha mean + (1 - alpha) g              (centered; as lerp)
        avg = sqrt(v - mean^2) (centered), else sqrt(v);  avg = avg + eps
        b = momentum b + g / avg;  param -= lr b       (with momentum), else
        param -= lr g / avg
    """
    g = decayed_grad(param, grad, lr=lr, weight_decay=weight_decay, maximize=maximize)
    square_avg *= alpha
    square_avg += g * (1 - alpha) * g
    if centered:
        grad_avg += (g - grad_avg) * (1 - alpha)
        avg = devices.array_module(square_avg).sqrt(square_avg - grad_avg * grad_avg)
    else:
        avg = devices.array_module(square_avg).sqrt(square_avg)
    avg += eps
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += g / avg
        param -= momentum_buffer * lr
    else:
        param -= g / avg * lr


class _RMSpropScalars(NamedTuple):
    """The scalars of one chunk's RMSprop step, as 0-d arrays in the parameters' dtype."""

    alpha: np.ndarray
    one_minus_alpha: np.ndarray
    lerp_weight: np.ndarray  # 1 - alpha, for the centered mean (as lerp computes it)
    eps: np.ndarray
    momentum: np.ndarray
    neg_lr: np.ndarray

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
    Scalars = _RMSpropScalars

    _chunks_in_parallel = True  # each chunk's update is its own

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
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        refuse_differentiable("RMSprop", differentiable)  # capturable: PyTorch's, the same update here
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

    def _update(self, group: dict[str, Any], chunks: list[Chunk], grads: list) -> None:
        lr = group["lr"]
        alpha = group["alpha"]
        weight_decay = group["weight_decay"]
        momentum = group["momentum"]
        centered = group["centered"]
        maximize = group["maximize"]
        w = 1 - alpha
        for ch in chunks:
            xp = ch.xp  # NumPy, or CuPy for parameters on a GPU
            add, sub, mul, div, sqrt = xp.add, xp.subtract, xp.multiply, xp.divide, xp.sqrt
            ch.advance()
            s = ch.scalars
            s.alpha[()] = alpha
            s.one_minus_alpha[()] = w
            s.eps[()] = group["eps"]
            s.neg_lr[()] = -lr
            g = ch.grad(grads, maximize)
            if weight_decay != 0:
                g = ch.add_weight_decay(g, weight_decay)
            t = ch.tmp
            square_avg = ch.bufs[0]
            # v = alpha v + (1 - alpha) g^2
            mul(square_avg, s.alpha, square_avg)
            mul(g, s.one_minus_alpha, t)
            mul(t, g, t)
            add(square_avg, t, square_avg)
            if centered:
                grad_avg = ch.bufs[-1]
                # mean gradient: lerp(grad_avg, g, 1 - alpha); then avg = sqrt(v - mean^2)
                lw = s.lerp_weight
                lw[()] = w if w < 0.5 else 1 - lw.dtype.type(w)
                sub(g, grad_avg, t)
                mul(t, lw, t)
                if w < 0.5:
                    add(grad_avg, t, grad_avg)
                else:
                    sub(g, t, grad_avg)
                mul(grad_avg, grad_avg, t)
                sub(square_avg, t, t)
                sqrt(t, t)
            else:
                sqrt(square_avg, t)
            add(t, s.eps, t)
            if momentum > 0:
                # b = momentum b + g / avg;  p -= lr b
                s.momentum[()] = momentum
                buf = ch.bufs[1]
                mul(buf, s.momentum, buf)
                div(g, t, t)
                add(buf, t, buf)
                mul(buf, s.neg_lr, t)
            else:
                # p -= lr g / avg
                div(g, t, t)
                mul(t, s.neg_lr, t)
            ch.apply(t)
