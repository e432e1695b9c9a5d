"""The study's verdict: the comparison table, which model to use and why, and ``report.json``.

The model to use is the one with the lowest RMSE on the validation engines
(held-out training engines); the test engines only score the choice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from chainrule.io import atomic_write

__all__ = ["NETWORKS", "best_model", "fmt", "format_summary", "recommendation", "write_report"]

NETWORKS = ("lstm", "cnn", "cnn_ensemble")
_LABELS = {
    "lstm": "LSTM",
    "cnn": "1-D CNN",
    "cnn_ensemble": "cross-validation ensemble of 1-D CNNs",
    "gradient_boosting": "gradient boosting",
    "ridge": "ridge regression",
}


def _label(name: str) -> str:
    return _LABELS.get(name, name)


def best_model(models: dict[str, dict[str, Any]]) -> str:
    """The model with the lowest validation RMSE."""
    return min(models, key=lambda m: models[m]["val_rmse"])


def recommendation(models: dict[str, dict[str, Any]]) -> str:
    """One sentence: which model to use and why, from validation RMSE, with its test figures beside."""
    best = best_model(models)
    others = [m for m in models if (m in NETWORKS) != (best in NETWORKS)]
    b = models[best]
    if not others:
        return (
            f"Use the {_label(best)}: lowest validation RMSE ({b['val_rmse']:.1f} cycles); "
            f"on the test engines RMSE {b['rmse']:.1f}, PHM08 score {b['score']:.0f}."
        )
    rival = min(others, key=lambda m: models[m]["val_rmse"])
    r = models[rival]
    against = f"(RMSE {b['val_rmse']:.1f} vs {r['val_rmse']:.1f} cycles)"
    if best in NETWORKS:
        why, cheaper = f"it beats the best baseline, {_label(rival)} {against}", ""
    else:
        why = (
            f"no network beats it (the best, the {_label(rival)}: RMSE {r['val_rmse']:.1f} "
            f"vs its {b['val_rmse']:.1f} cycles)"
        )
        cheaper = " It is also cheaper to train and explain."
    return (
        f"Use the {_label(best)}: on the held-out validation engines {why}, and on the test engines it "
        f"scores RMSE {b['rmse']:.1f} vs {r['rmse']:.1f} and PHM08 {b['score']:.0f} vs {r['score']:.0f}."
        f"{cheaper}"
    )


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_summary(report: dict[str, Any]) -> str:
    """The terminal summary: comparison table first, then the recommendation and the maintenance view."""
    models = report["models"]
    best = report["best"]
    lines = [f"{'model':<20}{'kind':<10}{'val RMSE':>10}{'test RMSE':>11}{'PHM08 score':>13}{'train s':>9}"]
    for name in sorted(models, key=lambda m: models[m]["val_rmse"]):
        m = models[name]
        kind = "network" if name in NETWORKS else "baseline"
        mark = " *" if name == best else ""
        lines.append(
            f"{name + mark:<20}{kind:<10}{m['val_rmse']:>10.2f}{m['rmse']:>11.2f}{m['score']:>13.1f}"
            f"{m['train_seconds']:>9.1f}"
        )
    lines.append(
        "(* chosen on validation RMSE; references on FD001: LSTM 16.1 (Zheng 2017), deep CNN 12.6 (Li 2018))"
    )
    lines.append(report["recommendation"])
    view = report["maintenance"]
    n = len(view["service"])
    lines.append(
        f"Service within {view['within']:g} cycles ({_label(best)}): {n} engine(s) "
        f"{view['service'] if n <= 30 else str(view['service'][:30])[:-1] + ', ...]'}; "
        f"precision {fmt(view['precision'])}, recall {fmt(view['recall'])} "
        f"({view['true_positives']} of {len(view['truly_due'])} truly due engines caught, "
        f"{view['false_positives']} serviced early)."
    )
    if "uncertainty" in report:
        iv = report["uncertainty"]
        sv = iv["service_from_lower_end"]
        lines.append(
            f"RUL intervals ({iv['target_coverage']:.0%} target, calibrated on held-out training engines): "
            f"cover {iv['coverage']:.0%} of test engines, mean width {iv['mean_width']:.1f} cycles. "
            f"Servicing when the lower end is within {sv['within']:g} cycles: "
            f"{len(sv['service'])} engine(s), "
            f"precision {fmt(sv['precision'])}, recall {fmt(sv['recall'])}."
        )
    return "\n".join(lines)


def write_report(out_dir: str | os.PathLike, report: dict[str, Any]) -> Path:
    """Write ``report.json`` into ``out_dir`` atomically; return its path."""
    path = Path(out_dir) / "report.json"
    with atomic_write(path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    return path
