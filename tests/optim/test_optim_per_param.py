"""Adadelta, Adamax, NAdam, RAdam, Rprop and ASGD against PyTorch: 20 steps, options, state dicts.

These optimizers run their plain per-parameter rule (``*_update``); each is
checked over 20 steps with gradients that depend on the weights, for several
option combinations, in float32 and float64, and their state dicts must match
PyTorch's layout and values and load into a fresh optimizer that continues
exactly.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import optim

SHAPES = [(3, 4), (5,), ()]

CONFIGS = [
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.1}),
    ("Adadelta", {"maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.05}),
    ("Adamax", {"maximize": True, "eps": 1e-4}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "momentum_decay": 0.01, "weight_decay": 0.1}),
    ("NAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("RAdam", {}),
    ("RAdam", {"lr": 0.01, "betas": (0.5, 0.9), "weight_decay": 0.1}),
    ("RAdam", {"weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("Rprop", {}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2)}),
    ("Rprop", {"maximize": True}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 1e-2, "alpha": 0.5, "t0": 5, "weight_decay": 0.1}),
    ("ASGD", {"maximize": True, "t0": 0}),
]


def _ids(config: tuple) -> str:
    name, kw = config
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


def _grad(p: np.ndarray, k: int, i: int) -> np.ndarray:
    """A gradient that depends on the weights (a quadratic pull) plus fixed per-step noise."""
    noise = np.random.default_rng(1000 * k + i).standard_normal(p.shape)
    return (0.5 * p + noise).astype(p.dtype)


class Twin:
    def __init__(self, name: str, kw: dict, dtype: type = np.float32) -> None:
        rng = np.random.default_rng(0)
        init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        self.ours = [cr.tensor(a.copy(), requires_grad=True) for a in init]
        self.theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
        self.cr_opt = getattr(optim, name)(self.ours, **kw)
        self.torch_opt = getattr(torch.optim, name)(self.theirs, **kw)
        self.k = 0

    def step(self) -> None:
        for i, (p, q) in enumerate(zip(self.ours, self.theirs)):
            p.grad = cr.tensor(_grad(p.numpy(), self.k, i))
            q.grad = torch.tensor(_grad(q.detach().numpy(), self.k, i))
        self.cr_opt.step()
        self.torch_opt.step()
        self.k += 1

    def assert_close(self, tol: float) -> None:
        for i, (p, q) in enumerate(zip(self.ours, self.theirs)):
            assert p.dtype == q.detach().numpy().dtype
            np.testing.assert_allclose(
                p.numpy(), q.detach().numpy(), rtol=tol, atol=tol, err_msg=f"param {i}"
            )
        for i, (p, q) in enumerate(zip(self.ours, self.theirs)):
            ours, theirs = self.cr_opt.state[p], self.torch_opt.state[q]
            assert list(ours) == list(theirs), f"param {i}: state keys {list(ours)} vs {list(theirs)}"
            for key, value in theirs.items():
                assert ours[key].dtype == value.numpy().dtype, key
                np.testing.assert_allclose(ours[key].numpy(), value.numpy(), rtol=tol, atol=tol, err_msg=key)


@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_twenty_steps_match_torch(config):
    twin = Twin(*config)
    for _ in range(20):
        twin.step()
    twin.assert_close(1e-5)


@pytest.mark.parametrize("config", CONFIGS[::3], ids=_ids)
def test_float64_parameters_match_torch(config):
    twin = Twin(*config, dtype=np.float64)
    for _ in range(20):
        twin.step()
    twin.assert_close(1e-10)


@pytest.mark.parametrize("config", CONFIGS[::3], ids=_ids)
def test_state_dict_matches_torch_and_round_trips(config):
    twin = Twin(*config)
    for _ in range(5):
        twin.step()
    ours, theirs = twin.cr_opt.state_dict(), twin.torch_opt.state_dict()
    assert list(ours["state"]) == list(theirs["state"])
    for index, state in theirs["state"].items():
        for key, value in state.items():
            np.testing.assert_allclose(ours["state"][index][key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6)
    for g_ours, g_theirs in zip(ours["param_groups"], theirs["param_groups"]):
        assert set(g_ours) == set(g_theirs)
    # a fresh optimizer loading PyTorch's state dict continues as PyTorch does
    name, kw = config
    fresh = getattr(optim, name)(twin.ours, **kw)
    fresh.load_state_dict(
        copy.deepcopy(
            {
                "state": {
                    k: {kk: cr.tensor(vv.numpy()) for kk, vv in v.items()} for k, v in theirs["state"].items()
                },
                "param_groups": theirs["param_groups"],
            }
        )
    )
    twin.cr_opt = fresh
    for _ in range(5):
        twin.step()
    twin.assert_close(1e-5)


@pytest.mark.parametrize("name", ["Adadelta", "Adamax", "NAdam", "RAdam", "Rprop", "ASGD"])
def test_defaults_and_update_rule_match_torch(name):
    ours = getattr(optim, name)([cr.ones(2, requires_grad=True)])
    theirs = getattr(torch.optim, name)([torch.ones(2, requires_grad=True)])
    assert ours.defaults == theirs.defaults
    assert callable(getattr(optim, name.lower() + "_update"))


def test_an_optimizer_step_bumps_the_version_once():
    p = cr.ones(3, requires_grad=True)
    opt = optim.NAdam([p])
    out = p * p
    p.grad = cr.ones(3)
    opt.step()
    assert p._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_bad_options_are_refused():
    p = [cr.ones(1, requires_grad=True)]
    with pytest.raises(ValueError, match="rho"):
        optim.Adadelta(p, rho=1.5)
    with pytest.raises(ValueError, match="beta"):
        optim.Adamax(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="eta"):
        optim.Rprop(p, etas=(1.5, 1.2))
    with pytest.raises(ValueError, match="learning rate"):
        optim.RAdam(p, lr=-1)


def test_rprop_makes_no_step_where_the_gradient_is_nan_like_torch():
    """torch.sign(NaN) is 0: Rprop leaves that element where it is (NumPy's sign would make it NaN)."""
    ours, theirs = cr.ones(4, requires_grad=True), torch.ones(4, requires_grad=True)
    opt_ours, opt_theirs = optim.Rprop([ours]), torch.optim.Rprop([theirs])
    for g in ([1.0, np.nan, np.inf, -np.inf], [1.0, 2.0, np.nan, 4.0], [0.5, -1.0, 1.0, 1.0]):
        ours.grad, theirs.grad = cr.tensor(g), torch.tensor(g)
        with np.errstate(invalid="ignore"):
            opt_ours.step()
        opt_theirs.step()
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-6)
        assert np.isfinite(ours.numpy()).all()


def test_asgd_in_float64_resumes_from_a_state_dict_exactly_as_torch():
    """After a reload eta and mu are float64 tensors; PyTorch still rounds their new values to float32."""
    kw = {"lr": 0.05, "lambd": 1e-2, "alpha": 0.5, "t0": 3}
    twin = Twin("ASGD", kw, dtype=np.float64)
    for _ in range(4):
        twin.step()
    saved_ours, saved_theirs = copy.deepcopy(twin.cr_opt.state_dict()), twin.torch_opt.state_dict()
    twin.cr_opt = optim.ASGD(twin.ours, **kw)
    twin.cr_opt.load_state_dict(saved_ours)
    twin.torch_opt = torch.optim.ASGD(twin.theirs, **kw)
    twin.torch_opt.load_state_dict(saved_theirs)
    for _ in range(6):
        twin.step()
    twin.assert_close(1e-12)
