"""The autograd engine: graph walk, accumulation, graph freeing, grad modes, Functions and gradcheck."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.autograd import Function
from helpers import check_against_torch, check_gradcheck


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _pair(arr: np.ndarray) -> tuple[cr.Tensor, torch.Tensor]:
    return cr.tensor(arr, requires_grad=True), torch.tensor(arr, requires_grad=True)


@pytest.fixture(autouse=True)
def _grad_mode_restored():
    """Every test starts and must end with gradient recording on."""
    assert cr.is_grad_enabled()
    yield
    ok = cr.is_grad_enabled()
    cr.set_grad_enabled(True)
    assert ok, "the test left gradient recording disabled"


# ----------------------------------------------------------- graph structure
def test_diamond_graph_matches_torch():
    x = _rng().standard_normal((3, 4)).astype(np.float32)

    def f(lib, x):
        a = lib.sin(x)  # branch 1
        b = x * 2 + 1  # branch 2
        c = a * b  # the branches rejoin
        return (c + lib.exp(a)).sum(dim=0)

    check_against_torch(lambda t: f(cr, t), lambda t: f(torch, t), [x])


def test_nested_diamonds_with_broadcast_match_torch():
    x = _rng(1).standard_normal((2, 3)).astype(np.float64)
    w = _rng(2).standard_normal((3,)).astype(np.float64)

    def f(lib, x, w):
        h = x * w  # w broadcast over rows
        a = lib.tanh(h)
        b = h * h
        c = a + b  # diamond 1 on h
        d = c * x  # x reused after the diamond
        e = d.sum(dim=1, keepdim=True) * c  # diamond 2 on c
        return e + w

    check_against_torch(lambda a, b: f(cr, a, b), lambda a, b: f(torch, a, b), [x, w])
    check_gradcheck(lambda a, b: f(cr, a, b), [x, w])


def test_tensor_used_many_times_accumulates():
    ours, theirs = _pair(np.array([-1.5, 0.5, 2.0], dtype=np.float32))
    (ours * ours * ours + ours).sum().backward()
    (theirs * theirs * theirs + theirs).sum().backward()
    np.testing.assert_allclose(ours.grad._array, theirs.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.grad._array, 3 * ours._array**2 + 1, rtol=1e-6)


def test_same_tensor_as_both_operands_and_repeated_sum():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x + x + x + x
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad._array, 32 * x._array)


def test_interior_tensor_used_many_times_matches_torch():
    x = _rng(3).standard_normal((4,)).astype(np.float32)

    def f(x):
        h = x * 3
        return h * h + h - h.exp() * h

    check_against_torch(f, f, [x])


def test_multiple_roots_backward_matches_torch():
    ours, theirs = _pair(np.array([0.5, -1.0, 2.0]))
    y1, y2 = ours.exp().sum(), (ours * ours).sum()
    t1, t2 = theirs.exp().sum(), (theirs * theirs).sum()
    cr.autograd.backward([y1, y2])
    torch.autograd.backward([t1, t2])
    np.testing.assert_allclose(ours.grad._array, theirs.grad.numpy())


def test_backward_with_explicit_gradient_matches_torch():
    ours, theirs = _pair(np.array([[1.0, 2.0], [3.0, 4.0]]))
    g = np.array([[1.0, -1.0], [0.5, 2.0]])
    (ours * ours).backward(cr.tensor(g))
    (theirs * theirs).backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad._array, theirs.grad.numpy())


def test_gradient_only_to_inputs_that_require_it():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0])
    (a * b).sum().backward()
    np.testing.assert_array_equal(a.grad._array, [3.0, 4.0])
    assert b.grad is None


def test_unused_leaf_keeps_grad_none():
    a = cr.tensor([1.0], requires_grad=True)
    unused = cr.tensor([1.0], requires_grad=True)
    (a * 2).sum().backward()
    assert unused.grad is None


def test_deep_chain_does_not_recurse():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        x = cr.tensor(1.0, dtype=cr.float64, requires_grad=True)
        y = x
        for i in range(10_000):
            y = y * 1.0001 if i % 2 == 0 else y + 0.5
        y.backward()
        del y
    finally:
        sys.setrecursionlimit(old)
    np.testing.assert_allclose(x.grad.item(), 1.0001**5000, rtol=1e-10)


def test_deep_chain_matches_torch_and_can_be_retained():
    ours, theirs = _pair(np.array([0.3, -0.2]))
    y, t = ours, theirs
    for i in range(10_000):
        if i % 3 == 0:
            y, t = y * 0.9999, t * 0.9999
        elif i % 3 == 1:
            y, t = y + 0.001, t + 0.001
        else:
            y, t = y.sin() * 0.5 + y * 0.5, t.sin() * 0.5 + t * 0.5
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        y.sum().backward(retain_graph=True)
        y.sum().backward()
    finally:
        sys.setrecursionlimit(old)
    t.sum().backward()
    np.testing.assert_allclose(ours.grad._array, 2 * theirs.grad.numpy(), rtol=1e-9)


def test_deleting_a_deep_unused_graph_is_safe():
    x = cr.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(50_000):
        y = y + 1.0
    ref = weakref.ref(y)
    del y
    assert ref() is None


# ------------------------------------------------------------ accumulation
def test_grad_accumulates_across_backward_calls():
    ours, theirs = _pair(np.array([1.0, -2.0, 0.5], dtype=np.float32))
    for _ in range(2):
        (ours * ours).sum().backward()
        (theirs * theirs).sum().backward()
    np.testing.assert_allclose(ours.grad._array, theirs.grad.numpy())
    np.testing.assert_allclose(ours.grad._array, 4 * ours._array)


def test_zero_grad_by_setting_none():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    first = x.grad
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_array_equal(x.grad._array, [5.0, 5.0])
    np.testing.assert_array_equal(first._array, [3.0, 3.0])  # the old gradient is untouched


def test_zero_grad_in_place():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    x.grad.zero_()
    (x * 5).sum().backward()
    np.testing.assert_array_equal(x.grad._array, [5.0, 5.0])


def test_grad_does_not_alias_upstream_gradient():
    # d(sum)/dx is a broadcast view of one value; .grad must own its memory
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x.sum().backward()
    x.grad._array[0] = 100.0
    np.testing.assert_array_equal(x.grad._array, [100.0, 1.0, 1.0])
    # two leaves fed by the same upstream gradient get separate arrays
    a = cr.tensor([1.0, 1.0], requires_grad=True)
    b = cr.tensor([1.0, 1.0], requires_grad=True)
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad._array, b.grad._array)


# -------------------------------------------------------- retain_graph / freeing
def test_retain_graph_allows_second_backward():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    once = x.grad._array.copy()
    y.backward()
    np.testing.assert_allclose(x.grad._array, 2 * once)
    tx = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    ty = (tx.exp() * tx).sum()
    ty.backward(retain_graph=True)
    ty.backward()
    np.testing.assert_allclose(x.grad._array, tx.grad.numpy(), rtol=1e-6)


def test_second_backward_without_retain_graph_raises():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"(?s)(second time|freed).*retain_graph"):
        y.backward()


def test_backward_through_freed_subgraph_raises():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 2).sum().backward()


def _saved_array_ref(retain_graph: bool | None):
    x = cr.tensor(np.ones(100_000), requires_grad=True)
    h = x * 2.0  # an interior array, saved by the next Mul
    ref = weakref.ref(h._array)
    y = (h * h).sum()
    del h
    if retain_graph is not None:
        y.backward(retain_graph=retain_graph)
    return ref, y


def test_backward_frees_saved_arrays():
    ref, y = _saved_array_ref(retain_graph=False)
    assert ref() is None, "the saved interior array outlived backward()"
    assert y.requires_grad


def test_saved_arrays_kept_without_backward_or_with_retain_graph():
    ref, y = _saved_array_ref(retain_graph=None)
    assert ref() is not None
    ref2, y2 = _saved_array_ref(retain_graph=True)
    assert ref2() is not None
    del y, y2
    assert ref() is None and ref2() is None


def test_custom_function_ctx_released_after_backward():
    class Square(Function):
        def forward(ctx, x):
            ctx.x = x
            return x * x

        def backward(ctx, g):
            return 2 * ctx.x * g

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = Square.apply(x)
    node = y.grad_fn
    assert hasattr(node, "x")
    y.sum().backward()
    assert not hasattr(node, "x"), "the node kept what it saved for backward"
    np.testing.assert_array_equal(x.grad._array, [2.0, 4.0])


# ---------------------------------------------------------------- retain_grad
def test_retain_grad_on_interior_tensor_matches_torch():
    ours, theirs = _pair(np.array([1.0, 2.0]))
    h, th = ours * 3, theirs * 3
    h.retain_grad()
    th.retain_grad()
    assert h.retains_grad
    h2 = h * 2
    ((h * h2).sum()).backward()
    ((th * (th * 2)).sum()).backward()
    assert isinstance(h.grad, cr.Tensor)
    np.testing.assert_allclose(h.grad._array, th.grad.numpy())
    np.testing.assert_allclose(ours.grad._array, theirs.grad.numpy())
    assert h2.grad is None  # not retained


def test_interior_tensor_without_retain_grad_has_none():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    (h * h).sum().backward()
    assert h.grad is None
    assert not h.retains_grad


def test_retain_grad_on_leaf_is_noop_and_on_constant_raises():
    x = cr.tensor([1.0], requires_grad=True)
    x.retain_grad()
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad._array, [2.0])
    with pytest.raises(RuntimeError, match="require"):
        cr.tensor([1.0]).retain_grad()


def test_is_leaf_and_grad_fn():
    x = cr.tensor([1.0], requires_grad=True)
    c = cr.tensor([1.0])
    assert x.is_leaf and x.grad_fn is None
    assert c.is_leaf and c.grad_fn is None
    y = x * c
    assert not y.is_leaf
    assert isinstance(y.grad_fn, Function)
    assert "Mul" in y.grad_fn.name()
    z = c * 2
    assert z.is_leaf and z.grad_fn is None and not z.requires_grad


def test_requires_grad_false_on_non_leaf_raises():
    y = cr.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad = False
    with pytest.raises(RuntimeError, match="leaf"):
        torch.tensor([1.0], requires_grad=True).mul(2).requires_grad_(False)


# ---------------------------------------------------------------- grad modes
def test_no_grad_context_manager():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = x * 2 + x.exp()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    with torch.no_grad():
        assert not (torch.tensor([1.0], requires_grad=True) * 2).requires_grad


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(ValueError, match="boom"), cr.no_grad():
        raise ValueError("boom")
    assert cr.is_grad_enabled()


def test_enable_grad_nested_in_no_grad():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        with cr.enable_grad():
            assert cr.is_grad_enabled()
            y = x * 2
            with cr.no_grad():
                z = x * 2
            w = x * 2
        v = x * 2
        assert not cr.is_grad_enabled()
    assert y.requires_grad and w.requires_grad
    assert not z.requires_grad and not v.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad._array, [2.0])


def test_no_grad_and_enable_grad_as_called_decorators():
    x = cr.tensor([1.0], requires_grad=True)

    @cr.no_grad()
    def frozen(t):
        assert not cr.is_grad_enabled()
        return t * 2

    @cr.enable_grad()
    def recorded(t):
        return t * 2

    assert frozen.__name__ == "frozen"
    assert not frozen(x).requires_grad
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert recorded(x).requires_grad
        assert not cr.is_grad_enabled()
    # nested decorated calls
    assert not cr.no_grad()(lambda: recorded(x) * 1)().requires_grad
    assert cr.no_grad()(lambda: recorded(x))().requires_grad


def test_no_grad_and_enable_grad_as_bare_decorators():
    # PyTorch accepts @torch.no_grad and @torch.enable_grad without parentheses
    @torch.no_grad
    def tf(t):
        return t * 2

    assert not tf(torch.ones(1, requires_grad=True)).requires_grad

    x = cr.tensor([1.0], requires_grad=True)

    @cr.no_grad
    def frozen(t):
        return t * 2

    @cr.enable_grad
    def recorded(t):
        return t * 2

    assert not frozen(x).requires_grad
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert recorded(x).requires_grad


def test_set_grad_enabled_forms():
    x = cr.tensor([1.0], requires_grad=True)
    with cr.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with cr.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    cr.set_grad_enabled(False)  # a plain call switches the mode, as torch
    try:
        assert not cr.is_grad_enabled()
        assert not (x * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_set_grad_enabled_as_decorator_leaves_mode_alone():
    # torch.set_grad_enabled(False) used as a decorator does not switch the mode at decoration time
    @torch.set_grad_enabled(False)
    def tf(t):
        return t * 2

    assert torch.is_grad_enabled()

    x = cr.tensor([1.0], requires_grad=True)
    try:

        @cr.set_grad_enabled(False)
        def frozen(t):
            return t * 2

        assert cr.is_grad_enabled(), "decorating with set_grad_enabled(False) disabled recording globally"
        assert not frozen(x).requires_grad
        assert cr.is_grad_enabled()
        assert (x * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)


def test_detach_shares_data_and_cuts_graph():
    ours, theirs = _pair(np.array([1.0, 2.0, 3.0]))
    d = ours.detach()
    assert np.shares_memory(d._array, ours._array)
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    (ours.detach() * ours).sum().backward()
    (theirs.detach() * theirs).sum().backward()
    np.testing.assert_allclose(ours.grad._array, theirs.grad.numpy())
    np.testing.assert_array_equal(ours.grad._array, ours._array)  # not 2 * x
    h = ours * 2
    hd = h.detach()
    assert hd.is_leaf and not hd.requires_grad
    np.testing.assert_array_equal(hd._array, h._array)


def test_detach_in_place():
    x = cr.tensor([1.0], requires_grad=True)
    y = x * 2
    assert y.detach_() is y
    assert y.is_leaf and not y.requires_grad and y.grad_fn is None


def test_requires_grad_():
    x = cr.tensor([1.0, 2.0])
    assert x.requires_grad_() is x
    assert x.requires_grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad._array, [2.0, 4.0])
    x.requires_grad_(False)
    assert not x.requires_grad


# ------------------------------------------------------------- backward errors
def test_backward_on_non_scalar_needs_gradient():
    y = cr.tensor([[1.0, 2.0]], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"scalar.*\(1, 2\)"):
        y.backward()
    with pytest.raises(RuntimeError, match="scalar"):
        (torch.ones(1, 2, requires_grad=True) * 2).backward()


def test_backward_with_wrong_gradient_shape():
    y = cr.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"shape \(3,\).*\(2,\)"):
        y.backward(cr.ones(3))
    with pytest.raises(RuntimeError, match="shape"):
        y.backward(np.ones((2, 1)))


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor([1.0, 2.0]).sum().backward()
    x = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_backward_on_leaf_itself():
    x = cr.tensor(2.0, requires_grad=True)
    x.backward()
    tx = torch.tensor(2.0, requires_grad=True)
    tx.backward()
    assert x.grad.item() == tx.grad.item() == 1.0


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool", "uint8"])
def test_integer_tensors_cannot_require_grad(dtype):
    with pytest.raises(RuntimeError, match=dtype):
        cr.tensor([1, 0], dtype=getattr(cr, dtype if dtype != "bool" else "bool_"), requires_grad=True)
    t = cr.tensor([1, 0], dtype=getattr(cr, dtype if dtype != "bool" else "bool_"))
    with pytest.raises(RuntimeError, match=dtype):
        t.requires_grad_()
    with pytest.raises(RuntimeError, match=dtype):
        t.requires_grad = True
    assert not t.requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        torch.tensor([1, 2]).requires_grad_()


def test_int64_default_error_message():
    with pytest.raises(RuntimeError, match="int64"):
        cr.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="int64"):
        cr.tensor([1, 2]).requires_grad_()


# ------------------------------------------------------------- in-place ops
_INPLACE = {
    "add_": lambda t: t.add_(1.0),
    "sub_": lambda t: t.sub_(1.0),
    "mul_": lambda t: t.mul_(2.0),
    "div_": lambda t: t.div_(2.0),
    "zero_": lambda t: t.zero_(),
    "fill_": lambda t: t.fill_(3.0),
    "copy_": lambda t: t.copy_(cr.tensor([5.0, 6.0])),
    "clamp_": lambda t: t.clamp_(0.0, 1.5),
    "__setitem__": lambda t: t.__setitem__(0, 9.0),
}
_EXPECTED = {
    "add_": [2.0, 3.0],
    "sub_": [0.0, 1.0],
    "mul_": [2.0, 4.0],
    "div_": [0.5, 1.0],
    "zero_": [0.0, 0.0],
    "fill_": [3.0, 3.0],
    "copy_": [5.0, 6.0],
    "clamp_": [1.0, 1.5],
    "__setitem__": [9.0, 2.0],
}


@pytest.mark.parametrize("name", list(_INPLACE))
def test_inplace_on_leaf_requiring_grad_raises(name):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"(?i)in-place.*leaf"):
        _INPLACE[name](x)
    assert x.tolist() == [1.0, 2.0]
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        tx.add_(1.0)


@pytest.mark.parametrize("name", list(_INPLACE))
def test_inplace_on_leaf_works_under_no_grad(name):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.no_grad():
        out = _INPLACE[name](x)
    if name != "__setitem__":
        assert out is x
    assert x.tolist() == _EXPECTED[name]
    assert x.requires_grad and x.is_leaf
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad._array, [2.0, 2.0])


@pytest.mark.parametrize("name", list(_INPLACE))
def test_inplace_on_plain_and_detached_tensors(name):
    x = cr.tensor([1.0, 2.0])
    _INPLACE[name](x)
    assert x.tolist() == _EXPECTED[name]
    leaf = cr.tensor([1.0, 2.0], requires_grad=True)
    _INPLACE[name](leaf.detach())
    assert leaf.tolist() == _EXPECTED[name]  # detach() shares the data


# ------------------------------------------------------- cr.autograd.grad
def test_autograd_grad_returns_without_touching_grad():
    ours, theirs = _pair(np.array([1.0, 2.0, 3.0]))
    w, tw = _pair(np.array([0.5, -1.0, 2.0]))
    (gx, gw) = cr.autograd.grad((ours * w).exp().sum(), [ours, w])
    (tgx, tgw) = torch.autograd.grad((theirs * tw).exp().sum(), [theirs, tw])
    np.testing.assert_allclose(gx._array, tgx.numpy())
    np.testing.assert_allclose(gw._array, tgw.numpy())
    assert isinstance(gx, cr.Tensor) and not gx.requires_grad
    assert ours.grad is None and w.grad is None


def test_autograd_grad_single_input_and_interior():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    out = (h * 3).sum()
    (gh,) = cr.autograd.grad(out, h, retain_graph=True)
    np.testing.assert_array_equal(gh._array, [3.0, 3.0])
    (gx,) = cr.autograd.grad(out, x)
    np.testing.assert_array_equal(gx._array, [6.0, 12.0])
    assert x.grad is None and h.grad is None


def test_autograd_grad_with_grad_outputs():
    ours, theirs = _pair(np.array([1.0, 2.0]))
    g = np.array([3.0, -1.0])
    (a,) = cr.autograd.grad(ours * ours, ours, cr.tensor(g))
    (b,) = torch.autograd.grad(theirs * theirs, theirs, torch.tensor(g))
    np.testing.assert_allclose(a._array, b.numpy())


def test_autograd_grad_allow_unused():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    unused = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        cr.autograd.grad((x * 2).sum(), [x, unused])
    gx, gu = cr.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    np.testing.assert_array_equal(gx._array, [2.0, 2.0])
    assert gu is None
    assert x.grad is None and unused.grad is None


def test_autograd_grad_frees_graph_unless_retained():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    cr.autograd.grad(y, x, retain_graph=True)
    (g,) = cr.autograd.grad(y, x)
    np.testing.assert_array_equal(g._array, [2.0, 4.0])
    with pytest.raises(RuntimeError, match="retain_graph"):
        cr.autograd.grad(y, x)


def test_autograd_grad_inputs_must_require_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.autograd.grad((x * 2).sum(), cr.tensor([1.0]))


def test_autograd_grad_and_retained_grads_like_torch():
    # torch.autograd.grad still fills the .grad of interior tensors that retain it, never of leaves
    ours, theirs = _pair(np.array([1.0, 2.0]))
    h, th = ours * 2, theirs * 2
    h.retain_grad()
    th.retain_grad()
    cr.autograd.grad((h * h).sum(), ours)
    torch.autograd.grad((th * th).sum(), theirs)
    assert ours.grad is None and theirs.grad is None
    assert (h.grad is None) == (th.grad is None)
    if th.grad is not None:
        np.testing.assert_allclose(h.grad._array, th.grad.numpy())


# ------------------------------------------------------ user-defined Functions
class Cube(Function):
    """Instance-method style: ctx is self."""

    def forward(ctx, x):
        ctx.x = x
        return x**3

    def backward(ctx, g):
        return 3 * ctx.x**2 * g


class ScaledSquare(Function):
    """PyTorch style: static methods, save_for_backward, a non-tensor argument."""

    @staticmethod
    def forward(ctx, x, k):
        ctx.save_for_backward(x)
        ctx.k = k
        return k * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, False)
        return 2 * ctx.k * x * g, None


class MulAdd(Function):
    """Two tensor inputs, one of which may not require grad; broadcasting handled by the engine."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b + a

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * (b + 1), g * a


