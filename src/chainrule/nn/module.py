"""Module and Parameter: how layers own their weights, as in ``torch.nn``.

A :class:`Module` registers what is assigned to it: a :class:`Parameter`
becomes a trainable weight, another Module becomes a child, a tensor given to
``register_buffer`` becomes saved state that is not trained (batch-norm
statistics). From that registry come ``parameters()``, ``state_dict()``,
``train()``/``eval()`` and the nested ``repr``. Containers
(:class:`Sequential`, :class:`ModuleList`, :class:`ModuleDict`) are Modules
whose children are numbered or named.
"""

from __future__ import annotations

import itertools
import operator
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np

from chainrule import backend, devices
from chainrule.autograd import RemovableHandle, bump_version, no_grad
from chainrule.tensor import Tensor

__all__ = ["Module", "ModuleDict", "ModuleList", "Parameter", "Sequential"]


class Parameter(Tensor):
    """A tensor that a Module trains: assigning one to a module attribute registers it.

    It shares the array it is made from (no copy) and requires grad unless told otherwise.
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty(0, dtype=backend.get_default_dtype())
        array = data._array if isinstance(data, Tensor) else data
        super().__init__(array, dtype=getattr(array, "dtype", None))
        if isinstance(data, Tensor) or isinstance(data, np.ndarray) or devices.is_device_array(data):
            self._array = array  # share, as torch.nn.Parameter does
        self.requires_grad = requires_grad

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> Parameter:
        p = Parameter(self._array.copy(), requires_grad=self._requires_grad)
        if self.grad is not None:
            p.grad = Tensor._make(self.grad._array.copy(), None)
        memo[id(self)] = p
        return p


class _IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return f"_IncompatibleKeys(missing_keys={self.missing_keys}, unexpected_keys={self.unexpected_keys})"


def _as_array(value: Any) -> np.ndarray | None:
    if isinstance(value, Tensor):
        return value._array
    if isinstance(value, np.ndarray) or devices.is_device_array(value):
        return value
    return None


def _kind(dtype: np.dtype) -> str:
    """'float', 'integer' or 'bool': values may move between dtypes of one kind, not across kinds."""
    return {"f": "float", "c": "complex", "b": "bool"}.get(dtype.kind, "integer")


class Module:
    """Base class of every layer and model: subclass it, assign layers and Parameters, write ``forward``."""

    training: bool
    # State a checkpoint may lack: kept as it is and not reported missing (old PyTorch files have
    # no BatchNorm ``num_batches_tracked``; PyTorch loads them so).
    _optional_state: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        setter = object.__setattr__
        setter(self, "training", True)
        setter(self, "_parameters", {})
        setter(self, "_buffers", {})
        setter(self, "_non_persistent_buffers", set())
        setter(self, "_modules", {})
        setter(self, "_forward_hooks", [])
        setter(self, "_forward_pre_hooks", [])

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{type(self).__name__} has no forward(); subclasses of Module must define one")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            if not (self._forward_hooks or self._forward_pre_hooks):
                return self.forward(*args, **kwargs)
            return self._call_with_hooks(args, kwargs)
        except (ValueError, TypeError) as e:
            _name_layer(e, self)
            raise

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        # each hook is stored as (hook, with_kwargs, always_call)
        for hook, with_kwargs, _ in list(self._forward_pre_hooks):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "a forward pre-hook registered with with_kwargs=True must return None or "
                            f"a tuple (args, kwargs), got {type(result).__name__}"
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        try:
            out = self.forward(*args, **kwargs)
        except BaseException:
            for hook, with_kwargs, always_call in list(self._forward_hooks):
                if always_call:  # PyTorch's always_call: the hook runs even when forward raises
                    hook(self, args, kwargs, None) if with_kwargs else hook(self, args, None)
            raise
        for hook, with_kwargs, _ in list(self._forward_hooks):
            result = hook(self, args, kwargs, out) if with_kwargs else hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_hook(
        self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False, always_call: bool = False
    ) -> RemovableHandle:
        """Call ``hook(module, inputs, output)`` after each forward; a non-None return replaces the output.

        ``with_kwargs=True``: ``hook(module, args, kwargs, output)``. ``prepend``: run before the
        hooks already registered. ``always_call``: run (with output None) even if forward raises.
        """
        return _add_hook(self._forward_hooks, (hook, with_kwargs, always_call), prepend)

    def register_forward_pre_hook(
        self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Call ``hook(module, inputs)`` before each forward; a non-None return replaces the inputs.

        ``with_kwargs=True``: ``hook(module, args, kwargs)``, returning None or ``(args, kwargs)``.
        """
        return _add_hook(self._forward_pre_hooks, (hook, with_kwargs, False), prepend)

    # ------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError(
                f"cannot assign {name!r} before Module.__init__() is called; "
                f"call super().__init__() first in {type(self).__name__}.__init__"
            )
        params, modules, buffers = d["_parameters"], d["_modules"], d["_buffers"]
        # Replacing a parameter or a child keeps its place in the order (as PyTorch; state_dict keys and
        # Sequential's order stay put).
        if isinstance(value, Parameter):
            if name not in params and hasattr(type(self), name):  # a method or property: PyTorch refuses too
                raise KeyError(
                    f"cannot assign a parameter as {name!r}: {type(self).__name__} has an attribute {name!r}"
                )
            self._forget(name, keep=params)  # a re-assigned parameter keeps its place, as in PyTorch
            params[name] = value
        elif isinstance(value, Module) and name not in params:
            self._forget(name, keep=modules)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} of {type(self).__name__} "
                    "(a Parameter or None is required; wrap it: nn.Parameter(tensor))"
                )
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} of "
                    f"{type(self).__name__} (a Module or None is required)"
                )
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer {name!r} of {type(self).__name__} "
                    "(a Tensor or None is required)"
                )
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: dict | None = None) -> None:
        d = self.__dict__
        d.pop(name, None)
        for registry in (d["_parameters"], d["_modules"], d["_buffers"]):
            if registry is not keep:
                registry.pop(name, None)
        d["_non_persistent_buffers"].discard(name)

    def __getattr__(self, name: str) -> Any:
        # Only called when ordinary lookup fails: look in the registries.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if name in d[registry]:
                del d[registry][name]
                d["_non_persistent_buffers"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        extra = itertools.chain(self._parameters, self._buffers, self._modules)
        return sorted(set(super().__dir__()) | set(extra))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None, a declared but absent parameter such as a missing bias)."""
        self._check_name(name, "parameter", self.__dict__.get("_parameters", {}))
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}"
            )
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register state that is saved (if persistent) but not trained, such as running statistics."""
        self._check_name(name, "buffer", self.__dict__.get("_buffers", {}))
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}"
            )
        self._forget(name, keep=self._buffers)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as a child called ``name``."""
        self._check_name(name, "module", self.__dict__.get("_modules", {}))
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module or None, got {type(module).__name__}")
        self._forget(name, keep=self._modules)
        self._modules[name] = module

    register_module = add_module

    def _check_name(self, name: str, what: str, registry: dict) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot register a {what} before Module.__init__() is called")
        if not isinstance(name, str):
            raise TypeError(f"{what} name must be a string, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"{what} name must be non-empty and contain no '.', got {name!r}")
        # a name taken by another kind of member, a plain attribute or a method is refused, as in PyTorch
        if hasattr(self, name) and name not in registry:
            raise KeyError(
                f"cannot register {what} {name!r}: attribute {name!r} already exists on {type(self).__name__}"
            )

    # --------------------------------------------------------------- traversal
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """Every module in the tree (this one first) with its dotted name, each once."""
        stack = [(prefix, self)]
        seen = set() if memo is None else memo
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{n}" if name else n, m) for n, m in module._modules.items() if m is not None
            ]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool = True):
        seen = set()
        # remove_duplicate=False lists every path to a shared module too, as PyTorch does
        if recurse:
            modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
        else:
            modules = [(prefix, self)]
        for mod_name, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_name}.{name}" if mod_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """``(dotted name, Parameter)`` for every parameter, a shared one once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> Module:
        """The module at a dotted path such as ``"encoder.layers.0"``."""
        module = self
        for part in target.split(".") if target else []:
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(
                    f"{type(module).__name__} has no submodule {part!r} (looking for {target!r})"
                )
            module = child
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path such as ``"encoder.layers.0.linear1.weight"``."""
        return self._get_member(target, "_parameters", "parameter")

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at a dotted path such as ``"bn.running_mean"``."""
        return self._get_member(target, "_buffers", "buffer")

    def _get_member(self, target: str, registry: str, what: str) -> Any:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        members = getattr(module, registry)
        if members.get(name) is None:
            raise AttributeError(
                f"{type(module).__name__} has no {what} {name!r} (looking for {target!r}); "
                f"its {what}s are {sorted(members)}"
            )
        return members[name]

    # ------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout on, batch norm uses batch statistics), for this module and its children."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(): mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: the same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze (True) every parameter."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None by default, as PyTorch 2 does)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad._array[...] = 0

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every child (depth first) and then on this module; used for custom init."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------- dtype
    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Module:
        """Move parameters and buffers to ``device`` and cast floating ones to ``dtype``, in place.

        As in PyTorch the Parameter objects stay the same (an optimizer built
        before the move keeps working); their gradients move with them.
        """
        dtype, where = backend.parse_to_args(args, dtype, device)
        if dtype is not None:
            dtype = backend.as_dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to() only casts to floating-point dtypes, got {dtype}")
        for t in itertools.chain(self.parameters(), self.buffers()):
            t._array = _moved(t._array, dtype, where)
            if t.grad is not None:
                t.grad = Tensor._make(_moved(t.grad._array, dtype, where), None)
        return self

    def float(self) -> Module:
        return self.to(backend.float32)

    def double(self) -> Module:
        return self.to(backend.float64)

    def half(self) -> Module:
        return self.to(backend.float16)

    def cpu(self) -> Module:
        """Move every parameter and buffer to the CPU."""
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Module:
        """Move every parameter and buffer to CUDA GPU ``device`` (GPU 0 by default)."""
        return self.to(devices.device("cuda", device) if isinstance(device, int) else device or "cuda")

    # -------------------------------------------------------------- state dict
    def state_dict(self, destination: dict | None = None, prefix: str = "", keep_vars: bool = False) -> dict:
        """Every parameter and persistent buffer by dotted name, sharing memory with the module."""
        out = OrderedDict() if destination is None else destination
        # every path to a shared module is listed, as in PyTorch
        for mod_name, module in self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
            dot = mod_name + "." if mod_name else ""
            for name, p in module._parameters.items():
                if p is not None:
                    out[dot + name] = p if keep_vars else p.detach()
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent_buffers:
                    out[dot + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy values (Tensors or NumPy arrays) into the parameters and buffers of the same names.

        Every problem is reported at once, by name: missing and unexpected keys
        (errors when ``strict``), and always shape mismatches and values of the
        wrong kind (floats into an integer buffer, integers into a weight).
        Floating-point values are cast to the parameter's precision, as PyTorch does.
        Nothing is copied unless every key is fine. ``assign=True`` puts the
        state dict's own tensors in place instead of copying (their dtype kept;
        a parameter keeps its ``requires_grad``), as PyTorch's ``assign``.
        A BatchNorm counter absent from the dict (older files) keeps its value, as in PyTorch.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict: expected a mapping of names to tensors, got {type(state_dict).__name__}"
            )
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict and not self._is_optional(k)]
        unexpected = [k for k in state_dict if k not in own]
        problems, copies = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = _as_array(state_dict[key])
            if value is None:
                problems.append(
                    f"{key}: expected a Tensor or NumPy array, got {type(state_dict[key]).__name__}"
                )
                continue
            if target.ndim == 0 and value.shape == (1,):  # a 0-d value saved as (1,), as PyTorch accepts
                value = value.reshape(())
            if value.shape != target.shape:
                problems.append(
                    f"size mismatch for {key}: copying a value of shape {tuple(value.shape)} from the "
                    f"state dict, the shape in the current model is {tuple(target.shape)}"
                )
                continue
            if _kind(value.dtype) != _kind(target._array.dtype):
                problems.append(
                    f"dtype mismatch for {key}: the state dict has {value.dtype}, the current model "
                    f"has {target._array.dtype}"
                )
                continue
            copies.append((key, target, value))
        if strict:
            if missing:
                problems.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing))
            if unexpected:
                problems.insert(
                    len(missing) > 0,
                    "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected),
                )
        if problems:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(problems)
            )
        if assign:
            for key, target, value in copies:
                self._assign(key, target, state_dict[key], value)
            return _IncompatibleKeys(missing, unexpected)
        with no_grad():
            for _, target, value in copies:
                # a checkpoint's values land on the parameter's device (CPU file, GPU model and back)
                value = devices.to_device(value, devices.device_of(target._array))
                devices.array_module(target._array).copyto(target._array, value, casting="unsafe")
                bump_version(target)
        return _IncompatibleKeys(missing, unexpected)

    def _is_optional(self, key: str) -> bool:
        module_path, _, name = key.rpartition(".")
        return name in type(self.get_submodule(module_path))._optional_state

    def _assign(self, key: str, target: Tensor, given: Any, value: Any) -> None:
        """``load_state_dict(assign=True)``: put the given tensor itself at ``key``."""
        module_path, _, name = key.rpartition(".")
        module = self.get_submodule(module_path)
        if value.shape != target.shape:  # the (1,) -> 0-d case
            given = value
        tensor = given if isinstance(given, Tensor) else Tensor._make(value, None)
        if name in module._parameters:
            if isinstance(tensor, Parameter):
                tensor.requires_grad_(target.requires_grad)  # the model's choice wins, as in PyTorch
            else:
                tensor = Parameter(tensor.detach(), requires_grad=target.requires_grad)
            module._parameters[name] = tensor
        else:
            module._buffers[name] = tensor

    # -------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The layer's settings inside its repr's parentheses, e.g. ``in_features=2, out_features=3``."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        if not self._modules and "\n" not in extra:
            return f"{self._get_name()}({extra})"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


