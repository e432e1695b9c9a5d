"""The kernels whose tests live in tests/nn (conv, pooling, norms, losses, recurrent), on the strict device.

Every case runs on each device (tests/ops/conftest.py): on the CPU, and on the
strict stand-in (tests/strict_array.py), which refuses any NumPy call on its
arrays, so these few cases, through the functional forms, catch an op that
leaks to the host on a GPU. Sizes include arrays above the scratch pool's
threshold, so the pooled and threaded paths are taken on the CPU (and
skipped on the device).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule.nn.functional as F  # noqa: N812
from chainrule.ops.conv import conv_transpose1d, pad_nd
from helpers import check_against_torch

TF = torch.nn.functional
TOL = {"rtol": 1e-4, "atol": 1e-5}


def _arrays(seed: int, *shapes: tuple[int, ...] | None) -> list[np.ndarray | None]:
    rng = np.random.default_rng(seed)
    return [None if s is None else rng.standard_normal(s).astype(np.float32) for s in shapes]


# ------------------------------------------------------------------ convolution
@pytest.mark.parametrize(
    ("x", "w", "kw"),
    [
        ((2, 3, 9, 8), (4, 3, 3, 3), {"padding": 1}),  # channel-major, wide input gradient
        ((2, 4, 9, 8), (6, 2, 3, 2), {"stride": 2, "padding": (2, 1), "dilation": (1, 2), "groups": 2}),
        ((3, 1, 9, 8), (16, 1, 3, 3), {"padding": 1}),  # per sample: few columns
        ((2, 4, 5, 6), (8, 4, 1, 1), {}),  # 1x1: the input is its own columns
        ((4, 8, 40, 40), (8, 8, 3, 3), {"padding": 1}),  # large: pooled buffers, threaded on the CPU
    ],
)
def test_conv2d_on_the_strict_device(x, w, kw):
    xa, wa, ba = _arrays(0, x, w, (w[0],))
    # The large case's weight gradient sums 6,400 products of size ~1 per element, some of which
    # cancel to ~0.3: float32 rounding in any summation order (PyTorch's too) is ~1e-4 there.
    tol = TOL if xa.size < 10_000 else {**TOL, "atol": 1e-4}
    check_against_torch(
        lambda x, w, b: F.conv2d(x, w, b, **kw),
        lambda x, w, b: TF.conv2d(x, w, b, **kw),
        [xa, wa, ba],
        **tol,
    )


def test_conv1d_and_transposed_on_the_strict_device():
    x, w, b = _arrays(1, (2, 3, 11), (4, 3, 3), (4,))
    check_against_torch(
        lambda x, w, b: F.conv1d(x, w, b, padding="same", dilation=2),
        lambda x, w, b: TF.conv1d(x, w, b, padding="same", dilation=2),
        [x, w, b],
        **TOL,
    )
    x, w, b = _arrays(2, (2, 4, 5, 6), (4, 3, 3, 2), (6,))
    kw = {"stride": 2, "padding": (1, 0), "output_padding": 1, "groups": 2}
    check_against_torch(
        lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
        lambda x, w, b: TF.conv_transpose2d(x, w, b, **kw),
        [x, w, b],
        **TOL,
    )
    x, w = _arrays(3, (2, 3, 7), (3, 2, 3))
    check_against_torch(
        lambda x, w: conv_transpose1d(x, w, stride=2),
        lambda x, w: TF.conv_transpose1d(x, w, stride=2),
        [x, w],
        **TOL,
    )


@pytest.mark.parametrize(
    ("mode", "torch_mode"), [("reflect", "reflect"), ("replicate", "replicate"), ("circular", "circular")]
)
def test_padding_modes_on_the_strict_device(mode, torch_mode):
    (x,) = _arrays(4, (2, 3, 5, 6))
    check_against_torch(
        lambda x: pad_nd(x, (2, 1, 1, 2), mode),
        lambda x: TF.pad(x, (2, 1, 1, 2), mode=torch_mode),
        [x],
        **TOL,
    )


# ------------------------------------------------------------------ pooling
@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ((2, 3, 8, 8), {"kernel_size": 2}),  # tiled windows
        ((2, 3, 9, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),  # overlapping, padded
        ((2, 3, 9, 9), {"kernel_size": (2, 3), "stride": 2, "dilation": 2, "ceil_mode": True}),
        ((4, 16, 64, 64), {"kernel_size": 3, "stride": 2}),  # large: threaded slabs on the CPU
    ],
)
def test_max_pool2d_on_each_device(shape, kw):
    (x,) = _arrays(5, shape)
    check_against_torch(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [x], **TOL)
    check_against_torch(
        lambda x: F.max_pool2d(x, **kw, return_indices=True)[1],
        lambda x: TF.max_pool2d(x, **kw, return_indices=True)[1],
        [x],
        grad=[False],
    )


def test_max_pool1d_on_each_device():
    (x,) = _arrays(6, (2, 3, 11))
    check_against_torch(
        lambda x: F.max_pool1d(x, 3, stride=2, padding=1),
        lambda x: TF.max_pool1d(x, 3, stride=2, padding=1),
        [x],
        **TOL,
    )


@pytest.mark.parametrize(
    "kw",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},  # per-window divisors
        {"kernel_size": 3, "stride": 1, "padding": 1, "divisor_override": 4},
    ],
)
def test_avg_pool2d_on_each_device(kw):
    (x,) = _arrays(7, (2, 3, 8, 9))
    check_against_torch(lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), [x], **TOL)


@pytest.mark.parametrize("size", [1, (3, 4), (None, 5)])
def test_adaptive_avg_pool2d_on_each_device(size):
    (x,) = _arrays(8, (2, 3, 7, 9))
    check_against_torch(
        lambda x: F.adaptive_avg_pool2d(x, size), lambda x: TF.adaptive_avg_pool2d(x, size), [x], **TOL
    )


@pytest.mark.parametrize(
    "kw",
    [
        {"scale_factor": 2},  # a plain repeat
        {"size": (5, 7)},  # gathers, and a segment sum back
        {"size": (3, 4), "mode": "nearest-exact"},  # downsampling skips pixels
    ],
)
def test_nearest_interpolate_on_each_device(kw):
    (x,) = _arrays(9, (2, 3, 4, 6))
    check_against_torch(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), [x], **TOL)


# ------------------------------------------------------------------ normalisation
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (6, 3), (8, 16, 64, 64)])
def test_batch_norm_on_each_device(shape, training):
    x, w, b = _arrays(10, shape, (shape[1],), (shape[1],))
    rm, rv = np.zeros(shape[1], np.float32), np.ones(shape[1], np.float32) * 1.5

    def ours(x, w, b, rm, rv):
        return F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.2)

    def theirs(x, w, b, rm, rv):
        return TF.batch_norm(x, rm, rv, w, b, training=training, momentum=0.2)

    check_against_torch(ours, theirs, [x, w, b, rm, rv], grad=[True, True, True, False, False], **TOL)


def test_group_norm_on_each_device():
    x, w, b = _arrays(11, (3, 6, 4, 5), (6,), (6,))
    check_against_torch(
        lambda x, w, b: F.group_norm(x, 3, w, b), lambda x, w, b: TF.group_norm(x, 3, w, b), [x, w, b], **TOL
    )


@pytest.mark.parametrize("shape", [(3, 4, 10), (64, 4096)])  # the second: threaded rows on the CPU
def test_layer_norm_and_rms_norm_on_each_device(shape):
    x, w, b = _arrays(12, shape, shape[-1:], shape[-1:])
    check_against_torch(
        lambda x, w, b: F.layer_norm(x, shape[-1:], w, b),
        lambda x, w, b: TF.layer_norm(x, shape[-1:], w, b),
        [x, w, b],
        **TOL,
    )
    check_against_torch(
        lambda x, w: F.rms_norm(x, shape[-1:], w), lambda x, w: TF.rms_norm(x, shape[-1:], w), [x, w], **TOL
    )


# ------------------------------------------------------------------ losses
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"reduction": "sum", "label_smoothing": 0.1},
        {"ignore_index": 1, "label_smoothing": 0.2},
        {"reduction": "none"},
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_and_nll_on_each_device(kw, weighted):
    x, w = _arrays(13, (6, 4, 3), (4,))
    w = np.abs(w) + 0.1
    t = np.random.default_rng(13).integers(0, 4, (6, 3))
    args = [x, t, w] if weighted else [x, t]

    def ours(x, t, w=None):
        return F.cross_entropy(x, t, w, **kw)

    def theirs(x, t, w=None):
        return TF.cross_entropy(x, t, w, **kw)

    check_against_torch(ours, theirs, args, grad=[True, False, False][: len(args)], **TOL)
    nll = {k: v for k, v in kw.items() if k != "label_smoothing"}
    check_against_torch(
        lambda x, t, w=None: F.nll_loss(x, t, w, **nll),
        lambda x, t, w=None: TF.nll_loss(x, t, w, **nll),
        args,
        grad=[True, False, False][: len(args)],
        **TOL,
    )


def test_cross_entropy_with_probabilities_on_each_device():
    x, t, w = _arrays(14, (5, 4), (5, 4), (4,))
    t = np.exp(t) / np.exp(t).sum(axis=1, keepdims=True)
    check_against_torch(
        lambda x, t, w: F.cross_entropy(x, t, w, label_smoothing=0.1),
        lambda x, t, w: TF.cross_entropy(x, t, w, label_smoothing=0.1),
        [x, t, np.abs(w)],
        grad=[True, True, False],
        **TOL,
    )


def test_binary_cross_entropy_on_each_device():
    x, t, w, pw = _arrays(15, (4, 3), (4, 3), (4, 3), (3,))
    p = 1.0 / (1.0 + np.exp(-x))
    q = (t > 0).astype(np.float32)
    check_against_torch(
        lambda p, q, w: F.binary_cross_entropy(p, q, w),
        lambda p, q, w: TF.binary_cross_entropy(p, q, w),
        [p, q, w],
        grad=[True, True, False],
        **TOL,
    )
    check_against_torch(
        lambda x, q, w, pw: F.binary_cross_entropy_with_logits(x, q, w, pos_weight=pw),
        lambda x, q, w, pw: TF.binary_cross_entropy_with_logits(x, q, w, pos_weight=pw),
        [x, q, w, np.abs(pw)],
        grad=[True, True, False, False],
        **TOL,
    )


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_difference_losses_on_each_device(name, reduction):
    x, t = _arrays(16, (4, 5), (4, 5))
    check_against_torch(
        lambda x, t: getattr(F, name)(x, t, reduction=reduction),
        lambda x, t: getattr(TF, name)(x, t, reduction=reduction),
        [x, t],
        **TOL,
    )


def test_gaussian_nll_loss_on_each_device():
    x, t, v = _arrays(17, (4, 5), (4, 5), (4, 1))
    check_against_torch(
        lambda x, t, v: F.gaussian_nll_loss(x, t, v, full=True),
        lambda x, t, v: TF.gaussian_nll_loss(x, t, v, full=True),
        [x, t, np.abs(v)],
        **TOL,
    )


# ------------------------------------------------------------------ recurrent layers
_TORCH_RNN = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(("reverse", "batch_first"), [(False, False), (True, True)])
def test_recurrent_layers_on_each_device(kind, reverse, batch_first):
    from chainrule.ops import recurrent

    nt, nb, ni, nh = 5, 3, 4, 6
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    shape = (nb, nt, ni) if batch_first else (nt, nb, ni)
    x, w_ih, w_hh, b_ih, b_hh, h0 = _arrays(
        18, shape, (gates * nh, ni), (gates * nh, nh), (gates * nh,), (gates * nh,), (nb, nh)
    )
    ours_fn = getattr(recurrent, f"{kind}_layer")
    suffix = "_reverse" if reverse else ""
    module = _TORCH_RNN[kind](ni, nh, batch_first=batch_first, bidirectional=reverse)

    def ours(x, w_ih, w_hh, b_ih, b_hh, h0):
        state = (h0, h0 * 0.5) if kind == "lstm" else (h0,)  # the LSTM takes c0 too
        out = ours_fn(x, w_ih, w_hh, b_ih, b_hh, *state, reverse=reverse, batch_first=batch_first)
        return out[:2]  # the outputs (time-major) and h_n

    def theirs(x, w_ih, w_hh, b_ih, b_hh, h0):
        # the torch layer in one direction: the reverse one of a bidirectional layer, fed these weights
        params = {f"weight_ih_l0{suffix}": w_ih, f"weight_hh_l0{suffix}": w_hh}
        params |= {f"bias_ih_l0{suffix}": b_ih, f"bias_hh_l0{suffix}": b_hh}
        other = "" if reverse else "_reverse"
        if reverse:  # the forward direction of the bidirectional layer gets zeros; only the reverse is read
            params |= {
                f"{n}_l0{other}": torch.zeros_like(p)
                for n, p in zip(
                    ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), (w_ih, w_hh, b_ih, b_hh), strict=True
                )
            }
        h0 = h0[None]
        h = torch.cat([torch.zeros_like(h0), h0]) if reverse else h0
        state = (
            (h, torch.cat([torch.zeros_like(h0), h0 * 0.5]) if reverse else h0 * 0.5) if kind == "lstm" else h
        )
        out, hn = torch.func.functional_call(module, params, (x, state))
        if kind == "lstm":
            hn = hn[0]
        if reverse:
            out, hn = out[..., nh:], hn[1:]
        return (out.transpose(0, 1) if batch_first else out), hn

    check_against_torch(ours, theirs, [x, w_ih, w_hh, b_ih, b_hh, h0], **TOL)


@pytest.mark.parametrize("reverse", [False, True])
def test_recurrent_layer_with_lengths_matches_the_cpu(reverse, monkeypatch):
    """Variable lengths (packed sequences): the same outputs and gradients on the strict device as on CPU."""
    import chainrule as cr
    from chainrule import runtime
    from chainrule.ops import recurrent

    # the device runs the NumPy loops; the CPU's compiled ones agree only to float32 rounding
    monkeypatch.setattr(runtime, "_compiled", False)

    nt, nb, ni, nh = 4, 3, 2, 5
    arrays = _arrays(19, (nt, nb, ni), (4 * nh, ni), (4 * nh, nh), (4 * nh,), (4 * nh,))
    lengths, batch_sizes = [4, 3, 1], [3, 2, 2, 1]
    results = []
    for device in ("cpu", "strict"):
        ts = [cr.tensor(a, requires_grad=True, device=device) for a in arrays]
        out, hn, cn = recurrent.lstm_layer(*ts, reverse=reverse, batch_sizes=batch_sizes, lengths=lengths)
        (out.sum() + (hn * hn).sum() + cn.sum()).backward()
        results.append([t.cpu().numpy() for t in (out, hn, cn)] + [t.grad.cpu().numpy() for t in ts])
    for ours, cpu in zip(*results, strict=True):
        np.testing.assert_allclose(ours, cpu, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ CTC
@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_matches_the_cpu(reduction, zero_infinity):
    """The CTC recursions on the strict device give the CPU's losses and gradients (targets: on the host)."""
    import chainrule as cr

    (x,) = _arrays(20, (6, 3, 5))
    lp = x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
    targets = np.array([[1, 2, 2], [3, 0, 0], [4, 4, 4]])  # the last: 3 repeats need 6 frames, gets 2
    in_len, tgt_len = np.array([6, 4, 2]), np.array([3, 1, 3])
    results = []
    for device in ("cpu", "strict"):
        t = cr.tensor(lp, requires_grad=True, device=device)
        args = [cr.tensor(a, device=device) for a in (targets, in_len, tgt_len)]
        loss = F.ctc_loss(t, *args, blank=0, reduction=reduction, zero_infinity=zero_infinity)
        loss.sum().backward()
        results.append((loss.cpu().numpy(), t.grad.cpu().numpy()))
    for ours, cpu in zip(*results, strict=True):
        np.testing.assert_allclose(ours, cpu, rtol=1e-6, atol=1e-7)
