"""Each recorded op as ONNX nodes (opset 17): one small function per chainrule Function.

A translator reads the op's arguments through ``g.arg`` (traced values,
parameters or constants) and its options from ``call.args``; it binds the
op's output to the name of the last node it adds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.onnx.export import INT_MAX, Graph, onnx_dtype
from chainrule.onnx.trace import Call
from chainrule.tensor import Tensor

__all__ = ["TRANSLATORS", "emit"]

TRANSLATORS: dict[str, Callable[[Graph, Call], str]] = {}


def emit(g: Graph, call: Call) -> None:
    """Add the nodes of one recorded op to ``g``; an op with no translation fails naming it and its layer."""
    fn = TRANSLATORS.get(call.name)
    if fn is None:
        raise g.fail("has no ONNX translation (supported: " + ", ".join(sorted(TRANSLATORS)) + ")")
    name = fn(g, call)
    if name is not None:  # a layer recorded whole binds its outputs itself
        g.bind(call.out, name, call.out_array)


def _op(*names: str) -> Callable:
    def deco(fn: Callable) -> Callable:
        for n in names:
            TRANSLATORS[n] = fn
        return fn

    return deco


def _c(g: Graph, value: Any, call: Call) -> str:
    """A scalar constant in the output's dtype."""
    return g.const(np.array(value, dtype=call.out.dtype))


def _axes_const(axes: Any) -> Any:
    return np.array(list(axes), dtype=np.int64)


# -- elementwise ---------------------------------------------------------------
_BINARY = {
    "Add": "Add",
    "Sub": "Sub",
    "Mul": "Mul",
    "Div": "Div",
    "Pow": "Pow",
    "Maximum": "Max",
    "Minimum": "Min",
}


def _binary(g: Graph, call: Call) -> str:
    a, b = call.args["a"], call.args["b"]
    na = g.arg("a") if not np.isscalar(a) else _c(g, a, call)
    nb = g.arg("b") if not np.isscalar(b) else _c(g, b, call)
    return g.node(_BINARY[call.name], [na, nb])


for _name in _BINARY:
    TRANSLATORS[_name] = _binary

_UNARY = {
    "Neg": "Neg", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Abs": "Abs", "Sin": "Sin", "Cos": "Cos",
    "Tanh": "Tanh", "Sigmoid": "Sigmoid", "Relu": "Relu", "Floor": "Floor", "Ceil": "Ceil",
    "Reciprocal": "Reciprocal", "Clone": "Identity", "Erf": "Erf", "Tan": "Tan", "Asin": "Asin",
    "Acos": "Acos", "Atan": "Atan", "Sinh": "Sinh", "Cosh": "Cosh", "Asinh": "Asinh", "Acosh": "Acosh",
    "Atanh": "Atanh", "Softsign": "Softsign", "Sign": "Sign",
}  # fmt: skip


def _unary(g: Graph, call: Call) -> str:
    return g.node(_UNARY[call.name], [g.arg("a")])


for _name in _UNARY:
    TRANSLATORS[_name] = _unary


@_op("Square")
def _square(g: Graph, call: Call) -> str:
    a = g.arg("a")
    return g.node("Mul", [a, a])


@_op("Rsqrt")
def _rsqrt(g: Graph, call: Call) -> str:
    return g.node("Reciprocal", [g.node("Sqrt", [g.arg("a")])])


@_op("Log2", "Log10", "Exp2")
def _log_base(g: Graph, call: Call) -> str:
    # log_b x = ln x / ln b;  2^x = exp(x ln 2)
    a = g.arg("a")
    if call.name == "Exp2":
        return g.node("Exp", [g.node("Mul", [a, _c(g, np.log(2.0), call)])])
    return g.node("Div", [g.node("Log", [a]), _c(g, np.log(2.0 if call.name == "Log2" else 10.0), call)])


@_op("Log1p")
def _log1p(g: Graph, call: Call) -> str:
    return g.node("Log", [g.node("Add", [g.arg("a"), _c(g, 1, call)])])


@_op("Expm1")
def _expm1(g: Graph, call: Call) -> str:
    return g.node("Sub", [g.node("Exp", [g.arg("a")]), _c(g, 1, call)])


def _operand(g: Graph, call: Call, key: str) -> str:
    """An argument that may be a Python number (taken in the output's dtype) or a tensor."""
    v = call.args[key]
    return _c(g, v, call) if np.isscalar(v) else g.arg(key)


@_op("Remainder", "Fmod")
def _remainder(g: Graph, call: Call) -> str:
    # Fmod takes the sign of a (C's fmod), Remainder that of b: a - b floor(a / b) for floats
    # (ONNX's Mod with fmod=0 takes integers only)
    a, b = _operand(g, call, "a"), _operand(g, call, "b")
    if call.name == "Fmod" or call.out.dtype.kind != "f":
        return g.node("Mod", [a, b], fmod=int(call.name == "Fmod"))
    return g.node("Sub", [a, g.node("Mul", [b, g.node("Floor", [g.node("Div", [a, b])])])])


@_op("Round")
def _round(g: Graph, call: Call) -> str:
    # half to even, as ONNX's Round; decimals scale by 10^|decimals| around it
    x, d = g.arg("a"), int(call.args["decimals"])
    if d == 0:
        return g.node("Round", [x])
    p = _c(g, 10.0 ** abs(d), call)
    if d > 0:
        return g.node("Div", [g.node("Round", [g.node("Mul", [x, p])]), p])
    return g.node("Mul", [g.node("Round", [g.node("Div", [x, p])]), p])


@_op("Trunc")
def _trunc(g: Graph, call: Call) -> str:
    # toward zero: sign(x) floor(|x|)
    x = g.arg("a")
    return g.node("Mul", [g.node("Sign", [x]), g.node("Floor", [g.node("Abs", [x])])])


@_op("NanToNum")
def _nan_to_num(g: Graph, call: Call) -> str:
    # NaN, inf and -inf replaced (the infinities by the dtype's extremes unless given)
    x, big = g.arg("a"), float(np.finfo(call.out.dtype).max)
    a = call.args
    pos, neg = (big if a["posinf"] is None else a["posinf"]), (-big if a["neginf"] is None else a["neginf"])
    pos = _c(g, pos, call) if np.isscalar(pos) else g.arg("posinf")
    neg = _c(g, neg, call) if np.isscalar(neg) else g.arg("neginf")
    inf = _c(g, np.inf, call)
    y = g.node("Where", [g.node("Equal", [x, g.node("Neg", [inf])]), neg, x])
    y = g.node("Where", [g.node("Equal", [x, inf]), pos, y])
    return g.node("Where", [g.node("IsNaN", [x]), _operand(g, call, "nan"), y])


@_op("Lerp")
def _lerp(g: Graph, call: Call) -> str:
    # PyTorch's two-sided form: start + w (end - start) for |w| < 0.5, end - (end - start)(1 - w) otherwise
    start, end, w = g.arg("start"), g.arg("end"), _operand(g, call, "weight")
    diff = g.node("Sub", [end, start])
    low = g.node("Add", [start, g.node("Mul", [w, diff])])
    high = g.node("Sub", [end, g.node("Mul", [diff, g.node("Sub", [_c(g, 1, call), w])])])
    return g.node("Where", [g.node("Less", [g.node("Abs", [w]), _c(g, 0.5, call)]), low, high])


@_op("PowScalar")
def _pow_scalar(g: Graph, call: Call) -> str:
    return g.node("Pow", [g.arg("a"), _c(g, call.args["p"], call)])


@_op("Cast")
def _cast(g: Graph, call: Call) -> str:
    return g.node("Cast", [g.arg("a")], to=onnx_dtype(call.out.dtype))


@_op("Clamp", "Hardtanh")
def _clamp(g: Graph, call: Call) -> str:
    x = g.arg("a")
    lo, hi = call.args["lo"], call.args["hi"]
    if lo is not None:
        x = g.node("Max", [x, g.arg("lo") if not np.isscalar(lo) else _c(g, lo, call)])
    if hi is not None:
        x = g.node("Min", [x, g.arg("hi") if not np.isscalar(hi) else _c(g, hi, call)])
    return x


