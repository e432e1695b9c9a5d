"""``load`` runs a graph with chainrule's ops: exported models come back with equal outputs and gradients."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.onnx import OnnxImportError, OnnxModule, export, load


def batch(*shape):
    return cr.tensor(np.random.default_rng(sum(shape) + 1).standard_normal(shape).astype(np.float32))


def ids(*shape, high=20):
    return cr.tensor(np.random.default_rng(sum(shape)).integers(0, high, shape).astype(np.int64))


def outputs(out):
    if isinstance(out, cr.Tensor):
        return [out]
    return list(out)


def grads_after(model, xs, cotangents):
    model.zero_grad()
    loss = sum((o * c).sum() for o, c in zip(outputs(model(*xs)), cotangents))
    loss.backward()
    return {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


def roundtrip(tmp_path, model, args, names, dyn, other):
    """Export, import, then compare outputs and every parameter's gradient on ``other`` inputs."""
    path = tmp_path / "m.onnx"
    export(model, args, path, input_names=names, dynamic_axes=dyn)
    back = load(path)
    assert isinstance(back, OnnxModule)
    model.eval()
    xs = other if isinstance(other, tuple) else (other,)
    want, got = outputs(model(*xs)), outputs(back(*xs))
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g._array, w._array, rtol=1e-5, atol=1e-5)
    rng = np.random.default_rng(0)
    cot = [cr.tensor(rng.standard_normal(w.shape).astype(np.float32)) for w in want]
    gw, gb = grads_after(model, xs, cot), grads_after(back, xs, cot)  # noqa: F841
    back_params = dict(back.named_parameters())
    assert set(gw) <= set(back_params)
    for name, g in gw.items():
        np.testing.assert_allclose(back_params[name].grad, g, rtol=1e-4, atol=1e-5, err_msg=name)
    return back


CASES = {
    "mlp": lambda: (nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 8), nn.SiLU(), nn.LayerNorm(8),
                                  nn.Linear(8, 3), nn.LogSoftmax(-1)), batch(2, 4), batch(5, 4)),
    "cnn": lambda: (nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),  # noqa: E501
                                  nn.ConvTranspose2d(4, 2, 2, stride=2), nn.GroupNorm(1, 2), nn.AvgPool2d(2),
                                  nn.Flatten(), nn.Linear(2 * 4 * 4, 3)), batch(2, 3, 8, 8), batch(3, 3, 8, 8)),  # noqa: E501
    "conv1d": lambda: (nn.Sequential(nn.Conv1d(3, 4, 3, padding=1), nn.ELU(), nn.MaxPool1d(2), nn.RMSNorm(4),
                                     nn.Tanh()), batch(2, 3, 8), batch(4, 3, 8)),
    "resample": lambda: (nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear"), nn.AdaptiveMaxPool2d(3),
                                       nn.Upsample(scale_factor=2), nn.Unfold(2, stride=2),
                                       nn.Fold(6, 2, stride=2), nn.Conv2d(3, 2, 3)),
                         batch(2, 3, 4, 4), batch(3, 3, 4, 4)),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_roundtrip_layers(tmp_path, case):
    cr.manual_seed(0)
    model, x, other = CASES[case]()
    roundtrip(tmp_path, model, x, ["x"], {"x": {0: "b"}}, other)


def test_roundtrip_models(tmp_path):
    from chainrule.models import GPT, LeNet5, ViT
    from chainrule.models.bert import BertConfig, BertModel

    cr.manual_seed(1)
    roundtrip(tmp_path, LeNet5(), batch(2, 1, 28, 28), ["x"], {"x": {0: "b"}}, batch(3, 1, 28, 28))
    gpt = GPT(vocab_size=30, block_size=16, n_layer=1, n_head=2, n_embd=16)
    roundtrip(tmp_path, gpt, ids(2, 6, high=30), ["idx"], {"idx": {0: "b", 1: "t"}}, ids(3, 9, high=30))
    vit = ViT(8, 4, num_classes=3, dim=16, depth=1, heads=2, mlp_dim=32)
    roundtrip(tmp_path, vit, batch(2, 1, 8, 8), ["x"], {"x": {0: "b"}}, batch(3, 1, 8, 8))
    cfg = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32)  # fmt: skip

    class Pooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = BertModel(cfg)

        def forward(self, input_ids):
            return self.bert(input_ids).pooler_output

    roundtrip(tmp_path, Pooled(), ids(2, 6, high=40), ["ids"], {"ids": {0: "b", 1: "t"}}, ids(3, 5, high=40))


