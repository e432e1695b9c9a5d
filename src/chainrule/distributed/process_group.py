"""The process group: this process's rank among the MPI processes, and collectives on Tensors.

``init_process_group()`` joins the MPI world that ``mpiexec`` started (rank,
world size); run without ``mpiexec`` it makes a world of one process, where
every collective is the identity, so the same script runs alone or in
parallel. Collectives follow ``torch.distributed``: they work in place on a
Tensor (or a NumPy array) and every rank must call them in the same order.

Faults: a rank that raises an uncaught exception prints it and aborts the
whole job (``MPI_Abort``), naming itself, so the other ranks never wait
forever in a collective for a partner that is gone; a rank that dies is
noticed by ``mpiexec``, which ends the job and names the rank.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.tensor import Tensor

__all__ = [
    "ReduceOp",
    "all_gather",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "destroy_process_group",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_initialized",
    "launched_by_mpiexec",
]

# Set by mpiexec in every process it starts: Open MPI / PMIx, MPICH / Hydra, Slurm's PMI.
_LAUNCH_VARS = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK")


class ReduceOp(enum.Enum):
    """How ``all_reduce`` combines the ranks' values (``torch.distributed.ReduceOp``)."""

    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


class _World:
    """The communicator, or None for a world of one process."""

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self.rank = 0 if comm is None else comm.Get_rank()
        self.size = 1 if comm is None else comm.Get_size()


_world: _World | None = None
_previous_excepthook: Any = None


def launched_by_mpiexec() -> bool:
    """Whether this process was started by ``mpiexec`` (or another MPI launcher)."""
    return any(v in os.environ for v in _LAUNCH_VARS)


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "chainrule.distributed: this process was started by mpiexec but mpi4py is missing; "
            "install it with pip install 'chainrule[distributed]'"
        ) from e
    return MPI


def init_process_group(backend: str = "mpi", **_ignored: Any) -> None:
    """Join the processes ``mpiexec`` started; without ``mpiexec``, a world of one (rank 0 of 1).

    ``backend`` must be ``"mpi"``; torch's other arguments (``init_method``,
    ``world_size``, ``rank``) are accepted and ignored: MPI already knows
    them. Also makes :class:`~chainrule.train.Trainer` train data-parallel.
    """
    global _world, _previous_excepthook
    if backend != "mpi":
        raise ValueError(f"init_process_group: chainrule supports the 'mpi' backend only, got {backend!r}")
    if _world is not None:
        raise RuntimeError("init_process_group: the default process group is already initialized")
    comm = None
    if launched_by_mpiexec():
        comm = _mpi().COMM_WORLD
    _world = _World(comm)
    if comm is not None and _world.size > 1:
        _previous_excepthook = sys.excepthook
        sys.excepthook = _abort_on_exception
    from chainrule.distributed.replicas import MPIReplicas
    from chainrule.train import parallel

    parallel.install(MPIReplicas())


def _abort_on_exception(kind: type, value: BaseException, tb: Any) -> None:
    """An uncaught exception on one rank ends every rank: print it, say which rank, ``MPI_Abort``."""
    world = _world
    (_previous_excepthook or sys.__excepthook__)(kind, value, tb)
    if world is None or world.comm is None:
        return
    print(
        f"chainrule.distributed: rank {world.rank} of {world.size} failed with {kind.__name__}: {value}; "
        "aborting every rank",
        file=sys.stderr,
        flush=True,
    )
    world.comm.Abort(1)


def destroy_process_group() -> None:
    """Leave the process group: back to a single process (MPI itself ends with the interpreter)."""
    global _world, _previous_excepthook
    if _world is None:
        return
    if sys.excepthook is _abort_on_exception:
        sys.excepthook = _previous_excepthook or sys.__excepthook__
    _world = _previous_excepthook = None
    from chainrule.train import parallel

    parallel.install(None)


def is_initialized() -> bool:
    """Whether ``init_process_group`` has been called (and not undone)."""
    return _world is not None


