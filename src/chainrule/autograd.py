"""Reverse-mode automatic differentiation: the Function base class and the backward walk.

Every differentiable operation is a :class:`Function` subclass with a
``forward`` that computes on NumPy arrays and a ``backward`` that maps the
gradient of the output to a gradient for each input: the local derivative of
the chain rule, written next to the forward it differentiates.

``Tensor.backward()`` then applies the chain rule through the recorded graph:
it visits each node only after every consumer has handed it its gradient
(dependency counting, no recursion), sums the gradients of a tensor used more
than once, undoes broadcasting in one place (:func:`unbroadcast`), and writes
``.grad`` on the leaves. Higher-order gradients (differentiating a backward
pass) are out of scope: backward runs on plain arrays.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.tensor import Tensor

__all__ = [
    "Function",
    "GradcheckError",
    "VersionCounter",
    "bump_version",
    "mark_rebase",
    "backward",
    "enable_grad",
    "grad",
    "queue_callback",
    "gradcheck",
    "recorded_inputs",
    "is_grad_enabled",
    "is_tracing",
    "no_grad",
    "record_plain",
    "set_grad_enabled",
    "set_tracer",
    "unbroadcast",
]

# Gradient mode is process-wide (PyTorch keeps it per thread; we keep the hot
# path to one global read). Read it as ``autograd.grad_enabled`` (a from-import
# would copy the value); change it only through no_grad / set_grad_enabled.
grad_enabled = True

# Called as ``tracer(cls, inputs, options, out)`` after every ``Function.apply``
# while set (the ONNX exporter's recorder, through :func:`set_tracer`); None
# otherwise, which costs the hot path one global read.
tracer: Callable[..., None] | None = None


def set_tracer(fn: Callable[..., None] | None) -> Callable[..., None] | None:
    """Install ``fn`` as the op recorder (None removes it); returns the previous one."""
    global tracer
    prev, tracer = tracer, fn
    return prev


def is_tracing() -> bool:
    """True while a recorder is installed (an ONNX export runs the model).

    Code with a data-dependent shortcut (skip a mask that masks nothing) takes
    the general path while tracing, so that the recorded graph holds for every
    input, as ``torch.jit.is_tracing()`` lets PyTorch code do.
    """
    return tracer is not None


def record_plain(op: str | type, inputs: tuple, options: dict, out: Tensor) -> None:
    """Show the recorder an op computed outside ``Function.apply``: a comparison, a logical op, an int cast.

    Such ops have no derivative, so they make no autograd node; but an exported
    graph needs them (a padding mask is ``ids != 0``). ``op`` is the op's
    public name (``"ne"``, ``"logical_not"``) with ``inputs`` its operands, or
    the Function whose forward it shares (a cast to an integer dtype is
    ``Cast``'s forward). Costs one global read when nothing records.
    """
    if tracer is not None:
        tracer(op, inputs, options, out)


# The in-place clock: it ticks once per in-place change of a tensor (never per
# op). A node remembers the clock when it is recorded; backward looks at its
# saved arrays only when the clock moved since, so the check costs nothing in
# code that changes nothing in place.
clock = 0


class VersionCounter:
    """How many times a storage was changed in place (PyTorch's ``t._version``).

    Shared by the tensors that share the storage (``.data``, ``detach()``).
    ``stamps`` keeps the clock of the recent changes, to tell backward which
    came after a node saved the array.
    """

    __slots__ = ("stamps", "value")

    def __init__(self) -> None:
        self.value = 0
        self.stamps: list[int] = []


def bump_version(t: Tensor) -> None:
    """Record that ``t``'s storage was changed in place (one increment, cheap)."""
    global clock
    clock += 1
    vc = t._vc
    if vc is None:
        vc = t._vc = VersionCounter()
    vc.value += 1
    stamps = vc.stamps
    stamps.append(clock)
    if len(stamps) > 64:
        del stamps[:32]
    node = t._ctx
    if node is not None and getattr(node, "_dirty", None) is None:
        # the tensor is the output of ``node``: if node saved it, its backward is now wrong
        node._dirty = (t._array, vc, vc.value - 1)


def is_grad_enabled() -> bool:
    return grad_enabled


class set_grad_enabled:  # noqa: N801 (PyTorch's name)
    """Turn graph recording on or off: a call, a context manager and a decorator."""

    def __init__(self, mode: bool) -> None:
        global grad_enabled
        self.prev = grad_enabled
        self.mode = bool(mode)
        grad_enabled = self.mode

    def __enter__(self) -> None:
        global grad_enabled
        grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        global grad_enabled
        grad_enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        # Used as a decorator, the mode applies inside the function only.
        global grad_enabled
        grad_enabled = self.prev
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class _GradModeGuard:
    """Base of no_grad/enable_grad: ``with no_grad():``, ``@no_grad()`` and ``@no_grad``."""

    mode = True

    def __new__(cls, fn: Callable | None = None) -> Any:
        guard = super().__new__(cls)
        return guard if fn is None else guard(fn)

    def __enter__(self) -> None:
        global grad_enabled
        self.prev = grad_enabled
        grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        global grad_enabled
        grad_enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        guard = type(self)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with guard():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeGuard):  # noqa: N801 (PyTorch's name)
    """Record no graph inside: outputs do not require grad and save nothing for backward."""

    mode = False


class enable_grad(_GradModeGuard):  # noqa: N801 (PyTorch's name)
    """Record the graph again inside a ``no_grad`` block."""

    mode = True


class Function:
    """One differentiable operation: ``forward`` on arrays, ``backward`` on gradients.

    Subclasses write ``forward(ctx, *arrays, **options) -> array`` and
    ``backward(ctx, grad_out) -> grad or tuple of grads`` (one per input, None
    where an input gets none). ``ctx`` is the Function instance itself: store on
    it whatever backward needs (arrays, never the output Tensor, so the graph
    holds no reference cycles). Gradients may keep the broadcast shape; the
    engine reduces them to each input's shape. Backward must not modify
    ``grad_out`` in place: it may be shared with other nodes.

    PyTorch's style, ``@staticmethod`` forward/backward with an explicit
    ``ctx``, works as well.
    """

    # The engine's fields are slots (fast to reach); what an op saves for its
    # backward goes in the instance dict. ``inputs`` is set when the graph is
    # recorded and None once the node is released; _visit, _deps and _grad are
    # the bookkeeping of one backward pass.
    __slots__ = ("__dict__", "_deps", "_dirty", "_grad", "_hooks", "_retained", "_tick", "_visit", "inputs")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("forward", "backward"):
            fn = getattr(cls, name, None)
            if fn is None:
                raise TypeError(f"{cls.__name__} must define {name}(ctx, ...)")
            # A staticmethod taking ctx explicitly becomes a plain method, so
            # ``ctx.forward(...)`` passes the instance as ctx either way.
            raw = cls.__dict__.get(name)
            if isinstance(raw, staticmethod):
                setattr(cls, name, raw.__func__)

    @classmethod
    def apply(cls, *inputs: Any, **options: Any) -> Tensor:
        """Run ``forward`` on the inputs' arrays and wrap the result, recording the graph if needed."""
        ctx = cls()
        try:
            if options:
                out = ctx.forward(*[x._array if isinstance(x, Tensor) else x for x in inputs], **options)
            elif len(inputs) == 2:  # the common arities skip building a list
                a, b = inputs
                out = ctx.forward(
                    a._array if isinstance(a, Tensor) else a, b._array if isinstance(b, Tensor) else b
                )
            elif len(inputs) == 1:
                a = inputs[0]
                out = ctx.forward(a._array if isinstance(a, Tensor) else a)
            else:
                out = ctx.forward(*[x._array if isinstance(x, Tensor) else x for x in inputs])
        except (ValueError, IndexError) as e:
            raise type(e)(f"{cls.op_name()}: {e} (inputs: {_describe(inputs)})") from e
        except TypeError:
            devices.check_same_device(inputs, cls.op_name())  # a device array refused a host one
            raise
        t = _new_tensor(Tensor)
        t._array = out if type(out) is np.ndarray or devices.is_device_array(out) else np.asarray(out)
        t.grad = None
        t._retains_grad = False
        t._hooks = t._vc = None
        t._ctx = None
        t._requires_grad = False
        if grad_enabled:
            for x in inputs:
                if isinstance(x, Tensor) and x._requires_grad:
                    ctx.inputs = inputs
                    ctx._tick = clock
                    ctx._visit = -1
                    ctx._retained = ctx._hooks = None
                    t._ctx = ctx
                    t._requires_grad = True
                    break
        if tracer is not None:  # the ONNX exporter records the call; one global read otherwise
            tracer(cls, inputs, options, t)
        return t

    @classmethod
    def op_name(cls) -> str:
        return cls.__name__.lower()

    # PyTorch-style conveniences for user-defined Functions.
    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_tensors = arrays

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        return tuple(
            [isinstance(x, Tensor) and x._requires_grad for x in getattr(self, "inputs", None) or ()]
        )

    def release(self) -> None:
        """Drop everything saved for backward; a later backward through this node fails clearly."""
        self.__dict__.clear()
        self.inputs = self._grad = self._retained = self._hooks = self._dirty = None

    def name(self) -> str:
        return f"{type(self).__name__}Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"


_new_tensor = object.__new__


def _describe(inputs: Sequence[Any]) -> str:
    parts = []
    for x in inputs:
        if isinstance(x, Tensor):
            parts.append(f"tensor of shape {x.shape} {x.dtype}")
        elif isinstance(x, np.ndarray):
            parts.append(f"array of shape {x.shape} {x.dtype}")
        elif isinstance(x, (tuple, list)) and x and isinstance(x[0], Tensor):
            parts.append("[" + ", ".join(f"{tuple(t.shape)}" for t in x) + "]")
        else:
            parts.append(repr(x))
    return ", ".join(parts)


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient over the axes along which an input of ``shape`` was broadcast.

    Broadcasting copies an input along new leading axes and along its size-1
    axes; the chain rule sums the gradient over every copy.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    if axes:
        grad = grad.sum(axis=axes)
    return grad.reshape(shape)


_FREED = (
    "Trying to backward through the graph a second time (or to use what a freed "
    "graph saved). The first backward() freed the saved arrays of {node}; pass "
    "retain_graph=True to the first backward() to keep them."
)


def _seed_gradient(t: Tensor, g: Any) -> np.ndarray:
    if g is None:
        if t._array.size != 1:
            raise RuntimeError(
                "backward: a gradient can be created implicitly only for a scalar output, "
                f"got a tensor of shape {t.shape}; pass gradient= with that shape"
            )
        return devices.array_module(t._array).ones(t.shape, dtype=t.dtype)
    arr = g._array if isinstance(g, Tensor) else np.asarray(g, dtype=t.dtype)
    if devices.device_of(arr) != devices.device_of(t._array):
        raise RuntimeError(
            f"backward: the gradient is on {devices.device_of(arr)} but the output is on "
            f"{devices.device_of(t._array)}"
        )
    if arr.shape != t.shape:
        raise RuntimeError(f"backward: gradient has shape {arr.shape} but the output has shape {t.shape}")
    return arr.astype(t.dtype, copy=False)


def _accumulate_leaf(t: Tensor, g: np.ndarray) -> None:
    grad = t.grad
    if grad is None:
        # A copy: ``g`` may be a view shared with other gradients.
        t.grad = Tensor._make(g.astype(t._array.dtype, copy=True), None)
    else:
        grad._array += g


_passes = itertools.count()


def _run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[np.ndarray],
    retain_graph: bool,
    capture: dict[int, list] | None = None,
) -> None:
    """Apply the chain rule from ``roots`` back to the leaves.

    With ``capture`` (id of tensor -> [tensor, None]), the gradients of those
    tensors are summed into it instead of being accumulated into ``.grad``.
    """
    # Pass 1: count, for every node (a Function that made a tensor), how many
    # graph edges lead into it, so that it runs only after all its consumers
    # have handed it their gradient. The counts live on the nodes themselves.
    visit = next(_passes)
    stack = []
    for r in roots:
        ctx = r._ctx
        if ctx is not None and ctx._visit != visit:
            ctx._visit, ctx._deps, ctx._grad = visit, 0, None
            stack.append(ctx)
    while stack:
        ctx = stack.pop()
        inputs = ctx.inputs
        if inputs is None:
            raise RuntimeError(_FREED.format(node=ctx.name()))
        if clock != getattr(ctx, "_tick", clock):
            # something changed in place since this node was recorded
            _check_versions(ctx)
            inputs = _inputs_before_rebase(ctx)
        for x in inputs:
            if isinstance(x, Tensor):
                c = x._ctx
                if c is not None:
                    if c._visit == visit:
                        c._deps += 1
                    else:
                        c._visit, c._deps, c._grad = visit, 1, None
                        stack.append(c)

    ready = []
    # Leaves with hooks, and every leaf in autograd.grad(), collect their total
    # gradient here first: a hook sees the sum over all uses, as in PyTorch.
    held: dict[int, list] = {}
    for r, g in zip(roots, root_grads, strict=True):
        ctx = r._ctx
        if ctx is None:
            _hold(held, r, g)
            continue
        if ctx._grad is None:
            ctx._grad = g
            if ctx._deps == 0:
                ready.append(ctx)
        else:
            ctx._grad = ctx._grad + g
    # autograd.grad() may ask for the gradient of an interior tensor
    wanted = {} if capture is None else {id(t._ctx): t for t, _ in capture.values() if t._ctx is not None}

    # Pass 2: from the outputs back to the inputs, each node turns the
    # gradient of its output into gradients of its inputs (its local
    # derivative times the incoming gradient: the chain rule).
    while ready:
        ctx = ready.pop()
        g = ctx._grad
        inputs = ctx.inputs
        if g is None:
            in_grads: Any = (None,) * len(inputs)
        else:
            if ctx._hooks is not None:
                g = _run_hooks(ctx._hooks, g)
            if ctx._retained is not None:
                _deliver_retained(ctx, g)
            if wanted and id(ctx) in wanted:
                _deliver(wanted[id(ctx)], g, capture)
            in_grads = ctx.backward(g)
            if type(in_grads) is not tuple:
                in_grads = (in_grads,)
        for x, gx in zip(inputs, in_grads):
            if not isinstance(x, Tensor) or not x._requires_grad:
                continue
            c = x._ctx
            if gx is not None:
                if gx.shape != x._array.shape:
                    gx = unbroadcast(gx, x._array.shape)
                if c is None:
                    if capture is None and x._hooks is None:
                        _accumulate_leaf(x, gx)
                    else:
                        _hold(held, x, gx)
                    continue
                prev = c._grad
                c._grad = gx if prev is None else prev + gx
            elif c is None:
                continue
            left = c._deps - 1
            c._deps = left
            if left == 0:
                ready.append(c)
        if retain_graph:
            ctx._grad = None
        else:
            ctx.release()
    for leaf, g in held.values():
        if leaf._hooks is not None:
            g = _run_hooks(leaf._hooks, g)
        _deliver(leaf, g, capture)


