"""The Optimizer base class: parameter groups, per-parameter state, state dicts, and the fast update loop.

The surface is PyTorch's (``param_groups``, ``state``, ``zero_grad``,
``step(closure)``, ``state_dict``/``load_state_dict`` in the same layout). The
inside is built for small per-step overhead: the parameters of a group that
get a gradient are split once into *chunks*, and each chunk keeps every state
tensor (``exp_avg``, ``momentum_buffer``, ...) of all its parameters in one
flat NumPy buffer. A step then updates a chunk of many small parameters with
one NumPy call per line of the update rule, instead of one per parameter,
writing into pre-allocated scratch buffers with ``out=``, so nothing is
allocated per step. ``optimizer.state[p]["exp_avg"]`` is a Tensor viewing the
parameter's slice of that buffer, so the state stays readable and writable in
place. Large parameters get a chunk of their own (no gather copy).

The chunking is rebuilt when the set of parameters with a gradient, the
options that decide which state exists, or the groups change; the elementwise
arithmetic is the same either way, so results do not depend on it.
"""

from __future__ import annotations

import copy
import functools
import itertools
import numbers
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import bump_version, enable_grad, no_grad
from chainrule.runtime import parallel_for, worth_splitting
from chainrule.tensor import Tensor

__all__ = [
    "Chunk",
    "Optimizer",
    "ParamsT",
    "as_number",
    "check_grad_shapes",
    "refuse_differentiable",
    "required",
]

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]

# Parameters up to this many elements share flat buffers (foreach=None); larger
# ones are updated on their own arrays, which saves copying their gradient.
_FLAT_LIMIT = 1 << 14
_is_none = functools.partial(operator.is_, None)
_EMPTY: dict[str, Any] = {}


class _RequiredParameter:
    """Marks an option that has no default: every parameter group must give it."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class _Plan:
    """How one parameter group is updated: its chunks, valid while ``key`` and the group are unchanged."""

    __slots__ = ("chunks", "group", "key", "params")

    def __init__(self, group: dict, key: tuple, chunks: list[Chunk]) -> None:
        self.group, self.params, self.key, self.chunks = group, group["params"], key, chunks


class Chunk:
    """Parameters updated together, with their state in one flat buffer per state key.

    ``index`` holds the parameters' positions in their group; ``bufs`` the state
    arrays in the order of the optimizer's state spec (flat for a chunk of many
    parameters, the parameter's shape for a chunk of one); ``tmp`` is the scratch
    buffer a step computes in and ``gbuf`` the gathered (or modified) gradient.
    ``scalars`` holds the step's scalars by name (the optimizer's
    :attr:`Optimizer.Scalars`, a NamedTuple of 0-d arrays in the parameters'
    dtype): NumPy multiplies by a 0-d array of the right dtype about twice as
    fast as by a Python float. ``factor`` is one more such 0-d array, for the
    weight decay and the decoupled decay applied here.
    """

    __slots__ = (
        "bufs",
        "factor",
        "flat",
        "fresh",
        "gbuf",
        "gviews",
        "index",
        "owner",
        "params",
        "scalars",
        "step",
        "step_data",
        "tmp",
        "tviews",
        "xp",
    )

    def grad(self, grads: list, maximize: bool) -> np.ndarray:
        """This step's gradient as one array: gathered into ``gbuf`` for a flat chunk, negated if maximizing.

        The array returned for a single parameter without ``maximize`` is the
        parameter's own ``.grad`` array: read it, never write it.
        """
        if self.flat:
            g = self.gbuf
            for view, i in zip(self.gviews, self.index):
                a = grads[i]._array
                if a.shape != view.shape:  # never broadcast a wrong gradient into the update
                    self.refuse_grad(i, a)
                view[...] = a
            if maximize:
                self.xp.negative(g, g)
            return g
        g = grads[self.index[0]]._array
        if g.shape != self.tmp.shape:
            self.refuse_grad(self.index[0], g)
        if maximize:
            self.xp.negative(g, self.own_gbuf())
            return self.gbuf
        return g

    def refuse_grad(self, i: int, grad: np.ndarray) -> None:
        """Raise the error for parameter ``i`` of the group, whose gradient has the wrong shape."""
        p = self.params[self.index.index(i)]
        check_grad_shapes(self.owner, [p], [Tensor._make(grad, None)], first=i)

    def own_gbuf(self) -> np.ndarray:
        """The chunk's gradient buffer, allocated the first time a single parameter needs one."""
        if self.gbuf is None:
            self.gbuf = self.xp.empty(self.tmp.shape, self.tmp.dtype)
        return self.gbuf

    def add_weight_decay(self, g: np.ndarray, weight_decay: float) -> np.ndarray:
        """``g + weight_decay * p`` (L2 penalty folded into the gradient), in ``gbuf``; uses ``tmp``."""
        t = self.tmp
        wd = self.factor
        wd[()] = weight_decay
        self.gather_params(t)
        self.xp.multiply(t, wd, t)
        out = self.own_gbuf()
        self.xp.add(g, t, out)
        return out

    def gather_params(self, out: np.ndarray) -> None:
        """Copy the parameters' values into ``out`` (flat, or the single parameter's shape)."""
        if self.flat:
            for view, p in zip(self.tviews, self.params):
                view[...] = p._array
        else:
            out[...] = self.params[0]._array

    def apply(self, update: np.ndarray, decay: float | None = None) -> None:
        """``p += update`` for every parameter (after ``p *= decay`` if given), in place on ``p._array``."""
        add = self.xp.add
        if decay is not None:
            d = self.factor
            d[()] = decay
            mul = self.xp.multiply
            if self.flat:
                for p, view in zip(self.params, self.tviews):
                    a = p._array
                    mul(a, d, a)
                    add(a, view, a)
            else:
                a = self.params[0]._array
                mul(a, d, a)
                add(a, update, a)
        elif self.flat:
            for p, view in zip(self.params, self.tviews):
                a = p._array
                add(a, view, a)
        else:
            a = self.params[0]._array
            add(a, update, a)

    def splittable(self, *arrays: Any) -> bool:
        """Whether an elementwise pass over these arrays can be cut into ranges: NumPy, C-contiguous."""
        return self.xp is np and all(a.flags.c_contiguous for a in arrays)

    def advance(self) -> float:
        """Count one more step for every parameter of the chunk; returns the new count."""
        step = self.step = self.step + 1.0
        self.step_data[()] = step
        return step


