"""The oracle helpers: compare a chainrule op with PyTorch, and check gradients by finite differences.

``check_against_torch`` is the one helper every op test calls: same inputs to
both libraries, forward values compared (shape and dtype too), then the
gradient of every input compared after back-propagating a fixed random
cotangent ``(out * c).sum()`` (a plain ``.sum()`` would hide wrong
softmax/normalisation backwards, whose true gradient of a sum is zero).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

import chainrule as cr
import strict_array

# The devices the op tests run on: the CPU, the strict CuPy stand-in (always),
# and CUDA when CuPy finds a GPU here.
strict_array.register()
DEVICES = ["cpu", "strict"] + (["cuda"] if cr.cuda.is_available() else [])
_device = "cpu"


def set_device(device: str) -> str:
    """Make ``check_against_torch`` put its inputs on ``device``; returns the previous one."""
    global _device
    previous, _device = _device, device
    return previous


def on_device(x: Any, device: str | None = None) -> Any:
    """A NumPy array as a tensor on the test's device (other values as they are)."""
    return cr.tensor(x, device=device or _device) if isinstance(x, np.ndarray) else x


def _as_tuple(out: Any) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _to_numpy(t: Any) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.cpu()._array if isinstance(t, cr.Tensor) else np.asarray(t)


def check_against_torch(
    cr_fn: Callable[..., Any],
    torch_fn: Callable[..., Any],
    inputs: Sequence[Any],
    grad: Sequence[bool] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    seed: int = 0,
    device: str | None = None,
) -> tuple:
    """Run both functions on the same inputs; assert equal outputs and input gradients.

    ``inputs`` are NumPy arrays (become tensors in both libraries) or other
    values passed through unchanged. ``grad[i]`` says whether array input i
    requires grad (default: every floating-point array). chainrule's tensors
    are made on ``device`` (default: the device the test runs on, see
    ``set_device``); outputs and gradients must stay there. Returns
    chainrule's outputs as a tuple.
    """
    device = device or _device
    is_array = [isinstance(x, np.ndarray) for x in inputs]
    if grad is None:
        grad = [a and x.dtype.kind == "f" for a, x in zip(is_array, inputs, strict=True)]
    ours_in = [
        cr.tensor(x, requires_grad=bool(g), device=device) if a else x
        for x, a, g in zip(inputs, is_array, grad, strict=True)
    ]
    theirs_in = [
        torch.tensor(x, requires_grad=bool(g)) if a else x
        for x, a, g in zip(inputs, is_array, grad, strict=True)
    ]
    ours = _as_tuple(cr_fn(*ours_in))
    theirs = _as_tuple(torch_fn(*theirs_in))
    assert len(ours) == len(theirs), f"{len(ours)} outputs, PyTorch gives {len(theirs)}"

    rng = np.random.default_rng(seed)
    ours_loss, theirs_loss = None, None
    for i, (o, t) in enumerate(zip(ours, theirs, strict=True)):
        assert isinstance(o, cr.Tensor), f"output {i} is {type(o).__name__}, not a Tensor"
        assert o.device.type == cr.device(device).type, f"output {i} is on {o.device}, the inputs on {device}"
        assert o.shape == tuple(t.shape), f"output {i}: shape {o.shape}, PyTorch {tuple(t.shape)}"
        assert str(o.dtype) == str(t.dtype).replace("torch.", ""), (
            f"output {i}: dtype {o.dtype}, PyTorch {t.dtype}"
        )
        np.testing.assert_allclose(
            _to_numpy(o), _to_numpy(t), rtol=rtol, atol=atol, err_msg=f"output {i} values"
        )
        if t.requires_grad:
            assert o.requires_grad, f"output {i} should require grad"
            c = rng.standard_normal(o.shape).astype(o.dtype)
            lo = (o * cr.tensor(c, device=device)).sum()
            lt = (t * torch.tensor(c)).sum()
            ours_loss = lo if ours_loss is None else ours_loss + lo
            theirs_loss = lt if theirs_loss is None else theirs_loss + lt
    if theirs_loss is not None:
        ours_loss.backward()
        theirs_loss.backward()
        for i, (o, t) in enumerate(zip(ours_in, theirs_in, strict=True)):
            if isinstance(t, torch.Tensor) and t.requires_grad:
                if t.grad is None:
                    assert o.grad is None or not np.any(_to_numpy(o.grad)), (
                        f"input {i}: grad should be None or zero"
                    )
                    continue
                assert o.grad is not None, f"input {i}: no gradient, PyTorch has one"
                assert o.grad.shape == tuple(t.grad.shape), f"input {i}: grad shape {o.grad.shape}"
                assert o.grad.dtype == o.dtype, f"input {i}: grad dtype {o.grad.dtype} != {o.dtype}"
                assert o.grad.device.type == cr.device(device).type, f"input {i}: grad on {o.grad.device}"
                np.testing.assert_allclose(
                    _to_numpy(o.grad),
                    t.grad.numpy(force=True),
                    rtol=rtol,
                    atol=atol * 10,
                    err_msg=f"input {i} gradient",
                )
    return ours


def check_gradcheck(
    fn: Callable[..., Any], inputs: Sequence[Any], grad: Sequence[bool] | None = None, **kw: Any
) -> None:
    """Finite-difference check in float64 of ``fn`` on ``inputs`` (float arrays require grad)."""
    tensors = []
    for i, x in enumerate(inputs):
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            g = True if grad is None else grad[i]
            tensors.append(cr.tensor(x.astype(np.float64), requires_grad=g))
        elif isinstance(x, np.ndarray):
            tensors.append(cr.tensor(x))
        else:
            tensors.append(x)
    assert cr.autograd.gradcheck(fn, tensors, **kw)


def call(lib: Any, form: str, name: str, x: Any, *args: Any, **kw: Any) -> Any:
    """``lib.name(x, *args)`` (form "function") or ``x.name(*args)`` (form "method")."""
    if form == "method":
        return getattr(x, name)(*args, **kw)
    return getattr(lib, name)(x, *args, **kw)


def pair(form: str, name: str, *args: Any, **kw: Any) -> tuple[Callable, Callable]:
    """The same call in chainrule and in PyTorch, for check_against_torch."""

    def ours(t: Any) -> Any:
        return call(cr, form, name, t, *args, **kw)

    def theirs(t: Any) -> Any:
        return call(torch, form, name, t, *args, **kw)

    return ours, theirs


def count_calls(monkeypatch: Any, module: Any, *names: str) -> list:
    """Wrap functions ``names`` of ``module`` (compiled kernels): each call appends to the list returned."""
    calls: list = []
    for name in names:
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, real=real: calls.append(1) or real(*a))
    return calls
