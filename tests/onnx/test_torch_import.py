"""Models exported by ``torch.onnx.export`` import and match PyTorch, outputs and gradients."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.onnx import load

torch = pytest.importorskip("torch")


def torch_export(tmp_path, model, example, dynamic_axes=None):
    path = tmp_path / "torch.onnx"
    model.eval()
    with torch.no_grad():  # distinct values: torch's exporter merges equal initializers (zero biases)
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    torch.onnx.export(model, example, str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes=dynamic_axes, opset_version=17, dynamo=False)  # fmt: skip
    return load(path)


def check(model, back, x):
    want = model(torch.from_numpy(x))
    got = back(cr.tensor(x))
    np.testing.assert_allclose(got._array, want.detach().numpy(), rtol=1e-4, atol=1e-5)
    c = np.random.default_rng(0).standard_normal(want.shape).astype(np.float32)
    (want * torch.from_numpy(c)).sum().backward()
    (got * cr.tensor(c)).sum().backward()
    theirs = dict(model.named_parameters())
    ours = dict(back.named_parameters())
    for name, p in ours.items():
        if name in theirs:
            np.testing.assert_allclose(p.grad, theirs[name].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


def data(*shape):
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)


def test_mlp(tmp_path):
    torch.manual_seed(0)
    tn = torch.nn
    model = tn.Sequential(
        tn.Linear(4, 8), tn.GELU(), tn.Linear(8, 8), tn.Tanh(), tn.LayerNorm(8), tn.Linear(8, 3)
    )
    back = torch_export(tmp_path, model, torch.randn(2, 4), {"x": {0: "b"}})
    assert {"0.weight", "0.bias", "5.weight"} <= set(back.state_dict())
    check(model, back, data(5, 4))


def test_cnn(tmp_path):
    torch.manual_seed(1)
    tn = torch.nn
    model = tn.Sequential(tn.Conv2d(3, 4, 3, padding=1), tn.ReLU(), tn.MaxPool2d(2), tn.Conv2d(4, 4, 3, stride=2),  # noqa: E501
                          tn.AdaptiveAvgPool2d(1), tn.Flatten(), tn.Linear(4, 2))  # fmt: skip
    back = torch_export(tmp_path, model, torch.randn(2, 3, 12, 12), {"x": {0: "b"}})
    check(model, back, data(3, 3, 12, 12))


def test_transformer_encoder(tmp_path):
    torch.manual_seed(2)
    tn = torch.nn

    class Net(tn.Module):
        def __init__(self):
            super().__init__()
            layer = tn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
            self.enc = tn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
            self.head = tn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.enc(x).mean(dim=1))

    model = Net()
    # torch's exporter bakes the attention's reshape sizes: same shapes, new values
    back = torch_export(tmp_path, model, torch.randn(2, 5, 8))
    check(model, back, data(2, 5, 8))


def test_lstm(tmp_path):
    torch.manual_seed(3)
    tn = torch.nn

    class Net(tn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = tn.LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True)
            self.head = tn.Linear(10, 2)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    model = Net()
    back = torch_export(tmp_path, model, torch.randn(2, 4, 3), {"x": {0: "b", 1: "t"}})
    check(model, back, data(3, 6, 3))
