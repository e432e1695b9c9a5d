"""Elementwise ops against PyTorch: values, gradients, dtypes, stability and errors.

Shapes are drawn by hypothesis (broadcasting, size-1 axes, 0-d tensors). Values
are drawn away from the points where an op is not differentiable (0 for relu
and abs, the bounds of clamp, ties of maximum/minimum, the jumps of remainder)
and from the edges of its domain (log/sqrt/rsqrt of positives, pow with
positive bases for non-integer exponents). Ties and boundaries, where only a
convention decides the gradient, get explicit tests against PyTorch's
convention. Every differentiable op is also checked by finite differences in
float64 (:func:`check_gradcheck`).
"""

from __future__ import annotations

import math
import operator
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from helpers import check_against_torch, check_gradcheck, pair

# ------------------------------------------------------------------ strategies
# Tests parametrized over many ops (operator, function and method forms of the
# same op) draw fewer examples per variant (@settings) to keep the file fast.
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


def broadcast_shapes(n: int) -> st.SearchStrategy:
    """``n`` shapes that broadcast together (0-d, size-1 axes and missing leading axes included)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=3, min_side=1, max_side=4)


def f32(shape: tuple[int, ...], elements: st.SearchStrategy) -> st.SearchStrategy:
    return hnp.arrays(np.float32, shape, elements=elements)


class Uniform:
    """Values in [lo, hi]; with ``away``, values with lo <= |x| <= hi (both signs).

    The bounds must be exact float32 numbers (hypothesis requires it for width=32).
    """

    def __init__(self, lo: float, hi: float, away: bool = False) -> None:
        self.lo, self.hi, self.away = lo, hi, away

    def arrays(self, shape: tuple[int, ...]) -> st.SearchStrategy:
        el = st.floats(self.lo, self.hi, width=32)
        if self.away:
            el = el | st.floats(-self.hi, -self.lo, width=32)
        return f32(shape, el)

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        x = rng.uniform(self.lo, self.hi, shape)
        return np.asarray(x * rng.choice([-1.0, 1.0], shape) if self.away else x)


class Grid:
    """Values ``step * k + r`` with k an integer in [-span, span] and r in [lo, hi].

    Two grids with disjoint ranges of r never tie: their values stay at least
    the gap between the ranges apart (used for maximum, minimum, clamp, remainder).
    """

    def __init__(self, lo: float, hi: float, span: int = 2, step: float = 1.0) -> None:
        self.lo, self.hi, self.span, self.step = lo, hi, span, step

    def arrays(self, shape: tuple[int, ...]) -> st.SearchStrategy:
        k = hnp.arrays(np.int64, shape, elements=st.integers(-self.span, self.span))
        r = f32(shape, st.floats(self.lo, self.hi, width=32))
        return st.builds(lambda k, r: np.asarray(self.step * k + r, dtype=np.float32), k, r)

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        k = rng.integers(-self.span, self.span + 1, shape)
        return np.asarray(self.step * k + rng.uniform(self.lo, self.hi, shape))


class Choice:
    """Values drawn from a fixed list."""

    def __init__(self, *values: float) -> None:
        self.values = values

    def arrays(self, shape: tuple[int, ...]) -> st.SearchStrategy:
        return f32(shape, st.sampled_from(self.values))

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return np.asarray(rng.choice(np.array(self.values, dtype=np.float64), shape))


ANY = Uniform(-3.0, 3.0)
# remainder: a = 0.5 k + r with r in [1/8, 3/8] divided by +-1/2, 1, 2 (or 3/2) is
# never within 1/16 of an integer, so floor(a / b) is locally constant.
REM_A = Grid(0.125, 0.375, span=8, step=0.5)
REM_B = Choice(-2.0, -1.0, -0.5, 0.5, 1.0, 2.0)
# maximum/minimum: the two grids are at least 1/4 apart (no ties).
LOW_GRID, HIGH_GRID = Grid(0.0, 0.25), Grid(0.5, 0.75)
# clamp with tensor bounds: x, lo and hi pairwise at least 1/8 apart.
CLAMP_X, CLAMP_LO, CLAMP_HI = Grid(0.0, 0.125), Grid(0.25, 0.375), Grid(0.5, 0.625)


def torch_dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


# ---------------------------------------------------------------- op tables
UNARY = [
    pytest.param(operator.neg, operator.neg, ANY, id="neg_operator"),
    pytest.param(cr.neg, torch.neg, ANY, id="neg"),
    pytest.param(cr.exp, torch.exp, ANY, id="exp"),
    pytest.param(cr.log, torch.log, Uniform(0.125, 8.0), id="log"),
    pytest.param(cr.sqrt, torch.sqrt, Uniform(0.125, 8.0), id="sqrt"),
    pytest.param(cr.abs, torch.abs, Uniform(0.125, 3.0, away=True), id="abs"),
    pytest.param(operator.abs, operator.abs, Uniform(0.125, 3.0, away=True), id="abs_builtin"),
    pytest.param(cr.sin, torch.sin, Uniform(-4.0, 4.0), id="sin"),
    pytest.param(cr.cos, torch.cos, Uniform(-4.0, 4.0), id="cos"),
    pytest.param(cr.tanh, torch.tanh, Uniform(-4.0, 4.0), id="tanh"),
    pytest.param(cr.sigmoid, torch.sigmoid, Uniform(-8.0, 8.0), id="sigmoid"),
    pytest.param(cr.relu, torch.relu, Uniform(0.125, 3.0, away=True), id="relu"),
    pytest.param(cr.square, torch.square, ANY, id="square"),
    pytest.param(cr.reciprocal, torch.reciprocal, Uniform(0.25, 4.0, away=True), id="reciprocal"),
    pytest.param(cr.rsqrt, torch.rsqrt, Uniform(0.125, 8.0), id="rsqrt"),
    pytest.param(cr.log1p, torch.log1p, Uniform(-0.875, 8.0), id="log1p"),
    pytest.param(cr.expm1, torch.expm1, ANY, id="expm1"),
    pytest.param(cr.erf, torch.erf, Uniform(-3.0, 3.0), id="erf"),
    pytest.param(cr.clone, torch.clone, ANY, id="clone"),
    # method forms
    pytest.param(lambda x: x.neg(), lambda x: x.neg(), ANY, id="neg_method"),
    pytest.param(lambda x: x.exp(), lambda x: x.exp(), ANY, id="exp_method"),
    pytest.param(lambda x: x.log(), lambda x: x.log(), Uniform(0.125, 8.0), id="log_method"),
    pytest.param(lambda x: x.sqrt(), lambda x: x.sqrt(), Uniform(0.125, 8.0), id="sqrt_method"),
    pytest.param(lambda x: x.abs(), lambda x: x.abs(), Uniform(0.125, 3.0, away=True), id="abs_method"),
    pytest.param(lambda x: x.sin(), lambda x: x.sin(), ANY, id="sin_method"),
    pytest.param(lambda x: x.cos(), lambda x: x.cos(), ANY, id="cos_method"),
    pytest.param(lambda x: x.tanh(), lambda x: x.tanh(), ANY, id="tanh_method"),
    pytest.param(lambda x: x.sigmoid(), lambda x: x.sigmoid(), ANY, id="sigmoid_method"),
    pytest.param(lambda x: x.relu(), lambda x: x.relu(), Uniform(0.125, 3.0, away=True), id="relu_method"),
    pytest.param(lambda x: x.clone(), lambda x: x.clone(), ANY, id="clone_method"),
]

BINARY = [
    pytest.param(operator.add, operator.add, ANY, ANY, id="add_operator"),
    pytest.param(cr.add, torch.add, ANY, ANY, id="add"),
    pytest.param(lambda a, b: a.add(b), lambda a, b: a.add(b), ANY, ANY, id="add_method"),
    pytest.param(operator.sub, operator.sub, ANY, ANY, id="sub_operator"),
    pytest.param(cr.sub, torch.sub, ANY, ANY, id="sub"),
    pytest.param(lambda a, b: a.sub(b), lambda a, b: a.sub(b), ANY, ANY, id="sub_method"),
    pytest.param(operator.mul, operator.mul, ANY, ANY, id="mul_operator"),
    pytest.param(cr.mul, torch.mul, ANY, ANY, id="mul"),
    pytest.param(lambda a, b: a.mul(b), lambda a, b: a.mul(b), ANY, ANY, id="mul_method"),
    pytest.param(operator.truediv, operator.truediv, ANY, Uniform(0.5, 3.0, away=True), id="div_operator"),
    pytest.param(cr.div, torch.div, ANY, Uniform(0.5, 3.0, away=True), id="div"),
    pytest.param(
        lambda a, b: a.div(b), lambda a, b: a.div(b), ANY, Uniform(0.5, 3.0, away=True), id="div_method"
    ),
    # tensor ** tensor: positive bases (the derivative in the exponent is a^b ln a)
    pytest.param(operator.pow, operator.pow, Uniform(0.5, 2.0), Uniform(-2.0, 2.0), id="pow_operator"),
    pytest.param(cr.pow, torch.pow, Uniform(0.5, 2.0), Uniform(-2.0, 2.0), id="pow"),
    pytest.param(
        lambda a, b: a.pow(b), lambda a, b: a.pow(b), Uniform(0.5, 2.0), Uniform(-2.0, 2.0), id="pow_method"
    ),
    pytest.param(operator.mod, operator.mod, REM_A, REM_B, id="remainder_operator"),
    pytest.param(cr.remainder, torch.remainder, REM_A, REM_B, id="remainder"),
    pytest.param(cr.maximum, torch.maximum, LOW_GRID, HIGH_GRID, id="maximum"),
    pytest.param(cr.maximum, torch.maximum, HIGH_GRID, LOW_GRID, id="maximum_swapped"),
    pytest.param(
        lambda a, b: a.maximum(b), lambda a, b: a.maximum(b), LOW_GRID, HIGH_GRID, id="maximum_method"
    ),
    pytest.param(cr.minimum, torch.minimum, LOW_GRID, HIGH_GRID, id="minimum"),
    pytest.param(cr.minimum, torch.minimum, HIGH_GRID, LOW_GRID, id="minimum_swapped"),
    pytest.param(
        lambda a, b: a.minimum(b), lambda a, b: a.minimum(b), LOW_GRID, HIGH_GRID, id="minimum_method"
    ),
]

# One tensor and a Python number (the same lambda runs on both libraries).
WITH_SCALAR = [
    pytest.param(lambda x: x + 2.5, ANY, id="x+2.5"),
    pytest.param(lambda x: 2.5 + x, ANY, id="2.5+x"),
    pytest.param(lambda x: x + 2, ANY, id="x+2"),
    pytest.param(lambda x: x - 1.5, ANY, id="x-1.5"),
    pytest.param(lambda x: 1.5 - x, ANY, id="1.5-x"),
    pytest.param(lambda x: x * -2.0, ANY, id="x*-2.0"),
    pytest.param(lambda x: 3 * x, ANY, id="3*x"),
    pytest.param(lambda x: x / 4.0, ANY, id="x/4.0"),
    pytest.param(lambda x: x / 3, ANY, id="x/3"),
    pytest.param(lambda x: 2.0 / x, Uniform(0.5, 3.0, away=True), id="2.0/x"),
    pytest.param(lambda x: x**2, ANY, id="x**2"),
    pytest.param(lambda x: x**3, ANY, id="x**3"),
    pytest.param(lambda x: x**0, ANY, id="x**0"),
    pytest.param(lambda x: x**-1, Uniform(0.5, 3.0, away=True), id="x**-1"),
    pytest.param(lambda x: x**2.0, ANY, id="x**2.0"),
    pytest.param(lambda x: x**0.5, Uniform(0.125, 4.0), id="x**0.5"),
    pytest.param(lambda x: x**-1.5, Uniform(0.25, 4.0), id="x**-1.5"),
    pytest.param(lambda x: x**2.5, Uniform(0.125, 3.0), id="x**2.5"),
    pytest.param(lambda x: x.pow(3), ANY, id="x.pow(3)"),
    pytest.param(lambda x: 2.0**x, ANY, id="2.0**x"),
    pytest.param(lambda x: 0.5**x, ANY, id="0.5**x"),
    pytest.param(lambda x: 3**x, ANY, id="3**x"),
    pytest.param(lambda x: x % 1.5, REM_A, id="x%1.5"),
    pytest.param(lambda x: x % -2.0, REM_A, id="x%-2.0"),
]


# ----------------------------------------------------- values and gradients
@pytest.mark.parametrize(("cr_fn", "torch_fn", "dom"), UNARY)
@given(data=st.data())
@settings(max_examples=20)
def test_unary_matches_torch(cr_fn: Callable, torch_fn: Callable, dom: Any, data: st.DataObject) -> None:
    x = data.draw(dom.arrays(data.draw(SHAPES, label="shape")), label="x")
    check_against_torch(cr_fn, torch_fn, [x])


@pytest.mark.parametrize(("cr_fn", "torch_fn", "dom_a", "dom_b"), BINARY)
@given(data=st.data())
@settings(max_examples=25)
def test_binary_matches_torch(
    cr_fn: Callable, torch_fn: Callable, dom_a: Any, dom_b: Any, data: st.DataObject
) -> None:
    sa, sb = data.draw(broadcast_shapes(2), label="shapes").input_shapes
    a = data.draw(dom_a.arrays(sa), label="a")
    b = data.draw(dom_b.arrays(sb), label="b")
    check_against_torch(cr_fn, torch_fn, [a, b])


@pytest.mark.parametrize(("fn", "dom"), WITH_SCALAR)
@given(data=st.data())
@settings(max_examples=20)
def test_tensor_with_python_scalar_matches_torch(fn: Callable, dom: Any, data: st.DataObject) -> None:
    x = data.draw(dom.arrays(data.draw(SHAPES, label="shape")), label="x")
    check_against_torch(fn, fn, [x])


@given(data=st.data())
def test_python_number_remainder_tensor_matches_torch(data: st.DataObject) -> None:
    # PyTorch has no derivative for Python number % tensor; a 0-d tensor dividend
    # (which does not require grad) stands in for the number there.
    x = data.draw(REM_B.arrays(data.draw(SHAPES, label="shape")), label="x")
    check_against_torch(lambda t: 5.25 % t, lambda t: torch.tensor(5.25) % t, [x])
    check_against_torch(lambda t: cr.remainder(-3.75, t), lambda t: torch.tensor(-3.75) % t, [x])


@pytest.mark.parametrize(("cr_fn", "torch_fn", "dom"), UNARY)
def test_unary_on_0d_tensor(cr_fn: Callable, torch_fn: Callable, dom: Any) -> None:
    x = dom.sample(np.random.default_rng(3), ()).astype(np.float32)
    (out,) = check_against_torch(cr_fn, torch_fn, [x])
    assert out.shape == ()


@pytest.mark.parametrize(("cr_fn", "torch_fn", "dom_a", "dom_b"), BINARY)
@pytest.mark.parametrize(("sa", "sb"), [((), ()), ((), (2, 3)), ((2, 1), ())])
def test_binary_with_0d_tensor(
    cr_fn: Callable, torch_fn: Callable, dom_a: Any, dom_b: Any, sa: tuple, sb: tuple
) -> None:
    rng = np.random.default_rng(4)
    a = dom_a.sample(rng, sa).astype(np.float32)
    b = dom_b.sample(rng, sb).astype(np.float32)
    check_against_torch(cr_fn, torch_fn, [a, b])


# ---------------------------------------------------------- maximum/minimum ties
@pytest.mark.parametrize(
    ("cr_fn", "torch_fn"),
    [
        pytest.param(cr.maximum, torch.maximum, id="maximum"),
        pytest.param(cr.minimum, torch.minimum, id="minimum"),
    ],
)
def test_maximum_minimum_ties_split_gradient_evenly(cr_fn: Callable, torch_fn: Callable) -> None:
    # same shape, three of six elements tied
    a = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]], np.float32)
    b = np.array([[1.0, 0.0, 3.0], [0.5, -1.0, 4.0]], np.float32)
    check_against_torch(cr_fn, torch_fn, [a, b])
    # broadcast: b's gradient sums the halves of its tied copies
    check_against_torch(cr_fn, torch_fn, [a, np.array([1.0, -1.0, 3.0], np.float32)])
    # all tied: exactly half each, as PyTorch
    x = cr.tensor([2.0, -1.0], requires_grad=True)
    y = cr.tensor([2.0, -1.0], requires_grad=True)
    cr_fn(x, y).sum().backward()
    xt = torch.tensor([2.0, -1.0], requires_grad=True)
    yt = torch.tensor([2.0, -1.0], requires_grad=True)
    torch_fn(xt, yt).sum().backward()
    np.testing.assert_array_equal(x.grad._array, [0.5, 0.5])
    np.testing.assert_array_equal(y.grad._array, [0.5, 0.5])
    np.testing.assert_array_equal(x.grad._array, xt.grad.numpy())
    np.testing.assert_array_equal(y.grad._array, yt.grad.numpy())


def test_pow_at_zero_base_follows_torch_without_warnings() -> None:
    # PyTorch's conventions at a == 0: d(a^b)/da is 0 where b == 0, and
    # d(a^b)/db = a^b ln a is 0 where b >= 0 (not nan from 0 * -inf)
    x = np.array([0.0, 1.5, -2.0], np.float32)
    a = np.array([0.0, 0.0, 2.0, 0.0], np.float32)
    b = np.array([2.0, 0.0, 0.5, 1.0], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the discarded branches must not warn
        for fn in (lambda t: t**0, lambda t: t**2, lambda t: t**3, lambda t: t**1.0):
            check_against_torch(fn, fn, [x])
        check_against_torch(operator.pow, operator.pow, [a, b])
        check_against_torch(lambda t: 0.0**t, lambda t: 0.0**t, [b])


# ------------------------------------------------------------------- clamp
CLAMP_SCALARS = [(-0.5, 0.5), (-1.5, None), (None, 0.5), (-1, 1), (0, None), (0.5, -0.5)]


@pytest.mark.parametrize(("lo", "hi"), CLAMP_SCALARS)
@given(data=st.data())
@settings(max_examples=20)
def test_clamp_scalar_bounds_matches_torch(lo: Any, hi: Any, data: st.DataObject) -> None:
    # values k + [1/8, 3/8]: at least 1/8 from every bound (bounds are integers or halves)
    x = data.draw(Grid(0.125, 0.375).arrays(data.draw(SHAPES)), label="x")
    check_against_torch(lambda t: cr.clamp(t, lo, hi), lambda t: torch.clamp(t, lo, hi), [x])
    check_against_torch(lambda t: t.clamp(min=lo, max=hi), lambda t: t.clamp(min=lo, max=hi), [x])
    check_against_torch(lambda t: cr.clip(t, lo, hi), lambda t: torch.clip(t, lo, hi), [x])


@pytest.mark.parametrize("which", ["both", "min", "max"])
@given(data=st.data())
def test_clamp_tensor_bounds_matches_torch(which: str, data: st.DataObject) -> None:
    shapes = data.draw(broadcast_shapes(3), label="shapes")
    sx, slo, shi = shapes.input_shapes
    x = data.draw(CLAMP_X.arrays(sx), label="x")
    lo = data.draw(CLAMP_LO.arrays(slo), label="lo")
    hi = data.draw(CLAMP_HI.arrays(shi), label="hi")
    if which == "both":
        # PyTorch 2.13's clamp backward fails ("output with shape [] doesn't match the
        # broadcast shape [1]") when x and min broadcast to fewer dims than max; the
        # oracle expands x to the output shape first (expand's backward sums it back).
        full = shapes.result_shape
        check_against_torch(cr.clamp, lambda t, m, n: torch.clamp(t.expand(full), m, n), [x, lo, hi])
    elif which == "min":
        check_against_torch(lambda t, m: cr.clamp(t, min=m), lambda t, m: torch.clamp(t, min=m), [x, lo])
    else:
        check_against_torch(lambda t, m: cr.clamp(t, max=m), lambda t, m: torch.clamp(t, max=m), [x, hi])


def test_clamp_at_the_bounds_passes_the_gradient_to_the_input() -> None:
    # PyTorch: the input gets the gradient where min <= x <= max (bounds included)
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32)
    check_against_torch(lambda t: cr.clamp(t, -0.5, 0.5), lambda t: torch.clamp(t, -0.5, 0.5), [x])
    lo = np.array([-0.5, -0.5, -0.5, -0.5, 2.0], np.float32)
    hi = np.array([0.0, 0.5, 0.0, 0.5, 3.0], np.float32)
    check_against_torch(cr.clamp, torch.clamp, [x, lo, hi])
    t = cr.tensor(x, requires_grad=True)
    cr.clamp(t, -0.5, 0.5).sum().backward()
    np.testing.assert_array_equal(t.grad._array, [0.0, 1.0, 1.0, 1.0, 0.0])


def test_clamp_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="clamp"):
        cr.clamp(cr.ones(3))


# ------------------------------------------------------------ where, masked_fill
@given(data=st.data())
def test_where_tensors_matches_torch(data: st.DataObject) -> None:
    sc, sa, sb = data.draw(broadcast_shapes(3), label="shapes").input_shapes
    cond = data.draw(hnp.arrays(np.bool_, sc), label="cond")
    a = data.draw(ANY.arrays(sa), label="a")
    b = data.draw(ANY.arrays(sb), label="b")
    check_against_torch(cr.where, torch.where, [cond, a, b])
    check_against_torch(lambda c, x, y: x.where(c, y), lambda c, x, y: x.where(c, y), [cond, a, b])


@pytest.mark.parametrize(
    ("cr_fn", "torch_fn"),
    [
        pytest.param(lambda c, x: cr.where(c, x, 0.0), lambda c, x: torch.where(c, x, 0.0), id="x,0.0"),
        pytest.param(lambda c, x: cr.where(c, 1.5, x), lambda c, x: torch.where(c, 1.5, x), id="1.5,x"),
        pytest.param(lambda c, x: cr.where(c, x, 2), lambda c, x: torch.where(c, x, 2), id="x,2"),
        pytest.param(
            lambda c, x: cr.where(c, 1.0, -1.0), lambda c, x: torch.where(c, 1.0, -1.0), id="1.0,-1.0"
        ),
        pytest.param(lambda c, x: cr.where(c, 1, 0), lambda c, x: torch.where(c, 1, 0), id="1,0"),
    ],
)
@given(data=st.data())
def test_where_scalar_branches_matches_torch(
    cr_fn: Callable, torch_fn: Callable, data: st.DataObject
) -> None:
    sc, sx = data.draw(broadcast_shapes(2), label="shapes").input_shapes
    cond = data.draw(hnp.arrays(np.bool_, sc), label="cond")
    x = data.draw(ANY.arrays(sx), label="x")
    check_against_torch(cr_fn, torch_fn, [cond, x])


def test_where_promotes_like_torch() -> None:
    cond = np.array([True, False, True])
    check_against_torch(
        cr.where, torch.where, [cond, np.array([1, 2, 3]), np.array([0.5, 1.5, 2.5], np.float32)]
    )
    check_against_torch(
        lambda c, x: cr.where(c, x, 2.5), lambda c, x: torch.where(c, x, 2.5), [cond, np.array([1, 2, 3])]
    )
    # a float64 0-d branch does not widen a dimensioned float32 one
    check_against_torch(cr.where, torch.where, [cond, np.ones(3, np.float32), np.array(2.0)])


@st.composite
def mask_for(draw: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A bool mask whose shape broadcasts to ``shape`` (size-1 axes, fewer leading axes)."""
    dims = [1 if draw(st.booleans()) else n for n in shape]
    drop = draw(st.integers(0, len(dims)))
    return draw(hnp.arrays(np.bool_, tuple(dims[drop:])))


