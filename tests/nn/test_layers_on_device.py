"""Every layer on every device: the same weights and input give the same outputs and gradients.

Each case builds a layer on the CPU, copies it to the device under test
(``Module.to``), runs forward and backward with the same input and cotangent
on both, and compares outputs, input gradients and parameter gradients. On a
machine without a GPU the device is the strict CuPy stand-in
(``tests/strict_array.py``), which fails any layer whose code reaches NumPy
directly or copies to the host.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
import helpers
from chainrule import nn

DEVICES = [d for d in helpers.DEVICES if d != "cpu"]
rng = np.random.default_rng(0)


def _x(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _tokens(n: int, length: int, vocab: int) -> np.ndarray:
    return rng.integers(0, vocab, (n, length)).astype(np.int64)


def _prob(*shape: int) -> np.ndarray:
    """Values in (0.05, 0.95): probabilities, targets, variances."""
    return rng.uniform(0.05, 0.95, shape).astype(np.float32)


def _log_prob(*shape: int) -> np.ndarray:
    z = rng.standard_normal(shape)
    return (z - np.log(np.exp(z).sum(-1, keepdims=True))).astype(np.float32)


def _causal_on(x: cr.Tensor, n: int) -> cr.Tensor:
    """The causal mask made on ``x``'s device (as a user of PyTorch writes it)."""
    return nn.Transformer.generate_square_subsequent_mask(n, device=x.device)


# a host mask given with device inputs: the layer moves it (as a bool (L, S) array)
_CAUSAL_5 = np.triu(np.ones((5, 5), dtype=bool), 1)
_TINY_BERT = cr.models.BertConfig(
    vocab_size=13,
    hidden_size=8,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=16,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    max_position_embeddings=8,
)


