"""Attention masks as graph inputs: ONNX Runtime receives them at run time, at other batch sizes and lengths.

Each model is exported at one (batch, length) and run in ONNX Runtime at
others, with some rows padded and some not; ``load`` brings the graph back
with the outputs and the parameters' gradients of the original model.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.onnx import export, load

# (batch, length, each row's real length): the export uses the first, ONNX Runtime runs them all
SIZES = [(2, 6, (4, 6)), (3, 4, (4, 1, 3)), (1, 8, (8,)), (4, 7, (7, 2, 5, 7))]
RNG = np.random.default_rng(0)


def floats(*shape):
    return cr.tensor(RNG.standard_normal(shape).astype(np.float32))


def padded(lengths, t):
    """(N, T) bool, True at the padding: PyTorch's key_padding_mask convention."""
    return np.arange(t)[None, :] >= np.asarray(lengths)[:, None]


def causal(t, kind):
    """(T, T) causal mask: bool True above the diagonal (MHA's "masked"), or float -inf there plus noise."""
    above = np.triu(np.ones((t, t), bool), 1)
    if kind == "bool":
        return cr.tensor(above)
    noise = RNG.standard_normal((t, t)).astype(np.float32) * 0.3
    return cr.tensor(np.where(above, np.float32(-np.inf), noise))


def as_kind(mask, kind):
    """A bool mask (True = masked) as given, or as the float mask that means the same (-inf where True)."""
    if kind == "bool":
        return cr.tensor(mask)
    return cr.tensor(np.where(mask, np.float32(-np.inf), np.float32(0)))


def outputs(out):
    return [out] if isinstance(out, cr.Tensor) else [o for o in out if o is not None]


def check(tmp_path, model, make, names, dyn, output_names=None):
    """Export at the first size, compare ONNX Runtime with chainrule at every size; return the path."""
    path = tmp_path / "model.onnx"
    model.eval()
    export(model, make(*SIZES[0]), path, input_names=names, output_names=output_names, dynamic_axes=dyn)
    session = ort.InferenceSession(str(path))
    for size in SIZES:
        xs = make(*size)
        want = outputs(model(*xs))
        got = session.run(None, {n: x._array for n, x in zip(names, xs, strict=True)})
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape, size
            np.testing.assert_allclose(g, w._array, rtol=1e-4, atol=1e-5, err_msg=str(size))
    return path


def grads(model, xs, cotangents):
    model.zero_grad()
    sum((o * c).sum() for o, c in zip(outputs(model(*xs)), cotangents, strict=True)).backward()
    return {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


def check_loaded(path, model, xs, padding_rows=()):
    """``load(path)`` on ``xs``: the original model's outputs and every parameter's gradient.

    ``padding_rows`` names embedding tables whose row 0 is a ``padding_idx``:
    chainrule never updates it, which ONNX's Gather cannot say, so that row is left out.
    """
    back = load(path)
    want, got = outputs(model(*xs)), outputs(back(*xs))
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g._array, w._array, rtol=1e-4, atol=1e-5)
    cot = [cr.tensor(RNG.standard_normal(w.shape).astype(np.float32)) for w in want]
    gw, gb = grads(model, xs, cot), grads(back, xs, cot)
    assert gw and set(gw) <= set(gb)
    for name, g in gw.items():
        got = gb[name][1:] if name in padding_rows else gb[name]
        want = g[1:] if name in padding_rows else g
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)


class SelfAttention(nn.Module):
    def __init__(self, need_weights, batch_first=True):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=batch_first)
        self.need_weights = need_weights

    def forward(self, x, key_padding_mask, attn_mask):
        return self.attn(x, x, x, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                         need_weights=self.need_weights)  # fmt: skip


@pytest.mark.parametrize("pad_kind", ["bool", "float"])
@pytest.mark.parametrize("attn_kind", ["bool", "float"])
@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention_masks(tmp_path, pad_kind, attn_kind, need_weights):
    cr.manual_seed(0)
    model = SelfAttention(need_weights)

    def make(n, t, lengths):
        return floats(n, t, 8), as_kind(padded(lengths, t), pad_kind), causal(t, attn_kind)

    dyn = {"x": {0: "batch", 1: "time"}, "pad": {0: "batch", 1: "time"}, "attn": {0: "time", 1: "time"}}
    path = check(tmp_path, model, make, ["x", "pad", "attn"], dyn)
    if pad_kind == attn_kind == "bool":
        check_loaded(path, model, make(*SIZES[3]))


