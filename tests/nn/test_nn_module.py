"""Module, Parameter, containers, Linear, init, nn.utils and summary, checked against PyTorch."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule import nn
from chainrule.ops.linalg import linear as cr_linear
from helpers import check_against_torch, check_gradcheck


def _copy_from_torch(ours: nn.Module, theirs: torch.nn.Module) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.Identity(), nn.Linear(8, 8))
        self.heads = nn.ModuleList([nn.Linear(8, 2), nn.Linear(8, 3, bias=False)])
        self.extra = nn.ModuleDict({"scale": nn.Linear(3, 3)})
        self.alpha = nn.Parameter(cr.ones(1))
        self.register_buffer("steps", cr.zeros(1, dtype=cr.int64))
        self.register_buffer("scratch", cr.zeros(2), persistent=False)

    def forward(self, x):
        h = self.body(x)
        return self.heads[0](h) * self.alpha, self.extra["scale"](self.heads[1](h))


class TorchNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Identity(), torch.nn.Linear(8, 8))
        self.heads = torch.nn.ModuleList([torch.nn.Linear(8, 2), torch.nn.Linear(8, 3, bias=False)])
        self.extra = torch.nn.ModuleDict({"scale": torch.nn.Linear(3, 3)})
        self.alpha = torch.nn.Parameter(torch.ones(1))
        self.register_buffer("steps", torch.zeros(1, dtype=torch.int64))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)

    def forward(self, x):
        h = self.body(x)
        return self.heads[0](h) * self.alpha, self.extra["scale"](self.heads[1](h))


# ------------------------------------------------------------- registration
def test_names_and_order_match_pytorch():
    ours, theirs = Net(), TorchNet()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]


def test_repr_matches_pytorch():
    ours = nn.Sequential(nn.Linear(4, 8), nn.Identity(), nn.Flatten(), nn.Unflatten(1, (2, 4)))
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Identity(), torch.nn.Flatten(), torch.nn.Unflatten(1, (2, 4))
    )
    assert repr(ours) == repr(theirs)
    assert repr(Net()).startswith("Net(\n  (body): Sequential(\n    (0): Linear(in_features=4")


def test_forward_equals_pytorch_with_copied_weights():
    ours, theirs = Net(), TorchNet()
    _copy_from_torch(ours, theirs)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    for o, t in zip(ours(cr.tensor(x)), theirs(torch.tensor(x)), strict=True):
        np.testing.assert_allclose(o._array, t.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_every_parameter_gradient_equals_pytorch():
    ours, theirs = Net(), TorchNet()
    _copy_from_torch(ours, theirs)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    c1, c2 = rng.standard_normal((6, 2)).astype(np.float32), rng.standard_normal((6, 3)).astype(np.float32)
    a, b = ours(cr.tensor(x))
    ((a * cr.tensor(c1)).sum() + (b * cr.tensor(c2)).sum()).backward()
    ta, tb = theirs(torch.tensor(x))
    ((ta * torch.tensor(c1)).sum() + (tb * torch.tensor(c2)).sum()).backward()
    theirs_grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad._array, theirs_grads[name].grad.numpy(), rtol=1e-5, atol=1e-6)


def test_assignment_rules():
    m = Net()
    m.alpha = None  # a registered parameter may be set to None
    assert "alpha" not in dict(m.named_parameters())
    with pytest.raises(TypeError, match=r"parameter .alpha.*nn\.Parameter"):
        m.alpha = cr.ones(1)
    with pytest.raises(TypeError, match="buffer 'steps'"):
        m.steps = np.zeros(1)
    m.steps = cr.ones(1, dtype=cr.int64)
    assert m.state_dict()["steps"].item() == 1
    m.body = nn.Linear(4, 8)  # replacing a child keeps its registration
    assert isinstance(m.body, nn.Linear)
    del m.extra
    assert "extra" not in dict(m.named_children())
    m.plain = 3
    assert m.plain == 3 and "plain" not in m.state_dict()
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = m.nothing


def test_assigning_before_init_says_call_super():
    class Broken(nn.Module):
        def __init__(self) -> None:
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_shared_parameter_is_listed_once():
    shared = nn.Linear(3, 3)
    m = nn.Sequential(shared, nn.Identity(), shared)
    assert len(list(m.parameters())) == 2
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_parameter_shares_memory_and_requires_grad():
    a = np.zeros(3, dtype=np.float32)
    p = nn.Parameter(a)
    assert p.requires_grad and p.is_leaf and p._array is a
    assert repr(p).startswith("Parameter containing:")
    assert not nn.Parameter(cr.zeros(2), requires_grad=False).requires_grad


# ------------------------------------------------------------------- modes
def test_train_eval_zero_grad_requires_grad_apply_to():
    m = Net()
    m.eval()
    assert not any(mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())
    out = m(cr.randn(2, 4))
    (out[0].sum() + out[1].sum()).backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(not p.grad._array.any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 5
    m.to(cr.float64)
    assert all(p.dtype == cr.float64 for p in m.parameters())
    assert m.steps.dtype == cr.int64  # integer buffers keep their dtype
    assert m(cr.randn(2, 4).double())[0].dtype == cr.float64
    if not cr.cuda.is_available():
        with pytest.raises(RuntimeError, match="device 'cuda' is not available"):
            m.to("cuda")


def test_custom_init_with_apply():
    def init_weights(mod):
        if isinstance(mod, nn.Linear):
            nn.init.zeros_(mod.weight)

    m = Net().apply(init_weights)
    assert all(not mod.weight._array.any() for mod in m.modules() if isinstance(mod, nn.Linear))


# --------------------------------------------------------------- containers
def test_sequential_indexing_slicing_and_editing():
    layers = [nn.Linear(2, 2), nn.Identity(), nn.Linear(2, 3)]
    seq = nn.Sequential(*layers)
    assert seq[0] is layers[0] and seq[-1] is layers[2] and len(seq) == 3
    assert isinstance(seq[1:], nn.Sequential) and list(seq[1:]) == layers[1:]
    del seq[1]
    assert list(seq._modules) == ["0", "1"] and seq[1] is layers[2]
    seq.append(nn.Identity()).insert(0, nn.Identity())
    assert len(seq) == 4 and isinstance(seq[0], nn.Identity)
    with pytest.raises(IndexError, match="out of range"):
        seq[10]
    named = nn.Sequential({"first": nn.Linear(2, 2), "second": nn.Identity()})
    assert list(named.state_dict()) == ["first.weight", "first.bias"]


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml += [nn.Identity()]
    ml.append(nn.Linear(2, 1))
    assert len(ml) == 3 and isinstance(ml[1:], nn.ModuleList) and len(list(ml.parameters())) == 4
    with pytest.raises(TypeError, match="no forward"):
        ml(cr.zeros(1))
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.Identity()
    assert list(md) == ["a", "b"] and "a" in md and len(md) == 2
    assert md.pop("a") is not None and list(md.keys()) == ["b"]


# --------------------------------------------------------------- state dict
def test_state_dict_shares_memory_and_accepts_arrays():
    m = nn.Linear(3, 2)
    sd = m.state_dict()
    assert not sd["weight"].requires_grad and sd["weight"]._array is m.weight._array
    m.load_state_dict({"weight": np.ones((2, 3)), "bias": cr.zeros(2)})  # float64 arrays are cast
    assert m.weight.dtype == cr.float32 and m.weight._array.sum() == 6
    state = m.state_dict()
    m2 = nn.Linear(3, 2)
    m2.load_state_dict(state)
    np.testing.assert_array_equal(m2.weight._array, m.weight._array)


def test_load_state_dict_reports_every_problem_by_name():
    m = Net()
    sd = {k: v._array.copy() for k, v in m.state_dict().items()}
    del sd["alpha"]
    sd["body.0.weight"] = np.zeros((8, 5), dtype=np.float32)
    sd["steps"] = np.zeros(1, dtype=np.float32)
    sd["surprise"] = np.zeros(1)
    before = m.body[0].weight._array.copy()
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(sd)
    msg = str(info.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "alpha"' in msg
    assert 'Unexpected key(s) in state_dict: "surprise"' in msg
    assert "size mismatch for body.0.weight" in msg and "(8, 5)" in msg and "(8, 4)" in msg
    assert "dtype mismatch for steps" in msg
    np.testing.assert_array_equal(m.body[0].weight._array, before)  # nothing was copied


def test_load_state_dict_not_strict_returns_the_keys():
    m = nn.Linear(2, 2)
    result = m.load_state_dict({"weight": np.zeros((2, 2)), "other": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    assert not m.weight._array.any()
    assert repr(nn.Linear(1, 1).load_state_dict(nn.Linear(1, 1).state_dict())) == (
        "<All keys matched successfully>"
    )
    with pytest.raises(RuntimeError, match="size mismatch"):
        m.load_state_dict({"weight": np.zeros((3, 2))}, strict=False)
    with pytest.raises(TypeError, match="mapping"):
        m.load_state_dict([1, 2])


# ------------------------------------------------------------------- Linear
@given(
    batch=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    n_in=st.integers(1, 6),
    n_out=st.integers(1, 6),
    bias=st.booleans(),
)
def test_linear_matches_pytorch(batch, n_in, n_out, bias):
    rng = np.random.default_rng(len(batch) * 100 + n_in * 10 + n_out)
    x = rng.standard_normal((*batch, n_in)).astype(np.float32)
    w = rng.standard_normal((n_out, n_in)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    if bias:
        check_against_torch(cr_linear, torch.nn.functional.linear, [x, w, b])
    else:
        check_against_torch(cr_linear, torch.nn.functional.linear, [x, w])


def test_linear_gradcheck_and_errors():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    check_gradcheck(cr_linear, [x, w, b])
    layer = nn.Linear(4, 5)
    with pytest.raises(ValueError, match=r"in Linear\(in_features=4, out_features=5, bias=True\).*\(2, 3\)"):
        layer(cr.zeros(2, 3))
    with pytest.raises(ValueError, match="in_features must be a non-negative int"):
        nn.Linear(-1, 2)


@pytest.mark.parametrize(
    ("n_in", "n_out", "shape"),
    [(0, 3, (2, 0)), (0, 2, (2, 3, 0)), (3, 0, (3,)), (1, 0, (2, 3, 1)), (3, 0, (0, 3))],
)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_with_zero_features(n_in, n_out, shape, bias):
    # PyTorch builds Linear(0, n) (its He init is a no-op on a zero-element weight, with a warning;
    # the bias bound is 0) and maps anything to zero features; chainrule divided by a fan of 0 and
    # could not fold the leading axes of an empty output with reshape(-1, 0)
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        ours = nn.Linear(n_in, n_out, bias=bias)
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        theirs = torch.nn.Linear(n_in, n_out, bias=bias)
    if bias and n_in == 0:
        assert ours.bias.shape == (n_out,) and not np.any(ours.bias.numpy())  # U(-0, 0)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    xo, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    assert yo.shape == tuple(yt.shape)
    np.testing.assert_array_equal(yo.numpy(), yt.detach().numpy())
    yo.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(xo.grad.numpy(), xt.grad.numpy())
    for name, p in theirs.named_parameters():
        np.testing.assert_array_equal(getattr(ours, name).grad.numpy(), p.grad.numpy())


def test_kaiming_init_of_a_zero_element_tensor_is_a_no_op_as_in_torch():
    for init_ in (nn.init.kaiming_uniform_, nn.init.kaiming_normal_):
        t = cr.zeros(3, 0)
        with pytest.warns(UserWarning, match="no-op"):
            assert init_(t) is t


def test_linear_default_init_matches_pytorch_bounds():
    cr.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    assert np.abs(layer.weight._array).max() <= bound and np.abs(layer.bias._array).max() <= bound
    # uniform on [-bound, bound] has std bound / sqrt(3)
    assert abs(layer.weight._array.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert layer.weight.dtype == cr.float32


def test_flatten_unflatten_match_pytorch():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for args in [(), (0, -1), (2, 3), (1, 2)]:
        check_against_torch(nn.Flatten(*args), torch.nn.Flatten(*args), [x])
    check_against_torch(nn.Unflatten(2, (2, 2)), torch.nn.Unflatten(2, (2, 2)), [x])
    check_against_torch(nn.Unflatten(-1, (5, -1)), torch.nn.Unflatten(-1, (5, -1)), [x])
    with pytest.raises(ValueError, match="cannot split dim 1 of size 3"):
        nn.Unflatten(1, (2, 2))(cr.tensor(x))


# --------------------------------------------------------------------- init
@pytest.mark.parametrize(
    "name,param", [("linear", None), ("tanh", None), ("relu", None), ("leaky_relu", 0.2), ("selu", None)]
)
def test_calculate_gain_matches_pytorch(name, param):
    assert nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


@pytest.mark.parametrize(
    "fn,kwargs,expected_std",
    [
        ("xavier_uniform_", {}, math.sqrt(2 / (200 + 300))),
        ("xavier_normal_", {"gain": 2.0}, 2 * math.sqrt(2 / (200 + 300))),
        ("kaiming_uniform_", {"nonlinearity": "relu"}, math.sqrt(2 / 300)),
        ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(2 / 200)),
        ("he_normal_", {}, math.sqrt(2 / 300)),
        ("glorot_uniform_", {}, math.sqrt(2 / (200 + 300))),
        ("normal_", {"std": 0.02}, 0.02),
        ("trunc_normal_", {"std": 0.02, "a": -0.04, "b": 0.04}, 0.02 * 0.88),
    ],
)
def test_init_schemes_have_the_right_spread(fn, kwargs, expected_std):
    w = cr.empty(200, 300)
    out = getattr(nn.init, fn)(w, **kwargs)
    assert out is w
    assert w._array.std() == pytest.approx(expected_std, rel=0.03)
    assert abs(w._array.mean()) < expected_std * 0.02


def test_other_init_functions():
    w = cr.empty(3, 4)
    assert (nn.init.constant_(w, 0.5)._array == 0.5).all()
    assert (nn.init.ones_(w)._array == 1).all() and not nn.init.zeros_(w)._array.any()
    np.testing.assert_array_equal(nn.init.eye_(w)._array, np.eye(3, 4))
    q = nn.init.orthogonal_(cr.empty(6, 4))._array
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-5)
    u = nn.init.uniform_(cr.empty(1000), -2, 3)._array
    assert u.min() >= -2 and u.max() <= 3
    conv = nn.init.dirac_(cr.empty(4, 4, 3, 3))._array
    assert conv[:, :, 1, 1].tolist() == np.eye(4).tolist() and conv.sum() == 4
    with pytest.raises(ValueError, match="at least 2 dims"):
        nn.init.xavier_uniform_(cr.empty(5))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        nn.init.calculate_gain("softmax")


def test_init_is_reproducible_under_manual_seed():
    cr.manual_seed(3)
    a = nn.Linear(5, 5).weight._array.copy()
    cr.manual_seed(3)
    np.testing.assert_array_equal(nn.Linear(5, 5).weight._array, a)


# -------------------------------------------------------------------- utils
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_pytorch(norm_type, max_norm):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (4,), (2, 2)]]
    ours = [cr.zeros(g.shape, requires_grad=True) for g in grads]
    theirs = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for o, t, g in zip(ours, theirs, grads, strict=True):
        o.grad, t.grad = cr.tensor(g.copy()), torch.tensor(g.copy())
    n_ours = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    n_theirs = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert n_ours.item() == pytest.approx(n_theirs.item(), rel=1e-5)
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o.grad._array, t.grad.numpy(), rtol=1e-5, atol=1e-7)


def _clip_twins(grads: list, dtypes: list | None = None) -> tuple[list, list]:
    """Parameters in both libraries with the given gradients (None: no gradient)."""
    ours, theirs = [], []
    for i, g in enumerate(grads):
        dtype = (dtypes or [np.float32] * len(grads))[i]
        zeros = np.zeros(np.shape(g) if g is not None else (2,), dtype)
        o, t = cr.tensor(zeros, requires_grad=True), torch.tensor(zeros, requires_grad=True)
        if g is not None:
            o.grad, t.grad = cr.tensor(np.array(g, dtype)), torch.tensor(np.array(g, dtype))
        ours.append(o)
        theirs.append(t)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [0, 0.5, 1.5, -1.0, float("-inf"), float("inf"), "inf"])
def test_clip_grad_norm_orders_like_pytorch(norm_type):
    """Order 0 counts the gradients with a non-zero value (PyTorch's norm of norms); -inf: the least |g|."""
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal((3, 4)), None, rng.standard_normal(5), np.zeros(2), rng.standard_normal(())]
    ours, theirs = _clip_twins(grads)
    n_ours = nn.utils.clip_grad_norm_(ours, 0.3, norm_type)
    n_theirs = torch.nn.utils.clip_grad_norm_(theirs, 0.3, norm_type)
    assert n_ours.dtype == np.float32
    np.testing.assert_allclose(n_ours.numpy(), n_theirs.numpy(), rtol=1e-6)
    for o, t in zip(ours, theirs, strict=True):
        if t.grad is None:
            assert o.grad is None
        else:
            np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_norm_with_a_nan_gradient_scales_every_gradient_by_nan_like_pytorch():
    grads = [[1.0, float("nan")], [3.0, 4.0]]
    for norm_type in (2.0, float("inf")):
        ours, theirs = _clip_twins(grads)
        total = nn.utils.clip_grad_norm_(ours, 1.0, norm_type)
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type)
        assert np.isnan(total.item())
        for o, t in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(o.grad.numpy(), t.grad.numpy())  # all NaN
            assert np.isnan(o.grad.numpy()).all()


