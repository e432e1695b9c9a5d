"""``torch.nn.modules.module``'s import path: a thin alias of :mod:`chainrule.nn.module`."""

# ruff: noqa: F403

from chainrule.nn.module import *
