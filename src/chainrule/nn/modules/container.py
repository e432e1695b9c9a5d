"""``torch.nn.modules.container``'s import path: a thin alias of :mod:`chainrule.nn.module`
and :mod:`chainrule.nn.parameter_list`."""

# ruff: noqa: F403

from chainrule.nn.module import *
from chainrule.nn.parameter_list import *