@pytest.mark.parametrize("value", [0.0, -1.5, 2, -1e9])
@given(data=st.data())
def test_masked_fill_scalar_matches_torch(value: Any, data: st.DataObject) -> None:
    x = data.draw(ANY.arrays(data.draw(SHAPES)), label="x")
    mask = data.draw(mask_for(x.shape), label="mask")
    check_against_torch(
        lambda t, m: cr.masked_fill(t, m, value), lambda t, m: torch.masked_fill(t, m, value), [x, mask]
    )
    check_against_torch(lambda t, m: t.masked_fill(m, value), lambda t, m: t.masked_fill(m, value), [x, mask])


def test_masked_fill_with_minus_infinity_matches_torch() -> None:
    # the attention-mask idiom; backward is seeded with ones, since the usual
    # random-cotangent loss of an output holding -inf is not finite
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -3.0]], np.float32)
    mask = np.array([True, False, True])
    xc = cr.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out = xc.masked_fill(cr.tensor(mask), float("-inf"))
    ref = xt.masked_fill(torch.tensor(mask), float("-inf"))
    np.testing.assert_array_equal(out._array, ref.detach().numpy())
    out.backward(cr.ones(2, 3))
    ref.backward(torch.ones(2, 3))
    np.testing.assert_array_equal(xc.grad._array, xt.grad.numpy())
    np.testing.assert_array_equal(xc.grad._array, [[0, 1, 0], [0, 1, 0]])