def test_is_causal_with_padding_rebuilds_the_causal_mask_at_every_length(tmp_path):
    # MHA builds the causal mask itself (a constant of the example's length): the graph makes it from T
    cr.manual_seed(8)
    attn = nn.MultiheadAttention(8, 2, batch_first=True)

    class Causal(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = attn

        def forward(self, x, padding):
            return self.attn(x, x, x, key_padding_mask=padding, is_causal=True, need_weights=False)[0]

    def make(n, t, lengths):
        return floats(n, t, 8), cr.tensor(padded(lengths, t))

    axes = {0: "batch", 1: "time"}
    check(tmp_path, Causal(), make, ["x", "pad"], {"x": axes, "pad": axes})


def test_cross_attention_padding_sequence_first(tmp_path):
    # queries (L, N, E) attend to a memory (S, N, E) whose padding is masked: L and S change apart
    cr.manual_seed(1)
    attn = nn.MultiheadAttention(8, 2)

    class Cross(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = attn

        def forward(self, query, memory, memory_padding):
            return self.attn(query, memory, memory, key_padding_mask=memory_padding, need_weights=False)[0]

    def make(n, t, lengths):
        return floats(t - 1 if t > 4 else t + 2, n, 8), floats(t, n, 8), cr.tensor(padded(lengths, t))

    dyn = {"query": {0: "L", 1: "N"}, "memory": {0: "S", 1: "N"}, "pad": {0: "N", 1: "S"}}
    path = check(tmp_path, Cross(), make, ["query", "memory", "pad"], dyn)
    check_loaded(path, Cross(), make(*SIZES[1]))


def test_sdpa_masks_and_causal(tmp_path):
    # bool attn_mask True = attend (PyTorch's SDPA convention), a float mask added, is_causal at every length
    class Attend(nn.Module):
        def forward(self, q, k, v, keep, bias):
            f = nn.functional.scaled_dot_product_attention
            return f(q, k, v, attn_mask=keep) + f(q, k, v, attn_mask=bias) + f(q, k, v, is_causal=True)

    def make(n, t, lengths):
        keep = ~padded(lengths, t)[:, None, None, :]  # (N, 1, 1, S)
        return floats(n, 2, t, 4), floats(n, 2, t, 4), floats(n, 2, t, 3), cr.tensor(keep), causal(t, "float")

    axes = {0: "N", 2: "T"}
    dyn = {"q": axes, "k": axes, "v": axes, "keep": {0: "N", 3: "T"}, "bias": {0: "T", 1: "T"}}
    path = check(tmp_path, Attend(), make, ["q", "k", "v", "keep", "bias"], dyn)
    back = load(path)
    xs = make(*SIZES[1])
    np.testing.assert_allclose(back(*xs)._array, Attend()(*xs)._array, rtol=1e-4, atol=1e-5)


def test_a_query_with_every_key_masked_gives_zeros(tmp_path):
    class Attend(nn.Module):
        def forward(self, q, keep):
            return nn.functional.scaled_dot_product_attention(q, q * 0.5, q * 2.0, attn_mask=keep)

    keep = np.ones((2, 1, 3, 3), bool)
    keep[1, 0, 2] = False  # the last query of the second sample sees no key
    path = check(tmp_path, Attend(), lambda *_: (floats(2, 1, 3, 4), cr.tensor(keep)), ["q", "keep"], None)
    got = ort.InferenceSession(str(path)).run(None, {"q": floats(2, 1, 3, 4)._array, "keep": keep})[0]
    assert np.all(got[1, 0, 2] == 0) and np.all(np.isfinite(got))


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_masks(tmp_path, norm_first):
    cr.manual_seed(2)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True,
                                       norm_first=norm_first)  # fmt: skip
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    class Encode(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, src, mask, padding):
            return self.encoder(src, mask=mask, src_key_padding_mask=padding)

    def make(n, t, lengths):
        return floats(n, t, 8), causal(t, "float"), cr.tensor(padded(lengths, t))

    dyn = {"src": {0: "batch", 1: "time"}, "mask": {0: "time", 1: "time"}, "pad": {0: "batch", 1: "time"}}
    path = check(tmp_path, Encode(), make, ["src", "mask", "pad"], dyn)
    if not norm_first:
        check_loaded(path, Encode(), make(*SIZES[3]))


def test_transformer_decoder_masks(tmp_path):
    cr.manual_seed(3)
    t = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16,
                       dropout=0.0, batch_first=True)  # fmt: skip

    class Translate(nn.Module):
        def __init__(self):
            super().__init__()
            self.t = t

        def forward(self, src, tgt, src_padding, tgt_mask, tgt_padding):
            return self.t(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=src_padding,
                          tgt_key_padding_mask=tgt_padding, memory_key_padding_mask=src_padding)  # fmt: skip

    def make(n, s, lengths):
        tl = s - 1 if s > 4 else s + 1  # the target: another length
        tgt_lengths = [min(x, tl) for x in lengths]
        return (floats(n, s, 8), floats(n, tl, 8), cr.tensor(padded(lengths, s)), causal(tl, "bool"),
                cr.tensor(padded(tgt_lengths, tl)))  # fmt: skip

    dyn = {"src": {0: "N", 1: "S"}, "tgt": {0: "N", 1: "T"}, "src_pad": {0: "N", 1: "S"},
           "tgt_mask": {0: "T", 1: "T"}, "tgt_pad": {0: "N", 1: "T"}}  # fmt: skip
    path = check(tmp_path, Translate(), make, list(dyn), dyn)
    check_loaded(path, Translate(), make(*SIZES[1]))


