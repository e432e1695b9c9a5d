"""Transformer encoder/decoder layers and stacks, the full Transformer and positional encodings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.nn.positional import sinusoidal_table

D, H, FF = 16, 4, 32


def _randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _as(lib, m):
    return None if m is None else lib.tensor(m)


def _compare(theirs, ours, inputs, rtol=1e-5, atol=2e-6, **masks):
    """Copy torch's weights in, then compare the output, every input's and every parameter's gradient."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ti = [torch.tensor(a, requires_grad=True) for a in inputs]
    ci = [cr.tensor(a, requires_grad=True) for a in inputs]
    tkw = {k: _as(torch, v) if isinstance(v, np.ndarray) else v for k, v in masks.items()}
    ckw = {k: _as(cr, v) if isinstance(v, np.ndarray) else v for k, v in masks.items()}
    to, co = theirs(*ti, **tkw), ours(*ci, **ckw)
    np.testing.assert_allclose(co._array, to.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(0).standard_normal(to.shape).astype(np.float32)
    (to * torch.tensor(g)).sum().backward()
    (co * cr.tensor(g)).sum().backward()
    for a, b in zip(ci, ti, strict=True):
        np.testing.assert_allclose(a.grad._array, b.grad.numpy(), rtol=rtol, atol=atol * 10)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(
            p.grad._array, tp[name].grad.numpy(), rtol=rtol, atol=atol * 10, err_msg=name
        )


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_encoder_layer(norm_first, activation, batch_first):
    rng = np.random.default_rng(1)
    kw = dict(dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first)
    theirs = torch.nn.TransformerEncoderLayer(D, H, FF, **kw)
    ours = cr.nn.TransformerEncoderLayer(D, H, FF, **kw)
    x = _randn(rng, 3, 7, D) if batch_first else _randn(rng, 7, 3, D)
    kpm = np.zeros((3, 7), bool)
    kpm[1, 5:] = True
    _compare(theirs, ours, [x], src_key_padding_mask=kpm)


def test_encoder_stack_masks_and_causal():
    rng = np.random.default_rng(2)
    layer_t = torch.nn.TransformerEncoderLayer(D, H, FF, 0.0, batch_first=True)
    theirs = torch.nn.TransformerEncoder(layer_t, 2, torch.nn.LayerNorm(D), enable_nested_tensor=False)
    ours = cr.nn.TransformerEncoder(
        cr.nn.TransformerEncoderLayer(D, H, FF, 0.0, batch_first=True), 2, cr.nn.LayerNorm(D)
    )
    x = _randn(rng, 2, 6, D)
    causal_f = torch.nn.Transformer.generate_square_subsequent_mask(6).numpy()
    np.testing.assert_array_equal(cr.nn.Transformer.generate_square_subsequent_mask(6)._array, causal_f)
    np.testing.assert_array_equal(cr.nn.generate_square_subsequent_mask(6)._array, causal_f)
    _compare(theirs, ours, [x], mask=causal_f, is_causal=True)
    _compare(theirs, ours, [x], mask=np.triu(np.ones((6, 6), bool), 1))
    _compare(theirs, ours, [x], mask=_randn(rng, 2 * H, 6, 6))
    kpm = np.zeros((2, 6), bool)
    kpm[0, 4:] = True
    _compare(theirs, ours, [x], mask=np.triu(np.ones((6, 6), bool), 1), src_key_padding_mask=kpm)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_with_memory_masks(norm_first):
    rng = np.random.default_rng(3)
    kw = dict(dropout=0.0, activation="gelu", norm_first=norm_first)
    theirs = torch.nn.TransformerDecoderLayer(D, H, FF, **kw)
    ours = cr.nn.TransformerDecoderLayer(D, H, FF, **kw)
    tgt, mem = _randn(rng, 5, 2, D), _randn(rng, 7, 2, D)
    mem_kpm = np.zeros((2, 7), bool)
    mem_kpm[1, 6:] = True
    tgt_kpm = np.zeros((2, 5), bool)
    tgt_kpm[0, 4] = True
    _compare(
        theirs, ours, [tgt, mem], tgt_mask=np.triu(np.ones((5, 5), bool), 1), tgt_is_causal=True,
        memory_mask=rng.random((5, 7)) > 0.8, tgt_key_padding_mask=tgt_kpm, memory_key_padding_mask=mem_kpm,
    )  # fmt: skip


def test_decoder_stack_and_full_transformer():
    rng = np.random.default_rng(4)
    theirs = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, H, FF, 0.0, batch_first=True), 2)
    ours = cr.nn.TransformerDecoder(cr.nn.TransformerDecoderLayer(D, H, FF, 0.0, batch_first=True), 2)
    _compare(theirs, ours, [_randn(rng, 2, 5, D), _randn(rng, 2, 6, D)], memory_mask=_randn(rng, 5, 6))
    theirs = torch.nn.Transformer(D, H, 2, 2, FF, 0.0, batch_first=True, norm_first=True)
    ours = cr.nn.Transformer(D, H, 2, 2, FF, 0.0, batch_first=True, norm_first=True)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    src_kpm = np.zeros((2, 6), bool)
    src_kpm[1, 5] = True
    _compare(
        theirs, ours, [_randn(rng, 2, 6, D), _randn(rng, 2, 5, D)],
        tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(5).numpy(),
        src_key_padding_mask=src_kpm, memory_key_padding_mask=src_kpm,
    )  # fmt: skip