def test_clip_grad_norm_of_mixed_dtypes_is_in_the_promoted_dtype_and_takes_foreach():
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(4), rng.standard_normal((2, 3))]
    ours, theirs = _clip_twins(grads, [np.float32, np.float64])
    n_ours = nn.utils.clip_grad_norm_(ours, 0.5, foreach=True)
    n_theirs = torch.nn.utils.clip_grad_norm_(theirs, 0.5, foreach=True)
    assert n_ours.dtype == np.float64 and n_theirs.dtype == torch.float64
    # PyTorch sums the float32 gradient in float32, here in float64: float32 rounding apart
    np.testing.assert_allclose(n_ours.numpy(), n_theirs.numpy(), rtol=1e-6)
    for o, t in zip(ours, theirs, strict=True):
        assert o.grad.dtype == t.grad.numpy().dtype
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-6)
    nn.utils.clip_grad_value_(ours, 0.1, foreach=None)
    torch.nn.utils.clip_grad_value_(theirs, 0.1, foreach=None)
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-6)


def test_get_total_norm_and_clip_grads_with_norm_compose_to_clip_grad_norm_():
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((3, 3)) * 4, rng.standard_normal(2)]
    ours, theirs = _clip_twins(grads)
    total = nn.utils.get_total_norm([p.grad for p in ours], 3.0)
    total_t = torch.nn.utils.get_total_norm([p.grad for p in theirs], 3.0)
    np.testing.assert_allclose(total.numpy(), total_t.numpy(), rtol=1e-6)
    nn.utils.clip_grads_with_norm_(ours, 1.0, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 1.0, total_t)
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-5)
    assert nn.utils.get_total_norm([]).item() == 0.0


