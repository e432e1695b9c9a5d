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


def test_export_refuses_what_it_cannot_rebuild(tmp_path):
    result = CliRunner().invoke(main, ["export", str(tmp_path), str(tmp_path / "x.onnx")])
    assert result.exit_code != 0 and "not a run directory chainrule export knows" in result.output
