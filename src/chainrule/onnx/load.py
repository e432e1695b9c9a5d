"""``load(path) -> OnnxModule``: run an ONNX graph node by node with chainrule's differentiable ops.

The graph's float initializers become Parameters under their own names (a
dotted name is a path of submodules, so ``state_dict()`` keys are the
initializer names and PyTorch's or chainrule's weights load by name); running
statistics become buffers; small or unnamed constants (``onnx::``, ``const_``,
0-d scalars, integer shapes) stay constants. The module runs, back-propagates
and fine-tunes like any other: optimizers, the Trainer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import ops
from chainrule.nn import functional as F  # noqa: N812
from chainrule.nn.module import Module, Parameter
from chainrule.ops import elementwise as ew
from chainrule.ops import pointwise
from chainrule.ops import shape as sh
from chainrule.tensor import Tensor

__all__ = ["OnnxImportError", "OnnxModule", "load"]

_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


class OnnxImportError(ValueError):
    """The ONNX graph uses an operator or attribute the importer does not run (the message names the node)."""


def _is_constant_name(name: str, value: np.ndarray) -> bool:
    return (
        value.dtype.kind != "f"
        or value.ndim == 0
        or name.startswith(("onnx::", "const_", "/"))
        or not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*", name)
    )


class OnnxModule(Module):
    """An ONNX graph as a chainrule module: ``forward(*inputs)`` returns the graph's output(s)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        from onnx import numpy_helper

        graph = model.graph
        object.__setattr__(self, "_graph", graph)
        object.__setattr__(self, "_constants", {})
        object.__setattr__(self, "_slots", {})  # initializer name -> (module, attribute)
        for init in graph.initializer:
            value = numpy_helper.to_array(init).copy()
            if _is_constant_name(init.name, value):
                self._constants[init.name] = Tensor(value)
                continue
            *path, leaf = init.name.split(".")
            owner: Module = self
            for part in path:
                child = owner._modules.get(part)
                if child is None:
                    child = Module()
                    owner.add_module(part, child)
                owner = child
            if leaf.endswith(_BUFFER_SUFFIXES):
                owner.register_buffer(leaf, Tensor(value))
            else:
                owner.register_parameter(leaf, Parameter(value))
            self._slots[init.name] = (owner, leaf)
        self.input_names = [i.name for i in graph.input if i.name not in {x.name for x in graph.initializer}]
        self.output_names = [o.name for o in graph.output]
        for node in graph.node:
            if node.op_type not in RUNNERS:
                raise OnnxImportError(
                    f"onnx load: operator {node.op_type} (node {node.name or node.output[0]!r}) is not supported; "  # noqa: E501
                    f"supported: {', '.join(sorted(RUNNERS))}"
                )

    def forward(self, *inputs: Any) -> Any:
        if len(inputs) != len(self.input_names):
            raise ValueError(
                f"OnnxModule: the graph takes {len(self.input_names)} inputs {self.input_names}, got {len(inputs)}"  # noqa: E501
            )
        env: dict[str, Any] = dict(self._constants)
        for name, (owner, leaf) in self._slots.items():
            env[name] = getattr(owner, leaf)
        for name, x in zip(self.input_names, inputs, strict=True):
            env[name] = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        for node in self._graph.node:
            args = [env[n] if n else None for n in node.input]
            attrs = _attributes(node)
            try:
                out = RUNNERS[node.op_type](args, attrs)
            except (ValueError, TypeError, IndexError, KeyError) as e:
                raise OnnxImportError(f"onnx load: node {node.name!r} ({node.op_type}): {e}") from e
            outs = out if isinstance(out, tuple) else (out,)
            for n, v in zip(node.output, outs, strict=False):
                if n:
                    env[n] = v
        result = [env[n] for n in self.output_names]
        return result[0] if len(result) == 1 else tuple(result)


def load(path: str | os.PathLike | Any) -> OnnxModule:
    """Build a chainrule module from an ONNX file (or a loaded ``ModelProto``)."""
    import onnx

    model = path if hasattr(path, "graph") else onnx.load(os.fspath(path))
    return OnnxModule(model)


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


# -- the operators ----------------------------------------------------------------
RUNNERS: dict[str, Callable[[list[Any], dict[str, Any]], Any]] = {}


def _run(*names: str) -> Callable:
    def deco(fn: Callable) -> Callable:
        for n in names:
            RUNNERS[n] = fn
        return fn

    return deco


