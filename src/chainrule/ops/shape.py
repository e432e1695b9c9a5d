"""Operations that move elements without changing them, and their derivatives.

The backward of a rearrangement is the inverse rearrangement of the
gradient: reshape back, permute back, scatter back into the positions that
were read (adding where one position was read several times).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import devices
from chainrule.autograd import Function
from chainrule.ops import dims as _dims
from chainrule.ops.elementwise import cast_to, promote
from chainrule.tensor import Tensor

_xp = devices.array_module  # the array module of an op's inputs (NumPy on the CPU)


def index_input(index: Any) -> Any:
    """An index argument's array: a tensor's, a device array as it is, anything else through NumPy."""
    if isinstance(index, Tensor):
        return index._array
    return index if devices.is_device_array(index) else np.asarray(index)


def _sizes(args: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept both f(2, 3) and f((2, 3)) as PyTorch does."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(a) for a in args)


class Reshape(Function):
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(Function):
    def forward(ctx, a, order):
        ctx.inverse = tuple(np.argsort(order))
        return _xp(a).transpose(a, order)

    def backward(ctx, g):
        return _xp(g).transpose(g, ctx.inverse), None


class Expand(Function):
    def forward(ctx, a, shape):
        return _xp(a).broadcast_to(a, shape)

    def backward(ctx, g):
        # the engine sums the gradient over the broadcast axes
        return g, None


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """The same elements in a new shape (one dimension may be -1)."""
    return Reshape.apply(x, _sizes(shape))


def view(x: Tensor, *shape: Any) -> Tensor:
    """Alias of :func:`reshape` (NumPy makes a view whenever the layout allows)."""
    return Reshape.apply(x, _sizes(shape))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return Reshape.apply(x, (1,))
    s = _dims.axis(start_dim, x.ndim, "flatten")
    e = _dims.axis(end_dim, x.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape[:s] + (int(np.prod(x.shape[s : e + 1])),) + x.shape[e + 1 :]
    return Reshape.apply(x, shape)


def permute(x: Tensor, *order: Any) -> Tensor:
    """Reorder the dimensions: output dim i is input dim ``order[i]``."""
    order = _sizes(order)
    if len(order) != x.ndim:
        raise ValueError(f"permute: got {len(order)} dims {order} for a tensor of shape {x.shape}")
    order = tuple(_dims.axis(d, x.ndim, "permute") for d in order)
    if len(set(order)) != len(order):
        raise ValueError(f"permute: repeated dim in {order}")
    return Permute.apply(x, order)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions."""
    order = list(range(x.ndim))
    if x.ndim == 0:
        _dims.axis(dim0, 0, "transpose"), _dims.axis(dim1, 0, "transpose")
        return Permute.apply(x, ())
    a, b = _dims.axis(dim0, x.ndim, "transpose"), _dims.axis(dim1, x.ndim, "transpose")
    order[a], order[b] = order[b], order[a]
    return Permute.apply(x, tuple(order))


@_dims.numpy_keywords
def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    """Drop size-1 dimensions (all of them, or those in ``dim`` that have size 1)."""
    if dim is None:
        shape = tuple(n for n in x.shape if n != 1)
    else:
        drop = _dims.axes(dim, x.ndim, "squeeze") or ()
        shape = tuple(n for i, n in enumerate(x.shape) if not (i in drop and n == 1))
    return Reshape.apply(x, shape)


