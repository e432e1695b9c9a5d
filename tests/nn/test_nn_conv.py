"""Conv1d, Conv2d, ConvTranspose2d and F.conv*: against PyTorch (values, every gradient) and gradcheck."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812
from chainrule import nn
from chainrule.ops.conv import conv_transpose1d, pad_nd
from helpers import check_against_torch, check_gradcheck

TF = torch.nn.functional
TOL = {"rtol": 1e-4, "atol": 1e-5}
# PyTorch warns that it copies the input for 'same' with an even kernel; we compare, not tune, here
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")


@pytest.fixture(autouse=True, scope="module")
def _torch_reference_kernels():
    # oneDNN compiles a kernel for every new shape (milliseconds each), and
    # PyTorch's thread pool stalls on a busy machine; on these tiny shapes its
    # single-threaded reference kernels give the same numbers far faster.
    threads, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    yield
    torch.backends.mkldnn.enabled = onednn
    torch.set_num_threads(threads)


def _copy_from_torch(ours: nn.Module, theirs: torch.nn.Module) -> None:
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _arrays(rng: np.random.Generator, *shapes: tuple[int, ...] | None) -> list[np.ndarray | None]:
    return [None if s is None else rng.standard_normal(s).astype(np.float32) for s in shapes]


# ------------------------------------------------------------------ strategies
@st.composite
def conv_cases(draw: st.DrawFn, ndim: int) -> dict:
    """A valid convolution: channels and groups (depthwise too), kernel, stride, padding, dilation, size."""
    kind = draw(st.sampled_from(["plain", "grouped", "depthwise"]))
    if kind == "depthwise":
        c_in = draw(st.integers(1, 4))
        groups, c_out = c_in, c_in * draw(st.integers(1, 2))
    else:
        groups = 1 if kind == "plain" else draw(st.integers(2, 3))
        c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    options = ["int", "tuple", "valid"] + (["same"] if stride == (1,) * ndim else [])
    style = draw(st.sampled_from(options))
    if style == "int":
        pads = (draw(st.integers(0, 2)),) * ndim
        padding: object = pads[0]
    elif style == "tuple":
        pads = tuple(draw(st.integers(0, 2)) for _ in range(ndim))
        padding = pads
    else:
        pads, padding = (0,) * ndim, style
    size = []
    for k, d, p in zip(kernel, dilation, pads, strict=True):
        need = 1 if style == "same" else max(1, d * (k - 1) + 1 - 2 * p)  # the kernel must fit
        size.append(draw(st.integers(need, need + 5)))
    return {
        "x": (draw(st.integers(1, 3)), c_in, *size),
        "w": (c_out, c_in // groups, *kernel),
        "b": (c_out,) if draw(st.booleans()) else None,
        "kw": {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups},
        "seed": draw(st.integers(0, 2**16)),
    }


@st.composite
def transpose_cases(draw: st.DrawFn, ndim: int) -> dict:
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    # output_padding must be below stride or dilation
    out_pad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True))
    size = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    padding = []
    for n, s, d, k, op in zip(size, stride, dilation, kernel, out_pad, strict=True):
        full = (n - 1) * s + d * (k - 1) + op + 1  # the output size without padding
        padding.append(draw(st.integers(0, min(2, (full - 1) // 2))))
    return {
        "x": (draw(st.integers(1, 3)), c_in, *size),
        "w": (c_in, c_out // groups, *kernel),
        "b": (c_out,) if draw(st.booleans()) else None,
        "kw": {
            "stride": stride,
            "padding": tuple(padding),
            "output_padding": out_pad,
            "groups": groups,
            "dilation": dilation,
        },
        "seed": draw(st.integers(0, 2**16)),
    }


def _check_case(case: dict, ours: object, theirs: object) -> None:
    x, w, b = _arrays(np.random.default_rng(case["seed"]), case["x"], case["w"], case["b"])
    kw = case["kw"]
    check_against_torch(
        lambda x, w, b: ours(x, w, b, **kw), lambda x, w, b: theirs(x, w, b, **kw), [x, w, b], **TOL
    )


# ------------------------------------------------------- functional vs torch
@given(case=conv_cases(ndim=2))
def test_conv2d_matches_torch(case):
    _check_case(case, F.conv2d, TF.conv2d)


@given(case=conv_cases(ndim=1))
def test_conv1d_matches_torch(case):
    _check_case(case, F.conv1d, TF.conv1d)


@given(case=conv_cases(ndim=2))
def test_conv2d_input_gradient_in_blocks_of_one_sample(case):
    """The input gradient made sample by sample (its memory bound at work) equals PyTorch's."""
    from chainrule.ops import conv

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(conv, "GRAD_COLUMN_BLOCK_BYTES", 1)
        _check_case(case, F.conv2d, TF.conv2d)


