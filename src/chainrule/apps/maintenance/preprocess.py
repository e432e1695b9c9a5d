"""The usual C-MAPSS protocol: operating conditions, informative sensors, normalization, RUL targets, windows.

Everything is fitted on training engines only and then applied unchanged to
validation and test engines:

* **Operating conditions.** FD002 and FD004 mix six flight conditions, which
  move every sensor far more than wear does. The three settings are clustered
  (k-means on the standardized settings, the smallest k up to 8 that explains
  99.9% of their variance; one condition when none does, as in FD001/FD003,
  whose settings are simulator noise) and each sensor is normalized per
  condition. The settings themselves are not model inputs: they name the
  condition, they do not measure wear.
* **Channels.** A sensor is kept when, within every condition, it takes at
  least three distinct values (constant and two-level sensors carry no trend)
  and its normalized values correlate with the capped RUL at least
  ``min_correlation`` in absolute value. On FD001 this keeps the usual 14.
* **Age.** With ``age=True`` the cycle number (the engine's age when the row
  was recorded) is one more channel, standardized like the sensors. Test
  engines carry it too, and it says what the sensors cannot yet: an engine
  that shows no wear at cycle 180 has less life left than one at cycle 40
  (on FD001 the errors concentrate on engines 50-100 cycles from failure,
  whose wear is barely visible).
* **Targets.** Piecewise-linear RUL: cycles to failure, capped at ``max_rul``
  (125): early in life an engine shows no wear to count down from.
* **Windows.** Sliding windows of ``window`` cycles, labelled with the RUL at
  their last cycle; an engine shorter than a window is padded at the front by
  repeating its first row. With ``min_history`` shorter than the window, the
  training and validation engines also give the windows that end before
  ``window`` cycles, padded the same way: the model learns the padded windows
  that short test engines give it (FD001's shortest test engine has 31 cycles).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.runtime import limit_threads

__all__ = ["Preprocessor", "engine_slices", "rul_targets"]

_SETTINGS = slice(2, 5)
_FIRST_SENSOR = 5


def engine_slices(table: np.ndarray) -> list[tuple[int, slice]]:
    """``(unit, rows)`` for each engine of a table whose rows are grouped by unit, in file order."""
    unit = table[:, 0]
    starts = np.r_[0, np.flatnonzero(unit[1:] != unit[:-1]) + 1, len(unit)]
    return [(int(unit[a]), slice(int(a), int(b))) for a, b in itertools.pairwise(starts)]


def rul_targets(table: np.ndarray, max_rul: float = 125.0) -> np.ndarray:
    """Each row's remaining useful life, ``min(last cycle - cycle, max_rul)``, for run-to-failure engines."""
    out = np.empty(len(table), dtype=np.float64)
    for _, rows in engine_slices(table):
        cycles = table[rows, 1]
        out[rows] = cycles[-1] - cycles
    return np.minimum(out, max_rul)


