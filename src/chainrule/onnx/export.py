"""``export(model, args, path, ...)``: trace one forward pass and write it as an ONNX graph.

The model runs once in eval mode under :func:`chainrule.onnx.trace.record`.
Each recorded op becomes ONNX nodes (:mod:`chainrule.onnx.translate`); the
parameters and buffers become initializers under their ``state_dict`` names;
ops whose inputs depend on neither the inputs nor the parameters are folded
(their traced value becomes an initializer). With ``dynamic_axes`` the model
runs a second time with those axes one shorter (or longer, where the model
refuses shorter): the ints that changed between the runs (reshape targets,
slice ends, positions, causal masks) are rebuilt in the graph from the inputs'
shapes. A mask is an input like any other: the layers combine masks with
Tensor ops, and the ops without a derivative (comparisons, logical ops,
integer casts) are recorded by name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.nn.module import Module
from chainrule.onnx.trace import Call, record
from chainrule.tensor import Tensor

__all__ = ["ExportError", "Graph", "export", "onnx_dtype"]

INT_MAX = np.iinfo(np.int64).max


class ExportError(ValueError):
    """The model uses something the exporter cannot express in ONNX (the message names the op and layer)."""


def onnx_dtype(dtype: np.dtype) -> int:
    """The ONNX TensorProto type code of a NumPy dtype."""
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class Graph:
    """The ONNX graph under construction: nodes, initializers, and the names of traced values."""

    def __init__(self, params: dict[int, str], inputs: dict[int, str], dims: list[tuple[str, int, int, int]]):
        self.nodes: list[Any] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.params = params  # id(Tensor or array) -> state_dict name
        self.names: dict[int, str] = dict(inputs)  # id(Tensor or array) -> value name (live values)
        self.dims = dims  # (input name, axis, size in run A, size in run B)
        self.counter = 0
        self.call: Call | None = None
        self.call_b: Call | None = None
        self._dim_cache: dict[tuple[str, int], str] = {}

    # -- names -------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def is_live(self, x: Any) -> bool:
        return (
            id(x) in self.names
            or id(x) in self.params
            or (isinstance(x, Tensor) and id(x._array) in self.names)
        )

    def const(self, value: Any, dtype: Any = None, hint: str = "const") -> str:
        arr = np.asarray(value, dtype=dtype)
        name = self.fresh(hint)
        self.initializers[name] = arr
        return name

    def val(self, x: Any, like: Any = None) -> str:
        """The graph name of ``x``: a traced value, a parameter, or a new constant (scalars take ``like``'s dtype)."""  # noqa: E501
        if x is None:
            return ""
        key = id(x)
        if key in self.names:
            return self.names[key]
        if isinstance(x, Tensor) and id(x._array) in self.names:
            return self.names[id(x._array)]
        for k in (key, id(x._array) if isinstance(x, Tensor) else None):
            if k is not None and k in self.params:
                name = self.params[k]
                if name not in self.initializers:
                    self.initializers[name] = np.asarray(x._array if isinstance(x, Tensor) else x)
                return name
        data = x._array if isinstance(x, Tensor) else x
        if np.isscalar(data) or isinstance(data, (bool, int, float)):
            dt = self.dtype_of(like) if like is not None else None
            return self.const(data, dtype=dt)
        return self.const(np.asarray(data), hint="const")

    @staticmethod
    def dtype_of(x: Any) -> np.dtype:
        return (x._array if isinstance(x, Tensor) else np.asarray(x)).dtype

    def node(self, op: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any) -> Any:
        from onnx import helper

        outs = [self.fresh(op.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=self.fresh(op), **attrs))
        return outs[0] if n_out == 1 else outs

    def bind(self, out: Tensor, name: str, array: Any = None) -> None:
        """Name ``out``, and its array (``array``: the one it held when recorded), for ops handed arrays."""
        self.names[id(out)] = name
        self.names[id(out._array if array is None else array)] = name

    # -- shapes and dynamic ints -------------------------------------------
    def fail(self, what: str) -> ExportError:
        call = self.call
        where = f" in {call.layer}" if call is not None else ""
        op = call.name if call is not None else "export"
        return ExportError(f"onnx export: op {op}{where}: {what}")

    def dim(self, input_name: str, axis: int) -> str:
        """A 1-D int64 tensor holding the size of ``axis`` of a graph input, from ``Shape``."""
        key = (input_name, axis)
        if key not in self._dim_cache:
            self._dim_cache[key] = self.node("Shape", [input_name], start=axis, end=axis + 1)
        return self._dim_cache[key]

    def source(self, a: int, b: int) -> str | None:
        for name, axis, sa, sb in self.dims:
            if (sa, sb) == (a, b):
                return self.dim(name, axis)
        return None

    def ints(
        self, a: Sequence[int], b: Sequence[int] | None, what: str, keep: dict[int, int] | None = None
    ) -> str:
        """A 1-D int64 tensor of the ints ``a`` (run A) and ``b`` (run B): constants, or sizes read from inputs.

        ``keep`` maps a position to the static int to use where the value changed
        but a placeholder says it (0 for "copy" in Reshape, 1 for "broadcast" in Expand).
        """  # noqa: E501
        a = [int(v) for v in a]
        if b is None or list(a) == [int(v) for v in b]:
            return self.const(np.array(a, dtype=np.int64))
        pieces: list[str] = []
        run: list[int] = []
        for i, (va, vb) in enumerate(zip(a, b, strict=True)):
            if va == vb:
                run.append(va)
                continue
            if keep and i in keep:
                run.append(keep[i])
                continue
            src = self.source(va, int(vb))
            if src is None:
                raise self.fail(
                    f"{what}[{i}] is {va}, which changes with a dynamic axis but is no input's size "
                    "(export without dynamic_axes, or keep the model's shapes tied to input sizes)"
                )
            if run:
                pieces.append(self.const(np.array(run, dtype=np.int64)))
                run = []
            pieces.append(src)
        if run:
            pieces.append(self.const(np.array(run, dtype=np.int64)))
        return pieces[0] if len(pieces) == 1 else self.node("Concat", pieces, axis=0)

    def arg(self, key: str, index: int | None = None) -> str:
        """The graph name of the current op's argument ``key`` (element ``index`` of a list argument).

        A constant that differs between the two runs is an arange or a causal
        mask over a dynamic axis, rebuilt from the input's shape; anything else fails.
        """
        x = self.call.args[key]
        xb = self.call_b.args[key] if self.call_b is not None else None
        if index is not None:
            x, xb = x[index], (xb[index] if xb is not None else None)
        if x is None or self.is_live(x) or xb is None:
            return self.val(x)
        a = x._array if isinstance(x, Tensor) else np.asarray(x)
        b = xb._array if isinstance(xb, Tensor) else np.asarray(xb)
        if a.shape == b.shape and np.array_equal(a, b):
            return self.val(x)
        return self.dynamic_constant(a, b, key)

    def dynamic_constant(self, a: np.ndarray, b: np.ndarray, key: str) -> str:
        if a.ndim >= 1 and b.ndim == a.ndim and np.issubdtype(a.dtype, np.integer):
            long = [i for i, n in enumerate(a.shape) if n != 1]
            if len(long) == 1 and np.array_equal(a.reshape(-1), np.arange(a.size)):
                n = self.source(a.shape[long[0]], b.shape[long[0]])
                if n is not None and np.array_equal(b.reshape(-1), np.arange(b.size)):
                    stop = self.node("Squeeze", [n, self.const(np.array([0], np.int64))])
                    r = self.node("Range", [self.const(np.int64(0)), stop, self.const(np.int64(1))])
                    shape = [-1 if i == long[0] else 1 for i in range(a.ndim)]
                    r = self.node("Reshape", [r, self.const(np.array(shape, np.int64))])
                    return r if a.dtype == np.int64 else self.node("Cast", [r], to=onnx_dtype(a.dtype))
        if a.size and b.size and np.all(a == a.flat[0]) and np.all(b == a.flat[0]):
            # a filled constant (zeros for token types, ones for a mask): Expand over the input's sizes
            return self.node(
                "Expand", [self.const(np.array(a.flat[0], a.dtype)), self.ints(a.shape, b.shape, key)]
            )
        if a.ndim == 2 and b.ndim == 2 and a.size > 1:
            # a causal mask: one value above the diagonal (-inf, or True = masked), another on and below it
            above = np.triu(np.ones(a.shape, bool), 1)
            hi, lo = a[above][:1], a[~above][:1]
            if hi.size and lo.size and _triangular(a, hi[0], lo[0]) and _triangular(b, hi[0], lo[0]):
                size = self.ints(a.shape, b.shape, key)
                ones = self.node("ConstantOfShape", [size], value=_one_tensor(np.int64))
                upper = self.node("Trilu", [ones, self.const(np.int64(1))], upper=1)
                upper = self.node("Cast", [upper], to=9)
                if a.dtype == np.bool_:  # (ONNX Runtime has no bool Where)
                    return upper if hi[0] else self.node("Not", [upper])
                values = [self.const(np.array(v, a.dtype)) for v in (hi[0], lo[0])]
                return self.node("Where", [upper, *values])
        raise self.fail(
            f"argument {key!r} is a constant of shape {a.shape} that changes with a dynamic axis "
            f"({b.shape} in the second run) and is neither an arange, a filled constant nor a causal mask; "
            "compute it with Tensor ops from the inputs, or pass it as an input"
        )

    def arg_b(self, name: str) -> Any:
        return None if self.call_b is None else self.call_b.args[name]

    def shape_b(self, x_name: str) -> tuple[int, ...] | None:
        if self.call_b is None:
            return None
        v = self.call_b.args[x_name]
        return tuple(v.shape) if v is not None else None


def _triangular(x: np.ndarray, hi: Any, lo: Any) -> bool:
    """Whether ``x`` (2-D) holds ``hi`` strictly above its diagonal and ``lo`` elsewhere (hi != lo)."""
    if hi == lo or (isinstance(hi, float) and np.isnan(hi)):
        return False
    return bool(np.array_equal(x, np.where(np.triu(np.ones(x.shape, bool), 1), hi, lo)))


def _one_tensor(dtype: Any) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.ones(1, dtype=dtype))