def test_instance_style_function():
    x = cr.tensor([1.0, -2.0, 0.5], requires_grad=True)
    y = Cube.apply(x)
    assert isinstance(y, cr.Tensor) and y.requires_grad
    assert isinstance(y.grad_fn, Cube)
    np.testing.assert_allclose(y._array, x._array**3)
    y.sum().backward()
    np.testing.assert_allclose(x.grad._array, 3 * x._array**2)


def test_static_style_function():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = ScaledSquare.apply(x, 3.0)
    (y * cr.tensor([1.0, 0.5])).sum().backward()
    np.testing.assert_allclose(x.grad._array, [6.0, 6.0])


def test_function_in_a_larger_graph_matches_torch():
    a = _rng(4).standard_normal((3, 4)).astype(np.float64)
    b = _rng(5).standard_normal((4,)).astype(np.float64)
    check_against_torch(
        lambda x, y: MulAdd.apply(Cube.apply(x), y).sin(),
        lambda x, y: ((x**3) * y + x**3).sin(),
        [a, b],
    )
    check_gradcheck(lambda x, y: MulAdd.apply(Cube.apply(x), y), [a, b])


def test_function_outputs_under_no_grad_and_without_grad_inputs():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.no_grad():
        y = Cube.apply(x)
    assert not y.requires_grad and y.grad_fn is None
    z = Cube.apply(cr.tensor([1.0, 2.0]))
    assert not z.requires_grad and z.grad_fn is None
    np.testing.assert_array_equal(z._array, [1.0, 8.0])


