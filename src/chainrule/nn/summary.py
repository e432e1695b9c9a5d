"""``summary(model, input_shape)``: each layer's output shape and parameter count, as Keras prints them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule import backend, devices
from chainrule.autograd import no_grad
from chainrule.nn.module import Module, ModuleDict, ModuleList, Sequential
from chainrule.tensor import Tensor

__all__ = ["ModelSummary", "summary"]

_CONTAINERS = (Sequential, ModuleList, ModuleDict)


@dataclass
class ModelSummary:
    """The table ``summary`` prints, kept as data: one row per layer and the totals."""

    rows: list[tuple[str, str, str, int]] = field(default_factory=list)  # name, type, output shape, params
    total_params: int = 0
    trainable_params: int = 0

    def __str__(self) -> str:
        header = ("Layer (type)", "Output Shape", "Param #")
        cells = [(f"{name} ({kind})", shape, f"{n:,}") for name, kind, shape, n in self.rows]
        w0 = max([len(header[0])] + [len(c[0]) for c in cells]) + 2
        w1 = max([len(header[1])] + [len(c[1]) for c in cells]) + 2
        w2 = max([len(header[2])] + [len(c[2]) for c in cells])
        rule = "=" * (w0 + w1 + w2)
        lines = [rule, f"{header[0]:<{w0}}{header[1]:<{w1}}{header[2]:>{w2}}", rule]
        lines += [f"{a:<{w0}}{b:<{w1}}{c:>{w2}}" for a, b, c in cells]
        lines += [
            rule,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            rule,
        ]
        return "\n".join(lines)


def _shape_of(out: Any) -> str:
    if isinstance(out, Tensor):
        return str([-1, *out.shape[1:]]) if out.ndim else "[]"
    if isinstance(out, (tuple, list)):
        return ", ".join(_shape_of(o) for o in out)
    return type(out).__name__


def summary(
    model: Module,
    input_shape: tuple[int, ...],
    *,
    batch_size: int = 2,
    dtype: Any = None,
    print_fn: Callable[[str], Any] | None = print,
) -> ModelSummary:
    """Run one forward pass on zeros and report every layer's output shape and parameter count.

    ``input_shape`` leaves out the batch dimension, as in Keras and
    torchsummary: ``summary(model, (1, 28, 28))`` for MNIST images. The batch
    dimension prints as -1. Containers (Sequential, ModuleList) are not rows of
    their own; their layers are. The model is run in eval mode without
    recording a graph and is put back in the mode it was in.
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: expected a Module, got {type(model).__name__}")
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    dt = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
    result = ModelSummary()
    names = {id(m): n for n, m in model.named_modules()}
    handles = []

    def record(module: Module, inputs: Any, output: Any) -> None:
        n_params = sum(p.numel() for p in module.parameters())
        result.rows.append((names.get(id(module), "?"), type(module).__name__, _shape_of(output), n_params))

    for name, module in model.named_modules():
        if name and not isinstance(module, _CONTAINERS):
            handles.append(module.register_forward_hook(record))
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            first = next(iter(model.parameters()), None)  # the zeros go where the model lives
            xp = np if first is None else devices.array_module(first._array)
            model(Tensor._make(xp.zeros((batch_size, *shape), dtype=dt), None))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    # hooks fire in completion order (inner layers first); list in definition order instead
    order = {n: i for i, (n, _) in enumerate(model.named_modules())}
    result.rows.sort(key=lambda r: order.get(r[0], len(order)))
    params = list(model.parameters())
    result.total_params = sum(p.numel() for p in params)
    result.trainable_params = sum(p.numel() for p in params if p.requires_grad)
    if print_fn is not None:
        print_fn(str(result))
    return result