def mark_rebase(node: Function, old: Tensor) -> None:
    """Record that ``node``'s output took over a tensor whose earlier history is ``old``.

    An in-place op (or ``t[key] = v``) in a recorded graph makes the tensor
    object the result of a new node; nodes recorded before that consumed
    the old history, and backward sends their gradient there
    (:func:`_inputs_before_rebase`). The clock ticks so that "before" is
    well defined.
    """
    global clock
    node.__dict__["_rebase_of"] = old
    node._tick = clock
    clock += 1


def _inputs_before_rebase(ctx: Function) -> tuple:
    """``ctx.inputs`` with each tensor re-based after ``ctx`` was recorded replaced by the
    history ``ctx`` consumed (rewritten once, on the node)."""
    tick = ctx._tick
    inputs = list(ctx.inputs)
    changed = False
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            continue
        c = x._ctx
        while c is not None and c.__dict__.get("_rebase_of") is not None and tick <= c._tick:
            x = c.__dict__["_rebase_of"]
            c = x._ctx
            changed = True
        inputs[i] = x
    if changed:
        ctx.inputs = tuple(inputs)
    return ctx.inputs


def recorded_inputs(node: Function) -> tuple:
    """The inputs ``node`` consumed when it was recorded, for tools that walk the graph (``cr.viz.graph``).

    A tensor changed in place after ``node`` was recorded has a new history;
    this gives the one ``node`` consumed, as backward does. Raises once
    backward has freed the node.
    """
    if node.inputs is None:
        raise RuntimeError(_FREED.format(node=node.name()))
    return _inputs_before_rebase(node)