@_op("Where")
def _where(g: Graph, call: Call) -> str:
    names = []
    for k in ("a", "b"):
        v = call.args[k]
        names.append(_c(g, v, call) if np.isscalar(v) else g.arg(k))
    cond = g.arg("cond")
    if call.args["cond"].dtype != np.bool_:
        cond = g.node("Cast", [cond], to=9)
    return g.node("Where", [cond, *names])


@_op("MaskedFill")
def _masked_fill(g: Graph, call: Call) -> str:
    mask = g.arg("mask")
    m = call.args["mask"]
    if getattr(m, "dtype", np.bool_) != np.bool_:
        mask = g.node("Cast", [mask], to=9)
    v = call.args["value"]
    value = _c(g, v, call) if np.isscalar(v) else g.arg("value")
    return g.node("Where", [mask, value, g.arg("a")])


# -- ops without a derivative (recorded by name: comparisons, logic, integer casts) ----
_COMPARE = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual"}
_LOGIC = {"logical_and": "And", "logical_or": "Or", "logical_xor": "Xor",
          "bitwise_and": "And", "bitwise_or": "Or", "bitwise_xor": "Xor"}  # fmt: skip


def _operands(g: Graph, call: Call, dtype: Any = None) -> list[str]:
    """The op's operands as graph names, all of one dtype: ``dtype``, else the tensors' common one.

    A Python number takes the tensors' dtype (PyTorch's rule: ``ids != 0``
    compares in the ids' dtype).
    """
    ops = call.args["operands"]
    if dtype is None:
        dtype = np.result_type(*[x._array for x in ops if isinstance(x, Tensor)])
    names = []
    for i, x in enumerate(ops):
        if not isinstance(x, Tensor):
            names.append(g.const(np.array(x, dtype=dtype)))
            continue
        name = g.arg("operands", i)
        names.append(name if x.dtype == dtype else g.node("Cast", [name], to=onnx_dtype(dtype)))
    return names


@_op(*_COMPARE, "ne")
def _compare(g: Graph, call: Call) -> str:
    a, b = _operands(g, call)
    if call.name == "ne":
        return g.node("Not", [g.node("Equal", [a, b])])
    return g.node(_COMPARE[call.name], [a, b])


@_op(*_LOGIC)
def _logic(g: Graph, call: Call) -> str:
    if call.name.startswith("bitwise") and call.out.dtype != np.bool_:
        raise g.fail(f"{call.name} on {call.out.dtype} integers (ONNX's bitwise ops need opset 18); "
                     "use bool tensors")  # fmt: skip
    a, b = _operands(g, call, np.bool_)
    return g.node(_LOGIC[call.name], [a, b])


@_op("logical_not", "bitwise_not")
def _not(g: Graph, call: Call) -> str:
    if call.name == "bitwise_not" and call.out.dtype != np.bool_:
        raise g.fail(
            f"bitwise_not on {call.out.dtype} integers (ONNX's BitwiseNot needs opset 18); use bool tensors"
        )
    return g.node("Not", _operands(g, call, np.bool_))


@_op("isnan", "isinf", "isfinite")
def _isnan(g: Graph, call: Call) -> str:
    (a,) = _operands(g, call)
    if call.name != "isfinite":
        return g.node("IsNaN" if call.name == "isnan" else "IsInf", [a])
    return g.node("Not", [g.node("Or", [g.node("IsNaN", [a]), g.node("IsInf", [a])])])


@_op("sign")
def _sign(g: Graph, call: Call) -> str:
    return g.node("Sign", _operands(g, call))


@_op("argmax", "argmin")
def _argmax(g: Graph, call: Call) -> str:
    # the index of the first largest (smallest) element along dim, or in the flattened tensor
    x, dim, keep = g.arg("operands", 0), call.args["dim"], bool(call.args["keepdim"])
    op = "ArgMax" if call.name == "argmax" else "ArgMin"
    if dim is not None:
        return g.node(op, [x], axis=int(dim), keepdims=int(keep))
    i = g.node(op, [g.node("Reshape", [x, g.const(np.array([-1], np.int64))])], axis=0, keepdims=int(keep))
    return g.node("Reshape", [i, g.const(np.ones(call.out.ndim, np.int64))]) if keep else i


@_op("any", "all")
def _any(g: Graph, call: Call) -> str:
    # nonzero as bool, then the largest (any) or smallest (all) as int32 (ONNX Runtime reduces no bools)
    (x,) = call.args["operands"]
    v = g.arg("operands", 0)
    if x.dtype != np.bool_:
        v = g.node("Cast", [v], to=9)
    axes = list(range(x.ndim)) if call.args["dim"] is None else [int(d) for d in call.args["dim"]]
    v = g.node("Cast", [v], to=6)
    r = g.node("ReduceMax" if call.name == "any" else "ReduceMin", [v], axes=axes,
               keepdims=int(call.args["keepdim"]))  # fmt: skip
    return g.node("Cast", [r], to=9)


@_op("topk")
def _topk(g: Graph, call: Call) -> str:
    # the indices of sort, argsort and topk: ONNX's TopK puts equal elements in index order, as the
    # stable sort does (descending keeps them in their original order too)
    k, kb = call.args["k"], (g.call_b.args["k"] if g.call_b is not None else None)
    kk = g.ints([k], None if kb is None else [kb], "k")
    outs = g.node("TopK", [g.arg("operands", 0), kk], n_out=2, axis=int(call.args["dim"]),
                  largest=int(call.args["largest"]), sorted=1)  # fmt: skip
    return outs[1]


@_op("one_hot")
def _one_hot(g: Graph, call: Call) -> str:
    # (idx[..., None] == arange(num_classes)) as int64
    (idx,) = call.args["operands"]
    i = g.arg("operands", 0)
    if idx.dtype != np.int64:
        i = g.node("Cast", [i], to=7)
    i = g.node("Unsqueeze", [i, g.const(_axes_const([-1]))])
    classes = g.const(np.arange(int(call.args["num_classes"]), dtype=np.int64))
    return g.node("Cast", [g.node("Equal", [i, classes])], to=7)


@_op("nonzero")
def _nonzero(g: Graph, call: Call) -> str:
    # ONNX's NonZero gives (ndim, count): transposed for nonzero(), one row per axis for as_tuple
    (x,) = call.args["operands"]
    v = g.arg("operands", 0)
    if x.ndim == 0:
        v = g.node("Reshape", [v, g.const(np.array([1], np.int64))])
    nz = g.node("NonZero", [v])
    if call.args["axis"] is None:
        return g.node("Transpose", [nz], perm=[1, 0])
    return g.node("Gather", [nz, g.const(np.int64(call.args["axis"]))], axis=0)


@_op("floor_divide")
def _floor_divide(g: Graph, call: Call) -> str:
    # floor(a / b), computed in float64 for integers (ONNX's integer Div truncates toward zero)
    dtype = call.out.dtype
    wide = dtype if dtype.kind == "f" else np.dtype(np.float64)
    q = g.node("Floor", [g.node("Div", _operands(g, call, wide))])
    return q if wide == dtype else g.node("Cast", [q], to=onnx_dtype(dtype))


@_op("assign")
def _assign(g: Graph, call: Call) -> str:
    # an in-place write (x += y, x.relu_(), x.fill_(v), x[key] = v): x now holds the value, in its shape
    target, value = call.args["operands"]
    dtype = target._array.dtype
    if isinstance(value, (Tensor, np.ndarray)):  # copy_ hands over the source's array
        v = g.arg("operands", 1)
        if value.dtype != dtype:
            v = g.node("Cast", [v], to=onnx_dtype(dtype))
        if value.shape == target.shape:
            return v
    else:
        v = g.const(np.asarray(value, dtype=dtype))
    if g.is_live(target):
        shape = g.node("Shape", [g.val(target)])
    else:  # a constant written with a traced value: only its shape counts
        b = g.arg_b("operands")
        shape = g.ints(target.shape, None if b is None else b[0].shape, "shape")
    return g.node("Expand", [v, shape])


