"""The Tensor's own surface: attributes, conversions, repr, Python protocols and scalar dtype rules."""

from __future__ import annotations

import operator

import numpy as np
import pytest
import torch

import chainrule as cr
from helpers import check_against_torch


def _tdtype(t: torch.Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


@pytest.fixture
def pair():
    """The same 2x3x4 float32 data in both libraries."""
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    return cr.tensor(arr), torch.tensor(arr)


# ---------------------------------------------------------------- attributes
def test_shape_ndim_dtype_numel(pair):
    ours, theirs = pair
    assert ours.shape == tuple(theirs.shape) == (2, 3, 4)
    assert isinstance(ours.shape, tuple)
    assert ours.ndim == theirs.ndim == 3
    assert ours.dim() == 3
    assert ours.dtype == cr.float32
    assert ours.numel() == theirs.numel() == 24
    assert cr.numel(ours) == 24
    assert ours.size() == tuple(theirs.size())


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2, -3])
def test_size_of_one_dim(pair, dim):
    ours, theirs = pair
    assert ours.size(dim) == theirs.size(dim)


@pytest.mark.parametrize("dim", [3, -4, 10])
def test_size_out_of_range(pair, dim):
    ours, theirs = pair
    with pytest.raises(IndexError):
        theirs.size(dim)
    with pytest.raises(IndexError, match="out of range"):
        ours.size(dim)


def test_zero_dim_attributes():
    t = cr.tensor(3.5)
    assert t.shape == () and t.ndim == 0 and t.numel() == 1
    assert t.size() == tuple(torch.tensor(3.5).size()) == ()
    with pytest.raises(IndexError):
        torch.tensor(3.5).size(0)
    with pytest.raises(IndexError):
        t.size(0)
    assert cr.zeros(0, 3).numel() == 0


def test_T_reverses_dims(pair):
    ours, theirs = pair
    m = cr.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(m.T._array, torch.tensor(np.arange(6.0).reshape(2, 3)).T.numpy())
    assert ours.T.shape == (4, 3, 2)
    np.testing.assert_array_equal(ours.T._array, theirs.permute(2, 1, 0).numpy())
    v = cr.tensor([1.0, 2.0])
    assert v.T.shape == (2,)


def test_T_is_differentiable():
    x = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w = np.arange(6.0).reshape(3, 2)
    (x.T * cr.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad._array, w.T)


def test_device_and_floating_point():
    assert cr.zeros(2).device == "cpu"
    assert cr.zeros(2).is_floating_point()
    assert not cr.zeros(2, dtype=cr.int64).is_floating_point()
    assert cr.zeros(2).cpu().shape == (2,)


# ------------------------------------------------------- autograd attributes
def test_requires_grad_grad_is_leaf():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert x.requires_grad and x.is_leaf and x.grad is None and x.grad_fn is None
    y = (x * x).sum()
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    y.backward()
    assert isinstance(x.grad, cr.Tensor)
    assert x.grad.shape == x.shape and x.grad.dtype == x.dtype
    assert not x.grad.requires_grad
    np.testing.assert_array_equal(x.grad._array, [2.0, 4.0, 6.0])
    plain = cr.tensor([1.0])
    assert not plain.requires_grad and plain.is_leaf and plain.grad_fn is None


def test_requires_grad_setter():
    x = cr.tensor([1.0])
    x.requires_grad = True
    assert x.requires_grad
    x.requires_grad = False
    assert not x.requires_grad
    assert x.requires_grad_() is x and x.requires_grad


# --------------------------------------------------------------- conversion
def test_numpy_shares_memory():
    t = cr.tensor([1.0, 2.0, 3.0])
    a = t.numpy()
    assert isinstance(a, np.ndarray)
    assert np.shares_memory(a, t._array)
    a[0] = 10.0
    assert t.tolist() == [10.0, 2.0, 3.0]
    with cr.no_grad():
        t.mul_(2)
    assert a.tolist() == [20.0, 4.0, 6.0]


