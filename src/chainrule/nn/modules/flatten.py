"""``torch.nn.modules.flatten``'s import path: a thin alias of :mod:`chainrule.nn.linear`."""

# ruff: noqa: F403

from chainrule.nn.linear import *
