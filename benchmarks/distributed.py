"""Data-parallel scaling: W2-sized CNN training at 1 rank x 1 thread and 2 ranks x 1 thread.

    python benchmarks/distributed.py [--steps 20] [--batch 64]

Each rank trains the W2 CNN (conv 1->32, pool, conv 32->64, pool, linear
3136->128->10, Adam) on its own batch of ``--batch`` samples with one thread;
two ranks go through ``mpiexec -n 2`` and DistributedDataParallel. Printed:
samples/s of each, the speed-up (bar: 2 ranks >= 1.7x one rank), the
gradient all-reduce time per step (including waiting for the slower rank),
the efficiency, and the 1-minute load average (a loaded machine's figures are
not a result).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
SRC = HERE.parents[1] / "src"


def worker(steps: int, batch: int) -> None:
    """One rank: warm up, then time ``steps`` training steps; rank 0 prints a JSON line."""
    import chainrule as cr
    from chainrule import distributed as dist
    from chainrule import nn

    cr.set_num_threads(1)
    dist.init_process_group()
    rank, world = dist.get_rank(), dist.get_world_size()
    cr.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    net = dist.DistributedDataParallel(model) if world > 1 else model
    opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(rank)
    x = cr.tensor(rng.uniform(0, 1, (batch, 1, 28, 28)).astype(np.float32))
    y = cr.tensor(rng.integers(0, 10, batch))

    def step() -> float:
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
        return getattr(net, "allreduce_seconds", 0.0)

    for _ in range(3):
        step()
    dist.barrier()
    start = time.perf_counter()
    comm = sum(step() for _ in range(steps))
    dist.barrier()
    elapsed = time.perf_counter() - start
    result = {"world": world, "seconds": elapsed, "samples_per_s": world * batch * steps / elapsed}
    result["allreduce_ms_per_step"] = 1e3 * comm / steps
    everyone: list = [None] * world
    dist.all_gather_object(everyone, result)
    if rank == 0:
        worst = max(everyone, key=lambda r: r["allreduce_ms_per_step"])
        result["allreduce_ms_per_step"] = worst["allreduce_ms_per_step"]
        print(json.dumps(result), flush=True)
    dist.destroy_process_group()


def launch(ranks: int, steps: int, batch: int) -> dict:
    command = [sys.executable, str(HERE), "--worker", "--steps", str(steps), "--batch", str(batch)]
    if ranks > 1:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        mpiexec = str(mpiexec) if mpiexec.exists() else shutil.which("mpiexec")
        if mpiexec is None:
            sys.exit("mpiexec not found: pip install 'chainrule[distributed]'")
        extra = ["--allow-run-as-root"] if os.geteuid() == 0 else []
        command = [mpiexec, "-n", str(ranks), "--oversubscribe", *extra, *command]
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64, help="samples per rank and step")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.batch)
        return
    load_before = os.getloadavg()[0]
    one = launch(1, args.steps, args.batch)
    two = launch(2, args.steps, args.batch)
    speedup = two["samples_per_s"] / one["samples_per_s"]
    step_ms = 1e3 * two["seconds"] / args.steps
    print(f"W2 CNN data parallel, batch {args.batch} per rank, {args.steps} steps, 1 thread per rank")
    print(f"{'ranks':>5} {'samples/s':>10} {'step ms':>8} {'all-reduce ms/step':>19}")
    for r in (one, two):
        print(
            f"{r['world']:>5} {r['samples_per_s']:>10.1f} {1e3 * r['seconds'] / args.steps:>8.1f} "
            f"{r['allreduce_ms_per_step']:>19.2f}"
        )
    print(
        f"speed-up {speedup:.2f}x (bar 1.7x), efficiency {speedup / 2:.0%}, "
        f"all-reduce {two['allreduce_ms_per_step'] / step_ms:.0%} of a 2-rank step"
    )
    after = os.getloadavg()[0]
    print(f"load average (1 min): {load_before:.2f} before, {after:.2f} after, on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
