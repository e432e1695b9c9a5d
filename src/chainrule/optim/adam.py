"""Adam and AdamW: per-coordinate step sizes from running moments of the gradient.

Adam (Kingma & Ba, 2015) keeps an exponential average of the gradient ``m``
and of its square ``v``, corrects both for their zero start, and moves each
coordinate by ``lr * m_hat / (sqrt(v_hat) + eps)``. AdamW (Loshchilov &
Hutter, 2019) shrinks the weights directly (``p *= 1 - lr * weight_decay``)
instead of adding an L2 term to the gradient, so the decay is not rescaled by
the adaptive denominator. The arithmetic follows PyTorch's single-tensor
implementation line by line, so the same gradients give the same parameters.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from chainrule.optim.optimizer import Optimizer, ParamsT, _Chunk, _number

__all__ = ["Adam", "AdamW"]

_SPEC = (("exp_avg", 0.0), ("exp_avg_sq", 0.0))
_SPEC_AMSGRAD = (*_SPEC, ("max_exp_avg_sq", 0.0))


class Adam(Optimizer):
    """Adam; with ``decoupled_weight_decay=True`` it is AdamW.

    State per parameter (as PyTorch): ``step``, ``exp_avg``, ``exp_avg_sq`` and,
    with ``amsgrad``, ``max_exp_avg_sq`` (the running maximum of ``exp_avg_sq``
    that AMSGrad divides by, so the step size never grows back).
    """

    _param_state_keys = frozenset(k for k, _ in _SPEC_AMSGRAD)

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        self._check_group(dict(defaults))
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        self._check_nonnegative(group, "eps", "weight_decay")
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"{self._name}: betas must be a pair (beta1, beta2), got {betas!r}")
        betas = tuple(_number(b) for b in betas)
        for i, b in enumerate(betas):
            if not isinstance(b, numbers.Real) or not 0.0 <= b < 1.0:
                raise ValueError(
                    f"{self._name}: invalid beta parameter at index {i}: {b!r}, expected 0 <= beta < 1"
                )
        group["betas"] = betas

    def _state_spec(self, group: dict[str, Any]) -> tuple:
        return _SPEC_AMSGRAD if group["amsgrad"] else _SPEC

    def _update(self, group: dict[str, Any], chunks: list[_Chunk], grads: list) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]
        maximize = group["maximize"]
        amsgrad = group["amsgrad"]
        decay = 1 - lr * weight_decay if weight_decay and group["decoupled_weight_decay"] else None
        coupled = weight_decay != 0 and decay is None
        w1 = 1 - beta1
        add, sub, mul, div, sqrt = np.add, np.subtract, np.multiply, np.divide, np.sqrt
        for ch in chunks:
            step = ch.advance()
            # Bias corrections as Python floats, exactly as PyTorch computes them.
            bias_correction1 = 1 - beta1**step
            bias_correction2_sqrt = (1 - beta2**step) ** 0.5
            step_size = lr / bias_correction1
            W, B2, C2, BC2, EPS, NSS, _, _ = ch.s  # noqa: N806 (0-d scalars)
            W[()] = w1 if w1 < 0.5 else 1 - W.dtype.type(w1)  # (1 - w) in the parameter dtype
            B2[()] = beta2
            C2[()] = 1 - beta2
            BC2[()] = bias_correction2_sqrt
            EPS[()] = group["eps"]
            NSS[()] = -step_size

            g = ch.grad(grads, maximize)
            if coupled:
                g = ch.add_weight_decay(g, weight_decay)
            t = ch.tmp
            m, v = ch.bufs[0], ch.bufs[1]
            # m = lerp(m, g, 1 - beta1), in PyTorch's two-branch form:
            # m + w (g - m) for w < 0.5, else g - (g - m)(1 - w).
            sub(g, m, t)
            mul(t, W, t)
            if w1 < 0.5:
                add(m, t, m)
            else:
                sub(g, t, m)
            # v = beta2 v + (1 - beta2) g^2
            mul(v, B2, v)
            mul(g, C2, t)
            mul(t, g, t)
            add(v, t, v)
            if amsgrad:
                vmax = ch.bufs[2]
                np.maximum(vmax, v, out=vmax)
                v = vmax
            # denom = sqrt(v) / sqrt(1 - beta2^t) + eps;  p -= lr / (1 - beta1^t) * m / denom
            sqrt(v, t)
            div(t, BC2, t)
            add(t, EPS, t)
            div(m, t, t)
            mul(t, NSS, t)
            ch.apply(t, decay)


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before each Adam step."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