def tiny_bert(**extra):
    from chainrule.models.bert import BertConfig, BertModel

    cfg = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=16, **extra)  # fmt: skip
    return BertModel(cfg)


def bert_inputs(n, t, lengths):
    """HF's convention: ``attention_mask`` 1 at a token, 0 at the padding (whose id is 0)."""
    real = ~padded(lengths, t)
    ids = np.where(real, RNG.integers(1, 40, (n, t)), 0).astype(np.int64)
    types = np.where(real & (np.arange(t) >= 2), 1, 0).astype(np.int64)
    return cr.tensor(ids), cr.tensor(real.astype(np.int64)), cr.tensor(types)


BERT_AXES = {name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask", "token_type_ids")}


def test_bert_attention_mask_and_token_types(tmp_path):
    cr.manual_seed(4)
    bert = tiny_bert()

    class Encode(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state, out.pooler_output

    path = check(tmp_path, Encode(), bert_inputs, list(BERT_AXES), BERT_AXES, ["hidden", "pooled"])
    check_loaded(path, Encode(), bert_inputs(*SIZES[3]), ["bert.embeddings.word_embeddings.weight"])


def test_minilm_sentence_embeddings_pool_over_the_mask(tmp_path):
    from chainrule.models.bert import SentenceEncoder

    cr.manual_seed(5)
    model = SentenceEncoder(tiny_bert(hidden_act="gelu"), tokenizer=None)

    def make(n, t, lengths):
        ids, mask, _ = bert_inputs(n, t, lengths)
        return ids, mask

    names = ["input_ids", "attention_mask"]
    path = check(tmp_path, model, make, names, {n: BERT_AXES[n] for n in names}, ["embedding"])
    check_loaded(path, model, make(*SIZES[1]), ["bert.embeddings.word_embeddings.weight"])


def test_gpt_causal_mask_follows_the_length(tmp_path):
    import onnx
    from chainrule.models import GPT

    cr.manual_seed(6)
    gpt = GPT(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16)
    path = check(tmp_path, gpt, lambda n, t, _: (cr.tensor(RNG.integers(0, 30, (n, t))),), ["idx"],
                 {"idx": {0: "batch", 1: "time"}})  # fmt: skip
    square = [i.name for i in onnx.load(str(path)).graph.initializer if list(i.dims) == [6, 6]]
    assert not square  # no mask of the example's length was baked in
    ids = cr.tensor(RNG.integers(0, 30, (2, 16)))
    got = ort.InferenceSession(str(path)).run(None, {"idx": ids._array})[0]
    np.testing.assert_allclose(got, gpt(ids)._array, rtol=1e-4, atol=1e-5)


def test_finetune_baseline_transformer(tmp_path):
    from chainrule.apps.finetune.baselines import SmallTransformerClassifier

    cr.manual_seed(7)
    model = SmallTransformerClassifier(vocab_size=40, num_classes=3, max_length=16, d_model=8, nhead=2,
                                  num_layers=1, dim_feedforward=16)  # fmt: skip

    def make(n, t, lengths):
        ids, mask, _ = bert_inputs(n, t, lengths)
        return ids, mask

    names = ["input_ids", "attention_mask"]
    check(tmp_path, model, make, names, {n: BERT_AXES[n] for n in names}, ["logits"])
