"""Matrix products (matmul in every form, the @ operator, mm, bmm) against PyTorch.

Forward values and the gradients of both operands are compared with PyTorch
through ``check_against_torch``; every form is also checked by finite
differences in float64 through ``check_gradcheck``.
"""

from __future__ import annotations

import re

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from helpers import call, check_against_torch, check_gradcheck


def rand(shape: tuple[int, ...], dtype: type = np.float32, seed: int = 0) -> np.ndarray:
    return np.asarray(np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


# Every form of matmul: (name, shape of a, shape of b).
FORMS = [
    ("1-D @ 1-D", (4,), (4,)),
    ("2-D @ 1-D", (3, 4), (4,)),
    ("1-D @ 2-D", (4,), (4, 5)),
    ("2-D @ 2-D", (3, 4), (4, 5)),
    ("1x1 @ 1x1", (1, 1), (1, 1)),
    ("row @ column", (1, 4), (4, 1)),
    ("column @ row", (4, 1), (1, 3)),
    ("batched @ batched", (2, 3, 4), (2, 4, 5)),
    ("broadcast batch", (2, 1, 3, 4), (5, 4, 6)),
    ("batched @ 2-D", (2, 3, 4), (4, 5)),
    ("2-D @ batched", (3, 4), (2, 4, 5)),
    ("1-D @ batched", (4,), (2, 3, 4, 5)),
    ("batched @ 1-D", (2, 3, 3, 4), (4,)),
    ("size-1 batches both sides", (1, 3, 2, 4), (2, 1, 4, 3)),
    ("empty inner dim", (3, 0), (0, 2)),
    ("empty batch", (0, 2, 3), (3, 2)),
]


@pytest.mark.parametrize("name,sa,sb", FORMS, ids=[f[0] for f in FORMS])
def test_matmul_forms_against_torch(name: str, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    a, b = rand(sa, seed=1), rand(sb, seed=2)
    check_against_torch(cr.matmul, torch.matmul, [a, b])
    check_against_torch(lambda x, y: x @ y, lambda x, y: x @ y, [a, b])
    check_against_torch(lambda x, y: x.matmul(y), lambda x, y: x.matmul(y), [a, b])


@pytest.mark.parametrize("name,sa,sb", FORMS, ids=[f[0] for f in FORMS])
@pytest.mark.parametrize("which", [0, 1])
def test_matmul_gradient_of_one_operand(
    which: int, name: str, sa: tuple[int, ...], sb: tuple[int, ...]
) -> None:
    # Only one operand requires grad: the other gets none, and the one that does is still right.
    grad = [which == 0, which == 1]
    check_against_torch(cr.matmul, torch.matmul, [rand(sa, seed=1), rand(sb, seed=2)], grad=grad)


@pytest.mark.parametrize("name,sa,sb", FORMS, ids=[f[0] for f in FORMS])
def test_matmul_gradcheck(name: str, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    check_gradcheck(cr.matmul, [rand(sa, np.float64, 1), rand(sb, np.float64, 2)])


@pytest.mark.parametrize("name,sa,sb", FORMS, ids=[f[0] for f in FORMS])
def test_matmul_float64_against_torch(name: str, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    a, b = rand(sa, np.float64, 1), rand(sb, np.float64, 2)
    check_against_torch(cr.matmul, torch.matmul, [a, b], rtol=1e-12, atol=1e-12)


@st.composite
def matmul_shapes(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes matmul accepts: 1-D or n-D on each side, broadcastable batches."""
    n, k, m = (draw(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3)
    ).input_shapes
    a_vec, b_vec = draw(st.booleans()), draw(st.booleans())
    sa = (k,) if a_vec else batch_a + (n, k)
    sb = (k,) if b_vec else batch_b + (k, m)
    return sa, sb


@given(shapes=matmul_shapes())
def test_matmul_hypothesis(shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    sa, sb = shapes
    check_against_torch(lambda x, y: x @ y, lambda x, y: x @ y, [rand(sa, seed=1), rand(sb, seed=2)])


def test_matmul_long_inner_dim() -> None:
    # A float32 dot product over 512 terms: NumPy's and PyTorch's BLAS sum in different
    # orders and block sizes, so the rounding error (~sqrt(K) * eps * |terms|) exceeds rtol 1e-5.
    a, b = rand((3, 512), seed=1), rand((512, 4), seed=2)
    check_against_torch(cr.matmul, torch.matmul, [a, b], rtol=1e-4, atol=1e-4)
    check_against_torch(
        cr.matmul, torch.matmul, [rand((512,), seed=3), rand((512,), seed=4)], rtol=1e-4, atol=1e-4
    )


def test_matmul_integer_tensors() -> None:
    a = np.arange(6).reshape(2, 3)
    b = np.arange(12).reshape(3, 4) - 5
    check_against_torch(cr.matmul, torch.matmul, [a, b])


def test_matmul_broadcast_batch_gradient_sums_over_copies() -> None:
    # b is shared by the 2 x 5 batch: its gradient sums the 10 products a_i^T g_i.
    a = cr.tensor(np.ones((2, 5, 3, 4)), requires_grad=True)
    b = cr.tensor(np.ones((4, 6)), requires_grad=True)
    (a @ b).sum().backward()
    np.testing.assert_array_equal(b.grad._array, np.full((4, 6), 30.0))
    np.testing.assert_array_equal(a.grad._array, np.full((2, 5, 3, 4), 6.0))


def test_matmul_dot_gradients() -> None:
    a = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = cr.tensor(np.array([4.0, 5.0, 6.0]), requires_grad=True)
    out = a @ b
    assert out.shape == ()
    assert out.item() == 32.0
    out.backward()
    np.testing.assert_array_equal(a.grad._array, [4.0, 5.0, 6.0])
    np.testing.assert_array_equal(b.grad._array, [1.0, 2.0, 3.0])


def test_matmul_composes_with_views() -> None:
    def fn(x, w):
        return (x.reshape(2, 3, 4) @ w.T)[:, -1].mT @ x[:, 1:4]

    check_against_torch(fn, fn, [rand((2, 12), seed=1), rand((5, 4), seed=2)])
    check_gradcheck(fn, [rand((2, 12), seed=1), rand((5, 4), seed=2)])


def test_matmul_same_tensor_both_sides() -> None:
    check_against_torch(lambda x: x @ x, lambda x: x @ x, [rand((3, 3))])
    check_against_torch(lambda x: x @ x.T, lambda x: x @ x.T, [rand((3, 4))])
    check_gradcheck(lambda x: x @ x.T, [rand((2, 3))])


# ---------------------------------------------------------------- mm, bmm
@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((1, 2), (2, 1)), ((2, 0), (0, 3))])
def test_mm_against_torch(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    check_against_torch(cr.mm, torch.mm, [rand(sa, seed=1), rand(sb, seed=2)])
    check_gradcheck(cr.mm, [rand(sa, seed=1), rand(sb, seed=2)])


@pytest.mark.parametrize("sa,sb", [((2, 3, 4), (2, 4, 5)), ((1, 1, 3), (1, 3, 2)), ((3, 2, 2), (3, 2, 1))])
def test_bmm_against_torch(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    check_against_torch(cr.bmm, torch.bmm, [rand(sa, seed=1), rand(sb, seed=2)])
    check_gradcheck(cr.bmm, [rand(sa, seed=1), rand(sb, seed=2)])


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 4), (3, 2)),
        ((4,), (3,)),
        ((2, 3), (2,)),
        ((3,), (2, 3)),
        ((2, 3, 4), (2, 5, 6)),
        ((3, 4), (2, 3, 2)),
    ],
)
def test_matmul_inner_dim_mismatch_raises(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    a, b = cr.zeros(*sa), cr.zeros(*sb)
    pattern = rf"matmul.*{_shape_re(sa)}.*{_shape_re(sb)}"
    with pytest.raises(ValueError, match=pattern):
        cr.matmul(a, b)
    with pytest.raises(ValueError, match=pattern):
        a @ b


def _shape_re(shape: tuple[int, ...]) -> str:
    return re.escape(str(shape))


def test_matmul_batch_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="matmul"):
        cr.zeros(2, 3, 4) @ cr.zeros(3, 4, 5)


def test_matmul_scalar_operand_raises() -> None:
    with pytest.raises(ValueError, match=r"matmul.*\(\)"):
        cr.tensor(2.0) @ cr.zeros(3)
    with pytest.raises(ValueError, match=r"matmul.*\(\)"):
        cr.matmul(cr.zeros(3), cr.tensor(2.0))
    with pytest.raises(TypeError, match="matmul"):
        cr.matmul(cr.zeros(3), 2.0)


def test_mm_and_bmm_shape_errors() -> None:
    with pytest.raises(ValueError, match=r"mm.*\(3,\)"):
        cr.mm(cr.zeros(3), cr.zeros(3, 2))
    with pytest.raises(ValueError, match=r"mm.*\(2, 3, 4\)"):
        cr.mm(cr.zeros(3, 4), cr.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="matmul"):
        cr.mm(cr.zeros(3, 4), cr.zeros(3, 4))
    with pytest.raises(ValueError, match=r"bmm.*\(2, 3, 4\).*\(3, 4, 5\)"):
        cr.bmm(cr.zeros(2, 3, 4), cr.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="bmm"):
        cr.bmm(cr.zeros(3, 4), cr.zeros(4, 5))
    with pytest.raises(ValueError, match="matmul"):
        cr.bmm(cr.zeros(2, 3, 4), cr.zeros(2, 3, 4))


# ---------------------------------------------------------------- einsum and the other products
EINSUMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("i,i->", [(4,), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("iij->ji", [(3, 3, 2)]),
    ("ij->", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ijk->k", [(2, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("b...,b->...", [(2, 3, 4), (2,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("i,i,i->i", [(3,), (3,), (3,)]),
    ("ij,kj->ik", [(1, 4), (3, 4)]),
    ("ij,j->i", [(3, 4), (1,)]),
    ("ab,ab->a", [(0, 3), (0, 3)]),
    ("i j , j k -> i k", [(2, 3), (3, 2)]),
]


@pytest.mark.parametrize("equation, shapes", EINSUMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_einsum_matches_torch(equation, shapes, dtype):
    ops = [rand(s, dtype, seed=i) for i, s in enumerate(shapes)]
    check_against_torch(
        lambda *t: cr.einsum(equation, *t), lambda *t: torch.einsum(equation, *t), ops, atol=1e-5
    )
    check_against_torch(
        lambda *t: cr.einsum(equation, list(t)), lambda *t: torch.einsum(equation, list(t)), ops, atol=1e-5
    )


@pytest.mark.parametrize("equation, shapes", EINSUMS)
def test_einsum_gradcheck(equation, shapes):
    check_gradcheck(
        lambda *t: cr.einsum(equation, *t), [rand(s, np.float64, seed=i) for i, s in enumerate(shapes)]
    )


def test_einsum_errors_name_the_op():
    with pytest.raises(ValueError, match="einsum"):
        cr.einsum("ij,jk->ik", cr.zeros(2, 3), cr.zeros(4, 5))
    with pytest.raises(ValueError, match="einsum"):
        cr.einsum("ij->i", cr.zeros(2, 3, 4))


@pytest.mark.parametrize(
    "sa, sb, dims",
    [
        ((3, 4, 5), (4, 5, 2), 2),
        ((3, 4), (4, 2), 1),
        ((2, 3), (4,), 0),
        ((3, 4, 5), (5, 3), ([0, 2], [1, 0])),
        ((3, 4), (4, 3), ([1], [0])),
    ],
)
def test_tensordot(sa, sb, dims):
    a, b = rand(sa, np.float32, 0), rand(sb, np.float32, 1)
    check_against_torch(
        lambda x, y: cr.tensordot(x, y, dims), lambda x, y: torch.tensordot(x, y, dims), [a, b], atol=1e-5
    )
    check_gradcheck(lambda x, y: cr.tensordot(x, y, dims), [a, b])


@pytest.mark.parametrize("form", ["function", "method"])
def test_outer_trace_mm(form):
    a, b = rand((3,), np.float32, 0), rand((4,), np.float32, 1)
    check_against_torch(
        lambda x, y: call(cr, form, "outer", x, y), lambda x, y: call(torch, form, "outer", x, y), [a, b]
    )
    m = rand((3, 4), np.float32, 2)
    check_against_torch(lambda x: call(cr, form, "trace", x), lambda x: call(torch, form, "trace", x), [m])
    check_against_torch(
        lambda x: call(cr, form, "trace", x), lambda x: call(torch, form, "trace", x), [m.T.copy()]
    )
    n = rand((4, 2), np.float32, 3)
    check_against_torch(
        lambda x, y: call(cr, form, "mm", x, y), lambda x, y: call(torch, form, "mm", x, y), [m, n]
    )
    check_gradcheck(cr.outer, [a, b])
    check_gradcheck(cr.trace, [m])


@pytest.mark.parametrize(
    "sa, sb, dim",
    [
        ((3,), (3,), None),
        ((4, 3), (4, 3), 1),
        ((3, 5), (3, 1), 0),
        ((2, 3, 3), (1, 1, 3), -1),
        ((2, 3, 3), (2, 3, 3), None),
    ],
)
@pytest.mark.parametrize("form", ["function", "method"])
def test_cross(sa, sb, dim, form):
    a, b = rand(sa, np.float32, 0), rand(sb, np.float32, 1)
    kw = {} if dim is None else {"dim": dim}
    if dim is None:  # the first dim of size 3 (torch warns without dim)
        kw = {"dim": next(i for i, n in enumerate(np.broadcast_shapes(sa, sb)) if n == 3)}
        np.testing.assert_array_equal(
            cr.cross(cr.tensor(a), cr.tensor(b)).numpy(), cr.cross(cr.tensor(a), cr.tensor(b), **kw).numpy()
        )
    check_against_torch(
        lambda x, y: call(cr, form, "cross", x, y, **kw),
        lambda x, y: call(torch, form, "cross", x, y, **kw),
        [a, b],
    )
    if len(sa) == len(sb) and np.broadcast_shapes(sa, sb)[-1] == 3:
        check_against_torch(lambda x, y: cr.linalg.cross(x, y), lambda x, y: torch.linalg.cross(x, y), [a, b])
    check_gradcheck(lambda x, y: cr.cross(x, y, **kw), [a, b])


# ------------------------------------------------------------------------- norms
@st.composite
def norm_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    n = max(len(shape), 1)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        dim = None
    elif kind == "int":
        dim = draw(st.integers(-n, n - 1))
    else:
        dim = tuple(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True)))
    return rand(shape, draw(st.sampled_from([np.float32, np.float64])), draw(st.integers(0, 99))), dim


@settings(max_examples=25)
@given(
    case=norm_case(),
    order=st.sampled_from([2, 1, 3, 0.5, float("inf"), float("-inf"), 0]),
    keepdim=st.booleans(),
)
def test_vector_norm(case, order, keepdim):
    x, dim = case
    if order == float("-inf") or order == float("inf"):
        if x.size == 0:
            return  # PyTorch refuses the max of nothing too
        x[np.abs(x) == np.abs(x).max()] *= 1.0  # ties are split evenly in both libraries
    if order == 0.5:
        x = np.where(x == 0, 1.0, x).astype(x.dtype)
    check_against_torch(
        lambda t: cr.linalg.vector_norm(t, order, dim, keepdim=keepdim),
        lambda t: torch.linalg.vector_norm(t, order, dim, keepdim=keepdim),
        [x],
        rtol=1e-4,
        atol=1e-5,
    )


@settings(max_examples=25)
@given(
    case=norm_case(),
    p=st.sampled_from(["fro", 2, 1, 3]),
    keepdim=st.booleans(),
    form=st.sampled_from(["function", "method"]),
)
def test_torch_norm(case, p, keepdim, form):
    x, dim = case
    if p == "fro" and isinstance(dim, tuple) and len(dim) > 2:
        dim = dim[:2]  # PyTorch's "fro" takes at most two dims
    check_against_torch(
        lambda t: call(cr, form, "norm", t, p, dim, keepdim=keepdim),
        lambda t: call(torch, form, "norm", t, p, dim, keepdim=keepdim),
        [x],
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("order", ["fro", "nuc", 1, -1, 2, -2, float("inf"), float("-inf")])
@pytest.mark.parametrize("shape, dim", [((3, 4), (-2, -1)), ((2, 3, 4), (0, 2)), ((2, 4, 3), (2, 1))])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm(order, shape, dim, keepdim):
    x = rand(shape, np.float64, 0)
    check_against_torch(
        lambda t: cr.linalg.matrix_norm(t, order, dim, keepdim),
        lambda t: torch.linalg.matrix_norm(t, order, dim, keepdim),
        [x],
        rtol=1e-7,
        atol=1e-8,
    )
    check_gradcheck(lambda t: cr.linalg.matrix_norm(t, order, dim, keepdim), [x])


@pytest.mark.parametrize(
    "shape, order, dim",
    [
        ((5,), None, None),
        ((3, 4), None, None),
        ((3, 4), "fro", None),
        ((3, 4), 2, None),
        ((3, 4), 1, 1),
        ((2, 3, 4), None, (1, 2)),
        ((2, 3, 4), 3, -1),
        ((4,), float("inf"), None),
    ],
)
def test_linalg_norm(shape, order, dim):
    x = rand(shape, np.float64, 0)
    check_against_torch(
        lambda t: cr.linalg.norm(t, order, dim), lambda t: torch.linalg.norm(t, order, dim), [x]
    )
    check_gradcheck(lambda t: cr.linalg.norm(t, order, dim), [x])


def test_norms_gradcheck_and_zero_vectors():
    x = rand((3, 4), np.float64, 0)
    for p in (2, 1, 3, 1.5):
        check_gradcheck(lambda t, p=p: cr.linalg.vector_norm(t, p, 1), [x])
    z = np.zeros((2, 3))
    check_against_torch(
        lambda t: cr.linalg.vector_norm(t, 2, 1), lambda t: torch.linalg.vector_norm(t, 2, 1), [z]
    )
    check_against_torch(cr.linalg.svdvals, torch.linalg.svdvals, [x])
    check_gradcheck(cr.linalg.svdvals, [x])


@pytest.mark.parametrize(
    ("sa", "sb"), [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (3, 4))]
)
@pytest.mark.parametrize("form", ["matmul", "@", "mm", "bmm"])
def test_matmul_refuses_mixed_dtypes(sa, sb, form):
    # PyTorch raises ("expected m1 and m2 to have the same dtype"); the product was silently float64
    if (form == "mm" and (len(sa), len(sb)) != (2, 2)) or form == "bmm":
        sa, sb = ((2, 3), (3, 4)) if form == "mm" else ((5, 2, 3), (5, 3, 4))
    fn = {"matmul": cr.matmul, "@": lambda x, y: x @ y, "mm": cr.mm, "bmm": cr.bmm}[form]
    tfn = {"matmul": torch.matmul, "@": lambda x, y: x @ y, "mm": torch.mm, "bmm": torch.bmm}[form]
    a32, b64 = np.ones(sa, np.float32), np.ones(sb, np.float64)
    with pytest.raises(RuntimeError):
        tfn(torch.tensor(a32), torch.tensor(b64))
    with pytest.raises(TypeError, match=r"matmul: .*same dtype.*float32.*float64"):
        fn(cr.tensor(a32), cr.tensor(b64))
    with pytest.raises(TypeError, match=r"matmul: .*same dtype.*int64.*float32"):
        fn(cr.tensor(a32.astype(np.int64)), cr.tensor(b64.astype(np.float32)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vector_norm_p1_gradient_at_nan_and_zero(dtype):
    # d||a||_1 = sign(a) with PyTorch's sign(nan) = 0: the other elements keep their gradient
    # (was: NumPy's sign, nan at the NaN)
    x = np.array([[np.nan, 1.0, 0.0, -2.0], [0.5, -0.0, 3.0, -1.0]], dtype)
    check_against_torch(lambda t: cr.linalg.vector_norm(t, 1), lambda t: torch.linalg.vector_norm(t, 1), [x])
    check_against_torch(lambda t: t.norm(p=1, dim=1), lambda t: t.norm(p=1, dim=1), [x])
    check_against_torch(lambda t: t.norm(p=3, dim=-1), lambda t: t.norm(p=3, dim=-1), [x])
