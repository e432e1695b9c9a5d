"""Data-parallel training over MPI, on one machine or many (``torch.distributed``'s names).

Launch with ``mpiexec -n 2 python train.py`` (or ``mpiexec -n 2 chainrule
train config.toml``). In the script, ``init_process_group()`` joins the
processes; ``DistributedDataParallel(model)`` keeps the replicas identical by
averaging gradients; a :class:`~chainrule.data.DistributedSampler` gives each
rank its share of the data; :class:`SyncBatchNorm` pools batch statistics.
After ``init_process_group()`` the :class:`~chainrule.train.Trainer` does all
of this itself. Needs ``pip install 'chainrule[distributed]'`` (mpi4py and
Open MPI's ``mpiexec``).
"""

from chainrule.data.sampler import DistributedSampler
from chainrule.distributed.ddp import DistributedDataParallel
from chainrule.distributed.process_group import (
    ReduceOp,
    all_gather,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    destroy_process_group,
    get_rank,
    get_world_size,
    init_process_group,
    is_initialized,
    launched_by_mpiexec,
)
from chainrule.distributed.sync_batchnorm import SyncBatchNorm

__all__ = [
    "DistributedDataParallel",
    "DistributedSampler",
    "ReduceOp",
    "SyncBatchNorm",
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
