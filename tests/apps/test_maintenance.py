"""cr.apps.maintenance: C-MAPSS files, the protocol, the scores, the download, and the command end to end."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from chainrule.apps.maintenance import data as cmapss
from chainrule.apps.maintenance.ensemble import engine_folds
from chainrule.apps.maintenance.evaluate import (
    conformal_scale,
    interval_view,
    maintenance_view,
    phm08_score,
    rmse,
)
from chainrule.apps.maintenance.models import predict
from chainrule.apps.maintenance.preprocess import Preprocessor, rul_targets
from chainrule.cli import main

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "cmapss"


# ------------------------------------------------------------------ synthetic files in the real format
def _engine_rows(unit: int, life: int, rows: int, rng: np.random.Generator, condition: int = 0) -> list[str]:
    """Rows of one engine that wears out at ``life``: some sensors trend with wear, others are constant."""
    out = []
    for cycle in range(1, rows + 1):
        wear = (cycle / life) ** 2
        settings = [0.001 * rng.standard_normal(), 0.0003 * rng.standard_normal(), 100.0]
        base = np.full(21, 10.0)
        if condition:  # another flight condition shifts every sensor a lot
            settings = [20.0 * condition, 0.5 * condition, 100.0 - 20 * condition]
            base = base + 30.0 * condition
        sensors = base + 0.1 * rng.standard_normal(21)
        sensors[[1, 2, 3, 6, 10, 11]] += 3.0 * wear * np.array([1, 1, 1, -1, 1, -1])
        sensors[0] = sensors[4] = 518.67  # constant
        sensors[5] = 21.6 + 0.01 * (rng.random() < 0.5)  # two levels only
        values = [f"{unit}", f"{cycle}", *(f"{v:.4f}" for v in settings), *(f"{v:.4f}" for v in sensors)]
        out.append(" ".join(values) + "  ")  # trailing spaces, as NASA's files have
    return out


def _write_subset(
    folder: Path, n_train: int = 8, n_test: int = 5, seed: int = 0, conditions: int = 1
) -> tuple:
    """train/test/RUL files of a small synthetic subset; one test engine is shorter than a window."""
    rng = np.random.default_rng(seed)
    train, test, rul = [], [], []
    for unit in range(1, n_train + 1):
        life = int(rng.integers(60, 90))
        train += _engine_rows(unit, life, life, rng, unit % conditions)
    for unit in range(1, n_test + 1):
        life = int(rng.integers(60, 90))
        rows = 20 if unit == 1 else int(rng.integers(30, life - 2))
        test += _engine_rows(unit, life, rows, rng, unit % conditions)
        rul.append(f"{life - rows}")
    paths = folder / "train_FD001.txt", folder / "test_FD001.txt", folder / "RUL_FD001.txt"
    for path, lines in zip(paths, (train, test, rul)):
        path.write_text("\n".join(lines) + "\n")
    return paths


@pytest.fixture
def subset(tmp_path: Path) -> tuple[Path, Path, Path]:
    return _write_subset(tmp_path)


def _corrupt(path: Path, line: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------ reading
def test_read_table_parses_trailing_spaces_and_checks_engines(subset: tuple) -> None:
    table = cmapss.read_table(subset[0])
    assert table.shape[1] == 26 and table.dtype == np.float64
    assert np.array_equal(np.unique(table[:, 0]), np.arange(1, 9))
    data = cmapss.load_files(*subset)
    assert len(data.rul) == 5 and data.rul.dtype == np.float64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 4 0.1 0.2 100 oops" + " 1" * 20, "line 4: s1 (column 6) is 'oops', not a finite number"),
        ("1 4 0.1 0.2 100" + " 1" * 20, "line 4: expected 26 whitespace-separated columns"),
        ("1 4 0.1 0.2 100 nan" + " 1" * 20, "line 4: s1 (column 6) is 'nan'"),
        ("1 9 0.1 0.2 100" + " 1" * 21, "line 4: unit 1 goes from cycle 3 to 9"),
        ("1.5 4 0.1 0.2 100" + " 1" * 21, "line 4: unit is 1.5; expected a positive integer"),
    ],
)
def test_read_table_reports_file_and_line(subset: tuple, text: str, expected: str) -> None:
    _corrupt(subset[0], 4, text)
    with pytest.raises(cmapss.CMAPSSError, match=re.escape("train_FD001.txt, " + expected)):
        cmapss.read_table(subset[0])


def test_read_table_rejects_a_unit_split_in_two(tmp_path: Path) -> None:
    rows = ["1 1" + " 1" * 24, "2 1" + " 1" * 24, "1 2" + " 1" * 24]
    (tmp_path / "t.txt").write_text("\n".join(rows))
    with pytest.raises(cmapss.CMAPSSError, match="line 3: unit 1 appears again"):
        cmapss.read_table(tmp_path / "t.txt")


def test_rul_file_count_and_values_are_checked(subset: tuple) -> None:
    subset[2].write_text("10\n20\n")
    with pytest.raises(cmapss.CMAPSSError, match=r"has 2 RUL value.* 5 engine"):
        cmapss.load_files(*subset)
    subset[2].write_text("10\n-3\n")
    with pytest.raises(cmapss.CMAPSSError, match="line 2: '-3' is not a RUL"):
        cmapss.read_rul(subset[2])


def test_missing_and_empty_files(tmp_path: Path, subset: tuple) -> None:
    with pytest.raises(cmapss.CMAPSSError, match=r"training file not found: .*nope\.txt"):
        cmapss.load_files(tmp_path / "nope.txt", subset[1], subset[2])
    (tmp_path / "empty.txt").write_text("\n  \n")
    with pytest.raises(cmapss.CMAPSSError, match="empty"):
        cmapss.read_table(tmp_path / "empty.txt")


# ------------------------------------------------------------------ the protocol
def test_preprocessor_keeps_trending_sensors_and_makes_windows(subset: tuple) -> None:
    data = cmapss.load_files(*subset)
    # s1, s5 constant, s6 two-level, the rest noise: only the six trending sensors stay
    default = Preprocessor(window=30, max_rul=50).fit(data.train).channel_names
    assert {"s2", "s3", "s4", "s7", "s11", "s12"} <= set(default) and not {"s1", "s5", "s6"} & set(default)
    prep = Preprocessor(window=30, max_rul=50, min_correlation=0.3).fit(data.train)
    assert prep.channel_names == ["s2", "s3", "s4", "s7", "s11", "s12"]
    assert len(prep.centers) == 1
    x, y, units = prep.windows(data.train)
    lengths = np.bincount(data.train[:, 0].astype(int))[1:]
    assert x.shape == (int((lengths - 29).sum()), 30, 6) and x.dtype == np.float32
    assert y.max() == 50 and y.min() == 0 and len(units) == len(x)
    z = prep.normalize(data.train)
    assert np.allclose(z.mean(0), 0, atol=1e-5) and np.allclose(z.std(0), 1, atol=1e-4)
    last, test_units = prep.last_windows(data.test)
    assert last.shape == (5, 30, 6) and list(test_units) == [1, 2, 3, 4, 5]
    # the 20-cycle engine is padded at the front with its first row
    first = prep.normalize(data.test[data.test[:, 0] == 1])
    assert np.array_equal(last[0, :11], np.repeat(first[:1], 11, axis=0))
    assert np.array_equal(last[0, 10:], first)
    again = Preprocessor.from_dict(json.loads(json.dumps(prep.to_dict())))
    assert np.array_equal(again.last_windows(data.test)[0], last)


def test_windows_from_min_history_are_front_padded_like_short_test_engines(subset: tuple) -> None:
    data = cmapss.load_files(*subset)
    prep = Preprocessor(window=30, max_rul=50).fit(data.train)
    lengths = np.bincount(data.train[:, 0].astype(int))[1:]
    x, y, units = prep.windows(data.train, min_history=10)
    assert len(x) == len(y) == len(units) == int((lengths - 9).sum())
    # engine 1's first window ends at its 10th cycle: its first row 20 more times in front
    z = prep.normalize(data.train[data.train[:, 0] == 1])
    assert np.array_equal(x[0], np.concatenate([np.repeat(z[:1], 20, axis=0), z[:10]]))
    assert y[0] == min(lengths[0] - 10, 50) and y[int(lengths[0]) - 10] == 0  # the last one: failure
    # from the window on: the full windows only, as without min_history; beyond it, fewer
    assert np.array_equal(prep.windows(data.train, min_history=30)[0], prep.windows(data.train)[0])
    assert len(prep.windows(data.train, min_history=40)[0]) == int((lengths - 39).sum())
    with pytest.raises(ValueError, match="min_history must be at least 1"):
        prep.windows(data.train, min_history=0)


def test_age_channel_is_the_standardized_cycle_number_first(subset: tuple) -> None:
    data = cmapss.load_files(*subset)
    plain = Preprocessor(window=30, max_rul=50).fit(data.train)
    prep = Preprocessor(window=30, max_rul=50, age=True).fit(data.train)
    assert prep.channel_names == ["cycle", *plain.channel_names] and prep.channels[0] == 1
    z = prep.normalize(data.train)
    cycle = data.train[:, 1]
    assert np.allclose(z[:, 0], (cycle - cycle.mean()) / cycle.std(), atol=1e-5)
    assert np.array_equal(z[:, 1:], plain.normalize(data.train))
    # the last test window ends at the engine's last cycle, so its age channel says how old it is
    last, _ = prep.last_windows(data.test)
    ends = [data.test[data.test[:, 0] == u, 1].max() for u in np.unique(data.test[:, 0])]
    assert np.allclose(last[:, -1, 0], (np.array(ends) - cycle.mean()) / cycle.std(), atol=1e-5)
    again = Preprocessor.from_dict(json.loads(json.dumps(prep.to_dict())))
    assert again.age and np.array_equal(again.last_windows(data.test)[0], last)


def test_rul_targets_are_piecewise_linear() -> None:
    table = np.zeros((5, 26))
    table[:, 0], table[:, 1] = 1, np.arange(1, 6)
    assert list(rul_targets(table, max_rul=3)) == [3, 3, 2, 1, 0]


def test_multi_condition_data_is_normalized_per_condition(tmp_path: Path) -> None:
    paths = _write_subset(tmp_path, n_train=9, conditions=3)
    data = cmapss.load_files(*paths)
    prep = Preprocessor().fit(data.train)
    assert len(prep.centers) == 3
    cond = prep.condition(data.train)
    z = prep.normalize(data.train)
    for c in range(3):  # every condition centred on its own mean: the 30-unit shifts are gone
        assert np.allclose(z[cond == c].mean(0), 0, atol=1e-4)
    assert "s2" in prep.channel_names and "s1" not in prep.channel_names


def _regime_table(rng: np.random.Generator, units: range, regime: list[int]) -> np.ndarray:
    """Engines whose flight condition changes every cycle among FD002's six; ``regime`` gets the truth."""
    centers = np.array([[0, 0, 100], [10, 0.25, 100], [20, 0.7, 100], [25, 0.62, 60], [35, 0.84, 100],
                        [42, 0.84, 100]])  # fmt: skip
    rows = []
    for unit in units:
        life = int(rng.integers(60, 90))
        for cycle in range(1, life + 1):
            r = int(rng.integers(6))
            regime.append(r)
            settings = centers[r] + rng.normal(0.0, 0.002, 3) * [1, 1, 0]
            sensors = 10.0 + 5.0 * r + 0.1 * rng.standard_normal(21)  # the condition moves every sensor
            sensors[1:4] += 3.0 * (cycle / life) ** 2  # s2-s4 wear
            rows.append([unit, cycle, *settings, *sensors])
    return np.array(rows)


