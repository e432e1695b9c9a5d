"""``torch.nn.modules.conv``'s import path: a thin alias of :mod:`chainrule.nn.conv`."""

# ruff: noqa: F403

from chainrule.nn.conv import *