@given(case=conv_cases(ndim=2))
def test_conv2d_inference_in_blocks_of_one_sample(case):
    """Without a graph the columns are made a block of samples at a time: the values stay PyTorch's."""
    from chainrule.ops import conv

    x, w, b = _arrays(np.random.default_rng(case["seed"]), case["x"], case["w"], case["b"])
    tb = None if b is None else torch.from_numpy(b)
    want = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), tb, **case["kw"])
    with pytest.MonkeyPatch.context() as mp, cr.no_grad():
        mp.setattr(conv, "FORWARD_COLUMN_BLOCK_BYTES", 1)
        got = F.conv2d(cr.tensor(x), cr.tensor(w), None if b is None else cr.tensor(b), **case["kw"])
    np.testing.assert_allclose(got.numpy(), want.numpy(), **TOL)


@given(case=transpose_cases(ndim=2))
def test_conv_transpose2d_matches_torch(case):
    _check_case(case, F.conv_transpose2d, TF.conv_transpose2d)


@given(case=transpose_cases(ndim=1))
def test_conv_transpose1d_matches_torch(case):
    _check_case(case, conv_transpose1d, TF.conv_transpose1d)


@pytest.mark.parametrize("padding", ["same", "valid", 0, (2, 1)])
def test_unbatched_input_and_even_kernel_same_padding(padding):
    rng = np.random.default_rng(3)
    x, w, b = _arrays(rng, (3, 6, 7), (4, 3, 2, 4), (4,))
    check_against_torch(
        lambda x, w, b: F.conv2d(x, w, b, padding=padding, dilation=(1, 2)),
        lambda x, w, b: TF.conv2d(x, w, b, padding=padding, dilation=(1, 2)),
        [x, w, b],
        **TOL,
    )
    x1, w1 = _arrays(rng, (2, 9), (3, 2, 4))
    check_against_torch(
        lambda x, w: F.conv1d(x, w, padding=padding if isinstance(padding, str) else 1),
        lambda x, w: TF.conv1d(x, w, padding=padding if isinstance(padding, str) else 1),
        [x1, w1],
        **TOL,
    )


def test_weight_gradient_only_and_input_gradient_only():
    # the first layer of a network: the data needs no gradient, so no column gradient is computed
    rng = np.random.default_rng(4)
    x, w, b = _arrays(rng, (4, 1, 9, 9), (5, 1, 3, 3), (5,))
    for grad in ([False, True, True], [True, False, False]):
        check_against_torch(
            lambda x, w, b: F.conv2d(x, w, b, padding=1),
            lambda x, w, b: TF.conv2d(x, w, b, padding=1),
            [x, w, b],
            grad=grad,
            **TOL,
        )


@pytest.mark.parametrize(
    ("x", "w", "kw"),
    [
        ((3, 1, 9, 8), (16, 1, 3, 3), {"padding": 1}),  # a first layer: many outputs, few columns
        ((2, 2, 9, 8), (16, 2, 3, 2), {"stride": 2, "padding": (2, 1), "dilation": (1, 2)}),
        ((2, 4, 5, 6), (8, 4, 1, 1), {}),  # 1x1: the input is its own columns
        ((2, 4, 5, 6), (8, 4, 1, 1), {"stride": 2}),
    ],
)
def test_layouts_for_few_columns_and_pointwise(x, w, kw):
    rng = np.random.default_rng(11)
    xa, wa, ba = _arrays(rng, x, w, (w[0],))
    check_against_torch(
        lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw), [xa, wa, ba], **TOL
    )
    # a non-contiguous input gives the same result
    xt = cr.tensor(np.ascontiguousarray(xa.transpose(0, 1, 3, 2))).transpose(2, 3)
    np.testing.assert_allclose(
        F.conv2d(xt, cr.tensor(wa), **kw)._array,
        TF.conv2d(torch.tensor(xa), torch.tensor(wa), **kw).numpy(),
        **TOL,
    )