def test_unbatched_no_bias_and_callable_activation():
    rng = np.random.default_rng(5)
    kw = dict(dropout=0.0, bias=False, activation=torch.nn.functional.silu)
    theirs = torch.nn.TransformerEncoderLayer(D, H, FF, **kw)
    ours = cr.nn.TransformerEncoderLayer(D, H, FF, **{**kw, "activation": cr.nn.functional.silu})
    assert ours.linear1.bias is None and ours.norm1.bias is None
    _compare(theirs, ours, [_randn(rng, 4, D)])


def test_dropout_train_changes_output_eval_does_not():
    rng = np.random.default_rng(6)
    model = cr.nn.Transformer(D, H, 1, 1, FF, dropout=0.3, batch_first=True)
    src, tgt = cr.tensor(_randn(rng, 2, 5, D)), cr.tensor(_randn(rng, 2, 4, D))
    a, b = model(src, tgt), model(src, tgt)
    assert not np.allclose(a._array, b._array)
    model.eval()
    with cr.no_grad():
        np.testing.assert_array_equal(model(src, tgt)._array, model(src, tgt)._array)


def test_transformer_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: d_model \(10\) must be divisible"):
        cr.nn.TransformerEncoderLayer(10, 3)
    with pytest.raises(ValueError, match="activation should be relu/gelu"):
        cr.nn.TransformerDecoderLayer(8, 2, activation="swish")
    model = cr.nn.Transformer(8, 2, 1, 1, 16, 0.0, batch_first=True)
    with pytest.raises(ValueError, match="Transformer: the batch number of src and tgt must be equal"):
        model(cr.randn(2, 5, 8), cr.randn(3, 5, 8))
    with pytest.raises(ValueError, match=r"Transformer: src must have shape"):
        model(cr.randn(2, 5, 6), cr.randn(2, 5, 8))
    layer = cr.nn.TransformerEncoderLayer(8, 2, 16, 0.0, batch_first=True)
    with pytest.raises(ValueError, match=r"MultiheadAttention: attn_mask must have shape"):
        layer(cr.randn(2, 5, 8), src_mask=cr.tensor(np.zeros((4, 4), bool)))


# ---------------------------------------------------------------- positional encodings
def test_sinusoidal_encoding_values_and_buffer():
    pe = cr.nn.SinusoidalPositionalEncoding(6, max_len=10)
    x = cr.zeros(2, 4, 6)
    out = pe(x)._array
    pos, i = 3, 1  # feature 2i = sin(pos / 10000^(2i/d)), 2i+1 = cos(...)
    np.testing.assert_allclose(out[0, pos, 2 * i], np.sin(pos / 10000 ** (2 * i / 6)), rtol=1e-6)
    np.testing.assert_allclose(out[1, pos, 2 * i + 1], np.cos(pos / 10000 ** (2 * i / 6)), rtol=1e-6)
    assert "pe" not in pe.state_dict() and out.dtype == np.float32
    seq_first = cr.nn.SinusoidalPositionalEncoding(6, max_len=10, batch_first=False)
    np.testing.assert_allclose(seq_first(cr.zeros(4, 2, 6))._array[:, 1], sinusoidal_table(10, 6)[:4])
    odd = sinusoidal_table(5, 7)
    assert odd.shape == (5, 7) and np.isfinite(odd).all()
    with pytest.raises(ValueError, match="SinusoidalPositionalEncoding: the sequence has 11 positions"):
        pe(cr.zeros(1, 11, 6))


def test_learned_encoding_gradients_and_errors():
    cr.manual_seed(0)
    pe = cr.nn.LearnedPositionalEncoding(8, 4)
    assert pe.weight.shape == (8, 4) and abs(float(pe.weight._array.std()) - 0.02) < 0.01
    x = cr.randn(3, 5, 4, requires_grad=True)
    out = pe(x)
    np.testing.assert_allclose(out._array, x._array + pe.weight._array[None, :5], rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(pe.weight.grad._array[:5], 3.0)
    np.testing.assert_array_equal(pe.weight.grad._array[5:], 0.0)
    with pytest.raises(ValueError, match="LearnedPositionalEncoding: the sequence has 9 positions"):
        pe(cr.zeros(1, 9, 4))
    with pytest.raises(ValueError, match="LearnedPositionalEncoding: expected an input of shape"):
        pe(cr.zeros(1, 5, 3))
    dropped = cr.nn.LearnedPositionalEncoding(8, 4, dropout=0.5)
    assert not np.allclose(dropped(cr.ones(2, 8, 4))._array, dropped(cr.ones(2, 8, 4))._array)
    dropped.eval()
    np.testing.assert_array_equal(dropped(cr.ones(2, 8, 4))._array, dropped(cr.ones(2, 8, 4))._array)


def test_reprs_and_module_names_match_torch():
    """MultiheadAttention prints no settings and its out_proj is a NonDynamicallyQuantizableLinear, as in
    PyTorch; a stack of identical layers folds into ``(0-1): 2 x TransformerEncoderLayer(...)``."""

    def build(nn):
        layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, norm_first=True, bias=False)
        return nn.Sequential(
            nn.MultiheadAttention(4, 2, kdim=3, vdim=5),
            nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False),
            nn.Transformer(4, 2, 1, 2, 8, dropout=0.0),
        )

    ours, theirs = build(cr.nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    assert [(n, type(m).__name__) for n, m in ours.named_modules()] == [
        (n, type(m).__name__) for n, m in theirs.named_modules()
    ]
    assert list(ours.state_dict()) == list(theirs.state_dict())