def test_regimes_changing_every_cycle_are_learnt_from_training_engines_and_normalized_away() -> None:
    rng = np.random.default_rng(0)
    truth: list[int] = []
    prep = Preprocessor(window=10, max_rul=50).fit(_regime_table(rng, range(1, 9), truth))
    assert len(prep.centers) == 6
    truth = []
    test = _regime_table(rng, range(1, 4), truth)  # new engines: the training engines' regimes apply
    found = prep.condition(test)
    pairs = set(zip(found.tolist(), truth, strict=True))
    assert len(pairs) == 6  # one fitted condition per true regime, none split or merged
    z = prep.normalize(test)
    assert {"s2", "s3", "s4"} <= set(prep.channel_names)
    for c in range(6):  # the 5-unit steps between regimes are gone on engines the fit never saw
        assert np.abs(z[found == c].mean(0)).max() < 1.0
    raw = test[:, prep.channels]
    assert np.abs(raw[found == 0].mean(0) - raw[found == 5].mean(0)).min() > 4.0


# ------------------------------------------------------------------ the cross-validation ensemble
def test_engine_folds_start_with_the_validation_engines_and_never_overlap() -> None:
    units, held = np.arange(1, 101), np.arange(5, 25)
    folds = engine_folds(units, held, 5, seed=0)
    assert np.array_equal(folds[0], held) and [len(f) for f in folds] == [20] * 5
    assert np.array_equal(np.sort(np.concatenate(folds)), units)  # each engine held out once
    # no fold larger than the validation one: with 2 members, 60 engines are in no fold
    two = engine_folds(units, held, 2, seed=0)
    assert [len(f) for f in two] == [20, 20] and not set(two[1]) & set(held)
    assert [len(f) for f in engine_folds(units, held, 10, seed=0)][:2] == [20, 9]
    assert len(engine_folds(units, held, 1, seed=0)) == 1
    with pytest.raises(ValueError, match="cannot make 4 folds"):
        engine_folds(np.arange(1, 5), np.array([1]), 5, seed=0)


