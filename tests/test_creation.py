"""Making tensors: cr.tensor and friends, constant fills, ranges, random draws and the seeded generator.

Dtype rules and values are compared with PyTorch wherever PyTorch defines them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import chainrule as cr


def _tdtype(t: torch.Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


def assert_like_torch(ours: cr.Tensor, theirs: torch.Tensor, **tol: float) -> None:
    """Same shape, same dtype, same values."""
    assert isinstance(ours, cr.Tensor)
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype) == _tdtype(theirs)
    np.testing.assert_allclose(ours._array.astype(np.float64), theirs.double().numpy(), **tol)


@pytest.fixture
def default_float64():
    cr.set_default_dtype(cr.float64)
    try:
        yield
    finally:
        cr.set_default_dtype(cr.float32)


# ------------------------------------------------------------------ cr.tensor
@pytest.mark.parametrize(
    "data",
    [
        1.5,
        3,
        True,
        [1.0, 2.0],
        [1, 2, 3],
        [True, False],
        [[1, 2], [3, 4]],
        [1, 2.5],  # mixed int/float -> float
        [True, 2],  # mixed bool/int -> int
        [[0.5], [1.5]],
        [],
        -7,
    ],
)
def test_tensor_dtype_inference_matches_torch(data):
    assert_like_torch(cr.tensor(data), torch.tensor(data))


@pytest.mark.parametrize(
    "dtype", [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_]
)
def test_tensor_keeps_numpy_dtype(dtype):
    arr = np.arange(6).reshape(2, 3).astype(dtype)
    t = cr.tensor(arr)
    assert t.dtype == np.dtype(dtype)
    assert_like_torch(t, torch.tensor(arr))


def test_tensor_from_numpy_scalars_keeps_their_dtype():
    assert cr.tensor(np.float64(1.5)).dtype == cr.float64
    assert cr.tensor(np.float32(1.5)).dtype == cr.float32
    assert cr.tensor(np.int32(3)).dtype == cr.int32
    assert str(torch.tensor(np.float64(1.5)).dtype) == "torch.float64"


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (cr.float64, np.float64),
        (cr.int32, np.int32),
        (np.float16, np.float16),
        (np.dtype("int8"), np.int8),
        ("float64", np.float64),
        ("int64", np.int64),
        ("bool", np.bool_),
        (float, np.float32),
        (int, np.int64),
    ],
)
def test_tensor_dtype_argument_forms(dtype, expected):
    t = cr.tensor([1.0, 0.0, 2.0], dtype=dtype)
    assert t.dtype == np.dtype(expected)
    np.testing.assert_array_equal(t._array, np.array([1.0, 0.0, 2.0]).astype(expected))


def test_tensor_dtype_argument_converts_like_torch():
    # float -> int truncates toward zero, in both libraries
    assert_like_torch(
        cr.tensor([1.7, -1.7, 2.5], dtype=cr.int64), torch.tensor([1.7, -1.7, 2.5], dtype=torch.int64)
    )
    assert_like_torch(cr.tensor([0, 2, -1], dtype=cr.bool), torch.tensor([0, 2, -1], dtype=torch.bool))


def test_tensor_float64_from_python_floats_is_exact():
    # no detour through float32
    assert cr.tensor([0.1], dtype=cr.float64).item() == 0.1
    assert cr.tensor(0.1, dtype=cr.float64).item() == 0.1


def test_tensor_from_python_follows_default_dtype(default_float64):
    assert cr.tensor(1.5).dtype == cr.float64
    assert cr.tensor([1, 2]).dtype == cr.int64
    assert cr.zeros(2).dtype == cr.float64
    assert cr.arange(0.0, 1.0, 0.5).dtype == cr.float64
    assert cr.rand(2).dtype == cr.float64


def test_tensor_ragged_list_raises_clearly():
    with pytest.raises(ValueError, match="cannot make a tensor"):
        cr.tensor([[1, 2], [3]])
    with pytest.raises(ValueError, match="cannot make a tensor"):
        cr.tensor([[1.0], [2.0, 3.0]])


def test_tensor_rejects_strings_and_objects():
    with pytest.raises(TypeError, match="cannot make a tensor"):
        cr.tensor(["a", "b"])
    with pytest.raises(TypeError, match="cannot make a tensor"):
        cr.tensor([object()])


@pytest.mark.parametrize("value", [2**63, [1, 2**63], 2**64, [0, 2**70]])
def test_tensor_python_int_out_of_int64_range_raises(value):
    # PyTorch refuses these too (overflow); they must not wrap around silently
    with pytest.raises(OverflowError, match="out of range for int64"):
        cr.tensor(value)
    with pytest.raises((RuntimeError, OverflowError, ValueError)):
        torch.tensor(value)


def test_tensor_int64_extremes_are_kept():
    t = cr.tensor([-(2**63), 2**63 - 1])
    assert t.dtype == cr.int64
    assert t.tolist() == [-(2**63), 2**63 - 1]


def test_tensor_copies_numpy_array():
    arr = np.array([1.0, 2.0], dtype=np.float32)
    t = cr.tensor(arr)
    assert not np.shares_memory(t._array, arr)
    arr[0] = 100.0
    assert t.tolist() == [1.0, 2.0]


def test_tensor_copies_tensor_and_cuts_graph():
    src = cr.tensor([1.0, 2.0], requires_grad=True)
    t = cr.tensor(src)
    assert not np.shares_memory(t._array, src._array)
    assert t.is_leaf and not t.requires_grad
    assert t.tolist() == [1.0, 2.0]


def test_tensor_requires_grad_flag():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None


def test_tensor_requires_grad_on_integers_raises():
    with pytest.raises(RuntimeError, match="int64"):
        cr.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating"):
        cr.zeros(2, dtype=cr.int32, requires_grad=True)


# -------------------------------------------------------- as_tensor, from_numpy
def test_as_tensor_shares_memory_when_dtype_matches():
    arr = np.array([1.0, 2.0, 3.0])
    t = cr.as_tensor(arr)
    assert t.dtype == cr.float64  # numpy dtype kept, as torch.as_tensor
    assert np.shares_memory(t._array, arr)
    arr[1] = 20.0
    assert t.tolist() == [1.0, 20.0, 3.0]
    assert str(torch.as_tensor(arr).dtype) == "torch.float64"


def test_as_tensor_copies_when_dtype_changes():
    arr = np.array([1.0, 2.0, 3.0])
    t = cr.as_tensor(arr, dtype=cr.float32)
    assert t.dtype == cr.float32
    assert not np.shares_memory(t._array, arr)


def test_as_tensor_of_tensor():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    assert cr.as_tensor(t) is t
    assert cr.as_tensor(t, dtype=cr.float32) is t
    d = cr.as_tensor(t, dtype=cr.float64)
    assert d.dtype == cr.float64 and d.tolist() == [1.0, 2.0]


def test_as_tensor_from_python_data():
    assert_like_torch(cr.as_tensor([1.5, 2.5]), torch.as_tensor([1.5, 2.5]))
    assert_like_torch(cr.as_tensor([1, 2]), torch.as_tensor([1, 2]))


def test_from_numpy_shares_memory_both_ways():
    arr = np.arange(6, dtype=np.int32).reshape(2, 3)
    t = cr.from_numpy(arr)
    assert t.dtype == cr.int32 and t.shape == (2, 3)
    assert np.shares_memory(t._array, arr)
    arr[0, 0] = 42
    assert t.tolist()[0][0] == 42
    t[1, 2] = -1
    assert arr[1, 2] == -1


def test_from_numpy_rejects_non_arrays_and_unsupported_dtypes():
    with pytest.raises(TypeError, match=r"numpy\.ndarray"):
        cr.from_numpy([1, 2])
    with pytest.raises(TypeError, match="complex128"):
        cr.from_numpy(np.array([1j]))
    with pytest.raises(TypeError, match="uint64"):
        cr.from_numpy(np.array([1], dtype=np.uint64))


# ---------------------------------------------------------- unsupported dtypes
@pytest.mark.parametrize(
    "make",
    [
        lambda: cr.tensor([1 + 2j]),
        lambda: cr.tensor(1j),
        lambda: cr.tensor(np.array([1 + 1j], dtype=np.complex64)),
        lambda: cr.tensor([1.0], dtype=np.complex64),
        lambda: cr.tensor([1.0], dtype="complex128"),
        lambda: cr.zeros(2, dtype=np.complex128),
        lambda: cr.ones(2, dtype=np.complex64),
        lambda: cr.full((2,), 1 + 1j),
        lambda: cr.tensor([1.0]).to(np.complex64),
        lambda: cr.ones(2) * np.complex128(1j),
    ],
)
def test_complex_dtypes_raise_type_error(make):
    # chainrule has no complex dtypes: they must not be created silently
    with pytest.raises(TypeError, match="complex"):
        make()


def test_unknown_dtype_raises_type_error():
    with pytest.raises(TypeError, match="dtype"):
        cr.zeros(2, dtype="not-a-dtype")
    with pytest.raises(TypeError, match="unsupported dtype"):
        cr.zeros(2, dtype=np.uint64)


def test_dtype_aliases():
    assert cr.float is cr.float32
    assert cr.double is cr.float64
    assert cr.half is cr.float16
    assert cr.long is cr.int64
    assert cr.int is cr.int32
    assert cr.short is cr.int16
    assert cr.bool is cr.bool_
    for ours, theirs in [
        (cr.float, torch.float),
        (cr.double, torch.double),
        (cr.half, torch.half),
        (cr.long, torch.long),
        (cr.int, torch.int),
        (cr.short, torch.short),
        (cr.bool, torch.bool),
        (cr.uint8, torch.uint8),
        (cr.int8, torch.int8),
    ]:
        assert "torch." + str(ours) == str(theirs)
        assert cr.zeros(1, dtype=ours).dtype == ours


def test_default_dtype_is_float32():
    assert cr.get_default_dtype() == cr.float32
    with pytest.raises(TypeError, match="floating"):
        cr.set_default_dtype(cr.int64)
    assert cr.get_default_dtype() == cr.float32


# ------------------------------------------------------------ constant fills
@pytest.mark.parametrize("fn", ["zeros", "ones", "empty"])
@pytest.mark.parametrize("size", [(2, 3), ((2, 3),), ([2, 3],), (4,), ((),), (0, 2), ((1, 1, 2),)])
def test_fill_shapes_varargs_or_tuple(fn, size):
    ours = getattr(cr, fn)(*size)
    theirs = getattr(torch, fn)(*size)
    assert ours.shape == tuple(theirs.shape)
    assert ours.dtype == cr.float32
    assert ours.is_leaf and not ours.requires_grad
    if fn != "empty":
        assert_like_torch(ours, theirs)


@pytest.mark.parametrize("fn", ["zeros", "ones"])
@pytest.mark.parametrize("dtype", ["float64", "int32", "int64", "bool", "uint8", "float16"])
def test_fill_dtype_argument(fn, dtype):
    ours = getattr(cr, fn)(2, 2, dtype=getattr(cr, dtype if dtype != "bool" else "bool_"))
    theirs = getattr(torch, fn)(2, 2, dtype=getattr(torch, dtype))
    assert_like_torch(ours, theirs)


def test_fill_requires_grad():
    t = cr.ones(2, 3, requires_grad=True)
    assert t.requires_grad and t.is_leaf
    (t * 2).sum().backward()
    np.testing.assert_array_equal(t.grad._array, np.full((2, 3), 2.0, np.float32))


def test_fill_size_errors():
    with pytest.raises((ValueError, RuntimeError), match="negative"):
        cr.zeros(2, -1)
    with pytest.raises(TypeError, match="tuple of ints"):
        cr.zeros(2.5)
    with pytest.raises(TypeError, match="tuple of ints"):
        cr.ones((2, 1.5))


def test_fill_accepts_numpy_integers_as_sizes():
    assert cr.zeros(np.int64(2), np.int32(3)).shape == (2, 3)


@pytest.mark.parametrize("value", [1.5, 2, True, False, -3, 0.0])
def test_full_dtype_from_fill_value(value):
    assert_like_torch(cr.full((2, 3), value), torch.full((2, 3), value))


def test_full_forms():
    assert_like_torch(cr.full(3, 7), torch.full((3,), 7))
    assert_like_torch(cr.full([2, 2], 1.5, dtype=cr.float64), torch.full([2, 2], 1.5, dtype=torch.float64))
    assert_like_torch(cr.full((2,), 2.7, dtype=cr.int64), torch.full((2,), 2.7, dtype=torch.int64))
    t = cr.full((2,), 3.0, requires_grad=True)
    assert t.requires_grad and t.is_leaf


@pytest.mark.parametrize(
    ("n", "m", "dtype"),
    [(3, None, None), (2, 4, None), (4, 2, None), (3, 3, "int64"), (1, None, "float64"), (0, None, None)],
)
def test_eye_matches_torch(n, m, dtype):
    kw = {} if dtype is None else {"dtype": getattr(cr, dtype)}
    tkw = {} if dtype is None else {"dtype": getattr(torch, dtype)}
    ours = cr.eye(n, m, **kw)
    theirs = torch.eye(n, m, **tkw) if m is not None else torch.eye(n, **tkw)
    assert_like_torch(ours, theirs)


# ------------------------------------------------------------------- ranges
@pytest.mark.parametrize(
    "args",
    [
        (5,),
        (0,),
        (2, 9),
        (0, 10, 3),
        (5, 0, -1),
        (10, 0, -3),
        (5.0,),
        (0, 1, 0.1),
        (0, 0.3, 0.1),
        (1, 2.2, 0.4),
        (0, -1, -0.3),
        (-3, 3, 2.5),
        (0.5, 4),
        (1, 1),
        (np.int64(4),),
    ],
)
def test_arange_matches_torch(args):
    ours = cr.arange(*args)
    theirs = torch.arange(*args)
    assert_like_torch(ours, theirs, rtol=1e-6, atol=1e-6)


def test_arange_int_vs_float():
    assert cr.arange(5).dtype == cr.int64
    assert cr.arange(0, 5, 1).dtype == cr.int64
    assert cr.arange(5.0).dtype == cr.float32
    assert cr.arange(0, 5, 0.5).dtype == cr.float32
    assert cr.arange(5, dtype=cr.float64).dtype == cr.float64
    assert_like_torch(cr.arange(5, dtype=cr.float64), torch.arange(5, dtype=torch.float64))
    assert_like_torch(cr.arange(0, 3, 0.5, dtype=cr.float64), torch.arange(0, 3, 0.5, dtype=torch.float64))


def test_arange_zero_step_raises():
    with pytest.raises(ValueError, match="step must be nonzero"):
        cr.arange(0, 5, 0)


@pytest.mark.parametrize("args", [(0, 10, -1), (5, 0, 1), (0.0, -1.0, 0.5)])
def test_arange_step_sign_inconsistent_raises(args):
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        torch.arange(*args)
    with pytest.raises(ValueError, match="inconsistent with step sign"):
        cr.arange(*args)


def test_arange_requires_grad():
    t = cr.arange(0.0, 3.0, requires_grad=True)
    assert t.requires_grad and t.is_leaf


@pytest.mark.parametrize(
    ("start", "end", "steps"),
    [(0, 1, 5), (-2, 2, 9), (3, -3, 4), (0, 1, 1), (0, 1, 0), (0.5, 0.5, 3), (0, 10, 101)],
)
def test_linspace_matches_torch(start, end, steps):
    assert_like_torch(cr.linspace(start, end, steps), torch.linspace(start, end, steps), rtol=1e-6, atol=1e-6)


def test_linspace_dtype():
    assert_like_torch(
        cr.linspace(0, 1, 7, dtype=cr.float64), torch.linspace(0, 1, 7, dtype=torch.float64), rtol=1e-12
    )
    assert_like_torch(cr.linspace(0, 10, 5, dtype=cr.int64), torch.linspace(0, 10, 5, dtype=torch.int64))


# ------------------------------------------------------------- random draws
@pytest.mark.parametrize("size", [(3,), (2, 3), ((2, 3),), ([4, 1, 2],), ((),), (0,)])
def test_rand_randn_shapes(size):
    expected = tuple(torch.rand(*size).shape)
    for fn in (cr.rand, cr.randn):
        t = fn(*size)
        assert t.shape == expected
        assert t.dtype == cr.float32
        assert t.is_leaf and not t.requires_grad


@pytest.mark.parametrize("dtype", [cr.float16, cr.float32, cr.float64])
def test_rand_range_and_dtype(dtype):
    t = cr.rand(200_000, dtype=dtype)
    assert t.dtype == dtype
    assert t._array.min() >= 0.0
    assert t._array.max() < 1.0  # [0, 1): never 1.0, even after rounding to float16
    assert abs(float(t._array.astype(np.float64).mean()) - 0.5) < 0.01
    # spread over the whole interval
    hist, _ = np.histogram(t._array.astype(np.float64), bins=10, range=(0.0, 1.0))
    assert hist.min() > 15_000


@pytest.mark.parametrize("dtype", [cr.float16, cr.float32, cr.float64])
def test_randn_moments_and_dtype(dtype):
    t = cr.randn(100_000, dtype=dtype)
    assert t.dtype == dtype
    x = t._array.astype(np.float64)
    assert abs(x.mean()) < 0.02
    assert abs(x.std() - 1.0) < 0.02
    assert (x < 0).any() and (x > 0).any()


@pytest.mark.parametrize("fn", [cr.rand, cr.randn])
@pytest.mark.parametrize("dtype", [cr.int64, cr.int32, cr.bool, cr.uint8])
def test_rand_randn_reject_non_float_dtypes(fn, dtype):
    # PyTorch refuses these (rand of an integer dtype is not implemented)
    with pytest.raises(TypeError, match="floating-point dtype"):
        fn(3, dtype=dtype)


def test_rand_requires_grad():
    t = cr.randn(2, 2, requires_grad=True)
    assert t.requires_grad and t.is_leaf


def test_randint_forms_and_range():
    a = cr.randint(5, (1000,))
    assert a.shape == (1000,) and a.dtype == cr.int64
    assert set(np.unique(a._array).tolist()) == {0, 1, 2, 3, 4}
    b = cr.randint(-3, 3, (10, 100))
    assert b.shape == (10, 100)
    assert b._array.min() == -3 and b._array.max() == 2
    c = cr.randint(2, 4, size=(50,))
    assert set(np.unique(c._array).tolist()) == {2, 3}
    d = cr.randint(0, 10, [3, 4], dtype=cr.int32)
    assert d.dtype == cr.int32 and d.shape == (3, 4)
    assert str(torch.randint(5, (3,)).dtype) == "torch.int64"
    assert tuple(torch.randint(-3, 3, (10, 100)).shape) == b.shape


def test_randint_errors():
    with pytest.raises((ValueError, RuntimeError), match="high"):
        cr.randint(5, 5, (2,))
    with pytest.raises((ValueError, RuntimeError), match="high"):
        cr.randint(0, (2,))
    with pytest.raises(TypeError, match="randint"):
        cr.randint(1, 2, 3, 4)


@pytest.mark.parametrize("n", [0, 1, 10, 257])
def test_randperm(n):
    p = cr.randperm(n)
    assert p.dtype == cr.int64 and p.shape == (n,)
    assert sorted(p.tolist()) == list(range(n))
    assert str(torch.randperm(n).dtype) == "torch.int64"


def test_randperm_shuffles():
    p = cr.randperm(100)
    assert p.tolist() != list(range(100))


# -------------------------------------------------------------- *_like forms
@pytest.fixture
def proto():
    return cr.tensor(np.arange(6, dtype=np.float64).reshape(2, 3), requires_grad=True)


def test_zeros_ones_empty_like(proto):
    tp = torch.tensor(proto._array, requires_grad=True)
    for name in ("zeros_like", "ones_like"):
        ours = getattr(cr, name)(proto)
        assert_like_torch(ours, getattr(torch, name)(tp))
        assert not ours.requires_grad
    e = cr.empty_like(proto)
    assert e.shape == (2, 3) and e.dtype == cr.float64
    assert cr.zeros_like(proto, dtype=cr.int32).dtype == cr.int32
    assert cr.ones_like(proto, requires_grad=True).requires_grad


def test_full_like(proto):
    tp = torch.tensor(proto._array)
    assert_like_torch(cr.full_like(proto, 7.5), torch.full_like(tp, 7.5))
    ti = cr.tensor([[1, 2], [3, 4]])
    # the dtype comes from the tensor, not from the value (as torch)
    assert_like_torch(cr.full_like(ti, 2.7), torch.full_like(torch.tensor([[1, 2], [3, 4]]), 2.7))
    tti = torch.tensor([[1, 2], [3, 4]])
    assert_like_torch(cr.full_like(ti, 2.5, dtype=cr.float32), torch.full_like(tti, 2.5, dtype=torch.float32))


def test_rand_like_randn_like_randint_like(proto):
    r = cr.rand_like(proto)
    assert r.shape == (2, 3) and r.dtype == cr.float64
    assert ((r._array >= 0) & (r._array < 1)).all()
    n = cr.randn_like(proto, dtype=cr.float32)
    assert n.shape == (2, 3) and n.dtype == cr.float32
    ri = cr.randint_like(proto, 10)
    assert ri.shape == (2, 3) and ri.dtype == cr.float64
    assert ((ri._array >= 0) & (ri._array < 10) & (ri._array == np.floor(ri._array))).all()
    ri2 = cr.randint_like(cr.zeros(500, dtype=cr.int64), 3, 5)
    assert ri2.dtype == cr.int64
    assert set(np.unique(ri2._array).tolist()) == {3, 4}


def test_rand_like_of_integer_tensor_raises():
    with pytest.raises(TypeError, match="floating-point dtype"):
        cr.rand_like(cr.tensor([1, 2]))


# ------------------------------------------------------- seeds and generators
def _draws() -> list[np.ndarray]:
    t = cr.empty(4)
    with cr.no_grad():
        t.uniform_(-1.0, 1.0)
    u = t._array.copy()
    t2 = cr.empty(3)
    t2.normal_(2.0, 0.5)
    return [
        cr.rand(3, 2)._array.copy(),
        cr.randn(5)._array.copy(),
        cr.randint(0, 100, (6,))._array.copy(),
        cr.randperm(8)._array.copy(),
        cr.rand(2, dtype=cr.float16)._array.copy(),
        cr.randn(2, dtype=cr.float64)._array.copy(),
        u,
        t2._array.copy(),
    ]


def test_manual_seed_makes_every_draw_reproducible():
    cr.manual_seed(1234)
    first = _draws()
    cr.manual_seed(1234)
    second = _draws()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_different_seeds_differ():
    cr.manual_seed(1)
    a = _draws()
    cr.manual_seed(2)
    b = _draws()
    assert not np.array_equal(a[0], b[0])
    assert not np.array_equal(a[1], b[1])
    assert not np.array_equal(a[2], b[2])


def test_consecutive_draws_differ():
    cr.manual_seed(0)
    assert not np.array_equal(cr.rand(10)._array, cr.rand(10)._array)


def test_manual_seed_returns_generator_and_checks_type():
    g = cr.manual_seed(7)
    assert isinstance(g, cr.Generator)
    assert g.initial_seed() == 7
    assert torch.manual_seed(7).initial_seed() == 7
    with pytest.raises(TypeError, match="int"):
        cr.manual_seed(1.5)
    with pytest.raises(TypeError, match="int"):
        cr.manual_seed("3")


def test_manual_seed_accepts_large_and_numpy_ints():
    cr.manual_seed(np.int64(3))
    a = cr.rand(3)._array.copy()
    cr.manual_seed(3)
    np.testing.assert_array_equal(a, cr.rand(3)._array)
    cr.manual_seed(2**70 + 5)
    cr.manual_seed(-1)
    assert cr.rand(2).shape == (2,)


def test_rng_state_round_trip():
    cr.manual_seed(5)
    cr.rand(7)  # move away from the seed's start
    state = cr.get_rng_state()
    a = _draws()
    cr.set_rng_state(state)
    b = _draws()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_rng_state_is_a_json_safe_snapshot():
    cr.manual_seed(5)
    state = cr.get_rng_state()
    restored = json.loads(json.dumps(state))
    a = cr.randn(4)._array.copy()
    # drawing did not change the snapshot already taken
    assert json.loads(json.dumps(state)) == restored
    cr.set_rng_state(restored)
    np.testing.assert_array_equal(cr.randn(4)._array, a)


def test_generator_objects_are_independent_of_global_stream():
    g1 = cr.Generator(42)
    g2 = cr.Generator(42)
    np.testing.assert_array_equal(cr.rand(5, generator=g1)._array, cr.rand(5, generator=g2)._array)
    np.testing.assert_array_equal(cr.randn(5, generator=g1)._array, cr.randn(5, generator=g2)._array)
    np.testing.assert_array_equal(
        cr.randint(10, (5,), generator=g1)._array, cr.randint(10, (5,), generator=g2)._array
    )
    np.testing.assert_array_equal(cr.randperm(9, generator=g1)._array, cr.randperm(9, generator=g2)._array)

    # a private generator does not advance the global one
    cr.manual_seed(3)
    expected = cr.rand(4)._array.copy()
    cr.manual_seed(3)
    cr.rand(100, generator=cr.Generator(0))
    np.testing.assert_array_equal(cr.rand(4)._array, expected)


def test_generator_seed_state_and_reseed():
    g = cr.Generator()
    g.manual_seed(11)
    assert g.initial_seed() == 11
    state = g.get_state()
    a = cr.rand(3, generator=g)._array.copy()
    g.set_state(state)
    np.testing.assert_array_equal(cr.rand(3, generator=g)._array, a)
    g.manual_seed(11)
    np.testing.assert_array_equal(cr.rand(3, generator=g)._array, a)
    assert g.manual_seed(12) is g


def test_unseeded_generators_differ():
    a = cr.rand(8, generator=cr.Generator())._array
    b = cr.rand(8, generator=cr.Generator())._array
    assert not np.array_equal(a, b)
