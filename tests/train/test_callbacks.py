"""Callbacks: hook order, EarlyStopping's best weights, ModelCheckpoint's files, logs, the progress bar."""

from __future__ import annotations

import csv
import io
import json
import math
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau, StepLR
from chainrule.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    JSONLogger,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
)
from chainrule.train.checkpoint import load_checkpoint
from chainrule.train.history import History
from chainrule.train.trainer import Trainer


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, :1] - 2 * x[:, 1:2]).astype(np.float32)
    return TensorDataset(cr.tensor(x), cr.tensor(y))


def _trainer(callbacks=(), lr=0.05, **kwargs):
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    kwargs.setdefault("metrics", ["mae"])
    kwargs.setdefault("progress", 0)
    return Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=lr), callbacks=callbacks, **kwargs)


def _loaders(batch_size=30):
    return DataLoader(_data(), batch_size=batch_size, shuffle=True), DataLoader(_data(60, 1), batch_size=30)


class Inject(Callback):
    """Replaces the monitored value with a crafted sequence (runs before the other callbacks)."""

    order = -10

    def __init__(self, values, name="val_loss"):
        self.values, self.name = values, name

    def on_epoch_end(self, trainer, epoch, logs=None):
        logs[self.name] = self.values[epoch - 1]


class Snapshots(Callback):
    order = -10

    def __init__(self):
        self.weights = {}

    def on_epoch_end(self, trainer, epoch, logs=None):
        self.weights[epoch] = {k: v._array.copy() for k, v in trainer.model.state_dict().items()}


def _assert_weights(model, weights):
    state = model.state_dict()
    assert set(state) == set(weights)
    for k, v in state.items():
        np.testing.assert_array_equal(v._array, weights[k])


# ------------------------------------------------------------------ hooks
def test_hooks_run_in_order_with_epoch_and_batch_numbers():
    calls = []

    class Log(Callback):
        def on_train_begin(self, trainer, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, trainer, epoch, logs=None):
            calls.append(("epoch_begin", epoch))

        def on_batch_begin(self, trainer, batch, logs=None):
            calls.append(("batch_begin", batch))

        def on_batch_end(self, trainer, batch, logs=None):
            calls.append(("batch_end", batch))

        def on_epoch_end(self, trainer, epoch, logs=None):
            calls.append(("epoch_end", epoch, sorted(logs)))

        def on_train_end(self, trainer, logs=None):
            calls.append("train_end")

    train, val = _loaders(batch_size=60)
    _trainer([Log()]).fit(train, val, epochs=2)
    keys = ["loss", "lr", "mae", "val_loss", "val_mae"]
    assert calls == [
        "train_begin",
        ("epoch_begin", 1),
        ("batch_begin", 0),
        ("batch_end", 0),
        ("batch_begin", 1),
        ("batch_end", 1),
        ("epoch_end", 1, keys),
        ("epoch_begin", 2),
        ("batch_begin", 0),
        ("batch_end", 0),
        ("batch_begin", 1),
        ("batch_end", 1),
        ("epoch_end", 2, keys),
        "train_end",
    ]


def test_model_checkpoint_runs_after_other_callbacks_whatever_the_list_order(tmp_path):
    es = EarlyStopping(patience=10, verbose=0)
    train, val = _loaders()
    _trainer([ModelCheckpoint(tmp_path), Inject([3.0, 2.0, 2.5]), es]).fit(train, val, epochs=3)
    saved = load_checkpoint(tmp_path / "epoch003.safetensors").callbacks["EarlyStopping"]
    assert saved["wait"] == 1 and saved["best_epoch"] == 2  # the state after epoch 3's update


# ------------------------------------------------------------------ EarlyStopping
def test_early_stopping_stops_and_restores_the_best_epoch(capsys):
    # best at epoch 3; patience 2 -> stops at epoch 5 and brings back epoch 3's weights
    snaps = Snapshots()
    es = EarlyStopping(patience=2)
    train, val = _loaders()
    trainer = _trainer([Inject([5.0, 3.0, 1.0, 2.0, 4.0, 0.5, 0.1]), snaps, es])
    history = trainer.fit(train, val, epochs=7)
    assert history.epochs == [1, 2, 3, 4, 5]
    assert history.stopped_reason == "early_stopping"
    _assert_weights(trainer.model, snaps.weights[3])
    assert not np.array_equal(snaps.weights[5]["0.weight"], snaps.weights[3]["0.weight"])
    out = capsys.readouterr().out
    assert out.count("EarlyStopping") == 1
    assert "stopped at epoch 5" in out and "restored the weights of epoch 3" in out
    assert history.stopped_message in out
    assert (es.best, es.best_epoch, es.stopped_epoch) == (1.0, 3, 5)


