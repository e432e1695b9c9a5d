"""Models by name, so that a config file can say ``name = "MLP"``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import nn
from chainrule.models import resnet
from chainrule.models.gpt import GPT
from chainrule.models.lenet import LeNet5
from chainrule.models.mlp import MLP
from chainrule.models.vit import ViT

__all__ = ["MODELS", "get_model", "register_model"]

MODELS: dict[str, Callable[..., nn.Module]] = {
    "MLP": MLP,
    "Linear": nn.Linear,  # logistic or linear regression: one layer, no hidden units
    "LeNet5": LeNet5,
    "resnet18": resnet.resnet18,
    "resnet34": resnet.resnet34,
    "resnet50": resnet.resnet50,
    "resnet_small": resnet.resnet_small,
    "GPT": GPT,
    "ViT": ViT,
}


def register_model(name: str, factory: Callable[..., nn.Module] | None = None) -> Any:
    """Add a model under ``name``; usable as ``register_model("Mine", Mine)`` or as a class decorator."""

    def add(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in MODELS and MODELS[name] is not f:
            raise ValueError(f"register_model: the name {name!r} is taken by {MODELS[name]!r}")
        MODELS[name] = f
        return f

    return add if factory is None else add(factory)


def get_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` with ``kwargs``; unknown names list the known ones."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    try:
        return MODELS[name](**kwargs)
    except TypeError as e:
        raise TypeError(f"model {name!r}: {e}") from e