def test_clip_grad_norm_sums_float32_in_float64():
    """Deliberate: PyTorch's float32 sums give 0 (tiny) or inf (huge) here; the true norm is returned."""
    for scale in (1e-30, 1e25):
        p = cr.zeros(4, requires_grad=True)
        p.grad = cr.tensor(np.full(4, scale, np.float32))
        total = nn.utils.clip_grad_norm_([p], 1.0)
        np.testing.assert_allclose(total.item(), 2 * np.float32(scale), rtol=1e-6)


def test_clip_grad_value_and_vectors():
    p = cr.zeros(5, requires_grad=True)
    p.grad = cr.tensor([-3.0, -0.5, 0.0, 0.5, 3.0])
    nn.utils.clip_grad_value_([p], 1.0)
    assert p.grad.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    m, tm = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    _copy_from_torch(m, tm)
    vec = nn.utils.parameters_to_vector(m.parameters())
    np.testing.assert_array_equal(vec._array, torch.nn.utils.parameters_to_vector(tm.parameters()).detach())
    nn.utils.vector_to_parameters(cr.arange(8).float(), m.parameters())
    assert m.weight._array.ravel().tolist() == [0, 1, 2, 3, 4, 5] and m.bias.tolist() == [6, 7]
    with pytest.raises(ValueError, match="8 values"):
        nn.utils.vector_to_parameters(cr.zeros(7), m.parameters())
    bad = cr.zeros(1, requires_grad=True)
    bad.grad = cr.tensor([float("nan")])
    with pytest.raises(RuntimeError, match="error_if_nonfinite"):
        nn.utils.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)


