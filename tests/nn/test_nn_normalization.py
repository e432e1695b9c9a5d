"""Batch, group and layer normalisation (F.batch_norm/group_norm/layer_norm and the layers) against PyTorch:
values, every gradient, running statistics, train/eval behaviour, state dicts, reprs and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812
from chainrule import nn
from helpers import check_against_torch, check_gradcheck


def _copy_from_torch(ours: nn.Module, theirs: torch.nn.Module) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _data(seed: int, shape: tuple[int, ...], shift: float = 2.0) -> np.ndarray:
    """Off-centre, scaled data: a wrong mean or variance shows up clearly."""
    return (np.random.default_rng(seed).standard_normal(shape) * 3 + shift).astype(np.float32)


def _spread(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Distinct values at least 0.7 apart, shuffled: even a group of two has a well-conditioned
    variance, so float32 gradients can be compared tightly."""
    n = int(np.prod(shape))
    return (np.random.default_rng(seed).permutation(n) * 0.7 - 0.2 * n).reshape(shape).astype(np.float32)


# ------------------------------------------------------------------ functional forms
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 7), (2, 4, 3, 5)])
def test_batch_norm_training_matches_torch(shape):
    rng = np.random.default_rng(0)
    x = _data(1, shape)
    w, b = rng.standard_normal(4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    check_against_torch(
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True),
        [x, w, b], rtol=1e-4, atol=1e-5,
    )  # fmt: skip


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval_matches_torch(affine):
    rng = np.random.default_rng(2)
    x = _data(3, (3, 4, 5, 2))
    rm, rv = rng.standard_normal(4).astype(np.float32), rng.random(4).astype(np.float32) + 0.5
    params = [rng.standard_normal(4).astype(np.float32) for _ in range(2)] if affine else [None, None]

    def ours(x, *p):
        return F.batch_norm(x, cr.tensor(rm), cr.tensor(rv), *p, training=False)

    def theirs(x, *p):
        return TF.batch_norm(x, torch.tensor(rm), torch.tensor(rv), *p, training=False)

    check_against_torch(ours, theirs, [x, *params], rtol=1e-4, atol=1e-5)


def test_batch_norm_updates_running_statistics_like_torch():
    rm, rv = cr.zeros(4), cr.ones(4)
    trm, trv = torch.zeros(4), torch.ones(4)
    for step in range(3):
        x = _data(10 + step, (6, 4, 3))
        F.batch_norm(cr.tensor(x), rm, rv, training=True, momentum=0.3)
        TF.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=0.3)
    np.testing.assert_allclose(rm._array, trm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv._array, trv.numpy(), rtol=1e-5, atol=1e-6)  # the unbiased variance


@st.composite
def _group_config(draw):
    groups = draw(st.integers(1, 3))
    c = groups * draw(st.integers(1, 3))
    spatial = draw(st.lists(st.integers(1, 4), min_size=0, max_size=2))
    return groups, (draw(st.integers(1, 3)), c, *spatial), draw(st.booleans()), draw(st.integers(0, 99))


@given(_group_config())
def test_group_norm_hypothesis(cfg):
    groups, shape, affine, seed = cfg
    rng = np.random.default_rng(seed)
    x = _spread(seed, shape)
    params = [rng.standard_normal(shape[1]).astype(np.float32) for _ in range(2)] if affine else []
    if shape[0] * shape[1] // groups * int(np.prod(shape[2:])) == 1:  # PyTorch refuses: so do we
        with pytest.raises(ValueError, match="Expected more than 1 value"):
            TF.group_norm(torch.tensor(x), groups)
        with pytest.raises(ValueError, match="Expected more than 1 value"):
            F.group_norm(cr.tensor(x), groups)
        return
    if shape[1] // groups * int(np.prod(shape[2:])) == 1:
        # one value per group: x - mean is exactly 0 here (PyTorch's rounding, amplified by
        # 1/sqrt(eps), leaves up to 1e-4), so the output is the bias
        bias = params[1].reshape(1, -1, *[1] * (x.ndim - 2)) if affine else 0
        out = F.group_norm(cr.tensor(x), groups, *map(cr.tensor, params))._array
        np.testing.assert_array_equal(out, np.broadcast_to(bias, x.shape))
        return
    check_against_torch(
        lambda x, *p: F.group_norm(x, groups, *p), lambda x, *p: TF.group_norm(x, groups, *p),
        [x, *params], rtol=1e-4, atol=1e-5,
    )  # fmt: skip


