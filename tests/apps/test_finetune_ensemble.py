"""`chainrule finetune --members N`: a seed ensemble (MeanOfMembers), trained one after another or at once."""

from __future__ import annotations

import json
import math
import pathlib

import numpy as np
import pytest
import torch
from test_finetune import _common, _files, _invoke, tiny_model  # noqa: F401  (tiny_model: a fixture)

import chainrule as cr
from chainrule import nn
from chainrule.apps.finetune.ensemble import MeanOfMembers, count_members
from chainrule.apps.finetune.report import format_table


# ------------------------------------------------------------------ the module
@pytest.mark.parametrize("members", [1, 2, 3])
def test_output_is_the_log_of_the_members_mean_probability(members: int) -> None:
    cr.manual_seed(members)
    linears = [nn.Linear(5, 3) for _ in range(members)]
    ensemble = MeanOfMembers(linears)
    rng = np.random.default_rng(members)
    x = rng.standard_normal((4, 5)).astype(np.float32) * 4  # confident members: probabilities near 0 and 1
    out = ensemble(cr.tensor(x))
    probs = []
    for lin in linears:
        z = x @ lin.weight._array.T + lin.bias._array
        p = np.exp(z - z.max(1, keepdims=True))
        probs.append(p / p.sum(1, keepdims=True))
    np.testing.assert_allclose(np.exp(out._array), np.mean(probs, axis=0), rtol=1e-5, atol=1e-7)
    assert np.all(out._array.argmax(1) == np.mean(probs, axis=0).argmax(1))

    # the gradient of every member's weights, with a random cotangent, against PyTorch's
    params = [p for lin in linears for p in (lin.weight, lin.bias)]
    cot = rng.standard_normal(out.shape).astype(np.float32)
    (out * cr.tensor(cot)).sum().backward()
    t_params = [torch.tensor(p._array, requires_grad=True) for p in params]
    xt = torch.tensor(x)
    logs = [torch.log_softmax(xt @ w.T + b, -1) for w, b in zip(t_params[::2], t_params[1::2])]
    t_out = torch.logsumexp(torch.stack(logs), 0) - math.log(members)
    (t_out * torch.tensor(cot)).sum().backward()
    np.testing.assert_allclose(out._array, t_out.detach().numpy(), rtol=1e-5, atol=1e-6)
    for p, tp in zip(params, t_params):
        np.testing.assert_allclose(p.grad._array, tp.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_state_dict_keys_are_numbered_members() -> None:
    ensemble = MeanOfMembers([nn.Linear(2, 2), nn.Linear(2, 2)])
    state = ensemble.state_dict()
    assert sorted(state) == ["members.0.bias", "members.0.weight", "members.1.bias", "members.1.weight"]
    assert count_members(state) == 2
    assert count_members(nn.Linear(2, 2).state_dict()) == 0
    with pytest.raises(ValueError, match=r"not numbered 0\.\.N-1"):
        count_members({"members.0.weight": 0, "members.2.weight": 0})
    with pytest.raises(ValueError, match="at least one member"):
        MeanOfMembers([])


# ------------------------------------------------------------------ the command
def _run(tmp_path: pathlib.Path, model: pathlib.Path, name: str, *extra: str) -> tuple[dict, dict]:
    train, test = _files(tmp_path, ["pos", "neg"], "csv", n_train=48)
    out = tmp_path / name
    args = [*_common(model, out)]
    args[args.index("--threads") + 1] = "1"
    result = _invoke("--train", train, "--eval", test, "--seed", "5", *args, *extra)
    assert result.exit_code == 0, result.output
    return json.loads((out / "report.json").read_text()), cr.load(out / "model.safetensors")


def test_members_share_the_split_and_train_with_their_own_seeds(
    tmp_path: pathlib.Path, tiny_model: pathlib.Path  # noqa: F811
) -> None:
    single, single_state = _run(tmp_path, tiny_model, "one")
    pair, pair_state = _run(tmp_path, tiny_model, "two", "--members", "2")
    # one member is today's run: no members in the report, the classifier's own keys
    assert "members" not in single["model"] and count_members(single_state) == 0
    assert single["task"]["members"] == 1 and pair["task"]["members"] == 2
    # the same split for both runs and both members
    for key in ("train_sentences", "validation_sentences", "validation_phrases_left_out"):
        assert pair["task"][key] == single["task"][key]
    members = pair["model"]["members"]
    assert [m["seed"] for m in members] == [5, 6] and [m["member"] for m in members] == [0, 1]
    # member 0 (seed 5) is the single run, weight for weight
    assert count_members(pair_state) == 2
    for key, value in single_state.items():
        np.testing.assert_array_equal(pair_state[f"members.0.{key}"]._array, value._array, err_msg=key)
    assert members[0]["val_accuracy"] == single["model"]["val_accuracy"]
    assert members[0]["eval_accuracy"] == single["model"]["eval_accuracy"]
    # member 1 has its own seed: other weights
    heads = [pair_state[f"members.{k}.head.weight"]._array for k in (0, 1)]
    assert not np.array_equal(*heads)
    for m in members:
        assert len(m["phase2_epoch_seconds"]) == len(m["phase2_epoch_cpu_seconds"]) == 1
        assert 0 <= m["val_accuracy"] <= 1 and m["threads"] == 1
    assert 0 <= pair["model"]["val_accuracy"] <= 1
    assert f"fine-tuned {tiny_model.name} (2 seeds)" in format_table(pair)  # the table names the ensemble


def test_members_train_at_once_in_worker_processes_as_one_after_another(
    tmp_path: pathlib.Path, tiny_model: pathlib.Path  # noqa: F811
) -> None:
    _, serial = _run(tmp_path, tiny_model, "serial", "--members", "2")
    report, parallel = _run(tmp_path, tiny_model, "parallel", "--members", "2", "--threads", "2")
    members = report["model"]["members"]
    assert [m["threads"] for m in members] == [1, 1]  # two processes, a thread each
    # each member's CPU seconds are its own process's, measured there
    assert all(m["train_cpu_seconds"] > 0 for m in members)
    total = sum(m["train_cpu_seconds"] for m in members)
    assert report["model"]["members_cpu_seconds"] == pytest.approx(total)
    assert set(parallel) == set(serial)
    for key, value in serial.items():
        np.testing.assert_allclose(parallel[key]._array, value._array, rtol=1e-5, atol=1e-6, err_msg=key)


def test_saved_ensemble_reloads_and_gives_the_reported_accuracy(
    tmp_path: pathlib.Path, tiny_model: pathlib.Path  # noqa: F811
) -> None:
    from chainrule.apps.finetune.batching import load_tokenizer, tokenize
    from chainrule.apps.finetune.data import LabelMap, read_table
    from chainrule.apps.finetune.finetune import evaluate
    from chainrule.apps.saved_models import saved_model

    report, state = _run(tmp_path, tiny_model, "run", "--members", "2")
    out = tmp_path / "run"
    model = saved_model(out).model
    assert isinstance(model, MeanOfMembers) and len(model.members) == 2
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value._array, state[key]._array, err_msg=key)
    table = read_table(tmp_path / "test.csv", "review", "sentiment")
    labels = LabelMap(json.loads((out / "labels.json").read_text())["labels"])
    y = np.array(labels.encode(table.labels, "test"))
    figures = evaluate(model, tokenize(load_tokenizer(out, 32), table.texts), y)
    assert figures["eval_accuracy"] == pytest.approx(report["model"]["eval_accuracy"])


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_members_values_are_refused(
    tmp_path: pathlib.Path, tiny_model: pathlib.Path, value: str  # noqa: F811
) -> None:
    train, test = _files(tmp_path, ["pos", "neg"], "csv", n_train=8)
    args = ["--train", train, "--eval", test, "--members", value, *_common(tiny_model, tmp_path / "o")]
    result = _invoke(*args)
    assert result.exit_code == 2 and "--members" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("value", [0, -2, True, 1.0])
