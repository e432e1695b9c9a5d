"""``torch.nn.modules.sparse``'s import path: a thin alias of :mod:`chainrule.nn.embedding`."""

# ruff: noqa: F403

from chainrule.nn.embedding import *