# -- activations -----------------------------------------------------------------
@_op("LeakyRelu")
def _leaky(g: Graph, call: Call) -> str:
    slope = float(call.args["slope"])
    if call.out.dtype == np.float64 and float(np.float32(slope)) != slope:
        # an attribute is a float32: a float64 model keeps its slope whole as x > 0 ? x : slope x
        x = g.arg("a")
        return g.node(
            "Where", [g.node("Greater", [x, _c(g, 0, call)]), x, g.node("Mul", [x, _c(g, slope, call)])]
        )
    return g.node("LeakyRelu", [g.arg("a")], alpha=slope)


@_op("Hardsigmoid")
def _hardsigmoid(g: Graph, call: Call) -> str:
    return g.node("HardSigmoid", [g.arg("a")], alpha=1.0 / 6.0, beta=0.5)


@_op("Hardswish")
def _hardswish(g: Graph, call: Call) -> str:
    return g.node("HardSwish", [g.arg("a")])


@_op("Elu")
def _elu(g: Graph, call: Call) -> str:
    # scale * x (x > 0), scale * alpha * (exp(input_scale * x) - 1) (x <= 0)
    alpha, scale, input_scale = (float(call.args[k]) for k in ("alpha", "scale", "input_scale"))
    x = g.arg("a")
    pos = g.node("Relu", [x])
    neg = g.node("Min", [x, _c(g, 0, call)])
    if input_scale != 1.0:
        neg = g.node("Mul", [neg, _c(g, input_scale, call)])
    neg = g.node("Mul", [g.node("Sub", [g.node("Exp", [neg]), _c(g, 1, call)]), _c(g, alpha * scale, call)])
    if scale != 1.0:
        pos = g.node("Mul", [pos, _c(g, scale, call)])
    return g.node("Add", [pos, neg])


@_op("Gelu")
def _gelu(g: Graph, call: Call) -> str:
    x = g.arg("a")
    if call.args["approximate"] == "tanh":
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.node("Mul", [g.node("Mul", [x, x]), x])
        inner = g.node("Add", [x, g.node("Mul", [cube, _c(g, 0.044715, call)])])
        t = g.node("Tanh", [g.node("Mul", [inner, _c(g, np.sqrt(2 / np.pi), call)])])
    else:
        # 0.5 x (1 + erf(x / sqrt 2))
        t = g.node("Erf", [g.node("Mul", [x, _c(g, 1 / np.sqrt(2), call)])])
    return g.node("Mul", [g.node("Mul", [x, _c(g, 0.5, call)]), g.node("Add", [t, _c(g, 1, call)])])


@_op("Silu")
def _silu(g: Graph, call: Call) -> str:
    x = g.arg("a")
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


@_op("Softplus")
def _softplus(g: Graph, call: Call) -> str:
    # log(1 + exp(beta x)) / beta, x itself above the threshold
    x = g.arg("a")
    beta, threshold = float(call.args["beta"]), float(call.args["threshold"])
    bx = x if beta == 1.0 else g.node("Mul", [x, _c(g, beta, call)])
    sp = g.node("Softplus", [bx])
    if beta != 1.0:
        sp = g.node("Div", [sp, _c(g, beta, call)])
    big = g.node("Greater", [bx, _c(g, threshold, call)])
    return g.node("Where", [big, x, sp])


@_op("Mish")
def _mish(g: Graph, call: Call) -> str:
    x = g.arg("a")
    return g.node("Mul", [x, g.node("Tanh", [g.node("Softplus", [x])])])


@_op("LogSigmoid")
def _logsigmoid(g: Graph, call: Call) -> str:
    return g.node("Neg", [g.node("Softplus", [g.node("Neg", [g.arg("a")])])])


@_op("Softmax", "LogSoftmax")
def _softmax(g: Graph, call: Call) -> str:
    return g.node(call.name, [g.arg("a")], axis=int(call.args["dim"]))


# -- linear algebra, convolution, pooling -------------------------------------------
@_op("MatMul")
def _matmul(g: Graph, call: Call) -> str:
    a, b = g.arg("a"), g.arg("b")
    if call.args["b"].ndim == 1 and call.args["a"].ndim > 2:
        # A batch of matrices times a vector as (..., K) @ (K, 1), then the 1 squeezed away: the
        # same product, but ONNX Runtime 1.32's optimiser fuses a Transpose before a MatMul with a
        # 1-D right side into a wrong result (x.permute(0, 2, 1) @ v: errors of order 1)
        axis = g.const(_axes_const([-1]))
        return g.node("Squeeze", [g.node("MatMul", [a, g.node("Unsqueeze", [b, axis])]), axis])
    return g.node("MatMul", [a, b])


@_op("Linear")
def _linear(g: Graph, call: Call) -> str:
    x, w = g.arg("x"), g.arg("weight")
    b = g.arg("bias") if call.args["bias"] is not None else None
    if call.args["x"].ndim == 2:
        return g.node("Gemm", [x, w, *([b] if b else [])], transB=1)
    y = g.node("MatMul", [x, g.node("Transpose", [w], perm=[1, 0])])
    return g.node("Add", [y, b]) if b else y


@_op("ConvNd", "ConvTransposeNd")
def _conv(g: Graph, call: Call) -> str:
    a = call.args
    w = a["w"]
    pt, pb, pl, pr = a["pads"]
    attrs: dict[str, Any] = {"group": int(a["groups"])}
    if w.ndim == 3:  # conv1d runs as 2-D with H = 1
        attrs.update(strides=[a["stride"][1]], dilations=[a["dilation"][1]], pads=[pl, pr])
        if "output_padding" in a:
            attrs["output_padding"] = [a["output_padding"][-1]]
    else:
        attrs.update(strides=list(a["stride"]), dilations=list(a["dilation"]), pads=[pt, pl, pb, pr])
        if "output_padding" in a:
            attrs["output_padding"] = list(a["output_padding"])
    inputs = [g.arg("x"), g.arg("w")] + ([g.arg("b")] if a["b"] is not None else [])
    if "output_padding" in a and any(o >= s for o, s in zip(attrs["output_padding"], attrs["strides"])):
        return _conv_transpose_wide_padding(g, inputs, attrs)
    return g.node("Conv" if call.name == "ConvNd" else "ConvTranspose", inputs, **attrs)


def _conv_transpose_wide_padding(g: Graph, inputs: list[str], attrs: dict[str, Any]) -> str:
    # PyTorch allows output_padding o up to max(stride, dilation) - 1, ONNX Runtime only below the
    # stride. The o extra rows are the full output's rows after the end crop p: crop p - o at the end
    # instead, and where o > p the rows past the full output are zeros (Pad); the bias comes last
    n = len(attrs["strides"])
    begin, end = attrs["pads"][:n], attrs["pads"][n:]
    extra = attrs.pop("output_padding")
    attrs["pads"] = begin + [max(p - o, 0) for p, o in zip(end, extra, strict=True)]
    y = g.node("ConvTranspose", inputs[:2], **attrs)
    grow = [max(o - p, 0) for p, o in zip(end, extra, strict=True)]
    if any(grow):
        y = g.node("Pad", [y, g.const(np.array([0] * (n + 2) + [0, 0] + grow, np.int64))])
    if len(inputs) == 3:
        y = g.node("Add", [y, g.node("Reshape", [inputs[2], g.const(np.array([-1] + [1] * n, np.int64))])])
    return y


@_op("PadNd", "Pad")
def _pad(g: Graph, call: Call) -> str:
    x = call.args[next(iter(call.args))]
    pairs = list(call.args["pairs"])
    lead = x.ndim - len(pairs)
    begins = [0] * lead + [p[0] for p in pairs]
    ends = [0] * lead + [p[1] for p in pairs]
    mode = call.args.get("mode", "constant")
    mode = {"zeros": "constant", "replicate": "edge", "circular": "wrap"}.get(mode, mode)
    inputs = [g.arg(next(iter(call.args))), g.const(np.array(begins + ends, np.int64))]
    if "value" in call.args:
        inputs.append(_c(g, call.args["value"], call))
    return g.node("Pad", inputs, mode=mode)


