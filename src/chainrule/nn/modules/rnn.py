"""``torch.nn.modules.rnn``'s import path: a thin alias of :mod:`chainrule.nn.recurrent`."""

# ruff: noqa: F403

from chainrule.nn.recurrent import *