def _flatten(out: Any, what: str) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        found = []
        for o in out:
            found += _flatten(o, what)
        return found
    if hasattr(out, "__dataclass_fields__"):
        return _flatten(
            [getattr(out, f) for f in out.__dataclass_fields__ if getattr(out, f) is not None], what
        )
    if out is None:
        return []
    raise ExportError(f"onnx export: {what} returned {type(out).__name__}; expected Tensors")


def _as_tensors(args: Any) -> list[Tensor]:
    """The example inputs as tensors, each its own (a tensor given twice becomes two graph inputs)."""
    if not isinstance(args, (tuple, list)):
        args = (args,)
    out: list[Tensor] = []
    seen: set[int] = set()
    for a in args:
        t = a if isinstance(a, Tensor) else Tensor(np.asarray(a))
        if id(t) in seen or id(t._array) in seen:
            t = Tensor(t._array.copy())
        seen.update((id(t), id(t._array)))
        out.append(t)
    return out


def _axes(spec: Any) -> dict[int, str]:
    if isinstance(spec, dict):
        return {int(k): str(v) for k, v in spec.items()}
    return {int(k): f"dim_{k}" for k in spec}


def _sizes_b(
    tensors: list[Tensor], names: list[str], dyn: dict[str, dict[int, str]], grow: bool
) -> dict[str, int]:
    """The second run's size of each dynamic axis label: one shorter (or longer with ``grow``), told apart.

    Sizes in the graph are traced back to the input axis they came from by the
    pair (size in run A, size in run B); two labels with equal sizes in the
    example (batch 4, sequence 4) get different second sizes, so that the
    pairs, and with them the sources, stay distinct.
    """
    chosen: dict[str, int] = {}
    used: set[tuple[int, int]] = set()
    for t, name in zip(tensors, names, strict=True):
        for axis, label in dyn.get(name, {}).items():
            if label in chosen:
                continue
            a = t.shape[axis]
            steps = [1, 2, 3, 4, 5, 6] if grow or a < 3 else [-1, 1, -2, 2, -3, 3]
            b = next((a + d for d in steps if a + d >= 2 and (a, a + d) not in used), a + 7)
            chosen[label] = b
            used.add((a, b))
    return chosen


