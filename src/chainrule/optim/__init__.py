"""Optimizers and learning-rate schedulers, with PyTorch's names, options and state-dict layout.

``from chainrule import optim``; ``optim.Adam(model.parameters(), lr=1e-3)``;
``optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=1000)``. Each
optimizer's rule is also a plain function on NumPy arrays for one parameter
(``sgd_update``, ``adam_update``, ...), the formula beside the fast path.
"""

from chainrule.optim import lr_scheduler
from chainrule.optim.adadelta import Adadelta, adadelta_update
from chainrule.optim.adagrad import Adagrad, adagrad_update
from chainrule.optim.adam import Adam, AdamW, adam_update
from chainrule.optim.adamax import Adamax, adamax_update
from chainrule.optim.asgd import ASGD, asgd_update
from chainrule.optim.lbfgs import LBFGS
from chainrule.optim.nadam import NAdam, nadam_update
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.radam import RAdam, radam_update
from chainrule.optim.rmsprop import RMSprop, rmsprop_update
from chainrule.optim.rprop import Rprop, rprop_update
from chainrule.optim.sgd import SGD, sgd_update

__all__ = [
    "ASGD",
    "SGD",
    "Adadelta",
    "Adamax",
    "LBFGS",
    "NAdam",
    "RAdam",
    "Rprop",
    "adadelta_update",
    "adamax_update",
    "asgd_update",
    "nadam_update",
    "radam_update",
    "rprop_update",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "adagrad_update",
    "adam_update",
    "lr_scheduler",
    "rmsprop_update",
    "sgd_update",
]