def test_fold_ensemble_predicts_every_held_out_engine_with_the_member_that_never_saw_it(
    subset: tuple,
) -> None:
    from chainrule.apps.maintenance.ensemble import train_fold_ensemble

    data = cmapss.load_files(*subset)
    prep = Preprocessor(window=30, max_rul=50).fit(data.train)
    ens = train_fold_ensemble(prep, data.train, np.array([1, 2]), 3, 50.0, epochs=1, min_history=10)
    assert len(ens.members) == 3 and ens.epochs == [1, 1, 1]
    assert np.array_equal(ens.folds[0], [1, 2]) and all(len(f) == 2 for f in ens.folds)
    held_out = np.concatenate(ens.folds)
    lengths = np.bincount(data.train[:, 0].astype(int))
    assert len(ens.oof) == len(ens.target) == int(sum(lengths[int(u)] - 9 for u in held_out))
    # member 0 alone scores the validation engines: its RMSE on their windows is val_rmse
    x, y, _ = prep.windows(data.train[np.isin(data.train[:, 0], [1, 2])], 10)
    assert ens.val_rmse == pytest.approx(rmse(predict(ens.members[0], x, 50.0), y))
    mean, each = ens.predict(x, 50.0)
    assert each.shape == (3, len(x)) and np.allclose(mean, each.mean(axis=0))


