"""Exported graphs pass onnx.checker and match chainrule in ONNX Runtime, also at other batch/sequence sizes."""  # noqa: E501

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.onnx import ExportError, export


def run_export(tmp_path, model, args, names, dyn=None, others=()):
    """Export ``model(*args)``, then compare ONNX Runtime with chainrule on ``args`` and each of ``others``."""  # noqa: E501
    path = tmp_path / "model.onnx"
    export(model, args, path, input_names=list(names), dynamic_axes=dyn)
    session = ort.InferenceSession(str(path))
    model.eval()
    for xs in [args, *others]:
        xs = xs if isinstance(xs, tuple) else (xs,)
        want = model(*xs)
        want = [want] if isinstance(want, cr.Tensor) else list(want)
        got = session.run(None, {n: x._array for n, x in zip(names, xs)})
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w._array, rtol=1e-4, atol=1e-5)
    return path


def batch(*shape, dtype=np.float32):
    return cr.tensor(np.random.default_rng(sum(shape)).standard_normal(shape).astype(dtype))


def ids(*shape, high=20):
    return cr.tensor(np.random.default_rng(sum(shape)).integers(0, high, shape).astype(np.int64))


ACTIVATIONS = [
    nn.ReLU(), nn.LeakyReLU(0.1), nn.ELU(0.7), nn.SELU(), nn.CELU(1.3), nn.GELU(), nn.GELU("tanh"), nn.SiLU(),
    nn.Sigmoid(), nn.Tanh(), nn.Softplus(), nn.Softplus(beta=2.0, threshold=5.0), nn.Mish(), nn.Hardtanh(-0.5, 0.7),  # noqa: E501
    nn.Hardsigmoid(), nn.Hardswish(), nn.LogSigmoid(), nn.ReLU6(), nn.Softmax(-1), nn.LogSoftmax(1),
]  # fmt: skip


@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda a: repr(a))
def test_activations(tmp_path, act):
    cr.manual_seed(0)
    m = nn.Sequential(nn.Linear(5, 6), act, nn.Dropout(0.5))
    run_export(tmp_path, m, batch(3, 5) * 3, ["x"], {"x": {0: "batch"}}, [batch(7, 5) * 3])


CNN_LAYERS = [
    lambda: nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2)),  # noqa: E501
    lambda: nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2, groups=1, bias=False), nn.GroupNorm(2, 4), nn.AvgPool2d(2)),  # noqa: E501
    lambda: nn.Sequential(nn.Conv2d(3, 6, 3, padding="same", groups=3), nn.AdaptiveAvgPool2d(1), nn.Flatten()),  # noqa: E501
    lambda: nn.Sequential(nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), nn.AdaptiveAvgPool2d(2)),  # noqa: E501
    lambda: nn.Sequential(nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.AvgPool2d(3, padding=1, count_include_pad=False)),  # noqa: E501
]  # fmt: skip


@pytest.mark.parametrize("make", CNN_LAYERS)
def test_conv_and_pool(tmp_path, make):
    cr.manual_seed(1)
    m = make()
    run_export(tmp_path, m, batch(2, 3, 8, 8), ["x"], {"x": {0: "batch"}}, [batch(3, 3, 8, 8)])


RESAMPLING = [
    lambda: nn.Sequential(nn.Upsample(scale_factor=2), nn.Upsample(size=(5, 7))),
    lambda: nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"),
                          nn.Upsample(size=(7, 5), mode="bilinear", align_corners=True)),
    lambda: nn.Sequential(nn.AdaptiveMaxPool2d(2), nn.Upsample(scale_factor=3), nn.AdaptiveMaxPool2d((4, 5))),
    lambda: nn.Sequential(nn.Unfold((2, 3), stride=(2, 1), padding=1, dilation=(1, 2)),
                          nn.Fold((6, 6), (2, 3), stride=(2, 1), padding=1, dilation=(1, 2))),
]  # fmt: skip


@pytest.mark.parametrize("make", RESAMPLING)
def test_resampling_and_blocks(tmp_path, make):
    run_export(tmp_path, make(), batch(2, 3, 6, 6), ["x"], {"x": {0: "batch"}}, [batch(3, 3, 6, 6)])