def test_np_asarray_of_tensor():
    t = cr.tensor([[1, 2], [3, 4]])
    np.testing.assert_array_equal(np.asarray(t), [[1, 2], [3, 4]])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        (2.5, None),
        ([[7]], None),
        ([3], "int64"),
        (True, None),
        ([[[1.25]]], "float64"),
        (-4, "int32"),
        (1, "uint8"),
    ],
)
def test_item_matches_torch(data, dtype):
    ours = cr.tensor(data, dtype=None if dtype is None else getattr(cr, dtype))
    theirs = torch.tensor(data, dtype=None if dtype is None else getattr(torch, dtype))
    a, b = ours.item(), theirs.item()
    assert a == b
    assert type(a) is type(b)


def test_item_of_many_elements_raises_naming_shape():
    # PyTorch raises RuntimeError; chainrule may raise ValueError, but must name the shape
    with pytest.raises((ValueError, RuntimeError), match=r"\(2, 3\)"):
        cr.zeros(2, 3).item()
    with pytest.raises((ValueError, RuntimeError), match=r"\(0,\)"):
        cr.zeros(0).item()


@pytest.mark.parametrize(
    "data", [1.5, [1, 2, 3], [[1.5, 2.0], [3.0, 4.0]], [[True, False]], [], [[[1]], [[2]]], 7]
)
def test_tolist_matches_torch(data):
    a = cr.tensor(data).tolist()
    b = torch.tensor(data).tolist()
    assert a == b

    def types(x):
        return [types(v) for v in x] if isinstance(x, list) else type(x)

    assert types(a) == types(b)


@pytest.mark.parametrize(
    "target", ["float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool"]
)
def test_to_dtype_matches_torch(target):
    data = [[1.7, -1.2, 0.0], [2.5, 3.0, -0.5]]
    ours = cr.tensor(data).to(getattr(cr, target if target != "bool" else "bool_"))
    theirs = torch.tensor(data).to(getattr(torch, target))
    assert str(ours.dtype) == _tdtype(theirs)
    np.testing.assert_array_equal(ours._array, theirs.numpy())


def test_to_accepts_dtype_forms_and_cpu():
    t = cr.tensor([1.0, 2.0])
    assert t.to("float64").dtype == cr.float64
    assert t.to(np.float64).dtype == cr.float64
    assert t.to(dtype=cr.int32).dtype == cr.int32
    assert t.to("cpu") is t
    assert t.to(cr.float32) is t  # no change: the same tensor, as torch
    assert t.to() is t


@pytest.mark.parametrize(
    ("method", "dtype"),
    [
        ("float", "float32"),
        ("double", "float64"),
        ("half", "float16"),
        ("long", "int64"),
        ("int", "int32"),
        ("bool", "bool"),
    ],
)
def test_cast_methods_match_torch(method, dtype):
    data = [0.0, 1.9, -2.6, 3.0]
    ours = getattr(cr.tensor(data, dtype=cr.float64), method)()
    theirs = getattr(torch.tensor(data, dtype=torch.float64), method)()
    assert str(ours.dtype) == _tdtype(theirs) == dtype
    np.testing.assert_array_equal(ours._array, theirs.numpy())


def test_cast_methods_on_integers_match_torch():
    data = [0, 3, -2]
    for method in ("float", "double", "half", "bool", "int", "long"):
        ours = getattr(cr.tensor(data), method)()
        theirs = getattr(torch.tensor(data), method)()
        assert str(ours.dtype) == _tdtype(theirs)
        np.testing.assert_array_equal(ours._array, theirs.numpy())


def test_float_cast_is_differentiable():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == cr.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == cr.float32
    np.testing.assert_allclose(x.grad._array, [2.0, 4.0])


def test_integer_cast_cuts_the_graph():
    x = cr.tensor([1.5, 2.5], requires_grad=True)
    y = x.long()
    t = torch.tensor([1.5, 2.5], requires_grad=True).long()
    assert y.requires_grad == t.requires_grad is False
    assert y.tolist() == t.tolist()