def test_fold_ensemble_with_repeats_averages_each_folds_members_out_of_fold(subset: tuple) -> None:
    from chainrule.apps.maintenance.ensemble import train_fold_ensemble

    data = cmapss.load_files(*subset)
    prep = Preprocessor(window=20, max_rul=50, age=True).fit(data.train)
    ens = train_fold_ensemble(
        prep, data.train, np.array([1, 2]), 3, 50.0, epochs=2, min_history=10, kind="mlp", repeats=2
    )
    assert len(ens.members) == 6 and ens.repeats == 2 and ens.epochs == [2] * 6
    start = 0
    for k, fold in enumerate(ens.folds):  # members k*2 and k*2+1 never saw fold k: their mean is its oof
        x, y, _ = prep.windows(data.train[np.isin(data.train[:, 0], fold)], 10)
        pair = [predict(m, x, 50.0) for m in ens.members[2 * k : 2 * k + 2]]
        assert not np.allclose(pair[0], pair[1])  # two seeds, two networks
        assert np.allclose(ens.oof[start : start + len(y)], np.mean(pair, axis=0), atol=1e-4)
        if k == 0:
            assert ens.val_rmse == pytest.approx(rmse(np.mean(pair, axis=0), y), abs=1e-4)
        start += len(y)
    assert start == len(ens.oof)
    with pytest.raises(ValueError, match="kind must be one of cnn, mlp, got 'gru'"):
        train_fold_ensemble(prep, data.train, np.array([1]), 2, 50.0, kind="gru")
    with pytest.raises(ValueError, match="repeats must be at least 1, got 0"):
        train_fold_ensemble(prep, data.train, np.array([1]), 2, 50.0, repeats=0)


def test_summary_mlp_reads_the_boosting_summaries_standardized_on_its_training_windows(
    tmp_path: Path,
) -> None:
    import chainrule as cr
    from chainrule.apps.maintenance.baselines import summary_features
    from chainrule.apps.maintenance.models import SummaryMLP, load_model, save_model

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 12, 3)) * [1.0, 5.0, 0.1] + [0.0, 3.0, -2.0]).astype(np.float32)
    x[:, :, 2] += np.linspace(0, 1, 12, dtype=np.float32)  # a trend: the slope feature sees it
    cr.manual_seed(0)
    model = SummaryMLP(3, 12)
    with cr.no_grad():
        features = model.summarize(cr.from_numpy(x)).numpy()
    assert features.shape == (64, 18)
    np.testing.assert_allclose(features, summary_features(x), rtol=1e-5, atol=1e-5)  # the same 6 per channel
    assert model.fit_scaling(x, batch_size=10) is model  # batches give the whole set's mean and std
    z = (features - model.feature_mean.numpy()) / model.feature_std.numpy()
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=0), 1.0, atol=1e-3)
    np.testing.assert_allclose(model.features(x, batch_size=7), z, rtol=1e-5, atol=1e-5)  # what .net reads
    model.eval()
    with cr.no_grad():  # the whole model is its MLP on those features
        whole = model(cr.from_numpy(x)).numpy()
        head = model.net(cr.from_numpy(model.features(x))).numpy()
    np.testing.assert_allclose(whole, head, rtol=1e-5, atol=1e-6)
    assert set(model.state_dict()) >= {"feature_mean", "feature_std", "net.0.weight"}
    save_model(model, tmp_path / "m.safetensors", "mlp", {"n_features": 3, "window": 12})
    back, kind = load_model(tmp_path / "m.safetensors")  # the scaling travels with the weights
    assert kind == "mlp" and np.array_equal(predict(back, x, 50.0), predict(model, x, 50.0))


# ------------------------------------------------------------------ scores
def test_baselines_are_cross_validated_on_the_ensembles_folds(subset: tuple) -> None:
    from chainrule.apps.maintenance.baselines import cross_validate, fit_ridge
    from chainrule.apps.maintenance.ensemble import fold_splits

    data = cmapss.load_files(*subset)
    prep = Preprocessor(window=20, max_rul=50, age=True).fit(data.train)
    units = np.unique(data.train[:, 0])
    folds = engine_folds(units, units[:3], 3, seed=0)
    splits = list(fold_splits(prep, data.train, folds, min_history=10))
    x, y, window_units = prep.windows(data.train, min_history=10)
    for fold, (inside, out) in zip(folds, splits, strict=True):
        held = np.isin(window_units, fold)  # each split: the fold's windows out, all the others in
        assert np.array_equal(out[0], x[held]) and np.array_equal(np.sort(inside[1]), np.sort(y[~held]))
    fits, scores, oof, target = cross_validate(lambda t, v: fit_ridge(t, v, 50.0), iter(splits), 50.0)
    assert len(fits) == len(scores) == 3
    assert np.array_equal(target, np.concatenate([out[1] for _, out in splits]))
    assert oof.shape == target.shape and oof.min() >= 0 and oof.max() <= 50
    first = len(splits[0][1][1])  # fold 0's out-of-fold predictions are its model's held-out score
    assert rmse(oof[:first], target[:first]) == pytest.approx(scores[0])
    with pytest.raises(ValueError, match="at least one split"):
        cross_validate(lambda t, v: fit_ridge(t, v, 50.0), [], 50.0)


