"""The supervised member of the detector, mixed with the hybrid novelty score and judged by leaving
attack types out.

A classifier trained on the training file's labelled attacks knows those
attack families far better than any novelty score (few false alarms, nearly
every known attack caught), and knows nothing of the rest. The detector's
mixed score adds the two: the hybrid score (a robust z on the validation
normals, :mod:`~chainrule.apps.traffic.hybrid`) plus ``weight`` times the
classifier's margin (logit of attack minus logit of normal), itself a robust
z on the validation normals. The hybrid keeps catching what is unlike normal
traffic; the classifier lifts the known attacks and lowers what it is sure is
normal.

How that mix behaves on attack types never seen is measured without the test
file: the training file's attack types are dealt into folds, and for each
fold a classifier is trained without those types (:func:`leave_types_out`).
Its held-out types play the unseen attacks, the validation part's records of
the other types the seen ones, the validation normals the normal traffic.
The mixed score's alarm threshold is chosen on that pool, each (type, unseen
or seen) group weighing alike (:mod:`~chainrule.apps.traffic.thresholds`), so
it is set for a stream that holds attack types the classifier never saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from chainrule.apps.traffic.hybrid import RobustZ

__all__ = ["TypePool", "attack_type_folds", "leave_types_out", "mixed_score", "pool_metrics"]

MarginFn = Callable[[np.ndarray], np.ndarray]  # rows -> a trained classifier's margins
UNSEEN, SEEN = " (unseen)", " (seen)"  # group-name suffixes of the attack records in a TypePool


def mixed_score(novelty_z: np.ndarray, classifier_z: np.ndarray, weight: float) -> np.ndarray:
    """The detector's mixed score: ``novelty_z + weight * classifier_z``, (n,) float64."""
    if not weight >= 0:
        raise ValueError(f"mixed_score: weight must be >= 0, got {weight}")
    novelty_z = np.asarray(novelty_z, dtype=np.float64)
    classifier_z = np.asarray(classifier_z, dtype=np.float64)
    if novelty_z.shape != classifier_z.shape:
        raise ValueError(
            f"mixed_score: the two scores must have one shape, got {novelty_z.shape} and {classifier_z.shape}"
        )
    return novelty_z + weight * classifier_z


def attack_type_folds(labels: np.ndarray, folds: int, seed: int, normal: str = "normal") -> list[list[str]]:
    """The attack types of ``labels`` dealt into ``folds`` groups (fewer when there are fewer types),
    in a seeded random order; each group lists its types sorted."""
    if folds < 2:
        raise ValueError(f"attack_type_folds: folds must be at least 2, got {folds}")
    types = sorted(set(np.asarray(labels).tolist()) - {normal})
    if not types:
        raise ValueError("attack_type_folds: the labels hold no attack type")
    order = np.random.default_rng(seed).permutation(len(types))
    k = min(folds, len(types))
    return [sorted(types[i] for i in order[f::k]) for f in range(k)]


@dataclass
class TypePool:
    """The leave-attack-types-out records: per record its hybrid score, its classifier margin (from the
    classifier that did not see the record's type, or did not train on the record) calibrated on the
    validation normals, its group (``normal``, ``"<type> (unseen)"`` or ``"<type> (seen)"``) and fold."""

    novelty: np.ndarray
    classifier: np.ndarray
    margin: np.ndarray
    groups: np.ndarray
    fold: np.ndarray
    held_out: list[list[str]]

    def score(self, weight: float) -> np.ndarray:
        """The mixed score of every pooled record (:func:`mixed_score`)."""
        return mixed_score(self.novelty, self.classifier, weight)