@pytest.mark.parametrize("value_dtype", [np.float32, np.float64])
@given(data=st.data())
def test_masked_fill_0d_tensor_value_matches_torch(value_dtype: type, data: st.DataObject) -> None:
    x = data.draw(ANY.arrays(data.draw(SHAPES)), label="x")
    mask = data.draw(mask_for(x.shape), label="mask")
    value = np.array(1.25, value_dtype)
    # the value gets the sum of the gradient over the filled elements, in its own dtype
    check_against_torch(
        lambda t, m, v: t.masked_fill(m, v), lambda t, m, v: t.masked_fill(m, v), [x, mask, value]
    )


# ------------------------------------------------- non-differentiable ops
FLOAT_CMP_VALUES = Choice(-1.0, 0.0, 0.5, 1.0)  # few values: ties are common

COMPARISONS = [
    pytest.param(operator.eq, operator.eq, id="=="),
    pytest.param(operator.ne, operator.ne, id="!="),
    pytest.param(operator.lt, operator.lt, id="<"),
    pytest.param(operator.le, operator.le, id="<="),
    pytest.param(operator.gt, operator.gt, id=">"),
    pytest.param(operator.ge, operator.ge, id=">="),
    pytest.param(cr.eq, torch.eq, id="eq"),
    pytest.param(cr.ne, torch.ne, id="ne"),
    pytest.param(cr.lt, torch.lt, id="lt"),
    pytest.param(cr.le, torch.le, id="le"),
    pytest.param(cr.gt, torch.gt, id="gt"),
    pytest.param(cr.ge, torch.ge, id="ge"),
    pytest.param(lambda a, b: a.eq(b), lambda a, b: a.eq(b), id="eq_method"),
    pytest.param(lambda a, b: a.ge(b), lambda a, b: a.ge(b), id="ge_method"),
    pytest.param(lambda a, b: a.lt(b), lambda a, b: a.lt(b), id="lt_method"),
]


