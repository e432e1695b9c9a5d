"""Experiments from a file: ``chainrule train CONFIG.toml``.

A TOML file names the dataset, the model (from the model registry the caller
passes in, :mod:`chainrule.models.registry` for the command) with its
arguments, the loss, optimizer and scheduler (by their class names in
``cr.nn``, ``cr.optim`` and ``cr.optim.lr_scheduler``), the callbacks and the
epochs. :func:`run_experiment` trains it with the :class:`Trainer` and writes
into the output directory: ``config.json`` (the resolved config),
``checkpoints/``, ``history.csv``, ``curves.png``, ``diagnosis.txt`` and
``results.json`` (the final train, validation and test figures). Anything
the file names that does not exist is refused with the list of valid names,
before any training starts.

```toml
[data]
dataset = "digits"        # or "csv" with path = "...", target = "label"
batch_size = 32
val_fraction = 0.2
num_workers = 0           # > 0: batches made in that many worker processes

[model]
name = "MLP"
in_features = 64
hidden_sizes = [128]
out_features = 10

[optimizer]
name = "Adam"
lr = 1e-3

[train]
epochs = 20
```
"""

from __future__ import annotations

import csv
import inspect
import json
import math
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, Subset, TensorDataset, random_split
from chainrule.io import atomic_write

__all__ = ["ConfigError", "load_config", "run_experiment"]

# Section -> its keys and their defaults. "model", "loss", "optimizer" and
# "scheduler" take a "name" plus the arguments of what they name.
_FIXED = {
    "data": {
        "dataset": "digits",
        "batch_size": 32,
        "val_fraction": 0.2,
        "path": None,
        "test_path": None,
        "target": None,
        "task": "classification",
        "split_seed": 0,
        "num_workers": 0,
    },
    "train": {"epochs": 10, "seed": 0, "metrics": ["accuracy"], "grad_clip": None, "device": None},
    "output": {"dir": "runs/experiment"},
    "callbacks": {"early_stopping": None, "checkpoint": None, "csv_log": True},
}
_NAMED = ("model", "loss", "optimizer", "scheduler")
_DATASETS = ("digits", "csv")


class ConfigError(ValueError):
    """A config file that names something unknown or gives a value of the wrong kind."""


def _options(cls: Callable[..., Any], skip: tuple[str, ...]) -> list[str]:
    params = inspect.signature(cls).parameters.values()
    return [p.name for p in params if p.name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _check_keys(section: str, given: Mapping[str, Any], valid: list[str] | dict, where: str) -> None:
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} in [{section}]; "
            f"valid keys: {', '.join(sorted(valid))}"
        )


def _registries(models: Any) -> dict[str, dict[str, Any]]:
    def classes(module: Any, base: type) -> dict[str, Any]:
        return {
            name: obj
            for name, obj in vars(module).items()
            if inspect.isclass(obj) and issubclass(obj, base) and obj is not base and not name.startswith("_")
        }

    losses = {n: c for n, c in classes(nn, nn.Module).items() if n.endswith("Loss")}
    schedulers = classes(optim.lr_scheduler, optim.lr_scheduler.LRScheduler)
    schedulers["ReduceLROnPlateau"] = optim.lr_scheduler.ReduceLROnPlateau
    return {
        "model": dict(models.MODELS),
        "loss": losses,
        "optimizer": classes(optim, optim.Optimizer),
        "scheduler": {n: c for n, c in schedulers.items() if n != "LRScheduler"},
    }


