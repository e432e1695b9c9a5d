"""Without mpiexec: a world of one process, where the same code runs and every collective is the identity.

Also SyncBatchNorm against PyTorch's BatchNorm (in one process they agree),
and the errors of a process group used before it exists.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import distributed as dist
from chainrule import nn
from chainrule.train import parallel


@pytest.fixture
def world(monkeypatch):
    for var in ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"):
        monkeypatch.delenv(var, raising=False)
    dist.init_process_group()
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_a_world_of_one(world):
    assert dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    assert parallel.current().world_size == 1
    t = cr.tensor([1.0, -2.0, 3.0])
    for op in dist.ReduceOp:
        dist.all_reduce(t, op)
    dist.broadcast(t, 0)
    out = [cr.zeros(3)]
    dist.all_gather(out, t)
    objects = [None]
    dist.all_gather_object(objects, "x")
    dist.barrier()
    np.testing.assert_array_equal(t._array, [1.0, -2.0, 3.0])
    np.testing.assert_array_equal(out[0]._array, t._array)
    assert objects == ["x"]


def test_destroy_returns_the_trainer_to_one_process():
    dist.init_process_group()
    assert type(parallel.current()).__name__ == "MPIReplicas"
    dist.destroy_process_group()
    assert not dist.is_initialized()
    assert type(parallel.current()) is parallel.Replicas


def test_errors_name_what_to_do(world):
    with pytest.raises(RuntimeError, match="already initialized"):
        dist.init_process_group()
    with pytest.raises(ValueError, match="tensor_list needs 1"):
        dist.all_gather([cr.zeros(2), cr.zeros(2)], cr.zeros(2))
    with pytest.raises(ValueError, match="src must be a rank"):
        dist.broadcast(cr.zeros(2), src=1)
    with pytest.raises(TypeError, match="Tensor or a NumPy array"):
        dist.all_reduce([1.0, 2.0])


def test_before_init_process_group():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="'mpi' backend"):
        dist.init_process_group("nccl")


def test_ddp_of_one_trains_as_the_model(world):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    reference = copy.deepcopy(model)
    ddp = dist.DistributedDataParallel(model)
    assert list(ddp.state_dict()) == [f"module.{k}" for k in reference.state_dict()]  # PyTorch's keys
    x, y = cr.randn(6, 4), cr.tensor(np.array([0, 1, 1, 0, 1, 0]))
    for net in (ddp, reference):
        nn.CrossEntropyLoss()(net(x), y).backward()
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_array_equal(p.grad._array, q.grad._array)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 4)])
def test_sync_batchnorm_of_one_is_pytorchs_batchnorm(world, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    cot = rng.standard_normal(shape).astype(np.float32)
    ours = dist.SyncBatchNorm(3, momentum=0.2)
    kind = torch.nn.BatchNorm1d if len(shape) < 4 else torch.nn.BatchNorm2d
    theirs = kind(3, momentum=0.2)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor([0.5, 1.5, -1.0]))
        theirs.bias.copy_(torch.tensor([0.1, 0.0, -0.3]))
    ours.load_state_dict({k: cr.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    xo, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (ours(xo) * cr.tensor(cot)).sum().backward()
    (theirs(xt) * torch.tensor(cot)).sum().backward()
    np.testing.assert_allclose(xo.grad._array, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad._array, theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.bias.grad._array, theirs.bias.grad.numpy(), rtol=1e-4, atol=1e-5)
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k]._array, v.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    ours.eval()
    theirs.eval()
    np.testing.assert_allclose(ours(cr.tensor(x))._array, theirs(torch.tensor(x)).detach().numpy(), atol=1e-5)


def test_convert_sync_batchnorm_keeps_order_tensors_and_keys():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.BatchNorm1d(8))
    keys = list(model.state_dict())
    weight = model[1].weight
    converted = dist.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert isinstance(model[1], dist.SyncBatchNorm) and isinstance(model[4], dist.SyncBatchNorm)
    assert isinstance(model[2], nn.ReLU)
    assert model[1].weight is weight
    assert list(model.state_dict()) == keys
