"""The whole study, from three C-MAPSS files to a report directory.

Training engines are split by unit into fitting and validation engines
(``val_fraction``, seeded); the protocol (:class:`Preprocessor`) is fitted on
the fitting engines alone; each model trains on their windows and is judged on
the validation engines' windows. The CNN ensemble and the baselines are also
cross-validated over the same engine folds (fold 0: the validation engines),
and the model chosen is the one with the lowest out-of-fold RMSE; the test
engines' last windows are scored once, against their true RUL capped at
``max_rul`` like the training labels.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule.apps.maintenance import baselines, ensemble, evaluate, models, plots, report
from chainrule.apps.maintenance.data import CMAPSSData, load_files
from chainrule.apps.maintenance.preprocess import Preprocessor
from chainrule.io import atomic_write
from chainrule.runtime import limit_threads

__all__ = ["DEFAULT_MODELS", "ENSEMBLES", "MIXES", "MODELS", "run", "split_engines"]

MODELS = ("lstm", "cnn", "cnn_ensemble", "mlp_ensemble", "gradient_boosting", "ridge")
# the models run when none are named. The single LSTM and CNN, trained once, are references that cost
# more than they tell: cnn_ensemble's fold-0 member is a single CNN scored on the validation engines.
DEFAULT_MODELS = ("cnn_ensemble", "mlp_ensemble", "gradient_boosting", "ridge")
# the cross-validation ensembles (see .ensemble) and the kind of network each one trains
ENSEMBLES = {"cnn_ensemble": "cnn", "mlp_ensemble": "mlp"}
# two cross-validated models mixed with a weight chosen on their out-of-fold predictions, when both ran:
# network_blend holds chainrule networks only; blend mixes the CNNs with gradient boosting
MIXES = {"network_blend": ("cnn_ensemble", "mlp_ensemble"), "blend": ("cnn_ensemble", "gradient_boosting")}


def split_engines(table: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean row masks (fit, validation) that hold out a seeded ``val_fraction`` of the engines."""
    units = np.unique(table[:, 0])
    if len(units) < 2:
        raise ValueError(
            f"the training file has {len(units)} engine(s); "
            "at least 2 are needed (one held out for validation)"
        )
    n_val = min(max(1, round(val_fraction * len(units))), len(units) - 1)
    held = np.random.default_rng(seed).choice(units, n_val, replace=False)
    val = np.isin(table[:, 0], held)
    return ~val, val


def _save_ridge(model: Any, path: Path) -> None:
    """The ridge pipeline's numbers (scaler and coefficients) as safetensors: no pickle."""
    scaler, ridge = model[0], model[-1]
    arrays = {
        "mean": scaler.mean_.astype(np.float64),
        "scale": scaler.scale_.astype(np.float64),
        "coef": np.asarray(ridge.coef_, dtype=np.float64),
        "intercept": np.atleast_1d(np.asarray(ridge.intercept_, dtype=np.float64)),
    }
    cr.save(arrays, path, metadata={"kind": "ridge", "features": "summary_features(window)"})


def _write_predictions(path: Path, units: np.ndarray, true: np.ndarray, preds: dict[str, np.ndarray]) -> None:
    with atomic_write(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["unit", "true_rul", *preds])
        for i, u in enumerate(units):
            w.writerow([int(u), f"{true[i]:g}", *(f"{p[i]:.2f}" for p in preds.values())])


def _mix(
    first: str,
    second: str,
    oofs: dict[str, tuple[np.ndarray, np.ndarray]],
    preds: dict[str, np.ndarray],
    name: str,
    n_val: int,
    interval: Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, Any]],
) -> tuple[float, float, dict[str, Any]]:
    """``(1 - w) * first + w * second``, ``w`` chosen on their out-of-fold predictions; sets ``preds[name]``.

    Returns what ``record`` takes: the mix's RMSE on the validation engines (fold 0
    comes first), no training time of its own, and its report entry.
    """
    (a, target), (b, b_target) = oofs[first], oofs[second]
    if not np.array_equal(target, b_target):  # not reached: both come from fold_splits on the same folds
        raise RuntimeError(f"run: {first} and {second} were cross-validated on different windows")
    weight = evaluate.blend_weight(a, b, target)
    mixed = (1 - weight) * a + weight * b
    preds[name] = (1 - weight) * preds[first] + weight * preds[second]
    extra = {
        "weight": weight,
        "method": f"(1 - w) * {first} + w * {second}, w chosen out of fold",
        "out_of_fold_rmse": evaluate.rmse(mixed, target),
        "interval": interval(preds[name], mixed, target),
    }
    return evaluate.rmse(mixed[:n_val], target[:n_val]), 0.0, extra