@_dims.numpy_keywords
def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dimension at ``dim`` (negative counts from the new end)."""
    d = _dims.axis(dim, x.ndim + 1, "unsqueeze")
    return Reshape.apply(x, x.shape[:d] + (1,) + x.shape[d:])


def expand(x: Tensor, *sizes: Any) -> Tensor:
    """A broadcast view with the given sizes (-1 keeps a dimension)."""
    sizes = _sizes(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {len(sizes)} sizes {sizes} for a tensor with {x.ndim} dims {x.shape}")
    shape = []
    for i, n in enumerate(sizes):
        if n == -1:
            if i < lead:
                raise ValueError(f"expand: -1 is not allowed for the new leading dim {i} in {sizes}")
            n = x.shape[i - lead]
        elif i >= lead and x.shape[i - lead] not in (1, n):
            raise ValueError(
                f"expand: the size of dim {i - lead} ({x.shape[i - lead]}) must be 1 or match "
                f"{n} (tensor of shape {x.shape} expanded to {sizes})"
            )
        shape.append(n)
    return Expand.apply(x, tuple(shape))


# ------------------------------------------------- flips, tiles, triangles
class Flip(Function):
    def forward(ctx, a, axes):
        xp = _xp(a)
        ctx.axes = axes
        return xp.flip(a, axes).copy()  # a copy, as torch.flip (not a view)

    def backward(ctx, g):
        xp = _xp(g)
        # reversing is its own inverse: reverse the gradient along the same dims
        return xp.flip(g, ctx.axes), None


class Repeat(Function):
    def forward(ctx, a, sizes):
        xp = _xp(a)
        ctx.shape, ctx.sizes = a.shape, sizes
        return xp.tile(a, sizes)

    def backward(ctx, g):
        # every copy of an element contributed with slope 1: split each dim of g
        # into (copies, size) and sum over the copies
        shape = (1,) * (len(ctx.sizes) - len(ctx.shape)) + ctx.shape
        split = tuple(n for pair in zip(ctx.sizes, shape, strict=True) for n in pair)
        return g.reshape(split).sum(axis=tuple(range(0, len(split), 2))).reshape(ctx.shape), None


class Tril(Function):
    keep = "tril"  # the array module's function

    def forward(ctx, a, diagonal):
        ctx.diagonal = diagonal
        return getattr(_xp(a), ctx.keep)(a, diagonal)

    def backward(ctx, g):
        # the kept entries pass the gradient through (slope 1), the zeroed ones get 0
        return getattr(_xp(g), ctx.keep)(g, ctx.diagonal), None


class Triu(Tril):
    keep = "triu"


def flip(x: Tensor, dims: Any) -> Tensor:
    """Reverse the order of the elements along each of ``dims`` (a copy, as PyTorch)."""
    if isinstance(dims, (tuple, list)) and not dims:
        axes: tuple[int, ...] = ()
    else:
        axes = _dims.axes(dims, x.ndim, "flip")
    # a 0-d tensor accepts dim 0 or -1, and has nothing to reverse
    return Flip.apply(x, axes if x.ndim else ())


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """Tile ``x``: ``sizes[i]`` copies along dim i (PyTorch's ``Tensor.repeat``).

    More sizes than dims add leading dims, as if ``x`` had leading size-1 dims.
    """
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    counts = []
    for n in sizes:
        if isinstance(n, bool) or not hasattr(n, "__index__"):
            raise TypeError(f"repeat: repeat counts must be ints, got {n!r} in {sizes}")
        counts.append(n.__index__())
    if len(counts) < x.ndim:
        raise ValueError(
            f"repeat: got {len(counts)} repeat counts {tuple(counts)} for a tensor with {x.ndim} dims "
            f"{x.shape}; give at least one count per dim"
        )
    if builtins.any(n < 0 for n in counts):
        raise ValueError(f"repeat: repeat counts must be non-negative, got {tuple(counts)}")
    return Repeat.apply(x, tuple(counts))


def _triangle(fn: type[Function], x: Tensor, diagonal: Any, name: str) -> Tensor:
    if isinstance(diagonal, bool) or not hasattr(diagonal, "__index__"):
        raise TypeError(f"{name}: diagonal must be an int, got {type(diagonal).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name}: expects a tensor with at least 2 dims, got shape {x.shape}")
    return fn.apply(x, diagonal.__index__())


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (batched): entries with ``col - row <= diagonal``."""
    return _triangle(Tril, x, diagonal, "tril")


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (batched): entries with ``col - row >= diagonal``."""
    return _triangle(Triu, x, diagonal, "triu")


# ------------------------------------------------------------------ indexing
def index_key(key: Any, shape: tuple[int, ...]) -> Any:
    """Tensors inside an index become arrays; lists become integer or bool arrays."""
    if isinstance(key, tuple):
        return tuple(_index_part(k) for k in key)
    return _index_part(key)


def _index_part(k: Any) -> Any:
    if isinstance(k, Tensor):
        k = k._array
        if k.dtype.kind == "f":
            raise IndexError(f"tensors used as indices must be integer or bool, got {k.dtype}")
        if k.ndim == 0 and k.dtype.kind in "iu":
            return int(k)  # PyTorch indexes with a 0-d integer tensor as with an int (on a GPU: a sync)
        return k
    if isinstance(k, list):
        arr = np.asarray(k)
        if arr.dtype.kind == "f":
            raise IndexError("lists used as indices must hold integers or bools")
        return arr
    return k


# PyTorch's rule differs from NumPy's in one case: an integer beside index
# arrays. NumPy counts the integer as one more index array (so the indexed
# dims may stop being adjacent and the broadcast dims move to the front);
# PyTorch selects with the integer first (basic indexing) and then applies
# the index arrays. We index with NumPy, each integer turned into a length-1
# slice, then squeeze those dims and permute to PyTorch's order: ``layout``
# is ``(squeezed axes, permutation)``, or None where the rules agree.
def _is_int(k: Any) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def _is_array(k: Any) -> bool:
    """An index array: NumPy's, or a device's (a CUDA tensor's index)."""
    return isinstance(k, np.ndarray) or devices.is_device_array(k)


def out_of_range(idx: Any, lo: int, hi: int) -> bool:
    """Whether an index array holds a value outside ``[lo, hi)``: its min and max on the CPU, one
    reduced flag read back from a device (the one sync a bounds check costs there)."""
    if not idx.size:
        return False
    if type(idx) is np.ndarray:
        return bool(idx.min() < lo or idx.max() >= hi)
    return bool(((idx < lo) | (idx >= hi)).any())


def key_on(key: Any, like: Any) -> Any:
    """``key`` with its host index arrays (from lists) moved to the device of array ``like``."""
    if type(like) is np.ndarray:
        return key
    where = devices.device_of(like)
    if isinstance(key, tuple):
        return tuple(devices.to_device(k, where) if isinstance(k, np.ndarray) else k for k in key)
    return devices.to_device(key, where) if isinstance(key, np.ndarray) else key


def torch_key(key: Any, shape: tuple[int, ...]) -> tuple[Any, Any]:
    """The NumPy key for ``key`` and the ``layout`` that turns NumPy's result into PyTorch's."""
    key = index_key(key, shape)
    if not isinstance(key, tuple):
        return key, None
    parts = key
    if not (
        builtins.any(_is_int(k) for k in parts)
        and builtins.any(_is_array(k) and k.ndim > 0 for k in parts)
    ):
        return key, None
    if builtins.any(
        isinstance(k, (bool, np.bool_)) or (_is_array(k) and k.ndim == 0) for k in parts
    ):
        return key, None  # a scalar mask: NumPy's rule
    consumed = 0
    for k in parts:
        if _is_array(k):
            consumed += k.ndim if k.dtype == np.bool_ else 1
        elif k is not None and k is not Ellipsis:
            consumed += 1
    entries: list[Any] = []
    expanded = False
    for k in parts:
        if k is Ellipsis and not expanded:
            entries += [slice(None)] * builtins.max(len(shape) - consumed, 0)
            expanded = True
        else:
            entries.append(k)
    npkey, kinds, dim = [], [], 0
    for k in entries:
        if k is None:
            npkey.append(None)
            kinds.append("N")
        elif _is_array(k):
            npkey.append(k)
            kinds.append("A")
            dim += k.ndim if k.dtype == np.bool_ else 1
        elif _is_int(k):
            if dim >= len(shape):
                raise IndexError(f"too many indices for a tensor of dimension {len(shape)}")
            n, i = shape[dim], int(k)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {n}")
            i %= n
            npkey.append(slice(i, i + 1))
            kinds.append("I")
            dim += 1
        elif isinstance(k, slice):
            npkey.append(k)
            kinds.append("S")
            dim += 1
        else:
            return key, None
    while dim < len(shape):
        npkey.append(slice(None))
        kinds.append("S")
        dim += 1
    arrays = [k for k in npkey if _is_array(k)]
    n_broadcast = builtins.max(1 if k.dtype == np.bool_ else k.ndim for k in arrays)

    def order(ids: list[int]) -> list[Any]:
        # NumPy's (and PyTorch's) placement: the broadcast dims where the
        # index arrays stand when they are adjacent, else in front
        adv = [j for j, i in enumerate(ids) if kinds[i] == "A"]
        basic = [i for i in ids if kinds[i] != "A"]
        front = [("B", b) for b in range(n_broadcast)]
        if adv[-1] - adv[0] + 1 == len(adv):
            before = builtins.sum(1 for i in ids[: adv[0]] if kinds[i] != "A")
            return basic[:before] + front + basic[before:]
        return front + basic

    numpy_order = order(list(range(len(kinds))))
    torch_order = order([i for i, k in enumerate(kinds) if k != "I"])
    squeezed = tuple(j for j, t in enumerate(numpy_order) if not isinstance(t, tuple) and kinds[t] == "I")
    rest = [t for t in numpy_order if isinstance(t, tuple) or kinds[t] != "I"]
    perm = tuple(rest.index(t) for t in torch_order)
    return tuple(npkey), (squeezed, perm)


def to_torch_layout(out: np.ndarray, layout: Any) -> np.ndarray:
    """NumPy's result of the converted key, rearranged as PyTorch's result."""
    if layout is None:
        return out
    return out.squeeze(axis=layout[0]).transpose(layout[1])


def to_numpy_layout(a: np.ndarray, layout: Any) -> np.ndarray:
    """The inverse of :func:`to_torch_layout` (for gradients and written values)."""
    if layout is None:
        return a
    return _xp(a).expand_dims(a.transpose(tuple(np.argsort(layout[1]).tolist())), layout[0])


def _torch_shape(shape: tuple[int, ...], npkey: Any, layout: Any) -> tuple[int, ...]:
    xp = _xp(*npkey) if isinstance(npkey, tuple) else _xp(npkey)
    probe = xp.broadcast_to(xp.zeros((), np.int8), shape)[npkey]
    return to_torch_layout(probe, layout).shape


def write(a: np.ndarray, key: Any, value: Any) -> None:
    """``a[key] = value`` in place, with PyTorch's indexing rule."""
    npkey, layout = torch_key(key, a.shape)
    npkey = key_on(npkey, a)
    if type(a) is not np.ndarray and not devices.is_device_array(value):
        value = _xp(a).asarray(value)  # numbers and host values join the array's device
    if layout is not None:
        value = to_numpy_layout(_xp(a).broadcast_to(value, _torch_shape(a.shape, npkey, layout)), layout)
    a[npkey] = value


def _unique_positions(key: Any) -> bool:
    """True when no element can be selected twice (basic indexing and bool masks)."""
    parts = key if isinstance(key, tuple) else (key,)
    return builtins.all(not _is_array(p) or p.dtype == np.bool_ for p in parts)


class GetItem(Function):
    def forward(ctx, a, key, layout=None):
        ctx.shape, ctx.dtype, ctx.key, ctx.layout = a.shape, a.dtype, key, layout
        return to_torch_layout(a[key], layout)

    def backward(ctx, g):
        xp = _xp(g)
        # scatter the gradient back to the positions that were read; with
        # integer-array indices a position read twice collects both gradients
        g = to_numpy_layout(g, ctx.layout)
        grad = xp.zeros(ctx.shape, dtype=ctx.dtype)
        if _unique_positions(ctx.key):
            grad[ctx.key] = g
        else:
            devices.scatter_add(grad, ctx.key, g)
        return grad, None, None


def getitem(x: Tensor, key: Any) -> Tensor:
    """NumPy/PyTorch indexing: ints, slices, None, Ellipsis, integer arrays, bool masks."""
    key, layout = torch_key(key, x.shape)
    key = key_on(key, x._array)
    try:
        return GetItem.apply(x, key, layout)
    except IndexError as e:
        raise IndexError(f"index out of range: {e.__cause__ or e} (tensor of shape {x.shape})") from None


class SetItem(Function):
    """``a[key] = value`` as a new array, so that both a and value get gradients."""

    def forward(ctx, a, value, key, layout=None):
        xp = _xp(a)
        ctx.key, ctx.layout = key, layout
        out = a.copy()
        if xp is not np and not devices.is_device_array(value):
            value = xp.asarray(value)  # a number: onto the array's device
        if layout is not None:
            value = to_numpy_layout(xp.broadcast_to(value, _torch_shape(a.shape, key, layout)), layout)
        out[key] = value
        return out

    def backward(ctx, g):
        # the overwritten positions no longer depend on a; they are value's
        ga = g.copy()
        ga[ctx.key] = 0
        return ga, to_torch_layout(g[ctx.key], ctx.layout), None, None


def setitem(x: Tensor, key: Any, value: Any) -> Tensor:
    """The result of writing ``value`` at ``key`` into a copy of ``x`` (differentiable in both)."""
    key, layout = torch_key(key, x.shape)
    key = key_on(key, x._array)
    if isinstance(value, Tensor) and value.dtype != x.dtype:
        value = cast_to(value, x.dtype)
    try:
        return SetItem.apply(x, value, key, layout)
    except IndexError as e:
        raise IndexError(f"index out of range: {e.__cause__ or e} (tensor of shape {x.shape})") from None


class Gather(Function):
    def forward(ctx, a, dim, index):
        xp = _xp(a)
        region = tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(index.shape))
        ctx.shape, ctx.dtype, ctx.dim, ctx.index, ctx.region = a.shape, a.dtype, dim, index, region
        return xp.take_along_axis(a[region], index, axis=dim)

    def backward(ctx, g):
        xp = _xp(g)
        # each output element came from one input element: send its gradient back there
        grad = xp.zeros(ctx.shape, dtype=ctx.dtype)
        view = grad[ctx.region]
        index, dim = ctx.index, ctx.dim
        if xp is not np:  # a device: an open grid of positions, and a scatter-add
            where = [
                xp.arange(n).reshape((1,) * d + (n,) + (1,) * (index.ndim - d - 1))
                for d, n in enumerate(index.shape)
            ]
            where[dim] = index
            devices.scatter_add(view, tuple(where), g)
        elif index.shape[dim] == 1:
            np.put_along_axis(view, index, g, axis=dim)
        else:
            where = list(np.indices(index.shape, sparse=True))
            where[dim] = index
            np.add.at(view, tuple(where), g)
        return grad, None, None


@_dims.numpy_keywords
def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    """``out[i][j] = x[i][index[i][j]]`` along ``dim`` (PyTorch's gather)."""
    idx = index_input(index)
    idx = key_on(idx, x._array)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got {idx.dtype}")
    d = _dims.axis(dim, x.ndim, "gather")
    if idx.ndim != x.ndim:
        raise ValueError(
            f"gather: index has {idx.ndim} dims {idx.shape} but the input has {x.ndim} {x.shape}"
        )
    for i, (n, m) in enumerate(zip(idx.shape, x.shape, strict=True)):
        if i != d and n > m:
            raise ValueError(f"gather: index shape {idx.shape} is larger than the input {x.shape} in dim {i}")
    n = x.shape[d] if x.ndim else 1  # a 0-d input gathers like a 1-element vector
    if out_of_range(idx, 0, n):  # negative indices are refused, as in PyTorch
        bad = idx.max() if idx.max() >= n else idx.min()
        raise IndexError(
            f"gather: index {bad} is out of range for dim {d} of size {n} (input shape {x.shape})"
        )
    if x.ndim == 0:
        return GetItem.apply(x, ())
    return Gather.apply(x, d, idx)


class IndexSelect(Function):
    def forward(ctx, a, dim, index):
        xp = _xp(a)
        ctx.shape, ctx.dtype, ctx.dim, ctx.index = a.shape, a.dtype, dim, index
        return xp.take(a, index, axis=dim)

    def backward(ctx, g):
        xp = _xp(g)
        # output slice i is a copy of input slice index[i]: send its gradient
        # back there, summing where an index is repeated
        grad = xp.zeros(ctx.shape, dtype=ctx.dtype)
        devices.scatter_add(xp.moveaxis(grad, ctx.dim, 0), ctx.index, xp.moveaxis(g, ctx.dim, 0))
        return grad, None, None


@_dims.numpy_keywords
def index_select(x: Tensor, dim: int, index: Any) -> Tensor:
    """The slices of ``x`` at positions ``index`` (a 1-D integer tensor) along ``dim``, in that order."""
    idx = index_input(index)
    idx = key_on(idx, x._array)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"index_select: index must be an integer tensor, got {idx.dtype}")
    if idx.ndim > 1:
        raise IndexError(f"index_select: index must be a 1-D tensor (a vector), got shape {idx.shape}")
    d = _dims.axis(dim, x.ndim, "index_select")
    n = x.shape[d] if x.ndim else 1  # a 0-d input selects like a 1-element vector
    if out_of_range(idx, 0, n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise IndexError(
            f"index_select: index {bad} is out of range for dim {d} of size {n} (input shape {x.shape})"
        )
    if x.ndim == 0:
        if idx.size != 1:
            raise IndexError(f"index_select: a 0-d input takes exactly one index, got {idx.size}")
        return GetItem.apply(x, ())
    return IndexSelect.apply(x, d, idx.reshape(-1))


# ---------------------------------------------------------- joining, splitting
class Cat(Function):
    """Concatenation; the inputs at positions ``skip`` (PyTorch's legacy 1-D empty
    tensors, joined to tensors of more dims) add nothing and get an empty gradient."""

    def forward(ctx, *arrays, dim, skip=()):
        ctx.dim, ctx.skip = dim, skip
        if skip:
            arrays = [a for i, a in enumerate(arrays) if i not in skip]
        ctx.bounds = np.cumsum([a.shape[dim] for a in arrays])[:-1].tolist()
        return _xp(*arrays).concatenate(arrays, axis=dim)

    def backward(ctx, g):
        # each input gets its own slab of g along dim
        xp = _xp(g)
        parts = xp.split(g, ctx.bounds, axis=ctx.dim)
        if not ctx.skip:
            return tuple(parts)
        parts = iter(parts)
        n = len(ctx.bounds) + 1 + len(ctx.skip)
        return tuple(xp.zeros(0, g.dtype) if i in ctx.skip else next(parts) for i in range(n))


class Stack(Function):
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        return _xp(*arrays).stack(arrays, axis=dim)

    def backward(ctx, g):
        return tuple(_xp(g).moveaxis(g, ctx.dim, 0))


def _joinable(tensors: Sequence[Tensor], op: str) -> list[Tensor]:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected tensors, got {type(t).__name__}")
    return promote(*tensors) if len({t.dtype for t in tensors}) > 1 else tensors


@_dims.numpy_keywords
def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension; all other sizes must match.

    As in PyTorch, a 1-D empty tensor (shape ``(0,)``, e.g. ``cr.tensor([])``
    that a loop concatenates onto) is skipped whatever the others' shapes;
    it still takes part in the dtype promotion.
    """
    ts = _joinable(tensors, "cat")
    for i, t in enumerate(ts):
        if t.ndim == 0:
            raise ValueError(f"cat: tensor {i} is zero-dimensional and cannot be concatenated; use stack")
    ref_i = next((i for i, t in enumerate(ts) if t.shape != (0,)), 0)
    ref = ts[ref_i]
    skip = tuple(i for i, t in enumerate(ts) if t.shape == (0,)) if ref.ndim != 1 else ()
    d = _dims.axis(dim, ref.ndim, "cat")
    for i, t in enumerate(ts):
        if i in skip:
            continue
        if t.ndim != ref.ndim or t.shape[:d] + t.shape[d + 1 :] != ref.shape[:d] + ref.shape[d + 1 :]:
            raise ValueError(
                f"cat: tensor {i} has shape {t.shape} but tensor {ref_i} has {ref.shape}; "
                f"all sizes must match except in dim {d}"
            )
    return Cat.apply(*ts, dim=d, skip=skip) if skip else Cat.apply(*ts, dim=d)


concat = cat


@_dims.numpy_keywords
def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dimension."""
    ts = _joinable(tensors, "stack")
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape} but tensor 0 has {ts[0].shape}")
    d = _dims.axis(dim, ts[0].ndim + 1, "stack")
    return Stack.apply(*ts, dim=d)