def test_freezing_helpers_for_fine_tuning():
    m = Net()
    nn.utils.freeze(m)
    assert nn.utils.trainable_parameters(m) == []
    nn.utils.unfreeze(m, ["heads.0", "extra.scale"])
    names = [n for n, p in m.named_parameters() if p.requires_grad]
    assert names == ["heads.0.weight", "heads.0.bias", "extra.scale.weight", "extra.scale.bias"]
    assert nn.utils.count_parameters(m, trainable_only=True) == 8 * 2 + 2 + 3 * 3 + 3
    assert nn.utils.count_parameters(m) == sum(p.numel() for p in TorchNet().parameters())
    out = m(cr.randn(2, 4))
    (out[0].sum() + out[1].sum()).backward()
    assert m.body[0].weight.grad is None and m.heads[0].weight.grad is not None
    with pytest.raises(AttributeError, match="no submodule 'nope'"):
        nn.utils.freeze(m, ["nope"])


# ------------------------------------------------------------------ summary
def test_summary_lists_layers_shapes_and_counts():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Identity(), nn.Linear(32, 10))
    lines = []
    s = nn.summary(model, (8, 8), print_fn=lines.append)
    assert [r[:3] for r in s.rows] == [
        ("0", "Flatten", "[-1, 64]"),
        ("1", "Linear", "[-1, 32]"),
        ("2", "Identity", "[-1, 32]"),
        ("3", "Linear", "[-1, 10]"),
    ]
    assert s.total_params == 64 * 32 + 32 + 32 * 10 + 10 == s.trainable_params
    text = lines[0]
    assert "Total params: 2,410" in text and "1 (Linear)" in text and "[-1, 10]" in text
    model.train()
    nn.summary(model, (8, 8), print_fn=None)
    assert model.training