def test_volumetric_and_1d_adaptive_pooling(tmp_path):
    m = nn.Sequential(nn.AdaptiveAvgPool3d((2, 1, 3)), nn.Flatten(2), nn.AdaptiveMaxPool1d(4))
    run_export(tmp_path, m, batch(2, 3, 4, 5, 6), ["x"], {"x": {0: "batch"}}, [batch(3, 3, 4, 5, 6)])


def test_conv1d_and_norms(tmp_path):
    cr.manual_seed(2)
    m = nn.Sequential(nn.Conv1d(3, 4, 3, padding=1), nn.BatchNorm1d(4), nn.ReLU(), nn.MaxPool1d(2),
                      nn.LayerNorm(4), nn.RMSNorm(4))  # fmt: skip
    run_export(tmp_path, m, batch(2, 3, 8), ["x"], {"x": {0: "batch"}}, [batch(5, 3, 8)])


def test_embedding_and_attention(tmp_path):
    cr.manual_seed(3)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8)
            self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            h = self.emb(x)
            mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
            out, _ = self.attn(h, h, h, attn_mask=mask, need_weights=False)
            return out.mean(dim=1)

    run_export(tmp_path, Net(), ids(2, 5), ["x"], {"x": {0: "b", 1: "t"}}, [ids(3, 7)])


def test_transformer_encoder_decoder(tmp_path):
    cr.manual_seed(4)
    m = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16,
                       dropout=0.0, batch_first=True)  # fmt: skip
    run_export(tmp_path, m, (batch(2, 5, 8), batch(2, 4, 8)), ["src", "tgt"],
               {"src": {0: "b", 1: "s"}, "tgt": {0: "b", 1: "t"}}, [(batch(3, 6, 8), batch(3, 3, 8))])  # fmt: skip  # noqa: E501


def test_gpt(tmp_path):
    from chainrule.models import GPT

    cr.manual_seed(5)
    m = GPT(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16)
    run_export(tmp_path, m, ids(2, 6, high=30), ["idx"], {"idx": {0: "b", 1: "t"}}, [ids(3, 9, high=30)])


def test_bert_with_pooling(tmp_path):
    from chainrule.models.bert import BertConfig, BertModel

    cr.manual_seed(6)
    cfg = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32)  # fmt: skip
    bert = BertModel(cfg)

    class Outputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids):
            out = self.bert(input_ids)
            return out.last_hidden_state, out.pooler_output

    m = Outputs()
    run_export(tmp_path, m, ids(2, 6, high=40), ["input_ids"], {"input_ids": {0: "b", 1: "t"}},
               [ids(3, 9, high=40)])  # fmt: skip


def test_vit(tmp_path):
    from chainrule.models import ViT

    cr.manual_seed(7)
    m = ViT(8, 4, in_channels=1, num_classes=3, dim=16, depth=1, heads=2, mlp_dim=32)
    run_export(tmp_path, m, batch(2, 1, 8, 8), ["x"], {"x": {0: "b"}}, [batch(5, 1, 8, 8)])


def test_lenet_and_resnet(tmp_path):
    from chainrule.models import LeNet5, resnet18

    cr.manual_seed(8)
    run_export(tmp_path, LeNet5(), batch(2, 1, 28, 28), ["x"], {"x": {0: "b"}}, [batch(3, 1, 28, 28)])
    run_export(
        tmp_path, resnet18(num_classes=5), batch(1, 3, 32, 32), ["x"], {"x": {0: "b"}}, [batch(2, 3, 32, 32)]
    )


def test_apps_models(tmp_path):
    from chainrule.apps.maintenance.models import CNNRegressor
    from chainrule.apps.traffic.models import Autoencoder

    cr.manual_seed(9)
    run_export(tmp_path, Autoencoder(6, (8,), 3), batch(4, 6), ["x"], {"x": {0: "b"}}, [batch(9, 6)])
    run_export(tmp_path, CNNRegressor(3, window=12, filters=4, kernel_size=3, hidden=8), batch(2, 12, 3), ["x"],  # noqa: E501
               {"x": {0: "b"}}, [batch(5, 12, 3)])  # fmt: skip


