"""ParameterList and ParameterDict, checked against PyTorch: keys, order, reprs, loading and gradients."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn
from helpers import check_against_torch


def _build(lib, tensor):
    class Model(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scales = lib.nn.ParameterList([lib.nn.Parameter(tensor([1.0, 2.0])), tensor([[3.0], [4.0]])])
            shifts = OrderedDict([("z", tensor([0.5])), ("a", tensor([-1.0, 1.0]))])
            self.shifts = lib.nn.ParameterDict(shifts)
            self.lin = lib.nn.Linear(2, 2)

        def forward(self, x):
            h = self.lin(x) * self.scales[0] + self.shifts["a"]
            return (h * self.scales[1].sum()) + self.shifts["z"]

    return Model()


def _ours():
    return _build(cr, lambda v: cr.tensor(np.array(v, dtype=np.float32)))


def _theirs():
    return _build(torch, lambda v: torch.tensor(np.array(v, dtype=np.float32)))


def test_names_order_and_state_dict_match_pytorch():
    ours, theirs = _ours(), _theirs()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [(n, p.requires_grad) for n, p in ours.named_parameters()] == [
        (n, p.requires_grad) for n, p in theirs.named_parameters()
    ]  # plain tensors were wrapped in Parameters that require grad
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert repr(ours) == repr(theirs).replace("torch.", "").replace("FloatTensor", "float32")


def test_outputs_and_every_gradient_match_pytorch_after_loading_its_weights():
    ours, theirs = _ours(), _theirs()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    check_against_torch(ours, theirs, [x])
    c = np.random.default_rng(1).standard_normal((3, 2)).astype(np.float32)
    (ours(cr.tensor(x)) * cr.tensor(c)).sum().backward()
    (theirs(torch.tensor(x)) * torch.tensor(c)).sum().backward()
    theirs_grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_grads[name].grad.numpy(), rtol=1e-5, atol=1e-6)


def test_parameter_list_editing_matches_pytorch():
    for lib, t in ((nn, cr.ones), (torch.nn, torch.ones)):
        pl = lib.ParameterList([t(1), t(2)])
        assert pl.append(t(3)) is pl and pl.extend([t(4)]) is pl and len(pl) == 4
        pl += [t(5)]
        pl[-1] = t(6)
        assert [tuple(p.shape) for p in pl] == [(1,), (2,), (3,), (4,), (6,)]
        assert isinstance(pl[1:3], lib.ParameterList) and pl[1:3][0] is pl[1]
        assert list(pl.state_dict()) == ["0", "1", "2", "3", "4"] and "0" not in dir(pl)
        with pytest.raises(IndexError):
            pl[5]
        with pytest.raises(TypeError):
            pl.extend(t(2))


def test_parameter_dict_editing_matches_pytorch():
    for lib, t in ((nn, cr.ones), (torch.nn, torch.ones)):
        pd = lib.ParameterDict({"b": t(1), "a": t(2)})  # a plain dict goes in sorted by key
        assert list(pd) == ["a", "b"] and list(pd.state_dict()) == ["a", "b"]
        pd.update([("c", t(3))])
        pd["b"] = t(4)  # replaced in place
        assert list(pd.keys()) == ["a", "b", "c"] and pd["b"].shape[0] == 4
        assert pd.pop("a").shape[0] == 2 and "a" not in pd and list(pd.state_dict()) == ["b", "c"]
        assert pd.popitem()[0] == "c" and len(pd) == 1
        assert pd.setdefault("d", t(5)) is pd["d"] and pd.get("zz") is None
        copied = pd.copy()
        assert list(copied) == list(pd) and copied["b"] is pd["b"]
        with pytest.raises(KeyError):
            lib.ParameterDict()["keys"] = t(1)  # the name of a method
        with pytest.raises(TypeError):
            pd.update(5)
        pd.clear()
        assert len(pd) == 0 and list(pd.state_dict()) == []


def test_deepcopy_and_to_keep_the_containers_working():
    m = _ours()
    clone = copy.deepcopy(m).double()
    assert list(clone.state_dict()) == list(m.state_dict())
    assert clone.scales[0] is not m.scales[0] and clone.scales[0].dtype == cr.float64
    assert clone.shifts["a"].dtype == cr.float64 and m.shifts["a"].dtype == cr.float32
    assert repr(nn.ParameterList()) == "ParameterList()" and repr(nn.ParameterDict()) == "ParameterDict()"