def _saved_arrays(ctx: Function) -> list[np.ndarray]:
    """The arrays a node keeps for its backward (what its forward stored on ctx)."""
    found = []
    for v in ctx.__dict__.values():
        if isinstance(v, np.ndarray) or devices.is_device_array(v):
            found.append(v)
        elif isinstance(v, (tuple, list)):
            found += [a for a in v if isinstance(a, np.ndarray) or devices.is_device_array(a)]
    return found


def _check_versions(ctx: Function) -> None:
    """Refuse a backward whose saved arrays were changed in place after the node saved them.

    Runs only when some tensor was changed in place since ``ctx`` was
    recorded; an input (or the output) counts only if its storage overlaps
    an array the node saved, as PyTorch counts only saved tensors.
    """
    tick = ctx._tick
    suspects = []
    for i, x in enumerate(ctx.inputs):
        if isinstance(x, Tensor) and x._vc is not None and x._vc.stamps and x._vc.stamps[-1] > tick:
            vc = x._vc
            expected = vc.value - sum(1 for s in vc.stamps if s > tick)
            suspects.append((x._array, vc, expected, f"input {i}"))
    dirty = getattr(ctx, "_dirty", None)
    if dirty is not None:
        suspects.append((dirty[0], dirty[1], dirty[2], "output 0"))
    if not suspects:
        return
    saved = _saved_arrays(ctx)
    for arr, vc, expected, which in suspects:
        xp = devices.array_module(arr)
        if any(type(s) is type(arr) and xp.may_share_memory(arr, s) for s in saved):
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{arr.dtype} tensor of shape {tuple(arr.shape)}], which is "
                f"{which} of {ctx.name()}, is at version {vc.value}; expected version {expected} "
                "instead. Hint: it was changed in place (an in-place method such as add_, a write "
                "through .data or t[...] =, an optimizer step, or under no_grad()) after the graph "
                "saved it for backward; change a copy (.clone()) instead, or call backward() first."
            )


