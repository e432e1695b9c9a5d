"""Predictive maintenance on NASA C-MAPSS: remaining-useful-life networks (1-D CNNs, MLPs) next to baselines.

``chainrule maintenance --train FILE --test FILE --rul FILE --out DIR`` runs the
whole study; :func:`run` is the same from Python. The parts: :mod:`.data`
(reading, checking, downloading the files), :mod:`.preprocess` (the usual
protocol), :mod:`.models` (the networks), :mod:`.baselines` (scikit-learn),
:mod:`.evaluate` (RMSE, PHM08 score, the service decision), :mod:`.plots` and
:mod:`.report`.

``cnn_ensemble`` (:mod:`.ensemble`) trains several CNNs, each without one
fold of the training engines (the first fold: the validation engines), and
predicts their mean; ``mlp_ensemble`` does the same with five MLPs per fold
that read each window's summaries (per channel the last value, mean, std,
min, max and slope: what boosting reads). The baselines are cross-validated
on the same folds. ``network_blend`` mixes the two ensembles (chainrule
networks only) and ``blend`` the CNN ensemble and gradient boosting, each with
a weight chosen on their out-of-fold predictions. The model to use is the
cross-validated one with the lowest out-of-fold RMSE (:mod:`.report`), and the
best of the networks alone is named beside it; its out-of-fold errors,
calibrated split-conformally, give each test engine a RUL interval, and a
second service list is built from the intervals' lower ends (the cautious
reading). Windows are 50 cycles, the training windows start at the 30th cycle
of each engine, front-padded as short test engines are, and the cycle number
is an input channel beside the 14 trending sensors. The single LSTM and CNN
(validation figures only) run when named in ``model_names``/``--models``.

Measured on FD001 (``chainrule maintenance``, all defaults, one thread), out-of-fold
RMSE over the 100 training engines / test RMSE (PHM08): seed 0, ``network_blend``
(weight 0.5) 10.59 / 11.35 (204), the best of the networks alone; the
CNN/boosting ``blend`` 10.59 / 11.71 (253), chosen by 0.002 cycles of
out-of-fold RMSE; the MLP ensemble 11.34 / 11.89 (192); gradient boosting
11.34 / 12.84; the CNN ensemble 11.63 / 12.21 (306); ridge 14.70 / 15.45.
``network_blend``'s 90% intervals (half-width 19 cycles) covered 91% of the test
engines; servicing on their lower end within 30 cycles caught all 25 truly due
engines (recall 1.00) at precision 0.83 (point prediction: recall 0.88,
precision 1.00). The whole default run took 7 min 18 s on the quiet 2-core
machine, 437 s of CPU on one thread (the CNN ensemble 357, the MLP ensemble
61, boosting 15; 783 s before the MLPs' summaries were
made once instead of every epoch, which gave the same predictions bit for bit;
the earlier default, with the LSTM and the single CNN, took 604 s). Seed 1
(another split, other folds and members; 453 s CPU, 10.3 min wall on the
shared 2-core machine under load) chose ``network_blend`` itself (weight 0.6):
10.31 / 11.40 (197), the blend 10.48 / 11.48, the MLP ensemble 10.76 / 11.94,
the CNN ensemble 11.67 / 12.17, boosting 11.06 / 12.29; its intervals covered
89% of the test engines (lower-end service list: recall 1.00, precision 0.83).
Before the MLPs, the networks alone stopped at the CNN ensemble's 12.21 (seed 1:
12.17); without the age channel the ensemble had scored 12.77 and boosting
14.05. The validation engines' windows over-represent young engines (a third
of them sit at the 125-cycle cap, a tenth of the test engines do).
"""

from chainrule.apps.maintenance.data import (
    CMAPSSData,
    CMAPSSError,
    download_cmapss,
    load_cmapss,
    load_files,
    read_rul,
    read_table,
)
from chainrule.apps.maintenance.evaluate import (
    conformal_scale,
    interval_view,
    maintenance_view,
    phm08_score,
    rmse,
)
from chainrule.apps.maintenance.models import (
    CNNRegressor,
    LSTMRegressor,
    SummaryMLP,
    load_model,
    predict,
    predict_members,
)
from chainrule.apps.maintenance.pipeline import run
from chainrule.apps.maintenance.preprocess import Preprocessor

__all__ = [
    "CMAPSSData",
    "CMAPSSError",
    "CNNRegressor",
    "LSTMRegressor",
    "Preprocessor",
    "SummaryMLP",
    "conformal_scale",
    "download_cmapss",
    "interval_view",
    "load_cmapss",
    "load_files",
    "load_model",
    "maintenance_view",
    "phm08_score",
    "predict",
    "predict_members",
    "read_rul",
    "read_table",
    "rmse",
    "run",
]