def _ints(t: Any) -> list[int]:
    return [int(v) for v in np.asarray(t._array if isinstance(t, Tensor) else t).reshape(-1)]


_BINARY = {"Add": ew.add, "Sub": ew.sub, "Mul": ew.mul, "Div": ew.div, "Pow": ew.pow}
for _n, _f in _BINARY.items():
    RUNNERS[_n] = lambda a, k, f=_f, n=_n: _binary(f, n, a)


def _binary(fn: Callable, name: str, args: list[Any]) -> Tensor:
    a, b = args
    if name == "Div" and a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return Tensor(np.floor_divide(a._array, b._array))
    if a.dtype.kind in "iu" and b.dtype.kind in "iu" and not (a.requires_grad or b.requires_grad):
        return Tensor(
            {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power}[name](a._array, b._array)
        )
    return fn(a, b)


RUNNERS["Max"] = lambda a, k: _fold(ew.maximum, a)
RUNNERS["Min"] = lambda a, k: _fold(ew.minimum, a)


def _fold(fn: Callable, args: list[Any]) -> Tensor:
    out = args[0]
    for b in args[1:]:
        out = fn(out, b)
    return out


_UNARY = {
    "Neg": ew.neg, "Exp": ew.exp, "Log": ew.log, "Sqrt": ew.sqrt, "Abs": ew.abs, "Sin": ew.sin, "Cos": ew.cos,
    "Tanh": ew.tanh, "Sigmoid": ew.sigmoid, "Relu": F.relu, "Floor": ew.floor, "Ceil": ew.ceil,
    "Reciprocal": ew.reciprocal, "Erf": pointwise.erf, "Softplus": F.softplus, "Not": None,
    "Tan": pointwise.tan, "Asin": pointwise.asin, "Acos": pointwise.acos, "Atan": pointwise.atan,
    "Sinh": pointwise.sinh, "Cosh": pointwise.cosh, "Asinh": pointwise.asinh, "Acosh": pointwise.acosh,
    "Atanh": pointwise.atanh, "Softsign": pointwise.softsign,
}  # fmt: skip
for _n, _f in _UNARY.items():
    if _f is not None:
        RUNNERS[_n] = lambda a, k, f=_f: f(a[0])
RUNNERS["Identity"] = lambda a, k: a[0]
RUNNERS["Not"] = lambda a, k: Tensor(~a[0]._array)
RUNNERS["IsNaN"] = lambda a, k: Tensor(np.isnan(a[0]._array))
RUNNERS["IsInf"] = lambda a, k: Tensor(np.isinf(a[0]._array))
RUNNERS["Sign"] = lambda a, k: pointwise.sign(a[0])
RUNNERS["LeakyRelu"] = lambda a, k: F.leaky_relu(a[0], k.get("alpha", 0.01))
RUNNERS["HardSigmoid"] = lambda a, k: ew.clamp(a[0] * k.get("alpha", 0.2) + k.get("beta", 0.5), 0.0, 1.0)
RUNNERS["HardSwish"] = lambda a, k: F.hardswish(a[0])
RUNNERS["Elu"] = lambda a, k: F.elu(a[0], k.get("alpha", 1.0))
RUNNERS["Selu"] = lambda a, k: F.selu(a[0])
RUNNERS["Softmax"] = lambda a, k: F.softmax(a[0], k.get("axis", -1))
RUNNERS["LogSoftmax"] = lambda a, k: F.log_softmax(a[0], k.get("axis", -1))
RUNNERS["MatMul"] = lambda a, k: ops.linalg.matmul(a[0], a[1])
RUNNERS["Transpose"] = lambda a, k: sh.permute(a[0], *(k.get("perm") or range(a[0].ndim)[::-1]))

_COMPARE = {"Greater": np.greater, "Less": np.less, "Equal": np.equal, "GreaterOrEqual": np.greater_equal,
            "LessOrEqual": np.less_equal, "And": np.logical_and, "Or": np.logical_or,
            "Xor": np.logical_xor}  # fmt: skip
for _n, _f in _COMPARE.items():
    RUNNERS[_n] = lambda a, k, f=_f: Tensor(f(a[0]._array, a[1]._array))


@_run("Cast")
def _cast(args: list[Any], k: dict) -> Tensor:
    from onnx import helper

    dtype = helper.tensor_dtype_to_np_dtype(k["to"])
    x = args[0]
    if x.dtype == dtype:
        return x
    if dtype.kind == "f" and x.dtype.kind == "f":
        return ew.cast(x, dtype)
    return Tensor(x._array.astype(dtype))


