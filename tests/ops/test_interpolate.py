"""F.interpolate (linear, bilinear, bicubic, trilinear) and nn.Upsample against PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812
from chainrule import nn
from helpers import check_against_torch, check_gradcheck

_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


@settings(max_examples=30, deadline=None)
@given(
    mode=st.sampled_from(sorted(_DIMS)),
    align_corners=st.booleans(),
    by_size=st.booleans(),
    recompute=st.sampled_from([None, False, True]),
    data=st.data(),
)
def test_interpolate_matches_torch(mode, align_corners, by_size, recompute, data):
    d = _DIMS[mode]
    spatial = data.draw(st.lists(st.integers(1, 5), min_size=d, max_size=d))
    x = np.random.default_rng(0).standard_normal((2, 2, *spatial)).astype(np.float32)
    if by_size:
        kw = {"size": data.draw(st.lists(st.integers(1, 7), min_size=d, max_size=d).map(tuple))}
    else:
        factor = data.draw(st.sampled_from([0.5, 0.75, 1.0, 1.3, 2.0, 2.5, 3.0]))
        if any(int(n * factor) < 1 for n in spatial):
            factor = 2.0
        kw = {"scale_factor": factor, "recompute_scale_factor": recompute}
        # When the output has the input's size but the scale is not 1 (n=1 or 2 at 1.3), PyTorch's
        # CPU kernels copy instead of resampling, and not consistently: the (bi/tri)linear forward
        # copies, the bicubic forward resamples while its backward copies. chainrule resamples with
        # the given scale in both passes (test_interpolate_gradcheck checks that gradient).
        same_size = all(int(n * factor) == n for n in spatial)
        assume(not (same_size and factor != 1.0 and not recompute))
    check_against_torch(
        lambda t: F.interpolate(t, mode=mode, align_corners=align_corners, **kw),
        lambda t: TF.interpolate(t, mode=mode, align_corners=align_corners, **kw),
        [x],
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("mode", sorted(_DIMS))
@pytest.mark.parametrize("align_corners", [False, True])
def test_interpolate_gradcheck(mode, align_corners):
    d = _DIMS[mode]
    x = np.random.default_rng(1).standard_normal((1, 2, *([3] * d)))
    check_gradcheck(lambda t: F.interpolate(t, size=(4,) * d, mode=mode, align_corners=align_corners), [x])


def test_upsample_module_bilinear():
    x = np.random.default_rng(2).standard_normal((1, 3, 4, 5)).astype(np.float32)
    ours = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)(cr.tensor(x))
    theirs = torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)(torch.tensor(x))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("shape", "kw", "message"),
    [
        ((1, 1, 4), {"size": 3, "mode": "bilinear"}, r"got 3D input .* bilinear mode needs 4D input"),
        ((1, 1, 4, 4), {"size": 3, "mode": "nearest", "align_corners": True}, r"align_corners option"),
        ((1, 1, 4, 4), {"size": 3, "mode": "bilinear", "antialias": True}, r"antialias"),
    ],
)
def test_interpolate_errors(shape, kw, message):
    with pytest.raises(ValueError, match=message):
        F.interpolate(cr.zeros(*shape), **kw)


@settings(max_examples=20, deadline=None)
@given(dims=st.integers(1, 3), data=st.data())
def test_area_mode_and_adaptive_avg_pool3d(dims, data):
    spatial = data.draw(st.lists(st.integers(1, 6), min_size=dims, max_size=dims))
    size = tuple(data.draw(st.lists(st.integers(1, 7), min_size=dims, max_size=dims)))
    x = np.random.default_rng(3).standard_normal((2, 2, *spatial)).astype(np.float32)
    check_against_torch(
        lambda t: F.interpolate(t, size=size, mode="area"),
        lambda t: TF.interpolate(t, size=size, mode="area"),
        [x],
    )
    if dims == 3:
        check_against_torch(
            lambda t: F.adaptive_avg_pool3d(t, size), lambda t: TF.adaptive_avg_pool3d(t, size), [x]
        )
        layer = nn.AdaptiveAvgPool3d((None, 1, 2))(cr.tensor(x))
        np.testing.assert_allclose(
            layer.numpy(), torch.nn.AdaptiveAvgPool3d((None, 1, 2))(torch.tensor(x)).numpy(), 1e-5, 1e-6
        )
