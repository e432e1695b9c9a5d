"""chainrule.apps.traffic.supervised: the classifier's calibrated margin mixed with the hybrid score, and the
leave-attack-types-out pool its threshold is chosen on (small generated data; the app end to end is in
test_traffic.py)."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.apps.traffic.hybrid import RobustZ
from chainrule.apps.traffic.supervised import (
    attack_type_folds,
    leave_types_out,
    mixed_score,
    pool_metrics,
)


def test_mixed_score_adds_the_weighted_classifier_score() -> None:
    novelty, classifier = np.array([0.5, 2.0, -1.0]), np.array([4.0, -2.0, 0.0])
    np.testing.assert_allclose(mixed_score(novelty, classifier, 0.25), [1.5, 1.5, -1.0])
    np.testing.assert_array_equal(mixed_score(novelty, classifier, 0.0), novelty)
    with pytest.raises(ValueError, match="weight must be >= 0"):
        mixed_score(novelty, classifier, -0.1)
    with pytest.raises(ValueError, match=r"one shape, got \(3,\) and \(2,\)"):
        mixed_score(novelty, classifier[:2], 1.0)


def test_robust_z_without_log_centres_and_scales_the_scores_themselves() -> None:
    margins = np.arange(-10.0, 11.0)  # median 0, quartiles -5 and 5
    cal = RobustZ.fit(margins, log=False)
    assert (cal.median, cal.iqr, cal.log) == (0.0, 10.0, False)
    np.testing.assert_allclose(cal(np.array([-20.0, 5.0])), [-2.0, 0.5])  # negative scores are fine


def test_attack_type_folds_deal_every_type_once_seeded() -> None:
    labels = np.array(["normal", "a", "b", "c", "d", "e", "a", "normal", "f", "g"])
    folds = attack_type_folds(labels, 3, seed=0)
    assert len(folds) == 3 and sorted(t for f in folds for t in f) == list("abcdefg")
    assert [len(f) for f in folds] == [3, 2, 2] and all(f == sorted(f) for f in folds)
    assert attack_type_folds(labels, 3, seed=0) == folds
    assert any(attack_type_folds(labels, 3, seed=s) != folds for s in range(1, 5))
    assert attack_type_folds(np.array(["normal", "x", "y"]), 5, seed=0) in ([["x"], ["y"]], [["y"], ["x"]])
    with pytest.raises(ValueError, match="folds must be at least 2"):
        attack_type_folds(labels, 1, seed=0)
    with pytest.raises(ValueError, match="no attack type"):
        attack_type_folds(np.array(["normal"] * 3), 2, seed=0)


def _data(seed: int, counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose first column codes the type (normal 0, then 1, 2, ...), plus noise columns."""
    rng = np.random.default_rng(seed)
    labels = np.array([t for t, n in counts.items() for _ in range(n)])
    code = {t: i for i, t in enumerate(counts)}
    x = rng.normal(size=(len(labels), 3))
    x[:, 0] = [code[t] for t in labels]
    return x, labels


def test_leave_types_out_pools_unseen_seen_and_normal_records() -> None:
    counts = {"normal": 30, "flood": 12, "scan": 15, "probe": 11}
    x_tr, tr_labels = _data(0, counts)
    x_val, val_labels = _data(1, {"normal": 20, "flood": 4, "scan": 5, "probe": 3})
    seen_types: list[set[float]] = []

    def train_margin(x, y, xv, yv):  # a "classifier" that knows exactly the attack codes it was shown
        assert len(x) == len(y) and len(xv) == len(yv)
        known = set(x[y, 0].tolist())
        seen_types.append(known)
        return lambda rows: np.where(np.isin(rows[:, 0], sorted(known)), 8.0, -4.0) + 0.1 * rows[:, 1]

    novelty_tr = np.arange(int((tr_labels != "normal").sum()), dtype=float)
    novelty_val = -np.arange(len(val_labels), dtype=float)
    held = [["flood"], ["probe", "scan"]]
    pool = leave_types_out(x_tr, tr_labels, x_val, val_labels, novelty_tr, novelty_val, held, train_margin)
    assert seen_types == [{2.0, 3.0}, {1.0}]  # each classifier trained without its fold's types
    groups, count = np.unique(pool.groups, return_counts=True)
    expected = {
        "normal": 40,  # the 20 validation normals, once per fold
        "flood (unseen)": 16,  # every flood record, training and validation part
        "probe (unseen)": 14,
        "scan (unseen)": 20,
        "flood (seen)": 4,  # only the validation part's records of the kept types
        "probe (seen)": 3,
        "scan (seen)": 5,
    }
    assert dict(zip(groups.tolist(), count.tolist())) == expected
    assert pool.held_out == held and set(pool.fold.tolist()) == {0, 1}
    unseen = np.char.endswith(pool.groups, "(unseen)")
    seen = np.char.endswith(pool.groups, "(seen)")
    assert np.all(pool.margin[unseen] < 0) and np.all(pool.margin[seen] > 0)  # blind to held-out types
    for f in (0, 1):  # the classifier score is a robust z on that fold's validation normals
        normals = (pool.fold == f) & (pool.groups == "normal")
        assert np.median(pool.classifier[normals]) == pytest.approx(0.0)
    # the novelty scores travel with their records
    flood_val = np.flatnonzero(val_labels == "flood")
    assert set(novelty_val[flood_val]) <= set(pool.novelty[pool.groups == "flood (seen)"])
    np.testing.assert_allclose(pool.score(0.5), pool.novelty + 0.5 * pool.classifier)
    with pytest.raises(ValueError, match="expected 38 training-attack and 32 validation novelty scores"):
        leave_types_out(x_tr, tr_labels, x_val, val_labels, novelty_tr[:5], novelty_val, held, train_margin)


def test_pool_metrics_count_unseen_and_seen_types_alike() -> None:
    groups = np.array(
        ["normal"] * 10 + ["a (unseen)"] * 10 + ["b (unseen)"] * 20 + ["a (seen)"] * 10 + ["c (seen)"]
    )
    alarms = np.zeros(len(groups), bool)
    alarms[:2] = True  # 2 of 10 normals
    alarms[10:15] = True  # half of a (unseen)
    alarms[20:40] = True  # all of b (unseen)
    alarms[40:] = True  # all seen
    m = pool_metrics(alarms, groups)
    assert m["false_positive_rate"] == pytest.approx(0.2)
    assert m["unseen_detection_rate"] == pytest.approx(25 / 30)
    assert m["unseen_detection_rate_type_mean"] == pytest.approx(0.75)
    assert m["seen_detection_rate"] == 1.0 and m["seen_detection_rate_type_mean"] == 1.0  # c: too few
    assert m["type_balanced_accuracy"] == pytest.approx((0.8 + (0.5 + 1.0 + 1.0) / 3) / 2)