def test_python_number_conversions():
    assert float(cr.tensor([2.5])) == 2.5
    assert int(cr.tensor(7.9)) == int(torch.tensor(7.9)) == 7
    assert int(cr.tensor([[-3]])) == -3
    with pytest.raises((ValueError, RuntimeError)):
        float(cr.tensor([1.0, 2.0]))


# ---------------------------------------------------------------------- repr
def test_repr_plain_like_torch():
    r = repr(cr.tensor([1.0, 2.0]))
    assert r.startswith("tensor(") and r.endswith(")")
    assert "1." in r and "2." in r
    assert "requires_grad" not in r and "grad_fn" not in r and "dtype" not in r


def test_repr_requires_grad_and_grad_fn():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert "requires_grad=True" in repr(x)
    assert "requires_grad=True" in repr(torch.tensor([1.0, 2.0], requires_grad=True))
    y = x * 2
    r = repr(y)
    assert r.startswith("tensor(") and "grad_fn=" in r and "Mul" in r
    assert "grad_fn=" in repr(torch.tensor([1.0], requires_grad=True) * 2)
    with cr.no_grad():
        assert "grad_fn" not in repr(x * 2)


def test_repr_shows_non_default_dtype_like_torch():
    for dt in ("float64", "int32", "float16", "uint8"):
        ours = repr(cr.tensor([1, 2], dtype=getattr(cr, dt)))
        theirs = repr(torch.tensor([1, 2], dtype=getattr(torch, dt)))
        assert f"dtype=torch.{dt}" in theirs
        assert f"dtype=cr.{dt}" in ours
    for data in ([1, 2], [1.5], [True]):
        assert "dtype" not in repr(cr.tensor(data))
        assert "dtype" not in repr(torch.tensor(data))
    # an empty int64 tensor names its dtype (its values cannot show it), as torch
    assert "int64" in repr(cr.zeros(0, dtype=cr.int64))
    assert "int64" in repr(torch.zeros(0, dtype=torch.int64))


def test_repr_of_large_tensor_is_summarised():
    r = repr(cr.zeros(10_000))
    assert "..." in r
    assert len(r) < 500


def test_repr_of_scalar():
    assert repr(cr.tensor(3)) == "tensor(3)" == repr(torch.tensor(3))
    assert repr(cr.tensor(True)) == "tensor(True)" == repr(torch.tensor(True))


# ----------------------------------------------------------- Python protocols
def test_len_and_iter_match_torch(pair):
    ours, theirs = pair
    assert len(ours) == len(theirs) == 2
    rows = list(ours)
    assert len(rows) == 2
    for r, tr in zip(rows, theirs, strict=True):
        assert isinstance(r, cr.Tensor)
        assert r.shape == tuple(tr.shape)
        np.testing.assert_array_equal(r._array, tr.numpy())
    assert [v.item() for v in cr.tensor([3, 1, 2])] == [3, 1, 2]
    assert len(cr.zeros(0, 4)) == 0 and list(cr.zeros(0, 4)) == []


def test_iter_is_differentiable():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    total = None
    for i, v in enumerate(x):
        total = v * (i + 1) if total is None else total + v * (i + 1)
    total.backward()
    np.testing.assert_array_equal(x.grad._array, [1.0, 2.0, 3.0])


def test_len_and_iter_of_zero_dim_raise():
    t = cr.tensor(1.0)
    with pytest.raises(TypeError, match="0-d"):
        len(t)
    with pytest.raises(TypeError, match="0-d"):
        iter(t)


@pytest.mark.parametrize("data", [0.0, 1.5, [0], [[2]], True, False, [-1]])
def test_bool_of_one_element_matches_torch(data):
    assert bool(cr.tensor(data)) is bool(torch.tensor(data))


def test_bool_of_many_elements_raises():
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(cr.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="ambiguous"):
        if cr.tensor([True, True]):
            pass
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(cr.zeros(0))


