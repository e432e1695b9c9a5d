"""Streaming metrics against scikit-learn: random data fed in uneven batches must give sklearn's value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn import metrics as skm

import chainrule as cr
from chainrule.train import metrics as crm

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:sklearn")  # sklearn's notes on absent labels


def _stream(metric: crm.Metric, output: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> float:
    """Feed (output, target) in uneven batches (some empty), alternating Tensors and arrays; then compute."""
    metric.reset()
    n = len(output)
    cuts = np.sort(rng.integers(0, n + 1, size=rng.integers(1, 6)))
    for i, idx in enumerate(np.split(np.arange(n), cuts)):
        o, t = output[idx], target[idx]
        if i % 2:
            o, t = cr.tensor(o), cr.tensor(t)
        metric.update(o, t)
    return metric.compute()


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def _prf(y: np.ndarray, pred: np.ndarray, average: str) -> dict[str, float]:
    kw = {"average": average, "zero_division": 0}
    return {
        "precision": skm.precision_score(y, pred, **kw),
        "recall": skm.recall_score(y, pred, **kw),
        "f1": skm.f1_score(y, pred, **kw),
    }


CLASSES = {"precision": crm.Precision, "recall": crm.Recall, "f1": crm.F1}


# --------------------------------------------------------------------------- classification
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 80), c=st.integers(2, 6))
def test_multiclass_matches_sklearn(seed: int, n: int, c: int) -> None:
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((n, c)).astype(np.float32)
    y = rng.integers(0, c, n)
    pred = out.argmax(axis=1)
    assert _stream(crm.Accuracy(), out, y, rng) == pytest.approx(skm.accuracy_score(y, pred), rel=1e-12)
    assert _stream(crm.Accuracy(average="macro"), out, y, rng) == pytest.approx(
        skm.balanced_accuracy_score(y, pred), rel=1e-12
    )
    for average in ("macro", "weighted", "micro"):
        expected = _prf(y, pred, average)
        for name, cls in CLASSES.items():
            got = _stream(cls(average=average), out, y, rng)
            assert got == pytest.approx(expected[name], rel=1e-12, abs=1e-15), (name, average)
    # The plain names are binary (positive class 1) for two classes, macro above.
    plain = _prf(y, pred, "binary" if c == 2 else "macro")
    for name in CLASSES:
        assert _stream(crm.get_metric(name), out, y, rng) == pytest.approx(plain[name], rel=1e-12, abs=1e-15)


@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 80),
    column=st.booleans(),
    float_target=st.booleans(),
)
def test_binary_logits_match_sklearn(seed: int, n: int, column: bool, float_target: bool) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(n).astype(np.float32)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]  # both classes, for ROC-AUC
    pred = (logits > 0).astype(int)
    out = logits[:, None] if column else logits
    target = y.astype(np.float32) if float_target else y
    assert _stream(crm.Accuracy(), out, target, rng) == pytest.approx(skm.accuracy_score(y, pred), rel=1e-12)
    expected = _prf(y, pred, "binary")
    for name, cls in CLASSES.items():
        for average in ("auto", "binary"):
            assert _stream(cls(average=average), out, target, rng) == pytest.approx(expected[name], abs=1e-15)
        assert _stream(cls(average="macro"), out, target, rng) == pytest.approx(
            _prf(y, pred, "macro")[name], abs=1e-15
        )
    auc = skm.roc_auc_score(y, _sigmoid(logits))
    assert _stream(crm.ROCAUC(), out, target, rng) == pytest.approx(auc, rel=1e-12)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(6, 80), c=st.integers(2, 6))
def test_roc_auc_matches_sklearn(seed: int, n: int, c: int) -> None:
    rng = np.random.default_rng(seed)
    out = (rng.standard_normal((n, c)) * 2).astype(np.float32)
    y = rng.integers(0, c, n)
    y[:c] = np.arange(c)  # every class present
    rng.shuffle(y)
    probs = _softmax(out)
    if c == 2:
        expected = {"macro": skm.roc_auc_score(y, probs[:, 1])}
    else:
        expected = {
            average: skm.roc_auc_score(y, probs, multi_class="ovr", average=average)
            for average in ("macro", "weighted")
        }
    for average, value in expected.items():
        assert _stream(crm.ROCAUC(average=average), out, y, rng) == pytest.approx(value, rel=1e-12)


def test_roc_auc_ties_match_sklearn() -> None:
    # Few distinct scores: ties must count half, as in sklearn's trapezoid rule.
    rng = np.random.default_rng(3)
    logits = rng.integers(-2, 3, 500).astype(np.float32)
    y = (rng.random(500) < _sigmoid(logits)).astype(int)
    assert _stream(crm.ROCAUC(), logits, y, rng) == pytest.approx(skm.roc_auc_score(y, logits), rel=1e-12)
    out = rng.integers(0, 3, (500, 4)).astype(np.float32)
    y = rng.integers(0, 4, 500)
    expected = skm.roc_auc_score(y, _softmax(out), multi_class="ovr")
    assert _stream(crm.ROCAUC(), out, y, rng) == pytest.approx(expected, rel=1e-12)


def test_class_axis_one_and_probability_targets() -> None:
    rng = np.random.default_rng(1)
    out = rng.standard_normal((8, 4, 5)).astype(np.float32)  # (N, C, L), as cross_entropy takes it
    y = rng.integers(0, 4, (8, 5))
    flat_out, flat_y = np.moveaxis(out, 1, -1).reshape(-1, 4), y.reshape(-1)
    expected = skm.f1_score(flat_y, flat_out.argmax(1), average="macro")
    assert _stream(crm.F1(), out, y, rng) == pytest.approx(expected, rel=1e-12)
    # One-hot / probability targets of the output's shape are read by argmax.
    probs = _softmax(rng.standard_normal((30, 3)))
    logits = rng.standard_normal((30, 3)).astype(np.float32)
    expected = skm.accuracy_score(probs.argmax(1), logits.argmax(1))
    assert _stream(crm.Accuracy(), logits, probs, rng) == pytest.approx(expected)


def test_zero_division_and_absent_classes_follow_sklearn() -> None:
    rng = np.random.default_rng(0)
    # Never predicts the positive class: precision is 0/0 -> 0.0, recall 0, F1 0.
    logits = -np.ones(10, dtype=np.float32)
    y = np.array([0, 1] * 5)
    for name, value in _prf(y, np.zeros(10, int), "binary").items():
        assert value == 0.0
        assert _stream(CLASSES[name](), logits, y, rng) == 0.0
    # Class 3 of 5 appears neither in targets nor predictions: the macro mean skips it, as sklearn does.
    out = np.eye(5, dtype=np.float32)[[0, 1, 2, 4, 0, 1, 2, 2, 1]]
    y = np.array([0, 1, 2, 4, 1, 1, 0, 2, 4])
    expected = _prf(y, out.argmax(1), "macro")
    for name, cls in CLASSES.items():
        assert _stream(cls(), out, y, rng) == pytest.approx(expected[name], rel=1e-12)
    # A class predicted but never a target: recall 0 for it, precision 0.
    y[y == 4] = 0
    expected = _prf(y, out.argmax(1), "macro")
    for name, cls in CLASSES.items():
        assert _stream(cls(), out, y, rng) == pytest.approx(expected[name], rel=1e-12)


def test_roc_auc_needs_both_classes() -> None:
    metric = crm.ROCAUC()
    metric.update(np.array([0.3, -1.0, 2.0]), np.array([1, 1, 1]))
    with pytest.raises(ValueError, match="ROC-AUC needs both classes"):
        metric.compute()
    metric.update(np.array([0.5]), np.array([0]))  # the next batch brings class 0: now defined
    assert metric.compute() == pytest.approx(skm.roc_auc_score([1, 1, 1, 0], [0.3, -1.0, 2.0, 0.5]))
    multi = crm.ROCAUC()
    multi.update(np.zeros((4, 3), np.float32), np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match=r"classes \[2\] of 3 never appear"):
        multi.compute()
    diverged = crm.ROCAUC()
    diverged.update(np.array([np.nan, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="NaN"):
        diverged.compute()


def test_roc_auc_keeps_copies_and_computes_twice() -> None:
    rng = np.random.default_rng(5)
    out = rng.standard_normal((40, 3))
    y = np.arange(40) % 3
    expected = skm.roc_auc_score(y, _softmax(out), multi_class="ovr")
    metric = crm.ROCAUC()
    for k in range(0, 40, 7):
        batch_out, batch_y = out[k : k + 7].copy(), y[k : k + 7].copy()
        metric.update(batch_out, batch_y)
        batch_out[:] = 0.0  # the caller reuses its buffers: the metric must not see it
        batch_y[:] = 0
    assert metric.compute() == pytest.approx(expected, rel=1e-12)
    assert metric.compute() == pytest.approx(expected, rel=1e-12)
    metric.update(out[:3], y[:3])  # more data after a compute keeps streaming
    expected = skm.roc_auc_score(np.r_[y, y[:3]], _softmax(np.r_[out, out[:3]]), multi_class="ovr")
    assert metric.compute() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("output", "target", "message"),
    [
        (np.zeros((4, 3)), np.zeros(5, int),
            r"target of shape \(5,\) does not match output of shape \(4, 3\)"),
        (np.zeros((4, 3)), np.zeros((4, 2)),
            r"target of shape \(4, 2\) does not match output of shape \(4, 3\)"),
        (np.zeros(4), np.zeros((4, 2)),
            r"target of shape \(4, 2\) does not match binary output of shape \(4,\)"),
        (np.zeros((4, 1)), np.zeros(3),
            r"target of shape \(3,\) does not match binary output of shape \(4, 1\)"),
        (np.zeros(3), np.array([0.0, 0.5, 1.0]), r"targets must be class indices .* got the value 0\.5"),
        (np.zeros(3), np.array([0, 2, 1]), r"target class 2 is out of range.*expected 0 or 1"),
        (np.zeros((3, 4)), np.array([0, -1, 1]), r"target class -1 is out of range.*0\.\.3"),
        (np.zeros(()), np.zeros(()), r"output must have a batch axis, got a 0-d output"),
    ],
)
def test_classification_bad_input(output: np.ndarray, target: np.ndarray, message: str) -> None:
    for metric in (crm.Accuracy(), crm.F1(), crm.ROCAUC()):
        with pytest.raises(ValueError, match=rf"^{metric.name}: {message}"):
            metric.update(output, target)


def test_classification_state_errors() -> None:
    metric = crm.Precision()
    with pytest.raises(ValueError, match="precision: compute\\(\\) called before any samples"):
        metric.compute()
    metric.update(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"this batch has 4 classes but earlier batches had 3"):
        metric.update(np.zeros((2, 4)), np.array([0, 1]))
    metric.reset()
    with pytest.raises(ValueError, match="before any samples"):
        metric.compute()
    with pytest.raises(ValueError, match="average='binary' needs a two-class output"):
        crm.Recall(average="binary").update(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match="average must be one of"):
        crm.F1(average="samples")
    with pytest.raises(ValueError, match="average must be"):
        crm.Accuracy(average="binary")
    with pytest.raises(TypeError, match="dtype <U1"):
        crm.Accuracy().update(np.zeros(2), np.array(["a", "b"]))


# --------------------------------------------------------------------------- regression
REGRESSION = {
    "mae": (crm.MAE, skm.mean_absolute_error),
    "mse": (crm.MSE, skm.mean_squared_error),
    "rmse": (crm.RMSE, skm.root_mean_squared_error),
    "r2": (crm.R2, skm.r2_score),
}


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 60), k=st.sampled_from([0, 1, 3]))
def test_regression_matches_sklearn(seed: int, n: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (n, k) if k else (n,)
    y = rng.standard_normal(shape) * rng.uniform(0.1, 10, size=shape[1:]) + rng.normal(size=shape[1:]) * 5
    out = y + rng.standard_normal(shape)
    for name, (cls, sk) in REGRESSION.items():
        assert _stream(cls(), out, y, rng) == pytest.approx(sk(y, out), rel=1e-9), name


def test_regression_float32_column_against_flat_target() -> None:
    rng = np.random.default_rng(2)
    y = rng.standard_normal(50).astype(np.float32)
    out = (y + 0.3 * rng.standard_normal(50)).astype(np.float32)[:, None]  # (N, 1) model output, (N,) target
    for name, (cls, sk) in REGRESSION.items():
        assert _stream(cls(), out, y, rng) == pytest.approx(sk(y, out[:, 0]), rel=1e-5), name


def test_r2_large_offset_is_stable() -> None:
    rng = np.random.default_rng(4)
    y = 1e8 + rng.standard_normal(1000)
    out = y + 0.5 * rng.standard_normal(1000)
    assert _stream(crm.R2(), out, y, rng) == pytest.approx(skm.r2_score(y, out), rel=1e-6)


def test_r2_edge_cases_follow_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = np.full(7, 0.5)  # constant target: SST is zero
    assert _stream(crm.R2(), y.copy(), y, rng) == skm.r2_score(y, y.copy()) == 1.0
    assert _stream(crm.R2(), y + 1, y, rng) == skm.r2_score(y, y + 1) == 0.0
    # With 0.1 sklearn's mean rounds off 0.1, SST comes out ~1e-34 and r2_score gives ~-5e33;
    # the metric sees the constant column exactly and keeps sklearn's convention (0.0).
    tenth = np.full(7, 0.1)
    assert _stream(crm.R2(), tenth + 1, tenth, rng) == 0.0
    assert _stream(crm.R2(), tenth.copy(), tenth, rng) == 1.0
    # Multi-output: a constant column and a fitted one, averaged uniformly.
    y2 = np.stack([np.full(6, 2.0), np.arange(6.0)], axis=1)
    out2 = y2 + np.array([0.5, 0.0]) + np.array([[0.0, 0.1]] * 3 + [[0.0, -0.1]] * 3)
    assert _stream(crm.R2(), out2, y2, rng) == pytest.approx(skm.r2_score(y2, out2), rel=1e-12)
    one = crm.R2()
    one.update(np.array([1.0]), np.array([2.0]))
    assert math.isnan(one.compute())  # sklearn: undefined (NaN) with fewer than two samples


def test_regression_bad_input() -> None:
    for cls, _ in REGRESSION.values():
        metric = cls()
        with pytest.raises(ValueError, match=rf"{metric.name}: compute\(\) called before any samples"):
            metric.compute()
        with pytest.raises(ValueError, match=r"target of shape \(4, 2\) does not match output of shape \(4,"):
            metric.update(np.zeros((4, 3)), np.zeros((4, 2)))
        with pytest.raises(ValueError, match=r"target of shape \(4,\) does not match output of shape \(4, 4"):
            metric.update(np.zeros((4, 4)), np.zeros(4))
    rmse = crm.RMSE()
    rmse.update(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="2 outputs per sample but earlier batches had 3"):
        rmse.update(np.zeros((2, 2)), np.ones((2, 2)))


# --------------------------------------------------------------------------- registry
def test_get_metric_names_and_instances() -> None:
    for name in ("accuracy", "precision", "recall", "f1", "precision_macro", "recall_macro", "f1_macro",
                 "roc_auc", "mae", "rmse", "r2"):
        metric = crm.get_metric(name)
        assert isinstance(metric, crm.Metric)
        assert metric.name == name
    for name, factory in crm.METRICS.items():
        assert factory().name == name
    mine = crm.F1(average="weighted")
    assert crm.get_metric(mine) is mine
    assert isinstance(crm.get_metric(crm.RMSE), crm.RMSE)
    assert crm.get_metric("Accuracy").name == "accuracy"
    with pytest.raises(ValueError, match=r"unknown metric 'auroc'; valid names: accuracy, .*r2"):
        crm.get_metric("auroc")
    with pytest.raises(TypeError, match="expected a metric name or a Metric, got int"):
        crm.get_metric(3)
    better = [crm.get_metric(n).higher_is_better for n in ("accuracy", "roc_auc", "r2", "mae", "mse", "rmse")]
    assert better == [True, True, True, False, False, False]


def test_tensors_that_require_grad_are_read_without_a_graph() -> None:
    logits = cr.tensor([[2.0, -1.0, 0.0], [0.0, 1.0, 3.0]], requires_grad=True)
    metric = crm.Accuracy()
    metric.update(logits, cr.tensor([0, 1]))
    assert metric.compute() == 0.5
    assert logits.grad is None
