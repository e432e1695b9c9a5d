"""The Trainer on a device, and training checkpoints moving between a device and the CPU."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import chainrule as cr
import helpers
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.train import Trainer
from chainrule.train.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint

DEVICE = [d for d in helpers.DEVICES if d != "cpu"][-1]


def _blobs(n: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated clusters in 4-d: a problem a small MLP learns in a few epochs."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    centres = np.array([[2, 0, 0, 1], [-2, 1, 0, 0], [0, -2, 2, 0]], dtype=np.float32)
    x = centres[y] + 0.3 * rng.standard_normal((n, 4)).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int64)


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def _mse(out, y):
    return ((out - y) ** 2).mean()


def test_trainer_fits_a_regression_on_the_device():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)).astype(np.float32)
    model = nn.Linear(3, 1)
    trainer = Trainer(
        model, _mse, optim.SGD(model.parameters(), lr=0.1), metrics=["mae"], device=DEVICE,
        progress=False, grad_clip=10.0,
    )  # fmt: skip
    assert all(p.device.type == DEVICE for p in model.parameters())
    loader = DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=16)
    history = trainer.fit(loader, loader, epochs=15)
    assert history.history["loss"][-1] < 0.05 * history.history["loss"][0]
    assert history.history["val_mae"][-1] < 0.2
    pred = trainer.predict(loader)
    assert pred.device.type == DEVICE and pred.shape == (64, 1)


def test_trainer_fits_a_classifier_on_the_device_like_on_the_cpu():
    x, y = _blobs()
    results = {}
    for where in ("cpu", DEVICE):
        cr.manual_seed(0)
        model = _mlp()
        trainer = Trainer(
            model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.02), metrics=["accuracy"],
            device=where, progress=False,
        )  # fmt: skip
        cr.manual_seed(1)
        loader = DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=32, shuffle=True)
        results[where] = trainer.fit(loader, epochs=6).history, model
        assert all(p.device.type == where for p in model.parameters())
    (h_cpu, m_cpu), (h_dev, m_dev) = results["cpu"], results[DEVICE]
    assert h_dev["accuracy"][-1] > 0.9
    np.testing.assert_allclose(h_dev["loss"], h_cpu["loss"], rtol=1e-4)
    for p_cpu, p_dev in zip(m_cpu.parameters(), m_dev.parameters(), strict=True):
        np.testing.assert_allclose(p_dev.cpu().numpy(), p_cpu.numpy(), rtol=1e-4, atol=1e-5)


def test_a_loader_that_moves_batches_itself_and_a_model_moved_by_hand():
    x, y = _blobs(32)
    model = _mlp().to(DEVICE)
    loader = DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=16, device=DEVICE)
    trainer = Trainer(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), progress=False)
    values = trainer.evaluate(loader)
    assert set(values) == {"loss", "accuracy"} and np.isfinite(values["loss"])


@pytest.fixture
def stepped():
    """A model and an Adam stepped twice (gradients set by hand: no forward needed)."""

    def make(where: str) -> tuple[nn.Module, optim.Optimizer]:
        cr.manual_seed(0)
        model = _mlp().to(where)
        opt = optim.Adam(model.parameters(), lr=0.01)
        rng = np.random.default_rng(2)
        for _ in range(2):
            for p in model.parameters():
                p.grad = cr.tensor(rng.standard_normal(p.shape).astype(np.float32), device=where)
            opt.step()
        return model, opt

    return make


def _same(a: nn.Module, opt_a: optim.Optimizer, b: nn.Module, opt_b: optim.Optimizer) -> None:
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        np.testing.assert_array_equal(va.cpu().numpy(), vb.cpu().numpy(), err_msg=k)
    sa, sb = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for i in sa:
        for name in sa[i]:
            np.testing.assert_array_equal(sa[i][name].cpu().numpy(), sb[i][name].cpu().numpy(), err_msg=name)


@pytest.mark.parametrize(
    "source,target", [(DEVICE, "cpu"), ("cpu", DEVICE)], ids=["device-to-cpu", "cpu-to-device"]
)
def test_checkpoint_round_trip_between_devices(tmp_path, stepped, source, target):
    model, opt = stepped(source)
    path = tmp_path / "ck.safetensors"
    save_checkpoint(path, {"model": model, "optimizer": opt}, epoch=1)
    ckpt = load_checkpoint(path)
    assert all(t.device.type == "cpu" for t in ckpt.model.values())
    cr.manual_seed(5)
    fresh = _mlp().to(target)
    fresh_opt = optim.Adam(fresh.parameters(), lr=0.01)
    restore_checkpoint(ckpt, {"model": fresh, "optimizer": fresh_opt})
    assert all(p.device.type == target for p in fresh.parameters())
    _same(fresh, fresh_opt, model, opt)
    for name, st in fresh_opt.state_dict()["state"][0].items():
        if st.ndim:  # 0-d counters stay on the CPU, as in PyTorch
            assert st.device.type == target, name
    # one more identical step on each side lands on the same values
    rng = np.random.default_rng(3)
    for a, b in zip(model.parameters(), fresh.parameters(), strict=True):
        g = rng.standard_normal(a.shape).astype(np.float32)
        a.grad, b.grad = cr.tensor(g, device=source), cr.tensor(g, device=target)
    opt.step()
    fresh_opt.step()
    _same(fresh, fresh_opt, model, opt)


def test_load_checkpoint_map_location(tmp_path, stepped):
    model, opt = stepped("cpu")
    path = tmp_path / "ck.safetensors"
    save_checkpoint(path, {"model": model, "optimizer": opt}, epoch=1)
    ckpt = load_checkpoint(path, map_location=DEVICE)
    assert all(t.device.type == DEVICE for t in ckpt.model.values())
    dev = copy.deepcopy(model).to(DEVICE)
    dev.load_state_dict(ckpt.model)
    for a, b in zip(model.parameters(), dev.parameters(), strict=True):
        np.testing.assert_array_equal(b.cpu().numpy(), a.numpy())


def test_find_lr_on_the_device_leaves_the_model_as_it_was():
    from chainrule.train.lr_finder import find_lr

    rng = np.random.default_rng(4)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = x.sum(1, keepdims=True).astype(np.float32)
    model = nn.Linear(3, 1)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=8)
    result = find_lr(model, _mse, opt, loader, start_lr=1e-4, end_lr=1.0, num_iter=12, device=DEVICE)
    assert len(result.lrs) >= 2
    for k, v in model.state_dict().items():
        assert v.device.type == DEVICE
        np.testing.assert_array_equal(v.cpu().numpy(), before[k], err_msg=k)


def test_callbacks_checkpoint_and_resume_on_the_device(tmp_path):
    from chainrule.train.callbacks import EarlyStopping, ModelCheckpoint

    rng = np.random.default_rng(5)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = x.sum(1, keepdims=True).astype(np.float32)
    loader = DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=8)

    def trainer(model):
        callbacks = [EarlyStopping(patience=10, verbose=0), ModelCheckpoint(tmp_path, monitor=None)]
        return Trainer(
            model, _mse, optim.Adam(model.parameters(), lr=0.05), metrics=[], callbacks=callbacks,
            device=DEVICE, progress=False,
        )  # fmt: skip

    cr.manual_seed(0)
    model = nn.Linear(3, 1)
    trainer(model).fit(loader, loader, epochs=3)
    assert model.weight.device.type == DEVICE
    first = sorted(tmp_path.glob("epoch*.safetensors"))
    assert len(first) == 3
    # a fresh model resumes from the checkpoint of epoch 2 on the device
    cr.manual_seed(1)
    again = nn.Linear(3, 1)
    history = trainer(again).fit(loader, loader, epochs=3, resume_from=first[1])
    assert history.epochs == [1, 2, 3] and again.weight.device.type == DEVICE
    np.testing.assert_allclose(again.weight.cpu().numpy(), model.weight.cpu().numpy(), rtol=1e-6, atol=1e-7)


def test_a_training_step_reads_the_loss_and_copies_the_output_once(monkeypatch):
    """Per batch: the loss (it decides whether the step is taken) and one output copy for the metrics."""
    from chainrule import devices

    x, _ = _blobs(64)
    y = x[:, :2] * 2  # a regression: its loss and metrics need no value checks inside the ops
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    trainer = Trainer(
        model, _mse, optim.Adam(model.parameters(), lr=0.01), metrics=["mae", "rmse", "r2"],
        device=DEVICE, progress=False, grad_clip=1.0,
    )  # fmt: skip
    loader = DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=16)  # 4 batches
    copies = []
    real = devices.to_host
    monkeypatch.setattr(devices, "to_host", lambda a: copies.append(a.shape) or real(a))
    if DEVICE == "strict":  # and no read behind its back (item(), float(), bool(), ...)
        import strict_array

        def refuse(*_args, **_kwargs):
            raise AssertionError("a device value was read to the host implicitly")

        for name in ("item", "tolist", "get", "__float__", "__int__", "__bool__"):
            monkeypatch.setattr(strict_array.StrictArray, name, refuse)
    trainer.fit(loader, epochs=1)
    assert sorted(copies) == sorted([()] * 4 + [(16, 2)] * 4)
    # evaluating: nothing decides on the loss, so it is summed on the device and read once
    copies.clear()
    trainer.evaluate(loader)
    assert sorted(copies) == sorted([()] + [(16, 2)] * 4)


def test_an_optimizer_stepped_on_the_cpu_follows_the_model_to_the_trainer_device():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    y = x.sum(1, keepdims=True).astype(np.float32)
    model = nn.Linear(3, 1)
    opt = optim.Adam(model.parameters(), lr=0.01)
    _mse(model(cr.tensor(x)), cr.tensor(y)).backward()
    opt.step()  # state made on the CPU
    trainer = Trainer(model, _mse, opt, metrics=[], device=DEVICE, progress=False)
    assert all(v.device.type == DEVICE for st in opt.state.values() for v in st.values() if v.ndim)
    trainer.fit(DataLoader(TensorDataset(cr.tensor(x), cr.tensor(y)), batch_size=8), epochs=1)
    assert model.weight.device.type == DEVICE
