"""Reading learning curves: what went wrong (or right) in a training run, in plain language with numbers.

:func:`overfitting_epoch` finds where validation loss turned up while training
loss still fell; :func:`diagnose` gives one verdict on the whole run (diverged,
learning rate too high or too low, underfitting, overfitting, good fit) with
the evidence and what to try. Both read a :class:`~chainrule.train.history.History`
(``History.diagnose()`` calls :func:`diagnose`). The rules are heuristics
written down in :func:`diagnose`'s docstring, each with its thresholds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from chainrule.train.history import History

__all__ = ["VERDICTS", "Diagnosis", "diagnose", "overfitting_epoch"]

VERDICTS = (
    "diverged",
    "lr_too_high",
    "lr_too_low",
    "underfitting",
    "overfitting",
    "good_fit",
    "not_enough_data",
)

MIN_EPOCHS = 3  # fewer epochs than this say nothing about a trend
EXPLODE_FACTOR = 2.0  # final training loss above this times the first one: exploding
FLIP_FRACTION = 0.5  # this share of sign flips between successive epoch-to-epoch changes: oscillating
SWING = 0.1  # ... with a typical change at least this fraction of the loss level
FLAT_DROP = 0.1  # a relative drop below this over the whole run: the loss barely moved
STEADY = 0.8  # at least this share of epoch-to-epoch changes are decreases: steadily decreasing
HIGH_RATIO = 0.5  # a final training loss above this fraction of the first one is still high
STILL_FALLING = 0.02  # a mean relative drop per epoch above this over the last epochs: still falling
CLOSE_GAP = 0.1  # validation within this relative distance of training loss: close


@dataclass
class Diagnosis:
    """One verdict on a training run (a name from :data:`VERDICTS`), its evidence, and advice.

    ``overfit_epoch`` is the epoch where overfitting began (the epoch of the
    lowest validation loss before a sustained rise) or None; ``evidence``
    holds the numbers the verdict rests on; ``message`` says it in a few
    sentences, with those numbers and what to try. ``str(diagnosis)`` is the message.
    """

    verdict: str
    overfit_epoch: int | None
    evidence: dict[str, float] = field(default_factory=dict)
    message: str = ""

    def __str__(self) -> str:
        return self.message


def _num(x: float) -> str:
    """A loss for a sentence: three significant digits, no exponent for ordinary values."""
    return f"{x:.3g}"


def _series(history: History, key: str) -> np.ndarray | None:
    values = history.history.get(key)
    return None if values is None else np.asarray(values, dtype=np.float64)


def _smooth(v: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average; near the ends the window shrinks to the points that exist."""
    h = window // 2
    c = np.concatenate(([0.0], np.cumsum(v)))
    idx = np.arange(len(v))
    lo = np.maximum(idx - h, 0)
    hi = np.minimum(idx + h + 1, len(v))
    return (c[hi] - c[lo]) / (hi - lo)


def _noise(v: np.ndarray) -> float:
    """Epoch-to-epoch noise (a standard deviation), robust to the curve's trend and to outliers.

    The residual from a 3-point centred average, ``(2 v_i - v_{i-1} - v_{i+1}) / 3``,
    cancels any locally straight trend; for white noise of deviation s it has
    deviation ``s * sqrt(6) / 3``. Its median absolute value times 1.4826 (the
    normal's MAD factor) estimates that deviation without being pulled by a spike.
    """
    if len(v) < 3:
        return 0.0
    r = (2.0 * v[1:-1] - v[:-2] - v[2:]) / 3.0
    return float(1.4826 * np.median(np.abs(r)) / (math.sqrt(6.0) / 3.0))