def test_blend_weight_is_the_grid_point_with_the_lowest_rmse() -> None:
    from chainrule.apps.maintenance.evaluate import blend_weight

    rng = np.random.default_rng(0)
    true = rng.uniform(0, 100, 500)
    a, b = true + rng.normal(0, 5, 500), true + rng.normal(0, 5, 500)  # equal, independent errors: half each
    assert blend_weight(a, b, true) == 0.5
    assert blend_weight(a, true + 30, true) == 0.0 and blend_weight(true + 30, a, true) == 1.0
    assert blend_weight(a, b, true, steps=4) in (0.25, 0.5, 0.75)
    with pytest.raises(ValueError, match="steps must be at least 1"):
        blend_weight(a, b, true, steps=0)
    with pytest.raises(ValueError, match="blend_weight: expected as many"):
        blend_weight(a[:3], b, true)


def test_phm08_score_and_rmse() -> None:
    true = np.array([50.0, 50.0, 50.0])
    pred = np.array([37.0, 60.0, 50.0])  # 13 early, 10 late, exact
    assert phm08_score(pred, true) == pytest.approx((np.e - 1) * 2)
    assert rmse(pred, true) == pytest.approx(np.sqrt((169 + 100) / 3))
    with pytest.raises(ValueError, match="rmse: expected as many predictions"):
        rmse([1, 2], [1])


def test_maintenance_view_precision_and_recall() -> None:
    view = maintenance_view([10, 25, 40, 100], [5, 50, 20, 90], units=[7, 8, 9, 10], within=30)
    assert view["service"] == [7, 8] and view["truly_due"] == [7, 9]
    assert view["precision"] == 0.5 and view["recall"] == 0.5
    none = maintenance_view([100, 100], [5, 50], units=[1, 2], within=30)
    assert none["precision"] is None and none["recall"] == 0.0


def test_interval_view_coverage_width_and_service_from_the_lower_end() -> None:
    lower, upper = [0, 20, 30, 80], [20, 60, 50, 120]
    view = interval_view(lower, upper, [5, 70, 40, 200], units=[1, 2, 3, 4], within=25, capped_at=125)
    # 200 is scored as 125 (the label cap): inside [80, 120]? no; 70 is outside [20, 60]
    assert view["coverage"] == 0.5 and view["mean_width"] == pytest.approx(30.0)
    sv = view["service_from_lower_end"]
    assert sv["service"] == [1, 2] and sv["truly_due"] == [1]  # engine 2's lower end (20) flags it
    assert sv["precision"] == 0.5 and sv["recall"] == 1.0
    assert view["intervals"][1] == [20.0, 60.0]


def test_conformal_scale_covers_the_asked_share_of_held_out_values() -> None:
    rng = np.random.default_rng(0)
    members = rng.normal(0.0, 1.0, (5, 2000)) + np.linspace(0, 100, 2000)
    true = np.linspace(0, 100, 2000) + rng.normal(0.0, 6.0, 2000)
    q = conformal_scale(members, true, coverage=0.9)
    mean, half = members.mean(axis=0), q * (members.std(axis=0) + 1.0)
    assert np.mean(np.abs(true - mean) <= half) >= 0.9
    assert q < conformal_scale(members, true, coverage=0.99)
    with pytest.raises(ValueError, match="coverage must lie in"):
        conformal_scale(members, true, coverage=1.0)


def test_recommendation_names_the_validation_winner_and_its_rival() -> None:
    from chainrule.apps.maintenance.report import best_model, recommendation

    def scores(val: float, test: float) -> dict:
        return {"val_rmse": val, "rmse": test, "score": 10 * test}

    net = recommendation({"cnn_ensemble": scores(11.5, 12.8), "gradient_boosting": scores(13.3, 14.0)})
    assert net.startswith("Use the cross-validation ensemble of 1-D CNNs: on the held-out validation")
    assert "beats the best baseline, gradient boosting (RMSE 11.5 vs 13.3 cycles)" in net
    tree = recommendation({"cnn_ensemble": scores(12.9, 12.9), "gradient_boosting": scores(11.3, 13.4)})
    assert "no network beats it (the best, the cross-validation ensemble of 1-D CNNs: RMSE 12.9" in tree
    assert "RMSE 13.4 vs 12.9" in tree and tree.endswith("cheaper to train and explain.")
    # with out-of-fold figures, those decide among the models that have them; the rest are references
    models = {
        "cnn_ensemble": {**scores(12.9, 12.9), "out_of_fold_rmse": 12.0},
        "gradient_boosting": {**scores(11.3, 13.4), "out_of_fold_rmse": 13.0},
        "lstm": scores(10.0, 13.6),
    }
    assert best_model(models) == "cnn_ensemble"
    crossed = recommendation(models)
    assert crossed.startswith("Use the cross-validation ensemble of 1-D CNNs: out of fold")
    assert "beats the best baseline, gradient boosting (RMSE 12.0 vs 13.0 cycles)" in crossed
    assert best_model({"lstm": scores(10.0, 13.6), "cnn": scores(11.0, 12.0)}) == "lstm"


