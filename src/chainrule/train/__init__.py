"""The training toolkit: a fit loop with metrics, callbacks, checkpoints, and tools to see what training did.

``Trainer(model, loss_fn, optimizer, metrics, callbacks).fit(train, val, epochs)``
returns a :class:`History`; ``history.plot(path)`` draws the learning curves,
``history.diagnose()`` says in words whether the run over- or underfit, and
:func:`find_lr` runs the learning-rate range test.
"""

from chainrule.train.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    JSONLogger,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
)
from chainrule.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from chainrule.train.diagnosis import Diagnosis, diagnose, overfitting_epoch
from chainrule.train.history import History
from chainrule.train.lr_finder import LRFinderResult, find_lr, suggest_lr
from chainrule.train.metrics import (
    F1,
    MAE,
    METRICS,
    MSE,
    R2,
    RMSE,
    ROCAUC,
    Accuracy,
    Metric,
    Precision,
    Recall,
    get_metric,
)
from chainrule.train.trainer import Trainer