def test_float64_and_empty_batch():
    rng = np.random.default_rng(5)
    x, w = (a.astype(np.float64) for a in _arrays(rng, (2, 3, 5, 5), (4, 3, 3, 3)))
    out = check_against_torch(
        lambda x, w: F.conv2d(x, w, stride=2), lambda x, w: TF.conv2d(x, w, stride=2), [x, w]
    )
    assert out[0].dtype == np.float64
    empty = F.conv2d(cr.zeros(0, 3, 5, 5), cr.tensor(w.astype(np.float32)), padding=1)
    assert empty.shape == (0, 4, 5, 5)


# ---------------------------------------------------------------- gradcheck
def test_gradcheck_conv2d_strided_dilated_grouped():
    rng = np.random.default_rng(6)
    x, w, b = _arrays(rng, (2, 4, 5, 6), (4, 2, 2, 3), (4,))
    check_gradcheck(
        lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2), [x, w, b]
    )
    # an even kernel with 'same': the odd padding goes to the bottom/right
    check_gradcheck(lambda x, w: F.conv2d(x, w, padding="same"), [x[:1], w[:3, :, :, :2].repeat(2, axis=1)])


def test_gradcheck_conv1d_and_depthwise():
    rng = np.random.default_rng(7)
    x, w = _arrays(rng, (2, 3, 7), (6, 1, 3))
    check_gradcheck(lambda x, w: F.conv1d(x, w, stride=2, padding=2, dilation=2, groups=3), [x, w])
    x2, w2, b2 = _arrays(rng, (1, 3, 4, 4), (3, 1, 3, 3), (3,))
    check_gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=3), [x2, w2, b2])


def test_gradcheck_per_sample_layout():
    # few columns per output (and 1x1) take the per-sample GEMMs; check their backward too
    rng = np.random.default_rng(12)
    x, w, b = _arrays(rng, (2, 1, 4, 5), (6, 1, 2, 2), (6,))
    check_gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(1, 2), padding=1), [x, w, b])
    x2, w2 = _arrays(rng, (2, 3, 2, 3), (6, 3, 1, 1))
    check_gradcheck(lambda x, w: F.conv2d(x, w), [x2, w2])


def test_gradcheck_conv_transpose2d():
    rng = np.random.default_rng(8)
    x, w, b = _arrays(rng, (1, 4, 3, 3), (4, 1, 3, 2), (2,))
    check_gradcheck(
        lambda x, w, b: F.conv_transpose2d(
            x, w, b, stride=2, padding=1, output_padding=(1, 0), groups=2, dilation=(1, 2)
        ),
        [x, w, b],
    )


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_gradcheck_padding_modes(mode):
    x = np.random.default_rng(9).standard_normal((1, 2, 3, 4))
    check_gradcheck(lambda x: pad_nd(x, (2, 1, 1, 2), mode), [x])
    check_gradcheck(lambda x: pad_nd(x, (1, 2), mode), [x[0]])


# ----------------------------------------------------------------- modules
def _compare_module(ours: nn.Module, theirs: torch.nn.Module, shape: tuple[int, ...], **call: object) -> None:
    """Copy torch's weights in; compare the output, the input gradient and every parameter gradient."""
    _copy_from_torch(ours, theirs)
    rng = np.random.default_rng(10)
    x = rng.standard_normal(shape).astype(np.float32)
    xo, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo, **call), theirs(xt, **call)
    assert yo.shape == tuple(yt.shape)
    np.testing.assert_allclose(yo._array, yt.detach().numpy(), **TOL)
    c = rng.standard_normal(yo.shape).astype(np.float32)
    (yo * cr.tensor(c)).sum().backward()
    (yt * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(xo.grad._array, xt.grad.numpy(), **TOL)
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad._array, theirs_params[name].grad.numpy(), rtol=1e-4, atol=1e-4)


MODULES = [
    ("Conv2d", (3, 8, 3), {}, (2, 3, 9, 9)),
    ("Conv2d", (4, 6, (3, 2)), {"stride": 2, "padding": (1, 2), "groups": 2, "bias": False}, (3, 4, 8, 7)),
    ("Conv2d", (4, 4, 3), {"padding": "same", "dilation": 2, "groups": 4}, (2, 4, 7, 7)),
    ("Conv2d", (2, 5, 4), {"padding": "same", "padding_mode": "reflect"}, (2, 2, 6, 7)),
    ("Conv2d", (2, 5, 3), {"padding": (1, 2), "padding_mode": "replicate", "stride": 2}, (1, 2, 6, 7)),
    ("Conv2d", (2, 5, 3), {"padding": 2, "padding_mode": "circular", "dilation": 2}, (1, 2, 6, 7)),
    ("Conv1d", (3, 4, 5), {"stride": 2, "padding": 2}, (2, 3, 16)),
    ("Conv1d", (4, 4, 3), {"padding": "same", "groups": 2, "padding_mode": "circular"}, (2, 4, 8)),
    ("Conv1d", (2, 3, 3), {"padding": "valid", "dilation": 3}, (2, 9)),
    ("ConvTranspose2d", (4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1}, (2, 4, 5, 5)),
    (
        "ConvTranspose2d",
        (4, 6, (2, 3)),
        {"stride": (1, 2), "groups": 2, "dilation": 2, "bias": False},
        (4, 3, 4),
    ),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), MODULES)
