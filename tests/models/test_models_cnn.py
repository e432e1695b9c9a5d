"""LeNet-5 and the ResNets: torchvision's state_dict layout, and ResNet-18 logits equal to PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn as tnn

import chainrule as cr
from chainrule.models import LeNet5, resnet18, resnet34, resnet50, resnet_small
from reference_models import TBasic, TBottleneck, TResNet


def _shapes(model) -> list[tuple[str, tuple]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


def test_resnet18_state_dict_is_torchvisions():
    keys = [k for k, _ in _shapes(resnet18())]
    # the layout torchvision's resnet18 has: stem, 4 stages of 2 BasicBlocks, downsample in stages 2-4, fc
    block = ["conv1.weight"] + [f"bn1.{s}" for s in ("weight", "bias", "running_mean", "running_var")]
    block += ["bn1.num_batches_tracked", "conv2.weight"]
    block += [f"bn2.{s}" for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    expected = block[:6]
    for stage in range(1, 5):
        for b in range(2):
            expected += [f"layer{stage}.{b}.{k}" for k in block]
            if b == 0 and stage > 1:
                bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
                expected += [f"layer{stage}.0.downsample.0.weight"]
                expected += [f"layer{stage}.0.downsample.1.{s}" for s in bn]
    expected += ["fc.weight", "fc.bias"]
    assert keys == expected
    assert len(keys) == 122


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (resnet18, (TBasic, [2, 2, 2, 2])),
        (resnet34, (TBasic, [3, 4, 6, 3])),
        (resnet50, (TBottleneck, [3, 4, 6, 3])),
    ],
)
def test_resnet_keys_and_shapes_equal_torchvision_layout(ours, theirs):
    assert _shapes(ours()) == _shapes(TResNet(*theirs))


def test_resnet18_from_a_pytorch_safetensors_file_gives_the_same_logits(tmp_path):
    torch.manual_seed(0)
    theirs = TResNet(TBasic, [2, 2, 2, 2])
    with torch.no_grad():  # non-trivial running statistics, so eval mode really uses them
        for m in theirs.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    theirs.eval()
    path = tmp_path / "resnet18.safetensors"
    save_file(theirs.state_dict(), str(path))
    ours = resnet18()
    ours.load_state_dict(cr.load(path))
    ours.eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    with cr.no_grad():
        logits = ours(cr.tensor(x))._array
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)


def test_small_resnet_and_lenet_shapes_and_training_step():
    for model, shape in (
        (resnet_small(), (2, 1, 28, 28)),
        (resnet_small(in_channels=3), (2, 3, 32, 32)),
        (LeNet5(), (2, 1, 28, 28)),
        (LeNet5(in_channels=3, in_size=32), (2, 3, 32, 32)),
    ):
        out = model(cr.randn(*shape))
        assert out.shape == (2, 10)
        out.sum().backward()
        assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="too small"):
        LeNet5(in_size=12)


@pytest.mark.parametrize("factory", [resnet18, resnet34, resnet50])
def test_resnets_take_torchvisions_weights_argument(factory):
    assert isinstance(factory(weights=None, num_classes=3), cr.models.resnet.ResNet)
    for weights in ("DEFAULT", "ResNet18_Weights.IMAGENET1K_V1"):
        with pytest.raises(ValueError, match=r"not bundled.*weights=None.*safetensors"):
            factory(weights=weights)