def leave_types_out(
    x_tr: np.ndarray,
    tr_labels: np.ndarray,
    x_val: np.ndarray,
    val_labels: np.ndarray,
    novelty_tr_attacks: np.ndarray,
    novelty_val: np.ndarray,
    held_out: Sequence[Sequence[str]],
    train_margin: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], MarginFn],
    normal: str = "normal",
) -> TypePool:
    """Train one classifier per group of ``held_out`` attack types without them and pool what each says.

    ``x_tr``/``tr_labels`` is the training part, ``x_val``/``val_labels`` the
    validation part; ``novelty_tr_attacks`` is the hybrid score of the
    training part's attacks (in order), ``novelty_val`` of every validation
    record. ``train_margin(x, y, x_val, y_val)`` trains a classifier (``y``
    True for attack; early stopping on the validation rows) and returns the
    function mapping rows to its margins. For each fold the pool holds the
    validation normals, every record of the held-out types (``unseen``: the
    classifier never saw the type) and the validation records of the other
    types (``seen``: the type, not the record, was in training).
    """
    tr_labels, val_labels = np.asarray(tr_labels), np.asarray(val_labels)
    tr_attack, val_normal = tr_labels != normal, val_labels == normal
    if len(novelty_tr_attacks) != int(tr_attack.sum()) or len(novelty_val) != len(val_labels):
        raise ValueError(
            f"leave_types_out: expected {int(tr_attack.sum())} training-attack and {len(val_labels)} "
            f"validation novelty scores, got {len(novelty_tr_attacks)} and {len(novelty_val)}"
        )
    if not val_normal.any():
        raise ValueError("leave_types_out: the validation part has no normal record to calibrate on")
    attack_labels = np.concatenate([tr_labels[tr_attack], val_labels[~val_normal]])
    attack_x = np.concatenate([x_tr[tr_attack], x_val[~val_normal]])
    attack_novelty = np.concatenate([novelty_tr_attacks, novelty_val[~val_normal]])
    parts: list[tuple[np.ndarray, ...]] = []
    for f, types in enumerate(held_out):
        held = sorted(types)
        keep_tr, keep_val = ~np.isin(tr_labels, held), ~np.isin(val_labels, held)
        margin_of = train_margin(x_tr[keep_tr], tr_attack[keep_tr], x_val[keep_val], ~val_normal[keep_val])
        val_margin = margin_of(x_val)
        calibration = RobustZ.fit(val_margin[val_normal], log=False)
        unseen = np.isin(attack_labels, held)
        seen = ~val_normal & keep_val
        margin = np.concatenate([val_margin[val_normal], margin_of(attack_x[unseen]), val_margin[seen]])
        groups = np.concatenate(
            [
                val_labels[val_normal],
                np.char.add(attack_labels[unseen].astype(str), UNSEEN),
                np.char.add(val_labels[seen].astype(str), SEEN),
            ]
        )
        novelty = np.concatenate([novelty_val[val_normal], attack_novelty[unseen], novelty_val[seen]])
        parts.append((novelty, calibration(margin), margin, groups, np.full(len(margin), f)))
    if not parts:
        raise ValueError("leave_types_out: needs at least one group of held-out attack types")
    novelty, classifier, margin, groups, fold = (np.concatenate(p) for p in zip(*parts))
    return TypePool(novelty, classifier, margin, groups, fold, [sorted(t) for t in held_out])


def pool_metrics(alarms: np.ndarray, groups: np.ndarray, min_count: int = 10) -> dict[str, float | None]:
    """What a detector's ``alarms`` on a :class:`TypePool` say: the false alarm rate on the normals,
    the detection rate of unseen and of seen attacks (over records, and the mean over attack types
    with ``min_count``+ records in the group), and the type-balanced accuracy (the normals' true
    negative rate and the mean over those groups of the detection rate, averaged)."""
    alarms, groups = np.asarray(alarms, dtype=bool), np.asarray(groups).astype(str)
    normal = groups == "normal"
    out: dict[str, float | None] = {"false_positive_rate": float(alarms[normal].mean())}
    rates = {}
    for tag, suffix in (("unseen", UNSEEN), ("seen", SEEN)):
        member = np.char.endswith(groups, suffix)
        names, counts = np.unique(groups[member], return_counts=True)
        by_type = {str(g): float(alarms[groups == g].mean()) for g in names[counts >= min_count]}
        rates.update(by_type)
        out[f"{tag}_detection_rate"] = float(alarms[member].mean()) if member.any() else None
        out[f"{tag}_detection_rate_type_mean"] = float(np.mean(list(by_type.values()))) if by_type else None
    mean_rate = float(np.mean(list(rates.values()))) if rates else float(alarms[~normal].mean())
    out["type_balanced_accuracy"] = (1.0 - out["false_positive_rate"] + mean_rate) / 2
    return out