@pytest.mark.parametrize(("cr_fn", "torch_fn"), COMPARISONS)
@given(data=st.data())
@settings(max_examples=15)
def test_comparisons_match_torch(cr_fn: Callable, torch_fn: Callable, data: st.DataObject) -> None:
    sa, sb = data.draw(broadcast_shapes(2), label="shapes").input_shapes
    a = data.draw(FLOAT_CMP_VALUES.arrays(sa), label="a")
    b = data.draw(FLOAT_CMP_VALUES.arrays(sb), label="b")
    (out,) = check_against_torch(cr_fn, torch_fn, [a, b])  # both inputs require grad
    assert out.dtype == np.bool_
    assert not out.requires_grad
    # against a Python number, and on integer tensors
    check_against_torch(lambda x: cr_fn(x, 0.5), lambda x: torch_fn(x, 0.5), [a])
    ints = np.asarray(2 * a, dtype=np.int64)
    check_against_torch(cr_fn, torch_fn, [ints, np.asarray(2 * b, dtype=np.int64)])
    check_against_torch(lambda x: cr_fn(x, 0.5), lambda x: torch_fn(x, 0.5), [ints])


@pytest.mark.parametrize("op", [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge])
@given(data=st.data())
@settings(max_examples=15)
def test_comparison_with_number_on_the_left_matches_torch(op: Callable, data: st.DataObject) -> None:
    # 0.5 < x is x.__gt__(0.5): the reflected comparison
    x = data.draw(FLOAT_CMP_VALUES.arrays(data.draw(SHAPES, label="shape")), label="x")
    (out,) = check_against_torch(lambda t: op(0.5, t), lambda t: op(0.5, t), [x])
    assert not out.requires_grad
    check_against_torch(lambda t: op(1, t), lambda t: op(1, t), [np.asarray(2 * x, dtype=np.int64)])


LOGICAL = [
    pytest.param(cr.logical_and, torch.logical_and, id="logical_and"),
    pytest.param(cr.logical_or, torch.logical_or, id="logical_or"),
    pytest.param(cr.logical_xor, torch.logical_xor, id="logical_xor"),
]


@pytest.mark.parametrize(("cr_fn", "torch_fn"), LOGICAL)
@given(data=st.data())
def test_logical_binary_matches_torch(cr_fn: Callable, torch_fn: Callable, data: st.DataObject) -> None:
    sa, sb = data.draw(broadcast_shapes(2), label="shapes").input_shapes
    a = data.draw(hnp.arrays(np.bool_, sa), label="a")
    b = data.draw(hnp.arrays(np.bool_, sb), label="b")
    check_against_torch(cr_fn, torch_fn, [a, b])
    # numbers count as true when non-zero; the result is bool and needs no grad
    fa = data.draw(FLOAT_CMP_VALUES.arrays(sa), label="fa")
    (out,) = check_against_torch(cr_fn, torch_fn, [fa, b])
    assert out.dtype == np.bool_ and not out.requires_grad


@given(data=st.data())
def test_logical_not_matches_torch(data: st.DataObject) -> None:
    shape = data.draw(SHAPES, label="shape")
    check_against_torch(cr.logical_not, torch.logical_not, [data.draw(hnp.arrays(np.bool_, shape))])
    (out,) = check_against_torch(
        cr.logical_not, torch.logical_not, [data.draw(FLOAT_CMP_VALUES.arrays(shape))]
    )
    assert out.dtype == np.bool_ and not out.requires_grad


BITWISE = [
    pytest.param(operator.and_, id="&"),
    pytest.param(operator.or_, id="|"),
    pytest.param(operator.xor, id="^"),
]
INT_DTYPES = {
    "bool": (np.bool_, st.booleans()),
    "int64": (np.int64, st.integers(-100, 100)),
    "int32": (np.int32, st.integers(-100, 100)),
    "uint8": (np.uint8, st.integers(0, 255)),
}


@pytest.mark.parametrize("op", BITWISE)
@pytest.mark.parametrize("dtype", list(INT_DTYPES))
@given(data=st.data())
@settings(max_examples=15)
def test_bitwise_operators_match_torch(op: Callable, dtype: str, data: st.DataObject) -> None:
    npdt, el = INT_DTYPES[dtype]
    sa, sb = data.draw(broadcast_shapes(2), label="shapes").input_shapes
    a = data.draw(hnp.arrays(npdt, sa, elements=el), label="a")
    b = data.draw(hnp.arrays(npdt, sb, elements=el), label="b")
    check_against_torch(op, op, [a, b])
    scalar = True if dtype == "bool" else 6
    check_against_torch(lambda x: op(x, scalar), lambda x: op(x, scalar), [a])
    check_against_torch(lambda x: op(scalar, x), lambda x: op(scalar, x), [a])


@pytest.mark.parametrize("dtype", list(INT_DTYPES))
@given(data=st.data())
@settings(max_examples=15)
def test_bitwise_not_matches_torch(dtype: str, data: st.DataObject) -> None:
    npdt, el = INT_DTYPES[dtype]
    a = data.draw(hnp.arrays(npdt, data.draw(SHAPES), elements=el), label="a")
    check_against_torch(operator.invert, operator.invert, [a])
    check_against_torch(cr.bitwise_not, torch.bitwise_not, [a])


def test_bitwise_mixed_dtypes_promote_like_torch() -> None:
    a = np.array([1, 2, 3], np.int32)
    b = np.array([3, 6, 5], np.int64)
    check_against_torch(operator.and_, operator.and_, [a, b])
    check_against_torch(operator.or_, operator.or_, [np.array([True, False, True]), b])


FLOAT_SPECIALS = st.floats(width=32) | st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0])


@pytest.mark.parametrize(
    ("cr_fn", "torch_fn"),
    [
        pytest.param(cr.isnan, torch.isnan, id="isnan"),
        pytest.param(cr.isinf, torch.isinf, id="isinf"),
        pytest.param(cr.isfinite, torch.isfinite, id="isfinite"),
        pytest.param(lambda x: x.isnan(), lambda x: x.isnan(), id="isnan_method"),
        pytest.param(lambda x: x.isinf(), lambda x: x.isinf(), id="isinf_method"),
        pytest.param(lambda x: x.isfinite(), lambda x: x.isfinite(), id="isfinite_method"),
    ],
)
@given(data=st.data())
@settings(max_examples=15)
def test_float_classification_matches_torch(cr_fn: Callable, torch_fn: Callable, data: st.DataObject) -> None:
    x = data.draw(f32(data.draw(SHAPES), FLOAT_SPECIALS), label="x")
    (out,) = check_against_torch(cr_fn, torch_fn, [x])
    assert not out.requires_grad
    fixed = np.array([np.nan, np.inf, -np.inf, 0.0, -1.5], np.float32)
    check_against_torch(cr_fn, torch_fn, [fixed])
    check_against_torch(cr_fn, torch_fn, [np.array([-3, 0, 7])])


@given(data=st.data())
def test_sign_matches_torch(data: st.DataObject) -> None:
    x = data.draw(f32(data.draw(SHAPES), st.sampled_from([-2.5, -1.0, 0.0, 0.5, 3.0])), label="x")
    # differentiable for float tensors, with a zero gradient (as PyTorch)
    check_against_torch(cr.sign, torch.sign, [x])
    check_against_torch(cr.sign, torch.sign, [np.asarray(2 * x, dtype=np.int64)])


def test_sign_of_specials_matches_torch() -> None:
    x = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-30, -1e-30], np.float32)
    check_against_torch(cr.sign, torch.sign, [x], grad=[False])
    check_against_torch(cr.sign, torch.sign, [np.array([True, False])])
    check_against_torch(cr.sign, torch.sign, [np.array([0, 3, 250], np.uint8)])


@pytest.mark.parametrize(
    ("cr_fn", "torch_fn"),
    [
        pytest.param(operator.floordiv, operator.floordiv, id="//"),
        pytest.param(cr.floor_divide, torch.floor_divide, id="floor_divide"),
    ],
)
@given(data=st.data())
def test_floor_divide_matches_torch(cr_fn: Callable, torch_fn: Callable, data: st.DataObject) -> None:
    sa, sb = data.draw(broadcast_shapes(2), label="shapes").input_shapes
    a = data.draw(REM_A.arrays(sa), label="a")
    b = data.draw(REM_B.arrays(sb), label="b")
    # PyTorch records floor_divide in the graph (zero gradient); ours does not: values only
    check_against_torch(cr_fn, torch_fn, [a, b], grad=[False, False])
    ia = data.draw(hnp.arrays(np.int64, sa, elements=st.integers(-20, 20)), label="ia")
    ib = data.draw(hnp.arrays(np.int64, sb, elements=st.sampled_from([-3, -2, -1, 1, 2, 3])), label="ib")
    check_against_torch(cr_fn, torch_fn, [ia, ib])
    check_against_torch(lambda x: cr_fn(x, 2), lambda x: torch_fn(x, 2), [ia])
    check_against_torch(lambda x: cr_fn(x, 0.5), lambda x: torch_fn(x, 0.5), [a], grad=[False])