@_run("Where")
def _where(args: list[Any], k: dict) -> Tensor:
    cond, a, b = args
    return ew.where(cond._array.astype(bool), a, b)


@_run("Clip")
def _clip(args: list[Any], k: dict) -> Tensor:
    x = args[0]
    lo = args[1] if len(args) > 1 and args[1] is not None else None
    hi = args[2] if len(args) > 2 and args[2] is not None else None
    if lo is not None:
        x = ew.maximum(x, lo)
    if hi is not None:
        x = ew.minimum(x, hi)
    return x


@_run("Gemm")
def _gemm(args: list[Any], k: dict) -> Tensor:
    a, b = args[0], args[1]
    if k.get("transA"):
        a = sh.transpose(a, 0, 1)
    if k.get("transB"):
        b = sh.transpose(b, 0, 1)
    y = ops.linalg.matmul(a, b)
    if k.get("alpha", 1.0) != 1.0:
        y = y * k["alpha"]
    if len(args) > 2 and args[2] is not None:
        c = args[2] if k.get("beta", 1.0) == 1.0 else args[2] * k["beta"]
        y = y + c
    return y


def _pads(k: dict, n: int) -> tuple[list[int], list[int]]:
    pads = list(k.get("pads", [0] * 2 * n))
    if k.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise ValueError(f"auto_pad={k['auto_pad']!r} is not supported (give explicit pads)")
    return pads[:n], pads[n:]


@_run("Conv")
def _conv(args: list[Any], k: dict) -> Tensor:
    x, w = args[0], args[1]
    b = args[2] if len(args) > 2 else None
    n = w.ndim - 2
    begin, end = _pads(k, n)
    stride = tuple(k.get("strides", [1] * n))
    dilation = tuple(k.get("dilations", [1] * n))
    groups = int(k.get("group", 1))
    if begin != end:
        x = sh.pad(x, [p for lo, hi in zip(begin[::-1], end[::-1], strict=True) for p in (lo, hi)])
        begin = [0] * n
    if n == 1:
        return F.conv1d(x, w, b, stride[0], begin[0], dilation[0], groups)
    return F.conv2d(x, w, b, stride, tuple(begin), dilation, groups)


@_run("ConvTranspose")
def _conv_transpose(args: list[Any], k: dict) -> Tensor:
    x, w = args[0], args[1]
    b = args[2] if len(args) > 2 else None
    begin, end = _pads(k, 2)
    if begin != end or w.ndim != 4:
        raise ValueError(
            f"ConvTranspose with pads {k.get('pads')} on a {w.ndim - 2}-D kernel is not supported"
        )
    return F.conv_transpose2d(x, w, b, tuple(k.get("strides", [1, 1])), tuple(begin),
                              tuple(k.get("output_padding", [0, 0])), int(k.get("group", 1)),
                              tuple(k.get("dilations", [1, 1])))  # fmt: skip


def _pool(args: list[Any], k: dict, fn: Callable, **extra: Any) -> Tensor:
    x = args[0]
    kernel = list(k["kernel_shape"])
    n = len(kernel)
    begin, end = _pads(k, n)
    if begin != end:
        raise ValueError(f"asymmetric pads {k['pads']} in pooling are not supported")
    stride = list(k.get("strides", [1] * n))
    if n == 1:
        x = sh.unsqueeze(x, -2)
        kernel, stride, begin = [1, *kernel], [1, *stride], [0, *begin]
        if "dilation" in extra:
            extra["dilation"] = (1, *extra["dilation"])
    y = fn(x, tuple(kernel), tuple(stride), tuple(begin), ceil_mode=bool(k.get("ceil_mode", 0)), **extra)
    return sh.squeeze(y, -2) if n == 1 else y


RUNNERS["MaxPool"] = lambda a, k: _pool(
    a, k, F.max_pool2d, dilation=tuple(k.get("dilations", [1] * len(k["kernel_shape"])))
)
RUNNERS["AveragePool"] = lambda a, k: _pool(
    a, k, F.avg_pool2d, count_include_pad=bool(k.get("count_include_pad", 0))
)
RUNNERS["GlobalAveragePool"] = lambda a, k: a[0].mean(dim=tuple(range(2, a[0].ndim)), keepdim=True)
RUNNERS["Flatten"] = lambda a, k: sh.reshape(a[0], int(np.prod(a[0].shape[: k.get("axis", 1)])), -1)


