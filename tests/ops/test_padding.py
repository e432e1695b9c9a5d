"""F.pad's copying modes (reflect, replicate, circular) over 1-3 dims against PyTorch, and gradcheck."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule.nn.functional as F  # noqa: N812
from helpers import check_against_torch, check_gradcheck


@settings(max_examples=30, deadline=None)
@given(
    mode=st.sampled_from(["reflect", "replicate", "circular"]),
    dims=st.integers(1, 3),
    batched=st.booleans(),
    data=st.data(),
)
def test_pad_modes_match_torch(mode, dims, batched, data):
    spatial = data.draw(st.lists(st.integers(2, 4), min_size=dims, max_size=dims))
    limit = {"reflect": 1, "replicate": 3, "circular": 2}[mode]
    amounts = data.draw(st.lists(st.integers(0, limit), min_size=2 * dims, max_size=2 * dims))
    shape = ((2,) if batched else ()) + (3, *spatial)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    check_against_torch(lambda t: F.pad(t, amounts, mode=mode), lambda t: TF.pad(t, amounts, mode=mode), [x])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_gradcheck(mode):
    x = np.random.default_rng(1).standard_normal((1, 2, 3, 3, 3))
    check_gradcheck(lambda t: F.pad(t, (1, 2, 0, 1, 2, 1), mode=mode), [x])


def test_constant_mode_still_pads_and_crops():
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    check_against_torch(
        lambda t: F.pad(t, (1, -1, 2, 0), value=1.5), lambda t: TF.pad(t, (1, -1, 2, 0), value=1.5), [x]
    )


@pytest.mark.parametrize(
    ("shape", "pad", "mode", "message"),
    [
        ((1, 2, 3), (1, 1), "wrap", r"pad: mode must be one of"),
        ((1, 2, 3), (1, 1, 1), "reflect", r"takes 2, 4 or 6 amounts"),
        ((3,), (1, 1), "reflect", r"expects a 2-D or 3-D input, got shape \(3,\)"),
        ((1, 2, 3), (3, 0), "reflect", r"too large"),
    ],
)
def test_pad_errors(shape, pad, mode, message):
    import chainrule as cr

    with pytest.raises(ValueError, match=message):
        F.pad(cr.zeros(*shape), pad, mode=mode)
    with pytest.raises((ValueError, RuntimeError, NotImplementedError)):
        TF.pad(torch.zeros(*shape), pad, mode=mode)
