"""``torch.nn.modules.activation``'s import path: a thin alias of :mod:`chainrule.nn.activation`."""

# ruff: noqa: F403

from chainrule.nn.activation import *
from chainrule.nn.attention import *
