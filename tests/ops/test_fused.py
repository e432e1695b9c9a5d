"""Fused ops: softmax and log_softmax.

Compared with PyTorch (values, shape, dtype and the gradient of a random
cotangent: the gradient of a plain ``.sum()`` of a softmax is zero whatever
the backward does, so a random cotangent is what catches a wrong Jacobian) on
hypothesis-drawn shapes from 0-d up, along every valid positive and negative
dim, as functions and as methods; checked by finite differences in float64;
extreme logits stay finite, and integer inputs are promoted to the default float.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import chainrule as cr
from helpers import call, check_against_torch, check_gradcheck, pair

OPS = ["softmax", "log_softmax"]
FORMS = ["function", "method"]

SHAPES = array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
SMALL_SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
FLOATS = st.floats(-4, 4, width=32, allow_subnormal=False)


@st.composite
def logits(draw, shapes=SHAPES, dtype=np.float32):
    """(array, dim): hypothesis arrays (ties, zeros) or uniform random ones, at scales up to 1e4."""
    shape = draw(shapes)
    if draw(st.booleans()):
        x = draw(arrays(np.float32, shape, elements=FLOATS))
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        x = rng.uniform(-4, 4, shape)
    scale = draw(st.sampled_from([1.0, 10.0, 1e4]))
    n = max(len(shape), 1)  # a 0-d tensor accepts dim 0 and -1
    dim = draw(st.integers(-n, n - 1))
    return np.asarray(x * scale, dtype=dtype), dim


# ------------------------------------------------------------ against PyTorch


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("form", FORMS)
@given(case=logits())
def test_matches_torch(form, op, case):
    x, dim = case
    (out,) = check_against_torch(*pair(form, op, dim), [x])
    assert np.all(np.isfinite(out.cpu()._array))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("form", FORMS)
@given(case=logits(dtype=np.float64))
def test_float64_matches_torch(form, op, case):
    x, dim = case
    (out,) = check_against_torch(*pair(form, op, dim), [x], rtol=1e-12, atol=1e-12)
    assert out.dtype == np.float64


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("form", FORMS)
def test_dim_as_keyword(form, op):
    x = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, -2.5]], np.float32)
    for dim in (0, 1, -1, -2):
        check_against_torch(*pair(form, op, dim=dim), [x])


@pytest.mark.parametrize("op", OPS)
@given(case=logits())
def test_dtype_argument(op, case):
    # the cast is part of the graph: the float32 input gets the gradient back
    x, dim = case
    check_against_torch(
        lambda t: getattr(cr, op)(t, dim, dtype=cr.float64),
        lambda t: getattr(torch, op)(t, dim, dtype=torch.float64),
        [x],
    )


# --------------------------------------------------------------- extreme logits


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


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("form", FORMS)
def test_extreme_logits_stay_finite(form, op):
    for x in (EXTREME, EXTREME.T.copy(), EXTREME[None], EXTREME[:, :, None]):
        for dim in range(-x.ndim, x.ndim):
            (out,) = check_against_torch(*pair(form, op, dim), [x])
            assert np.all(np.isfinite(out.cpu()._array))
            t = cr.tensor(x, requires_grad=True)
            c = cr.tensor(np.linspace(-1, 1, x.size).reshape(x.shape))
            (call(cr, form, op, t, dim) * c).sum().backward()
            assert np.all(np.isfinite(t.grad._array))


def test_extreme_logits_values():
    sm = cr.softmax(cr.tensor(EXTREME), -1)._array
    np.testing.assert_allclose(sm.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(sm[0], [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(sm[1], [0.25] * 4)
    np.testing.assert_allclose(sm[2], [1 / 3] * 3 + [0.0], rtol=1e-6)
    lsm = cr.log_softmax(cr.tensor(EXTREME), -1)._array
    np.testing.assert_allclose(lsm[0], [0.0, -2e4, -1e4, -1e4 + 1], rtol=1e-6, atol=1e-3)
    np.testing.assert_allclose(lsm[1], [-np.log(4)] * 4, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("form", FORMS)
def test_minus_inf_logits_as_torch(form, op):
    # masked entries (-inf) get probability 0 and no gradient; an all -inf row
    # is nan in both libraries
    inf = np.inf
    x = np.array([[-inf, 0.0, 1.0], [2.0, -inf, -inf], [-inf, -inf, -inf]], np.float32)
    (out,) = check_against_torch(*pair(form, op, 1), [x])
    assert np.all(np.isnan(out.cpu()._array[2]))
    (out,) = check_against_torch(*pair(form, op, -1), [x[:2]])
    assert not np.any(np.isnan(out.cpu()._array))


# ------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("form", FORMS)
def test_integer_input_is_promoted_to_default_float(form, op, dtype):
    # chainrule behaviour (PyTorch raises for integer softmax): computed in the
    # default float dtype, equal to the op on the float tensor
    x = (np.arange(12).reshape(3, 4) % 5).astype(dtype)
    for dim in (0, 1, -1):
        ours, _ = pair(form, op, dim)
        (out,) = check_against_torch(ours, lambda t, dim=dim: getattr(torch, op)(t.float(), dim), [x])
        assert out.dtype == np.float32
    prev = cr.get_default_dtype()
    cr.set_default_dtype(cr.float64)
    try:
        out = call(cr, form, op, cr.tensor(x), 1)
        assert out.dtype == np.float64
        expect = getattr(torch, op)(torch.tensor(x).double(), 1).numpy()
        np.testing.assert_allclose(out._array, expect, rtol=1e-12)
    finally:
        cr.set_default_dtype(prev)
    # an explicit dtype wins, as torch.softmax(int_tensor, dim, dtype=...)
    check_against_torch(
        lambda t: getattr(cr, op)(t, 1, dtype=cr.float64),
        lambda t: getattr(torch, op)(t, 1, dtype=torch.float64),
        [x],
    )


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_keeps_the_input_dtype(op, dtype):
    t = cr.tensor(np.array([[1.0, 3.0, 3.0], [2.0, -1.0, 0.5]], dtype), requires_grad=True)
    out = getattr(t, op)(1)
    (g,) = cr.autograd.grad(out, t, np.linspace(-1, 1, 6).reshape(2, 3).astype(dtype))
    assert g.dtype == dtype and g.shape == t.shape


# ------------------------------------------------------------- properties


@given(case=logits(dtype=np.float64))
def test_log_softmax_is_log_of_softmax(case):
    x, dim = case
    sm = cr.softmax(cr.tensor(x), dim)._array
    lsm = cr.log_softmax(cr.tensor(x), dim)._array
    np.testing.assert_allclose(np.exp(lsm), sm, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(sm.sum(axis=dim if x.ndim else None), 1.0, rtol=1e-12)


@pytest.mark.parametrize("op", OPS)
def test_gradient_of_a_plain_sum(op):
    # softmax sums to 1 along dim: d/dx sum(softmax) = 0; d/dx sum(log_softmax) = 1 - n softmax
    x = np.array([[0.5, -1.0, 2.0, 0.0], [3.0, 0.0, -2.5, 1.0]])
    t = cr.tensor(x, requires_grad=True)
    getattr(t, op)(1).sum().backward()
    sm = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    expect = np.zeros_like(x) if op == "softmax" else 1 - 4 * sm
    np.testing.assert_allclose(t.grad._array, expect, atol=1e-12)


# ------------------------------------------------------ finite differences


@st.composite
def small_f64(draw):
    shape = draw(SMALL_SHAPES)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = max(len(shape), 1)
    return rng.normal(0, 2, shape), draw(st.integers(-n, n - 1))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("form", FORMS)
@given(case=small_f64())
def test_gradcheck(form, op, case):
    x, dim = case
    check_gradcheck(lambda t: call(cr, form, op, t, dim), [x])


@pytest.mark.parametrize("op", OPS)
def test_gradcheck_large_logits(op):
    x = np.array([[1e4, 1e4 + 0.5, 1e4 - 1.0], [-1e4, -1e4 + 2.0, -1e4 + 0.25]])
    for dim in (0, 1, -1):
        check_gradcheck(lambda t, dim=dim: getattr(cr, op)(t, dim), [x])


# ------------------------------------------------------------------ 0-d


@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("form", FORMS)
def test_zero_d(form, op, dim):
    x = np.array(7.5, np.float32)
    (out,) = check_against_torch(*pair(form, op, dim), [x])
    assert out.shape == () and out.item() == (1.0 if op == "softmax" else 0.0)
    t = cr.tensor(x, requires_grad=True)
    call(cr, form, op, t, dim).backward()
    assert t.grad.shape == ()
    assert t.grad.item() == 0.0  # softmax is constant 1, log_softmax constant 0


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("form", FORMS)
def test_zero_size(form, op, dim):
    # an empty tensor (along dim or another axis) gives an empty result, as in PyTorch,
    # not NumPy's "zero-size array to reduction operation maximum"
    (out,) = check_against_torch(*pair(form, op, dim), [np.ones((2, 0, 3), np.float32)])
    assert out.shape == (2, 0, 3)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("form", FORMS)
def test_dim_out_of_range_names_op_and_range(form, op):
    t = cr.ones(2, 3, 4)
    for bad in (3, -4, 10):
        with pytest.raises(IndexError, match=rf"{op}.*{bad}.*\[-3, 2\]"):
            call(cr, form, op, t, bad)
    for bad in (1, -2):
        with pytest.raises(IndexError, match=rf"{op}.*\[-1, 0\]"):
            call(cr, form, op, cr.tensor(2.0), bad)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(("shape", "dim"), [((0,), 0), ((3, 0), -1), ((0, 4), 0), ((2, 0, 3), 1)])
def test_empty_dim_gives_an_empty_result(op, shape, dim):
    # softmax over nothing is nothing, as PyTorch (was: NumPy's max over a zero-size axis failed)
    x = np.zeros(shape, np.float32)
    check_against_torch(*pair("function", op, dim), [x])
    check_against_torch(*pair("method", op, dim), [x.astype(np.float64)])