def load_config(path: str | Path, *, models: Any) -> dict[str, Any]:
    """Read and check a TOML config: every section, key and name must be known.

    ``models`` is the model registry (``MODELS`` and ``get_model``, as in
    :mod:`chainrule.models.registry`): passed in so that ``train`` does not
    depend on ``models``, the layer above it.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    return check_config(raw, where=str(path), models=models)


def check_config(raw: Mapping[str, Any], where: str = "config", *, models: Any) -> dict[str, Any]:
    """Defaults filled in and every name checked; a ConfigError names what is wrong and the valid choices.

    ``models`` is the model registry, as for :func:`load_config`.
    """
    _check_keys("top level", raw, [*_FIXED, *_NAMED], where)
    config: dict[str, Any] = {}
    for section, defaults in _FIXED.items():
        given = raw.get(section, {})
        if not isinstance(given, Mapping):
            raise ConfigError(f"{where}: [{section}] must be a table")
        _check_keys(section, given, defaults, where)
        config[section] = {**defaults, **given}
    workers = config["data"]["num_workers"]
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"{where}: [data] num_workers must be an integer >= 0, got {workers!r}")
    device = config["train"]["device"]
    if device is not None and not isinstance(device, str):
        raise ConfigError(f'{where}: [train] device must be a device name such as "cuda", got {device!r}')
    if config["data"]["dataset"] not in _DATASETS:
        raise ConfigError(
            f"{where}: unknown dataset {config['data']['dataset']!r}; valid datasets: {', '.join(_DATASETS)}"
        )
    registries = _registries(models)
    for section in _NAMED:
        given = raw.get(section)
        if given is None:
            config[section] = None
            continue
        if not isinstance(given, Mapping) or "name" not in given:
            raise ConfigError(f'{where}: [{section}] needs a name = "..."')
        name, registry = given["name"], registries[section]
        if name not in registry:
            raise ConfigError(
                f"{where}: unknown {section} {name!r}; valid names: {', '.join(sorted(registry))}"
            )
        args = {k: v for k, v in given.items() if k not in ("name", "interval")}
        skip = {"optimizer": ("params",), "scheduler": ("optimizer",)}.get(section, ())
        _check_keys(f"{section}] ({name}", args, _options(registry[name], skip), where)
        config[section] = dict(given)
    if config["model"] is None:
        valid = ", ".join(sorted(models.MODELS))
        raise ConfigError(f"{where}: a [model] section is required; valid names: {valid}")
    config["loss"] = config["loss"] or {"name": "CrossEntropyLoss"}
    config["optimizer"] = config["optimizer"] or {"name": "Adam", "lr": 1e-3}
    callbacks = config["callbacks"]
    for key, cls_name in (("early_stopping", "EarlyStopping"), ("checkpoint", "ModelCheckpoint")):
        value = callbacks[key]
        if value is not None and not isinstance(value, (Mapping, bool)):
            raise ConfigError(f"{where}: callbacks.{key} must be a table or true/false")
        if isinstance(value, Mapping):
            from chainrule.train import callbacks as cb

            _check_keys(f"callbacks.{key}", value, _options(getattr(cb, cls_name), ("dirpath",)), where)
    return config


# ------------------------------------------------------------------- datasets
def _read_csv(
    path: str | Path, target: str, task: str, classes: list[str] | None
) -> tuple[TensorDataset, list]:
    """A numeric CSV with a header row: every column but ``target`` is a feature."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such data file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text CSV file") from None
    if len(rows) < 2:
        raise ConfigError(f"{path}: needs a header row and at least one data row")
    header, body = rows[0], [r for r in rows[1:] if r]
    if target not in header:
        raise ConfigError(f"{path}: no target column {target!r}; columns: {', '.join(header)}")
    t = header.index(target)
    features, labels = [], []
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ConfigError(f"{path}, line {line}: {len(row)} values, the header has {len(header)}")
        try:
            features.append([float(v) for i, v in enumerate(row) if i != t])
        except ValueError:
            raise ConfigError(f"{path}, line {line}: a feature is not a number: {row}") from None
        labels.append(row[t])
    x = np.asarray(features, dtype=np.float32)
    if task == "classification":
        classes = classes or sorted(set(labels), key=lambda s: (len(s), s))
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise ConfigError(f"{path}: labels {unknown} do not appear in the training file")
        y = np.asarray([index[v] for v in labels], dtype=np.int64)
    else:
        y = np.asarray([float(v) for v in labels], dtype=np.float32).reshape(-1, 1)
    return TensorDataset(x, y), classes or []


