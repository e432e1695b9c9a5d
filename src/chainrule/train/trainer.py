"""The Trainer: the fit loop Keras and PyTorch Lightning users know, with History, callbacks, checkpoints.

``Trainer(model, loss_fn, optimizer).fit(train_loader, val_loader, epochs)``
runs the epochs and returns a :class:`History` of Keras-named values per
epoch (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``). Each
training step is ``model.train()``, ``zero_grad``, forward, loss,
``backward``, optional gradient clipping, ``optimizer.step()`` and a
per-batch scheduler step. The epoch's ``loss`` is the mean over samples of
the batch losses, and its metrics are streamed over the outputs computed
during training (as Keras does, so they lag the end-of-epoch weights a
little); validation runs in eval mode without a graph.

Training ends cleanly, with a History that says why (``stopped_reason``),
when a callback stops it (EarlyStopping), when the loss becomes NaN or
infinite or, still finite, grows past ``divergence_factor`` (10^4) times the
first batch's loss (``"diverged"``, with a message of what to try), or on Ctrl-C
(``"interrupted"``, after saving a checkpoint to resume from).

Batches are ``(inputs, targets)`` pairs. As in Keras, a model of several
inputs gets them nested in the first element: ``((x, lengths), y)`` calls
``model(x, lengths)`` and ``({"x": x, "lengths": lengths}, y)`` calls
``model(x=x, lengths=lengths)`` (padded sequences from
:func:`~chainrule.data.collate_sequences` come as ``((padded, lengths), y)``).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from chainrule import backend, devices
from chainrule.autograd import no_grad
from chainrule.data.collate import move_to_device
from chainrule.data.dataset import Dataset
from chainrule.nn.module import Module
from chainrule.nn.utils import clip_grad_norm_
from chainrule.optim.optimizer import Optimizer
from chainrule.tensor import Tensor
from chainrule.train import checkpoint as _ckpt
from chainrule.train import parallel
from chainrule.train.callbacks import (
    Callback,
    ModelCheckpoint,
    ProgressBar,
    check_scheduler,
    step_scheduler,
)
from chainrule.train.history import History

__all__ = ["Trainer"]

_make = Tensor._make


# ------------------------------------------------------------------ input checks
def _describe(obj: Any) -> str:
    if isinstance(obj, Tensor | np.ndarray):
        return f"a {type(obj).__name__} of shape {tuple(obj.shape)}"
    if isinstance(obj, list | tuple):
        return f"a {type(obj).__name__} of {len(obj)} elements"
    return f"a {type(obj).__name__}"


def _check_loader(loader: Any, who: str, name: str, reiterable: bool) -> None:
    """Refuse what cannot serve as batches: tensors, datasets, iterators that run dry after one epoch."""
    wrap = "DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)"
    if isinstance(loader, Tensor | np.ndarray):
        raise TypeError(
            f"{who}: {name} must be a DataLoader (or another iterable of batches), got {_describe(loader)}; "
            f"wrap tensors in a loader: {wrap}"
        )
    if isinstance(loader, Dataset):
        raise TypeError(
            f"{who}: {name} must be a DataLoader, got the dataset {type(loader).__name__}; wrap it: "
            "DataLoader(dataset, batch_size=64, shuffle=True)"
        )
    if isinstance(loader, str | bytes | Mapping) or not hasattr(loader, "__iter__"):
        raise TypeError(
            f"{who}: {name} must be a DataLoader (or another iterable of batches), "
            f"got {type(loader).__name__}"
        )
    if reiterable and isinstance(loader, Iterator):
        raise TypeError(
            f"{who}: {name} is an iterator ({type(loader).__name__}), which is exhausted after one pass; "
            "fit goes through it every epoch, so give a DataLoader or a list of batches"
        )


def _as_tensor(value: Any) -> Any:
    """Arrays (NumPy or a device's) become Tensors; a tuple/list becomes a list and a mapping a dict."""
    if isinstance(value, np.ndarray) or devices.is_device_array(value):
        return _make(value, None)
    if isinstance(value, list | tuple):
        return [_as_tensor(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _as_tensor(v) for k, v in value.items()}
    return value


def _split(batch: Any, index: int, who: str, name: str, loader: Any) -> tuple[Any, Any]:
    """``(inputs, targets)`` of a batch, or an error that says what came instead."""
    if isinstance(batch, list | tuple) and len(batch) == 2:
        return _as_tensor(batch[0]), _as_tensor(batch[1])
    hint = ""
    if isinstance(loader, list | tuple) and loader and isinstance(loader[0], Tensor):
        hint = (
            f"; {name} is a {type(loader).__name__} of tensors: use "
            "DataLoader(TensorDataset(x, y), batch_size=64)"
        )
    if isinstance(batch, list | tuple) and len(batch) > 2:
        hint = (
            "; for a model of several inputs nest them, ((x, lengths), y) calls model(x, lengths) and "
            '({"x": x, "lengths": lengths}, y) calls model(x=x, lengths=lengths)'
        )
    raise TypeError(
        f"{who}: batch {index} of {name} is {_describe(batch)}; expected a pair (inputs, targets), as a "
        f"DataLoader over TensorDataset(x, y) yields{hint}"
    )


def _inputs(batch: Any, index: int) -> Any:
    """The inputs of a predict batch: the batch itself (tensor or dict of inputs), or x of (x,) or (x, y)."""
    if isinstance(batch, Tensor | np.ndarray | Mapping):
        return _as_tensor(batch)
    if isinstance(batch, list | tuple) and len(batch) in (1, 2):
        return _as_tensor(batch[0])
    raise TypeError(
        f"Trainer.predict: batch {index} is {_describe(batch)}; expected inputs x, or (x,) or (x, y), "
        "where x may be a tuple or dict of several inputs: ((x, lengths),) or ((x, lengths), y)"
    )


def _loss_array(loss: Any) -> Any:
    """The loss's one-element array (where it was computed), or an error saying what came instead."""
    data = getattr(loss, "_array", None)
    if not isinstance(loss, Tensor):
        raise TypeError(f"Trainer: loss_fn must return a Tensor, got {type(loss).__name__}")
    if data.size != 1:
        raise ValueError(
            f"Trainer: loss_fn returned a tensor of shape {tuple(data.shape)}; expected a scalar "
            "(a loss with reduction='mean')"
        )
    return data


def _loss_value(loss: Any) -> float:
    # the loss decides whether this step's update happens (divergence): read on the host, one number
    return float(devices.to_host(_loss_array(loss)).reshape(()))


def _host(value: Any) -> Any:
    """A batch's output or target for the metrics: device arrays copied to the host once, explicitly."""
    value = value._array if isinstance(value, Tensor) else value
    if isinstance(value, list):
        return [_host(v) for v in value]
    return devices.to_host(value) if devices.is_device_array(value) else value


def _batch_size(y: Any) -> int:
    t = y[0] if isinstance(y, list) and y else y
    shape = getattr(t, "shape", ())
    return int(shape[0]) if len(shape) else 1


def _lrs(optimizer: Optimizer) -> str:
    lrs = sorted({float(g["lr"]) for g in optimizer.param_groups})
    return ", ".join(f"{lr:g}" for lr in lrs)


# ------------------------------------------------------------------ the Trainer
class Trainer:
    """Fit a model with a loss and an optimizer; evaluate it; predict with it.

    ``metrics`` are names or :class:`~chainrule.train.metrics.Metric` objects
    (``"accuracy"``, ``"f1_macro"``, ``"mae"``, ...), logged under their names
    and ``val_<name>``. ``scheduler`` is stepped after every epoch
    (``scheduler_interval="epoch"``; ``ReduceLROnPlateau`` gets ``val_loss``,
    or ``loss`` without validation, or the name in its ``monitor`` attribute)
    or after every optimizer step (``"batch"``, e.g. ``OneCycleLR``).
    ``grad_clip`` is a maximum for the joint gradient norm
    (:func:`~chainrule.nn.utils.clip_grad_norm_`). ``progress``: None or
    True for the default :class:`ProgressBar`, False/0 for none, 1/2 for a
    verbosity, or a ProgressBar. ``log_dir`` is where a Ctrl-C checkpoint goes
    when no ModelCheckpoint names a directory (default: the current directory).

    Every batch of ``fit`` and ``evaluate`` is a pair ``(inputs, targets)``;
    ``inputs`` is a tensor (``model(x)``), a tuple or list of several model
    inputs (``model(*inputs)``, e.g. ``((x, lengths), y)`` for a recurrent
    model on padded sequences) or a dict of them (``model(**inputs)``).
    NumPy arrays anywhere in a batch become tensors. ``predict`` takes the
    inputs alone, ``(inputs,)`` or ``(inputs, targets)``; a bare pair is read
    as ``(inputs, targets)``, so several inputs need the nesting there too:
    ``((x, lengths),)``.

    ``device`` (``"cuda"``, ``cr.device("cuda", 1)``, ...), if given, moves the
    model (and a loss module's weights) there when the Trainer is made, and
    each batch's tensors as it comes (a loader that already moves them costs
    nothing more). ``predict`` then returns its outputs on that device. Per
    training batch the loss is read back to the host once (it decides whether
    the step is taken: divergence), and, when there are metrics, the output is
    copied to the host once for all of them (targets the Trainer moved are read
    from their host copy; targets a loader moved are copied too).
    """

    def __init__(
        self,
        model: Module,
        loss_fn: Any,
        optimizer: Optimizer,
        metrics: Sequence[Any] | str | None = ("accuracy",),
        callbacks: Iterable[Callback] | Callback = (),
        scheduler: Any = None,
        grad_clip: float | None = None,
        scheduler_interval: Literal["epoch", "batch"] = "epoch",
        progress: ProgressBar | bool | int | None = None,
        log_dir: str | os.PathLike | None = None,
        divergence_factor: float | None = 1e4,
        device: Any = None,
    ) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"Trainer: model must be a chainrule.nn.Module, got {type(model).__name__}")
        if not callable(loss_fn):
            raise TypeError(f"Trainer: loss_fn must be callable (nn.CrossEntropyLoss() ...), got {loss_fn!r}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"Trainer: optimizer must be a chainrule.optim.Optimizer, got {type(optimizer).__name__}"
            )
        if scheduler is not None:
            check_scheduler("Trainer", scheduler, scheduler_interval)
            if getattr(scheduler, "optimizer", optimizer) is not optimizer:
                raise ValueError("Trainer: the scheduler drives a different optimizer than the Trainer's")
        elif scheduler_interval not in ("epoch", "batch"):
            raise ValueError(
                f"Trainer: scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}"
            )
        if grad_clip is not None:
            number = isinstance(grad_clip, int | float) and not isinstance(grad_clip, bool)
            if not number or not 0 < grad_clip < math.inf:
                raise ValueError(f"Trainer: grad_clip must be a positive max norm, got {grad_clip!r}")
            grad_clip = float(grad_clip)
        if divergence_factor is not None and (
            isinstance(divergence_factor, bool) or not isinstance(divergence_factor, int | float)
            or not 1 < divergence_factor < math.inf
        ):  # fmt: skip
            raise ValueError(
                f"Trainer: divergence_factor must be a number > 1 or None, got {divergence_factor!r}"
            )
        self.divergence_factor = divergence_factor
        self._loss_limit = math.inf
        if log_dir is not None and not isinstance(log_dir, str | os.PathLike):
            raise TypeError(f"Trainer: log_dir must be a str or os.PathLike, got {type(log_dir).__name__}")
        self.device = backend.check_device(device, "Trainer")
        if self.device is not None:
            model.to(self.device)  # in place: the optimizer's parameters are the same objects
            if optimizer.state:  # state from steps taken before: loading it back puts it by its parameters
                optimizer.load_state_dict(optimizer.state_dict())
            if isinstance(loss_fn, Module):
                loss_fn.to(self.device)  # a loss's class weights
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.grad_clip = grad_clip
        self.log_dir = None if log_dir is None else os.fsdecode(os.fspath(log_dir))
        self.metrics, self._val_metrics = self._make_metrics(metrics)
        self.callbacks = self._check_callbacks(callbacks)
        self._progress = self._make_progress(progress)
        every = self.callbacks + ([self._progress] if self._progress not in (None, *self.callbacks) else [])
        self._all_callbacks = every
        self._callbacks = sorted(every, key=lambda cb: cb.order)
        # only the callbacks that override a per-batch hook are called for every batch
        cbs = self._callbacks
        self._batch_begin = [c for c in cbs if type(c).on_batch_begin is not Callback.on_batch_begin]
        self._batch_end = [c for c in cbs if type(c).on_batch_end is not Callback.on_batch_end]
        self._net: Any = model  # what the steps call: the model, or DistributedDataParallel around it
        self._rep = parallel.current()  # data parallel once chainrule.distributed.init_process_group ran
        if self._rep.world_size > 1:
            self._data_parallel_setup()
        self.history = History()
        self.stop_training = False
        self.epoch = 0  # the last completed epoch
        self.epochs = 0
        self.global_step = 0  # optimizer steps taken
        self.train_loader: Any = None
        self.val_loader: Any = None
        self._call_checked: set[tuple[int, tuple[str, ...] | None]] = set()

    # -------------------------------------------------------------- set-up helpers
    @staticmethod
    def _make_metrics(metrics: Any) -> tuple[list[Any], list[Any]]:
        if metrics is None:
            return [], []
        if isinstance(metrics, str) or not isinstance(metrics, Iterable):
            metrics = (metrics,)
        metrics = list(metrics)
        if not metrics:
            return [], []
        from chainrule.train.metrics import get_metric

        train = [get_metric(m) for m in metrics]
        names = [m.name for m in train]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"Trainer: metric name(s) {dup} appear more than once")
        if "loss" in names or "lr" in names:
            raise ValueError("Trainer: a metric may not be named 'loss' or 'lr' (the Trainer logs those)")
        return train, [copy.deepcopy(m) for m in train]

    @staticmethod
    def _check_callbacks(callbacks: Any) -> list[Callback]:
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        if callbacks is None:
            return []
        if not isinstance(callbacks, Iterable):
            raise TypeError(f"Trainer: callbacks must be a list of Callbacks, got {type(callbacks).__name__}")
        out = list(callbacks)
        for i, cb in enumerate(out):
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"Trainer: callbacks[{i}] is a {type(cb).__name__}; expected a Callback "
                    "(subclass chainrule.train.callbacks.Callback)"
                )
        return out

    def _make_progress(self, progress: Any) -> ProgressBar | None:
        given = next((cb for cb in self.callbacks if isinstance(cb, ProgressBar)), None)
        if isinstance(progress, ProgressBar):
            return progress
        if given is not None:
            return given
        if progress is None or progress is True:
            return ProgressBar()
        if progress is False:
            return None
        if isinstance(progress, int) and progress in (0, 1, 2):
            return ProgressBar(verbose=progress) if progress else None
        raise TypeError(f"Trainer: progress must be None, a bool, 0/1/2 or a ProgressBar, got {progress!r}")

    def _checkpoint_parts(self) -> dict[str, Any]:
        """What :func:`~chainrule.train.checkpoint.save_checkpoint` stores of this Trainer."""
        return {
            "model": self.model,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "history": self.history,
            "callbacks": _ckpt.callback_key_map(self._all_callbacks),
            "train_loader": self.train_loader,
            "global_step": self.global_step,
        }

    # -------------------------------------------------------------- data parallel (see train/parallel.py)
    def _data_parallel_setup(self) -> None:
        """Metrics over every rank's samples; files, bars and messages from rank 0 alone."""
        rep = self._rep
        self.metrics = [parallel.GatheredMetric(m, rep) for m in self.metrics]
        self._val_metrics = [parallel.GatheredMetric(m, rep) for m in self._val_metrics]
        if rep.rank != 0:
            everywhere = [self._callbacks, self._batch_begin, self._batch_end]
            self._callbacks, self._batch_begin, self._batch_end = (
                [c for c in cbs if not c.rank_zero_only] for cbs in everywhere
            )
            self._progress = None

    def _epoch_values(self, total: float, count: int, metrics: list[Any], who: str, name: str) -> dict:
        """The epoch's mean loss and metrics, over all ranks' samples when data parallel."""
        world = self._rep.world_size
        if world > 1:
            total, count = self._rep.sum(np.array([total, count]))
        if count == 0:
            raise ValueError(f"{who}: {name} yielded no batches")
        result = {"loss": float(total / count)}
        for m in metrics:
            result[m.name] = float(m.compute_global() if world > 1 else m.compute())
        return result

    def log(self, message: str) -> None:
        """Print a message (through the progress bar when there is one, so an open bar stays intact)."""
        if self._rep.rank != 0:
            return
        if self._progress is not None:
            self._progress.write(message)
        else:
            print(message, flush=True)

    def running_metrics(self) -> dict[str, float]:
        """The training metrics over the current epoch's batches so far."""
        return {m.name: float(m.compute()) for m in self.metrics}

    # -------------------------------------------------------------- forward
    def _to_device(self, batch: Any) -> Any:
        """The batch's tensors on the Trainer's device (the batch as it is without one)."""
        return batch if self.device is None else move_to_device(batch, self.device)

    def _forward(self, x: Any, who: str) -> Any:
        """``model(x)``, ``model(*x)`` for a tuple/list of inputs, ``model(**x)`` for a dict of them."""
        model = self._net
        if isinstance(x, list):
            if (len(x), None) not in self._call_checked:
                self._check_call(x, None, who)
            return model(*x)
        if isinstance(x, dict):
            key = (len(x), tuple(x))
            if key not in self._call_checked:
                self._check_call((), x, who)
            return model(**x)
        return model(x)

    def _check_call(self, args: Sequence[Any], kwargs: Mapping[str, Any] | None, who: str) -> None:
        """Before the first call with several inputs: do they fit ``forward``'s signature? Say so if not.

        Checked once per arity (or set of keys), so a mismatch gets a message
        naming the batch layout instead of a TypeError from inside the model.
        """
        forward = self.model.forward
        try:
            sig = inspect.signature(forward)
        except (TypeError, ValueError):  # a builtin or C-level forward: nothing to check
            sig = None
        if sig is not None:
            try:
                sig.bind(*args, **(kwargs or {}))
            except TypeError as e:
                name = type(self.model).__name__
                if kwargs is None:
                    given = f"a tuple of {len(args)} inputs, passed as model(*inputs)"
                else:
                    given = f"a dict of inputs {sorted(kwargs)}, passed as model(**inputs)"
                raise TypeError(
                    f"{who}: the batch inputs are {given}, but {name}.forward{sig} does not accept them "
                    f"({e}); give batches ((x, lengths), y) or ({{'x': x, ...}}, y) that match forward's "
                    "parameters"
                ) from None
        self._call_checked.add((len(args), None) if kwargs is None else (len(kwargs), tuple(kwargs)))

    # -------------------------------------------------------------- fit
    def fit(
        self,
        train_loader: Iterable[Any],
        val_loader: Iterable[Any] | None = None,
        epochs: int = 10,
        resume_from: str | os.PathLike | None = None,
    ) -> History:
        """Train for ``epochs`` epochs (counting those before a resume); return the History.

        With ``resume_from`` (a checkpoint file, e.g. ModelCheckpoint's
        ``last.safetensors``) the model, optimizer, scheduler, History,
        callbacks and random generators come back as they were saved and
        training continues at the next epoch, bit for bit as if it had never
        stopped. A checkpoint written on Ctrl-C in the middle of an epoch holds
        the weights of that moment: resuming from it repeats that epoch.
        """
        if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 1:
            raise ValueError(f"Trainer.fit: epochs must be an int >= 1, got {epochs!r}")
        _check_loader(train_loader, "Trainer.fit", "train_loader", reiterable=True)
        if val_loader is not None:
            _check_loader(val_loader, "Trainer.fit", "val_loader", reiterable=True)
        if self._rep.world_size > 1:  # each rank trains its shard, through DistributedDataParallel
            train_loader, val_loader = self._rep.shard(train_loader, True), self._rep.shard(val_loader, False)
            self._net = self._rep.wrap(self.model)
        self.train_loader, self.val_loader, self.epochs = train_loader, val_loader, int(epochs)
        self.stop_training = False
        self.history = History()
        self._loss_limit = math.inf  # set by the first batch: divergence_factor times its loss
        self.epoch = self.global_step = 0
        self._params = [p for g in self.optimizer.param_groups for p in g["params"]]
        ckpt = None
        if resume_from is not None:
            ckpt = _ckpt.load_checkpoint(resume_from)
            _ckpt.restore_core(ckpt, self._checkpoint_parts())
            self.history = ckpt.history if ckpt.history is not None else History()
            self.history.stopped_reason = self.history.stopped_message = None
            self.epoch, self.global_step = ckpt.epoch, ckpt.global_step
        callbacks = self._callbacks
        logs: dict[str, float] = {}
        try:
            for cb in callbacks:
                cb.on_train_begin(self, logs)
            if ckpt is not None:
                _ckpt.restore_callbacks(ckpt, self._checkpoint_parts()["callbacks"])
                _ckpt.restore_random(ckpt, self.train_loader)
                if ckpt.epoch >= self.epochs:
                    self.log(
                        f"Trainer.fit: {ckpt.path} is at epoch {ckpt.epoch} and epochs={self.epochs}: "
                        "nothing left to train (epochs counts every epoch, including those before the resume)"
                    )
            for epoch in range(self.epoch + 1, self.epochs + 1):
                epoch_logs = self._run_epoch(epoch, callbacks)
                if epoch_logs is None:  # diverged
                    break
                logs = epoch_logs
                if self.stop_training:
                    break
        except KeyboardInterrupt:
            self._interrupted()
        except BaseException as e:
            for cb in callbacks:
                cb.on_exception(self, e)
            raise
        for cb in callbacks:
            cb.on_train_end(self, logs)
        if self.stop_training and self.history.stopped_reason is None:
            last = self.history.epochs[-1] if self.history.epochs else self.epoch
            self.history.stopped_reason = "stopped"
            self.history.stopped_message = f"a callback stopped training at epoch {last}"
        return self.history

    def _run_epoch(self, epoch: int, callbacks: list[Callback]) -> dict[str, float] | None:
        set_epoch = getattr(getattr(self.train_loader, "sampler", None), "set_epoch", None)
        if set_epoch is not None:  # a DistributedSampler: this epoch's shuffle, the same on every rank
            set_epoch(epoch)
        for cb in callbacks:
            cb.on_epoch_begin(self, epoch, {})
        result = self._train_epoch(epoch)
        if result is None:
            return None
        logs, lr = result
        if self.val_loader is not None:
            val = self._evaluate(self.val_loader, "Trainer.fit", "val_loader")
            logs.update((f"val_{k}", v) for k, v in val.items())
        logs["lr"] = lr
        if self.scheduler is not None and self.scheduler_interval == "epoch":
            step_scheduler(self.scheduler, logs, None, epoch)
        self.history.record(epoch, logs)
        self.epoch = epoch
        for cb in callbacks:
            cb.on_epoch_end(self, epoch, logs)
        if self._rep.world_size > 1:  # one rank's stop (a rank-0 callback's too) stops every rank
            self.stop_training = bool(self._rep.sum(np.array([float(self.stop_training)]))[0] > 0)
        return logs

    def _train_epoch(self, epoch: int) -> tuple[dict[str, float], float] | None:
        """One pass over the training batches; None if the loss diverged."""
        model, opt, loss_fn, loader = self.model, self.optimizer, self.loss_fn, self.train_loader
        metrics, begin, end = self.metrics, self._batch_begin, self._batch_end
        batch_scheduler = self.scheduler if self.scheduler_interval == "batch" else None
        clip, params = self.grad_clip, self._params
        global_sum = self._rep.sum if self._rep.world_size > 1 else None
        model.train()
        for m in metrics:
            m.reset()
        total, count = 0.0, 0
        lr = float(opt.param_groups[0]["lr"])
        logs: dict[str, float] = {}
        for i, batch in enumerate(loader):
            x, y_in = _split(batch, i, "Trainer.fit", "train_loader", loader)
            x, y = self._to_device((x, y_in))
            for cb in begin:
                cb.on_batch_begin(self, i, logs)
            opt.zero_grad()
            out = self._forward(x, "Trainer.fit")
            loss = loss_fn(out, y)
            value = _loss_value(loss)
            # the same figure on every rank: the sum of the ranks' losses under mpiexec
            seen = value if global_sum is None else float(global_sum(np.array([value]))[0])
            if not seen <= self._loss_limit:  # NaN, infinite, or exploded while finite
                self._diverged(epoch, i, value)
                return None
            if self._loss_limit == math.inf and self.divergence_factor is not None and seen > 0:
                self._loss_limit = self.divergence_factor * seen
            loss.backward()
            if clip is not None:
                clip_grad_norm_(params, clip)
            lr = float(opt.param_groups[0]["lr"])
            opt.step()
            self.global_step += 1
            if batch_scheduler is not None:
                batch_scheduler.step()
            n = _batch_size(y)
            total += value * n
            count += n
            if metrics:
                # one copy per batch, the output's, for all the metrics (targets that came from the host
                # are read there; only a loader that moved them itself costs a second copy)
                o, t = _host(out), _host(y_in)
                for m in metrics:
                    m.update(o, t)
            if end:
                logs = {"loss": total / count, "batch_loss": value, "size": n}
                for cb in end:
                    cb.on_batch_end(self, i, logs)
            if self.stop_training:
                break
        return self._epoch_values(total, count, metrics, "Trainer.fit", "train_loader"), lr

    # -------------------------------------------------------------- endings
    def _diverged(self, epoch: int, index: int, value: float) -> None:
        try:
            of = f" of {len(self.train_loader)}"
        except TypeError:
            of = ""
        lr = float(self.optimizer.param_groups[0]["lr"])
        grew = (
            f", over divergence_factor={self.divergence_factor:g} times the first batch's loss "
            f"({self._loss_limit / self.divergence_factor:.4g})"
            if math.isfinite(value) and self.divergence_factor
            else ""
        )
        message = (
            f"Training diverged: the loss became {value}{grew} at epoch {epoch}, step {index + 1}{of} "
            f"(global step {self.global_step + 1}), with learning rate {_lrs(self.optimizer)}; training "
            "stopped before that step's update. What to try: lower the learning rate, e.g. by 10x "
            f"(lr={lr / 10:g}); clip the gradients (Trainer(..., grad_clip=1.0)); scale or standardize "
            "the inputs (zero mean and unit variance per feature, e.g. sklearn.preprocessing.StandardScaler)."
        )
        self.history.record(epoch, {"loss": value, "lr": lr})
        self.history.stopped_reason = "diverged"
        self.history.stopped_message = message
        self.log(message)

    def _interrupt_path(self) -> str:
        directory = next((cb.dirpath for cb in self.callbacks if isinstance(cb, ModelCheckpoint)), None)
        directory = directory or self.log_dir or os.getcwd()
        os.makedirs(directory, exist_ok=True)
        return os.path.join(directory, "interrupted.safetensors")

    def _interrupted(self) -> None:
        """Ctrl-C: save what there is, say where, and end as if training had stopped."""
        self.stop_training = True
        try:
            path = self._interrupt_path()
            if self._rep.rank == 0:
                _ckpt.save_checkpoint(path, self, self.epoch)
            where = f"saved a checkpoint to {path} (continue with fit(..., resume_from={path!r}))"
        except Exception as e:  # a failed save must not hide the History
            where = f"could not save a checkpoint ({type(e).__name__}: {e})"
        message = f"Training interrupted after {self.epoch} complete epoch(s); {where}."
        self.history.stopped_reason = "interrupted"
        self.history.stopped_message = message
        self.log(message)

    # -------------------------------------------------------------- evaluate / predict
    def _evaluate(self, loader: Iterable[Any], who: str, name: str) -> dict[str, float]:
        model, loss_fn, metrics = self.model, self.loss_fn, self._val_metrics
        for m in metrics:
            m.reset()
        total, count = 0.0, 0
        device_total: Any = 0.0
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                for i, batch in enumerate(loader):
                    x, y_in = _split(batch, i, who, name, loader)
                    x, y = self._to_device((x, y_in))
                    out = self._forward(x, who)
                    loss = _loss_array(loss_fn(out, y))
                    n = _batch_size(y)
                    if devices.is_device_array(loss):  # summed where it is: one read at the end
                        device_total = loss.reshape(()).astype(np.float64) * n + device_total
                    else:
                        total += float(loss) * n
                    count += n
                    if metrics:
                        o, t = _host(out), _host(y_in)  # one copy per batch for all the metrics
                        for m in metrics:
                            m.update(o, t)
        finally:
            model.train(was_training)
        if devices.is_device_array(device_total):
            total += float(devices.to_host(device_total))
        return self._epoch_values(total, count, metrics, who, name)

    def evaluate(self, loader: Iterable[Any]) -> dict[str, float]:
        """The loss (mean over samples) and the metrics on ``loader``, in eval mode without a graph."""
        _check_loader(loader, "Trainer.evaluate", "loader", reiterable=False)
        if self._rep.world_size > 1:  # data parallel: each rank evaluates its share (or, if it can't, all)
            with contextlib.suppress(TypeError):
                loader = self._rep.shard(loader, False)
        return self._evaluate(loader, "Trainer.evaluate", "loader")

    def predict(self, loader: Iterable[Any]) -> Tensor:
        """The model's outputs for every batch, concatenated along the first axis (eval mode, no graph).

        Batches may be the inputs alone or ``(x,)`` / ``(x, y)`` (the targets are ignored).
        """
        _check_loader(loader, "Trainer.predict", "loader", reiterable=False)
        model = self.model
        outputs = []
        was_training = model.training
        model.eval()
        try:
            with no_grad():
                for i, batch in enumerate(loader):
                    out = self._forward(self._to_device(_inputs(batch, i)), "Trainer.predict")
                    if not isinstance(out, Tensor):
                        kind = type(out).__name__
                        raise TypeError(f"Trainer.predict: the model returned a {kind}, not a Tensor")
                    outputs.append(out._array)
        finally:
            model.train(was_training)
        if not outputs:
            raise ValueError("Trainer.predict: loader yielded no batches")
        return _make(devices.array_module(*outputs).concatenate(outputs, axis=0), None)

    def __repr__(self) -> str:
        names = [m.name for m in self.metrics]
        return (
            f"Trainer(model={type(self.model).__name__}, optimizer={type(self.optimizer).__name__}, "
            f"metrics={names}, callbacks={[type(cb).__name__ for cb in self.callbacks]})"
        )
