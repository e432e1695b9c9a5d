"""Order statistics (ops/sort.py: sort, argsort, topk, kthvalue, median, mode, unique) against PyTorch.

Shapes are drawn by hypothesis (0-d, empty, size-1 axes, negative dims), in
float32/float64 and int64, as functions and methods. Values without ties check
values, indices and the gradient (which flows to the element each value came
from); values with ties check the tie rules PyTorch documents or shows
(stable sort keeps the original order; mode gives the smallest most frequent
value and its last index; median takes the lower middle value, and median()
of a whole tensor shares its gradient among the elements equal to it).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import chainrule as cr
from helpers import call, check_against_torch, check_gradcheck

SHAPES = array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
NONEMPTY = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=5)
FORMS = st.sampled_from(["function", "method"])
DTYPES = st.sampled_from([np.float32, np.float64, np.int64])


@st.composite
def distinct(draw, shapes=SHAPES):
    """Distinct values (no ties: indices are well defined) and a valid dim."""
    shape = draw(shapes)
    dtype = draw(DTYPES)
    n = math.prod(shape)
    x = (np.array(draw(st.permutations(range(n))), dtype=np.float64) - n / 2).reshape(shape)
    x = np.asarray(x * 1.5 if dtype != np.int64 else x).astype(dtype)
    nd = max(len(shape), 1)
    return x, draw(st.integers(-nd, nd - 1)), draw(FORMS)


def as_tuple(r):
    return tuple(r) if isinstance(r, tuple) else r


@settings(max_examples=25)
@given(case=distinct(), descending=st.booleans())
def test_sort_and_argsort(case, descending):
    x, dim, form = case
    check_against_torch(
        lambda t: call(cr, form, "sort", t, dim, descending=descending),
        lambda t: as_tuple(call(torch, form, "sort", t, dim, descending=descending)),
        [x],
    )
    check_against_torch(
        lambda t: call(cr, form, "argsort", t, dim, descending=descending),
        lambda t: call(torch, form, "argsort", t, dim, descending=descending),
        [x],
    )


def test_stable_sort_keeps_equal_elements_in_order():
    x = np.array([[2.0, 1.0, 2.0, 1.0, np.nan, 3.0, 1.0]], dtype=np.float32)
    for descending in (False, True):
        check_against_torch(
            lambda t, d=descending: cr.sort(t, descending=d, stable=True),
            lambda t, d=descending: tuple(torch.sort(t, descending=d, stable=True)),
            [x],
        )
    r = cr.sort(cr.tensor(x))
    assert r.values.shape == r.indices.shape == (1, 7)


@settings(max_examples=25)
@given(case=distinct(NONEMPTY), data=st.data())
def test_topk(case, data):
    x, dim, form = case
    n = x.shape[dim] if x.ndim else 1
    k = data.draw(st.integers(0, n))
    largest = data.draw(st.booleans())
    check_against_torch(
        lambda t: call(cr, form, "topk", t, k, dim, largest=largest),
        lambda t: as_tuple(call(torch, form, "topk", t, k, dim, largest=largest)),
        [x],
    )


@settings(max_examples=25)
@given(case=distinct(NONEMPTY), data=st.data(), keepdim=st.booleans())
def test_kthvalue_and_median_with_dim(case, data, keepdim):
    x, dim, form = case
    n = x.shape[dim] if x.ndim else 1
    k = data.draw(st.integers(1, n))
    check_against_torch(
        lambda t: call(cr, form, "kthvalue", t, k, dim, keepdim=keepdim),
        lambda t: as_tuple(call(torch, form, "kthvalue", t, k, dim, keepdim=keepdim)),
        [x],
    )
    check_against_torch(
        lambda t: call(cr, form, "median", t, dim, keepdim=keepdim),
        lambda t: as_tuple(call(torch, form, "median", t, dim, keepdim=keepdim)),
        [x],
    )


@settings(max_examples=25)
@given(case=distinct(NONEMPTY))
def test_median_of_all_is_the_lower_middle(case):
    x, _, form = case
    (out,) = check_against_torch(
        lambda t: call(cr, form, "median", t), lambda t: call(torch, form, "median", t), [x]
    )
    flat = np.sort(x.reshape(-1))
    assert out.item() == flat[(flat.size - 1) // 2]


TIE_VALUES = st.sampled_from([-1.0, 0.0, 2.0, 3.5])


@settings(max_examples=30)
@given(shape=NONEMPTY, data=st.data(), keepdim=st.booleans(), form=FORMS)
def test_mode_smallest_most_frequent_and_last_index(shape, data, keepdim, form):
    x = np.array(data.draw(st.lists(TIE_VALUES, min_size=math.prod(shape), max_size=math.prod(shape))))
    x = x.reshape(shape).astype(np.float32)
    nd = max(len(shape), 1)
    dim = data.draw(st.integers(-nd, nd - 1))
    check_against_torch(
        lambda t: call(cr, form, "mode", t, dim, keepdim=keepdim),
        lambda t: as_tuple(call(torch, form, "mode", t, dim, keepdim=keepdim)),
        [x],
    )


def test_mode_on_a_device_finds_its_indices_there(monkeypatch):
    # the device's run lengths (cumsum and scatter-max) against the CPU's running maximum,
    # with NaN runs, integers, and a dim in the middle; nothing copied to the host
    from chainrule import devices

    rng = np.random.default_rng(3)
    cases = [
        (rng.choice([-1.0, 0.0, 2.0, np.nan], (3, 5, 4)).astype(np.float32), 1),
        (rng.integers(0, 3, (4, 7)), -1),
        (rng.integers(0, 2, (6, 2, 3)), 0),
        (np.array([5.0, np.nan, np.nan, 5.0, 1.0]), 0),
    ]
    wanted = [tuple(r.numpy() for r in cr.mode(cr.tensor(x), d)) for x, d in cases]
    on_device = [cr.tensor(x, device="strict") for x, _ in cases]
    with monkeypatch.context() as m:
        m.setattr(devices, "to_host", lambda a: pytest.fail("mode copied a device array to the host"))
        got = [cr.mode(t, d) for t, (_, d) in zip(on_device, cases, strict=True)]
    for ours, want in zip(got, wanted, strict=True):
        assert ours.values.device == "strict:0" and ours.indices.device == "strict:0"
        np.testing.assert_array_equal(ours.values.cpu().numpy(), want[0])
        np.testing.assert_array_equal(ours.indices.cpu().numpy(), want[1])


def test_order_statistics_gradcheck():
    x = np.random.default_rng(0).permutation(12).reshape(3, 4) * 0.5
    check_gradcheck(lambda t: cr.sort(t, 1, descending=True).values, [x])
    check_gradcheck(lambda t: cr.topk(t, 2, 0).values, [x])
    check_gradcheck(lambda t: cr.kthvalue(t, 2, 1).values, [x])
    check_gradcheck(lambda t: cr.median(t, -1).values, [x])
    check_gradcheck(lambda t: cr.median(t), [x])
    check_gradcheck(lambda t: cr.mode(t, 1).values, [x])


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_unique(dtype):
    x = np.array([[3, 1, 2], [1, 3, 3]]).astype(dtype)
    for kw in (
        {},
        {"return_inverse": True},
        {"return_counts": True},
        {"return_inverse": True, "return_counts": True},
    ):
        # not differentiable (PyTorch marks the output but has no backward for it)
        check_against_torch(
            lambda t, kw=kw: cr.unique(t, **kw), lambda t, kw=kw: torch.unique(t, **kw), [x], [False]
        )
        check_against_torch(lambda t, kw=kw: t.unique(**kw), lambda t, kw=kw: t.unique(**kw), [x], [False])
    for dim in (0, 1, -1):
        check_against_torch(
            lambda t, d=dim: cr.unique(t, dim=d, return_inverse=True, return_counts=True),
            lambda t, d=dim: torch.unique(t, dim=d, return_inverse=True, return_counts=True),
            [x],
            [False],
        )


def test_results_are_named_tuples():
    t = cr.tensor([[3.0, 1.0, 2.0]])
    for r in (t.sort(), t.topk(2), t.kthvalue(1), t.median(1), t.mode(1), t.cummax(1), t.cummin(1), t.max(1)):
        values, indices = r
        assert values is r.values and indices is r.indices


def test_bad_k_is_refused():
    with pytest.raises(IndexError, match="topk"):
        cr.topk(cr.tensor([1.0, 2.0]), 3)
    with pytest.raises(IndexError, match="kthvalue"):
        cr.kthvalue(cr.tensor([1.0, 2.0]), 0)


def test_median_propagates_nan_like_torch():
    x = np.array([[1.0, np.nan, 3.0, np.nan], [4.0, 2.0, 3.0, 1.0]], dtype=np.float32)
    # values only for the full median: PyTorch splits its gradient among all the NaNs, ours goes to the first
    check_against_torch(cr.median, torch.median, [x], grad=[False])
    for dim in (0, 1):
        check_against_torch(lambda t, d=dim: cr.median(t, d), lambda t, d=dim: tuple(torch.median(t, d)), [x])


@pytest.mark.parametrize(
    "values",
    [
        [1.0, 1.0, 0.0, 3.0, 1.0],  # three elements equal to the median
        [[1.0, 2.0], [2.0, 2.0]],
        [np.nan, 1.0, np.nan, 0.5],  # NaN propagates; the NaNs share the gradient
        [2.0, 1.0, 3.0, 4.0],
        [[5.0]],
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_median_of_all_shares_the_gradient_among_ties(values, dtype):
    # PyTorch's median() without dim spreads the gradient evenly over every element
    # equal to the median (was: all of it to one of them)
    x = np.array(values, dtype)
    check_against_torch(cr.median, torch.median, [x])
    check_against_torch(lambda t: t.median(), lambda t: t.median(), [x])


@pytest.mark.parametrize("descending", [False, True])
def test_sort_of_a_0d_bool_keeps_bool(descending):
    # a 0-d input's values were x * 1, which made a bool int64
    check_against_torch(
        lambda t: cr.sort(t, 0, descending), lambda t: tuple(torch.sort(t, 0, descending)), [np.array(True)]
    )
    check_against_torch(lambda t: cr.sort(t, -1), lambda t: tuple(torch.sort(t, -1)), [np.array(1.5)])
