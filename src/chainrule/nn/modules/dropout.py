"""``torch.nn.modules.dropout``'s import path: a thin alias of :mod:`chainrule.nn.dropout`."""

# ruff: noqa: F403

from chainrule.nn.dropout import *
