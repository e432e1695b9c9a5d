"""Losses: the functions of ``chainrule.nn.functional`` and the modules of ``chainrule.nn``.

Each loss is compared with PyTorch (value, shape, dtype and the gradient of
every differentiable input: the input, float targets, elementwise weights) over
hypothesis-drawn shapes, reductions and options: class indices and class
probabilities, (C,), (N, C) and (N, C, d1, d2) inputs, class weights,
ignore_index and label smoothing in every combination. Finite differences in
float64 check the backward passes independently; logits of +-1e4 must give
PyTorch's finite loss and gradient; bad input must fail with a clear message.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F  # noqa: N812
from helpers import check_against_torch, check_gradcheck

REDUCTIONS = ["none", "mean", "sum"]
SHAPES = array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


def pair(name, **kw):
    """The loss ``name`` in both libraries; array keyword values become tensors of each."""
    ours_kw = {k: cr.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    theirs_kw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    return (
        lambda *a: getattr(F, name)(*a, **ours_kw),
        lambda *a: getattr(TF, name)(*a, **theirs_kw),
    )


# ------------------------------------------------------- losses of a difference
POINTWISE = {
    "mse_loss": st.just({}),
    "l1_loss": st.just({}),
    "huber_loss": st.fixed_dictionaries({"delta": st.sampled_from([1.0, 0.5, 2.5])}),
    "smooth_l1_loss": st.fixed_dictionaries({"beta": st.sampled_from([1.0, 0.5, 0.0, 2.5])}),
}


@pytest.mark.parametrize("name", sorted(POINTWISE))
@given(data=st.data())
def test_pointwise_losses_match_torch(name, data):
    shape = data.draw(SHAPES)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    scale = data.draw(st.sampled_from([0.3, 1.0, 5.0]))
    x = np.asarray(rng.standard_normal(shape) * scale, np.float32)
    t = np.asarray(rng.standard_normal(shape) * scale, np.float32)
    if data.draw(st.booleans()):
        t.flat[0] = x.flat[0]  # a zero difference: the kink of l1 and smooth_l1 with beta=0
    kw = data.draw(POINTWISE[name])
    reduction = data.draw(st.sampled_from(REDUCTIONS))
    check_against_torch(*pair(name, reduction=reduction, **kw), [x, t])


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_elementwise_weight_matches_torch(name, reduction):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    t = rng.standard_normal((2, 3, 4)).astype(np.float32)
    w = rng.uniform(0.1, 2.0, (2, 3, 4)).astype(np.float32)
    # the weight is an ordinary input there: it gets a gradient too
    check_against_torch(
        lambda a, b, c: getattr(F, name)(a, b, reduction=reduction, weight=c),
        lambda a, b, c: getattr(TF, name)(a, b, reduction=reduction, weight=c),
        [x, t, w],
    )


def test_mixed_dtypes_promote_and_integer_targets_are_numbers():
    x = np.array([0.5, -1.0, 2.0], np.float32)
    check_against_torch(*pair("mse_loss"), [x, x.astype(np.float64) + 0.25])
    out = F.l1_loss(cr.tensor(x), cr.tensor([1, 0, 2]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.item(), (0.5 + 1.0 + 0.0) / 3)


# ---------------------------------------------------------- binary cross-entropy
@st.composite
def binary_case(draw, logits):
    shape = draw(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if logits:
        x = rng.standard_normal(shape) * draw(st.sampled_from([1.0, 10.0, 1e4]))
    else:
        x = rng.uniform(0.01, 0.99, shape)
    t = rng.uniform(0, 1, shape) if draw(st.booleans()) else rng.integers(0, 2, shape).astype(float)
    last = shape[-1:] if shape else ()
    weight = rng.uniform(0.1, 2, draw(st.sampled_from([shape, last]))) if draw(st.booleans()) else None
    pos_weight = rng.uniform(0.1, 3, last) if logits and draw(st.booleans()) else None
    reduction = draw(st.sampled_from(REDUCTIONS))
    f32 = lambda a: None if a is None else np.asarray(a, np.float32)  # noqa: E731
    return f32(x), f32(t), f32(weight), f32(pos_weight), reduction


@given(case=binary_case(logits=False))
def test_binary_cross_entropy_matches_torch(case):
    x, t, w, _, reduction = case
    check_against_torch(*pair("binary_cross_entropy", weight=w, reduction=reduction), [x, t])


@given(case=binary_case(logits=True))
def test_binary_cross_entropy_with_logits_matches_torch(case):
    x, t, w, pw, reduction = case
    name = "binary_cross_entropy_with_logits"
    (out,) = check_against_torch(*pair(name, weight=w, pos_weight=pw, reduction=reduction), [x, t])
    assert np.all(np.isfinite(out._array))


def test_binary_cross_entropy_clamps_its_logs():
    # x = 0 and 1 exactly: each log is clamped at -100, so the loss stays finite
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5], np.float32)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.3], np.float32)
    (out,) = check_against_torch(*pair("binary_cross_entropy", reduction="none"), [x, t], grad=[True, False])
    np.testing.assert_allclose(out._array[:4], [100.0, 100.0, 0.0, 0.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_extreme_logits_binary(reduction):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 30.0], [-30.0, 1e4, -1e4]], np.float32)
    t = np.array([[1.0, 0.0, 0.5], [1.0, 0.0, 1.0], [0.0, 0.3, 0.7]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for pw in (None, np.array([0.5, 2.0, 1.0], np.float32)):
            name = "binary_cross_entropy_with_logits"
            (out,) = check_against_torch(*pair(name, pos_weight=pw, reduction=reduction), [x, t])
            assert np.all(np.isfinite(out._array))


# ------------------------------------------------------------- cross-entropy
@st.composite
def class_case(draw, probabilities_allowed=True):
    """Input, target and keyword options for cross_entropy / nll_loss."""
    layout = draw(st.sampled_from(["(C,)", "(N, C)", "(N, C, d1)", "(N, C, d1, d2)"]))
    c = draw(st.integers(1, 5))
    n = draw(st.integers(1, 4))
    extra = tuple(draw(st.lists(st.integers(1, 3), min_size=layout.count("d"), max_size=layout.count("d"))))
    shape = (c,) if layout == "(C,)" else (n, c, *extra)
    target_shape = () if layout == "(C,)" else (n, *extra)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = (rng.standard_normal(shape) * draw(st.sampled_from([1.0, 5.0, 1e4]))).astype(np.float32)
    kw = {"reduction": draw(st.sampled_from(REDUCTIONS))}
    if draw(st.booleans()):
        kw["weight"] = rng.uniform(0.2, 2.0, c).astype(np.float32)
    probabilities = probabilities_allowed and draw(st.booleans())
    if probabilities:
        t = rng.uniform(0, 1, shape)
        if draw(st.booleans()):  # normalised, or not (PyTorch does not require it)
            t /= t.sum(axis=0 if layout == "(C,)" else 1, keepdims=True)
        t = t.astype(np.float32)
    else:
        t = rng.integers(0, c, target_shape)
        ignore = draw(st.sampled_from([None, -100, "a class"]))
        if ignore == -100:
            t = np.where(rng.uniform(size=target_shape) < 0.3, -100, t)
        elif ignore == "a class":
            kw["ignore_index"] = int(rng.integers(0, c))
    return x, np.asarray(t), kw, probabilities


@given(case=class_case(), smoothing=st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_cross_entropy_matches_torch(case, smoothing):
    x, t, kw, probabilities = case
    kw["label_smoothing"] = smoothing
    grad = [True, probabilities]  # class probabilities are differentiable
    check_against_torch(*pair("cross_entropy", **kw), [x, t], grad=grad, rtol=1e-5, atol=1e-5)


@given(case=class_case(), smoothing=st.sampled_from([0.0, 0.3]))
def test_cross_entropy_float64_matches_torch(case, smoothing):
    x, t, kw, probabilities = case
    x = x.astype(np.float64)
    t = t.astype(np.float64) if probabilities else t
    kw = {k: v.astype(np.float64) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    fns = pair("cross_entropy", label_smoothing=smoothing, **kw)
    (out,) = check_against_torch(*fns, [x, t], grad=[True, probabilities], rtol=1e-10, atol=1e-10)
    assert out.dtype == np.float64


@given(case=class_case(probabilities_allowed=False))
def test_nll_loss_matches_torch(case):
    x, t, kw, _ = case
    logp = torch.log_softmax(torch.tensor(x), 0 if x.ndim == 1 else 1).numpy()
    check_against_torch(*pair("nll_loss", **kw), [logp, t], grad=[True, False])


def test_cross_entropy_equals_nll_of_log_softmax():
    x = cr.randn(4, 5, 3, requires_grad=True)
    t = cr.randint(0, 5, (4, 3))
    a = F.cross_entropy(x, t, label_smoothing=0.0)
    b = F.nll_loss(F.log_softmax(x, dim=1), t)
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-6)


def test_all_targets_ignored_gives_nan_mean_like_torch():
    x = np.random.default_rng(6).standard_normal((3, 4)).astype(np.float32)
    t = np.array([-100, -100, -100])
    for name in ("cross_entropy", "nll_loss"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ours = getattr(F, name)(cr.tensor(x), cr.tensor(t))
        assert np.isnan(ours.item()) and np.isnan(getattr(TF, name)(torch.tensor(x), torch.tensor(t)).item())
        check_against_torch(*pair(name, reduction="sum"), [x, t], grad=[True, False])


EXTREME = np.array(
    [
        [1e4, -1e4, 0.0, 1.0],
        [-1e4, -1e4, -1e4, -1e4],
        [1e4, 1e4, 1e4, -1e4],
        [1e4, 1e4 - 1.0, 1e4 - 2.0, -3e4],
        [3e4, -3e4, 2.0, -2.0],
    ],
    np.float32,
)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_extreme_logits_cross_entropy(reduction, smoothing):
    weight = np.array([0.5, 1.0, 2.0, 1.5], np.float32)
    probs = np.full(EXTREME.shape, 0.25, np.float32)
    probs[0] = [1.0, 0.0, 0.0, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for target in (np.array([1, 0, 3, 3, 1]), np.array([0, 1, 2, 0, 3]), probs):
            for w in (None, weight):
                fns = pair("cross_entropy", weight=w, reduction=reduction, label_smoothing=smoothing)
                (out,) = check_against_torch(*fns, [EXTREME, target], grad=[True, False])
                assert np.all(np.isfinite(out._array))
                x = cr.tensor(EXTREME, requires_grad=True)
                F.cross_entropy(x, cr.tensor(target), label_smoothing=smoothing).backward()
                assert np.all(np.isfinite(x.grad._array))


# ----------------------------------------------------------------- gradcheck
def test_gradcheck_class_losses():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 2))
    t = np.array([[0, 3], [-100, 1], [2, 2]])
    w = cr.tensor(rng.uniform(0.5, 2, 4))
    for kw in ({}, {"weight": w, "label_smoothing": 0.3}, {"ignore_index": 2, "reduction": "sum"}):
        tk = np.where(t == -100, 2, t) if "ignore_index" in kw else t
        check_gradcheck(lambda a, b, kw=kw: F.cross_entropy(a, b, **kw), [x, tk])
        nll_kw = {k: v for k, v in kw.items() if k != "label_smoothing"}
        check_gradcheck(lambda a, b, kw=nll_kw: F.nll_loss(a, b, **kw), [x, tk])
    probs = rng.uniform(0, 1, (3, 4, 2))
    check_gradcheck(lambda a, b: F.cross_entropy(a, b, weight=w, label_smoothing=0.2), [x, probs])
    check_gradcheck(lambda a, b: F.cross_entropy(a, b, reduction="none"), [x[0, :, 0].copy(), np.array(1)])


def test_gradcheck_binary_and_pointwise_losses():
    rng = np.random.default_rng(8)
    x = rng.uniform(0.1, 0.9, (3, 4))
    t = rng.uniform(0, 1, (3, 4))
    w = cr.tensor(rng.uniform(0.5, 2, 4))
    check_gradcheck(lambda a, b: F.binary_cross_entropy(a, b, weight=w), [x, t])
    z = rng.standard_normal((3, 4)) * 3
    bce = F.binary_cross_entropy_with_logits
    check_gradcheck(lambda a, b: bce(a, b, weight=w, pos_weight=w * 2, reduction="sum"), [z, t])
    check_gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"), [z, t])
    d = rng.standard_normal((3, 4)) * 2
    d[np.abs(np.abs(d) - 0.5) < 0.01] += 0.05  # away from huber's and smooth_l1's joints
    for fn in (F.mse_loss, F.l1_loss, lambda a, b: F.huber_loss(a, b, delta=0.5),
               lambda a, b: F.smooth_l1_loss(a, b, beta=0.5, reduction="sum")):  # fmt: skip
        check_gradcheck(fn, [d, np.zeros((3, 4))])
    check_gradcheck(lambda a, b, c: F.mse_loss(a, b, weight=c), [d, t, rng.uniform(0.5, 2, (3, 4))])


# -------------------------------------------------------------------- errors
X = cr.randn(4, 5)
T = cr.tensor([0, 1, 1, 1])
CE, NLL = F.cross_entropy, F.nll_loss
ERRORS = [
    (TypeError, r"cross_entropy: class-index targets must be an integer .* float32",
     lambda: CE(X, cr.tensor([0.0, 1.0, 2.0, 3.0]))),
    (ValueError, r"cross_entropy: target of shape \(3,\) does not match input of shape \(4, 5\)",
     lambda: CE(X, cr.tensor([0, 1, 2]))),
    (TypeError, r"\(4, 3\); class probabilities need a floating target of .* \(4, 5\)",
     lambda: CE(X, cr.zeros(4, 3))),
    (IndexError, r"cross_entropy: target class 7 is out of range for 5 classes",
     lambda: CE(X, cr.tensor([0, 7, 1, 1]))),
    (IndexError, r"nll_loss: target class -1 is out of range", lambda: NLL(X, cr.tensor([0, -1, 1, 1]))),
    (ValueError, r"cross_entropy: reduction must be 'none', 'mean' or 'sum', got 'avg'",
     lambda: CE(X, T, reduction="avg")),
    (ValueError, r"weight must hold one value per class, shape \(5,\), got shape \(3,\)",
     lambda: CE(X, T, weight=cr.ones(3))),
    (ValueError, r"label_smoothing must be between 0\.0 and 1\.0, got 1\.5",
     lambda: CE(X, T, label_smoothing=1.5)),
    (ValueError, r"ignore_index is not supported for class-probability targets",
     lambda: CE(X, cr.rand(4, 5), ignore_index=1)),
    (ValueError, r"cross_entropy: input must have a class dim", lambda: CE(cr.tensor(1.0), cr.tensor(0))),
    (TypeError, r"nll_loss: class-index targets must be an integer tensor", lambda: NLL(X, cr.rand(4, 5))),
    (TypeError, r"cross_entropy: target must be a Tensor, got list", lambda: CE(X, [0, 1, 2, 3])),
    (ValueError, r"mse_loss: target of shape \(3, 1\) does not match input of shape \(3,\)",
     lambda: F.mse_loss(cr.ones(3), cr.ones(3, 1))),
    (ValueError, r"l1_loss: reduction must be 'none', 'mean' or 'sum', got 'max'",
     lambda: F.l1_loss(cr.ones(3), cr.ones(3), reduction="max")),
    (TypeError, r"mse_loss: input must be a floating-point tensor, got dtype int64",
     lambda: F.mse_loss(cr.tensor([1, 2]), cr.tensor([1, 2]))),
    (ValueError, r"binary_cross_entropy: every element of input must be in \[0, 1\], got values in \[0\.5,",
     lambda: F.binary_cross_entropy(cr.tensor([0.5, 1.5]), cr.tensor([0.0, 1.0]))),
    (ValueError, r"element of target must be in \[0, 1\], got values in \[0\.0, 2\.0\]",
     lambda: F.binary_cross_entropy(cr.tensor([0.5, 0.5]), cr.tensor([0.0, 2.0]))),
    (ValueError, r"pos_weight of shape \(3,\) does not broadcast to the input's shape \(2, 4\)",
     lambda: F.binary_cross_entropy_with_logits(cr.ones(2, 4), cr.ones(2, 4), pos_weight=cr.ones(3))),
    (ValueError, r"huber_loss: delta must be positive, got 0", lambda: F.huber_loss(X, X, delta=0)),
    (ValueError, r"smooth_l1_loss: beta must not be negative", lambda: F.smooth_l1_loss(X, X, beta=-1.0)),
]  # fmt: skip


@pytest.mark.parametrize(("error", "message", "call"), ERRORS)
def test_errors_name_the_problem(error, message, call):
    with pytest.raises(error, match=message):
        call()


def test_legacy_size_average_and_reduce():
    x, t = cr.tensor([1.0, 2.0, 4.0]), cr.tensor([0.0, 0.0, 0.0])
    cases = [((False, None), 21.0), ((None, False), [1.0, 4.0, 16.0]), ((True, True), 7.0)]
    for (size_average, reduce), expected in cases:
        with pytest.warns(DeprecationWarning, match="size_average and reduce are deprecated"):
            out = F.mse_loss(x, t, size_average=size_average, reduce=reduce)
        np.testing.assert_allclose(out._array, expected)


# -------------------------------------------------------------------- modules
MODULES = [
    ("MSELoss", {}),
    ("L1Loss", {"reduction": "sum"}),
    ("HuberLoss", {"delta": 0.5}),
    ("SmoothL1Loss", {"beta": 0.5, "reduction": "none"}),
    ("BCELoss", {"weight": np.array([1.0, 2.0, 0.5], np.float32)}),
    ("BCEWithLogitsLoss", {"pos_weight": np.array([1.0, 2.0, 0.5], np.float32)}),
    ("CrossEntropyLoss", {"weight": np.array([1.0, 2.0, 0.5], np.float32), "label_smoothing": 0.1}),
    ("CrossEntropyLoss", {"ignore_index": 1, "reduction": "sum"}),
    ("NLLLoss", {"weight": np.array([1.0, 2.0, 0.5], np.float32)}),
]


@pytest.mark.parametrize(("name", "kw"), MODULES)
def test_modules_match_torch(name, kw):
    ours = getattr(nn, name)(**{k: cr.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()})
    theirs = getattr(torch.nn, name)(
        **{k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    )
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())  # weights are buffers, as in PyTorch
    rng = np.random.default_rng(9)
    if name in ("CrossEntropyLoss", "NLLLoss"):
        inputs, grad = [rng.standard_normal((4, 3)).astype(np.float32), np.array([0, 2, 1, 1])], [True, False]
    else:
        inputs = [rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))]
        inputs, grad = [a.astype(np.float32) for a in inputs], None
    check_against_torch(ours, theirs, inputs, grad=grad)


def test_module_arguments():
    loss = nn.CrossEntropyLoss(ignore_index=3, label_smoothing=0.2)
    assert (loss.ignore_index, loss.label_smoothing, loss.reduction, loss.weight) == (3, 0.2, "mean", None)
    assert nn.SmoothL1Loss(beta=0.5).beta == 0.5 and nn.HuberLoss(delta=2.0).delta == 2.0
    with pytest.warns(DeprecationWarning):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.raises(ValueError, match=r"MSELoss: reduction must be 'none', 'mean' or 'sum', got 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: label_smoothing must be between 0\.0 and 1\.0"):
        nn.CrossEntropyLoss(label_smoothing=2.0)
    with pytest.raises(TypeError, match="BCELoss: weight must be a Tensor or None, got list"):
        nn.BCELoss(weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="HuberLoss: delta must be positive"):
        nn.HuberLoss(delta=-1.0)
