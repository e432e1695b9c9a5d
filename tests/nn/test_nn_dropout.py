"""Dropout: ``F.dropout`` and ``nn.Dropout``.

The mask is random, so instead of comparing with PyTorch's draws these tests
check what dropout promises: the fraction zeroed is close to p, the mean is
preserved (survivors are scaled by 1/(1-p)), the gradient is the same mask, the
seeded generator makes it reproducible, eval mode and ``training=False`` give
the input back, and p outside [0, 1] is refused as PyTorch refuses it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F  # noqa: N812
from helpers import check_gradcheck


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_fraction_zeroed_and_mean_preserved(p):
    x = cr.ones(400, 500)  # 200,000 draws: the binomial std of the fraction is ~1e-3
    out = F.dropout(x, p)
    zeroed = np.mean(out._array == 0)
    assert abs(zeroed - p) < 0.005
    assert abs(out._array.mean() - 1.0) < 0.03
    survivors = out._array[out._array != 0]
    np.testing.assert_allclose(survivors, 1.0 / (1.0 - p), rtol=1e-6)


def test_gradient_is_the_mask():
    x = cr.randn(50, 40, requires_grad=True)
    out = F.dropout(x, 0.3)
    c = cr.randn(50, 40)
    (out * c).sum().backward()
    kept = out._array != 0
    np.testing.assert_allclose(x.grad._array, np.where(kept, c._array / 0.7, 0.0), rtol=1e-6)
    np.testing.assert_allclose(out._array, np.where(kept, x._array / 0.7, 0.0), rtol=1e-6)


def test_seeded_reproducibility():
    x = cr.randn(30, 30)
    cr.manual_seed(123)
    a = F.dropout(x, 0.5)._array
    b = F.dropout(x, 0.5)._array
    cr.manual_seed(123)
    again = F.dropout(x, 0.5)._array
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, b)  # successive calls draw new masks


def test_identity_when_not_training_or_p_zero():
    x = cr.randn(3, 4, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    m = nn.Dropout(0.5)
    assert m.training
    m.eval()
    assert m(x) is x
    m.train()
    assert m(x) is not x


def test_p_one_zeroes_everything():
    x = cr.randn(5, 6, requires_grad=True)
    out = F.dropout(x, 1.0)
    assert not out._array.any()
    out.sum().backward()
    assert not x.grad._array.any()


def test_dtype_shape_and_0d():
    x = cr.randn(2, 3, 4, dtype=cr.float64)
    out = F.dropout(x, 0.25)
    assert out.dtype == np.float64 and out.shape == (2, 3, 4)
    assert F.dropout(cr.tensor(2.0), 0.5).shape == ()
    assert F.dropout(cr.ones(0, 3), 0.5).shape == (0, 3)


def test_gradcheck_with_a_fixed_mask():
    def fn(t):
        cr.manual_seed(7)  # the same mask on every evaluation of the finite differences
        return F.dropout(t, 0.4)

    check_gradcheck(fn, [np.random.default_rng(0).standard_normal((4, 5))])


def test_inplace():
    x = cr.ones(10, 10)
    assert F.dropout(x, 0.5, inplace=True) is x
    assert set(np.unique(x._array)) <= {0.0, 2.0}
    a = cr.ones(10, 10, requires_grad=True)
    h = a * 1.0
    out = nn.Dropout(0.5, inplace=True)(h)  # in a graph: a new tensor, h untouched
    assert out is not h and np.all(h._array == 1.0)
    out.sum().backward()
    np.testing.assert_allclose(a.grad._array, out._array)


def test_bad_p_and_repr():
    for p in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got"):
            F.dropout(cr.ones(2), p)
        with pytest.raises(ValueError, match="Dropout: dropout probability has to be between 0 and 1"):
            nn.Dropout(p)
    for args in [(), (0.2, True)]:
        assert repr(nn.Dropout(*args)) == repr(torch.nn.Dropout(*args))
    with pytest.raises(TypeError, match="dropout: expected a Tensor, got list"):
        F.dropout([1.0, 2.0])


CHANNEL = [
    (nn.Dropout1d, (4, 6, 5), 2),
    (nn.Dropout1d, (6, 5), 1),
    (nn.Dropout2d, (4, 6, 3, 3), 2),
    (nn.Dropout2d, (4, 6, 5), 2),
    (nn.Dropout3d, (2, 6, 2, 2, 2), 2),
    (nn.Dropout3d, (6, 2, 2, 2), 1),
]


@pytest.mark.parametrize(("layer", "shape", "lead"), CHANNEL)
def test_channel_dropout_zeroes_whole_channels_and_scales_the_rest(layer, shape, lead):
    cr.manual_seed(0)
    x = cr.ones(*shape, requires_grad=True)
    out = layer(0.5)(x)
    flat = out.numpy().reshape(int(np.prod(shape[:lead])), -1)
    per_channel = np.unique(flat, axis=1)  # every channel is constant: all 0 or all 2
    assert per_channel.shape[1] == 1 and set(np.unique(flat)) <= {0.0, 2.0}
    assert 0 < (flat[:, 0] == 0).sum() < flat.shape[0]
    (out * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.numpy() * 3)  # d out / d x = the mask
    m = layer(0.5)
    m.eval()
    assert m(x) is x
    # the ranks PyTorch takes without a deprecation warning; others are refused
    getattr(torch.nn, layer.__name__)(0.5)(torch.ones(shape))
    bad = (1,) * (len(shape) + 2)
    if layer is nn.Dropout1d:
        with pytest.raises(RuntimeError):
            torch.nn.Dropout1d(0.5)(torch.ones(bad))
    with pytest.raises(ValueError, match="expected a"):
        layer(0.5)(cr.ones(*bad))


@pytest.mark.parametrize("layer", [nn.AlphaDropout, nn.FeatureAlphaDropout])
def test_alpha_dropout_keeps_mean_and_variance_as_pytorch(layer):
    cr.manual_seed(0)
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((400, 64, 8)).astype(np.float32)
    ours = layer(0.2)(cr.tensor(x)).numpy()
    theirs = getattr(torch.nn, layer.__name__)(0.2)(torch.tensor(x)).numpy()
    assert abs(ours.mean() - theirs.mean()) < 0.02 and abs(ours.std() - theirs.std()) < 0.02
    # the value a dropped unit takes agrees with PyTorch's
    dropped_ours = np.unique(np.round(ours[np.isclose(ours, ours.min())], 5))
    dropped_theirs = np.unique(np.round(theirs[np.isclose(theirs, theirs.min())], 5))
    np.testing.assert_allclose(dropped_ours, dropped_theirs, rtol=1e-5)


def test_alpha_dropout_gradient_is_the_kept_scale():
    cr.manual_seed(1)
    x = cr.randn(50, 4, requires_grad=True)
    out = F.alpha_dropout(x, 0.3, training=True)
    out.sum().backward()
    a = 1.0 / np.sqrt((1.7580993408473766**2 * 0.3 + 1) * 0.7)
    np.testing.assert_allclose(np.unique(x.grad.numpy()), [0.0, a], rtol=1e-6)
    assert F.alpha_dropout(x, 0.3) is x  # training=False by default, as PyTorch's functional form


def test_pytorch_module_paths():
    from chainrule.nn.modules.conv import Conv2d
    from chainrule.nn.modules.loss import CrossEntropyLoss
    from chainrule.nn.modules.module import Module

    assert Conv2d is nn.Conv2d and CrossEntropyLoss is nn.CrossEntropyLoss and Module is nn.Module
    assert cr.nn.modules.batchnorm.BatchNorm2d is nn.BatchNorm2d
    assert cr.nn.modules.rnn.LSTM is nn.LSTM and cr.nn.modules.container.Sequential is nn.Sequential
    assert cr.nn.modules.Linear is nn.Linear and cr.nn.modules.dropout.Dropout2d is nn.Dropout2d