# (name, layer factory, inputs as NumPy arrays, optional call taking (layer, *tensors))
CASES: list[tuple[str, Callable[[], nn.Module], list[np.ndarray], Callable | None]] = [
    ("Linear", lambda: nn.Linear(5, 3), [_x(4, 5)], None),
    ("Bilinear", lambda: nn.Bilinear(3, 4, 2), [_x(5, 3), _x(5, 4)], None),
    ("Conv1d", lambda: nn.Conv1d(3, 4, 3, padding=1), [_x(2, 3, 9)], None),
    ("Conv2d", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), [_x(2, 3, 8, 8)], None),
    ("Conv2d-groups-dilation", lambda: nn.Conv2d(4, 4, 3, groups=2, dilation=2), [_x(2, 4, 9, 9)], None),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2), [_x(2, 3, 5, 5)], None),
    ("MaxPool2d", lambda: nn.MaxPool2d(2), [_x(2, 3, 8, 8)], None),
    ("AvgPool2d", lambda: nn.AvgPool2d(2), [_x(2, 3, 8, 8)], None),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d(3), [_x(2, 3, 7, 7)], None),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(5), [_x(8, 5)], None),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(3), [_x(4, 3, 5, 5)], None),
    ("LayerNorm", lambda: nn.LayerNorm(6), [_x(3, 4, 6)], None),
    ("GroupNorm", lambda: nn.GroupNorm(2, 4), [_x(3, 4, 5)], None),
    ("RMSNorm", lambda: nn.RMSNorm(6), [_x(3, 6)], None),
    ("Embedding", lambda: nn.Embedding(10, 4), [_tokens(3, 5, 10)], None),
    ("RNN", lambda: nn.RNN(4, 5, num_layers=2, batch_first=True), [_x(2, 6, 4)], lambda m, x: m(x)[0]),
    ("LSTM", lambda: nn.LSTM(4, 5, bidirectional=True), [_x(6, 2, 4)], lambda m, x: m(x)[0]),
    ("GRU", lambda: nn.GRU(4, 5, batch_first=True), [_x(2, 6, 4)], lambda m, x: m(x)[0]),
    (
        "MultiheadAttention",
        lambda: nn.MultiheadAttention(8, 2, batch_first=True),
        [_x(2, 5, 8)],
        lambda m, x: m(x, x, x)[0],
    ),
    (
        "TransformerEncoderLayer",
        lambda: nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True),
        [_x(2, 5, 8)],
        None,
    ),
    (
        "Sequential-activations",
        lambda: nn.Sequential(
            nn.Linear(6, 6),
            nn.ReLU(),
            nn.GELU(),
            nn.SiLU(),
            nn.Tanh(),
            nn.Sigmoid(),
            nn.Softplus(),
            nn.ELU(),
            nn.LeakyReLU(),
            nn.Softmax(dim=-1),
        ),
        [_x(3, 6)],
        None,
    ),
    ("Dropout-eval", lambda: nn.Dropout(0.5).eval(), [_x(3, 6)], None),
    ("CrossEntropyLoss", lambda: nn.CrossEntropyLoss(), [_x(4, 5), np.array([0, 3, 1, 4])], None),
    ("MSELoss", lambda: nn.MSELoss(), [_x(4, 5), _x(4, 5)], None),
    (
        "BCEWithLogitsLoss",
        lambda: nn.BCEWithLogitsLoss(),
        [_x(4, 5), (_x(4, 5) > 0).astype(np.float32)],
        None,
    ),
    # ------------------------------------------------------------ the remaining layers
    ("ConvTranspose1d", lambda: nn.ConvTranspose1d(3, 2, 3, stride=2, padding=1), [_x(2, 3, 6)], None),
    ("Conv3d", lambda: nn.Conv3d(2, 3, 3, padding=1), [_x(2, 2, 4, 5, 4)], None),
    ("MaxPool1d", lambda: nn.MaxPool1d(2), [_x(2, 3, 8)], None),
    ("MaxPool3d", lambda: nn.MaxPool3d(2), [_x(2, 2, 4, 4, 4)], None),
    ("AvgPool1d", lambda: nn.AvgPool1d(3, stride=2, padding=1), [_x(2, 3, 9)], None),
    ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((2, 3)), [_x(2, 3, 7, 8)], None),
    ("Upsample-nearest", lambda: nn.Upsample(scale_factor=2), [_x(2, 3, 4, 4)], None),
    ("Upsample-bilinear", lambda: nn.Upsample(size=(7, 5), mode="bilinear"), [_x(2, 3, 4, 4)], None),
    ("PixelShuffle", lambda: nn.PixelShuffle(2), [_x(2, 8, 3, 3)], None),
    ("Unfold", lambda: nn.Unfold(2, padding=1), [_x(2, 3, 4, 4)], None),
    ("Fold", lambda: nn.Fold((4, 5), 2), [_x(2, 12, 12)], None),
    ("RNNCell", lambda: nn.RNNCell(4, 5), [_x(3, 4), _x(3, 5)], None),
    ("LSTMCell", lambda: nn.LSTMCell(4, 5), [_x(3, 4)], lambda m, x: m(x)[1]),
    ("GRUCell", lambda: nn.GRUCell(4, 5), [_x(3, 4)], None),
    (
        "LSTM-lengths",
        lambda: nn.LSTM(4, 5, batch_first=True),
        [_x(3, 6, 4), np.array([6, 2, 4])],
        lambda m, x, lengths: m(x, lengths=lengths)[0],
    ),
    (
        "MultiheadAttention-masks",
        lambda: nn.MultiheadAttention(8, 2, batch_first=True, add_bias_kv=True, add_zero_attn=True),
        [_x(2, 5, 8), np.array([[False] * 5, [False] * 3 + [True] * 2])],
        lambda m, x, pad: m(x, x, x, key_padding_mask=pad, attn_mask=_CAUSAL_5, need_weights=False)[0],
    ),
    (
        "TransformerDecoderLayer",
        lambda: nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True),
        [_x(2, 4, 8), _x(2, 5, 8)],
        lambda m, tgt, mem: m(tgt, mem, tgt_mask=_causal_on(tgt, 4)),
    ),
    (
        "Transformer",
        lambda: nn.Transformer(
            8, 2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16, dropout=0.0,
            batch_first=True,
        ),
        [_x(2, 5, 8), _x(2, 4, 8)],
        lambda m, src, tgt: m(src, tgt, tgt_is_causal=True, tgt_mask=_causal_on(tgt, 4)),
    ),
    ("SinusoidalPositionalEncoding", lambda: nn.SinusoidalPositionalEncoding(8, 10), [_x(2, 5, 8)], None),
    ("LearnedPositionalEncoding", lambda: nn.LearnedPositionalEncoding(10, 8), [_x(2, 5, 8)], None),
    ("CosineSimilarity", lambda: nn.CosineSimilarity(dim=1), [_x(4, 6), _x(4, 6)], None),
    ("PairwiseDistance", lambda: nn.PairwiseDistance(), [_x(4, 6), _x(4, 6)], None),
    # ------------------------------------------------------------ every loss class
    ("L1Loss", lambda: nn.L1Loss(), [_x(4, 5), _x(4, 5)], None),
    ("HuberLoss", lambda: nn.HuberLoss(delta=0.5), [_x(4, 5), _x(4, 5)], None),
    ("SmoothL1Loss", lambda: nn.SmoothL1Loss(beta=0.5), [_x(4, 5), _x(4, 5)], None),
    ("BCELoss", lambda: nn.BCELoss(), [_prob(4, 5), _prob(4, 5)], None),
    (
        "CrossEntropyLoss-weight-smoothing",
        lambda: nn.CrossEntropyLoss(weight=cr.tensor(_prob(5)), label_smoothing=0.1, ignore_index=2),
        [_x(4, 5), np.array([0, 3, 2, 4])],
        None,
    ),
    ("CrossEntropyLoss-probabilities", lambda: nn.CrossEntropyLoss(), [_x(4, 5), _prob(4, 5)], None),
    ("NLLLoss", lambda: nn.NLLLoss(), [_log_prob(4, 5), np.array([0, 3, 1, 4])], None),
    ("KLDivLoss", lambda: nn.KLDivLoss(reduction="batchmean"), [_log_prob(4, 5), _prob(4, 5)], None),
    ("PoissonNLLLoss", lambda: nn.PoissonNLLLoss(), [_x(4, 5), _prob(4, 5) * 3], None),
    ("GaussianNLLLoss", lambda: nn.GaussianNLLLoss(), [_x(4, 5), _x(4, 5), _prob(4, 5)], None),
    (
        "MarginRankingLoss",
        lambda: nn.MarginRankingLoss(margin=0.2),
        [_x(6), _x(6), np.sign(_x(6)).astype(np.float32)],
        None,
    ),
    ("TripletMarginLoss", lambda: nn.TripletMarginLoss(margin=0.5), [_x(4, 6), _x(4, 6), _x(4, 6)], None),
    (
        "CTCLoss",
        lambda: nn.CTCLoss(),
        [_log_prob(8, 2, 5), np.array([[1, 2, 2], [3, 4, 0]]), np.array([8, 7]), np.array([3, 2])],
        None,
    ),
    # ------------------------------------------------------------ small models
    ("LeNet5", lambda: cr.models.LeNet5(num_classes=3), [_x(2, 1, 28, 28)], None),
    ("ResNet-small", lambda: cr.models.resnet_small(num_classes=3, width=4), [_x(2, 1, 12, 12)], None),
    (
        "ViT-tiny",
        lambda: cr.models.ViT(8, 4, num_classes=3, dim=8, depth=1, heads=2, mlp_dim=16),
        [_x(2, 1, 8, 8)],
        None,
    ),
    ("GPT-tiny", lambda: cr.models.GPT(11, 6, n_layer=1, n_head=2, n_embd=8), [_tokens(2, 5, 11)], None),
    (
        "BERT-tiny-attention_mask",
        lambda: cr.models.BertModel(_TINY_BERT),
        [_tokens(2, 5, 13), np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])],
        lambda m, ids, mask: m(ids, mask).last_hidden_state,
    ),
]