def _add_hook(hooks: list, entry: tuple, prepend: bool) -> RemovableHandle:
    if not callable(entry[0]):
        raise TypeError(f"a hook must be callable, got {type(entry[0]).__name__}")
    hooks.insert(0, entry) if prepend else hooks.append(entry)
    return RemovableHandle(hooks, entry)


def _name_layer(error: Exception, module: Module) -> None:
    """Say in the error's message which layer raised it, by its dotted name within ``module``.

    The innermost layer is recorded first; each enclosing module on the way
    out rewrites the message with the path from itself, so the user sees the
    path from the model they called, e.g. ``in layer '2' (Linear(...)) of Sequential``.
    """
    if not hasattr(error, "_chainrule_layer"):
        error._chainrule_layer = module
        error._chainrule_message = str(error)
    layer = error._chainrule_layer
    extra = layer.extra_repr()
    described = (
        f"{layer._get_name()}({extra})" if "\n" not in extra and len(extra) < 120 else layer._get_name()
    )
    if layer is module:
        where = described
    else:
        path = next((n for n, m in module.named_modules() if m is layer), None)
        if path is None:
            return
        where = f"layer '{path}' ({described}) of {module._get_name()}"
    error.args = (f"in {where}: {error._chainrule_message}",)


# ---------------------------------------------------------------- containers
class Sequential(Module):
    """Modules applied one after another: ``Sequential(Linear(2, 8), ReLU(), Linear(8, 1))``."""

    def __init__(self, *args: Module) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], Mapping):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, input: Any) -> Any:  # noqa: A002
        x = input
        for module in self._modules.values():
            x = module(x)
        return x

    def _index(self, idx: int) -> str:
        n = len(self._modules)
        i = operator.index(idx)
        if not -n <= i < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of length {n}")
        return list(self._modules)[i % n]

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return self._modules[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(self._index(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)[idx] if isinstance(idx, slice) else [self._index(idx)]
        for k in keys:
            del self._modules[k]
        # renumber, so indices stay 0..n-1 as in PyTorch
        items = list(self._modules.values())
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for m in modules:
            self.append(m)
        return self

    def pop(self, key: int | slice) -> Module:
        """Remove and return the module at ``key``; the rest are renumbered."""
        v = self[key]
        del self[key]
        return v

    def __add__(self, other: Sequential) -> Sequential:
        """A new Sequential of this one's modules and then ``other``'s (the same module objects)."""
        if not isinstance(other, Sequential):
            raise ValueError(f"Sequential + expects another Sequential, got {type(other).__name__}")
        return Sequential(*self, *other)

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError(f"Sequential += expects another Sequential, got {type(other).__name__}")
        return self.extend(list(other))

    def __mul__(self, times: int) -> Sequential:
        """A new Sequential repeating these modules ``times`` times (shared, not copied, as in PyTorch)."""
        if not isinstance(times, int) or isinstance(times, bool):
            raise TypeError(f"Sequential * expects an int, got {type(times).__name__}")
        if times <= 0:
            raise ValueError(f"Sequential * expects a positive int, got {times}")
        return Sequential(*(list(self) * times))

    __rmul__ = __mul__

    def __imul__(self, times: int) -> Sequential:
        repeated = self * times
        return self.extend(list(repeated)[len(self) :])

    def __dir__(self) -> list[str]:
        return [k for k in Module.__dir__(self) if not k[:1].isdigit()]  # no "0", "1", ... as in PyTorch

    def insert(self, index: int, module: Module) -> Sequential:
        if not isinstance(module, Module):  # checked first: a failed insert leaves the container as it was
            raise TypeError(f"{type(self).__name__}.insert: expected a Module, got {type(module).__name__}")
        items = list(self._modules.values())
        n = len(items)
        if not -n <= index <= n:
            raise IndexError(f"insert: index {index} is out of range for length {n}")
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)
        return self


class ModuleList(Module):
    """A list of modules that registers each one (a plain Python list would hide their parameters)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[self._index(idx)]

    __setitem__ = Sequential.__setitem__
    __delitem__ = Sequential.__delitem__
    __len__ = Sequential.__len__
    __iter__ = Sequential.__iter__
    _index = Sequential._index
    append = Sequential.append
    insert = Sequential.insert

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        # a Sequential or another ModuleList is iterable and accepted, as in PyTorch; a single layer is not
        if isinstance(modules, str) or not isinstance(modules, Iterable):
            raise TypeError(f"ModuleList.extend expects an iterable of Modules, got {type(modules).__name__}")
        for m in modules:
            self.append(m)
        return self

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    pop = Sequential.pop
    __dir__ = Sequential.__dir__

    def __repr__(self) -> str:
        """Runs of identical modules are folded, ``(0-5): 6 x EncoderLayer(...)``, as PyTorch prints them."""
        reprs = [repr(m) for m in self._modules.values()]
        if not reprs:
            return self._get_name() + "()"
        runs: list[list] = []  # [first index, last index, repr]
        for i, r in enumerate(reprs):
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = [
            (f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}").replace("\n", "\n  ")
            for a, b, r in runs
        ]
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(itertools.chain(self, other))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("ModuleList is a container and has no forward(); iterate over it in your forward")


class ModuleDict(Module):
    """A dict of modules that registers each one under its key."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def pop(self, key: str) -> Module:
        return self._modules.pop(key)

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules from a mapping (a ModuleDict too) or from ``(key, module)`` pairs."""
        if isinstance(modules, (Mapping, ModuleDict)):
            for key, module in modules.items():
                self[key] = module
            return
        if not isinstance(modules, Iterable) or isinstance(modules, (str, Module)):
            raise TypeError(
                f"ModuleDict.update expects a mapping or an iterable of (key, module) pairs, "
                f"got {type(modules).__name__}"
            )
        for j, pair in enumerate(modules):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(
                    f"ModuleDict.update: element #{j} must be a (key, module) pair, got {pair!r}"
                )
            self[pair[0]] = pair[1]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("ModuleDict is a container and has no forward(); index it in your forward")


def _moved(arr: Any, dtype: Any, where: Any) -> Any:
    """``arr`` on device ``where`` and, when floating, of dtype ``dtype`` (None: unchanged)."""
    if where is not None:
        arr = devices.to_device(arr, where)
    if dtype is not None and arr.dtype.kind == "f" and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr
