"""Activations: the functions of ``chainrule.nn.functional`` and the modules of ``chainrule.nn``.

Every function is compared with PyTorch (values, shape, dtype, and the gradient
of a random cotangent) on hypothesis-drawn shapes from 0-d up and on its
options, in float32 and float64; checked by finite differences in float64;
fed +-1e4 (no overflow warning, finite gradient, PyTorch's values); and the
error function behind the exact GELU is checked against ``math.erf``. The
modules must print exactly as PyTorch's and compute what the functions do.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F  # noqa: N812
from chainrule.ops.activation import erf, erfc
from helpers import check_against_torch, check_gradcheck

# name -> strategy for its keyword options (the same names in both libraries)
OPTIONS = {
    "relu": st.just({}),
    "sigmoid": st.just({}),
    "tanh": st.just({}),
    "leaky_relu": st.fixed_dictionaries({"negative_slope": st.sampled_from([0.01, 0.2, -0.5, 1.5])}),
    "elu": st.fixed_dictionaries({"alpha": st.sampled_from([1.0, 0.5, 2.5])}),
    "celu": st.fixed_dictionaries({"alpha": st.sampled_from([1.0, 0.5, 2.5])}),
    "selu": st.just({}),
    "gelu": st.fixed_dictionaries({"approximate": st.sampled_from(["none", "tanh"])}),
    "silu": st.just({}),
    "mish": st.just({}),
    "softplus": st.fixed_dictionaries(
        {"beta": st.sampled_from([1.0, 2.0, 0.5]), "threshold": st.sampled_from([20.0, 5.0, 1.0])}
    ),
    "relu6": st.just({}),
    "hardtanh": st.sampled_from([{}, {"min_val": -2.0, "max_val": 3.0}, {"min_val": 0.5, "max_val": 0.75}]),
    "hardsigmoid": st.just({}),
    "hardswish": st.just({}),
    "logsigmoid": st.just({}),
}
NAMES = sorted(OPTIONS)

SHAPES = array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
# kinks and breakpoints of the piecewise functions are drawn on purpose: the
# derivative there must be PyTorch's choice
SPECIAL = st.sampled_from([0.0, -1.0, 1.0, -3.0, 3.0, 6.0, 0.5, 0.75, -2.0, 20.0, 10.0])
VALUES = st.one_of(st.floats(-8, 8, width=32, allow_subnormal=False), SPECIAL)


@st.composite
def inputs(draw, dtype=np.float32):
    shape = draw(SHAPES)
    if draw(st.booleans()):
        x = draw(arrays(np.float32, shape, elements=VALUES))
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        x = rng.standard_normal(shape) * draw(st.sampled_from([1.0, 4.0, 30.0]))
    return np.asarray(x, dtype=dtype)


def pair(name, **kw):
    return (lambda t: getattr(F, name)(t, **kw)), (lambda t: getattr(TF, name)(t, **kw))


# ------------------------------------------------------------ against PyTorch
@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_matches_torch(name, data):
    x = data.draw(inputs())
    kw = data.draw(OPTIONS[name])
    check_against_torch(*pair(name, **kw), [x])


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_float64_matches_torch(name, data):
    x = data.draw(inputs(np.float64))
    kw = data.draw(OPTIONS[name])
    # PyTorch's float64 hardsigmoid backward multiplies by 1/6 rounded to float32
    rtol = 1e-7 if name == "hardsigmoid" else 1e-9
    (out,) = check_against_torch(*pair(name, **kw), [x], rtol=rtol, atol=1e-12)
    assert out.dtype == np.float64


GRADCHECK_OPTIONS = {
    "gelu": [{}, {"approximate": "tanh"}],
    "softplus": [{}, {"beta": 2.0, "threshold": 3.0}],
    "elu": [{"alpha": 0.7}],
    "celu": [{"alpha": 0.7}],
    "leaky_relu": [{"negative_slope": 0.2}],
    "hardtanh": [{"min_val": -2.0, "max_val": 3.0}],
}


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name):
    # values away from the kinks: finite differences are meaningless across one
    x = np.random.default_rng(1).uniform(-4, 4, (3, 4))
    for kink in (0.0, -1.0, 1.0, 1.5, -2.0, -3.0, 3.0, 6.0):
        x[np.abs(x - kink) < 1e-3] += 0.01
    for kw in GRADCHECK_OPTIONS.get(name, [{}]):
        check_gradcheck(lambda t, kw=kw: getattr(F, name)(t, **kw), [x])


@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_are_finite(name):
    x = np.array([-1e4, -1e3, -100.0, -30.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 30.0, 100.0, 1e3, 1e4], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or invalid-value warning fails the test
        for dtype in (np.float32, np.float64):
            (out,) = check_against_torch(*pair(name), [x.astype(dtype)])
            t = cr.tensor(x.astype(dtype), requires_grad=True)
            getattr(F, name)(t).sum().backward()
            assert np.all(np.isfinite(out.cpu()._array)) and np.all(np.isfinite(t.grad._array))


def test_gelu_tail_values():
    # the exact GELU is computed through erfc, so the far negative tail keeps its digits
    x = np.array([-9.0, -7.0, -5.0, -3.0], np.float64)
    expected = [v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x]
    np.testing.assert_allclose(F.gelu(cr.tensor(x))._array, expected, rtol=5e-14)
    np.testing.assert_allclose(F.gelu(cr.tensor(x.astype(np.float32)))._array, expected, rtol=2e-5)


def test_integer_input_is_promoted():
    out = F.gelu(cr.tensor([-2, 0, 3]))
    assert out.dtype == np.float32
    # PyTorch's float32 1 + erf(x) loses digits for x < 0; ours is within 2e-7 of the exact value
    np.testing.assert_allclose(out._array, TF.gelu(torch.tensor([-2.0, 0.0, 3.0])).numpy(), rtol=1e-5)
    exact = [v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in (-2.0, 0.0, 3.0)]
    np.testing.assert_allclose(out._array, exact, rtol=2e-7)


def test_softmax_family_and_implicit_dim():
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    for name in ("softmax", "log_softmax", "softmin"):
        check_against_torch(*pair(name, dim=-1), [x])
        for shape in [(5,), (2, 5), (2, 3, 4), (2, 3, 4, 2)]:
            y = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
            with pytest.warns(UserWarning, match="Implicit dimension"):
                ours = getattr(F, name)(cr.tensor(y))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs = getattr(TF, name)(torch.tensor(y))
            np.testing.assert_allclose(ours._array, theirs.numpy(), rtol=1e-6, atol=1e-7)


def test_bad_arguments():
    with pytest.raises(TypeError, match="gelu: expected a Tensor, got list"):
        F.gelu([1.0, 2.0])
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'fast'"):
        F.gelu(cr.ones(2), approximate="fast")
    with pytest.raises(ValueError, match=r"hardtanh: min_val \(2\) must not exceed max_val \(1\)"):
        F.hardtanh(cr.ones(2), 2, 1)
    with pytest.raises(ValueError, match="celu: alpha must not be 0"):
        F.celu(cr.ones(2), alpha=0.0)


# ------------------------------------------------------------- error function
def _relative_error(ours, exact):
    exact = np.asarray(exact)
    scale = np.maximum(np.abs(exact), np.finfo(np.float64).tiny)
    return np.max(np.abs(ours - exact) / scale)


def test_erf_matches_math_erf_to_float64_rounding():
    x = np.concatenate(
        [
            np.linspace(-30, 30, 60001),
            np.geomspace(1e-300, 30, 3000),
            -np.geomspace(1e-300, 30, 3000),
            [0.0, -0.0, 0.46875, -0.46875, 4.0, -4.0, 26.5, 27.5, 1e10, -1e300],
        ]
    )
    assert _relative_error(erf(x), [math.erf(v) for v in x]) < 1e-15
    tail = x[np.abs(x) < 26.5]  # beyond, erfc underflows into subnormals
    assert _relative_error(erfc(tail), [math.erfc(v) for v in tail]) < 2e-15
    assert erf(np.array([np.inf, -np.inf])).tolist() == [1.0, -1.0]
    assert erfc(np.array([np.inf, -np.inf, 40.0])).tolist() == [0.0, 2.0, 0.0]
    assert np.isnan(erf(np.array([np.nan]))).all() and np.isnan(erfc(np.array([np.nan]))).all()


def test_erf_float32_and_shapes():
    x = np.linspace(-6, 6, 2001, dtype=np.float32).reshape(23, 87)
    out = erf(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    exact = np.array([math.erf(float(v)) for v in x.ravel()]).reshape(x.shape)
    np.testing.assert_allclose(out, exact, rtol=1e-6, atol=1e-7)
    assert erf(np.float64(0.5)).shape == ()
    assert erf(cr.tensor([0.25])).dtype == np.float32  # a tensor's array works too


# -------------------------------------------------------------------- inplace
def test_inplace_without_graph_writes_into_the_input():
    for fn in (F.relu_, F.leaky_relu_, F.elu_, F.hardtanh_, lambda t: F.mish(t, True)):
        x = cr.tensor([-2.0, 0.5, 3.0])
        out = fn(x)
        assert out is x
    x = cr.tensor(0.5)  # 0-d too
    assert F.relu6(x, inplace=True) is x
    x = cr.tensor([-2.0, 0.5, 3.0])
    with cr.no_grad():
        x.requires_grad_()
        assert F.hardswish(x, inplace=True) is x
    x = cr.tensor([-2.0, 0.5, 3.0])
    F.silu(x, inplace=True)
    np.testing.assert_allclose(x._array, TF.silu(torch.tensor([-2.0, 0.5, 3.0])).numpy(), rtol=1e-6)


def test_inplace_in_a_graph_returns_a_new_tensor_with_the_right_gradient():
    a = cr.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    h = a * 2
    out = F.leaky_relu(h, 0.1, inplace=True)
    assert out is not h and np.allclose(h._array, [-4.0, 1.0, 6.0])
    (out * cr.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(a.grad._array, [0.2, 4.0, 6.0])


# --------------------------------------------------------------------- modules
MODULES = [
    ("ReLU", (), {}),
    ("ReLU", (True,), {}),
    ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.2, True), {}),
    ("ELU", (), {}),
    ("ELU", (0.5, True), {}),
    ("CELU", (2.0,), {}),
    ("SELU", (), {}),
    ("SELU", (True,), {}),
    ("GELU", (), {}),
    ("GELU", ("tanh",), {}),
    ("SiLU", (), {}),
    ("SiLU", (True,), {}),
    ("Mish", (), {}),
    ("Sigmoid", (), {}),
    ("Tanh", (), {}),
    ("Softplus", (), {}),
    ("Softplus", (2, 10), {}),
    ("Softmax", (), {"dim": 1}),
    ("Softmax", (), {}),
    ("LogSoftmax", (-1,), {}),
    ("Softmin", (1,), {}),
    ("ReLU6", (), {}),
    ("ReLU6", (True,), {}),
    ("Hardtanh", (), {}),
    ("Hardtanh", (-2, 2, True), {}),
    ("Hardsigmoid", (), {}),
    ("Hardsigmoid", (True,), {}),
    ("Hardswish", (), {}),
    ("LogSigmoid", (), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), MODULES)
def test_module_repr_and_forward_match_torch(name, args, kwargs):
    ours = getattr(nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(4).standard_normal((2, 3, 4)).astype(np.float32) * 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Softmax(dim=None) warns in both libraries
        # through a non-leaf, which PyTorch lets inplace=True modules overwrite
        check_against_torch(lambda t: ours(t * 1.0), lambda t: theirs(t * 1.0), [x])


def test_module_attributes_and_validation():
    m = nn.LeakyReLU(0.3)
    assert (m.negative_slope, m.inplace) == (0.3, False)
    assert nn.Hardtanh(min_value=-3.0, max_value=2.0).extra_repr() == "min_val=-3.0, max_val=2.0"
    with pytest.raises(ValueError, match=r"Hardtanh: max_val \(1\) must be greater than min_val \(1\)"):
        nn.Hardtanh(1, 1)
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh'"):
        nn.GELU("erf")
    assert list(nn.GELU().parameters()) == []


def test_modules_in_a_sequential():
    model = nn.Sequential(nn.Linear(4, 5), nn.GELU(), nn.Linear(5, 3), nn.LogSoftmax(dim=1))
    out = model(cr.randn(2, 4))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(np.exp(out._array).sum(1), 1.0, rtol=1e-6)


# ----------------------------------------------------- other functional helpers
@given(
    shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4),
    p=st.sampled_from([2.0, 1.0, 3.0, 0.5, float("inf"), 0.0]),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_normalize_matches_torch(shape, p, seed, data):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    if data.draw(st.booleans()):
        x[..., 0] = 0.0  # zero vectors along the last dim: the eps clamp takes over there
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    ours, theirs = (lambda t: F.normalize(t, p=p, dim=dim)), (lambda t: TF.normalize(t, p=p, dim=dim))
    check_against_torch(ours, theirs, [x], rtol=1e-4, atol=1e-5)


def test_normalize_gradcheck_and_defaults():
    x = np.random.default_rng(5).standard_normal((3, 4))
    for p in (2.0, 1.0, 3.0, float("inf")):
        check_gradcheck(lambda t, p=p: F.normalize(t, p=p, dim=1), [x])
    out = F.normalize(cr.tensor([[3.0, 4.0]]))
    np.testing.assert_allclose(out._array, [[0.6, 0.8]])
    with pytest.raises(ValueError, match="normalize: p must be a number or"):
        F.normalize(cr.ones(2, 2), p=float("nan"))


def test_one_hot():
    idx = np.array([[0, 2], [1, 4]])
    ours = F.one_hot(cr.tensor(idx))
    theirs = TF.one_hot(torch.tensor(idx))
    assert ours.dtype == np.int64 and ours.shape == tuple(theirs.shape)
    np.testing.assert_array_equal(ours._array, theirs.numpy())
    np.testing.assert_array_equal(F.one_hot(cr.tensor([1, 0]), num_classes=3)._array, [[0, 1, 0], [1, 0, 0]])
    assert F.one_hot(cr.tensor(2), 4).tolist() == [0, 0, 1, 0]
    assert F.one_hot(cr.zeros(0, dtype=cr.int64), 3).shape == (0, 3)
    with pytest.raises(ValueError, match="one_hot: class value 5 is out of range for num_classes=3"):
        F.one_hot(cr.tensor([0, 5]), 3)
    with pytest.raises(ValueError, match="one_hot: class values must be non-negative, got -1"):
        F.one_hot(cr.tensor([0, -1]))
    with pytest.raises(TypeError, match="one_hot: expected an integer"):
        F.one_hot(cr.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="cannot infer num_classes from an empty tensor"):
        F.one_hot(cr.zeros(0, dtype=cr.int64))


def test_functional_reexports():
    x = cr.randn(2, 3)
    w, b = cr.randn(4, 3), cr.randn(4)
    np.testing.assert_allclose(F.linear(x, w, b)._array, x._array @ w._array.T + b._array, rtol=1e-5)
    assert F.pad(x, (1, 1)).shape == (2, 5)
    assert set(F.__all__) <= set(dir(F))
