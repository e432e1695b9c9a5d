"""The study's verdict: the comparison table, which model to use and why, and ``report.json``.

The model to use is chosen on training engines only; the test engines only
score the choice. The cross-validated models (the CNN and MLP ensembles,
the baselines, the mixes) are compared by their out-of-fold RMSE: every training engine,
predicted by the model of the fold that held it out, the same windows for all.
That referee is five times larger than the 20 validation engines, on which one
seed's split once preferred boosting to the ensemble by chance. Models trained
once (the single LSTM and CNN) have a validation RMSE only and are shown for
reference; without any cross-validated model, the lowest validation RMSE wins.
The best of chainrule's networks alone (no boosting in them) is named beside it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from chainrule.io import atomic_write

__all__ = [
    "CHAINRULE_ONLY",
    "CHOSEN_BY",
    "NETWORKS",
    "best_model",
    "best_network",
    "fmt",
    "format_summary",
    "recommendation",
    "selection_rmse",
    "write_report",
]

# chainrule's networks and what is made of them alone
CHAINRULE_ONLY = ("lstm", "cnn", "cnn_ensemble", "mlp_ensemble", "network_blend")
NETWORKS = (*CHAINRULE_ONLY, "blend")  # the blend holds the CNN ensemble (and gradient boosting)
_LABELS = {
    "lstm": "LSTM",
    "cnn": "1-D CNN",
    "cnn_ensemble": "cross-validation ensemble of 1-D CNNs",
    "mlp_ensemble": "cross-validation ensemble of MLPs on window summaries",
    "network_blend": "mix of the CNN and MLP ensembles",
    "blend": "blend of the CNN ensemble and gradient boosting",
    "gradient_boosting": "gradient boosting",
    "ridge": "ridge regression",
}


def _label(name: str) -> str:
    return _LABELS.get(name, name)


CHOSEN_BY = (
    "lowest out-of-fold RMSE on the training engines among the cross-validated models "
    "(lowest validation RMSE when none is cross-validated)"
)


def _candidates(models: dict[str, dict[str, Any]]) -> list[str]:
    return [m for m in models if "out_of_fold_rmse" in models[m]] or list(models)


def selection_rmse(models: dict[str, dict[str, Any]], name: str) -> float:
    """The figure ``name`` is judged by: its out-of-fold RMSE when it has one, else its validation RMSE."""
    m = models[name]
    return m["out_of_fold_rmse"] if "out_of_fold_rmse" in m else m["val_rmse"]


def best_model(models: dict[str, dict[str, Any]]) -> str:
    """The cross-validated model with the lowest out-of-fold RMSE (else: the lowest validation RMSE)."""
    return min(_candidates(models), key=lambda m: selection_rmse(models, m))


def best_network(models: dict[str, dict[str, Any]]) -> str | None:
    """The best of chainrule's networks alone (no boosting in them), judged as :func:`best_model`; or None."""
    own = {m: models[m] for m in models if m in CHAINRULE_ONLY}
    return best_model(own) if own else None


def recommendation(models: dict[str, dict[str, Any]]) -> str:
    """One sentence: which model to use and why, from validation RMSE, with its test figures beside."""
    best = best_model(models)
    pool = _candidates(models)
    others = [m for m in pool if (m in NETWORKS) != (best in NETWORKS)]
    b, score = models[best], selection_rmse(models, best)
    where = (
        "out of fold (each training engine predicted by the model that never saw it)"
        if "out_of_fold_rmse" in b
        else "on the held-out validation engines"
    )
    if not others:
        return (
            f"Use the {_label(best)}: lowest RMSE {where} ({score:.1f} cycles); "
            f"on the test engines RMSE {b['rmse']:.1f}, PHM08 score {b['score']:.0f}."
        )
    rival = min(others, key=lambda m: selection_rmse(models, m))
    r, rival_score = models[rival], selection_rmse(models, rival)
    against = f"(RMSE {score:.1f} vs {rival_score:.1f} cycles)"
    if best in NETWORKS:
        why, cheaper = f"it beats the best baseline, {_label(rival)} {against}", ""
    else:
        why = (
            f"no network beats it (the best, the {_label(rival)}: RMSE {rival_score:.1f} "
            f"vs its {score:.1f} cycles)"
        )
        cheaper = " It is also cheaper to train and explain."
    return (
        f"Use the {_label(best)}: {where} {why}, and on the test engines it "
        f"scores RMSE {b['rmse']:.1f} vs {r['rmse']:.1f} and PHM08 {b['score']:.0f} vs {r['score']:.0f}."
        f"{cheaper}"
    )


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_summary(report: dict[str, Any]) -> str:
    """The terminal summary: comparison table first, then the recommendation and the maintenance view."""
    models = report["models"]
    best = report["best"]
    lines = [
        f"{'model':<20}{'kind':<10}{'OOF RMSE':>10}{'val RMSE':>10}{'test RMSE':>11}{'PHM08 score':>13}"
        f"{'train s':>9}"
    ]
    order = sorted(models, key=lambda m: ("out_of_fold_rmse" not in models[m], selection_rmse(models, m)))
    for name in order:
        m = models[name]
        kind = "blend" if name == "blend" else "network" if name in NETWORKS else "baseline"
        mark = " *" if name == best else " +" if name == report.get("best_network") else ""
        oof = f"{m['out_of_fold_rmse']:.2f}" if "out_of_fold_rmse" in m else "-"
        lines.append(
            f"{name + mark:<20}{kind:<10}{oof:>10}{m['val_rmse']:>10.2f}{m['rmse']:>11.2f}{m['score']:>13.1f}"
            f"{m['train_seconds']:>9.1f}"
        )
    lines.append(
        "(* chosen on out-of-fold RMSE over the training engines (validation RMSE without it), "
        "+ the best of chainrule's networks alone when another model is chosen; "
        "references on FD001: LSTM 16.1 (Zheng 2017), deep CNN 12.6 (Li 2018))"
    )
    lines.append(report["recommendation"])
    own = report.get("best_network")
    if own is not None and own != best:
        m, b = models[own], models[best]
        lines.append(
            f"chainrule networks alone: the {_label(own)}, "
            f"{'out-of-fold' if 'out_of_fold_rmse' in m else 'validation'} RMSE "
            f"{selection_rmse(models, own):.2f} (vs {selection_rmse(models, best):.2f}), "
            f"test RMSE {m['rmse']:.2f} (vs {b['rmse']:.2f}), PHM08 {m['score']:.0f} (vs {b['score']:.0f})."
        )
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