def test_parameters_are_named_initializers(tmp_path):
    import onnx

    cr.manual_seed(10)
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    path = run_export(tmp_path, m, batch(2, 3), ["x"])
    names = {i.name for i in onnx.load(str(path)).graph.initializer}
    assert {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var"} <= names


def test_unsupported_op_names_op_and_layer(tmp_path):
    class Odd(nn.Module):
        def forward(self, x):
            return nn.functional.cross_entropy(x, cr.tensor(np.zeros(2, np.int64)))

    with pytest.raises(ExportError, match=r"CrossEntropy.*Odd"):
        export(Odd(), batch(2, 3), tmp_path / "m.onnx")


class LastState(nn.Module):
    """A recurrent layer's output and final hidden state (the LSTM's h_n), for export tests."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x, lengths=None):
        out, h = self.rnn(x, lengths=lengths) if lengths is not None else self.rnn(x)
        return out, (h[0] if isinstance(h, tuple) else h)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_layers(tmp_path, cls, bidirectional):
    cr.manual_seed(11)
    m = LastState(cls(3, 5, num_layers=2, batch_first=True, bidirectional=bidirectional))
    run_export(tmp_path, m, batch(2, 4, 3), ["x"], {"x": {0: "b", 1: "t"}}, [batch(3, 6, 3)])


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_recurrent_with_lengths(tmp_path, cls):
    # lengths as an input, time and batch dynamic: the second trace grows the axes the lengths must fit
    cr.manual_seed(12)
    m = LastState(cls(3, 4, num_layers=2, bidirectional=True))
    x, lengths = batch(5, 3, 3), cr.tensor(np.array([5, 2, 4], np.int64))
    other = (batch(7, 4, 3), cr.tensor(np.array([7, 1, 7, 3], np.int64)))
    dyn = {"x": {0: "time", 1: "batch"}, "lengths": {0: "batch"}}
    run_export(tmp_path, m, (x, lengths), ["x", "lengths"], dyn, [other])


def test_recurrent_cells(tmp_path):
    cr.manual_seed(15)

    class Cells(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.gru = nn.LSTMCell(3, 4), nn.GRUCell(4, 5)
            self.rnn, self.plain = nn.RNNCell(5, 2, nonlinearity="relu"), nn.LSTMCell(3, 4, bias=False)

        def forward(self, x, h):
            h1, c = self.lstm(x, (h, h * 0.5))
            return self.rnn(self.gru(h1)), c, self.plain(x)[1]

    dyn = {"x": {0: "b"}, "h": {0: "b"}}
    run_export(tmp_path, Cells(), (batch(2, 3), batch(2, 4)), ["x", "h"], dyn, [(batch(5, 3), batch(5, 4))])


def test_functional_recurrent_layers(tmp_path):
    from chainrule.ops.recurrent import gru_layer, lstm_layer, rnn_layer

    cr.manual_seed(16)
    lstm, gru, rnn = nn.LSTM(3, 4), nn.GRU(3, 4), nn.RNN(3, 4)

    class Layers(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.gru, self.rnn = lstm, gru, rnn

        def forward(self, x):
            p = [[getattr(m, f"{k}_l0") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                 for m in (self.lstm, self.gru, self.rnn)]  # fmt: skip
            return (*lstm_layer(x, *p[0], reverse=True), *gru_layer(x, *p[1], batch_first=True),
                    *rnn_layer(x, *p[2], h0=x[0, :, :1].expand(x.shape[1], 4)))  # fmt: skip

    run_export(tmp_path, Layers(), batch(4, 2, 3), ["x"], {"x": {0: "t", 1: "b"}}, [batch(6, 3, 3)])


def test_a_model_that_returns_its_input(tmp_path):
    for m in (nn.Identity(), nn.Dropout(0.3), nn.Sequential()):
        run_export(tmp_path, m, batch(2, 3), ["x"], {"x": {0: "b"}}, [batch(4, 3)])


class _BatchTimesVector(nn.Module):
    """A batch of transposed matrices times a vector (FD001's summary model reads windows so)."""

    def __init__(self):
        super().__init__()
        self.v = nn.Parameter(cr.tensor(np.linspace(-1, 1, 5, dtype=np.float32)))

    def forward(self, x):
        y = x.permute(0, 2, 1) @ self.v  # (B, 4, 5) @ (5,)
        return y, y @ self.v[:4]  # and (B, 4) @ (4,)


def test_batched_matrices_times_a_vector(tmp_path):
    # ONNX Runtime's optimiser got Transpose -> MatMul with a 1-D right side wrong; the export
    # writes that product as a matrix times a (K, 1) column
    run_export(tmp_path, _BatchTimesVector(), batch(3, 5, 4), ["x"], {"x": {0: "b"}}, [batch(2, 5, 4)])


def test_maintenance_lstm(tmp_path):
    from chainrule.apps.maintenance.models import LSTMRegressor

    cr.manual_seed(13)
    m = LSTMRegressor(4, hidden_size=6, num_layers=2)
    run_export(tmp_path, m, batch(2, 7, 4), ["x"], {"x": {0: "b", 1: "t"}}, [batch(3, 5, 4)])


def test_an_input_read_outside_the_ops_is_refused(tmp_path):
    cr.manual_seed(14)

    class Scaled(nn.Module):
        def forward(self, x, scale):
            return x * cr.tensor(scale._array * 2)  # through NumPy: the graph would bake the value in

    with pytest.raises(ExportError, match=r"\['scale'\] reach no op"):
        export(Scaled(), (batch(2, 5), batch(2, 5)), tmp_path / "m.onnx", input_names=["x", "scale"])


def test_sdpa_with_bool_and_float_masks(tmp_path):
    mask = np.tril(np.ones((5, 5), bool))
    bias = np.random.default_rng(0).standard_normal((5, 5)).astype(np.float32)

    class Attend(nn.Module):
        def forward(self, q, k, v):
            a = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            b = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(bias))
            c = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            return a + b + c

    args = (batch(2, 2, 5, 4), batch(2, 2, 5, 4) * 0.5, batch(2, 2, 5, 3))
    run_export(tmp_path, Attend(), args, ["q", "k", "v"], {"q": {0: "b"}, "k": {0: "b"}, "v": {0: "b"}})


def test_in_place_writes_are_part_of_the_graph(tmp_path):
    # an in-place op on a tensor outside the autograd graph (computed from the input alone, a constant)
    # used to write past the recorder, and the graph kept the value from before the write
    cr.manual_seed(17)

    class InPlace(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 3)

        def forward(self, x):
            y = nn.functional.relu(x - 0.1, inplace=True) * 2
            y += 1
            y.mul_(x)
            buf = cr.zeros(1, 3)
            buf.copy_(y[:1])
            z = self.lin(x)
            z += y
            return z.relu_() + buf + x.clone().fill_(0.5)

    run_export(tmp_path, InPlace(), batch(2, 3), ["x"], {"x": {0: "b"}}, [batch(4, 3)])


def test_an_item_assignment_is_refused_naming_it(tmp_path):
    class Write(nn.Module):
        def forward(self, x):
            y = x * 1
            y[:, 0] = 5.0
            return y

    with pytest.raises(ExportError, match=r"SetItem in Write"):
        export(Write(), batch(2, 3), tmp_path / "m.onnx")


def test_comparisons_logic_and_pointwise_functions(tmp_path):
    from chainrule.ops import pointwise as pw

    class Elementwise(nn.Module):
        def forward(self, x, ids):
            inside = (x > -0.5) & (x <= 0.9) | (x == 0) ^ (x != 1)
            keep = ~(ids >= 3) & (ids < 7) & cr.isfinite(x) & ~cr.isnan(x)
            unit = x.clamp(-0.9, 0.9)
            values = [pw.tan(x), pw.asin(unit), pw.acos(unit), pw.atan(x), pw.sinh(x), pw.cosh(x),
                      pw.asinh(x), pw.acosh(x.abs() + 1), pw.atanh(unit), pw.log2(x.abs() + 0.1),
                      pw.log10(x.abs() + 0.1), pw.exp2(x), pw.softsign(x), pw.sign(x)]  # fmt: skip
            halves = (ids // 2).float() + (x // 0.5)
            return sum(values) + inside.float() + keep.to(cr.float32) + halves + ids.sign().float()

    ints = cr.tensor(np.array([[1, 3, -5], [7, 4, 0]], np.int64))
    other = (batch(3, 3), cr.tensor(np.array([[9, -1, 6], [2, 3, 8], [-3, 5, 7]], np.int64)))
    run_export(tmp_path, Elementwise(), (batch(2, 3), ints), ["x", "ids"], {"x": [0], "ids": [0]}, [other])


POOLS_PAST_THE_EDGE = [
    # ceil_mode windows that start in the right padding (PyTorch drops them, ONNX's ceil_mode keeps them)
    ("MaxPool2d", (3,), dict(stride=3, padding=1, ceil_mode=True), (3, 5)),
    ("MaxPool2d", (2,), dict(stride=3, padding=1, dilation=2, ceil_mode=True), (5, 6)),
    ("MaxPool1d", (2,), dict(stride=2, padding=1, dilation=2, ceil_mode=True), (8,)),
    # ceil_mode windows past the padding: PyTorch's divisor stops at the padding
    ("AvgPool3d", (3,), dict(stride=3, padding=1, ceil_mode=True), (4, 9, 9)),
    ("AvgPool2d", (3,), dict(stride=2, ceil_mode=True, divisor_override=4), (5, 4)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True, count_include_pad=False), (6, 6)),
    ("AvgPool1d", (3,), dict(stride=2, padding=1, ceil_mode=True), (6,)),
]


@pytest.mark.parametrize("name, args, kw, size", POOLS_PAST_THE_EDGE)
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
def test_pools_match_torch_with_ceil_mode_and_without_a_batch(tmp_path, name, args, kw, size, batched):
    import torch

    x = batch(2, 3, *size) if batched else batch(3, *size)
    path = run_export(tmp_path, getattr(nn, name)(*args, **kw), x, ["x"])
    got = ort.InferenceSession(str(path)).run(None, {"x": x._array})[0]
    want = getattr(torch.nn, name)(*args, **kw)(torch.from_numpy(x._array)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_ceil_mode_pool_over_a_dynamic_spatial_axis_is_refused(tmp_path):
    # which windows reach past the padding depends on the size, which the graph would bake in
    with pytest.raises(ExportError, match=r"MaxPool in MaxPool2d.*ceil_mode.*\(5, 6\)"):
        export(nn.MaxPool2d(2, stride=3, padding=1, dilation=2, ceil_mode=True), batch(2, 3, 5, 6),
               tmp_path / "m.onnx", input_names=["x"], dynamic_axes={"x": {3: "w"}})  # fmt: skip


@pytest.mark.parametrize("cls, size", [(nn.ConvTranspose1d, (6,)), (nn.ConvTranspose2d, (5, 4)),
                                       (nn.ConvTranspose3d, (4, 3, 4))])  # fmt: skip
@pytest.mark.parametrize("padding", [0, 2])
def test_conv_transpose_with_output_padding_past_the_stride(tmp_path, cls, size, padding):
    # PyTorch allows output_padding below max(stride, dilation); ONNX Runtime only below the stride
    import torch

    cr.manual_seed(18)
    m = cls(4, 2, 3, stride=1, padding=padding, output_padding=1, dilation=2, groups=2)
    x = batch(2, 4, *size)
    path = run_export(tmp_path, m, x, ["x"], {"x": {0: "b"}}, [batch(3, 4, *size)])
    t = getattr(torch.nn, cls.__name__)(4, 2, 3, stride=1, padding=padding, output_padding=1, dilation=2,
                                        groups=2)  # fmt: skip
    t.load_state_dict({k: torch.from_numpy(v._array) for k, v in m.state_dict().items()})
    got = ort.InferenceSession(str(path)).run(None, {"x": x._array})[0]
    np.testing.assert_allclose(got, t(torch.from_numpy(x._array)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_batch_norm_without_running_statistics_normalizes_by_the_batch(tmp_path):
    # track_running_stats=False normalizes by the batch's own statistics in eval mode too
    import torch

    cr.manual_seed(19)
    cases = [(nn.BatchNorm1d(3, track_running_stats=False), batch(4, 3, 5)),
             (nn.BatchNorm2d(2, affine=False, track_running_stats=False), batch(3, 2, 4, 4))]  # fmt: skip
    for m, x in cases:
        run_export(tmp_path, m, x, ["x"], {"x": {0: "b"}}, [batch(6, *x.shape[1:])])
        t = getattr(torch.nn, type(m).__name__)(x.shape[1], affine=m.affine, track_running_stats=False)
        if m.affine:
            t.load_state_dict({k: torch.from_numpy(v._array) for k, v in m.state_dict().items()})
        got = ort.InferenceSession(str(tmp_path / "model.onnx")).run(None, {"x": x._array})[0]
        np.testing.assert_allclose(
            got, t.eval()(torch.from_numpy(x._array)).detach().numpy(), rtol=1e-4, atol=1e-5
        )


def test_float64_layers_keep_their_float64_constants(tmp_path):
    # ONNX float attributes (LeakyRelu's alpha, the norms' epsilon) are float32: a float64 model
    # whose slope or eps is no float32 would be off by ~1e-8
    cr.manual_seed(20)
    m = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.7464861), nn.BatchNorm1d(4, eps=0.1),
                      nn.LayerNorm(4, eps=0.3)).double()  # fmt: skip
    m[2].running_var._array[...] = np.linspace(0.001, 0.01, 4)
    x = batch(5, 3, dtype=np.float64)
    export(m, x, tmp_path / "m.onnx", input_names=["x"])
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"x": x._array})[0]
    np.testing.assert_allclose(got, m.eval()(x)._array, rtol=1e-12, atol=1e-13)


