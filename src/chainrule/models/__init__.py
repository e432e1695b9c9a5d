"""Ready-made models built from chainrule.nn layers."""

from chainrule.models.mlp import MLP
