"""CTC loss against PyTorch (values, gradients through log_softmax) on drawn batches; float64 gradcheck."""

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
def _batch(draw: st.DrawFn) -> dict:
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 5))
    t = draw(st.integers(1, 8))
    in_len = np.array([draw(st.integers(1, t)) for _ in range(n)])
    tgt_len = np.array([draw(st.integers(0, 4)) for _ in range(n)])
    blank = draw(st.integers(0, c - 1))
    labels = [lab for lab in range(c) if lab != blank]
    # repeated labels are likely with few classes: they need a blank between them
    targets = np.array([[labels[draw(st.integers(0, len(labels) - 1))] for _ in range(4)] for _ in range(n)])
    return dict(t=t, n=n, c=c, in_len=in_len, tgt_len=tgt_len, blank=blank, targets=targets)


@settings(max_examples=30, deadline=None)
@given(b=_batch(), reduction=st.sampled_from(["none", "mean", "sum"]), flat=st.booleans())
def test_ctc_matches_torch(b, reduction, flat):
    x = np.random.default_rng(0).standard_normal((b["t"], b["n"], b["c"]))
    tg = b["targets"]
    if flat:
        tg = np.concatenate([tg[i, : b["tgt_len"][i]] for i in range(b["n"])]).astype(np.int64)
    # short inputs may make an alignment impossible (inf): zero_infinity keeps the comparison finite
    kw = dict(blank=b["blank"], reduction=reduction, zero_infinity=True)
    lengths = torch.tensor(b["in_len"]), torch.tensor(b["tgt_len"])
    check_against_torch(
        lambda a: F.ctc_loss(a.log_softmax(2), cr.tensor(tg), b["in_len"], b["tgt_len"], **kw),
        lambda a: TF.ctc_loss(a.log_softmax(2), torch.tensor(tg), lengths[0], lengths[1], **kw),
        [x], rtol=1e-6, atol=1e-8,
    )  # fmt: skip


def test_impossible_alignment_is_inf_and_layer_matches():
    x = np.random.default_rng(1).standard_normal((3, 2, 4)).astype(np.float32)
    tg = np.array([[1, 1, 2], [1, 2, 3]])
    lp = cr.tensor(x).log_softmax(2)
    ours = nn.CTCLoss(reduction="none")(lp, cr.tensor(tg), [3, 3], [3, 3])
    theirs = torch.nn.CTCLoss(reduction="none")(
        torch.tensor(x).log_softmax(2), torch.tensor(tg), [3, 3], [3, 3]
    )
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5)
    assert np.isinf(ours.numpy()[0]) and np.isfinite(ours.numpy()[1])


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the helper's sum of inf losses
def test_impossible_alignment_without_zero_infinity_has_nan_gradients_as_torch(reduction):
    # sample 0 needs 5 frames for [1, 1, 2] (a blank between the repeats) and has 2: loss inf. PyTorch's
    # gradient is NaN over its frames, 0 past them; chainrule gave 0, hiding the impossible target
    x = np.random.default_rng(3).standard_normal((4, 2, 3))
    tg, in_len, tgt_len = np.array([[1, 1, 2], [1, 2, 1]]), np.array([2, 4]), np.array([3, 1])
    lengths = torch.tensor(in_len), torch.tensor(tgt_len)
    check_against_torch(
        lambda a: F.ctc_loss(a.log_softmax(2), cr.tensor(tg), in_len, tgt_len, reduction=reduction),
        lambda a: TF.ctc_loss(a.log_softmax(2), torch.tensor(tg), *lengths, reduction=reduction),
        [x],
    )


def test_unbatched():
    x = np.random.default_rng(2).standard_normal((6, 4))
    check_against_torch(
        lambda a: F.ctc_loss(a.log_softmax(1), cr.tensor(np.array([1, 2, 2])), [6], [3]),
        lambda a: TF.ctc_loss(
            a.log_softmax(1), torch.tensor([1, 2, 2]), torch.tensor([6]), torch.tensor([3])
        ),
        [x],
    )


def test_gradcheck():
    # the exact gradient in log_probs themselves (no log_softmax in between)
    lp = np.log(np.random.default_rng(3).dirichlet(np.ones(4), (5, 2)))
    tg = cr.tensor(np.array([[1, 1], [2, 3]]))
    check_gradcheck(lambda a: F.ctc_loss(a, tg, [5, 4], [2, 1], reduction="sum"), [lp])


def test_errors():
    lp = cr.zeros(5, 2, 4)
    with pytest.raises(
        ValueError, match=r"ctc_loss: target labels must be in \[0, 4\) and differ from blank=0"
    ):
        F.ctc_loss(lp, cr.tensor(np.array([[0, 1], [1, 2]])), [5, 5], [2, 2])
    with pytest.raises(ValueError, match=r"ctc_loss: input_lengths must be in \[1, 5\]"):
        F.ctc_loss(lp, cr.tensor(np.array([[1, 1], [1, 2]])), [6, 5], [2, 2])
    with pytest.raises(ValueError, match=r"ctc_loss: input_lengths must have one entry per batch element"):
        F.ctc_loss(lp, cr.tensor(np.array([[1, 1], [1, 2]])), [5], [2, 2])