def _run(
    layer: nn.Module, arrays: list[np.ndarray], device: str, call: Callable | None, cot: np.ndarray | None
):
    inputs = [
        cr.tensor(a, requires_grad=a.dtype.kind == "f" and i == 0, device=device)
        for i, a in enumerate(arrays)
    ]
    out = call(layer, *inputs) if call else layer(*inputs)
    if cot is None:
        cot = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    (out * cr.tensor(cot, device=device)).sum().backward()
    return out, inputs, cot


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,factory,arrays,call", CASES, ids=[c[0] for c in CASES])
def test_layer_matches_the_cpu(device, name, factory, arrays, call):
    cpu_layer = factory()
    dev_layer = copy.deepcopy(cpu_layer).to(device)
    for p in dev_layer.parameters():
        assert p.device.type == device, f"{name}: parameter left on {p.device}"
    out_cpu, in_cpu, cot = _run(cpu_layer, arrays, "cpu", call, None)
    out_dev, in_dev, _ = _run(dev_layer, arrays, device, call, cot)
    assert out_dev.device.type == device
    np.testing.assert_allclose(out_dev.cpu().numpy(), out_cpu.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
    if in_cpu[0].grad is not None:
        assert in_dev[0].grad.device.type == device
        np.testing.assert_allclose(in_dev[0].grad.cpu().numpy(), in_cpu[0].grad.numpy(), rtol=1e-4, atol=1e-5)
    for (pname, p_cpu), p_dev in zip(cpu_layer.named_parameters(), dev_layer.parameters(), strict=True):
        if p_cpu.grad is None:
            assert p_dev.grad is None, f"{name}.{pname}: a gradient only on {device}"
            continue
        assert p_dev.grad.device.type == device, f"{name}.{pname}: gradient on {p_dev.grad.device}"
        np.testing.assert_allclose(
            p_dev.grad.cpu().numpy(), p_cpu.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{name}.{pname}"
        )
    for (bname, b_cpu), b_dev in zip(cpu_layer.named_buffers(), dev_layer.buffers(), strict=True):
        np.testing.assert_allclose(b_dev.cpu().numpy(), b_cpu.numpy(), rtol=1e-5, atol=1e-6, err_msg=bname)


FACTORIES = [
    ("Linear", lambda **kw: nn.Linear(5, 3, **kw)),
    ("Bilinear", lambda **kw: nn.Bilinear(3, 4, 2, **kw)),
    ("Conv2d", lambda **kw: nn.Conv2d(3, 4, 3, **kw)),
    ("ConvTranspose1d", lambda **kw: nn.ConvTranspose1d(3, 2, 3, **kw)),
    ("Embedding", lambda **kw: nn.Embedding(10, 4, padding_idx=0, **kw)),
    ("BatchNorm2d", lambda **kw: nn.BatchNorm2d(3, **kw)),
    ("GroupNorm", lambda **kw: nn.GroupNorm(2, 4, **kw)),
    ("LayerNorm", lambda **kw: nn.LayerNorm(6, **kw)),
    ("RMSNorm", lambda **kw: nn.RMSNorm(6, **kw)),
    ("LSTM", lambda **kw: nn.LSTM(4, 5, num_layers=2, **kw)),
    ("GRUCell", lambda **kw: nn.GRUCell(4, 5, **kw)),
    ("MultiheadAttention", lambda **kw: nn.MultiheadAttention(8, 2, **kw)),
    ("TransformerDecoderLayer", lambda **kw: nn.TransformerDecoderLayer(8, 2, 16, **kw)),
    ("Transformer", lambda **kw: nn.Transformer(8, 2, 1, 1, 16, **kw)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,factory", FACTORIES, ids=[f[0] for f in FACTORIES])
def test_layers_made_with_device_live_there_with_the_cpu_values(device, name, factory):
    cr.manual_seed(7)
    cpu = factory()
    cr.manual_seed(7)
    dev = factory(device=device)
    for (pname, a), b in zip(cpu.state_dict().items(), dev.state_dict().values(), strict=True):
        assert b.device.type == device, f"{name}.{pname} on {b.device}"
        np.testing.assert_array_equal(b.cpu().numpy(), a.numpy(), err_msg=f"{name}.{pname}")


@pytest.mark.skipif(cr.cuda.is_available(), reason="CUDA is available here")
def test_a_layer_on_an_unavailable_device_is_refused_naming_the_layer():
    with pytest.raises(RuntimeError, match="Linear: device 'cuda' is not available"):
        nn.Linear(2, 2, device="cuda")
