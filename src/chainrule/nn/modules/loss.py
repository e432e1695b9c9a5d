"""``torch.nn.modules.loss``'s import path: a thin alias of :mod:`chainrule.nn.loss`."""

# ruff: noqa: F403

from chainrule.nn.loss import *