def _hold(held: dict[int, list], t: Tensor, g: np.ndarray) -> None:
    slot = held.get(id(t))
    if slot is None:
        held[id(t)] = [t, g]
    else:
        slot[1] = slot[1] + g


def _run_hooks(hooks: list, g: np.ndarray) -> np.ndarray:
    """Call each hook with the gradient (a Tensor); a hook may return a replacement."""
    for hook in list(hooks):
        out = hook(Tensor._make(g, None))
        if out is not None:
            new = out._array if isinstance(out, Tensor) else devices.array_module(g).asarray(out)
            if new.shape != g.shape:
                raise RuntimeError(
                    f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of shape "
                    f"{new.shape}; expected {g.shape}"
                )
            g = new.astype(g.dtype, copy=False)
    return g


class RemovableHandle:
    """Returned by ``register_hook``: ``handle.remove()`` takes the hook off again."""

    def __init__(self, hooks: list, hook: Callable) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        """``with module.register_forward_hook(f): ...`` removes the hook when the block ends."""
        self.remove()


def _deliver_retained(ctx: Function, g: np.ndarray) -> None:
    t = ctx._retained()
    if t is not None:
        _accumulate_leaf(t, g)


def _deliver(t: Tensor, g: np.ndarray, capture: dict[int, list] | None) -> None:
    if capture is None:
        _accumulate_leaf(t, g)
    elif id(t) in capture:
        slot = capture[id(t)]
        g = g.astype(t._array.dtype, copy=False)
        slot[1] = g if slot[1] is None else slot[1] + g


