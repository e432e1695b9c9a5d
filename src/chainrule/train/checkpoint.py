"""Training checkpoints: everything a run needs to continue, in ONE safetensors file, written atomically.

A checkpoint holds the model's weights, the optimizer's state, the scheduler's
state, the epoch, the :class:`History`, the callbacks' states (EarlyStopping's
best weights and patience count, ModelCheckpoint's best value), the global
random generator's state and that of the training DataLoader's own generator.
Resuming from it continues a run so exactly that 2 epochs + resume + 2 epochs
gives the same bits as 4 epochs in one go.

The layout: tensors under dotted prefixes (``model.0.weight``,
``optimizer.state.3.exp_avg``, ``callbacks.EarlyStopping.best_weights.0.weight``)
and everything else as JSON strings in the safetensors metadata (``optimizer``
holds the param groups and, in place of each tensor, a reference
``{"__tensor__": "optimizer.state.3.exp_avg"}``). Tuples, dicts with
non-string keys (the optimizer's state is keyed by parameter index), Counters
and NumPy scalars are tagged so that they come back as they were. No pickle:
loading a checkpoint cannot run code.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import devices, io
from chainrule import random as _random
from chainrule.tensor import Tensor
from chainrule.train.history import History
from chainrule.validation import non_negative_int

__all__ = ["Checkpoint", "CheckpointError", "load_checkpoint", "restore_checkpoint", "save_checkpoint"]

FORMAT = "chainrule.checkpoint"
VERSION = 1
_PARTS = frozenset({"model", "optimizer", "scheduler", "history", "callbacks", "train_loader", "global_step"})
# Tags of encoded values: a dict with exactly one of these keys is a tagged value.
_TAGS = frozenset({"__tensor__", "__ndarray__", "__tuple__", "__items__", "__counter__", "__scalar__"})


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or that does not fit the model/optimizer it is loaded into."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` read: ``model`` is a state dict, ready for ``model.load_state_dict``."""

    path: str
    epoch: int
    model: dict[str, Tensor]
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    history: History | None = None
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)
    rng_state: dict[str, Any] | None = None
    generator_states: list[dict[str, Any]] = field(default_factory=list)
    global_step: int = 0
    classes: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------ encoding
class _Encoder:
    """Turns nested state (dicts, lists, tuples, Tensors, arrays, numbers) into JSON plus named tensors."""

    def __init__(self, tensors: dict[str, Any]) -> None:
        self.tensors = tensors

    def _put(self, path: str, array: Any) -> str:
        key, n = path, 1
        while key in self.tensors:  # keys built from different paths may coincide ("3" and 3)
            key, n = f"{path}#{n}", n + 1
        self.tensors[key] = array
        return key

    def encode(self, obj: Any, path: str) -> Any:
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, Tensor):
            return {"__tensor__": self._put(path, obj._array)}
        if isinstance(obj, np.ndarray) or devices.is_device_array(obj):
            if obj.dtype.kind not in "biuf":
                raise TypeError(f"save_checkpoint: {path} is an array of dtype {obj.dtype}, not storable")
            return {"__ndarray__": self._put(path, obj)}
        if isinstance(obj, np.generic):
            return {"__scalar__": [obj.dtype.str, obj.item()]}
        if isinstance(obj, Counter):
            return {"__counter__": [[self.encode(k, path), v] for k, v in obj.items()]}
        if isinstance(obj, Mapping):
            if all(isinstance(k, str) for k in obj) and _TAGS.isdisjoint(obj):
                return {k: self.encode(v, f"{path}.{k}") for k, v in obj.items()}
            items = [[self.encode(k, path), self.encode(v, f"{path}.{k}")] for k, v in obj.items()]
            return {"__items__": items}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, f"{path}.{i}") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{path}.{i}") for i, v in enumerate(obj)]
        raise TypeError(
            f"save_checkpoint: cannot store {path}, a {type(obj).__module__}.{type(obj).__qualname__}; "
            "checkpoints hold numbers, strings, lists, dicts, tuples, Tensors and NumPy arrays"
        )