def test_function_gradient_for_input_without_grad_is_ignored():
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0])
    MulAdd.apply(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad._array, [4.0, 5.0])
    assert b.grad is None


# ------------------------------------------------------------------ gradcheck
class WrongCube(Function):
    def forward(ctx, x):
        ctx.x = x
        return x**3

    def backward(ctx, g):
        return 2 * ctx.x * g  # deliberately wrong: should be 3 x^2


class WrongSecond(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a * b

    @staticmethod
    def backward(ctx, g):
        return g * ctx.b, g * ctx.a * 1.5  # the second gradient is wrong


def test_gradcheck_passes_on_correct_functions():
    x = cr.tensor(_rng(6).standard_normal((2, 3)), requires_grad=True)
    w = cr.tensor(_rng(7).standard_normal((3,)), requires_grad=True)
    assert cr.autograd.gradcheck(lambda a, b: (a * b).exp().sum(dim=1), [x, w]) is True
    assert cr.autograd.gradcheck(Cube.apply, [x]) is True
    assert cr.autograd.gradcheck(lambda a: a.tanh(), x) is True
    assert x.grad is None and w.grad is None  # gradcheck leaves .grad alone


def test_gradcheck_leaves_inputs_unchanged():
    data = _rng(8).standard_normal((4,))
    x = cr.tensor(data.copy(), requires_grad=True)
    cr.autograd.gradcheck(lambda a: a.sin(), [x])
    np.testing.assert_array_equal(x._array, data)


def test_gradcheck_reports_wrong_backward():
    x = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64, requires_grad=True)
    with pytest.raises(cr.autograd.GradcheckError, match=r"input 0 element 0"):
        cr.autograd.gradcheck(WrongCube.apply, [x])
    assert issubclass(cr.autograd.GradcheckError, RuntimeError)


