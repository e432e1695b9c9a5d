"""Pooling and upsampling (F.max_pool1d/2d, avg_pool2d, adaptive_avg_pool2d, interpolate and their layers)
checked against PyTorch: values, input gradients, indices, reprs and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from hypothesis import assume, given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812
from chainrule import nn
from helpers import check_against_torch, check_gradcheck


def _ties(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Small integers as floats: many equal values in a window, so the tie rule is exercised."""
    return rng.integers(-2, 3, size=shape).astype(np.float32)


def _torch_or_error(fn, *args, **kw):
    try:
        return fn(*args, **kw), None
    except (RuntimeError, ValueError) as e:
        return None, e


# ------------------------------------------------------------------ max pool
@pytest.mark.parametrize(
    "kw",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 0), "dilation": (2, 1)},
        {"kernel_size": 3, "stride": 2, "ceil_mode": True},
        {"kernel_size": 2, "stride": 1},
    ],
)
def test_max_pool2d_matches_torch(kw):
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8)).astype(np.float32)
    check_against_torch(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x])


def test_max_pool2d_ties_and_relu_zeros_route_to_the_first_maximum():
    # after a ReLU whole windows are 0: PyTorch sends the gradient to the first pixel only
    x = np.maximum(np.random.default_rng(1).standard_normal((4, 5, 12, 12)), 0).astype(np.float32)
    check_against_torch(lambda t: F.max_pool2d(t, 2), lambda t: TF.max_pool2d(t, 2), [x])
    x = _ties(np.random.default_rng(2), (2, 3, 7, 7))
    check_against_torch(lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: TF.max_pool2d(t, 3, 2, 1), [x])


