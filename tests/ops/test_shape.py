"""Shape ops (reshape, permute, squeeze, expand, indexing, gather, cat, split, pad, ...) against PyTorch.

Every differentiable op is compared with PyTorch (forward values, shapes,
dtypes and the gradient of every input) through ``check_against_torch``, on
shapes drawn by hypothesis where that makes sense, and checked by finite
differences in float64 through ``check_gradcheck`` on small inputs.
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn.functional import pad as torch_pad

import chainrule as cr
from helpers import check_against_torch, check_gradcheck, pair

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
shapes_nd = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)


def rand(shape: tuple[int, ...], dtype: type = np.float32, seed: int = 0) -> np.ndarray:
    return np.asarray(np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


def signed_dim(draw: st.DrawFn, ndim: int) -> int:
    """A dim in range(ndim), negative about half the time."""
    d = draw(st.integers(0, ndim - 1))
    return d - ndim if draw(st.booleans()) else d


# ------------------------------------------------------------ reshape / view
def _reshape_targets(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    size = int(np.prod(shape))
    out = [(size,), (-1,), tuple(reversed(shape)), (1, size), (size, 1, 1), shape + (1,)]
    for i in range(len(shape)):
        out.append(shape[:i] + (-1,) + shape[i + 1 :])
    return out


@pytest.mark.parametrize("form", ["tuple", "varargs", "view", "function"])
@given(data=st.data(), shape=shapes)
def test_reshape_against_torch(form: str, data: st.DataObject, shape: tuple[int, ...]) -> None:
    target = data.draw(st.sampled_from(_reshape_targets(shape)))
    if form == "tuple" or not target:  # PyTorch's x.reshape() with no sizes is an error
        fns = (lambda x: x.reshape(target), lambda x: x.reshape(target))
    elif form == "varargs":
        fns = (lambda x: x.reshape(*target), lambda x: x.reshape(*target))
    elif form == "view":
        fns = (lambda x: x.view(*target), lambda x: x.view(*target))
    else:
        fns = (lambda x: cr.reshape(x, target), lambda x: torch.reshape(x, target))
    check_against_torch(*fns, [rand(shape)])


def test_reshape_to_and_from_0d() -> None:
    check_against_torch(lambda x: x.reshape(()), lambda x: x.reshape(()), [rand((1, 1))])
    check_against_torch(lambda x: x.reshape(1, -1), lambda x: x.reshape(1, -1), [rand(())])
    check_against_torch(lambda x: cr.view(x, -1), lambda x: x.view(-1), [rand(())])


def test_view_as_and_reshape_as() -> None:
    other = rand((4, 3))
    check_against_torch(
        lambda x, o: x.view_as(o), lambda x, o: x.view_as(o), [rand((2, 6)), other], grad=[True, False]
    )
    check_against_torch(
        lambda x, o: x.reshape_as(o), lambda x, o: x.reshape_as(o), [rand((12,)), other], grad=[True, False]
    )


@given(data=st.data(), shape=shapes)
def test_flatten_against_torch(data: st.DataObject, shape: tuple[int, ...]) -> None:
    nd = max(len(shape), 1)
    s = data.draw(st.integers(0, nd - 1))
    e = data.draw(st.integers(s, nd - 1))
    s_arg = s - nd if data.draw(st.booleans()) else s
    e_arg = e - nd if data.draw(st.booleans()) else e
    check_against_torch(lambda x: x.flatten(s_arg, e_arg), lambda x: x.flatten(s_arg, e_arg), [rand(shape)])
    check_against_torch(lambda x: cr.flatten(x), lambda x: torch.flatten(x), [rand(shape)])


def test_flatten_start_after_end_raises() -> None:
    with pytest.raises(ValueError, match="flatten"):
        cr.zeros(2, 3, 4).flatten(2, 1)


# ------------------------------------------------------- permute / transpose
@given(data=st.data(), shape=shapes)
def test_permute_against_torch(data: st.DataObject, shape: tuple[int, ...]) -> None:
    nd = len(shape)
    order = data.draw(st.permutations(range(nd)))
    order = tuple(d - nd if data.draw(st.booleans()) else d for d in order)
    if order:  # PyTorch's x.permute() with no dims is an error
        check_against_torch(lambda x: x.permute(*order), lambda x: x.permute(*order), [rand(shape)])
    check_against_torch(lambda x: cr.permute(x, order), lambda x: torch.permute(x, order), [rand(shape)])


@given(data=st.data(), shape=shapes)
def test_transpose_against_torch(data: st.DataObject, shape: tuple[int, ...]) -> None:
    if shape:
        d0, d1 = signed_dim(data.draw, len(shape)), signed_dim(data.draw, len(shape))
    else:
        d0, d1 = data.draw(st.sampled_from([0, -1])), data.draw(st.sampled_from([0, -1]))
    check_against_torch(lambda x: x.transpose(d0, d1), lambda x: x.transpose(d0, d1), [rand(shape)])
    check_against_torch(
        lambda x: cr.transpose(x, d0, d1), lambda x: torch.transpose(x, d0, d1), [rand(shape)]
    )


# PyTorch deprecates .T on tensors that are not 2-D
@pytest.mark.filterwarnings("ignore:(The use of `x.T`|Tensor.T is deprecated):UserWarning")
@pytest.mark.parametrize("shape", [(), (3,), (3, 4), (1, 5)])
def test_t_and_T_against_torch(shape: tuple[int, ...]) -> None:
    check_against_torch(lambda x: x.t(), lambda x: x.t(), [rand(shape)])
    check_against_torch(lambda x: x.T, lambda x: x.T, [rand(shape)])


@pytest.mark.filterwarnings("ignore:The use of `x.T`:UserWarning")
def test_T_reverses_all_dims_of_a_3d_tensor() -> None:
    check_against_torch(lambda x: x.T, lambda x: x.T, [rand((2, 3, 4))])


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (2, 1, 3, 4)])
def test_mT_against_torch(shape: tuple[int, ...]) -> None:
    check_against_torch(lambda x: x.mT, lambda x: x.mT, [rand(shape)])


def test_t_of_3d_raises() -> None:
    with pytest.raises(ValueError, match=r"t\(\)"):
        cr.zeros(2, 3, 4).t()


# ------------------------------------------------------ squeeze / unsqueeze
squeeze_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2)


@given(data=st.data(), shape=squeeze_shapes)
def test_squeeze_against_torch(data: st.DataObject, shape: tuple[int, ...]) -> None:
    x = rand(shape)
    check_against_torch(lambda t: t.squeeze(), lambda t: t.squeeze(), [x])
    nd = max(len(shape), 1)
    d = data.draw(st.integers(-nd, nd - 1))  # may name a dim of size 2: a no-op, as in PyTorch
    check_against_torch(lambda t: t.squeeze(d), lambda t: t.squeeze(d), [x])
    check_against_torch(lambda t: cr.squeeze(t, d), lambda t: torch.squeeze(t, d), [x])
    if shape:
        dims = tuple(data.draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape))))
        dims = tuple(i - len(shape) if data.draw(st.booleans()) else i for i in dims)
        check_against_torch(lambda t: t.squeeze(dims), lambda t: t.squeeze(dims), [x])


def test_squeeze_non_one_dim_is_noop() -> None:
    out = check_against_torch(lambda t: t.squeeze(1), lambda t: t.squeeze(1), [rand((1, 3, 1))])
    assert out[0].shape == (1, 3, 1)
    out = check_against_torch(lambda t: t.squeeze((0, 1)), lambda t: t.squeeze((0, 1)), [rand((1, 3, 1))])
    assert out[0].shape == (3, 1)


@given(data=st.data(), shape=shapes)
def test_unsqueeze_against_torch(data: st.DataObject, shape: tuple[int, ...]) -> None:
    nd = len(shape) + 1
    d = data.draw(st.integers(-nd, nd - 1))
    check_against_torch(lambda t: t.unsqueeze(d), lambda t: t.unsqueeze(d), [rand(shape)])
    check_against_torch(lambda t: cr.unsqueeze(t, d), lambda t: torch.unsqueeze(t, d), [rand(shape)])


# ------------------------------------------------------------------- expand
expand_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)


@given(data=st.data(), shape=expand_shapes)
def test_expand_against_torch(data: st.DataObject, shape: tuple[int, ...]) -> None:
    lead = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    sizes = []
    for n in shape:
        if n == 1:
            sizes.append(data.draw(st.sampled_from([-1, 1, 2, 3])))
        else:
            sizes.append(data.draw(st.sampled_from([-1, n])))
    target = lead + tuple(sizes)
    if target:  # PyTorch's x.expand() with no sizes is an error
        check_against_torch(lambda t: t.expand(*target), lambda t: t.expand(*target), [rand(shape)])
    check_against_torch(lambda t: t.expand(target), lambda t: t.expand(target), [rand(shape)])
    check_against_torch(lambda t: cr.expand(t, target), lambda t: t.expand(target), [rand(shape)])


def test_expand_as_against_torch() -> None:
    check_against_torch(
        lambda t, o: t.expand_as(o),
        lambda t, o: t.expand_as(o),
        [rand((3, 1)), rand((2, 3, 4))],
        grad=[True, False],
    )
    check_against_torch(
        lambda t, o: t.expand_as(o), lambda t, o: t.expand_as(o), [rand(()), rand((2, 2))], grad=[True, False]
    )


def test_expand_gradient_sums_over_copies() -> None:
    x = cr.tensor(np.array([[1.0], [2.0]]), requires_grad=True)
    x.expand(3, 2, 4).sum().backward()
    np.testing.assert_array_equal(x.grad._array, np.full((2, 1), 12.0))


# ----------------------------------------------------------------- indexing
# Each case: (input shape, key builder taking the library's index conversion).
# Integer / bool index arrays are passed as tensors through check_against_torch.
def _basic_cases() -> list[tuple[str, tuple[int, ...], object]]:
    return [
        ("int", (4, 3), 1),
        ("negative int", (4, 3), -1),
        ("int int", (4, 3), (2, -3)),
        ("slice", (6, 3), slice(1, 5)),
        ("slice step", (7, 3), slice(None, None, 2)),
        ("slice start stop step", (3, 8), (slice(None), slice(1, 7, 3))),
        ("slice past end", (4,), slice(2, 100)),
        ("empty slice", (4, 2), slice(3, 1)),
        ("none", (3, 2), None),
        ("none mid", (3, 2), (slice(None), None, 0)),
        ("ellipsis", (2, 3, 4), (Ellipsis, 1)),
        ("ellipsis mid", (2, 3, 4, 5), (0, Ellipsis, slice(1, None, 2))),
        ("ellipsis none", (2, 3), (Ellipsis, None)),
        ("0-d ellipsis", (), Ellipsis),
        ("0-d none", (), None),
        ("int of 1-d gives 0-d", (5,), 3),
    ]


@pytest.mark.parametrize("name,shape,key", _basic_cases(), ids=[c[0] for c in _basic_cases()])
def test_basic_indexing_against_torch(name: str, shape: tuple[int, ...], key: object) -> None:
    check_against_torch(lambda t: t[key], lambda t: t[key], [rand(shape)])


@st.composite
def basic_keys(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple]:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    parts: list = []
    for n in shape:
        kind = draw(st.sampled_from(["int", "slice", "all"]))
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            start = draw(st.none() | st.integers(-n - 1, n + 1))
            stop = draw(st.none() | st.integers(-n - 1, n + 1))
            step = draw(st.none() | st.integers(1, 3))  # PyTorch has no negative steps
            parts.append(slice(start, stop, step))
        else:
            parts.append(slice(None))
        if draw(st.integers(0, 4)) == 0:
            parts.append(None)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(parts)))
        parts = parts[:cut] + [Ellipsis] + [p for p in parts[cut:] if p is None or draw(st.booleans())]
    return shape, tuple(parts)


@given(case=basic_keys())
def test_basic_indexing_hypothesis(case: tuple[tuple[int, ...], tuple]) -> None:
    shape, key = case
    check_against_torch(lambda t: t[key], lambda t: t[key], [rand(shape)])


def _advanced_cases() -> list[tuple[str, tuple[int, ...], np.ndarray, object]]:
    """(name, input shape, index array, how to combine it into a key)."""
    i = np.array
    return [
        ("int array", (5, 3), i([4, 0, 2]), lambda x, k: x[k]),
        ("negative ints", (5, 3), i([-1, -5, 2]), lambda x, k: x[k]),
        ("repeated ints", (4, 3), i([1, 1, 3, 1]), lambda x, k: x[k]),
        ("2-d int array", (4, 3), i([[0, 1], [1, 3]]), lambda x, k: x[k]),
        ("int array dim 1", (2, 4), i([3, 3, 0]), lambda x, k: x[:, k]),
        ("idx then slice", (5, 4), i([0, 2, 2]), lambda x, k: x[k, 1:]),
        ("slice step then idx", (6, 4), i([1, -1, 1]), lambda x, k: x[::2, k]),
        ("idx ellipsis", (3, 2, 4), i([2, 0, 0]), lambda x, k: x[..., k]),
        ("idx none", (3, 2), i([2, 2]), lambda x, k: x[None, k]),
        ("two arrays", (3, 4), i([0, 2, 0]), lambda x, k: x[k, k]),
        ("broadcast arrays", (3, 4), i([0, 2, 2]), lambda x, k: x[k[:, None], k[None, :]]),
        ("int and array", (3, 4, 2), i([1, 3, 1]), lambda x, k: x[1, k]),
        ("0-d int tensor", (3, 4), i(2), lambda x, k: x[k]),
        ("bool mask", (4, 3), i([True, False, True, True]), lambda x, k: x[k]),
        ("bool mask dim 1", (2, 4), i([False, True, True, False]), lambda x, k: x[:, k]),
        ("all-false mask", (3, 2), i([False, False, False]), lambda x, k: x[k]),
        ("2-d bool mask", (3, 4), (np.arange(12).reshape(3, 4) % 3 == 0), lambda x, k: x[k]),
        ("full bool mask 3-d", (2, 3, 2), (np.arange(12).reshape(2, 3, 2) % 5 < 2), lambda x, k: x[k]),
    ]


@pytest.mark.parametrize("name,shape,idx,take", _advanced_cases(), ids=[c[0] for c in _advanced_cases()])
def test_advanced_indexing_with_tensors(name: str, shape: tuple[int, ...], idx: np.ndarray, take) -> None:
    check_against_torch(lambda x, k: take(x, k), lambda x, k: take(x, k), [rand(shape), idx])


@pytest.mark.parametrize(
    "name,shape,key",
    [
        ("int list", (5, 2), [3, 0, 3]),
        ("negative list", (5, 2), [-1, -2]),
        ("bool list", (3, 2), [True, False, True]),
        ("list then slice", (4, 3), ([1, 1, 0], slice(None, 2))),
        ("slice then list", (4, 3), (slice(1, None), [2, 0, 2])),
    ],
)
def test_indexing_with_lists(name: str, shape: tuple[int, ...], key: object) -> None:
    check_against_torch(lambda x: x[key], lambda x: x[key], [rand(shape)])


def test_numpy_array_as_index() -> None:
    idx, mask = np.array([2, 0, 2]), np.array([True, False, True])
    check_against_torch(lambda x: x[idx, 1:], lambda x: x[torch.tensor(idx), 1:], [rand((3, 4))])
    check_against_torch(lambda x: x[:, mask], lambda x: x[:, torch.tensor(mask)], [rand((2, 3))])


def test_nested_list_is_an_array_index() -> None:
    # PyTorch (deprecated) reads x[[[0, 1], [2, 2]]] as x[[0, 1], [2, 2]] and says it will become
    # x[tensor([[0, 1], [2, 2]])]; chainrule already does the latter, as NumPy does
    key = [[0, 1], [3, 3]]
    check_against_torch(lambda x: x[key], lambda x: x[torch.tensor(key)], [rand((4, 3))])


def test_mixed_int_array_and_bool_mask() -> None:
    idx = np.array([0, 0, 2])
    mask = np.array([True, False, True, True])
    check_against_torch(
        lambda x, i, m: x[i[:, None], m], lambda x, i, m: x[i[:, None], m], [rand((3, 4)), idx, mask]
    )


def test_repeated_indices_accumulate_gradient() -> None:
    x = cr.tensor(np.zeros(4), requires_grad=True)
    x[cr.tensor(np.array([1, 1, 3, 1]))].sum().backward()
    np.testing.assert_array_equal(x.grad._array, [0.0, 3.0, 0.0, 1.0])

    y = cr.tensor(np.zeros((2, 3)), requires_grad=True)
    (y[[1, 1], [2, 2]] * cr.tensor(np.array([2.0, 5.0]))).sum().backward()
    np.testing.assert_array_equal(y.grad._array, [[0, 0, 0], [0, 0, 7.0]])


@given(data=st.data(), shape=shapes_nd)
def test_int_array_indexing_hypothesis(data: st.DataObject, shape: tuple[int, ...]) -> None:
    d = data.draw(st.integers(0, len(shape) - 1))
    n = shape[d]
    idx = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=0, max_size=6)), dtype=np.int64)
    lead = (slice(None),) * d
    check_against_torch(lambda x, k: x[lead + (k,)], lambda x, k: x[lead + (k,)], [rand(shape), idx])


@given(data=st.data(), shape=shapes_nd)
def test_bool_mask_indexing_hypothesis(data: st.DataObject, shape: tuple[int, ...]) -> None:
    k = data.draw(st.integers(1, len(shape)))  # mask over the first k dims
    mask = data.draw(hnp.arrays(np.bool_, shape[:k]))
    check_against_torch(lambda x, m: x[m], lambda x, m: x[m], [rand(shape), mask])


def test_index_out_of_range_raises() -> None:
    x = cr.zeros(3, 4)
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        x[3]
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        x[-4]
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        x[:, 4]
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        x[cr.tensor(np.array([0, 5]))]
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        x[[0, 1], [1, 9]]


def test_float_index_raises() -> None:
    with pytest.raises(IndexError, match="integer or bool"):
        cr.zeros(3)[cr.tensor(np.array([0.0, 1.0]))]


# ------------------------------------------------------------------- gather
@st.composite
def gather_cases(draw: st.DrawFn) -> tuple[tuple[int, ...], int, np.ndarray]:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    d = signed_dim(draw, len(shape))
    dd = d % len(shape)
    # in the other dims the index may be smaller than the input; along dim any length
    ishape = tuple(
        draw(st.integers(1, 5)) if i == dd else draw(st.integers(1, n)) for i, n in enumerate(shape)
    )
    idx = draw(hnp.arrays(np.int64, ishape, elements=st.integers(0, shape[dd] - 1)))
    return shape, d, idx


@given(case=gather_cases())
def test_gather_against_torch(case: tuple[tuple[int, ...], int, np.ndarray]) -> None:
    shape, d, idx = case
    check_against_torch(lambda x, i: x.gather(d, i), lambda x, i: x.gather(d, i), [rand(shape), idx])
    check_against_torch(
        lambda x, i: cr.gather(x, d, i), lambda x, i: torch.gather(x, d, i), [rand(shape), idx]
    )


@pytest.mark.parametrize(
    "shape,dim,idx",
    [
        ((3, 4), 1, np.array([[0, 0, 3], [2, 2, 2]])),  # smaller in dim 0, repeated indices
        ((3, 4), 0, np.array([[2, 2], [2, 0], [1, 1], [0, 2]])),  # longer than the input along dim
        ((2, 3, 4), -1, np.array([[[3], [0]]])),  # smaller in dims 0 and 1, length 1 along dim
        ((2, 3, 4), 1, np.zeros((2, 5, 4), dtype=np.int64)),  # every output reads position 0
        ((5,), 0, np.array([4, 4, 4, 0])),
        ((), 0, np.array(0)),
    ],
)
def test_gather_cases(shape: tuple[int, ...], dim: int, idx: np.ndarray) -> None:
    check_against_torch(lambda x, i: x.gather(dim, i), lambda x, i: x.gather(dim, i), [rand(shape), idx])


def test_gather_repeated_index_accumulates() -> None:
    x = cr.tensor(np.zeros((2, 3)), requires_grad=True)
    x.gather(1, cr.tensor(np.array([[2, 2, 2, 0], [1, 1, 1, 1]]))).sum().backward()
    np.testing.assert_array_equal(x.grad._array, [[1, 0, 3], [0, 4, 0]])


def test_gather_errors() -> None:
    x = cr.zeros(3, 4)
    with pytest.raises(IndexError, match=r"gather.*out of range"):
        x.gather(1, cr.tensor(np.array([[0, 4]])))
    with pytest.raises(IndexError, match="gather"):
        x.gather(0, cr.tensor(np.array([[3, 0]])))
    with pytest.raises(ValueError, match="gather"):
        x.gather(1, cr.tensor(np.array([0, 1])))  # wrong number of dims
    with pytest.raises(ValueError, match="gather"):
        x.gather(1, cr.tensor(np.zeros((4, 1), dtype=np.int64)))  # larger than the input in dim 0
    with pytest.raises(TypeError, match="gather"):
        x.gather(1, cr.tensor(np.zeros((1, 1))))


# ------------------------------------------------------------- cat / stack
@st.composite
def join_cases(draw: st.DrawFn, same: bool) -> tuple[list[tuple[int, ...]], int]:
    shape = draw(hnp.array_shapes(min_dims=0 if same else 1, max_dims=3, min_side=1, max_side=3))
    nd = len(shape) + (1 if same else 0)
    d = signed_dim(draw, nd)
    k = draw(st.integers(1, 4))
    if same:
        return [shape] * k, d
    dd = d % len(shape)
    sizes = [draw(st.integers(0, 3)) for _ in range(k)]
    return [shape[:dd] + (n,) + shape[dd + 1 :] for n in sizes], d


@given(case=join_cases(same=False))
def test_cat_against_torch(case: tuple[list[tuple[int, ...]], int]) -> None:
    shapes_, d = case
    inputs = [rand(s, seed=i) for i, s in enumerate(shapes_)]
    check_against_torch(lambda *xs: cr.cat(xs, d), lambda *xs: torch.cat(xs, d), inputs)
    check_against_torch(
        lambda *xs: cr.concat(list(xs), dim=d), lambda *xs: torch.concat(list(xs), dim=d), inputs
    )


@given(case=join_cases(same=True))
def test_stack_against_torch(case: tuple[list[tuple[int, ...]], int]) -> None:
    shapes_, d = case
    inputs = [rand(s, seed=i) for i, s in enumerate(shapes_)]
    check_against_torch(lambda *xs: cr.stack(xs, d), lambda *xs: torch.stack(xs, d), inputs)


@pytest.mark.parametrize("op", ["cat", "stack"])
@pytest.mark.parametrize("dims", [(np.float32, np.float64), (np.float64, np.float32, np.float32)])
def test_join_promotes_mixed_float_dtypes(op: str, dims: tuple[type, ...]) -> None:
    inputs = [rand((2, 3), dtype=dt, seed=i) for i, dt in enumerate(dims)]
    cr_op, torch_op = getattr(cr, op), getattr(torch, op)
    out = check_against_torch(lambda *xs: cr_op(xs, -1), lambda *xs: torch_op(xs, -1), inputs)
    assert out[0].dtype == np.float64


@pytest.mark.parametrize("grad", [[True, False, True], [False, True, False]])
def test_join_when_only_some_inputs_require_grad(grad: list[bool]) -> None:
    inputs = [rand((2, 3), seed=i) for i in range(3)]
    check_against_torch(lambda *xs: cr.cat(xs, 1), lambda *xs: torch.cat(xs, 1), inputs, grad=grad)
    check_against_torch(lambda *xs: cr.stack(xs), lambda *xs: torch.stack(xs), inputs, grad=grad)


def test_cat_int_and_float_promotes() -> None:
    check_against_torch(
        lambda a, b: cr.cat([a, b]), lambda a, b: torch.cat([a, b]), [np.array([1, 2]), rand((3,))]
    )


def test_cat_and_stack_errors() -> None:
    with pytest.raises(ValueError, match=r"cat.*\(2, 3\).*\(3, 4\)"):
        cr.cat([cr.zeros(3, 4), cr.zeros(2, 3)], 0)
    with pytest.raises(ValueError, match=r"cat.*\(3, 4, 1\).*\(3, 4\)"):
        cr.cat([cr.zeros(3, 4), cr.zeros(3, 4, 1)], 0)
    with pytest.raises(ValueError, match="cat"):
        cr.cat([])
    with pytest.raises(ValueError, match="cat"):
        cr.cat([cr.tensor(1.0), cr.tensor(2.0)])
    with pytest.raises(IndexError, match="cat"):
        cr.cat([cr.zeros(3, 4)], 2)
    with pytest.raises(ValueError, match=r"stack.*\(2,\).*\(3,\)"):
        cr.stack([cr.zeros(3), cr.zeros(2)])


# ---------------------------------------------------- split / chunk / unbind
@given(data=st.data(), shape=shapes_nd)
def test_split_int_against_torch(data: st.DataObject, shape: tuple[int, ...]) -> None:
    d = signed_dim(data.draw, len(shape))
    size = data.draw(st.integers(1, 5))
    check_against_torch(lambda x: x.split(size, d), lambda x: x.split(size, d), [rand(shape)])
    check_against_torch(
        lambda x: cr.split(x, size, dim=d), lambda x: torch.split(x, size, dim=d), [rand(shape)]
    )


@given(data=st.data(), shape=shapes_nd)
def test_split_sizes_against_torch(data: st.DataObject, shape: tuple[int, ...]) -> None:
    d = signed_dim(data.draw, len(shape))
    n, sizes = shape[d], []
    while n:
        s = data.draw(st.integers(1, n))
        sizes += [0, s] if data.draw(st.integers(0, 3)) == 0 else [s]  # sometimes an empty piece
        n -= s
    check_against_torch(lambda x: x.split(sizes, d), lambda x: x.split(sizes, d), [rand(shape)])
    check_against_torch(
        lambda x: cr.split(x, tuple(sizes), d), lambda x: torch.split(x, tuple(sizes), d), [rand(shape)]
    )


@given(data=st.data(), shape=shapes_nd)
def test_chunk_against_torch(data: st.DataObject, shape: tuple[int, ...]) -> None:
    d = signed_dim(data.draw, len(shape))
    chunks = data.draw(st.integers(1, 6))
    check_against_torch(lambda x: x.chunk(chunks, d), lambda x: x.chunk(chunks, d), [rand(shape)])
    check_against_torch(lambda x: cr.chunk(x, chunks, d), lambda x: torch.chunk(x, chunks, d), [rand(shape)])


@pytest.mark.parametrize("n,chunks", [(5, 2), (5, 3), (5, 4), (6, 4), (7, 5), (2, 5), (0, 2)])
def test_chunk_uneven(n: int, chunks: int) -> None:
    out = check_against_torch(lambda x: x.chunk(chunks), lambda x: x.chunk(chunks), [rand((n, 2))])
    assert [o.shape[0] for o in out] == [t.shape[0] for t in torch.zeros(n, 2).chunk(chunks)]


@given(data=st.data(), shape=shapes_nd)
def test_unbind_against_torch(data: st.DataObject, shape: tuple[int, ...]) -> None:
    d = signed_dim(data.draw, len(shape))
    check_against_torch(lambda x: cr.unbind(x, d), lambda x: torch.unbind(x, d), [rand(shape)])


def test_split_errors() -> None:
    with pytest.raises(ValueError, match="split"):
        cr.zeros(5).split([2, 2])
    with pytest.raises(ValueError, match="split"):
        cr.zeros(5).split(0)
    with pytest.raises(ValueError, match="chunk"):
        cr.zeros(5).chunk(0)


# ---------------------------------------------------------------------- pad
@pytest.mark.parametrize(
    "shape,amounts,value",
    [
        ((4,), (1, 2), None),
        ((4,), (0, 0), None),
        ((3, 4), (2, 0), 1.5),
        ((3, 4), (1, 2, 0, 1), None),
        ((2, 3, 4), (1, 1, 2, 0, 0, 3), -2.0),
        ((2, 3, 4), (0, 1, 1, 0), 0.0),
        ((5,), (-1, 2), None),
        ((5,), (-2, -1), None),
        ((3, 5), (1, -2, -1, 1), 7.0),
        ((2, 3, 4), (-1, -1, 0, -3, 1, -1), None),
        ((4,), (-4, 2), 3.0),  # everything cropped, then padded
        ((4,), (-4, 0), None),
    ],
)
def test_pad_against_torch(shape: tuple[int, ...], amounts: tuple[int, ...], value: float | None) -> None:
    kw = {} if value is None else {"value": value}
    check_against_torch(
        lambda x: cr.pad(x, amounts, **kw), lambda x: torch_pad(x, amounts, **kw), [rand(shape)]
    )


@st.composite
def pad_cases(draw: st.DrawFn) -> tuple[tuple[int, ...], list[int]]:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    k = draw(st.integers(1, len(shape)))
    amounts = []
    for n in reversed(shape[len(shape) - k :]):
        # PyTorch crops at most the whole dim from each side, and the result may be empty
        lo = draw(st.integers(-n, 3))
        hi = draw(st.integers(max(-n, -(n + lo)), 3))
        amounts += [lo, hi]
    return shape, amounts


@given(case=pad_cases(), value=st.sampled_from([0.0, -1.0, 2.5]))
def test_pad_hypothesis(case: tuple[tuple[int, ...], list[int]], value: float) -> None:
    shape, amounts = case
    check_against_torch(
        lambda x: cr.pad(x, amounts, value=value), lambda x: torch_pad(x, amounts, value=value), [rand(shape)]
    )


def test_pad_errors() -> None:
    with pytest.raises(ValueError, match="pad"):
        cr.pad(cr.zeros(3), (1,))
    with pytest.raises(ValueError, match="pad"):
        cr.pad(cr.zeros(3), (1, 1, 1, 1))
    with pytest.raises(ValueError, match="pad"):
        cr.pad(cr.zeros(3), (1, 1), mode="reflect")
    with pytest.raises(ValueError, match="pad"):
        cr.pad(cr.zeros(3), (-2, -2))


# ---------------------------------------------------------- error messages
def test_reshape_incompatible_raises() -> None:
    x = cr.zeros(3, 4)
    with pytest.raises(ValueError, match="reshape"):
        x.reshape(5, 3)
    with pytest.raises(ValueError, match="reshape"):
        x.view(-1, 5)
    with pytest.raises(ValueError, match="reshape"):
        cr.reshape(x, (2, -1, -1))


def test_permute_errors() -> None:
    x = cr.zeros(2, 3)
    with pytest.raises(ValueError, match=r"permute.*\(2, 3\)"):
        x.permute(1, 0, 2)
    with pytest.raises(ValueError, match="permute"):
        x.permute(0)
    with pytest.raises(ValueError, match="permute"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match="permute"):
        x.permute(1, -1)  # -1 is dim 1 again
    with pytest.raises(IndexError, match="permute"):
        x.permute(0, 2)


def test_expand_errors() -> None:
    x = cr.zeros(3, 1)
    with pytest.raises(ValueError, match=r"expand.*\(3, 1\)"):
        x.expand(4, 2)
    with pytest.raises(ValueError, match="expand"):
        x.expand(3)  # fewer sizes than dims
    with pytest.raises(ValueError, match="expand"):
        x.expand(-1, 3, 2)  # -1 for a new leading dim
    with pytest.raises(ValueError, match="expand"):
        x.expand_as(cr.zeros(2, 2))


def test_dim_out_of_range_errors() -> None:
    x = cr.zeros(2, 3)
    for fn in (
        lambda: x.transpose(0, 2),
        lambda: x.unsqueeze(3),
        lambda: x.squeeze(2),
        lambda: x.flatten(0, 2),
        lambda: cr.stack([x, x], 3),
        lambda: x.split(1, 2),
        lambda: cr.unbind(x, -3),
    ):
        with pytest.raises(IndexError, match="out of range"):
            fn()


# ------------------------------------------ views compose in the gradient path
def _lib(x: object) -> object:
    return cr if isinstance(x, cr.Tensor) else torch


def _gather_index(x: object) -> object:
    return _lib(x).tensor(np.array([[0, 2, 2], [3, 3, 1]]))


@pytest.mark.parametrize(
    "name,shape,fn",
    [
        ("reshape then index", (3, 4), lambda x: x.reshape(2, 6)[0]),
        ("view then slice", (2, 3, 2), lambda x: x.view(-1)[1::3]),
        ("T then slice then reshape", (3, 4), lambda x: x.T[1:].reshape(-1)),
        ("permute reshape index", (2, 3, 4), lambda x: x.permute(2, 0, 1).reshape(4, 6)[[3, 0, 3]]),
        ("expand then index", (3, 1), lambda x: x.expand(2, 3, 4)[1, :, ::2]),
        ("unsqueeze expand squeeze", (3,), lambda x: x.unsqueeze(0).expand(5, 3)[1:].unsqueeze(-1).squeeze()),
        ("two views of one tensor", (2, 3), lambda x: x.reshape(3, 2).T + x * x.flatten().view(2, 3)),
        ("split and cat back reversed", (6, 2), lambda x: _lib(x).cat(x.split(2)[::-1])),
        ("mT of a slice", (2, 3, 4), lambda x: x[:, 1:].mT.flatten(1)),
        ("gather of a view", (3, 4), lambda x: x.t().gather(0, _gather_index(x))),
        ("chained indexing", (4, 5), lambda x: x[1:][:, [0, 0, 4]][-1]),
    ],
)
def test_views_compose(name: str, shape: tuple[int, ...], fn) -> None:
    check_against_torch(fn, fn, [rand(shape)])
    check_gradcheck(fn, [rand(shape)])


def test_grad_flows_through_view_to_both_consumers() -> None:
    x = cr.tensor(np.arange(6.0), requires_grad=True)
    v = x.view(2, 3)
    (v[0].sum() * 2 + v[:, 1].sum() + x[5]).backward()
    np.testing.assert_array_equal(x.grad._array, [2, 3, 2, 0, 1, 1])


# -------------------------------------------------------------- gradchecks
GRADCHECK_CASES = [
    ("reshape", lambda x: x.reshape(3, -1), [(2, 3)]),
    ("view", lambda x: x.view(-1), [(2, 2)]),
    ("flatten", lambda x: x.flatten(1), [(2, 2, 2)]),
    ("permute", lambda x: x.permute(2, 0, 1), [(2, 3, 2)]),
    ("transpose", lambda x: x.transpose(-1, 0), [(2, 3)]),
    ("T", lambda x: x.T, [(2, 3)]),
    ("mT", lambda x: x.mT, [(2, 2, 3)]),
    ("t", lambda x: x.t(), [(3, 2)]),
    ("squeeze", lambda x: x.squeeze(), [(1, 3, 1)]),
    ("squeeze dims", lambda x: x.squeeze((0, -1)), [(1, 3, 1)]),
    ("unsqueeze", lambda x: x.unsqueeze(-2), [(2, 3)]),
    ("expand", lambda x: x.expand(2, -1, 3), [(2, 1)]),
    ("expand 0-d", lambda x: x.expand(3, 2), [()]),
    ("expand_as", lambda x, o: x.expand_as(o), [(3, 1), (2, 3, 2)]),
    ("index basic", lambda x: x[1:, None, ::2], [(3, 4)]),
    ("index ellipsis", lambda x: x[..., -1], [(2, 3, 2)]),
    ("index repeated ints", lambda x: x[[2, 0, 2, 2]], [(3, 2)]),
    ("index int tensor", lambda x: x[cr.tensor(np.array([[1, 1], [0, 1]])), 1:], [(2, 3)]),
    ("index bool mask", lambda x: x[:, cr.tensor(np.array([True, False, True]))], [(2, 3)]),
    ("gather", lambda x: x.gather(1, cr.tensor(np.array([[2, 2, 0, 1]]))), [(2, 3)]),
    ("gather 0-d", lambda x: x.gather(0, cr.tensor(np.array(0))), [()]),
    ("cat", lambda a, b: cr.cat([a, b, a], -1), [(2, 1), (2, 3)]),
    ("stack", lambda a, b: cr.stack([a, b], -1), [(2, 3), (2, 3)]),
    ("stack 0-d", lambda a, b: cr.stack([a, b, a]), [(), ()]),
    ("split", lambda x: x.split(2, dim=1), [(2, 5)]),
    ("split sizes", lambda x: x.split([1, 0, 3]), [(4, 2)]),
    ("chunk", lambda x: x.chunk(3), [(5, 2)]),
    ("unbind", lambda x: cr.unbind(x, 1), [(2, 3)]),
    ("pad", lambda x: cr.pad(x, (1, 2, 0, 1), value=0.5), [(2, 3)]),
    ("pad crop", lambda x: cr.pad(x, (-1, 1, 1, -1)), [(3, 3)]),
]


@pytest.mark.parametrize("name,fn,shapes_", GRADCHECK_CASES, ids=[c[0] for c in GRADCHECK_CASES])
def test_gradcheck(name: str, fn, shapes_: list[tuple[int, ...]]) -> None:
    check_gradcheck(fn, [rand(s, dtype=np.float64, seed=i) for i, s in enumerate(shapes_)])


# ------------------------------------------------------------ item assignment
SETITEM_CASES = [
    ((4, 3), (1,), (3,)),
    ((4, 3), (slice(1, 3),), (1, 3)),
    ((2, 3, 4), (slice(None), 1), (2, 4)),
    ((2, 3, 4), (Ellipsis, slice(0, 2)), (3, 2)),
    ((5,), (np.array([0, 3]),), (2,)),
    ((3, 4), (np.array([True, False, True]),), (4,)),
]


@pytest.mark.parametrize(("shape", "key", "value_shape"), SETITEM_CASES)
def test_setitem_in_a_graph_matches_torch(shape, key, value_shape) -> None:
    # a non-leaf written into, with a value that also requires grad (and broadcasts)
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(shape).astype(np.float32)
    v0 = rng.standard_normal(value_shape).astype(np.float32)

    torch_key = tuple(torch.as_tensor(k) if isinstance(k, np.ndarray) else k for k in key)

    def assign(lib, x, v):
        y = x * 2
        y[key if lib is cr else torch_key] = v.tanh()
        return y

    check_against_torch(lambda x, v: assign(cr, x, v), lambda x, v: assign(torch, x, v), [x0, v0])
    check_gradcheck(lambda x, v: assign(cr, x, v), [x0, v0])


def test_setitem_builds_outputs_step_by_step_like_an_rnn_loop() -> None:
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal((3, 3)).astype(np.float32)

    def unroll(lib, w):
        h = lib.ones(2, 3, device=w.device)
        out = lib.zeros(2, 4, 3, device=w.device)  # a buffer that does not require grad
        for t in range(4):
            h = (h @ w).tanh()
            out[:, t] = h
        return out

    check_against_torch(lambda w: unroll(cr, w), lambda w: unroll(torch, w), [w0])


def test_setitem_on_a_leaf_that_requires_grad_is_refused_outside_no_grad() -> None:
    x = cr.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 1.0
    with cr.no_grad():
        x[0] = 1.0
    assert x.is_leaf and x.requires_grad and x._array[0] == 1.0


def test_setitem_without_grad_writes_in_place() -> None:
    a = np.zeros(4, np.float32)
    t = cr.from_numpy(a)
    t[1:3] = cr.tensor([5.0, 6.0])
    np.testing.assert_array_equal(a, [0, 5, 6, 0])
    with pytest.raises(IndexError, match=r"\(4,\)"):
        t[7] = 1.0


def test_gather_refuses_negative_indices_like_torch() -> None:
    x = cr.arange(6.0).reshape(2, 3)
    with pytest.raises(IndexError, match=r"gather: index -1 is out of range for dim 1 of size 3"):
        x.gather(1, cr.tensor([[0], [-1]]))
    with pytest.raises(RuntimeError):
        torch.arange(6.0).reshape(2, 3).gather(1, torch.tensor([[0], [-1]]))


# ------------------------------------------- flip, repeat, tril/triu, index_select
FORMS = ["method", "function"]
matrix_shapes = hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4)


def signed_dim_or_0d(draw: st.DrawFn, ndim: int) -> int:
    """A dim of a tensor with ``ndim`` dims (0 and -1 for a 0-d one), negative about half the time."""
    n = max(ndim, 1)
    d = draw(st.integers(0, n - 1))
    return d - n if draw(st.booleans()) else d


@pytest.mark.parametrize("form", FORMS)
@given(data=st.data(), shape=shapes)
def test_flip_against_torch(form: str, data: st.DataObject, shape: tuple[int, ...]) -> None:
    n = max(len(shape), 1)
    picked = data.draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
    dims = tuple(d - n if data.draw(st.booleans()) else d for d in picked)
    check_against_torch(*pair(form, "flip", dims), [rand(shape)])


@given(data=st.data(), shape=shapes_nd)
def test_flip_varargs_and_single_int(data: st.DataObject, shape: tuple[int, ...]) -> None:
    d0 = signed_dim_or_0d(data.draw, len(shape))
    check_against_torch(lambda x: x.flip(d0), lambda x: x.flip(d0), [rand(shape)])
    if len(shape) > 1:
        d1 = (d0 + 1) % len(shape)
        check_against_torch(lambda x: x.flip(d0, d1), lambda x: x.flip(d0, d1), [rand(shape)])
        check_against_torch(lambda x: x.flip([d1, d0]), lambda x: x.flip([d1, d0]), [rand(shape)])


def test_flip_returns_a_copy_not_a_view() -> None:
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    out = cr.flip(x, (1,))
    np.testing.assert_array_equal(out._array, [[2, 1, 0], [5, 4, 3]])
    assert not np.shares_memory(out._array, x._array)


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
    np.testing.assert_array_equal(x.grad._array, [4.0, 4.0, 4.0])


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
    np.testing.assert_array_equal(x.grad._array, [[0, 0, 0], [1, 0, 0]])
    y = cr.tensor(np.zeros((2, 3)), requires_grad=True)
    cr.triu(y, 1).sum().backward()
    np.testing.assert_array_equal(y.grad._array, [[0, 1, 1], [0, 0, 1]])


# ------------------------------------------------------------- index_select
@pytest.mark.parametrize("form", FORMS)
@given(data=st.data(), shape=shapes_nd)
def test_index_select_against_torch(form: str, data: st.DataObject, shape: tuple[int, ...]) -> None:
    d = signed_dim_or_0d(data.draw, len(shape))
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
    np.testing.assert_array_equal(x.grad._array, [[2, 2], [0, 0], [8, 8]])


SELECTION_GRADCHECK_CASES = [
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
]


@pytest.mark.parametrize(
    "name,fn,shapes_", SELECTION_GRADCHECK_CASES, ids=[c[0] for c in SELECTION_GRADCHECK_CASES]
)
def test_selection_gradcheck(name: str, fn, shapes_: list[tuple[int, ...]]) -> None:
    check_gradcheck(fn, [np.asarray(3 * rand(s, dtype=np.float64, seed=i)) for i, s in enumerate(shapes_)])


def test_dim_out_of_range_errors_name_the_selection_op() -> None:
    x = cr.zeros(2, 3)
    idx = cr.tensor(np.array([0]))
    for name, fn in (
        ("flip", lambda: x.flip(2)),
        ("flip", lambda: cr.flip(x, (0, -3))),
        ("index_select", lambda: x.index_select(2, idx)),
        ("index_select", lambda: cr.index_select(x, -3, idx)),
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


@pytest.mark.parametrize(
    ("shapes", "dim"),
    [
        ([(0,), (2, 3)], 0),  # the accumulator pattern: out = cat([out, x]) starting from tensor([])
        ([(2, 3), (0,), (2, 3)], 1),
        ([(2, 3), (0,)], -1),
        ([(0,), (0,)], 0),
        ([(0,), (4,)], 0),
    ],
)
def test_cat_skips_legacy_empty_1d_tensors(shapes, dim):
    # PyTorch skips a shape-(0,) tensor whatever the others' shapes (was: a size-mismatch error)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s) for s in shapes]
    check_against_torch(lambda *t: cr.cat(list(t), dim), lambda *t: torch.cat(list(t), dim), xs)
    # the empty tensor still promotes: float32 [] with int64 gives float32
    ints = np.arange(6).reshape(2, 3)
    join = [lambda e, t: cr.cat([e, t]), lambda e, t: torch.cat([e, t])]
    check_against_torch(*join, [np.zeros(0, np.float32), ints], grad=[False, False])


def test_cat_still_refuses_other_empty_shapes_and_0d():
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 3\) but tensor 0 has \(0, 3\)"):
        cr.cat([cr.zeros(0, 3), cr.ones(2, 3)], 1)
    with pytest.raises(ValueError, match="cat: tensor 1 is zero-dimensional"):
        cr.cat([cr.zeros(0), cr.ones(())])