def test_gradcheck_names_the_wrong_input():
    a = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    b = cr.tensor([3.0, 4.0], dtype=cr.float64, requires_grad=True)
    with pytest.raises(cr.autograd.GradcheckError, match=r"input 1 element 0.*analytic.*numerical"):
        cr.autograd.gradcheck(WrongSecond.apply, [a, b])
    # the right input alone passes
    assert cr.autograd.gradcheck(lambda x: WrongSecond.apply(x, b.detach()), [a])


def test_gradcheck_names_a_later_element():
    class WrongLast(Function):
        def forward(ctx, x):
            return x * 2

        def backward(ctx, g):
            out = g * 2
            out = out.copy()
            out[..., -1] = 0.0
            return out

    x = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64, requires_grad=True)
    with pytest.raises(cr.autograd.GradcheckError, match=r"input 0 element 2"):
        cr.autograd.gradcheck(WrongLast.apply, [x])


def test_gradcheck_returns_false_without_raising():
    x = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    assert cr.autograd.gradcheck(WrongCube.apply, [x], raise_exception=False) is False
    assert cr.autograd.gradcheck(Cube.apply, [x], raise_exception=False) is True


def test_gradcheck_rejects_float32():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"float32.*float64"):
        cr.autograd.gradcheck(Cube.apply, [x])


