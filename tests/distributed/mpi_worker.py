"""What each rank runs in the MPI tests (``mpiexec -n 2 python mpi_worker.py SCENARIO OUT_DIR``).

Rank 0 writes what it found to ``OUT_DIR/SCENARIO.json``; the tests in
test_mpi.py read it. Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule import distributed as dist
from chainrule import nn
from chainrule.data import DataLoader, TensorDataset
from chainrule.train import Callback, ModelCheckpoint, Trainer


def collectives(rank: int, world: int) -> dict:
    """Every collective against NumPy on the arrays all ranks would hold."""
    arrays = [np.random.default_rng(r).standard_normal((3, 4)).astype(np.float32) for r in range(world)]
    stacked = np.stack(arrays)
    found = {}
    for op, want in (
        (dist.ReduceOp.SUM, stacked.sum(0)),
        (dist.ReduceOp.AVG, stacked.mean(0)),
        (dist.ReduceOp.MAX, stacked.max(0)),
        (dist.ReduceOp.MIN, stacked.min(0)),
    ):
        t = cr.tensor(arrays[rank].copy())
        dist.all_reduce(t, op)
        found[op.name] = float(np.abs(t._array - want).max())
    t = cr.tensor(arrays[rank].copy())
    dist.broadcast(t, src=1)
    found["broadcast"] = float(np.abs(t._array - arrays[1]).max())
    outs = [cr.zeros(3, 4) for _ in range(world)]
    dist.all_gather(outs, cr.tensor(arrays[rank]))
    found["all_gather"] = float(max(np.abs(o._array - a).max() for o, a in zip(outs, arrays)))
    objects: list = [None] * world
    dist.all_gather_object(objects, {"rank": rank})
    found["all_gather_object"] = objects
    dist.barrier()
    return found


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3),
    )  # fmt: skip


def same_weights(kind: str, rank: int, world: int, steps: int = 3, per_rank: int = 8) -> float:
    """Max |difference| between DDP over the ranks and one process on the combined batches (on rank 0)."""
    cr.manual_seed(100 + rank)  # different initial weights: the wrap must copy rank 0's
    model = mlp() if kind == "mlp" else cnn()
    rng = np.random.default_rng(7)
    shape = (6,) if kind == "mlp" else (1, 8, 8)
    xs = [rng.standard_normal((per_rank * world, *shape)).astype(np.float32) for _ in range(steps)]
    ys = [rng.integers(0, 3, per_rank * world) for _ in range(steps)]
    reference = copy.deepcopy(model)
    if kind == "cnn":
        model = dist.SyncBatchNorm.convert_sync_batchnorm(model)
        assert isinstance(model[1], dist.SyncBatchNorm) and isinstance(model[6], dist.SyncBatchNorm)
    ddp = dist.DistributedDataParallel(model)
    loss_fn = nn.CrossEntropyLoss()
    opt = cr.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    part = slice(rank * per_rank, (rank + 1) * per_rank)
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss_fn(ddp(cr.tensor(x[part])), cr.tensor(y[part])).backward()
        opt.step()
    if rank != 0:
        return 0.0
    ref_opt = cr.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for x, y in zip(xs, ys):
        ref_opt.zero_grad()
        loss_fn(reference(cr.tensor(x)), cr.tensor(y)).backward()
        ref_opt.step()
    ours, theirs = model.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    return float(max(np.abs(ours[k]._array.astype(np.float64) - theirs[k]._array).max() for k in ours))


def accumulation(rank: int, world: int) -> float:
    """Two micro-batches, the first under no_sync: the gradient is the average of all ranks' sums."""
    cr.manual_seed(3)
    model = mlp()
    reference = copy.deepcopy(model)
    ddp = dist.DistributedDataParallel(model)
    rng = np.random.default_rng(11)
    xs = rng.standard_normal((2, world, 5, 6)).astype(np.float32)
    ys = rng.integers(0, 3, (2, world, 5))
    loss_fn = nn.CrossEntropyLoss()
    with ddp.no_sync():
        loss_fn(ddp(cr.tensor(xs[0, rank])), cr.tensor(ys[0, rank])).backward()
    loss_fn(ddp(cr.tensor(xs[1, rank])), cr.tensor(ys[1, rank])).backward()
    for m in range(2):
        for r in range(world):
            (loss_fn(reference(cr.tensor(xs[m, r])), cr.tensor(ys[m, r])) / world).backward()
    pairs = zip(model.parameters(), reference.parameters())
    return float(max(np.abs(p.grad._array - q.grad._array).max() for p, q in pairs))


def mismatch(rank: int) -> str:
    model = nn.Linear(4, 5 if rank == 0 else 6)
    try:
        dist.DistributedDataParallel(model)
    except ValueError as e:
        return str(e)
    return "no error"


def digits_like(n: int = 96) -> TensorDataset:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return TensorDataset(cr.tensor(x), cr.tensor(y))


def train(out: Path, epochs: int, resume: str | None, fault: str | None = None) -> dict:
    """The Trainer on a small task (any world size): checkpoints in out/ckpt, history returned."""
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    callbacks: list = [ModelCheckpoint(out / "ckpt")]
    if fault is not None:
        callbacks.append(Fault(fault))
    trainer = Trainer(model, nn.CrossEntropyLoss(), opt, callbacks=callbacks, progress=False)
    data = digits_like()
    loaders = DataLoader(data, batch_size=16, shuffle=True), DataLoader(data, batch_size=16)
    history = trainer.fit(*loaders, epochs, resume_from=resume)
    return {"epochs": history.epochs, "val_accuracy": history["val_accuracy"], "loss": history["loss"]}


class Fault(Callback):
    """At the start of epoch 2, rank 1 dies (SIGKILL) or raises."""

    def __init__(self, how: str) -> None:
        self.how = how

    def on_epoch_begin(self, trainer, epoch, logs=None):
        if epoch == 2 and dist.get_rank() == 1:
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError("rank 1 breaks on purpose")


def main() -> None:
    scenario, out = sys.argv[1], Path(sys.argv[2])
    cr.set_num_threads(1)
    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    if scenario == "parallel":
        result = {
            "world": world,
            "collectives": collectives(rank, world),
            "mlp": same_weights("mlp", rank, world),
            "cnn": same_weights("cnn", rank, world),
            "accumulation": accumulation(rank, world),
            "mismatch": mismatch(rank),
        }
    elif scenario == "train":  # resume a checkpoint written by another world size, train one more epoch
        result = train(out, epochs=int(sys.argv[3]), resume=sys.argv[4] if len(sys.argv) > 4 else None)
        result["files_by_rank"] = sorted(os.listdir(out / "ckpt")) if rank == 0 else None
    else:  # "kill" or "raise": rank 1 fails in epoch 2
        result = train(out, epochs=3, resume=None, fault=scenario)
    everyone: list = [None] * world
    dist.all_gather_object(everyone, result)
    if rank == 0:
        (out / f"{scenario}.json").write_text(json.dumps({"rank0": everyone[0], "ranks": everyone}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
