"""Kernels split over the runtime's pool give the serial results.

Each case runs the same forward and backward with one thread and with two,
on arrays large enough to be split (above ``MIN_PARALLEL_ELEMENTS``).
Elementwise work must be bit-identical; where a split changes the order of a
sum (the weight and bias gradients of a norm, GEMMs) the results agree to
float tolerance. Repeated two-thread runs must agree exactly with each other:
the chunking is fixed, so the result cannot depend on which thread was first.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812 (the usual name)
import chainrule.optim.optimizer  # imported before pool_calls patches its parallel_for
from chainrule import runtime

BIG = (8, 16, 48, 48)  # 294,912 elements: above 2 * MIN_PARALLEL_ELEMENTS, so split in two
# passes at memory speed (add, multiply, the compiled ReLU, eval batch norm) split only from 4x that:
# 1,179,648 elements
MEMORY_SPEED_BIG = (8, 16, 96, 96)


@pytest.fixture(autouse=True)
def _restore_threads():
    before = cr.get_num_threads()
    yield
    cr.set_num_threads(before)


def _leaf(a: np.ndarray) -> cr.Tensor:
    return cr.tensor(a.copy(), requires_grad=True)


def _run(make: Callable[[], tuple[cr.Tensor, list[cr.Tensor]]], threads: int) -> list[np.ndarray]:
    """Forward under ``threads``, backward of a fixed random cotangent; the output and every gradient."""
    cr.set_num_threads(threads)
    out, leaves = make()
    c = np.random.default_rng(7).standard_normal(out.shape).astype(out._array.dtype)
    (out * cr.tensor(c)).sum().backward()
    return [out._array.copy()] + [leaf.grad._array.copy() for leaf in leaves]


@pytest.fixture
def pool_calls(monkeypatch):
    """How many times the pool was handed work (map_rows and the kernels reach it through here)."""
    calls = []
    real = runtime.parallel_for

    def spy(fn, tasks):
        calls.append(len(tasks))
        return real(fn, tasks)

    monkeypatch.setattr(runtime, "parallel_for", spy)
    for module in list(sys.modules.values()):  # the kernels and optimizers that imported it by name
        name = getattr(module, "__name__", "")
        kernel = name.startswith(("chainrule.ops.", "chainrule.optim."))
        if kernel and getattr(module, "parallel_for", None) is real:
            monkeypatch.setattr(module, "parallel_for", spy)
    return calls


def _compare(make, exact: bool, rtol: float = 1e-5, atol: float = 1e-5, calls: list | None = None) -> None:
    serial = _run(make, 1)
    before = None if calls is None else len(calls)
    parallel = _run(make, 2)
    if calls is not None:
        assert len(calls) > before, "the two-thread run never used the pool"
    again = _run(make, 2)
    for s, p, q in zip(serial, parallel, again, strict=True):
        np.testing.assert_array_equal(p, q)  # no dependence on scheduling
        if exact:
            np.testing.assert_array_equal(s, p)
        else:
            np.testing.assert_allclose(s, p, rtol=rtol, atol=atol)


def _data(shape=BIG, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_relu_bit_identical(pool_calls):
    x = _data(MEMORY_SPEED_BIG)

    def make():
        a = _leaf(x)
        return F.relu(a), [a]

    _compare(make, exact=True, calls=pool_calls)


@pytest.mark.parametrize("op", ["add", "mul"])
def test_same_shape_binary_bit_identical(op, pool_calls):
    x, y = _data(MEMORY_SPEED_BIG, seed=1), _data(MEMORY_SPEED_BIG, seed=2)

    def make():
        a, b = _leaf(x), _leaf(y)
        return (a + b if op == "add" else a * b), [a, b]

    _compare(make, exact=True, calls=pool_calls)


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_max_pool_bit_identical(kernel, stride, padding, pool_calls):
    x = _data((8, 16, 96, 96))  # the output gradient too is large enough to split

    def make():
        a = _leaf(x)
        return F.max_pool2d(a, kernel, stride, padding), [a]

    _compare(make, exact=True, calls=pool_calls)
    # the indices PyTorch-style too
    outs = []
    for t in (1, 2):
        cr.set_num_threads(t)
        outs.append(F.max_pool2d(cr.tensor(x), kernel, stride, padding, return_indices=True)[1]._array)
    np.testing.assert_array_equal(*outs)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_rows_bit_identical(op, pool_calls):
    x = _data((300, 1000))

    def make():
        a = _leaf(x)
        return getattr(F, op)(a, dim=-1), [a]

    _compare(make, exact=True, calls=pool_calls)


def test_layer_norm_rows(pool_calls):
    x = _data((64, 48, 96))
    w, b = _data((96,), seed=3), _data((96,), seed=4)

    def make():
        a, ww, bb = _leaf(x), _leaf(w), _leaf(b)
        return F.layer_norm(a, (96,), ww, bb), [a, ww, bb]

    serial, parallel = _run(make, 1), _run(make, 2)
    np.testing.assert_array_equal(serial[0], parallel[0])  # every row as computed serially
    np.testing.assert_array_equal(serial[1], parallel[1])  # dx is per row too
    _compare(make, exact=False, rtol=1e-4, atol=1e-3, calls=pool_calls)  # dw, db: partial sums per block


def test_batch_norm_eval_bit_identical(pool_calls):
    x = _data(MEMORY_SPEED_BIG)  # one pass at memory speed when compiled
    mean, var = _data((16,), seed=5), np.abs(_data((16,), seed=6)) + 0.5
    w, b = _data((16,), seed=7), _data((16,), seed=8)

    def make():
        a, ww, bb = _leaf(x), _leaf(w), _leaf(b)
        return F.batch_norm(a, cr.tensor(mean), cr.tensor(var), ww, bb, training=False), [a, ww, bb]

    serial, parallel = _run(make, 1), _run(make, 2)
    np.testing.assert_array_equal(serial[0], parallel[0])
    _compare(make, exact=False, calls=pool_calls)


@pytest.mark.parametrize(
    ("cin", "cout", "k", "stride", "padding"),
    [
        (1, 32, 3, 1, 1),  # per-sample layout (W2's first layer)
        (16, 32, 3, 1, 1),  # channel-major, the wide col2im
        (16, 8, 3, 2, 1),  # channel-major, strided col2im
        (16, 32, 1, 1, 0),  # pointwise: the input is its own columns
        (1, 32, 3, 1, 1),  # per sample: a first layer, few columns per output
    ],
)
def test_conv2d_matches_serial(cin, cout, k, stride, padding, pool_calls):
    x = _data((48, cin, 28, 28))
    w, b = _data((cout, cin, k, k), seed=9), _data((cout,), seed=10)

    def make():
        a, ww, bb = _leaf(x), _leaf(w), _leaf(b)
        return F.conv2d(a, ww, bb, stride=stride, padding=padding), [a, ww, bb]

    _compare(make, exact=False, rtol=1e-4, atol=1e-3, calls=pool_calls)


def test_linear_bias_matches_serial():
    x = _data((512, 256))
    w, b = _data((300, 256), seed=11), _data((300,), seed=12)

    def make():
        a, ww, bb = _leaf(x), _leaf(w), _leaf(b)
        return F.linear(a, ww, bb), [a, ww, bb]

    _compare(make, exact=False, rtol=1e-4, atol=1e-3)


def test_bert_gelu_blocks_bit_identical():
    from chainrule.models.bert import _gelu_inplace

    x = _data((3, 100_000))  # not a whole number of blocks
    outs = []
    for t in (1, 2, 2):
        cr.set_num_threads(t)
        outs.append(_gelu_inplace(cr.tensor(x.copy()))._array)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[1], outs[2])
    np.testing.assert_allclose(outs[0], F.gelu(cr.tensor(x))._array, rtol=1e-6, atol=1e-6)


def test_set_num_threads_governs_the_pool():
    def who(i):
        return threading.get_ident()

    cr.set_num_threads(1)
    assert set(runtime.parallel_for(who, [(i,) for i in range(4)])) == {threading.get_ident()}
    assert runtime.worth_splitting(10**7) == 1
    cr.set_num_threads(2)
    idents = runtime.parallel_for(who, [(i,) for i in range(4)])
    assert idents[0] == idents[2] == threading.get_ident()  # task k runs on thread k % 2
    assert idents[1] == idents[3] != idents[0]
    assert runtime.worth_splitting(10**7) == 2


def test_small_arrays_stay_on_the_calling_thread():
    seen = []
    cr.set_num_threads(2)
    runtime.map_rows(lambda i, j: seen.append((threading.get_ident(), i, j)), 10, 100)
    assert seen == [(threading.get_ident(), 0, 10)]


def test_parallel_for_from_two_user_threads():
    # a second caller while the pool is busy runs its tasks itself, with the same results
    cr.set_num_threads(2)
    results: dict[int, list] = {}

    def user(k):
        out = []
        for _ in range(50):
            out.append(runtime.parallel_for(lambda i: i * k, [(i,) for i in range(5)]))
        results[k] = out

    threads = [threading.Thread(target=user, args=(k,)) for k in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in (1, 2, 3):
        assert all(r == [i * k for i in range(5)] for r in results[k])


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_recurrent_rows_split_matches_serial(kind, with_lengths, monkeypatch):
    """Each thread runs the whole time loop on its own batch rows; both directions, ragged lengths too."""
    from chainrule.ops import recurrent

    calls = []
    real = recurrent.parallel_for

    def spy(fn, tasks):
        calls.append(len(tasks))
        return real(fn, tasks)

    monkeypatch.setattr(recurrent, "parallel_for", spy)
    monkeypatch.setattr(recurrent, "MIN_STEP_MNK_PER_THREAD", 1)  # split this small layer too
    nb = 2 * recurrent.MIN_ROWS_PER_THREAD + 5  # two uneven row blocks
    x = _data((7, nb, 6), seed=3)
    rng = np.random.default_rng(4)
    lengths = rng.integers(1, 8, nb) if with_lengths else None
    h0 = _data((2, nb, 12), seed=5)

    def make():
        cr.manual_seed(0)
        layer = getattr(cr.nn, kind)(6, 12, bidirectional=True)
        a, h = _leaf(x), _leaf(h0)
        state = (h, _leaf(h0 * 0.5)) if kind == "LSTM" else h
        out, _ = layer(a, state, lengths=lengths)
        leaves = [a, h, *layer.parameters()]
        return out, leaves

    _compare(make, exact=False, rtol=1e-5, atol=1e-6)
    assert calls and all(n == 2 for n in calls)  # forward and backward, both directions: split in two


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda ps: cr.optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.01),
        lambda ps: cr.optim.AdamW(ps, lr=0.01),
        lambda ps: cr.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
        lambda ps: cr.optim.Adagrad(ps, lr=0.01),
    ],
    ids=["sgd", "adam", "adamw", "rmsprop", "adagrad"],
)
def test_optimizer_chunks_on_the_pool_bit_identical(make_opt, pool_calls):
    """A step's chunks (large parameters alone, small ones shared) updated on two threads: the same bits."""
    shapes = [(300, 500), (200, 400), (120_000,), (7,), (3, 5), (64,)]
    _optimizer_on_one_and_two_threads(make_opt, shapes, 0, pool_calls)


