"""Optimizers and learning-rate schedulers, with PyTorch's names, options and state-dict layout.

``from chainrule import optim``; ``optim.Adam(model.parameters(), lr=1e-3)``;
``optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=1000)``.
"""

from chainrule.optim import lr_scheduler
from chainrule.optim.adagrad import Adagrad
from chainrule.optim.adam import Adam, AdamW
from chainrule.optim.optimizer import Optimizer
from chainrule.optim.rmsprop import RMSprop
from chainrule.optim.sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]
