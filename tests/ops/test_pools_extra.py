"""MaxPool3d, AvgPool1d/3d, adaptive pools (avg 1-D, max 1-D/2-D with indices), max unpooling vs PyTorch."""

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


def _box(draw: st.DrawFn, dims: int, dilation: bool) -> dict:
    k = tuple(draw(st.lists(st.integers(1, 3), min_size=dims, max_size=dims)))
    kw = dict(
        kernel_size=k,
        stride=tuple(draw(st.lists(st.integers(1, 3), min_size=dims, max_size=dims))),
        padding=tuple(draw(st.integers(0, ki // 2)) for ki in k),
        ceil_mode=draw(st.booleans()),
    )
    if dilation:
        kw["dilation"] = tuple(draw(st.lists(st.integers(1, 2), min_size=dims, max_size=dims)))
    return kw


def _input(draw: st.DrawFn, kw: dict, dims: int) -> np.ndarray:
    reach = [d * (k - 1) + 1 for k, d in zip(kw["kernel_size"], kw.get("dilation", (1,) * dims), strict=True)]
    spatial = [draw(st.integers(r, r + 3)) for r in reach]
    # distinct values: ties would let the two libraries pick different maxima
    n = 2 * 2 * int(np.prod(spatial))
    return np.random.default_rng(0).permutation(n).reshape(2, 2, *spatial).astype(np.float32) / n


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_max_pool3d_matches_torch(data):
    kw = _box(data.draw, 3, dilation=True)
    x = _input(data.draw, kw, 3)
    out = check_against_torch(
        lambda t: F.max_pool3d(t, return_indices=True, **kw),
        lambda t: TF.max_pool3d(t, return_indices=True, **kw),
        [x],
    )
    np.testing.assert_array_equal(
        out[1].cpu().numpy(), TF.max_pool3d(torch.tensor(x), return_indices=True, **kw)[1].numpy()
    )


@settings(max_examples=25, deadline=None)
@given(data=st.data(), count_include_pad=st.booleans(), divisor=st.sampled_from([None, 3]))
def test_avg_pool3d_matches_torch(data, count_include_pad, divisor):
    kw = _box(data.draw, 3, dilation=False)
    kw.update(count_include_pad=count_include_pad, divisor_override=divisor)
    x = _input(data.draw, kw, 3)
    check_against_torch(lambda t: F.avg_pool3d(t, **kw), lambda t: TF.avg_pool3d(t, **kw), [x])


@settings(max_examples=20, deadline=None)
@given(data=st.data(), count_include_pad=st.booleans())
def test_avg_pool1d_matches_torch(data, count_include_pad):
    kw = _box(data.draw, 1, dilation=False)
    kw["count_include_pad"] = count_include_pad
    x = _input(data.draw, kw, 1)
    check_against_torch(lambda t: F.avg_pool1d(t, **kw), lambda t: TF.avg_pool1d(t, **kw), [x])


@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 7), w=st.integers(1, 7), oh=st.integers(1, 8), ow=st.integers(1, 8))
def test_adaptive_pools_match_torch(h, w, oh, ow):
    x = np.random.default_rng(1).permutation(2 * 3 * h * w).reshape(2, 3, h, w).astype(np.float32)
    ours = check_against_torch(
        lambda t: F.adaptive_max_pool2d(t, (oh, ow), True),
        lambda t: TF.adaptive_max_pool2d(t, (oh, ow), True),
        [x],
    )
    np.testing.assert_array_equal(
        ours[1].cpu().numpy(), TF.adaptive_max_pool2d(torch.tensor(x), (oh, ow), True)[1].numpy()
    )
    check_against_torch(
        lambda t: F.adaptive_max_pool1d(t[0], ow), lambda t: TF.adaptive_max_pool1d(t[0], ow), [x[:, :, 0]]
    )
    check_against_torch(
        lambda t: F.adaptive_avg_pool1d(t, ow), lambda t: TF.adaptive_avg_pool1d(t, ow), [x[:, :, 0]]
    )


@pytest.mark.parametrize(
    ("dims", "kw"),
    [(1, {"kernel_size": 2}), (2, {"kernel_size": 3, "stride": 2, "padding": 1}), (3, {"kernel_size": 2})],
)
def test_max_unpool_matches_torch(dims, kw):
    x = np.random.default_rng(2).permutation(2 * 2 * 6**dims).reshape(2, 2, *(6,) * dims).astype(np.float32)
    pool_t = getattr(TF, f"max_pool{dims}d")
    pooled, idx = pool_t(torch.tensor(x), return_indices=True, **kw)
    size = (6,) * dims
    check_against_torch(
        lambda t: getattr(F, f"max_unpool{dims}d")(
            t, cr.tensor(idx.numpy(), device=t.device), output_size=size, **kw
        ),
        lambda t: getattr(TF, f"max_unpool{dims}d")(t, idx, output_size=size, **kw),
        [pooled.numpy()],
    )


def test_gradchecks():
    rng = np.random.default_rng(3)
    x = rng.permutation(2 * 4 * 5 * 4).reshape(1, 2, 4, 5, 4) / 10.0
    check_gradcheck(lambda t: F.max_pool3d(t, 2, stride=1, padding=1), [x])
    check_gradcheck(
        lambda t: F.avg_pool3d(t, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), [x]
    )
    check_gradcheck(lambda t: F.adaptive_max_pool2d(t[0], (3, 2)), [x])
    check_gradcheck(lambda t: F.avg_pool1d(t[0, 0], 2, padding=1), [x])
    pooled, idx = F.max_pool2d(cr.tensor(x[0]), 2, return_indices=True)
    check_gradcheck(lambda t: F.max_unpool2d(t, idx, 2), [pooled.numpy().astype(np.float64)])


def test_modules_match_functional():
    x = cr.tensor(np.random.default_rng(4).standard_normal((1, 2, 4, 4, 4)).astype(np.float32))
    y, i = nn.MaxPool3d(2, return_indices=True)(x)
    np.testing.assert_array_equal(nn.MaxUnpool3d(2)(y, i).numpy(), F.max_unpool3d(y, i, 2).numpy())
    np.testing.assert_array_equal(
        nn.AvgPool3d(2, divisor_override=2)(x).numpy(), F.avg_pool3d(x, 2, divisor_override=2).numpy()
    )
    x1 = x[:, :, 0, 0]
    np.testing.assert_array_equal(nn.AvgPool1d(2)(x1).numpy(), F.avg_pool1d(x1, 2).numpy())
    np.testing.assert_array_equal(nn.AdaptiveAvgPool1d(3)(x1).numpy(), F.adaptive_avg_pool1d(x1, 3).numpy())
    np.testing.assert_array_equal(nn.AdaptiveMaxPool1d(3)(x1).numpy(), F.adaptive_max_pool1d(x1, 3).numpy())
    out, idx = nn.AdaptiveMaxPool2d((2, None), return_indices=True)(x[:, :, 0])
    assert out.shape == idx.shape == (1, 2, 2, 4)
    # sizes kept as tuples, as PyTorch keeps them
    assert repr(nn.MaxUnpool2d(2)) == "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"


@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ((1, 1, 2, 5, 5), {"kernel_size": 3, "ceil_mode": True}),
        ((1, 2, 5, 1), {"kernel_size": 2, "padding": (1, 0, 1)}),  # unbatched, W of 1 padded to 3
        ((0, 3, 1, 3, 8), {"kernel_size": (3, 1, 2), "stride": 3, "padding": (1, 0, 1)}),
    ],
)
def test_avg_pool3d_refuses_an_input_smaller_than_its_kernel_as_torch(shape, kw):
    # PyTorch's avg_pool3d (unlike its max_pool3d or avg_pool2d) wants each of D, H, W at least the
    # kernel's, padding aside; chainrule averaged the padded windows
    with pytest.raises(RuntimeError, match="smaller than kernel size"):
        TF.avg_pool3d(torch.zeros(shape), **kw)
    with pytest.raises(ValueError, match=r"avg_pool3d: input of spatial size .* is smaller than kernel_size"):
        F.avg_pool3d(cr.zeros(*shape), **kw)
    with pytest.raises(ValueError, match=r"in AvgPool3d\(.*\): avg_pool3d: input of spatial size"):
        nn.AvgPool3d(**kw)(cr.zeros(*shape))


