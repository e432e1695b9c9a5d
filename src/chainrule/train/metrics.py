"""Metrics streamed over batches: accuracy, precision, recall, F1, ROC-AUC, MAE, MSE, RMSE, R2.

A :class:`Metric` keeps running state (a confusion matrix, sums and counts,
or for ROC-AUC the scores themselves) so that ``compute()`` after any number
of ``update(output, target)`` calls gives exactly the value scikit-learn would
give on everything seen since ``reset()``, however the data was cut into
batches. Updates are a handful of whole-batch NumPy calls.

Output conventions (what a model returns, as a chainrule Tensor or an array):

- classifiers: ``(N, C)`` with ``C >= 2`` are logits or scores over classes
  (prediction = argmax; classes may also sit on axis 1 of ``(N, C, d1, ...)``
  as in ``cross_entropy``); ``(N,)`` or ``(N, 1)`` are binary logits
  (prediction = ``logit > 0``). Targets are class indices (integers, or whole
  floats such as 0./1.) of the output's shape without the class axis, or, for
  ``(N, C)``, one-hot/probability rows of the output's own shape (read by
  argmax, as ``cross_entropy`` accepts them).
- regression: outputs and targets are compared elementwise and must have the
  same shape (``(N, 1)`` against ``(N,)`` is accepted).

Averaging of precision/recall/F1: ``"binary"`` scores the positive class 1;
``"macro"`` is the unweighted mean over classes; ``"weighted"`` weighs each
class by its support; ``"micro"`` pools all classes (= accuracy for
single-label data). The plain names (``"precision"``, ``Precision()``) use
``average="auto"``: **binary when the output describes two classes** —
``(N,)``, ``(N, 1)`` or ``(N, 2)`` — and macro when it has ``C > 2`` columns.
As in scikit-learn, the macro and weighted means skip classes that appear in
neither the targets nor the predictions, and a ratio with a zero denominator
counts as 0.0 (``zero_division=0``).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.tensor import Tensor

__all__ = [
    "Metric",
    "Accuracy",
    "Precision",
    "Recall",
    "F1",
    "ROCAUC",
    "MAE",
    "MSE",
    "RMSE",
    "R2",
    "METRICS",
    "get_metric",
]


def _array(x: Any) -> np.ndarray:
    """The ndarray behind a chainrule Tensor, an array, or anything array-like (no copy when possible)."""
    if type(x) is np.ndarray:
        return x
    if isinstance(x, Tensor):
        x = x._array
    if devices.is_device_array(x):  # metrics count on the host: an explicit copy (the Trainer makes one
        return devices.to_host(x)  # per batch for all its metrics)
    return np.asarray(x)


class Metric(abc.ABC):
    """A value accumulated over batches: ``reset()``, ``update(output, target)`` per batch, ``compute()``.

    ``name`` is the key under which training logs the value (``accuracy``,
    ``val_accuracy``, ...); ``higher_is_better`` tells callbacks which way is
    better when they are asked to pick a mode on their own.
    """

    name: str = "metric"
    higher_is_better: bool = True

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget everything seen so far."""

    @abc.abstractmethod
    def update(self, output: Any, target: Any) -> None:
        """Add one batch: the model's ``output`` and the ``target`` (Tensors or NumPy arrays)."""

    @abc.abstractmethod
    def compute(self) -> float:
        """The metric over every sample given to ``update`` since the last ``reset``."""

    def _empty(self) -> ValueError:
        return ValueError(f"{self.name}: compute() called before any samples were given to update()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


# --------------------------------------------------------------------------- classification inputs
def _class_indices(name: str, t: np.ndarray, num_classes: int) -> np.ndarray:
    """Targets as a flat intp array of class indices in [0, num_classes), or a clear error."""
    kind = t.dtype.kind
    if kind in "iu":
        idx = t.astype(np.intp, copy=False).reshape(-1)
    elif kind == "b":
        idx = t.astype(np.intp).reshape(-1)
    elif kind == "f":
        with np.errstate(invalid="ignore"):
            idx = t.astype(np.intp).reshape(-1)
        flat = t.reshape(-1)
        if not np.array_equal(idx, flat):
            bad = flat[idx != flat][0]
            raise ValueError(
                f"{name}: targets must be class indices (whole numbers such as 0 and 1), got the value {bad}"
            )
    else:
        raise TypeError(f"{name}: targets must be integer class indices or 0/1 floats, got dtype {t.dtype}")
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            expected = "0 or 1 (binary output)" if num_classes == 2 else f"0..{num_classes - 1}"
            raise ValueError(
                f"{name}: target class {bad} is out of range for an output with {num_classes} "
                f"classes (expected {expected})"
            )
    return idx


def _drop_unit_axis1(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape[:1] + shape[2:] if len(shape) >= 2 and shape[1] == 1 else shape


def _classification(name: str, output: Any, target: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Read one batch of a classifier: ``(scores, target indices, num_classes)``.

    Binary outputs come back as flat logits ``(M,)`` with ``num_classes == 2``;
    multi-class outputs as ``(M, C)`` rows (class axis moved last, other axes
    flattened) with ``num_classes == C``. Targets come back flat, checked.
    """
    out, t = _array(output), _array(target)
    shape, tshape = out.shape, t.shape
    if out.ndim == 0:
        raise ValueError(f"{name}: output must have a batch axis, got a 0-d output (target shape {tshape})")
    if out.ndim == 1 or shape[1] == 1:
        # Binary logits: (N,) and (N, 1) (and their targets) are the same thing.
        if _drop_unit_axis1(shape) != _drop_unit_axis1(tshape):
            raise ValueError(
                f"{name}: target of shape {tshape} does not match binary output of shape {shape} "
                f"(expected 0/1 targets of shape {_drop_unit_axis1(shape)})"
            )
        return out.reshape(-1), _class_indices(name, t, 2), 2
    c = shape[1]
    index_shape = shape[:1] + shape[2:]
    if tshape == index_shape:
        idx = _class_indices(name, t, c)
    elif tshape == shape:
        # One-hot or probability targets (as cross_entropy accepts them): the class is the argmax.
        idx = t.argmax(axis=1).reshape(-1)
    else:
        raise ValueError(
            f"{name}: target of shape {tshape} does not match output of shape {shape} "
            f"(expected class indices of shape {index_shape} for {c} classes)"
        )
    if out.ndim > 2:
        out = np.moveaxis(out, 1, -1).reshape(-1, c)
    return out, idx, c


# --------------------------------------------------------------------------- confusion-matrix family
class _ConfusionMetric(Metric):
    """State: the confusion matrix ``cm[true, predicted]``, grown with one ``np.bincount`` per batch."""

    _base: str = ""
    _averages: tuple[str, ...] = ("auto", "binary", "macro", "weighted", "micro")

    def __init__(self, average: str = "auto", name: str | None = None) -> None:
        if average not in self._averages:
            raise ValueError(
                f"{type(self).__name__}: average must be one of {', '.join(map(repr, self._averages))}, "
                f"got {average!r}"
            )
        self.average = average
        self.name = name or (self._base if average == "auto" else f"{self._base}_{average}")
        self.reset()

    def reset(self) -> None:
        self._cm: np.ndarray | None = None

    def update(self, output: Any, target: Any) -> None:
        out, idx, c = _classification(self.name, output, target)
        if self.average == "binary" and c != 2:
            raise ValueError(
                f"{self.name}: average='binary' needs a two-class output ((N,), (N, 1) or (N, 2)), "
                f"got {c} classes; use average='macro'"
            )
        pred = out > 0 if out.ndim == 1 else out.argmax(axis=1)
        # Flattened index true * C + predicted: one bincount fills the whole C x C matrix.
        counts = np.bincount(idx * c + pred, minlength=c * c)
        cm = self._cm
        if cm is None:
            self._cm = counts
        elif cm.size != counts.size:
            raise ValueError(
                f"{self.name}: this batch has {c} classes but earlier batches had {math.isqrt(cm.size)}"
            )
        else:
            cm += counts

    def _matrix(self) -> np.ndarray:
        cm = self._cm
        if cm is None or not cm.any():
            raise self._empty()
        c = math.isqrt(cm.size)
        return cm.reshape(c, c)

    @abc.abstractmethod
    def _per_class(self, tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
        """This metric's score for every class from true positives and predicted/actual counts."""

    def compute(self) -> float:
        cm = self._matrix()
        tp = np.diag(cm).astype(np.float64)
        predicted = cm.sum(axis=0).astype(np.float64)  # column sums: how often each class was predicted
        actual = cm.sum(axis=1).astype(np.float64)  # row sums: each class's support
        average = self.average
        if average == "auto":
            average = "binary" if cm.shape[0] == 2 else "macro"
        if average == "binary":
            return float(self._per_class(tp[1:], predicted[1:], actual[1:])[0])
        if average == "micro":
            total = tp.sum(keepdims=True), predicted.sum(keepdims=True), actual.sum(keepdims=True)
            return float(self._per_class(*total)[0])
        present = (predicted + actual) > 0  # scikit-learn averages over labels seen in targets or predictions
        scores = self._per_class(tp[present], predicted[present], actual[present])
        if average == "macro":
            return float(scores.mean())
        weights = actual[present]
        return float(scores @ weights / weights.sum())


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den == 0 (scikit-learn's ``zero_division=0``)."""
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


class Precision(_ConfusionMetric):
    """Precision ``tp / (tp + fp)``: of the samples predicted as a class, the share that are."""

    _base = "precision"

    def _per_class(self, tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
        return _ratio(tp, predicted)


class Recall(_ConfusionMetric):
    """Recall ``tp / (tp + fn)``: of the samples of a class, the share predicted as it."""

    _base = "recall"

    def _per_class(self, tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
        return _ratio(tp, actual)


class F1(_ConfusionMetric):
    """F1, the harmonic mean of precision and recall: ``2 tp / (2 tp + fp + fn)`` per class."""

    _base = "f1"

    def _per_class(self, tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
        return _ratio(2.0 * tp, predicted + actual)


class Accuracy(_ConfusionMetric):
    """Share of correct predictions (``average="micro"``, the default, also right for binary outputs).

    ``average="macro"`` is balanced accuracy: the mean recall over the classes
    present in the targets (scikit-learn's ``balanced_accuracy_score``).
    """

    _base = "accuracy"
    _averages = ("micro", "macro")

    def __init__(self, average: str = "micro", name: str | None = None) -> None:
        super().__init__(average, name or ("accuracy" if average == "micro" else "balanced_accuracy"))

    def _per_class(self, tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
        return _ratio(tp, actual)  # per-class accuracy is the class's recall

    def compute(self) -> float:
        cm = self._matrix()
        if self.average == "micro":
            return float(np.trace(cm) / cm.sum())
        actual = cm.sum(axis=1).astype(np.float64)
        present = actual > 0  # balanced accuracy averages over the classes present in the targets
        tp, actual = np.diag(cm)[present].astype(np.float64), actual[present]
        return float(self._per_class(tp, actual, actual).mean())


# --------------------------------------------------------------------------- ROC-AUC
def _binary_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic, ties counted half (= the trapezoid rule)."""
    n = scores.size
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    # Tied scores share the mean of the ranks they span: group g covers sorted slots [start, end).
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], n]
    ranks = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    n_pos = int(np.count_nonzero(positive))
    n_neg = n - n_pos
    rank_sum = ranks[positive[order]].sum()
    # U = (sum of positive ranks) - n_pos (n_pos + 1) / 2 counts (positive, negative) pairs ordered right.
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64)  # a copy: the stored scores must not alias the caller's batch
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class ROCAUC(Metric):
    """Area under the ROC curve; keeps every score since ``reset()`` (ROC-AUC cannot be summed per batch).

    Binary outputs ``(N,)``/``(N, 1)`` are scored by their logit (the sigmoid
    is monotone, so the area is that of ``sigmoid(logit)`` without its float
    saturation), ``(N, 2)`` by ``logit1 - logit0`` (monotone in the softmax
    probability of class 1). ``(N, C)`` with ``C > 2`` is one-vs-rest on the
    softmax probabilities, averaged over classes — ``roc_auc_score(y,
    softmax(out), multi_class="ovr", average=average)``. Outputs are therefore
    logits (or log-probabilities); apply no softmax before passing them.
    """

    name = "roc_auc"

    def __init__(self, average: str = "macro", name: str | None = None) -> None:
        if average not in ("macro", "weighted"):
            raise ValueError(f"ROCAUC: average must be 'macro' or 'weighted', got {average!r}")
        self.average = average
        self.name = name or ("roc_auc" if average == "macro" else f"roc_auc_{average}")
        self.reset()

    def reset(self) -> None:
        self._scores: list[np.ndarray] = []
        self._targets: list[np.ndarray] = []
        self._num_classes = 0

    def update(self, output: Any, target: Any) -> None:
        out, idx, c = _classification(self.name, output, target)
        if self._num_classes and c != self._num_classes:
            raise ValueError(
                f"{self.name}: this batch has {c} classes but earlier batches had {self._num_classes}"
            )
        self._num_classes = c
        if out.ndim == 1:
            score = out.astype(np.float64)
        elif c == 2:
            score = np.subtract(out[:, 1], out[:, 0], dtype=np.float64)
        else:
            score = _softmax(out)
        self._scores.append(score)
        self._targets.append(np.array(idx))  # a copy: idx may be a view of the caller's target

    def compute(self) -> float:
        if not self._scores:
            raise self._empty()
        if len(self._scores) > 1:  # join once; later compute() calls reuse the joined arrays
            self._scores = [np.concatenate(self._scores)]
            self._targets = [np.concatenate(self._targets)]
        scores, targets = self._scores[0], self._targets[0]
        n, c = targets.size, self._num_classes
        if n == 0:
            raise self._empty()
        if np.isnan(scores).any():
            raise ValueError(f"{self.name}: the outputs contain NaN (has training diverged?)")
        if scores.ndim == 1:
            n_pos = int(np.count_nonzero(targets))
            if n_pos in (0, n):
                raise ValueError(
                    f"{self.name}: ROC-AUC needs both classes among the targets, but all {n} targets seen "
                    f"since reset() are class {int(targets[0])}; accumulate more batches (e.g. the whole "
                    "validation set) before compute()"
                )
            return _binary_auc(scores, targets == 1)
        support = np.bincount(targets, minlength=c)
        missing = np.flatnonzero(support == 0)
        if missing.size:
            raise ValueError(
                f"{self.name}: one-vs-rest ROC-AUC needs every class among the targets, but classes "
                f"{missing.tolist()} of {c} never appear in the {n} targets seen since reset()"
            )
        aucs = np.array([_binary_auc(scores[:, k], targets == k) for k in range(c)])
        if self.average == "macro":
            return float(aucs.mean())
        return float(aucs @ support / n)


# --------------------------------------------------------------------------- regression
def _regression(name: str, output: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """One regression batch as float arrays of the same shape ``(N, K)`` (K outputs per sample)."""
    out, t = _array(output), _array(target)
    if out.shape != t.shape:
        # (N, 1) against (N,) is the one mismatch accepted: same numbers, one column.
        if _drop_unit_axis1(out.shape) != _drop_unit_axis1(t.shape) or max(out.ndim, t.ndim) != 2:
            raise ValueError(f"{name}: target of shape {t.shape} does not match output of shape {out.shape}")
        t = t.reshape(out.shape)
    if out.dtype.kind not in "fiub" or t.dtype.kind not in "fiub":
        raise TypeError(f"{name}: expected numeric outputs and targets, got {out.dtype} and {t.dtype}")
    rows = out.shape[0] if out.ndim else 1
    cols = math.prod(out.shape[1:])
    return out.reshape(rows, cols), t.reshape(rows, cols)


class MAE(Metric):
    """Mean absolute error over all elements (= scikit-learn's uniform average over outputs)."""

    name = "mae"
    higher_is_better = False

    def __init__(self, name: str | None = None) -> None:
        if name:
            self.name = name
        self.reset()

    def reset(self) -> None:
        self._sum = 0.0
        self._count = 0

    def update(self, output: Any, target: Any) -> None:
        out, t = _regression(self.name, output, target)
        err = np.subtract(out, t, dtype=np.float64)
        self._sum += float(np.abs(err, out=err).sum())
        self._count += err.size

    def compute(self) -> float:
        if not self._count:
            raise self._empty()
        return self._sum / self._count


class MSE(MAE):
    """Mean squared error over all elements."""

    name = "mse"

    def update(self, output: Any, target: Any) -> None:
        out, t = _regression(self.name, output, target)
        err = np.subtract(out, t, dtype=np.float64)
        self._sum += float(np.einsum("ij,ij->", err, err))
        self._count += err.size


class RMSE(Metric):
    """Root mean squared error; with several outputs per sample, the mean of each output's RMSE.

    That is scikit-learn's ``root_mean_squared_error`` (``multioutput="uniform_average"``);
    for one output per sample it is simply ``sqrt(mean((output - target) ** 2))``.
    """

    name = "rmse"
    higher_is_better = False

    def __init__(self, name: str | None = None) -> None:
        if name:
            self.name = name
        self.reset()

    def reset(self) -> None:
        self._sse: np.ndarray | None = None  # per output: sum of squared errors
        self._rows = 0

    def _check_columns(self, cols: int, have: np.ndarray | None) -> None:
        if have is not None and have.size != cols:
            raise ValueError(f"{self.name}: this batch has {cols} outputs per sample but earlier batches had "
                             f"{have.size}")

    def update(self, output: Any, target: Any) -> None:
        out, t = _regression(self.name, output, target)
        self._check_columns(out.shape[1], self._sse)
        err = np.subtract(out, t, dtype=np.float64)
        sse = np.einsum("ij,ij->j", err, err)
        self._sse = sse if self._sse is None else self._sse + sse
        self._rows += out.shape[0]

    def compute(self) -> float:
        if not self._rows:
            raise self._empty()
        return float(np.sqrt(self._sse / self._rows).mean())


class R2(RMSE):
    """Coefficient of determination ``1 - SSE / SST``, averaged over outputs (scikit-learn's ``r2_score``).

    SST is accumulated with Chan's parallel update of per-output means and
    squared deviations, so large offsets in the targets do not cancel away.
    scikit-learn's conventions: a constant target gives 1.0 when predicted
    exactly and 0.0 otherwise; fewer than two samples give NaN.
    """

    name = "r2"
    higher_is_better = True

    def reset(self) -> None:
        super().reset()
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None  # per output: sum of squared deviations from the mean (SST)
        self._lo: np.ndarray | None = None
        self._hi: np.ndarray | None = None

    def update(self, output: Any, target: Any) -> None:
        out, t = _regression(self.name, output, target)
        self._check_columns(out.shape[1], self._sse)
        nb = out.shape[0]
        if nb == 0:
            return
        t = t.astype(np.float64)
        err = np.subtract(out, t, dtype=np.float64)
        sse = np.einsum("ij,ij->j", err, err)
        mean_b = t.mean(axis=0)
        dev = t - mean_b
        m2_b = np.einsum("ij,ij->j", dev, dev)
        lo, hi = t.min(axis=0), t.max(axis=0)
        n = self._rows
        if self._sse is None:
            self._sse, self._mean, self._m2, self._lo, self._hi = sse, mean_b, m2_b, lo, hi
        else:
            # Chan et al.: merging (n, mean, M2) with (nb, mean_b, M2_b) adds delta^2 * n * nb / (n + nb).
            delta = mean_b - self._mean
            total = n + nb
            self._sse = self._sse + sse
            self._mean = self._mean + delta * (nb / total)
            self._m2 = self._m2 + m2_b + delta * delta * (n * nb / total)
            self._lo = np.minimum(self._lo, lo)
            self._hi = np.maximum(self._hi, hi)
        self._rows = n + nb

    def compute(self) -> float:
        if not self._rows:
            raise self._empty()
        if self._rows < 2:
            return math.nan
        sse, sst = self._sse, self._m2
        constant = self._lo == self._hi  # exactly zero SST, free of rounding in the running mean
        scores = np.ones_like(sse)
        fit = ~constant & (sse != 0)
        scores[fit] = 1.0 - sse[fit] / sst[fit]
        scores[constant & (sse != 0)] = 0.0
        return float(scores.mean())


# --------------------------------------------------------------------------- registry
METRICS: dict[str, Callable[[], Metric]] = {
    "accuracy": Accuracy,
    "balanced_accuracy": partial(Accuracy, average="macro"),
    "precision": Precision,
    "recall": Recall,
    "f1": F1,
    "precision_macro": partial(Precision, average="macro"),
    "recall_macro": partial(Recall, average="macro"),
    "f1_macro": partial(F1, average="macro"),
    "precision_weighted": partial(Precision, average="weighted"),
    "recall_weighted": partial(Recall, average="weighted"),
    "f1_weighted": partial(F1, average="weighted"),
    "roc_auc": ROCAUC,
    "mae": MAE,
    "mse": MSE,
    "rmse": RMSE,
    "r2": R2,
}


def get_metric(spec: str | Metric | type[Metric]) -> Metric:
    """A Metric from a registered name (see ``METRICS``), a Metric (returned as is) or a Metric class."""
    if isinstance(spec, Metric):
        return spec
    if isinstance(spec, str):
        factory = METRICS.get(spec.lower())
        if factory is None:
            raise ValueError(f"get_metric: unknown metric {spec!r}; valid names: {', '.join(METRICS)}")
        return factory()
    if isinstance(spec, type) and issubclass(spec, Metric):
        return spec()
    raise TypeError(f"get_metric: expected a metric name or a Metric, got {type(spec).__name__}")
