"""The trained detector as files: preprocessing, the novelty detector + its threshold, the classifier.

A model directory holds ``preprocessing.json`` (see
:class:`~chainrule.apps.traffic.preprocess.Preprocessor`), ``detector.json``
(architectures, the members' residual scales, the score's calibration and the
alarm threshold), the weights as ``autoencoder_0.safetensors``,
``autoencoder_1.safetensors``... (one per ensemble member) and
``classifier.safetensors``, and, for the hybrid score
(:mod:`~chainrule.apps.traffic.hybrid`), the preprocessed training normals as
``normals.safetensors``, and, for the mixed score
(:mod:`~chainrule.apps.traffic.supervised`), the classifier's calibration,
the mix's weight and its threshold: JSON and safetensors only, written
atomically, so loading a model runs no code. Directories of the previous
formats (``/3``: no mixed score; ``/2``: the ensemble alone) still load and
score as they did.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.apps.traffic.data import Records, TrafficDataError
from chainrule.apps.traffic.ensemble import AutoencoderEnsemble
from chainrule.apps.traffic.hybrid import NearestNormal, RobustZ, hybrid_score
from chainrule.apps.traffic.models import Autoencoder, classifier_margin
from chainrule.apps.traffic.preprocess import Preprocessor
from chainrule.apps.traffic.supervised import mixed_score
from chainrule.io import SafetensorsError, atomic_write, load, save
from chainrule.models.mlp import MLP

__all__ = ["Detector"]

_FORMAT = "chainrule.apps.traffic.Detector/4"
_UNMIXED = "chainrule.apps.traffic.Detector/3"
_ENSEMBLE_ONLY = "chainrule.apps.traffic.Detector/2"


@dataclass
class Detector:
    """Everything needed to score new connection records the way the training run did."""

    preprocessor: Preprocessor
    ensemble: AutoencoderEnsemble
    threshold: float
    classifier: MLP
    classifier_hidden: list[int]
    nearest: NearestNormal | None = None  # with calibrations: the hybrid score; None: the ensemble's alone
    calibrations: tuple[RobustZ, RobustZ] | None = None
    noise_std: tuple[float, ...] = ()  # each member's training noise (recorded; scoring adds none)
    # the mixed score (hybrid + mix_weight * calibrated classifier margin); None: no mixed score
    classifier_calibration: RobustZ | None = None
    mix_weight: float = 0.0
    mix_threshold: float | None = None

    def __post_init__(self) -> None:
        if (self.nearest is None) != (self.calibrations is None):
            raise ValueError("Detector: the hybrid score needs both the nearest normals and the calibrations")
        if (self.classifier_calibration is None) != (self.mix_threshold is None):
            raise ValueError(
                "Detector: the mixed score needs both the classifier calibration and a threshold"
            )
        if self.mixed and not self.hybrid:
            raise ValueError("Detector: the mixed score mixes the hybrid score; it needs the nearest normals")
        if not self.mix_weight >= 0:
            raise ValueError(f"Detector: mix_weight must be >= 0, got {self.mix_weight}")

    @property
    def mixed(self) -> bool:
        """Whether the detector has the mixed score (hybrid + the classifier's calibrated margin)."""
        return self.mix_threshold is not None

    @property
    def hybrid(self) -> bool:
        """Whether the anomaly score is the hybrid (ensemble + nearest normal) rather than the ensemble's."""
        return self.nearest is not None

    @property
    def autoencoder(self) -> Autoencoder:
        """The ensemble's first member (what ``chainrule export --part autoencoder`` writes)."""
        return self.ensemble.members[0]

    def score(self, records: Records) -> dict[str, np.ndarray]:
        """Per record: ``anomaly_score`` (the hybrid score of :mod:`~chainrule.apps.traffic.hybrid`, or
        for an ensemble-only detector the ensemble's, see :mod:`~chainrule.apps.traffic.ensemble`),
        ``autoencoder_alarm`` (anomaly score above the threshold), ``ensemble_score``,
        ``nearest_distance`` (hybrid only), ``reconstruction_error`` (mean squared, for reading),
        ``attack_probability``, ``classifier_alarm``, and with the mixed score
        (:mod:`~chainrule.apps.traffic.supervised`) ``classifier_z``, ``mixed_score`` and
        ``mixed_alarm`` (mixed score above its threshold)."""
        x = self.preprocessor.transform(records)
        ensemble = self.ensemble.score(x)
        extra: dict[str, np.ndarray] = {"ensemble_score": ensemble}
        if self.nearest is not None:
            extra["nearest_distance"] = self.nearest.score(x)
            anomaly = hybrid_score(ensemble, extra["nearest_distance"], self.calibrations)
        else:
            anomaly = ensemble
        margin = classifier_margin(self.classifier, x)
        p = 1.0 / (1.0 + np.exp(-margin))  # softmax of two logits: the logistic of their difference
        if self.mixed:
            extra["classifier_z"] = self.classifier_calibration(margin)
            extra["mixed_score"] = mixed_score(anomaly, extra["classifier_z"], self.mix_weight)
            extra["mixed_alarm"] = extra["mixed_score"] > self.mix_threshold
        return {
            "anomaly_score": anomaly,
            "autoencoder_alarm": anomaly > self.threshold,
            **extra,
            "reconstruction_error": self.ensemble.reconstruction_error(x),
            "attack_probability": p,
            "classifier_alarm": p > 0.5,
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the model files into ``directory`` (created if needed)."""
        d = Path(os.fspath(directory))
        d.mkdir(parents=True, exist_ok=True)
        self.preprocessor.save(d / "preprocessing.json")
        for k, member in enumerate(self.ensemble.members):
            save(member.state_dict(), d / f"autoencoder_{k}.safetensors")
        save(self.classifier.state_dict(), d / "classifier.safetensors")
        if self.nearest is not None:
            save({"normals": self.nearest.normals}, d / "normals.safetensors")
        first = self.autoencoder
        hybrid = None
        if self.calibrations is not None:
            hybrid = {
                "calibrations": {
                    name: {"median": c.median, "iqr": c.iqr}
                    for name, c in zip(("ensemble", "nearest"), self.calibrations)
                },
                "score": "mean of (log(score) - median) / iqr over the ensemble's score and the distance "
                "to the nearest training normal (normals.safetensors); alarm when above threshold",
            }
        config = {
            "format": _FORMAT,
            "in_features": first.in_features,
            "autoencoder": {
                "members": len(self.ensemble.members),
                "hidden_sizes": first.hidden_sizes,
                "code_size": first.code_size,
                "residual_scales": [s.tolist() for s in self.ensemble.scales],
                "threshold": self.threshold,
                "noise_std": [float(v) for v in self.noise_std],
                "score": "geometric mean over members of the mean squared reconstruction error, each "
                "feature's divided by its residual scale",
            },
            "hybrid": hybrid,
            "classifier": {"hidden_sizes": self.classifier_hidden, "alarm": "P(attack) > 0.5"},
            "mixed": None,
        }
        if self.mixed:
            cal = self.classifier_calibration
            config["mixed"] = {
                "weight": self.mix_weight,
                "classifier_calibration": {"median": cal.median, "iqr": cal.iqr},
                "threshold": self.mix_threshold,
                "score": "hybrid score + weight * (classifier margin - median) / iqr, the margin being "
                "logit(attack) - logit(normal); alarm when above threshold",
            }
        with atomic_write(d / "detector.json", "w") as f:
            json.dump(config, f, indent=2)
        return d

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Detector:
        """Read a model directory written by :meth:`save`; errors name the directory and the missing part."""
        d = Path(os.fspath(directory))
        if not d.is_dir():
            raise TrafficDataError(f"{d}: no such model directory (train one with --train/--test/--out)")
        try:
            with open(d / "detector.json", encoding="utf-8") as f:
                config: dict[str, Any] = json.load(f)
        except FileNotFoundError:
            raise TrafficDataError(f"{d}: not a traffic model directory (no detector.json)") from None
        except json.JSONDecodeError as e:
            raise TrafficDataError(f"{d / 'detector.json'}: not valid JSON ({e})") from None
        if isinstance(config, dict) and config.get("format") == "chainrule.apps.traffic.Detector/1":
            raise TrafficDataError(
                f"{d}: a detector from an older chainrule (one autoencoder, plain squared error); "
                "train it again with this version"
            )
        if not isinstance(config, dict) or config.get("format") not in (_FORMAT, _UNMIXED, _ENSEMBLE_ONLY):
            raise TrafficDataError(
                f"{d / 'detector.json'}: not a traffic detector (format {_FORMAT!r} expected)"
            )
        pre = Preprocessor.load(d / "preprocessing.json")
        try:
            n_in = int(config["in_features"])
            ae_cfg, clf_cfg = config["autoencoder"], config["classifier"]
            sizes = (n_in, ae_cfg["hidden_sizes"], ae_cfg["code_size"])
            members = [Autoencoder(*sizes) for _ in range(int(ae_cfg["members"]))]
            scales = [np.asarray(s, dtype=np.float64) for s in ae_cfg["residual_scales"]]
            clf_hidden = [int(h) for h in clf_cfg["hidden_sizes"]]
            clf = MLP(n_in, clf_hidden, 2)
            threshold = float(ae_cfg["threshold"])
            noise_std = tuple(float(v) for v in ae_cfg.get("noise_std", []))
            ensemble = AutoencoderEnsemble(members, scales)
            hybrid = config.get("hybrid") if config["format"] != _ENSEMBLE_ONLY else None
            calibrations = None
            if hybrid is not None:
                cal = hybrid["calibrations"]
                calibrations = tuple(
                    RobustZ(float(cal[k]["median"]), float(cal[k]["iqr"])) for k in ("ensemble", "nearest")
                )
            mixed = config.get("mixed") if config["format"] == _FORMAT else None
            clf_cal, mix_weight, mix_threshold = None, 0.0, None
            if mixed is not None:
                c = mixed["classifier_calibration"]
                clf_cal = RobustZ(float(c["median"]), float(c["iqr"]), log=False)
                mix_weight, mix_threshold = float(mixed["weight"]), float(mixed["threshold"])
        except (KeyError, TypeError, ValueError) as e:
            raise TrafficDataError(f"{d / 'detector.json'}: incomplete ({type(e).__name__}: {e})") from None
        if n_in != len(pre.feature_names):
            raise TrafficDataError(
                f"{d}: detector.json expects {n_in} inputs but preprocessing.json makes "
                f"{len(pre.feature_names)}"
            )
        if mixed is not None and (calibrations is None or not clf_cal.iqr > 0 or not mix_weight >= 0):
            raise TrafficDataError(
                f"{d / 'detector.json'}: the mixed score needs the hybrid, a classifier iqr > 0 and a "
                "weight >= 0"
            )
        if any(s.shape != (n_in,) or not np.all(s > 0) for s in scales):
            raise TrafficDataError(f"{d / 'detector.json'}: residual scales must be {n_in} positive numbers")
        parts = [(m, f"autoencoder_{k}") for k, m in enumerate(members)] + [(clf, "classifier")]
        for model, name in parts:
            path = d / f"{name}.safetensors"
            if not path.is_file():
                raise TrafficDataError(f"{d}: the model directory lacks {path.name}")
            try:
                model.load_state_dict(load(path))
            except (SafetensorsError, RuntimeError, ValueError, KeyError) as e:
                raise TrafficDataError(f"{path}: cannot load the weights ({e})") from None
        nearest = None
        if calibrations is not None:
            if any(not c.iqr > 0 for c in calibrations):
                raise TrafficDataError(f"{d / 'detector.json'}: the hybrid calibrations need iqr > 0")
            path = d / "normals.safetensors"
            if not path.is_file():
                raise TrafficDataError(
                    f"{d}: the model directory lacks {path.name} (the hybrid score needs it)"
                )
            try:
                normals = load(path)["normals"].numpy()
            except (SafetensorsError, KeyError, ValueError) as e:
                raise TrafficDataError(f"{path}: cannot load the training normals ({e})") from None
            if normals.ndim != 2 or normals.shape[1] != n_in or len(normals) == 0:
                raise TrafficDataError(f"{path}: expected (n, {n_in}) training normals, got {normals.shape}")
            nearest = NearestNormal(normals)
        return cls(
            pre, ensemble, threshold, clf, clf_hidden, nearest, calibrations, noise_std, clf_cal, mix_weight,
            mix_threshold,
        )  # fmt: skip