def _optimizer_on_one_and_two_threads(make_opt, shapes: list, seed: int, calls: list) -> None:
    """Three steps on parameters of ``shapes`` at 1 and at 2 threads: the pool used only at 2, each
    time split in two, and the parameters and state the same bits."""
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]

    def run(threads: int) -> list[np.ndarray]:
        cr.set_num_threads(threads)
        params = [cr.tensor(v.copy(), requires_grad=True) for v in values]
        opt = make_opt(params)
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = cr.tensor(g)
            opt.step()
        state = [t._array.copy() for s in opt.state.values() for t in s.values() if isinstance(t, cr.Tensor)]
        return [p._array.copy() for p in params] + state

    serial = run(1)
    assert not calls
    parallel = run(2)
    assert calls and all(n == 2 for n in calls)
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: cr.optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.01),
        lambda ps: cr.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
        lambda ps: cr.optim.Adam(ps, lr=0.01, betas=(0.3, 0.99), maximize=True),
    ],
    ids=["adam-amsgrad-l2", "adamw", "adam-maximize-small-beta1"],
)
def test_adam_splits_one_large_parameter_bit_identical(make_opt, pool_calls):
    """One parameter holding most of the work is updated in ranges on two threads: the same bits."""
    # the large parameter's ranges, once a step (its chunk is not dealt to one thread whole)
    _optimizer_on_one_and_two_threads(make_opt, [(600, 500), (7,), (3, 5), (64,)], 1, pool_calls)