def _get(who: str) -> _World:
    if _world is None:
        raise RuntimeError(f"{who}: call chainrule.distributed.init_process_group() first")
    return _world


def get_rank() -> int:
    """This process's rank, 0 .. world size - 1."""
    return _get("get_rank").rank


def get_world_size() -> int:
    """How many processes train together."""
    return _get("get_world_size").size


def barrier() -> None:
    """Wait until every rank has reached this point."""
    world = _get("barrier")
    if world.comm is not None:
        world.comm.Barrier()


def _array(tensor: Any, who: str) -> np.ndarray:
    """The C-contiguous array a collective reads and writes in place."""
    data = tensor._array if isinstance(tensor, Tensor) else tensor
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{who}: expected a Tensor or a NumPy array, got {type(tensor).__name__}")
    if not data.flags.c_contiguous:
        raise ValueError(
            f"{who}: the tensor must be contiguous (got strides {data.strides}); call .contiguous()"
        )
    return data


def all_reduce_array(data: np.ndarray, op: ReduceOp = ReduceOp.SUM) -> np.ndarray:
    """Combine ``data`` over the ranks, in place, and return it (the array-level form of ``all_reduce``)."""
    world = _get("all_reduce")
    op = ReduceOp(op) if not isinstance(op, ReduceOp) else op
    if world.comm is None:
        return data
    MPI = _mpi()  # noqa: N806 (MPI's own name)
    mpi_op = {
        ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX,
        ReduceOp.MIN: MPI.MIN, ReduceOp.PRODUCT: MPI.PROD,
    }[op]  # fmt: skip
    world.comm.Allreduce(MPI.IN_PLACE, data, op=mpi_op)
    if op is ReduceOp.AVG:
        if np.issubdtype(data.dtype, np.integer):
            data //= world.size
        else:
            data /= world.size
    return data


def all_reduce(tensor: Any, op: ReduceOp = ReduceOp.SUM) -> None:
    """Replace ``tensor`` on every rank by the sum (average, max, min, product) over the ranks."""
    all_reduce_array(_array(tensor, "all_reduce"), op)


def broadcast(tensor: Any, src: int = 0) -> None:
    """Copy rank ``src``'s ``tensor`` into the same tensor on every other rank."""
    world = _get("broadcast")
    data = _array(tensor, "broadcast")
    if not 0 <= src < world.size:
        raise ValueError(f"broadcast: src must be a rank in [0, {world.size}), got {src}")
    if world.comm is not None:
        world.comm.Bcast(data, root=src)


def all_gather(tensor_list: Sequence[Any], tensor: Any) -> None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank (shapes and dtypes alike)."""
    world = _get("all_gather")
    data = _array(tensor, "all_gather")
    if len(tensor_list) != world.size:
        raise ValueError(
            f"all_gather: tensor_list needs {world.size} tensors (one per rank), got {len(tensor_list)}"
        )
    outs = [_array(t, "all_gather") for t in tensor_list]
    for r, out in enumerate(outs):
        if out.shape != data.shape or out.dtype != data.dtype:
            raise ValueError(
                f"all_gather: tensor_list[{r}] is {out.dtype} {out.shape}; "
                f"expected {data.dtype} {data.shape}, as the input tensor"
            )
    if world.comm is None:
        outs[0][...] = data
        return
    gathered = np.empty((world.size, *data.shape), data.dtype)
    world.comm.Allgather(data, gathered)
    for out, part in zip(outs, gathered):
        out[...] = part


def all_gather_object(object_list: list[Any], obj: Any) -> None:
    """Fill ``object_list[r]`` with rank r's ``obj`` (any picklable object), on every rank."""
    world = _get("all_gather_object")
    if len(object_list) != world.size:
        raise ValueError(
            f"all_gather_object: object_list needs {world.size} places (one per rank), got {len(object_list)}"
        )
    object_list[:] = [obj] if world.comm is None else world.comm.allgather(obj)


def communicator() -> Any:
    """The mpi4py communicator of the group (None in a world of one), for what the helpers above lack."""
    return _get("communicator").comm