def test_imported_model_fine_tunes(tmp_path):
    cr.manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    export(model, batch(4, 3), tmp_path / "m.onnx", input_names=["x"], dynamic_axes={"x": [0]})
    back = load(tmp_path / "m.onnx")
    assert set(back.state_dict()) == set(model.state_dict())
    x = batch(32, 3)
    y = x.sum(dim=1, keepdim=True)
    opt = cr.optim.Adam(back.parameters(), lr=0.05)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.mse_loss(back(x), y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first / 4
    model.load_state_dict(back.state_dict())
    np.testing.assert_allclose(model(x)._array, back(x)._array, rtol=1e-6)


def test_unsupported_operator_names_it_and_the_node(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Det", ["x"], ["y"], name="the_det")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, tmp_path / "det.onnx")
    with pytest.raises(OnnxImportError, match=r"Det.*the_det"):
        load(tmp_path / "det.onnx")


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_roundtrip_recurrent(tmp_path, cls):
    cr.manual_seed(3)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = cls(3, 4, num_layers=2, batch_first=True, bidirectional=True)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out)

    roundtrip(tmp_path, Net(), batch(2, 4, 3), ["x"], {"x": {0: "b", 1: "t"}}, batch(3, 5, 3))


def test_roundtrip_resnet_and_transformer(tmp_path):
    from chainrule.models import resnet18

    cr.manual_seed(4)
    net = resnet18(num_classes=3)
    roundtrip(tmp_path, net, batch(1, 3, 32, 32), ["x"], {"x": {0: "b"}}, batch(2, 3, 32, 32))
    t = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16,
                       dropout=0.0, batch_first=True)  # fmt: skip
    dyn = {"src": {0: "b", 1: "s"}, "tgt": {0: "b", 1: "t"}}
    other = (batch(3, 6, 8), batch(3, 3, 8))
    roundtrip(tmp_path, t, (batch(2, 5, 8), batch(2, 4, 8)), ["src", "tgt"], dyn, other)


def test_roundtrip_apps_models(tmp_path):
    from chainrule.apps.maintenance.models import CNNRegressor, LSTMRegressor
    from chainrule.apps.traffic.models import Autoencoder

    cr.manual_seed(5)
    roundtrip(tmp_path, Autoencoder(6, (8,), 3), batch(4, 6), ["x"], {"x": {0: "b"}}, batch(7, 6))
    cnn = CNNRegressor(3, window=12, filters=4, kernel_size=3, hidden=8)
    roundtrip(tmp_path, cnn, batch(2, 12, 3), ["x"], {"x": {0: "b"}}, batch(5, 12, 3))
    lstm = LSTMRegressor(3, hidden_size=5, num_layers=2)
    roundtrip(tmp_path, lstm, batch(2, 6, 3), ["x"], {"x": {0: "b", 1: "t"}}, batch(3, 8, 3))


def test_the_trainer_fine_tunes_an_imported_model(tmp_path):
    from chainrule.data import DataLoader, TensorDataset
    from chainrule.train.trainer import Trainer

    cr.manual_seed(6)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    export(model, batch(2, 4), tmp_path / "m.onnx", input_names=["x"], dynamic_axes={"x": [0]})
    back = load(tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0).astype(np.int64)
    loader = DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=32, shuffle=True)
    trainer = Trainer(back, nn.CrossEntropyLoss(), cr.optim.Adam(back.parameters(), lr=0.02), progress=0)
    history = trainer.fit(loader, epochs=15)
    assert history["accuracy"][-1] > 0.8 and history["loss"][-1] < history["loss"][0] / 2


def test_roundtrip_recurrent_cells(tmp_path):
    cr.manual_seed(7)

    class Cells(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.gru, self.rnn = nn.LSTMCell(3, 4), nn.GRUCell(4, 5), nn.RNNCell(5, 2)

        def forward(self, x):
            h, c = self.lstm(x)
            return self.rnn(self.gru(h)) + c.sum(1, keepdim=True)

    roundtrip(tmp_path, Cells(), batch(2, 3), ["x"], {"x": {0: "b"}}, batch(4, 3))