@given(
    st.lists(st.integers(1, 5), min_size=1, max_size=4),
    st.integers(1, 3),
    st.booleans(),
    st.integers(0, 9),
)
def test_layer_norm_hypothesis(shape, k, affine, seed):
    k = min(k, len(shape))
    normalized = tuple(shape[len(shape) - k :])
    rng = np.random.default_rng(seed)
    x = _spread(seed, tuple(shape))
    params = [rng.standard_normal(normalized).astype(np.float32) for _ in range(2)] if affine else []
    check_against_torch(
        lambda x, *p: F.layer_norm(x, normalized, *p), lambda x, *p: TF.layer_norm(x, normalized, *p),
        [x, *params], rtol=1e-4, atol=1e-5,
    )  # fmt: skip


def test_gradcheck_float64():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 2, 2, 2))
    w, b = rng.standard_normal(2), rng.standard_normal(2)
    check_gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b])
    rm, rv = cr.tensor(rng.standard_normal(2)), cr.tensor(rng.random(2) + 0.5)
    check_gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), [x, w, b])
    check_gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [x[:, :, 0, 0].copy()])
    x4 = rng.standard_normal((2, 4, 3))
    check_gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), [x4, *rng.standard_normal((2, 4))])
    check_gradcheck(lambda x, w, b: F.layer_norm(x, (4, 3), w, b), [x4, *rng.standard_normal((2, 4, 3))])


# ------------------------------------------------------------------ BatchNorm layers
@pytest.mark.parametrize(
    ("ours_cls", "theirs_cls", "shape", "kw"),
    [
        (nn.BatchNorm1d, torch.nn.BatchNorm1d, (8, 3), {}),
        (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5), {"momentum": 0.5}),
        (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 2), {}),
        (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 2, 2), {"momentum": None}),
        (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 2, 2), {"affine": False}),
        (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 2, 2), {"track_running_stats": False}),
        (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 2, 2), {"bias": False, "eps": 1e-3}),
    ],
)
def test_batchnorm_layer_trains_and_evaluates_like_torch(ours_cls, theirs_cls, shape, kw):
    ours, theirs = ours_cls(3, **kw), theirs_cls(3, **kw)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():  # non-trivial affine parameters
        for p in theirs.parameters():
            p.uniform_(0.5, 1.5)
    _copy_from_torch(ours, theirs)
    rng = np.random.default_rng(5)
    for step in range(3):  # train steps: outputs, every gradient, the buffers
        x = _data(20 + step, shape)
        c = rng.standard_normal(shape).astype(np.float32)
        xo, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yo, yt = ours(xo), theirs(xt)
        np.testing.assert_allclose(yo._array, yt.detach().numpy(), rtol=1e-4, atol=1e-5)
        (yo * cr.tensor(c)).sum().backward()
        (yt * torch.tensor(c)).sum().backward()
        np.testing.assert_allclose(xo.grad._array, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
        for name, p in theirs.named_parameters():
            np.testing.assert_allclose(getattr(ours, name).grad._array, p.grad.numpy(), rtol=1e-4, atol=1e-5)
        for name, buf in theirs.named_buffers():
            assert getattr(ours, name).dtype == getattr(cr, str(buf.dtype).replace("torch.", ""))
            np.testing.assert_allclose(getattr(ours, name)._array, buf.numpy(), rtol=1e-5, atol=1e-6)
    ours.eval(), theirs.eval()
    x = _data(30, shape)
    check_against_torch(ours, theirs, [x], rtol=1e-4, atol=1e-5)


def test_batchnorm_train_versus_eval_behaviour():
    bn = nn.BatchNorm2d(2)
    x = _data(6, (4, 2, 3, 3))
    y = bn(cr.tensor(x))._array
    # training: every channel of the output has mean 0 and variance 1 over the batch
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)
    # ...and a sample's output depends on the rest of its batch; in eval it does not
    assert not np.allclose(bn(cr.tensor(x[:2]))._array, y[:2], atol=1e-3)
    assert bn.num_batches_tracked.item() == 2
    bn.eval()
    np.testing.assert_allclose(bn(cr.tensor(x[:2]))._array, bn(cr.tensor(x))._array[:2], rtol=1e-6)
    assert bn.num_batches_tracked.item() == 2  # eval leaves the running statistics alone
    # (1, C) input: refused while training (one value per channel), fine in eval
    bn1 = nn.BatchNorm1d(3)
    bn1.eval()
    assert bn1(cr.randn(1, 3)).shape == (1, 3)
    # running statistics update under no_grad too (as in PyTorch)
    bn.train()
    with cr.no_grad():
        bn(cr.tensor(x))
    assert bn.num_batches_tracked.item() == 3
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0
    assert not bn.running_mean._array.any() and (bn.running_var._array == 1).all()