def test_module_matches_torch(name, args, kwargs, shape):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _compare_module(ours, theirs, shape)


def test_conv_transpose2d_output_size():
    ours, theirs = (
        nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1),
        torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1),
    )
    _compare_module(ours, theirs, (2, 3, 4, 5), output_size=(8, 10))
    assert ours(cr.randn(2, 3, 4, 5), output_size=[2, 2, 7, 9]).shape == (2, 2, 7, 9)
    with pytest.raises(ValueError, match=r"valid sizes range from \(7, 9\) to \(8, 10\)"):
        ours(cr.randn(2, 3, 4, 5), output_size=(9, 9))


@pytest.mark.parametrize(
    ("name", "args", "kwargs"),
    [
        ("Conv2d", (1, 32, 3), {"padding": 1}),
        ("Conv2d", (3, 6, (1, 5)), {"padding": "valid", "stride": (2, 1), "dilation": (3, 1)}),
        ("Conv2d", (3, 3, 3), {"padding": [2, 0], "groups": 3, "bias": False, "padding_mode": "circular"}),
        ("Conv1d", (2, 4, 3), {"padding": "same", "dilation": 2, "padding_mode": "replicate"}),
        ("ConvTranspose2d", (4, 2, 3), {"stride": 2, "output_padding": (1, 0), "groups": 2, "dilation": 1}),
        ("ConvTranspose2d", (4, 2, 3), {"padding": 1, "dilation": 2, "bias": False}),
    ],
)
def test_repr_equals_torch(name, args, kwargs):
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (nn.Conv2d(16, 32, 3), torch.nn.Conv2d(16, 32, 3)),
        (nn.Conv1d(8, 64, 5, groups=4), torch.nn.Conv1d(8, 64, 5, groups=4)),
        (nn.ConvTranspose2d(32, 16, 3, groups=2), torch.nn.ConvTranspose2d(32, 16, 3, groups=2)),
    ],
)
def test_default_init_follows_torch(ours, theirs):
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, fan_in = weight.shape[1] * kernel area
    bound = 1 / math.sqrt(math.prod(ours.weight.shape[1:]))
    for p, q in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
        assert p.dtype == np.float32 and p.shape == tuple(q.shape)
        assert np.abs(p._array).max() <= bound and np.abs(q.detach().numpy()).max() <= bound
    w = ours.weight._array
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound  # uniform, not a narrower law
    assert nn.Conv2d(2, 2, 3, dtype=cr.float64).weight.dtype == np.float64


def test_repeated_layers_share_buffers_safely():
    # identical shapes reuse scratch buffers across layers; saved columns must stay each layer's own
    ours = nn.Sequential(
        *[nn.Conv2d(4, 4, 3, padding=1) for _ in range(3)], nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1)
    )
    theirs = torch.nn.Sequential(
        *[torch.nn.Conv2d(4, 4, 3, padding=1) for _ in range(3)],
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 4, 3, padding=1),
    )
    _compare_module(ours, theirs, (2, 4, 6, 6))
    x = cr.randn(2, 4, 6, 6, requires_grad=True)
    y = ours(x)
    (y * y).sum().backward(retain_graph=True)
    first = x.grad._array.copy()
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad._array, 2 * first, rtol=1e-5, atol=1e-5)


def test_no_grad_forward_records_nothing():
    m = nn.Conv2d(2, 3, 3, padding=1)
    with cr.no_grad():
        y = m(cr.randn(1, 2, 5, 5))
    assert not y.requires_grad and y.grad_fn is None
    with cr.no_grad():
        np.testing.assert_allclose(m(cr.ones(1, 2, 5, 5))._array, m(cr.ones(1, 2, 5, 5))._array)