@_run("BatchNormalization")
def _batchnorm(args: list[Any], k: dict) -> Tensor:
    x, w, b, mean, var = args[:5]
    return F.batch_norm(x, mean, var, w, b, False, 0.0, k.get("epsilon", 1e-5))


@_run("LayerNormalization")
def _layernorm(args: list[Any], k: dict) -> Tensor:
    x, w = args[0], args[1]
    b = args[2] if len(args) > 2 else None
    axis = k.get("axis", -1) % x.ndim
    return F.layer_norm(x, x.shape[axis:], w, b, k.get("epsilon", 1e-5))


def _reduce_axes(args: list[Any], k: dict) -> tuple[int, ...] | None:
    if "axes" in k:
        return tuple(k["axes"])
    if len(args) > 1 and args[1] is not None and args[1]._array.size:
        return tuple(_ints(args[1]))
    return None


def _reducer(method: str) -> Callable:
    def run(args: list[Any], k: dict) -> Tensor:
        x = args[0]
        axes = _reduce_axes(args, k)
        if axes is None and k.get("noop_with_empty_axes"):
            return x
        dims = tuple(range(x.ndim)) if axes is None else axes
        keep = bool(k.get("keepdims", 1))
        if method == "l2":
            return ew.sqrt((x * x).sum(dim=dims, keepdim=keep))
        if method == "l1":
            return ew.abs(x).sum(dim=dims, keepdim=keep)
        return getattr(x, method)(dim=dims, keepdim=keep)

    return run


for _n, _m in {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "amax", "ReduceMin": "amin",
               "ReduceProd": "prod", "ReduceLogSumExp": "logsumexp", "ReduceL2": "l2", "ReduceL1": "l1"}.items():  # fmt: skip  # noqa: E501
    RUNNERS[_n] = _reducer(_m)


@_run("Reshape")
def _reshape(args: list[Any], k: dict) -> Tensor:
    x = args[0]
    shape = _ints(args[1])
    shape = [x.shape[i] if v == 0 and not k.get("allowzero") else v for i, v in enumerate(shape)]
    return sh.reshape(x, tuple(shape))


@_run("Expand")
def _expand(args: list[Any], k: dict) -> Tensor:
    x = args[0]
    target = np.broadcast_shapes(x.shape, tuple(_ints(args[1])))
    return sh.expand(x, *target)


@_run("Shape")
def _shape(args: list[Any], k: dict) -> Tensor:
    shape = np.array(args[0].shape, dtype=np.int64)
    start, end = k.get("start", 0), k.get("end", None)
    return Tensor(shape[start:end])


@_run("Size")
def _size(args: list[Any], k: dict) -> Tensor:
    return Tensor(np.array(int(np.prod(args[0].shape)), dtype=np.int64))


@_run("Constant")
def _constant(args: list[Any], k: dict) -> Tensor:
    from onnx import numpy_helper

    if "value" in k:
        return Tensor(numpy_helper.to_array(k["value"]).copy())
    for key in ("value_float", "value_int"):
        if key in k:
            return Tensor(np.array(k[key], dtype=np.float32 if key == "value_float" else np.int64))
    for key in ("value_floats", "value_ints"):
        if key in k:
            return Tensor(np.array(k[key], dtype=np.float32 if key == "value_floats" else np.int64))
    raise ValueError(f"Constant with attributes {sorted(k)} is not supported")


@_run("ConstantOfShape")
def _constant_of_shape(args: list[Any], k: dict) -> Tensor:
    from onnx import numpy_helper

    value = numpy_helper.to_array(k["value"]) if "value" in k else np.zeros(1, np.float32)
    return Tensor(np.full(tuple(_ints(args[0])), value.reshape(-1)[0], dtype=value.dtype))


@_run("Range")
def _range(args: list[Any], k: dict) -> Tensor:
    start, limit, delta = (a._array for a in args)
    return Tensor(np.arange(start, limit, delta).astype(start.dtype))


@_run("Concat")
def _concat(args: list[Any], k: dict) -> Tensor:
    parts = [a for a in args if a is not None]
    if all(p.dtype.kind in "iu" and not p.requires_grad for p in parts):
        return Tensor(np.concatenate([p._array for p in parts], axis=k["axis"]))
    return sh.cat(parts, dim=k["axis"])