def test_bad_members_in_options_name_the_option(tmp_path: pathlib.Path, value: object) -> None:
    from chainrule.apps.finetune.pipeline import FinetuneError, Options, run

    options = Options("t.csv", "e.csv", "text", "label", str(tmp_path / "o"), members=value)  # type: ignore
    with pytest.raises(FinetuneError, match=r"--members must be a whole number of at least 1, got"):
        run(options, log=lambda m: None)


def test_a_member_failing_in_its_worker_raises_here(
    tiny_model: pathlib.Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    import importlib

    from chainrule.apps.finetune.batching import load_tokenizer, tokenize
    from chainrule.apps.finetune.finetune import FinetuneConfig
    from chainrule.apps.finetune.members import train_members

    members = importlib.import_module("chainrule.apps.finetune.members")
    original = members.finetune

    def fail_on_seed_8(encoder, classes, train, train_y, val, val_y, config, **kw):
        if config.seed == 8:
            raise ValueError("member with seed 8 cannot train")
        return original(encoder, classes, train, train_y, val, val_y, config, **kw)

    monkeypatch.setattr(members, "finetune", fail_on_seed_8)  # the forked workers inherit the patch
    texts = tokenize(load_tokenizer(tiny_model, 32), ["good film .", "bad plot", "a dull story", "superb"])
    y = np.array([1, 0, 0, 1])
    config = FinetuneConfig(epochs=1, head_epochs=1, batch_size=2, seed=7)
    with pytest.raises(ValueError, match="seed 8 cannot train") as caught:
        train_members(tiny_model, 2, texts, y, None, None, config, members=2, threads=2)
    assert any("worker process (seeds 7, 8)" in note for note in caught.value.__notes__)
