"""The Trainer: the fit loop's arithmetic (sample-weighted loss, streamed metrics), evaluate/predict,
divergence, Ctrl-C, gradient clipping, schedulers per batch and per epoch, and its errors."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.data.datasets import load_digits
from chainrule.models.mlp import MLP
from chainrule.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau, StepLR
from chainrule.train.callbacks import Callback, ModelCheckpoint
from chainrule.train.checkpoint import load_checkpoint
from chainrule.train.history import History
from chainrule.train.trainer import Trainer


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _loaders(digits, batch_size=64, shuffle=True):
    train, test = digits
    return DataLoader(train, batch_size=batch_size, shuffle=shuffle), DataLoader(test, batch_size=128)


def _trainer(lr=1e-2, dropout=0.0, **kwargs):
    model = MLP(64, [32], 10, dropout=dropout)
    kwargs.setdefault("progress", 0)
    return Trainer(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=lr), **kwargs)


def _regression(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.1).astype(np.float32)
    return TensorDataset(cr.tensor(x), cr.tensor(y))


class Recorder(Callback):
    """Keeps every batch's loss, size and learning rate."""

    def __init__(self):
        self.batches = []
        self.lrs = []

    def on_batch_end(self, trainer, batch, logs=None):
        self.batches.append((trainer.epoch + 1, logs["batch_loss"], logs["size"]))
        self.lrs.append(trainer.optimizer.param_groups[0]["lr"])


# ------------------------------------------------------------------ fit
def test_fit_learns_digits_and_records_keras_names(digits):
    train_loader, val_loader = _loaders(digits)
    trainer = _trainer()
    history = trainer.fit(train_loader, val_loader, epochs=4)
    assert isinstance(history, History)
    assert history.epochs == [1, 2, 3, 4]
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    assert all(len(v) == 4 for v in history.history.values())
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.9
    assert history.stopped_reason is None
    assert trainer.global_step == 4 * len(train_loader)


def test_epoch_loss_is_sample_weighted_mean_of_batch_losses():
    # 50 samples in batches of 16: the last batch has 2 samples and must weigh 2/50, not 1/4
    ds = _regression(50)
    rec = Recorder()
    model = nn.Linear(3, 1)
    trainer = Trainer(
        model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), metrics=(), callbacks=[rec]
    )
    history = trainer.fit(DataLoader(ds, batch_size=16, shuffle=True), epochs=2)
    for epoch in (1, 2):
        batches = [(loss, n) for e, loss, n in rec.batches if e == epoch]
        assert [n for _, n in batches] == [16, 16, 16, 2]
        expected = sum(loss * n for loss, n in batches) / 50
        assert history["loss"][epoch - 1] == pytest.approx(expected, rel=1e-12)