def test_loading_a_torch_batchnorm_state_dict_gives_torch_eval_outputs():
    tnn = torch.nn
    theirs = tnn.Sequential(tnn.BatchNorm2d(4), tnn.ReLU(), tnn.BatchNorm2d(4, momentum=None))
    for step in range(4):
        theirs(torch.tensor(_data(40 + step, (5, 4, 3, 3))))
    theirs.eval()
    ours = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.BatchNorm2d(4, momentum=None))
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    keys = ["0.weight", "0.bias", "0.running_mean", "0.running_var", "0.num_batches_tracked"]
    assert list(state)[:5] == keys
    ours.load_state_dict({k: v.numpy() for k, v in state.items()})
    ours.eval()
    assert ours[0].num_batches_tracked.item() == 4
    x = _data(50, (2, 4, 3, 3))
    expected = theirs(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours(cr.tensor(x))._array, expected, rtol=1e-5, atol=1e-5)


def test_a_state_dict_without_num_batches_tracked_loads_as_in_torch():
    """Files from PyTorch < 0.4.1 lack the counter: PyTorch loads them (keeping its counter), so must we."""
    tnn = torch.nn
    theirs = tnn.Sequential(tnn.BatchNorm1d(3), tnn.BatchNorm1d(3, momentum=None))
    for step in range(3):
        theirs(torch.tensor(_data(60 + step, (5, 3))))
    ours = nn.Sequential(nn.BatchNorm1d(3), nn.BatchNorm1d(3, momentum=None))
    for step in range(3):  # the same counters before the load
        ours(cr.tensor(_data(70 + step, (5, 3))))
    old = {k: v.numpy() for k, v in theirs.state_dict().items() if not k.endswith("num_batches_tracked")}
    result = ours.load_state_dict(old)
    # a state dict without PyTorch's version metadata, as safetensors files hold, gets the same treatment
    expected = theirs.load_state_dict({k: torch.tensor(v) for k, v in old.items()})
    assert result.missing_keys == expected.missing_keys == []
    assert ours[1].num_batches_tracked.item() == theirs[1].num_batches_tracked.item() == 3
    check_against_torch(ours, theirs, [_data(80, (4, 3))])  # training: momentum=None averages over 4 steps
    ours.eval()
    theirs.eval()
    check_against_torch(ours, theirs, [_data(81, (4, 3))])
    with pytest.raises(RuntimeError, match=r'Missing key.*"0\.running_mean"'):
        ours.load_state_dict({k: v for k, v in old.items() if k != "0.running_mean"})


def test_float64_layers():
    bn, tbn = nn.BatchNorm2d(2).double(), torch.nn.BatchNorm2d(2).double()
    x = _data(7, (3, 2, 2, 2)).astype(np.float64)
    check_against_torch(bn, tbn, [x], rtol=1e-10, atol=1e-10)
    assert bn.running_var.dtype == cr.float64 and bn.num_batches_tracked.dtype == cr.int64