def test_early_stopping_restores_best_weights_when_epochs_run_out(capsys):
    snaps = Snapshots()
    train, val = _loaders()
    trainer = _trainer([Inject([5.0, 1.0, 2.0, 3.0]), snaps, EarlyStopping(patience=10)])
    history = trainer.fit(train, val, epochs=4)
    assert history.epochs == [1, 2, 3, 4] and history.stopped_reason is None
    _assert_weights(trainer.model, snaps.weights[2])
    out = capsys.readouterr().out
    assert "training ended at epoch 4" in out and "restored the weights of epoch 2" in out


def test_early_stopping_on_real_validation_loss():
    # an over-large model on 40 noisy samples over-fits: val_loss turns up, and the best epoch comes back
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, :1] + rng.standard_normal((40, 1))).astype(np.float32)
    xv = rng.standard_normal((200, 4)).astype(np.float32)
    yv = (xv[:, :1] + rng.standard_normal((200, 1))).astype(np.float32)
    model = nn.Sequential(nn.Linear(4, 128), nn.ReLU(), nn.Linear(128, 1))
    snaps, es = Snapshots(), EarlyStopping(patience=3, verbose=0)
    trainer = Trainer(
        model,
        nn.MSELoss(),
        optim.Adam(model.parameters(), lr=0.02),
        metrics=(),
        callbacks=[snaps, es],
        progress=0,
    )
    history = trainer.fit(
        DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=10, shuffle=True),
        DataLoader(TensorDataset(cr.tensor(xv), cr.tensor(yv)), batch_size=100),
        epochs=200,
    )
    best = int(np.argmin(history["val_loss"])) + 1
    assert history.stopped_reason == "early_stopping" and len(history) == best + 3
    assert es.best_epoch == best
    _assert_weights(model, snaps.weights[best])
    np.testing.assert_allclose(
        trainer.evaluate(DataLoader(TensorDataset(cr.tensor(xv), cr.tensor(yv)), batch_size=100))["loss"],
        history["val_loss"][best - 1],
        rtol=1e-6,
    )


def test_early_stopping_mode_max_min_delta_and_no_restore():
    snaps = Snapshots()
    train, val = _loaders()
    # improvements of 0.005 do not count with min_delta=0.01: best stays at epoch 1
    es = EarlyStopping(
        monitor="val_mae", mode="max", patience=2, min_delta=0.01, restore_best_weights=False, verbose=0
    )
    trainer = _trainer([Inject([0.5, 0.505, 0.51], "val_mae"), snaps, es])
    history = trainer.fit(train, val, epochs=5)
    assert history.epochs == [1, 2, 3] and es.best_epoch == 1
    _assert_weights(trainer.model, snaps.weights[3])  # not restored


def test_nan_monitor_never_counts_as_improvement():
    train, val = _loaders()
    es = EarlyStopping(patience=1, verbose=0)
    history = _trainer([Inject([1.0, math.nan, 0.5]), es]).fit(train, val, epochs=3)
    assert history.epochs == [1, 2] and es.best_epoch == 1


def test_missing_monitor_is_a_clear_error_at_the_first_epoch():
    train, _ = _loaders()
    with pytest.raises(
        ValueError,
        match=r"monitor 'val_loss' is not among the values logged at the end of epoch 1; "
        r"available: loss, lr, mae \(val_\* values need a val_loader",
    ):
        _trainer([EarlyStopping()]).fit(train, epochs=3)
    with pytest.raises(
        ValueError, match=r"ModelCheckpoint: monitor 'val_acc' .* available: loss, lr, mae, val_loss"
    ):
        _trainer([ModelCheckpoint("unused", monitor="val_acc")]).fit(*_loaders(), epochs=3)


