"""The trained detector as files: preprocessing, autoencoder + its threshold, and the classifier.

A model directory holds ``preprocessing.json`` (see
:class:`~chainrule.apps.traffic.preprocess.Preprocessor`), ``detector.json``
(architectures and the alarm threshold), and the weights as
``autoencoder.safetensors`` and ``classifier.safetensors``: JSON and
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
from chainrule.apps.traffic.models import Autoencoder, attack_probability, reconstruction_error
from chainrule.apps.traffic.preprocess import Preprocessor
from chainrule.io import SafetensorsError, atomic_write, load, save
from chainrule.models.mlp import MLP

__all__ = ["Detector"]

_FORMAT = "chainrule.apps.traffic.Detector/1"


@dataclass
class Detector:
    """Everything needed to score new connection records the way the training run did."""

    preprocessor: Preprocessor
    autoencoder: Autoencoder
    threshold: float
    classifier: MLP
    classifier_hidden: list[int]

    def score(self, records: Records) -> dict[str, np.ndarray]:
        """Per record: ``reconstruction_error``, ``autoencoder_alarm``, ``attack_probability``,
        ``classifier_alarm``."""
        x = self.preprocessor.transform(records)
        errors = reconstruction_error(self.autoencoder, x)
        p = attack_probability(self.classifier, x)
        return {
            "reconstruction_error": errors,
            "autoencoder_alarm": errors > self.threshold,
            "attack_probability": p,
            "classifier_alarm": p > 0.5,
        }

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the four files into ``directory`` (created if needed)."""
        d = Path(os.fspath(directory))
        d.mkdir(parents=True, exist_ok=True)
        self.preprocessor.save(d / "preprocessing.json")
        save(self.autoencoder.state_dict(), d / "autoencoder.safetensors")
        save(self.classifier.state_dict(), d / "classifier.safetensors")
        config = {
            "format": _FORMAT,
            "in_features": self.autoencoder.in_features,
            "autoencoder": {
                "hidden_sizes": self.autoencoder.hidden_sizes,
                "code_size": self.autoencoder.code_size,
                "threshold": self.threshold,
                "score": "mean squared reconstruction error; alarm when above threshold",
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
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
            raise TrafficDataError(
                f"{d / 'detector.json'}: not a traffic detector (format {_FORMAT!r} expected)"
            )
        pre = Preprocessor.load(d / "preprocessing.json")
        try:
            n_in = int(config["in_features"])
            ae_cfg, clf_cfg = config["autoencoder"], config["classifier"]
            ae = Autoencoder(n_in, ae_cfg["hidden_sizes"], ae_cfg["code_size"])
            clf_hidden = [int(h) for h in clf_cfg["hidden_sizes"]]
            clf = MLP(n_in, clf_hidden, 2)
            threshold = float(ae_cfg["threshold"])
        except (KeyError, TypeError, ValueError) as e:
            raise TrafficDataError(f"{d / 'detector.json'}: incomplete ({type(e).__name__}: {e})") from None
        if n_in != len(pre.feature_names):
            raise TrafficDataError(
                f"{d}: detector.json expects {n_in} inputs but preprocessing.json makes "
                f"{len(pre.feature_names)}"
            )
        for model, name in ((ae, "autoencoder"), (clf, "classifier")):
            path = d / f"{name}.safetensors"
            if not path.is_file():
                raise TrafficDataError(f"{d}: the model directory lacks {path.name}")
            try:
                model.load_state_dict(load(path))
            except (SafetensorsError, RuntimeError, ValueError, KeyError) as e:
                raise TrafficDataError(f"{path}: cannot load the weights ({e})") from None
        return cls(pre, ae, threshold, clf, clf_hidden)