def test_index_protocol():
    lst = [10, 20, 30, 40]
    assert lst[cr.tensor(2)] == lst[torch.tensor(2)] == 30
    assert lst[cr.tensor([1])] == 20
    assert list(range(cr.tensor(3))) == [0, 1, 2]
    assert operator.index(cr.tensor(5, dtype=cr.int32)) == 5
    assert hex(cr.tensor(255)) == "0xff"
    with pytest.raises(TypeError, match="integer"):
        lst[cr.tensor(1.0)]
    with pytest.raises(TypeError, match="integer"):
        operator.index(cr.tensor([1, 2]))


def test_hash_is_identity():
    a, b = cr.tensor([1.0]), cr.tensor([1.0])
    assert len({a, b, a}) == 2
    assert {a: 1}[a] == 1


# --------------------------------------------------- Python scalars and dtypes
_CASES = [
    ("float32", operator.mul, 2.0),
    ("float32", operator.add, 2),
    ("float32", operator.truediv, 3),
    ("float32", operator.pow, 2),
    ("float32", operator.pow, 0.5),
    ("float32", operator.add, True),
    ("float16", operator.mul, 2.0),
    ("float16", operator.add, 1),
    ("float64", operator.add, 1.5),
    ("int64", operator.add, 2),
    ("int64", operator.mul, 3),
    ("int64", operator.mul, 2.5),  # int tensor with a float scalar -> default float
    ("int64", operator.truediv, 2),  # true division -> default float
    ("int64", operator.floordiv, 2),
    ("int64", operator.mod, 3),
    ("int32", operator.add, 2),
    ("int32", operator.mul, 1.5),
    ("int16", operator.sub, 1),
    ("int8", operator.add, 1),
    ("uint8", operator.add, 1),
    ("bool", operator.add, 1),
    ("bool", operator.mul, 1.5),
    ("bool", operator.and_, True),
]


def _make(dtype, shape):
    data = (np.arange(1, 1 + int(np.prod(shape)))).reshape(shape) % 3
    return cr.tensor(data.astype(dtype)), torch.tensor(data.astype(dtype))


@pytest.mark.parametrize("shape", [(3,), ()])
@pytest.mark.parametrize("reflected", [False, True])
@pytest.mark.parametrize(("dtype", "op", "scalar"), _CASES)
def test_python_scalars_do_not_change_dtype(dtype, op, scalar, shape, reflected):
    ours, theirs = _make(dtype, shape)
    if reflected:
        if op is operator.floordiv or op is operator.mod or op is operator.truediv:
            ours, theirs = ours + 1, theirs + 1  # avoid dividing by zero
        a, b = op(scalar, ours), op(scalar, theirs)
    else:
        a, b = op(ours, scalar), op(theirs, scalar)
    assert str(a.dtype) == _tdtype(b), f"{dtype} {op.__name__} {scalar!r}: {a.dtype}, torch {b.dtype}"
    assert a.shape == tuple(b.shape)
    np.testing.assert_allclose(a._array.astype(np.float64), b.double().numpy(), rtol=1e-3)


def test_named_scalar_dtype_rules():
    f32 = cr.tensor([1.0, 2.0])
    assert (f32 * 2.0).dtype == cr.float32
    assert (f32 + 2).dtype == cr.float32
    assert (2.0 * f32).dtype == cr.float32
    i64 = cr.tensor([1, 2])
    assert (i64 + 2).dtype == cr.int64
    assert (cr.tensor(1.0) * 2.0).dtype == cr.float32  # 0-d too


@pytest.mark.parametrize("scalar", [np.float64(2.0), np.float32(2.0), np.int64(2), np.bool_(True)])
@pytest.mark.parametrize("reflected", [False, True])
def test_numpy_scalars_behave_like_python_scalars(scalar, reflected):
    # PyTorch treats NumPy scalars like Python numbers: float32 * np.float64(2) stays float32
    ours, theirs = cr.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])
    a, b = (scalar * ours, scalar * theirs) if reflected else (ours * scalar, theirs * scalar)
    assert str(a.dtype) == _tdtype(b) == "float32"
    np.testing.assert_allclose(a._array, b.numpy())


