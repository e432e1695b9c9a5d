"""DistributedDataParallel: one model on every rank, gradients averaged so every replica takes the same step.

At wrap, every rank checks that its parameters have the shapes rank 0's
have (a clear error names the first parameter and the ranks that differ),
then parameters and buffers are copied from rank 0. After each backward the
gradients are averaged over the ranks: they are packed into a few flat
buckets (about ``bucket_cap_mb`` each, parameters in reverse order, the
order backward produces them), each bucket is all-reduced with one
non-blocking ``MPI_Iallreduce``, and the averages are unpacked into
``.grad``. The all-reduce is queued from the parameters' gradient hooks and
runs once the backward pass has written every gradient (chainrule's engine
delivers leaf gradients at the end of the pass, so there is nothing earlier
to overlap with). ``no_sync()`` skips it, for gradient accumulation: the
next synchronised backward averages the accumulated gradients.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from chainrule.autograd import is_grad_enabled, queue_callback
from chainrule.distributed import process_group as pg
from chainrule.nn.module import Module
from chainrule.tensor import Tensor

__all__ = ["DistributedDataParallel"]


class DistributedDataParallel(Module):
    """Data-parallel training of ``module`` over the ranks (``torch.nn.parallel.DistributedDataParallel``).

    ``broadcast_buffers`` copies rank 0's buffers (BatchNorm's running
    statistics) to every rank before each training forward, as PyTorch does;
    :class:`~chainrule.distributed.SyncBatchNorm` keeps the batch statistics
    themselves global. The wrapped model is ``.module``; the state_dict keys
    carry the ``module.`` prefix, as PyTorch's do. ``device_ids`` and
    ``find_unused_parameters`` are accepted for PyTorch's signature: a
    parameter without a gradient on a rank always contributes zeros there.
    """

    def __init__(
        self,
        module: Module,
        device_ids: Any = None,
        broadcast_buffers: bool = True,
        bucket_cap_mb: float = 25.0,
        find_unused_parameters: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(
                f"DistributedDataParallel: module must be a chainrule.nn.Module, got {type(module).__name__}"
            )
        if not pg.is_initialized():
            raise RuntimeError(
                "DistributedDataParallel: call chainrule.distributed.init_process_group() before wrapping"
            )
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.require_backward_grad_sync = True
        self.world_size = pg.get_world_size()
        self.allreduce_seconds = 0.0  # time spent in the last gradient all-reduce (for benchmarks)
        self._check_shapes()
        for t in (*module.parameters(), *(b for b in module.buffers() if b is not None)):
            pg.broadcast(t, 0)
        self._buckets = self._make_buckets(float(bucket_cap_mb) * 2**20)
        self._queued = False
        if self.world_size > 1:
            for p in self._params:
                p.register_hook(self._on_grad)

    # ------------------------------------------------------------------ wrap
    def _check_shapes(self) -> None:
        mine = [(name, tuple(p.shape), str(p._array.dtype)) for name, p in self.module.named_parameters()]
        everyone: list[Any] = [None] * self.world_size
        pg.all_gather_object(everyone, mine)
        reference = everyone[0]
        for rank, theirs in enumerate(everyone[1:], start=1):
            if theirs == reference:
                continue
            for i in range(max(len(reference), len(theirs))):
                a = reference[i] if i < len(reference) else None
                b = theirs[i] if i < len(theirs) else None
                if a != b:

                    def say(x: Any) -> str:
                        return "no such parameter" if x is None else f"{x[0]} of shape {x[1]} ({x[2]})"

                    raise ValueError(
                        f"DistributedDataParallel: the models differ across ranks: parameter {i} is "
                        f"{say(a)} on rank 0 but {say(b)} on rank {rank}; each rank must build the same model"
                    )

    def _make_buckets(self, cap_bytes: float) -> list[tuple[list[Tensor], np.ndarray]]:
        """Parameters needing grad, last first, in buckets of one dtype and about ``cap_bytes`` each."""
        self._params = [p for p in self.module.parameters() if p.requires_grad]
        buckets: list[tuple[list[Tensor], np.ndarray]] = []
        group: list[Tensor] = []
        size = 0
        for p in reversed(self._params):
            if group and (p._array.dtype != group[0]._array.dtype or size + p._array.nbytes > cap_bytes):
                buckets.append((group, np.empty(sum(q._array.size for q in group), group[0]._array.dtype)))
                group, size = [], 0
            group.append(p)
            size += p._array.nbytes
        if group:
            buckets.append((group, np.empty(sum(q._array.size for q in group), group[0]._array.dtype)))
        return buckets

    # ------------------------------------------------------------------ forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        # the wrapped module's mode decides (the Trainer switches the model it was given, not the wrapper)
        if self.world_size > 1 and self.broadcast_buffers and self.module.training and is_grad_enabled():
            for b in self.module.buffers():
                if b is not None:
                    pg.broadcast(b, 0)
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside keep their gradients local (accumulating); the next one outside averages."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # ------------------------------------------------------------------ backward
    def _on_grad(self, grad: Tensor) -> None:
        if self.require_backward_grad_sync and not self._queued:
            self._queued = True
            queue_callback(self._all_reduce_gradients)

    def _all_reduce_gradients(self) -> None:
        """Average every parameter's ``.grad`` over the ranks: one non-blocking all-reduce per bucket."""
        self._queued = False
        start = time.perf_counter()
        comm = pg.communicator()
        from mpi4py import MPI

        requests = []
        for params, flat in self._buckets:
            at = 0
            for p in params:
                n = p._array.size
                if p.grad is None:
                    flat[at : at + n] = 0
                else:
                    flat[at : at + n] = p.grad._array.reshape(-1)
                at += n
            requests.append(comm.Iallreduce(MPI.IN_PLACE, flat, op=MPI.SUM))
        MPI.Request.Waitall(requests)
        scale = 1.0 / self.world_size
        for params, flat in self._buckets:
            flat *= scale
            at = 0
            for p in params:
                n = p._array.size
                if p.grad is None:  # no gradient here but some elsewhere: take the average
                    if flat[at : at + n].any():
                        p.grad = Tensor(flat[at : at + n].reshape(p._array.shape).copy())
                else:
                    p.grad._array[...] = flat[at : at + n].reshape(p._array.shape)
                at += n
        self.allreduce_seconds = time.perf_counter() - start