def _conditions(settings: np.ndarray, seed: int, max_conditions: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(centers, scale) of the operating conditions in the settings (one center if they have none)."""
    scale = settings.std(axis=0)
    scale[scale == 0] = 1.0
    z = settings / scale
    total = ((z - z.mean(axis=0)) ** 2).sum()
    if total > 0:
        from sklearn.cluster import KMeans

        sample = z[np.random.default_rng(seed).permutation(len(z))[:5000]]
        sample_total = ((sample - sample.mean(axis=0)) ** 2).sum()
        # 5,000 points in 3-D: one thread is plenty; spare OpenMP threads would only spin
        with limit_threads(1):
            for k in range(2, min(max_conditions, len(np.unique(sample, axis=0))) + 1):
                km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(sample)
                if km.inertia_ <= 1e-3 * sample_total:
                    return km.cluster_centers_ * scale, scale
    return settings.mean(axis=0, keepdims=True), scale


@dataclass
class Preprocessor:
    """Fits the protocol on training engines (:meth:`fit`), then makes model inputs from any table.

    After fitting: ``channels`` (column indices into the 26-column table; the
    cycle column 1 first when ``age``), ``centers`` (condition x 3 settings), ``means``/``stds`` (condition x
    channel). :meth:`to_dict`/:meth:`from_dict` round-trip it through JSON.
    """

    window: int = 30
    max_rul: float = 125.0
    min_correlation: float = 0.05
    age: bool = False
    channels: list[int] = field(default_factory=list)
    centers: np.ndarray | None = None
    scale: np.ndarray | None = None
    means: np.ndarray | None = None
    stds: np.ndarray | None = None

    # ------------------------------------------------------------------ fitting
    def condition(self, table: np.ndarray) -> np.ndarray:
        """The operating-condition index of each row (the nearest condition center)."""
        if self.centers is None or self.scale is None:
            raise RuntimeError("Preprocessor: call fit(training table) before using it")
        if len(self.centers) == 1:
            return np.zeros(len(table), dtype=np.intp)
        d = ((table[:, None, _SETTINGS] - self.centers[None]) / self.scale) ** 2
        return d.sum(axis=2).argmin(axis=1)

    def fit(self, table: np.ndarray, seed: int = 0) -> Preprocessor:
        """Find the conditions, choose the channels and fit per-condition normalization on ``table``."""
        if len(table) < 2:
            raise ValueError("Preprocessor.fit: the training engines have fewer than 2 rows in all")
        self.centers, self.scale = _conditions(table[:, _SETTINGS], seed)
        cond = self.condition(table)
        sensors = np.arange(_FIRST_SENSOR, table.shape[1])
        k = len(self.centers)
        means = np.zeros((k, len(sensors)))
        stds = np.ones((k, len(sensors)))
        varied = np.ones(len(sensors), dtype=bool)
        for c in range(k):
            rows = table[cond == c][:, sensors]
            means[c] = rows.mean(axis=0)
            std = rows.std(axis=0)
            stds[c] = np.where(std > 0, std, 1.0)
            varied &= np.array([len(np.unique(col)) >= 3 for col in rows.T])
        z = (table[:, sensors] - means[cond]) / stds[cond]
        target = rul_targets(table, self.max_rul)
        corr = np.zeros(len(sensors))
        if target.std() > 0:
            zc = z[:, varied] - z[:, varied].mean(axis=0)
            tc = target - target.mean()
            corr[varied] = (zc * tc[:, None]).sum(0) / np.sqrt((zc**2).sum(0) * (tc**2).sum())
        keep = varied & (np.abs(corr) >= self.min_correlation)
        if not keep.any():
            raise ValueError(
                "Preprocessor.fit: no sensor varies with the remaining useful life in the training engines "
                f"(none has |correlation| >= {self.min_correlation} with the capped RUL); are these "
                "run-to-failure engines?"
            )
        self.channels = [int(s) for s in sensors[keep]]
        self.means, self.stds = means[:, keep], stds[:, keep]
        if self.age:
            cycle_mean = np.array([table[cond == c, 1].mean() for c in range(k)])
            cycle_std = np.array([table[cond == c, 1].std() for c in range(k)])
            self.channels = [1, *self.channels]
            self.means = np.column_stack([cycle_mean, self.means])
            self.stds = np.column_stack([np.where(cycle_std > 0, cycle_std, 1.0), self.stds])
        return self

    @property
    def channel_names(self) -> list[str]:
        """The channels' names (``cycle`` when ``age``, then the kept sensors: ``s2``, ``s3``, ...)."""
        from chainrule.apps.maintenance.data import COLUMNS

        return [COLUMNS[c] for c in self.channels]

    # ------------------------------------------------------------------ applying
    def normalize(self, table: np.ndarray) -> np.ndarray:
        """The kept channels of every row, normalized by their condition's training mean and std (float32)."""
        if self.means is None or self.stds is None:
            raise RuntimeError("Preprocessor: call fit(training table) before using it")
        cond = self.condition(table)
        return ((table[:, self.channels] - self.means[cond]) / self.stds[cond]).astype(np.float32)

    def _engine_windows(self, z: np.ndarray, min_history: int | None = None) -> np.ndarray:
        """The windows of one engine's normalized rows, (n, window, channels), front-padded by its first row.

        One window ends at each cycle from ``min_history`` (default: ``window``;
        never past the engine's last cycle) to the last.
        """
        first_end = min(self.window if min_history is None else min_history, len(z))
        pad = max(0, self.window - first_end)
        if pad:
            z = np.concatenate([np.repeat(z[:1], pad, axis=0), z])
        w = np.lib.stride_tricks.sliding_window_view(z, self.window, axis=0).transpose(0, 2, 1)
        return w[max(0, first_end - self.window) :]

    def windows(
        self, table: np.ndarray, min_history: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The windows of every run-to-failure engine: inputs (n, window, channels), capped RUL, unit.

        One window ends at each cycle from ``min_history`` on (default: from
        ``window`` on, no padding unless an engine is shorter than a window).
        """
        if min_history is not None and min_history < 1:
            raise ValueError(f"Preprocessor.windows: min_history must be at least 1 cycle, got {min_history}")
        z, target = self.normalize(table), rul_targets(table, self.max_rul)
        xs, ys, units = [], [], []
        for unit, rows in engine_slices(table):
            w = self._engine_windows(z[rows], min_history)
            xs.append(w)
            ys.append(target[rows][-len(w) :])
            units.append(np.full(len(w), unit))
        return np.concatenate(xs), np.concatenate(ys).astype(np.float32), np.concatenate(units)

    def last_windows(self, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The last window of each engine (the one scored on test engines) and the engines' units."""
        z = self.normalize(table)
        pieces = [
            (unit, self._engine_windows(z[rows][-self.window :])[-1]) for unit, rows in engine_slices(table)
        ]
        return np.stack([w for _, w in pieces]), np.array([u for u, _ in pieces])

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict[str, Any]:
        """Everything needed to preprocess new engines, as JSON-ready values."""
        return {
            "window": self.window,
            "max_rul": self.max_rul,
            "min_correlation": self.min_correlation,
            "age": self.age,
            "channels": self.channels,
            "channel_names": self.channel_names,
            "condition_centers": np.asarray(self.centers).tolist(),
            "settings_scale": np.asarray(self.scale).tolist(),
            "means": np.asarray(self.means).tolist(),
            "stds": np.asarray(self.stds).tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        """The Preprocessor that :meth:`to_dict` described."""
        return cls(
            window=int(d["window"]),
            max_rul=float(d["max_rul"]),
            min_correlation=float(d["min_correlation"]),
            age=bool(d.get("age", False)),
            channels=[int(c) for c in d["channels"]],
            centers=np.array(d["condition_centers"], dtype=np.float64),
            scale=np.array(d["settings_scale"], dtype=np.float64),
            means=np.array(d["means"], dtype=np.float64),
            stds=np.array(d["stds"], dtype=np.float64),
        )
