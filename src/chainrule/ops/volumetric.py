"""3-D convolution and transposed convolution (``F.conv3d``, ``F.conv_transpose3d``) built on the 2-D kernels.

A 3-D filter is a stack of ``kd`` 2-D filters, one per depth tap. So
``conv3d`` gathers, for each depth tap j, the depth slices that tap reads
(every ``stride``-th one from ``j * dilation``), stacks the taps beside the
channels and folds output depth into the batch: one 2-D convolution (one
GEMM) over ``C * kd`` channels does the whole sum. ``conv_transpose3d`` is its adjoint: each tap's 2-D
transposed convolution is spread back to depth positions ``i * stride + j *
dilation`` (zeros between, by padding) and summed, then ``padding`` is cropped.
Both are compositions of differentiable ops, so the backward is theirs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.ops import shape
from chainrule.ops.conv import conv2d, conv_transpose2d
from chainrule.tensor import Tensor

__all__ = ["conv3d", "conv_transpose3d"]


def _triple(value: Any, name: str, op: str, minimum: int) -> tuple[int, int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        t = (int(value),) * 3
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 3
        and all(isinstance(v, (int, np.integer)) for v in value)
    ):
        t = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of 3 ints, got {value!r}")
    if any(v < minimum for v in t):
        raise ValueError(f"{op}: {name} must be at least {minimum} in every dim, got {value!r}")
    return t  # type: ignore[return-value]


def _check(op: str, x: Any, w: Any, b: Any, groups: Any) -> tuple[Tensor, bool]:
    """The batched input (a 4-D one gets a batch of 1) and whether it was unbatched."""
    if not isinstance(x, Tensor) or not isinstance(w, Tensor):
        raise TypeError(
            f"{op}: input and weight must be Tensors, got {type(x).__name__} and {type(w).__name__}"
        )
    if x.ndim not in (4, 5):
        raise ValueError(
            f"{op}: expected a 4-D (unbatched) or 5-D (batched) input, got input of shape {x.shape}"
        )
    if w.ndim != 5:
        raise ValueError(f"{op}: expected a 5-D weight, got weight of shape {w.shape}")
    if b is not None and not isinstance(b, Tensor):
        raise TypeError(f"{op}: bias must be a Tensor or None, got {type(b).__name__}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    return (x, False) if x.ndim == 5 else (x.unsqueeze(0), True)


def _finish(y: Tensor, b: Tensor | None, unbatched: bool) -> Tensor:
    if b is not None:
        y = y + b.reshape(-1, 1, 1, 1)
    return y.squeeze(0) if unbatched else y


def conv3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int, int] = 1,
    padding: int | tuple[int, int, int] | str = 0,
    dilation: int | tuple[int, int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """3-D convolution over (N, C_in, D, H, W) or unbatched (C_in, D, H, W), PyTorch's ``F.conv3d``.

    ``weight`` is (C_out, C_in/groups, kd, kh, kw); ``padding`` is an int, a
    triple, ``"valid"`` or ``"same"`` (stride 1 only; an odd total puts the
    extra at the end, as in PyTorch).
    """
    op = "conv3d"
    x, unbatched = _check(op, input, weight, bias, groups)
    stride = _triple(stride, "stride", op, 1)
    dilation = _triple(dilation, "dilation", op, 1)
    c, o, kd = x.shape[1], weight.shape[0], weight.shape[2]
    if c != weight.shape[1] * groups or o % groups:
        raise ValueError(
            f"{op}: expected input with {weight.shape[1] * groups} channels and out channels divisible by "
            f"groups={groups} (weight of shape {weight.shape}), got input of shape {input.shape}"
        )
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"{op}: bias of shape {bias.shape}, expected ({o},)")
    kernel = weight.shape[2:]
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
        if padding == "same" and stride != (1, 1, 1):
            raise ValueError(
                f"{op}: padding='same' is not supported for strided convolutions (stride={stride})"
            )
        totals = [d * (k - 1) if padding == "same" else 0 for d, k in zip(dilation, kernel, strict=True)]
        amounts = [a for t in reversed(totals) for a in (t // 2, t - t // 2)]
        x = shape.pad(x, amounts) if any(amounts) else x
        pad_d, pad_hw = 0, (0, 0)
    else:
        pd, ph, pw = _triple(padding, "padding", op, 0)
        pad_d, pad_hw = pd, (ph, pw)
    if pad_d:
        x = shape.pad(x, (0, 0, 0, 0, pad_d, pad_d))
    n, depth = x.shape[0], x.shape[2]
    span = dilation[0] * (kd - 1) + 1
    if depth < span:
        raise ValueError(
            f"{op}: input depth {depth} (padded) is smaller than the kernel's reach {span} "
            f"(weight of shape {weight.shape}), input of shape {input.shape}"
        )
    d_out = (depth - span) // stride[0] + 1
    # the depth slices each tap reads, stacked after the channel: (N, C, kd, D_out, H, W), so that
    # channel c tap j is input channel c * kd + j of one 2-D convolution whose weight is the 3-D
    # one viewed as (O, C/groups * kd, kh, kw) (groups stay contiguous blocks of channels)
    taps = [
        x[:, :, j * dilation[0] : j * dilation[0] + stride[0] * (d_out - 1) + 1 : stride[0]]
        for j in range(kd)
    ]
    stacked = shape.stack(taps, 2) if kd > 1 else taps[0].unsqueeze(2)
    flat = stacked.permute(0, 3, 1, 2, 4, 5).reshape(n * d_out, c * kd, *x.shape[3:])
    w2 = weight.reshape(o, weight.shape[1] * kd, *weight.shape[3:])
    y = conv2d(flat, w2, None, stride[1:], pad_hw, dilation[1:], groups)
    y = y.reshape(n, d_out, o, *y.shape[2:]).permute(0, 2, 1, 3, 4)
    return _finish(y, bias, unbatched)


def conv_transpose3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int, int] = 1,
    padding: int | tuple[int, int, int] = 0,
    output_padding: int | tuple[int, int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int, int] = 1,
) -> Tensor:
    """3-D transposed convolution over (N, C_in, D, H, W), PyTorch's ``F.conv_transpose3d``.

    ``weight`` is (C_in, C_out/groups, kd, kh, kw). The output depth is
    ``(D - 1)*stride - 2*padding + dilation*(kd - 1) + output_padding + 1``
    (likewise height and width). Note that ``groups`` comes before ``dilation``.
    """
    op = "conv_transpose3d"
    x, unbatched = _check(op, input, weight, bias, groups)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of ints, got {padding!r}")
    stride = _triple(stride, "stride", op, 1)
    padding = _triple(padding, "padding", op, 0)
    output_padding = _triple(output_padding, "output_padding", op, 0)
    dilation = _triple(dilation, "dilation", op, 1)
    for p_, s, d in zip(output_padding, stride, dilation, strict=True):
        if p_ >= s and p_ >= d:
            raise ValueError(
                f"{op}: output_padding must be smaller than either stride or dilation, got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    n, c, depth = x.shape[:3]
    if c != weight.shape[0] or c % groups:
        raise ValueError(
            f"{op}: expected input with {weight.shape[0]} channels divisible by groups={groups} "
            f"(weight of shape {weight.shape}), got input of shape {input.shape}"
        )
    o, kd = weight.shape[1] * groups, weight.shape[2]
    if bias is not None and bias.shape != (o,):
        raise ValueError(f"{op}: bias of shape {bias.shape}, expected ({o},)")
    sd, pd, dd = stride[0], padding[0], dilation[0]
    full = (depth - 1) * sd + dd * (kd - 1) + 1 + output_padding[0]
    d_out = full - 2 * pd
    if d_out <= 0:
        raise ValueError(
            f"{op}: the output would have depth {d_out}: padding {padding} is too large for {input.shape}"
        )
    flat = x.permute(0, 2, 1, 3, 4).reshape(n * depth, c, *x.shape[3:])
    total = None
    for j in range(kd):
        z = conv_transpose2d(
            flat, weight[:, :, j], None, stride[1:], padding[1:], output_padding[1:], groups, dilation[1:]
        )
        z = z.reshape(n, depth, 1, *z.shape[1:])  # (N, D, 1, O, H', W')
        if sd > 1:  # zeros between the depth positions: (N, D, sd, ...) flattened, the tail cut
            z = shape.pad(z, (0, 0) * 3 + (0, sd - 1))
        z = z.reshape(n, depth * sd, *z.shape[3:])[:, : (depth - 1) * sd + 1]
        before = j * dd - pd  # negative amounts crop the padding off
        after = d_out - before - z.shape[1]
        z = shape.pad(z, (0, 0) * 3 + (before, after))
        total = z if total is None else total + z
    y = total.permute(0, 2, 1, 3, 4)
    return _finish(y, bias, unbatched)
