"""Winograd's F(2x2, 3x3) convolution (numba transforms) against PyTorch and against im2col.

It serves the forward of 3x3 stride-1 convolutions (training keeps the input,
not its columns) and training's input gradient; these tests check its values
on random shapes, paddings and odd sizes, that it is chosen exactly where it
should be, and that splitting the batch over threads does not change the
result.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import torch

import chainrule as cr
from chainrule import runtime
from chainrule.ops import compiled_winograd, conv

pytestmark = pytest.mark.usefixtures("restore_runtime")


@pytest.fixture
def calls(monkeypatch):
    """How many times the Winograd input transform ran."""
    seen = []
    real = compiled_winograd.winograd_input

    def spy(*args):
        seen.append(args[0].shape)
        return real(*args)

    monkeypatch.setattr(compiled_winograd, "winograd_input", spy)
    return seen


def _conv(x0, w0, b0, padding, grad=False):
    x, w = cr.tensor(x0), cr.tensor(w0, requires_grad=grad)
    b = None if b0 is None else cr.tensor(b0)
    if grad:
        return cr.nn.functional.conv2d(x, w, b, padding=padding).detach().numpy()
    with cr.no_grad():
        return cr.nn.functional.conv2d(x, w, b, padding=padding).numpy()


@pytest.mark.parametrize("case", range(12))
def test_winograd_matches_torch(case, calls):
    rng = np.random.default_rng(case)
    n, c, o = int(rng.integers(1, 4)), int(rng.integers(60, 72)), int(rng.integers(60, 72))
    h, w = int(rng.integers(6, 24)), int(rng.integers(6, 24))
    padding = [0, 1, 2, "same", (1, 0)][case % 5]
    x0 = rng.standard_normal((n, c, h, w)).astype(np.float32)
    w0 = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b0 = None if case % 3 == 0 else rng.standard_normal(o).astype(np.float32)
    ours = _conv(x0, w0, b0, padding)
    bt = None if b0 is None else torch.tensor(b0)
    theirs = torch.nn.functional.conv2d(torch.tensor(x0), torch.tensor(w0), bt, padding=padding).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-5)
    oh, ow = ours.shape[-2:]
    used = conv._winograd_kernels(x0, w0, (3, 3, oh, ow), (1, 1), (1, 1), 1) is not None
    assert len(calls) > 0 if used else not calls


def test_winograd_serves_training_too_and_agrees_with_im2col(calls):
    # Training keeps the input rather than its 9x larger columns, so the forward needs no
    # columns either: Winograd serves it, and the weight gradient unfolds the input again.
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((4, 64, 20, 20)).astype(np.float32)
    w0 = (rng.standard_normal((72, 64, 3, 3)) / 24).astype(np.float32)
    b0 = rng.standard_normal(72).astype(np.float32)
    g0 = rng.standard_normal((4, 72, 20, 20)).astype(np.float32)

    def train_step():
        x, w = cr.tensor(x0, requires_grad=True), cr.tensor(w0, requires_grad=True)
        y = cr.nn.functional.conv2d(x, w, cr.tensor(b0), padding=1)
        y.backward(cr.tensor(g0))
        return y.detach().numpy(), x.grad.numpy(), w.grad.numpy()

    winograd = _conv(x0, w0, b0, 1)
    assert calls
    calls.clear()
    y, gx, gw = train_step()
    assert calls
    np.testing.assert_array_equal(y, winograd)
    runtime.set_compiled_kernels(False)
    calls.clear()
    y_im2col, gx_im2col, gw_im2col = train_step()
    assert not calls
    np.testing.assert_allclose(y, y_im2col, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gx, gx_im2col, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(gw, gw_im2col, rtol=1e-5, atol=1e-3)
    xt, wt = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt, torch.tensor(b0), padding=1).backward(torch.tensor(g0))
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "shape",
    [(4, 32, 20, 20), (4, 64, 7, 7), (1, 64, 9, 9), (2, 64, 3, 3)],
    ids=["few channels", "7x7 tiles waste", "9x9 tiles waste", "tiny"],
)
def test_winograd_stays_out_where_it_does_not_pay(shape, calls):
    x0 = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    w0 = np.random.default_rng(2).standard_normal((64, shape[1], 3, 3)).astype(np.float32)
    _conv(x0, w0, None, 1)
    assert not calls


def test_winograd_float64_and_strided_keep_im2col(calls):
    x0 = np.random.default_rng(1).standard_normal((2, 64, 16, 16))
    w0 = np.random.default_rng(2).standard_normal((64, 64, 3, 3))
    _conv(x0, w0, None, 1)  # float64
    with cr.no_grad():
        cr.nn.functional.conv2d(cr.tensor(x0, dtype=cr.float32), cr.tensor(w0, dtype=cr.float32), stride=2)
    assert not calls


def test_winograd_over_two_threads_matches_one():
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((6, 64, 30, 30)).astype(np.float32)
    w0 = (rng.standard_normal((64, 64, 3, 3)) / 24).astype(np.float32)
    results = []
    for threads in (1, 2):
        cr.set_num_threads(threads)
        results.append(_conv(x0, w0, None, 1))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("case", range(6))
def test_winograd_input_gradient_matches_torch(case, calls):
    """The backward's input gradient (a 3x3 convolution of g with the flipped kernel) by Winograd."""
    rng = np.random.default_rng(100 + case)
    n, c, o = int(rng.integers(1, 3)), int(rng.integers(64, 72)), int(rng.integers(64, 72))
    h, w = int(rng.integers(8, 24)) * 2, int(rng.integers(8, 24)) * 2  # even: no tile outside the input
    padding = [1, 0, 2, "same", (1, 2), (0, 1)][case]
    x0 = rng.standard_normal((n, c, h, w)).astype(np.float32)
    w0 = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    x, wt = cr.tensor(x0, requires_grad=True), cr.tensor(w0, requires_grad=True)
    y = cr.nn.functional.conv2d(x, wt, padding=padding)
    g0 = rng.standard_normal(y.shape).astype(np.float32)
    calls.clear()
    y.backward(cr.tensor(g0))
    xt, wtt = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    torch.nn.functional.conv2d(xt, wtt, padding=padding).backward(torch.tensor(g0))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=3e-5)
    np.testing.assert_allclose(wt.grad.numpy(), wtt.grad.numpy(), rtol=1e-4, atol=1e-4)
    assert calls  # every case here pads at most 2 (k - 1) per side: Winograd serves
