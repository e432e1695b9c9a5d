"""Learning-rate schedulers against PyTorch: the same rate (and momentum) sequence, step by step."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import optim
from chainrule.optim import lr_scheduler as crs

TS = torch.optim.lr_scheduler


def _decay(e: int) -> float:
    return 0.95**e


def _inverse(e: int) -> float:
    return 1 / (1 + e)


SCHEDULERS = {
    "LambdaLR": lambda s, o: s.LambdaLR(o, _decay),
    "LambdaLR-per-group": lambda s, o: s.LambdaLR(o, [_decay, _inverse]),
    "MultiplicativeLR": lambda s, o: s.MultiplicativeLR(o, lambda e: 0.97),
    "StepLR": lambda s, o: s.StepLR(o, step_size=7, gamma=0.5),
    "StepLR-float-period": lambda s, o: s.StepLR(o, step_size=6.0, gamma=0.5),
    "MultiStepLR": lambda s, o: s.MultiStepLR(o, milestones=[5, 12, 12, 30], gamma=0.3),
    "ConstantLR": lambda s, o: s.ConstantLR(o, factor=0.25, total_iters=6),
    "LinearLR": lambda s, o: s.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=20),
    "LinearLR-defaults": lambda s, o: s.LinearLR(o),
    "ExponentialLR": lambda s, o: s.ExponentialLR(o, gamma=0.93),
    "PolynomialLR": lambda s, o: s.PolynomialLR(o, total_iters=25, power=2.0),
    "CosineAnnealingLR": lambda s, o: s.CosineAnnealingLR(o, T_max=17, eta_min=1e-4),
    "CosineAnnealingLR-defaults": lambda s, o: s.CosineAnnealingLR(o, T_max=10),
    "OneCycleLR": lambda s, o: s.OneCycleLR(o, max_lr=0.5, total_steps=60),
    "OneCycleLR-linear-three-phase": lambda s, o: s.OneCycleLR(
        o,
        max_lr=[0.5, 0.2],
        epochs=6,
        steps_per_epoch=10,
        pct_start=0.25,
        anneal_strategy="linear",
        three_phase=True,
        div_factor=10.0,
        final_div_factor=100.0,
        base_momentum=[0.8, 0.7],
        max_momentum=0.9,
    ),
    "OneCycleLR-no-momentum": lambda s, o: s.OneCycleLR(o, max_lr=0.3, total_steps=60, cycle_momentum=False),
    "SequentialLR": lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.1, total_iters=5), s.CosineAnnealingLR(o, T_max=20)], milestones=[5]
    ),
    "ChainedScheduler": lambda s, o: s.ChainedScheduler([s.ExponentialLR(o, 0.95), s.StepLR(o, 10, 0.5)]),
    "CosineAnnealingWarmRestarts": lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=7),
    "CosineAnnealingWarmRestarts-T_mult": lambda s, o: s.CosineAnnealingWarmRestarts(o, 3, 2, eta_min=1e-3),
    "CyclicLR": lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4),
    "CyclicLR-triangular2": lambda s, o: s.CyclicLR(
        o, base_lr=[0.01, 0.001], max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2"
    ),
    "CyclicLR-exp-range": lambda s, o: s.CyclicLR(
        o, 0.01, [0.2, 0.1], step_size_up=6, mode="exp_range", gamma=0.97, base_momentum=[0.7, 0.8]
    ),
    "CyclicLR-scale-fn": lambda s, o: s.CyclicLR(
        o, 0.01, 0.1, 5, scale_fn=_inverse, scale_mode="iterations", cycle_momentum=False
    ),
}


def _optimizers(kind: str) -> tuple:
    """Twin optimizers with two parameter groups (different rates) and no gradients (steps change nothing)."""
    ours = [cr.tensor(np.ones(2, np.float32), requires_grad=True) for _ in range(2)]
    theirs = [torch.ones(2, requires_grad=True) for _ in range(2)]
    if kind == "sgd":
        make = lambda lib, ps: lib.optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.01}], 0.1, 0.9)  # noqa: E731
    else:
        make = lambda lib, ps: lib.optim.Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.01}], 0.1)  # noqa: E731
    return make(cr, ours), make(torch, theirs)


def _momenta(opt) -> list:
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def _assert_same(ours, theirs, our_opt, their_opt) -> None:
    assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12, abs=1e-15)
    assert [g["lr"] for g in our_opt.param_groups] == pytest.approx([g["lr"] for g in their_opt.param_groups])
    assert _momenta(our_opt) == pytest.approx(_momenta(their_opt), rel=1e-12)
    assert getattr(ours, "last_epoch", None) == getattr(theirs, "last_epoch", None)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_sequence_matches_torch(name: str, kind: str) -> None:
    our_opt, their_opt = _optimizers(kind)
    ours, theirs = SCHEDULERS[name](crs, our_opt), SCHEDULERS[name](TS, their_opt)
    _assert_same(ours, theirs, our_opt, their_opt)
    for _ in range(60):
        our_opt.step()
        their_opt.step()
        ours.step()
        theirs.step()
        _assert_same(ours, theirs, our_opt, their_opt)
    assert "initial_lr" in our_opt.param_groups[0]


def test_one_cycle_drives_adam_like_torch_and_refuses_to_step_past_the_end() -> None:
    rng = np.random.default_rng(0)
    init = rng.standard_normal((4, 3)).astype(np.float32)
    p, q = cr.tensor(init.copy(), requires_grad=True), torch.tensor(init.copy(), requires_grad=True)
    our_opt, their_opt = optim.Adam([p]), torch.optim.Adam([q])
    ours = crs.OneCycleLR(our_opt, max_lr=0.1, total_steps=20)
    theirs = TS.OneCycleLR(their_opt, max_lr=0.1, total_steps=20)
    for k in range(20):
        g = np.random.default_rng(k).standard_normal((4, 3)).astype(np.float32)
        p.grad, q.grad = cr.tensor(g + p._array), torch.tensor(g + q.detach().numpy())
        our_opt.step()
        their_opt.step()
        ours.step()
        theirs.step()
    np.testing.assert_allclose(p._array, q.detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"OneCycleLR: tried to step 21 times; .* total steps is 20"):
        ours.step()


METRICS = [1.0, 0.9, 0.95, 0.95, 0.95, 0.89, 0.9, 0.9, 0.9, 0.9, 0.88, 0.8799, 0.87, 0.9, 0.9, 0.9, 0.9, 0.9]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"patience": 2},
        {"patience": 1, "factor": 0.5, "cooldown": 2},
        {"mode": "max", "patience": 1},
        {"threshold_mode": "abs", "threshold": 0.01, "patience": 1},
        {"mode": "max", "threshold_mode": "abs", "threshold": 0.01, "patience": 0},
        {"patience": 0, "factor": 0.5, "min_lr": [0.04, 0.0]},
        {"patience": 0, "factor": 0.9, "eps": 0.005},
    ],
    ids=str,
)
def test_reduce_on_plateau_matches_torch(kwargs: dict) -> None:
    our_opt, their_opt = _optimizers("sgd")
    ours = crs.ReduceLROnPlateau(our_opt, **kwargs)
    theirs = TS.ReduceLROnPlateau(their_opt, **kwargs)
    for metric in METRICS * 2:
        ours.step(metric)
        theirs.step(metric)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
        assert (ours.best, ours.num_bad_epochs, ours.cooldown_counter, ours.last_epoch) == (
            theirs.best,
            theirs.num_bad_epochs,
            theirs.cooldown_counter,
            theirs.last_epoch,
        )
    assert our_opt.param_groups[0]["lr"] < 0.1


def test_reduce_on_plateau_accepts_a_tensor_metric() -> None:
    our_opt, _ = _optimizers("sgd")
    sched = crs.ReduceLROnPlateau(our_opt, patience=0)
    sched.step(cr.tensor(1.0))
    sched.step(cr.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([0.01, 0.001])


@pytest.mark.parametrize(
    "name",
    [
        "CosineAnnealingLR",
        "OneCycleLR",
        "LambdaLR",
        "SequentialLR",
        "MultiStepLR",
        "CosineAnnealingWarmRestarts-T_mult",
        "CyclicLR-exp-range",
    ],
)
def test_state_dict_round_trip_continues_exactly(name: str) -> None:
    make = SCHEDULERS[name]
    full_opt, _ = _optimizers("adam")
    full = make(crs, full_opt)
    first_opt, _ = _optimizers("adam")
    first = make(crs, first_opt)
    for _ in range(10):
        for opt, sched in ((full_opt, full), (first_opt, first)):
            opt.step()
            sched.step()
    saved_opt = copy.deepcopy(first_opt.state_dict())
    saved = copy.deepcopy(first.state_dict())
    assert "optimizer" not in saved

    resumed_opt, _ = _optimizers("adam")
    resumed = make(crs, resumed_opt)  # construct the scheduler first, then load both (as PyTorch advises)
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved)
    for _ in range(20):
        for opt, sched in ((full_opt, full), (resumed_opt, resumed)):
            opt.step()
            sched.step()
        assert resumed.get_last_lr() == full.get_last_lr()
        assert _momenta(resumed_opt) == _momenta(full_opt)


def test_reduce_on_plateau_state_dict_round_trip() -> None:
    opt, _ = _optimizers("sgd")
    sched = crs.ReduceLROnPlateau(opt, mode="max", patience=1)
    for m in METRICS[:8]:
        sched.step(m)
    other_opt, _ = _optimizers("sgd")
    other = crs.ReduceLROnPlateau(other_opt)
    other.load_state_dict(copy.deepcopy(sched.state_dict()))
    other_opt.load_state_dict(opt.state_dict())
    for m in METRICS[8:]:
        sched.step(m)
        other.step(m)
        assert other.get_last_lr() == sched.get_last_lr()
    assert other.mode == "max"


class _Warmup:
    """A callable object: its attributes are saved in LambdaLR's state dict (functions are not)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def __call__(self, epoch: int) -> float:
        return min(1.0, (epoch + 1) / self.steps)