@_run("Unsqueeze")
def _unsqueeze(args: list[Any], k: dict) -> Tensor:
    axes = tuple(k["axes"]) if "axes" in k else tuple(_ints(args[1]))
    out_nd = args[0].ndim + len(axes)
    shape = list(args[0].shape)
    for ax in sorted(a % out_nd for a in axes):
        shape.insert(ax, 1)
    return sh.reshape(args[0], tuple(shape))


@_run("Squeeze")
def _squeeze(args: list[Any], k: dict) -> Tensor:
    x = args[0]
    axes = (
        tuple(k["axes"])
        if "axes" in k
        else (tuple(_ints(args[1])) if len(args) > 1 and args[1] is not None else None)
    )
    if axes is None:
        return sh.reshape(x, tuple(n for n in x.shape if n != 1))
    drop = {a % x.ndim for a in axes}
    return sh.reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in drop))


@_run("Slice")
def _slice(args: list[Any], k: dict) -> Tensor:
    x = args[0]
    starts, ends = _ints(args[1]), _ints(args[2])
    axes = _ints(args[3]) if len(args) > 3 and args[3] is not None else list(range(len(starts)))
    steps = _ints(args[4]) if len(args) > 4 and args[4] is not None else [1] * len(starts)
    key: list[Any] = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        # Python's slices clamp out-of-range bounds as ONNX does; a negative step
        # running past the front ends at None (an end of -1 would mean the last element)
        key[a % x.ndim] = slice(s, None if st < 0 and e < -x.shape[a] else e, st)
    return x[tuple(key)]


@_run("Gather")
def _gather(args: list[Any], k: dict) -> Tensor:
    x, idx = args
    axis = k.get("axis", 0) % x.ndim
    index = np.asarray(idx._array).astype(np.int64)
    if x.dtype.kind in "iu" and not x.requires_grad:
        return Tensor(np.take(x._array, index, axis=axis))
    if axis == 0 and index.ndim >= 1 and x.ndim == 2:
        return F.embedding(Tensor(np.where(index < 0, index + x.shape[0], index)), x)
    return x[(slice(None),) * axis + (index,)]


RUNNERS["GatherElements"] = lambda a, k: sh.gather(a[0], k.get("axis", 0), a[1]._array.astype(np.int64))
RUNNERS["Tile"] = lambda a, k: a[0].repeat(*_ints(a[1]))
RUNNERS["CumSum"] = lambda a, k: a[0].cumsum(int(a[1]._array))


@_run("Trilu")
def _trilu(args: list[Any], k: dict) -> Tensor:
    x = args[0]
    diag = int(args[1]._array) if len(args) > 1 and args[1] is not None else 0
    if x.dtype.kind != "f":
        fn = np.triu if k.get("upper", 1) else np.tril
        return Tensor(fn(x._array, diag))
    return x.triu(diag) if k.get("upper", 1) else x.tril(diag)


@_run("Pad")
def _pad(args: list[Any], k: dict) -> Tensor:
    x = args[0]
    pads = _ints(args[1])
    n = x.ndim
    value = float(args[2]._array) if len(args) > 2 and args[2] is not None else 0.0
    mode = k.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    pairs = list(zip(pads[:n], pads[n:], strict=True))
    while pairs and pairs[0] == (0, 0):
        pairs.pop(0)
    flat = [p for lo, hi in reversed(pairs) for p in (lo, hi)]
    mode = {"edge": "replicate", "wrap": "circular"}.get(mode, mode)
    return sh.pad(x, flat, mode=mode, value=value if mode == "constant" else None)


@_run("Dropout")
def _dropout(args: list[Any], k: dict) -> Any:
    return args[0]