def test_summary_nested_model_and_frozen_counts():
    m = Net()
    nn.utils.freeze(m, ["body"])
    s = nn.summary(m, (4,), print_fn=None)
    assert [r[0] for r in s.rows] == ["body.0", "body.1", "body.2", "heads.0", "heads.1", "extra.scale"]
    assert s.total_params - s.trainable_params == 4 * 8 + 8 + 8 * 8 + 8


def test_replacing_a_child_keeps_its_place():
    """As PyTorch: replacing a child (or a parameter) keeps the order, so state_dict keys stay put."""
    model = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.ReLU(), cr.nn.Linear(3, 1))
    model[0] = cr.nn.Linear(2, 3)
    setattr(model, "1", cr.nn.Tanh())
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear"]
    layer = cr.nn.Linear(2, 2)
    layer.weight = cr.nn.Parameter(cr.zeros(2, 2))
    assert list(layer.state_dict()) == ["weight", "bias"]


def test_reassigning_a_child_or_parameter_keeps_its_place_as_pytorch():
    def build(nn):
        m = nn.Module()
        m.conv1 = nn.Conv2d(1, 2, 3)
        m.fc = nn.Linear(2, 2)
        m.scale = nn.Parameter(torch.ones(1) if nn is torch.nn else cr.ones(1))
        m.bias = nn.Parameter(torch.zeros(1) if nn is torch.nn else cr.zeros(1))
        m.conv1 = nn.Conv2d(1, 4, 3)  # replaced: stays first
        m.scale = nn.Parameter(torch.ones(2) if nn is torch.nn else cr.ones(2))
        m.register_buffer("b1", torch.zeros(1) if nn is torch.nn else cr.zeros(1))
        m.register_buffer("b2", torch.zeros(1) if nn is torch.nn else cr.zeros(1))
        m.register_buffer("b1", torch.ones(1) if nn is torch.nn else cr.ones(1))
        return m

    ours, theirs = build(cr.nn), build(torch.nn)
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.conv1.out_channels == 4


