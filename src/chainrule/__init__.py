"""chainrule: a deep-learning library built from first principles on NumPy.

``import chainrule as cr`` gives the Tensor, the functions that make tensors,
every differentiable operation as a function, gradient-mode switches and the
seeded random generator; ``cr.autograd`` holds the engine and ``gradcheck``.
"""

# The Tensor first: its module pulls in the engine and the ops in a safe order.
from chainrule.tensor import Tensor  # noqa: I001
from chainrule import autograd
from chainrule.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from chainrule.backend import (
    accelerator,
    backends,
    bool_,
    cuda,
    device,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    set_default_dtype,
    uint8,
)
from chainrule.creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from chainrule.ops.elementwise import (
    abs,
    add,
    allclose,
    bitwise_not,
    ceil,
    clamp,
    clip,
    clone,
    cos,
    div,
    divide,
    eq,
    equal,
    exp,
    expm1,
    floor,
    floor_divide,
    ge,
    gt,
    isfinite,
    isinf,
    isnan,
    le,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    masked_fill,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    nonzero,
    pow,
    reciprocal,
    relu,
    remainder,
    round,
    rsqrt,
    sigmoid,
    sin,
    sqrt,
    square,
    sub,
    tanh,
    true_divide,
    trunc,
    where,
)
from chainrule.ops.fused import log_softmax, softmax
from chainrule.ops.layout import (
    cartesian_prod,
    diag,
    diag_embed,
    diagonal,
    dsplit,
    hsplit,
    meshgrid,
    moveaxis,
    movedim,
    narrow,
    repeat_interleave,
    roll,
    swapaxes,
    swapdims,
    tensor_split,
    tile,
    unflatten,
    vsplit,
)
from chainrule.ops.linalg import bmm, cross, einsum, ger, matmul, mm, norm, outer, tensordot, trace
from chainrule.ops.pointwise import (
    acos,
    acosh,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    copysign,
    cosh,
    erf,
    erfc,
    erfinv,
    exp2,
    fmod,
    frac,
    hypot,
    isclose,
    lerp,
    log2,
    log10,
    logaddexp,
    logaddexp2,
    logit,
    nan_to_num,
    sgn,
    sign,
    sinh,
    tan,
    xlogy,
)
from chainrule.ops.reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    cumsum,
    logsumexp,
    max,
    mean,
    min,
    prod,
    std,
    std_mean,
    sum,
    var,
    var_mean,
)
from chainrule.ops.scan import cummax, cummin, cumprod, logcumsumexp
from chainrule.ops.scatter import (
    index_add,
    index_copy,
    index_fill,
    masked_scatter,
    masked_select,
    scatter,
    scatter_add,
    scatter_reduce,
    take_along_dim,
)
from chainrule.ops.sort import argsort, kthvalue, median, mode, msort, sort, topk, unique
from chainrule.ops.shape import (
    cat,
    chunk,
    concat,
    expand,
    flatten,
    flip,
    gather,
    index_select,
    pad,
    permute,
    repeat,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    tril,
    triu,
    unbind,
    unsqueeze,
    view,
)
from chainrule.random import Generator, get_rng_state, manual_seed, set_rng_state
from chainrule.runtime import get_num_threads, set_num_threads

__version__ = "0.1.0"

# PyTorch's dtype aliases (these names shadow builtins only inside this module).
float = float32
double = float64
half = float16
long = int64
int = int32
short = int16
bool = bool_


def numel(t: Tensor) -> "int":
    return t.numel()


def is_tensor(obj: object) -> "bool":
    return isinstance(obj, Tensor)

from chainrule import linalg  # noqa: E402
from chainrule.io import load, save  # noqa: E402

# The layers above the tensor load on first use (``cr.nn``, ``cr.train``, ...), so that
# ``import chainrule`` stays light and the engine never depends on what is built on it.
# ``import chainrule.nn`` and ``from chainrule import nn`` work as for any subpackage.
_LAZY_SUBPACKAGES = frozenset({"data", "distributed", "models", "nn", "onnx", "optim", "train", "viz"})


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBPACKAGES:
        import importlib

        module = importlib.import_module(f"chainrule.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY_SUBPACKAGES)