@st.composite
def _pool_config(draw, dims: int = 2, dilation: bool = True):
    k = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    s = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    # padding within k/2, and now and then beyond it (which must be refused)
    p = tuple(draw(st.integers(0, ki // 2 + (draw(st.integers(0, 7)) == 0))) for ki in k)
    d = tuple(draw(st.integers(1, 2)) for _ in range(dims)) if dilation else None
    size = tuple(draw(st.integers(1, 10)) for _ in range(dims))
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return k, s, p, d, draw(st.booleans()), (*batch, draw(st.integers(1, 2)), *size), draw(st.integers(0, 99))


@given(_pool_config())
def test_max_pool2d_hypothesis(cfg):
    k, s, p, d, ceil, shape, seed = cfg
    x = _ties(np.random.default_rng(seed), shape)
    kw = {"kernel_size": k, "stride": s, "padding": p, "dilation": d, "ceil_mode": ceil}
    kw["return_indices"] = True
    expected, error = _torch_or_error(TF.max_pool2d, torch.tensor(x, requires_grad=True), **kw)
    if error is not None:  # PyTorch refuses (padding > k/2, output too small): so must we
        with pytest.raises(ValueError):
            F.max_pool2d(cr.tensor(x), **kw)
        return
    # (with dilation a window can see only padding: -inf, and PyTorch's index then points outside)
    assume(torch.isfinite(expected[0]).all())
    _, idx = check_against_torch(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), [x])
    assert idx.dtype == cr.int64 and not idx.requires_grad
    np.testing.assert_array_equal(idx._array, expected[1].numpy())


@given(_pool_config(dims=1))
def test_max_pool1d_hypothesis(cfg):
    k, s, p, d, ceil, shape, seed = cfg
    x = _ties(np.random.default_rng(seed), shape[-3:] if len(shape) == 4 else shape[-2:])
    kw = {"kernel_size": k[0], "stride": s[0], "padding": p[0], "dilation": d[0], "ceil_mode": ceil}
    expected, error = _torch_or_error(TF.max_pool1d, torch.tensor(x), **kw, return_indices=True)
    if error is not None:
        with pytest.raises(ValueError):
            F.max_pool1d(cr.tensor(x), **kw)
        return
    assume(torch.isfinite(expected[0]).all())
    check_against_torch(lambda t: F.max_pool1d(t, **kw), lambda t: TF.max_pool1d(t, **kw), [x])
    np.testing.assert_array_equal(F.max_pool1d(cr.tensor(x), **kw, return_indices=True)[1], expected[1])


@pytest.mark.parametrize("compiled_on", [True, False])
@pytest.mark.parametrize(
    "kw", [{"kernel_size": 2}, {"kernel_size": 2, "padding": 1}, {"kernel_size": 3, "stride": 2}]
)
def test_max_pool2d_routes_nan_and_inf_gradients_to_the_picked_pixel_only(compiled_on, kw):
    # PyTorch scatters each output's gradient into zeros: the window's other pixels get 0, not NaN
    from chainrule import runtime

    before = runtime.compiled_kernels()
    rng = np.random.default_rng(21)
    x0 = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    x = cr.tensor(x0, requires_grad=True)
    tx = torch.tensor(x0, requires_grad=True)
    try:
        runtime.set_compiled_kernels(compiled_on)
        y, ty = F.max_pool2d(x, **kw), TF.max_pool2d(tx, **kw)
        g0 = rng.standard_normal(ty.shape).astype(np.float32)
        g0[0, 0, 0, :2], g0[1, 2, 1, 1] = [np.nan, np.inf], -np.inf
        y.backward(cr.tensor(g0))
    finally:
        runtime.set_compiled_kernels(before)
    ty.backward(torch.tensor(g0))
    # NaN and inf at the same places; overlapping windows may add in another order
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=0)


def _check_pool_and_indices(fn: str, kw: dict, x: np.ndarray) -> None:
    """``fn``'s output and indices against PyTorch's, with the input's gradient and without one."""
    for grad in (True, False):
        check_against_torch(
            lambda t: getattr(F, fn)(t, **kw, return_indices=True),
            lambda t: getattr(TF, fn)(t, **kw, return_indices=True),
            [x],
            grad=[grad],
        )


@pytest.mark.parametrize("compiled_on", [True, False])
@pytest.mark.parametrize(
    ("fn", "shape", "kw"),
    [
        ("max_pool2d", (2, 2, 6, 6), {"kernel_size": 2}),  # the compiled 2x2 kernel with indices
        ("max_pool2d", (2, 2, 6, 5), {"kernel_size": 3, "stride": 1, "padding": 1}),
        ("max_pool1d", (2, 2, 7), {"kernel_size": 3, "stride": 2}),
        ("max_pool3d", (1, 2, 4, 4, 5), {"kernel_size": 2, "stride": 1}),
        ("adaptive_max_pool1d", (2, 2, 7), {"output_size": 3}),
        ("adaptive_max_pool2d", (2, 2, 5, 6), {"output_size": (2, 4)}),
    ],
)
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the helper's sum of NaN outputs
def test_max_pools_pick_nan_as_torch_does(compiled_on, fn, shape, kw):
    # PyTorch's window max takes a NaN (the last one) and so do its index and gradient; chainrule's
    # output was NaN but its index, and so the gradient, went to the largest number of the window
    from chainrule import runtime

    x = np.random.default_rng(22).standard_normal(shape).astype(np.float32)
    flat = x.reshape(-1)
    flat[[3, 4, 12, 17, 18, 25]] = np.nan  # neighbours share windows: more than one NaN in some
    before = runtime.compiled_kernels()
    try:
        runtime.set_compiled_kernels(compiled_on)
        _check_pool_and_indices(fn, kw, x)
    finally:
        runtime.set_compiled_kernels(before)


@pytest.mark.parametrize(
    ("fn", "shape", "kw"),
    [
        ("max_pool1d", (2, 2, 5), {"kernel_size": 2, "stride": 1, "padding": 1}),
        ("max_pool2d", (2, 2, 5, 4), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
        ("max_pool2d", (1, 2, 5, 5), {"kernel_size": 3, "padding": 1, "dilation": 2}),
        ("max_pool3d", (1, 2, 3, 4, 4), {"kernel_size": 2, "padding": 1}),
    ],
)
def test_max_pools_of_minus_inf_pick_an_input_pixel_not_the_padding(fn, shape, kw):
    # a window whose pixels are all -inf: PyTorch's index is its first pixel (and the gradient goes
    # there); the -inf padding before it won the tie, an index outside the input and a lost gradient
    rng = np.random.default_rng(23)
    x = rng.standard_normal(shape).astype(np.float32)
    x[rng.random(shape) < 0.6] = -np.inf
    _check_pool_and_indices(fn, kw, x)


def test_max_pool_without_grad_gives_the_same_values_and_integer_inputs_work():
    x = np.random.default_rng(3).standard_normal((2, 3, 8, 8)).astype(np.float32)
    with cr.no_grad():
        out = F.max_pool2d(cr.tensor(x, requires_grad=True), 3, 2, 1)
    np.testing.assert_array_equal(out._array, TF.max_pool2d(torch.tensor(x), 3, 2, 1).numpy())
    xi = np.arange(2 * 5 * 5).reshape(1, 2, 5, 5)
    expected = TF.max_pool2d(torch.tensor(xi), 2, padding=1).numpy()
    np.testing.assert_array_equal(F.max_pool2d(cr.tensor(xi), 2, padding=1)._array, expected)


def test_max_pool_gradcheck():
    rng = np.random.default_rng(4)
    x = rng.permutation(2 * 2 * 5 * 5).reshape(2, 2, 5, 5) / 10.0  # distinct values: max is differentiable
    check_gradcheck(lambda t: F.max_pool2d(t, 3, stride=2, padding=1), [x])
    check_gradcheck(lambda t: F.max_pool2d(t, 2), [x[:, :, :4, :4].copy()])
    check_gradcheck(lambda t: F.max_pool1d(t, 2, stride=1, dilation=2), [x[0, 0].copy()])


# ------------------------------------------------------------------ average pool
@given(_pool_config(dilation=False), st.booleans(), st.sampled_from([None, 1, 3]))
def test_avg_pool2d_hypothesis(cfg, count_include_pad, divisor):
    k, s, p, _, ceil, shape, seed = cfg
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    kw = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil}
    kw |= {"count_include_pad": count_include_pad, "divisor_override": divisor}
    _, error = _torch_or_error(TF.avg_pool2d, torch.tensor(x), **kw)
    if error is not None:
        with pytest.raises(ValueError):
            F.avg_pool2d(cr.tensor(x), **kw)
        return
    check_against_torch(lambda t: F.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), [x])