def test_gradcheck_needs_an_input_requiring_grad():
    with pytest.raises(ValueError, match="requires grad"):
        cr.autograd.gradcheck(lambda a: a * 2, [cr.tensor([1.0], dtype=cr.float64)])


def test_gradcheck_with_non_tensor_arguments():
    x = cr.tensor([0.5, 1.5], dtype=cr.float64, requires_grad=True)
    assert cr.autograd.gradcheck(ScaledSquare.apply, [x, 2.5])


def test_gradcheck_under_no_grad_still_works():
    x = cr.tensor([0.5, 1.5], dtype=cr.float64, requires_grad=True)
    with cr.no_grad():
        assert cr.autograd.gradcheck(lambda a: a.exp(), [x])
    assert cr.is_grad_enabled()


# --------------------------------------------------------------- no cycles
def _graphs():
    x = cr.tensor(_rng(9).standard_normal((3, 4)), requires_grad=True)
    w = cr.tensor(_rng(10).standard_normal((4, 2)), requires_grad=True)
    return x, w


_BUILDERS = {
    "elementwise": lambda x, w: ((x * 2 + 1).exp() / (x.abs() + 1) - x.sigmoid()).tanh().sum(),
    "matmul_reduce": lambda x, w: (x @ w).relu().mean() + x.max() + x.var(),
    "shape": lambda x, w: (x.reshape(4, 3).T[1:, ::2] * 2).flatten().sum() + cr.cat([x, x], 0).sum(),
    "softmax": lambda x, w: (x.softmax(-1) * x.log_softmax(1)).sum() + x.logsumexp(0).sum(),
    "index": lambda x, w: x[0].sum() + x[:, [0, 2]].pow(2).sum() + x.unsqueeze(0).squeeze(0).sum(),
    "custom": lambda x, w: MulAdd.apply(Cube.apply(x), x).sum(),
}


