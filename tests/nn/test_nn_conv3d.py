"""Conv3d, ConvTranspose1d and ConvTranspose3d against PyTorch, weights copied in via load_state_dict."""

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn


def _compare(ours: nn.Module, theirs: torch.nn.Module, shape: tuple, **kw) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    xo, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo, **kw), theirs(xt, **kw)
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    c = rng.standard_normal(yo.shape).astype(np.float32)
    (yo * cr.tensor(c)).sum().backward()
    (yt * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(
            dict(ours.named_parameters())[name].grad.numpy(),
            p.grad.numpy(),
            rtol=1e-4,
            atol=1e-4,
            err_msg=name,
        )


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"stride": (1, 2, 2), "padding": 1, "groups": 2, "bias": False},
        {"padding": "same", "dilation": 2},
        {"padding": (1, 0, 2), "padding_mode": "reflect"},
        {"padding": 1, "padding_mode": "circular", "stride": 2},
    ],
)
def test_conv3d(kw):
    torch.manual_seed(0)
    ours, theirs = nn.Conv3d(4, 6, (2, 3, 3), **kw), torch.nn.Conv3d(4, 6, (2, 3, 3), **kw)
    assert ours.weight.shape == tuple(theirs.weight.shape) == (6, 4 // kw.get("groups", 1), 2, 3, 3)
    _compare(ours, theirs, (2, 4, 5, 6, 5))
    _compare(ours, theirs, (4, 5, 6, 5))  # unbatched


@pytest.mark.parametrize(
    ("kw", "size"),
    [
        ({}, None),
        ({"stride": 2, "padding": 1, "output_padding": 1, "groups": 2}, None),
        ({"stride": 3}, (16,)),
    ],
)
def test_conv_transpose1d(kw, size):
    torch.manual_seed(1)
    ours, theirs = nn.ConvTranspose1d(4, 6, 3, **kw), torch.nn.ConvTranspose1d(4, 6, 3, **kw)
    extra = {} if size is None else {"output_size": size}
    _compare(ours, theirs, (2, 4, 5), **extra)


@pytest.mark.parametrize(
    ("kw", "size"),
    [
        ({}, None),
        (
            {
                "stride": (2, 1, 2),
                "padding": 1,
                "output_padding": (1, 0, 0),
                "groups": 2,
                "dilation": (1, 2, 1),
            },
            None,
        ),
        ({"stride": 2, "bias": False}, (2, 4, 8, 8, 8)),
    ],
)
def test_conv_transpose3d(kw, size):
    torch.manual_seed(2)
    ours, theirs = nn.ConvTranspose3d(4, 6, 3, **kw), torch.nn.ConvTranspose3d(4, 6, 3, **kw)
    assert ours.weight.shape == tuple(theirs.weight.shape)
    extra = {} if size is None else {"output_size": size}
    _compare(ours, theirs, (2, 4, 3, 3, 3), **extra)


def test_layer_errors():
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 4, D, H, W\) or \(4, D, H, W\)"):
        nn.Conv3d(4, 6, 3)(cr.zeros(1, 3, 5, 5, 5))
    with pytest.raises(ValueError, match=r"ConvTranspose3d: requested an output size"):
        nn.ConvTranspose3d(4, 6, 3, stride=2)(cr.zeros(1, 4, 3, 3, 3), output_size=(20, 20, 20))
    with pytest.raises(TypeError, match=r"Conv3d: kernel_size must be an int or a tuple of 3 ints"):
        nn.Conv3d(4, 6, (3, 3))
