"""Every layer on every device: the same weights and input give the same outputs and gradients.

Each case builds a layer on the CPU, copies it to the device under test
(``Module.to``), runs forward and backward with the same input and cotangent
on both, and compares outputs, input gradients and parameter gradients. On a
machine without a GPU the device is the strict CuPy stand-in
(``tests/strict_array.py``), which fails any layer whose code reaches NumPy
directly or copies to the host.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
import helpers
from chainrule import nn

DEVICES = [d for d in helpers.DEVICES if d != "cpu"]
rng = np.random.default_rng(0)


def _x(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _tokens(n: int, length: int, vocab: int) -> np.ndarray:
    return rng.integers(0, vocab, (n, length)).astype(np.int64)


# (name, layer factory, inputs as NumPy arrays, optional call taking (layer, *tensors))
CASES: list[tuple[str, Callable[[], nn.Module], list[np.ndarray], Callable | None]] = [
    ("Linear", lambda: nn.Linear(5, 3), [_x(4, 5)], None),
    ("Bilinear", lambda: nn.Bilinear(3, 4, 2), [_x(5, 3), _x(5, 4)], None),
    ("Conv1d", lambda: nn.Conv1d(3, 4, 3, padding=1), [_x(2, 3, 9)], None),
    ("Conv2d", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), [_x(2, 3, 8, 8)], None),
    ("Conv2d-groups-dilation", lambda: nn.Conv2d(4, 4, 3, groups=2, dilation=2), [_x(2, 4, 9, 9)], None),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2), [_x(2, 3, 5, 5)], None),
    ("MaxPool2d", lambda: nn.MaxPool2d(2), [_x(2, 3, 8, 8)], None),
    ("AvgPool2d", lambda: nn.AvgPool2d(2), [_x(2, 3, 8, 8)], None),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d(3), [_x(2, 3, 7, 7)], None),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(5), [_x(8, 5)], None),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(3), [_x(4, 3, 5, 5)], None),
    ("LayerNorm", lambda: nn.LayerNorm(6), [_x(3, 4, 6)], None),
    ("GroupNorm", lambda: nn.GroupNorm(2, 4), [_x(3, 4, 5)], None),
    ("RMSNorm", lambda: nn.RMSNorm(6), [_x(3, 6)], None),
    ("Embedding", lambda: nn.Embedding(10, 4), [_tokens(3, 5, 10)], None),
    ("RNN", lambda: nn.RNN(4, 5, num_layers=2, batch_first=True), [_x(2, 6, 4)], lambda m, x: m(x)[0]),
    ("LSTM", lambda: nn.LSTM(4, 5, bidirectional=True), [_x(6, 2, 4)], lambda m, x: m(x)[0]),
    ("GRU", lambda: nn.GRU(4, 5, batch_first=True), [_x(2, 6, 4)], lambda m, x: m(x)[0]),
    (
        "MultiheadAttention",
        lambda: nn.MultiheadAttention(8, 2, batch_first=True),
        [_x(2, 5, 8)],
        lambda m, x: m(x, x, x)[0],
    ),
    (
        "TransformerEncoderLayer",
        lambda: nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True),
        [_x(2, 5, 8)],
        None,
    ),
    (
        "Sequential-activations",
        lambda: nn.Sequential(
            nn.Linear(6, 6),
            nn.ReLU(),
            nn.GELU(),
            nn.SiLU(),
            nn.Tanh(),
            nn.Sigmoid(),
            nn.Softplus(),
            nn.ELU(),
            nn.LeakyReLU(),
            nn.Softmax(dim=-1),
        ),
        [_x(3, 6)],
        None,
    ),
    ("Dropout-eval", lambda: nn.Dropout(0.5).eval(), [_x(3, 6)], None),
    ("CrossEntropyLoss", lambda: nn.CrossEntropyLoss(), [_x(4, 5), np.array([0, 3, 1, 4])], None),
    ("MSELoss", lambda: nn.MSELoss(), [_x(4, 5), _x(4, 5)], None),
    (
        "BCEWithLogitsLoss",
        lambda: nn.BCEWithLogitsLoss(),
        [_x(4, 5), (_x(4, 5) > 0).astype(np.float32)],
        None,
    ),
]


def _run(
    layer: nn.Module, arrays: list[np.ndarray], device: str, call: Callable | None, cot: np.ndarray | None
):
    inputs = [
        cr.tensor(a, requires_grad=a.dtype.kind == "f" and i == 0, device=device)
        for i, a in enumerate(arrays)
    ]
    out = call(layer, *inputs) if call else layer(*inputs)
    if cot is None:
        cot = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    (out * cr.tensor(cot, device=device)).sum().backward()
    return out, inputs, cot


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,factory,arrays,call", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_the_cpu(device, name, factory, arrays, call):
    cpu_layer = factory()
    dev_layer = copy.deepcopy(cpu_layer).to(device)
    for p in dev_layer.parameters():
        assert p.device.type == device, f"{name}: parameter left on {p.device}"
    out_cpu, in_cpu, cot = _run(cpu_layer, arrays, "cpu", call, None)
    out_dev, in_dev, _ = _run(dev_layer, arrays, device, call, cot)
    assert out_dev.device.type == device
    np.testing.assert_allclose(out_dev.cpu().numpy(), out_cpu.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
    if in_cpu[0].grad is not None:
        assert in_dev[0].grad.device.type == device
        np.testing.assert_allclose(in_dev[0].grad.cpu().numpy(), in_cpu[0].grad.numpy(), rtol=1e-4, atol=1e-5)
    for (pname, p_cpu), p_dev in zip(cpu_layer.named_parameters(), dev_layer.parameters(), strict=True):
        if p_cpu.grad is None:
            assert p_dev.grad is None, f"{name}.{pname}: a gradient only on {device}"
            continue
        assert p_dev.grad.device.type == device, f"{name}.{pname}: gradient on {p_dev.grad.device}"
        np.testing.assert_allclose(
            p_dev.grad.cpu().numpy(), p_cpu.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{name}.{pname}"
        )
    for (bname, b_cpu), b_dev in zip(cpu_layer.named_buffers(), dev_layer.buffers(), strict=True):
        np.testing.assert_allclose(b_dev.cpu().numpy(), b_cpu.numpy(), rtol=1e-5, atol=1e-6, err_msg=bname)