def test_avg_pool_gradcheck():
    x = np.random.default_rng(5).standard_normal((1, 2, 5, 6))
    check_gradcheck(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False), [x])
    check_gradcheck(lambda t: F.avg_pool2d(t, 2, 1), [x])


# ------------------------------------------------------------------ adaptive average pool
@given(
    st.integers(1, 10),
    st.integers(1, 10),
    st.one_of(st.none(), st.integers(1, 7)),
    st.one_of(st.none(), st.integers(1, 7)),
    st.booleans(),
)
def test_adaptive_avg_pool2d_hypothesis(h, w, oh, ow, batched):
    shape = (2, 3, h, w) if batched else (3, h, w)
    x = np.random.default_rng(h * 11 + w).standard_normal(shape).astype(np.float32)
    size = (oh, ow) if oh != ow or oh is None else oh
    check_against_torch(
        lambda t: F.adaptive_avg_pool2d(t, size), lambda t: TF.adaptive_avg_pool2d(t, size), [x], atol=1e-6
    )


def test_adaptive_avg_pool_gradcheck():
    x = np.random.default_rng(6).standard_normal((1, 2, 5, 7))
    check_gradcheck(lambda t: F.adaptive_avg_pool2d(t, (3, 4)), [x])
    check_gradcheck(lambda t: F.adaptive_avg_pool2d(t, 1), [x])


@pytest.mark.parametrize(
    ("fn", "shape", "size"),
    [
        ("adaptive_avg_pool1d", (2, 3, 7), 4),
        ("adaptive_avg_pool2d", (2, 3, 8, 5), (2, 5)),
        ("adaptive_avg_pool3d", (2, 1, 3, 5, 4), (2, 3, 3)),
        ("interpolate", (1, 2, 7, 5), (3, 3)),  # mode="area"
    ],
)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, "mixed"])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the helper's sum of inf outputs
def test_adaptive_avg_pools_keep_inf_and_nan_in_their_windows(fn, shape, size, value):
    # the windows are matrix products: a zero weight times inf was NaN in every output of its row
    x = np.random.default_rng(7).standard_normal(shape)
    if value == "mixed":
        x.flat[3], x.flat[4], x.flat[-2] = np.inf, -np.inf, np.nan
    else:
        x.flat[5] = x.flat[-1] = value
    kw = {"mode": "area"} if fn == "interpolate" else {}
    for dtype in (np.float32, np.float64):
        (out,) = check_against_torch(
            lambda t: getattr(F, fn)(t, size, **kw),
            lambda t: getattr(TF, fn)(t, size, **kw),
            [x.astype(dtype)],
        )
        assert np.isfinite(out.numpy()).any()


