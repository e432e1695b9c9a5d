"""Running operations (ops/scan.py: cumprod, cummax, cummin, logcumsumexp) against PyTorch.

Shapes are drawn by hypothesis (0-d, empty and size-1 axes, negative dims),
in float32 and float64, as functions and methods; values and the gradient of a
random cotangent are compared, then finite differences in float64. Values with
many ties and zeros check cummax/cummin's tie rule (the last index) and
cumprod's exact gradient through zeros.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import chainrule as cr
from helpers import call, check_against_torch, check_gradcheck

SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
FORMS = st.sampled_from(["function", "method"])
DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def cases(draw, elements):
    shape = draw(SHAPES)
    dtype = draw(DTYPES)
    x = draw(arrays(dtype, shape, elements=elements))
    n = max(len(shape), 1)
    return x, draw(st.integers(-n, n - 1)), draw(FORMS)


TIES = st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0])


@settings(max_examples=30)
@given(case=cases(TIES))
def test_cumprod_with_zeros_matches_torch(case):
    x, dim, form = case
    check_against_torch(
        lambda t: call(cr, form, "cumprod", t, dim), lambda t: call(torch, form, "cumprod", t, dim), [x]
    )


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@settings(max_examples=30)
@given(case=cases(TIES))
def test_cummax_cummin_values_indices_and_ties(name, case):
    x, dim, form = case
    ours = check_against_torch(
        lambda t: call(cr, form, name, t, dim), lambda t: tuple(call(torch, form, name, t, dim)), [x]
    )
    res = call(cr, form, name, cr.tensor(x), dim)
    assert res.values is not None and res.indices.dtype == np.int64
    np.testing.assert_array_equal(
        ours[1].cpu().numpy(), call(torch, form, name, torch.tensor(x), dim).indices.numpy()
    )


@settings(max_examples=30)
@given(case=cases(st.floats(-30, 30, width=32)))
def test_logcumsumexp_matches_torch(case):
    x, dim, form = case
    check_against_torch(
        lambda t: call(cr, form, "logcumsumexp", t, dim),
        lambda t: call(torch, form, "logcumsumexp", t, dim),
        [x],
        rtol=1e-5,
        atol=1e-5,
    )


def test_scans_gradcheck():
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (3, 4))
    x[1, 2] = 0.0  # cumprod through an exact zero
    check_gradcheck(lambda t: cr.cumprod(t, 1), [x])
    check_gradcheck(lambda t: cr.cumprod(t, -2), [x])
    check_gradcheck(lambda t: cr.logcumsumexp(t, 1), [x])
    distinct = rng.permutation(12).reshape(3, 4) * 0.5
    check_gradcheck(lambda t: cr.cummax(t, 1).values, [distinct])
    check_gradcheck(lambda t: cr.cummin(t, 0).values, [distinct])


def test_cumprod_of_integers_is_int64():
    x = np.array([[1, 2, 3], [0, 4, -1]], dtype=np.int32)
    check_against_torch(lambda t: cr.cumprod(t, 1), lambda t: torch.cumprod(t, 1), [x])
    check_against_torch(lambda t: t.cummax(1), lambda t: tuple(t.cummax(1)), [x])


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # the loss sums -inf and +inf
def test_logcumsumexp_of_minus_infinity():
    x = np.array([-np.inf, -np.inf, 0.0, -np.inf], dtype=np.float64)
    check_against_torch(lambda t: cr.logcumsumexp(t, 0), lambda t: torch.logcumsumexp(t, 0), [x])


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cummax_cummin_index_follows_each_later_nan(name, dtype):
    # PyTorch's running index moves to every later NaN (was: stayed on the first NaN),
    # and the gradient goes to the element at that index
    x = np.array([[1.0, np.nan, 1.0, 2.0, np.nan, -1.0], [np.nan, np.nan, 3.0, 0.0, 0.0, np.inf]], dtype)
    for dim in (1, 0, -1):
        check_against_torch(
            lambda t, d=dim: getattr(cr, name)(t, d), lambda t, d=dim: tuple(getattr(torch, name)(t, d)), [x]
        )