@pytest.mark.parametrize("backward", ["none", "backward", "retain"])
@pytest.mark.parametrize("name", list(_BUILDERS))
def test_graph_has_no_reference_cycles(name, backward):
    gc.collect()
    gc.disable()
    try:
        x, w = _graphs()
        out = _BUILDERS[name](x, w)
        refs = [weakref.ref(out), weakref.ref(out.grad_fn)]
        if backward == "backward":
            out.backward()
        elif backward == "retain":
            out.backward(retain_graph=True)
        del out
        alive = [r() for r in refs if r() is not None]
        assert not alive, f"{name}: {alive} kept alive by a reference cycle"
    finally:
        gc.enable()


def test_interior_tensors_freed_without_gc():
    gc.collect()
    gc.disable()
    try:
        x = cr.tensor(np.ones(10), requires_grad=True)
        h = x.exp()
        h_ref, node_ref = weakref.ref(h), weakref.ref(h.grad_fn)
        out = (h * h).sum()
        del h
        assert h_ref() is not None  # held by the graph
        out.backward(retain_graph=True)
        del out
        assert h_ref() is None and node_ref() is None
        assert isinstance(x.grad, cr.Tensor)
    finally:
        gc.enable()


def test_gradcheck_flags_a_nan_gradient() -> None:
    # NaN never compares greater than a tolerance: the check must not let it through
    x = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(cr.autograd.GradcheckError, match="input 0"):
        cr.autograd.gradcheck(lambda t: (t * 0).sqrt().sum(), [x])


