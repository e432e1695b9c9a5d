"""Loss functions: each one fused autograd node, with PyTorch's reductions and edge cases.

``cross_entropy`` is log-softmax and the negative log-likelihood in one node:
the log-sum-exp is taken after subtracting the row maximum (logits of +-1e4
stay finite) and the backward is the closed form ``softmax - onehot`` (scaled
by weights, smoothing and the reduction) instead of a trip through exp, log
and a gather. ``binary_cross_entropy_with_logits`` uses the stable form
``(1 - t) x + softplus(-x)``; ``binary_cross_entropy`` clamps its logs at
-100, as PyTorch does.

Every loss takes ``reduction="none" | "mean" | "sum"`` (and PyTorch's
deprecated ``size_average``/``reduce``) with PyTorch's meaning of "mean":
weighted by the target classes' weights for ``cross_entropy``/``nll_loss``
(ignored targets count for nothing), over the batch and extra dims for
class-probability targets, over all elements otherwise. Input and target
shapes must agree exactly: PyTorch broadcasts them with a warning, chainrule
refuses with an error that names both shapes. Class weights and
``pos_weight`` are constants (PyTorch refuses to differentiate them too).

Arrays go through the array module of the inputs (``xp``, see chainrule.devices);
weights given as lists or host arrays are moved next to the input. On a device
the checks of the targets' values read one reduced number each (a sync), and
nothing else waits for the device.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import Function
from chainrule.ops.distance import pairwise_distance
from chainrule.ops.elementwise import cast, promote
from chainrule.ops.special import sigmoid as _sigmoid
from chainrule.ops.special import softplus as _softplus
from chainrule.tensor import Tensor

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "gaussian_nll_loss",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "margin_ranking_loss",
    "mse_loss",
    "nll_loss",
    "poisson_nll_loss",
    "smooth_l1_loss",
    "triplet_margin_loss",
]

_REDUCTIONS = ("none", "mean", "sum")


# ------------------------------------------------------------------ arguments
def resolve_reduction(reduction: Any, size_average: Any, reduce: Any, name: str) -> str:
    """The reduction to apply, from ``reduction`` or PyTorch's deprecated pair of flags."""
    if size_average is not None or reduce is not None:
        warnings.warn(
            f"{name}: size_average and reduce are deprecated (as in PyTorch); use reduction= instead",
            DeprecationWarning,
            stacklevel=3,
        )
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = ("mean" if size_average else "sum") if reduce else "none"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    return reduction


def _tensor(x: Any, what: str, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) or devices.is_device_array(x):
        return Tensor._make(x, None)
    raise TypeError(f"{name}: {what} must be a Tensor, got {type(x).__name__}")


def _float_input(x: Any, name: str) -> Tensor:
    x = _tensor(x, "input", name)
    if x._array.dtype.kind != "f":
        raise TypeError(f"{name}: input must be a floating-point tensor, got dtype {x.dtype}")
    return x


def _same_shape(x: Tensor, t: Tensor, name: str) -> None:
    if x._array.shape != t._array.shape:
        raise ValueError(
            f"{name}: target of shape {t.shape} does not match input of shape {x.shape} "
            "(they must be equal; chainrule does not broadcast a loss's input and target)"
        )


def _input_and_target(input: Any, target: Any, name: str) -> tuple[Tensor, Tensor]:
    """Input and target of an elementwise loss: equal shapes, one floating dtype (PyTorch's promotion).

    An integer or bool target is taken as numbers in the input's dtype.
    """
    x = _float_input(input, name)
    t = _tensor(target, "target", name)
    _same_shape(x, t, name)
    xd, td = x._array.dtype, t._array.dtype
    if td is not xd and td != xd:
        if td.kind != "f":
            t = cast(t, xd)
        else:
            x, t = promote(x, t)
    return x, t


def _constant(w: Any, like: Tensor, what: str, name: str) -> np.ndarray | None:
    """A weight-like argument as an array of the input's dtype that broadcasts to the input's shape."""
    if w is None:
        return None
    arr = w._array if isinstance(w, Tensor) else devices.array_module(like._array).asarray(w)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name}: {what} must be a tensor of numbers, got dtype {arr.dtype}")
    arr = arr.astype(like._array.dtype, copy=False)
    try:
        fits = np.broadcast_shapes(arr.shape, like.shape) == like.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name}: {what} of shape {arr.shape} does not broadcast to the input's shape {like.shape}"
        )
    return arr


