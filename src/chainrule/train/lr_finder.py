"""The learning-rate range test (Leslie Smith, 2015; popularised by fastai): which rate to train with.

Train for ``num_iter`` batches while the learning rate grows exponentially from
``start_lr`` to ``end_lr``, and record the (smoothed) loss at each rate. The
loss first barely moves (rate too small), then falls fast, then blows up (rate
too large). A good rate sits where it falls fastest. The model, the optimizer
and the random generators are put back as they were, so the test changes nothing.
"""

from __future__ import annotations

import copy
import math
import numbers
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule import backend
from chainrule import random as _random
from chainrule.data.collate import move_to_device
from chainrule.nn.module import Module
from chainrule.optim.optimizer import Optimizer
from chainrule.tensor import Tensor

__all__ = ["LRFinderResult", "find_lr", "suggest_lr"]


@dataclass
class LRFinderResult:
    """What the range test recorded: ``lrs[i]`` and the smoothed loss ``losses[i]`` of batch ``i``.

    ``raw_losses`` are the batch losses before smoothing, ``suggested_lr`` the
    rate at the steepest descent of the smoothed loss (see :func:`suggest_lr`;
    None when too few points were recorded), ``diverged`` whether the sweep
    stopped early because the loss blew up.
    """

    lrs: list[float]
    losses: list[float]
    suggested_lr: float | None
    raw_losses: list[float] = field(default_factory=list)
    diverged: bool = False

    def plot(self, path: str | os.PathLike, title: str | None = None) -> Path:
        """Draw loss against learning rate (log scale) with the suggestion marked; write it atomically."""
        from chainrule.train.plots import plot_lr_finder

        return plot_lr_finder(self.lrs, self.losses, self.suggested_lr, path, title=title)

    def __repr__(self) -> str:
        lr = "None" if self.suggested_lr is None else f"{self.suggested_lr:.3g}"
        return f"LRFinderResult(points={len(self.lrs)}, suggested_lr={lr}, diverged={self.diverged})"