# ------------------------------------------------------------------ errors
def test_wrong_input_rank_or_channels_names_the_layer():
    m = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*in_channels=3, got input of shape \(2, 4, 5, 5\)"):
        m(cr.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"in_channels=3, got input of shape \(5, 5\)"):
        m(cr.randn(5, 5))
    with pytest.raises(ValueError, match=r"Conv1d.*\(N, 2, L\).*got input of shape \(1, 2, 3, 4\)"):
        nn.Conv1d(2, 2, 1)(cr.randn(1, 2, 3, 4))
    with pytest.raises(
        ValueError, match=r"conv2d: expected input with 6 channels .*groups=2.*\(1, 4, 5, 5\)"
    ):
        F.conv2d(cr.randn(1, 4, 5, 5), cr.randn(4, 3, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"conv2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input"):
        F.conv2d(cr.randn(5, 5), cr.randn(4, 3, 3, 3))


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"Conv2d: in_channels \(3\) must be divisible by groups \(2\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"out_channels \(5\) must be divisible by groups \(2\)"):
        nn.ConvTranspose2d(4, 5, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be an int, a tuple, 'same' or 'valid', got 'full'"):
        nn.Conv1d(3, 4, 3, padding="full")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match='only "zeros" padding mode'):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="groups must be a positive int"):
        nn.Conv2d(3, 3, 3, groups=0)
    with pytest.raises(ValueError, match="kernel_size must be at least 1"):
        nn.Conv2d(3, 3, (3, 0))


def test_functional_errors():
    x = cr.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match=r"conv2d: padding='same' is not supported for strided convolutions"):
        F.conv2d(x, cr.randn(3, 2, 3, 3), padding="same", stride=2)
    with pytest.raises(ValueError, match=r"kernel of size \(5, 5\).*bigger than the padded input \(4, 4\)"):
        F.conv2d(x, cr.randn(3, 2, 5, 5))
    with pytest.raises(ValueError, match=r"dilated: \(5, 5\)\) is bigger than the padded input \(4, 4\)"):
        F.conv2d(x, cr.randn(3, 2, 3, 3), dilation=2)
    with pytest.raises(ValueError, match=r"out_channels .* is not divisible by groups=2"):
        F.conv2d(x, cr.randn(3, 1, 3, 3), groups=2)
    with pytest.raises(TypeError, match="input dtype float64 does not match weight dtype float32"):
        F.conv2d(x.double(), cr.randn(3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"bias of shape \(2,\), expected \(3,\)"):
        F.conv2d(x, cr.randn(3, 2, 3, 3), cr.randn(2))
    with pytest.raises(ValueError, match="stride must be at least 1"):
        F.conv1d(cr.randn(1, 2, 4), cr.randn(3, 2, 3), stride=0)
    with pytest.raises(ValueError, match="output_padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(x, cr.randn(2, 3, 3, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d: expected input with 3 channels"):
        F.conv_transpose2d(x, cr.randn(3, 3, 3, 3))
    with pytest.raises(ValueError, match=r"reflect padding of .* is too large"):
        pad_nd(x, (4, 0), "reflect")


@pytest.mark.parametrize(
    ("x", "w", "kw", "kept"),
    [
        ((3, 8, 9, 10), (8, 8, 3, 3), {"padding": 1}, "x"),  # columns 9x the input: the input
        ((2, 6, 9, 10), (8, 3, 3, 2), {"padding": (1, 0), "dilation": (2, 1), "groups": 2}, "x"),
        ((3, 8, 9, 10), (8, 8, 1, 1), {"stride": 2}, "cols"),  # columns a quarter of it: the columns
    ],
)
def test_training_keeps_the_input_or_its_columns_whichever_is_smaller(x, w, kw, kept):
    xa, wa, ba = _arrays(np.random.default_rng(5), x, w, (w[0],))
    check_against_torch(lambda x, w, b: F.conv2d(x, w, b, **kw), lambda x, w, b: TF.conv2d(x, w, b, **kw),
                        [xa, wa, ba], **TOL)
    xt, wt = cr.tensor(xa, requires_grad=True), cr.tensor(wa, requires_grad=True)
    y = F.conv2d(xt, wt, **kw)
    saved = vars(y.grad_fn)
    assert (saved.get("x") is not None, saved.get("cols") is not None) == (kept == "x", kept == "cols")
    if kept == "x":  # the kept input is checked like any saved tensor: changed in place, backward refuses
        with cr.no_grad():
            xt.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