def build_datasets(data: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """``(train, val, test)`` datasets as the [data] section asks (val split off the training data)."""
    if data["dataset"] == "digits":
        from chainrule.data.datasets import load_digits

        train, test = load_digits()
    else:
        if not data["path"] or not data["target"]:
            raise ConfigError('[data] dataset = "csv" needs path = "..." and target = "column"')
        train, classes = _read_csv(data["path"], data["target"], data["task"], None)
        test = (
            _read_csv(data["test_path"], data["target"], data["task"], classes)[0]
            if data["test_path"]
            else None
        )
    fraction = float(data["val_fraction"])
    if not 0 <= fraction < 1:
        raise ConfigError(f"[data] val_fraction must be in [0, 1), got {fraction}")
    if fraction == 0:
        return train, None, test
    n_val = max(1, round(len(train) * fraction))
    generator = cr.Generator(int(data["split_seed"]))
    fit, val = random_split(train, [len(train) - n_val, n_val], generator=generator)
    return _materialise(fit), _materialise(val), test


def _materialise(subset: Subset) -> TensorDataset:
    tensors = subset.dataset.tensors
    index = np.asarray(subset.indices)
    return TensorDataset(*[t._array[index] for t in tensors])


# ----------------------------------------------------------------- the run
def _build(section: Mapping[str, Any], registry: Mapping[str, Any], *first: Any) -> Any:
    args = {k: v for k, v in section.items() if k not in ("name", "interval")}
    return registry[section["name"]](*first, **args)


def run_experiment(
    config: Mapping[str, Any],
    out_dir: str | Path | None = None,
    progress: bool | None = None,
    *,
    models: Any,
):
    """Train what ``config`` (from :func:`load_config`) describes; returns ``(history, results)``.

    ``models`` is the model registry the config's model is built from, as for :func:`load_config`.
    """
    from chainrule.train import parallel
    from chainrule.train.callbacks import CSVLogger, EarlyStopping, ModelCheckpoint
    from chainrule.train.trainer import Trainer

    out = Path(out_dir or config["output"]["dir"])
    out.mkdir(parents=True, exist_ok=True)
    train_cfg, data_cfg = config["train"], config["data"]
    cr.manual_seed(int(train_cfg["seed"]))
    train, val, test = build_datasets(data_cfg)
    registries = _registries(models)
    model_args = {k: v for k, v in config["model"].items() if k != "name"}
    model = models.get_model(config["model"]["name"], **model_args)
    loss_fn = _build(config["loss"], registries["loss"])
    optimizer = _build(config["optimizer"], registries["optimizer"], model.parameters())
    scheduler, interval = None, "epoch"
    if config["scheduler"]:
        scheduler = _build(config["scheduler"], registries["scheduler"], optimizer)
        interval = config["scheduler"].get("interval", "epoch")

    callbacks: list[Any] = []
    cb_cfg = config["callbacks"]
    if cb_cfg["early_stopping"]:
        opts = cb_cfg["early_stopping"] if isinstance(cb_cfg["early_stopping"], Mapping) else {}
        callbacks.append(EarlyStopping(**opts))
    if cb_cfg["checkpoint"] is not False:
        opts = cb_cfg["checkpoint"] if isinstance(cb_cfg["checkpoint"], Mapping) else {}
        callbacks.append(ModelCheckpoint(out / "checkpoints", **opts))
    if cb_cfg["csv_log"]:
        callbacks.append(CSVLogger(out / "log.csv"))

    batch = int(data_cfg["batch_size"])
    # workers start with each epoch and end with it (not persistent): none outlive the run
    workers = int(data_cfg["num_workers"])
    trainer = Trainer(
        model,
        loss_fn,
        optimizer,
        metrics=tuple(train_cfg["metrics"]),
        callbacks=callbacks,
        scheduler=scheduler,
        scheduler_interval=interval,
        grad_clip=train_cfg["grad_clip"],
        progress=progress,
        device=train_cfg["device"],  # the model there once, each batch as it comes
    )
    history = trainer.fit(
        DataLoader(train, batch_size=batch, shuffle=True, num_workers=workers),
        DataLoader(val, batch_size=batch, num_workers=workers) if val is not None else None,
        epochs=int(train_cfg["epochs"]),
    )
    results: dict[str, Any] = {"epochs_run": len(history), "stopped_reason": history.stopped_reason}
    for split, ds in (("train", train), ("val", val), ("test", test)):
        if ds is not None:
            results[split] = {
                k: _json_number(v)
                for k, v in trainer.evaluate(DataLoader(ds, batch_size=256, num_workers=workers)).items()
            }
    if parallel.current().rank != 0:  # data parallel: rank 0 writes the files
        return history, results
    history.to_csv(out / "history.csv")
    history.plot(out / "curves.png")
    diagnosis = history.diagnose()
    results["diagnosis"] = diagnosis.verdict
    with atomic_write(out / "diagnosis.txt", "w") as f:
        f.write(str(diagnosis) + "\n")
    with atomic_write(out / "results.json", "w") as f:
        json.dump(results, f, indent=2)
    with atomic_write(out / "config.json", "w") as f:  # what `chainrule export` rebuilds the model from
        json.dump(config, f, indent=2, default=str)
    return history, results


def _json_number(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None
