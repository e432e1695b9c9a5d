"""The whole experiment: load, split, preprocess, train the detectors and baselines, evaluate, write it all.

The training file is split (stratified, seeded) into a training part and a
validation part. Everything learned — preprocessing, weights, early stopping,
the residual scales, the calibrations, the alarm thresholds — comes from
those two; the test file is only scored. The novelty detectors (autoencoders,
nearest normal, Isolation Forest) see training normals only, so every attack
of the training file is new to them: they are validated on the validation
normals plus *all* the file's attacks (:func:`novelty_validation`), each
attack type with 10+ records weighing alike in the threshold
(:mod:`~chainrule.apps.traffic.thresholds`). The supervised models learn from
the training part's attacks and are checked on the validation part. The
mixed score (:mod:`~chainrule.apps.traffic.supervised`) adds the classifier's
calibrated margin to the hybrid score; its threshold is chosen by leaving
attack types out: classifiers trained without a fold of attack types show
how the mix treats types it never saw.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.apps.traffic.baselines import fit_baselines
from chainrule.apps.traffic.data import Records, TrafficDataError, load_nsl_kdd
from chainrule.apps.traffic.detector import Detector
from chainrule.apps.traffic.ensemble import fit_ensemble, noise_levels
from chainrule.apps.traffic.evaluate import Evaluation, evaluate_detector, validation_metrics
from chainrule.apps.traffic.hybrid import NearestNormal, RobustZ, hybrid_score
from chainrule.apps.traffic.models import classifier_margin, fit_classifier
from chainrule.apps.traffic.plots import plot_curves, plot_error_histogram
from chainrule.apps.traffic.preprocess import Preprocessor
from chainrule.apps.traffic.report import comparison_table, recommendation, write_report
from chainrule.apps.traffic.supervised import TypePool, attack_type_folds, leave_types_out, pool_metrics
from chainrule.apps.traffic.thresholds import choose_type_balanced_threshold

__all__ = ["TrafficConfig", "mix_weight", "novelty_validation", "run_traffic", "split_train_val"]


@dataclass
class TrafficConfig:
    """The knobs of a run; the defaults are the ones measured on NSL-KDD (see the package docs).

    ``hidden_sizes`` and ``code_size`` were chosen on the validation split (balanced accuracy,
    mean of 3 seeds, over 20 architectures); ``members`` autoencoders form the ensemble, member
    ``k`` trained with denoising noise ``noise_std[k % len(noise_std)]`` (or one level for all).
    ``hybrid``: the detector's score averages the ensemble's with the nearest-normal distance
    (:mod:`~chainrule.apps.traffic.hybrid`); False: the ensemble's score alone. The noise mix and
    the hybrid were chosen on the novelty validation (type-balanced accuracy, seeds 0 and 1).
    ``clip``: the standardized numeric inputs are limited to ``[-clip, clip]``
    (:class:`~chainrule.apps.traffic.preprocess.Preprocessor`; None: no limit), chosen among
    none, 3, 5 and 10 on the same validation (seeds 0 and 1): type-balanced accuracy ties, and
    5 ranks the attack types best (the mean over types of the ROC-AUC against the normals).
    ``classifier_weight``: the weight of the classifier's calibrated margin in the mixed score
    (:mod:`~chainrule.apps.traffic.supervised`); None: 0.25 with the hybrid score, and no mixed
    score without it (0: none either). Chosen among 0.125, 0.25, 0.5 and 1 by leaving attack types
    out in ``type_folds`` folds (type-balanced accuracy, seeds 0 and 1).
    """

    seed: int = 0
    epochs: int = 60
    val_fraction: float = 0.2
    members: int = 5
    noise_std: float | tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.5)
    hybrid: bool = True
    clip: float | None = 5.0
    hidden_sizes: tuple[int, ...] = (128,)
    code_size: int = 32
    classifier_hidden: tuple[int, ...] = (64, 32)
    classifier_weight: float | None = None
    type_folds: int = 5
    batch_size: int = 128
    lr: float = 1e-3
    progress: bool = True


def split_train_val(records: Records, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a seeded split of ``records``, stratified by label where every label has 2+ records."""
    from sklearn.model_selection import train_test_split

    if not 0 < val_fraction < 1:
        raise ValueError(f"split_train_val: val_fraction must be in (0, 1), got {val_fraction}")
    _, counts = np.unique(records.labels, return_counts=True)
    strata = records.labels if counts.min() >= 2 else records.is_attack
    try:
        return train_test_split(
            np.arange(len(records)), test_size=val_fraction, random_state=seed, stratify=strata
        )
    except ValueError:
        return train_test_split(np.arange(len(records)), test_size=val_fraction, random_state=seed)


