"""The scikit-learn baselines the neural detectors must beat: Isolation Forest, the distance to the
nearest training normal, logistic regression, random forest. Each returns anomaly scores and alarms
for the test rows."""

from __future__ import annotations

import numpy as np

from chainrule.apps.traffic.evaluate import validation_metrics
from chainrule.apps.traffic.models import choose_threshold
from chainrule.apps.traffic.thresholds import choose_type_balanced_threshold

__all__ = ["fit_baselines"]


def fit_baselines(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    x_test: np.ndarray,
    seed: int,
    val_labels: np.ndarray | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, dict]]:
    """``{name: (test scores, test alarms, extra)}`` for the four baselines.

    Isolation Forest and the nearest-normal distance (Euclidean, to the closest
    training normal: a one-nearest-neighbour novelty score) are unsupervised
    like the autoencoder: fitted on the training normals, threshold chosen on
    validation the same way — with
    ``val_labels`` (the validation records' types) by
    :func:`~chainrule.apps.traffic.thresholds.choose_type_balanced_threshold`,
    without them by :func:`~chainrule.apps.traffic.models.choose_threshold`.
    ``extra`` holds their threshold and, with ``val_labels``, the validation figures it was chosen
    by. The two supervised models raise an alarm when P(attack) > 0.5.
    """
    try:
        from sklearn.ensemble import IsolationForest, RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.neighbors import NearestNeighbors
    except ImportError:
        raise ImportError(
            "chainrule traffic needs scikit-learn for its baselines: pip install scikit-learn"
        ) from None
    out: dict[str, tuple[np.ndarray, np.ndarray, dict]] = {}
    forest = IsolationForest(n_estimators=200, random_state=seed).fit(x_train[~y_train])
    nearest = NearestNeighbors(n_neighbors=1).fit(x_train[~y_train])
    novelty = {
        "isolation_forest": lambda x: -forest.score_samples(x),  # higher = more anomalous
        "nearest_normal": lambda x: nearest.kneighbors(x)[0][:, 0],
    }
    for name, score in novelty.items():
        val_scores = score(x_val)
        extra: dict = {}
        if val_labels is None:
            threshold = choose_threshold(val_scores, y_val)
        else:
            threshold = choose_type_balanced_threshold(val_scores, val_labels)
            extra["validation"] = validation_metrics(val_scores, threshold, val_labels)
        scores = score(x_test)
        out[name] = (scores, scores > threshold, {"threshold": threshold, **extra})
    for name, model in (
        ("logistic_regression", LogisticRegression(max_iter=2000, random_state=seed)),
        ("random_forest", RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=seed)),
    ):
        model.fit(x_train, y_train)
        p = model.predict_proba(x_test)[:, list(model.classes_).index(True)]
        out[name] = (p, p > 0.5, {})
    return out