@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ((1, 2, 9), {"size": 14, "mode": "linear"}),
        ((1, 2, 6, 7), {"scale_factor": 2.0, "mode": "bilinear"}),
        ((1, 2, 6, 7), {"size": (9, 4), "mode": "bilinear", "align_corners": True}),
        ((1, 2, 6, 7), {"scale_factor": 1.5, "mode": "bicubic"}),
        ((1, 2, 4, 5, 6), {"size": (6, 7, 3), "mode": "trilinear"}),
    ],
)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the helper's sum of inf outputs
def test_interpolation_keeps_inf_and_nan_near_their_pixel(shape, kw, value):
    # each axis is a matrix product: an inf times the zero weights of the outputs far from it made
    # whole rows NaN; PyTorch sums over each output's taps only
    x = np.random.default_rng(8).standard_normal(shape)
    x[(0, 1, *(n // 2 for n in shape[2:]))] = value
    (out,) = check_against_torch(
        lambda t: F.interpolate(t, **kw), lambda t: TF.interpolate(t, **kw), [x], rtol=1e-9, atol=1e-12
    )
    assert np.isfinite(out.numpy()[0, 1]).any() and np.isfinite(out.numpy()[0, 0]).all()


@pytest.mark.parametrize(
    ("fn", "shape", "kw"),
    [
        ("max_pool2d", (0, 3, 5, 8), {"kernel_size": 2, "ceil_mode": True}),
        ("max_pool2d", (0, 3, 4, 4), {"kernel_size": 3, "stride": 1}),
        ("max_pool1d", (0, 3, 5), {"kernel_size": 2}),
        ("max_pool3d", (0, 3, 5, 8, 1), {"kernel_size": 2, "ceil_mode": True}),
        (
            "avg_pool3d",
            (0, 1, 1, 2, 8),
            {"kernel_size": (1, 2, 3), "stride": (1, 2, 1), "padding": (0, 0, 1)},
        ),
        ("adaptive_max_pool1d", (0, 2, 5), {"output_size": 3}),
        ("adaptive_max_pool2d", (0, 2, 5, 4), {"output_size": (3, 2)}),
    ],
)
@pytest.mark.parametrize("requires_grad", [True, False])
def test_pools_of_an_empty_batch_give_an_empty_result(fn, shape, kw, requires_grad):
    # an empty batch failed inside the compiled kernels or a reshape(-1)
    x = np.zeros(shape, np.float32)
    (out,) = check_against_torch(
        lambda t: getattr(F, fn)(t, **kw), lambda t: getattr(TF, fn)(t, **kw), [x], grad=[requires_grad]
    )
    assert out.numel() == 0
    if "max" in fn:
        check_against_torch(
            lambda t: getattr(F, fn)(t, **kw, return_indices=True),
            lambda t: getattr(TF, fn)(t, **kw, return_indices=True),
            [x],
            grad=[requires_grad],
        )


# ------------------------------------------------------------------ interpolate / Upsample
@given(
    st.sampled_from([1, 2, 3]),
    st.data(),
    st.sampled_from(["nearest", "nearest-exact"]),
    st.booleans(),
)
def test_interpolate_hypothesis(dims, data, mode, by_size):
    shape = (2, 2, *(data.draw(st.integers(1, 6)) for _ in range(dims)))
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    if by_size:
        size = data.draw(st.one_of(st.integers(1, 13), st.tuples(*[st.integers(1, 13)] * dims)))
        kw = {"size": size}
    else:
        factors = st.sampled_from([0.5, 0.7, 1.0, 1.3, 1.5, 2.0, 2.5, 3.0])
        kw = {"scale_factor": data.draw(st.one_of(factors, st.tuples(*[factors] * dims)))}
        kw["recompute_scale_factor"] = data.draw(st.sampled_from([None, True]))
    _, error = _torch_or_error(TF.interpolate, torch.tensor(x), mode=mode, **kw)
    if error is not None:  # an output size of 0
        with pytest.raises(ValueError):
            F.interpolate(cr.tensor(x), mode=mode, **kw)
        return
    check_against_torch(
        lambda t: F.interpolate(t, mode=mode, **kw), lambda t: TF.interpolate(t, mode=mode, **kw), [x]
    )


def test_interpolate_gradcheck():
    x = np.random.default_rng(7).standard_normal((1, 2, 3, 4))
    check_gradcheck(lambda t: F.interpolate(t, scale_factor=2), [x])
    check_gradcheck(lambda t: F.interpolate(t, size=(5, 3)), [x])


def test_upsample_layer():
    x = np.random.default_rng(8).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for kw in ({"scale_factor": 2}, {"size": (7, 3)}, {"scale_factor": (1.5, 2.0), "mode": "nearest-exact"}):
        ours, theirs = nn.Upsample(**kw), torch.nn.Upsample(**kw)
        assert repr(ours) == repr(theirs)
        check_against_torch(ours, theirs, [x])


# ------------------------------------------------------------------ layers
def test_layers_match_torch_reprs_and_outputs():
    pairs = [
        (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
        (nn.MaxPool2d((2, 3), 1, 1, 2, False, True), torch.nn.MaxPool2d((2, 3), 1, 1, 2, False, True)),
        (nn.AvgPool2d(3, 2, 1, True, False, None), torch.nn.AvgPool2d(3, 2, 1, True, False, None)),
        (nn.AvgPool2d(2, divisor_override=3), torch.nn.AvgPool2d(2, divisor_override=3)),
        (nn.AdaptiveAvgPool2d((None, 3)), torch.nn.AdaptiveAvgPool2d((None, 3))),
        (nn.AdaptiveAvgPool2d(1), torch.nn.AdaptiveAvgPool2d(1)),
    ]
    x = np.random.default_rng(9).standard_normal((2, 3, 9, 8)).astype(np.float32)
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert ours.state_dict() == {} and list(ours.parameters()) == []
        check_against_torch(ours, theirs, [x])
    assert repr(nn.MaxPool1d(3, padding=1)) == repr(torch.nn.MaxPool1d(3, padding=1))
    check_against_torch(nn.MaxPool1d(3, padding=1), torch.nn.MaxPool1d(3, padding=1), [x[0]])


@pytest.mark.parametrize("args", [(3,), (3, None, 1), ((3,), 2, (1,)), (2, (1,), 0, True, False)])
def test_avg_pool1d_keeps_its_sizes_as_tuples_as_torch_does(args):
    ours, theirs = nn.AvgPool1d(*args), torch.nn.AvgPool1d(*args)
    assert repr(ours) == repr(theirs)
    for name in ("kernel_size", "stride", "padding"):
        assert getattr(ours, name) == getattr(theirs, name)
    x = np.random.default_rng(11).standard_normal((2, 3, 8)).astype(np.float32)
    check_against_torch(ours, theirs, [x])


def test_return_indices_layer_gives_output_and_indices():
    x = np.random.default_rng(10).standard_normal((2, 3, 6, 6)).astype(np.float32)
    out, idx = nn.MaxPool2d(2, return_indices=True)(cr.tensor(x))
    t_out, t_idx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(out._array, t_out.numpy())
    np.testing.assert_array_equal(idx._array, t_idx.numpy())


def test_pooling_in_a_small_cnn_trains_like_torch():
    # conv-free stack: pooling, upsampling and linear, gradients through all of them
    ours = nn.Sequential(
        nn.MaxPool2d(2), nn.Upsample(scale_factor=2), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(12, 3)
    )
    theirs = torch.nn.Sequential(
        torch.nn.MaxPool2d(2), torch.nn.Upsample(scale_factor=2), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(12, 3),
    )  # fmt: skip
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(11).standard_normal((4, 3, 4, 4)).astype(np.float32)
    check_against_torch(ours, theirs, [x])


# ------------------------------------------------------------------ errors
_ERRORS = [
    (lambda x: F.max_pool2d(x[0, 0], 2), r"max_pool2d: expected a 3-D or 4-D input .* got shape \(9, 8\)"),
    (lambda x: F.max_pool2d(x, 3, padding=2), r"max_pool2d: padding should be at most half of kernel_size"),
    (lambda x: F.max_pool2d(x, 10), r"max_pool2d: input of spatial size \(9, 8\) is too small"),
    (lambda x: F.max_pool2d(x, 2, stride=0), r"max_pool2d: stride must be greater than zero"),
    (lambda x: F.max_pool2d(x, 2, padding=-1), r"max_pool2d: padding must be non-negative"),
    (lambda x: F.max_pool1d(x, 2), r"max_pool1d: expected a 2-D or 3-D input"),
    (lambda x: F.avg_pool2d(x, 3, padding=2), r"avg_pool2d: padding should be at most half"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), r"avg_pool2d: divisor_override must be a non-zero"),
    (lambda x: F.adaptive_avg_pool2d(x, (1, 2, 3)), r"adaptive_avg_pool2d: output_size must be an int or"),
    (lambda x: F.adaptive_avg_pool2d(x, -1), r"adaptive_avg_pool2d: output_size must be non-negative"),
    (lambda x: F.interpolate(x, scale_factor=2, mode="linear"), r"got 4D input .* linear mode needs 3D"),
    (lambda x: F.interpolate(x), r"either size or scale_factor should be defined"),
    (lambda x: F.interpolate(x, size=3, scale_factor=2), r"only one of size or scale_factor"),
    (lambda x: F.interpolate(x, size=(3, 4, 5)), r"input has 2 spatial dims \[9, 8\] but size has 3 entries"),
    (lambda x: F.interpolate(x, scale_factor=0.1), r"sizes should be greater than 0"),
    (lambda x: F.interpolate(x, scale_factor=2, align_corners=True), r"align_corners"),
    (lambda x: F.interpolate(x[0, 0], size=2), r"expected a 3-D, 4-D or 5-D input"),
]


@pytest.mark.parametrize(("call", "message"), _ERRORS)
def test_clear_errors(call, message):
    x = cr.tensor(np.zeros((2, 3, 9, 8), np.float32))
    with pytest.raises((ValueError, TypeError), match=message):
        call(x)


def test_layer_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"in MaxPool2d\(kernel_size=2.*\): max_pool2d: expected a 3-D or"):
        nn.MaxPool2d(2)(cr.zeros(4, 4))
    with pytest.raises(ValueError, match=r"Upsample: mode must be one of .*'bicubic'.*, got 'cubic'"):
        nn.Upsample(scale_factor=2, mode="cubic")
    with pytest.raises(TypeError, match=r"kernel_size must be an int or a tuple of 2 ints, got \(2, 3, 4\)"):
        F.max_pool2d(cr.zeros(1, 1, 4, 4), (2, 3, 4))


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("args", [(2,), (2, None, 0), (3, 2, 1), ((2, 2, 2), (2, 2, 2))])
def test_max_unpool_keeps_its_sizes_as_tuples_as_torch_does(dims, args):
    args = tuple(a[:dims] if isinstance(a, tuple) else a for a in args)
    ours, theirs = getattr(nn, f"MaxUnpool{dims}d")(*args), getattr(torch.nn, f"MaxUnpool{dims}d")(*args)
    assert repr(ours) == repr(theirs)
    for name in ("kernel_size", "stride", "padding"):
        assert getattr(ours, name) == getattr(theirs, name)
    x = np.random.default_rng(dims).standard_normal((2, 3) + (8,) * dims).astype(np.float32)
    out, idx = getattr(torch.nn, f"MaxPool{dims}d")(*args, return_indices=True)(torch.tensor(x))
    size = x.shape[2:]
    check_against_torch(
        lambda o, i: ours(o, i, output_size=size), lambda o, i: theirs(o, i, output_size=size),
        [out.numpy(), idx.numpy()],
    )  # fmt: skip
