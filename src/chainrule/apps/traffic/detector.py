"""The trained detector as files: preprocessing, the autoencoder ensemble + its threshold, the classifier.

A model directory holds ``preprocessing.json`` (see
:class:`~chainrule.apps.traffic.preprocess.Preprocessor`), ``detector.json``
(architectures, the members' residual scales and the alarm threshold), and
the weights as ``autoencoder_0.safetensors``, ``autoencoder_1.safetensors``...
(one per ensemble member) and ``classifier.safetensors``: JSON and
safetensors only, written atomically, so loading a model runs no code.
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
from chainrule.apps.traffic.models import Autoencoder, attack_probability
from chainrule.apps.traffic.preprocess import Preprocessor
from chainrule.io import SafetensorsError, atomic_write, load, save
from chainrule.models.mlp import MLP

__all__ = ["Detector"]

_FORMAT = "chainrule.apps.traffic.Detector/2"


@dataclass
class Detector:
    """Everything needed to score new connection records the way the training run did."""

    preprocessor: Preprocessor
    ensemble: AutoencoderEnsemble
    threshold: float
    classifier: MLP
    classifier_hidden: list[int]

    @property
    def autoencoder(self) -> Autoencoder:
        """The ensemble's first member (what ``chainrule export --part autoencoder`` writes)."""
        return self.ensemble.members[0]

    def score(self, records: Records) -> dict[str, np.ndarray]:
        """Per record: ``anomaly_score`` (the ensemble's, see
        :mod:`~chainrule.apps.traffic.ensemble`), ``autoencoder_alarm`` (score above the threshold),
        ``reconstruction_error`` (mean squared, for reading), ``attack_probability``, ``classifier_alarm``."""
        x = self.preprocessor.transform(records)
        anomaly = self.ensemble.score(x)
        p = attack_probability(self.classifier, x)
        return {
            "anomaly_score": anomaly,
            "autoencoder_alarm": anomaly > self.threshold,
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
        first = self.autoencoder
        config = {
            "format": _FORMAT,
            "in_features": first.in_features,
            "autoencoder": {
                "members": len(self.ensemble.members),
                "hidden_sizes": first.hidden_sizes,
                "code_size": first.code_size,
                "residual_scales": [s.tolist() for s in self.ensemble.scales],
                "threshold": self.threshold,
                "score": "geometric mean over members of the mean squared reconstruction error, each "
                "feature's divided by its residual scale; alarm when above threshold",
            },
            "classifier": {"hidden_sizes": self.classifier_hidden, "alarm": "P(attack) > 0.5"},
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
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
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
            ensemble = AutoencoderEnsemble(members, scales)
        except (KeyError, TypeError, ValueError) as e:
            raise TrafficDataError(f"{d / 'detector.json'}: incomplete ({type(e).__name__}: {e})") from None
        if n_in != len(pre.feature_names):
            raise TrafficDataError(
                f"{d}: detector.json expects {n_in} inputs but preprocessing.json makes "
                f"{len(pre.feature_names)}"
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
        return cls(pre, ensemble, threshold, clf, clf_hidden)
