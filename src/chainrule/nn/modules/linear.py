"""``torch.nn.modules.linear``'s import path: a thin alias of :mod:`chainrule.nn.linear`."""

# ruff: noqa: F403

from chainrule.nn.linear import *