def as_number(value: Any) -> Any:
    """A one-element Tensor or array as a Python number (options are plain numbers, as the math uses them)."""
    if isinstance(value, Tensor):
        value = value._array  # Tensor.size is a method, as in PyTorch
    if (isinstance(value, np.ndarray) or devices.is_device_array(value)) and value.size == 1:
        return value.item()
    return value


def refuse_differentiable(name: str, differentiable: bool) -> None:
    """PyTorch's ``differentiable=True`` records the step in autograd; these steps run outside it.

    PyTorch's ``fused`` and ``capturable`` choose how a step runs on a GPU, not
    what it computes, so the optimizers accept them and compute the same update.
    """
    if differentiable:
        raise ValueError(
            f"{name}: differentiable=True is not supported: the update runs outside autograd, so no "
            "gradient flows through it (leave differentiable=False)"
        )


def check_grad_shapes(name: str, params: list[Tensor], grads: list, first: int = 0) -> None:
    """Refuse a gradient whose shape is not its parameter's, instead of broadcasting it into the update.

    PyTorch refuses such a gradient when it is assigned to ``.grad``; here
    ``.grad`` is a plain attribute, so the optimizer checks before it steps.
    """
    for i, (p, g) in enumerate(zip(params, grads), first):
        if g is not None and g._array.shape != p._array.shape:
            raise ValueError(
                f"{name}: parameter {i} has shape {tuple(p._array.shape)} but its .grad has shape "
                f"{tuple(g._array.shape)}; a gradient must have its parameter's shape"
            )