def _reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return loss
    total = loss.sum(axis=None)  # ndarray.sum is np.add.reduce: the same sum
    if reduction == "sum":
        return total
    return _divide(total, loss.size)


def _divide(total: Any, denominator: Any) -> np.ndarray:
    """``total / denominator``; 0 / 0 is NaN without a warning (PyTorch's mean of nothing)."""
    if devices.is_device_array(total) or devices.is_device_array(denominator):
        return total / denominator  # a device neither warns nor needs the test (no sync)
    if denominator == 0:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(total / denominator)
    return total / denominator


def _apply_pointwise(fn: type[Function], x: Tensor, t: Tensor, *rest: Any) -> Tensor:
    """``fn.apply(x, t, *rest)``; 0-d operands go through as shape (1,) (NumPy makes scalars of
    0-d results, which in-place arithmetic cannot write to), and come back 0-d."""
    if x._array.ndim:
        return fn.apply(x, t, *rest)
    rest = tuple(
        r.reshape(1) if isinstance(r, (Tensor, np.ndarray)) or devices.is_device_array(r) else r for r in rest
    )
    out = fn.apply(x.reshape(1), t.reshape(1), *rest)
    return out.reshape(()) if out._array.ndim else out


# ------------------------------------------------------- losses of a difference
class DifferenceLoss(Function):
    """A loss of ``d = input - target`` elementwise, times an optional weight, then reduced.

    Subclasses give ``value(d, param)`` and its derivative ``slope(d, param)``;
    the chain rule then gives ``g * slope * w`` to the input and its negative to
    the target. ``weighted_mean`` says whether a weighted "mean" divides by the
    sum of the weights (mse/l1) or by the number of elements (huber), as PyTorch does.
    """

    weighted_mean = False

    def forward(ctx, x, t, w, reduction, param):
        d = x - t
        loss = ctx.value(d, param)
        ctx.d, ctx.w, ctx.reduction, ctx.param = d, w, reduction, param
        if w is not None:
            ctx.unweighted = loss
            loss = loss * w
        if reduction == "none":
            return loss
        total = loss.sum(axis=None)  # ndarray.sum is np.add.reduce: the same sum
        if reduction == "sum":
            return total
        ctx.denominator = w.sum(axis=None) if w is not None and ctx.weighted_mean else d.size
        ctx.out = _divide(total, ctx.denominator)
        return ctx.out

    def backward(ctx, g):
        if ctx.reduction == "mean":
            g = _divide(g, ctx.denominator)
        w = ctx.w
        needs = ctx.needs_input_grad
        slope = ctx.slope(ctx.d, ctx.param)
        if w is not None:
            slope *= w
        slope *= g
        gx = slope if needs[0] else None
        gt = -slope if needs[1] else None
        gw = None
        if w is not None and needs[2]:
            # d/dw_k of sum(w l) / sum(w) is (l_k - mean) / sum(w); of sum(w l) or w l, just l
            lk = ctx.unweighted
            if ctx.reduction == "mean" and ctx.weighted_mean:
                lk = lk - ctx.out
            gw = lk * g
        return gx, gt, gw, None, None


class MseLoss(DifferenceLoss):
    weighted_mean = True

    @staticmethod
    def value(d, param):
        return d * d

    @staticmethod
    def slope(d, param):
        return 2.0 * d  # d/dd d^2


class L1Loss(DifferenceLoss):
    weighted_mean = True

    @staticmethod
    def value(d, param):
        return devices.array_module(d).abs(d)

    @staticmethod
    def slope(d, param):
        return devices.array_module(d).sign(d)  # d/dd |d| (0 at 0, as PyTorch)


class HuberLoss(DifferenceLoss):
    @staticmethod
    def value(d, delta):
        # 0.5 d^2 for |d| <= delta, delta (|d| - delta/2) beyond: with a = min(|d|, delta)
        # both are a (|d| - a/2), so no select is needed
        xp = devices.array_module(d)
        ad = xp.abs(d)
        a = xp.minimum(ad, delta)
        ad -= 0.5 * a
        ad *= a
        return ad

    @staticmethod
    def slope(d, delta):
        return devices.array_module(d).clip(d, -delta, delta)  # d inside [-delta, delta], +-delta outside


class SmoothL1Loss(DifferenceLoss):
    @staticmethod
    def value(d, beta):
        # huber(d, beta) / beta: 0.5 d^2 / beta for |d| < beta, |d| - beta/2 beyond
        if beta == 0:
            return devices.array_module(d).abs(d)
        return HuberLoss.value(d, beta) / beta

    @staticmethod
    def slope(d, beta):
        xp = devices.array_module(d)
        if beta == 0:
            return xp.sign(d)
        return xp.clip(d / beta, -1.0, 1.0)