# ------------------------------------------------------------------- signatures
def _names_and_defaults(fn) -> list[tuple[str, object]]:
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [
        (p.name, None if callable(p.default) else p.default)  # a default activation: compare by name only
        for p in inspect.signature(fn).parameters.values()
        if p.kind not in kinds
    ]


_LAYERS = sorted(n for n in dir(nn) if isinstance(getattr(nn, n), type) and hasattr(torch.nn, n))


@pytest.mark.parametrize("name", [n for n in _LAYERS if n != "Parameter"])
def test_layer_signatures_match_torch(name):
    # keyword calls (nn.Linear(in_features=..), layer(input=x)) work as in PyTorch: the constructor
    # takes PyTorch's arguments with its defaults, and forward starts with PyTorch's arguments
    # (chainrule may add its own after them, such as the recurrent layers' lengths)
    ours, theirs = getattr(nn, name), getattr(torch.nn, name)
    assert _names_and_defaults(ours.__init__) == _names_and_defaults(theirs.__init__)
    if "forward" in vars(theirs) or any("forward" in vars(c) for c in theirs.__mro__[1:-1]):
        want = _names_and_defaults(theirs.forward)
        assert _names_and_defaults(ours.forward)[: len(want)] == want


@pytest.mark.parametrize("name", cr.nn.functional.__all__)
def test_functional_signatures_match_torch(name):
    # F.softsign(input=x) and the like: PyTorch's argument names and defaults, in its order
    theirs = getattr(torch.nn.functional, name)
    try:
        want = _names_and_defaults(theirs)
    except ValueError:  # a C builtin without a signature
        pytest.skip(f"torch.nn.functional.{name} has no Python signature")
    if not want:  # PyTorch's boolean dispatchers (max_pool2d with return_indices) take *args, **kwargs
        pytest.skip(f"torch.nn.functional.{name} takes *args, **kwargs")
    assert _names_and_defaults(getattr(cr.nn.functional, name)) == want


# ------------------------------------------------- found by fuzzing against PyTorch
def _shared_tree(nn):
    shared = nn.Linear(2, 2)
    m = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)))
    m.add_module("s1", shared)
    m.add_module("s2", shared)
    m[1].add_module("s3", shared)
    return m