def run(
    data: CMAPSSData | tuple[str, str, str],
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    epochs: int = 60,
    service_within: float = 30,
    window: int = 50,
    max_rul: float = 125.0,
    val_fraction: float = 0.2,
    model_names: Sequence[str] = DEFAULT_MODELS,
    log: Callable[[str], None] = print,
    progress: int = 2,
    threads: int | None = 1,
    ensemble_size: int = 5,
    coverage: float = 0.9,
    patience: int = 8,
    min_history: int | None = 30,
    age: bool = True,
    mlp_repeats: int = 5,
) -> dict[str, Any]:
    """Train and compare the models on one C-MAPSS subset; write it all into ``out_dir``; return the report.

    ``data`` is a loaded :class:`CMAPSSData` or the paths (train, test, RUL).
    Writes ``report.json``, ``predictions.csv``, ``predictions.png``,
    ``maintenance.png``, ``preprocessing.json`` and ``models/*.safetensors``.
    ``patience``: epochs without a better validation loss before a network stops.
    ``threads`` limits the BLAS and OpenMP pools while it runs (None: as they are).
    ``cnn_ensemble`` trains ``ensemble_size`` CNNs (seeds ``seed``, ``seed + 1``, ...),
    each without one fold of the training engines (the first: the validation engines;
    see :mod:`.ensemble`), predicts their mean, and gives each test engine a RUL
    interval meant to hold ``coverage`` of true values (split conformal on the
    out-of-fold errors); its members train for exactly ``epochs`` epochs on a cosine
    learning-rate schedule. ``mlp_ensemble`` does the same with ``mlp_repeats``
    MLPs on window summaries per fold (:class:`.models.SummaryMLP`, cheap: seconds each).
    ``network_blend`` mixes the two ensembles, ``blend`` the CNN ensemble and gradient
    boosting, each with a weight chosen on their out-of-fold predictions (see ``MIXES``).
    The report names the best model (``best``) and the best of chainrule's networks
    alone (``best_network``; no boosting in it).
    ``min_history``: training and validation windows end at every cycle from this one
    on, front-padded when shorter than ``window`` (None: only full windows), as short
    test engines are.
    ``age``: the cycle number is an input channel beside the sensors (see :mod:`.preprocess`).
    """
    if ensemble_size < 1:
        raise ValueError(f"run: ensemble_size must be at least 1, got {ensemble_size}")
    if mlp_repeats < 1:
        raise ValueError(f"run: mlp_repeats must be at least 1, got {mlp_repeats}")
    with _thread_limit(threads):
        return _run(
            data,
            out_dir,
            seed,
            epochs,
            service_within,
            window,
            max_rul,
            val_fraction,
            model_names,
            log,
            progress,
            ensemble_size,
            coverage,
            patience,
            min_history,
            age,
            mlp_repeats,
        )


def _thread_limit(n: int | None) -> contextlib.AbstractContextManager:
    """Limit the BLAS/OpenMP thread pools to ``n`` threads for the block (no-op for None).

    With the default pools, idle threads spin: an LSTM training step and
    scikit-learn's k-means and boosting spend many times the CPU time of one
    thread, while these small GEMMs (batch 256 x at most 256 columns) gain
    little from a second thread.
    """
    if n is None:
        return contextlib.nullcontext()
    try:
        # the limit reaches only the libraries already loaded: load scikit-learn's OpenMP runtime first
        import sklearn.ensemble  # noqa: F401
    except ImportError:
        pass
    return limit_threads(n)


