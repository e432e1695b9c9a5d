"""find_lr: the range test suggests a good rate and leaves model, optimizer and generators as they were."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import DataLoader, RandomSampler, TensorDataset
from chainrule.train.lr_finder import LRFinderResult, find_lr, suggest_lr

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def regression_data(seed: int = 0, n: int = 512, d: int = 8) -> TensorDataset:
    """``y = X w + noise``, standardized features: plain SGD's good rate is set by the data's curvature."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = x @ rng.standard_normal((d, 1)).astype(np.float32) + 0.1 * rng.standard_normal((n, 1)).astype(
        np.float32
    )
    return TensorDataset(cr.tensor(x), cr.tensor(y))


def linear(seed: int = 0) -> cr.nn.Module:
    cr.manual_seed(seed)
    return cr.nn.Linear(8, 1)


def loader(ds: TensorDataset, seed: int = 0, batch_size: int = 32) -> DataLoader:
    return DataLoader(ds, batch_size=batch_size, shuffle=True, generator=cr.Generator(seed))


def train(model, optimizer, batches, steps: int) -> None:
    done = 0
    while done < steps:
        for x, y in batches:
            optimizer.zero_grad()
            cr.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
            done += 1
            if done == steps:
                return


def full_loss(model, ds: TensorDataset) -> float:
    x, y = ds.tensors
    with cr.no_grad():
        value = float(cr.nn.functional.mse_loss(model(x), y).item())
    return value if math.isfinite(value) else math.inf


def test_suggestion_is_near_the_best_rate_of_a_grid_search():
    """The known-good rate: of 19 rates from 1e-3 to 1 (6 per decade), the one
    with the lowest full-data loss after 50 SGD steps from the same start. The range test's suggestion
    must lie within a factor of 3 of it."""
    ds = regression_data()
    grid = np.logspace(-3, 0, 19)
    losses = []
    for lr in grid:
        model = linear()
        train(model, cr.optim.SGD(model.parameters(), lr=float(lr)), loader(ds), steps=50)
        losses.append(full_loss(model, ds))
    best = float(grid[int(np.argmin(losses))])
    assert 1e-3 < best < 1.0  # an interior optimum: the grid brackets it

    model = linear()
    res = find_lr(
        model, cr.nn.MSELoss(), cr.optim.SGD(model.parameters(), lr=0.01), loader(ds), start_lr=1e-5
    )
    assert isinstance(res, LRFinderResult) and res.diverged  # the sweep to lr=10 blows up on this problem
    assert best / 3 <= res.suggested_lr <= best * 3, (res.suggested_lr, best)
    # the suggestion is one of the rates tried, well before the blow-up
    assert res.suggested_lr in res.lrs and res.suggested_lr < res.lrs[-1] / 3


def test_model_optimizer_and_generators_are_left_unchanged():
    ds = regression_data()
    model = cr.nn.Sequential(cr.nn.Linear(8, 16), cr.nn.Dropout(0.2), cr.nn.Tanh(), cr.nn.Linear(16, 1))
    opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    data = loader(ds, seed=3)
    train(model, opt, data, steps=5)  # momentum buffers exist now
    cr.nn.functional.mse_loss(model(ds.tensors[0][:4]), ds.tensors[1][:4]).backward()  # and gradients
    model.eval()
    model[1].train()  # mixed training flags must come back as they were

    weights = {k: v._array.copy() for k, v in model.state_dict().items()}
    grads = [p.grad._array.copy() for p in model.parameters()]
    momenta = [opt.state[p]["momentum_buffer"]._array.copy() for p in model.parameters()]
    flags = [m.training for m in model.modules()]
    rng_state = cr.get_rng_state()
    loader_state = data.generator.get_state()

    res = find_lr(model, cr.nn.MSELoss(), opt, data, num_iter=30)
    assert len(res.lrs) > 10

    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v._array, weights[k], err_msg=k)
    for p, g, buf in zip(model.parameters(), grads, momenta):
        np.testing.assert_array_equal(p.grad._array, g)
        np.testing.assert_array_equal(opt.state[p]["momentum_buffer"]._array, buf)
    assert [m.training for m in model.modules()] == flags
    assert [g["lr"] for g in opt.param_groups] == [0.05]
    assert opt.param_groups[0]["momentum"] == 0.9 and opt.param_groups[0]["weight_decay"] == 1e-4
    assert cr.get_rng_state() == rng_state and data.generator.get_state() == loader_state

    gen = cr.Generator(5)  # a generator reached only through the sampler
    state = gen.get_state()
    by_sampler = DataLoader(ds, batch_size=32, sampler=RandomSampler(ds, generator=gen))
    find_lr(model, cr.nn.MSELoss(), opt, by_sampler, num_iter=10)
    assert gen.get_state() == state


def test_training_after_find_lr_is_the_same_run_as_without():
    ds = regression_data()

    def run(probe: bool) -> dict:
        cr.manual_seed(7)
        model = cr.nn.Sequential(cr.nn.Linear(8, 16), cr.nn.Dropout(0.3), cr.nn.ReLU(), cr.nn.Linear(16, 1))
        opt = cr.optim.Adam(model.parameters(), lr=1e-2)
        data = DataLoader(ds, batch_size=64, shuffle=True)  # shuffles from the global generator
        if probe:
            find_lr(model, cr.nn.MSELoss(), opt, data, num_iter=20)
        train(model, opt, data, steps=12)
        return {k: v._array.copy() for k, v in model.state_dict().items()}

    plain, probed = run(False), run(True)
    for k in plain:
        np.testing.assert_array_equal(plain[k], probed[k], err_msg=k)


