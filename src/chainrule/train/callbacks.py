"""Callbacks: code that runs at fixed points of :meth:`Trainer.fit`, with Keras's hooks and names.

A callback overrides any of ``on_train_begin/end(trainer, logs)``,
``on_epoch_begin/end(trainer, epoch, logs)``, ``on_batch_begin/end(trainer,
batch, logs)`` (epochs count from 1, batches from 0 within an epoch). It stops
training with ``trainer.stop_training = True``, and keeps whatever must
survive a resume in ``state_dict()``/``load_state_dict()``: checkpoints store
it. On a resume, ``on_train_begin`` runs first and ``load_state_dict`` after
it, so a callback resets itself in ``on_train_begin`` and the saved state wins.

Callbacks run in the order given, except that each class has an ``order``:
the progress bar runs before the others (its epoch line prints first) and
:class:`ModelCheckpoint` after them (its file then holds every other
callback's state for the epoch, e.g. EarlyStopping's updated patience count).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np

from chainrule.io import atomic_path, atomic_write
from chainrule.optim.lr_scheduler import ReduceLROnPlateau
from chainrule.validation import non_negative_int

if TYPE_CHECKING:
    from chainrule.train.trainer import Trainer

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "JSONLogger",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgressBar",
    "step_scheduler",
]

Logs = Mapping[str, float]


class Callback:
    """Base class: every hook does nothing; override the ones you need."""

    order: int = 0  # lower runs first (stable among equals)
    # In data-parallel training only rank 0 runs a callback that writes files or prints (checkpoints, logs,
    # progress bars); the others run on every rank and see the same, globally reduced logs.
    rank_zero_only: bool = False

    def on_train_begin(self, trainer: Trainer, logs: Logs | None = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, trainer: Trainer, logs: Logs | None = None) -> None:
        """After the last epoch, also when training stopped early, diverged or was interrupted."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int, logs: Logs | None = None) -> None:
        """Before epoch ``epoch`` (1-based)."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs | None = None) -> None:
        """After the epoch's training and validation; ``logs`` holds the values History recorded."""

    def on_batch_begin(self, trainer: Trainer, batch: int, logs: Logs | None = None) -> None:
        """Before a training batch (0-based within the epoch)."""

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Logs | None = None) -> None:
        """After the optimizer step; ``logs["loss"]`` is the epoch's running mean loss so far."""

    def on_exception(self, trainer: Trainer, exception: BaseException) -> None:
        """When fit ends with an exception (not Ctrl-C, which ends it cleanly): release resources."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep of this callback (numbers, strings, lists, dicts, arrays)."""
        return {}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


# ------------------------------------------------------------------ monitoring
# Keras's "auto": these monitors improve upwards, every other (losses, errors) downwards.
_HIGHER_IS_BETTER = ("acc", "auc", "f1", "precision", "recall", "r2")


def _check_mode(owner: str, mode: str, monitor: str = "") -> str:
    if mode == "auto":
        return "max" if any(k in monitor.lower() for k in _HIGHER_IS_BETTER) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"{owner}: mode must be 'min', 'max' or 'auto', got {mode!r}")
    return mode


def monitored_value(owner: str, monitor: str, logs: Logs | None, epoch: int) -> float:
    """``logs[monitor]``, or an error that lists the names that are there."""
    if logs is None or monitor not in logs:
        available = ", ".join(sorted(logs or ())) or "none"
        hint = ""
        if monitor.startswith("val_"):
            hint = " (val_* values need a val_loader: trainer.fit(train_loader, val_loader))"
        raise ValueError(
            f"{owner}: monitor {monitor!r} is not among the values logged at the end of epoch {epoch}; "
            f"available: {available}{hint}"
        )
    return float(logs[monitor])


def _improved(current: float, best: float, mode: str, min_delta: float) -> bool:
    """Better than ``best`` by more than ``min_delta`` (a NaN is never better)."""
    if mode == "min":
        return current < best - min_delta
    return current > best + min_delta


