"""Gradient clipping, flat parameter vectors and freezing for transfer learning."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "count_parameters",
    "freeze",
    "parameters_to_vector",
    "trainable_parameters",
    "unfreeze",
    "vector_to_parameters",
]


def _as_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"expected Tensors (parameters), got {type(p).__name__}")
    return params


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The norm is taken over every gradient as if concatenated into one vector;
    the direction of the update is kept, only its length is capped. Returns
    the norm before clipping.
    """
    grads = [p.grad._array for p in _as_list(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return Tensor(0.0)
    if devices.is_device_array(grads[0]):
        return _clip_on_device(grads, float(max_norm), norm_type, error_if_nonfinite)
    if math.isinf(norm_type):
        total = max(float(np.abs(g).max()) if g.size else 0.0 for g in grads)
    else:
        total = sum(float(np.sum(np.abs(g, dtype=np.float64) ** norm_type)) for g in grads) ** (1 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}; "
            "set error_if_nonfinite=False to clip anyway"
        )
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1:
        for g in grads:
            np.multiply(g, coef, out=g, casting="unsafe")
    return Tensor(np.asarray(total, dtype=grads[0].dtype))


def _clip_on_device(grads: list[Any], max_norm: float, norm_type: float, error_if_nonfinite: bool) -> Tensor:
    """clip_grad_norm_ on a device, as PyTorch does it there: the norm stays a 0-d device array and every
    gradient is multiplied by ``min(max_norm / (norm + 1e-6), 1)``, so nothing is read back to the host
    (except the finiteness check, when asked for)."""
    where = devices.device_of(grads[0])
    for g in grads:
        if devices.device_of(g) != where:
            raise RuntimeError(
                "clip_grad_norm_: expected all gradients on one device, "
                f"found {where} and {devices.device_of(g)}"
            )
    xp = devices.array_module(grads[0])
    parts = [g for g in grads if g.size]
    if not parts:
        total = xp.zeros((), dtype=np.float64)
    elif math.isinf(norm_type):
        total = xp.stack([xp.abs(g).max().astype(np.float64) for g in parts]).max()
    else:
        total = sum(xp.sum(xp.abs(g).astype(np.float64) ** norm_type) for g in parts) ** (1 / norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):  # a host read only when the caller asks
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {float(total)}; "
            "set error_if_nonfinite=False to clip anyway"
        )
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= coef.astype(g.dtype)
    return Tensor._make(total.astype(grads[0].dtype), None)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``."""
    c = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            g = p.grad._array
            devices.array_module(g).clip(g, -c, c, out=g)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (a copy)."""
    params = _as_list(parameters)
    if not params:
        return Tensor(np.zeros(0, dtype=np.float32))
    arrays = [p._array.ravel() for p in params]
    return Tensor._make(devices.array_module(*arrays).concatenate(arrays), None)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy slices of ``vec`` back into the parameters, in order: the inverse of parameters_to_vector."""
    params = _as_list(parameters)
    data = vec._array if isinstance(vec, Tensor) else vec
    if not (isinstance(data, np.ndarray) or devices.is_device_array(data)):
        data = np.asarray(data)
    total = sum(p.numel() for p in params)
    if data.ndim != 1 or data.size != total:
        raise ValueError(
            f"vector_to_parameters: expected a 1-D vector of {total} values, got shape {tuple(data.shape)}"
        )
    start = 0
    for p in params:
        n = p.numel()
        chunk = data[start : start + n].reshape(p.shape)
        if devices.is_device_array(p._array) or devices.is_device_array(chunk):
            p._array[...] = devices.to_device(chunk, devices.device_of(p._array))  # moved when apart
        else:
            np.copyto(p._array, chunk, casting="unsafe")
        start += n


def _modules_named(model: Module, names: Iterable[str] | None) -> list[Module]:
    if names is None:
        return [model]
    return [model.get_submodule(n) for n in names]


def freeze(model: Module, names: Iterable[str] | None = None) -> Module:
    """Stop training the whole model, or only the submodules at the given dotted names.

    Frozen parameters keep ``requires_grad=False``, get no gradient and are
    skipped by optimizers: the usual first step of fine-tuning a pretrained
    network (train the new head, keep the body).
    """
    for m in _modules_named(model, names):
        m.requires_grad_(False)
    return model


def unfreeze(model: Module, names: Iterable[str] | None = None) -> Module:
    """Train again the whole model, or only the submodules at the given dotted names."""
    for m in _modules_named(model, names):
        m.requires_grad_(True)
    return model


def trainable_parameters(model: Module) -> list[Any]:
    """The parameters that require grad: what to hand the optimizer after freezing."""
    return [p for p in model.parameters() if p.requires_grad]


def count_parameters(model: Module, trainable_only: bool = False) -> int:
    """The number of scalar weights (each shared parameter counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
