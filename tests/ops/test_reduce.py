"""Reductions (sum, mean, prod, max, min, amax, amin, var, std, logsumexp, argmax, argmin, any, all).

Every differentiable reduction is compared with PyTorch (forward values, shape,
dtype and the gradient of a random cotangent) on shapes drawn by hypothesis,
including 0-d tensors and size-1 axes, with dims drawn among the valid
positive and negative values, tuples of dims and keepdim, both as functions
(``cr.sum(t, ...)``) and as methods (``t.sum(...)``). Each is also checked by
finite differences in float64.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import chainrule as cr
from helpers import call, check_against_torch, check_gradcheck, pair

FORMS = ["function", "method"]

# Shapes: 0-d up to 4-d, with size-1 axes (min_side=1).
SHAPES = array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
# Smaller shapes where the op compounds (prod) or finite differences cost one
# forward per element (gradcheck).
SMALL_SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
PROD_SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)

FLOATS = st.floats(-4, 4, width=32, allow_subnormal=False)
# Few distinct values: many ties (max/min/amax/amin/argmax) and many zeros (prod).
TIES = st.sampled_from([-2.0, -1.0, 0.0, 1.0, 2.0])
PROD_VALUES = st.sampled_from([0.0, -0.5, 0.75, 1.0, -1.25, 1.5, 2.0])


@st.composite
def dims_for(draw, ndim, none=True, tuples=True):
    """A valid ``dim``: None, an int in [-n, n-1], or a tuple of distinct dims in any order and sign."""
    n = max(ndim, 1)  # a 0-d tensor accepts 0 and -1
    kinds = ["int"] + (["none"] if none else []) + (["tuple"] if tuples else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    axes = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    return tuple(a - n if draw(st.booleans()) else a for a in axes)


@st.composite
def float_arrays(draw, shape, unique=False):
    """Hypothesis' float32 arrays (repeated values, zeros, extremes of the range), or
    uniformly random ones from a drawn seed (values as in real data)."""
    if draw(st.booleans()):
        return draw(arrays(np.float32, shape, elements=FLOATS, unique=unique))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return np.asarray(rng.uniform(-4, 4, shape), dtype=np.float32)


@st.composite
def cases(draw, shapes=SHAPES, elements=None, none=True, tuples=True, unique=False, dtype=np.float32):
    """(array, dim, keepdim); ``elements`` None draws from :func:`float_arrays`."""
    shape = draw(shapes)
    if elements is None:
        x = draw(float_arrays(shape, unique=unique))
    else:
        x = draw(arrays(dtype, shape, elements=elements, unique=unique))
    dim = draw(dims_for(len(shape), none=none, tuples=tuples))
    return x, dim, draw(st.booleans())


@st.composite
def distinct_f64(draw, shapes=SMALL_SHAPES):
    """Float64 values without ties, at least 0.3 apart (finite differences never cross a kink)."""
    shape = draw(shapes)
    n = math.prod(shape)
    perm = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    return ((perm - n / 2) * 0.3 + 0.1).reshape(shape)


def reduced_count(shape, dim):
    """How many input elements each output element reduces."""
    if dim is None or not shape:
        return math.prod(shape)
    dims = dim if isinstance(dim, tuple) else (dim,)
    return math.prod(shape[d] for d in dims)


def sum_atol(x, n=1):
    # float32 sums in a different order (NumPy pairwise, PyTorch vectorised)
    # differ by the rounding of the partial sums, up to a few eps * sum|x|: a
    # sum that cancels to near zero needs that as an absolute tolerance (about
    # 1 in 1500 random 256-element inputs misses atol=1e-6). A mean divides it by n.
    return 1e-6 + 4 * np.finfo(np.float32).eps * float(np.abs(x).sum()) / n


# ----------------------------------------------------------------- sum / mean


@pytest.mark.parametrize("form", FORMS)
@given(case=cases())
def test_sum_matches_torch(form, case):
    x, dim, keepdim = case
    check_against_torch(*pair(form, "sum", dim, keepdim=keepdim), [x], atol=sum_atol(x))


@pytest.mark.parametrize("form", FORMS)
@given(case=cases())
def test_mean_matches_torch(form, case):
    x, dim, keepdim = case
    atol = sum_atol(x, max(reduced_count(x.shape, dim), 1))
    check_against_torch(*pair(form, "mean", dim, keepdim=keepdim), [x], atol=atol)


@pytest.mark.parametrize("form", FORMS)
@given(case=cases())
def test_sum_mean_with_dtype_argument(form, case):
    x, dim, keepdim = case
    for name in ("sum", "mean"):
        check_against_torch(
            lambda t, name=name: call(cr, form, name, t, dim, keepdim=keepdim, dtype=cr.float64),
            lambda t, name=name: call(torch, form, name, t, dim, keepdim=keepdim, dtype=torch.float64),
            [x],
        )


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8])
@pytest.mark.parametrize("form", FORMS)
def test_sum_of_bool_and_int_is_int64(form, dtype):
    x = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    for dim in (None, 1, (0, -1)):
        (out,) = check_against_torch(*pair(form, "sum", dim), [x])
        assert out.dtype == np.int64


@pytest.mark.parametrize("form", FORMS)
def test_mean_of_int_is_default_float(form):
    # Documented chainrule behaviour: torch.mean raises on integer tensors,
    # chainrule averages them in the default float dtype.
    x = np.array([[1, 2, 4], [3, 5, 8]], dtype=np.int64)
    out = call(cr, form, "mean", cr.tensor(x))
    assert out.dtype == np.float32
    assert out.item() == pytest.approx(23 / 6)
    out = call(cr, form, "mean", cr.tensor(x), 1, keepdim=True)
    assert out.dtype == np.float32 and out.shape == (2, 1)
    np.testing.assert_allclose(out._array, [[7 / 3], [16 / 3]], rtol=1e-6)
    prev = cr.get_default_dtype()
    cr.set_default_dtype(cr.float64)
    try:
        out = call(cr, form, "mean", cr.tensor(x), 0)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out._array, [2.0, 3.5, 6.0])
    finally:
        cr.set_default_dtype(prev)
    # an explicit dtype wins
    assert call(cr, form, "mean", cr.tensor(x), dtype=cr.float64).dtype == np.float64


# ----------------------------------------------------------------------- prod


@pytest.mark.parametrize("form", FORMS)
@given(shape=PROD_SHAPES, data=st.data(), grid=st.booleans())
def test_prod_matches_torch(form, shape, data, grid):
    # grid: few values, many zeros (often several in one slice)
    x = data.draw(arrays(np.float32, shape, elements=PROD_VALUES) if grid else float_arrays(shape))
    dim = data.draw(dims_for(len(shape), none=True, tuples=False))
    if dim is None:  # torch.prod(x) takes no keepdim
        check_against_torch(*pair(form, "prod"), [x])
    else:
        keepdim = data.draw(st.booleans())
        check_against_torch(*pair(form, "prod", dim, keepdim=keepdim), [x])


PROD_ZERO_CASES = {
    "one zero": np.array([[2.0, 0.0, 3.0, -1.5], [1.0, 2.0, -0.5, 4.0], [0.5, 3.0, 2.0, 0.0]], np.float32),
    "several zeros": np.array(
        [[0.0, 2.0, 0.0, 3.0], [1.5, 0.0, 0.0, 0.0], [2.0, -1.0, 3.0, 0.5]], np.float32
    ),
    "all zeros": np.zeros((3, 4), np.float32),
}


@pytest.mark.parametrize("name", list(PROD_ZERO_CASES))
@pytest.mark.parametrize("form", FORMS)
def test_prod_with_zeros_in_the_reduced_slice(form, name):
    # d prod / d a_i is the product of the others: non-zero only at the single
    # zero of a slice with exactly one zero, and zero everywhere in a slice
    # with two or more zeros (a naive prod / a_i gives nan there).
    x = PROD_ZERO_CASES[name]
    check_against_torch(*pair(form, "prod"), [x])
    for dim in (0, 1, -1, -2):
        for keepdim in (False, True):
            check_against_torch(*pair(form, "prod", dim, keepdim=keepdim), [x])
    t = cr.tensor(x, requires_grad=True)
    t.prod(1).sum().backward()
    assert np.all(np.isfinite(t.grad._array))


def test_prod_gradient_at_one_zero_is_product_of_the_others():
    t = cr.tensor([2.0, 0.0, 3.0, -1.5], requires_grad=True)
    t.prod().backward()
    np.testing.assert_array_equal(t.grad._array, [0.0, -9.0, 0.0, 0.0])
    t = cr.tensor([2.0, 0.0, 3.0, 0.0], requires_grad=True)
    t.prod().backward()
    np.testing.assert_array_equal(t.grad._array, [0.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.bool_, np.int32, np.int64, np.uint8])
def test_prod_of_bool_and_int_is_int64(dtype):
    x = np.array([[1, 2, 3], [1, 0, 1]]).astype(dtype)
    check_against_torch(*pair("function", "prod"), [x])
    check_against_torch(*pair("method", "prod", 1), [x])


# ------------------------------------------------------------------- max / min


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("form", FORMS)
@given(x=arrays(np.float32, SHAPES, elements=TIES))
def test_max_min_full_reduction_splits_ties_evenly(form, op, x):
    # PyTorch's max()/min() without dim share the gradient evenly among tied extremes.
    (out,) = check_against_torch(*pair(form, op), [x])
    assert out.shape == ()


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_tie_gradient_values(op):
    x = [[1.0, 3.0], [3.0, -1.0]] if op == "max" else [[1.0, -1.0], [-1.0, 3.0]]
    t = cr.tensor(x, requires_grad=True)
    getattr(t, op)().backward()
    np.testing.assert_array_equal(t.grad._array, [[0.0, 0.5], [0.5, 0.0]])


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("form", FORMS)
@given(case=cases(none=False, tuples=False, unique=True))
def test_max_min_with_dim_matches_torch(form, op, case):
    x, dim, keepdim = case
    _values, indices = check_against_torch(*pair(form, op, dim, keepdim=keepdim), [x])
    assert indices.dtype == np.int64
    assert not indices.requires_grad


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("form", FORMS)
@given(case=cases(elements=TIES, none=False, tuples=False))
def test_max_min_with_dim_ties_pick_the_first_index(form, op, case):
    # as documented for torch.max(dim): the index of the first extreme, which
    # alone receives the gradient
    x, dim, keepdim = case
    check_against_torch(*pair(form, op, dim, keepdim=keepdim), [x])


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("form", FORMS)
def test_max_min_with_dim_is_a_named_tuple(form, op):
    x = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], np.float32)
    r = call(cr, form, op, cr.tensor(x), 1)
    assert isinstance(r, tuple) and type(r).__name__ == op
    assert r._fields == ("values", "indices")
    assert r[0] is r.values and r[1] is r.indices
    values, indices = r
    expect = x.max(1) if op == "max" else x.min(1)
    np.testing.assert_array_equal(values._array, expect)
    np.testing.assert_array_equal(indices._array, [1, 0] if op == "max" else [0, 1])
    r = call(cr, form, op, cr.tensor(x), dim=-1, keepdim=True)
    assert r.values.shape == (2, 1) and r.indices.shape == (2, 1)
    np.testing.assert_array_equal(r.values._array, expect[:, None])


def test_max_min_of_two_tensors_is_elementwise():
    a = np.array([[1.0, 5.0], [-2.0, 3.0]], np.float32)
    b = np.array([[4.0, 2.0], [-1.0, 0.5]], np.float32)
    check_against_torch(cr.max, torch.max, [a, b])
    check_against_torch(cr.min, torch.min, [a, b])


# ---------------------------------------------------------------- amax / amin


@pytest.mark.parametrize("op", ["amax", "amin"])
@pytest.mark.parametrize("form", FORMS)
@given(case=cases(elements=TIES, none=False), default_dim=st.booleans())
def test_amax_amin_tuple_dims_and_ties(form, op, case, default_dim):
    # amax/amin share the gradient evenly among ties within each reduced slice
    x, dim, keepdim = case
    if default_dim:  # dim=() (the default) reduces every axis
        check_against_torch(*pair(form, op, keepdim=keepdim), [x])
    else:
        check_against_torch(*pair(form, op, dim, keepdim=keepdim), [x])


@pytest.mark.parametrize("op", ["amax", "amin"])
@pytest.mark.parametrize("form", FORMS)
@given(case=cases(none=False))
def test_amax_amin_matches_torch(form, op, case):
    x, dim, keepdim = case
    check_against_torch(*pair(form, op, dim, keepdim=keepdim), [x])


# ------------------------------------------------------------------- var / std

CORRECTIONS = [
    {},
    {"correction": 0},
    {"correction": 1},
    {"correction": 2},
    {"unbiased": True},
    {"unbiased": False},
]


def min_slice_std(x, dim):
    """The smallest population std of the reduced slices, in float64."""
    axes = None if dim is None or x.ndim == 0 else dim
    return float(np.min(np.std(x.astype(np.float64), axis=axes), initial=np.inf))


@pytest.mark.filterwarnings("ignore:.*degrees of freedom")
@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("form", FORMS)
@given(case=st.one_of(cases(), cases(unique=True)), correction=st.sampled_from(CORRECTIONS))
def test_var_std_matches_torch(form, op, case, correction):
    x, dim, keepdim = case
    c = correction.get("correction", int(correction.get("unbiased", True)))
    # With N <= correction the value is inf or nan, as PyTorch's (compared);
    # its gradient there is meaningless and PyTorch's own differs between
    # code paths (nan, -0 or +-inf), so it is compared only when N > correction.
    differentiable = reduced_count(x.shape, dim) > c
    if op == "std":
        # d std / d x_i = (x_i - mean) / ((N - c) std) divides the float32
        # rounding of the mean (~eps |x|) by std: on (near-)constant slices the
        # gradient is rounding noise (PyTorch's std of a constant (6,) tensor
        # is 2.6e-7, not 0), so it is compared only on well-spread slices.
        # Exactly constant slices are checked in test_std_gradient_of_a_constant_slice_is_zero.
        differentiable = differentiable and min_slice_std(x, dim) > 0.05
    check_against_torch(*pair(form, op, dim, keepdim=keepdim, **correction), [x], grad=[differentiable])


@pytest.mark.filterwarnings("ignore:.*degrees of freedom")
@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_few_elements_per_slice(op):
    # N = 1 or 2 with correction 0, 1, 2: 0, nan, inf (never a negative variance)
    x = np.array([[1.0, 2.0], [3.0, 3.0]], np.float32)
    for correction in (0, 1, 2, 3):
        for dim in (0, 1, None):
            for a in (x, x[:1]):
                n = a.size if dim is None else a.shape[dim]
                grad = [n > correction]  # see test_var_std_matches_torch
                check_against_torch(*pair("method", op, dim, correction=correction), [a], grad=grad)
    assert np.isinf(cr.tensor([1.0, 2.0]).var(correction=2).item())
    assert np.isnan(cr.tensor([1.0]).var(correction=2).item())


def test_std_gradient_of_a_constant_slice_is_zero():
    # std is not differentiable at 0; PyTorch (and chainrule) take 0, not nan
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]], np.float32)
    check_against_torch(*pair("method", "std", 1), [x])
    t = cr.tensor(x, requires_grad=True)
    t.std(1).sum().backward()
    np.testing.assert_array_equal(t.grad._array[0], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("n", [3, 6, 7, 50])
@pytest.mark.parametrize("value", [0.10611124, 3.4503527, -1e3 / 7])
def test_var_std_of_a_constant_slice_is_exactly_zero(value, n):
    # in float32 the mean of n equal values need not round back to the value;
    # the variance must still be exactly 0 and the std gradient 0 (a tiny
    # non-zero std would make the gradient an O(1) vector of rounding noise)
    x = np.full((2, n), value, np.float32)
    x[1] = np.linspace(-1.0, 1.0, n)
    t = cr.tensor(x, requires_grad=True)
    assert t.var(1)._array[0] == 0.0
    assert t.var(1, correction=0, keepdim=True)._array[0, 0] == 0.0
    std = t.std(1)
    assert std._array[0] == 0.0
    std.sum().backward()
    np.testing.assert_array_equal(t.grad._array[0], np.zeros(n, np.float32))
    assert cr.tensor(x[0]).std().item() == 0.0


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("form", FORMS)
def test_var_std_with_both_correction_and_unbiased_raise(form, op):
    t = cr.tensor([1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match=r"correction.*unbiased"):
        call(cr, form, op, t, correction=1, unbiased=True)
    with pytest.raises(ValueError, match=r"correction.*unbiased"):
        call(cr, form, op, t, 0, correction=0, unbiased=False)


# ------------------------------------------------------------------ logsumexp


@pytest.mark.parametrize("form", FORMS)
@given(case=cases(none=False), scale=st.sampled_from([1.0, 1e4]))
def test_logsumexp_matches_torch(form, case, scale):
    # scale 1e4: exp would overflow float32 without the max shift
    x, dim, keepdim = case
    x = np.asarray(x * np.float32(scale), dtype=np.float32)
    (out,) = check_against_torch(*pair(form, "logsumexp", dim, keepdim=keepdim), [x])
    assert np.all(np.isfinite(out.cpu()._array))


@pytest.mark.parametrize("form", FORMS)
def test_logsumexp_large_inputs(form):
    x = np.array([[1e4, 1e4, -1e4], [-1e4, -1e4, 0.0], [3e4, 1.0, 2.0]], np.float32)
    for dim in (0, 1, -1, (0, 1)):
        for keepdim in (False, True):
            (out,) = check_against_torch(*pair(form, "logsumexp", dim, keepdim=keepdim), [x])
            assert np.all(np.isfinite(out.cpu()._array))
    np.testing.assert_allclose(cr.logsumexp(cr.tensor(x), 1)._array, [1e4 + math.log(2), 0.0, 3e4], rtol=1e-6)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("form", FORMS)
def test_logsumexp_of_all_minus_inf_slice_is_minus_inf(form):
    inf = np.inf
    x = np.array([[-inf, -inf, -inf], [0.0, -inf, 1.0], [inf, 2.0, -inf]], np.float32)
    # values and gradients as PyTorch (nan gradient over the all -inf slice)
    (out,) = check_against_torch(*pair(form, "logsumexp", 1), [x])
    assert out.cpu()._array[0] == -inf and out.cpu()._array[2] == inf
    np.testing.assert_allclose(out.cpu()._array[1], math.log(1 + math.e), rtol=1e-6)
    (out,) = check_against_torch(*pair(form, "logsumexp", 0, keepdim=True), [x[:1]])
    assert np.all(out.cpu()._array == -inf)


# ---------------------------------------------------------- argmax / argmin


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("form", FORMS)
@given(case=cases(elements=st.one_of(TIES, FLOATS), tuples=False))
def test_argmax_argmin_matches_torch(form, op, case):
    # ties included: both return the first extreme
    x, dim, keepdim = case
    (out,) = check_against_torch(*pair(form, op, dim, keepdim=keepdim), [x])
    assert out.dtype == np.int64 and not out.requires_grad


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("form", FORMS)
def test_argmax_argmin_examples(form, op):
    x = cr.tensor([[1.0, 9.0, 9.0], [8.0, -3.0, 0.0]])
    first = call(cr, form, op, x)
    assert first.shape == () and first.item() == (1 if op == "argmax" else 4)
    kept = call(cr, form, op, x, keepdim=True)
    assert kept.shape == (1, 1) and kept.item() == first.item()
    along_1 = [1, 0] if op == "argmax" else [0, 1]
    np.testing.assert_array_equal(call(cr, form, op, x, 1)._array, along_1)
    along_0 = [[1, 0, 0]] if op == "argmax" else [[0, 1, 1]]
    np.testing.assert_array_equal(call(cr, form, op, x, 0, keepdim=True)._array, along_0)


# ---------------------------------------------------------------- any / all


@pytest.mark.parametrize("op", ["any", "all"])
@pytest.mark.parametrize("form", FORMS)
@given(
    case=st.one_of(
        cases(elements=st.booleans(), dtype=np.bool_),
        cases(elements=st.sampled_from([0.0, 1.5, -2.0]), dtype=np.float32),
        cases(elements=st.sampled_from([0, 1, 3]), dtype=np.int64),
    )
)
def test_any_all_matches_torch(form, op, case):
    x, dim, keepdim = case
    (out,) = check_against_torch(*pair(form, op, dim, keepdim=keepdim), [x], grad=[False])
    assert out.dtype == np.bool_


@pytest.mark.parametrize("form", FORMS)
def test_any_all_examples(form):
    x = cr.tensor([[True, False], [False, False]])
    assert call(cr, form, "any", x).item() is True
    assert call(cr, form, "all", x).item() is False
    np.testing.assert_array_equal(call(cr, form, "any", x, 1)._array, [True, False])
    np.testing.assert_array_equal(call(cr, form, "all", x, 0, keepdim=True)._array, [[False, False]])


# ------------------------------------------------------ finite differences


@settings(max_examples=20)
@given(x=distinct_f64(), data=st.data())
def test_gradcheck_reductions(x, data):
    dim = data.draw(dims_for(x.ndim))
    keepdim = data.draw(st.booleans())
    int_dim = data.draw(dims_for(x.ndim, none=False, tuples=False))
    check_gradcheck(lambda t: cr.sum(t, dim, keepdim=keepdim), [x])
    check_gradcheck(lambda t: t.mean(dim, keepdim=keepdim), [x])
    check_gradcheck(lambda t: cr.prod(t, int_dim, keepdim=keepdim), [x])
    check_gradcheck(lambda t: t.prod(), [x])
    check_gradcheck(lambda t: cr.logsumexp(t, int_dim if dim is None else dim, keepdim=keepdim), [x])
    # no ties and values 0.3 apart: max/min are differentiable there
    check_gradcheck(lambda t: cr.max(t), [x])
    check_gradcheck(lambda t: t.min(), [x])
    check_gradcheck(lambda t: cr.max(t, int_dim, keepdim=keepdim), [x])
    check_gradcheck(lambda t: t.min(int_dim, keepdim=keepdim).values, [x])
    amdim = () if dim is None else dim
    check_gradcheck(lambda t: cr.amax(t, amdim, keepdim=keepdim), [x])
    check_gradcheck(lambda t: t.amin(amdim, keepdim=keepdim), [x])


@settings(max_examples=20)
@given(x=distinct_f64(), data=st.data())
def test_gradcheck_var_std(x, data):
    dim = data.draw(dims_for(x.ndim))
    keepdim = data.draw(st.booleans())
    correction = data.draw(st.sampled_from(CORRECTIONS))
    c = correction.get("correction", int(correction.get("unbiased", True)))
    # N <= correction has an infinite or undefined variance: nothing to check
    assume(reduced_count(x.shape, dim) > c)
    check_gradcheck(lambda t: cr.var(t, dim, keepdim=keepdim, **correction), [x])
    check_gradcheck(lambda t: t.std(dim, keepdim=keepdim, **correction), [x])


def test_gradcheck_prod_with_zeros():
    for x in PROD_ZERO_CASES.values():
        for dim in (None, 0, 1):
            check_gradcheck(lambda t, dim=dim: t.prod() if dim is None else t.prod(dim), [x])


def test_gradcheck_logsumexp_large_inputs():
    x = np.array([[1e4, 1e4 + 0.5, -1e4], [-3.0, 2.0, 1.0]])
    check_gradcheck(lambda t: t.logsumexp(1), [x])
    check_gradcheck(lambda t: t.logsumexp((0, 1), keepdim=True), [x])


# ------------------------------------------------------------------ 0-d tensors

ZERO_D_OPS = [
    ("sum", {}),
    ("mean", {}),
    ("prod", {}),
    ("max", {}),
    ("min", {}),
    ("amax", {}),
    ("amin", {}),
    ("logsumexp", {}),
    ("var", {"correction": 0}),
    ("std", {"correction": 0}),
    ("argmax", {}),
    ("argmin", {}),
    ("any", {}),
    ("all", {}),
]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize(("op", "kw"), ZERO_D_OPS)
@pytest.mark.parametrize("form", FORMS)
def test_zero_d_accepts_dim_0_and_minus_1(form, op, kw, dim, keepdim):
    x = np.array(-1.5, np.float32)
    outs = check_against_torch(*pair(form, op, dim, keepdim=keepdim, **kw), [x])
    for out in outs:
        assert out.shape == ()


@pytest.mark.parametrize(("op", "kw"), [z for z in ZERO_D_OPS if z[0] != "logsumexp"])
@pytest.mark.parametrize("form", FORMS)
def test_zero_d_full_reduction(form, op, kw):
    x = np.array(2.5, np.float32)
    (out,) = check_against_torch(*pair(form, op, **kw), [x])
    assert out.shape == ()


def test_zero_d_values_and_gradients():
    t = cr.tensor(3.0, requires_grad=True)
    for fn, value, grad in [
        (lambda t: t.sum(), 3.0, 1.0),
        (lambda t: cr.mean(t, 0), 3.0, 1.0),
        (lambda t: t.max(-1).values, 3.0, 1.0),
        (lambda t: cr.min(t), 3.0, 1.0),
        (lambda t: t.prod(0, keepdim=True), 3.0, 1.0),
    ]:
        t.grad = None
        out = fn(t)
        assert out.shape == () and out.item() == value
        out.backward()
        assert t.grad.item() == grad
    r = cr.tensor(3.0).max(0)
    assert r.indices.shape == () and r.indices.item() == 0


# -------------------------------------------------------------------- errors

DIM_OPS = [
    "sum",
    "mean",
    "prod",
    "max",
    "min",
    "amax",
    "amin",
    "var",
    "std",
    "logsumexp",
    "argmax",
    "argmin",
    "any",
    "all",
]
TUPLE_DIM_OPS = ["sum", "mean", "amax", "amin", "var", "std", "logsumexp", "any", "all"]


@pytest.mark.parametrize("op", DIM_OPS)
@pytest.mark.parametrize("form", FORMS)
def test_dim_out_of_range_names_op_and_range(form, op):
    t = cr.ones(2, 3)
    for bad in (2, -3, 7):
        with pytest.raises(IndexError, match=rf"{op}.*{bad}.*\[-2, 1\]"):
            call(cr, form, op, t, bad)
    scalar = cr.tensor(1.0)
    for bad in (1, -2):
        with pytest.raises(IndexError, match=rf"{op}.*\[-1, 0\]"):
            call(cr, form, op, scalar, bad)


@pytest.mark.parametrize("op", TUPLE_DIM_OPS)
def test_tuple_dim_out_of_range_or_repeated(op):
    t = cr.ones(2, 3, 4)
    with pytest.raises(IndexError, match=rf"{op}.*\[-3, 2\]"):
        call(cr, "function", op, t, (0, 3))
    with pytest.raises(ValueError, match=rf"{op}.*repeated"):
        call(cr, "method", op, t, (1, -2))


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin", "argmax", "argmin"])
@pytest.mark.parametrize("form", FORMS)
def test_reducing_no_elements_raises(form, op):
    for shape in [(0,), (2, 0), (0, 3)]:
        with pytest.raises(IndexError, match=rf"{op}.*no elements"):
            call(cr, form, op, cr.zeros(*shape))
    with pytest.raises(IndexError, match=op):
        call(cr, form, op, cr.zeros(0, 3), 0)


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin", "argmax", "argmin"])
@pytest.mark.parametrize("form", FORMS)
def test_reducing_a_nonempty_axis_of_an_empty_tensor(form, op):
    # as PyTorch: only an empty *reduced* axis is an error
    x = np.zeros((0, 3), np.float32)
    for keepdim in (False, True):
        outs = check_against_torch(*pair(form, op, 1, keepdim=keepdim), [x])
        assert outs[0].shape == ((0, 1) if keepdim else (0,))


@pytest.mark.parametrize("form", FORMS)
def test_sum_mean_of_empty_tensor(form):
    x = np.zeros((0, 3), np.float32)
    check_against_torch(*pair(form, "sum"), [x])
    check_against_torch(*pair(form, "sum", 0), [x])
    out = call(cr, form, "mean", cr.tensor(x))  # nan, silently, as torch.mean
    assert np.isnan(out.item())
    assert np.isnan(torch.zeros(0, 3).mean().item())


# --------------------------------------------------------- gradient dtypes


GRAD_DTYPE_FNS = {
    "sum": lambda t: t.sum(1),
    "mean": lambda t: t.mean((0, 1)),
    "prod": lambda t: t.prod(0),
    "max": lambda t: t.max(),
    "max_dim": lambda t: t.max(1).values,
    "min": lambda t: cr.min(t),
    "amax": lambda t: t.amax(0),
    "amin": lambda t: t.amin((0, 1)),
    "var": lambda t: t.var(1),
    "std": lambda t: t.std(0),
    "logsumexp": lambda t: t.logsumexp(1),
}


@pytest.mark.parametrize("name", list(GRAD_DTYPE_FNS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_keeps_the_input_dtype(name, dtype):
    # cr.autograd.grad hands back the gradient the op computed: it must be in
    # the input's dtype (ties in max/amax are counted without promoting)
    t = cr.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 3.0, 0.5]], dtype), requires_grad=True)
    out = GRAD_DTYPE_FNS[name](t)
    (g,) = cr.autograd.grad(out, t, np.ones(out.shape, dtype))
    assert g.dtype == dtype
    assert g.shape == t.shape


# ------------------------------------------------------------------- cumsum
def rand(shape: tuple[int, ...], dtype: type = np.float32, seed: int = 0) -> np.ndarray:
    return np.asarray(np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def signed_dim(draw: st.DrawFn, ndim: int) -> int:
    """A dim of a tensor with ``ndim`` dims (0 and -1 for a 0-d one), negative about half the time."""
    n = max(ndim, 1)
    d = draw(st.integers(0, n - 1))
    return d - n if draw(st.booleans()) else d


@pytest.mark.parametrize("form", FORMS)
@given(data=st.data(), shape=SHAPES)
def test_cumsum_against_torch(form: str, data: st.DataObject, shape: tuple[int, ...]) -> None:
    d = signed_dim(data.draw, len(shape))
    check_against_torch(*pair(form, "cumsum", d), [rand(shape)])


def test_cumsum_with_dtype() -> None:
    check_against_torch(
        lambda x: x.cumsum(1, dtype=cr.float64), lambda x: x.cumsum(1, dtype=torch.float64), [rand((2, 3))]
    )
    check_against_torch(
        lambda x: cr.cumsum(x, 0, dtype=cr.float32),
        lambda x: torch.cumsum(x, 0, dtype=torch.float32),
        [np.arange(5, dtype=np.int64)],
    )


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_])
def test_cumsum_of_ints_and_bools_gives_int64(dtype: type) -> None:
    x = (np.arange(6).reshape(2, 3) % 2).astype(dtype)
    out = check_against_torch(*pair("function", "cumsum", -1), [x])
    assert out[0].dtype == np.int64


def test_cumsum_gradient_is_reversed_cumsum() -> None:
    x = cr.tensor(np.zeros(4), requires_grad=True)
    (x.cumsum(0) * cr.tensor(np.array([1.0, 2.0, 3.0, 4.0]))).sum().backward()
    np.testing.assert_array_equal(x.grad._array, [10, 9, 7, 4])


CUMSUM_GRADCHECK_CASES = [
    ("cumsum", lambda x: x.cumsum(0), [(4, 2)]),
    ("cumsum last", lambda x: cr.cumsum(x, -1), [(2, 3, 4)]),
    ("cumsum 0-d", lambda x: x.cumsum(0), [()]),
]


@pytest.mark.parametrize(
    "name,fn,shapes_", CUMSUM_GRADCHECK_CASES, ids=[c[0] for c in CUMSUM_GRADCHECK_CASES]
)
def test_cumsum_gradcheck(name: str, fn, shapes_: list[tuple[int, ...]]) -> None:
    check_gradcheck(fn, [np.asarray(3 * rand(s, dtype=np.float64, seed=i)) for i, s in enumerate(shapes_)])


def test_cumsum_dim_out_of_range_errors_name_the_op() -> None:
    x = cr.zeros(2, 3)
    for name, fn in (
        ("cumsum", lambda: x.cumsum(2)),
        ("cumsum", lambda: cr.cumsum(cr.tensor(1.0), 1)),
    ):
        with pytest.raises(IndexError, match=f"{name}: dimension .* is out of range"):
            fn()


# ------------------------------------------------- var_mean / std_mean, NumPy keywords
@pytest.mark.filterwarnings("ignore:.*degrees of freedom")
@pytest.mark.parametrize("name", ["var_mean", "std_mean"])
@settings(max_examples=20)
@given(case=cases(), correction=st.sampled_from([None, 0, 1]))
def test_var_mean_std_mean_match_torch(name, case, correction):
    # functions only: torch.Tensor has no var_mean/std_mean methods
    x, dim, keepdim = case
    check_against_torch(
        lambda t: getattr(cr, name)(t, dim, keepdim=keepdim, correction=correction),
        lambda t: getattr(torch, name)(t, dim, keepdim=keepdim, correction=correction),
        [x],
        rtol=1e-4,
        atol=1e-5,
    )


def test_var_mean_std_mean_gradcheck():
    x = np.random.default_rng(0).standard_normal((3, 4))
    check_gradcheck(lambda t: cr.var_mean(t, 1), [x])
    check_gradcheck(lambda t: cr.std_mean(t, (0, 1), correction=0), [x])


@pytest.mark.parametrize(
    "name, args",
    [
        ("sum", ()),
        ("mean", ()),
        ("prod", ()),
        ("amax", ()),
        ("amin", ()),
        ("std", ()),
        ("var", ()),
        ("logsumexp", ()),
        ("argmax", ()),
        ("any", ()),
        ("all", ()),
        ("cumsum", ()),
        ("cumprod", ()),
        ("softmax", ()),
        ("log_softmax", ()),
        ("sort", ()),
        ("argsort", ()),
        ("median", ()),
        ("max", ()),
        ("squeeze", ()),
        ("unsqueeze", ()),
    ],
)
@pytest.mark.parametrize("form", FORMS)
def test_numpy_keywords_axis_and_keepdims(name, args, form):
    # axis= is dim=, keepdims= is keepdim=, wherever PyTorch takes them
    x = np.random.default_rng(0).standard_normal((2, 1, 3)).astype(np.float32)
    kw_ours, kw_torch = {"axis": 2}, {"axis": 2}
    if name in (
        "sum",
        "mean",
        "prod",
        "amax",
        "amin",
        "std",
        "var",
        "logsumexp",
        "argmax",
        "any",
        "all",
        "max",
        "median",
    ):
        kw_ours["keepdims"] = kw_torch["keepdims"] = True

    def wrap(out):
        return tuple(out) if isinstance(out, tuple) else out

    check_against_torch(
        lambda t: wrap(call(cr, form, name, t, *args, **kw_ours)),
        lambda t: wrap(call(torch, form, name, t, *args, **kw_torch)),
        [x],
        rtol=1e-5,
        atol=1e-5,
    )


def test_numpy_keywords_refuse_both_spellings():
    with pytest.raises(TypeError, match="dim or axis"):
        cr.sum(cr.ones(2), dim=0, axis=0)
    with pytest.raises(TypeError, match="keepdim or keepdims"):
        cr.ones(2).mean(0, keepdim=True, keepdims=True)


@given(case=cases(tuples=True, none=False))
def test_amax_amin_over_several_dims(case):
    x, dim, keepdim = case
    for name in ("amax", "amin"):
        check_against_torch(
            lambda t, n=name: getattr(cr, n)(t, dim, keepdim),
            lambda t, n=name: getattr(torch, n)(t, dim, keepdim),
            [x],
        )


# ------------------------------------------------ edge cases found by fuzzing
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "dim"), [((0,), 0), ((2, 0, 3), 1), ((2, 0, 3), (0, 1, 2)), ((0, 3), -2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_over_an_empty_dim_is_minus_inf(dtype, shape, dim, keepdim):
    # the sum of nothing is 0 and its log -inf, as PyTorch (was: NumPy's "zero-size array" error)
    x = np.zeros(shape, dtype)
    check_against_torch(
        lambda t: cr.logsumexp(t, dim, keepdim=keepdim),
        lambda t: torch.logsumexp(t, dim, keepdim=keepdim),
        [x],
    )


@pytest.mark.parametrize(("shape", "dim"), [((2, 0, 3), 0), ((2, 0, 3), -1), ((2, 0, 3), None), ((0,), 0)])
def test_prod_backward_through_an_empty_tensor(shape, dim):
    # the running-product backward reshaped an empty array to (..., -1) and failed
    x = np.zeros(shape, np.float64)
    check_against_torch(
        lambda t: cr.prod(t) if dim is None else cr.prod(t, dim),
        lambda t: torch.prod(t) if dim is None else torch.prod(t, dim),
        [x],
    )


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_max_min_with_nan_send_the_gradient_to_the_nans(op, dtype):
    # max()/min() of the whole tensor is nan when one element is: PyTorch shares the
    # gradient among the nan elements (was: nan everywhere, from count 0)
    x = np.array([[1.0, np.nan, 3.0], [np.nan, -2.0, 0.5]], dtype)
    check_against_torch(pair("function", op)[0], pair("function", op)[1], [x])
    check_against_torch(pair("method", op)[0], pair("method", op)[1], [x])
    # amax/amin keep PyTorch's other rule (no element equals nan: nan gradients)
    a = "a" + op
    check_against_torch(pair("function", a)[0], pair("function", a)[1], [x])


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_along_a_dim_of_a_0d_bool_keep_the_dtype(op, keepdim):
    # a 0-d input's values were x * 1, which made a bool int64
    x = np.array(True)
    along = lambda t: getattr(t, op)(0, keepdim=keepdim)  # noqa: E731
    check_against_torch(along, along, [x])
    check_against_torch(*pair("function", op, -1, keepdim), [np.array(2.5)])


POSITIONAL_VAR_STD = [
    pytest.param((0, False), id="(0, False)"),  # dim, unbiased
    pytest.param((0, True), id="(0, True)"),
    pytest.param((1, False, True), id="(1, False, True)"),  # dim, unbiased, keepdim
    pytest.param((False,), id="(False,)"),  # unbiased alone: all elements
    pytest.param((True,), id="(True,)"),
    pytest.param(((0, 1), False), id="((0, 1), False)"),
]


@pytest.mark.parametrize("op", ["var", "std", "var_mean", "std_mean"])
@pytest.mark.parametrize("args", POSITIONAL_VAR_STD)
def test_var_std_positional_arguments_are_dim_unbiased_keepdim(op, args):
    # PyTorch's var(x, dim, unbiased, keepdim): x.std(0, False) is the population std over
    # dim 0 (was: keepdim=False with the default correction, a silently different number),
    # and x.std(False) is over everything (was: over dim 0)
    x = np.random.default_rng(0).standard_normal((3, 4))
    check_against_torch(lambda t: getattr(cr, op)(t, *args), lambda t: getattr(torch, op)(t, *args), [x])
    if op in ("var", "std"):
        check_against_torch(lambda t: getattr(t, op)(*args), lambda t: getattr(t, op)(*args), [x])


def test_var_refuses_unbiased_twice():
    with pytest.raises(TypeError, match="var: got unbiased twice"):
        cr.var(cr.ones(3), False, unbiased=True)
