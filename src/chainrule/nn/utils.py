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
    "clip_grads_with_norm_",
    "count_parameters",
    "freeze",
    "get_total_norm",
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


def get_total_norm(
    tensors: Tensor | Iterable[Tensor],
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The ``norm_type``-norm of the tensors taken together: the norm of their individual norms.

    For every order but 0 that is the norm of all the values concatenated into
    one vector; order 0 counts the tensors with a non-zero value, as PyTorch
    defines it. ``inf`` is the largest absolute value, ``-inf`` the smallest;
    an empty tensor counts as 0 for ``inf`` and as ``inf`` for ``-inf`` (where
    PyTorch raises). Sums are accumulated in float64, so float32 values whose
    powers under- or overflow float32 still give the true norm (where
    PyTorch's float32 sums give 0 or inf). ``foreach`` is accepted for
    PyTorch's signature; the arithmetic is the same either way.
    """
    arrays = [t._array for t in _as_list(tensors)]
    norm_type = float(norm_type)
    if not arrays:
        return Tensor(0.0)
    # PyTorch promotes the per-tensor norms when it stacks them
    dtype = np.result_type(*[a.dtype for a in arrays])
    if devices.is_device_array(arrays[0]):
        total = _device_total_norm(arrays, norm_type)
        if error_if_nonfinite and not bool(devices.array_module(total).isfinite(total)):  # read when asked
            _raise_nonfinite(norm_type, float(total))
        return Tensor._make(total.astype(dtype), None)
    with np.errstate(divide="ignore"):  # 0 ** p for p < 0 is inf, as the math says
        total = _host_norm(np.array([_host_norm(a, norm_type) for a in arrays]), norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        _raise_nonfinite(norm_type, total)
    return Tensor(np.asarray(total, dtype=dtype))


def _host_norm(a: np.ndarray, p: float) -> float:
    """The p-norm of one host array, accumulated in float64 (order 0: the number of non-zeros)."""
    if p == math.inf:
        return float(np.abs(a).max()) if a.size else 0.0
    if p == -math.inf:
        return float(np.abs(a).min()) if a.size else math.inf
    if p == 0:
        return float(np.count_nonzero(a))
    return float(np.sum(np.abs(a, dtype=np.float64) ** p)) ** (1 / p)


def _device_total_norm(arrays: list[Any], p: float) -> Any:
    """:func:`get_total_norm` on a device: a 0-d float64 device array, nothing read back to the host."""
    where = devices.device_of(arrays[0])
    for a in arrays:
        if devices.device_of(a) != where:
            raise RuntimeError(
                "clip_grad_norm_: expected all gradients on one device, "
                f"found {where} and {devices.device_of(a)}"
            )
    xp = devices.array_module(arrays[0])

    def norm(a: Any) -> Any:
        if p == math.inf:
            return xp.abs(a).max().astype(np.float64) if a.size else xp.zeros((), np.float64)
        if p == -math.inf:
            return xp.abs(a).min().astype(np.float64) if a.size else xp.full((), math.inf, np.float64)
        if p == 0:
            return (a != 0).sum().astype(np.float64)
        return xp.sum(xp.abs(a).astype(np.float64) ** p) ** (1 / p)

    return norm(xp.stack([norm(a) for a in arrays]))


def _raise_nonfinite(norm_type: float, total: float) -> None:
    raise RuntimeError(
        f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}; "
        "set error_if_nonfinite=False to clip anyway"
    )


def clip_grads_with_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    total_norm: Tensor,
    foreach: bool | None = None,
) -> None:
    """Scale every gradient by ``min(max_norm / (total_norm + 1e-6), 1)``, in place.

    A NaN total scales by NaN (every gradient becomes NaN, as in PyTorch), so
    a non-finite gradient is never hidden by clipping; ``error_if_nonfinite``
    of :func:`clip_grad_norm_` catches it instead.
    """
    grads = [p.grad._array for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    total = total_norm._array if isinstance(total_norm, Tensor) else total_norm
    if devices.is_device_array(grads[0]):
        # always multiply, by a device scalar: deciding whether to skip would read the norm back
        xp = devices.array_module(grads[0])
        coef = xp.minimum(float(max_norm) / (xp.asarray(total).astype(np.float64) + 1e-6), 1.0)
        for g in grads:
            g *= coef.astype(g.dtype)
        return
    coef = float(max_norm) / (float(total) + 1e-6)
    if not coef >= 1:  # NaN too: NaN scales every gradient
        for g in grads:
            np.multiply(g, coef, out=g, casting="unsafe")


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    The norm is :func:`get_total_norm` of the gradients (as if concatenated into
    one vector); the direction of the update is kept, only its length is
    capped (:func:`clip_grads_with_norm_`). Returns the norm before clipping.
    """
    params = _as_list(parameters)
    total = get_total_norm([p.grad for p in params if p.grad is not None], norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]`` (``foreach``: PyTorch's, no effect)."""
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
