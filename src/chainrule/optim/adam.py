"""Adam and AdamW: per-coordinate step sizes from running moments of the gradient.

Adam (Kingma & Ba, 2015) keeps an exponential average of the gradient ``m``
and of its square ``v``, corrects both for their zero start, and moves each
coordinate by ``lr * m_hat / (sqrt(v_hat) + eps)``. AdamW (Loshchilov &
Hutter, 2019) shrinks the weights directly (``p *= 1 - lr * weight_decay``)
instead of adding an L2 term to the gradient, so the decay is not rescaled by
the adaptive denominator. The arithmetic follows PyTorch's single-tensor
implementation line by line, so the same gradients give the same parameters.

:func:`adam_update` is the rule as the paper and PyTorch's documentation
write it, for one parameter; :class:`Adam` computes the same arithmetic for
many parameters at once in shared flat buffers (the fast path). A test checks
that the two agree for every combination of options.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, NamedTuple

import numpy as np

from chainrule import devices
from chainrule.optim.optimizer import Chunk, Optimizer, ParamsT, as_number, refuse_differentiable
from chainrule.optim.per_param import decayed_grad
from chainrule.runtime import map_rows

__all__ = ["Adam", "AdamW", "adam_update"]

_SPEC = (("exp_avg", 0.0), ("exp_avg_sq", 0.0))
_SPEC_AMSGRAD = (*_SPEC, ("max_exp_avg_sq", 0.0))


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    step: int | float,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
    max_exp_avg_sq: np.ndarray | None = None,
) -> None:
    """One Adam (or AdamW) step for one parameter, in place on ``param`` and the state arrays.

    ``step`` is the count including this step (1 on the first). With
    ``amsgrad``, ``max_exp_avg_sq`` holds the running maximum of ``exp_avg_sq``.
    The readable form of :class:`Adam`'s update::

        g = -grad if maximize else grad
        g = g + weight_decay * param                   (Adam's L2 penalty), or
        param *= 1 - lr * weight_decay                 (AdamW's decoupled decay)
        m = beta1 m + (1 - beta1) g                    (as lerp(m, g, 1 - beta1))
        v = beta2 v + (1 - beta2) g^2
        v_max = max(v_max, v)                          (AMSGrad: divide by v_max)
        param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """
    beta1, beta2 = betas
    g = decayed_grad(
        param, grad, lr=lr, weight_decay=weight_decay, maximize=maximize, decoupled=decoupled_weight_decay
    )
    exp_avg += (g - exp_avg) * (1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += g * (1 - beta2) * g
    v = exp_avg_sq
    if amsgrad:
        devices.array_module(exp_avg_sq).maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    denom = devices.array_module(v).sqrt(v) / bias_correction2**0.5 + eps
    param -= lr / bias_correction1 * (exp_avg / denom)


class _AdamScalars(NamedTuple):
    """The scalars of one chunk's Adam step, as 0-d arrays in the parameters' dtype."""

    one_minus_beta1: np.ndarray  # the lerp weight of the first moment
    beta2: np.ndarray
    one_minus_beta2: np.ndarray
    bias_correction2_sqrt: np.ndarray  # sqrt(1 - beta2^t)
    eps: np.ndarray
    neg_step_size: np.ndarray  # -lr / (1 - beta1^t)


class Adam(Optimizer):
    """Adam; with ``decoupled_weight_decay=True`` it is AdamW.

    State per parameter (as PyTorch): ``step``, ``exp_avg``, ``exp_avg_sq`` and,
    with ``amsgrad``, ``max_exp_avg_sq`` (the running maximum of ``exp_avg_sq``
    that AMSGrad divides by, so the step size never grows back).
    """

    _param_state_keys = frozenset(k for k, _ in _SPEC_AMSGRAD)
    Scalars = _AdamScalars

    _chunks_in_parallel = True  # each chunk's update is its own
    _splits_large_chunks = True  # a large parameter's update is cut into ranges on the pool

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
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        refuse_differentiable(self._name, differentiable)  # capturable, fused: the same update here
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
        betas = tuple(as_number(b) for b in betas)
        for i, b in enumerate(betas):
            if not isinstance(b, numbers.Real) or not 0.0 <= b < 1.0:
                raise ValueError(
                    f"{self._name}: invalid beta parameter at index {i}: {b!r}, expected 0 <= beta < 1"
                )
        group["betas"] = betas

    def _state_spec(self, group: dict[str, Any]) -> tuple:
        return _SPEC_AMSGRAD if group["amsgrad"] else _SPEC

    def _update(self, group: dict[str, Any], chunks: list[Chunk], grads: list) -> None:
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]
        maximize = group["maximize"]
        amsgrad = group["amsgrad"]
        decay = 1 - lr * weight_decay if weight_decay and group["decoupled_weight_decay"] else None
        coupled = weight_decay != 0 and decay is None
        w1 = 1 - beta1
        for ch in chunks:
            step = ch.advance()
            # Bias corrections as Python floats, exactly as PyTorch computes them.
            bias_correction1 = 1 - beta1**step
            bias_correction2_sqrt = (1 - beta2**step) ** 0.5
            step_size = lr / bias_correction1
            s = ch.scalars
            w = s.one_minus_beta1
            w[()] = w1 if w1 < 0.5 else 1 - w.dtype.type(w1)  # (1 - w) in the parameter dtype
            s.beta2[()] = beta2
            s.one_minus_beta2[()] = 1 - beta2
            s.bias_correction2_sqrt[()] = bias_correction2_sqrt
            s.eps[()] = group["eps"]
            s.neg_step_size[()] = -step_size

            g = ch.grad(grads, maximize)
            if coupled:
                g = ch.add_weight_decay(g, weight_decay)
            arrays = [g, *ch.bufs[: 3 if amsgrad else 2], ch.tmp]
            param = None if ch.flat else ch.params[0]._array
            if param is not None and ch.splittable(param, *arrays):
                # one parameter: its elements in ranges on the pool's threads where it is large
                # (map_rows decides), each range's arithmetic and its part of p += update exactly
                # as in one piece
                flat = [a.reshape(-1) for a in (*arrays, param)]
                d = None
                if decay is not None:
                    d = ch.factor
                    d[()] = decay
                map_rows(functools.partial(_ranges, s, w1, amsgrad, d, flat), param.size, _WORK_PER_ELEMENT)
                continue
            _moments_and_step(s, w1, amsgrad, None, *arrays, None)
            ch.apply(ch.tmp, decay)


# Adam's step makes about 14 passes over each element: as much work as two elementwise passes by
# the pool's threshold. Measured at 2 threads, one parameter in one piece / in two halves: 100k
# elements 149 / 138 us, 200k 281 / 248 us (W1's first weight), 400k 544 / 350 us; 50k 84 / 105 us.
_WORK_PER_ELEMENT = 2


def _ranges(s: Any, w1: float, amsgrad: bool, decay: Any, flat: list, i: int, j: int) -> None:
    """:func:`_moments_and_step` on elements ``i:j`` of flat arrays ``(g, m, v, [vmax,] t, p)``."""
    _moments_and_step(s, w1, amsgrad, decay, *[a[i:j] for a in flat])


def _moments_and_step(s: Any, w1: float, amsgrad: bool, decay: Any, g, m, v, *rest) -> None:
    """Adam's arithmetic on one range of a chunk: the moments, then the update in ``t``.

    ``rest`` is ``(vmax, t, p)`` with AMSGrad, else ``(t, p)``; with ``p`` (not
    None) the update is applied to it here: ``p *= decay`` (a 0-d array in p's
    dtype, if given), then ``p += t``, as :meth:`Chunk.apply` does.
    """
    xp = devices.array_module(g)
    add, sub, mul, div, sqrt = xp.add, xp.subtract, xp.multiply, xp.divide, xp.sqrt
    vmax = rest[0] if amsgrad else None
    t, p = rest[-2], rest[-1]
    # m = lerp(m, g, 1 - beta1), in PyTorch's two-branch form:
    # m + w (g - m) for w < 0.5, else g - (g - m)(1 - w).
    sub(g, m, t)
    mul(t, s.one_minus_beta1, t)
    if w1 < 0.5:
        add(m, t, m)
    else:
        sub(g, t, m)
    # v = beta2 v + (1 - beta2) g^2
    mul(v, s.beta2, v)
    mul(g, s.one_minus_beta2, t)
    mul(t, g, t)
    add(v, t, v)
    if vmax is not None:
        xp.maximum(vmax, v, out=vmax)
        v = vmax
    # denom = sqrt(v) / sqrt(1 - beta2^t) + eps;  p -= lr / (1 - beta1^t) * m / denom
    sqrt(v, t)
    div(t, s.bias_correction2_sqrt, t)
    add(t, s.eps, t)
    div(m, t, t)
    mul(t, s.neg_step_size, t)
    if p is not None:
        if decay is not None:
            mul(p, decay, p)
        add(p, t, p)


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
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
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
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
