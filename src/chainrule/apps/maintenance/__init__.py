"""Predictive maintenance on NASA C-MAPSS: remaining-useful-life regressors (LSTM, 1-D CNN) next to baselines.

``chainrule maintenance --train FILE --test FILE --rul FILE --out DIR`` runs the
whole study; :func:`run` is the same from Python. The parts: :mod:`.data`
(reading, checking, downloading the files), :mod:`.preprocess` (the usual
protocol), :mod:`.models` (the networks), :mod:`.baselines` (scikit-learn),
:mod:`.evaluate` (RMSE, PHM08 score, the service decision), :mod:`.plots` and
:mod:`.report`.
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
