"""``torch.nn.modules.pooling``'s import path: a thin alias of :mod:`chainrule.nn.pooling`."""

# ruff: noqa: F403

from chainrule.nn.pooling import *