@given(data=st.data())
def test_integer_remainder_matches_torch(data: st.DataObject) -> None:
    sa, sb = data.draw(broadcast_shapes(2), label="shapes").input_shapes
    ia = data.draw(hnp.arrays(np.int64, sa, elements=st.integers(-20, 20)), label="ia")
    ib = data.draw(hnp.arrays(np.int64, sb, elements=st.sampled_from([-3, -2, -1, 1, 2, 3])), label="ib")
    check_against_torch(operator.mod, operator.mod, [ia, ib])
    check_against_torch(lambda x: x % 4, lambda x: x % 4, [ia])


NONDIFF = [
    pytest.param(operator.eq, id="=="),
    pytest.param(operator.ne, id="!="),
    pytest.param(operator.lt, id="<"),
    pytest.param(operator.le, id="<="),
    pytest.param(operator.gt, id=">"),
    pytest.param(operator.ge, id=">="),
    pytest.param(cr.eq, id="eq"),
    pytest.param(cr.ne, id="ne"),
    pytest.param(cr.lt, id="lt"),
    pytest.param(cr.le, id="le"),
    pytest.param(cr.gt, id="gt"),
    pytest.param(cr.ge, id="ge"),
    pytest.param(cr.logical_and, id="logical_and"),
    pytest.param(cr.logical_or, id="logical_or"),
    pytest.param(cr.logical_xor, id="logical_xor"),
    pytest.param(lambda a, b: cr.logical_not(a), id="logical_not"),
    pytest.param(lambda a, b: cr.isnan(a), id="isnan"),
    pytest.param(lambda a, b: cr.isinf(a), id="isinf"),
    pytest.param(lambda a, b: cr.isfinite(a), id="isfinite"),
    pytest.param(operator.floordiv, id="//"),
    pytest.param(cr.floor_divide, id="floor_divide"),
    pytest.param(lambda a, b: a // 2.0, id="//2.0"),
    pytest.param(lambda a, b: a.long(), id="long"),
    pytest.param(lambda a, b: a.to(cr.int32), id="to_int32"),
    pytest.param(lambda a, b: a.bool(), id="bool"),
]


@pytest.mark.parametrize("fn", NONDIFF)
def test_nondifferentiable_ops_do_not_require_grad(fn: Callable) -> None:
    a = cr.tensor([[1.5, -2.0, 0.0]], requires_grad=True)
    b = cr.tensor([[0.5], [-2.0]], requires_grad=True)
    out = fn(a, b)
    assert isinstance(out, cr.Tensor)
    assert not out.requires_grad
    assert out.grad_fn is None


# --------------------------------------------------------------------- casts
CASTS = [
    pytest.param(lambda x: x.double(), np.float32, id="float32.double()"),
    pytest.param(lambda x: x.float(), np.float64, id="float64.float()"),
    pytest.param(lambda x: x.float(), np.float32, id="float32.float()"),
    pytest.param(lambda x: x.long(), np.float32, id="float32.long()"),
    pytest.param(lambda x: x.long(), np.int32, id="int32.long()"),
    pytest.param(lambda x: x.float(), np.int64, id="int64.float()"),
    pytest.param(lambda x: x.double(), np.bool_, id="bool.double()"),
]
CASTS_TO = [
    pytest.param(cr.float64, torch.float64, np.float32, id="float32.to(float64)"),
    pytest.param(cr.float32, torch.float32, np.float64, id="float64.to(float32)"),
    pytest.param(cr.float32, torch.float32, np.float32, id="float32.to(float32)"),
    pytest.param(cr.int32, torch.int32, np.float32, id="float32.to(int32)"),
    pytest.param(cr.bool_, torch.bool, np.float32, id="float32.to(bool)"),
    pytest.param(cr.float32, torch.float32, np.int64, id="int64.to(float32)"),
    pytest.param(cr.int64, torch.int64, np.int32, id="int32.to(int64)"),
]


def _cast_input(dtype: type, shape: tuple[int, ...], data: st.DataObject) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return data.draw(hnp.arrays(dtype, shape, elements=st.floats(-3, 3, width=32)), label="x")
    if np.dtype(dtype).kind == "b":
        return data.draw(hnp.arrays(dtype, shape), label="x")
    return data.draw(hnp.arrays(dtype, shape, elements=st.integers(-100, 100)), label="x")


@pytest.mark.parametrize(("fn", "dtype"), CASTS)
@given(data=st.data())
@settings(max_examples=15)
def test_cast_methods_match_torch(fn: Callable, dtype: type, data: st.DataObject) -> None:
    x = _cast_input(dtype, data.draw(SHAPES), data)
    (out,) = check_against_torch(fn, fn, [x])
    if out.dtype.kind != "f":
        assert not out.requires_grad


@pytest.mark.parametrize(("cr_dt", "torch_dt", "dtype"), CASTS_TO)
@given(data=st.data())
@settings(max_examples=15)
def test_cast_to_matches_torch(cr_dt: Any, torch_dt: Any, dtype: type, data: st.DataObject) -> None:
    x = _cast_input(dtype, data.draw(SHAPES), data)
    (out,) = check_against_torch(lambda t: t.to(cr_dt), lambda t: t.to(torch_dt), [x])
    if out.dtype.kind != "f":
        assert not out.requires_grad


def test_clone_copies_and_cast_keeps_gradient_dtype() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    assert y._array is not x._array and not np.shares_memory(y._array, x._array)
    (y * cr.tensor([3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(x.grad._array, [3.0, 4.0])
    z = cr.tensor([1.0, 2.0], requires_grad=True)
    (z.double() * 2.0).sum().backward()
    assert z.grad.dtype == np.float32
    np.testing.assert_array_equal(z.grad._array, [2.0, 2.0])


# ------------------------------------------------------------ dtype promotion
def _same(fn: Callable) -> tuple[Callable, Callable]:
    return fn, fn


PROMOTION = [
    pytest.param(*_same(operator.add), [np.array([1, 2, 3]), 2.5], id="int64+float->float32"),
    pytest.param(
        *_same(operator.truediv), [np.array([1, 2, 3]), np.array([2, 4, 5])], id="int64/int64->float32"
    ),
    pytest.param(*_same(operator.truediv), [np.array([1, 2, 3]), 2], id="int64/int->float32"),
    pytest.param(
        *_same(operator.truediv), [np.array([True, False]), np.array([True, True])], id="bool/bool->float32"
    ),
    pytest.param(*_same(operator.mul), [np.array([1.5, -2.0], np.float32), 2.5], id="float32*float->float32"),
    pytest.param(*_same(operator.mul), [np.array([1.5, -2.0], np.float32), 3], id="float32*int->float32"),
    pytest.param(*_same(operator.add), [np.array([True, False]), 1], id="bool+int->int64"),
    pytest.param(
        *_same(operator.add), [np.array([True, False]), np.array([True, True])], id="bool+bool->bool"
    ),
    pytest.param(*_same(operator.add), [np.array([1, 2], np.int32), 3], id="int32+int->int32"),
    pytest.param(*_same(operator.add), [np.array([1, 2], np.int32), np.array(3)], id="int32+int64_0d->int32"),
    pytest.param(
        *_same(operator.add), [np.array([1, 2], np.uint8), np.array([1, 2], np.int8)], id="uint8+int8->int16"
    ),
    pytest.param(
        *_same(operator.add),
        [np.array([1.5, 2.5], np.float32), np.array(0.25, np.float64)],
        id="float32+float64_0d->float32",
    ),
    pytest.param(
        *_same(operator.add), [np.array([1, 2]), np.array(0.25, np.float64)], id="int64+float64_0d->float64"
    ),
    pytest.param(
        *_same(operator.add), [np.array([1, 2]), np.array(0.25, np.float32)], id="int64+float32_0d->float32"
    ),
    pytest.param(
        *_same(operator.add),
        [np.array([1.5, 2.5], np.float32), np.array([[0.25], [-1.0]], np.float64)],
        id="float32+float64->float64",
    ),
    pytest.param(
        *_same(operator.mul),
        [np.array([1.5, 2.5], np.float32), np.array([[0.25], [-1.0]], np.float64)],
        id="float32*float64->float64",
    ),
    pytest.param(
        *_same(operator.truediv),
        [np.array([[1, 2]]), np.array([0.25, -1.0], np.float64)],
        id="int64/float64->float64",
    ),
    pytest.param(
        *_same(operator.sub),
        [np.array(1.5, np.float32), np.array([0.25, -1.0], np.float64)],
        id="float32_0d-float64->float64",
    ),
    pytest.param(
        *_same(operator.pow),
        [np.array([1.5, 2.5], np.float32), np.array([2.0, 0.5], np.float64)],
        id="float32**float64->float64",
    ),
    pytest.param(*_same(operator.pow), [np.array([1, 2, 3]), 0.5], id="int64**float->float32"),
    pytest.param(*_same(operator.pow), [np.array([1, 2, 3]), 2], id="int64**int->int64"),
    pytest.param(
        *_same(operator.mod),
        [np.array([1.5, 2.5], np.float32), np.array([2.0, 0.5], np.float64)],
        id="float32%float64->float64",
    ),
    pytest.param(
        cr.maximum,
        torch.maximum,
        [np.array([1.5, 2.5], np.float32), np.array([2.0, 0.5], np.float64)],
        id="maximum_float32_float64",
    ),
    pytest.param(
        cr.minimum,
        torch.minimum,
        [np.array([1, 5]), np.array([2.0, 0.5], np.float32)],
        id="minimum_int64_float32",
    ),
    pytest.param(
        lambda x: cr.clamp(x, 0.5, 2.5),
        lambda x: torch.clamp(x, 0.5, 2.5),
        [np.array([1, 2, 3])],
        id="clamp_int64_float_bounds",
    ),
    pytest.param(
        lambda x: cr.clamp(x, 0, 2),
        lambda x: torch.clamp(x, 0, 2),
        [np.array([1, 2, 3], np.int32)],
        id="clamp_int32_int_bounds",
    ),
    pytest.param(
        cr.clamp,
        torch.clamp,
        [np.array([1.5, 2.5], np.float32), np.array([2.0, 0.5], np.float64), np.array(3.0, np.float64)],
        id="clamp_float32_float64_bounds",
    ),
    pytest.param(cr.exp, torch.exp, [np.array([1, 2, 3])], id="exp_int64->float32"),
    pytest.param(cr.sqrt, torch.sqrt, [np.array([1, 4], np.int32)], id="sqrt_int32->float32"),
    pytest.param(cr.sigmoid, torch.sigmoid, [np.array([True, False])], id="sigmoid_bool->float32"),
    pytest.param(cr.abs, torch.abs, [np.array([-1, 2], np.int32)], id="abs_int32"),
    pytest.param(cr.relu, torch.relu, [np.array([-1, 2])], id="relu_int64"),
    pytest.param(cr.square, torch.square, [np.array([-1, 2], np.int32)], id="square_int32"),
    pytest.param(*_same(operator.neg), [np.array([-1, 2], np.int32)], id="neg_int32"),
]


@pytest.mark.parametrize(("cr_fn", "torch_fn", "inputs"), PROMOTION)
def test_dtype_promotion_matches_torch(cr_fn: Callable, torch_fn: Callable, inputs: list) -> None:
    # check_against_torch compares the result dtype with PyTorch's and gives every
    # floating input a gradient, which must have that input's own dtype
    check_against_torch(cr_fn, torch_fn, inputs)


GRAD_DTYPE_CASES = [
    pytest.param(cr.maximum, torch.maximum, [np.float32, np.float32], id="maximum"),
    pytest.param(cr.minimum, torch.minimum, [np.float32, np.float32], id="minimum"),
    pytest.param(cr.maximum, torch.maximum, [np.float32, np.float64], id="maximum_mixed"),
    pytest.param(lambda x: 2.0**x, lambda x: 2.0**x, [np.float32], id="2.0**x"),
    pytest.param(lambda x: 3**x, lambda x: 3**x, [np.float32], id="3**x"),
    pytest.param(operator.pow, operator.pow, [np.float32, np.float32], id="x**y"),
    pytest.param(lambda x: x**2.5, lambda x: x**2.5, [np.float32], id="x**2.5"),
    pytest.param(operator.truediv, operator.truediv, [np.float32, np.float64], id="div_mixed"),
    pytest.param(operator.mod, operator.mod, [np.float32, np.float32], id="mod"),
    pytest.param(lambda x: 5.25 % x, lambda x: torch.tensor(5.25) % x, [np.float32], id="5.25%x"),
    pytest.param(
        lambda x: cr.clamp(x, 0.5, 1.5), lambda x: torch.clamp(x, 0.5, 1.5), [np.float32], id="clamp"
    ),
    pytest.param(cr.clamp, torch.clamp, [np.float32, np.float64, np.float32], id="clamp_tensors"),
    pytest.param(
        lambda x: cr.where(cr.tensor([True, False, True]), x, 0.5),
        lambda x: torch.where(torch.tensor([True, False, True]), x, 0.5),
        [np.float32],
        id="where",
    ),
    pytest.param(cr.sigmoid, torch.sigmoid, [np.float32], id="sigmoid"),
    pytest.param(cr.relu, torch.relu, [np.float32], id="relu"),
    pytest.param(cr.abs, torch.abs, [np.float32], id="abs"),
    pytest.param(cr.rsqrt, torch.rsqrt, [np.float32], id="rsqrt"),
    pytest.param(lambda x: x.double(), lambda x: x.double(), [np.float32], id="double"),
]


@pytest.mark.parametrize(("cr_fn", "torch_fn", "dtypes"), GRAD_DTYPE_CASES)
def test_autograd_grad_has_each_inputs_dtype(cr_fn: Callable, torch_fn: Callable, dtypes: list) -> None:
    # cr.autograd.grad hands back the gradient the ops computed, without the cast
    # that .grad accumulation does: a float64 gradient of a float32 input shows here.
    vals = [np.array([0.75, 1.25, 2.0]), np.array([1.0, 1.5, 0.5]), np.array([1.5, 0.5, 2.5])]
    ours = [cr.tensor(v.astype(d), requires_grad=True) for v, d in zip(vals, dtypes)]
    theirs = [torch.tensor(v.astype(d), requires_grad=True) for v, d in zip(vals, dtypes)]
    gs = cr.autograd.grad(cr_fn(*ours).sum(), ours)
    ts = torch.autograd.grad(torch_fn(*theirs).sum(), theirs)
    for g, t in zip(gs, ts):
        assert str(g.dtype) == torch_dtype_name(t)
        np.testing.assert_allclose(g._array, t.numpy(), rtol=1e-6)


# --------------------------------------------------------- sigmoid stability
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_for_large_inputs(dtype: type) -> None:
    x = np.array([-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in an exp on the way
        (out,) = check_against_torch(cr.sigmoid, torch.sigmoid, [x])
        t = cr.tensor(x, requires_grad=True)
        cr.sigmoid(t).sum().backward()
    assert np.all(np.isfinite(out.cpu()._array))
    assert np.all(np.isfinite(t.grad._array))
    assert out.cpu()._array[0] == 0.0 and out.cpu()._array[-1] == 1.0
    assert out.cpu()._array[3] == 0.5


@pytest.mark.parametrize(("dtype", "tol"), [(np.float32, 1e-6), (np.float64, 1e-14)])
def test_sigmoid_of_large_negative_is_relatively_accurate(dtype: type, tol: float) -> None:
    # 1 - sigmoid(20) would lose every digit; sigmoid(-20) ~ 2e-9 must keep them
    expected = math.exp(-20.0) / (1.0 + math.exp(-20.0))
    x = cr.tensor(np.array([-20.0], dtype), requires_grad=True)
    y = cr.sigmoid(x)
    assert abs(y.item() - expected) <= tol * expected
    y.sum().backward()
    d_expected = expected * (1.0 - expected)
    assert abs(x.grad.item() - d_expected) <= 10 * tol * d_expected


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("fn", "name"),
    [
        pytest.param(operator.add, "add", id="+"),
        pytest.param(cr.add, "add", id="add"),
        pytest.param(operator.sub, "sub", id="-"),
        pytest.param(operator.mul, "mul", id="*"),
        pytest.param(operator.truediv, "div", id="/"),
        pytest.param(operator.pow, "pow", id="**"),
        pytest.param(operator.mod, "remainder", id="%"),
        pytest.param(operator.floordiv, "floor_divide", id="//"),
        pytest.param(cr.maximum, "maximum", id="maximum"),
        pytest.param(cr.minimum, "minimum", id="minimum"),
        pytest.param(operator.eq, "eq", id="=="),
        pytest.param(operator.lt, "lt", id="<"),
        pytest.param(cr.logical_and, "logical_and", id="logical_and"),
    ],
)
def test_shape_mismatch_names_op_and_shapes(fn: Callable, name: str) -> None:
    with pytest.raises(ValueError) as info:
        fn(cr.ones(2, 3), cr.ones(4))
    msg = str(info.value)
    assert re.search(rf"\b{name}\b", msg), msg
    assert re.search(r"\(2, ?3\)", msg), msg
    assert "(4,)" in msg, msg


def test_where_with_non_bool_condition_raises_type_error() -> None:
    x, y = cr.ones(3), cr.zeros(3)
    with pytest.raises(TypeError, match="where"):
        cr.where(cr.tensor([1, 0, 1]), x, y)
    with pytest.raises(TypeError, match="where"):
        cr.where(cr.tensor([1.0, 0.0, 1.0]), x, y)
    with pytest.raises(TypeError, match="where"):
        cr.where(np.array([1, 0, 1]), x, y)


def test_masked_fill_errors() -> None:
    x = cr.ones(2, 4)
    with pytest.raises(ValueError, match="masked_fill") as info:
        cr.masked_fill(x, cr.tensor([True, False, True]), 0.0)
    assert "(3,)" in str(info.value) and "(2, 4)" in str(info.value)
    with pytest.raises(ValueError, match="masked_fill"):
        x.masked_fill(cr.ones(3, 4).bool(), 0.0)
    with pytest.raises(TypeError, match="masked_fill"):
        x.masked_fill(cr.ones(2, 4), 0.0)
    with pytest.raises(ValueError, match="masked_fill"):
        x.masked_fill(cr.ones(2, 4).bool(), cr.ones(2))


# ------------------------------------------------------ finite differences
BROADCAST_PAIRS = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2,)), ((3,), ())]


@pytest.mark.parametrize(("cr_fn", "torch_fn", "dom"), UNARY)
def test_unary_gradcheck(cr_fn: Callable, torch_fn: Callable, dom: Any) -> None:
    x = dom.sample(np.random.default_rng(5), (2, 3))
    check_gradcheck(cr_fn, [x])


@pytest.mark.parametrize(("cr_fn", "torch_fn", "dom_a", "dom_b"), BINARY)
@pytest.mark.parametrize(("sa", "sb"), BROADCAST_PAIRS)
def test_binary_gradcheck(
    cr_fn: Callable, torch_fn: Callable, dom_a: Any, dom_b: Any, sa: tuple, sb: tuple
) -> None:
    rng = np.random.default_rng(6)
    check_gradcheck(cr_fn, [dom_a.sample(rng, sa), dom_b.sample(rng, sb)])


@pytest.mark.parametrize(("fn", "dom"), WITH_SCALAR)
def test_tensor_with_python_scalar_gradcheck(fn: Callable, dom: Any) -> None:
    check_gradcheck(fn, [dom.sample(np.random.default_rng(7), (2, 3))])


def test_python_number_remainder_tensor_gradcheck() -> None:
    b = REM_B.sample(np.random.default_rng(7), (2, 3))
    check_gradcheck(lambda t: 5.25 % t, [b])
    check_gradcheck(lambda t: cr.remainder(-3.75, t), [b])


@pytest.mark.parametrize(
    ("sx", "slo", "shi"), [((2, 3), (2, 3), (2, 3)), ((2, 3), (3,), (2, 1)), ((3,), (2, 1), ())]
)
def test_clamp_gradcheck(sx: tuple, slo: tuple, shi: tuple) -> None:
    rng = np.random.default_rng(8)
    x, lo, hi = CLAMP_X.sample(rng, sx), CLAMP_LO.sample(rng, slo), CLAMP_HI.sample(rng, shi)
    check_gradcheck(cr.clamp, [x, lo, hi])
    check_gradcheck(lambda t, m: cr.clamp(t, min=m), [x, lo])
    check_gradcheck(lambda t, m: cr.clamp(t, max=m), [x, hi])
    g = Grid(0.125, 0.375).sample(rng, sx)
    check_gradcheck(lambda t: cr.clamp(t, -0.5, 0.5), [g])
    check_gradcheck(lambda t: cr.clamp(t, min=-1.5), [g])
    check_gradcheck(lambda t: cr.clamp(t, max=0.5), [g])


@pytest.mark.parametrize(
    ("sc", "sa", "sb"), [((2, 3), (2, 3), (2, 3)), ((2, 1), (3,), (2, 3)), ((3,), (2, 1), ())]
)
def test_where_gradcheck(sc: tuple, sa: tuple, sb: tuple) -> None:
    rng = np.random.default_rng(9)
    cond = rng.random(sc) < 0.5
    check_gradcheck(cr.where, [cond, rng.standard_normal(sa), rng.standard_normal(sb)])
    check_gradcheck(lambda c, x: cr.where(c, x, 0.5), [cond, rng.standard_normal(sa)])
    check_gradcheck(lambda c, x: cr.where(c, 2.0, x), [cond, rng.standard_normal(sb)])


@pytest.mark.parametrize(("sx", "sm"), [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 3), (2, 1)), ((), ())])
def test_masked_fill_gradcheck(sx: tuple, sm: tuple) -> None:
    rng = np.random.default_rng(10)
    x = rng.standard_normal(sx)
    mask = rng.random(sm) < 0.5
    check_gradcheck(lambda t, m: cr.masked_fill(t, m, -1.5), [x, mask])
    check_gradcheck(lambda t, m, v: t.masked_fill(m, v), [x, mask, np.array(0.75)])


