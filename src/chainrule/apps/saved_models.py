"""The models the ``chainrule`` commands save, rebuilt for ``chainrule export``: a model and an example input.

``chainrule train`` writes a run directory (``config.json`` + ``checkpoints/``),
``chainrule maintenance`` safetensors files with the architecture in their
metadata (``models/*.safetensors``), ``chainrule traffic`` a detector directory
(``detector.json``: an autoencoder and a classifier).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["SourceError", "saved_model"]


class SourceError(ValueError):
    """A path holding no model ``chainrule export`` can rebuild (the message says what it found)."""


def _train_run(d: Path) -> tuple[Module, Tensor, dict[int, str]]:
    from chainrule.models import registry
    from chainrule.train.checkpoint import load_checkpoint
    from chainrule.train.config import build_datasets

    config = json.loads((d / "config.json").read_text(encoding="utf-8"))
    args = {k: v for k, v in config["model"].items() if k != "name"}
    model = registry.get_model(config["model"]["name"], **args)
    ckpt = next((d / "checkpoints" / n for n in ("best.safetensors", "last.safetensors")
                 if (d / "checkpoints" / n).is_file()), None)  # fmt: skip
    if ckpt is None:
        raise SourceError(f"{d}: the run directory has no checkpoints/best.safetensors or last.safetensors")
    model.load_state_dict(load_checkpoint(ckpt).model)
    train = build_datasets(config["data"])[0]
    x = train[0][0]
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    return model, Tensor(x._array[None]), {0: "batch"}


def _maintenance(path: Path) -> tuple[Module, Tensor, dict[int, str]]:
    from chainrule.apps.maintenance.models import load_model
    from chainrule.io import load_metadata

    model, kind = load_model(path)
    config = json.loads(load_metadata(path)["config"])
    x = Tensor(np.zeros((1, int(config["window"]), int(config["n_features"])), np.float32))
    return model, x, ({0: "batch", 1: "time"} if kind == "lstm" else {0: "batch"})


def _traffic(d: Path, part: str | None) -> tuple[Module, Tensor, dict[int, str]]:
    from chainrule.apps.traffic.detector import Detector

    detector = Detector.load(d)
    part = part or "classifier"
    if part not in ("classifier", "autoencoder"):
        raise SourceError(f"{d}: a traffic detector has parts 'classifier' and 'autoencoder', got {part!r}")
    n_in = len(detector.preprocessor.feature_names)
    return getattr(detector, part), Tensor(np.zeros((1, n_in), np.float32)), {0: "batch"}


def saved_model(path: str | os.PathLike, part: str | None = None) -> tuple[Module, Tensor, dict[int, str]]:
    """``(model, example input, dynamic axes of the input)`` for a path a ``chainrule`` command wrote.

    ``part`` picks one model where the path holds several (a maintenance run's
    ``lstm``/``cnn``, a traffic detector's ``classifier``/``autoencoder``,
    the latter the first member of its ensemble).
    """
    p = Path(os.fspath(path))
    if p.is_file() and p.suffix == ".safetensors":
        return _maintenance(p)
    if not p.is_dir():
        raise SourceError(f"{p}: no such run directory or model file")
    if (p / "detector.json").is_file():
        return _traffic(p, part)
    if (p / "config.json").is_file() and (p / "checkpoints").is_dir():
        return _train_run(p)
    found = sorted((p / "models").glob("*.safetensors")) if (p / "models").is_dir() else []
    found = [f for f in found if f.stem != "ridge"]
    if found:
        names = [f.stem for f in found]
        if part is None and len(found) > 1:
            raise SourceError(f"{p}: the run holds several models ({', '.join(names)}); pick one with --part")
        chosen = found[0] if part is None else p / "models" / f"{part}.safetensors"
        if not chosen.is_file():
            raise SourceError(f"{p}: no model {part!r}; the run holds {', '.join(names)}")
        return _maintenance(chosen)
    if (p / "model.safetensors").is_file() and (p / "tokenizer.json").is_file():
        raise SourceError(
            f"{p}: a finetune run (sentence classifier); export it from Python with "
            "cr.onnx.export(classifier, (input_ids,), ...): its tokenizer stays outside the graph"
        )
    raise SourceError(
        f"{p}: not a run directory chainrule export knows (expected config.json + checkpoints/ from "
        "`chainrule train`, detector.json from `chainrule traffic`, or models/*.safetensors from "
        "`chainrule maintenance`)"
    )


def describe(x: Any) -> str:
    """``(1, 64) float32``: an example input's shape and dtype, for messages."""
    return f"{tuple(x.shape)} {x.dtype}"
