"""The training loop's stops and schedules: a finite loss that explodes ends the run as "diverged",
EarlyStopping(mode="auto") picks the direction from the monitor, and LearningRateScheduler takes
Keras's ``schedule(epoch, lr)`` functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.train.callbacks import Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint
from chainrule.train.trainer import Trainer


def _regression(n=64, scale=3.0):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((n, 4)) * scale).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5], [1.0]], np.float32)).astype(np.float32)
    return TensorDataset(cr.tensor(x), cr.tensor(y))


def test_a_finite_loss_that_explodes_stops_the_run_as_diverged():
    cr.manual_seed(0)
    model = nn.Linear(4, 1)
    trainer = Trainer(
        model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.2), metrics=(), divergence_factor=100
    )
    history = trainer.fit(DataLoader(_regression(), batch_size=16), epochs=20)
    assert history.stopped_reason == "diverged"
    assert math.isfinite(history.history["loss"][-1])
    assert "divergence_factor=100" in history.stopped_message
    assert history.diagnose().verdict == "diverged"
    assert len(history.epochs) < 20


def test_a_falling_loss_is_not_divergence():
    cr.manual_seed(0)
    model = nn.Linear(4, 1)
    trainer = Trainer(
        model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.005), metrics=(), divergence_factor=2
    )
    history = trainer.fit(DataLoader(_regression(), batch_size=16), epochs=3)
    assert history.stopped_reason is None
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("factor", [1, 0.5, -3, math.inf, "big", True])
def test_divergence_factor_is_checked(factor):
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="divergence_factor"):
        Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), divergence_factor=factor)


@pytest.mark.parametrize(
    ("monitor", "mode"),
    [("val_loss", "min"), ("loss", "min"), ("val_accuracy", "max"), ("acc", "max"), ("val_auc", "max"),
     ("val_mae", "min"), ("f1", "max")],
)  # fmt: skip
def test_auto_mode_follows_the_monitor(monitor, mode, tmp_path):
    assert EarlyStopping(monitor=monitor, mode="auto").mode == mode
    assert ModelCheckpoint(tmp_path, monitor=monitor, mode="auto").mode == mode


def test_bad_mode_names_the_choices():
    with pytest.raises(ValueError, match="'min', 'max' or 'auto'"):
        EarlyStopping(mode="up")


class _Lrs(Callback):
    def __init__(self):
        self.seen = []

    def on_epoch_begin(self, trainer, epoch, logs=None):
        self.seen.append(trainer.optimizer.param_groups[0]["lr"])


def test_keras_schedule_function_sets_lr_each_epoch():
    cr.manual_seed(0)
    model = nn.Linear(4, 1)
    calls = []

    def schedule(epoch, lr):
        calls.append((epoch, lr))
        return lr if epoch < 2 else lr * 0.5

    lrs = _Lrs()
    opt = optim.SGD(model.parameters(), lr=0.01)
    Trainer(model, nn.MSELoss(), opt, metrics=(), callbacks=[lrs, LearningRateScheduler(schedule)]).fit(
        DataLoader(_regression(), batch_size=32), epochs=4
    )
    assert calls == [(0, 0.01), (1, 0.01), (2, 0.01), (3, 0.005)]
    assert lrs.seen == [0.01, 0.01, 0.005, 0.0025]  # the schedule runs first (order -100)
    assert opt.param_groups[0]["lr"] == 0.0025


def test_schedule_function_errors():
    model = nn.Linear(4, 1)
    opt = optim.SGD(model.parameters(), lr=0.01)
    with pytest.raises(ValueError, match="per epoch"):
        LearningRateScheduler(lambda e, lr: lr, interval="batch")
    trainer = Trainer(
        model, nn.MSELoss(), opt, metrics=(), callbacks=[LearningRateScheduler(lambda e, lr: None)]
    )
    with pytest.raises(ValueError, match=r"schedule\(0, 0.01\) returned None"):
        trainer.fit(DataLoader(_regression(), batch_size=32), epochs=1)