def step_scheduler(scheduler: Any, logs: Logs, monitor: str | None = None, epoch: int = 0) -> None:
    """Step an epoch-level scheduler; ``ReduceLROnPlateau`` is fed the monitored value.

    The value is ``logs[monitor]``, else ``logs[scheduler.monitor]`` if the
    scheduler has that attribute, else ``val_loss`` when validation ran, else ``loss``.
    """
    if isinstance(scheduler, ReduceLROnPlateau):
        name = monitor or getattr(scheduler, "monitor", None)
        name = name or ("val_loss" if "val_loss" in logs else "loss")
        scheduler.step(monitored_value("ReduceLROnPlateau", name, logs, epoch))
    else:
        scheduler.step()


# ------------------------------------------------------------------ early stopping
class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; bring back the best weights.

    "Improved" means below ``best - min_delta`` (mode "min") or above
    ``best + min_delta`` ("max"); ``mode="auto"`` picks "max" for accuracy-like
    monitors (acc, auc, f1, precision, recall, r2) and "min" otherwise. With
    ``restore_best_weights`` the model gets the weights of its best epoch when
    training ends, whether it stopped early or ran out of epochs (unlike Keras,
    which restores only on an early stop). One message says at which epoch
    training stopped and which epoch's weights were restored (``verbose=0``
    silences it).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: Literal["min", "max", "auto"] = "min",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best_weights: bool = True,
        verbose: int = 1,
    ) -> None:
        non_negative_int(patience, "patience", "EarlyStopping")
        if not isinstance(min_delta, (int, float)) or not min_delta >= 0:
            raise ValueError(f"EarlyStopping: min_delta must be a number >= 0, got {min_delta!r}")
        if not isinstance(monitor, str):
            raise TypeError(f"EarlyStopping: monitor must be a str, got {type(monitor).__name__}")
        self.monitor = monitor
        self.mode = _check_mode("EarlyStopping", mode, monitor)
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.restore_best_weights = bool(restore_best_weights)
        self.verbose = verbose
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None

    def on_train_begin(self, trainer: Trainer, logs: Logs | None = None) -> None:
        self._reset()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs | None = None) -> None:
        current = monitored_value("EarlyStopping", self.monitor, logs, epoch)
        if _improved(current, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v._array.copy() for k, v in trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            trainer.stop_training = True

    def on_train_end(self, trainer: Trainer, logs: Logs | None = None) -> None:
        history = trainer.history
        last = history.epochs[-1] if history.epochs else None
        parts = []
        if self.stopped_epoch is not None and last == self.stopped_epoch:
            parts.append(
                f"stopped at epoch {self.stopped_epoch}: {self.monitor} did not improve for "
                f"{self.patience} epoch(s) (best {self.monitor} = {self.best:.6g} at epoch {self.best_epoch})"
            )
        restored = self.restore_best_weights and self.best_weights is not None
        restored = restored and self.best_epoch not in (None, last)
        if restored:
            trainer.model.load_state_dict(self.best_weights)
            if not parts:
                parts.append(
                    f"training ended at epoch {last}; best {self.monitor} = {self.best:.6g} at epoch "
                    f"{self.best_epoch}"
                )
            parts.append(f"restored the weights of epoch {self.best_epoch}")
        elif parts and self.restore_best_weights and self.best_epoch == last:
            parts.append(f"the weights of epoch {last} are the best ones")
        if not parts:
            return
        message = "EarlyStopping: " + "; ".join(parts) + "."
        if self.stopped_epoch is not None and history.stopped_reason is None:
            history.stopped_reason = "early_stopping"
            history.stopped_message = message
        if self.verbose:
            trainer.log(message)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best_weights": self.best_weights,
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        self.best = float(state_dict["best"])
        self.best_epoch = state_dict["best_epoch"]
        self.wait = int(state_dict["wait"])
        self.stopped_epoch = state_dict.get("stopped_epoch")
        weights = state_dict.get("best_weights")
        self.best_weights = None if weights is None else {k: np.array(v) for k, v in weights.items()}


# ------------------------------------------------------------------ checkpoints
def _link_or_copy(src: str, dst: str) -> None:
    """Make ``dst`` the same file as ``src``: a hard link where the file system allows, else a copy."""
    with atomic_path(dst) as tmp:
        os.unlink(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


class ModelCheckpoint(Callback):
    """Save full training checkpoints (see :mod:`chainrule.train.checkpoint`) into ``dirpath``.

    Every ``every_n_epochs`` epochs it writes ``filename`` (formatted with
    ``epoch`` and the epoch's logs, e.g. ``"ep{epoch}-{val_loss:.3f}.safetensors"``);
    with ``save_best_only`` only when ``monitor`` improved. Besides,
    ``last.safetensors`` always holds the latest epoch (resume from it) and
    ``best.safetensors`` the best epoch by ``monitor`` (none when ``monitor=None``).
    Those two are hard links to the epoch file when it was written in the same
    epoch (copies where the file system has no hard links); every file is
    replaced atomically, never modified in place, so the links are safe.
    ``best_path``/``last_path`` give the files' paths, ``best``/``best_epoch`` the best value.
    """

    rank_zero_only = True

    order = 100  # after the other callbacks: the file holds their state for this epoch

    def __init__(
        self,
        dirpath: str | os.PathLike,
        monitor: str | None = "val_loss",
        mode: Literal["min", "max", "auto"] = "min",
        save_best_only: bool = False,
        every_n_epochs: int = 1,
        filename: str = "epoch{epoch:03d}.safetensors",
        verbose: int = 0,
    ) -> None:
        if not isinstance(dirpath, (str, os.PathLike)):
            raise TypeError(
                f"ModelCheckpoint: dirpath must be a str or os.PathLike, got {type(dirpath).__name__}"
            )
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(f"ModelCheckpoint: every_n_epochs must be an int >= 1, got {every_n_epochs!r}")
        if save_best_only and monitor is None:
            raise ValueError("ModelCheckpoint: save_best_only=True needs a monitor (e.g. monitor='val_loss')")
        if not isinstance(filename, str) or not filename:
            raise ValueError(f"ModelCheckpoint: filename must be a non-empty str, got {filename!r}")
        if filename in ("best.safetensors", "last.safetensors", "interrupted.safetensors"):
            raise ValueError(f"ModelCheckpoint: filename {filename!r} is reserved; choose another")
        self.dirpath = os.fsdecode(os.fspath(dirpath))
        self.monitor = monitor
        self.mode = _check_mode("ModelCheckpoint", mode, monitor)
        self.save_best_only = bool(save_best_only)
        self.every_n_epochs = every_n_epochs
        self.filename = filename
        self.verbose = verbose
        self.best_path = os.path.join(self.dirpath, "best.safetensors")
        self.last_path = os.path.join(self.dirpath, "last.safetensors")
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None

    def on_train_begin(self, trainer: Trainer, logs: Logs | None = None) -> None:
        self._reset()
        os.makedirs(self.dirpath, exist_ok=True)

    def _format(self, epoch: int, logs: Logs) -> str:
        try:
            name = self.filename.format(epoch=epoch, **logs)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(
                f"ModelCheckpoint: cannot format filename {self.filename!r} ({type(e).__name__}: {e}); "
                f"the names available are epoch, {', '.join(logs)}"
            ) from None
        return os.path.join(self.dirpath, name)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs | None = None) -> None:
        from chainrule.train.checkpoint import save_checkpoint

        logs = logs or {}
        improved = False
        if self.monitor is not None:
            current = monitored_value("ModelCheckpoint", self.monitor, logs, epoch)
            improved = _improved(current, self.best, self.mode, 0.0)
            if improved:
                self.best, self.best_epoch = current, epoch
        written = None
        if epoch % self.every_n_epochs == 0 and (improved or not self.save_best_only):
            written = self._format(epoch, logs)
            save_checkpoint(written, trainer, epoch)
        if written is None:
            save_checkpoint(self.last_path, trainer, epoch)
        else:
            _link_or_copy(written, self.last_path)
        if improved:
            _link_or_copy(written or self.last_path, self.best_path)
        if self.verbose:
            what = written or self.last_path
            trainer.log(f"ModelCheckpoint: saved epoch {epoch} to {what}" + (" (best)" if improved else ""))

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        self.best = float(state_dict["best"])
        self.best_epoch = state_dict["best_epoch"]


# ------------------------------------------------------------------ schedules
def _takes_epoch_and_lr(fn: Any) -> bool:
    """Whether ``fn`` is a Keras schedule: a plain function of (epoch, lr), not a scheduler object."""
    if not callable(fn) or hasattr(fn, "step"):
        return False
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


class LearningRateScheduler(Callback):
    """Step a learning-rate scheduler after every batch (``interval="batch"``) or every epoch.

    The callback form of ``Trainer(scheduler=..., scheduler_interval=...)``.
    ``ReduceLROnPlateau`` (epoch interval only) is fed ``logs[monitor]``, by
    default ``val_loss`` when validation runs, else ``loss``. The scheduler's
    state goes into checkpoints with the callback's. Keras's form works too: a
    function ``schedule(epoch, lr) -> lr`` (epoch counted from 0) sets each
    parameter group's learning rate as every epoch begins.
    """

    order = -100

    def __init__(
        self, scheduler: Any, interval: Literal["epoch", "batch"] = "epoch", monitor: str | None = None
    ) -> None:
        self.schedule = scheduler if _takes_epoch_and_lr(scheduler) else None
        if self.schedule is None:
            check_scheduler("LearningRateScheduler", scheduler, interval)
        elif interval != "epoch":
            raise ValueError(
                "LearningRateScheduler: a schedule(epoch, lr) function runs per epoch, "
                f"got interval={interval!r}"
            )
        self.scheduler = scheduler
        self.interval = interval
        self.monitor = monitor

    def on_epoch_begin(self, trainer: Trainer, epoch: int, logs: Logs | None = None) -> None:
        if self.schedule is None:
            return
        for group in trainer.optimizer.param_groups:
            lr = self.schedule(epoch - 1, float(group["lr"]))
            number = isinstance(lr, (int, float, np.floating)) and not isinstance(lr, bool)
            if not number or not 0 <= lr < math.inf:
                raise ValueError(
                    f"LearningRateScheduler: schedule({epoch - 1}, {group['lr']}) returned {lr!r}; "
                    "expected a finite learning rate >= 0"
                )
            group["lr"] = float(lr)

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Logs | None = None) -> None:
        if self.interval == "batch":
            self.scheduler.step()

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs | None = None) -> None:
        if self.interval == "epoch" and self.schedule is None:
            step_scheduler(self.scheduler, logs or {}, self.monitor, epoch)

    def state_dict(self) -> dict[str, Any]:
        return {} if self.schedule is not None else {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        if self.schedule is None:
            self.scheduler.load_state_dict(state_dict["scheduler"])


def check_scheduler(owner: str, scheduler: Any, interval: str) -> None:
    """Refuse what cannot be stepped as asked."""
    if interval not in ("epoch", "batch"):
        raise ValueError(f"{owner}: interval must be 'epoch' or 'batch', got {interval!r}")
    if not callable(getattr(scheduler, "step", None)) or not callable(getattr(scheduler, "state_dict", None)):
        raise TypeError(
            f"{owner}: expected a learning-rate scheduler (e.g. optim.lr_scheduler.StepLR), got "
            f"{type(scheduler).__name__}; for a function of the epoch use optim.lr_scheduler.LambdaLR"
        )
    if interval == "batch" and isinstance(scheduler, ReduceLROnPlateau):
        raise ValueError(
            f"{owner}: ReduceLROnPlateau steps on a monitored metric once per epoch; use interval 'epoch'"
        )


# ------------------------------------------------------------------ progress
def _fmt(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_logs(logs: Logs) -> str:
    """``loss: 0.1234 - accuracy: 0.95 - ...``, Keras's epoch line."""
    return " - ".join(f"{k}: {_fmt(v)}" for k, v in logs.items())


class ProgressBar(Callback):
    """A tqdm bar per epoch over its batches with the running loss, metrics and ETA.

    ``verbose=1``: the bar when stderr is a terminal; otherwise (a log file, a
    CI job) one summary line per epoch on stdout instead. ``verbose=2``: the
    summary lines only. ``verbose=0``: nothing. Messages of other callbacks go
    through :meth:`write`, which keeps an open bar intact.
    """

    rank_zero_only = True

    order = -50  # the epoch line prints before the messages of other callbacks

    def __init__(self, verbose: int = 1, refresh_interval: float = 0.2, file: IO[str] | None = None) -> None:
        if verbose not in (0, 1, 2):
            raise ValueError(f"ProgressBar: verbose must be 0, 1 or 2, got {verbose!r}")
        self.verbose = verbose
        self.refresh_interval = float(refresh_interval)
        self.file = file  # the bar's stream (stderr by default)
        self._bar: Any = None
        self._next_refresh = 0.0
        self._epoch_start = 0.0

    def _use_bar(self) -> bool:
        stream = self.file if self.file is not None else sys.stderr
        isatty = getattr(stream, "isatty", None)
        return self.verbose == 1 and bool(isatty and isatty())

    def on_epoch_begin(self, trainer: Trainer, epoch: int, logs: Logs | None = None) -> None:
        self._epoch_start = time.perf_counter()
        if self._use_bar():
            from tqdm import tqdm

            try:
                total = len(trainer.train_loader)
            except TypeError:
                total = None
            self._bar = tqdm(
                total=total,
                desc=f"Epoch {epoch}/{trainer.epochs}",
                unit="batch",
                file=self.file if self.file is not None else sys.stderr,
                dynamic_ncols=True,
                leave=True,
            )
            self._next_refresh = 0.0

    def on_batch_end(self, trainer: Trainer, batch: int, logs: Logs | None = None) -> None:
        bar = self._bar
        if bar is None:
            return
        bar.update(1)
        now = time.perf_counter()
        if now >= self._next_refresh:  # metrics cost a compute(): show them a few times a second
            self._next_refresh = now + self.refresh_interval
            shown = {"loss": (logs or {}).get("loss", math.nan), **trainer.running_metrics()}
            bar.set_postfix_str(format_logs(shown), refresh=False)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs | None = None) -> None:
        seconds = time.perf_counter() - self._epoch_start
        if self._bar is not None:
            self._bar.set_postfix_str(format_logs(logs or {}), refresh=True)
            self._close()
        elif self.verbose:
            print(f"Epoch {epoch}/{trainer.epochs} - {seconds:.2f}s - {format_logs(logs or {})}", flush=True)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_train_end(self, trainer: Trainer, logs: Logs | None = None) -> None:
        self._close()

    def on_exception(self, trainer: Trainer, exception: BaseException) -> None:
        self._close()

    def write(self, message: str) -> None:
        """Print a message (on stdout) without breaking an open bar."""
        if self._bar is not None:
            from tqdm import tqdm

            tqdm.write(message)
        else:
            print(message, flush=True)


# ------------------------------------------------------------------ logs on disk
def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class _FileLogger(Callback):
    """Rewrites its whole file from ``trainer.history`` after every epoch, atomically.

    Rewriting (instead of appending) keeps the file complete at every moment,
    lets columns appear later (NaN-padded by History), and makes a resumed run
    continue the same file, since History comes back with the checkpoint.
    """

    rank_zero_only = True

    def __init__(self, path: str | os.PathLike) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"{type(self).__name__}: path must be a str or os.PathLike, got {type(path).__name__}"
            )
        self.path = os.fsdecode(os.fspath(path))

    def on_train_begin(self, trainer: Trainer, logs: Logs | None = None) -> None:
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: Logs | None = None) -> None:
        self._write(trainer)

    def on_train_end(self, trainer: Trainer, logs: Logs | None = None) -> None:
        if trainer.history.epochs:  # also the partial epoch of a diverged run
            self._write(trainer)

    def _write(self, trainer: Trainer) -> None:
        raise TypeError(f"{type(self).__name__} must define _write")


class CSVLogger(_FileLogger):
    """One row per epoch: ``epoch`` then every logged value (loss, metrics, val_*, lr), full precision.

    The layout of :meth:`History.to_csv`, so :meth:`History.from_csv` reads the log back.
    """

    def _write(self, trainer: Trainer) -> None:
        trainer.history.to_csv(self.path)


class JSONLogger(_FileLogger):
    """JSON lines: one object per epoch, ``{"epoch": 1, "loss": ..., ...}``; NaN and infinities as null."""

    def _write(self, trainer: Trainer) -> None:
        history = trainer.history
        with atomic_write(self.path, "w") as f:
            for i, epoch in enumerate(history.epochs):
                row: dict[str, Any] = {"epoch": epoch}
                for name, values in history.history.items():
                    row[name] = _finite_or_none(values[i])
                f.write(json.dumps(row, allow_nan=False) + "\n")