def test_early_stopping_bad_arguments():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode must be 'min', 'max' or 'auto'"):
        EarlyStopping(mode="best")
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(min_delta=-0.1)


# ------------------------------------------------------------------ ModelCheckpoint
def test_model_checkpoint_files_best_and_last(tmp_path):
    train, val = _loaders()
    mc = ModelCheckpoint(tmp_path / "ck", every_n_epochs=2)
    snaps = Snapshots()
    _trainer([Inject([3.0, 1.0, 2.0, 1.5, 0.5]), snaps, mc]).fit(train, val, epochs=5)
    files = sorted(os.listdir(tmp_path / "ck"))
    assert files == ["best.safetensors", "epoch002.safetensors", "epoch004.safetensors", "last.safetensors"]
    assert load_checkpoint(mc.last_path).epoch == 5
    best = load_checkpoint(mc.best_path)
    assert best.epoch == 5 and (mc.best, mc.best_epoch) == (0.5, 5)
    assert load_checkpoint(tmp_path / "ck" / "epoch002.safetensors").epoch == 2
    for k, v in load_checkpoint(tmp_path / "ck" / "epoch004.safetensors").model.items():
        np.testing.assert_array_equal(v._array, snaps.weights[4][k])


def test_model_checkpoint_best_tracks_the_best_epoch(tmp_path):
    train, val = _loaders()
    mc = ModelCheckpoint(tmp_path, save_best_only=True, filename="ep{epoch}-{val_loss:.1f}.safetensors")
    _trainer([Inject([3.0, 1.0, 2.0]), mc]).fit(train, val, epochs=3)
    assert sorted(os.listdir(tmp_path)) == [
        "best.safetensors",
        "ep1-3.0.safetensors",
        "ep2-1.0.safetensors",
        "last.safetensors",
    ]
    assert load_checkpoint(mc.best_path).epoch == 2 and load_checkpoint(mc.last_path).epoch == 3


def test_model_checkpoint_without_monitor_and_bad_arguments(tmp_path):
    train, _ = _loaders()
    _trainer([ModelCheckpoint(tmp_path, monitor=None)]).fit(train, epochs=2)
    assert sorted(os.listdir(tmp_path)) == [
        "epoch001.safetensors",
        "epoch002.safetensors",
        "last.safetensors",
    ]
    with pytest.raises(ValueError, match="save_best_only=True needs a monitor"):
        ModelCheckpoint(tmp_path, monitor=None, save_best_only=True)
    with pytest.raises(ValueError, match="every_n_epochs"):
        ModelCheckpoint(tmp_path, every_n_epochs=0)
    with pytest.raises(ValueError, match="reserved"):
        ModelCheckpoint(tmp_path, filename="best.safetensors")
    with pytest.raises(ValueError, match=r"cannot format filename .* available are epoch, loss, mae, lr"):
        _trainer([ModelCheckpoint(tmp_path, monitor=None, filename="{acc}.safetensors")]).fit(train, epochs=1)


# ------------------------------------------------------------------ logs
def test_csv_and_json_logs_hold_every_epoch(tmp_path):
    train, val = _loaders()
    csv_path, json_path = tmp_path / "log.csv", tmp_path / "sub" / "log.jsonl"
    history = _trainer([CSVLogger(csv_path), JSONLogger(json_path)]).fit(train, val, epochs=3)
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae", "lr"]
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 3]
    for i, row in enumerate(rows[1:]):
        assert [float(c) for c in row[1:]] == [history[k][i] for k in rows[0][1:]]  # exact floats
    assert History.from_csv(csv_path).history == history.history
    lines = json_path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"epoch": e, **{k: v[i] for k, v in history.history.items()}} for i, e in enumerate(history.epochs)
    ]


