"""Predictive maintenance on NASA C-MAPSS: remaining-useful-life networks (LSTM, 1-D CNNs) next to baselines.

``chainrule maintenance --train FILE --test FILE --rul FILE --out DIR`` runs the
whole study; :func:`run` is the same from Python. The parts: :mod:`.data`
(reading, checking, downloading the files), :mod:`.preprocess` (the usual
protocol), :mod:`.models` (the networks), :mod:`.baselines` (scikit-learn),
:mod:`.evaluate` (RMSE, PHM08 score, the service decision), :mod:`.plots` and
:mod:`.report`.

``cnn_ensemble`` (:mod:`.ensemble`) trains several CNNs, each without one
fold of the training engines (the first fold: the validation engines), and
predicts their mean; the baselines are cross-validated on the same folds, and
``blend`` mixes the ensemble and gradient boosting with a weight chosen on
their out-of-fold predictions. The model to use is the cross-validated one
with the lowest out-of-fold RMSE (:mod:`.report`); its out-of-fold errors,
calibrated split-conformally, give each test engine a RUL interval, and a
second service list is built from the intervals' lower ends (the cautious
reading). Windows are 50 cycles, the training windows start at the 30th cycle
of each engine, front-padded as short test engines are, and the cycle number
is an input channel beside the 14 trending sensors.

Measured on FD001 (``chainrule maintenance --seed 0``, all defaults, one
thread): out-of-fold RMSE / validation RMSE (20 engines) / test RMSE: the
blend (weight 0.5) 10.59 / 11.03 / 11.71 (PHM08 253), chosen; gradient
boosting 11.34 / 13.37 / 12.84; the ensemble of five CNNs of 60 epochs
11.63 / 10.49 / 12.21 (PHM08 306); ridge 14.70 / 15.37 / 15.45; the single
CNN (validation only) 9.85 / 12.87 and the LSTM 12.71 / 13.65. The whole run
took 604 s of CPU (27 min wall on the shared 2-core machine at load 3; the
previous default took 552 s). The blend's 90% intervals
(half-width 18 cycles) covered 90% of the test engines; servicing on their
lower end within 30 cycles caught all 25 truly due engines (recall 1.00) at
precision 0.83, against recall 0.88 and precision 1.00 for the point
prediction. With ``--seed 1 --models cnn_ensemble,gradient_boosting,ridge``
(415 s CPU, 7.4 min wall) the blend won again (boosting weight 0.6): 10.48 /
10.76 / 11.48 (PHM08 236), the ensemble 11.67 / 12.32 / 12.17, boosting
11.06 / 11.10 / 12.29, its intervals covering 90% of the test engines (lower-end
service list: recall 1.00, precision 0.86).
Without the age channel (the previous default) the ensemble had scored test
RMSE 12.77 and boosting 14.05. The validation engines' windows over-represent
young engines (a third of them sit at the 125-cycle cap, a tenth of the test
engines do), where the age helps most: the single CNN's validation RMSE fell
from 11.89 to 9.85 with it while its test RMSE stayed at 12.8-12.9.
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
