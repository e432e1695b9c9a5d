"""Checkpoints: one safetensors file with JSON metadata, written atomically, and resuming bit for bit."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest

import chainrule as cr
from chainrule import io, nn, optim
from chainrule.data import DataLoader
from chainrule.data.datasets import load_digits
from chainrule.io import SafetensorsError
from chainrule.models.mlp import MLP
from chainrule.optim.lr_scheduler import MultiStepLR, OneCycleLR, ReduceLROnPlateau, StepLR
from chainrule.train.callbacks import Callback, CSVLogger, EarlyStopping, ModelCheckpoint
from chainrule.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from chainrule.train.history import History
from chainrule.train.trainer import Trainer


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _stepped_adam(model, steps=2):
    opt = optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        opt.zero_grad()
        (model(cr.randn(5, model.in_features)) ** 2).mean().backward()
        opt.step()
    return opt


class Stateful(Callback):
    def __init__(self, state=None):
        self.state = state

    def state_dict(self):
        return self.state or {}

    def load_state_dict(self, state_dict):
        self.state = state_dict


# ------------------------------------------------------------------ save / load
def test_round_trip_of_every_part(tmp_path):
    model = nn.Linear(3, 2)
    opt = _stepped_adam(model)
    sched = MultiStepLR(opt, milestones=[2, 2, 5], gamma=0.5)
    history = History()
    history.record(1, {"loss": 1.5, "lr": 0.01})
    history.record(2, {"loss": 1.25, "val_loss": math.nan, "lr": 0.01})
    es = EarlyStopping(verbose=0)
    es.best, es.best_epoch, es.wait = 0.5, 1, 1
    es.best_weights = {k: v._array.copy() for k, v in model.state_dict().items()}
    path = tmp_path / "ck.safetensors"
    save_checkpoint(
        path,
        {
            "model": model,
            "optimizer": opt,
            "scheduler": sched,
            "history": history,
            "callbacks": [es],
            "global_step": 17,
        },
        epoch=2,
    )

    # the layout: tensors under dotted prefixes, the rest as JSON in the metadata
    tensors, meta = io.load(path), io.load_metadata(path)
    assert {
        "model.weight",
        "model.bias",
        "optimizer.state.0.exp_avg",
        "optimizer.state.1.exp_avg_sq",
        "optimizer.state.0.step",
        "callbacks.EarlyStopping.best_weights.weight",
    } <= set(tensors)
    assert meta["format"] == "chainrule.checkpoint" and meta["epoch"] == "2"
    assert json.loads(meta["optimizer"])["param_groups"][0]["lr"] == 0.01

    ckpt = load_checkpoint(path)
    assert isinstance(ckpt, Checkpoint) and ckpt.epoch == 2 and ckpt.global_step == 17
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(ckpt.model[k]._array, v._array)
    saved, now = ckpt.optimizer, opt.state_dict()
    assert saved["param_groups"] == now["param_groups"]
    assert isinstance(saved["param_groups"][0]["betas"], tuple)
    for i, state in now["state"].items():
        assert set(saved["state"][i]) == set(state)
        for key, value in state.items():
            np.testing.assert_array_equal(saved["state"][i][key]._array, value._array)
            assert saved["state"][i][key]._array.dtype == value._array.dtype
    assert ckpt.scheduler == sched.state_dict()
    assert isinstance(ckpt.scheduler["milestones"], Counter)
    assert json.dumps(ckpt.history.to_dict()) == json.dumps(history.to_dict())  # NaN included
    state = ckpt.callbacks["EarlyStopping"]
    assert (state["best"], state["best_epoch"], state["wait"]) == (0.5, 1, 1)
    np.testing.assert_array_equal(state["best_weights"]["weight"], es.best_weights["weight"])
    assert ckpt.rng_state == cr.get_rng_state()


def test_tagged_values_come_back_as_they_were(tmp_path):
    state = {
        "tuple": (1, 2.5, "a"),
        "int_keys": {0: "zero", 3: [1, 2]},
        "counter": Counter({4: 2, 7: 1}),
        "scalar": np.float32(0.1),
        "int64": np.int64(2**40),
        "special": [math.inf, -math.inf],
        "array": np.arange(6, dtype=np.int32).reshape(2, 3),
        "tensor": cr.tensor([1.0, 2.0]),
        "nested": {"__tensor__": "not a tag"},
        "big": 2**100,
        "none": None,
    }
    path = tmp_path / "ck.safetensors"
    save_checkpoint(path, {"model": nn.Linear(1, 1), "callbacks": {"s": Stateful(state)}}, epoch=0)
    back = load_checkpoint(path).callbacks["s"]
    assert back["tuple"] == (1, 2.5, "a") and isinstance(back["tuple"], tuple)
    assert back["int_keys"] == {0: "zero", 3: [1, 2]}
    assert back["counter"] == Counter({4: 2, 7: 1}) and isinstance(back["counter"], Counter)
    assert back["scalar"] == np.float32(0.1) and back["scalar"].dtype == np.float32
    assert back["int64"] == 2**40 and back["int64"].dtype == np.int64
    assert back["special"] == [math.inf, -math.inf]
    np.testing.assert_array_equal(back["array"], state["array"])
    assert back["array"].dtype == np.int32
    assert isinstance(back["tensor"], cr.Tensor) and back["tensor"].tolist() == [1.0, 2.0]
    assert back["nested"] == {"__tensor__": "not a tag"}
    assert back["big"] == 2**100 and back["none"] is None


def test_unstorable_values_are_refused_by_path(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store callbacks\.s\.fn, a builtins\.function"):
        save_checkpoint(
            tmp_path / "x.safetensors",
            {"model": nn.Linear(1, 1), "callbacks": {"s": Stateful({"fn": lambda: 1})}},
            epoch=0,
        )
    with pytest.raises(ValueError, match="unknown part"):
        save_checkpoint(tmp_path / "x.safetensors", {"model": nn.Linear(1, 1), "optimiser": None}, epoch=0)
    with pytest.raises(ValueError, match="epoch must be a non-negative int"):
        save_checkpoint(tmp_path / "x.safetensors", {"model": nn.Linear(1, 1)}, epoch=-1)
    assert not os.listdir(tmp_path)


def test_loading_what_is_not_a_checkpoint(tmp_path):
    weights = tmp_path / "weights.safetensors"
    cr.save(nn.Linear(2, 2).state_dict(), weights)
    with pytest.raises(
        CheckpointError,
        match=r"weights\.safetensors is not a chainrule training checkpoint.*"
        r"it holds 2 tensors \(bias, weight\).*load_state_dict",
    ):
        load_checkpoint(weights)
    truncated = tmp_path / "cut.safetensors"
    save_checkpoint(truncated, {"model": nn.Linear(20, 20)}, epoch=1)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(SafetensorsError, match=r"cut\.safetensors"):
        load_checkpoint(truncated)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_checkpoint_killed_mid_write_leaves_the_previous_one(tmp_path):
    path = tmp_path / "ck.safetensors"
    script = textwrap.dedent(f"""
        import os, signal
        import safetensors.numpy as stn
        import chainrule as cr
        from chainrule import nn, optim
        from chainrule.train.checkpoint import save_checkpoint

        cr.manual_seed(0)
        model = nn.Linear(100, 100)
        parts = {{"model": model, "optimizer": optim.Adam(model.parameters())}}
        save_checkpoint({str(path)!r}, parts, epoch=1)
        real = stn.save_file

        def dying(tensors, filename, metadata=None):  # half the bytes are on disk when the kill comes
            real(tensors, filename, metadata=metadata)
            with open(filename, "r+b") as f:
                f.truncate(os.path.getsize(filename) // 2)
            os.kill(os.getpid(), signal.SIGKILL)

        stn.save_file = dying
        model.weight._array[...] = 7.0
        save_checkpoint({str(path)!r}, parts, epoch=2)
        print("not reached")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    assert "not reached" not in proc.stdout
    leftovers = [f for f in os.listdir(tmp_path) if ".tmp-" in f]
    assert len(leftovers) == 1  # the half-written temporary file, never renamed
    ckpt = load_checkpoint(path)
    assert ckpt.epoch == 1
    assert not np.any(ckpt.model["weight"]._array == 7.0)
    cr.manual_seed(0)
    np.testing.assert_array_equal(ckpt.model["weight"]._array, nn.Linear(100, 100).weight._array)


# ------------------------------------------------------------------ resume
def _setup(case, directory, train, seed=0):
    cr.manual_seed(seed)
    model = MLP(64, [32], 10, dropout=0.25)
    generator = cr.Generator(5 + seed) if case == "plateau-own-generator" else None
    loader = DataLoader(train, batch_size=96, shuffle=True, generator=generator)
    if case == "adam-steplr":
        opt = optim.Adam(model.parameters(), lr=0.01)
        sched, interval = StepLR(opt, step_size=1, gamma=0.7), "epoch"
    elif case == "sgd-onecycle-per-batch":
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        sched, interval = OneCycleLR(opt, max_lr=0.2, total_steps=4 * len(loader)), "batch"
    else:
        opt = optim.AdamW(model.parameters(), lr=0.02)
        sched, interval = ReduceLROnPlateau(opt, factor=0.5, patience=0, threshold=0.2), "epoch"

    class Final(Callback):  # the raw weights at each epoch's end, before EarlyStopping restores any
        def on_epoch_end(self, trainer, epoch, logs=None):
            self.weights = {k: v._array.copy() for k, v in trainer.model.state_dict().items()}

    final = Final()
    callbacks = [
        EarlyStopping(patience=10, verbose=0),
        ModelCheckpoint(directory),
        CSVLogger(directory / "log.csv"),
        final,
    ]
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        opt,
        metrics=["accuracy", "f1_macro"],
        callbacks=callbacks,
        scheduler=sched,
        scheduler_interval=interval,
        progress=0,
    )
    return trainer, loader, final