def _elementwise_weight(weight: Any, x: Tensor, name: str) -> Tensor | None:
    """``weight=`` of mse/l1/huber: a tensor of the input's shape (it is differentiable there)."""
    if weight is None:
        return None
    w = _tensor(weight, "weight", name)
    if w.shape != x.shape:
        raise ValueError(f"{name}: weight of shape {w.shape} must have the input's shape {x.shape}")
    return w if w._array.dtype == x._array.dtype else cast(w, x._array.dtype)


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error ``(input - target)^2``; a weighted mean divides by ``weight.sum()``."""
    reduction = resolve_reduction(reduction, size_average, reduce, "mse_loss")
    x, t = _input_and_target(input, target, "mse_loss")
    return _apply_pointwise(MseLoss, x, t, _elementwise_weight(weight, x, "mse_loss"), reduction, None)


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean absolute error ``|input - target|``; a weighted mean divides by ``weight.sum()``."""
    reduction = resolve_reduction(reduction, size_average, reduce, "l1_loss")
    x, t = _input_and_target(input, target, "l1_loss")
    return _apply_pointwise(L1Loss, x, t, _elementwise_weight(weight, x, "l1_loss"), reduction, None)


def huber_loss(
    input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0, weight: Tensor | None = None
) -> Tensor:
    """Squared error below ``delta``, ``delta``-scaled absolute error above.

    A weighted mean averages ``weight * loss`` over the elements (PyTorch's rule for this loss).
    """
    reduction = resolve_reduction(reduction, None, None, "huber_loss")
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x, t = _input_and_target(input, target, "huber_loss")
    w = _elementwise_weight(weight, x, "huber_loss")
    return _apply_pointwise(HuberLoss, x, t, w, reduction, float(delta))


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """``0.5 d^2 / beta`` for ``|d| < beta``, ``|d| - beta / 2`` beyond (``beta=0`` is the L1 loss)."""
    reduction = resolve_reduction(reduction, size_average, reduce, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must not be negative, got {beta}")
    x, t = _input_and_target(input, target, "smooth_l1_loss")
    return _apply_pointwise(SmoothL1Loss, x, t, None, reduction, float(beta))


# ---------------------------------------------------------- binary cross-entropy
class BinaryCrossEntropy(Function):
    def forward(ctx, x, t, w, reduction):
        # -w (t log x + (1 - t) log(1 - x)), each log clamped at -100 (PyTorch's rule, so that
        # x = 0 or 1 gives a finite loss)
        xp = devices.array_module(x)
        with devices.errstate(x, divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100.0)
            log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        loss = log_x - log_1mx
        loss *= t
        loss += log_1mx
        xp.negative(loss, out=loss)
        if w is not None:
            loss *= w
        ctx.x, ctx.t, ctx.w, ctx.reduction = x, t, w, reduction
        return _reduce(loss, reduction)

    def backward(ctx, g):
        x, t, w = ctx.x, ctx.t, ctx.w
        if ctx.reduction == "mean":
            g = _divide(g, x.size)
        if w is not None:
            g = g * w
        needs = ctx.needs_input_grad
        xp = devices.array_module(x)
        gx = gt = None
        if needs[0]:
            # d/dx = (x - t) / (x (1 - x)), the denominator held at >= 1e-12 as in PyTorch
            gx = xp.maximum((1.0 - x) * x, 1e-12)
            xp.divide(x - t, gx, out=gx)
            gx *= g
        if needs[1]:
            # d/dt = log(1 - x) - log(x) = -logit(x) (unclamped, as PyTorch)
            with devices.errstate(x, divide="ignore"):
                gt = xp.log((1.0 - x) / x)
            gt *= g
        return gx, gt, None, None


def _check_unit_interval(a: np.ndarray, what: str, hint: str) -> None:
    # a check of the values: on a device, it reads the two reduced numbers (a sync)
    if a.size and not (a.min() >= 0 and a.max() <= 1):  # NaN fails the test as well
        numbers = a[~devices.array_module(a).isnan(a)]
        seen = f"values in [{numbers.min()}, {numbers.max()}]" if numbers.size else "only NaN"
        if numbers.size and numbers.size < a.size:
            seen += " and NaN"
        raise ValueError(f"binary_cross_entropy: every element of {what} must be in [0, 1], got {seen}{hint}")


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``-w (t log(x) + (1 - t) log(1 - x))`` for probabilities ``x`` in [0, 1], logs clamped at -100.

    Prefer :func:`binary_cross_entropy_with_logits` on logits: it is stable where this is not.
    """
    reduction = resolve_reduction(reduction, size_average, reduce, "binary_cross_entropy")
    x, t = _input_and_target(input, target, "binary_cross_entropy")
    _check_unit_interval(x._array, "input", " (for logits use binary_cross_entropy_with_logits)")
    _check_unit_interval(t._array, "target", "")
    w = _constant(weight, x, "weight", "binary_cross_entropy")
    return _apply_pointwise(BinaryCrossEntropy, x, t, w, reduction)


class BinaryCrossEntropyWithLogits(Function):
    def forward(ctx, x, t, w, pos_weight, reduction):
        # (1 - t) x + lw softplus(-x) with lw = 1 + (pos_weight - 1) t: the stable form of
        # -[pos_weight t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))]
        sp = _softplus(-x)
        ctx.x, ctx.t, ctx.w, ctx.pw, ctx.sp, ctx.reduction = x, t, w, pos_weight, sp, reduction
        if pos_weight is not None:
            lw = (pos_weight - 1.0) * t
            lw += 1.0
            ctx.lw = lw
            loss = lw * sp
        else:
            loss = sp.copy()
        loss += (1.0 - t) * x
        if w is not None:
            loss *= w
        return _reduce(loss, reduction)

    def backward(ctx, g):
        x, t, w, pw = ctx.x, ctx.t, ctx.w, ctx.pw
        if ctx.reduction == "mean":
            g = _divide(g, x.size)
        if w is not None:
            g = g * w
        needs = ctx.needs_input_grad
        gx = gt = None
        if needs[0]:
            # d/dx = (1 - t) - lw sigmoid(-x); without pos_weight, sigmoid(x) - t
            if pw is None:
                gx = _sigmoid(x)
                gx -= t
            else:
                gx = _sigmoid(-x)
                gx *= ctx.lw
                devices.array_module(x).subtract(1.0 - t, gx, out=gx)
            gx *= g
        if needs[1]:
            # d/dt = -x + (pos_weight - 1) softplus(-x)
            gt = -x if pw is None else (pw - 1.0) * ctx.sp - x
            gt = gt * g
        return gx, gt, None, None, None


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)``, computed from the logits without overflow.

    ``pos_weight`` (broadcast along the last dims, e.g. one per class) multiplies
    the positive term; ``weight`` rescales each element.
    """
    name = "binary_cross_entropy_with_logits"
    reduction = resolve_reduction(reduction, size_average, reduce, name)
    x, t = _input_and_target(input, target, name)
    w = _constant(weight, x, "weight", name)
    pw = _constant(pos_weight, x, "pos_weight", name)
    return _apply_pointwise(BinaryCrossEntropyWithLogits, x, t, w, pw, reduction)


# -------------------------------------------------- cross-entropy and NLL
# The Functions below see batched input, (N, C) or (N, C, d1, ...), with the
# classes on axis 1 (the wrappers turn an unbatched (C,) input into (1, C)).
# ``key`` indexes the target class of every sample: x[key] has the target's
# shape, and dx[key] -= a subtracts at exactly those positions.


def _target_key(target: np.ndarray) -> tuple:
    """The fancy index of ``x[n, target[n, ...], ...]`` for every position of the (N, d1, ...) target."""
    xp = devices.array_module(target)
    if target.ndim == 1:
        return (xp.arange(target.shape[0]), target)
    grids = xp.ix_(*[xp.arange(n) for n in target.shape])
    return (grids[0], target, *grids[1:])


def _per_class(weight: np.ndarray, ndim: int) -> np.ndarray:
    """Class weights shaped to broadcast along axis 1 of an ndim-dimensional input."""
    return weight.reshape((-1,) + (1,) * (ndim - 2))


def _target_weight(weight: np.ndarray | None, target: np.ndarray, valid: np.ndarray | None, dtype) -> Any:
    """Each sample's weight in the NLL term: its class's weight, 0 where ignored (None: all 1)."""
    if weight is not None:
        wt = weight[target]
        if valid is not None:
            wt *= valid
        return wt
    if valid is not None:
        return valid.astype(dtype)
    return None


def _mean_backward(ctx: Function, g: np.ndarray) -> tuple:
    """Backward of a loss over class indices: scale by the mean's denominator, then ``ctx.gradient``.

    When nothing counted (every target ignored, or weighted 0) the mean is 0/0 = NaN; PyTorch's
    gradient is then 0 at the ignored entries (and 0 * inf = NaN at zero-weight ones): the same here,
    without the warnings.
    """
    if ctx.reduction != "mean":
        return ctx.gradient(g, False)
    if devices.is_device_array(ctx.denominator):
        # no sync to test the denominator: zeroing the ignored entries is a no-op when something
        # counted (their weight is 0), and gives PyTorch's 0 there when nothing did
        return ctx.gradient(g / ctx.denominator, ctx.valid is not None)
    if ctx.denominator != 0:
        return ctx.gradient(g / ctx.denominator, False)
    with np.errstate(invalid="ignore", divide="ignore"):
        return ctx.gradient(g / ctx.denominator, ctx.valid is not None)


def _reduce_counted(ctx: Function, loss: np.ndarray, wt: Any) -> np.ndarray:
    """Reduce a loss over class indices: the mean divides by the counted targets' total weight."""
    reduction = ctx.reduction
    if reduction == "none":
        return loss
    total = loss.sum(axis=None)  # ndarray.sum is np.add.reduce: the same sum
    if reduction == "sum":
        return total
    ctx.denominator = loss.size if wt is None else wt.sum(axis=None)
    return _divide(total, ctx.denominator)


class CrossEntropy(Function):
    """log-softmax over the classes and the negative log-likelihood of class indices, in one node."""

    def forward(ctx, x, target, weight, valid, reduction, smoothing):
        # target: class indices, ignored entries replaced by 0; valid: mask of the entries that
        # count (None: all do); weight: per-class weights or None
        n_classes = x.shape[1]
        xp = devices.array_module(x)
        key = _target_key(target)
        shifted = x - x.max(axis=1, keepdims=True)  # the largest logit becomes 0: exp never overflows
        picked = shifted[key]
        if smoothing:
            w_bc = 1.0 if weight is None else _per_class(weight, x.ndim)
            weighted_sum = shifted.sum(axis=1) if weight is None else (shifted * w_bc).sum(axis=1)
        e = xp.exp(shifted, out=shifted)
        total = e.sum(axis=1, keepdims=True)
        lse = xp.log(total[:, 0])  # log-sum-exp of the shifted logits
        loss = lse - picked  # -log p(target)
        wt = _target_weight(weight, target, valid, x.dtype)
        if wt is not None:
            loss *= wt
        if smoothing:
            # label smoothing mixes in the uniform target, whose loss is -sum_c w_c log p_c / C
            # the classes' total weight: a number on the CPU, a 0-d array on a device (no sync)
            w_total = (
                float(n_classes) if weight is None else float(weight.sum()) if xp is np else weight.sum()
            )
            smooth = w_total * lse - weighted_sum
            if valid is not None:
                smooth *= valid
            loss *= 1.0 - smoothing
            smooth *= smoothing / n_classes
            loss += smooth
            ctx.w_total, ctx.w_bc = w_total, w_bc
        ctx.e, ctx.total, ctx.key, ctx.wt, ctx.valid = e, total, key, wt, valid
        ctx.reduction, ctx.smoothing, ctx.n_classes = reduction, smoothing, n_classes
        return _reduce_counted(ctx, loss, wt)

    def backward(ctx, g):
        return _mean_backward(ctx, g)

    def gradient(ctx, g, nothing_counted):
        # With p = softmax(x), d(-log p_t)/dx = p - onehot(t), and the smoothing term
        # -sum_c w_c log p_c / C has d/dx = (W p - w) / C with W = sum_c w_c. Per sample:
        #   dx = a (p - onehot) + b (W p - w),  a = (1 - eps) w_t g,  b = eps valid g / C
        eps, valid = ctx.smoothing, ctx.valid
        xp = devices.array_module(ctx.e)
        a = g if ctx.wt is None else ctx.wt * g
        if nothing_counted:
            a = xp.where(valid, a, 0)
        coef = a
        if eps:
            a = a * (1.0 - eps)
            b = g * (eps / ctx.n_classes)
            if valid is not None:
                b = xp.where(valid, b, 0) if nothing_counted else b * valid
            coef = a + b * ctx.w_total
        dx = ctx.e / ctx.total  # softmax
        dx *= _expand(coef)
        if eps:
            dx -= _expand(b) * ctx.w_bc
        dx[ctx.key] -= a
        return dx, None, None, None, None, None


class CrossEntropyProbs(Function):
    """Cross-entropy against class probabilities (a target of the input's shape), in one node."""

    def forward(ctx, x, t, weight, reduction, smoothing):
        n_classes = x.shape[1]
        xp = devices.array_module(x)
        shifted = x - x.max(axis=1, keepdims=True)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        if smoothing:
            t = t * (1.0 - smoothing)
            t += smoothing / n_classes
        wt = t
        if weight is not None:
            ctx.w_bc = _per_class(weight, x.ndim)
            wt = t * ctx.w_bc
        loss = (logp * wt).sum(axis=1)
        xp.negative(loss, out=loss)
        ctx.logp, ctx.wt, ctx.weight, ctx.reduction, ctx.smoothing = logp, wt, weight, reduction, smoothing
        if reduction == "none":
            return loss
        total = loss.sum(axis=None)  # ndarray.sum is np.add.reduce: the same sum
        if reduction == "sum":
            return total
        ctx.denominator = loss.size  # samples (times extra dims), not weights
        return _divide(total, ctx.denominator)

    def backward(ctx, g):
        # loss = -sum_c wt_c log p_c with wt = w t': d/dx = p sum_c wt_c - wt, and
        # d/dt = -(1 - eps) w log p
        if ctx.reduction == "mean":
            g = _divide(g, ctx.denominator)
        ge = _expand(g)
        needs = ctx.needs_input_grad
        xp = devices.array_module(ctx.logp)
        gx = gt = None
        if needs[0]:
            wt = ctx.wt
            gx = xp.exp(ctx.logp)
            gx *= wt.sum(axis=1, keepdims=True)
            gx -= wt
            gx *= ge
        if needs[1]:
            gt = ctx.logp * ge
            xp.negative(gt, out=gt)
            if ctx.weight is not None:
                gt *= ctx.w_bc
            if ctx.smoothing:
                gt *= 1.0 - ctx.smoothing
        return gx, gt, None, None, None


class NllLoss(Function):
    """The negative log-likelihood of class indices, given log-probabilities."""

    def forward(ctx, x, target, weight, valid, reduction):
        key = _target_key(target)
        loss = -x[key]
        wt = _target_weight(weight, target, valid, x.dtype)
        if wt is not None:
            loss *= wt
        ctx.shape, ctx.dtype, ctx.key, ctx.wt, ctx.valid = x.shape, x.dtype, key, wt, valid
        ctx.reduction = reduction
        return _reduce_counted(ctx, loss, wt)

    def backward(ctx, g):
        return _mean_backward(ctx, g)

    def gradient(ctx, g, nothing_counted):
        # d(-w_t x_t)/dx = -w_t at the target class, 0 elsewhere
        xp = devices.array_module(ctx.key[1])  # the target: on the input's device
        a = g if ctx.wt is None else ctx.wt * g
        if nothing_counted:
            a = xp.where(ctx.valid, a, 0)
        dx = xp.zeros(ctx.shape, dtype=ctx.dtype)
        dx[ctx.key] = -a
        return dx, None, None, None, None


def _expand(v: Any) -> Any:
    """A per-sample array given back the class axis 1, so it broadcasts against the input."""
    return v[:, None] if getattr(v, "ndim", 0) and not isinstance(v, Tensor) else v


def _class_weight(weight: Any, n_classes: int, x: Tensor, name: str) -> np.ndarray | None:
    if weight is None:
        return None
    w = weight._array if isinstance(weight, Tensor) else devices.array_module(x._array).asarray(weight)
    if w.shape != (n_classes,):
        raise ValueError(
            f"{name}: weight must hold one value per class, shape ({n_classes},), got shape {w.shape}"
        )
    if w.dtype.kind not in "fiu":
        raise TypeError(f"{name}: weight must be a tensor of numbers, got dtype {w.dtype}")
    return w.astype(x._array.dtype, copy=False)


def _class_input(input: Any, name: str) -> Tensor:
    x = _float_input(input, name)
    if x.ndim == 0:
        raise ValueError(
            f"{name}: input must have a class dim: (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor"
        )
    return x


def _class_indices(
    x: Tensor, t: Tensor, ignore_index: int, name: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Check class-index targets; return them batched, with ignored entries set to 0, and the mask
    of the entries that count (None when all do)."""
    n_classes = x.shape[0 if x.ndim == 1 else 1]
    td = t._array
    if td.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: class-index targets must be an integer tensor (int64), got dtype {td.dtype} "
            f"of shape {t.shape}" + (
                f"; class probabilities need a floating target of the input's shape {x.shape}"
                if td.dtype.kind == "f" else ""
            )
        )  # fmt: skip
    expected = () if x.ndim == 1 else x.shape[:1] + x.shape[2:]
    if td.shape != expected:
        raise ValueError(
            f"{name}: target of shape {t.shape} does not match input of shape {x.shape} "
            f"(class indices need shape {expected}, class probabilities shape {x.shape})"
        )
    if x.ndim == 1:
        td = td.reshape(1)
    if td.size == 0:
        return td, None
    lo, hi = int(td.min()), int(td.max())  # a check of the values: on a device, a sync
    if lo >= 0 and hi < n_classes and not lo <= ignore_index <= hi:
        return td, None  # the common case: every target counts
    valid = td != ignore_index
    bad = valid & ((td < 0) | (td >= n_classes))
    if bad.any():
        value = int(td[bad][0])
        raise IndexError(
            f"{name}: target class {value} is out of range for {n_classes} classes "
            f"(expected 0 <= target < {n_classes}, or ignore_index={ignore_index})"
        )
    return devices.array_module(td).where(valid, td, 0), valid


def _unbatched_result(out: Tensor, unbatched: bool, reduction: str) -> Tensor:
    return out.reshape(()) if unbatched and reduction == "none" else out


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between the softmax of ``input`` (logits) and ``target``, in one fused node.

    ``input`` is (C,), (N, C) or (N, C, d1, ...). ``target`` holds class indices
    (integers of shape (), (N,) or (N, d1, ...), where ``ignore_index`` marks
    entries that count for nothing) or class probabilities (floats of the
    input's shape). ``weight`` gives each class a weight; ``label_smoothing``
    mixes the target with the uniform distribution, as PyTorch does.
    """
    name = "cross_entropy"
    reduction = resolve_reduction(reduction, size_average, reduce, name)
    x = _class_input(input, name)
    t = _tensor(target, "target", name)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    n_classes = x.shape[0 if x.ndim == 1 else 1]
    unbatched = x.ndim == 1
    if t._array.dtype.kind == "f" and t._array.shape == x._array.shape:
        if ignore_index >= 0:
            raise ValueError(f"{name}: ignore_index is not supported for class-probability targets")
        if t._array.dtype != x._array.dtype:
            x, t = promote(x, t)
        w = _class_weight(weight, n_classes, x, name)
        if unbatched:
            x, t = x.reshape(1, n_classes), t.reshape(1, n_classes)
        out = CrossEntropyProbs.apply(x, t, w, reduction, float(label_smoothing))
        return _unbatched_result(out, unbatched, reduction)
    idx, valid = _class_indices(x, t, ignore_index, name)
    w = _class_weight(weight, n_classes, x, name)
    if unbatched:
        x = x.reshape(1, n_classes)
    out = CrossEntropy.apply(x, idx, w, valid, reduction, float(label_smoothing))
    return _unbatched_result(out, unbatched, reduction)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """The negative log-likelihood ``-w[t] input[t]`` of class indices, given log-probabilities.

    Shapes as :func:`cross_entropy` with class-index targets; ``nll_loss(log_softmax(x, 1), t)``
    equals ``cross_entropy(x, t)``.
    """
    name = "nll_loss"
    reduction = resolve_reduction(reduction, size_average, reduce, name)
    x = _class_input(input, name)
    t = _tensor(target, "target", name)
    idx, valid = _class_indices(x, t, ignore_index, name)
    n_classes = x.shape[0 if x.ndim == 1 else 1]
    w = _class_weight(weight, n_classes, x, name)
    unbatched = x.ndim == 1
    if unbatched:
        x = x.reshape(1, n_classes)
    out = NllLoss.apply(x, idx, w, valid, reduction)
    return _unbatched_result(out, unbatched, reduction)


# ------------------------------------------------------- losses composed of differentiable ops
# KL divergence, Poisson and Gaussian NLL, margin ranking and triplet losses are
# short formulas over elementwise ops, so they are written as such and their
# backward is the chain rule through those ops (no fused node of their own).
def _reduced(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _reduction_of(reduction: Any, size_average: Any, reduce: Any, name: str) -> str:
    return resolve_reduction(reduction, size_average, reduce, name)


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """KL divergence ``target * (log target - input)`` with ``input`` log-probabilities (``F.kl_div``).

    ``log_target=True`` takes the target as log-probabilities too. Reductions
    are PyTorch's plus ``"batchmean"`` (the sum divided by the batch size, the
    true KL per sample); ``"mean"`` averages over every element, as PyTorch does.
    Both input and target get gradients.
    """
    name = "kl_div"
    batchmean = reduction == "batchmean"
    red = "sum" if batchmean else _reduction_of(reduction, size_average, reduce, name)
    x, t = _input_and_target(input, target, name)
    if log_target:
        loss = t.exp() * (t - x)
    else:
        # xlogy(t, t): 0 where t == 0; the log reads 1 there so no 0 * inf reaches the gradient.
        # A negative or NaN target gives NaN, as in PyTorch (not a silent 0)
        nonzero = t != 0
        safe = t.where(nonzero, 1.0)
        loss = (t * safe.log()).where(nonzero, 0.0) - t * x
    out = _reduced(loss, red)
    if batchmean and x.ndim:
        out = out / x.shape[0]
    return out


def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of a Poisson ``target`` with rate ``exp(input)`` (``log_input``) or ``input``.

    ``exp(input) - target * input``, or ``input - target * log(input + eps)``;
    ``full`` adds Stirling's approximation of ``log(target!)`` where target > 1.
    """
    name = "poisson_nll_loss"
    red = _reduction_of(reduction, size_average, reduce, name)
    x, t = _input_and_target(input, target, name)
    loss = x.exp() - t * x if log_input else x - t * (x + eps).log()
    if full:
        big = t > 1
        safe = t.where(big, 1.0)  # the term is 0 (and passes no gradient) where target <= 1
        stirling = safe * safe.log() - safe + 0.5 * (2 * np.pi * safe).log()
        loss = loss + stirling.where(big, 0.0)
    return _reduced(loss, red)


def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Tensor | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of ``target`` under N(``input``, ``var``): ``0.5 (log var + (x - t)^2 / var)``.

    ``var`` has the input's shape, or it with the last dim 1 or dropped (one
    variance per sample), or is a number. It is clamped at ``eps`` for
    stability; the clamp passes the gradient through unchanged, as PyTorch's
    does. ``full`` adds ``0.5 log(2 pi)``.
    """
    name = "gaussian_nll_loss"
    red = _reduction_of(reduction, None, None, name)
    x, t = _input_and_target(input, target, name)
    if not isinstance(var, Tensor):
        var = Tensor._make(devices.array_module(x._array).full(x.shape, float(var), dtype=x.dtype), None)
    if var.shape != x.shape:
        if x.shape[:-1] == var.shape:
            var = var.unsqueeze(-1)
        elif not (x.shape[:-1] == var.shape[:-1] and var.shape[-1:] == (1,)):
            raise ValueError(
                f"{name}: var of shape {var.shape} is not the input's {x.shape}, nor it with one dim less"
            )
    if (var._array < 0).any():  # a check of the values: on a device, a sync
        raise ValueError(f"{name}: var has negative entry/entries")
    fixed = var.detach()
    # the clamped value, the identity's gradient; (eps - var)^+ rather than clamp(var) - var, which is
    # inf - inf = NaN for an infinite variance (PyTorch's loss is then inf)
    var = var + (eps - fixed).clamp(min=0.0)
    loss = 0.5 * (var.log() + (x - t) ** 2 / var)
    if full:
        loss = loss + 0.5 * float(np.log(2 * np.pi))
    return _reduced(loss, red)


def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, -target * (input1 - input2) + margin)``: rank input1 above input2 where target is 1."""
    name = "margin_ranking_loss"
    red = _reduction_of(reduction, size_average, reduce, name)
    x1, x2 = _input_and_target(input1, input2, name)
    t = _tensor(target, "target", name)
    if t.shape != x1.shape:
        raise ValueError(f"{name}: target of shape {t.shape} does not match the inputs' shape {x1.shape}")
    return _reduced((-t * (x1 - x2) + margin).clamp(min=0), red)


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` the pairwise p-distance over the last dim.

    ``swap=True`` uses the smaller of d(a, n) and d(p, n) (the distance swap of
    Balntas et al.). Inputs are (N, D) or unbatched (D,).
    """
    name = "triplet_margin_loss"
    red = _reduction_of(reduction, size_average, reduce, name)
    for what, v in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        if not isinstance(v, Tensor) or v.ndim not in (1, 2):
            got = f"shape {v.shape}" if isinstance(v, Tensor) else type(v).__name__
            raise ValueError(f"{name}: {what} must be a 1-D (D,) or 2-D (N, D) tensor, got {got}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = d_neg.minimum(pairwise_distance(positive, negative, p, eps))
    return _reduced((margin + d_pos - d_neg).clamp(min=0), red)
