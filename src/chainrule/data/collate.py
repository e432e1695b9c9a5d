"""Collation: turning a list of samples into a batch of tensors, as ``default_collate`` does."""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.creation import as_array, as_tensor
from chainrule.ops.shape import stack as _stack
from chainrule.tensor import Tensor

_make = Tensor._make


# -------------------------------------------------------------------- collation
_ERR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
_STR_OBJ = re.compile("[SaUO]")


def _same_shapes(batch: Sequence[Any], kind: type, what: str) -> bool:
    """Check that every sample is a ``kind`` of sample 0's shape; return whether the dtypes all agree."""
    shape, dtype = batch[0].shape, batch[0].dtype
    same_dtype = True
    for i, b in enumerate(batch):
        if not isinstance(b, kind):
            raise TypeError(f"default_collate: sample {i} is a {type(b).__name__} but sample 0 is a {what}")
        if b.shape != shape:
            raise RuntimeError(
                f"default_collate: {what}s in a batch must have the same shape; "
                f"sample {i} has shape {b.shape} but sample 0 has {shape}"
            )
        same_dtype = same_dtype and b.dtype == dtype
    return same_dtype


def _collate_tensors(batch: Sequence[Tensor]) -> Tensor:
    if not _same_shapes(batch, Tensor, "Tensor") or any(b._requires_grad for b in batch):
        return _stack(batch)  # PyTorch's dtype promotion, and the graph kept
    return _make(np.stack([b._array for b in batch]), None)


def _collate_arrays(batch: Sequence[np.ndarray]) -> Tensor:
    if _STR_OBJ.search(batch[0].dtype.str):
        raise TypeError(_ERR.format(batch[0].dtype))
    if any(isinstance(b, Tensor) for b in batch):
        # PyTorch makes each sample a tensor and stacks those, so tensors may follow an array
        return _collate_tensors([as_tensor(b) if isinstance(b, np.ndarray) else b for b in batch])
    if _same_shapes(batch, np.ndarray, "ndarray"):
        return _make(as_array(np.stack(batch), copy=False), None)
    # mixed dtypes promote as PyTorch's stack does (float32 with int64 is float32, not float64)
    dtype = backend.promote_types(*(b.dtype for b in batch))
    return _make(as_array(np.stack(batch, dtype=dtype), copy=False), None)


def _scalar_dtype(x: Any) -> np.dtype:
    """The dtype ``torch.as_tensor`` sees in a list: a NumPy scalar's own, a Python float the default."""
    if isinstance(x, np.generic):
        return x.dtype
    return backend.get_default_dtype() if isinstance(x, float) else np.asarray(x).dtype


def _collate_numpy_scalars(batch: Sequence[Any]) -> Tensor:
    arr = np.asarray(batch)
    if _STR_OBJ.search(arr.dtype.str):
        raise TypeError(_ERR.format(type(batch[0])))
    dtypes = {_scalar_dtype(x) for x in batch}
    if len(dtypes) > 1:  # PyTorch's promotion, not NumPy's (float32 with int64 is float32)
        arr = arr.astype(backend.promote_types(*dtypes))
    return _make(as_array(arr, copy=False), None)


def _collate_floats(batch: Sequence[float]) -> Tensor:
    # PyTorch gives float64 here; chainrule keeps its default float dtype (float32)
    return _make(as_array(batch, backend.get_default_dtype()), None)


def _collate_ints(batch: Sequence[int]) -> Tensor:
    # ints become int64, bools bool (a mix with floats becomes the default float)
    return _make(as_array(batch), None)


def _collate_strings(batch: Sequence[Any]) -> Sequence[Any]:
    # the batch as it came, as PyTorch: a list at the top and in dicts, a tuple inside sequences
    return batch