@pytest.mark.parametrize("case", ["adam-steplr", "sgd-onecycle-per-batch", "plateau-own-generator"])
def test_two_epochs_resume_two_epochs_is_bit_identical_to_four(tmp_path, digits, case):
    train, test = digits
    val = DataLoader(test, batch_size=120)
    full_dir, split_dir = tmp_path / "full", tmp_path / "split"
    full, loader, full_final = _setup(case, full_dir, train)
    full_history = full.fit(loader, val, epochs=4)

    first, loader, _ = _setup(case, split_dir, train)
    first.fit(loader, val, epochs=2)
    # a new process would build everything afresh: other initial weights, other generator states
    resumed, loader, resumed_final = _setup(case, split_dir, train, seed=1)
    cr.manual_seed(123)
    history = resumed.fit(loader, val, epochs=4, resume_from=split_dir / "last.safetensors")

    assert history.to_dict() == full_history.to_dict()
    assert history.epochs == [1, 2, 3, 4]
    for k, v in full_final.weights.items():
        np.testing.assert_array_equal(resumed_final.weights[k], v)
    for k, v in full.model.state_dict().items():  # after EarlyStopping's restore, too
        np.testing.assert_array_equal(resumed.model.state_dict()[k]._array, v._array)
    a, b = full.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for i, state in a["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(b["state"][i][key]._array, value._array)
    assert resumed.scheduler.state_dict() == full.scheduler.state_dict()
    assert resumed.global_step == full.global_step
    assert cr.get_rng_state() == _rng_after(full_dir)
    es_a, es_b = full.callbacks[0].state_dict(), resumed.callbacks[0].state_dict()
    assert {k: es_a[k] for k in ("best", "best_epoch", "wait")} == {
        k: es_b[k] for k in ("best", "best_epoch", "wait")
    }
    assert (split_dir / "log.csv").read_text() == (full_dir / "log.csv").read_text()


def _rng_after(directory):
    return load_checkpoint(directory / "last.safetensors").rng_state


def test_resume_with_nothing_left_to_train(tmp_path, digits, capsys):
    train, test = digits
    val = DataLoader(test, batch_size=120)
    trainer, loader, _ = _setup("adam-steplr", tmp_path, train)
    trainer.fit(loader, val, epochs=2)
    saved = {k: v._array.copy() for k, v in trainer.model.state_dict().items()}
    again, loader, _ = _setup("adam-steplr", tmp_path / "again", train, seed=3)
    history = again.fit(loader, val, epochs=2, resume_from=tmp_path / "last.safetensors")
    assert history.epochs == [1, 2]
    assert "nothing left to train" in capsys.readouterr().out
    for k, v in again.model.state_dict().items():
        np.testing.assert_array_equal(v._array, saved[k])


def test_resume_from_another_model_names_the_file_and_keys(tmp_path):
    path = tmp_path / "ck.safetensors"
    model = MLP(64, [32], 10)
    save_checkpoint(path, {"model": model, "optimizer": optim.Adam(model.parameters())}, epoch=1)
    batches = [(cr.randn(4, 64), cr.tensor([0, 1, 2, 3]))]

    other = MLP(64, [16], 10)
    trainer = Trainer(other, nn.CrossEntropyLoss(), optim.Adam(other.parameters()), progress=0)
    with pytest.raises(
        CheckpointError,
        match=r"(?s)cannot restore .*ck\.safetensors: its model weights \(saved from "
        r"MLP\) do not fit this MLP: .*size mismatch for 0\.weight",
    ):
        trainer.fit(batches, epochs=2, resume_from=path)
    linear = nn.Linear(64, 10)
    trainer = Trainer(linear, nn.CrossEntropyLoss(), optim.Adam(linear.parameters()), progress=0)
    with pytest.raises(CheckpointError, match=r'Missing key\(s\) in state_dict: "weight", "bias"'):
        trainer.fit(batches, epochs=2, resume_from=path)
    same = MLP(64, [32], 10)
    trainer = Trainer(same, nn.CrossEntropyLoss(), optim.SGD(same.parameters(), lr=0.1), progress=0)
    with pytest.raises(
        CheckpointError, match="optimizer state was saved from Adam, but this optimizer is SGD"
    ):
        trainer.fit(batches, epochs=2, resume_from=path)


def test_restore_checkpoint_into_parts_and_scheduler_warning(tmp_path):
    model = nn.Linear(3, 2)
    opt = _stepped_adam(model)
    path = tmp_path / "ck.safetensors"
    gen = cr.Generator(11)
    loader = DataLoader(list(range(10)), batch_size=2, shuffle=True, generator=gen)
    list(loader)  # move the generator on
    gen_state = gen.get_state()
    save_checkpoint(
        path, {"model": model, "optimizer": opt, "scheduler": StepLR(opt, 1), "train_loader": loader}, epoch=3
    )
    model2 = nn.Linear(3, 2)
    opt2 = optim.Adam(model2.parameters(), lr=0.01)
    loader2 = DataLoader(list(range(10)), batch_size=2, shuffle=True, generator=cr.Generator(0))
    with pytest.warns(UserWarning, match="has a scheduler state but no scheduler is given"):
        ckpt = restore_checkpoint(path, {"model": model2, "optimizer": opt2, "train_loader": loader2})
    assert ckpt.epoch == 3
    np.testing.assert_array_equal(model2.weight._array, model.weight._array)
    assert loader2.generator.get_state() == gen_state
    np.testing.assert_array_equal(
        opt2.state_dict()["state"][0]["exp_avg"]._array, opt.state_dict()["state"][0]["exp_avg"]._array
    )
