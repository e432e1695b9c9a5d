"""Neural-network building blocks with PyTorch's names: modules, layers, losses, init and utilities."""

from chainrule.nn import init, utils
from chainrule.nn.linear import Flatten, Identity, Linear, Unflatten
from chainrule.nn.module import Module, ModuleDict, ModuleList, Parameter, Sequential
from chainrule.nn.summary import ModelSummary, summary
