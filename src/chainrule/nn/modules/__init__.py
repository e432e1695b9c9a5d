"""PyTorch's ``torch.nn.modules`` import paths (``chainrule.nn.modules.conv.Conv2d``, ...).

Thin aliases of the modules under :mod:`chainrule.nn`, for code written against
PyTorch's layout; new code imports from ``chainrule.nn``.
"""

# ruff: noqa: F403

from chainrule.nn.activation import *
from chainrule.nn.attention import *
from chainrule.nn.conv import *
from chainrule.nn.dropout import (  # the classes: dropout is the submodule here
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
)
from chainrule.nn.embedding import *
from chainrule.nn.linear import *
from chainrule.nn.loss import *
from chainrule.nn.module import *
from chainrule.nn.modules import (
    activation,
    batchnorm,
    container,
    conv,
    dropout,
    flatten,
    linear,
    loss,
    module,
    normalization,
    pooling,
    rnn,
    sparse,
    transformer,
    upsampling,
)
from chainrule.nn.normalization import *
from chainrule.nn.pooling import *
from chainrule.nn.recurrent import *
from chainrule.nn.transformer import *

