"""Saving device tensors writes host copies; load(map_location=...) puts tensors where asked (CPU default)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import chainrule as cr
import helpers
from chainrule import nn

DEVICE = [d for d in helpers.DEVICES if d != "cpu"][-1]


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def _assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_array_equal(sa[k].cpu().numpy(), sb[k].cpu().numpy(), err_msg=k)


def test_a_device_model_saved_loads_into_a_cpu_model(tmp_path):
    dev = _model().to(DEVICE)
    dev[1].running_mean._array[...] = 0.5  # a buffer that differs from a fresh model's
    path = tmp_path / "w.safetensors"
    cr.save(dev.state_dict(), path)
    loaded = cr.load(path)
    assert all(t.device.type == "cpu" for t in loaded.values())  # the default: the CPU, as torch.load
    cpu = _model()
    cpu.load_state_dict(loaded)
    _assert_same_state(cpu, dev)


def test_a_cpu_model_saved_loads_into_a_device_model(tmp_path):
    cpu = _model()
    path = tmp_path / "w.safetensors"
    cr.save(cpu.state_dict(), path)
    dev = _model().to(DEVICE)
    dev.load_state_dict(cr.load(path))
    assert all(p.device.type == DEVICE for p in dev.parameters())
    assert all(b.device.type == DEVICE for b in dev.buffers())
    _assert_same_state(dev, cpu)


@pytest.mark.parametrize(
    "map_location",
    [DEVICE, cr.device(DEVICE), {"cpu": DEVICE}, lambda t, where: t.to(DEVICE)],
    ids=["str", "device", "dict", "callable"],
)
def test_map_location_puts_the_tensors_on_the_device(tmp_path, map_location):
    cpu = _model()
    path = tmp_path / "w.safetensors"
    cr.save(cpu.state_dict(), path)
    loaded = cr.load(path, map_location=map_location)
    assert all(t.device.type == DEVICE for t in loaded.values())
    for k, v in cpu.state_dict().items():
        np.testing.assert_array_equal(loaded[k].cpu().numpy(), v.numpy())


def test_map_location_cpu_and_a_file_object(tmp_path):
    dev = _model().to(DEVICE)
    path = tmp_path / "w.safetensors"
    cr.save(dev.state_dict(), path)
    with open(path, "rb") as f:
        loaded = cr.load(f, map_location="cpu")
    assert all(t.device.type == "cpu" for t in loaded.values())
    with open(path, "rb") as f:
        on_device = cr.load(f, map_location=DEVICE)
    assert all(t.device.type == DEVICE for t in on_device.values())


def test_saving_device_tensors_leaves_them_on_the_device(tmp_path):
    t = cr.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), device=DEVICE)
    before = copy.copy(t._array)
    cr.save({"t": t}, tmp_path / "t.safetensors")
    assert t.device.type == DEVICE and type(t._array) is type(before)
    np.testing.assert_array_equal(cr.load(tmp_path / "t.safetensors")["t"].numpy(), t.cpu().numpy())


@pytest.mark.skipif(cr.cuda.is_available(), reason="CUDA is available here")
def test_an_unavailable_map_location_is_refused(tmp_path):
    cr.save({"t": cr.zeros(2)}, tmp_path / "t.safetensors")
    with pytest.raises(RuntimeError, match="map_location: device 'cuda' is not available"):
        cr.load(tmp_path / "t.safetensors", map_location="cuda")