@pytest.mark.parametrize("remove_duplicate", [True, False])
@pytest.mark.parametrize("prefix", ["", "top"])
def test_named_members_of_shared_modules_match_pytorch(remove_duplicate, prefix):
    ours, theirs = _shared_tree(nn), _shared_tree(torch.nn)
    for what in ("named_modules", "named_parameters", "named_buffers"):
        kw = {"prefix": prefix, "remove_duplicate": remove_duplicate}
        assert [n for n, _ in getattr(ours, what)(**kw)] == [n for n, _ in getattr(theirs, what)(**kw)], what
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_get_parameter_and_get_buffer_by_dotted_path():
    m = _shared_tree(nn)
    assert m.get_parameter("1.0.bias") is m[1][0].bias
    assert m.get_buffer("1.1.running_var") is m[1][1].running_var
    with pytest.raises(AttributeError, match=r"no parameter 'running_var'.*'1.1.running_var'"):
        m.get_parameter("1.1.running_var")
    with pytest.raises(AttributeError, match="no buffer 'weight'"):
        m.get_buffer("1.1.weight")
    with pytest.raises(AttributeError, match="no submodule '7'"):
        m.get_parameter("7.weight")
    with pytest.raises(AttributeError, match="no parameter 'bias'"):
        nn.Linear(1, 1, bias=False).get_parameter("bias")  # declared None: not a parameter, as in PyTorch


@pytest.mark.parametrize(
    "register",
    [
        lambda m, nn, t: m.register_buffer("p", t),  # a parameter's name
        lambda m, nn, t: m.add_module("p", nn.ReLU()),
        lambda m, nn, t: m.register_parameter("b", nn.Parameter(t)),  # a buffer's name
        lambda m, nn, t: m.add_module("b", nn.ReLU()),
        lambda m, nn, t: m.register_buffer("child", t),  # a child's name
        lambda m, nn, t: m.register_buffer("forward", t),  # a method's name
        lambda m, nn, t: setattr(m, "forward", nn.Parameter(t)),
    ],
)
def test_a_name_taken_by_another_kind_of_member_is_refused_as_pytorch(register):
    def build(nn, t):
        m = nn.Module()
        m.p = nn.Parameter(t)
        m.register_buffer("b", t)
        m.child = nn.Linear(1, 1)
        return m

    theirs = build(torch.nn, torch.ones(1))
    with pytest.raises(KeyError, match="already exists"):
        register(theirs, torch.nn, torch.ones(1))
    ours = build(nn, cr.ones(1))
    before = list(ours.state_dict())
    with pytest.raises(KeyError, match=r"'(p|b|child|forward)'"):
        register(ours, nn, cr.ones(1))
    assert list(ours.state_dict()) == before  # nothing moved


def test_assigning_a_module_over_a_parameter_is_refused_as_pytorch():
    m = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = nn.ReLU()
    assert list(m.state_dict()) == ["weight", "bias"]


def test_a_failed_insert_leaves_the_sequential_as_it_was():
    seq = nn.Sequential(nn.Linear(1, 1), nn.ReLU())
    for container in (seq, nn.ModuleList(list(seq))):
        with pytest.raises(TypeError, match="expected a Module, got int"):
            container.insert(0, 5)
        assert [type(m).__name__ for m in container] == ["Linear", "ReLU"]


def test_sequential_add_multiply_and_pop_match_pytorch():
    def build(nn):
        return nn.Sequential(nn.Linear(1, 1), nn.ReLU(), nn.Tanh())

    def names(s):
        return [(k, type(v).__name__) for k, v in s._modules.items()]

    ours, theirs = build(nn), build(torch.nn)
    assert names(ours + build(nn)) == names(theirs + build(torch.nn))
    assert names(ours * 2) == names(theirs * 2) and names(2 * ours) == names(2 * theirs)
    doubled = ours * 2
    assert doubled[0] is doubled[3] is ours[0]  # repeated, not copied
    assert len(list(doubled.parameters())) == 2
    a, b = build(nn), build(torch.nn)
    a += build(nn)
    b += build(torch.nn)
    assert names(a) == names(b)
    a *= 2
    b *= 2
    assert names(a) == names(b)
    assert type(a.pop(1)).__name__ == type(b.pop(1)).__name__ == "ReLU"
    assert names(a) == names(b)
    ml = nn.ModuleList(build(nn))
    assert isinstance(ml.pop(-1), nn.Tanh) and list(ml._modules) == ["0", "1"]
    with pytest.raises(ValueError, match="another Sequential"):
        build(nn) + [nn.ReLU()]
    with pytest.raises(ValueError, match="positive"):
        build(nn) * 0
    with pytest.raises(TypeError, match="an int"):
        build(nn) * 1.5
    assert "0" not in dir(build(nn)) and "0" not in dir(ml)


def test_module_list_repr_folds_repeated_layers_as_pytorch():
    def build(nn):
        inner = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
        return nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.ReLU(), nn.Tanh(), inner, inner, nn.Linear(1, 2)])

    assert repr(build(nn)) == repr(build(torch.nn))
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList()) == "ModuleList()"


