"""The multilayer perceptron: fully connected layers with a non-linearity between them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from chainrule import nn

__all__ = ["MLP"]

_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "gelu": "GELU", "silu": "SiLU"}


class MLP(nn.Sequential):
    """``in_features -> hidden_sizes... -> out_features`` with ``activation`` (and optional dropout) between.

    A Sequential, so its state_dict keys are the usual ``0.weight``, ``0.bias``,
    ``2.weight``...; ``MLP(64, [128], 10)`` is the digits classifier of ``chainrule demo``.
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int],
        out_features: int,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        if activation not in _ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        sizes = [in_features, *hidden_sizes]
        layers: list[nn.Module] = []
        for n_in, n_out in itertools.pairwise(sizes):
            layers += [nn.Linear(n_in, n_out), getattr(nn, _ACTIVATIONS[activation])()]
            if dropout:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-1], out_features))
        super().__init__(*layers)
