"""``chainrule export SOURCE OUT.onnx``: the models the commands save, as ONNX that ONNX Runtime runs."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from click.testing import CliRunner

import chainrule as cr
from chainrule.cli import main

CONFIG = """
[data]
dataset = "digits"
batch_size = 64
val_fraction = 0.2

[model]
name = "MLP"
in_features = 64
hidden_sizes = [16]
out_features = 10

[optimizer]
name = "SGD"
lr = 0.1

[train]
epochs = 1
"""


def _padded_batches(seed, cases):
    """``(n, input_ids, attention_mask)`` for each ``(n, tokens, lengths)``: random ids, zero-padded."""
    rng = np.random.default_rng(seed)
    for n, t, lengths in cases:
        real = np.arange(t)[None, :] < np.asarray(lengths)[:, None]
        ids = np.where(real, rng.integers(1, 30, (n, t)), 0).astype(np.int64)
        yield n, ids, real.astype(np.int64)


def _run_export(source, out, *extra):
    result = CliRunner().invoke(main, ["export", str(source), str(out), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_export_a_train_run(tmp_path):
    from chainrule.models import registry
    from chainrule.train.checkpoint import load_checkpoint
    from chainrule.train.config import load_config, run_experiment

    (tmp_path / "c.toml").write_text(CONFIG)
    run = tmp_path / "run"
    run_experiment(load_config(tmp_path / "c.toml", models=registry), run, progress=False, models=registry)
    out = tmp_path / "mlp.onnx"
    assert "MLP" in _run_export(run, out)
    model = registry.get_model("MLP", in_features=64, hidden_sizes=[16], out_features=10)
    ckpt = run / "checkpoints" / "last.safetensors"
    best = run / "checkpoints" / "best.safetensors"
    model.load_state_dict(load_checkpoint(best if best.is_file() else ckpt).model)
    model.eval()
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    got = ort.InferenceSession(str(out)).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, model(cr.tensor(x))._array, rtol=1e-4, atol=1e-5)


def test_export_a_maintenance_model(tmp_path):
    from chainrule.apps.maintenance.models import build_model, save_model

    cr.manual_seed(0)
    (tmp_path / "models").mkdir()
    nets = {}
    for kind in ("lstm", "cnn"):
        config = {"n_features": 3, "window": 12}
        nets[kind] = build_model(kind, **config).eval()
        save_model(nets[kind], tmp_path / "models" / f"{kind}.safetensors", kind, config)
    result = CliRunner().invoke(main, ["export", str(tmp_path), str(tmp_path / "m.onnx")])
    assert result.exit_code != 0 and "--part" in result.output
    _run_export(tmp_path, tmp_path / "m.onnx", "--part", "lstm")
    x = np.random.default_rng(1).standard_normal((4, 9, 3)).astype(np.float32)  # other batch and window
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, nets["lstm"](cr.tensor(x))._array, rtol=1e-4, atol=1e-5)
    _run_export(tmp_path / "models" / "cnn.safetensors", tmp_path / "c.onnx")
    x = np.random.default_rng(2).standard_normal((4, 12, 3)).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "c.onnx")).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, nets["cnn"](cr.tensor(x))._array, rtol=1e-4, atol=1e-5)
    mlp = build_model("mlp", **config).fit_scaling(x).eval()  # window summaries, standardized, then the MLP
    save_model(mlp, tmp_path / "mlp.safetensors", "mlp", config)
    _run_export(tmp_path / "mlp.safetensors", tmp_path / "s.onnx")
    got = ort.InferenceSession(str(tmp_path / "s.onnx")).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, mlp(cr.tensor(x))._array, rtol=1e-4, atol=1e-5)


def test_export_refuses_what_it_cannot_rebuild(tmp_path):
    result = CliRunner().invoke(main, ["export", str(tmp_path), str(tmp_path / "x.onnx")])
    assert result.exit_code != 0 and "not a run directory chainrule export knows" in result.output


def test_export_a_finetune_run(tmp_path):
    # the classifier `chainrule finetune` saves: token ids and their mask in, logits out
    import onnx
    from chainrule.apps.finetune.classifier import SentenceClassifier
    from chainrule.apps.finetune.data import LabelMap
    from chainrule.apps.finetune.pipeline import _save
    from chainrule.models.bert import BertConfig, BertModel

    cr.manual_seed(3)
    base = tmp_path / "base"
    config = BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)  # fmt: skip
    encoder = BertModel(config)
    encoder.save_pretrained(base)
    (base / "tokenizer.json").write_text("{}")  # copied beside the model; the export does not read it
    classifier = SentenceClassifier(encoder, 3)
    run = tmp_path / "run"
    run.mkdir()
    _save(run, classifier, LabelMap(["neg", "neutral", "pos"]), base, {"epochs": 1})
    out = tmp_path / "classifier.onnx"
    printed = _run_export(run, out)
    assert "SentenceClassifier" in printed and "attention_mask" in printed
    graph = onnx.load(str(out)).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in graph.output] == ["logits"]
    session = ort.InferenceSession(str(out))
    classifier.eval()
    for n, ids, mask in _padded_batches(4, [(3, 5, [5, 2, 4]), (1, 11, [11]), (5, 9, [9, 3, 9, 1, 6])]):
        got = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        want = classifier(cr.tensor(ids), cr.tensor(mask))._array
        assert got.shape == (n, 3)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_export_a_broken_finetune_run_says_why(tmp_path):
    (tmp_path / "finetune.json").write_text('{"num_classes": 2}')
    result = CliRunner().invoke(main, ["export", str(tmp_path), str(tmp_path / "x.onnx")])
    assert result.exit_code != 0 and "not a readable finetune run" in result.output


def test_export_a_finetune_seed_ensemble(tmp_path):
    # `chainrule finetune --members 2` saves a MeanOfMembers: one graph, both members, the mean probability
    import onnx
    from chainrule.apps.finetune.classifier import SentenceClassifier
    from chainrule.apps.finetune.data import LabelMap
    from chainrule.apps.finetune.ensemble import MeanOfMembers
    from chainrule.apps.finetune.pipeline import _save
    from chainrule.models.bert import BertConfig, BertModel

    cr.manual_seed(5)
    base = tmp_path / "base"
    config = BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16)  # fmt: skip
    BertModel(config).save_pretrained(base)
    (base / "tokenizer.json").write_text("{}")
    ensemble = MeanOfMembers([SentenceClassifier(BertModel(config), 2) for _ in range(2)])
    run = tmp_path / "run"
    run.mkdir()
    _save(run, ensemble, LabelMap(["neg", "pos"]), base, {"epochs": 1})
    out = tmp_path / "ensemble.onnx"
    assert "MeanOfMembers" in _run_export(run, out)
    graph = onnx.load(str(out)).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask"]
    assert {i.name for i in graph.initializer} >= {"members.0.head.weight", "members.1.head.weight"}
    session = ort.InferenceSession(str(out))
    ensemble.eval()
    for n, ids, mask in _padded_batches(6, [(3, 5, [5, 2, 4]), (1, 9, [9])]):
        got = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        want = ensemble(cr.tensor(ids), cr.tensor(mask))._array
        assert got.shape == (n, 2)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.exp(got).sum(1), 1.0, rtol=1e-5)  # log-probabilities