def test_module_dict_update_takes_another_module_dict_and_checks_pairs():
    md = nn.ModuleDict({"a": nn.ReLU()})
    md.update(nn.ModuleDict({"b": nn.Tanh()}))
    md.update([("c", nn.ReLU())])
    assert list(md) == ["a", "b", "c"]
    with pytest.raises(TypeError, match="got int"):
        md.update(5)
    with pytest.raises(ValueError, match="element #0 must be a"):
        md.update([("x", nn.ReLU(), 3)])
    with pytest.raises(KeyError, match="'forward'"):
        md["forward"] = nn.ReLU()


def test_load_state_dict_assign_puts_the_given_tensors_in_place_as_pytorch():
    ours, theirs = nn.Linear(2, 3), torch.nn.Linear(2, 3)
    ours.weight.requires_grad_(False)
    theirs.weight.requires_grad_(False)
    w = np.arange(6, dtype=np.float64).reshape(3, 2)
    b = np.ones(3, dtype=np.float64)
    given = {"weight": cr.tensor(w), "bias": cr.tensor(b)}
    ours.load_state_dict(given, assign=True)
    theirs.load_state_dict({"weight": torch.tensor(w), "bias": torch.tensor(b)}, assign=True)
    for name in ("weight", "bias"):
        o, t = getattr(ours, name), getattr(theirs, name)
        assert isinstance(o, nn.Parameter) and o.requires_grad == t.requires_grad
        assert str(o.dtype) == str(t.dtype).replace("torch.", "")  # the given dtype is kept
        np.testing.assert_array_equal(o.detach().numpy(), t.detach().numpy())
    assert ours.weight._array is given["weight"]._array  # not copied
    assert [n for n, _ in ours.named_parameters()] == ["weight", "bias"]
    param, theirs_param = nn.Parameter(cr.ones(3), False), torch.nn.Parameter(torch.ones(3), False)
    ours.load_state_dict({"weight": cr.ones(3, 2), "bias": param}, assign=True)
    theirs.load_state_dict({"weight": torch.ones(3, 2), "bias": theirs_param}, assign=True)
    assert ours.bias is param and theirs.bias is theirs_param  # the model's requires_grad wins:
    assert ours.bias.requires_grad == theirs.bias.requires_grad is True
    assert ours.weight.requires_grad == theirs.weight.requires_grad is False
    with pytest.raises(RuntimeError, match="size mismatch for bias"):
        ours.load_state_dict({"weight": cr.ones(3, 2), "bias": cr.ones(4)}, assign=True)


def test_a_zero_dim_value_saved_with_shape_1_loads_as_pytorch():
    ours, theirs = nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    sd = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    sd["num_batches_tracked"] = np.array([7])
    ours.load_state_dict(sd)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in sd.items()})
    assert ours.num_batches_tracked.shape == () and ours.num_batches_tracked.item() == 7
    assert theirs.num_batches_tracked.item() == 7


# ------------------------------------------------------------------------ hooks
def _hooked(nn, log):
    torch.manual_seed(0)
    theirs = torch.nn.Linear(2, 2)
    m = nn.Linear(2, 2)
    if nn is not torch.nn:
        m.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    else:
        m = theirs
    m.register_forward_hook(lambda mod, args, out: log.append("A"))
    m.register_forward_hook(lambda mod, args, out: log.append("B"), prepend=True)
    m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] * 2,), kwargs), with_kwargs=True)
    m.register_forward_hook(lambda mod, args, kwargs, out: out + 1, with_kwargs=True)
    return m


def test_forward_hooks_with_kwargs_and_prepend_match_pytorch():
    ours_log, theirs_log = [], []
    ours, theirs = _hooked(nn, ours_log), _hooked(torch.nn, theirs_log)
    x = np.array([[1.0, -2.0]], dtype=np.float32)
    check_against_torch(ours, theirs, [x])
    assert ours_log == theirs_log == ["B", "A"]


def test_always_call_hooks_run_when_forward_raises_and_handles_are_context_managers():
    for lib, t in ((nn, cr.ones(1, 3)), (torch.nn, torch.ones(1, 3))):
        m = lib.Linear(2, 2)
        seen = []
        with m.register_forward_hook(lambda mod, args, out, seen=seen: seen.append(out), always_call=True):
            with pytest.raises(RuntimeError if lib is torch.nn else ValueError):
                m(t)
        assert seen == [None]
        m(t[:, :2])  # the hook is gone after the with block
        assert seen == [None]
    with pytest.raises(RuntimeError, match=r"tuple \(args, kwargs\)"):
        m = nn.Identity()
        m.register_forward_pre_hook(lambda mod, args, kwargs: args, with_kwargs=True)
        m(cr.ones(1))
