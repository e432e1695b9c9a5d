"""Elementwise math (ops/pointwise.py and div's rounding modes) against PyTorch.

Each unary function is drawn on hypothesis shapes (0-d, empty, size-1 axes)
with values inside its domain, in float32 and float64, as a function and as a
method; binary functions also broadcast. Values and gradients (random
cotangent) are compared with PyTorch, then checked by finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import chainrule as cr
from helpers import call, check_against_torch, check_gradcheck

SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)

# name -> (low, high) of the values drawn: inside the domain, away from poles
UNARY = {
    "tan": (-1.2, 1.2),
    "asin": (-0.9, 0.9),
    "acos": (-0.9, 0.9),
    "atan": (-3, 3),
    "sinh": (-3, 3),
    "cosh": (-3, 3),
    "asinh": (-3, 3),
    "acosh": (1.2, 4),
    "atanh": (-0.9, 0.9),
    "log2": (0.2, 4),
    "log10": (0.2, 4),
    "exp2": (-3, 3),
    "erf": (-3, 3),
    "erfc": (-3, 3),
    "erfinv": (-0.95, 0.95),
    "logit": (0.05, 0.95),
    "frac": (-3, 3),
    "sign": (-3, 3),
    "sgn": (-3, 3),
    "square": (-3, 3),
    "rsqrt": (0.2, 4),
    "sigmoid": (-4, 4),
    "nan_to_num": (-3, 3),
}
METHODLESS = {"softsign"}
BINARY = {
    "atan2": ((-3, 3), (-3, 3)),
    "hypot": ((-3, 3), (-3, 3)),
    "fmod": ((-5, 5), (0.5, 2)),
    "remainder": ((-5, 5), (0.5, 2)),
    "copysign": ((-3, 3), (-3, 3)),
    "logaddexp": ((-5, 5), (-5, 5)),
    "logaddexp2": ((-5, 5), (-5, 5)),
    "xlogy": ((-3, 3), (0.2, 4)),
}


def uniform(shape, lo, hi, dtype, seed):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


def _tol(dtype):
    return (1e-5, 1e-6) if dtype == np.float32 else (1e-10, 1e-12)


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=12)
@given(
    shape=SHAPES,
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 99),
    form=st.sampled_from(["function", "method"]),
)
def test_unary_matches_torch(name, shape, dtype, seed, form):
    x = uniform(shape, *UNARY[name], dtype, seed)
    rtol, atol = _tol(dtype)
    if name in ("erfinv", "tan"):
        rtol *= 4
    check_against_torch(
        lambda t: call(cr, form, name, t), lambda t: call(torch, form, name, t), [x], rtol=rtol, atol=atol
    )


@pytest.mark.parametrize("name", sorted(set(UNARY) - {"sign", "sgn", "frac"}))
def test_unary_gradcheck(name):
    check_gradcheck(getattr(cr, name), [uniform((2, 3), *UNARY[name], np.float64, 1)])


def test_softsign_is_a_functional():
    x = uniform((3, 4), -3, 3, np.float32, 0)
    check_against_torch(cr.nn.functional.softsign, torch.nn.functional.softsign, [x])
    check_gradcheck(cr.nn.functional.softsign, [x])


@pytest.mark.parametrize("name", ["tan", "asin", "log2", "exp2", "erf", "logit", "atanh"])
def test_integer_inputs_give_the_default_float(name):
    x = (
        np.array([0, 1, 2], dtype=np.int64)
        if name not in ("asin", "atanh", "logit")
        else np.zeros(3, np.int64)
    )
    check_against_torch(getattr(cr, name), getattr(torch, name), [x])


def test_erfinv_is_accurate_to_the_tails():
    y = np.concatenate([np.linspace(-0.999999, 0.999999, 2001), [-1.0, 1.0, 0.0]])
    np.testing.assert_allclose(
        cr.erfinv(cr.tensor(y)).numpy(), torch.erfinv(torch.tensor(y)).numpy(), rtol=1e-12
    )


def test_logit_eps_clamps_and_zeroes_the_gradient_outside():
    x = np.array([0.0, 0.01, 0.3, 0.99, 1.0], dtype=np.float64)
    check_against_torch(lambda t: cr.logit(t, eps=0.05), lambda t: torch.logit(t, eps=0.05), [x])


def test_sign_has_a_zero_gradient_and_keeps_integers():
    x = np.array([-2.0, 0.0, 3.0, np.nan], dtype=np.float32)
    (out,) = check_against_torch(lambda t: t.sign(), lambda t: t.sign(), [x])
    assert out.requires_grad
    check_against_torch(cr.sign, torch.sign, [np.array([-3, 0, 4], dtype=np.int32)])
    check_against_torch(cr.sign, torch.sign, [np.array([True, False])])


def test_nan_to_num_defaults_and_options():
    x = np.array([np.nan, np.inf, -np.inf, 1.5], dtype=np.float32)
    check_against_torch(cr.nan_to_num, torch.nan_to_num, [x])
    check_against_torch(
        lambda t: t.nan_to_num(nan=1.0, posinf=2.0, neginf=-2.0),
        lambda t: t.nan_to_num(nan=1.0, posinf=2.0, neginf=-2.0),
        [x],
    )


BROADCASTS = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 4)), ((0, 3), (3,)), ((4,), ())]


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", BROADCASTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_matches_torch(name, shapes, dtype):
    (la, ha), (lb, hb) = BINARY[name]
    a, b = uniform(shapes[0], la, ha, dtype, 0), uniform(shapes[1], lb, hb, dtype, 1)
    rtol, atol = _tol(dtype)
    check_against_torch(getattr(cr, name), getattr(torch, name), [a, b], rtol=rtol, atol=atol)
    check_against_torch(
        lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), [a, b], rtol=rtol, atol=atol
    )


@pytest.mark.parametrize("name", ["fmod", "remainder", "copysign", "xlogy"])  # those torch takes a number in
def test_binary_with_a_number(name):
    (la, ha), (lb, hb) = BINARY[name]
    a = uniform((2, 3), la, ha, np.float32, 0)
    b = float(np.float32((lb + hb) / 2 + 0.1))
    check_against_torch(lambda x: getattr(cr, name)(x, b), lambda x: getattr(torch, name)(x, b), [a])


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradcheck(name):
    (la, ha), (lb, hb) = BINARY[name]
    a, b = uniform((2, 3), la, ha, np.float64, 2), uniform((3,), lb, hb, np.float64, 3)
    grad = [True, name != "copysign"]
    check_gradcheck(getattr(cr, name), [a, b], grad=grad)


def test_integer_fmod_and_xlogy_zero():
    a, b = np.array([-7, 7, -8, 9], np.int64), np.array([3, -3, 4, 2], np.int64)
    check_against_torch(cr.fmod, torch.fmod, [a, b])
    check_against_torch(cr.remainder, torch.remainder, [a, b])
    x, y = np.array([0.0, 0.0, 2.0]), np.array([0.0, 3.0, 0.5])
    check_against_torch(cr.xlogy, torch.xlogy, [x, y])


@pytest.mark.parametrize("weight", ["number", "tensor"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lerp_matches_torch(weight, dtype):
    s, e = uniform((2, 3), -3, 3, dtype, 0), uniform((3,), -3, 3, dtype, 1)
    if weight == "number":
        for w in (0.0, 0.3, 0.7, 1.0):
            check_against_torch(
                lambda a, b, w=w: cr.lerp(a, b, w), lambda a, b, w=w: torch.lerp(a, b, w), [s, e]
            )
        check_gradcheck(lambda a, b: a.lerp(b, 0.3), [s, e])
    else:
        w = uniform((2, 1), -0.5, 1.5, dtype, 2)
        check_against_torch(cr.lerp, torch.lerp, [s, e, w])
        check_gradcheck(cr.lerp, [s, e, w])


@pytest.mark.parametrize("mode", ["trunc", "floor"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32])
def test_div_rounding_modes(mode, dtype):
    a = np.array([[-7, 7, -8, 9, 0, 5]], dtype=dtype) * (
        np.array(1.3, dtype) if dtype in (np.float32, np.float64) else 1
    )
    b = np.array([3, -3, 4, 2, 5, -2], dtype=dtype)
    check_against_torch(
        lambda x, y: cr.div(x, y, rounding_mode=mode),
        lambda x, y: torch.div(x, y, rounding_mode=mode),
        [a, b],
    )
    check_against_torch(lambda x: x.div(2, rounding_mode=mode), lambda x: x.div(2, rounding_mode=mode), [a])


def test_floor_divide_operator():
    a, b = np.array([-7.5, 7.0, 3.0], np.float32), np.array([2.0, -2.0, 2.0], np.float32)
    out = cr.tensor(a) // cr.tensor(b)
    np.testing.assert_array_equal(out.numpy(), (torch.tensor(a) // torch.tensor(b)).numpy())


def test_isclose_allclose_isnan_isinf_isfinite():
    a = np.array([1.0, np.nan, np.inf, -np.inf, 1e-9], np.float32)
    b = np.array([1.0 + 1e-6, np.nan, np.inf, 1.0, 0.0], np.float32)
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.0, "atol": 1e-8}):
        check_against_torch(
            lambda x, y, kw=kw: cr.isclose(x, y, **kw), lambda x, y, kw=kw: torch.isclose(x, y, **kw), [a, b]
        )
        check_against_torch(
            lambda x, y, kw=kw: x.isclose(y, **kw), lambda x, y, kw=kw: x.isclose(y, **kw), [a, b]
        )
    assert cr.tensor(a[:1]).allclose(cr.tensor(b[:1])) == torch.allclose(
        torch.tensor(a[:1]), torch.tensor(b[:1])
    )
    for name in ("isnan", "isinf", "isfinite"):
        check_against_torch(getattr(cr, name), getattr(torch, name), [a])


# ------------------------------------------------ edge cases found by fuzzing
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, 1.5, -2.0, 40.0])


@pytest.mark.parametrize("op", ["logaddexp", "logaddexp2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logaddexp_gradient_with_infinities(op, dtype):
    # d/da = 1 / (1 + e^(b - a)): inf with a finite b gives 1 and 0 (was: exp(inf - inf) = nan)
    a, b = np.meshgrid(SPECIALS, SPECIALS)
    check_against_torch(getattr(cr, op), getattr(torch, op), [a.astype(dtype), b.astype(dtype)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logit_gradient_outside_the_unit_interval_is_nan(dtype):
    # logit is nan outside [0, 1] and so is its gradient, as PyTorch (was: a finite 1 / (a (1 - a)));
    # with eps the clamped elements get 0
    x = np.array([-0.5, 0.0, 0.25, 0.5, 1.0, 1.5, 3.0], dtype)
    check_against_torch(cr.logit, torch.logit, [x])
    check_against_torch(lambda t: cr.logit(t, 0.1), lambda t: torch.logit(t, 0.1), [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_div_floor_of_floats_is_the_floor_division_quotient(dtype):
    # 1.0 / 0.1 rounds to 10.0 but 1.0 // 0.1 is 9 (a = b q + r with r = 0.1 - eps): PyTorch's
    # floor mode gives 9, as floor_divide and remainder do (was: floor(a / b) = 10)
    a = np.array([1.0, -1.0, 0.3, 7.5, -7.5, 5.0, 0.0], dtype)
    b = np.array([0.1, 0.1, 0.1, -2.5, 2.5, 0.0, 0.0], dtype)
    check_against_torch(
        lambda x, y: cr.div(x, y, rounding_mode="floor"),
        lambda x, y: torch.div(x, y, rounding_mode="floor"),
        [a, b],
    )
    by_tenth = lambda x: x.div(0.1, rounding_mode="floor")  # noqa: E731
    check_against_torch(by_tenth, by_tenth, [a])