def _pool_attrs(geom: Any) -> dict[str, Any]:
    # ceil_mode as padding at the end: ONNX's ceil_mode keeps a last window that starts in the right
    # padding, which PyTorch drops, so the end pads are what the op's own windows reach (floor mode)
    (kh, kw), (sh, sw), (ph, pw) = geom.k, geom.s, geom.p
    ends = [max(ph, geom.bottom), max(pw, geom.right)]
    return {"kernel_shape": [kh, kw], "strides": [sh, sw], "pads": [ph, pw, *ends]}


def _overhang(geom: Any) -> bool:
    """Whether ceil_mode windows reach past the padding (PyTorch's divisor then stops at the padding)."""
    return geom.bottom > geom.p[0] or geom.right > geom.p[1]


def _pool(g: Graph, call: Call, op: str, indices: bool = False, **attrs: Any) -> str:
    # a 2-D pool over (N, C, H, W), or an unbatched (C, H, W) one given a batch of 1 for ONNX;
    # with indices, MaxPool's second output as PyTorch's flat (H, W) position of each max
    geom = call.args["geom"]
    b = g.call_b.args["geom"] if g.call_b is not None else None
    if b is not None and b.size != geom.size and (_overhang(geom) or _overhang(b)):
        raise g.fail(
            f"pooling with ceil_mode over a spatial size {geom.size} that changes with a dynamic axis "
            f"({b.size} in the second run): the windows past the input differ; "
            "export with fixed spatial sizes"
        )
    x = g.arg("operands", 0) if indices else g.arg("x")
    source = call.args["operands"][0] if indices else call.args["x"]
    unbatched = source.ndim == 3
    if unbatched:
        x = g.node("Unsqueeze", [x, g.const(_axes_const([0]))])
    pool = _pool_attrs(geom)
    padded = [0, 0, 0, 0]
    if any(p >= k for p, k in zip(pool["pads"], pool["kernel_shape"] * 2)):
        # ONNX Runtime takes pads below the kernel only (a dilated window reaches further): Pad first
        dtype = source.dtype
        low = -np.inf if dtype.kind == "f" else np.iinfo(dtype).min
        low = low if op == "MaxPool" else 0
        padded, pool["pads"] = pool["pads"], [0, 0, 0, 0]
        pads = [0, 0, *padded[:2], 0, 0, *padded[2:]]
        x = g.node("Pad", [x, g.const(np.array(pads, np.int64)), g.const(np.array(low, dtype))])
    y = g.node(op, [x], n_out=2 if indices else 1, **pool, **attrs)
    if indices:
        y = _plane_indices(g, x, y[1], padded)
    return g.node("Squeeze", [y, g.const(_axes_const([0]))]) if unbatched else y


def _plane_indices(g: Graph, x: str, flat: str, padded: list[int]) -> str:
    # ONNX's indices run over the whole (N, C, Hp, Wp) pooled input: modulo Hp Wp; where that input
    # was padded first, row i // Wp - top and column i % Wp - left of the unpadded (H, W) plane
    hw = g.node("Shape", [x], start=2)
    plane = g.node("Mod", [flat, g.node("ReduceProd", [hw], keepdims=0)], fmod=0)
    if not any(padded):
        return plane
    wp = g.node("Squeeze", [g.node("Shape", [x], start=3)])
    rows = g.node("Sub", [g.node("Div", [plane, wp]), g.const(np.int64(padded[0]))])
    cols = g.node("Sub", [g.node("Mod", [plane, wp], fmod=0), g.const(np.int64(padded[1]))])
    w = g.node("Sub", [wp, g.const(np.int64(padded[1] + padded[3]))])
    return g.node("Add", [g.node("Mul", [rows, w]), cols])


@_op("max_pool_indices")
def _max_pool_indices(g: Graph, call: Call) -> str:
    return _pool(g, call, "MaxPool", indices=True, dilations=list(call.args["geom"].d))


@_op("MaxPool")
def _maxpool(g: Graph, call: Call) -> str:
    return _pool(g, call, "MaxPool", dilations=list(call.args["geom"].d))


@_op("AvgPool")
def _avgpool(g: Graph, call: Call) -> str:
    # the op's divisor is a number (the window, divisor_override) or per-window counts; ONNX counts
    # the real pixels (count_include_pad=0) or the whole window, so windows that overhang the
    # padding divide the window's sum by the op's own counts
    geom, divisor = call.args["geom"], call.args["divisor"]
    window = geom.k[0] * geom.k[1]
    if _overhang(geom):
        y = _pool(g, call, "AveragePool", count_include_pad=1)
        return g.node("Mul", [y, g.const(np.asarray(window / divisor, dtype=call.out.dtype))])
    full = not isinstance(divisor, np.ndarray)
    y = _pool(g, call, "AveragePool", count_include_pad=int(full))
    if full and divisor != window:  # divisor_override
        y = g.node("Mul", [y, _c(g, window / divisor, call)])
    return y


def _fixed_sizes(g: Graph, call: Call, lead: int, what: str) -> None:
    """Fail if the input's axes from ``lead`` on change with a dynamic axis (the plan fits one size)."""
    x, b = call.args["x"], g.shape_b("x")
    if b is not None and tuple(x.shape[lead:]) != tuple(b[lead:]):
        raise g.fail(
            f"{what} is worked out for the example's size {tuple(x.shape[lead:])}, which changes with a "
            f"dynamic axis ({tuple(b[lead:])} in the second run); export with fixed spatial sizes"
        )


@_op("AdaptiveAvgPool")
def _adaptive_avg(g: Graph, call: Call) -> str:
    # y = P_h x P_w^T with the op's averaging matrices (global pooling when both are 1 row)
    ph, pw = call.args["ph"], call.args["pw"]
    y = g.arg("x")
    if ph is not None and pw is not None and ph.shape[0] == 1 and pw.shape[0] == 1:
        return g.node("GlobalAveragePool", [y])
    _fixed_sizes(g, call, -2, "adaptive average pooling")
    if pw is not None:
        y = g.node("MatMul", [y, g.const(np.ascontiguousarray(pw.T))])
    if ph is not None:
        y = g.node("MatMul", [g.const(ph), y])
    return y