class _Spy(nn.Module):
    """Wraps a model and keeps the outputs and targets it saw while training."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.outputs = []
        self.grad_modes = []

    def forward(self, x):
        out = self.inner(x)
        self.grad_modes.append((self.training, cr.is_grad_enabled()))
        if self.training:
            self.outputs.append(out._array.copy())
        return out


def test_metrics_are_streamed_over_the_outputs_computed_during_training(digits):
    train, _ = digits
    spy = _Spy(MLP(64, [16], 10))
    trainer = Trainer(spy, nn.CrossEntropyLoss(), optim.SGD(spy.parameters(), lr=0.1), progress=0)
    cr.manual_seed(3)
    loader = DataLoader(train, batch_size=100, shuffle=True)
    state = cr.get_rng_state()
    history = trainer.fit(loader, epochs=1)
    cr.set_rng_state(state)  # the same shuffled order again, to pair outputs with their targets
    targets = np.concatenate([y._array for _, y in loader])
    predictions = np.concatenate(spy.outputs).argmax(1)
    assert history["accuracy"][0] == pytest.approx(accuracy_score(targets, predictions), abs=1e-12)


def test_evaluate_is_eval_mode_without_graph_and_restores_mode(digits):
    _, test = digits
    spy = _Spy(MLP(64, [16], 10, dropout=0.5))
    trainer = Trainer(
        spy, nn.CrossEntropyLoss(), optim.SGD(spy.parameters(), lr=0.1), metrics=["accuracy", "f1_macro"]
    )
    loader = DataLoader(test, batch_size=50)
    first = trainer.evaluate(loader)
    assert set(first) == {"loss", "accuracy", "f1_macro"}
    assert all(mode == (False, False) for mode in spy.grad_modes)
    assert trainer.evaluate(loader) == first  # dropout off: deterministic
    assert spy.training  # the mode it had before
    # the loss is the mean over samples of the per-sample losses
    x, y = test.tensors
    with cr.no_grad():
        spy.eval()
        logits = spy(x)
        spy.train()
    manual = nn.CrossEntropyLoss()(logits, y).item()
    assert first["loss"] == pytest.approx(manual, rel=1e-5)
    assert first["accuracy"] == pytest.approx(accuracy_score(y._array, logits._array.argmax(1)))


def test_predict_shapes_and_batch_forms(digits):
    _, test = digits
    x, y = test.tensors
    trainer = _trainer()
    model = trainer.model
    with cr.no_grad():
        expected = model(x)._array
    for loader in (
        DataLoader(test, batch_size=100),  # (x, y) batches
        DataLoader(TensorDataset(x), batch_size=64),  # [x] batches
        [x[:100], x[100:]],  # tensors alone
        [(x[:7]._array, y[:7]._array), (x[7:]._array, y[7:]._array)],  # NumPy pairs
    ):
        out = trainer.predict(loader)
        assert isinstance(out, cr.Tensor) and out.shape == (360, 10)
        assert not out.requires_grad
        np.testing.assert_allclose(out._array, expected, rtol=1e-6, atol=1e-6)


def test_multi_input_models_get_each_input():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 1), nn.Linear(3, 1)

        def forward(self, u, v):
            return self.a(u) + self.b(v)

    rng = np.random.default_rng(0)
    u, v = (
        cr.tensor(rng.standard_normal((40, 2)).astype(np.float32)),
        cr.tensor(rng.standard_normal((40, 3)).astype(np.float32)),
    )
    y = cr.tensor(rng.standard_normal((40, 1)).astype(np.float32))
    batches = [((u[i : i + 10], v[i : i + 10]), y[i : i + 10]) for i in range(0, 40, 10)]
    model = Two()
    trainer = Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), metrics=["mae"], progress=0)
    history = trainer.fit(batches, batches, epochs=3)
    assert history["loss"][-1] < history["loss"][0]
    # for predict, a batch of several inputs is wrapped in (inputs,) so it is not read as (x, y)
    assert trainer.predict([(b[0],) for b in batches]).shape == (40, 1)


def test_stop_training_from_a_callback():
    class StopAt(Callback):
        def on_epoch_end(self, trainer, epoch, logs=None):
            if epoch == 2:
                trainer.stop_training = True

    model = nn.Linear(3, 1)
    trainer = Trainer(
        model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), metrics=(), callbacks=[StopAt()]
    )
    history = trainer.fit(DataLoader(_regression(), batch_size=50), epochs=10)
    assert history.epochs == [1, 2]
    assert history.stopped_reason == "stopped"
    assert "epoch 2" in history.stopped_message


# ------------------------------------------------------------------ divergence
def test_nan_loss_stops_cleanly_with_advice(capsys):
    model = nn.Linear(3, 1)
    trainer = Trainer(
        model, nn.MSELoss(), optim.SGD(model.parameters(), lr=1e6), metrics=(), progress=0,
        divergence_factor=None,  # the NaN path itself
    )
    with np.errstate(all="ignore"):
        history = trainer.fit(DataLoader(_regression(), batch_size=20, shuffle=True), epochs=5)
    assert history.stopped_reason == "diverged"
    msg = history.stopped_message
    for part in ("epoch 1", "step ", "1e+06", "learning rate", "10x", "grad_clip=1.0", "standardize"):
        assert part in msg
    assert msg in capsys.readouterr().out
    assert history.epochs == [1] and not math.isfinite(history["loss"][0])
    assert trainer.global_step < 10  # stopped inside the first epoch


def test_diverged_run_keeps_weights_of_the_last_good_step():
    class Snapshot(Callback):
        def on_batch_end(self, trainer, batch, logs=None):
            self.weights = {k: v._array.copy() for k, v in trainer.model.state_dict().items()}

    snap = Snapshot()
    model = nn.Linear(3, 1)
    trainer = Trainer(
        model, nn.MSELoss(), optim.SGD(model.parameters(), lr=1e6), metrics=(), callbacks=[snap]
    )
    with np.errstate(all="ignore"):
        trainer.fit(DataLoader(_regression(), batch_size=20), epochs=3)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v._array, snap.weights[k])  # the NaN batch made no update


# ------------------------------------------------------------------ Ctrl-C
class _Interrupt(Callback):
    def __init__(self, epoch, batch):
        self.at = (epoch, batch)

    def on_batch_end(self, trainer, batch, logs=None):
        if (trainer.epoch + 1, batch) == self.at:
            raise KeyboardInterrupt


def test_keyboard_interrupt_saves_checkpoint_and_returns_history(tmp_path, digits, capsys):
    train_loader, val_loader = _loaders(digits)
    ckpt_dir = tmp_path / "ckpt"
    trainer = _trainer(callbacks=[_Interrupt(2, 3), ModelCheckpoint(ckpt_dir)])
    history = trainer.fit(train_loader, val_loader, epochs=5)
    assert history.stopped_reason == "interrupted"
    assert history.epochs == [1]
    path = ckpt_dir / "interrupted.safetensors"
    assert path.exists()
    assert str(path) in history.stopped_message and str(path) in capsys.readouterr().out
    ckpt = load_checkpoint(path)
    assert ckpt.epoch == 1 and ckpt.history.epochs == [1]
    for k, v in trainer.model.state_dict().items():  # the weights at the moment of the interrupt
        np.testing.assert_array_equal(ckpt.model[k]._array, v._array)


def test_keyboard_interrupt_goes_to_log_dir_or_cwd(tmp_path, monkeypatch):
    ds = _regression()
    model = nn.Linear(3, 1)
    trainer = Trainer(
        model,
        nn.MSELoss(),
        optim.SGD(model.parameters(), lr=0.01),
        metrics=(),
        callbacks=[_Interrupt(1, 0)],
        log_dir=tmp_path / "logs",
        progress=0,
    )
    history = trainer.fit(DataLoader(ds, batch_size=50), epochs=2)
    assert history.stopped_reason == "interrupted" and history.epochs == []
    assert (tmp_path / "logs" / "interrupted.safetensors").exists()
    monkeypatch.chdir(tmp_path)
    trainer.log_dir = None
    trainer.fit(DataLoader(ds, batch_size=50), epochs=2)
    assert (tmp_path / "interrupted.safetensors").exists()


# ------------------------------------------------------------------ clipping and schedulers
def test_grad_clip_caps_the_joint_gradient_norm(digits):
    class Norms(Callback):
        def __init__(self):
            self.norms = []

        def on_batch_end(self, trainer, batch, logs=None):
            params = trainer.model.parameters()
            squares = [float((p.grad._array.astype(np.float64) ** 2).sum()) for p in params]
            self.norms.append(math.sqrt(sum(squares)))

    train_loader, _ = _loaders(digits)
    norms = Norms()
    _trainer(grad_clip=0.01, callbacks=[norms]).fit(train_loader, epochs=1)
    assert len(norms.norms) == len(train_loader)
    assert all(n == pytest.approx(0.01, rel=1e-3) for n in norms.norms)  # every raw norm was above 0.01
    unclipped = Norms()
    _trainer(callbacks=[unclipped]).fit(train_loader, epochs=1)
    assert max(unclipped.norms) > 0.1


def test_one_cycle_steps_once_per_batch(digits):
    train_loader, _ = _loaders(digits)
    epochs, steps = 3, len(train_loader)
    model = MLP(64, [16], 10)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = OneCycleLR(opt, max_lr=0.1, total_steps=epochs * steps)
    rec = Recorder()
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        opt,
        scheduler=sched,
        scheduler_interval="batch",
        callbacks=[rec],
        progress=0,
    )
    history = trainer.fit(train_loader, epochs=epochs)
    assert sched.last_epoch == epochs * steps
    # the same rates as a scheduler stepped by hand, and History's lr is the rate of each epoch's last step
    ref_opt = optim.SGD(MLP(64, [16], 10).parameters(), lr=0.1, momentum=0.9)
    ref = OneCycleLR(ref_opt, max_lr=0.1, total_steps=epochs * steps)
    expected_used = []
    for _ in range(epochs * steps):
        expected_used.append(ref_opt.param_groups[0]["lr"])
        ref_opt.step()
        ref.step()
    assert rec.lrs == pytest.approx([*expected_used[1:], ref_opt.param_groups[0]["lr"]])
    assert history["lr"] == pytest.approx([expected_used[(e + 1) * steps - 1] for e in range(epochs)])


def test_epoch_scheduler_steps_once_per_epoch(digits):
    train_loader, _ = _loaders(digits)
    model = MLP(64, [16], 10)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    history = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, progress=0).fit(
        train_loader, epochs=5
    )
    assert sched.last_epoch == 5
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


class _SpyPlateau(ReduceLROnPlateau):
    def step(self, metrics, epoch=None):
        self.seen = [*getattr(self, "seen", []), float(metrics)]
        super().step(metrics, epoch)


def test_reduce_lr_on_plateau_is_fed_val_loss_then_loss_then_its_monitor(digits):
    train_loader, val_loader = _loaders(digits)
    model = MLP(64, [16], 10)
    # a rate too small to move the loss: after the first epoch (an improvement on inf) every epoch is a
    # plateau, so the rate halves after each; History records the rate each epoch trained with
    opt = optim.SGD(model.parameters(), lr=1e-6)
    sched = _SpyPlateau(opt, factor=0.5, patience=0)
    history = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, progress=0).fit(
        train_loader, val_loader, 4
    )
    assert sched.seen == history["val_loss"]
    assert history["lr"] == pytest.approx([1e-6, 1e-6, 5e-7, 2.5e-7], rel=1e-12, abs=0)

    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = _SpyPlateau(opt)
    history = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, progress=0).fit(
        train_loader, epochs=2
    )
    assert sched.seen == history["loss"]

    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = _SpyPlateau(opt, mode="max")
    sched.monitor = "val_accuracy"
    history = Trainer(model, nn.CrossEntropyLoss(), opt, scheduler=sched, progress=0).fit(
        train_loader, val_loader, 2
    )
    assert sched.seen == history["val_accuracy"]


# ------------------------------------------------------------------ progress output
def test_progress_lines_when_not_a_terminal_and_silence_at_zero(capsys):
    ds = _regression()
    model = nn.Linear(3, 1)
    Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), metrics=["mae"]).fit(
        DataLoader(ds, batch_size=50), DataLoader(ds, batch_size=50), epochs=2
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2") and "loss:" in lines[0] and "val_mae:" in lines[0]
    Trainer(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.01), metrics=(), progress=0).fit(
        DataLoader(ds, batch_size=50), epochs=2
    )
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------ bad input
def test_bad_constructor_arguments():
    model = nn.Linear(3, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"model must be a chainrule\.nn\.Module"):
        Trainer(lambda x: x, nn.MSELoss(), opt)
    with pytest.raises(TypeError, match="optimizer must be"):
        Trainer(model, nn.MSELoss(), "adam")
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        Trainer(model, "mse", opt)
    with pytest.raises(ValueError, match="grad_clip"):
        Trainer(model, nn.MSELoss(), opt, grad_clip=-1)
    with pytest.raises(ValueError, match="scheduler_interval"):
        Trainer(model, nn.MSELoss(), opt, scheduler_interval="step")
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        Trainer(model, nn.MSELoss(), opt, scheduler=ReduceLROnPlateau(opt), scheduler_interval="batch")
    with pytest.raises(TypeError, match=r"callbacks\[0\] is a function"):
        Trainer(model, nn.MSELoss(), opt, callbacks=[lambda: None])
    with pytest.raises(ValueError, match="unknown metric"):
        Trainer(model, nn.MSELoss(), opt, metrics=["acc"])
    other = optim.SGD(nn.Linear(3, 1).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="different optimizer"):
        Trainer(model, nn.MSELoss(), opt, scheduler=StepLR(other, 1))


def test_bad_fit_arguments(digits):
    train, _ = digits
    trainer = _trainer()
    loader = DataLoader(train, batch_size=64)
    for epochs in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="epochs must be an int >= 1"):
            trainer.fit(loader, epochs=epochs)
    with pytest.raises(TypeError, match="got the dataset TensorDataset; wrap it"):
        trainer.fit(train)
    with pytest.raises(TypeError, match=r"got a Tensor of shape \(1437, 64\)"):
        trainer.fit(train.tensors[0])
    with pytest.raises(TypeError, match="is an iterator"):
        trainer.fit(iter(loader))
    with pytest.raises(TypeError, match="val_loader must be a DataLoader"):
        trainer.fit(loader, val_loader=42)
    with pytest.raises(TypeError, match=r"batch 0 of train_loader is a list of 3 elements; expected a pair"):
        trainer.fit(DataLoader(TensorDataset(*train.tensors, train.tensors[1]), batch_size=8))
    with pytest.raises(TypeError, match="is a tuple of tensors: use DataLoader"):
        trainer.fit(train.tensors)
    with pytest.raises(ValueError, match="yielded no batches"):
        trainer.fit([])
    with pytest.raises(TypeError, match=r"batch 0 is a list of 3 elements"):
        trainer.predict([[train.tensors[0]] * 3])


def test_non_scalar_loss_is_refused():
    model = nn.Linear(3, 1)
    trainer = Trainer(model, nn.MSELoss(reduction="none"), optim.SGD(model.parameters(), lr=0.1), metrics=())
    with pytest.raises(ValueError, match=r"loss_fn returned a tensor of shape \(50, 1\); expected a scalar"):
        trainer.fit(DataLoader(_regression(), batch_size=50))


def test_progress_bar_closes_when_fit_raises(tmp_path):
    closed = []

    class Watch(Callback):
        def on_exception(self, trainer, exception):
            closed.append(type(exception).__name__)

    model = nn.Linear(3, 1)
    trainer = Trainer(
        model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), metrics=(), callbacks=[Watch()]
    )
    with pytest.raises(ValueError):
        trainer.fit([(cr.randn(4, 3), cr.randn(4, 1)), (cr.randn(4, 5), cr.randn(4, 1))])
    assert closed == ["ValueError"]
    assert not os.listdir(tmp_path)
