"""``cr.linalg``: PyTorch's ``torch.linalg`` namespace (norms, products) over the ops in ``ops/linalg``."""

from chainrule.ops.layout import diagonal
from chainrule.ops.linalg import cross as _cross
from chainrule.ops.linalg import linalg_norm as norm
from chainrule.ops.linalg import matmul, matrix_norm, svdvals, vector_norm
from chainrule.tensor import Tensor

__all__ = ["cross", "diagonal", "matmul", "matrix_norm", "norm", "svdvals", "vecdot", "vector_norm"]


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:  # noqa: A002
    """The cross product along ``dim`` (-1 by default, unlike ``torch.cross``)."""
    return _cross(input, other, dim)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """The dot product of vectors along ``dim`` (broadcasting)."""
    return (x * y).sum(dim)