class Optimizer:
    """Base class of every optimizer: holds parameter groups and per-parameter state.

    ``params`` is an iterable of Tensors, of ``(name, Tensor)`` pairs, or of
    dicts (parameter groups: ``{"params": [...], "lr": 0.1, ...}``) whose
    options override ``defaults``. A subclass names the per-parameter state it
    keeps (:meth:`_state_spec`) and writes the update of one chunk
    (:meth:`_update`); the base class does the bookkeeping around it. A subclass
    may instead override :meth:`step` entirely, as in PyTorch.

    The built-in optimizers take PyTorch's ``foreach`` option with a meaning
    close to PyTorch's multi-tensor path: None (default) updates parameters
    of up to 16,384 elements together in shared flat buffers and larger ones
    on their own; True puts every parameter in the shared buffers, False none.
    The arithmetic is the same elementwise either way, so results are too.
    """

    # The names of the 0-d scalars a chunk's update uses (a NamedTuple class), or None.
    Scalars: type | None = None
    # Whether the state holds a step count ("step", a 0-d float32 Tensor as in PyTorch).
    _has_step = True
    # State keys that hold one value per parameter element (shape-checked on load).
    _param_state_keys: frozenset[str] = frozenset()

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._plans: list[_Plan | None] = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{self._name}: params must be an iterable of Tensors or dicts, got a single Tensor "
                "(wrap it in a list)"
            )
        if isinstance(params, dict):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                f"{self._name}: parameters must be given in an ordered collection (a list), not a set, "
                "so that their order (and the state dict) is the same from run to run"
            )
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(
                f"{self._name}: params must be an iterable of Tensors or dicts, got {type(params).__name__}"
            ) from None
        if not groups:
            raise ValueError(f"{self._name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _name(self) -> str:
        return type(self).__name__

    # ---------------------------------------------------------------- groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (missing options take the defaults)."""
        name = self._name
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: a parameter group needs a 'params' entry")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                f"{name}: parameters must be given in an ordered collection (a list), not a set, "
                "so that their order (and the state dict) is the same from run to run"
            )
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        if names:
            if len(names) != len(params):
                raise ValueError(f"{name}: give either every parameter with a name or none")
            params = [p[1] for p in params]
            param_group["param_names"] = names
        param_group["params"] = params

        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{name}: can only optimize Tensors, but parameter {i} is a {type(p).__name__}"
                )
            if p._ctx is not None and not p._retains_grad:
                raise ValueError(
                    f"{name}: can't optimize a non-leaf Tensor (parameter {i} was computed from other "
                    "tensors; optimize the leaves, or a detached copy)"
                )
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            seen: set[int] = set()
            dup = next(i for i, k in enumerate(ids) if k in seen or seen.add(k))
            raise ValueError(f"{name}: parameter {dup} appears more than once in the parameter group")
        for existing in self.param_groups:
            if not set(ids).isdisjoint(id(p) for p in existing["params"]):
                raise ValueError(f"{name}: some parameters appear in more than one parameter group")
            if ("param_names" in existing) != ("param_names" in param_group):
                raise ValueError(f"{name}: either every parameter group has parameter names or none does")

        for key, default in self.defaults.items():
            if default is required and key not in param_group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required option {key!r}")
            param_group.setdefault(key, default)
        self._check_group(param_group)
        self.param_groups.append(param_group)
        self._plans.append(None)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate (and normalise) one group's options; subclasses check their own."""
        if "lr" in group:
            group["lr"] = lr = as_number(group["lr"])
            if not isinstance(lr, numbers.Real) or not lr >= 0:
                raise ValueError(f"{self._name}: invalid learning rate {lr!r}, expected lr >= 0")

    def _check_nonnegative(self, group: dict[str, Any], *keys: str) -> None:
        for key in keys:
            group[key] = value = as_number(group[key])
            if not isinstance(value, numbers.Real) or not value >= 0:
                raise ValueError(f"{self._name}: invalid {key} value {value!r}, expected {key} >= 0")

    # ---------------------------------------------------------------- grads
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set every ``.grad`` to None (default) or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad._array[...] = 0

    # ---------------------------------------------------------------- step
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()``'s loss if a closure is given.

        The closure re-evaluates the model and the loss (gradient mode on)
        before the update, for optimizers that need a fresh loss.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._opt_called = True  # lets a scheduler warn when it is stepped before the optimizer
        groups = self.param_groups
        plans = self._plans
        if len(plans) != len(groups):
            plans = self._plans = [None] * len(groups)
        with no_grad():
            for i, group in enumerate(groups):
                params = group["params"]
                grads = [p.grad for p in params]
                key = (tuple(map(_is_none, grads)), self._state_spec(group), group.get("foreach"))
                plan = plans[i]
                if plan is None or plan.key != key or plan.group is not group or plan.params is not params:
                    plan = plans[i] = _Plan(group, key, self._make_chunks(group, grads, key[1]))
                if plan.chunks:
                    self._update_chunks(group, plan.chunks, grads)
                    for p, g in zip(params, grads):
                        if g is not None:  # a graph that saved p must not backward through the new values
                            bump_version(p)
        return loss

    def _state_spec(self, group: dict[str, Any]) -> tuple[tuple[str, float | None], ...]:
        """The per-parameter state tensors this group keeps: ``(key, initial value)`` pairs.

        An initial value of None means the first step fills the buffer itself
        (SGD's momentum buffer starts as the first gradient).
        """
        return ()

    # Whether :meth:`_update` touches nothing shared between chunks (each has its own state,
    # scratch and scalars), so that a step may update its chunks on the pool's threads. The
    # built-in rules do; a subclass's own rule is run on the calling thread unless it says so.
    _chunks_in_parallel = False
    # Whether :meth:`_update` cuts a large single-parameter chunk into ranges on the pool's threads
    # itself (Adam's does). Then a step where one chunk holds most of the work runs its chunks on
    # the calling thread, and that chunk uses both threads, instead of one thread taking it whole
    # (W2's 401k-element fc1 weight against 20k elements of everything else).
    _splits_large_chunks = False

    def _update_chunks(self, group: dict[str, Any], chunks: list[Chunk], grads: list) -> None:
        """:meth:`_update` over the chunks, spread over the pool's threads when there is enough work.

        The chunks go, largest first, to the thread with the least work so far;
        each chunk's arithmetic is the same on any thread, so the result is too.
        """
        sizes = [ch.tmp.size for ch in chunks]
        parts = worth_splitting(sum(sizes), like=chunks[0].tmp) if self._chunks_in_parallel else 1
        parts = min(parts, len(chunks))
        if parts > 1 and self._splits_large_chunks and 2 * max(sizes) >= sum(sizes):
            parts = 1  # the largest chunk splits itself
        if parts <= 1:
            self._update(group, chunks, grads)
            return
        shares: list[list[Chunk]] = [[] for _ in range(parts)]
        loads = [0] * parts
        for i in sorted(range(len(chunks)), key=lambda i: -sizes[i]):
            lightest = loads.index(min(loads))
            shares[lightest].append(chunks[i])
            loads[lightest] += sizes[i]
        parallel_for(lambda share: self._update(group, share, grads), [(share,) for share in shares])

    def _update(self, group: dict[str, Any], chunks: list[Chunk], grads: list) -> None:
        raise TypeError(
            f"{self._name} defines no update rule: override step(), or _state_spec() and _update()"
        )

    def _make_chunks(self, group: dict[str, Any], grads: list, spec: tuple) -> list[Chunk]:
        """Split the group's parameters that have a gradient into chunks of shared flat state."""
        params = group["params"]
        foreach = group.get("foreach")
        limit = float("inf") if foreach else (-1 if foreach is False else _FLAT_LIMIT)
        buckets: dict[tuple, list[int]] = {}
        singles: list[list[int]] = []
        state = self.state
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is None:
                continue
            st = state.get(p, _EMPTY)
            present = tuple(k for k, _ in spec if st.get(k) is not None)
            step = float(st["step"]) if self._has_step and "step" in st else 0.0
            if p._array.size > limit:
                singles.append([i])
            else:
                where = devices.device_of(p._array)
                buckets.setdefault((p._array.dtype, where, step, present), []).append(i)
        return [self._make_chunk(params, index, spec) for index in [*buckets.values(), *singles]]

    def _make_chunk(self, params: list[Tensor], index: list[int], spec: tuple) -> Chunk:
        members = [params[i] for i in index]
        dtype = members[0]._array.dtype
        if dtype.kind != "f":
            raise TypeError(f"{self._name}: can only optimize floating-point parameters, got dtype {dtype}")
        ch = Chunk()
        ch.index, ch.params, ch.flat = index, members, len(members) > 1
        ch.owner = self._name
        # the state lives where the parameters do: NumPy buffers, or CuPy's on a GPU
        xp = ch.xp = devices.array_module(members[0]._array)
        where = devices.device_of(members[0]._array)
        sizes = [p._array.size for p in members]
        shape = (sum(sizes),) if ch.flat else members[0]._array.shape
        offsets = list(itertools.accumulate(sizes, initial=0))

        def views(buf: np.ndarray) -> list[np.ndarray]:
            if not ch.flat:
                return [buf]
            return [buf[a:b].reshape(p._array.shape) for a, b, p in zip(offsets, offsets[1:], members)]

        state = self.state
        if self._has_step:
            # One step counter for the whole chunk (its members were grouped by
            # equal counts): every member's state["step"] is the same 0-d Tensor.
            first = state[members[0]]
            ch.step = float(first["step"]) if "step" in first else 0.0
            ch.step_data = np.array(ch.step, np.float32)
            step_tensor = Tensor._make(ch.step_data, None)
            for p in members:
                state[p]["step"] = step_tensor
        ch.fresh = False
        ch.bufs = []
        for key, init in spec:
            buf = xp.empty(shape, dtype)
            for p, view in zip(members, views(buf)):
                st = state[p]
                old = st.get(key)
                if old is not None:
                    old = old._array if isinstance(old, Tensor) else np.asarray(old)
                    old = devices.to_device(old, where)
                    if old.shape != p._array.shape:
                        raise ValueError(
                            f"{self._name}: state {key!r} has shape {old.shape}, but its parameter "
                            f"has shape {p._array.shape}"
                        )
                    view[...] = old
                elif init is None:
                    ch.fresh = True
                else:
                    view[...] = init
                st[key] = Tensor._make(view, None)
            ch.bufs.append(buf)
        ch.tmp = xp.empty(shape, dtype)
        ch.tviews = views(ch.tmp)
        ch.gbuf = xp.empty(shape, dtype) if ch.flat else None
        ch.gviews = views(ch.gbuf) if ch.flat else None
        ch.factor = xp.zeros((), dtype)
        fields = self.Scalars._fields if self.Scalars is not None else ()
        ch.scalars = self.Scalars(*[xp.zeros((), dtype) for _ in fields]) if fields else None
        return ch

    # ---------------------------------------------------------------- state dicts
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout: ``{"state": {index: {...}}, "param_groups": [...]}``.

        Parameters are replaced by their index (counted across groups in
        order). State tensors are the live ones, as in PyTorch: deep-copy the
        dict to keep a snapshot while training goes on.
        """
        mapping: dict[int, int] = {}
        groups = []
        start = 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {
            (mapping[id(k)] if isinstance(k, Tensor) else k): dict(v)
            for k, v in self.state.items()
            if not isinstance(k, Tensor) or id(k) in mapping
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (from this class of optimizer, same parameter layout).

        Values are copied (cast to each parameter's dtype; step counts to
        float32), so the loaded dict is never modified by later steps.
        """
        name = f"{self._name}.load_state_dict"
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}: expected a dict with 'state' and 'param_groups' entries")
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(
                f"{name}: the state dict has {len(saved_groups)} parameter groups, "
                f"this optimizer has {len(groups)}"
            )
        for i, (g, sg) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(
                    f"{name}: parameter group {i} has {len(sg['params'])} parameters in the state dict, "
                    f"{len(g['params'])} in this optimizer"
                )
        id_map = dict(
            zip(
                itertools.chain.from_iterable(g["params"] for g in saved_groups),
                itertools.chain.from_iterable(g["params"] for g in groups),
            )
        )
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                p = id_map[k]
                state[p] = {key: self._cast_state(name, k, p, key, val) for key, val in v.items()}
            else:
                state[k] = copy.deepcopy(v)
        new_groups = []
        for g, sg in zip(groups, saved_groups):
            sg["params"] = g["params"]
            if "param_names" in g and "param_names" not in sg:
                sg["param_names"] = g["param_names"]
            for key, default in self.defaults.items():
                sg.setdefault(key, default)
            # A saved rate below 0 is loaded as saved, as PyTorch does: a scheduler can leave it a
            # rounding error below 0 (LinearLR down to end_factor=0 ends at -1e-18, as PyTorch's).
            lr = as_number(sg.get("lr"))
            below_zero = isinstance(lr, numbers.Real) and lr < 0
            if below_zero:
                sg["lr"] = 0.0
            self._check_group(sg)
            if below_zero:
                sg["lr"] = lr
            new_groups.append(sg)
        self.state = state
        self.param_groups = new_groups
        self._plans = [None] * len(new_groups)

    def _cast_state(self, name: str, index: Any, p: Tensor, key: str, value: Any) -> Any:
        """A private copy of one loaded state value, checked against its parameter."""
        if isinstance(value, Tensor | np.ndarray) or hasattr(value, "__array__"):
            # loaded state follows its parameter's device (a CPU checkpoint for a GPU model and back)
            arr = devices.to_host(value._array) if isinstance(value, Tensor) else np.asarray(value)
            if key == "step":
                return Tensor._make(np.array(float(arr), np.float32), None)
            if key in self._param_state_keys and arr.shape != p._array.shape:
                raise ValueError(
                    f"{name}: state {key!r} of parameter {index} has shape {arr.shape}, "
                    f"but the parameter has shape {p._array.shape}"
                )
            dtype = p._array.dtype if arr.dtype.kind == "f" else arr.dtype
            arr = np.array(arr, dtype=dtype, copy=True)
            return Tensor._make(devices.to_device(arr, devices.device_of(p._array)), None)
        if key == "step" and isinstance(value, numbers.Real):
            return Tensor._make(np.array(float(value), np.float32), None)
        return copy.deepcopy(value)

    # ---------------------------------------------------------------- copies, repr
    def __getstate__(self) -> dict[str, Any]:
        # The chunks are a cache whose buffers the state tensors view; a copy
        # (deepcopy, pickle) would break those links, so they are rebuilt instead.
        d = self.__dict__.copy()
        d["_plans"] = [None] * len(self.param_groups)
        return d

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        out = self._name + " ("
        for i, group in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    out += f"    {key}: {group[key]}\n"
        return out + ")"
