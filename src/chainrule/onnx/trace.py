"""Record a forward pass: every ``Function.apply`` call with its bound arguments and its output.

The exporter runs the model once (twice with dynamic axes) under :func:`record`;
each call becomes a :class:`Call` naming the op, its forward arguments by name
(``inspect.signature`` of ``forward``) and the Tensor it returned. The ops
with no derivative (comparisons, logical ops, integer casts) are recorded by
their public name, their operands under ``operands``. Module calls are
tracked too, so an error can name the layer that used an op.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from chainrule import autograd
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["Call", "record"]

_SIGNATURES: dict[type, inspect.Signature] = {}


@dataclass
class Call:
    """One recorded op: its Function class, its forward arguments by name, its output and the layer.

    A recurrent layer is recorded whole: ``op`` is then the module's class,
    ``args`` holds ``module`` and its forward arguments, ``out`` its output tuple.
    An op without a derivative is recorded by name (``op`` is ``"ne"``, ``args``
    holds ``operands``).
    """

    op: type | str
    args: dict[str, Any]
    out: Tensor
    layer: str = ""
    keep: list[Any] = field(default_factory=list)
    out_array: Any = None  # the output's array when recorded (an in-place write may rebind out._array later)

    @property
    def name(self) -> str:
        return self.op if isinstance(self.op, str) else self.op.__name__


def _bind(cls: type | str, inputs: tuple, options: dict) -> dict[str, Any]:
    if isinstance(cls, str):
        return {"operands": tuple(inputs), **options}
    sig = _SIGNATURES.get(cls)
    if sig is None:
        sig = _SIGNATURES[cls] = inspect.signature(cls.forward)
    bound = sig.bind(None, *inputs, **options)
    bound.apply_defaults()
    args = dict(bound.arguments)
    args.pop(next(iter(sig.parameters)))  # ctx
    return args


@contextlib.contextmanager
def record(model: Module) -> Iterator[list[Call]]:
    """Collect the op calls of everything run inside; the calls name the innermost module running."""
    from chainrule.nn.recurrent import RNNBase

    calls: list[Call] = []
    stack: list[str] = []
    leaf = [0]  # > 0 inside a layer recorded whole (its ops are not recorded)
    names = {id(m): n or type(m).__name__ for n, m in model.named_modules()}
    originals: list[tuple[Module, Any]] = []

    def tracer(cls: type | str, inputs: tuple, options: dict, out: Tensor) -> None:
        if leaf[0]:
            return
        layer = stack[-1] if stack else type(model).__name__
        calls.append(Call(cls, _bind(cls, inputs, options), out, layer, [inputs], out._array))

    def wrap(m: Module) -> None:
        forward = m.forward
        label = f"{names[id(m)]} ({type(m).__name__})"

        def traced(*a: Any, **k: Any) -> Any:
            stack.append(label)
            try:
                return forward(*a, **k)
            finally:
                stack.pop()

        def traced_whole(*a: Any, **k: Any) -> Any:
            # a recurrent layer maps to one ONNX op per layer: record the module call, not its ops
            stack.append(label)
            leaf[0] += 1
            try:
                out = forward(*a, **k)
            finally:
                leaf[0] -= 1
                stack.pop()
            if not leaf[0]:
                args = inspect.signature(forward).bind(*a, **k)
                args.apply_defaults()
                calls.append(Call(type(m), {"module": m, **args.arguments}, out, label, [a, k]))
            return out

        originals.append((m, m.__dict__.get("forward")))
        object.__setattr__(m, "forward", traced_whole if isinstance(m, RNNBase) else traced)

    for m in model.modules():
        wrap(m)
    prev = autograd.set_tracer(tracer)
    try:
        # grad mode on: inference shortcuts that write in place (and so bypass
        # the ops) stay off, since the parameters require grad
        with autograd.enable_grad():
            yield calls
    finally:
        autograd.set_tracer(prev)
        for m, f in originals:
            if f is None:
                m.__dict__.pop("forward", None)
            else:
                object.__setattr__(m, "forward", f)
