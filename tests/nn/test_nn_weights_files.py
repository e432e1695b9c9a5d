"""Weights move between PyTorch and chainrule through safetensors files, unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import chainrule as cr
from chainrule import nn


def _torch_mlp() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(6, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 8),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 3),
    )


def _our_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3))


def test_a_file_written_by_pytorch_loads_and_gives_the_same_outputs(tmp_path):
    theirs = _torch_mlp()
    path = tmp_path / "torch_mlp.safetensors"
    save_file(theirs.state_dict(), str(path))
    ours = _our_mlp()
    ours.load_state_dict(cr.load(path))
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_allclose(
        ours(cr.tensor(x))._array, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_our_file_loads_into_pytorch(tmp_path):
    ours = _our_mlp()
    path = tmp_path / "ours.safetensors"
    cr.save(ours.state_dict(), path)
    from safetensors.torch import load_file

    theirs = _torch_mlp()
    theirs.load_state_dict(load_file(str(path)))
    x = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(
        ours(cr.tensor(x))._array, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_a_file_for_another_architecture_is_refused_by_name(tmp_path):
    path = tmp_path / "other.safetensors"
    cr.save(nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 3)).state_dict(), path)
    with pytest.raises(RuntimeError) as info:
        _our_mlp().load_state_dict(cr.load(path))
    msg = str(info.value)
    assert "size mismatch for 0.weight" in msg and "(10, 6)" in msg and "(16, 6)" in msg
    assert 'Missing key(s) in state_dict: "4.weight", "4.bias"' in msg


def test_a_corrupt_weights_file_names_the_file(tmp_path):
    path = tmp_path / "broken.safetensors"
    cr.save(_our_mlp().state_dict(), path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"broken\.safetensors"):
        cr.load(path)
