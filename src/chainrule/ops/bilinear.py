"""The bilinear form ``y_k = x1^T A_k x2 + b_k`` (``F.bilinear``), as two matrix products.

``x1 @ A`` with A laid out (in1, out*in2) gives every ``x1^T A_k`` at once,
then a product with x2 summed over in2 finishes each output. Both steps are
differentiable ops, so the gradient is the chain rule through them.
"""

from __future__ import annotations

from chainrule.tensor import Tensor

__all__ = ["bilinear"]


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """(*, in1) and (*, in2) to (*, out) with ``weight`` (out, in1, in2) and ``bias`` (out,), as PyTorch."""
    op = "bilinear"
    for what, t in (("input1", input1), ("input2", input2), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {what} must be a Tensor, got {type(t).__name__}")
    if weight.ndim != 3:
        raise ValueError(f"{op}: expected a 3-D weight (out, in1, in2), got shape {weight.shape}")
    out, in1, in2 = weight.shape
    if input1.ndim < 1 or input1.shape[-1] != in1 or input2.ndim < 1 or input2.shape[-1] != in2:
        raise ValueError(
            f"{op}: expected inputs (*, {in1}) and (*, {in2}) for weight of shape {weight.shape}, "
            f"got {input1.shape} and {input2.shape}"
        )
    if input1.shape[:-1] != input2.shape[:-1]:
        raise ValueError(
            f"{op}: input1 {input1.shape} and input2 {input2.shape} differ in their leading dims"
        )
    tensors = {"input1": input1, "input2": input2, "weight": weight, "bias": bias}
    dtypes = {name: t.dtype for name, t in tensors.items() if t is not None}
    if len({str(d) for d in dtypes.values()}) > 1:  # as F.linear and PyTorch: no silent promotion
        got = ", ".join(f"{name} {d}" for name, d in dtypes.items())
        raise TypeError(f"{op}: all tensors must have the same dtype, got {got}")
    lead = input1.shape[:-1]
    a = weight.permute(1, 0, 2).reshape(in1, out * in2)
    t = (input1.reshape(-1, in1) @ a).reshape(-1, out, in2)
    y = (t * input2.reshape(-1, 1, in2)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(*lead, out)
