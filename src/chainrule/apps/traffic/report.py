"""The run's summary: ``report.json``, the comparison table, and one sentence on which model to use."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chainrule.io import atomic_write

__all__ = ["NEURAL", "comparison_table", "recommendation", "write_report"]

NEURAL = ("mixed_score", "autoencoder", "autoencoder_ensemble", "classifier")
_COLUMNS = (
    ("accuracy", "acc"),
    ("precision", "prec"),
    ("recall", "recall"),
    ("f1", "f1"),
    ("roc_auc", "roc_auc"),
    ("unseen_attack_detection_rate", "unseen_det"),
    ("best_threshold_accuracy", "best_acc"),
)


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def comparison_table(models: Mapping[str, Mapping[str, Any]]) -> str:
    """A fixed-width text table, one row per model (neural networks first), one column per metric."""
    width = max(len(n) for n in models) + 2
    lines = [f"{'model':<{width}}" + "".join(f"{h:>11}" for _, h in _COLUMNS)]
    order = [n for n in NEURAL if n in models] + [n for n in models if n not in NEURAL]
    for name in order:
        m = models[name]
        tag = f"{name}{' *' if name in NEURAL else ''}"
        lines.append(f"{tag:<{width}}" + "".join(f"{_fmt(m.get(k)):>11}" for k, _ in _COLUMNS))
    lines.append(
        "(* neural network; unseen_det: share of attacks of types absent from training that raised an\n"
        " alarm; best_acc: the best accuracy any threshold on the score gives, found with the test labels:\n"
        " what the score's ranking allows, for diagnosis, not reached by the detector)"
    )
    return "\n".join(lines)


def recommendation(models: Mapping[str, Mapping[str, Any]]) -> str:
    """One sentence: the model with the best F1 on the test file, and what it does on unseen attack types."""
    best = max(models, key=lambda n: (models[n].get("f1") or 0.0, models[n].get("roc_auc") or 0.0))
    m = models[best]
    why = (
        f"Use the {best.replace('_', ' ')}: it has the best F1 ({m['f1']:.3f}, accuracy {m['accuracy']:.3f})"
    )
    unseen = {n: v["unseen_attack_detection_rate"] for n, v in models.items()}
    if unseen.get(best) is not None:
        others = [v for n, v in unseen.items() if n != best and v is not None]
        why += f" and catches {unseen[best]:.0%} of the attack types never seen in training"
        if others:
            why += f" (the others {min(others):.0%}-{max(others):.0%})"
    return why + "."


def write_report(out_dir: str | os.PathLike, report: Mapping[str, Any]) -> Path:
    """Write ``report`` as ``out_dir/report.json``, atomically."""
    path = Path(os.fspath(out_dir)) / "report.json"
    with atomic_write(path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    return path