def test_cast_gradcheck() -> None:
    x = np.random.default_rng(11).uniform(-1, 1, (2, 3))
    check_gradcheck(lambda t: t.to(cr.float64, copy=True) * 2.0, [x])
    # through float32 and back: the rounding to float32 needs a larger step
    check_gradcheck(lambda t: t.float().double() * 2.0, [x], eps=1e-3)
    check_gradcheck(lambda t: t.to(cr.float32).to(cr.float64), [x], eps=1e-3)


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 2)])
def test_nonzero_and_single_argument_where_match_torch(shape) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(shape) > 0.2).astype(np.float32) * rng.standard_normal(shape).astype(np.float32)
    ours, theirs = cr.tensor(x), torch.tensor(x)
    got = cr.nonzero(ours)
    assert got.dtype == cr.int64
    np.testing.assert_array_equal(got.numpy(), torch.nonzero(theirs).numpy())
    for o, t in zip(ours.nonzero(as_tuple=True), torch.nonzero(theirs, as_tuple=True), strict=True):
        np.testing.assert_array_equal(o.numpy(), t.numpy())
    for o, t in zip(cr.where(ours > 0), torch.where(theirs > 0), strict=True):
        np.testing.assert_array_equal(o.numpy(), t.numpy())


def test_where_with_one_value_is_refused() -> None:
    with pytest.raises(TypeError, match="both values"):
        cr.where(cr.tensor([True]), cr.tensor([1.0]))