def test_zero_dim_tensor_does_not_outrank_dimensioned_tensor():
    cases = [
        (np.float32, [1.0, 2.0], np.float64, 2.0),
        (np.int32, [1, 2], np.int64, 3),
        (np.int64, [1, 2], np.float64, 0.5),  # higher category: the 0-d tensor decides
        (np.float16, [1.0, 2.0], np.float64, 2.0),
    ]
    for d1, v1, d2, v2 in cases:
        a, b = cr.tensor(np.array(v1, d1)), cr.tensor(np.array(v2, d2))
        ta, tb = torch.tensor(np.array(v1, d1)), torch.tensor(np.array(v2, d2))
        assert str((a + b).dtype) == _tdtype(ta + tb)
        assert str((b * a).dtype) == _tdtype(tb * ta)


def test_inplace_ops_keep_dtype():
    t = cr.tensor([1.0, 2.0])
    t.add_(2.5)
    t.mul_(np.float64(2.0))
    assert t.dtype == cr.float32
    np.testing.assert_allclose(t._array, [7.0, 9.0])
    i = cr.tensor([1, 2])
    i.add_(3)
    assert i.dtype == cr.int64 and i.tolist() == [4, 5]


def test_format_spec_formats_one_element_tensors_as_numbers() -> None:
    assert f"{cr.tensor(3.14159):.2f}" == f"{torch.tensor(3.14159):.2f}" == "3.14"
    assert f"{cr.tensor([2.5]):.1f}" == "2.5"
    assert f"{cr.tensor([1.0, 2.0])}" == repr(cr.tensor([1.0, 2.0]))


def test_deepcopy_copies_leaves_and_refuses_graph_results() -> None:
    import copy

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    y = copy.deepcopy(x)
    assert y.requires_grad and y.is_leaf and y._array is not x._array
    np.testing.assert_array_equal(y._array, x._array)
    np.testing.assert_array_equal(y.grad._array, [3.0, 3.0])
    y._array[0] = 10.0
    assert x._array[0] == 1.0
    with pytest.raises(RuntimeError, match="leaf"):
        copy.deepcopy(x * 2)


def test_to_accepts_pytorch_call_forms_and_refuses_unavailable_devices() -> None:
    t = cr.ones(2)
    assert t.to("cpu") is t
    assert t.to(cr.float64).dtype == cr.float64
    assert t.to("cpu", cr.int64).dtype == cr.int64
    assert t.to(cr.ones(1, dtype=cr.float64)).dtype == cr.float64
    assert t.to(dtype=cr.float16).dtype == cr.float16
    assert t.to("strict").device == "strict:0"  # the tests' stand-in device, as "cuda" on a GPU
    if not cr.cuda.is_available():
        with pytest.raises(RuntimeError, match=r"'cuda' is not available: CuPy"):
            t.to("cuda")
        with pytest.raises(RuntimeError, match="not available"):
            t.to(device="cuda:0")


def test_devices_as_pytorch_on_the_cpu():
    d = cr.device("cpu")
    assert d == "cpu" and d == cr.device(d) and str(d) == "cpu" and repr(d) == repr(torch.device("cpu"))
    assert cr.device("cuda:1").index == 1 and cr.device("cuda", 0) != "cpu"
    assert cr.ones(2).device == d and hash(d) == hash(cr.device("cpu"))
    x = cr.zeros(2, 3, device=d)
    assert x.to(d) is x and x.to("cpu", cr.float64).dtype == cr.float64
    for make in (
        lambda dev: cr.tensor([1.0], device=dev),
        lambda dev: cr.ones(2, device=dev),
        lambda dev: cr.arange(3, device=dev),
        lambda dev: cr.randn(2, device=dev),
        lambda dev: cr.zeros_like(x, device=dev),
        lambda dev: cr.full((2,), 1.0, device=dev),
    ):
        assert make("cpu").device == "cpu"
        if not cr.cuda.is_available():
            with pytest.raises(RuntimeError, match="'cuda' is not available: CuPy"):
                make("cuda")
    if not cr.cuda.is_available():
        with pytest.raises(RuntimeError, match="not available"):
            x.to(cr.device("cuda"))
    with pytest.raises(RuntimeError, match="device type"):
        cr.device("gpu")