def test_lr_schedule_and_bias_corrected_smoothing():
    ds = regression_data()
    model = linear()
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    res = find_lr(
        model, cr.nn.MSELoss(), opt, loader(ds), start_lr=1e-4, end_lr=1e-2, num_iter=40, smooth_f=0.1
    )
    assert not res.diverged and len(res.lrs) == len(res.losses) == len(res.raw_losses) == 40
    np.testing.assert_allclose(res.lrs, np.geomspace(1e-4, 1e-2, 40), rtol=1e-12)
    avg, expected = 0.0, []
    for i, loss in enumerate(res.raw_losses):
        avg = 0.9 * avg + 0.1 * loss
        expected.append(avg / (1 - 0.9 ** (i + 1)))
    np.testing.assert_allclose(res.losses, expected, rtol=1e-12)
    assert res.losses[0] == pytest.approx(
        res.raw_losses[0], rel=1e-12
    )  # bias correction: the first point is the first loss
    assert res.losses[-1] < res.losses[0]  # it learned something along the way


def test_sweep_stops_when_the_loss_blows_up_and_cycles_the_loader():
    ds = regression_data(n=96)
    model = linear()
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    res = find_lr(
        model, cr.nn.MSELoss(), opt, loader(ds), start_lr=1e-3, end_lr=1e3, num_iter=60, diverge_th=4
    )
    assert res.diverged and 3 < len(res.lrs) < 60  # 3 batches per pass: the loader was restarted
    assert res.losses[-1] > 4 * min(res.losses)
    assert all(math.isfinite(x) for x in res.losses)
    # a gentle sweep through a 3-batch loader runs all its iterations
    res = find_lr(model, cr.nn.MSELoss(), opt, loader(ds), start_lr=1e-5, end_lr=1e-4, num_iter=10)
    assert not res.diverged and len(res.lrs) == 10


def test_plot_is_written(tmp_path):
    ds = regression_data()
    model = linear()
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    res = find_lr(model, cr.nn.MSELoss(), opt, loader(ds), num_iter=50, plot=tmp_path / "lr.png")
    assert (tmp_path / "lr.png").read_bytes()[:8] == PNG_MAGIC
    assert res.plot(tmp_path / "again.png", title="range test") == tmp_path / "again.png"
    assert (tmp_path / "again.png").read_bytes()[:8] == PNG_MAGIC
    assert sorted(os.listdir(tmp_path)) == ["again.png", "lr.png"]
    assert "suggested_lr=" in repr(res)
    with pytest.raises(ValueError, match="no points"):
        LRFinderResult([], [], None).plot(tmp_path / "empty.png")


def test_suggest_lr_finds_the_steepest_descent_of_a_known_curve():
    lrs = np.geomspace(1e-6, 1.0, 121)
    x = np.log10(lrs)
    # a smooth step down centred at lr = 1e-3 (steepest there), then a blow-up past 1e-1
    losses = 1.0 - 0.8 / (1.0 + np.exp(-3.0 * (x + 3.0))) + np.where(x > -1, 10.0 * (x + 1) ** 2, 0.0)
    got = suggest_lr(lrs, losses)
    assert abs(math.log10(got) - (-3.0)) <= 0.1, got
    # batch noise early in the sweep (a zigzag steeper than the descent from one point to the next)
    # does not pass for the descent: the slope is taken over a tenth of the sweep
    noisy = losses.copy()
    noisy[12:24] += 0.05 * (-1.0) ** np.arange(12)
    naive = np.gradient(noisy[12:90], x[12:90])
    assert abs(x[12 + int(np.argmin(naive))] - (-3.0)) > 1  # a one-step gradient is fooled
    assert abs(math.log10(suggest_lr(lrs, noisy)) - (-3.0)) <= 0.1


def test_suggest_lr_none_when_nothing_to_suggest():
    assert suggest_lr([1e-3, 1e-2], [1.0, 0.5]) is None
    lrs = np.geomspace(1e-3, 1.0, 30)
    assert suggest_lr(lrs, np.linspace(1.0, 3.0, 30)) is None  # the loss only rose
    assert suggest_lr(lrs, [math.nan] * 30) is None


def test_bad_arguments_are_refused_by_name():
    ds = regression_data(n=64)
    model = linear()
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    mse = cr.nn.MSELoss()
    data = loader(ds)
    for kwargs, match in [
        ({"start_lr": 0}, "start_lr must be a positive number"),
        ({"end_lr": 1e-8}, "end_lr must be above start_lr"),
        ({"num_iter": 1}, "num_iter must be an int >= 2"),
        ({"num_iter": 10.0}, "num_iter must be an int >= 2"),
        ({"smooth_f": 0}, r"smooth_f must be in \(0, 1\]"),
        ({"diverge_th": 1}, "diverge_th must be above 1"),
    ]:
        with pytest.raises(ValueError, match=match):
            find_lr(model, mse, opt, data, **kwargs)
    with pytest.raises(TypeError, match=r"model must be an nn\.Module"):
        find_lr(lambda x: x, mse, opt, data)
    with pytest.raises(TypeError, match=r"optimizer must be an optim\.Optimizer"):
        find_lr(model, mse, object(), data)
    with pytest.raises(TypeError, match=r"\(inputs, targets\) pairs, got Tensor"):
        find_lr(model, mse, opt, [ds.tensors[0]], num_iter=3)
    with pytest.raises(ValueError, match="yielded no batches"):
        find_lr(model, mse, opt, [], num_iter=3)
    # a failed run still puts everything back
    assert opt.param_groups[0]["lr"] == 0.01