@_op("AdaptiveMaxPool")
def _adaptive_max(g: Graph, call: Call) -> str:
    # x is (B, H, W); window i covers rows floor(i H / oh) .. ceil((i + 1) H / oh), likewise the columns
    h, w = call.args["x"].shape[1:]
    oh, ow = call.args["out_hw"]
    _fixed_sizes(g, call, 1, "adaptive max pooling")
    x = g.arg("x")
    if h % oh == 0 and w % ow == 0:  # equal windows: one MaxPool
        kernel = [h // oh, w // ow]
        x = g.node("Unsqueeze", [x, g.const(np.array([1], np.int64))])
        y = g.node("MaxPool", [x], kernel_shape=kernel, strides=kernel)
        return g.node("Squeeze", [y, g.const(np.array([1], np.int64))])
    rows = []
    for i in range(oh):
        cells = []
        for j in range(ow):
            lo = np.array([(i * h) // oh, (j * w) // ow], np.int64)
            hi = np.array([-(-((i + 1) * h) // oh), -(-((j + 1) * w) // ow)], np.int64)
            win = g.node("Slice", [x, g.const(lo), g.const(hi), g.const(np.array([1, 2], np.int64))])
            cells.append(_reduce_extreme(g, call, "ReduceMax", win, [1, 2], 1))
        rows.append(g.node("Concat", cells, axis=2))
    return g.node("Concat", rows, axis=1)


@_op("Resample")
def _resample(g: Graph, call: Call) -> str:
    # y = x M^T along each spatial axis that has a matrix (linear interpolation, adaptive pooling)
    mats = call.args["mats"]
    nd = call.args["x"].ndim
    lead = nd - len(mats)
    _fixed_sizes(g, call, lead, "interpolation")
    y = g.arg("x")
    for i, m in enumerate(mats):
        if m is None:
            continue
        axis = lead + i
        mt = g.const(np.ascontiguousarray(m.T))
        if axis == nd - 1:
            y = g.node("MatMul", [y, mt])
            continue
        perm = list(range(nd))
        perm[axis], perm[-1] = perm[-1], perm[axis]
        y = g.node("Transpose", [g.node("MatMul", [g.node("Transpose", [y], perm=perm), mt])], perm=perm)
    return y


@_op("NearestUpsample")
def _nearest(g: Graph, call: Call) -> str:
    # each output pixel copies one input pixel: a Gather of the source indices along each resized axis
    plan = call.args["plan"]
    x = call.args["x"]
    lead = x.ndim - len(plan)
    _fixed_sizes(g, call, lead, "nearest upsampling")
    y = g.arg("x")
    for a, p in enumerate(plan, lead):
        if p is None:
            continue
        idx = np.repeat(np.arange(x.shape[a]), p) if type(p) is int else np.asarray(p)
        y = g.node("Gather", [y, g.const(idx.astype(np.int64))], axis=a)
    return y


def _tap_kernel(channels: int, k: tuple[int, int], dtype: Any) -> np.ndarray:
    """One-hot kernels (C*kh*kw, 1, kh, kw): out channel c*kh*kw + i*kw + j copies channel c's tap (i, j)."""
    taps = np.eye(k[0] * k[1], dtype=dtype).reshape(k[0] * k[1], 1, *k)
    return np.tile(taps, (channels, 1, 1, 1))


@_op("Unfold")
def _unfold(g: Graph, call: Call) -> str:
    # im2col as a grouped convolution with one-hot kernels, then (N, C*kh*kw, oh, ow) -> (N, C*kh*kw, L)
    k, d, s, p, _out = call.args["geo"]
    c = call.args["x"].shape[1]
    w = g.const(_tap_kernel(c, k, call.out.dtype))
    y = g.node("Conv", [g.arg("x"), w], group=c, kernel_shape=list(k), strides=list(s), dilations=list(d),
               pads=[p[0], p[1], p[0], p[1]])  # fmt: skip
    return g.node("Reshape", [y, g.const(np.array([0, c * k[0] * k[1], -1], np.int64))])


@_op("Fold")
def _fold(g: Graph, call: Call) -> str:
    # col2im, the adjoint of unfold: the same one-hot kernels in a transposed convolution (overlaps sum)
    k, d, s, p, out = call.args["geo"]
    size = call.args["size"]
    c = call.args["cols"].shape[1] // (k[0] * k[1])
    cols = g.node("Reshape", [g.arg("cols"), g.const(np.array([0, c * k[0] * k[1], *out], np.int64))])
    # the transposed convolution's natural size; output_padding adds the rows no block reached
    reached = [(o - 1) * st - 2 * pa + di * (ke - 1) + 1 for o, st, pa, di, ke in zip(out, s, p, d, k)]
    return g.node("ConvTranspose", [cols, g.const(_tap_kernel(c, k, call.out.dtype))], group=c,
                  kernel_shape=list(k), strides=list(s), dilations=list(d), pads=[p[0], p[1], p[0], p[1]],
                  output_padding=[n - r for n, r in zip(size, reached, strict=True)])  # fmt: skip


# -- normalization --------------------------------------------------------------
@_op("BatchNorm")
def _batchnorm(g: Graph, call: Call) -> str:
    a = call.args
    c = a["x"].shape[1]
    eps = float(a["eps"])
    if a["training"]:  # batch statistics (no running ones, or training=True): (x - mean) / sqrt(var + eps)
        axes = [0, *range(2, a["x"].ndim)]
        return _channel_affine(g, _normalize_last(g, g.arg("x"), axes, eps, call, center=True), a)
    w = g.arg("weight") if a["weight"] is not None else _c(g, np.ones(c), call)
    b = g.arg("bias") if a["bias"] is not None else _c(g, np.zeros(c), call)
    var = g.arg("running_var")
    if _eps_rounds(eps, call):  # the float32 attribute's rounding, put back in the variance
        var = g.node("Add", [var, _c(g, eps - float(np.float32(eps)), call)])
    return g.node("BatchNormalization", [g.arg("x"), w, b, g.arg("running_mean"), var], epsilon=eps)


def _eps_rounds(eps: float, call: Call) -> bool:
    """Whether an epsilon attribute (a float32) would round the eps of a float64 op."""
    return call.out.dtype == np.float64 and float(np.float32(eps)) != eps


@_op("LayerNorm")
def _layernorm(g: Graph, call: Call) -> str:
    a = call.args
    shape = a["x"].shape[-a["ndim"] :]
    if _eps_rounds(float(a["eps"]), call):  # a float64 eps the float32 attribute would round
        axes = list(range(-int(a["ndim"]), 0))
        y = _normalize_last(g, g.arg("x"), axes, float(a["eps"]), call, center=True)
        y = g.node("Mul", [y, g.arg("weight")]) if a["weight"] is not None else y
        return g.node("Add", [y, g.arg("bias")]) if a["bias"] is not None else y
    w = g.arg("weight") if a["weight"] is not None else _c(g, np.ones(shape), call)
    inputs = [g.arg("x"), w] + ([g.arg("bias")] if a["bias"] is not None else [])
    return g.node("LayerNormalization", inputs, axis=-int(a["ndim"]), epsilon=float(a["eps"]))


def _channel_affine(g: Graph, y: str, a: dict) -> str:
    """``y * weight + bias`` with the (C,) weight and bias (either may be None) on channel axis 1."""
    per_channel = np.array([a["x"].shape[1]] + [1] * (a["x"].ndim - 2), np.int64)
    if a["weight"] is not None:
        y = g.node("Mul", [y, g.node("Reshape", [g.arg("weight"), g.const(per_channel)])])
    if a["bias"] is not None:
        y = g.node("Add", [y, g.node("Reshape", [g.arg("bias"), g.const(per_channel)])])
    return y


def _normalize_last(g: Graph, x: str, axes: list[int], eps: float, call: Call, center: bool) -> str:
    # (x - mean) / sqrt(var + eps) over axes (or x / sqrt(mean(x^2) + eps) without centering)
    if center:
        x = g.node("Sub", [x, g.node("ReduceMean", [x], axes=axes, keepdims=1)])
    ms = g.node("ReduceMean", [g.node("Mul", [x, x])], axes=axes, keepdims=1)
    return g.node("Div", [x, g.node("Sqrt", [g.node("Add", [ms, _c(g, eps, call)])])])


@_op("RMSNorm")
def _rmsnorm(g: Graph, call: Call) -> str:
    a = call.args
    axes = list(range(-int(a["ndim"]), 0))
    eps = a["eps"] if a["eps"] is not None else float(np.finfo(call.out.dtype).eps)
    y = _normalize_last(g, g.arg("x"), axes, float(eps), call, center=False)
    return g.node("Mul", [y, g.arg("weight")]) if a["weight"] is not None else y


@_op("GroupNorm")
def _groupnorm(g: Graph, call: Call) -> str:
    a = call.args
    x = g.arg("x")
    grouped = g.node("Reshape", [x, g.const(np.array([0, a["groups"], -1], np.int64))])
    y = _normalize_last(g, grouped, [2], float(a["eps"]), call, center=True)
    return _channel_affine(g, g.node("Reshape", [y, g.node("Shape", [x])]), a)


@_op("Normalize")
def _normalize(g: Graph, call: Call) -> str:
    a = call.args
    if a["p"] not in (1, 2):
        raise g.fail(f"p={a['p']} normalization has no ONNX reduce (p = 1 or 2 only)")
    x = g.arg("a")
    norm = g.node("ReduceL2" if a["p"] == 2 else "ReduceL1", [x], axes=[int(a["dim"])], keepdims=1)
    return g.node("Div", [x, g.node("Max", [norm, _c(g, a["eps"], call)])])


@_op("Embedding")
def _embedding(g: Graph, call: Call) -> str:
    idx = g.arg("idx")
    if call.args["idx"].dtype != np.int64:
        idx = g.node("Cast", [idx], to=7)
    return g.node("Gather", [g.arg("weight"), idx], axis=0)


@_op("embedding_renorm")
def _embedding_renorm(g: Graph, call: Call) -> str:
    # max_norm: each row w with p-norm n > max_norm becomes w * max_norm / (n + 1e-7), as the lookup does
    # in place to the rows it reads (the graph scales every row: the rows read come out the same)
    w = g.arg("operands", 0)
    p, top = float(call.args["norm_type"]), float(call.args["max_norm"])
    if p == 2.0:
        n = g.node("ReduceL2", [w], axes=[1], keepdims=1)
    else:
        powered = g.node("Pow", [g.node("Abs", [w]), _c(g, p, call)])
        total = g.node("ReduceSum", [powered, g.const(_axes_const([1]))], keepdims=1)
        n = g.node("Pow", [total, _c(g, 1.0 / p, call)])
    scale = g.node("Div", [_c(g, top, call), g.node("Add", [n, _c(g, 1e-7, call)])])
    scale = g.node("Where", [g.node("Greater", [n, _c(g, top, call)]), scale, _c(g, 1, call)])
    return g.node("Mul", [w, scale])


@_op("Dropout")
def _dropout(g: Graph, call: Call) -> str:
    return g.node("Identity", [g.arg("a")])


@_op("ScaledDotProductAttention", "FlashAttention")
def _sdpa(g: Graph, call: Call) -> str:
    # softmax(q k^T * scale + mask) v; a bool mask keeps the True positions. A query whose keys
    # are all masked gets zero weights, as in chainrule and PyTorch (softmax alone would give NaN).
    a = call.args
    q = g.node("Mul", [g.arg("q"), _c(g, a["scale"], call)])
    nd = a["k"].ndim
    perm = list(range(nd - 2)) + [nd - 1, nd - 2]
    s = g.node("MatMul", [q, g.node("Transpose", [g.arg("k")], perm=perm)])
    ninf = _c(g, -np.inf, call)
    if a["is_causal"]:
        size = g.node("Shape", [s], start=-2)
        ones = g.node("ConstantOfShape", [size], value=_one(np.int64))
        upper = g.node("Cast", [g.node("Trilu", [ones, g.const(np.int64(1))], upper=1)], to=9)
        s = g.node("Where", [upper, ninf, s])
    elif a["mask"] is not None:
        m = a["mask"]
        mask = g.arg("mask")
        s = g.node("Where", [mask, s, ninf]) if m.dtype == np.bool_ else g.node("Add", [s, mask])
    p = g.node("Softmax", [s], axis=-1)
    if a["mask"] is not None and not a["is_causal"]:
        p = g.node("Where", [g.node("IsNaN", [p]), _c(g, 0, call), p])
    return g.node("MatMul", [p, g.arg("v")])


def _one(dtype: Any) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.ones(1, dtype=dtype))


# -- reductions ------------------------------------------------------------------
def _axes_of(call: Call) -> list[int]:
    axes = call.args["axes"]
    nd = call.args["a"].ndim
    if axes is None:
        return list(range(nd))
    if isinstance(axes, int):
        return [axes]
    return [int(v) for v in axes]


@_op("Sum")
def _sum(g: Graph, call: Call) -> str:
    return g.node(
        "ReduceSum", [g.arg("a"), g.const(_axes_const(_axes_of(call)))], keepdims=int(call.args["keepdim"])
    )


@_op("Mean", "LogSumExp", "Prod")
def _reduce(g: Graph, call: Call) -> str:
    op = {"Mean": "ReduceMean", "LogSumExp": "ReduceLogSumExp", "Prod": "ReduceProd"}[call.name]
    return g.node(op, [g.arg("a")], axes=_axes_of(call), keepdims=int(call.args["keepdim"]))


@_op("Extreme")
def _extreme(g: Graph, call: Call) -> str:
    op = "ReduceMax" if call.args["largest"] else "ReduceMin"
    return _reduce_extreme(g, call, op, g.arg("a"), _axes_of(call), int(call.args["keepdim"]))


def _reduce_extreme(g: Graph, call: Call, op: str, x: str, axes: list[int], keep: int) -> str:
    # ONNX Runtime's ReduceMax/Min skip NaN; chainrule and PyTorch give NaN where one is reduced
    y = g.node(op, [x], axes=axes, keepdims=keep)
    if call.out.dtype.kind != "f":
        return y
    nan = g.node("ReduceMax", [g.node("Cast", [g.node("IsNaN", [x])], to=6)], axes=axes, keepdims=keep)
    return g.node("Where", [g.node("Cast", [nan], to=9), _c(g, np.nan, call), y])


@_op("Var", "Std")
def _var(g: Graph, call: Call) -> str:
    # sum((x - mean)^2) / (n - correction)
    axes = _axes_of(call)
    x = g.arg("a")
    d = g.node("Sub", [x, g.node("ReduceMean", [x], axes=axes, keepdims=1)])
    n = int(np.prod([call.args["a"].shape[i] for i in axes]))
    ss = g.node(
        "ReduceSum", [g.node("Mul", [d, d]), g.const(_axes_const(axes))], keepdims=int(call.args["keepdim"])
    )
    shape_b = g.shape_b("a")
    if shape_b is not None and int(np.prod([shape_b[i] for i in axes])) != n:
        # a dynamic axis among the reduced ones: the count comes from the input's shape
        sizes = g.node("Gather", [g.node("Shape", [x]), g.const(_axes_const(axes))])
        count = g.node("Cast", [g.node("ReduceProd", [sizes], keepdims=0)], to=onnx_dtype(call.out.dtype))
        v = g.node("Div", [ss, g.node("Max", [g.node("Sub", [count, _c(g, call.args["correction"], call)]),
                                              _c(g, 0, call)])])  # fmt: skip
        return g.node("Sqrt", [v]) if call.name == "Std" else v
    v = g.node("Div", [ss, _c(g, max(n - call.args["correction"], 0), call)])
    return g.node("Sqrt", [v]) if call.name == "Std" else v


@_op("VectorNorm")
def _vector_norm(g: Graph, call: Call) -> str:
    # (sum |x|^p)^(1/p) over the axes; p = inf, -inf: the largest, smallest |x|; p = 0: the non-zeros
    x, p = g.arg("a"), float(call.args["p"])
    nd = call.args["a"].ndim
    axes = list(range(nd)) if call.args["axes"] is None else [int(v) for v in call.args["axes"]]
    keep = int(call.args["keepdim"])
    size = g.node("Abs", [x])
    if p == 0.0:
        size = g.node("Not", [g.node("Equal", [x, _c(g, 0, call)])])
        size = g.node("Cast", [size], to=onnx_dtype(call.out.dtype))
    if not axes:  # a 0-d input
        return size
    if p == 2.0 or p == 1.0:
        return g.node("ReduceL2" if p == 2.0 else "ReduceL1", [x], axes=axes, keepdims=keep)
    if np.isinf(p):
        return g.node("ReduceMax" if p > 0 else "ReduceMin", [size], axes=axes, keepdims=keep)
    if p != 0.0:
        size = g.node("Pow", [size, _c(g, p, call)])
    total = g.node("ReduceSum", [size, g.const(_axes_const(axes))], keepdims=keep)
    return total if p == 0.0 else g.node("Pow", [total, _c(g, 1.0 / p, call)])


@_op("CumSum")
def _cumsum(g: Graph, call: Call) -> str:
    return g.node("CumSum", [g.arg("a"), g.const(np.int64(call.args["dim"]))])


# -- shapes ----------------------------------------------------------------------
@_op("Reshape")
def _reshape(g: Graph, call: Call) -> str:
    x = call.args["a"]
    target = [
        int(v)
        for v in (call.args["shape"] if not isinstance(call.args["shape"], int) else [call.args["shape"]])
    ]
    tb = g.arg_b("shape")
    xb = g.shape_b("a")
    keep: dict[int, int] = {}
    if tb is not None:
        tb = [int(v) for v in (tb if not isinstance(tb, int) else [tb])]
        changed = [i for i, (u, v) in enumerate(zip(target, tb, strict=True)) if u != v]
        for i in changed:
            if i < x.ndim and x.shape[i] == target[i] and xb[i] == tb[i]:
                keep[i] = 0  # copy the input's dim
        rest = [i for i in changed if i not in keep and g.source(target[i], tb[i]) is None]
        if len(rest) == 1 and -1 not in target:
            keep[rest[0]] = -1
    return g.node("Reshape", [g.arg("a"), g.ints(target, tb, "shape", keep)])


@_op("Permute")
def _permute(g: Graph, call: Call) -> str:
    return g.node("Transpose", [g.arg("a")], perm=[int(v) for v in call.args["order"]])


@_op("Expand")
def _expand(g: Graph, call: Call) -> str:
    x = call.args["a"]
    target = [int(v) for v in call.args["shape"]]
    tb = g.arg_b("shape")
    keep: dict[int, int] = {}
    if tb is not None:
        lead = len(target) - x.ndim
        xb = g.shape_b("a")
        for i, (u, v) in enumerate(zip(target, tb, strict=True)):
            j = i - lead
            if u != v and j >= 0 and x.shape[j] == u and xb[j] == v:
                keep[i] = 1  # broadcast keeps the input's dim
    return g.node("Expand", [g.arg("a"), g.ints(target, tb, "shape", keep)])


@_op("Flip")
def _flip(g: Graph, call: Call) -> str:
    axes = [
        int(v) for v in (call.args["axes"] if not isinstance(call.args["axes"], int) else [call.args["axes"]])
    ]
    n = len(axes)
    return g.node("Slice", [g.arg("a"), g.const(np.full(n, -1, np.int64)), g.const(np.full(n, -INT_MAX, np.int64)),  # noqa: E501
                            g.const(_axes_const(axes)), g.const(np.full(n, -1, np.int64))])  # fmt: skip


@_op("Repeat")
def _repeat(g: Graph, call: Call) -> str:
    x = call.args["a"]
    sizes = [int(v) for v in call.args["sizes"]]
    name = g.arg("a")
    if len(sizes) > x.ndim:  # new leading axes of size 1 (Unsqueeze keeps dynamic sizes)
        name = g.node("Unsqueeze", [name, g.const(_axes_const(range(len(sizes) - x.ndim)))])
    return g.node("Tile", [name, g.const(np.array(sizes, np.int64))])


@_op("Roll")
def _roll(g: Graph, call: Call) -> str:
    # along each axis, the last `shift` entries then the rest (axes None: the flattened input, axis 0)
    x = call.args["a"]
    shifts, axes = call.args["shifts"], call.args["axes"]
    shifts = list(shifts) if isinstance(shifts, (tuple, list)) else [shifts]
    axes = [0] if axes is None else (list(axes) if isinstance(axes, (tuple, list)) else [axes])
    shape_b = g.shape_b("a")
    y = g.arg("a")
    for shift, axis in zip(shifts, axes, strict=True):
        n = x.shape[axis]
        if shape_b is not None and shape_b[axis] != n:
            raise g.fail(f"roll along axis {axis}, whose size changes with a dynamic axis; export it static")
        cut = g.const(np.array([n - int(shift) % n if n else 0], np.int64))
        ax = g.const(_axes_const([axis]))
        tail = g.node("Slice", [y, cut, g.const(np.array([INT_MAX], np.int64)), ax])
        head = g.node("Slice", [y, g.const(np.array([0], np.int64)), cut, ax])
        y = g.node("Concat", [tail, head], axis=int(axis))
    return y


@_op("Einsum")
def _einsum(g: Graph, call: Call) -> str:
    names = [g.arg("operands", i) for i in range(len(call.args["operands"]))]
    return g.node("Einsum", names, equation=str(call.args["equation"]).replace(" ", ""))


@_op("Tril", "Triu")
def _tri(g: Graph, call: Call) -> str:
    return g.node(
        "Trilu", [g.arg("a"), g.const(np.int64(call.args["diagonal"]))], upper=int(call.name == "Triu")
    )


@_op("Gather")
def _gather(g: Graph, call: Call) -> str:
    return g.node("GatherElements", [g.arg("a"), g.arg("index")], axis=int(call.args["dim"]))


@_op("IndexSelect")
def _index_select(g: Graph, call: Call) -> str:
    return g.node("Gather", [g.arg("a"), g.arg("index")], axis=int(call.args["dim"]))


@_op("Cat")
def _cat(g: Graph, call: Call) -> str:
    names = [g.arg("arrays", i) for i in range(len(call.args["arrays"]))]
    return g.node("Concat", names, axis=int(call.args["dim"]))


@_op("Stack")
def _stack(g: Graph, call: Call) -> str:
    dim = int(call.args["dim"])
    ax = g.const(np.array([dim], np.int64))
    names = [g.node("Unsqueeze", [g.arg("arrays", i), ax]) for i in range(len(call.args["arrays"]))]
    return g.node("Concat", names, axis=dim)


@_op("GetItem")
def _getitem(g: Graph, call: Call) -> str:
    x = call.args["a"]
    key = call.args["key"]
    key_b = g.arg_b("key")
    key = key if isinstance(key, tuple) else (key,)
    key_b = None if key_b is None else (key_b if isinstance(key_b, tuple) else (key_b,))
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        fill = x.ndim - sum(1 for k in key if k is not None and k is not Ellipsis)
        key = key[:i] + (slice(None),) * fill + key[i + 1 :]
        if key_b is not None:
            key_b = key_b[:i] + (slice(None),) * fill + key_b[i + 1 :]
    name = g.arg("a")
    starts: list[int] = []
    ends: list[int] = []
    ends_b: list[int] = []
    axes: list[int] = []
    steps: list[int] = []
    squeeze: list[int] = []
    gathers: list[tuple[int, Any]] = []
    new_axes: list[int] = []
    axis = 0
    out_pos = 0
    for n, k in enumerate(key):
        kb = key_b[n] if key_b is not None else k
        if k is None:
            new_axes.append(out_pos)
            out_pos += 1
            continue
        if isinstance(k, slice):
            if k != slice(None):
                step = 1 if k.step is None else int(k.step)
                if step < 1:
                    raise g.fail("negative slice steps are not exported (use flip)")
                starts.append(0 if k.start is None else int(k.start))
                ends.append(INT_MAX if k.stop is None else int(k.stop))
                ends_b.append(INT_MAX if kb.stop is None else int(kb.stop))
                axes.append(axis)
                steps.append(step)
                if (k.start if k.start is not None else 0) != (kb.start if kb.start is not None else 0):
                    raise g.fail("a slice start that changes with a dynamic axis")
            out_pos += 1
        elif isinstance(k, (int, np.integer)):
            starts.append(int(k))
            ends.append(int(k) + 1 if int(k) != -1 else INT_MAX)
            ends_b.append(ends[-1])
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        elif isinstance(k, (np.ndarray, list)) and np.asarray(k).dtype.kind in "iu":
            gathers.append((axis, k if isinstance(k, np.ndarray) else np.asarray(k)))
            out_pos += np.asarray(k).ndim
        else:
            raise g.fail(f"index {k!r} (boolean masks and multi-array indexing) is not exported")
        axis += 1
    if len(gathers) > 1:
        raise g.fail("indexing with more than one integer array is not exported")
    if axes:
        name = g.node("Slice", [name, g.const(np.array(starts, np.int64)), g.ints(ends, ends_b if key_b else None, "slice end"),  # noqa: E501
                                g.const(_axes_const(axes)), g.const(np.array(steps, np.int64))])  # fmt: skip
    for ax, idx in gathers:
        if g.is_live(
            idx
        ):  # an index computed from the inputs (x[:, ids]): the graph's value, not the example's
            i = g.val(idx)
            i = i if idx.dtype == np.int64 else g.node("Cast", [i], to=7)
        else:
            i = g.const(idx.astype(np.int64))
        name = g.node("Gather", [name, i], axis=ax)
    if squeeze:
        if gathers and gathers[0][1].ndim != 1:
            raise g.fail("integer indices mixed with a multi-dimensional index array are not exported")
        name = g.node("Squeeze", [name, g.const(_axes_const(squeeze))])
    if new_axes:
        name = g.node("Unsqueeze", [name, g.const(_axes_const(new_axes))])
    return name


# -- recurrent layers (recorded whole) ---------------------------------------------
# ONNX's gate order against PyTorch's: LSTM iofc vs ifgo, GRU zrh vs rzn.
_GATES = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN": [0]}


def _gate_weights(g: Graph, names: list[str], order: list[int], nh: int) -> str:
    """The directions' weights, gates reordered for ONNX, stacked to (directions, gates * H, ...)."""
    axis0 = g.const(np.array([0], np.int64))
    stacked = []
    for name in names:
        if len(order) > 1:
            parts = g.node(
                "Split", [name, g.const(np.full(len(order), nh, np.int64))], n_out=len(order), axis=0
            )
            name = g.node("Concat", [parts[i] for i in order], axis=0)
        stacked.append(g.node("Unsqueeze", [name, axis0]))
    return stacked[0] if len(stacked) == 1 else g.node("Concat", stacked, axis=0)


def _gate_biases(g: Graph, pairs: list[tuple[str, str]], order: list[int], nh: int) -> str:
    """The directions' (b_ih, b_hh) as ONNX's B: [Wb | Rb], gates reordered, stacked to (directions, ...)."""
    gates = len(order)
    axis0 = g.const(np.array([0], np.int64))
    stacked = []
    for b_ih, b_hh in pairs:
        b = g.node("Concat", [b_ih, b_hh], axis=0)
        if gates > 1:
            p = g.node("Split", [b, g.const(np.full(2 * gates, nh, np.int64))], n_out=2 * gates, axis=0)
            b = g.node("Concat", [p[i] for i in order] + [p[gates + i] for i in order], axis=0)
        stacked.append(g.node("Unsqueeze", [b, axis0]))
    return stacked[0] if len(stacked) == 1 else g.node("Concat", stacked, axis=0)


def _node_attrs(kind: str, nh: int, direction: str, relu: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {"hidden_size": nh, "direction": direction}
    if kind == "GRU":
        attrs["linear_before_reset"] = 1  # PyTorch applies the reset gate after the hidden projection
    if kind == "RNN":
        attrs["activations"] = ["Relu" if relu else "Tanh"] * (2 if direction == "bidirectional" else 1)
    return attrs


@_op("RNN", "LSTM", "GRU")
def _recurrent(g: Graph, call: Call) -> None:
    # one ONNX RNN/LSTM/GRU node per layer, both directions in one node; the
    # outputs (T, directions, N, H) become (T, N, directions * H) for the next layer
    m = call.args["module"]
    kind = "LSTM" if m.mode == "LSTM" else ("GRU" if m.mode == "GRU" else "RNN")
    x_t = call.args["input"]
    if x_t.ndim != 3:
        raise g.fail("unbatched (2-D) input to a recurrent layer is not exported; add the batch axis")
    nh, dirs = m.hidden_size, 2 if m.bidirectional else 1
    x = g.arg("input")
    if m.batch_first:
        x = g.node("Transpose", [x], perm=[1, 0, 2])
    hx = call.args["hx"]
    states = [] if hx is None else ([hx] if kind != "LSTM" else list(hx))
    state_names = [g.val(s) for s in states]
    lengths = ""
    if call.args.get("lengths") is not None:
        lens = call.args["lengths"]
        lengths = g.node("Cast", [g.val(lens if isinstance(lens, Tensor) else np.asarray(lens))], to=6)
    order = _GATES[kind]
    h_out, c_out = [], []
    for layer in range(m.num_layers):
        weights = [m.all_weights[layer * dirs + d] for d in range(dirs)]  # [w_ih, w_hh, b_ih, b_hh]
        w = _gate_weights(g, [g.val(p[0]) for p in weights], order, nh)
        r = _gate_weights(g, [g.val(p[1]) for p in weights], order, nh)
        inputs = [x, w, r]
        inputs.append(
            _gate_biases(g, [(g.val(p[2]), g.val(p[3])) for p in weights], order, nh) if m.bias else ""
        )
        inputs.append(lengths)
        for s in state_names:
            start, stop = (
                g.const(np.array([layer * dirs], np.int64)),
                g.const(np.array([(layer + 1) * dirs], np.int64)),
            )
            inputs.append(g.node("Slice", [s, start, stop, g.const(np.array([0], np.int64))]))
        while inputs and inputs[-1] == "":
            inputs.pop()
        attrs = _node_attrs(kind, nh, "bidirectional" if dirs == 2 else "forward", m.mode == "RNN_RELU")
        outs = g.node(kind, inputs, n_out=3 if kind == "LSTM" else 2, **attrs)
        y = g.node("Transpose", [outs[0]], perm=[0, 2, 1, 3])
        x = g.node("Reshape", [y, g.const(np.array([0, 0, -1], np.int64))])
        h_out.append(outs[1])
        if kind == "LSTM":
            c_out.append(outs[2])
    output = g.node("Transpose", [x], perm=[1, 0, 2]) if m.batch_first else x
    out, finals = call.out
    g.bind(out, output)
    finals = [finals] if kind != "LSTM" else list(finals)
    for t, parts in zip(finals, [h_out, c_out], strict=False):
        g.bind(t, parts[0] if len(parts) == 1 else g.node("Concat", parts, axis=0))


@_op("RNNLayer", "LSTMLayer", "GRULayer")
def _recurrent_layer(g: Graph, call: Call) -> str:
    # one direction of one layer (the functional rnn_layer/lstm_layer/gru_layer, and the cells' one step)
    # as one ONNX node; the op returns its state rows packed along axis 0:
    #   forward  [h0, h_1 .. h_T, h_n(, c_n)]      reverse  [h_1 .. h_T, h0, h_n(, c_n)]
    a = call.args
    kind = call.name[: -len("Layer")]
    if a["batch_sizes"] is not None or a["lengths"] is not None:
        raise g.fail(
            "variable lengths in a single recurrent layer op are not exported; use nn.RNN/LSTM/GRU "
            "with lengths=, which export whole"
        )
    x = g.arg("x")
    if a["x"].ndim == 2:  # one time step (a cell)
        x = g.node("Unsqueeze", [x, g.const(np.array([0], np.int64))])
    elif a["batch_first"]:
        x = g.node("Transpose", [x], perm=[1, 0, 2])
    nh = a["w_hh"].shape[1]
    order = _GATES[kind]
    inputs = [x, _gate_weights(g, [g.arg("w_ih")], order, nh), _gate_weights(g, [g.arg("w_hh")], order, nh)]
    inputs.append(
        _gate_biases(g, [(g.arg("b_ih"), g.arg("b_hh"))], order, nh) if a["b_ih"] is not None else ""
    )
    inputs.append("")  # sequence_lens
    axis0 = g.const(np.array([0], np.int64))
    states = ["h0", "c0"] if kind == "LSTM" else ["h0"]
    for s in states:
        inputs.append(g.node("Unsqueeze", [g.arg(s), axis0]) if a[s] is not None else "")
    while inputs[-1] == "":
        inputs.pop()
    direction = "reverse" if a["reverse"] else "forward"
    outs = g.node(
        kind, inputs, n_out=len(states) + 1, **_node_attrs(kind, nh, direction, a.get("relu", False))
    )
    y = g.node("Squeeze", [outs[0], g.const(np.array([1], np.int64))])  # (T, 1, N, H) -> (T, N, H)
    if a["h0"] is not None:
        h0 = inputs[5]
    else:
        h0 = g.node("ConstantOfShape", [g.node("Shape", [outs[1]])], value=_zero(call.out.dtype))
    rows = [y, h0] if a["reverse"] else [h0, y]
    return g.node("Concat", [*rows, *outs[1:]], axis=0)


def _zero(dtype: Any) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.zeros(1, dtype=dtype))
