"""In-place safety: ``.data`` as in PyTorch, in-place methods, and the version counter.

The version-counter scenarios run in both libraries: chainrule must raise
exactly where PyTorch raises (a saved array changed in place before
backward) and give PyTorch's gradients where it does not.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
from helpers import check_against_torch


def _no_grad(lib):
    return lib.no_grad()


# Each scenario builds a graph, changes something in place, then calls backward.
def _sigmoid_output_changed(lib, x):
    y = x.sigmoid()
    y.mul_(2)
    y.sum().backward()


def _exp_output_changed(lib, x):
    y = x.exp()
    y.add_(1)
    y.sum().backward()


def _saved_input_changed_under_no_grad(lib, x):
    w = x * x
    with _no_grad(lib):
        x.add_(1)
    w.sum().backward()


def _unsaved_input_changed_under_no_grad(lib, x):
    w = (x + 2) - x  # neither op saves x
    with _no_grad(lib):
        x.add_(1)
    w.sum().backward()


def _saved_input_written_through_data(lib, x):
    w = (x * x).sum()
    x.data[0] = 5.0
    w.backward()


def _saved_input_written_through_data_method(lib, x):
    w = (x * x).sum()
    x.data.mul_(3)
    w.backward()


def _change_after_backward_is_fine(lib, x):
    w = (x * x).sum()
    w.backward()
    with _no_grad(lib):
        x.sub_(0.1)
    (x * x).sum().backward()


def _matmul_weight_changed(lib, x):
    w = lib.ones(3, 2, requires_grad=True)
    out = x[None, :] @ w
    with _no_grad(lib):
        w.mul_(0.5)
    out.sum().backward()


def _output_of_mul_changed(lib, x):
    y = x * 2  # mul does not save its output: PyTorch allows this
    y.add_(1)
    y.sum().backward()


SCENARIOS = {
    "sigmoid output changed": (_sigmoid_output_changed, True),
    "exp output changed": (_exp_output_changed, True),
    "saved input changed under no_grad": (_saved_input_changed_under_no_grad, True),
    "unsaved input changed under no_grad": (_unsaved_input_changed_under_no_grad, False),
    "saved input written through .data[...]": (_saved_input_written_through_data, None),
    "saved input changed through .data.mul_": (_saved_input_written_through_data_method, None),
    "changed after backward": (_change_after_backward_is_fine, False),
    "matmul weight changed": (_matmul_weight_changed, True),
    "output of mul changed": (_output_of_mul_changed, False),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_backward_raises_where_pytorch_does(name):
    scenario, torch_raises = SCENARIOS[name]
    data = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    if torch_raises is not None:  # PyTorch's .data does not share the version counter
        t = torch.tensor(data, requires_grad=True)
        if torch_raises:
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                scenario(torch, t)
        else:
            scenario(torch, t)
    x = cr.tensor(data, requires_grad=True)
    if torch_raises is False:
        scenario(cr, x)
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6)
    else:  # ours also catches writes through .data
        with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*is at version \d+"):
            scenario(cr, x)


def test_the_error_names_the_op_and_the_versions():
    x = cr.tensor([0.5, -1.0], requires_grad=True)
    y = x.sigmoid()
    y.mul_(2)
    with pytest.raises(RuntimeError) as e:
        y.sum().backward()
    msg = str(e.value)
    assert "output 0 of SigmoidBackward" in msg
    assert "is at version 1; expected version 0 instead" in msg


def test_an_optimizer_step_between_forward_and_backward_raises():
    lin = cr.nn.Linear(3, 2)
    opt = cr.optim.SGD(lin.parameters(), lr=0.1)
    x = cr.randn(4, 3)
    lin(x).sum().backward()
    out = lin(x)
    before = lin.weight._version
    opt.step()
    assert lin.weight._version == before + 1  # one increment per parameter per step
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_a_training_loop_is_untouched():
    lin = cr.nn.Linear(3, 2)
    opt = cr.optim.Adam(lin.parameters(), lr=0.1)
    x = cr.randn(4, 3)
    for _ in range(3):
        opt.zero_grad()
        lin(x).pow(2).sum().backward()
        opt.step()


INPLACE = {
    "add_": (lambda t, o: t.add_(o, alpha=2), lambda t, o: t.add_(o, alpha=2)),
    "sub_": (lambda t, o: t.sub_(o), lambda t, o: t.sub_(o)),
    "mul_": (lambda t, o: t.mul_(o), lambda t, o: t.mul_(o)),
    "div_": (lambda t, o: t.div_(o + 3), lambda t, o: t.div_(o + 3)),
    "pow_": (lambda t, o: t.pow_(2), lambda t, o: t.pow_(2)),
    "exp_": (lambda t, o: t.exp_(), lambda t, o: t.exp_()),
    "neg_": (lambda t, o: t.neg_(), lambda t, o: t.neg_()),
    "abs_": (lambda t, o: t.abs_(), lambda t, o: t.abs_()),
    "sqrt_": (lambda t, o: t.abs_().add_(1).sqrt_(), lambda t, o: t.abs_().add_(1).sqrt_()),
    "relu_": (lambda t, o: t.relu_(), lambda t, o: t.relu_()),
    "sigmoid_": (lambda t, o: t.sigmoid_(), lambda t, o: t.sigmoid_()),
    "tanh_": (lambda t, o: t.tanh_(), lambda t, o: t.tanh_()),
    "clamp_": (lambda t, o: t.clamp_(-0.5, 0.7), lambda t, o: t.clamp_(-0.5, 0.7)),
    "masked_fill_": (
        lambda t, o: t.masked_fill_(o > 0, 0.25),
        lambda t, o: t.masked_fill_(o > 0, 0.25),
    ),
}


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_methods_on_a_non_leaf_are_differentiable(name):
    ours, theirs = INPLACE[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    o = rng.standard_normal((2, 3)).astype(np.float32)

    def run(fn):
        def f(a, b):
            y = a * 1.5  # a non-leaf, so the in-place op is recorded
            out = fn(y, b)
            assert out is y
            return y * 1

        return f

    check_against_torch(run(ours), run(theirs), [x, o])


@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_methods_outside_a_graph_write_the_storage(name):
    ours, theirs = INPLACE[name]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    o = rng.standard_normal((2, 3)).astype(np.float32)
    t = cr.tensor(x)
    storage = t.numpy()
    assert ours(t, cr.tensor(o)) is t
    assert t.numpy() is storage and t._version >= 1
    np.testing.assert_allclose(storage, theirs(torch.tensor(x), torch.tensor(o)).numpy(), rtol=1e-6)


def test_inplace_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    p = cr.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        p.exp_()
    with cr.no_grad():
        p.exp_()
    np.testing.assert_array_equal(p.numpy(), np.ones(3, np.float32))


def test_inplace_cannot_change_shape_or_kind():
    t = cr.zeros(3, dtype=cr.int64)
    with pytest.raises(RuntimeError, match="can't be cast"):
        t.sqrt_()
    with pytest.raises(RuntimeError, match="cannot change the shape"):
        cr.zeros(3).pow_(cr.ones(2, 3))


# ------------------------------------------------------------------ .data
def test_data_is_a_detached_tensor_sharing_the_storage():
    p = cr.nn.Parameter(cr.zeros(3))
    d = p.data
    assert isinstance(d, cr.Tensor) and not d.requires_grad and d.is_leaf
    assert d.numpy() is p.numpy()


def test_pytorch_idioms_through_data():
    m = cr.nn.Linear(2, 3)
    m.bias.data.fill_(0.01)
    np.testing.assert_allclose(m.bias.numpy(), np.full(3, 0.01, np.float32))
    p = m.weight
    before = p.numpy().copy()
    p.data.add_(cr.ones(3, 2), alpha=-0.5)
    np.testing.assert_allclose(p.numpy(), before - 0.5, rtol=1e-6)
    p.data += cr.ones(3, 2)
    np.testing.assert_allclose(p.numpy(), before + 0.5, rtol=1e-6)
    p.data.mul_(0).add_(2)
    np.testing.assert_allclose(p.numpy(), np.full((3, 2), 2.0))
    assert p.requires_grad and p.grad is None


def test_assigning_data_replaces_the_storage():
    p = cr.nn.Parameter(cr.zeros(2))
    old = p.numpy()
    new = cr.tensor([1.0, 2.0, 3.0])
    p.data = new
    assert p.numpy() is new.numpy() and p.shape == (3,)
    assert p.requires_grad
    np.testing.assert_array_equal(old, np.zeros(2))
    (p * p).sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), [2.0, 4.0, 6.0])


def test_detach_and_data_share_the_version_counter():
    x = cr.ones(2)
    y = x.detach()
    y.add_(1)
    assert x._version == y._version == 1
    x.data.zero_()
    assert x._version == 2


def test_inplace_on_a_view_in_a_graph_leaves_its_base_alone():
    x = cr.tensor([[1.0, -2.0], [3.0, -4.0]], requires_grad=True)
    row = x[0]
    row.relu_()
    (row * 2).sum().backward()
    np.testing.assert_array_equal(x.numpy(), [[1.0, -2.0], [3.0, -4.0]])
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 0.0], [0.0, 0.0]])


def test_inplace_on_a_view_outside_a_graph_writes_through():
    x = cr.zeros(2, 3)
    x[1].add_(1)
    x.view(6)[0:2].fill_(5)
    np.testing.assert_array_equal(x.numpy(), [[5, 5, 0], [1, 1, 1]])


REBASE = {
    "mul_": lambda y: y.mul_(3),
    "add_ of a tensor needing grad": lambda y: y.add_(y.detach() * 0 + 1),
    "exp_": lambda y: y.exp_(),
    "setitem": lambda y: y.__setitem__(0, 5.0),
}


@pytest.mark.parametrize("name", list(REBASE))
def test_uses_before_an_inplace_change_keep_their_gradient_path(name):
    # z used y before the change; its gradient must reach x through the old y,
    # as PyTorch's graph (which links nodes, not tensors) does
    data = np.array([0.5, -1.0, 2.0], dtype=np.float32)

    def run(lib):
        x = lib.tensor(data, requires_grad=True)
        y = x * 2
        z = y + 1  # add keeps nothing of y, so changing y later is allowed
        REBASE[name](y)
        (z * 2 + y).sum().backward()
        return x.grad.numpy() if lib is cr else x.grad.detach().numpy()

    np.testing.assert_allclose(run(cr), run(torch), rtol=1e-6)


@pytest.mark.parametrize(
    "name,args",
    [
        ("index_add_", (0, [0, 2], "src2")),
        ("index_copy_", (0, [2, 0], "src2")),
        ("index_fill_", (1, [1], -1.5)),
        ("scatter_", (0, "idx", "src3")),
        ("scatter_add_", (0, "idx", "src3")),
        ("masked_scatter_", ("mask", "src3")),
    ],
)
def test_scatter_and_index_methods_in_place_match_torch(name, args):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    values = {
        "src2": rng.standard_normal((2, 4)).astype(np.float32),
        "src3": rng.standard_normal((3, 4)).astype(np.float32),
        "idx": np.array([[0, 1, 2, 0], [2, 0, 1, 1], [1, 2, 0, 2]]),
        "mask": rng.random((3, 4)) > 0.5,
    }

    def build(lib, tensor):
        out = []
        for a in args:
            if isinstance(a, str):
                v = values[a]
                out.append(tensor(v) if v.dtype != np.int64 or lib is cr else torch.as_tensor(v))
            elif isinstance(a, list):
                out.append(tensor(np.array(a)) if lib is cr else torch.as_tensor(a))
            else:
                out.append(a)
        return out

    ours, theirs = cr.tensor(x.copy()), torch.tensor(x.copy())
    before = ours._version
    r = getattr(ours, name)(*build(cr, cr.tensor))
    getattr(theirs, name)(*build(torch, torch.tensor))
    assert r is ours and ours._version == before + 1
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_index_add_in_place_inside_a_graph_keeps_gradients():
    w = cr.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    src = cr.tensor(np.full((1, 2), 2.0, np.float32), requires_grad=True)
    y = w * 3
    y.index_add_(0, cr.tensor(np.array([1])), src, alpha=2.0)
    (y * cr.tensor(np.arange(6, dtype=np.float32).reshape(3, 2))).sum().backward()
    tw = torch.ones(3, 2, requires_grad=True)
    ts = torch.full((1, 2), 2.0, requires_grad=True)
    ty = tw * 3
    ty.index_add_(0, torch.tensor([1]), ts, alpha=2.0)
    (ty * torch.arange(6.0).reshape(3, 2)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy())
    np.testing.assert_allclose(src.grad.numpy(), ts.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.int32])
def test_relu_without_a_graph_is_one_pass_in_the_input_or_a_new_tensor(dtype):
    x0 = np.array([[-2, -0.0, 0, 3], [np.nan, -1, 5, 1]]).astype(np.float32)
    x0 = x0[:, 1:] if dtype == np.int32 else x0  # (no NaN among ints)
    x0 = x0.astype(dtype)
    expected = torch.relu(torch.tensor(x0)).numpy()
    x = cr.tensor(x0.copy())
    out = cr.nn.functional.relu(x)
    assert out is not x and out._ctx is None
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(x.numpy(), x0)  # untouched
    storage, before = x.numpy(), x._version
    same = cr.nn.functional.relu(x, inplace=True)
    assert same is x and x.numpy() is storage and x._version == before + 1
    np.testing.assert_array_equal(x.numpy(), expected)
    w = cr.tensor(x0.astype(np.float32), requires_grad=True)
    with cr.no_grad():
        assert cr.nn.functional.relu(w)._ctx is None
    y = cr.nn.functional.relu(w, inplace=True)  # a graph is recorded: a new tensor, w untouched
    assert y is not w and y._ctx is not None
    np.testing.assert_array_equal(w.numpy(), x0.astype(np.float32))


AUGMENTED = [
    pytest.param(lambda y, o: y.__iadd__(o), id="+="),
    pytest.param(lambda y, o: y.__isub__(o), id="-="),
    pytest.param(lambda y, o: y.__imul__(o), id="*="),
    pytest.param(lambda y, o: y.__itruediv__(o), id="/="),
]


@pytest.mark.parametrize("op", AUGMENTED)
def test_augmented_assignment_in_a_graph_keeps_dtype_and_shape(op):
    # y = x * 1 is in the graph: y += o gave the promoted float64 result, and a larger
    # broadcast result, where PyTorch keeps y's float32 and refuses a new shape
    x = np.linspace(0.5, 2.0, 6).reshape(2, 3).astype(np.float32)
    o = np.linspace(1.0, 3.0, 3)  # float64, broadcast over y's rows
    # (o's float64 gradient is summed in float32 by PyTorch, in float64 by us: float32 tolerance)
    fn = lambda a, b: op(a * 1, b) * 2  # noqa: E731
    check_against_torch(fn, fn, [x, o], rtol=1e-5, atol=1e-5)
    for small, big in [(np.ones(3, np.float32), np.ones((2, 3), np.float32)), (np.ones((), np.float32), x)]:
        with pytest.raises(RuntimeError):
            op(torch.tensor(small, requires_grad=True) * 1, torch.tensor(big))
        with pytest.raises(RuntimeError, match=r"augmented assignment.*cannot change the shape"):
            op(cr.tensor(small, requires_grad=True) * 1, cr.tensor(big))
    # an integer tensor cannot take a float result, as PyTorch
    with pytest.raises(RuntimeError, match="can't be cast"):
        op(cr.tensor([1, 2]), cr.tensor([0.5, 1.0], requires_grad=True))


@pytest.mark.parametrize(
    ("dst_shape", "src_shape", "src_dtype"),
    [
        ((2, 3), (2, 3), np.float32),
        ((2, 3), (3,), np.float32),  # broadcast into the buffer
        ((2, 3), (2, 3), np.float64),  # cast to the buffer's dtype
        ((), (), np.float32),
    ],
)
def test_copy_from_a_tensor_that_requires_grad_records_the_copy(dst_shape, src_shape, src_dtype):
    # buf.copy_(x) with x requiring grad: PyTorch's buf takes x's history, so the gradient reaches
    # x (it was silently lost: buf stayed a constant), broadcast back and cast to x's dtype
    rng = np.random.default_rng(0)
    x = rng.standard_normal(src_shape).astype(src_dtype)
    w = rng.standard_normal(dst_shape).astype(np.float32)

    def run(lib, x_):
        buf = lib.zeros(dst_shape)
        out = buf.copy_(x_) * lib.tensor(w)
        assert buf.requires_grad
        return out

    check_against_torch(lambda t: run(cr, t), lambda t: run(torch, t), [x])
    # a leaf that requires grad still refuses the in-place copy, as in PyTorch
    with pytest.raises(RuntimeError):
        cr.zeros(dst_shape, requires_grad=True).copy_(cr.tensor(x, requires_grad=True))
    # under no_grad (optimizers, load_state_dict) it stays a plain write
    with cr.no_grad():
        buf = cr.zeros(dst_shape)
        buf.copy_(cr.tensor(x, requires_grad=True))
    assert not buf.requires_grad
