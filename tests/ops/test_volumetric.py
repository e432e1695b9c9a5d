"""F.conv3d and F.conv_transpose3d against PyTorch (hypothesis-drawn settings) and float64 gradcheck."""

import numpy as np
import pytest
import torch.nn.functional as TF  # noqa: N812
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812
from helpers import check_against_torch, check_gradcheck


@st.composite
def _cases(draw: st.DrawFn, transposed: bool) -> dict:
    groups = draw(st.sampled_from([1, 2]))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.lists(st.integers(1, 3), min_size=3, max_size=3)))
    stride = tuple(draw(st.lists(st.integers(1, 2), min_size=3, max_size=3)))
    dilation = tuple(draw(st.lists(st.integers(1, 2), min_size=3, max_size=3)))
    padding = tuple(draw(st.integers(0, (d * (k - 1)) // 2)) for d, k in zip(dilation, kernel, strict=True))
    spatial = tuple(
        draw(st.integers(d * (k - 1) + 1, d * (k - 1) + 3)) for d, k in zip(dilation, kernel, strict=True)
    )
    case = dict(groups=groups, stride=stride, padding=padding, dilation=dilation)
    if transposed:
        case["output_padding"] = tuple(
            draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
        )
        w = (c_in, c_out // groups, *kernel)
    else:
        w = (c_out, c_in // groups, *kernel)
    return dict(
        case=case, x=(draw(st.integers(1, 2)), c_in, *spatial), w=w, b=c_out if draw(st.booleans()) else None
    )


def _arrays(c: dict) -> list:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(c["x"]).astype(np.float32), rng.standard_normal(c["w"]).astype(np.float32)]
    arrays.append(None if c["b"] is None else rng.standard_normal(c["b"]).astype(np.float32))
    return arrays


@settings(max_examples=25, deadline=None)
@given(c=_cases(transposed=False))
def test_conv3d_matches_torch(c):
    x, w, b = _arrays(c)
    check_against_torch(
        lambda x, w, b: F.conv3d(x, w, b, **c["case"]), lambda x, w, b: TF.conv3d(x, w, b, **c["case"]),
        [x, w, b], rtol=1e-4, atol=1e-5,
    )  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(c=_cases(transposed=True))
def test_conv_transpose3d_matches_torch(c):
    x, w, b = _arrays(c)
    check_against_torch(
        lambda x, w, b: F.conv_transpose3d(x, w, b, **c["case"]),
        lambda x, w, b: TF.conv_transpose3d(x, w, b, **c["case"]),
        [x, w, b], rtol=1e-4, atol=1e-5,
    )  # fmt: skip


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_conv3d_string_padding_and_unbatched(padding):
    rng = np.random.default_rng(1)
    x, w = (
        rng.standard_normal((2, 4, 5, 3)).astype(np.float32),
        rng.standard_normal((3, 2, 2, 3, 2)).astype(np.float32),
    )
    check_against_torch(
        lambda x, w: F.conv3d(x, w, padding=padding, dilation=(1, 2, 1)),
        lambda x, w: TF.conv3d(x, w, padding=padding, dilation=(1, 2, 1)),
        [x, w], rtol=1e-4, atol=1e-5,
    )  # fmt: skip


def test_gradcheck():
    rng = np.random.default_rng(2)
    x, w, b = (
        rng.standard_normal((1, 2, 3, 3, 3)),
        rng.standard_normal((2, 1, 2, 2, 2)),
        rng.standard_normal(2),
    )
    check_gradcheck(lambda x, w, b: F.conv3d(x, w, b, stride=(2, 1, 1), padding=1, groups=2), [x, w, b])
    check_gradcheck(
        lambda x, w, b: F.conv_transpose3d(
            x, w, b, stride=(2, 1, 2), padding=(1, 0, 0), output_padding=(1, 0, 1), groups=2
        ),
        [x, w, b],
    )


def test_errors():
    x, w = cr.zeros(1, 2, 3, 3, 3), cr.zeros(4, 2, 2, 2, 2)
    with pytest.raises(ValueError, match=r"conv3d: expected a 4-D \(unbatched\) or 5-D"):
        F.conv3d(cr.zeros(2, 3, 3), w)
    with pytest.raises(ValueError, match=r"conv3d: expected input with 2 channels"):
        F.conv3d(cr.zeros(1, 3, 3, 3, 3), w)
    with pytest.raises(ValueError, match=r"conv3d: input depth 1 .* smaller than the kernel"):
        F.conv3d(cr.zeros(1, 2, 1, 3, 3), w)
    with pytest.raises(ValueError, match=r"conv_transpose3d: output_padding must be smaller"):
        F.conv_transpose3d(x, cr.zeros(2, 2, 2, 2, 2), output_padding=1)
