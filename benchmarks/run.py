"""Run chainrule and PyTorch on the same workloads in one process and print the time ratio.

    python benchmarks/run.py                 # every workload, 1 and 2 threads
    python benchmarks/run.py chain W2        # only the named ones
    python benchmarks/run.py --threads 4     # one thread count only
    python benchmarks/run.py --device cuda   # both libraries on the GPU (chainrule through CuPy)

Each workload is a pair of step functions (one per library) on identical
shapes and dtypes. For every thread count (chainrule's set with
``chainrule.set_num_threads``, which also sets its BLAS; PyTorch's with
``torch.set_num_threads``) each library is timed in blocks: a warm-up, then
``repeats`` steps of one library, then ``repeats`` of the other, for a few
rounds; never alternating step by step, where two thread pools taking turns
slow each other. The table gives the median seconds per step, the ratio
chainrule / PyTorch at each thread count, and each library's speed-up from
the first thread count to the last. The 1-minute load average is printed
beside it: a table taken on a busy machine is marked, and is not a result.

With ``--device cuda`` both libraries run on the GPU (chainrule's models and
data moved with ``.to("cuda")``, PyTorch's too) and each block of steps is
closed by ``chainrule.cuda.synchronize()`` / ``torch.cuda.synchronize()``, so
the time counts the GPU's work, not only its queueing. It needs CuPy
(``pip install 'chainrule[cuda12]'``) and a CUDA build of PyTorch; without
either it stops with a message saying which is missing. The host-memory
table is skipped there (it measures the process's resident memory).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads
from workloads import WORKLOADS

# A 1-minute load average above this (other processes wanting the cores) marks the run as busy.
BUSY_LOAD = 0.5


def _no_sync() -> None:
    pass


def time_step(step: Callable[[], object], repeats: int, sync: Callable[[], None] = _no_sync) -> float:
    sync()  # nothing of an earlier block still running on the GPU
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    sync()  # the block's queued GPU work is part of its time
    return (time.perf_counter() - start) / repeats


def set_threads(n: int) -> None:
    """Both libraries compute on ``n`` threads (chainrule's pool and BLAS, PyTorch's intra-op pool)."""
    import torch

    import chainrule

    chainrule.set_num_threads(n)
    torch.set_num_threads(n)


def measure(
    ours: Callable,
    theirs: Callable,
    rounds: int,
    repeats: int,
    syncs: tuple[Callable, Callable] | None = None,
) -> tuple[float, float]:
    """Median seconds per step of each library, each timed in blocks of ``repeats`` steps.

    ``syncs`` (one per library) wait for a GPU's queued work; None on the CPU.
    """
    sync_ours, sync_theirs = syncs or (_no_sync, _no_sync)
    for step, sync in ((ours, sync_ours), (theirs, sync_theirs)):  # warm-up: caches, buffers, pools
        for _ in range(max(2, repeats // 2)):
            step()
        sync()
    t_ours, t_theirs = [], []
    for _ in range(rounds):
        for step, times, sync in ((ours, t_ours, sync_ours), (theirs, t_theirs, sync_theirs)):
            step()  # one untimed step wakes this library's threads after the other's block
            gc.collect()
            times.append(time_step(step, repeats, sync))
    return statistics.median(t_ours), statistics.median(t_theirs)


def cuda_missing() -> str:
    """Why the two libraries cannot both run on a CUDA GPU here ("" when they can)."""
    import torch

    import chainrule

    missing = []
    if not chainrule.cuda.is_available():
        missing.append(f"chainrule: {chainrule.cuda.why_unavailable()}")
    if not torch.cuda.is_available():
        why = (
            "this PyTorch build has no CUDA (a CPU-only wheel); install a CUDA build of torch"
            if torch.version.cuda is None
            else "PyTorch finds no CUDA GPU"
        )
        missing.append(f"PyTorch: {why}")
    return "; ".join(missing)


def cuda_syncs() -> tuple[Callable[[], None], Callable[[], None]]:
    import torch

    import chainrule

    return chainrule.cuda.synchronize, torch.cuda.synchronize


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # not on this platform
        return None


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def peak_step_memory(name: str, which: int, steps: int = 5) -> int:
    """Peak resident memory (KiB) that ``steps`` training steps add on top of the set-up model and data.

    The kernel's high-water mark is reset after set-up (``/proc/self/clear_refs``),
    so what is measured is the step alone: activations, gradients and optimizer state.
    A few steps of the small W0 model run first, so that each library's one-time
    lazy set-up (thread pools, caches) is not counted against the workload; for
    chainrule also each compiled kernel once (numba's compiler and runtime load
    on first use: a cost of the process, as importing a library is).
    """
    warm = WORKLOADS["W0"]["make"]()[which]
    for _ in range(3):
        warm()
    if which == 0:
        workloads.load_compiled_kernels()
    step = WORKLOADS[name]["make"]()[which]
    gc.collect()
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    for _ in range(steps):
        step()
    return _status_kib("VmHWM") - before


def measure_memory(name: str, threads: int) -> tuple[int, int] | None:
    """Each library's step peak, measured in a fresh process of its own (Linux only)."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    peaks = []
    for which in (0, 1):
        out = subprocess.run(
            [sys.executable, __file__, "--peak-of", name, str(which), "--threads", str(threads)],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks.append(int(out.stdout.strip().splitlines()[-1]))
    return peaks[0], peaks[1]


def _verdict(value: float, bar: float | None, below: bool = True) -> str:
    if bar is None:
        return ""
    return "ok" if (value <= bar if below else value >= bar) else "OVER" if below else "UNDER"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="workloads to run (default: all)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], help="thread counts to compare (default: 1 2)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        default="cpu",
        help="where both libraries compute (cuda: the GPU, chainrule through CuPy)",
    )
    parser.add_argument("--peak-of", nargs=2, metavar=("NAME", "LIB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if any(t < 1 for t in args.threads):
        parser.error("--threads: thread counts must be positive")

    import torch

    if args.peak_of:
        set_threads(args.threads[-1])
        print(peak_step_memory(args.peak_of[0], int(args.peak_of[1])))
        return 0
    names = args.names or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    syncs = None
    if args.device == "cuda":
        missing = cuda_missing()
        if missing:
            print(f"run.py --device cuda: cannot run on a GPU here. {missing}.", file=sys.stderr)
            return 2
        workloads.set_device("cuda")
        syncs = cuda_syncs()

    counts = list(dict.fromkeys(args.threads))
    load = load_average()
    busy = load is not None and load > BUSY_LOAD
    where = (
        "unknown"
        if load is None
        else f"{load:.2f}"
        + (f"  BUSY (> {BUSY_LOAD}): timings under load, not a result" if busy else "  (quiet)")
    )
    on = "" if args.device == "cpu" else f", device {args.device} ({torch.cuda.get_device_name()})"
    print(
        f"numpy {np.__version__}, torch {torch.__version__}{on}, threads {counts}, 1-min load average {where}"
    )
    head = f"{'workload':<40}"
    for _ in counts:
        head += f"{'chainrule':>11}{'pytorch':>11}{'ratio':>7}"
    head += f"{'bar':>6}"
    if len(counts) > 1:
        head += f"{'speed-up':>10}{'torch':>7}"
    groups = "".join(f"{f'-- {t} thread' + ('s' if t > 1 else '') + ' --':>29}" for t in counts)
    if len(counts) > 1:
        groups += f"{'':>11}{f'-- {counts[0]} -> {counts[-1]} threads --':>17}"
    print(f"{'':<40}{groups}")
    print(head)
    memory_rows = []
    for name in names:
        spec = WORKLOADS[name]
        ours, theirs = spec["make"]()
        row, times, worst = f"{spec['title']:<40}", [], 0.0
        for t in counts:
            set_threads(t)
            t_ours, t_theirs = measure(ours, theirs, args.rounds, spec["repeats"], syncs)
            times.append((t_ours, t_theirs))
            worst = max(worst, t_ours / t_theirs)
            row += f"{t_ours * 1e3:>9.3f}ms{t_theirs * 1e3:>9.3f}ms{t_ours / t_theirs:>7.2f}"
        bar = spec.get("bar")
        row += f"{'' if bar is None else f'{bar:.2f}':>6} {_verdict(worst, bar):<4}"
        if len(counts) > 1:
            ours_up, theirs_up = times[0][0] / times[-1][0], times[0][1] / times[-1][1]
            up_bar = spec.get("speedup_bar")
            row += (
                f"{ours_up:>5.2f}x{'' if up_bar is None else ' ' + _verdict(ours_up, up_bar, below=False):<5}"
            )
            row += f"{theirs_up:>6.2f}x"
        print(row.rstrip(), flush=True)
        del ours, theirs
        if "memory_bar" in spec and not args.no_memory and args.device == "cpu":
            memory_rows.append((spec, measure_memory(name, counts[-1])))
    after = load_average()
    if after is not None:
        print(f"1-min load average after the run: {after:.2f}" + ("  BUSY" if after > BUSY_LOAD else ""))
    if memory_rows:
        print(f"\n{'peak memory of a step':<40}{'chainrule':>12}{'pytorch':>12}{'ratio':>8}{'bar':>7}")
    for spec, peaks in memory_rows:
        if peaks is None:
            print(f"{spec['title']:<40}  (needs Linux /proc to measure)")
            continue
        ours_kib, theirs_kib = peaks
        ratio, bar = ours_kib / max(theirs_kib, 1), spec["memory_bar"]
        verdict = f"{bar:>7.2f}  " + ("ok" if ratio <= bar else "OVER")
        print(
            f"{spec['title']:<40}{ours_kib / 1024:>9.1f}MiB{theirs_kib / 1024:>9.1f}MiB{ratio:>8.2f}{verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
