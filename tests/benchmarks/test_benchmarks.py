"""The benchmark script runs every workload and prints its table (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "benchmarks" / "run.py"


def test_benchmark_table_lists_the_workloads_asked_for() -> None:
    result = subprocess.run(
        [sys.executable, str(RUN), "chain", "W0", "W1", "--rounds", "1", "--threads", "1", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "load average" in lines[0]
    assert lines[1].split() == [
        "--",
        "1",
        "thread",
        "--",
        "--",
        "2",
        "threads",
        "--",
        "--",
        "1",
        "->",
        "2",
        "threads",
        "--",
    ]
    header = lines[2].split()
    assert header[:7] == ["workload", "chainrule", "pytorch", "ratio", "chainrule", "pytorch", "ratio"]
    assert header[7:] == ["bar", "speed-up", "torch"]
    titles = ("autograd chain 1000 ops 16x16", "W0 MLP 2-16-16-1 tanh, Adam", "W1 MLP 784-256-256-10, Adam")
    for title in titles:
        row = next(line for line in lines if line.startswith(title))
        cells = row[len(title) :].split()
        for ratio in (float(cells[2]), float(cells[5])):  # at 1 and at 2 threads
            assert 0 <= ratio < float("inf")  # printed to two decimals: a very slow torch shows 0.00
        assert cells[-2].endswith("x") and cells[-1].endswith("x")  # each library's 1 -> 2 speed-up
    # the peak-memory table follows the timing table, with W1 in it
    start = next(i for i, line in enumerate(lines) if line.startswith("peak memory of a step"))
    assert any(line.startswith(titles[2]) for line in lines[start:])


def test_unknown_workload_is_refused_with_the_list() -> None:
    result = subprocess.run(
        [sys.executable, str(RUN), "nope"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode != 0
    assert "chain" in result.stderr and "nope" in result.stderr


def test_loader_workers_benchmark_prints_its_table() -> None:
    script = RUN.parent / "loader_workers.py"
    result = subprocess.run(
        [sys.executable, str(script), "--items", "32", "--epochs", "1", "--skip-transport"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["num_workers"])
    rows = [line.split() for line in lines[header + 1 : header + 4]]
    assert [r[0] for r in rows] == ["0", "1", "2"] and all(float(r[3]) > 0 for r in rows)
    assert any(line.startswith("speed-up of 2 workers over 0") and "load average" in line for line in lines)


def test_cuda_device_without_a_gpu_says_what_is_missing() -> None:
    import torch

    import chainrule as cr

    if cr.cuda.is_available() and torch.cuda.is_available():
        return  # both can run on the GPU here: nothing is missing
    result = subprocess.run(
        [sys.executable, str(RUN), "W0", "--device", "cuda"], capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert "cannot run on a GPU here" in result.stderr
    if not cr.cuda.is_available():
        assert "chainrule: " in result.stderr and cr.cuda.why_unavailable() in result.stderr
    if not torch.cuda.is_available():
        assert "PyTorch: " in result.stderr