def _overfit(history: History, patience: int, min_rise: float) -> tuple[int, dict[str, float]] | None:
    """The overfitting epoch and its evidence, or None; see :func:`overfitting_epoch`."""
    val = _series(history, "val_loss")
    if val is None:
        return None
    train = _series(history, "loss")
    keep = np.isfinite(val) if train is None else np.isfinite(val) & np.isfinite(train)
    epochs = np.asarray(history.epochs)[keep]
    v = val[keep]
    n = len(v)
    if n < patience + 2:
        return None
    window = 5 if n >= 15 else 3
    s = _smooth(v, window)
    ms = int(np.argmin(s))
    # the smoothed minimum finds the turn; the raw minimum near it names the epoch
    lo, hi = max(ms - window // 2, 0), min(ms + window // 2 + 1, n)
    m = lo + int(np.argmin(v[lo:hi]))
    if n - 1 - m < patience:
        return None
    base = float(s[ms])
    margin = max(min_rise * abs(base), 2.5 * _noise(v))
    end = float(np.median(v[-patience:]))
    if not end > base + margin:
        return None
    evidence = {
        "overfit_epoch": float(epochs[m]),
        "val_loss_at_best": float(v[m]),
        "val_loss_final": float(v[-1]),
        "val_loss_rise": end - base,
        "rise_margin": margin,
    }
    if train is not None:
        t = train[keep]
        t_end = float(np.median(t[-patience:]))
        if not t_end < t[m]:
            return None  # training loss rose too: not overfitting, something else went wrong
        evidence.update(
            loss_at_best=float(t[m]),
            loss_final=float(t[-1]),
            gap_at_best=float(v[m] - t[m]),
            gap_final=float(v[-1] - t[-1]),
        )
    return int(epochs[m]), evidence


def overfitting_epoch(history: History, patience: int = 3, min_rise: float = 0.05) -> int | None:
    """The epoch where validation loss turned up for good while training loss still fell, or None.

    The turn is the lowest point of the validation loss after a centred moving
    average (3 epochs, 5 from 15 epochs on), pinned to the lowest raw value
    within that window, the epoch ``EarlyStopping(restore_best_weights=True)``
    would go back to. It counts as overfitting only if the rise is sustained
    and beyond noise: at least ``patience`` epochs follow it, the median of
    the last ``patience`` validation losses exceeds the smoothed minimum by
    more than ``min_rise`` of it and by more than 2.5 times the curve's estimated
    epoch-to-epoch noise, and the median of the last ``patience`` training
    losses is below the training loss at the turn. None when there is no
    validation loss, too few epochs, or no such rise. Non-finite epochs are skipped.
    """
    _check_patience("overfitting_epoch", patience)
    if not min_rise >= 0:
        raise ValueError(f"overfitting_epoch: min_rise must be >= 0, got {min_rise!r}")
    found = _overfit(history, patience, min_rise)
    return None if found is None else found[0]


def _check_patience(name: str, patience: int) -> None:
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(f"{name}: patience must be a positive int, got {patience!r}")


def _mean_drop(x: np.ndarray, k: int) -> float:
    """Mean relative drop per epoch over the last ``k`` epochs (positive when falling)."""
    k = min(k, len(x) - 1)
    start, stop = x[-k - 1], x[-1]
    return float((start - stop) / (abs(start) * k)) if start != 0 else 0.0


def diagnose(history: History, patience: int = 3) -> Diagnosis:
    """Judge a training run from its per-epoch losses; the first rule that matches gives the verdict.

    1. ``diverged``: a training loss is NaN or infinite, a validation loss is
       infinite, or the trainer stopped with ``stopped_reason == "diverged"``.
    2. ``not_enough_data``: no ``loss`` recorded, or fewer than 3 epochs.
    3. ``lr_too_high``: the loss explodes (final training loss above 2x the
       first), or oscillates (5+ epochs; at least half of the successive
       epoch-to-epoch changes flip sign, the typical change is at least 10% of
       the loss level, and the least-squares trend over the run falls by less
       than one typical change).
    4. ``lr_too_low``: the training loss barely moved (fell by less than 10% of
       its first value over the run) and fell steadily (at least 80% of the
       epoch-to-epoch changes are decreases, and the second half of the run
       fell by at least a third as much as the first: no levelling off).
    5. ``overfitting``: :func:`overfitting_epoch` finds a turn (validation loss
       rising for ``patience`` epochs beyond noise while training loss falls,
       so the gap grows).
    6. ``underfitting``: the final training loss is still above half of the
       first one, or training and validation loss are close (within 10% of
       each other) and both still falling at the end (by more than 2% per
       epoch on average over the last ``patience`` epochs).
    7. ``good_fit``: none of the above.

    Thresholds are module constants (``EXPLODE_FACTOR``, ``FLAT_DROP``, ...).
    They judge the shape of the curves only: a loss that starts near its
    floor (fine-tuning) can read as too-low learning rate or underfitting.
    """
    _check_patience("diagnose", patience)
    loss = _series(history, "loss")
    val = _series(history, "val_loss")
    epochs = list(history.epochs)

    bad = _first_bad(loss, val, epochs)
    if bad is not None or history.stopped_reason == "diverged":
        return _diverged(history, loss, epochs, bad)
    if loss is None or len(epochs) < MIN_EPOCHS:
        return Diagnosis(
            "not_enough_data",
            None,
            {"epochs": float(len(epochs))},
            f"Not enough to diagnose: {len(epochs)} epoch(s) with a training loss recorded, "
            f"at least {MIN_EPOCHS} are needed to see a trend.",
        )

    ev = _basic_evidence(loss, val, epochs)
    verdict = _lr_too_high(loss, epochs, ev) or _lr_too_low(loss, epochs, ev)
    if verdict is not None:
        return verdict
    found = _overfit(history, patience, 0.05)
    if found is not None:
        return _overfitting(found, loss, val, epochs, ev)
    return _underfitting(loss, val, epochs, patience, ev) or _good_fit(loss, val, epochs, ev)


def _first_bad(loss: np.ndarray | None, val: np.ndarray | None, epochs: list[int]) -> int | None:
    """Index of the first epoch with a non-finite training loss or an infinite validation loss."""
    bad = np.zeros(len(epochs), dtype=bool)
    if loss is not None:
        bad |= ~np.isfinite(loss)
    if val is not None:
        bad |= np.isinf(val)  # NaN in val_loss may be padding (an epoch without validation)
    idx = np.flatnonzero(bad)
    return int(idx[0]) if len(idx) else None


def _diverged(history: History, loss: np.ndarray | None, epochs: list[int], bad: int | None) -> Diagnosis:
    ev: dict[str, float] = {}
    parts = []
    if bad is not None:
        ev["diverged_epoch"] = float(epochs[bad])
        what = "loss" if loss is not None and not math.isfinite(loss[bad]) else "validation loss"
        value = loss[bad] if what == "loss" else math.inf
        parts.append(f"Training diverged at epoch {epochs[bad]}: the {what} became {value}")
        if loss is not None and bad > 0 and math.isfinite(loss[0]):
            good = np.flatnonzero(np.isfinite(loss[:bad]))
            last = int(good[-1]) if len(good) else None
            ev["initial_loss"] = float(loss[0])
            if last is not None:
                ev["last_finite_loss"] = float(loss[last])
                parts[-1] += (
                    f" (it was {_num(loss[0])} at epoch {epochs[0]} "
                    f"and {_num(loss[last])} at epoch {epochs[last]})"
                )
        parts[-1] += "."
    else:
        parts.append(
            f"Training diverged after epoch {epochs[-1]}."
            if epochs
            else "Training diverged in its first epoch."
        )
    if history.stopped_message:
        said = history.stopped_message.strip()
        parts.append(f"The trainer said: {said}" + ("" if said.endswith((".", "!", "?")) else "."))
    parts.append(
        "Lower the learning rate (try 10x smaller, or run find_lr), clip gradients (grad_clip=1.0), "
        "and check that the inputs are scaled (standardized) and free of NaN."
    )
    return Diagnosis("diverged", None, ev, " ".join(parts))


def _basic_evidence(loss: np.ndarray, val: np.ndarray | None, epochs: list[int]) -> dict[str, float]:
    first, last = float(loss[0]), float(loss[-1])
    ev = {
        "epochs": float(len(epochs)),
        "initial_loss": first,
        "final_loss": last,
        "min_loss": float(loss.min()),
        "relative_drop": (first - last) / abs(first) if first != 0 else 0.0,
    }
    if val is not None and np.isfinite(val).any():
        i = int(np.nanargmin(val))
        finite = np.flatnonzero(np.isfinite(val))
        ev.update(
            val_loss_final=float(val[finite[-1]]),
            val_loss_min=float(val[i]),
            val_loss_min_epoch=float(epochs[i]),
        )
    return ev


def _lr_too_high(loss: np.ndarray, epochs: list[int], ev: dict[str, float]) -> Diagnosis | None:
    first, last = loss[0], loss[-1]
    if last - first > (EXPLODE_FACTOR - 1.0) * abs(first):
        ev["growth"] = float(last / first) if first != 0 else math.inf
        return Diagnosis(
            "lr_too_high",
            None,
            ev,
            "The learning rate looks too high: the training loss grew from "
            f"{_num(first)} (epoch {epochs[0]}) to {_num(last)} (epoch {epochs[-1]}) instead of falling. "
            "Lower it (try 10x smaller, or run find_lr to pick one), or clip gradients (grad_clip=1.0).",
        )
    n = len(loss)
    if n < 5:
        return None
    d = np.diff(loss)
    signs = np.sign(d[d != 0])
    if len(signs) < 3:
        return None
    flips = float(np.mean(signs[1:] != signs[:-1]))
    swing = float(np.median(np.abs(d)))
    level = float(np.median(np.abs(loss)))
    slope = float(np.polyfit(np.arange(n, dtype=np.float64), loss, 1)[0])
    trend_drop = -slope * (n - 1)
    if flips >= FLIP_FRACTION and level > 0 and swing >= SWING * level and trend_drop < swing:
        ev.update(sign_flip_fraction=flips, typical_change=swing, loss_level=level, trend_drop=trend_drop)
        return Diagnosis(
            "lr_too_high",
            None,
            ev,
            f"The learning rate looks too high: the training loss oscillates instead of falling "
            f"({flips:.0%} of successive epoch-to-epoch changes flip sign, a typical change is "
            f"{_num(swing)} on a level of {_num(level)}, and the fitted trend over {n} epochs "
            + (f"falls by only {_num(trend_drop)}" if trend_drop > 0 else f"rises by {_num(-trend_drop)}")
            + "). Lower it (try 3-10x smaller, or run find_lr), or decay it with a "
            "learning-rate schedule.",
        )
    return None


def _lr_too_low(loss: np.ndarray, epochs: list[int], ev: dict[str, float]) -> Diagnosis | None:
    first, last = loss[0], loss[-1]
    drop = ev["relative_drop"]
    d = np.diff(loss)
    steady = float(np.mean(d < 0))
    half = len(loss) // 2
    first_half, second_half = loss[0] - loss[half], loss[half] - loss[-1]
    if 0 < drop < FLAT_DROP and steady >= STEADY and second_half >= first_half / 3:
        ev.update(decreasing_fraction=steady)
        return Diagnosis(
            "lr_too_low",
            None,
            ev,
            f"The learning rate looks too low: the training loss fell steadily but only {drop:.1%} in "
            f"{len(loss)} epochs (from {_num(first)} at epoch {epochs[0]} to {_num(last)} at epoch "
            f"{epochs[-1]}), and it is not levelling off. Raise it (try 10x larger, or run find_lr).",
        )
    return None


def _overfitting(
    found: tuple[int, dict[str, float]],
    loss: np.ndarray,
    val: np.ndarray | None,
    epochs: list[int],
    ev: dict[str, float],
) -> Diagnosis:
    epoch, extra = found
    ev.update(extra)
    last = epochs[-1]
    msg = (
        f"Overfitting from epoch {epoch}: validation loss rose from {_num(extra['val_loss_at_best'])} "
        f"(epoch {epoch}) to {_num(extra['val_loss_final'])} (epoch {last})"
    )
    if "loss_at_best" in extra:
        msg += f" while training loss fell from {_num(extra['loss_at_best'])} to {_num(extra['loss_final'])}"
    msg += (
        ". Try early stopping (EarlyStopping(restore_best_weights=True) keeps the weights of epoch "
        f"{epoch}), dropout, weight decay or more data."
    )
    return Diagnosis("overfitting", epoch, ev, msg)


def _underfitting(
    loss: np.ndarray, val: np.ndarray | None, epochs: list[int], patience: int, ev: dict[str, float]
) -> Diagnosis | None:
    first, last = loss[0], loss[-1]
    ratio = float(last / first) if first > 0 else 0.0
    if ratio > HIGH_RATIO:
        ev["final_to_initial"] = ratio
        return Diagnosis(
            "underfitting",
            None,
            ev,
            f"Underfitting: after {len(loss)} epochs the training loss is still {_num(last)}, {ratio:.0%} "
            f"of where it started ({_num(first)}); the model is not fitting even the training data. Train "
            "longer, raise the learning rate, or give the model more capacity (wider or deeper layers, "
            "less regularization) or better features.",
        )
    if val is None:
        return None
    finite = np.isfinite(val)
    v = val[finite]
    if len(v) < 2:
        return None
    t_fall = _mean_drop(loss, patience)
    v_fall = _mean_drop(v, patience)
    v_end = float(v[-1])
    gap = abs(v_end - float(last)) / max(abs(float(last)), 1e-12)
    if t_fall > STILL_FALLING and v_fall > STILL_FALLING and gap < CLOSE_GAP:
        ev.update(loss_drop_per_epoch=t_fall, val_loss_drop_per_epoch=v_fall, relative_gap=gap)
        k = min(patience, len(loss) - 1)
        return Diagnosis(
            "underfitting",
            None,
            ev,
            f"Underfitting: training and validation loss were both still falling when training ended "
            f"(over the last {k} epochs by {t_fall:.1%} and {v_fall:.1%} per epoch, to {_num(last)} and "
            f"{_num(v_end)}) and are close ({gap:.0%} apart). The model can still learn: train for more "
            "epochs, or raise the learning rate.",
        )
    return None


def _good_fit(loss: np.ndarray, val: np.ndarray | None, epochs: list[int], ev: dict[str, float]) -> Diagnosis:
    msg = (
        f"Good fit: the training loss fell from {_num(loss[0])} to {_num(loss[-1])} over {len(loss)} epochs "
        "and levelled off"
    )
    if "val_loss_final" in ev:
        msg += (
            f"; validation loss ends at {_num(ev['val_loss_final'])} (best {_num(ev['val_loss_min'])} at "
            f"epoch {int(ev['val_loss_min_epoch'])}) without a sustained rise"
        )
    else:
        msg += "; record a validation loss (fit(val_loader=...)) to check for overfitting"
    return Diagnosis("good_fit", None, ev, msg + ".")