def test_lambda_state_dict_saves_callable_objects_not_functions() -> None:
    opt, _ = _optimizers("sgd")
    sched = crs.LambdaLR(opt, [_Warmup(4), _decay])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"steps": 4}, None]
    state["lr_lambdas"][0] = {"steps": 8}
    sched.load_state_dict(state)
    assert sched.lr_lambdas[0].steps == 8


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR"])
def test_step_with_epoch_uses_the_closed_form_like_torch(name: str) -> None:
    our_opt, their_opt = _optimizers("sgd")
    ours, theirs = SCHEDULERS[name](crs, our_opt), SCHEDULERS[name](TS, their_opt)
    for epoch in (3, 14, 7):
        our_opt.step()
        their_opt.step()
        with pytest.warns(UserWarning, match="epoch parameter"):
            ours.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.step(epoch)
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)


def test_warns_when_stepped_before_the_optimizer() -> None:
    opt, _ = _optimizers("sgd")
    sched = crs.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r"`lr_scheduler.step\(\)` before `optimizer.step\(\)`"):
        sched.step()

    opt, _ = _optimizers("sgd")
    sched = crs.StepLR(opt, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()
        sched.step()


def test_get_lr_outside_step_warns_to_use_get_last_lr() -> None:
    opt, _ = _optimizers("sgd")
    sched = crs.ExponentialLR(opt, 0.5)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()


def _opt(n_groups: int = 1):
    ps = [cr.tensor(np.ones(2, np.float32), requires_grad=True) for _ in range(n_groups)]
    return optim.SGD([{"params": [p]} for p in ps], lr=0.1, momentum=0.9)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: crs.StepLR("sgd", 3), TypeError, "StepLR: expected an Optimizer, got str"),
        (lambda: crs.StepLR(_opt(), 0), ValueError, "step_size must be a positive number of epochs, got 0"),
        (lambda: crs.StepLR(_opt(), "3"), ValueError, "positive number of epochs, got '3'"),
        (lambda: crs.ExponentialLR(_opt(), 0.9, last_epoch=4), KeyError, "no 'initial_lr'"),
        (lambda: crs.LambdaLR(_opt(2), [_decay]), ValueError, "expected 2 lr_lambdas"),
        (lambda: crs.LambdaLR(_opt(), 0.5), TypeError, "lr_lambda should be a function, got float"),
        (lambda: crs.LinearLR(_opt(), start_factor=0), ValueError, r"start_factor must be in \(0, 1\]"),
        (lambda: crs.LinearLR(_opt(), end_factor=1.5), ValueError, r"end_factor must be in \[0, 1\]"),
        (lambda: crs.ConstantLR(_opt(), factor=2.0), ValueError, "factor must be between 0 and 1"),
        (lambda: crs.CosineAnnealingLR(_opt(), T_max=0), ValueError, "T_max must be positive"),
        (lambda: crs.OneCycleLR(_opt(), 0.1), ValueError, "either total_steps or both epochs"),
        (lambda: crs.OneCycleLR(_opt(), 0.1, total_steps=0), ValueError, "positive integer total_steps"),
        (lambda: crs.OneCycleLR(_opt(), 0.1, epochs=2, steps_per_epoch=-1), ValueError, "steps_per_epoch"),
        (lambda: crs.OneCycleLR(_opt(), 0.1, 10, pct_start=1.5), ValueError, "pct_start between 0 and 1"),
        (lambda: crs.OneCycleLR(_opt(), 0.1, 10, anneal_strategy="exp"), ValueError, "'cos' or 'linear'"),
        (lambda: crs.OneCycleLR(_opt(2), [0.1], 10), ValueError, "max_lr must have one value per parameter"),
        (
            lambda: crs.OneCycleLR(optim.Adagrad([cr.tensor([1.0], requires_grad=True)]), 0.1, 10),
            ValueError,
            "cycle_momentum needs an optimizer with a momentum or betas option, Adagrad has neither",
        ),
        (lambda: crs.ReduceLROnPlateau(_opt(), factor=1.0), ValueError, "factor should be < 1.0"),
        (lambda: crs.ReduceLROnPlateau(_opt(), mode="avg"), ValueError, "mode must be 'min' or 'max'"),
        (lambda: crs.ReduceLROnPlateau(_opt(), threshold_mode="x"), ValueError, "threshold_mode must be"),
        (lambda: crs.ReduceLROnPlateau(_opt(2), min_lr=[0.1]), ValueError, "expected 2 min_lrs"),
        (lambda: crs.ReduceLROnPlateau(_opt()).step("high"), TypeError, "expected a number"),
        (
            lambda: crs.SequentialLR(_opt(), [crs.ReduceLROnPlateau(_opt())], milestones=[]),
            ValueError,
            "does not support ReduceLROnPlateau",
        ),
        (lambda: crs.ChainedScheduler([]), ValueError, "at least one scheduler"),
        (lambda: crs.CosineAnnealingWarmRestarts(_opt(), T_0=0), ValueError, "T_0 must be a positive"),
        (lambda: crs.CosineAnnealingWarmRestarts(_opt(), 2, T_mult=1.5), ValueError, "T_mult must be an int"),
        (lambda: crs.CosineAnnealingWarmRestarts(_opt(), 2).step(-1), ValueError, "non-negative epoch"),
        (lambda: crs.CyclicLR(_opt(), 0.01, 0.1, mode="sine"), ValueError, "mode must be 'triangular'"),
        (lambda: crs.CyclicLR(_opt(2), [0.01], 0.1), ValueError, "base_lr must have one value per parameter"),
        (lambda: crs.CyclicLR(_opt(), 0.01, 0.1, 0, 0), ValueError, "a cycle must last at least one step"),
        (
            lambda: crs.CyclicLR(optim.Adagrad([cr.tensor([1.0], requires_grad=True)]), 0.01, 0.1),
            ValueError,
            "CyclicLR: cycle_momentum needs an optimizer with a momentum or betas option, Adagrad has",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(make, error, match) -> None:
    with pytest.raises(error, match=match):
        make()


def test_sequential_lr_checks_milestones_and_optimizers() -> None:
    opt = _opt()
    a, b = crs.ConstantLR(opt), crs.ExponentialLR(opt, 0.9)
    with pytest.raises(ValueError, match="one milestone fewer than schedulers, got 2 schedulers and 2"):
        crs.SequentialLR(opt, [a, b], milestones=[2, 4])
    with pytest.raises(ValueError, match=r"scheduler 0 .* has a different one"):
        crs.SequentialLR(_opt(), [a, b], milestones=[2])


def test_a_checkpoint_after_linear_decay_to_zero_loads_and_resumes_like_torch() -> None:
    """LinearLR to 0 ends a rounding error below 0 (-1e-18, as PyTorch's does); that checkpoint loads."""
    our_opt, their_opt = _optimizers("adam")
    ours = crs.LinearLR(our_opt, end_factor=0.0, total_iters=5)
    theirs = TS.LinearLR(their_opt, end_factor=0.0, total_iters=5)
    for _ in range(9):
        our_opt.step()
        their_opt.step()
        ours.step()
        theirs.step()
    assert [g["lr"] for g in our_opt.param_groups] == [g["lr"] for g in their_opt.param_groups]
    assert min(g["lr"] for g in our_opt.param_groups) < 0
    resumed_opt, _ = _optimizers("adam")  # built as at the start, then both states loaded
    resumed = crs.LinearLR(resumed_opt, end_factor=0.0, total_iters=5)
    resumed_opt.load_state_dict(copy.deepcopy(our_opt.state_dict()))
    resumed.load_state_dict(ours.state_dict())
    assert [g["lr"] for g in resumed_opt.param_groups] == [g["lr"] for g in their_opt.param_groups]
    resumed_opt.step()
    their_opt.step()
    resumed.step()
    theirs.step()
    _assert_same(resumed, theirs, resumed_opt, their_opt)


def test_warm_restarts_take_fractional_epochs_like_torch() -> None:
    """SGDR's documented use: ``scheduler.step(epoch + i / iters)`` inside each epoch, without a warning."""
    our_opt, their_opt = _optimizers("sgd")
    ours = crs.CosineAnnealingWarmRestarts(our_opt, T_0=2, T_mult=3, eta_min=1e-4)
    theirs = TS.CosineAnnealingWarmRestarts(their_opt, T_0=2, T_mult=3, eta_min=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for epoch in range(12):
            for i in range(4):
                our_opt.step()
                their_opt.step()
                ours.step(epoch + i / 4)
                theirs.step(epoch + i / 4)
                _assert_same(ours, theirs, our_opt, their_opt)
        ours.step(3)  # back to a whole epoch in the second period
        theirs.step(3)
    _assert_same(ours, theirs, our_opt, their_opt)
    assert (ours.T_i, ours.T_cur) == (theirs.T_i, theirs.T_cur) == (6, 1)


class _Shrink:
    """A callable-object scale_fn: its attributes are saved in CyclicLR's state dict (a function is not)."""

    def __init__(self, base: float) -> None:
        self.base = base

    def __call__(self, x: float) -> float:
        return self.base**x


def test_cyclic_lr_state_dict_saves_a_callable_object_scale_fn() -> None:
    opt, _ = _optimizers("adam")
    sched = crs.CyclicLR(opt, 0.01, 0.1, 3, scale_fn=_Shrink(0.5))
    for _ in range(4):
        opt.step()
        sched.step()
    state = copy.deepcopy(sched.state_dict())
    assert state["_scale_fn_custom"] == {"base": 0.5}
    assert crs.CyclicLR(opt, 0.01, 0.1, scale_fn=_inverse).state_dict()["_scale_fn_custom"] is None
    other_opt, _ = _optimizers("adam")
    other = crs.CyclicLR(other_opt, 0.01, 0.1, 3, scale_fn=_Shrink(0.9))
    other_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    other.load_state_dict(state)
    assert other._scale_fn_custom.base == 0.5
    for _ in range(8):
        for o, s in ((opt, sched), (other_opt, other)):
            o.step()
            s.step()
        assert other.get_last_lr() == sched.get_last_lr()
        assert _momenta(other_opt) == _momenta(opt)