# ------------------------------------------------------------------ GroupNorm and LayerNorm layers
@pytest.mark.parametrize(
    ("ours", "theirs", "shape"),
    [
        (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4), (3, 4, 5, 2)),
        (nn.GroupNorm(4, 4, affine=False), torch.nn.GroupNorm(4, 4, affine=False), (1, 4, 6)),
        (nn.GroupNorm(1, 4, eps=1e-3, bias=False), torch.nn.GroupNorm(1, 4, eps=1e-3, bias=False), (2, 4)),
        (nn.LayerNorm(6), torch.nn.LayerNorm(6), (2, 3, 6)),
        (nn.LayerNorm([3, 6], bias=False), torch.nn.LayerNorm([3, 6], bias=False), (2, 3, 6)),
        (nn.LayerNorm(6, elementwise_affine=False), torch.nn.LayerNorm(6, elementwise_affine=False), (4, 6)),
    ],
)
def test_group_and_layer_norm_layers_match_torch(ours, theirs, shape):
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():
        for p in theirs.parameters():
            p.uniform_(0.5, 1.5)
    _copy_from_torch(ours, theirs)
    x = _data(8, shape)
    c = np.random.default_rng(9).standard_normal(shape).astype(np.float32)
    for train in (True, False):  # the same in both modes
        ours.train(train), theirs.train(train)
        xo, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yo, yt = ours(xo), theirs(xt)
        np.testing.assert_allclose(yo._array, yt.detach().numpy(), rtol=1e-4, atol=1e-5)
        ours.zero_grad(), theirs.zero_grad()
        (yo * cr.tensor(c)).sum().backward()
        (yt * torch.tensor(c)).sum().backward()
        np.testing.assert_allclose(xo.grad._array, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
        for name, p in theirs.named_parameters():
            np.testing.assert_allclose(getattr(ours, name).grad._array, p.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("ours", "theirs", "shape"),
    [
        (nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3), (0, 3)),
        (nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None), (2, 3, 0)),
        (nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3), (0, 3, 2, 2)),
        (nn.GroupNorm(2, 4), torch.nn.GroupNorm(2, 4), (0, 4, 5)),
        (nn.LayerNorm(3), torch.nn.LayerNorm(3), (0, 3)),
        (nn.LayerNorm([2, 3], bias=False), torch.nn.LayerNorm([2, 3], bias=False), (4, 0, 2, 3)),
        (nn.RMSNorm(3), torch.nn.RMSNorm(3), (0, 3)),
    ],
)
def test_norm_layers_of_an_empty_batch_give_an_empty_output(ours, theirs, shape):
    # PyTorch normalises an empty batch to an empty output (weight and bias gradients zero, running
    # statistics untouched); chainrule raised "expected a non-empty input" or a NumPy reshape error
    _copy_from_torch(ours, theirs)
    x = np.zeros(shape, np.float32)
    for train in (True, False):
        ours.train(train), theirs.train(train)
        ours.zero_grad(), theirs.zero_grad()
        xo, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yo, yt = ours(xo), theirs(xt)
        assert yo.shape == tuple(yt.shape) == shape
        yo.sum().backward()
        yt.sum().backward()
        assert xo.grad.shape == shape
        for name, p in theirs.named_parameters():
            np.testing.assert_array_equal(getattr(ours, name).grad.numpy(), p.grad.numpy())
        for name, b in theirs.named_buffers():
            np.testing.assert_array_equal(getattr(ours, name).numpy(), b.numpy())


# ------------------------------------------------------------------ errors
_ERRORS = [
    (
        lambda: nn.BatchNorm2d(3)(cr.zeros(2, 4, 2, 2)),
        r"in BatchNorm2d\(3, .*\): expected 3 channels \(num_features\)",
    ),
    (
        lambda: nn.BatchNorm1d(3)(cr.zeros(2, 4)),
        r"in BatchNorm1d\(3, .*\): expected 3 channels",
    ),
    (
        lambda: nn.BatchNorm2d(3)(cr.zeros(2, 3, 4)),
        r"in BatchNorm2d\(3, .*\): expected a 4D \(N, C, H, W\) input",
    ),
    (
        lambda: nn.BatchNorm1d(3)(cr.zeros(3)),
        r"expected a 2D \(N, C\) or 3D \(N, C, L\) input, got shape \(3,\)",
    ),
    (
        lambda: nn.BatchNorm1d(3)(cr.zeros(1, 3)),
        r"Expected more than 1 value per channel when training",
    ),
    (
        lambda: F.batch_norm(cr.zeros(1, 3, 1), None, None, training=True),
        r"Expected more than 1 value per channel",
    ),
    (
        lambda: F.batch_norm(cr.zeros(2, 3), None, None),
        r"batch_norm: running_mean and running_var must be given",
    ),
    (
        lambda: F.batch_norm(cr.zeros(2, 3), None, None, cr.ones(4), training=True),
        r"weight of shape \(4,\) does not",
    ),
    (
        lambda: nn.GroupNorm(4, 6),
        r"GroupNorm: num_channels \(6\) must be divisible by num_groups \(4\)",
    ),
    (
        lambda: F.group_norm(cr.zeros(2, 3, 4), 2),
        r"group_norm: the 3 channels of the input .* num_groups=2",
    ),
    (
        lambda: nn.GroupNorm(2, 6)(cr.zeros(2, 4, 3)),
        r"in GroupNorm\(2, 6, .*\): group_norm: weight of shape \(6,\)",
    ),
    (
        lambda: nn.LayerNorm((2, 3))(cr.zeros(3, 2)),
        r"normalized_shape=\(2, 3\) expects an input of shape \(\*, 2, 3\)",
    ),
    (
        lambda: nn.BatchNorm1d(3)(cr.zeros(2, 3, dtype=cr.float64)),
        r"batch_norm: running_mean dtype float32 does not match input dtype float64",
    ),
    (
        lambda: nn.BatchNorm2d(0),
        r"BatchNorm2d: num_features must be a positive int",
    ),
]


@pytest.mark.parametrize(("call", "message"), _ERRORS)
def test_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