def test_the_summary_states_the_best_chainrule_only_model_beside_a_blend_with_boosting() -> None:
    from chainrule.apps.maintenance.report import best_model, best_network, format_summary

    def scores(oof: float, test: float) -> dict:
        return {
            "val_rmse": oof,
            "rmse": test,
            "score": 20 * test,
            "train_seconds": 1.0,
            "out_of_fold_rmse": oof,
        }

    models = {
        "cnn_ensemble": scores(11.6, 12.2),
        "mlp_ensemble": scores(11.0, 12.0),
        "network_blend": scores(10.7, 11.4),
        "gradient_boosting": scores(11.3, 12.8),
        "blend": scores(10.5, 11.7),
        "cnn": {**scores(9.0, 12.9), "out_of_fold_rmse": None},  # a reference: no out-of-fold figure
    }
    del models["cnn"]["out_of_fold_rmse"]
    assert best_model(models) == "blend" and best_network(models) == "network_blend"
    assert best_network({"gradient_boosting": models["gradient_boosting"]}) is None
    view = maintenance_view([5.0, 50.0], [4.0, 60.0], [1, 2])
    report = {"models": models, "best": "blend", "best_network": "network_blend", "recommendation": "Use it.",
              "maintenance": view}  # fmt: skip
    text = format_summary(report)
    assert "blend *" in text and "network_blend +" in text
    assert (
        "chainrule networks alone: the mix of the CNN and MLP ensembles, "
        "out-of-fold RMSE 10.70 (vs 10.50), test RMSE 11.40 (vs 11.70), PHM08 228 (vs 234)." in text
    )
    report["best"] = report["best_network"] = "network_blend"  # when a network wins, no second line
    assert "chainrule networks alone" not in format_summary(report)


# ------------------------------------------------------------------ download
def _nested_archive(tmp_path: Path, subset: tuple) -> Path:
    inner = tmp_path / "CMAPSSData.zip"
    with zipfile.ZipFile(inner, "w") as z:
        for p in subset:
            z.write(p, p.name)
    outer = tmp_path / "archive.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.write(inner, "6. Turbofan Engine Degradation Simulation Data Set/CMAPSSData.zip")
    return outer


def test_download_extracts_checks_and_caches(tmp_path: Path, subset: tuple) -> None:
    url = _nested_archive(tmp_path, subset).as_uri()
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in subset}
    cache = tmp_path / "cache"
    paths = cmapss.download_cmapss("FD001", root=cache, url=url, sha256=sums)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in subset]
    # cached: the (now missing) archive URL is not needed again
    assert cmapss.download_cmapss("FD001", root=cache, url=url + ".gone", sha256=sums) == paths
    data = cmapss.load_cmapss("FD001", path=paths[0].parent)
    assert len(data.rul) == 5


def test_download_rejects_wrong_checksum_and_warns_without_one(tmp_path: Path, subset: tuple) -> None:
    url = _nested_archive(tmp_path, subset).as_uri()
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in subset}
    sums["test_FD001.txt"] = "0" * 64
    with pytest.raises(cmapss.ChecksumError, match=r"test_FD001\.txt .* has sha256"):
        cmapss.download_cmapss("FD001", root=tmp_path / "c1", url=url, sha256=sums)
    assert not (tmp_path / "c1" / "cmapss" / "test_FD001.txt").exists()
    with pytest.warns(UserWarning, match="no published SHA-256 for train_FD001.txt, test_FD001.txt, RUL"):
        cmapss.download_cmapss("FD001", root=tmp_path / "c2", url=url, sha256={})
    with pytest.raises(cmapss.CMAPSSError, match="unknown C-MAPSS subset 'FD009'"):
        cmapss.download_cmapss("FD009", root=tmp_path)


# ------------------------------------------------------------------ the command
def _invoke(*args: str) -> object:
    return CliRunner().invoke(main, ["maintenance", *args])


def prep_names(out: Path) -> list[str]:
    return json.loads((out / "preprocessing.json").read_text())["channel_names"]


