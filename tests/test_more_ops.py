"""flip, repeat, tril, triu, index_select, cumsum and the rounding ops against PyTorch.

As elsewhere, each op is compared with PyTorch through ``check_against_torch``
(values, shape, dtype and every input's gradient), on hypothesis-drawn shapes
where that makes sense, and checked by finite differences in float64 through
``check_gradcheck``. floor, ceil, round and trunc are differentiable with a
zero gradient, as in PyTorch; their tests check that behaviour explicitly.
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from helpers import check_against_torch, check_gradcheck, pair

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
shapes_nd = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
matrix_shapes = hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4)
FORMS = ["method", "function"]
ROUNDING = ["floor", "ceil", "round", "trunc"]


def rand(shape: tuple[int, ...], dtype: type = np.float32, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return np.asarray(scale * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def signed_dim(draw: st.DrawFn, ndim: int) -> int:
    """A dim of a tensor with ``ndim`` dims (0 and -1 for a 0-d one), negative about half the time."""
    n = max(ndim, 1)
    d = draw(st.integers(0, n - 1))
    return d - n if draw(st.booleans()) else d


# --------------------------------------------------------------------- flip
@pytest.mark.parametrize("form", FORMS)
@given(data=st.data(), shape=shapes)
def test_flip_against_torch(form: str, data: st.DataObject, shape: tuple[int, ...]) -> None:
    n = max(len(shape), 1)
    picked = data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
    dims = tuple(d - n if data.draw(st.booleans()) else d for d in picked)
    check_against_torch(*pair(form, "flip", dims), [rand(shape)])


@given(data=st.data(), shape=shapes_nd)
def test_flip_varargs_and_single_int(data: st.DataObject, shape: tuple[int, ...]) -> None:
    d0 = signed_dim(data.draw, len(shape))
    check_against_torch(lambda x: x.flip(d0), lambda x: x.flip(d0), [rand(shape)])
    if len(shape) > 1:
        d1 = (d0 + 1) % len(shape)
        check_against_torch(lambda x: x.flip(d0, d1), lambda x: x.flip(d0, d1), [rand(shape)])
        check_against_torch(lambda x: x.flip([d1, d0]), lambda x: x.flip([d1, d0]), [rand(shape)])


def test_flip_returns_a_copy_not_a_view() -> None:
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    out = cr.flip(x, (1,))
    np.testing.assert_array_equal(out.data, [[2, 1, 0], [5, 4, 3]])
    assert not np.shares_memory(out.data, x.data)


def test_flip_of_ints_keeps_dtype() -> None:
    check_against_torch(*pair("function", "flip", (0, -1)), [np.arange(6, dtype=np.int32).reshape(2, 3)])


# ------------------------------------------------------------------- repeat
@given(data=st.data(), shape=shapes)
def test_repeat_against_torch(data: st.DataObject, shape: tuple[int, ...]) -> None:
    lead = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    counts = tuple(data.draw(st.integers(0, 3)) for _ in shape)
    sizes = lead + counts
    x = rand(shape)
    if sizes:  # PyTorch's x.repeat() with no sizes is an error
        check_against_torch(lambda t: t.repeat(*sizes), lambda t: t.repeat(*sizes), [x])
    check_against_torch(lambda t: t.repeat(sizes), lambda t: t.repeat(sizes), [x])
    check_against_torch(lambda t: t.repeat(list(sizes)), lambda t: t.repeat(list(sizes)), [x])
    check_against_torch(lambda t: cr.repeat(t, *sizes), lambda t: t.repeat(sizes), [x])


@pytest.mark.parametrize(
    "shape,sizes",
    [((3,), (2,)), ((2, 3), (1, 1)), ((2, 3), (3, 2)), ((1, 3), (4, 1, 2)), ((), (2, 3)), ((2, 1), (0, 5))],
)
def test_repeat_cases(shape: tuple[int, ...], sizes: tuple[int, ...]) -> None:
    check_against_torch(lambda t: t.repeat(*sizes), lambda t: t.repeat(*sizes), [rand(shape)])


def test_repeat_gradient_sums_the_copies() -> None:
    x = cr.tensor(np.zeros(3), requires_grad=True)
    x.repeat(2, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 4.0, 4.0])


# ---------------------------------------------------------------- tril/triu
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("op", ["tril", "triu"])
@given(shape=matrix_shapes, diagonal=st.integers(-5, 5))
def test_triangle_against_torch(form: str, op: str, shape: tuple[int, ...], diagonal: int) -> None:
    check_against_torch(*pair(form, op, diagonal), [rand(shape)])


@pytest.mark.parametrize("op", ["tril", "triu"])
@pytest.mark.parametrize("diagonal", [-3, -1, 0, 1, 2, 6])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 2), (2, 3, 4), (2, 1, 4, 3)])
def test_triangle_diagonals_and_batches(op: str, diagonal: int, shape: tuple[int, ...]) -> None:
    check_against_torch(*pair("method", op, diagonal), [rand(shape)])
    check_against_torch(*pair("function", op, diagonal=diagonal), [rand(shape)])


@pytest.mark.parametrize("op", ["tril", "triu"])
@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_triangle_of_ints_and_bools(op: str, dtype: type) -> None:
    x = np.arange(1, 13).reshape(3, 4).astype(dtype)
    check_against_torch(*pair("function", op, 1), [x])


def test_tril_gradient_is_masked() -> None:
    x = cr.tensor(np.zeros((2, 3)), requires_grad=True)
    x.tril(-1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 0, 0], [1, 0, 0]])
    y = cr.tensor(np.zeros((2, 3)), requires_grad=True)
    cr.triu(y, 1).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [[0, 1, 1], [0, 0, 1]])


# ------------------------------------------------------------- index_select
@pytest.mark.parametrize("form", FORMS)
@given(data=st.data(), shape=shapes_nd)
def test_index_select_against_torch(form: str, data: st.DataObject, shape: tuple[int, ...]) -> None:
    d = signed_dim(data.draw, len(shape))
    n = shape[d]
    dtype = data.draw(st.sampled_from([np.int64, np.int32]))
    idx = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=6)), dtype=dtype)
    if form == "method":
        fns = (lambda x, i: x.index_select(d, i), lambda x, i: x.index_select(d, i))
    else:
        fns = (lambda x, i: cr.index_select(x, d, i), lambda x, i: torch.index_select(x, d, i))
    check_against_torch(*fns, [rand(shape), idx])


@pytest.mark.parametrize(
    "shape,dim,idx",
    [
        ((4, 3), 0, np.array([3, 3, 0, 3])),  # repeated rows
        ((2, 5), -1, np.array([4, 4, 4, 4, 4, 4, 4])),  # longer than the dim
        ((2, 3, 4), 1, np.array([2, 0, 2])),
        ((3, 1), 1, np.array([0, 0])),  # size-1 dim
        ((3, 4), 1, np.array(2)),  # a 0-d index selects one slice, keeping the dim
        ((3, 4), 0, np.array([], dtype=np.int64)),
        ((), 0, np.array([0])),  # a 0-d input gives a 0-d output
        ((), -1, np.array(0)),
    ],
)
def test_index_select_cases(shape: tuple[int, ...], dim: int, idx: np.ndarray) -> None:
    check_against_torch(
        lambda x, i: x.index_select(dim, i), lambda x, i: x.index_select(dim, i), [rand(shape), idx]
    )


def test_index_select_repeated_indices_accumulate_gradient() -> None:
    x = cr.tensor(np.zeros((3, 2)), requires_grad=True)
    out = x.index_select(0, cr.tensor(np.array([2, 0, 2, 2])))
    (out * cr.tensor(np.array([[1.0], [2.0], [3.0], [4.0]]))).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[2, 2], [0, 0], [8, 8]])


# ------------------------------------------------------------------- cumsum
@pytest.mark.parametrize("form", FORMS)
@given(data=st.data(), shape=shapes)
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
    np.testing.assert_array_equal(x.grad.data, [10, 9, 7, 4])


# ----------------------------------------------------------------- rounding
HALVES = np.array([-2.5, -1.5, -0.5, -0.4, 0.0, 0.4, 0.5, 1.5, 2.5, 3.7, -3.7, 1e6 + 0.5])


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name", ROUNDING)
@given(shape=shapes)
def test_rounding_against_torch(form: str, name: str, shape: tuple[int, ...]) -> None:
    check_against_torch(*pair(form, name), [rand(shape, scale=3)])


@pytest.mark.parametrize("name", ROUNDING)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_rounding_halves_and_signs(name: str, dtype: type) -> None:
    x = HALVES.astype(dtype)
    out = check_against_torch(*pair("function", name), [x], rtol=0, atol=0)
    np.testing.assert_array_equal(np.signbit(out[0].data), np.signbit(getattr(torch, name)(torch.tensor(x))))


def test_round_is_half_to_even() -> None:
    out = cr.round(cr.tensor(np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5])))
    np.testing.assert_array_equal(out.data, [0, 2, 2, -0, -2, -2])


@pytest.mark.parametrize("form", FORMS)
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
    np.testing.assert_array_equal(ours.grad.data, theirs.grad.numpy())
    np.testing.assert_array_equal(ours.grad.data, np.zeros((3, 4), np.float32))
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
    np.testing.assert_array_equal(out[0].data, x)


def test_rounding_without_grad_records_nothing() -> None:
    x = cr.tensor(np.array([1.5, -0.5]), requires_grad=True)
    with cr.no_grad():
        y = x.floor()
    assert not y.requires_grad
    assert y.grad_fn is None


# ---------------------------------------------------------------- gradcheck
GRADCHECK_CASES = [
    ("flip", lambda x: x.flip(0, -1), [(2, 3, 2)]),
    ("flip 0-d", lambda x: cr.flip(x, (0,)), [()]),
    ("repeat", lambda x: x.repeat(2, 1, 3), [(2, 2)]),
    ("repeat 0-d", lambda x: x.repeat(3), [()]),
    ("tril", lambda x: x.tril(), [(3, 3)]),
    ("tril batched", lambda x: cr.tril(x, -1), [(2, 3, 4)]),
    ("triu", lambda x: x.triu(1), [(3, 4)]),
    ("triu batched", lambda x: cr.triu(x, -2), [(2, 4, 3)]),
    ("index_select", lambda x: x.index_select(1, cr.tensor(np.array([2, 0, 2, 2]))), [(2, 3)]),
    ("index_select 0-d", lambda x: x.index_select(0, cr.tensor(np.array([0]))), [()]),
    ("cumsum", lambda x: x.cumsum(0), [(4, 2)]),
    ("cumsum last", lambda x: cr.cumsum(x, -1), [(2, 3, 4)]),
    ("cumsum 0-d", lambda x: x.cumsum(0), [()]),
    ("floor", lambda x: x.floor() * x, [(2, 3)]),
    ("ceil", lambda x: cr.ceil(x), [(2, 3)]),
    ("round", lambda x: x.round() + x, [(2, 3)]),
    ("round decimals", lambda x: cr.round(x, decimals=1), [(2, 3)]),
    ("trunc", lambda x: cr.trunc(x), [(2, 3)]),
]


@pytest.mark.parametrize("name,fn,shapes_", GRADCHECK_CASES, ids=[c[0] for c in GRADCHECK_CASES])
def test_gradcheck(name: str, fn, shapes_: list[tuple[int, ...]]) -> None:
    check_gradcheck(fn, [rand(s, dtype=np.float64, seed=i, scale=3) for i, s in enumerate(shapes_)])


# ------------------------------------------------------------------- errors
def test_dim_out_of_range_errors_name_the_op() -> None:
    x = cr.zeros(2, 3)
    idx = cr.tensor(np.array([0]))
    for name, fn in (
        ("flip", lambda: x.flip(2)),
        ("flip", lambda: cr.flip(x, (0, -3))),
        ("index_select", lambda: x.index_select(2, idx)),
        ("index_select", lambda: cr.index_select(x, -3, idx)),
        ("cumsum", lambda: x.cumsum(2)),
        ("cumsum", lambda: cr.cumsum(cr.tensor(1.0), 1)),
    ):
        with pytest.raises(IndexError, match=f"{name}: dimension .* is out of range"):
            fn()


def test_flip_errors() -> None:
    x = cr.zeros(2, 3)
    with pytest.raises(ValueError, match="flip: dimension repeated"):
        cr.flip(x, (0, -2))
    with pytest.raises(TypeError, match="flip"):
        x.flip()


def test_repeat_errors() -> None:
    x = cr.zeros(2, 3)
    with pytest.raises(ValueError, match=r"repeat: got 1 repeat counts \(2,\) for a tensor with 2 dims"):
        x.repeat(2)
    with pytest.raises(ValueError, match="repeat: repeat counts must be non-negative"):
        x.repeat(2, -1)
    with pytest.raises(TypeError, match="repeat: repeat counts must be ints"):
        x.repeat(2.0, 1)


def test_triangle_errors() -> None:
    with pytest.raises(ValueError, match=r"tril: expects a tensor with at least 2 dims, got shape \(3,\)"):
        cr.tril(cr.zeros(3))
    with pytest.raises(ValueError, match="triu: expects a tensor with at least 2 dims"):
        cr.tensor(1.0).triu()
    with pytest.raises(TypeError, match="triu: diagonal must be an int"):
        cr.zeros(2, 2).triu(1.5)


def test_index_select_errors() -> None:
    x = cr.zeros(3, 4)
    with pytest.raises(TypeError, match="index_select: index must be an integer tensor, got float"):
        x.index_select(1, cr.tensor(np.array([1.0])))
    with pytest.raises(IndexError, match=r"index_select: index 4 is out of range for dim 1 of size 4"):
        x.index_select(1, cr.tensor(np.array([0, 4])))
    with pytest.raises(IndexError, match=r"index_select: index -1 is out of range for dim 0 of size 3"):
        x.index_select(0, cr.tensor(np.array([-1])))  # negative indices are refused, as in PyTorch
    with pytest.raises(IndexError, match=r"index_select: index must be a 1-D tensor.*\(1, 1\)"):
        x.index_select(0, cr.tensor(np.array([[0]])))
    with pytest.raises(IndexError, match="index_select: a 0-d input takes exactly one index, got 2"):
        cr.tensor(1.0).index_select(0, cr.tensor(np.array([0, 0])))


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
