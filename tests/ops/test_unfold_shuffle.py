"""F.unfold/F.fold, pixel (un)shuffle and bilinear, their layers, against PyTorch and gradcheck."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812
from chainrule import nn
from helpers import check_against_torch, check_gradcheck


@st.composite
def _blocks(draw: st.DrawFn) -> tuple[dict, tuple[int, int]]:
    k = tuple(draw(st.lists(st.integers(1, 3), min_size=2, max_size=2)))
    d = tuple(draw(st.lists(st.integers(1, 2), min_size=2, max_size=2)))
    p = tuple(draw(st.lists(st.integers(0, 2), min_size=2, max_size=2)))
    s = tuple(draw(st.lists(st.integers(1, 3), min_size=2, max_size=2)))
    size = tuple(
        max(1, di * (ki - 1) + 1 - 2 * pi) + draw(st.integers(0, 4))
        for ki, di, pi in zip(k, d, p, strict=True)
    )
    return dict(kernel_size=k, dilation=d, padding=p, stride=s), size


@settings(max_examples=30, deadline=None)
@given(case=_blocks(), batched=st.booleans())
def test_unfold_and_fold(case, batched):
    kw, size = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(((2,) if batched else ()) + (3, *size)).astype(np.float32)
    cols = check_against_torch(lambda t: F.unfold(t, **kw), lambda t: TF.unfold(t, **kw), [x])[0]
    check_against_torch(
        lambda t: F.fold(t, size, **kw), lambda t: TF.fold(t, size, **kw), [cols.cpu().numpy()]
    )
    ours = nn.Fold(size, **kw)(nn.Unfold(**kw)(cr.tensor(x)))
    theirs = torch.nn.Fold(size, **kw)(torch.nn.Unfold(**kw)(torch.tensor(x)))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), 1e-5, 1e-5)


@settings(max_examples=20, deadline=None)
@given(
    r=st.integers(1, 3),
    lead=st.sampled_from([(), (2,), (2, 1)]),
    c=st.integers(1, 2),
    h=st.integers(1, 3),
    w=st.integers(1, 3),
)
def test_pixel_shuffle_roundtrip(r, lead, c, h, w):
    x = np.random.default_rng(1).standard_normal((*lead, c * r * r, h, w)).astype(np.float32)
    y = check_against_torch(lambda t: F.pixel_shuffle(t, r), lambda t: TF.pixel_shuffle(t, r), [x])[0]
    check_against_torch(
        lambda t: F.pixel_unshuffle(t, r), lambda t: TF.pixel_unshuffle(t, r), [y.cpu().numpy()]
    )
    np.testing.assert_array_equal(nn.PixelUnshuffle(r)(nn.PixelShuffle(r)(cr.tensor(x))).numpy(), x)


@pytest.mark.parametrize(("lead", "bias"), [((4,), True), ((2, 3), False), ((), True)])
def test_bilinear_layer(lead, bias):
    torch.manual_seed(0)
    theirs = torch.nn.Bilinear(3, 4, 5, bias=bias)
    ours = nn.Bilinear(3, 4, 5, bias=bias)
    assert ours.weight.shape == (5, 3, 4) and list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(2)
    x1, x2 = (
        rng.standard_normal((*lead, 3)).astype(np.float32),
        rng.standard_normal((*lead, 4)).astype(np.float32),
    )
    args = [x1, x2, ours.weight.numpy()] + ([ours.bias.numpy()] if bias else [])
    check_against_torch(F.bilinear, TF.bilinear, args, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        ours(cr.tensor(x1), cr.tensor(x2)).numpy(),
        theirs(torch.tensor(x1), torch.tensor(x2)).detach().numpy(),
        1e-4,
        1e-5,
    )
    bound = 1 / np.sqrt(3)
    assert np.abs(nn.Bilinear(3, 4, 5).weight.numpy()).max() <= bound


@pytest.mark.parametrize(
    ("dtypes", "message"),
    [
        ((np.float64, np.float64, np.float32), "input1 float64, input2 float64, weight float32"),
        ((np.float32, np.float64, np.float32), "input1 float32, input2 float64"),
        ((np.int64, np.int64, np.float32), "input1 int64, input2 int64"),
    ],
)
def test_bilinear_refuses_mixed_dtypes_as_torch_does(dtypes, message):
    # PyTorch raises "All tensors must have the same dtype"; chainrule promoted silently (F.linear refuses)
    arrays = [np.ones(shape, dt) for shape, dt in zip(((2, 3), (2, 4), (5, 3, 4)), dtypes, strict=True)]
    with pytest.raises(RuntimeError, match="same dtype"):
        TF.bilinear(*(torch.tensor(a) for a in arrays))
    with pytest.raises(TypeError, match=rf"bilinear: all tensors must have the same dtype, got {message}"):
        F.bilinear(*(cr.tensor(a) for a in arrays))
    layer = nn.Bilinear(3, 4, 5).double()
    with pytest.raises(TypeError, match=r"in Bilinear\(.*\): bilinear: .*bias float64"):
        layer(cr.ones(2, 3), cr.ones(2, 4))


def test_gradchecks():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 4, 5))
    check_gradcheck(lambda t: F.unfold(t, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)), [x])
    cols = rng.standard_normal((1, 2 * 4, 6))
    check_gradcheck(lambda t: F.fold(t, (3, 4), 2), [cols])
    check_gradcheck(lambda t: F.pixel_shuffle(t, 2), [rng.standard_normal((1, 4, 2, 3))])
    check_gradcheck(
        F.bilinear,
        [
            rng.standard_normal((2, 3)),
            rng.standard_normal((2, 2)),
            rng.standard_normal((4, 3, 2)),
            rng.standard_normal(4),
        ],
    )


def test_errors():
    with pytest.raises(ValueError, match=r"fold: expected an input of shape \(N, C\*4, 4\)"):
        F.fold(cr.zeros(1, 8, 5), (3, 3), 2)
    with pytest.raises(ValueError, match=r"unfold: the spatial size \(2, 2\) .* no block fits"):
        F.unfold(cr.zeros(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match=r"pixel_shuffle: channels 3 .* divisible by 2\^2"):
        F.pixel_shuffle(cr.zeros(1, 3, 2, 2), 2)
    with pytest.raises(ValueError, match=r"bilinear: expected inputs \(\*, 3\) and \(\*, 4\)"):
        nn.Bilinear(3, 4, 5)(cr.zeros(2, 4), cr.zeros(2, 4))