def suggest_lr(lrs: Iterable[float], losses: Iterable[float]) -> float | None:
    """The rate where the smoothed loss falls fastest against ``log10(lr)``, on the way to its minimum.

    The slope at point ``i`` is ``(loss[i+h] - loss[i-h]) / (log10 lr[i+h] - log10 lr[i-h])``
    with ``h`` a twentieth of the points (5 of 100; clipped at the ends of the
    range): a central difference taken over a tenth of the sweep, so batch
    noise does not pass for a descent. The range runs from the tenth point
    (before it the bias-corrected average rests on a handful of batches) to
    the lowest smoothed loss (past it the loss climbs towards divergence);
    the most negative slope wins. None with fewer than 3 finite points, or
    when the loss never fell (``start_lr`` was already too high).
    """
    lr = np.asarray(list(lrs), dtype=np.float64)
    loss = np.asarray(list(losses), dtype=np.float64)
    ok = np.isfinite(loss) & (lr > 0)
    lr, loss = lr[ok], loss[ok]
    n = len(lr)
    if n < 3:
        return None
    x = np.log10(lr)
    m = int(np.argmin(loss))
    lo = min(n // 10, max(m - 2, 0))  # skip the noisy start, but never the whole descent
    if m <= lo:
        return None
    h = max(1, n // 20)
    i = np.arange(lo, m + 1)
    a, b = np.maximum(i - h, lo), np.minimum(i + h, m)
    slope = (loss[b] - loss[a]) / (x[b] - x[a])
    k = int(np.argmin(slope))
    return float(lr[i[k]]) if slope[k] < 0 else None


def _check(name: str, ok: bool, expected: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"find_lr: {name} must be {expected}, got {value!r}")


def _batches(loader: Iterable[Any]) -> Iterator[Any]:
    """The loader's batches, starting a new pass whenever one ends (an empty loader is an error)."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("find_lr: the loader yielded no batches")


def _set_lr(optimizer: Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def _loader_generators(loader: Any) -> list[_random.Generator]:
    """The generators a loader shuffles with (its own, its sampler's, its batch sampler's sampler's)."""
    sampler = getattr(loader, "sampler", None)
    inner = getattr(getattr(loader, "batch_sampler", None), "sampler", None)
    found: list[_random.Generator] = []
    for owner in (loader, sampler, inner):
        gen = getattr(owner, "generator", None)
        if isinstance(gen, _random.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


class _Snapshot:
    """Everything the sweep changes, copied so it can be put back exactly.

    The model's parameters and buffers (copies of ``state_dict``), each
    module's training flag, the parameters' gradients, the optimizer's state
    dict (deep-copied: it holds live tensors), and the state of the global
    random generator (dropout, shuffling) and of the loader's own generators.
    """

    def __init__(self, model: Module, optimizer: Optimizer, loader: Any) -> None:
        self.weights = {k: v._array.copy() for k, v in model.state_dict().items()}
        self.modes = [(m, m.training) for m in model.modules()]
        self.grads = [(p, None if p.grad is None else p.grad._array.copy()) for p in model.parameters()]
        self.optimizer = copy.deepcopy(optimizer.state_dict())
        self.opt_called = vars(optimizer).get("_opt_called")
        self.rng = copy.deepcopy(_random.get_rng_state())
        self.generators = [(g, copy.deepcopy(g.get_state())) for g in _loader_generators(loader)]

    def restore(self, model: Module, optimizer: Optimizer) -> None:
        model.load_state_dict(self.weights)
        for m, mode in self.modes:
            object.__setattr__(m, "training", mode)
        for p, g in self.grads:
            p.grad = None if g is None else Tensor._make(g, None)
        optimizer.load_state_dict(self.optimizer)
        if self.opt_called is None:
            vars(optimizer).pop("_opt_called", None)
        else:
            optimizer._opt_called = self.opt_called
        _random.set_rng_state(self.rng)
        for gen, state in self.generators:
            gen.set_state(state)


def find_lr(
    model: Module,
    loss_fn: Callable[[Any, Any], Any],
    optimizer: Optimizer,
    loader: Iterable[Any],
    start_lr: float = 1e-7,
    end_lr: float = 10,
    num_iter: int = 100,
    smooth_f: float = 0.05,
    diverge_th: float = 5,
    plot: str | os.PathLike | None = None,
    device: Any = None,
) -> LRFinderResult:
    """Run the learning-rate range test and suggest a learning rate; the model is left unchanged.

    Trains ``model`` (in training mode) on ``num_iter`` batches of ``loader``
    (``(inputs, targets)`` pairs; the loader is restarted if it runs out),
    with the learning rate of every parameter group set to
    ``start_lr * (end_lr / start_lr) ** (i / (num_iter - 1))`` at batch ``i``.
    The loss of batch ``i`` (computed before its update) is smoothed by an
    exponential moving average with bias correction, ``avg = (1 - smooth_f) *
    avg + smooth_f * loss`` and ``smoothed = avg / (1 - (1 - smooth_f) ** (i + 1))``.
    The sweep stops early when the loss is not finite or the smoothed loss
    exceeds ``diverge_th`` times the best so far (for a negative best,
    ``best + (diverge_th - 1) * |best|``). The suggestion is the rate at the
    steepest descent of the smoothed loss (:func:`suggest_lr`).

    Afterwards the model's parameters, buffers, training flags and gradients,
    the optimizer's state (momentum buffers, step counts, learning rates) and
    the random generators are restored from copies taken before, so
    ``find_lr`` followed by training gives the same run as training alone.
    ``plot``, if given, is a path where the loss-against-rate picture is written.
    ``device``, if given, is where the model is moved (it stays there) and each
    batch's tensors go, as ``Trainer(..., device=...)`` does; each step reads its
    loss back to the host once (it decides whether the sweep goes on).
    """
    if not isinstance(model, Module):
        raise TypeError(f"find_lr: model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"find_lr: optimizer must be an optim.Optimizer, got {type(optimizer).__name__}")
    _check("start_lr", isinstance(start_lr, numbers.Real) and start_lr > 0, "a positive number", start_lr)
    _check(
        "end_lr", isinstance(end_lr, numbers.Real) and end_lr > start_lr, f"above start_lr={start_lr}", end_lr
    )
    _check(
        "num_iter",
        isinstance(num_iter, int) and not isinstance(num_iter, bool) and num_iter >= 2,
        "an int >= 2",
        num_iter,
    )
    _check("smooth_f", isinstance(smooth_f, numbers.Real) and 0 < smooth_f <= 1, "in (0, 1]", smooth_f)
    _check("diverge_th", isinstance(diverge_th, numbers.Real) and diverge_th > 1, "above 1", diverge_th)

    ratio = math.log(end_lr / start_lr) / (num_iter - 1)
    beta = 1.0 - smooth_f
    lrs: list[float] = []
    losses: list[float] = []
    raw: list[float] = []
    diverged = False
    where = backend.check_device(device, "find_lr")
    if where is not None:
        model.to(where)  # in place: the optimizer's parameters are the same objects
        if optimizer.state:  # earlier steps' state goes next to its parameters
            optimizer.load_state_dict(optimizer.state_dict())
    snapshot = _Snapshot(model, optimizer, loader)
    try:
        model.train()
        batches = _batches(loader)
        avg, best = 0.0, math.inf
        for i in range(num_iter):
            lr = start_lr * math.exp(ratio * i)
            _set_lr(optimizer, lr)
            batch = next(batches)
            if not isinstance(batch, tuple | list) or len(batch) != 2:
                raise TypeError(
                    "find_lr: expected the loader to yield (inputs, targets) pairs, got "
                    f"{type(batch).__name__}"
                    + (f" of length {len(batch)}" if isinstance(batch, tuple | list) else "")
                )
            if where is not None:
                batch = move_to_device(batch, where)
            optimizer.zero_grad()
            loss = loss_fn(model(batch[0]), batch[1])
            value = float(loss.item())
            if not math.isfinite(value):
                diverged = True
                break
            loss.backward()
            optimizer.step()
            avg = beta * avg + smooth_f * value
            smoothed = avg / (1.0 - beta ** (i + 1))
            lrs.append(lr)
            raw.append(value)
            losses.append(smoothed)
            best = min(best, smoothed)
            if smoothed > best + (diverge_th - 1) * abs(best):
                diverged = True
                break
    finally:
        snapshot.restore(model, optimizer)

    result = LRFinderResult(lrs, losses, suggest_lr(lrs, losses), raw, diverged)
    if plot is not None:
        result.plot(plot)
    return result