def test_json_log_writes_nan_as_null_and_the_diverged_epoch(tmp_path):
    class NaNAt2(Callback):
        order = -10

        def on_epoch_end(self, trainer, epoch, logs=None):
            if epoch == 2:
                trainer.history.history["mae"][-1] = math.nan

    path = tmp_path / "log.jsonl"
    trainer = _trainer([JSONLogger(path), NaNAt2()], lr=0.01, divergence_factor=None)
    trainer.fit(_loaders()[0], epochs=2)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[1]["mae"] is None and rows[0]["mae"] is not None
    # a diverged run still logs its last (partial) epoch, with the non-finite loss as null
    diverging = _trainer([JSONLogger(path)], lr=1e6, divergence_factor=None)
    with np.errstate(all="ignore"):
        diverging.fit(_loaders()[0], epochs=3)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[-1]["loss"] is None and rows[-1]["epoch"] == diverging.history.epochs[-1]


# ------------------------------------------------------------------ learning-rate schedules
def test_learning_rate_scheduler_callback_matches_the_scheduler_argument():
    train, val = _loaders()

    def run(as_callback):
        cr.manual_seed(0)
        model = nn.Linear(4, 1)
        opt = optim.SGD(model.parameters(), lr=0.1)
        sched = StepLR(opt, step_size=1, gamma=0.5)
        if as_callback:
            trainer = Trainer(
                model, nn.MSELoss(), opt, metrics=(), callbacks=[LearningRateScheduler(sched)], progress=0
            )
        else:
            trainer = Trainer(model, nn.MSELoss(), opt, metrics=(), scheduler=sched, progress=0)
        cr.manual_seed(1)
        return trainer.fit(train, val, epochs=3), model

    (h1, m1), (h2, m2) = run(True), run(False)
    assert h1.history == h2.history and h1["lr"] == [0.1, 0.05, 0.025]
    np.testing.assert_array_equal(m1.weight._array, m2.weight._array)


def test_learning_rate_scheduler_per_batch_and_plateau_monitor():
    train, val = _loaders()
    model = nn.Linear(4, 1)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = OneCycleLR(opt, max_lr=0.1, total_steps=3 * len(train))
    Trainer(
        model, nn.MSELoss(), opt, metrics=(), callbacks=[LearningRateScheduler(sched, "batch")], progress=0
    ).fit(train, epochs=3)
    assert sched.last_epoch == 3 * len(train)

    seen = []

    class Spy(ReduceLROnPlateau):
        def step(self, metrics, epoch=None):
            seen.append(metrics)
            super().step(metrics, epoch)

    opt = optim.SGD(model.parameters(), lr=0.1)
    cb = LearningRateScheduler(Spy(opt, mode="min"), monitor="val_mae")
    history = Trainer(model, nn.MSELoss(), opt, metrics=["mae"], callbacks=[cb], progress=0).fit(
        train, val, epochs=2
    )
    assert seen == history["val_mae"]
    with pytest.raises(ValueError, match="ReduceLROnPlateau steps on a monitored metric"):
        LearningRateScheduler(ReduceLROnPlateau(opt), interval="batch")
    with pytest.raises(TypeError, match=r"use optim\.lr_scheduler\.LambdaLR"):
        LearningRateScheduler(lambda epoch: 0.1)


# ------------------------------------------------------------------ progress bar
class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_draws_on_a_terminal_and_keeps_messages_out_of_the_bar(capsys):
    stream = _Terminal()
    train, val = _loaders()
    trainer = _trainer(
        [
            ProgressBar(file=stream, refresh_interval=0.0),
            Inject([1.0, 2.0], "val_loss"),
            EarlyStopping(patience=1),
        ]
    )
    trainer.fit(train, val, epochs=3)
    drawn = stream.getvalue()
    assert "Epoch 1/3" in drawn and "Epoch 2/3" in drawn and "4/4" in drawn and "batch/s" in drawn
    assert "loss:" in drawn and "val_mae:" in drawn
    out = capsys.readouterr().out
    assert "EarlyStopping: stopped at epoch 2" in out and "Epoch 1/3" not in out


def test_progress_bar_verbose_levels(capsys):
    train, _ = _loaders()
    _trainer(progress=2).fit(train, epochs=2)
    assert capsys.readouterr().out.count("Epoch ") == 2
    _trainer(progress=ProgressBar(verbose=0)).fit(train, epochs=2)
    assert capsys.readouterr().out == ""
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2"):
        ProgressBar(verbose=3)
    with pytest.raises(TypeError, match="progress must be"):
        _trainer(progress="yes")