# ----------------------------------------------------------------- rounding: floor, ceil, round, trunc
ROUNDING = ["floor", "ceil", "round", "trunc"]
ROUNDING_FORMS = ["method", "function"]
rounding_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


def rand(shape: tuple[int, ...], dtype: type = np.float32, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return np.asarray(scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


HALVES = np.array([-2.5, -1.5, -0.5, -0.4, 0.0, 0.4, 0.5, 1.5, 2.5, 3.7, -3.7, 1e6 + 0.5])


@pytest.mark.parametrize("form", ROUNDING_FORMS)
@pytest.mark.parametrize("name", ROUNDING)
@given(shape=rounding_shapes)
def test_rounding_against_torch(form: str, name: str, shape: tuple[int, ...]) -> None:
    check_against_torch(*pair(form, name), [rand(shape, scale=3)])


@pytest.mark.parametrize("name", ROUNDING)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_rounding_halves_and_signs(name: str, dtype: type) -> None:
    x = HALVES.astype(dtype)
    out = check_against_torch(*pair("function", name), [x], rtol=0, atol=0)
    ref = getattr(torch, name)(torch.tensor(x))
    np.testing.assert_array_equal(np.signbit(out[0].cpu()._array), np.signbit(ref))


def test_round_is_half_to_even() -> None:
    out = cr.round(cr.tensor(np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5])))
    np.testing.assert_array_equal(out._array, [0, 2, 2, -0, -2, -2])


