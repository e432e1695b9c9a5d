"""The models the ``chainrule`` commands save, rebuilt for ``chainrule export``: a model and example inputs.

``chainrule train`` writes a run directory (``config.json`` + ``checkpoints/``),
``chainrule maintenance`` safetensors files with the architecture in their
metadata (``models/*.safetensors``), ``chainrule traffic`` a detector directory
(``detector.json``: an autoencoder and a classifier), ``chainrule finetune`` a
sentence classifier (``finetune.json``, ``config.json``, ``model.safetensors``:
a BERT encoder, mean pooling and a linear head, which takes token ids and
their attention mask), or a seed ensemble of them (``members.K.`` keys).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["SavedModel", "SourceError", "describe", "saved_model"]


class SourceError(ValueError):
    """A path holding no model ``chainrule export`` can rebuild (the message says what it found)."""


@dataclass
class SavedModel:
    """A rebuilt model and what exporting it takes: example inputs, their names and dynamic axes."""

    model: Module
    inputs: tuple[Tensor, ...]
    input_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    output_names: list[str] = field(default_factory=lambda: ["output"])


def _single(model: Module, x: Tensor, axes: dict[int, str]) -> SavedModel:
    """A model of one input ``input`` and one output ``output``."""
    return SavedModel(model, (x,), ["input"], {"input": axes})


def _train_run(d: Path) -> SavedModel:
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
    return _single(model, Tensor(x._array[None]), {0: "batch"})


def _maintenance(path: Path) -> SavedModel:
    from chainrule.apps.maintenance.models import load_model
    from chainrule.io import load_metadata

    model, kind = load_model(path)
    config = json.loads(load_metadata(path)["config"])
    x = Tensor(np.zeros((1, int(config["window"]), int(config["n_features"])), np.float32))
    return _single(model, x, {0: "batch", 1: "time"} if kind == "lstm" else {0: "batch"})


def _traffic(d: Path, part: str | None) -> SavedModel:
    from chainrule.apps.traffic.detector import Detector

    detector = Detector.load(d)
    part = part or "classifier"
    if part not in ("classifier", "autoencoder"):
        raise SourceError(f"{d}: a traffic detector has parts 'classifier' and 'autoencoder', got {part!r}")
    n_in = len(detector.preprocessor.feature_names)
    return _single(getattr(detector, part), Tensor(np.zeros((1, n_in), np.float32)), {0: "batch"})


def _finetune(d: Path) -> SavedModel:
    """The sentence classifier: ``input_ids`` and ``attention_mask`` (batch, sequence) in, ``logits`` out.

    The tokenizer stays outside the graph: callers tokenize, pad, and pass the
    mask (1 = token, 0 = padding), which the attention and the pooling read.
    """
    from chainrule.apps.finetune.classifier import SentenceClassifier
    from chainrule.apps.finetune.ensemble import MeanOfMembers, count_members
    from chainrule.io import load
    from chainrule.models.bert import BertConfig, BertModel

    try:
        meta = json.loads((d / "finetune.json").read_text(encoding="utf-8"))
        num_classes = int(meta["num_classes"])
        config = BertConfig.from_json_file(d / "config.json")
        state = load(d / "model.safetensors")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SourceError(f"{d}: not a readable finetune run ({type(e).__name__}: {e})") from None
    try:
        members = count_members(state)
    except ValueError as e:
        raise SourceError(f"{d / 'model.safetensors'}: {e}") from None
    names = [k.split(".", 2)[-1] if members else k for k in state]  # each classifier's own key names
    pooler = any(k.startswith("encoder.pooler.") for k in names)

    def classifier() -> SentenceClassifier:
        return SentenceClassifier(BertModel(config, add_pooling_layer=pooler), num_classes)

    # a seed ensemble (`--members N`) saves its members under members.0., members.1., ...
    model = MeanOfMembers([classifier() for _ in range(members)]) if members else classifier()
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise SourceError(
            f"{d / 'model.safetensors'}: does not fit the classifier config.json describes: {e}"
        ) from None
    length = min(8, config.max_position_embeddings)
    ids = Tensor(np.full((2, length), config.pad_token_id, np.int64))
    mask = Tensor(np.ones((2, length), np.int64))
    axes = {0: "batch", 1: "sequence"}
    return SavedModel(
        model, (ids, mask), ["input_ids", "attention_mask"],
        {"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}}, ["logits"],
    )  # fmt: skip


def saved_model(path: str | os.PathLike, part: str | None = None) -> SavedModel:
    """The model a ``chainrule`` command wrote at ``path``, with example inputs and dynamic axes.

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
    if (p / "finetune.json").is_file():
        return _finetune(p)
    raise SourceError(
        f"{p}: not a run directory chainrule export knows (expected config.json + checkpoints/ from "
        "`chainrule train`, detector.json from `chainrule traffic`, models/*.safetensors from "
        "`chainrule maintenance`, or finetune.json + model.safetensors from `chainrule finetune`)"
    )


def describe(x: Any) -> str:
    """``(1, 64) float32``: an example input's shape and dtype, for messages."""
    return f"{tuple(x.shape)} {x.dtype}"
