"""Fully connected layers and the shape-only layers around them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.bilinear import bilinear
from chainrule.ops.linalg import linear
from chainrule.tensor import Tensor
from chainrule.validation import factory_device, non_negative_int

__all__ = ["Bilinear", "Flatten", "Identity", "Linear", "NonDynamicallyQuantizableLinear", "Unflatten"]


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for a removed classifier head)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:  # noqa: A002
        return input


class Linear(Module):
    """``y = x W^T + b``: every output is a weighted sum of every input (a layer of neurons).

    ``weight`` is (out_features, in_features) and ``bias`` (out_features,), as
    in PyTorch, initialised as PyTorch does: U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        factory_device(device, "Linear")
        self.in_features = non_negative_int(in_features, "in_features", "Linear")
        self.out_features = non_negative_int(out_features, "out_features", "Linear")
        dt = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def reset_parameters(self) -> None:
        init.fan_in_uniform_(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear by PyTorch's name for MultiheadAttention's ``out_proj``, so that the two reprs agree."""


class Flatten(Module):
    """Merge dims ``start_dim..end_dim`` into one (by default all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dim ``dim`` into ``unflattened_size``, the inverse of Flatten."""

    def __init__(self, dim: int, unflattened_size: tuple[int, ...]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not unflattened_size:
            raise TypeError(
                f"Unflatten: unflattened_size must be a non-empty tuple, got {unflattened_size!r}"
            )
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        x = input
        d = self.dim + x.ndim if self.dim < 0 else self.dim
        if not 0 <= d < x.ndim:
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for input of shape {x.shape}")
        sizes = list(self.unflattened_size)
        if sizes.count(-1) == 1:
            known = math.prod(s for s in sizes if s != -1)
            sizes[sizes.index(-1)] = x.shape[d] // known if known else 0
        if math.prod(sizes) != x.shape[d]:
            raise ValueError(
                f"Unflatten: cannot split dim {self.dim} of size {x.shape[d]} into {self.unflattened_size}"
            )
        return x.reshape(*x.shape[:d], *sizes, *x.shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Bilinear(Module):
    """``y = x1^T A x2 + b``: each output a bilinear form of two inputs (``torch.nn.Bilinear``).

    ``weight`` is (out_features, in1_features, in2_features) and ``bias``
    (out_features,), both U(-1/sqrt(in1), 1/sqrt(in1)) as in PyTorch.
    """

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        factory_device(device, "Bilinear")
        self.in1_features = non_negative_int(in1_features, "in1_features", "Bilinear")
        self.in2_features = non_negative_int(in2_features, "in2_features", "Bilinear")
        self.out_features = non_negative_int(out_features, "out_features", "Bilinear")
        dt = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
        self.weight = Parameter(np.empty((out_features, in1_features, in2_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1]) if self.weight.shape[1] else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )
