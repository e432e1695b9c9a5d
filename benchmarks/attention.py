"""Attention over long sequences, chainrule against PyTorch in one process: time ratio and peak memory.

    python benchmarks/attention.py                   # the whole sweep, 2 threads (or the cores there are)
    python benchmarks/attention.py --threads 1 --lengths 512,2048 --no-minilm

Rows (float32, head size 32):

* ``F.scaled_dot_product_attention`` forward, batch 4 x 12 heads x T tokens, no graph;
* forward + backward with ``is_causal=True``, batch 2 x 12 heads x T tokens;
* a BERT encoder shaped like all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads,
  FFN 1536), inference on 8 x 512 tokens (against transformers' BertModel).

Each library is timed in a block (warm-up, then N steps of one, then N of the
other, never alternating step by step), ``--rounds`` times; the medians are
printed with chainrule / PyTorch, beside the ratio of process CPU time
(steadier than wall time on a busy machine, for 1-thread runs above all). ``--threads`` sets both libraries
(``chainrule.set_num_threads`` and ``torch.set_num_threads``). The peak memory
of one forward is measured for each library in a fresh process of its own: the
kernel's high-water mark (VmHWM) is reset after the inputs exist
(``/proc/self/clear_refs``), so what is counted is the forward's output and
temporaries. The 1-minute load average is printed: a figure taken on a busy
machine is not a result (see docs in benchmarks/run.py).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

HEAD = 32


def _inputs(batch: int, length: int, grad: bool):
    """The same random q, k, v (batch, 12, length, 32) as chainrule and as torch tensors."""
    import torch

    import chainrule as cr

    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((batch, 12, length, HEAD)).astype(np.float32) for _ in range(3)]
    ours = [cr.tensor(a, requires_grad=grad) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=grad) for a in arrays]
    return ours, theirs


def sdpa_forward(length: int, batch: int = 4) -> tuple[Callable, Callable]:
    """(ours_step, theirs_step): one attention forward, no graph."""
    import torch

    import chainrule as cr
    import chainrule.nn.functional as F  # noqa: N812

    (q, k, v), (tq, tk, tv) = _inputs(batch, length, grad=False)

    def ours():
        with cr.no_grad():
            return F.scaled_dot_product_attention(q, k, v)

    def theirs():
        with torch.no_grad():
            return torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)

    return ours, theirs


def sdpa_causal_train(length: int, batch: int = 2) -> tuple[Callable, Callable]:
    """(ours_step, theirs_step): causal attention forward and backward of a fixed random cotangent."""
    import torch

    import chainrule as cr
    import chainrule.nn.functional as F  # noqa: N812

    (q, k, v), (tq, tk, tv) = _inputs(batch, length, grad=True)
    c = np.random.default_rng(1).standard_normal((batch, 12, length, HEAD)).astype(np.float32)
    oc, tc = cr.tensor(c), torch.tensor(c)

    def ours():
        for t in (q, k, v):
            t.grad = None
        (F.scaled_dot_product_attention(q, k, v, is_causal=True) * oc).sum().backward()

    def theirs():
        for t in (tq, tk, tv):
            t.grad = None
        (torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=True) * tc).sum().backward()

    return ours, theirs


def minilm(length: int = 512, batch: int = 8) -> tuple[Callable, Callable]:
    from bert_workloads import minilm_inference

    return minilm_inference(batch, length)


def rows(lengths: list[int], causal_lengths: list[int], with_minilm: bool) -> list[tuple[str, str, tuple]]:
    """(title, maker name, maker args) of every row to run."""
    out = [(f"sdpa fwd 4x12x{t}x32", "sdpa_forward", (t,)) for t in lengths]
    out += [(f"sdpa causal fwd+bwd 2x12x{t}x32", "sdpa_causal_train", (t,)) for t in causal_lengths]
    if with_minilm:
        out.append(("MiniLM-L6 inference 8x512", "minilm", (512,)))
    return out


def _block(step: Callable[[], object], n: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) per step over ``n`` steps."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    return (time.perf_counter() - start) / n, (time.process_time() - cpu) / n


def measure(ours: Callable, theirs: Callable, rounds: int) -> tuple[float, float, float, float]:
    """Median wall and CPU seconds per step of each library, timed in blocks of N steps.

    Returns (wall ours, wall theirs, cpu ours, cpu theirs). On a busy machine
    the CPU time of a 1-thread run is the steadier figure of the two.
    """
    first = []
    for step in (ours, theirs):  # warm-up, and a first guess of the step time
        step()
        first.append(_block(step, 1)[0])
    n = max(1, min(20, int(1.0 / max(max(first), 1e-4))))
    t_ours, t_theirs = [], []
    for _ in range(rounds):
        gc.collect()
        t_ours.append(_block(ours, n))
        gc.collect()
        t_theirs.append(_block(theirs, n))
    return (
        statistics.median(t[0] for t in t_ours),
        statistics.median(t[0] for t in t_theirs),
        statistics.median(t[1] for t in t_ours),
        statistics.median(t[1] for t in t_theirs),
    )


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def peak_forward(maker: str, args: tuple, which: int) -> int:
    """KiB that one step of library ``which`` (0 chainrule, 1 torch) adds to the resident peak."""
    warm = sdpa_forward(256, 1)[which]  # thread pools and lazy set-up are not the step's
    warm()
    step = globals()[maker](*args)[which]
    gc.collect()
    try:  # hand the set-up's freed temporaries back to the OS, so the step cannot reuse them unseen
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    result = step()
    peak = _status_kib("VmHWM") - before
    del result
    return peak


def measure_memory(maker: str, args: tuple, threads: int) -> tuple[int, int] | None:
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    peaks = []
    for which in (0, 1):
        cmd = [sys.executable, __file__, "--peak-of", maker, ",".join(map(str, args)), str(which)]
        out = subprocess.run(cmd + ["--threads", str(threads)], capture_output=True, text=True, check=True)
        peaks.append(int(out.stdout.strip().splitlines()[-1]))
    return peaks[0], peaks[1]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lengths", type=_ints, default=[128, 512, 2048, 4096], help="forward rows' T")
    parser.add_argument("--causal-lengths", type=_ints, default=[128, 512, 1024, 2048], help="causal rows' T")
    parser.add_argument("--no-minilm", action="store_true", help="skip the MiniLM 512-token row")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    parser.add_argument("--peak-of", nargs=3, metavar=("MAKER", "ARGS", "LIB"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    import torch

    import chainrule as cr

    torch.set_num_threads(args.threads)
    cr.set_num_threads(args.threads)
    if args.peak_of:
        maker, margs, which = args.peak_of
        print(peak_forward(maker, tuple(_ints(margs)), int(which)))
        return 0

    print(
        f"numpy {np.__version__}, torch {torch.__version__}, threads {args.threads}, "
        f"load average (1 min) {os.getloadavg()[0]:.2f}"
    )
    head = f"{'row':<36}{'chainrule':>12}{'pytorch':>12}{'ratio':>8}{'cpu ratio':>10}"
    print(f"{head}{'mem cr':>10}{'mem torch':>11}{'ratio':>7}")
    for title, maker, margs in rows(args.lengths, args.causal_lengths, not args.no_minilm):
        ours, theirs = globals()[maker](*margs)
        t_ours, t_theirs, c_ours, c_theirs = measure(ours, theirs, args.rounds)
        del ours, theirs
        gc.collect()
        mem = ""
        if maker != "sdpa_causal_train" and not args.no_memory:
            peaks = measure_memory(maker, margs, args.threads)
            if peaks is not None:
                mo, mt = peaks
                mem = f"{mo / 1024:>7.1f}MiB{mt / 1024:>8.1f}MiB{mo / max(mt, 1):>7.2f}"
        print(
            f"{title:<36}{t_ours * 1e3:>10.1f}ms{t_theirs * 1e3:>10.1f}ms{t_ours / t_theirs:>8.2f}"
            f"{c_ours / max(c_theirs, 1e-9):>10.2f}{mem}",
            flush=True,
        )
    print(f"load average (1 min) at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
