"""``torch.nn.modules.transformer``'s import path: a thin alias of :mod:`chainrule.nn.transformer`."""

# ruff: noqa: F403

from chainrule.nn.transformer import *
