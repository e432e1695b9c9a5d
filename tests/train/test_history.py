"""History: CSV, learning-curve plots, the overfitting epoch and the verdicts of diagnose()."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from chainrule.train import diagnosis as diag
from chainrule.train import plots
from chainrule.train.diagnosis import VERDICTS, Diagnosis, diagnose, overfitting_epoch
from chainrule.train.history import History, csv_value

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_history(**curves: list[float]) -> History:
    """A History with one value per epoch (epochs 1..n) for each named curve."""
    h = History()
    n = len(next(iter(curves.values())))
    for i in range(n):
        h.record(i + 1, {k: v[i] for k, v in curves.items()})
    return h


def overfit_curves(n: int = 20, turn: int = 12) -> dict[str, list[float]]:
    """Training loss falling throughout; validation loss falling to 0.31 at ``turn``, then rising."""
    e = np.arange(1, n + 1)
    loss = 1.0 / (1.0 + 0.3 * e)
    val = np.where(e >= turn, 0.31 + 0.004 * (e - turn) ** 2, 0.31 + 0.02 * (turn - e))
    return {"loss": loss.tolist(), "val_loss": val.tolist()}


# ------------------------------------------------------------------ record, dicts, CSV
def test_record_pads_and_round_trips_through_dict():
    h = History()
    h.record(1, {"loss": 1.0})
    h.record(2, {"loss": 0.5, "val_loss": 0.7})
    assert h.epochs == [1, 2] and len(h) == 2
    assert h["loss"] == [1.0, 0.5]
    assert math.isnan(h["val_loss"][0]) and h["val_loss"][1] == 0.7
    h.stopped_reason = "early_stopping"
    g = History.from_dict(h.to_dict())
    assert g.epochs == h.epochs and g.stopped_reason == "early_stopping"
    assert g["loss"] == h["loss"] and math.isnan(g["val_loss"][0])


def test_to_csv_writes_epoch_and_one_column_per_key_and_reads_back(tmp_path):
    h = make_history(loss=[1.0, 0.1 + 0.2, 0.25], accuracy=[0.5, 0.6, 0.7])
    h.record(4, {"loss": 0.2, "val_loss": math.inf})
    path = h.to_csv(tmp_path / "history.csv")
    assert path == tmp_path / "history.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "epoch,loss,accuracy,val_loss"
    assert lines[1] == "1,1.0,0.5,nan"
    assert lines[2] == f"2,{0.1 + 0.2!r},0.6,nan"  # exact: the float reads back bit for bit
    assert lines[4] == "4,0.2,nan,inf"
    g = History.from_csv(path)
    assert g.epochs == [1, 2, 3, 4] and list(g.history) == ["loss", "accuracy", "val_loss"]
    assert g["loss"] == h["loss"] and g["val_loss"][3] == math.inf and math.isnan(g["accuracy"][3])
    assert csv_value(1e-30) == "1e-30"


def test_to_csv_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "history.csv"
    path.write_text("old content", encoding="utf-8")
    calls = []

    def failing(value):
        calls.append(value)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return repr(value)

    monkeypatch.setattr("chainrule.train.history.csv_value", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        make_history(loss=[1.0, 0.5, 0.2]).to_csv(path)
    assert path.read_text(encoding="utf-8") == "old content"
    assert os.listdir(tmp_path) == ["history.csv"]  # no temporary file left behind


def test_from_csv_rejects_a_foreign_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("step,loss\n1,0.5\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header row starting with 'epoch'"):
        History.from_csv(path)
    path.write_text("epoch,loss\n1,0.5,3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2 .* has 3 cells"):
        History.from_csv(path)


# ------------------------------------------------------------------ plot
def test_plot_writes_a_png_with_one_panel_per_metric_and_the_overfit_mark(tmp_path, monkeypatch):
    curves = overfit_curves()
    curves["accuracy"] = [1 - x / 2 for x in curves["loss"]]
    curves["val_accuracy"] = [1 - x / 2 for x in curves["val_loss"]]
    curves["lr"] = [0.1 * 0.9**i for i in range(20)]
    h = make_history(**curves)
    figures = []
    real_save = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or real_save(fig, path))

    path = h.plot(tmp_path / "curves.png")
    assert path == tmp_path / "curves.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    (fig,) = figures
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy", "learning rate"]
    loss_ax = axes[0]
    labels = [line.get_label() for line in loss_ax.get_lines()]
    assert labels[:2] == ["train", "validation"]
    (mark,) = [line for line in loss_ax.get_lines() if line.get_label() == "overfitting from epoch 12"]
    assert list(mark.get_xdata()) == [12, 12]
    train_line = loss_ax.get_lines()[0]
    assert list(train_line.get_xdata()) == h.epochs
    np.testing.assert_allclose(train_line.get_ydata(), h["loss"])
    for ax in axes[1:]:  # the line is on every panel, named once
        assert any(list(line.get_xdata()) == [12, 12] for line in ax.get_lines())
    assert axes[2].get_yscale() == "log"

    figures.clear()
    h.plot(tmp_path / "chosen.png", overfit_epoch=5)
    assert any(list(line.get_xdata()) == [5, 5] for line in figures[0].axes[0].get_lines())
    h.plot(tmp_path / "unmarked.png", overfit_epoch=None, title="no mark")
    assert not any(len(set(line.get_xdata())) == 1 for line in figures[1].axes[0].get_lines())
    assert figures[1].get_suptitle() == "no mark"


def test_plot_without_validation_or_overfitting_and_other_formats(tmp_path):
    h = make_history(loss=[1.0, float("nan"), 0.5, float("inf"), 0.3])
    assert h.plot(tmp_path / "a.png", title="run 1").read_bytes()[:8] == PNG_MAGIC
    assert h.plot(tmp_path / "a.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert h.plot(tmp_path / "noext").read_bytes()[:8] == PNG_MAGIC
    assert sorted(os.listdir(tmp_path)) == ["a.png", "a.svg", "noext"]


def test_plot_refuses_empty_history_and_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="no epochs"):
        History().plot(tmp_path / "x.png")
    h = make_history(loss=[1.0, 0.5])
    with pytest.raises(ValueError, match=r"cannot write a 'xyz' image"):
        h.plot(tmp_path / "x.xyz")
    with pytest.raises(TypeError, match="overfit_epoch must be"):
        h.plot(tmp_path / "x.png", overfit_epoch=2.5)
    assert os.listdir(tmp_path) == []


def test_plot_leaves_the_matplotlib_backend_alone(tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    make_history(loss=[1.0, 0.5, 0.2]).plot(tmp_path / "x.png")
    assert matplotlib.get_backend() == before


# ------------------------------------------------------------------ overfitting epoch
def test_overfitting_epoch_found_on_crafted_curves():
    assert overfitting_epoch(make_history(**overfit_curves(20, 12))) == 12
    assert overfitting_epoch(make_history(**overfit_curves(30, 9))) == 9
    assert overfitting_epoch(make_history(**overfit_curves(8, 4))) == 4


def test_overfitting_epoch_none_without_validation_rise_or_enough_epochs():
    curves = overfit_curves()
    assert overfitting_epoch(make_history(loss=curves["loss"])) is None
    e = np.arange(1, 21)
    falling = {"loss": (1 / e).tolist(), "val_loss": (0.2 + 1 / e).tolist()}
    assert overfitting_epoch(make_history(**falling)) is None
    # the rise began only 2 epochs before the end: not yet sustained for patience=3
    short = overfit_curves(14, 12)
    short["val_loss"][-2:] = [0.36, 0.41]
    assert overfitting_epoch(make_history(**short)) is None
    assert overfitting_epoch(make_history(**short), patience=2) == 12
    # validation rises but training loss rises too: instability, not overfitting
    both = dict(curves, loss=[x + 0.05 * max(0, i - 11) for i, x in enumerate(curves["loss"])])
    assert overfitting_epoch(make_history(**both)) is None


def test_overfitting_epoch_ignores_a_small_rise_below_the_margin():
    e = np.arange(1, 21)
    val = np.where(e >= 12, 0.31 + 0.0005 * (e - 12), 0.31 + 0.02 * (12 - e))  # +1.3% by the end
    h = make_history(loss=(1 / e).tolist(), val_loss=val.tolist())
    assert overfitting_epoch(h) is None
    assert overfitting_epoch(h, min_rise=0.005) == 12


@pytest.mark.parametrize("n, noise", [(10, 0.01), (20, 0.02), (40, 0.02), (60, 0.01)])
def test_overfitting_epoch_robust_to_noise(n, noise):
    """Noisy curves that only level off are never called overfitting; noisy real turns are found."""
    e = np.arange(1, n + 1)
    turn = n // 2
    for seed in range(40):
        rng = np.random.default_rng(seed)
        loss = 0.1 + 0.8 * np.exp(-e / (n / 4)) + rng.normal(0, noise / 2, n)
        flat = 0.3 + 0.6 * np.exp(-e / (n / 4)) + rng.normal(0, noise, n)
        assert overfitting_epoch(make_history(loss=loss.tolist(), val_loss=flat.tolist())) is None, seed
        v = 0.3 + 0.3 * np.clip(turn - e, 0, None) / turn + 0.3 * np.clip(e - turn, 0, None) / (n - turn)
        v = v + rng.normal(0, noise, n)
        found = overfitting_epoch(make_history(loss=loss.tolist(), val_loss=v.tolist()))
        assert found is not None and abs(found - turn) <= 3, (seed, found)


def test_overfitting_epoch_skips_non_finite_epochs_and_checks_arguments():
    curves = overfit_curves()
    curves["val_loss"][3] = math.nan  # an epoch without validation
    assert overfitting_epoch(make_history(**curves)) == 12
    with pytest.raises(ValueError, match="patience must be a positive int"):
        overfitting_epoch(make_history(**curves), patience=0)
    with pytest.raises(ValueError, match="min_rise must be >= 0"):
        overfitting_epoch(make_history(**curves), min_rise=-1)


# ------------------------------------------------------------------ diagnose: one test per verdict
def check(d: Diagnosis, verdict: str, *numbers: str) -> None:
    assert isinstance(d, Diagnosis) and d.verdict == verdict and verdict in VERDICTS, d
    assert str(d) == d.message
    assert all(isinstance(v, float) for v in d.evidence.values()), d.evidence
    for number in numbers:
        assert number in d.message, (number, d.message)


def test_diagnose_diverged():
    h = make_history(loss=[2.3, 1.9, 7.5, math.nan])
    d = h.diagnose()
    check(d, "diverged", "epoch 4", "nan", "2.3", "7.5", "Lower the learning rate")
    assert d.evidence["diverged_epoch"] == 4.0 and d.overfit_epoch is None
    h = make_history(loss=[2.3, 1.9])  # the trainer said so (it stopped before recording the bad epoch)
    h.stopped_reason, h.stopped_message = "diverged", "loss is nan at epoch 3, step 7 (lr=1.0)"
    check(h.diagnose(), "diverged", "after epoch 2", "step 7")
    check(diagnose(make_history(loss=[1.0, 0.9, 0.8], val_loss=[1.0, math.inf, 0.9])), "diverged", "epoch 2")


def test_diagnose_not_enough_data():
    check(make_history(loss=[1.0, 0.5]).diagnose(), "not_enough_data", "2 epoch")
    check(History().diagnose(), "not_enough_data", "0 epoch")
    check(make_history(val_loss=[1.0, 0.9, 0.8]).diagnose(), "not_enough_data")


def test_diagnose_lr_too_high_exploding_and_oscillating():
    d = make_history(loss=[1.0, 1.5, 2.4, 3.9, 6.0]).diagnose()
    check(d, "lr_too_high", "grew from 1 (epoch 1) to 6 (epoch 5)")
    d = make_history(loss=[1.0, 1.4, 0.9, 1.5, 1.0, 1.3, 1.1, 1.45]).diagnose()
    check(d, "lr_too_high", "oscillates", "100%")
    assert d.evidence["sign_flip_fraction"] == 1.0
    # noisy but clearly falling is not an oscillation
    noisy = make_history(loss=[2.3, 1.5, 1.6, 1.0, 1.2, 0.8, 0.9, 0.6, 0.65, 0.55, 0.56, 0.55])
    assert noisy.diagnose().verdict != "lr_too_high"


def test_diagnose_lr_too_low():
    loss = (2.303 - 0.0055 * np.arange(10)).tolist()
    d = make_history(loss=loss, val_loss=[x + 0.01 for x in loss]).diagnose()
    check(d, "lr_too_low", "2.1%", "2.3", "2.25", "10 epochs")
    # the same small drop levelling off is not a crawling learning rate
    levelled = (2.25 + 0.05 * np.exp(-np.arange(10.0))).tolist()
    assert make_history(loss=levelled).diagnose().verdict != "lr_too_low"


def test_diagnose_underfitting_high_loss_and_still_falling():
    high = [1.0, 0.85, 0.78, 0.74, 0.72, 0.71, 0.705, 0.70]
    d = make_history(loss=high, val_loss=[x + 0.02 for x in high]).diagnose()
    check(d, "underfitting", "0.7", "70%")
    falling = [2.0, 1.2, 0.8, 0.6, 0.45, 0.35]
    d = make_history(loss=falling, val_loss=[x * 1.03 for x in falling]).diagnose()
    check(d, "underfitting", "still falling", "0.35 and 0.36", "3% apart")
    assert d.evidence["loss_drop_per_epoch"] > 0.1


def test_diagnose_overfitting_names_the_epoch_and_numbers():
    d = make_history(**overfit_curves()).diagnose()
    check(
        d,
        "overfitting",
        "from epoch 12",
        "rose from 0.31 (epoch 12) to 0.566 (epoch 20)",
        "fell from 0.217 to 0.143",
        "restore_best_weights",
    )
    assert d.overfit_epoch == 12 and d.evidence["overfit_epoch"] == 12.0
    assert d.evidence["gap_final"] > d.evidence["gap_at_best"]


def test_diagnose_good_fit():
    e = np.arange(1, 21)
    loss = 0.1 + 0.9 * np.exp(-e / 2.5)
    d = make_history(loss=loss.tolist(), val_loss=(loss + 0.05).tolist()).diagnose()
    check(d, "good_fit", "levelled off", "0.15")
    check(make_history(loss=loss.tolist()).diagnose(), "good_fit", "record a validation loss")


def test_diagnose_rules_are_documented_and_thresholds_are_constants():
    doc = diagnose.__doc__
    for verdict in VERDICTS:
        assert f"``{verdict}``" in doc
    assert diag.EXPLODE_FACTOR == 2.0 and diag.FLAT_DROP == 0.1
    with pytest.raises(ValueError, match="diagnose: patience"):
        make_history(loss=[1.0, 0.5, 0.2]).diagnose(patience=0)
