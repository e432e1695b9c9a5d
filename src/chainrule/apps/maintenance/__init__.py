"""Predictive maintenance on NASA C-MAPSS: remaining-useful-life networks (LSTM, 1-D CNNs) next to baselines.

``chainrule maintenance --train FILE --test FILE --rul FILE --out DIR`` runs the
whole study; :func:`run` is the same from Python. The parts: :mod:`.data`
(reading, checking, downloading the files), :mod:`.preprocess` (the usual
protocol), :mod:`.models` (the networks), :mod:`.baselines` (scikit-learn),
:mod:`.evaluate` (RMSE, PHM08 score, the service decision), :mod:`.plots` and
:mod:`.report`.

``cnn_ensemble`` (:mod:`.ensemble`) trains several CNNs, each without one
fold of the training engines (the first fold: the validation engines), and
predicts their mean; the out-of-fold errors, calibrated split-conformally,
give each test engine a RUL interval, and a second service list is built from
the intervals' lower ends (the cautious reading). Windows are 50 cycles, and
the training windows start at the 30th cycle of each engine, front-padded as
short test engines are.

Measured on FD001 (``chainrule maintenance --seed 0``, all defaults): the
ensemble of five CNNs of 60 epochs has validation RMSE 11.46 (out-of-fold
RMSE on the 100 training engines 12.30), test RMSE 12.77, PHM08 311, in 429 s;
the single CNN 11.89 / 12.79, the LSTM 11.70 / 13.64, gradient boosting on the
same 50-cycle windows 13.26 / 14.05, ridge 15.35 / 14.85. The whole run took
552 s of CPU on one thread (9.5 min wall on the 2-core machine at load 2-4),
and the ensemble's figures came out identical in a second run. Gradient
boosting at 30-cycle windows had scored 12.42 on the test engines (validation
14.84 on that split's windows): the ensemble beats boosting on validation and
in the same run, but misses the issue's bar of 12.0 and boosting's best test
figure. The 90% intervals (half-width 21 cycles) covered 91% of the test
engines; servicing on their lower end within 30 cycles caught all 25 truly due
engines (recall 1.00) at precision 0.81, against recall 0.84 and precision
0.95 for the point prediction. With ``--seed 1`` (another split and other
members; ``--models cnn_ensemble,gradient_boosting,ridge``, 378 s CPU) the
ensemble scored test RMSE 12.86 (PHM08 323, intervals covering 92%) but
validation 12.92, while boosting scored validation 11.34 and test 13.37, so
that run chose boosting: 20 validation engines, and the ensemble judged there
by its member 0 alone, make a noisy referee.
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