def test_command_end_to_end(tmp_path: Path, subset: tuple) -> None:
    out = tmp_path / "out"
    files = ["--train", str(subset[0]), "--test", str(subset[1]), "--rul", str(subset[2])]
    result = _invoke(
        *files, "--out", str(out), "--epochs", "2", "--max-rul", "60", "--service-within", "20",
        "--ensemble-size", "2", "--mlp-repeats", "2",
        "--models", "lstm,cnn,cnn_ensemble,mlp_ensemble,gradient_boosting,ridge",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["models"]) == {
        "lstm", "cnn", "cnn_ensemble", "mlp_ensemble", "gradient_boosting", "ridge", "network_blend", "blend"
    }  # every model and the two mixes  # fmt: skip
    ens = report["models"]["cnn_ensemble"]
    assert ens["members"] == 2 and len(ens["files"]) == 2 and ens["epochs"] == [2, 2]
    assert np.isfinite(ens["out_of_fold_rmse"]) and report["dataset"]["min_history"] == 30
    iv = ens["interval"]
    assert iv["target_coverage"] == 0.9 and 0.0 <= iv["coverage"] <= 1.0 and iv["q"] > 0
    assert all(0 <= lo <= hi <= 60 for lo, hi in iv["intervals"]) and len(iv["intervals"]) == 5
    assert iv["service_from_lower_end"]["within"] == 20
    for m in report["models"].values():
        assert np.isfinite(m["rmse"]) and np.isfinite(m["score"]) and np.isfinite(m["val_rmse"])
        assert m["maintenance"]["within"] == 20
    # chosen among the cross-validated models, on the same out-of-fold windows
    crossed = {k: m["out_of_fold_rmse"] for k, m in report["models"].items() if "out_of_fold_rmse" in m}
    assert set(crossed) == {
        "cnn_ensemble",
        "mlp_ensemble",
        "gradient_boosting",
        "ridge",
        "network_blend",
        "blend",
    }
    blend = report["models"]["blend"]  # its out-of-fold RMSE is the best mix of the two, weight 0 included
    assert 0.0 <= blend["boosting_weight"] == blend["weight"] <= 1.0 and "interval" in blend
    assert blend["out_of_fold_rmse"] <= report["models"]["cnn_ensemble"]["out_of_fold_rmse"] + 1e-9
    mlps = report["models"]["mlp_ensemble"]
    assert mlps["members"] == 4 and mlps["members_per_fold"] == 2 and len(mlps["files"]) == 4
    own = report["models"]["network_blend"]  # chainrule networks only: the CNN and MLP ensembles mixed
    assert 0.0 <= own["weight"] <= 1.0 and "interval" in own and "boosting_weight" not in own
    assert own["out_of_fold_rmse"] <= min(crossed["cnn_ensemble"], crossed["mlp_ensemble"]) + 1e-9
    assert report["best"] == min(crossed, key=crossed.get)
    networks_only = ("cnn", "cnn_ensemble", "mlp_ensemble", "network_blend")
    assert report["best_network"] == min(networks_only[1:], key=crossed.get)
    assert all(
        m["cpu_seconds"] >= 0 for k, m in report["models"].items() if k not in ("blend", "network_blend")
    )
    assert report["cpu_seconds"] > 0
    assert report["dataset"]["age_channel"] and prep_names(out)[0] == "cycle"
    assert report["dataset"]["validation_engines"] == 2 and report["dataset"]["test_engines"] == 5
    for name in ("predictions.png", "maintenance.png", "predictions.csv", "preprocessing.json"):
        assert (out / name).stat().st_size > 0
    summary = result.output[result.output.index("\nmodel ") + 1 :]
    assert summary.startswith("model") and "Use the " in summary and "Service within 20 cycles" in summary
    # the saved networks come back and predict what was reported
    from chainrule.apps.maintenance.models import load_model

    prep = Preprocessor.from_dict(json.loads((out / "preprocessing.json").read_text()))
    x, _ = prep.last_windows(cmapss.read_table(subset[1]))
    model, kind = load_model(out / "models" / "cnn.safetensors")
    rows = (out / "predictions.csv").read_text().splitlines()
    column = rows[0].split(",").index("cnn")
    saved = [float(r.split(",")[column]) for r in rows[1:]]
    assert kind == "cnn" and np.allclose(predict(model, x, 60.0), saved, atol=0.01)
    members = [load_model(out / f)[0] for f in ens["files"]]  # the ensemble's mean is what was reported
    column = rows[0].split(",").index("cnn_ensemble")
    saved = [float(r.split(",")[column]) for r in rows[1:]]
    assert np.allclose(np.mean([predict(m, x, 60.0) for m in members], axis=0), saved, atol=0.01)
    names = ("cnn_ensemble", "mlp_ensemble", "gradient_boosting", "blend", "network_blend")
    table = {n: np.array([float(r.split(",")[rows[0].split(",").index(n)]) for r in rows[1:]]) for n in names}
    members = [load_model(out / f)[0] for f in mlps["files"]]
    assert np.allclose(
        np.mean([predict(m, x, 60.0) for m in members], axis=0), table["mlp_ensemble"], atol=0.01
    )
    w = blend["boosting_weight"]
    assert np.allclose(
        (1 - w) * table["cnn_ensemble"] + w * table["gradient_boosting"], table["blend"], atol=0.02
    )
    w = own["weight"]
    assert np.allclose(
        (1 - w) * table["cnn_ensemble"] + w * table["mlp_ensemble"], table["network_blend"], atol=0.02
    )
    if report["best"] != report["best_network"]:  # the summary states the networks' own figure beside it
        assert "chainrule networks alone: " in summary