@pytest.mark.parametrize("form", ROUNDING_FORMS)
@pytest.mark.parametrize("decimals", [-2, -1, 0, 1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_round_decimals_against_torch(form: str, decimals: int, dtype: type) -> None:
    ties = [0.125, 0.375, 2.675, 12.5, 15.0, 25.0, -150.0]
    x = np.concatenate([rand((20,), scale=300), ties]).astype(dtype)
    check_against_torch(*pair(form, "round", decimals=decimals), [x], rtol=0, atol=0)


@pytest.mark.parametrize("name", ROUNDING)
def test_rounding_gradient_is_zero_as_in_torch(name: str) -> None:
    x0 = rand((3, 4), scale=3)
    ours = cr.tensor(x0, requires_grad=True)
    theirs = torch.tensor(x0, requires_grad=True)
    y, ty = getattr(ours, name)(), getattr(theirs, name)()
    assert y.requires_grad and ty.requires_grad
    assert y.grad_fn is not None
    y.sum().backward()
    ty.sum().backward()
    assert ours.grad is not None and theirs.grad is not None
    np.testing.assert_array_equal(ours.grad._array, theirs.grad.numpy())
    np.testing.assert_array_equal(ours.grad._array, np.zeros((3, 4), np.float32))
    assert ours.grad.dtype == np.float32


@pytest.mark.parametrize("name", ROUNDING)
def test_rounding_in_a_product_keeps_the_other_factor(name: str) -> None:
    # d/dx (round(x) * x) = round(x): only the second factor contributes
    def fn(x):
        return getattr(x, name)() * x + x.sin()

    check_against_torch(fn, fn, [rand((2, 5), scale=3)])


@pytest.mark.parametrize("name", ROUNDING)
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_rounding_of_ints_is_identity(name: str, dtype: type) -> None:
    x = np.array([0, 3, 7, 100], dtype=dtype)
    out = check_against_torch(*pair("function", name), [x])
    assert out[0].dtype == dtype
    np.testing.assert_array_equal(out[0].cpu()._array, x)


def test_rounding_without_grad_records_nothing() -> None:
    x = cr.tensor(np.array([1.5, -0.5]), requires_grad=True)
    with cr.no_grad():
        y = x.floor()
    assert not y.requires_grad
    assert y.grad_fn is None


ROUNDING_GRADCHECK_CASES = [
    ("floor", lambda x: x.floor() * x, [(2, 3)]),
    ("ceil", lambda x: cr.ceil(x), [(2, 3)]),
    ("round", lambda x: x.round() + x, [(2, 3)]),
    ("round decimals", lambda x: cr.round(x, decimals=1), [(2, 3)]),
    ("trunc", lambda x: cr.trunc(x), [(2, 3)]),
]


@pytest.mark.parametrize(
    "name,fn,shapes_", ROUNDING_GRADCHECK_CASES, ids=[c[0] for c in ROUNDING_GRADCHECK_CASES]
)
def test_rounding_gradcheck(name: str, fn, shapes_: list[tuple[int, ...]]) -> None:
    check_gradcheck(fn, [rand(s, dtype=np.float64, seed=i, scale=3) for i, s in enumerate(shapes_)])


def test_rounding_errors() -> None:
    for name in ROUNDING:
        with pytest.raises(TypeError, match=f"{name}: not available for bool tensors"):
            getattr(cr, name)(cr.tensor(np.array([True, False])))
    with pytest.raises(TypeError, match="round: decimals=1 needs a floating-point tensor"):
        cr.round(cr.tensor(np.array([1, 2])), decimals=1)
    with pytest.raises(TypeError, match="round: decimals must be an int"):
        cr.zeros(2).round(decimals=0.5)
    with pytest.raises(TypeError, match="floor: expected a Tensor"):
        cr.floor(1.5)


# ------------------------------------------------ edge cases found by fuzzing
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_abs_gradient_at_nan_and_zero_is_zero(dtype):
    # PyTorch's d|a| is sign(a) with sign(nan) = 0 (was: nan from NumPy's sign)
    check_against_torch(cr.abs, torch.abs, [SPECIALS.astype(dtype)])
    check_against_torch(lambda t: t.abs(), lambda t: t.abs(), [SPECIALS.astype(dtype)])


@pytest.mark.parametrize(("cr_fn", "torch_fn"), [(cr.maximum, torch.maximum), (cr.minimum, torch.minimum)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_maximum_minimum_gradient_with_nan_ties_and_infinities(cr_fn, torch_fn, dtype):
    # every pair of specials: a nan passes the full gradient to both inputs, a tie halves it
    a, b = np.meshgrid(SPECIALS, SPECIALS)
    check_against_torch(cr_fn, torch_fn, [a.astype(dtype), b.astype(dtype)])
    # broadcast, and one side not requiring grad
    check_against_torch(cr_fn, torch_fn, [a.astype(dtype), SPECIALS[:1].astype(dtype)], grad=[False, True])


@pytest.mark.parametrize(
    ("cr_fn", "torch_fn"),
    [
        pytest.param(operator.mod, operator.mod, id="%"),
        pytest.param(cr.remainder, torch.remainder, id="remainder"),
        pytest.param(operator.floordiv, operator.floordiv, id="//"),
        pytest.param(cr.floor_divide, torch.floor_divide, id="floor_divide"),
        pytest.param(cr.fmod, torch.fmod, id="fmod"),
        pytest.param(lambda a, b: cr.div(a, b, rounding_mode="floor"), None, id="div-floor"),
        pytest.param(lambda a, b: cr.div(a, b, rounding_mode="trunc"), None, id="div-trunc"),
    ],
)
def test_integer_division_by_a_zero_tensor_element_raises(cr_fn, torch_fn, op_device):
    # PyTorch raises ZeroDivisionError for an integer divisor holding a 0 (was: NumPy's silent 0)
    a = cr.tensor(np.array([[5, -7], [3, 1]]), device=op_device)
    b = cr.tensor(np.array([2, 0]), device=op_device)
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        cr_fn(a, b)
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        cr_fn(a, 0)
    if torch_fn is not None:
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            torch_fn(torch.tensor(a.cpu().numpy()), torch.tensor(b.cpu().numpy()))
    # an empty dividend divides nothing: no error, as PyTorch
    assert cr_fn(cr.zeros(0, dtype=cr.int64, device=op_device), 0).shape == (0,)
    # float division by zero is inf/nan, not an error
    zeros = cr.tensor([0.0, 0.0], device=op_device)
    assert cr_fn(cr.tensor([1.0, -1.0], device=op_device), zeros).shape == (2,)


CLAMP_VALUES = np.array([np.nan, -np.inf, -1.0, 0.0, 0.5, 1.0, 2.0, np.inf])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clamp_gradient_at_nan_bounds_and_inverted_bounds(dtype):
    # PyTorch's masks: a gets g where lo <= a <= hi (a NaN a gets 0, was g), lo where
    # a < lo < hi, hi where a > hi or hi < lo; each value against every pair of bounds
    a, lo, hi = (v.ravel().astype(dtype) for v in np.meshgrid(CLAMP_VALUES, CLAMP_VALUES, CLAMP_VALUES))
    check_against_torch(cr.clamp, torch.clamp, [a, lo, hi])
    check_against_torch(lambda x, m: cr.clamp(x, min=m), lambda x, m: torch.clamp(x, min=m), [a, lo])
    check_against_torch(lambda x, m: x.clamp(max=m), lambda x, m: x.clamp(max=m), [a, hi], grad=[True, False])
    for bounds in [(0.0, 1.0), (1.0, 0.0), (-np.inf, 0.5)]:
        check_against_torch(lambda x, b=bounds: cr.clamp(x, *b), lambda x, b=bounds: torch.clamp(x, *b), [a])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16])
@pytest.mark.parametrize("scalar", [-1, 300, -300, 70001])  # none wraps to 0 (% and // would raise)
@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda x, s: x + s, id="+"),
        pytest.param(lambda x, s: s - x, id="r-"),
        pytest.param(lambda x, s: x * s, id="*"),
        pytest.param(lambda x, s: x % s, id="%"),
        pytest.param(lambda x, s: x // s, id="//"),
        pytest.param(lambda x, s: x == s, id="=="),
        pytest.param(lambda x, s: s / x, id="r/"),  # true division: -1 / x stays -1 / x (no wrap)
        pytest.param(lambda x, s: x / s, id="/"),
    ],
)
def test_python_int_outside_a_small_integer_dtype_wraps(dtype, scalar, fn):
    # uint8 - 1 wraps to 255 as in PyTorch (NumPy 2 raised OverflowError from inside the op)
    x = np.array([0, 1, 100, 7], dtype)
    check_against_torch(lambda t: fn(t, scalar), lambda t: fn(t, scalar), [x])


@pytest.mark.parametrize("op", ["add", "sub"])
@pytest.mark.parametrize("alpha", [2.5, -1, 0])
def test_add_sub_functions_take_alpha(op, alpha):
    # torch.add(a, b, alpha=...) is a + alpha * b; cr.add had no alpha (the methods did)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
    ours, theirs = getattr(cr, op), getattr(torch, op)
    check_against_torch(lambda x, y: ours(x, y, alpha=alpha), lambda x, y: theirs(x, y, alpha=alpha), [a, b])
    check_against_torch(lambda x: ours(x, 2, alpha=alpha), lambda x: theirs(x, 2, alpha=alpha), [a])


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda m, x: m - m, id="mask-mask"),
        pytest.param(lambda m, x: 1 - m, id="1-mask"),
        pytest.param(lambda m, x: m - 1.0, id="mask-1.0"),
        pytest.param(lambda m, x: x - m, id="float-mask"),
        pytest.param(lambda m, x: m.sub(x), id="mask.sub"),
    ],
)
def test_subtraction_with_a_bool_tensor_is_refused(fn):
    # PyTorch refuses it (use ~ to invert a mask); chainrule returned numbers for all but mask - mask
    with pytest.raises(RuntimeError, match="Subtraction"):
        fn(torch.tensor([True, False]), torch.ones(2))
    with pytest.raises(TypeError, match=r"(sub: subtraction with a bool tensor|boolean subtract)"):
        fn(cr.tensor([True, False]), cr.ones(2))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8])
def test_integer_pow_with_negative_tensor_exponents(dtype):
    # PyTorch: a ** -n is 1 for a = 1, +-1 for a = -1 (by parity), 0 otherwise; NumPy raised
    a = np.array([0, 1, -1, 2, -2, 3, 1, -1], dtype)
    b = np.array([-1, -2, -3, -1, 2, 0, 5, 4], dtype)
    check_against_torch(cr.pow, torch.pow, [a, b])
    check_against_torch(lambda x: 2**x, lambda x: 2**x, [b])
    # a negative number as the exponent stays an error, as in PyTorch
    with pytest.raises(RuntimeError, match="negative integer powers"):
        torch.pow(torch.tensor(a), -1)
    with pytest.raises(ValueError, match="pow: Integers to negative integer powers"):
        cr.pow(cr.tensor(a), -1)


def test_square_of_bool_is_int64():
    # PyTorch squares a bool as pow(a, 2): int64 (was: bool)
    mask = np.array([True, False, True])
    check_against_torch(cr.square, torch.square, [mask])
    check_against_torch(lambda t: t.square(), lambda t: t.square(), [mask])
