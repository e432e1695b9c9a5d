"""Ready-made models built from chainrule.nn layers, and the registry that names them."""

from chainrule.models.mlp import MLP
from chainrule.models.registry import MODELS, get_model, register_model