@pytest.mark.skipif(cr.cuda.is_available(), reason="a GPU is present")
def test_accelerator_queries_say_none_is_available():
    assert cr.cuda.is_available() is False and cr.cuda.device_count() == 0
    assert cr.accelerator.is_available() is False
    assert cr.backends.mps.is_available() is False
    cr.cuda.manual_seed(0)  # ignored without CUDA, as in PyTorch
    dev = cr.device("cuda" if cr.cuda.is_available() else "cpu")
    model = cr.nn.Linear(2, 1).to(dev)
    assert model(cr.ones(1, 2, device=dev)).device == dev
# ------------------------------------------------ like-tensor helpers (issue 15)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_new_tensor_family_follows_torch(dtype):
    ours, theirs = cr.tensor(np.zeros((2, 3), dtype)), torch.tensor(np.zeros((2, 3), dtype))
    for name, args, kw in [
        ("new_zeros", (2, 4), {}),
        ("new_zeros", ((3,),), {}),
        ("new_ones", ((2, 2),), {"dtype": "float64"}),
        ("new_full", ((2, 1), 7), {}),
        ("new_tensor", ([[1, 2], [3, 4]],), {}),
        ("new_empty", (0, 2), {}),
    ]:
        torch_kw = {k: getattr(torch, v) for k, v in kw.items()}
        ours_kw = {k: getattr(cr, v) for k, v in kw.items()}
        a, b = getattr(ours, name)(*args, **ours_kw), getattr(theirs, name)(*args, **torch_kw)
        assert a.shape == tuple(b.shape) and str(a.dtype) == str(b.dtype).replace("torch.", ""), name
        if name != "new_empty":
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert a.is_leaf and not a.requires_grad
    assert ours.new_zeros(2, requires_grad=True).requires_grad if dtype != np.int64 else True


def test_view_as_reshape_as_expand_as_type_as():
    x = np.arange(6, dtype=np.float32)
    other = np.zeros((2, 3), dtype=np.float64)
    for name in ("view_as", "reshape_as", "type_as"):
        check_against_torch(
            lambda t, o, n=name: getattr(t, n)(o),
            lambda t, o, n=name: getattr(t, n)(o),
            [x, other],
            grad=[True, False],
        )
    check_against_torch(
        lambda t, o: t.expand_as(o), lambda t, o: t.expand_as(o), [x[:3], other], grad=[True, False]
    )


def test_methods_of_the_wider_surface_exist():
    names = (
        "fmod remainder isclose tan asin acos atan atan2 sinh cosh asinh acosh atanh log2 log10 exp2 erf "
        "erfc erfinv logit frac sign sgn nan_to_num copysign lerp logaddexp logaddexp2 hypot xlogy square "
        "rsqrt cumprod cummax cummin logcumsumexp sort argsort topk kthvalue median mode unique roll movedim "
        "unflatten narrow tensor_split hsplit vsplit tile repeat_interleave unfold diagonal diag diag_embed "
        "scatter scatter_add scatter_reduce index_add index_copy index_fill masked_select masked_scatter "
        "take_along_dim mm outer cross trace norm new_zeros new_ones new_full new_tensor new_empty"
    )
    for name in names.split():
        assert hasattr(torch.Tensor, name), f"torch.Tensor has no {name}"
        assert hasattr(cr.Tensor, name), f"cr.Tensor has no {name}"