def backward(
    tensors: Tensor | Sequence[Tensor],
    grad_tensors: Any = None,
    retain_graph: bool = False,
) -> None:
    """Accumulate the gradient of ``tensors`` into the leaves' ``.grad`` (``torch.autograd.backward``)."""
    roots = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, (Tensor, np.ndarray)):
        grad_tensors = [grad_tensors] * len(roots) if grad_tensors is None else [grad_tensors]
    if len(grad_tensors) != len(roots):
        raise RuntimeError(f"backward: got {len(roots)} tensors but {len(grad_tensors)} gradients")
    for r in roots:
        if not r.requires_grad:
            raise RuntimeError(
                "backward: the tensor does not require grad and has no grad_fn; "
                "make a leaf with requires_grad=True and compute the output from it "
                "outside no_grad()"
            )
    seeds = [_seed_gradient(r, g) for r, g in zip(roots, grad_tensors, strict=True)]
    try:
        _run_backward(roots, seeds, retain_graph)
    finally:
        callbacks, _queued[:] = list(_queued), []
    for callback in callbacks:
        callback()


# Called once at the end of the current backward(), after every leaf's .grad is written.
_queued: list[Callable[[], None]] = []


def queue_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` when the running ``backward()`` has written every ``.grad`` (torch's engine hook).

    Meant for gradient hooks: data-parallel training queues its gradient
    all-reduce from the first parameter hook of a pass, so it runs once,
    over the complete gradients.
    """
    _queued.append(callback)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of written to ``.grad``."""
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    for t in ins:
        if not t.requires_grad:
            raise RuntimeError(f"grad: an input of shape {t.shape} does not require grad")
    for o in outs:
        if not o.requires_grad:
            raise RuntimeError(f"grad: an output of shape {o.shape} does not require grad")
    capture = {id(t): [t, None] for t in ins}
    seeds = [_seed_gradient(o, g) for o, g in zip(outs, grad_outputs, strict=True)]
    _run_backward(outs, seeds, retain_graph, capture)
    result = []
    for i, t in enumerate(ins):
        g = capture[id(t)][1]
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        result.append(None if g is None else Tensor._make(g.copy(), None))
    return tuple(result)


class GradcheckError(RuntimeError):
    """Analytic and finite-difference gradients disagree."""


def gradcheck(
    fn: Callable[..., Any],
    inputs: Tensor | Iterable[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check ``fn``'s backward against central finite differences, in float64.

    Every input that requires grad must be float64. For each output element the
    analytic gradient (one backward pass) is compared with
    ``(fn(x + eps) - fn(x - eps)) / (2 eps)`` for each input element; they must
    agree within ``atol + rtol * |numerical|``. Returns True, or raises
    :class:`GradcheckError` naming the input, the element and both values
    (returns False instead when ``raise_exception`` is False).
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x._requires_grad]
    if not diff:
        raise ValueError("gradcheck: no input requires grad")
    for i in diff:
        if inputs[i].dtype != np.float64:
            raise ValueError(
                f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need "
                "float64 inputs (use .double())"
            )

    def outputs_of() -> list[Tensor]:
        out = fn(*inputs)
        return [out] if isinstance(out, Tensor) else [o for o in out if isinstance(o, Tensor)]

    with enable_grad():
        outs = outputs_of()
    which = [j for j, o in enumerate(outs) if o.requires_grad and o.dtype.kind == "f"]
    if not which:
        raise ValueError("gradcheck: no output of fn requires grad")
    diff_outs = [outs[j] for j in which]

    def flat_outputs() -> np.ndarray:
        outs = outputs_of()
        return np.concatenate([outs[j]._array.ravel() for j in which])

    # Analytic Jacobian rows: one backward pass per output element.
    analytic = [np.zeros((sum(o._array.size for o in diff_outs), inputs[i]._array.size)) for i in diff]
    row = 0
    for o in diff_outs:
        for j in range(o._array.size):
            seed = np.zeros(o.shape)
            seed.flat[j] = 1.0
            gs = grad(o, [inputs[i] for i in diff], seed, retain_graph=True, allow_unused=True)
            for a, g in zip(analytic, gs, strict=True):
                if g is not None:
                    a[row] = g._array.ravel()
            row += 1

    # Numerical Jacobian columns: perturb each input element both ways.
    with no_grad():
        for a, i in zip(analytic, diff, strict=True):
            x = inputs[i]._array
            flat = x.reshape(-1) if x.flags.c_contiguous else None
            if flat is None:
                raise ValueError(f"gradcheck: input {i} must be contiguous")
            for k in range(flat.size):
                orig = flat[k]
                flat[k] = orig + eps
                plus = flat_outputs()
                flat[k] = orig - eps
                minus = flat_outputs()
                flat[k] = orig
                numerical = (plus - minus) / (2 * eps)
                bad = ~np.isclose(a[:, k], numerical, rtol=rtol, atol=atol)  # NaN never passes
                if bad.any():
                    r = int(np.argmax(bad))
                    if not raise_exception:
                        return False
                    raise GradcheckError(
                        f"gradcheck: gradient mismatch for input {i} element {k} "
                        f"(output element {r}): analytic {a[r, k]!r}, numerical {numerical[r]!r}"
                    )
    return True
