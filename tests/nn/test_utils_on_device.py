"""Gradient clipping and flat parameter vectors on a device: the CPU's values, and no trip to the host."""

from __future__ import annotations

import contextlib
import copy

import numpy as np
import pytest

import chainrule as cr
import helpers
import strict_array
from chainrule import devices, nn
from chainrule.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)

DEVICE = [d for d in helpers.DEVICES if d != "cpu"][-1]


@contextlib.contextmanager
def _no_host_reads(monkeypatch: pytest.MonkeyPatch):
    """Fail on any read of the stand-in's values to the host (a GPU would synchronise there)."""
    if DEVICE != "strict":
        yield
        return

    def refuse(*_args, **_kwargs):
        raise AssertionError("a value was read back to the host")

    with monkeypatch.context() as m:
        for name in ("item", "tolist", "get", "__float__", "__int__", "__bool__"):
            m.setattr(strict_array.StrictArray, name, refuse)
        m.setattr(devices, "to_host", refuse)
        yield


def _model_with_grads() -> nn.Module:
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    rng = np.random.default_rng(0)
    for p in model.parameters():
        p.grad = cr.tensor(rng.standard_normal(p.shape).astype(np.float32) * 3)
    return model


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, 0.0, float("inf"), float("-inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_on_the_device_matches_the_cpu(monkeypatch, norm_type, max_norm):
    cpu = _model_with_grads()
    dev = copy.deepcopy(cpu).to(DEVICE)
    total_cpu = clip_grad_norm_(cpu.parameters(), max_norm, norm_type)
    with _no_host_reads(monkeypatch):
        total_dev = clip_grad_norm_(dev.parameters(), max_norm, norm_type)
    assert total_dev.device.type == DEVICE
    np.testing.assert_allclose(total_dev.cpu().numpy(), total_cpu.numpy(), rtol=1e-6)
    for p_cpu, p_dev in zip(cpu.parameters(), dev.parameters(), strict=True):
        assert p_dev.grad.device.type == DEVICE
        np.testing.assert_allclose(p_dev.grad.cpu().numpy(), p_cpu.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_clip_grad_norm_error_if_nonfinite_on_the_device():
    dev = _model_with_grads().to(DEVICE)
    first = next(iter(dev.parameters()))
    first.grad = cr.tensor(np.full(first.shape, np.inf, np.float32), device=DEVICE)
    with pytest.raises(RuntimeError, match="error_if_nonfinite=False"):
        clip_grad_norm_(dev.parameters(), 1.0, error_if_nonfinite=True)


def test_clip_grad_value_and_parameter_vectors_on_the_device(monkeypatch):
    cpu = _model_with_grads()
    dev = copy.deepcopy(cpu).to(DEVICE)
    clip_grad_value_(cpu.parameters(), 0.7)
    with _no_host_reads(monkeypatch):
        clip_grad_value_(dev.parameters(), 0.7)
        vec = parameters_to_vector(dev.parameters())
        vector_to_parameters(vec * 2, dev.parameters())
    for p_cpu, p_dev in zip(cpu.parameters(), dev.parameters(), strict=True):
        np.testing.assert_array_equal(p_dev.grad.cpu().numpy(), p_cpu.grad.numpy())
        np.testing.assert_allclose(p_dev.cpu().numpy(), p_cpu.numpy() * 2, rtol=1e-6)
    assert vec.device.type == DEVICE
    np.testing.assert_array_equal(vec.cpu().numpy(), parameters_to_vector(cpu.parameters()).numpy())


def test_init_fills_device_parameters_in_place():
    layer = nn.Linear(5, 4).to(DEVICE)
    weight = layer.weight._array
    cr.manual_seed(3)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.constant_(layer.bias, 0.25)
    assert layer.weight._array is weight and layer.weight.device.type == DEVICE
    cr.manual_seed(3)
    ref = nn.init.xavier_uniform_(cr.empty(4, 5))
    np.testing.assert_array_equal(layer.weight.cpu().numpy(), ref.numpy())
    np.testing.assert_array_equal(layer.bias.cpu().numpy(), np.full(4, 0.25, np.float32))


def test_causal_mask_and_one_hot_on_the_device():
    mask = nn.Transformer.generate_square_subsequent_mask(4, device=DEVICE)
    assert mask.device.type == DEVICE
    expected = nn.Transformer.generate_square_subsequent_mask(4).numpy()
    np.testing.assert_array_equal(mask.cpu().numpy(), expected)
    idx = cr.tensor(np.array([[0, 2], [1, 2]]), device=DEVICE)
    out = nn.functional.one_hot(idx)
    assert out.device.type == DEVICE
    np.testing.assert_array_equal(out.cpu().numpy(), np.eye(3, dtype=np.int64)[[[0, 2], [1, 2]]])