def test_errors():
    with pytest.raises(ValueError, match=r"max_pool3d: expected a 4-D \(unbatched\) or 5-D"):
        F.max_pool3d(cr.zeros(2, 3, 3), 2)
    with pytest.raises(ValueError, match=r"max_pool3d: input of spatial size \(2, 5, 5\) is too small"):
        F.max_pool3d(cr.zeros(1, 1, 2, 5, 5), 3)
    with pytest.raises(ValueError, match=r"avg_pool1d: input of spatial size \(2,\) is too small"):
        F.avg_pool1d(cr.zeros(1, 1, 2), 3)
    with pytest.raises(ValueError, match=r"avg_pool3d: padding should be at most half"):
        F.avg_pool3d(cr.zeros(1, 1, 4, 4, 4), 2, padding=2)
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: output_size must be positive"):
        F.adaptive_max_pool2d(cr.zeros(1, 1, 4, 4), 0)
    with pytest.raises(ValueError, match=r"max_unpool2d: found an invalid max index 99"):
        F.max_unpool2d(cr.zeros(1, 1, 2, 2), cr.tensor(np.full((1, 1, 2, 2), 99)), 2)
    with pytest.raises(ValueError, match=r"max_unpool2d: indices of shape \(1, 1, 1, 2\) must match"):
        F.max_unpool2d(cr.zeros(1, 1, 2, 2), cr.tensor(np.zeros((1, 1, 1, 2), np.int64)), 2)