def _second_run(
    model: Module, tensors: list[Tensor], names: list[str], dyn: dict[str, dict[int, str]]
) -> tuple[list[Call], list[Tensor], list[tuple[str, int, int, int]]]:
    """Run ``model`` with the dynamic axes resized: its calls, outputs and the (input, axis, a, b) sizes.

    The axes shrink first; where the model refuses that (lengths or positions
    in the inputs' values that no longer fit), they grow instead.
    """
    errors = []
    for grow in (False, True):
        sizes = _sizes_b(tensors, names, dyn, grow)
        resized = [
            _resized(t, {ax: sizes[label] for ax, label in dyn.get(n, {}).items()})
            for t, n in zip(tensors, names, strict=True)
        ]
        try:
            calls, outs = _run(model, resized)
        except (ValueError, TypeError, IndexError) as e:
            shapes = ", ".join(f"{n} {tuple(t.shape)}" for t, n in zip(resized, names, strict=True))
            errors.append(f"with {shapes}: {e}")
            continue
        dims = [(n, ax, t.shape[ax], tb.shape[ax]) for t, tb, n in zip(tensors, resized, names, strict=True)
                for ax in dyn.get(n, {})]  # fmt: skip
        return calls, outs, dims
    raise ExportError(
        f"onnx export: to find what the dynamic axes change, {type(model).__name__} runs again with them "
        f"resized, and those runs failed ({'; '.join(errors)}). Give each size that must agree across "
        "inputs one axis name in dynamic_axes, or export without them"
    )


