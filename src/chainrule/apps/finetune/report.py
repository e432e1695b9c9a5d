"""The comparison: fine-tuned encoder against its baselines, as ``report.json`` and as a terminal table.

Models are ranked by eval accuracy (macro F1 breaks ties); the summary says in
one sentence which wins and by how much against each of the others, so a reader
never has to compare the figures by eye.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

from chainrule.io import atomic_write

__all__ = ["DISPLAY_NAMES", "build_report", "format_table", "write_report"]

DISPLAY_NAMES = {
    "model": "fine-tuned encoder",
    "bag_of_words": "bag-of-words logistic regression",
    "transformer_from_scratch": "Transformer from scratch",
}


def _names(model: dict[str, Any]) -> dict[str, str]:
    """Display names; the fine-tuned model is named after its encoder when the report knows it."""
    names = dict(DISPLAY_NAMES)
    if model.get("name"):
        names["model"] = f"fine-tuned {model['name']}"
    if isinstance(model.get("members"), list):  # a seed ensemble
        names["model"] += f" ({len(model['members'])} seeds)"
    return names


def _rank_key(item: tuple[str, dict[str, Any]]) -> tuple[float, float]:
    figures = item[1]
    return (figures["eval_accuracy"], figures["eval_f1"])


def build_report(task: dict[str, Any], model: dict[str, Any], baselines: dict[str, dict[str, Any]]) -> dict:
    """The report: task, each model's figures, the winner and a one-sentence summary of the margins."""
    entries = {"model": model, **baselines}
    ranked = sorted(entries.items(), key=_rank_key, reverse=True)
    winner, best = ranked[0]
    names = _names(model)
    margins = []
    for other, figures in ranked[1:]:
        acc = best["eval_accuracy"] - figures["eval_accuracy"]
        f1 = best["eval_f1"] - figures["eval_f1"]
        margins.append(f"{names.get(other, other)} by {acc:.3f} accuracy ({f1:+.3f} macro F1)")
    tie = len(ranked) > 1 and _rank_key(ranked[0]) == _rank_key(ranked[1])
    verb = "ties with" if tie else "beats"
    where = task.get("eval_file", "the eval set")
    summary = f"{names.get(winner, winner)} {verb} " + " and ".join(margins) + f" on {where}"
    summary += f" (eval accuracy {best['eval_accuracy']:.3f}, macro F1 {best['eval_f1']:.3f})."
    return {
        "task": task,
        "model": model,
        "baselines": baselines,
        "winner": winner,
        "summary": summary,
    }


def format_table(report: dict) -> str:
    """A fixed-width table, best first, then the summary sentence."""
    entries = {"model": report["model"], **report["baselines"]}
    ranked = sorted(entries.items(), key=_rank_key, reverse=True)
    names = {k: _names(report["model"]).get(k, k) for k in entries}
    width = max(len(n) for n in names.values())
    lines = [f"{'model':<{width}}  {'accuracy':>8}  {'macro F1':>8}  {'train s':>8}"]
    for key, figures in ranked:
        seconds = figures.get("train_seconds")
        secs = f"{seconds:8.1f}" if isinstance(seconds, (int, float)) else f"{'-':>8}"
        lines.append(
            f"{names[key]:<{width}}  {figures['eval_accuracy']:8.4f}  {figures['eval_f1']:8.4f}  {secs}"
        )
    lines.append("")
    lines.append(report["summary"])
    return "\n".join(lines)


def write_report(report: dict, out_dir: str | os.PathLike) -> pathlib.Path:
    """Write ``out_dir/report.json`` atomically; returns its path."""
    path = pathlib.Path(out_dir) / "report.json"
    with atomic_write(path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    return path
