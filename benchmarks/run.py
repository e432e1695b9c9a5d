"""Run chainrule and PyTorch on the same workloads in one process and print the time ratio.

    python benchmarks/run.py            # every workload
    python benchmarks/run.py chain      # only the named ones

Each workload is a pair of step functions (one per library) on identical
shapes and dtypes. Both are warmed up, then timed alternately in rounds; the
table reports the median seconds per step and chainrule / PyTorch. PyTorch
uses as many threads as NumPy's BLAS would (set with ``--threads``).
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

from workloads import WORKLOADS


def time_step(step: Callable[[], object], repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def measure(make_pair: Callable, rounds: int, repeats: int) -> tuple[float, float]:
    ours, theirs = make_pair()
    for step in (ours, theirs):  # warm-up
        for _ in range(max(2, repeats // 2)):
            step()
    t_ours, t_theirs = [], []
    for _ in range(rounds):
        gc.collect()
        t_ours.append(time_step(ours, repeats))
        gc.collect()
        t_theirs.append(time_step(theirs, repeats))
    return statistics.median(t_ours), statistics.median(t_theirs)


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
    lazy set-up (thread pools, caches) is not counted against the workload.
    """
    warm = WORKLOADS["W0"]["make"]()[which]
    for _ in range(3):
        warm()
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="workloads to run (default: all)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--peak-of", nargs=2, metavar=("NAME", "LIB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    if args.peak_of:
        print(peak_step_memory(args.peak_of[0], int(args.peak_of[1])))
        return 0
    names = args.names or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")

    print(f"numpy {np.__version__}, torch {torch.__version__}, torch threads {args.threads}")
    print(f"{'workload':<34}{'chainrule':>12}{'pytorch':>12}{'ratio':>8}{'bar':>7}")
    memory_rows = []
    for name in names:
        spec = WORKLOADS[name]
        ours, theirs = measure(spec["make"], args.rounds, spec["repeats"])
        ratio, bar = ours / theirs, spec.get("bar")
        verdict = "" if bar is None else f"{bar:>7.2f}  " + ("ok" if ratio <= bar else "OVER")
        print(f"{spec['title']:<34}{ours * 1e3:>10.3f}ms{theirs * 1e3:>10.3f}ms{ratio:>8.2f}{verdict}")
        if "memory_bar" in spec and not args.no_memory:
            memory_rows.append((spec, measure_memory(name, args.threads)))
    if memory_rows:
        print(f"\n{'peak memory of a step':<34}{'chainrule':>12}{'pytorch':>12}{'ratio':>8}{'bar':>7}")
    for spec, peaks in memory_rows:
        if peaks is None:
            print(f"{spec['title']:<34}  (needs Linux /proc to measure)")
            continue
        ours_kib, theirs_kib = peaks
        ratio, bar = ours_kib / max(theirs_kib, 1), spec["memory_bar"]
        verdict = f"{bar:>7.2f}  " + ("ok" if ratio <= bar else "OVER")
        print(
            f"{spec['title']:<34}{ours_kib / 1024:>9.1f}MiB{theirs_kib / 1024:>9.1f}MiB{ratio:>8.2f}{verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
