"""``torch.nn.modules.batchnorm``'s import path: a thin alias of :mod:`chainrule.nn.normalization`."""

# ruff: noqa: F403

from chainrule.nn.normalization import *