def novelty_validation(
    x_val: np.ndarray, val_labels: np.ndarray, x_tr: np.ndarray, tr_labels: np.ndarray, normal: str = "normal"
) -> tuple[np.ndarray, np.ndarray]:
    """The validation records of a detector trained on normals only: the validation part's records
    plus the training part's attacks, ``(x, labels)``.

    A novelty detector never sees an attack, so every attack of the training
    file is as new to it as a test attack; using them all (not only the
    validation part's fifth) gives the rarer attack types enough records to
    count in the type-balanced threshold. The normals stay held out by record.
    """
    attack = tr_labels != normal
    return np.concatenate([x_val, x_tr[attack]]), np.concatenate([val_labels, tr_labels[attack]])


def _check_classes(records: Records, what: str) -> None:
    y = records.is_attack
    if y.all() or not y.any():
        kind = "attack" if y.all() else "normal"
        raise TrafficDataError(
            f"{records.source}: the {what} has only {kind} records ({len(y)}); it needs both"
        )


def mix_weight(config: TrafficConfig) -> float:
    """The classifier's weight in the mixed score: ``classifier_weight``, or its default (0.25 with the
    hybrid score, 0 without); a positive weight needs the hybrid score."""
    weight = config.classifier_weight
    if weight is None:
        return 0.25 if config.hybrid else 0.0
    if not weight >= 0:
        raise ValueError(f"TrafficConfig: classifier_weight must be >= 0, got {weight}")
    if weight > 0 and not config.hybrid:
        raise ValueError("TrafficConfig: the mixed score (classifier_weight > 0) mixes the hybrid score; "
                         "it needs hybrid=True")  # fmt: skip
    return float(weight)


def _pool_report(pool: TypePool, weight: float, threshold: float, novelty_threshold: float) -> dict[str, Any]:
    """The leave-attack-types-out figures of each member at its own threshold and of the mix."""
    from sklearn.metrics import roc_auc_score

    attack = pool.groups != "normal"
    members = {
        "autoencoder": (pool.novelty, novelty_threshold),
        "classifier": (pool.margin, 0.0),  # P(attack) > 0.5
        "mixed_score": (pool.score(weight), threshold),
    }
    return {
        "held_out_types": pool.held_out,
        "records": {"normal": int((~attack).sum()), "attack": int(attack.sum())},
        **{
            name: {**pool_metrics(scores > t, pool.groups), "roc_auc": float(roc_auc_score(attack, scores))}
            for name, (scores, t) in members.items()
        },
    }