class _Fn(nn.Module):
    """A model whose forward is one function of its input (custom forward code under test)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


INDEX_AND_COUNT_OPS = {
    # indices found by NumPy used to be baked into the graph as the example's constants
    "max(dim)": lambda x: x.max(dim=1),
    "min(dim, keepdim)": lambda x: x.min(dim=0, keepdim=True),
    "argmax": lambda x: x.argmax(-1),
    "argmin(keepdim)": lambda x: x.argmin(1, keepdim=True),
    "argmax()": lambda x: x.argmax(keepdim=True),
    "sort": lambda x: x.sort(dim=1, descending=True),
    "argsort": lambda x: x.argsort(dim=-1),
    "topk": lambda x: x.topk(2, dim=1, largest=False),
    "any/all": lambda x: ((x > 0.5).any(dim=1), (x > -2).all(), x.any(dim=(0, 1), keepdim=True)),
    "one_hot": lambda x: nn.functional.one_hot((x > 0).long().sum(-1), 6),
    # the count divided by came from the example's batch
    "var/std over the batch": lambda x: (x.var(dim=0), x.std(dim=(0, 1), keepdim=True), x.var(correction=0)),
    "repeat with new axes": lambda x: x.repeat(2, 1, 1, 3),
}


@pytest.mark.parametrize("fn", INDEX_AND_COUNT_OPS.values(), ids=INDEX_AND_COUNT_OPS.keys())
def test_indices_and_counts_follow_the_input(tmp_path, fn):
    # the same shape with other values, and other batch sizes, against chainrule; ties among the values
    x = cr.tensor(np.round(np.random.default_rng(21).standard_normal((3, 4, 5)), 1).astype(np.float32))
    run_export(tmp_path, _Fn(fn), x, ["x"], {"x": {0: "b"}}, [x.flip(1), batch(1, 4, 5), batch(6, 4, 5)])


def test_sort_over_a_dynamic_axis_takes_its_length_from_the_input(tmp_path):
    run_export(
        tmp_path,
        _Fn(lambda x: x.sort(dim=-1)),
        batch(2, 5),
        ["x"],
        {"x": {1: "t"}},
        [batch(2, 3), batch(2, 8)],
    )


def test_positional_encodings_and_max_norm_embeddings_at_other_lengths(tmp_path):
    # the sinusoidal table was cut to the example's length through NumPy (refused with a dynamic
    # length); max_norm renormalises the rows each input reads, which the graph baked in for the example
    cr.manual_seed(22)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4, max_norm=1.0)
            self.emb3 = nn.Embedding(10, 4, max_norm=0.5, norm_type=3.0)
            self.sin = nn.SinusoidalPositionalEncoding(4, max_len=16)
            self.learned = nn.LearnedPositionalEncoding(16, 4)

        def forward(self, i):
            return self.learned(self.sin(self.emb(i) + self.emb3(i)))

    run_export(tmp_path, Encoder(), ids(2, 5, high=10), ["i"], {"i": {0: "b", 1: "t"}},
               [ids(1, 1, high=10), ids(4, 9, high=10), cr.tensor(np.arange(10).reshape(2, 5))])  # fmt: skip


MORE_POINTWISE_AND_NORMS = {
    "remainder": lambda x: (x % 0.7, 2.5 % (x.abs() + 0.5), (x * 10).long() % -3),
    "fmod": lambda x: (cr.fmod(x, -0.7), cr.fmod((x * 10).long(), 3)),
    "round/trunc": lambda x: (
        (x * 4).round(),
        x.round(decimals=2),
        (x * 100).round(decimals=-1),
        (x * 3).trunc(),
    ),
    "nan_to_num": lambda x: (cr.nan_to_num(x.log()), cr.nan_to_num(x / (x > 0).float(), nan=1.5, posinf=2.0)),
    "lerp": lambda x: (
        cr.lerp(x, x.flip(0), 0.3),
        cr.lerp(x, x.flip(0), 0.8),
        cr.lerp(x, x.flip(0), x.sigmoid()),
    ),
    "norm": lambda x: (
        x.norm(),
        x.norm(p=1, dim=-1, keepdim=True),
        x.norm(p=float("inf"), dim=0),
        x.norm(p=3, dim=1),
        (x * (x > 0)).norm(p=0, dim=1),
    ),
    "roll": lambda x: (x.roll(2, 1), x.roll((1, -1), (1, 2))),
    "einsum": lambda x: (cr.einsum("bij,bkj->bik", x, x), cr.einsum("...ij->...ji", x)),
}


@pytest.mark.parametrize("fn", MORE_POINTWISE_AND_NORMS.values(), ids=MORE_POINTWISE_AND_NORMS.keys())
def test_more_pointwise_ops_and_norms(tmp_path, fn):
    # these ops had no translation and were refused
    run_export(tmp_path, _Fn(fn), batch(3, 4, 5), ["x"], {"x": {0: "b"}}, [batch(1, 4, 5), batch(5, 4, 5)])


POOL_INDICES = {
    "2d": lambda x: nn.functional.max_pool2d(x, 3, 2, 1, return_indices=True),
    "2d dilated past the padding": lambda x: nn.functional.max_pool2d(
        x, 2, 3, 1, 2, ceil_mode=True, return_indices=True
    ),
    "1d": lambda x: nn.functional.max_pool1d(x.flatten(2), 3, 2, 1, return_indices=True),
    "unbatched": lambda x: nn.functional.max_pool2d(x[0], 2, return_indices=True),
}


@pytest.mark.parametrize("fn", POOL_INDICES.values(), ids=POOL_INDICES.keys())
def test_max_pool_indices_follow_the_input(tmp_path, fn):
    # the indices were worked out with NumPy and baked into the graph as the example's
    run_export(
        tmp_path,
        _Fn(fn),
        batch(2, 3, 5, 6),
        ["x"],
        {"x": {0: "b"}},
        [batch(2, 3, 5, 6) * 2, batch(4, 3, 5, 6)],
    )


def test_max_pool3d_indices_are_refused_naming_them(tmp_path):
    f = _Fn(lambda x: nn.functional.max_pool3d(x, 2, return_indices=True))
    with pytest.raises(ExportError, match=r"max_pool3d_indices in _Fn"):
        export(f, batch(1, 2, 4, 4, 4), tmp_path / "m.onnx")


def test_max_and_min_reductions_propagate_nan(tmp_path):
    # ONNX Runtime's ReduceMax/ReduceMin skip NaN; chainrule and PyTorch return it
    x = batch(2, 3, 6, 6)
    x._array[0, 1, 2, 3] = np.nan
    f = _Fn(
        lambda x: (x.amax(1), x.max(), x.amin(dim=(-1, -2)), nn.functional.adaptive_max_pool2d(x, (4, 5)))
    )
    run_export(tmp_path, f, x, ["x"])


def test_nonzero_and_indexing_by_a_computed_index_follow_the_input(tmp_path):
    # x[:, ids] with ids computed from the input, and nonzero / where(cond), used to bake the example's
    f = _Fn(lambda x: (x[:, (x[0] > 0).long()], (x > 0).nonzero(), cr.where(x > 0.5)[1], x[x.argmax(0)]))
    run_export(tmp_path, f, batch(3, 4), ["x"], None, [batch(3, 4) * 3])


@pytest.mark.parametrize(
    "fn, op",
    [(lambda x: x.kthvalue(2, dim=1), "kthvalue"), (lambda x: x.median(dim=0), "median"),
     (lambda x: x.round().mode(dim=1), "mode"), (lambda x: x.cummax(1), "cummax"),
     (lambda x: cr.unique(x.round()), "unique"),
     (lambda x: cr.take_along_dim(x, x.argsort(1), 1), "take_along_dim")],
)  # fmt: skip
def test_indices_found_from_the_values_are_refused_naming_the_op(tmp_path, fn, op):
    # their indices (or sizes) come from the example's values; the graph would bake them in
    with pytest.raises(ExportError, match=rf"op {op} in _Fn"):
        export(_Fn(lambda x: (fn(x), x * 1)), batch(3, 4), tmp_path / "m.onnx")


def test_an_empty_example_batch_and_one_tensor_given_twice(tmp_path):
    # a batch of 0 crashed the second trace (NumPy's take on an empty axis); a tensor given for two
    # inputs named only the last, and the first was refused as reaching no op
    cr.manual_seed(23)
    lin = nn.Linear(3, 2)
    run_export(tmp_path, lin, batch(0, 3), ["x"], {"x": {0: "b"}}, [batch(4, 3)])

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, a, b):
            return self.lin(a) - 2 * self.lin(b)

    x = batch(2, 3)
    run_export(
        tmp_path, Two(), (x, x), ["a", "b"], {"a": {0: "n"}, "b": {0: "n"}}, [(batch(4, 3), batch(4, 3) * 2)]
    )


@pytest.mark.parametrize(
    "layer", [nn.AdaptiveAvgPool2d(2), nn.AdaptiveMaxPool2d((2, 3)), nn.Upsample(scale_factor=2),
              nn.Upsample(size=(5, 5), mode="bilinear")], ids=repr,
)  # fmt: skip
def test_resampling_over_a_dynamic_spatial_axis_is_refused(tmp_path, layer):
    # their index plans and matrices fit the example's size only: other sizes ran wrong or failed in ORT
    with pytest.raises(ExportError, match=r"example's size \(8, 8\).*dynamic axis"):
        export(
            layer, batch(2, 3, 8, 8), tmp_path / "m.onnx", input_names=["x"], dynamic_axes={"x": [0, 2, 3]}
        )


def test_convolutions_and_global_pooling_over_a_dynamic_spatial_axis(tmp_path):
    cr.manual_seed(24)
    m = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.MaxPool2d(2), nn.AvgPool2d(2, padding=1),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten())  # fmt: skip
    run_export(
        tmp_path, m, batch(2, 3, 16, 16), ["x"], {"x": [0, 2, 3]}, [batch(1, 3, 12, 20), batch(3, 3, 24, 24)]
    )