@_run("Split")
def _split(args: list[Any], k: dict) -> tuple[Tensor, ...]:
    x = args[0]
    axis = k.get("axis", 0) % x.ndim
    sizes = _ints(args[1]) if len(args) > 1 and args[1] is not None else None
    if sizes is None:
        n = k["num_outputs"]
        sizes = [x.shape[axis] // n] * n
    out, start = [], 0
    for s in sizes:
        key = (slice(None),) * axis + (slice(start, start + s),)
        out.append(x[key])
        start += s
    return tuple(out)


@_run("Mod")
def _mod(args: list[Any], k: dict) -> Tensor:
    a, b = args
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        if k.get("fmod"):
            raise ValueError("Mod with fmod=1 on floats is not supported")
        return a - ew.floor(a / b) * b
    return Tensor((np.fmod if k.get("fmod") else np.mod)(a._array, b._array))


# -- recurrent operators: a loop over time with differentiable ops ------------------
def _act(name: Any) -> Callable:
    name = name.decode() if isinstance(name, bytes) else name
    return {"Tanh": ew.tanh, "Relu": F.relu, "Sigmoid": ew.sigmoid}[name]


def _recurrent(kind: str, args: list[Any], k: dict) -> tuple[Tensor, ...]:
    """ONNX's RNN/LSTM/GRU (layout 0): Y (T, directions, N, H), Y_h (directions, N, H)[, Y_c].

    LSTM gates in ONNX order i, o, f, c; GRU z, r, h; ``sequence_lens`` stops
    each sequence at its length (its state held, its later outputs zero).
    """
    args = args + [None] * (8 - len(args))
    x, w, r, b, seq_lens, h0 = args[:6]
    c0 = args[6] if kind == "LSTM" else None
    if k.get("layout", 0) != 0:
        raise ValueError("layout=1 (batch-first) recurrent nodes are not supported")
    if k.get("clip") is not None or k.get("input_forget"):
        raise ValueError("clip and input_forget are not supported")
    direction = k.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    dirs = 2 if direction == "bidirectional" else 1
    nh = int(k["hidden_size"])
    nt, nb = x.shape[0], x.shape[1]
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
    default = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"], "RNN": ["Tanh"]}[kind]
    acts = [_act(a) for a in k.get("activations", default * dirs)]
    lens = None if seq_lens is None else np.asarray(seq_lens._array).astype(np.int64)
    ys, hs, cs = [], [], []
    for d in range(dirs):
        f, g, h_act = (acts[d * len(default) + i] if i < len(default) else None for i in range(3))
        wd, rd = w[d], r[d]
        wb = b[d][: gates * nh] if b is not None else None
        rb = b[d][gates * nh :] if b is not None else None
        xw = ops.linalg.matmul(x, sh.transpose(wd, 0, 1))  # (T, N, G*H)
        if wb is not None:
            xw = xw + wb
        h = h0[d] if h0 is not None else Tensor(np.zeros((nb, nh), x.dtype))
        c = c0[d] if c0 is not None else Tensor(np.zeros((nb, nh), x.dtype))
        reverse = direction == "reverse" or d == 1
        steps = range(nt - 1, -1, -1) if reverse else range(nt)
        outs: list[Any] = [None] * nt
        for t in steps:
            xt = xw[t]
            hr = ops.linalg.matmul(h, sh.transpose(rd, 0, 1))
            if kind == "LSTM":
                z = xt + hr + (rb if rb is not None else 0.0)
                i_g, o_g, f_g, c_g = (z[:, j * nh : (j + 1) * nh] for j in range(4))
                c_new = f(f_g) * c + f(i_g) * g(c_g)
                h_new = f(o_g) * h_act(c_new)
            elif kind == "GRU":
                rz = hr[:, : 2 * nh] + (rb[: 2 * nh] if rb is not None else 0.0)
                z_g = f(xt[:, :nh] + rz[:, :nh])
                r_g = f(xt[:, nh : 2 * nh] + rz[:, nh:])
                if k.get("linear_before_reset", 0):
                    hh = hr[:, 2 * nh :] + (rb[2 * nh :] if rb is not None else 0.0)
                    n_g = g(xt[:, 2 * nh :] + r_g * hh)
                else:
                    hh = ops.linalg.matmul(r_g * h, sh.transpose(rd[2 * nh :], 0, 1))
                    n_g = g(xt[:, 2 * nh :] + hh + (rb[2 * nh :] if rb is not None else 0.0))
                h_new = (1.0 - z_g) * n_g + z_g * h
                c_new = c
            else:
                h_new = f(xt + hr + (rb if rb is not None else 0.0))
                c_new = c
            if lens is not None:
                live = (t < lens)[:, None]
                h_new = ew.where(live, h_new, h)
                c_new = ew.where(live, c_new, c)
                outs[t] = ew.where(live, h_new, 0.0)
            else:
                outs[t] = h_new
            h, c = h_new, c_new
        ys.append(sh.stack(outs, dim=0))
        hs.append(h)
        cs.append(c)
    y = sh.stack(ys, dim=1)
    result = (y, sh.stack(hs, dim=0))
    return (*result, sh.stack(cs, dim=0)) if kind == "LSTM" else result


for _n in ("RNN", "LSTM", "GRU"):
    RUNNERS[_n] = lambda a, k, n=_n: _recurrent(n, a, k)
