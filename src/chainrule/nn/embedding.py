"""``nn.Embedding``: a learned table of vectors, one row per token (or category), looked up by index.

Arguments, defaults, initialisation (N(0, 1), the padding row zeroed),
``from_pretrained`` and the ``weight`` state-dict key are PyTorch's, so a
``torch.nn.Embedding`` state dict loads as is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import backend, devices
from chainrule.autograd import no_grad
from chainrule.nn import init
from chainrule.nn.module import Module, Parameter
from chainrule.ops.embedding import embedding_lookup, padding_index
from chainrule.tensor import Tensor
from chainrule.validation import factory_device, non_negative_int

__all__ = ["Embedding"]


class Embedding(Module):
    """A lookup table: ``Embedding(n, d)(indices)`` maps integer indices of any shape to ``(*shape, d)``.

    ``weight`` is ``(num_embeddings, embedding_dim)``, initialised N(0, 1) with
    the ``padding_idx`` row set to zero; that row never receives a gradient,
    so it stays a constant "nothing here" vector. ``max_norm`` renormalises
    rows as they are used (in place, as PyTorch does); ``scale_grad_by_freq``
    divides each row's gradient by its count in the batch. ``sparse=True`` is
    accepted, but gradients are dense arrays (chainrule has no sparse tensors).
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        factory_device(device, "Embedding")
        self.num_embeddings = non_negative_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = non_negative_int(embedding_dim, "embedding_dim", "Embedding")
        self.padding_idx = padding_index(padding_idx, self.num_embeddings, "Embedding")
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            dt = backend.get_default_dtype() if dtype is None else backend.as_dtype(dtype)
            self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=dt))
            self.reset_parameters()
        else:
            array = _weight._array if isinstance(_weight, Tensor) else _weight
            if not (isinstance(array, np.ndarray) or devices.is_device_array(array)):
                array = np.asarray(array)  # lists: host data
            if array.shape != (self.num_embeddings, self.embedding_dim):
                raise ValueError(
                    f"Embedding: _weight of shape {array.shape} does not match "
                    f"(num_embeddings, embedding_dim) = ({self.num_embeddings}, {self.embedding_dim})"
                )
            if array.dtype.kind != "f":
                raise TypeError(f"Embedding: _weight must be floating point, got dtype {array.dtype}")
            self.weight = Parameter(array, requires_grad=not _freeze)
        if device is not None:  # made on the host (one generator for every device), then moved
            self.to(device)

    def reset_parameters(self) -> None:
        """N(0, 1), then the padding row zeroed: PyTorch's initialisation."""
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            with no_grad():
                self.weight._array[self.padding_idx] = 0

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return embedding_lookup(
            input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
            self.scale_grad_by_freq, "embedding",
        )  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Any,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose table is ``embeddings`` (a 2-D Tensor or array, shared, not copied).

        ``freeze=True`` (the default) keeps the table fixed (``weight.requires_grad``
        is False); unfreeze it for fine-tuning. The padding row keeps its given
        values, as in PyTorch.
        """
        shape = getattr(embeddings, "shape", None)
        if shape is None or len(shape) != 2:
            got = shape if shape is not None else type(embeddings).__name__
            raise ValueError(
                "Embedding.from_pretrained: embeddings must be a 2-D Tensor or array "
                f"(num_embeddings, embedding_dim), got {got}"
            )
        return cls(
            shape[0], shape[1], padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings, _freeze=freeze,
        )  # fmt: skip
