"""`chainrule train CONFIG.toml`: configs are checked by name before training, and the examples run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.models import registry
from chainrule.train.config import ConfigError, check_config, load_config, run_experiment

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"
MODEL = {"name": "MLP", "in_features": 64, "hidden_sizes": [16], "out_features": 10}


@pytest.mark.parametrize("name", ["digits_mlp.toml", "digits_logistic.toml"])
def test_example_configs_run_and_write_every_file(name, tmp_path):
    config = load_config(CONFIGS / name, models=registry)
    history, results = run_experiment(config, tmp_path, progress=False, models=registry)
    for f in ("history.csv", "curves.png", "diagnosis.txt", "results.json", "log.csv"):
        assert (tmp_path / f).stat().st_size > 0, f
    assert any((tmp_path / "checkpoints").glob("*.safetensors"))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["test"]["accuracy"] > 0.9 and saved["diagnosis"] == history.diagnose().verdict
    assert results["epochs_run"] == len(history) >= 5


@pytest.mark.parametrize(
    "raw,expected",
    [
        (
            {"model": MODEL, "trainer": {}},
            r"unknown key\(s\) 'trainer' in \[top level\]; valid keys: .*train",
        ),
        (
            {"model": {"name": "Transformerz"}},
            r"unknown model .Transformerz.; valid names: .*LeNet5, Linear, MLP, .*resnet18",
        ),
        (
            {"model": MODEL, "optimizer": {"name": "Adamm"}},
            r"unknown optimizer 'Adamm'; valid names: .*AdamW",
        ),
        (
            {"model": MODEL, "optimizer": {"name": "SGD", "learning_rate": 0.1}},
            r"'learning_rate'.*valid keys:.*lr",
        ),
        ({"model": MODEL, "scheduler": {"name": "Cosine"}}, r"unknown scheduler 'Cosine'.*CosineAnnealingLR"),
        (
            {"model": MODEL, "loss": {"name": "CrossEntropy"}},
            r"unknown loss 'CrossEntropy'.*CrossEntropyLoss",
        ),
        (
            {"model": MODEL, "data": {"dataset": "mnist"}},
            r"unknown dataset 'mnist'; valid datasets: digits, csv",
        ),
        ({"model": MODEL, "data": {"batchsize": 3}}, r"'batchsize' in \[data\]; valid keys: .*batch_size"),
        ({"model": {"name": "MLP", "width": 3}}, r"'width' in \[model\] \(MLP\]; valid keys: .*hidden_sizes"),
        ({"model": MODEL, "callbacks": {"early_stopping": {"patients": 3}}}, r"'patients'.*patience"),
        ({}, r"a \[model\] section is required"),
        ({"model": MODEL, "data": {"num_workers": -1}}, r"num_workers must be an integer >= 0, got -1"),
    ],
)
def test_unknown_names_are_refused_with_the_valid_ones(raw, expected):
    with pytest.raises(ConfigError, match=expected):
        check_config(raw, models=registry)


def test_bad_files_are_refused_by_name(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml", models=registry)
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nname = 1")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(bad, models=registry)


def test_a_csv_dataset_trains_a_regression(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1
    for name, rows in (("train.csv", slice(0, 160)), ("test.csv", slice(160, 200))):
        lines = ["a,b,c,target"] + [",".join(f"{v:.6f}" for v in (*x[i], y[i])) for i in range(200)[rows]]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    config = check_config(
        {
            "data": {
                "dataset": "csv",
                "path": str(tmp_path / "train.csv"),
                "test_path": str(tmp_path / "test.csv"),
                "target": "target",
                "task": "regression",
                "batch_size": 16,
            },
            "model": {"name": "Linear", "in_features": 3, "out_features": 1},
            "loss": {"name": "MSELoss"},
            "optimizer": {"name": "Adam", "lr": 0.05},
            "train": {"epochs": 30, "metrics": ["r2"]},
        },
        models=registry,
    )
    _, results = run_experiment(config, tmp_path / "run", progress=False, models=registry)
    assert results["test"]["r2"] > 0.99


def test_num_workers_gives_the_same_run(tmp_path):
    # batches made in worker processes: the same shuffling, so the same training, figure for figure
    raw = {
        "model": MODEL,
        "data": {"batch_size": 64},
        "train": {"epochs": 2},
        "callbacks": {"checkpoint": False, "csv_log": False},
    }
    config = check_config(raw, models=registry)
    _, alone = run_experiment(config, tmp_path / "a", progress=False, models=registry)
    raw["data"]["num_workers"] = 2
    config = check_config(raw, models=registry)
    _, workers = run_experiment(config, tmp_path / "b", progress=False, models=registry)
    assert workers == alone


def test_the_command_line_reports_a_bad_config_in_one_line(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nname = "Nope"\n')
    result = subprocess.run(
        [sys.executable, "-m", "chainrule.cli", "train", str(cfg)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "unknown model 'Nope'; valid names: " in result.stderr and "LeNet5, Linear, MLP" in result.stderr


def test_a_device_in_the_config_trains_there_with_the_cpu_figures(tmp_path):
    import helpers

    device = [d for d in helpers.DEVICES if d != "cpu"][-1]
    raw = {
        "model": MODEL,
        "data": {"batch_size": 64},
        "train": {"epochs": 2},
        "callbacks": {"checkpoint": False, "csv_log": False},
    }
    config = check_config(raw, models=registry)
    _, cpu = run_experiment(config, tmp_path / "a", progress=False, models=registry)
    raw["train"]["device"] = device
    config = check_config(raw, models=registry)
    _, dev = run_experiment(config, tmp_path / "b", progress=False, models=registry)
    for split in ("train", "val", "test"):
        for key, value in cpu[split].items():
            assert dev[split][key] == pytest.approx(value, rel=1e-4, abs=1e-6), (split, key)
    with pytest.raises(ConfigError, match=r"\[train\] device must be a device name"):
        check_config({"model": MODEL, "train": {"device": 0}}, models=registry)