def _run(
    data: CMAPSSData | tuple[str, str, str],
    out_dir: str | os.PathLike,
    seed: int,
    epochs: int,
    service_within: float,
    window: int,
    max_rul: float,
    val_fraction: float,
    model_names: Sequence[str],
    log: Callable[[str], None],
    progress: int,
    ensemble_size: int = 5,
    coverage: float = 0.9,
    patience: int = 8,
    min_history: int | None = 30,
    age: bool = True,
    mlp_repeats: int = 5,
) -> dict[str, Any]:
    start, cpu_start = time.perf_counter(), time.process_time()
    unknown = [m for m in model_names if m not in MODELS]
    if unknown or not model_names:
        raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    out = Path(out_dir)
    if isinstance(data, tuple):
        log(f"[1/5] reading {', '.join(map(str, data))}")
        data = load_files(*data)
    fit_rows, val_rows = split_engines(data.train, val_fraction, seed)
    held = np.unique(data.train[val_rows, 0])
    # the cross-validated models (the CNN ensemble, the baselines) share these folds; fold 0 is `held`
    folds = ensemble.engine_folds(np.unique(data.train[:, 0]), held, ensemble_size, seed)
    log("[2/5] fitting the preprocessing on the training engines")
    prep = Preprocessor(window=window, max_rul=max_rul, age=age).fit(data.train[fit_rows], seed=seed)
    fit = prep.windows(data.train[fit_rows], min_history)[:2]
    val = prep.windows(data.train[val_rows], min_history)[:2]
    x_test, units = prep.last_windows(data.test)
    true = np.minimum(data.rul, max_rul)
    log(
        f"      {len(np.unique(data.train[fit_rows, 0]))} fitting / "
        f"{len(np.unique(data.train[val_rows, 0]))} validation / {len(units)} test engines; "
        f"{len(prep.channels)} channels ({', '.join(prep.channel_names)}); "
        f"{len(prep.centers)} operating condition(s); {len(fit[0])} training windows of {window} cycles"
    )
    (out / "models").mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    preds: dict[str, np.ndarray] = {}
    oofs: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # out-of-fold predictions, their true RUL

    def interval(pred: np.ndarray, oof: np.ndarray, target: np.ndarray) -> dict[str, Any]:
        """Test intervals pred +- q, q the split-conformal quantile of the out-of-fold errors."""
        half = evaluate.conformal_scale(oof[None], target, coverage)
        return {
            "target_coverage": coverage,
            "method": (
                "prediction +- q, q split-conformal: the quantile of |true - out-of-fold prediction| "
                "over the training engines' windows"
            ),
            "q": half,
            **evaluate.interval_view(
                np.clip(pred - half, 0, max_rul),
                np.clip(pred + half, 0, max_rul),
                data.rul,
                units,
                service_within,
                capped_at=max_rul,
            ),
        }

    def record(name: str, val_rmse: float, seconds: float, extra: dict[str, Any]) -> None:
        """Score ``preds[name]`` on the test engines, keep it in ``results`` and log it."""
        results[name] = {
            "rmse": evaluate.rmse(preds[name], true),
            "score": evaluate.phm08_score(preds[name], true),
            "val_rmse": val_rmse,
            "train_seconds": seconds,
            **extra,
            "maintenance": evaluate.maintenance_view(preds[name], data.rul, units, service_within),
        }
        if "interval" in extra:
            iv = extra["interval"]
            sv = iv["service_from_lower_end"]
            log(
                f"      {name}: {coverage:.0%} intervals cover {iv['coverage']:.0%} of test engines "
                f"(mean width {iv['mean_width']:.1f}); service list from their lower end: "
                f"precision {report.fmt(sv['precision'])}, recall {report.fmt(sv['recall'])}"
            )
        oof = f", out-of-fold RMSE {extra['out_of_fold_rmse']:.2f}" if "out_of_fold_rmse" in extra else ""
        log(
            f"      {name}: validation RMSE {val_rmse:.2f}{oof}, test RMSE {results[name]['rmse']:.2f}, "
            f"PHM08 {results[name]['score']:.1f} ({seconds:.0f} s)"
        )

    for i, name in enumerate(model_names, 1):
        log(f"[3/5] model {i}/{len(model_names)}: {name}")
        t0, c0 = time.perf_counter(), time.process_time()
        extra: dict[str, Any] = {}
        if name in ENSEMBLES:
            kind, repeats = ENSEMBLES[name], 1 if name == "cnn_ensemble" else mlp_repeats
            config = {"n_features": len(prep.channels), "window": window}
            ens = ensemble.train_fold_ensemble(
                prep, data.train, held, ensemble_size, max_rul, seed=seed, epochs=epochs,
                min_history=min_history, progress=progress, kind=kind, repeats=repeats,
            )  # fmt: skip
            files = [f"models/{name}_{k}.safetensors" for k in range(len(ens.members))]
            for net, file in zip(ens.members, files, strict=True):
                models.save_model(net, out / file, kind, config)
            val_rmse = ens.val_rmse
            preds[name], _ = ens.predict(x_test, max_rul)
            oofs[name] = (ens.oof, ens.target)
            extra = {
                "epochs": ens.epochs,
                "members": len(ens.members),
                "members_per_fold": repeats,
                "files": files,
                "out_of_fold_rmse": evaluate.rmse(ens.oof, ens.target),
                "interval": interval(preds[name], ens.oof, ens.target),
            }
        elif name in ("lstm", "cnn"):  # trained once, on the fitting engines
            cr.manual_seed(seed)
            config = {"n_features": len(prep.channels), "window": window}
            net = models.build_model(name, **config)
            history = models.fit_model(
                net, fit, val, max_rul, epochs=epochs, patience=patience, progress=progress
            )
            val_rmse = evaluate.rmse(models.predict(net, val[0], max_rul), val[1])
            preds[name] = models.predict(net, x_test, max_rul)
            models.save_model(net, out / "models" / f"{name}.safetensors", name, config)
            extra = {"epochs": len(history.epochs), "file": f"models/{name}.safetensors"}
        else:
            fit_baseline: Callable[[Any, Any], tuple[Any, float]] = (
                (lambda t, v: baselines.fit_ridge(t, v, max_rul))
                if name == "ridge"
                else (lambda t, v: baselines.fit_gradient_boosting(t, v, max_rul, seed))
            )
            # fold 0 is (fitting, validation): its model is the one kept; the others give out-of-fold errors
            fits, scores, oof, oof_target = baselines.cross_validate(
                fit_baseline, ensemble.fold_splits(prep, data.train, folds, min_history), max_rul
            )
            fitted, val_rmse = fits[0], scores[0]
            if name == "ridge":
                _save_ridge(fitted, out / "models" / "ridge.safetensors")
                extra = {"file": "models/ridge.safetensors"}
            else:
                extra = {"file": None, "note": "not saved: scikit-learn stores boosted trees only as pickle"}
            extra["out_of_fold_rmse"] = evaluate.rmse(oof, oof_target)
            oofs[name] = (oof, oof_target)
            preds[name] = np.clip(fitted.predict(baselines.summary_features(x_test)), 0, max_rul)
        extra["cpu_seconds"] = time.process_time() - c0
        record(name, val_rmse, time.perf_counter() - t0, extra)
    for mix, (first, second) in MIXES.items():
        if {first, second} <= set(oofs):
            val_rmse, seconds, extra = _mix(first, second, oofs, preds, mix, len(val[1]), interval)
            w = extra["weight"]
            log(f"[3/5] {mix}: {1 - w:.1f} x {first} + {w:.1f} x {second} (weight chosen out of fold)")
            if mix == "blend":
                extra["boosting_weight"] = extra["weight"]  # the name report.json has always used
            record(mix, val_rmse, seconds, extra)
    best = report.best_model(results)
    log("[4/5] drawing the plots")
    plots.plot_predictions(out / "predictions.png", true, preds)
    plots.plot_maintenance(out / "maintenance.png", data.rul, preds[best], service_within, best)
    _write_predictions(out / "predictions.csv", units, data.rul, preds)
    with atomic_write(out / "preprocessing.json", "w") as f:
        json.dump(prep.to_dict(), f, indent=2)
    log("[5/5] writing the report")
    result = {
        "dataset": {
            "name": data.name,
            "fit_engines": len(np.unique(data.train[fit_rows, 0])),
            "validation_engines": len(np.unique(data.train[val_rows, 0])),
            "test_engines": len(units),
            "channels": prep.channel_names,
            "operating_conditions": len(prep.centers),
            "window": window,
            "min_history": min_history,
            "age_channel": age,
            "max_rul": max_rul,
            "test_target": f"true RUL capped at {max_rul:g}, as the training labels",
        },
        "seed": seed,
        "models": results,
        "best": best,
        "best_network": report.best_network(results),
        "chosen_by": report.CHOSEN_BY,
        "recommendation": report.recommendation(results),
        "maintenance": results[best]["maintenance"],
        **({"uncertainty": results[best]["interval"]} if "interval" in results[best] else {}),
        "files": [
            "report.json",
            "predictions.csv",
            "predictions.png",
            "maintenance.png",
            "preprocessing.json",
        ],
        "wall_seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
    }
    report.write_report(out, result)
    return result