_COLLATE: dict[type, Callable[[Sequence[Any]], Any]] = {
    Tensor: _collate_tensors,
    np.ndarray: _collate_arrays,
    float: _collate_floats,
    int: _collate_ints,
    bool: _collate_ints,
    str: _collate_strings,
    bytes: _collate_strings,
}
_COLLATE_BASES: tuple[tuple[type | tuple[type, ...], Callable[[Sequence[Any]], Any]], ...] = (
    (Tensor, _collate_tensors),
    (np.ndarray, _collate_arrays),
    ((np.bool_, np.number, np.object_), _collate_numpy_scalars),
    (float, _collate_floats),
    (int, _collate_ints),
    ((str, bytes), _collate_strings),
)


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch, as ``torch.utils.data.default_collate``.

    Tensors and NumPy arrays are stacked along a new first dimension; Python
    ints become an int64 tensor, bools a bool tensor, floats a tensor of the
    default float dtype (float32; PyTorch gives float64); NumPy scalars keep
    their dtype; strings are left as they come (a list, or a tuple for a field
    of tuple or list samples). Samples of mixed dtypes promote by PyTorch's
    rule. Dicts, namedtuples and lists are collated field by field, keeping
    their type; tuples become lists, as in PyTorch.
    """
    if not len(batch):
        raise ValueError("default_collate: the batch is empty")
    elem = batch[0]
    elem_type = type(elem)
    fn = _COLLATE.get(elem_type)
    if fn is not None:
        return fn(batch)
    for kind, fn in _COLLATE_BASES:
        if isinstance(elem, kind):
            return fn(batch)
    if isinstance(elem, collections.abc.Mapping):
        out = {key: default_collate([d[key] for d in batch]) for key in elem}
        return _rebuild_mapping(elem, out)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        for i, b in enumerate(batch):
            if len(b) != size:
                raise RuntimeError(
                    f"default_collate: each element in list of batch should be of equal size; "
                    f"sample {i} has {len(b)} elements but sample 0 has {size}"
                )
        out = [default_collate(samples) for samples in zip(*batch)]
        return out if elem_type is tuple or elem_type is list else _rebuild_seq(elem, out)
    raise TypeError(_ERR.format(elem_type))


def _rebuild_mapping(elem: collections.abc.Mapping, out: dict) -> Any:
    """``out`` in the mapping type of ``elem`` where that type allows it, else a dict."""
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(out)
            return clone
        return type(elem)(out)
    except TypeError:
        return out


def _rebuild_seq(elem: Sequence, out: list) -> Any:
    """``out`` in the sequence type of ``elem`` (tuples give lists, as in PyTorch)."""
    if isinstance(elem, tuple):
        return out
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, v in enumerate(out):
                clone[i] = v
            return clone
        return type(elem)(out)
    except TypeError:
        return out


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays (also inside dicts, lists and tuples) into tensors; leave everything else.

    The collate function when ``batch_size=None`` (no batching), as
    ``torch.utils.data.default_convert``: tuples become lists, as in PyTorch.
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)):
        if _STR_OBJ.search(data.dtype.str):
            return data
        return as_tensor(data)  # a dtype no tensor holds (datetime64, ...) is an error, as in PyTorch
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        out = [default_convert(d) for d in data]
        return out if type(data) in (tuple, list) else _rebuild_seq(data, out)
    return data


# -------------------------------------------------------------------- devices
def move_to_device(data: Any, device: Any) -> Any:
    """``data`` with every Tensor (also inside dicts, lists, tuples and namedtuples) moved to ``device``.

    What ``DataLoader(..., device=...)`` and the Trainer do to each batch; the
    same as writing ``x.to(device)`` for each tensor in the loop. NumPy arrays
    and other values are left as they are; tensors already there are not copied.
    """
    if isinstance(data, Tensor):
        return data.to(device)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: move_to_device(data[key], device) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(move_to_device(d, device) for d in data))
    if isinstance(data, (tuple, list)):
        out = [move_to_device(d, device) for d in data]
        return type(data)(out) if type(data) in (tuple, list) else _rebuild_seq(data, out)
    return data