def _decode(obj: Any, tensors: Mapping[str, Tensor], where: str) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        ((tag, value),) = obj.items()
        if tag in _TAGS:
            if tag in ("__tensor__", "__ndarray__"):
                if value not in tensors:
                    raise CheckpointError(f"load_checkpoint: {where} refers to a missing tensor {value!r}")
                t = tensors[value]
                return t if tag == "__tensor__" else t._array
            if tag == "__tuple__":
                return tuple(_decode(v, tensors, where) for v in value)
            if tag == "__counter__":
                return Counter({_decode(k, tensors, where): c for k, c in value})
            if tag == "__items__":
                return {_decode(k, tensors, where): _decode(v, tensors, where) for k, v in value}
            dtype, item = value
            return np.dtype(dtype).type(item)
    return {k: _decode(v, tensors, where) for k, v in obj.items()}


# ------------------------------------------------------------------ parts
def callback_key_map(callbacks: Iterable[Any]) -> dict[str, Any]:
    """Name callbacks by class, numbering repeats (``EarlyStopping``, ``EarlyStopping_1``)."""
    out: dict[str, Any] = {}
    seen: Counter[str] = Counter()
    for cb in callbacks:
        name = type(cb).__name__
        out[name if not seen[name] else f"{name}_{seen[name]}"] = cb
        seen[name] += 1
    return out


def loader_generators(loader: Any) -> list[_random.Generator]:
    """The loader's own random generators (its ``generator``, its sampler's), not the global one."""
    found: list[_random.Generator] = []
    if loader is None:
        return found
    batch_sampler = getattr(loader, "batch_sampler", None)
    for obj in (loader, getattr(loader, "sampler", None), getattr(batch_sampler, "sampler", None)):
        gen = getattr(obj, "generator", None)
        if (
            isinstance(gen, _random.Generator)
            and gen is not _random.default_generator
            and all(gen is not g for g in found)
        ):
            found.append(gen)
    return found


def _parts(source: Any, who: str) -> dict[str, Any]:
    """A Trainer's parts (through its ``_checkpoint_parts``), or a dict of parts checked by name."""
    get = getattr(source, "_checkpoint_parts", None)
    if get is not None:
        return get()
    if not isinstance(source, Mapping):
        raise TypeError(
            f"{who}: expected a Trainer or a dict of parts ({', '.join(sorted(_PARTS))}), "
            f"got {type(source).__name__}"
        )
    unknown = sorted(set(source) - _PARTS)
    if unknown:
        raise ValueError(f"{who}: unknown part(s) {unknown}; the parts are {sorted(_PARTS)}")
    if source.get("model") is None:
        raise ValueError(f"{who}: the parts must include 'model' (a Module or a state dict)")
    parts = dict(source)
    callbacks = parts.get("callbacks")
    if callbacks is not None and not isinstance(callbacks, Mapping):
        parts["callbacks"] = callback_key_map(callbacks)
    return parts


def _model_state(model: Any) -> Mapping[str, Any]:
    return model.state_dict() if hasattr(model, "state_dict") else model


def _name(obj: Any) -> str:
    return type(obj).__name__


# ------------------------------------------------------------------ save
def save_checkpoint(path: str | os.PathLike, trainer_or_parts: Any, epoch: int) -> None:
    """Write a checkpoint of a Trainer (or of a dict of parts) after ``epoch`` epochs to ``path``.

    ``trainer_or_parts`` is a :class:`~chainrule.train.Trainer` or a dict with
    ``model`` (a Module or state dict) and optionally ``optimizer``,
    ``scheduler``, ``history``, ``callbacks`` (a list or a name -> callback
    dict), ``train_loader`` (whose own generator is saved) and ``global_step``.
    The global random generator's state is always saved. One file, replaced
    atomically: a crash mid-write leaves the previous checkpoint intact.
    """
    non_negative_int(epoch, "epoch", "save_checkpoint")
    parts = _parts(trainer_or_parts, "save_checkpoint")
    tensors: dict[str, Any] = {}
    enc = _Encoder(tensors)
    model = parts["model"]
    for key, value in _model_state(model).items():
        # device arrays go as they are: io.save copies them to the host (the file records no device)
        value = value._array if isinstance(value, Tensor) else value
        tensors[f"model.{key}"] = value if devices.is_device_array(value) else np.asarray(value)
    meta = {
        "format": FORMAT,
        "format_version": str(VERSION),
        "epoch": str(int(epoch)),
        "global_step": str(int(parts.get("global_step") or 0)),
        "rng_state": json.dumps(enc.encode(_random.get_rng_state(), "rng")),
    }
    classes = {"model": _name(model) if hasattr(model, "state_dict") else "state_dict"}
    for part in ("optimizer", "scheduler"):
        obj = parts.get(part)
        if obj is not None:
            meta[part] = json.dumps(enc.encode(obj.state_dict(), part))
            classes[part] = _name(obj)
    history = parts.get("history")
    if history is not None:
        meta["history"] = json.dumps(history.to_dict())
    callbacks = parts.get("callbacks") or {}
    states = {}
    for key, cb in callbacks.items():
        state = cb.state_dict()
        if state:
            states[key] = enc.encode(state, f"callbacks.{key}")
    meta["callbacks"] = json.dumps(states)
    generators = loader_generators(parts.get("train_loader"))
    meta["generator_states"] = json.dumps([enc.encode(g.get_state(), "generator") for g in generators])
    meta["classes"] = json.dumps(classes)
    io.save(tensors, path, metadata=meta)


# ------------------------------------------------------------------ load
def _json(path: str, meta: Mapping[str, str], key: str) -> Any:
    try:
        return json.loads(meta[key])
    except ValueError as e:
        raise CheckpointError(
            f"load_checkpoint: {path}: the metadata entry {key!r} is not valid JSON ({e})"
        ) from None


def load_checkpoint(path: str | os.PathLike, map_location: Any = None) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (no code is run: safetensors and JSON only).

    ``load_checkpoint(path).model`` is the model's state dict, so a checkpoint
    also serves as a weights file: ``model.load_state_dict(load_checkpoint(p).model)``.

    The tensors are on the CPU unless ``map_location`` says otherwise (as in
    ``torch.load``; see :func:`chainrule.io.load`). Restoring puts every value on
    the device of what it is restored into, so a checkpoint written from a
    model on a GPU restores into one on the CPU, and the reverse.
    """
    name = os.fsdecode(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else path
    meta = io.load_metadata(path)
    if meta.get("format") != FORMAT:
        tensors = io.load(path)
        shown = ", ".join(list(tensors)[:5]) + (", ..." if len(tensors) > 5 else "")
        raise CheckpointError(
            f"load_checkpoint: {name} is not a chainrule training checkpoint (its metadata has no "
            f"'format': {FORMAT!r}); it holds {len(tensors)} tensors ({shown}). A file of model weights "
            "loads with model.load_state_dict(chainrule.load(path))."
        )
    version = int(meta.get("format_version", "0"))
    if version > VERSION:
        raise CheckpointError(
            f"load_checkpoint: {name} has checkpoint format version {version}; this chainrule reads up "
            f"to version {VERSION} (upgrade chainrule)"
        )
    tensors = io.load(path, map_location=map_location)
    model = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    ckpt = Checkpoint(path=name, epoch=int(meta["epoch"]), model=model)
    ckpt.global_step = int(meta.get("global_step", "0"))
    ckpt.classes = _json(name, meta, "classes") if "classes" in meta else {}
    for part in ("optimizer", "scheduler"):
        if part in meta:
            setattr(ckpt, part, _decode(_json(name, meta, part), tensors, f"{name}: {part}"))
    if "history" in meta:
        ckpt.history = History.from_dict(_json(name, meta, "history"))
    if "callbacks" in meta:
        ckpt.callbacks = _decode(_json(name, meta, "callbacks"), tensors, f"{name}: callbacks")
    if "rng_state" in meta:
        ckpt.rng_state = _decode(_json(name, meta, "rng_state"), tensors, f"{name}: rng_state")
    if "generator_states" in meta:
        ckpt.generator_states = _decode(_json(name, meta, "generator_states"), tensors, name)
    return ckpt


# ------------------------------------------------------------------ restore
def _check_class(ckpt: Checkpoint, part: str, obj: Any) -> None:
    saved = ckpt.classes.get(part)
    if saved is not None and saved != _name(obj):
        raise CheckpointError(
            f"cannot restore {ckpt.path}: its {part} state was saved from {saved}, but this {part} is "
            f"{_name(obj)}"
        )


def restore_core(ckpt: Checkpoint, parts: Mapping[str, Any]) -> None:
    """Load the model, optimizer and scheduler states of ``ckpt`` into ``parts`` (errors name the file)."""
    model = parts["model"]
    try:
        model.load_state_dict(ckpt.model)
    except (RuntimeError, ValueError, TypeError) as e:
        saved = ckpt.classes.get("model", "?")
        raise CheckpointError(
            f"cannot restore {ckpt.path}: its model weights (saved from {saved}) do not fit this "
            f"{_name(model)}: {e}"
        ) from None
    optimizer = parts.get("optimizer")
    if optimizer is not None:
        if ckpt.optimizer is None:
            raise CheckpointError(f"cannot restore {ckpt.path}: it holds no optimizer state")
        _check_class(ckpt, "optimizer", optimizer)
        try:
            optimizer.load_state_dict(ckpt.optimizer)
        except (KeyError, ValueError, TypeError) as e:
            raise CheckpointError(
                f"cannot restore {ckpt.path}: the optimizer state does not fit: {e}"
            ) from None
    scheduler = parts.get("scheduler")
    if scheduler is not None and ckpt.scheduler is not None:
        _check_class(ckpt, "scheduler", scheduler)
        scheduler.load_state_dict(ckpt.scheduler)
    elif scheduler is not None or ckpt.scheduler is not None:
        has = "has no scheduler state"
        if scheduler is None:
            has = "has a scheduler state but no scheduler is given"
        warnings.warn(
            f"restoring {ckpt.path}: the checkpoint {has}; the learning rate continues from the "
            "optimizer's saved param groups",
            UserWarning,
            stacklevel=3,
        )


def restore_callbacks(ckpt: Checkpoint, callbacks: Mapping[str, Any]) -> None:
    """Give each callback its saved state (matched by class name and position among its class)."""
    for key, cb in callbacks.items():
        state = ckpt.callbacks.get(key)
        if state is not None:
            cb.load_state_dict(state)


def restore_random(ckpt: Checkpoint, train_loader: Any = None) -> None:
    """Put the global generator, and the loader's own generators, back where they were."""
    if ckpt.rng_state is not None:
        _random.set_rng_state(ckpt.rng_state)
    generators = loader_generators(train_loader)
    if len(generators) != len(ckpt.generator_states):
        if ckpt.generator_states or generators:
            warnings.warn(
                f"restoring {ckpt.path}: the checkpoint holds {len(ckpt.generator_states)} DataLoader "
                f"generator state(s), the loader has {len(generators)} generator(s) of its own; "
                "the shuffling will differ from the original run",
                UserWarning,
                stacklevel=3,
            )
        return
    for gen, state in zip(generators, ckpt.generator_states):
        gen.set_state(state)


def restore_checkpoint(source: Checkpoint | str | os.PathLike, trainer_or_parts: Any) -> Checkpoint:
    """Load a checkpoint (or a path to one) into a Trainer or a dict of parts; returns the Checkpoint.

    Restores the model, optimizer and scheduler states, the callbacks' states,
    the global generator and the training loader's own generators. A Trainer
    also gets its History and step count back (``Trainer.fit(resume_from=...)``
    does all of this and then continues at the next epoch).
    """
    ckpt = source if isinstance(source, Checkpoint) else load_checkpoint(source)
    parts = _parts(trainer_or_parts, "restore_checkpoint")
    restore_core(ckpt, parts)
    restore_callbacks(ckpt, parts.get("callbacks") or {})
    restore_random(ckpt, parts.get("train_loader"))
    if hasattr(trainer_or_parts, "_checkpoint_parts"):
        if ckpt.history is not None:
            trainer_or_parts.history = ckpt.history
        trainer_or_parts.global_step = ckpt.global_step
        trainer_or_parts.epoch = ckpt.epoch
    return ckpt