def test_the_command_runs_the_pipelines_default_models() -> None:
    from chainrule.apps.maintenance import cli, pipeline

    option = next(p for p in cli.command.params if p.name == "model_list")
    assert option.default == ",".join(pipeline.DEFAULT_MODELS) and "lstm" not in pipeline.DEFAULT_MODELS
    assert all(m in option.help for m in pipeline.MODELS)  # the help lists every model there is


def test_command_is_reproducible_with_a_seed(tmp_path: Path, subset: tuple) -> None:
    files = ["--train", str(subset[0]), "--test", str(subset[1]), "--rul", str(subset[2])]
    reports = []
    for run in ("a", "b"):
        result = _invoke(*files, "--out", str(tmp_path / run), "--epochs", "1", "--ensemble-size", "2",
                         "--models", "lstm,cnn_ensemble,ridge")  # fmt: skip
        assert result.exit_code == 0, result.output
        reports.append(json.loads((tmp_path / run / "report.json").read_text())["models"])
    for name in ("lstm", "cnn_ensemble", "ridge"):
        assert reports[0][name]["rmse"] == reports[1][name]["rmse"]
    assert reports[0]["cnn_ensemble"]["interval"] == reports[1]["cnn_ensemble"]["interval"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("malformed", "train_FD001.txt, line 7: s3 (column 8) is '12..5', not a finite number"),
        ("columns", "test_FD001.txt, line 3: expected 26 whitespace-separated columns"),
        ("rul", "has 4 RUL value(s) but"),
        ("missing", "test file not found"),
    ],
)
def test_command_bad_input_is_a_clear_error(tmp_path: Path, subset: tuple, damage: str, message: str) -> None:
    train, test, rul = subset
    if damage == "malformed":
        parts = train.read_text().splitlines()[6].split()
        parts[7] = "12..5"
        _corrupt(train, 7, " ".join(parts))
    elif damage == "columns":
        _corrupt(test, 3, " ".join(test.read_text().splitlines()[2].split()[:-2]))
    elif damage == "rul":
        rul.write_text("\n".join(rul.read_text().split()[:4]) + "\n")
    else:
        test = tmp_path / "absent.txt"
    result = _invoke(
        "--train", str(train), "--test", str(test), "--rul", str(rul), "--out", str(tmp_path / "o")
    )
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert message in result.output and "Traceback" not in result.output


def test_command_argument_errors(tmp_path: Path, subset: tuple) -> None:
    result = _invoke("--train", str(subset[0]), "--out", str(tmp_path))
    assert result.exit_code == 2 and "missing --test, --rul" in result.output
    result = _invoke("--out", str(tmp_path))
    assert result.exit_code == 2 and "--subset FD001" in result.output
    result = _invoke(*["--train", str(subset[0]), "--test", str(subset[1]), "--rul", str(subset[2])],
                     "--out", str(tmp_path), "--models", "lstm,svm")  # fmt: skip
    assert result.exit_code == 2 and "unknown model(s) svm" in result.output
    for option in ("--patience", "--ensemble-size", "--mlp-repeats"):
        result = _invoke("--subset", "FD001", "--out", str(tmp_path), option, "0")
        assert result.exit_code == 2 and option in result.output


def test_run_rejects_an_empty_ensemble(tmp_path: Path, subset: tuple) -> None:
    from chainrule.apps.maintenance.pipeline import run

    with pytest.raises(ValueError, match="ensemble_size must be at least 1, got 0"):
        run(tuple(map(str, subset)), tmp_path, ensemble_size=0, log=lambda _: None)
    with pytest.raises(ValueError, match="mlp_repeats must be at least 1, got 0"):
        run(tuple(map(str, subset)), tmp_path, mlp_repeats=0, log=lambda _: None)


# ------------------------------------------------------------------ the real files
@pytest.mark.skipif(not (REAL / "train_FD001.txt").is_file(), reason="../shared/data/cmapss is absent")
def test_real_fd001_files_match_their_checksums_and_the_usual_protocol() -> None:
    for name, digest in cmapss.SHA256.items():
        assert hashlib.sha256((REAL / name).read_bytes()).hexdigest() == digest
    data = cmapss.load_cmapss("FD001", path=REAL)
    assert data.train.shape == (20631, 26) and data.test.shape == (13096, 26) and len(data.rul) == 100
    prep = Preprocessor().fit(data.train)
    usual = [2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21]
    assert prep.channel_names == [f"s{i}" for i in usual] and len(prep.centers) == 1
    assert len(prep.windows(data.train)[0]) == 20631 - 100 * 29