def run_traffic(
    train: str | os.PathLike,
    test: str | os.PathLike,
    out: str | os.PathLike,
    config: TrafficConfig | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the experiment on the ``train`` and ``test`` files (paths or NSL-KDD names); write ``out``.

    ``out`` receives the model files (see :class:`Detector`), ``report.json``,
    ``roc_pr.png`` and ``reconstruction_error.png``. Returns the report.
    """
    import chainrule as cr

    cfg = config or TrafficConfig()
    weight = mix_weight(cfg)
    start, cpu_start = time.perf_counter(), time.process_time()
    out_dir = Path(os.fspath(out))
    train_rec = load_nsl_kdd(train)
    test_rec = load_nsl_kdd(test)
    echo(f"loaded {len(train_rec)} training records from {train_rec.source}, {len(test_rec)} test records "
         f"from {test_rec.source}")  # fmt: skip
    _check_classes(train_rec, "training file")
    tr_idx, val_idx = split_train_val(train_rec, cfg.val_fraction, cfg.seed)
    tr, val = train_rec.subset(tr_idx), train_rec.subset(val_idx)
    _check_classes(tr, "training split")
    _check_classes(val, "validation split (use a larger training file or --val-fraction)")
    pre = Preprocessor(cfg.clip).fit(tr)
    x_tr, x_val, x_te = pre.transform(tr), pre.transform(val), pre.transform(test_rec)
    y_tr, y_val, y_te = tr.is_attack, val.is_attack, test_rec.is_attack
    unseen_cats = pre.unseen_counts(test_rec)
    if unseen_cats:
        echo(f"test categories never seen in training (encoded as all-zero one-hot): {unseen_cats}")
    echo(f"{x_tr.shape[1]} input features; {len(tr)} training / {len(val)} validation records")

    noise = noise_levels(cfg.noise_std, cfg.members)
    echo(f"training {cfg.members} autoencoder(s) on {int((~y_tr).sum())} normal records (noise {noise})")
    ensemble, ae_hists = fit_ensemble(
        x_tr[~y_tr], x_val[~y_val], cfg.members, cfg.seed, cfg.hidden_sizes, cfg.code_size, cfg.epochs,
        cfg.batch_size, cfg.lr, progress=cfg.progress, noise_std=noise,
    )  # fmt: skip
    x_nov, nov_labels = novelty_validation(x_val, val.labels, x_tr, tr.labels)
    nov_normal = nov_labels == "normal"
    ens_val = ensemble.score(x_nov)
    ens_threshold = choose_type_balanced_threshold(ens_val, nov_labels)
    nearest = calibrations = None
    val_scores, threshold = ens_val, ens_threshold
    if cfg.hybrid:
        nearest = NearestNormal(x_tr[~y_tr])
        near_val = nearest.score(x_nov)
        calibrations = (RobustZ.fit(ens_val[nov_normal]), RobustZ.fit(near_val[nov_normal]))
        val_scores = hybrid_score(ens_val, near_val, calibrations)
        threshold = choose_type_balanced_threshold(val_scores, nov_labels)
    cr.manual_seed(cfg.seed)
    echo("training the classifier (MLP) on normal and attack records")
    clf, clf_hist = fit_classifier(
        x_tr,
        y_tr,
        x_val,
        y_val,
        cfg.classifier_hidden,
        cfg.epochs,
        cfg.batch_size,
        cfg.lr,
        progress=cfg.progress,
    )
    clf_cal = mix_threshold = pool = None
    if weight > 0:
        folds = attack_type_folds(train_rec.labels, cfg.type_folds, cfg.seed)
        echo(f"leaving attack types out: {len(folds)} classifier(s), each trained without one group of types")

        def train_margin(
            x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray
        ) -> Callable[[np.ndarray], np.ndarray]:
            cr.manual_seed(cfg.seed)
            model, _ = fit_classifier(
                x, y, xv, yv, cfg.classifier_hidden, cfg.epochs, cfg.batch_size, cfg.lr, progress=False
            )
            return lambda rows: classifier_margin(model, rows)

        n_val = len(val)  # the novelty validation is the validation part, then the training part's attacks
        pool = leave_types_out(
            x_tr, tr.labels, x_val, val.labels, val_scores[n_val:], val_scores[:n_val], folds, train_margin
        )
        mix_threshold = choose_type_balanced_threshold(pool.score(weight), pool.groups)
        clf_cal = RobustZ.fit(classifier_margin(clf, x_val[~y_val]), log=False)
    detector = Detector(
        pre, ensemble, threshold, clf, list(cfg.classifier_hidden), nearest, calibrations, tuple(noise),
        clf_cal, weight, mix_threshold,
    )  # fmt: skip
    detector.save(out_dir)
    echo("fitting the baselines (Isolation Forest, nearest normal, logistic regression, random forest)")
    baselines = fit_baselines(
        x_tr, y_tr, x_nov, nov_labels != "normal", x_te, cfg.seed, val_labels=nov_labels
    )

    train_labels = set(train_rec.labels.tolist())
    scored = detector.score(test_rec)
    results: dict[str, Evaluation] = {}
    if detector.mixed:
        results["mixed_score"] = evaluate_detector(
            scored["mixed_score"], scored["mixed_alarm"], test_rec.labels, train_labels
        )
    results |= {
        "autoencoder": evaluate_detector(
            scored["anomaly_score"], scored["autoencoder_alarm"], test_rec.labels, train_labels
        ),
        "classifier": evaluate_detector(
            scored["attack_probability"], scored["classifier_alarm"], test_rec.labels, train_labels
        ),
    }
    if cfg.hybrid:  # the ensemble alone, thresholded the same way: what the nearest normal adds
        ens_te = scored["ensemble_score"]
        results["autoencoder_ensemble"] = evaluate_detector(
            ens_te, ens_te > ens_threshold, test_rec.labels, train_labels
        )
    for name, (scores, alarms, _) in baselines.items():
        results[name] = evaluate_detector(scores, alarms, test_rec.labels, train_labels)
    models = {name: ev.metrics for name, ev in results.items()}
    models["autoencoder"]["score"] = "hybrid: ensemble + nearest normal" if cfg.hybrid else "ensemble"
    models["autoencoder"]["threshold"] = threshold
    models["autoencoder"]["members"] = cfg.members
    models["autoencoder"]["noise_std"] = noise
    models["autoencoder"]["epochs_trained"] = [len(h["loss"]) for h in ae_hists]
    models["autoencoder"]["validation"] = validation_metrics(val_scores, threshold, nov_labels)
    if cfg.hybrid:
        models["autoencoder_ensemble"]["threshold"] = ens_threshold
        models["autoencoder_ensemble"]["validation"] = validation_metrics(ens_val, ens_threshold, nov_labels)
    models["classifier"]["epochs_trained"] = len(clf_hist["loss"])
    if detector.mixed:
        models["mixed_score"]["score"] = (
            f"hybrid + {weight:g} x classifier margin (robust z on validation normals)"
        )
        models["mixed_score"]["weight"] = weight
        models["mixed_score"]["threshold"] = mix_threshold
        models["mixed_score"]["classifier_calibration"] = {"median": clf_cal.median, "iqr": clf_cal.iqr}
    for name in ("isolation_forest", "nearest_normal"):
        models[name].update(baselines[name][2])

    plot_curves(results, y_te, out_dir / "roc_pr.png")
    plot_error_histogram(
        scored["anomaly_score"], y_te, threshold, out_dir / "reconstruction_error.png",
        log_scale=not cfg.hybrid,
        xlabel="hybrid anomaly score (robust z)" if cfg.hybrid else "ensemble anomaly score",
    )  # fmt: skip
    unseen_types = sorted(set(test_rec.labels[y_te].tolist()) - train_labels)
    per_type = {
        t: {
            "records": int((test_rec.labels == t).sum()),
            **{n: float(ev.alarms[test_rec.labels == t].mean()) for n, ev in results.items()},
        }
        for t in unseen_types
    }
    report = {
        "models": models,
        "unseen_attack_types": per_type,
        "recommendation": recommendation(models),
        "data": {
            "train": train_rec.source,
            "test": test_rec.source,
            "train_records": len(tr),
            "validation_records": len(val),
            "novelty_validation_records": len(nov_labels),
            "test_records": len(test_rec),
            "test_attack_share": float(y_te.mean()),
            "input_features": int(x_tr.shape[1]),
            "input_clip": cfg.clip,
            "unseen_test_categories": unseen_cats,
        },
        "threshold_rule": (
            "autoencoder (hybrid and ensemble), isolation forest, nearest normal: maximise (TNR + mean "
            "over attack types of TPR) / 2 on the validation normals + all the training file's attacks "
            "(types with 10+ records); classifiers: P(attack) > 0.5; mixed score: the same rule on the "
            "leave-attack-types-out pool, each (type, unseen or seen) group of 10+ records counting alike"
        ),
        "leave_types_out": (None if pool is None else _pool_report(pool, weight, mix_threshold, threshold)),
        "seed": cfg.seed,
        "wall_time_s": round(time.perf_counter() - start, 1),
        "cpu_time_s": round(time.process_time() - cpu_start, 1),
    }
    write_report(out_dir, report)
    echo("")
    echo(comparison_table(models))
    if pool is not None:
        lto = report["leave_types_out"]
        echo(
            "leaving attack types out (validation only): unseen attack types caught by the autoencoder "
            f"(hybrid) {lto['autoencoder']['unseen_detection_rate']:.0%}, the classifier "
            f"{lto['classifier']['unseen_detection_rate']:.0%}, the mix "
            f"{lto['mixed_score']['unseen_detection_rate']:.0%}; false alarms on validation normals "
            f"{lto['autoencoder']['false_positive_rate']:.1%}, "
            f"{lto['classifier']['false_positive_rate']:.1%}, "
            f"{lto['mixed_score']['false_positive_rate']:.1%}"
        )
    echo(report["recommendation"])
    echo(f"wrote the model, report.json, roc_pr.png and reconstruction_error.png to {out_dir} "
         f"in {report['wall_time_s']:.0f} s")  # fmt: skip
    return report
