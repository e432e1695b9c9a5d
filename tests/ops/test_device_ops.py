"""Ops whose own tests build tensors on the CPU (or live under tests/nn), run on the device too.

The oracle cases here go through ``check_against_torch`` and so run once per
device (see conftest.py). The others compare a device run with a CPU run of
the same call: random draws come from the seeded host generator, so the same
seed gives the same values on every device.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812
from chainrule.ops.sequence import PadSequence, ReorderBatch
from helpers import check_against_torch

ACTIVATIONS = [
    ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("elu", {"alpha": 0.5}),
    ("celu", {}),
    ("selu", {}),
    ("gelu", {"approximate": "none"}),
    ("gelu", {"approximate": "tanh"}),
    ("silu", {}),
    ("mish", {}),
    ("softplus", {"beta": 2.0, "threshold": 1.0}),
    ("relu6", {}),
    ("hardtanh", {"min_val": -2.0, "max_val": 3.0}),
    ("hardsigmoid", {}),
    ("hardswish", {}),
    ("logsigmoid", {}),
]
X = np.array([[-1e4, -30.0, -3.0, -1.0, -1e-3], [0.0, 1e-3, 0.5, 3.0, 1e4]], np.float32)


@pytest.mark.parametrize(("name", "kw"), ACTIVATIONS)
def test_activations(name, kw):
    check_against_torch(lambda t: getattr(F, name)(t, **kw), lambda t: getattr(TF, name)(t, **kw), [X])


def test_normalize_and_embedding_renorm():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    for p in (2.0, 1.0, float("inf"), 3.0):
        check_against_torch(lambda t, p=p: F.normalize(t, p, 1), lambda t, p=p: TF.normalize(t, p, 1), [x])
    idx = np.array([[0, 2, 2], [1, 0, 4]])
    w = (rng.standard_normal((5, 3)) * 3).astype(np.float32)
    check_against_torch(
        lambda i, t: F.embedding(i, t * 1, max_norm=1.0),
        lambda i, t: TF.embedding(i, t * 1, max_norm=1.0),
        [idx, w],
    )


def test_order_statistics_without_dim():
    x = np.array([[3.0, 1.0, 2.0], [5.0, 4.0, 0.0]], np.float32)
    check_against_torch(lambda t: t.median(), lambda t: t.median(), [x])
    check_against_torch(
        lambda t: t.mode(1), lambda t: tuple(t.mode(1)), [np.array([[1.0, 2.0, 2.0, 1.0]], np.float32)]
    )
    check_against_torch(
        lambda t: cr.repeat_interleave(t, cr.tensor([1, 0, 2], device=t.device), dim=1),
        lambda t: torch.repeat_interleave(t, torch.tensor([1, 0, 2]), dim=1),
        [x],
    )


def _same_on_cpu_and(device: str, fn, *arrays: np.ndarray) -> None:
    """``fn`` on tensors made from ``arrays``: equal outputs and gradients on the CPU and ``device``."""
    runs = []
    for where in ("cpu", device):
        cr.manual_seed(7)
        ts = [cr.tensor(a, requires_grad=True, device=where) for a in arrays]
        out = fn(*ts)
        assert out.device.type == where
        c = cr.tensor(np.linspace(-1, 1, out.numel(), dtype=np.float32).reshape(out.shape), device=where)
        (out * c).sum().backward()
        runs.append([out.cpu().numpy()] + [t.grad.cpu().numpy() for t in ts])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: F.dropout(t, 0.3),
        lambda t: F.dropout2d(t, 0.5),
        lambda t: F.alpha_dropout(t, 0.2, training=True),
        lambda t: F.feature_alpha_dropout(t, 0.2, training=True),
        lambda t: F.dropout(t, 1.0),
    ],
)
def test_dropout_draws_the_same_mask_on_every_device(fn):
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(np.float32)
    _same_on_cpu_and("strict", fn, x)


def test_sequence_padding_and_reordering():
    rng = np.random.default_rng(2)
    seqs = [rng.standard_normal((n, 3)).astype(np.float32) for n in (4, 2, 5)]

    def fn(*ts):
        out = PadSequence.apply(*ts, batch_first=True, value=-1.0, left=False, max_len=5, dtype=np.float32)
        return ReorderBatch.apply(out, np.array([2, 0, 1]), 0)

    _same_on_cpu_and("strict", fn, *seqs)


def test_masks_and_indices_given_as_lists_join_the_device():
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    _same_on_cpu_and("strict", lambda t: cr.where([[True, False, True]], t, 0.0), x)
    _same_on_cpu_and("strict", lambda t: t.masked_fill([False, True, False], 5.0), x)
    _same_on_cpu_and("strict", lambda t: t[[1, 0, 1]], x)
    _same_on_cpu_and("strict", lambda t: cr.gather(t, 1, [[2, 0], [1, 1]]), x)