# ------------------------------------------------------------------ hooks
def _hooked_graph(lib, seen):
    x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
    w = lib.tensor([0.5, 0.25, -1.0], requires_grad=True)
    h = x * w
    x.register_hook(lambda g: seen.append(("x", g.numpy().copy())))
    h.register_hook(lambda g: seen.append(("h", g.numpy().copy())))
    w.register_hook(lambda g: g * 10)  # replaces w's gradient
    out = (h * h + h * x).sum()  # h and x are used twice: hooks see the sums
    out.backward()
    return x, w, seen


def test_hooks_see_total_gradients_and_may_replace_them_as_in_torch() -> None:
    x, w, seen = _hooked_graph(cr, [])
    tx, tw, tseen = _hooked_graph(torch, [])
    assert [name for name, _ in seen] == [name for name, _ in tseen] == ["h", "x"]
    for (_, ours), (_, theirs) in zip(seen, tseen, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-6)


def test_hook_handle_removes_the_hook_and_hooks_run_in_autograd_grad() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    handle = x.register_hook(lambda g: calls.append(g.numpy().copy()))
    (g,) = cr.autograd.grad((x * 3).sum(), x)
    np.testing.assert_array_equal(calls[0], [3.0, 3.0])
    np.testing.assert_array_equal(g.numpy(), [3.0, 3.0])
    handle.remove()
    (x * 2).sum().backward()
    assert len(calls) == 1
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_hook_errors_are_clear() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.ones(2).register_hook(lambda g: g)
    x = cr.ones(2, requires_grad=True)
    x.register_hook(lambda g: cr.ones(3))
    with pytest.raises(RuntimeError, match=r"shape \(3,\); expected \(2,\)"):
        (x * 2).sum().backward()


def test_queue_callback_runs_once_after_every_grad_is_written():
    """A gradient hook queues a callback; it runs at the end of backward and sees every leaf's .grad."""
    from chainrule.autograd import queue_callback

    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0], requires_grad=True)
    seen = []

    def hook(grad):
        queue_callback(lambda: seen.append((a.grad._array.tolist(), b.grad._array.tolist())))

    a.register_hook(hook)
    (a * b).sum().backward()
    assert seen == [([3.0, 3.0], [3.0])]
    (a * b).sum().backward()  # the queue is empty again after each pass
    assert len(seen) == 2
