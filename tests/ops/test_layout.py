"""Rearrangements (ops/layout.py) against PyTorch: roll, movedim, unflatten, narrow,
tensor_split/hsplit/vsplit/dsplit, tile, repeat_interleave, Tensor.unfold,
diagonal/diag/diag_embed, meshgrid, cartesian_prod.

Shapes and dims are drawn by hypothesis (0-d and empty where PyTorch allows
them, negative dims), in float32/float64 and int64, as functions and methods;
values and gradients of a random cotangent are compared, then gradcheck.
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

SHAPES = array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=4)
FORMS = st.sampled_from(["function", "method"])
DTYPES = st.sampled_from([np.float32, np.float64, np.int64])


def rand(shape, seed=0, dtype=np.float32):
    x = np.random.default_rng(seed).uniform(-3, 3, shape)
    return np.asarray(np.round(x) if np.dtype(dtype).kind == "i" else x).astype(dtype)


def both(form, name, *args, **kw):
    return (lambda t: call(cr, form, name, t, *args, **kw)), (
        lambda t: call(torch, form, name, t, *args, **kw)
    )


@st.composite
def arr(draw, shapes=SHAPES):
    shape = draw(shapes)
    return rand(shape, draw(st.integers(0, 99)), draw(DTYPES)), draw(FORMS)


def a_dim(draw, ndim):
    n = max(ndim, 1)
    return draw(st.integers(-n, n - 1))


@settings(max_examples=30)
@given(case=arr(array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)), data=st.data())
def test_roll(case, data):
    x, form = case
    if data.draw(st.booleans()) or x.ndim == 0:
        shifts = data.draw(st.integers(-7, 7))
        check_against_torch(*both(form, "roll", shifts), [x])
    else:
        dims = data.draw(st.lists(st.integers(0, x.ndim - 1), min_size=1, max_size=x.ndim, unique=True))
        dims = tuple(d - x.ndim if data.draw(st.booleans()) else d for d in dims)
        shifts = tuple(data.draw(st.integers(-7, 7)) for _ in dims)
        check_against_torch(*both(form, "roll", shifts, dims), [x])


@settings(max_examples=30)
@given(case=arr(), data=st.data())
def test_movedim_and_unflatten(case, data):
    x, form = case
    n = x.ndim
    src = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=n, unique_by=lambda d: d % n))
    dst = data.draw(
        st.lists(st.integers(-n, n - 1), min_size=len(src), max_size=len(src), unique_by=lambda d: d % n)
    )
    check_against_torch(*both(form, "movedim", tuple(src), tuple(dst)), [x])
    check_against_torch(*both(form, "movedim", src[0], dst[0]), [x])
    d = a_dim(data.draw, n)
    size = x.shape[d]
    sizes = data.draw(st.sampled_from([(size,), (1, size), (size, 1), (-1, 1)]))
    if size % 2 == 0 and size:
        sizes = data.draw(st.sampled_from([sizes, (2, -1), (2, size // 2)]))
    check_against_torch(*both(form, "unflatten", d, sizes), [x])


@settings(max_examples=30)
@given(case=arr(), data=st.data())
def test_narrow_and_tensor_split(case, data):
    x, form = case
    d = a_dim(data.draw, x.ndim)
    n = x.shape[d]
    start = data.draw(st.integers(-n, n)) if n else 0
    length = data.draw(st.integers(0, n - (start % n if n and start < 0 else start)))
    check_against_torch(*both(form, "narrow", d, start, length), [x])
    sections = data.draw(st.integers(1, 5))
    check_against_torch(*both(form, "tensor_split", sections, d), [x])
    cuts = sorted(data.draw(st.lists(st.integers(0, n + 2), max_size=3)))
    check_against_torch(*both(form, "tensor_split", cuts, d), [x])


@pytest.mark.parametrize("form", ["function", "method"])
def test_hsplit_vsplit_dsplit(form):
    x = rand((4, 6, 2))
    for name, arg in (("hsplit", 3), ("hsplit", [1, 4]), ("vsplit", 2), ("vsplit", [3]), ("dsplit", 2)):
        check_against_torch(*both(form, name, arg), [x])
    check_against_torch(*both(form, "hsplit", 2), [rand((6,))])


@settings(max_examples=30)
@given(case=arr(array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)), data=st.data())
def test_tile(case, data):
    x, form = case
    reps = tuple(data.draw(st.lists(st.integers(0, 3), min_size=0, max_size=4)))
    if len(reps) == 0 and x.ndim == 0:
        reps = (2,)
    check_against_torch(*both(form, "tile", reps), [x])


@settings(max_examples=30)
@given(case=arr(array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)), data=st.data())
def test_repeat_interleave(case, data):
    x, form = case
    check_against_torch(*both(form, "repeat_interleave", data.draw(st.integers(0, 3))), [x])
    if x.ndim == 0:
        return
    d = a_dim(data.draw, x.ndim)
    n = x.shape[d] if x.ndim else 1
    reps = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=np.int64)
    check_against_torch(
        lambda t: call(cr, form, "repeat_interleave", t, cr.tensor(reps), dim=d),
        lambda t: call(torch, form, "repeat_interleave", t, torch.tensor(reps), dim=d),
        [x],
    )
    check_against_torch(cr.repeat_interleave, torch.repeat_interleave, [np.array([2, 0, 1])])


@settings(max_examples=30)
@given(case=arr(), data=st.data())
def test_tensor_unfold(case, data):
    x, _ = case
    d = a_dim(data.draw, x.ndim)
    size = data.draw(st.integers(0, x.shape[d]))
    step = data.draw(st.integers(1, 3))
    check_against_torch(lambda t: t.unfold(d, size, step), lambda t: t.unfold(d, size, step), [x])


@settings(max_examples=30)
@given(case=arr(array_shapes(min_dims=2, max_dims=4, min_side=0, max_side=4)), data=st.data())
def test_diagonal_and_diag_embed(case, data):
    x, form = case
    n = x.ndim
    d1 = data.draw(st.integers(-n, n - 1))
    d2 = data.draw(st.integers(-n, n - 1).filter(lambda d: d % n != d1 % n))
    offset = data.draw(st.integers(-4, 4))
    check_against_torch(*both(form, "diagonal", offset, d1, d2), [x])
    e1 = data.draw(st.integers(-n - 1, n))
    e2 = data.draw(st.integers(-n - 1, n).filter(lambda d: d % (n + 1) != e1 % (n + 1)))
    check_against_torch(*both(form, "diag_embed", offset, e1, e2), [x])


@pytest.mark.parametrize("shape", [(4,), (3, 4), (0,), (4, 0)])
@pytest.mark.parametrize("offset", [-2, 0, 1, 5])
@pytest.mark.parametrize("form", ["function", "method"])
def test_diag(shape, offset, form):
    check_against_torch(*both(form, "diag", offset), [rand(shape)])


@pytest.mark.parametrize("indexing", ["ij", "xy"])
@pytest.mark.parametrize("sizes", [(3,), (3, 4), (2, 3, 4), (0, 2)])
def test_meshgrid_and_cartesian_prod(indexing, sizes):
    ts = [rand((n,), i) for i, n in enumerate(sizes)]
    check_against_torch(
        lambda *a: cr.meshgrid(*a, indexing=indexing),
        lambda *a: tuple(torch.meshgrid(*a, indexing=indexing)),
        ts,
    )
    check_against_torch(cr.cartesian_prod, torch.cartesian_prod, ts)


def test_layout_gradcheck():
    x = rand((3, 4, 2), 0, np.float64)
    check_gradcheck(lambda t: cr.roll(t, (1, -2), (0, 2)), [x])
    check_gradcheck(lambda t: cr.movedim(t, 0, -1), [x])
    check_gradcheck(lambda t: cr.narrow(t, 1, 1, 2), [x])
    check_gradcheck(lambda t: cr.tensor_split(t, 3, 1)[1], [x])
    check_gradcheck(lambda t: cr.tile(t, (2, 1, 1, 2)), [x])
    check_gradcheck(lambda t: cr.repeat_interleave(t, cr.tensor([1, 0, 3]), dim=0), [x])
    check_gradcheck(lambda t: t.unfold(1, 2, 1), [x])
    check_gradcheck(lambda t: cr.diagonal(t, 1, 0, 1), [x])
    check_gradcheck(lambda t: cr.diag_embed(t, -1), [x])
    check_gradcheck(lambda a, b: cr.cartesian_prod(a, b), [x[:, 0, 0], x[0, :, 1]])


def test_bad_arguments_are_refused():
    x = cr.zeros(3, 4)
    with pytest.raises(IndexError, match="narrow"):
        cr.narrow(x, 1, 3, 2)
    with pytest.raises(ValueError, match="unflatten"):
        cr.unflatten(x, 1, (3, 2))
    with pytest.raises(ValueError, match="diagonal"):
        cr.diagonal(x, 0, 1, -1)
    with pytest.raises(ValueError, match="hsplit"):
        cr.hsplit(x, 3)
