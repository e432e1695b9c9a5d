"""The Tensor: an array, its gradient, and the link to the operation that made it.

A tensor made by the user is a *leaf*; a tensor computed from tensors that
require grad remembers the :class:`~chainrule.autograd.Function` that produced
it (``grad_fn``), which in turn remembers its inputs. That chain of records is
the graph ``backward()`` walks. The array itself is ``tensor.numpy()`` (the
library's own code reads the attribute ``_array``); ``tensor.data`` is, as in
PyTorch, a tensor sharing that storage, detached from the graph.

In-place changes (``add_``, ``t[...] = v``, an optimizer step, a write
through ``.data``) bump the storage's version counter, so that a backward
through a node that saved the old values refuses instead of giving wrong
gradients (see :func:`chainrule.autograd.bump_version`).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from chainrule import backend, devices

_new = object.__new__
# the differentiable op behind each in-place ufunc update (for add_ ... in a recorded graph)
_OP_OF_UFUNC = {"add": "add", "subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div"}


class Tensor:
    """An n-dimensional array that can record the operations applied to it."""

    __slots__ = ("__weakref__", "_array", "_ctx", "_hooks", "_requires_grad", "_retains_grad", "_vc", "grad")
    __array_ufunc__ = None  # NumPy defers to our reflected operators (array * tensor)
    __hash__ = object.__hash__  # == is elementwise, identity is the hash (as in PyTorch)

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        from chainrule.creation import as_array

        self._array = as_array(data, dtype)
        self.grad: Tensor | None = None
        self._ctx = None
        self._hooks = None
        self._retains_grad = False
        self._requires_grad = False
        self._vc = None
        if requires_grad:
            self.requires_grad = True

    @staticmethod
    def _make(data: Any, ctx: Any) -> Tensor:
        """Wrap an op's output array without copying (the hot path: no checks)."""
        t = _new(Tensor)
        t._array = data if type(data) is np.ndarray or devices.is_device_array(data) else np.asarray(data)
        t.grad = None
        t._ctx = ctx
        t._requires_grad = ctx is not None
        t._retains_grad = False
        t._hooks = t._vc = None
        return t

    # ------------------------------------------------------------------ autograd
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        flag = bool(flag)
        if self._ctx is not None and not flag:
            raise RuntimeError(
                "requires_grad can only be changed on leaf tensors; use detach() "
                "to get a tensor that does not require grad"
            )
        if flag and self._array.dtype.kind not in "fc":
            raise RuntimeError(
                f"only floating-point tensors can require gradients, got dtype {self._array.dtype}"
            )
        self._requires_grad = flag

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self) -> Any:
        """The Function that made this tensor (None for leaves)."""
        return self._ctx

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        if self._ctx is not None:
            self._retains_grad = True
            # a weak link, so the graph still holds no reference cycle
            self._ctx._retained = weakref.ref(self)

    def register_hook(self, hook: Any) -> Any:
        """Call ``hook(grad)`` each time the gradient of this tensor is computed.

        The hook gets the total gradient of this backward pass (summed over
        every use of the tensor) and may return a tensor to use instead. Returns
        a handle whose ``remove()`` takes the hook off.
        """
        if not self._requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")
        owner = self if self._ctx is None else self._ctx
        if owner._hooks is None:
            owner._hooks = []
        owner._hooks.append(hook)
        return autograd.RemovableHandle(owner._hooks, hook)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` by the chain rule."""
        autograd.backward(self, gradient, retain_graph=retain_graph)

    def detach(self) -> Tensor:
        """The same data (shared, not copied, with its version counter), cut from the graph."""
        t = Tensor._make(self._array, None)
        t._vc = self._shared_version()
        return t

    def _shared_version(self) -> Any:
        vc = self._vc
        if vc is None:
            vc = self._vc = autograd.VersionCounter()
        return vc

    @property
    def data(self) -> Tensor:
        """This tensor's storage as a tensor detached from the graph (PyTorch's ``.data``).

        It shares the array and the version counter, so ``p.data.add_(u)``
        changes ``p`` and a backward that saved ``p`` notices. Assigning
        ``p.data = t`` makes ``p`` use ``t``'s storage instead.
        """
        t = Tensor._make(self._array, None)
        t._vc = self._shared_version()
        return t

    @data.setter
    def data(self, value: Any) -> None:
        if isinstance(value, Tensor):
            self._array, self._vc = value._array, value._shared_version()
        else:
            arr = value if devices.is_device_array(value) else np.asarray(value)
            self._array, self._vc = arr, None

    @property
    def _version(self) -> int:
        """How many times the storage was changed in place (as ``torch.Tensor._version``)."""
        return 0 if self._vc is None else self._vc.value

    def detach_(self) -> Tensor:
        self._ctx = None
        self._requires_grad = False
        return self

    # ------------------------------------------------------------ attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return self._array.shape

    @property
    def ndim(self) -> int:
        return self._array.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._array.dtype

    @property
    def device(self) -> devices.device:
        """Where the tensor lives: ``cr.device("cpu")`` or ``cr.device("cuda", i)``."""
        return devices.device_of(self._array)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def is_floating_point(self) -> bool:
        return self._array.dtype.kind == "f"

    def dim(self) -> int:
        return self._array.ndim

    def size(self, dim: int | None = None) -> Any:
        if dim is None:
            return self._array.shape
        return self._array.shape[dims.axis(dim, self._array.ndim, "size")]

    def numel(self) -> int:
        return self._array.size

    def element_size(self) -> int:
        return self._array.itemsize

    def __len__(self) -> int:
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._array.shape[0]

    def __iter__(self):
        if self._array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._array.shape[0]))

    # ------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied); a GPU tensor must be copied with ``.cpu()`` first."""
        self._refuse_host_view("numpy()")
        return self._array

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        self._refuse_host_view("conversion to a NumPy array")
        return self._array if dtype is None else self._array.astype(dtype)

    def _refuse_host_view(self, what: str) -> None:
        if type(self._array) is not np.ndarray:
            raise TypeError(
                f"{what}: can't convert a {self.device} tensor to NumPy; use .cpu() to copy it to "
                "host memory first"
            )

    def item(self) -> Any:
        if self._array.size != 1:
            raise ValueError(
                f"item(): only a tensor with one element can be converted to a Python "
                f"scalar, got shape {self.shape}"
            )
        return devices.to_host(self._array).item()

    def tolist(self) -> Any:
        return devices.to_host(self._array).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self._array.size != 1:
            raise RuntimeError(
                f"the truth value of a tensor with {self._array.size} elements is ambiguous; "
                "use .any() or .all()"
            )
        return bool(devices.to_host(self._array).item())

    def __index__(self) -> int:
        if self._array.dtype.kind not in "iub" or self._array.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(devices.to_host(self._array).item())

    def to(self, *args: Any, dtype: Any = None, device: Any = None, copy: bool = False) -> Tensor:
        """Cast and move, differentiably: ``to(dtype)``, ``to("cuda")``, ``to(other)``.

        The gradient flows back to the source device and dtype. A device that
        is not available here (no GPU, no CuPy) gets an error saying which.
        """
        dtype, where = backend.parse_to_args(args, dtype, device)
        out = self
        if where is not None and where != devices.device_of(self._array):
            out = transfer.to_device(out, where)
            copy = False
        if dtype is None:
            return elementwise.clone(out) if copy else out
        return elementwise.cast(out, dtype, copy=copy)

    def type(self, dtype: Any = None) -> Any:
        return str(self._array.dtype) if dtype is None else self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def float(self) -> Tensor:
        return self.to(backend.float32)

    def double(self) -> Tensor:
        return self.to(backend.float64)

    def half(self) -> Tensor:
        return self.to(backend.float16)

    def long(self) -> Tensor:
        return self.to(backend.int64)

    def int(self) -> Tensor:
        return self.to(backend.int32)

    def bool(self) -> Tensor:
        return self.to(backend.bool_)

    def cpu(self) -> Tensor:
        """This tensor on the CPU (itself when it is there already)."""
        return self.to(devices.CPU)

    def cuda(self, device: Any = None) -> Tensor:
        """This tensor on CUDA GPU ``device`` (an index or "cuda:i"; GPU 0 by default)."""
        if device is None:
            device = "cuda"
        return self.to(devices.device("cuda", device) if isinstance(device, int) else device)

    def contiguous(self) -> Tensor:
        return self

    def clone(self) -> Tensor:
        return elementwise.clone(self)

    def __repr__(self) -> str:
        body = np.array2string(
            devices.to_host(self._array),
            separator=", ",
            prefix="tensor(",
            precision=4,
            threshold=1000,
            edgeitems=3,
        )
        extras = []
        default_float = backend.get_default_dtype()
        if self._array.dtype not in (default_float, backend.int64, backend.bool_) or (
            self._array.size == 0 and self._array.dtype != default_float
        ):
            extras.append(f"dtype=cr.{self._array.dtype}")
        if type(self._array) is not np.ndarray:
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx!r}")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a one-element tensor as its number."""
        if spec and self._array.size == 1:
            return format(self._array.item(), spec)
        return format(repr(self), spec)

    def __deepcopy__(self, memo: dict) -> Tensor:
        """A copy with its own data (and grad), as a leaf; graph results refuse, as in PyTorch."""
        if self._ctx is not None:
            raise RuntimeError(
                "deepcopy: only leaf tensors (made by the user, not computed from tensors "
                "that require grad) can be deep-copied; use .detach().clone() for the values"
            )
        t = Tensor._make(self._array.copy(), None)
        t._requires_grad = self._requires_grad
        if self.grad is not None:
            t.grad = Tensor._make(self.grad._array.copy(), None)
        memo[id(self)] = t
        return t

    # ---------------------------------------------------- in-place (no graph)
    def _check_inplace(self, what: str, leaf_only: bool = False) -> None:
        if self._requires_grad and autograd.grad_enabled and (self._ctx is None or not leaf_only):
            kind = "a leaf tensor that requires grad" if self._ctx is None else "a tensor in the graph"
            raise RuntimeError(
                f"{what}: in-place change of {kind}; do it inside cr.no_grad() "
                "(as optimizers do), on .data, or on a detached tensor"
            )

    def _assign(self, value: Any, what: str) -> Tensor:
        self._check_inplace(what)
        arr = value._array if isinstance(value, Tensor) else value
        xp = devices.array_module(self._array)
        if devices.is_device_array(arr) or type(self._array) is not np.ndarray:
            arr = devices.to_device(arr, devices.device_of(self._array))  # copy_ crosses devices
        xp.copyto(self._array, arr, casting="unsafe")
        autograd.bump_version(self)
        autograd.record_plain("assign", (self, value), {}, self)  # an export's graph: self now holds value
        return self

    def _inplace(self, op: Any, what: str, *args: Any) -> Tensor:
        """Write ``op(self, *args)`` into this tensor's storage, as PyTorch's ``op_``.

        Outside a recorded graph it is a plain write. Inside one (this tensor,
        not a leaf, or an argument requires grad) the op is recorded on a copy
        of the old values and this tensor becomes its result, as PyTorch
        rebases the history; the node that made the old values learns that
        they changed, and refuses its backward if it saved them. A view
        (``x[0]``, ``x.view(...)``) in a graph gets the result as a storage of
        its own, leaving its base unchanged.
        """
        self._check_inplace(what, leaf_only=True)
        records = autograd.grad_enabled and (
            self._requires_grad or any(isinstance(a, Tensor) and a._requires_grad for a in args)
        )
        if records:
            old = Tensor._make(self._array.copy(), self._ctx)
            old._requires_grad = self._requires_grad
            autograd.record_plain("assign", (old, self), {}, old)  # an export's graph: old is self's value
            result = op(old, *args)
        else:
            with autograd.no_grad():
                result = op(self, *args)
        arr = result._array
        if arr.shape != self._array.shape:
            raise RuntimeError(
                f"{what}: the result has shape {arr.shape} but the tensor has shape {self.shape}; "
                "an in-place operation cannot change the shape"
            )
        if records and self._array.base is not None:
            # A view (of a parameter, of another activation): writing through it
            # would change a tensor the graph does not know changed. The view
            # takes the result as its own storage instead.
            if arr.dtype != self._array.dtype:
                arr = arr.astype(self._array.dtype, casting="same_kind")
            self._array, self._vc = arr, None
            self._ctx, self._requires_grad = result._ctx, True
            autograd.mark_rebase(result._ctx, old)
            autograd.record_plain("assign", (self, result), {}, self)
            return self
        try:
            devices.array_module(self._array).copyto(self._array, arr, casting="same_kind")
        except TypeError:
            raise RuntimeError(
                f"{what}: the result type {arr.dtype} can't be cast to the tensor's dtype {self.dtype}"
            ) from None
        autograd.bump_version(self)
        if records:
            # earlier consumers of this tensor keep their gradient path to the old history
            self._ctx, self._requires_grad = result._ctx, True
            autograd.mark_rebase(result._ctx, old)
        autograd.record_plain("assign", (self, result), {}, self)  # an export's graph: self now holds result
        return self

    def zero_(self) -> Tensor:
        return self._assign(0, "zero_")

    def fill_(self, value: Any) -> Tensor:
        return self._assign(value, "fill_")

    def copy_(self, src: Any) -> Tensor:
        src_arr = src._array if isinstance(src, Tensor) else src
        if not hasattr(src_arr, "shape"):
            src_arr = np.asarray(src_arr)
        try:
            np.broadcast_shapes(src_arr.shape, self.shape)
        except ValueError as e:
            raise ValueError(
                f"copy_: cannot copy a source of shape {src_arr.shape} into a tensor of shape {self.shape}"
            ) from e
        if (
            autograd.grad_enabled
            and isinstance(src, Tensor)
            and src._requires_grad
            and self._array.base is None
        ):
            # in a recorded graph the copy is an op, as PyTorch's copy_: this tensor takes
            # src's history (its gradient flows to src; the overwritten values get none).
            # A view keeps the plain write, so that its base still sees the values.
            return self._inplace(_copied, "copy_", src)
        return self._assign(src_arr, "copy_")

    def _update(self, ufunc: str, other: Any, what: str) -> Tensor:
        # through the op when a graph is recorded, or an export traces (its recorder must see the op)
        if autograd.tracer is not None or (
            autograd.grad_enabled
            and (self._requires_grad or (isinstance(other, Tensor) and other._requires_grad))
        ):
            return self._inplace(getattr(elementwise, _OP_OF_UFUNC[ufunc]), what, other)
        if isinstance(other, Tensor):
            if type(self._array) is not np.ndarray or type(other._array) is not np.ndarray:  # both CPU: same
                devices.check_same_device((self, other), what)
            other = other._array
        getattr(devices.array_module(self._array), ufunc)(self._array, other, out=self._array)
        autograd.bump_version(self)
        return self

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        return self._update("add", other if alpha == 1 else other * alpha, "add_")

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        return self._update("subtract", other if alpha == 1 else other * alpha, "sub_")

    def mul_(self, other: Any) -> Tensor:
        return self._update("multiply", other, "mul_")

    def div_(self, other: Any) -> Tensor:
        return self._update("true_divide", other, "div_")

    def pow_(self, exponent: Any) -> Tensor:
        return self._inplace(elementwise.pow, "pow_", exponent)

    def exp_(self) -> Tensor:
        return self._inplace(elementwise.exp, "exp_")

    def log_(self) -> Tensor:
        return self._inplace(elementwise.log, "log_")

    def neg_(self) -> Tensor:
        return self._inplace(elementwise.neg, "neg_")

    def abs_(self) -> Tensor:
        return self._inplace(elementwise.abs, "abs_")

    def sqrt_(self) -> Tensor:
        return self._inplace(elementwise.sqrt, "sqrt_")

    def relu_(self) -> Tensor:
        return self._inplace(elementwise.relu, "relu_")

    def sigmoid_(self) -> Tensor:
        return self._inplace(elementwise.sigmoid, "sigmoid_")

    def tanh_(self) -> Tensor:
        return self._inplace(elementwise.tanh, "tanh_")

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        return self._inplace(elementwise.masked_fill, "masked_fill_", mask, value)

    def _augmented(self, ufunc: str, op: Any, other: Any) -> Tensor:
        # ``x += y``: in place, as in PyTorch. A non-leaf tensor inside a
        # recorded graph gets the out-of-place result instead (the name is
        # rebound; gradients stay right), since in-place edits of saved
        # arrays would corrupt backward. Like a true in-place update, the result
        # keeps this tensor's shape and dtype (float32 += float64 stays float32).
        if self._requires_grad and autograd.grad_enabled and self._ctx is not None:
            out = op(self, other)
            if out._array.shape != self._array.shape:
                raise RuntimeError(
                    f"augmented assignment ({ufunc}): the result has shape {out.shape} but the tensor "
                    f"has shape {self.shape}; an in-place operation cannot change the shape"
                )
            if out._array.dtype != self._array.dtype:
                if not np.can_cast(out._array.dtype, self._array.dtype, casting="same_kind"):
                    raise RuntimeError(
                        f"augmented assignment ({ufunc}): the result type {out.dtype} can't be cast "
                        f"to the tensor's dtype {self.dtype}"
                    )
                out = elementwise.cast(out, self._array.dtype)
            return out
        return self._update(ufunc, other, f"augmented assignment ({ufunc})")

    def __iadd__(self, other: Any) -> Tensor:
        return self._augmented("add", elementwise.add, other)

    def __isub__(self, other: Any) -> Tensor:
        return self._augmented("subtract", elementwise.sub, other)

    def __imul__(self, other: Any) -> Tensor:
        return self._augmented("multiply", elementwise.mul, other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._augmented("true_divide", elementwise.div, other)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        return self._inplace(elementwise.clamp, "clamp_", min, max)

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
        return self._assign(random.rng(generator).uniform(a, b, self.shape).astype(self.dtype), "uniform_")

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
        values = random.rng(generator).normal(mean, std, self.shape).astype(self.dtype)
        return self._assign(values, "normal_")

    def __setitem__(self, key: Any, value: Any) -> None:
        """``t[key] = value``. In a recorded graph (t or value requires grad) the
        write is differentiable: t is rebound to a new array and becomes the
        result of the assignment, as PyTorch rebases its history. Otherwise the
        array is written in place.
        """
        if autograd.tracer is not None or (
            autograd.grad_enabled
            and (self._requires_grad or (isinstance(value, Tensor) and value._requires_grad))
        ):
            if self._requires_grad and self._ctx is None:
                self._check_inplace("__setitem__")
            before = Tensor._make(self._array, self._ctx)
            before._requires_grad = self._requires_grad
            after = shape.setitem(before, key, value)
            self._array, self._ctx, self._requires_grad = after._array, after._ctx, after._requires_grad
            if after._ctx is not None:  # None: only an export traces, nothing requires grad
                autograd.mark_rebase(after._ctx, before)
            self._vc = None  # a new storage: views of the old one keep the old counter
            autograd.record_plain("assign", (self, after), {}, self)  # an export's graph: self is after
            return
        try:
            shape.write(self._array, key, value._array if isinstance(value, Tensor) else value)
            autograd.bump_version(self)
        except IndexError as e:
            raise IndexError(f"__setitem__: {e} (tensor of shape {self.shape})") from e
        except ValueError as e:
            raise ValueError(f"__setitem__: {e} (tensor of shape {self.shape})") from e

    # --------------------------------------------------------------- operators
    def __add__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor) and other._array.dtype is self._array.dtype:
            return elementwise.Add.apply(self, other)
        return elementwise.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return elementwise.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor) and other._array.dtype is self._array.dtype:
            return elementwise.Sub.apply(self, other)
        return elementwise.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return elementwise.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        if isinstance(other, Tensor) and other._array.dtype is self._array.dtype:
            return elementwise.Mul.apply(self, other)
        return elementwise.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return elementwise.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return elementwise.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return elementwise.div(other, self)

    def __floordiv__(self, other: Any) -> Tensor:
        return elementwise.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return elementwise.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return elementwise.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return elementwise.remainder(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return elementwise.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return elementwise.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return linalg.matmul(other, self)

    def __neg__(self) -> Tensor:
        return elementwise.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return elementwise.abs(self)

    def __invert__(self) -> Tensor:
        return elementwise.bitwise_not(self)

    def __and__(self, other: Any) -> Tensor:
        return elementwise.bitwise_and(self, other)

    __rand__ = __and__

    def __or__(self, other: Any) -> Tensor:
        return elementwise.bitwise_or(self, other)

    __ror__ = __or__

    def __xor__(self, other: Any) -> Tensor:
        return elementwise.bitwise_xor(self, other)

    __rxor__ = __xor__

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return elementwise.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return elementwise.ne(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return elementwise.lt(self, other)

    def __le__(self, other: Any) -> Tensor:
        return elementwise.le(self, other)

    def __gt__(self, other: Any) -> Tensor:
        return elementwise.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:
        return elementwise.ge(self, other)

    def __getitem__(self, key: Any) -> Tensor:
        return shape.getitem(self, key)

    # ------------------------------------------------------- method forms of ops
    def add(self, other: Any, alpha: Any = 1) -> Tensor:
        return elementwise.add(self, other if alpha == 1 else other * alpha)

    def sub(self, other: Any, alpha: Any = 1) -> Tensor:
        return elementwise.sub(self, other if alpha == 1 else other * alpha)

    def mul(self, other: Any) -> Tensor:
        return elementwise.mul(self, other)

    def div(self, other: Any) -> Tensor:
        return elementwise.div(self, other)

    def pow(self, exponent: Any) -> Tensor:
        return elementwise.pow(self, exponent)

    def neg(self) -> Tensor:
        return elementwise.neg(self)

    def exp(self) -> Tensor:
        return elementwise.exp(self)

    def log(self) -> Tensor:
        return elementwise.log(self)

    def sqrt(self) -> Tensor:
        return elementwise.sqrt(self)

    def abs(self) -> Tensor:
        return elementwise.abs(self)

    def sin(self) -> Tensor:
        return elementwise.sin(self)

    def cos(self) -> Tensor:
        return elementwise.cos(self)

    def tanh(self) -> Tensor:
        return elementwise.tanh(self)

    def sigmoid(self) -> Tensor:
        return elementwise.sigmoid(self)

    def relu(self) -> Tensor:
        return elementwise.relu(self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        return elementwise.clamp(self, min, max)

    clip = clamp

    def maximum(self, other: Any) -> Tensor:
        return elementwise.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return elementwise.minimum(self, other)

    def where(self, condition: Any, other: Any) -> Tensor:
        return elementwise.where(condition, self, other)

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        return elementwise.nonzero(self, as_tuple=as_tuple)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return elementwise.masked_fill(self, mask, value)

    def eq(self, other: Any) -> Tensor:
        return elementwise.eq(self, other)

    def ne(self, other: Any) -> Tensor:
        return elementwise.ne(self, other)

    def lt(self, other: Any) -> Tensor:
        return elementwise.lt(self, other)

    def le(self, other: Any) -> Tensor:
        return elementwise.le(self, other)

    def gt(self, other: Any) -> Tensor:
        return elementwise.gt(self, other)

    def ge(self, other: Any) -> Tensor:
        return elementwise.ge(self, other)

    def floor(self) -> Tensor:
        return elementwise.floor(self)

    def ceil(self) -> Tensor:
        return elementwise.ceil(self)

    def round(self, *, decimals: int = 0) -> Tensor:
        return elementwise.round(self, decimals=decimals)

    def trunc(self) -> Tensor:
        return elementwise.trunc(self)

    def isnan(self) -> Tensor:
        return elementwise.isnan(self)

    def isinf(self) -> Tensor:
        return elementwise.isinf(self)

    def isfinite(self) -> Tensor:
        return elementwise.isfinite(self)

    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        return reduce.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        return reduce.mean(self, dim, keepdim, dtype=dtype)

    def prod(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        return reduce.prod(self, dim, keepdim, dtype=dtype)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return reduce.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return reduce.min(self, dim, keepdim)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return reduce.amax(self, dim, keepdim)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return reduce.amin(self, dim, keepdim)

    def var(
        self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
    ) -> Tensor:
        return reduce.var(self, dim, unbiased, keepdim, correction=correction)

    def std(
        self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None
    ) -> Tensor:
        return reduce.std(self, dim, unbiased, keepdim, correction=correction)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        return reduce.logsumexp(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return reduce.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return reduce.argmin(self, dim, keepdim)

    def cumsum(self, dim: int, dtype: Any = None) -> Tensor:
        return reduce.cumsum(self, dim, dtype=dtype)

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return reduce.any(self, dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return reduce.all(self, dim, keepdim)

    def softmax(self, dim: int) -> Tensor:
        return fused.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        return fused.log_softmax(self, dim)

    def matmul(self, other: Any) -> Tensor:
        return linalg.matmul(self, other)

    def reshape(self, *shape_: Any) -> Tensor:
        return shape.reshape(self, *shape_)

    def view(self, *shape_: Any) -> Tensor:
        return shape.view(self, *shape_)

    def view_as(self, other: Tensor) -> Tensor:
        return shape.view(self, other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return shape.reshape(self, other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return shape.flatten(self, start_dim, end_dim)

    def permute(self, *dims: Any) -> Tensor:
        return shape.permute(self, *dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return shape.transpose(self, dim0, dim1)

    def t(self) -> Tensor:
        if self._array.ndim > 2:
            raise ValueError(f"t(): expects a tensor with at most 2 dims, got shape {self.shape}")
        return shape.permute(self, *reversed(range(self._array.ndim)))

    @property
    def T(self) -> Tensor:  # noqa: N802
        """All dimensions reversed (the transpose, for a matrix)."""
        return shape.permute(self, *reversed(range(self._array.ndim)))

    @property
    def mT(self) -> Tensor:  # noqa: N802
        """The last two dimensions swapped (a batch of transposed matrices)."""
        return shape.transpose(self, -2, -1)

    def squeeze(self, dim: Any = None) -> Tensor:
        return shape.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> Tensor:
        return shape.unsqueeze(self, dim)

    def expand(self, *sizes: Any) -> Tensor:
        return shape.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return shape.expand(self, other.shape)

    def gather(self, dim: int, index: Any) -> Tensor:
        return shape.gather(self, dim, index)

    def index_select(self, dim: int, index: Any) -> Tensor:
        return shape.index_select(self, dim, index)

    def flip(self, *dims: Any) -> Tensor:
        if not dims:
            raise TypeError("flip() missing the dims to reverse")
        return shape.flip(self, dims[0] if len(dims) == 1 else dims)

    def repeat(self, *sizes: Any) -> Tensor:
        return shape.repeat(self, *sizes)

    def tril(self, diagonal: int = 0) -> Tensor:
        return shape.tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        return shape.triu(self, diagonal)

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return shape.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return shape.chunk(self, chunks, dim)


# Imported last: these modules need the Tensor class defined above.
from chainrule import autograd, random  # noqa: E402

# ---------------------------------------------------------------------------
# Method forms of the wider op surface (issue 15), added in one block: each is
# the function of the same name in ops/ with the tensor as its first argument.
from chainrule.ops import (  # noqa: E402  # noqa: E402
    dims,
    elementwise,
    fused,
    layout,
    linalg,
    pointwise,
    reduce,
    scan,
    scatter,
    shape,
    sort,
    transfer,
)


def _copied(old: Tensor, src: Tensor) -> Tensor:
    """``src`` in ``old``'s dtype and shape, differentiably: what ``old.copy_(src)`` writes."""
    out = elementwise.cast_to(src, old._array.dtype)
    return elementwise.clone(out) if out.shape == old.shape else out.expand(old.shape) * 1


def _method(fn: Any, name: str | None = None) -> Any:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return fn(self, *args, **kwargs)

    method.__name__ = name or fn.__name__
    method.__doc__ = fn.__doc__
    return method


_METHODS = {
    elementwise: (
        "remainder floor_divide allclose square rsqrt reciprocal log1p expm1 "
        "logical_and logical_or logical_xor logical_not bitwise_not"
    ),
    pointwise: (
        "fmod isclose tan asin acos atan atan2 arcsin arccos arctan arctan2 sinh cosh asinh acosh atanh "
        "arcsinh arccosh arctanh log2 log10 exp2 erf erfc erfinv logit frac sign sgn nan_to_num "
        "copysign lerp logaddexp logaddexp2 hypot xlogy"
    ),
    scan: "cumprod cummax cummin logcumsumexp",
    sort: "sort argsort msort topk kthvalue median mode unique",
    layout: (
        "roll movedim moveaxis swapdims swapaxes unflatten narrow tensor_split hsplit vsplit dsplit "
        "tile repeat_interleave unfold diagonal diag diag_embed"
    ),
    scatter: (
        "scatter scatter_add scatter_reduce index_add index_copy index_fill masked_select "
        "masked_scatter take_along_dim"
    ),
    linalg: "mm bmm outer ger cross trace norm",
}
for _module, _names in _METHODS.items():
    for _name in _names.split():
        setattr(Tensor, _name, _method(getattr(_module, _name)))
del _module, _names, _name


def _inplace_form(fn: Any, name: str) -> Any:
    """``fn``'s in-place method (``index_add_`` for ``index_add``): the result written into the tensor."""

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        given = len(args)
        # tensors given by keyword are passed on too, so that _inplace sees whether they require grad
        keyword_tensors = [v for v in kwargs.values() if isinstance(v, Tensor)]

        def op(t: Tensor, *a: Any) -> Tensor:
            return fn(t, *a[:given], **kwargs)

        return self._inplace(op, name, *args, *keyword_tensors)

    method.__name__ = name
    method.__doc__ = f"In-place form of :meth:`{fn.__name__}` (bumps the tensor's version)."
    return method


for _name in "scatter scatter_add scatter_reduce index_add index_copy index_fill masked_scatter".split():
    setattr(Tensor, _name + "_", _inplace_form(getattr(scatter, _name), _name + "_"))
del _name


def _div(self: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    return elementwise.div(self, other, rounding_mode=rounding_mode)


def _new_filled(fill: str) -> Any:
    def make(
        self: Tensor, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        sizes = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        dt = self._array.dtype if dtype is None else backend.as_dtype(dtype)
        xp = devices.array_module(self._array)
        t = Tensor._make(getattr(xp, fill)(tuple(int(n) for n in sizes), dt), None)
        if device is not None:
            t = Tensor._make(devices.to_device(t._array, devices.parse(device, fill)), None)
        return t.requires_grad_(True) if requires_grad else t

    return make


def _new_full(
    self: Tensor,
    size: Any,
    fill_value: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    dt = self._array.dtype if dtype is None else backend.as_dtype(dtype)
    xp = devices.array_module(self._array)
    t = Tensor._make(xp.full(tuple(size), fill_value, dtype=dt), None)
    if device is not None:
        t = Tensor._make(devices.to_device(t._array, devices.parse(device, "new_full")), None)
    return t.requires_grad_(True) if requires_grad else t


def _new_tensor(
    self: Tensor, data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """A new leaf tensor from ``data`` (copied), in this tensor's dtype unless ``dtype`` is given."""
    arr = data._array if isinstance(data, Tensor) else data
    dt = self._array.dtype if dtype is None else backend.as_dtype(dtype)
    where = devices.device_of(self._array) if device is None else devices.parse(device, "new_tensor")
    t = Tensor._make(devices.to_device(np.array(devices.to_host(arr), dtype=dt), where), None)
    return t.requires_grad_(True) if requires_grad else t


Tensor.div = _div
Tensor.divide = _div
Tensor.true_divide = _div
Tensor.new_zeros = _new_filled("zeros")
Tensor.new_ones = _new_filled("ones")
Tensor.new_empty = _new_filled("empty")
Tensor.new_full = _new_full
Tensor.new_tensor = _new_tensor
Tensor.arctan2 = Tensor.atan2


def _accept_numpy_keywords(cls: type) -> None:
    """Every method that takes ``dim``/``keepdim`` also takes NumPy's ``axis``/``keepdims`` (as PyTorch)."""
    import inspect

    for name, fn in list(vars(cls).items()):
        if name.startswith("_") or not callable(fn):
            continue
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            continue
        if "dim" in params or "keepdim" in params:
            setattr(cls, name, dims.numpy_keywords(fn))


_accept_numpy_keywords(Tensor)
