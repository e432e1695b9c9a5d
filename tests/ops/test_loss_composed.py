"""KL divergence, Poisson and Gaussian NLL, margin ranking and triplet losses (+ layers) vs PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812
from chainrule import nn
from helpers import check_against_torch, check_gradcheck

_REDUCTIONS = ["none", "mean", "sum"]
_rng = np.random.default_rng


@settings(max_examples=20, deadline=None)
@given(reduction=st.sampled_from([*_REDUCTIONS, "batchmean"]), log_target=st.booleans(), n=st.integers(1, 4))
def test_kl_div(reduction, log_target, n):
    rng = _rng(n)
    x = np.log(rng.dirichlet(np.ones(5), n)).astype(np.float32)
    t = rng.dirichlet(np.ones(5), n).astype(np.float32)
    t = np.log(t) if log_target else t
    kw = dict(reduction=reduction, log_target=log_target)
    check_against_torch(lambda a, b: F.kl_div(a, b, **kw), lambda a, b: TF.kl_div(a, b, **kw), [x, t])
    ours = nn.KLDivLoss(**kw)(cr.tensor(x), cr.tensor(t))
    np.testing.assert_allclose(
        ours.numpy(), torch.nn.KLDivLoss(**kw)(torch.tensor(x), torch.tensor(t)).numpy(), 1e-5
    )


def test_kl_div_zero_target_counts_nothing():
    x = np.log(np.full((2, 3), 1 / 3, np.float32))
    t = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], np.float32)
    check_against_torch(
        lambda a, b: F.kl_div(a, b, reduction="batchmean"),
        lambda a, b: TF.kl_div(a, b, reduction="batchmean"), [x, t], grad=[True, False],
    )  # fmt: skip


@settings(max_examples=20, deadline=None)
@given(
    reduction=st.sampled_from(_REDUCTIONS),
    log_input=st.booleans(),
    full=st.booleans(),
    seed=st.integers(0, 99),
)
def test_poisson_nll(reduction, log_input, full, seed):
    rng = _rng(seed)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    x = x if log_input else np.abs(x) + 0.1
    t = rng.poisson(2.0, (3, 4)).astype(np.float32)
    kw = dict(log_input=log_input, full=full, reduction=reduction)
    check_against_torch(
        lambda a, b: F.poisson_nll_loss(a, b, **kw),
        lambda a, b: TF.poisson_nll_loss(a, b, **kw),
        [x, t],
        grad=[True, False],  # counts: PyTorch's full=True target gradient is NaN at 0, ours 0 there
        rtol=1e-4,
    )
    ours = nn.PoissonNLLLoss(**kw)(cr.tensor(x), cr.tensor(t))
    theirs = torch.nn.PoissonNLLLoss(**kw)(torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), 1e-4)


@settings(max_examples=20, deadline=None)
@given(
    reduction=st.sampled_from(_REDUCTIONS),
    full=st.booleans(),
    var_shape=st.sampled_from(["same", "last1", "dropped"]),
    seed=st.integers(0, 99),
)
def test_gaussian_nll(reduction, full, var_shape, seed):
    rng = _rng(seed)
    x, t = (
        rng.standard_normal((2, 3, 4)).astype(np.float32),
        rng.standard_normal((2, 3, 4)).astype(np.float32),
    )
    var = {"same": (2, 3, 4), "last1": (2, 3, 1), "dropped": (2, 3)}[var_shape]
    v = (np.abs(rng.standard_normal(var)) + 0.05).astype(np.float32)
    v.flat[0] = 1e-8  # below eps: clamped, the gradient passes through as PyTorch's does
    kw = dict(full=full, reduction=reduction)
    check_against_torch(
        lambda a, b, c: F.gaussian_nll_loss(a, b, c, **kw),
        lambda a, b, c: TF.gaussian_nll_loss(a, b, c, **kw), [x, t, v], rtol=1e-4, atol=1e-5,
    )  # fmt: skip
    ours = nn.GaussianNLLLoss(**kw)(cr.tensor(x), cr.tensor(t), cr.tensor(v))
    theirs = torch.nn.GaussianNLLLoss(**kw)(torch.tensor(x), torch.tensor(t), torch.tensor(v))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), 1e-4, 1e-5)


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_gaussian_nll_infinite_variance_gives_inf_as_torch(reduction):
    # the eps clamp was var + (clamp(var) - var): inf - inf made the loss NaN where PyTorch's is inf
    rng = _rng(3)
    x, t = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    v = np.array([[1.0, np.inf, 0.5], [1e-9, 2.0, 1.0]])
    (out,) = check_against_torch(
        lambda a, b, c: F.gaussian_nll_loss(a, b, c, reduction=reduction),
        lambda a, b, c: TF.gaussian_nll_loss(a, b, c, reduction=reduction),
        [x, t, v], grad=[True, False, True],
    )  # fmt: skip
    assert np.isposinf(out.cpu().numpy()).any()


@settings(max_examples=20, deadline=None)
@given(reduction=st.sampled_from(_REDUCTIONS), margin=st.sampled_from([0.0, 0.5]), seed=st.integers(0, 99))
def test_margin_ranking(reduction, margin, seed):
    rng = _rng(seed)
    x1, x2 = rng.standard_normal(6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    y = np.where(rng.random(6) < 0.5, -1.0, 1.0).astype(np.float32)
    kw = dict(margin=margin, reduction=reduction)
    check_against_torch(
        lambda a, b, c: F.margin_ranking_loss(a, b, c, **kw),
        lambda a, b, c: TF.margin_ranking_loss(a, b, c, **kw), [x1, x2, y], grad=[True, True, False],
    )  # fmt: skip
    ours = nn.MarginRankingLoss(**kw)(cr.tensor(x1), cr.tensor(x2), cr.tensor(y))
    theirs = torch.nn.MarginRankingLoss(**kw)(torch.tensor(x1), torch.tensor(x2), torch.tensor(y))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), 1e-5)


@settings(max_examples=20, deadline=None)
@given(
    reduction=st.sampled_from(_REDUCTIONS),
    p=st.sampled_from([1.0, 2.0, 3.0]),
    swap=st.booleans(),
    batched=st.booleans(),
    seed=st.integers(0, 99),
)
def test_triplet_margin(reduction, p, swap, batched, seed):
    rng = _rng(seed)
    shape = (4, 5) if batched else (5,)
    a, pos, neg = (rng.standard_normal(shape).astype(np.float32) for _ in range(3))
    kw = dict(margin=1.5, p=p, swap=swap, reduction=reduction)
    check_against_torch(
        lambda a, b, c: F.triplet_margin_loss(a, b, c, **kw),
        lambda a, b, c: TF.triplet_margin_loss(a, b, c, **kw), [a, pos, neg], rtol=1e-4, atol=1e-5,
    )  # fmt: skip
    ours = nn.TripletMarginLoss(**kw)(cr.tensor(a), cr.tensor(pos), cr.tensor(neg))
    theirs = torch.nn.TripletMarginLoss(**kw)(torch.tensor(a), torch.tensor(pos), torch.tensor(neg))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), 1e-4, 1e-5)


@pytest.mark.parametrize("reduction", ["none", "sum"])
@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")
def test_kl_div_negative_or_nan_target_gives_nan_as_torch(reduction):
    # t log t of a negative or NaN target is NaN in PyTorch; chainrule read it as 0 and hid bad targets
    x = np.log(np.full((2, 3), 1 / 3, np.float32))
    t = np.array([[-0.5, 0.5, 1.0], [np.nan, 0.0, 1.0]], np.float32)
    (out,) = check_against_torch(
        lambda a, b: F.kl_div(a, b, reduction=reduction),
        lambda a, b: TF.kl_div(a, b, reduction=reduction), [x, t], grad=[True, False],
    )  # fmt: skip
    assert np.isnan(out.cpu().numpy()).any()


def test_gradchecks():
    rng = _rng(7)
    lp, t = np.log(rng.dirichlet(np.ones(4), 3)), rng.dirichlet(np.ones(4), 3)
    check_gradcheck(lambda a, b: F.kl_div(a, b, reduction="batchmean"), [lp, t])
    check_gradcheck(
        lambda a, b: F.poisson_nll_loss(a, b, full=True),
        [rng.standard_normal((3, 4)), rng.poisson(3.0, (3, 4)) + 0.5],
    )
    check_gradcheck(
        lambda a, b, c: F.gaussian_nll_loss(a, b, c),
        [rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.random((3, 1)) + 0.5],
    )
    check_gradcheck(
        lambda a, b, c: F.triplet_margin_loss(a, b, c, margin=3.0, swap=True),
        [rng.standard_normal((3, 4)) for _ in range(3)],
    )


def test_errors():
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var has negative"):
        F.gaussian_nll_loss(cr.zeros(2, 3), cr.zeros(2, 3), -cr.ones(2, 3))
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var of shape \(2, 2\)"):
        F.gaussian_nll_loss(cr.zeros(2, 3), cr.zeros(2, 3), cr.ones(2, 2))
    with pytest.raises(ValueError, match=r"kl_div: reduction must be"):
        F.kl_div(cr.zeros(2, 3), cr.zeros(2, 3), reduction="average")
    with pytest.raises(ValueError, match=r"triplet_margin_loss: anchor must be a 1-D"):
        F.triplet_margin_loss(cr.zeros(2, 3, 4), cr.zeros(2, 3, 4), cr.zeros(2, 3, 4))
    with pytest.raises(ValueError, match=r"TripletMarginLoss: margin must be greater than 0"):
        nn.TripletMarginLoss(margin=0)