@_dims.numpy_keywords
def split(x: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the listed sizes."""
    d = _dims.axis(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
        sizes = sizes or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} sum to {builtins.sum(sizes)}, but dim {d} has size {n}")
    pieces, start = [], 0
    lead = (slice(None),) * d
    for s in sizes:
        pieces.append(GetItem.apply(x, lead + (slice(start, start + s),)))
        start += s
    return tuple(pieces)


@_dims.numpy_keywords
def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into ``chunks`` nearly equal pieces (fewer if the size does not allow more)."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[_dims.axis(dim, x.ndim, "chunk")]
    if n == 0:
        # PyTorch: an empty dim gives ``chunks`` empty pieces
        return split(x, [0] * chunks, dim)
    return split(x, -(-n // chunks), dim)


@_dims.numpy_keywords
def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    d = _dims.axis(dim, x.ndim, "unbind")
    lead = (slice(None),) * d
    return tuple(GetItem.apply(x, lead + (i,)) for i in range(x.shape[d]))


class Pad(Function):
    def forward(ctx, a, pairs, value):
        xp = _xp(a)
        # pairs: (before, after) per dim; negative amounts crop
        out_shape = tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, pairs, strict=True))
        if builtins.any(n < 0 for n in out_shape):
            raise ValueError(f"padding {pairs} makes a negative size from shape {a.shape}")
        out = xp.full(out_shape, value, dtype=a.dtype)
        src = tuple(
            slice(builtins.max(-lo, 0), n - builtins.max(-hi, 0))
            for n, (lo, hi) in zip(a.shape, pairs, strict=True)
        )
        dst = tuple(
            slice(builtins.max(lo, 0), m - builtins.max(hi, 0))
            for m, (lo, hi) in zip(out_shape, pairs, strict=True)
        )
        out[dst] = a[src]
        ctx.shape, ctx.src, ctx.dst = a.shape, src, dst
        return out

    def backward(ctx, g):
        xp = _xp(g)
        grad = xp.zeros(ctx.shape, dtype=g.dtype)
        grad[ctx.src] = g[ctx.dst]
        return grad, None, None


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Constant padding, PyTorch's order: ``(left, right)`` of the last dim, then the one before, ...

    Negative amounts crop.
    """
    if mode != "constant":
        raise ValueError(f"pad: mode {mode!r} is not available; chainrule pads with mode='constant'")
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(
            f"pad: expected an even number of amounts, at most 2 per dim ({2 * x.ndim} here), got {pad}"
        )
    pairs = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        pairs[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return Pad.apply(x, tuple(pairs), 0 if value is None else value)
