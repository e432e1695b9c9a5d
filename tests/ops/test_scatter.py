"""Writes at indices and masked reads (ops/scatter.py) against PyTorch.

scatter, scatter_add, scatter_reduce (every reduction, with and without
include_self), index_add/copy/fill, masked_select/scatter and take_along_dim:
values and the gradients of both the input and the source, on hypothesis
shapes and dims (negative too), as functions and methods, then gradcheck.
Where PyTorch leaves the result of repeated indices unspecified (scatter,
index_copy), the indices are drawn without repeats.
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

SHAPES = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
FORMS = st.sampled_from(["function", "method"])


def rand(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).uniform(-2, 2, shape).astype(dtype)


@st.composite
def scatter_case(draw, unique):
    """(input, dim, index, src): index no larger than the input (and src) outside dim."""
    shape = draw(SHAPES)
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    d = dim % nd
    ishape = tuple(
        draw(st.integers(0, n)) if i != d else draw(st.integers(0, n if unique else n + 2))
        for i, n in enumerate(shape)
    )
    seed = draw(st.integers(0, 999))
    rng = np.random.default_rng(seed)
    if unique:
        # a distinct position along dim for each index element of a slice
        perm = np.argsort(rng.random((*ishape[:d], shape[d], *ishape[d + 1 :])), axis=d)
        index = np.take(perm, np.arange(ishape[d]), axis=d)
    else:
        index = rng.integers(0, shape[d], ishape)
    # src as large as index (PyTorch's backward refuses a larger src; ours takes its leading part)
    sshape = ishape
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return rand(shape, seed, dtype), dim, index.astype(np.int64), rand(sshape, seed + 1, dtype)


@settings(max_examples=30)
@given(case=scatter_case(unique=True), form=FORMS)
def test_scatter_src_and_value(case, form):
    x, dim, index, src = case
    check_against_torch(
        lambda a, s: call(cr, form, "scatter", a, dim, cr.tensor(index), s),
        lambda a, s: call(torch, form, "scatter", a, dim, torch.tensor(index), s),
        [x, src],
    )
    check_against_torch(
        lambda a: call(cr, form, "scatter", a, dim, cr.tensor(index), value=1.5),
        lambda a: call(torch, form, "scatter", a, dim, torch.tensor(index), value=1.5),
        [x],
    )


@settings(max_examples=30)
@given(case=scatter_case(unique=False), form=FORMS)
def test_scatter_add_with_repeats(case, form):
    x, dim, index, src = case
    check_against_torch(
        lambda a, s: call(cr, form, "scatter_add", a, dim, cr.tensor(index), s),
        lambda a, s: call(torch, form, "scatter_add", a, dim, torch.tensor(index), s),
        [x, src],
    )


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@settings(max_examples=15)
@given(case=scatter_case(unique=False), form=FORMS)
def test_scatter_reduce(reduce, include_self, case, form):
    x, dim, index, src = case
    check_against_torch(
        lambda a, s: call(
            cr, form, "scatter_reduce", a, dim, cr.tensor(index), s, reduce, include_self=include_self
        ),
        lambda a, s: call(
            torch, form, "scatter_reduce", a, dim, torch.tensor(index), s, reduce, include_self=include_self
        ),
        [x, src],
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_ties_and_zeros(reduce):
    # ties (amax/amin share the gradient) and zeros (prod's exact gradient)
    x = np.array([[0.0, 1.0, 2.0, -1.0]])
    src = np.array([[2.0, 0.0, 2.0, 0.0, 1.0, 3.0]])
    index = np.array([[2, 0, 2, 0, 1, 1]])
    # amax/amin with include_self=False: PyTorch still counts an excluded self equal to the
    # result among the ties (its source gradients then sum to less than the output's);
    # chainrule shares among the actual contributors only, so that case is checked by gradcheck
    for include_self in (True, False) if reduce not in ("amax", "amin") else (True,):
        check_against_torch(
            lambda a, s, i=include_self: cr.scatter_reduce(a, 1, cr.tensor(index), s, reduce, include_self=i),
            lambda a, s, i=include_self: torch.scatter_reduce(
                a, 1, torch.tensor(index), s, reduce, include_self=i
            ),
            [x, src],
        )


def test_scatter_reduce_of_integers():
    x, src = np.array([5, 1, 2], np.int64), np.array([3, 4, 7, 1], np.int64)
    index = np.array([0, 0, 2, 1])
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        check_against_torch(
            lambda a, s, r=reduce: cr.scatter_reduce(a, 0, cr.tensor(index), s, r),
            lambda a, s, r=reduce: torch.scatter_reduce(a, 0, torch.tensor(index), s, r),
            [x, src],
        )


def test_scatter_reduce_excluded_self_takes_no_share_of_a_tie():
    x = cr.tensor([[2.0]], requires_grad=True)
    src = cr.tensor([[2.0, 2.0]], requires_grad=True)
    cr.scatter_reduce(x, 1, cr.tensor([[0, 0]]), src, "amax", include_self=False).sum().backward()
    np.testing.assert_allclose(src.grad.numpy(), [[0.5, 0.5]])
    np.testing.assert_allclose(x.grad.numpy(), [[0.0]])


def test_scatter_reduce_on_a_device_never_copies_to_the_host(monkeypatch):
    # sum/mean/amax/amin (and scatter(reduce="add")) compute on the device, forward and backward;
    # prod alone goes through the host (CuPy has no multiplying scatter)
    from chainrule import devices

    x, src = rand((3, 4), 0), rand((3, 4), 1)
    src[0, 1] = x[2, 1]  # a tie for amax/amin to share
    index = np.array([[2, 1, 0, 0], [0, 1, 0, 0], [2, 0, 0, 1]])
    wanted = {}
    for reduce in ("sum", "mean", "amax", "amin"):
        for include_self in (True, False):
            a, s = cr.tensor(x, requires_grad=True), cr.tensor(src, requires_grad=True)
            out = cr.scatter_reduce(a, 1, cr.tensor(index), s, reduce, include_self=include_self)
            (out * cr.tensor(x)).sum().backward()
            wanted[reduce, include_self] = out.numpy(), a.grad.numpy(), s.grad.numpy()

    def refuse(array):
        raise AssertionError("scatter_reduce copied a device array to the host")

    def on_device():
        return tuple(cr.tensor(v, requires_grad=True, device="strict") for v in (x, src))

    idx, weight = cr.tensor(index, device="strict"), cr.tensor(x, device="strict")

    with monkeypatch.context() as m:
        m.setattr(devices, "to_host", refuse)
        got = {}
        for reduce, include_self in wanted:
            a, s = on_device()
            out = cr.scatter_reduce(a, 1, idx, s, reduce, include_self=include_self)
            (out * weight).sum().backward()
            assert out.device == "strict:0" and a.grad.device == "strict:0" and s.grad.device == "strict:0"
            got[reduce, include_self] = out, a.grad, s.grad
        a, s = on_device()
        cr.scatter(a, 1, idx, s, reduce="add").sum().backward()
        a, s = on_device()
        with pytest.raises(AssertionError, match="copied a device array"):  # the host's prod
            cr.scatter_reduce(a, 1, idx, s, "prod")
    for key, arrays in got.items():
        for ours, want in zip(arrays, wanted[key], strict=True):
            np.testing.assert_array_equal(ours.cpu().numpy(), want, err_msg=str(key))


def test_scatter_family_gradcheck():
    x, src = rand((3, 4), 0, np.float64), rand((2, 4), 1, np.float64) + 3
    index = np.array([[0, 1, 2, 0], [2, 0, 1, 1]])
    check_gradcheck(lambda a, s: cr.scatter(a, 0, cr.tensor(index), s), [x, src])
    check_gradcheck(lambda a, s: cr.scatter_add(a, 0, cr.tensor(index), s), [x, src])
    rep = np.array([[0, 0, 2, 0], [0, 0, 1, 1]])
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        for include_self in (True, False):
            check_gradcheck(
                lambda a, s, r=reduce, i=include_self: cr.scatter_reduce(
                    a, 0, cr.tensor(rep), s, r, include_self=i
                ),
                [x, src],
            )


@st.composite
def index_case(draw, unique):
    shape = draw(SHAPES)
    nd = len(shape)
    dim = draw(st.integers(-nd, nd - 1))
    n = shape[dim % nd]
    seed = draw(st.integers(0, 999))
    rng = np.random.default_rng(seed)
    k = draw(st.integers(0, n if unique else n + 2))
    index = rng.permutation(n)[:k] if unique else rng.integers(0, n, k)
    sshape = list(shape)
    sshape[dim % nd] = k
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return rand(shape, seed, dtype), dim, index.astype(np.int64), rand(tuple(sshape), seed + 1, dtype)


@settings(max_examples=30)
@given(case=index_case(unique=False), form=FORMS, alpha=st.sampled_from([1, 2.5]))
def test_index_add(case, form, alpha):
    x, dim, index, src = case
    check_against_torch(
        lambda a, s: call(cr, form, "index_add", a, dim, cr.tensor(index), s, alpha=alpha),
        lambda a, s: call(torch, form, "index_add", a, dim, torch.tensor(index), s, alpha=alpha),
        [x, src],
    )


@settings(max_examples=30)
@given(case=index_case(unique=True), form=FORMS)
def test_index_copy_and_index_fill(case, form):
    x, dim, index, src = case
    check_against_torch(
        lambda a, s: call(cr, form, "index_copy", a, dim, cr.tensor(index), s),
        lambda a, s: call(torch, form, "index_copy", a, dim, torch.tensor(index), s),
        [x, src],
    )
    check_against_torch(
        lambda a: call(cr, form, "index_fill", a, dim, cr.tensor(index), -3.0),
        lambda a: call(torch, form, "index_fill", a, dim, torch.tensor(index), -3.0),
        [x],
    )
    value = np.array(0.5, dtype=x.dtype)
    check_against_torch(
        lambda a, v: call(cr, form, "index_fill", a, dim, cr.tensor(index), v),
        lambda a, v: call(torch, form, "index_fill", a, dim, torch.tensor(index), v),
        [x, value],
    )


def test_index_ops_gradcheck():
    x, src = rand((3, 4), 0, np.float64), rand((3, 2), 1, np.float64)
    idx = cr.tensor(np.array([3, 1]))
    check_gradcheck(lambda a, s: cr.index_add(a, 1, idx, s, alpha=2.0), [x, src])
    check_gradcheck(lambda a, s: cr.index_copy(a, 1, idx, s), [x, src])
    check_gradcheck(lambda a, v: cr.index_fill(a, 1, idx, v), [x, np.array(2.0)])


MASKS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((2, 1), (1, 3)), ((), ()), ((0, 2), (2,))]


@pytest.mark.parametrize("shapes", MASKS)
@pytest.mark.parametrize("form", ["function", "method"])
def test_masked_select(shapes, form):
    x = rand(shapes[0], 0)
    mask = np.random.default_rng(1).random(shapes[1]) > 0.4
    check_against_torch(
        lambda a: call(cr, form, "masked_select", a, cr.tensor(mask)),
        lambda a: call(torch, form, "masked_select", a, torch.tensor(mask)),
        [x],
    )
    check_gradcheck(lambda a: cr.masked_select(a, cr.tensor(mask)), [x.astype(np.float64)])


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((), ()), ((0, 2), (2,))])
@pytest.mark.parametrize("form", ["function", "method"])
def test_masked_scatter(shapes, form):
    x = rand(shapes[0], 0)
    mask = np.broadcast_to(np.random.default_rng(1).random(shapes[1]) > 0.4, shapes[0]).copy()
    mask = (
        mask.reshape(shapes[1])
        if shapes[1] == shapes[0]
        else np.random.default_rng(1).random(shapes[1]) > 0.4
    )
    src = rand((int(np.broadcast_to(mask, shapes[0]).sum()) + 2,), 2)
    check_against_torch(
        lambda a, s: call(cr, form, "masked_scatter", a, cr.tensor(mask), s),
        lambda a, s: call(torch, form, "masked_scatter", a, torch.tensor(mask), s),
        [x, src],
    )
    check_gradcheck(lambda a, s: cr.masked_scatter(a, cr.tensor(mask), s), [x, src])


@pytest.mark.parametrize(
    "xshape, ishape, dim",
    [
        ((3, 4), (3, 2), 1),
        ((3, 4), (1, 5), -1),
        ((3, 1), (3, 2), 0),
        ((2, 3, 4), (2, 1, 4), 1),
        ((3, 4), (5,), None),
    ],
)
@pytest.mark.parametrize("form", ["function", "method"])
def test_take_along_dim(xshape, ishape, dim, form):
    x = rand(xshape, 0)
    n = x.size if dim is None else xshape[dim]
    index = np.random.default_rng(1).integers(0, n, ishape)
    check_against_torch(
        lambda a: call(cr, form, "take_along_dim", a, cr.tensor(index), dim),
        lambda a: call(torch, form, "take_along_dim", a, torch.tensor(index), dim),
        [x],
    )


def test_bad_indices_are_refused():
    x = cr.zeros(3, 4)
    with pytest.raises(IndexError, match="scatter_add"):
        cr.scatter_add(x, 1, cr.tensor([[4]]), cr.ones(1, 1))
    with pytest.raises(TypeError, match="index_add"):
        cr.index_add(x, 0, cr.tensor([0.0]), cr.ones(1, 4))
    with pytest.raises(ValueError, match="scatter_reduce"):
        cr.scatter_reduce(x, 0, cr.tensor([[0]]), cr.ones(1, 1), "median")