def _resized(t: Tensor, axes: dict[int, int]) -> Tensor:
    """``t`` with each axis in ``axes`` cut or grown to its new size (growing repeats the last entry)."""
    data = t._array
    for axis, b in axes.items():
        n = data.shape[axis]
        if n == 0:  # an empty example axis grows with zeros
            data = np.zeros(data.shape[:axis] + (b,) + data.shape[axis + 1 :], data.dtype)
            continue
        idx = np.arange(b) if b <= n else np.concatenate([np.arange(n), np.full(b - n, n - 1)])
        data = np.take(data, idx, axis=axis)
    return Tensor(np.ascontiguousarray(data))


def _run(model: Module, tensors: list[Tensor]) -> tuple[list[Call], list[Tensor]]:
    with record(model) as calls:
        out = model(*tensors)
    return calls, _flatten(out, type(model).__name__)


def export(
    model: Module,
    args: Any,
    f: str | os.PathLike,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: dict[str, Any] | None = None,
    opset_version: int = 17,
    do_constant_folding: bool = True,
    verbose: bool = False,
) -> Any:
    """Trace ``model(*args)`` in eval mode and write the ONNX graph to ``f`` (PyTorch's signature).

    ``dynamic_axes`` maps an input or output name to the axes that may change
    (``{"x": {0: "batch"}}`` or ``{"x": [0]}``). Returns the ``onnx.ModelProto``.
    """
    import onnx
    from chainrule.onnx import translate
    from onnx import helper

    if opset_version < 17:
        raise ExportError(f"onnx export: opset_version must be at least 17, got {opset_version}")
    tensors = _as_tensors(args)
    input_names = list(input_names or [f"input_{i}" for i in range(len(tensors))])
    if len(input_names) != len(tensors):
        raise ExportError(f"onnx export: {len(input_names)} input_names for {len(tensors)} inputs")
    dynamic_axes = {k: _axes(v) for k, v in (dynamic_axes or {}).items()}
    unknown = set(dynamic_axes) - set(input_names) - set(output_names or [])
    if unknown:
        raise ExportError(
            f"onnx export: dynamic_axes names {sorted(unknown)}, which are no input or output name"
        )
    was_training = model.training
    model.eval()
    try:
        calls, outs = _run(model, tensors)
        calls_b = None
        dims: list[tuple[str, int, int, int]] = []
        in_dyn = {n: dynamic_axes[n] for n in input_names if n in dynamic_axes}
        if in_dyn:
            calls_b, outs_b, dims = _second_run(model, tensors, input_names, in_dyn)
            if [c.op for c in calls] != [c.op for c in calls_b]:
                raise ExportError(
                    "onnx export: the model runs different ops when a dynamic axis changes size "
                    "(data-dependent control flow); export without dynamic_axes"
                )
    finally:
        model.train(was_training)

    params = {}
    for name, t in [*model.named_parameters(), *model.named_buffers()]:
        if t is not None:
            params[id(t)] = params[id(t._array)] = name
    inputs = {}
    for t, n in zip(tensors, input_names, strict=True):
        inputs[id(t)] = n
        inputs[id(t._array)] = n
    g = Graph(params, inputs, dims)
    for i, call in enumerate(calls):
        tensor_args = _tensor_args(call.args)
        if do_constant_folding and not any(g.is_live(x) for x in tensor_args):
            continue  # folded: a later use takes the traced value as a constant
        g.call, g.call_b = call, (calls_b[i] if calls_b is not None else None)
        translate.emit(g, call)
    g.call = g.call_b = None

    output_names = list(output_names or [f"output_{i}" for i in range(len(outs))])
    if len(output_names) != len(outs):
        raise ExportError(f"onnx export: {len(output_names)} output_names for {len(outs)} outputs")
    for t, n in zip(outs, output_names, strict=True):
        src = g.val(t)  # an input returned as it is (Identity, Dropout in eval) names the input
        g.nodes.append(helper.make_node("Identity", [src], [n], name=g.fresh("Output")))
    used = {i for n in g.nodes for i in n.input}
    unused = [n for n in input_names if n not in used]
    if unused:
        raise ExportError(
            f"onnx export: input(s) {unused} reach no op of the graph: {type(model).__name__} reads them "
            "outside chainrule's ops (through .data or NumPy), so the export would bake in the example's "
            "values; compute with Tensor ops, or leave the input out"
        )

    def info(name: str, t: Tensor, tb: Tensor | None) -> Any:
        shape: list[Any] = list(t.shape)
        for ax, label in dynamic_axes.get(name, {}).items():
            shape[ax] = label
        if tb is not None:
            for ax, (a, b) in enumerate(zip(t.shape, tb.shape, strict=True)):
                if a != b and not isinstance(shape[ax], str):
                    shape[ax] = f"{name}_dim_{ax}"
        return helper.make_tensor_value_info(name, onnx_dtype(t.dtype), shape)

    graph_inputs = [info(n, t, None) for t, n in zip(tensors, input_names, strict=True)]
    graph_outputs = [
        info(n, t, outs_b[i] if calls_b is not None else None)
        for i, (t, n) in enumerate(zip(outs, output_names, strict=True))
    ]
    used = {i for n in g.nodes for i in n.input}
    inits = [
        onnx.numpy_helper.from_array(np.array(v, order="C"), name=k)
        for k, v in g.initializers.items()
        if k in used
    ]
    graph = helper.make_graph(g.nodes, type(model).__name__, graph_inputs, graph_outputs, inits)
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset_version)], producer_name="chainrule"
    )
    proto.ir_version = min(proto.ir_version, 9)
    onnx.checker.check_model(proto)
    if verbose:
        print(helper.printable_graph(graph))
    onnx.save(proto, os.fspath(f))
    return proto


def _tensor_args(args: dict[str, Any]) -> list[Any]:
    found = []
    for v in args.values():
        if isinstance(v, (Tensor, np.ndarray)):
            found.append(v)
        elif isinstance(v, (tuple, list)):
            found += [x for x in v if isinstance(x, (Tensor, np.ndarray))]
    return found
