"""DataLoader worker processes: epoch time with num_workers = 0, 1, 2, chainrule beside PyTorch.

    python benchmarks/loader_workers.py              # epochs, then the batch transport
    python benchmarks/loader_workers.py --epochs 5   # more epochs per setting (median)

The dataset is the same object for both libraries: each item is a 3x64x64
"image" put through a deterministic decode-like pipeline (repeated FFT
filtering, ~5 ms of CPU on one core), returned as NumPy arrays; each loader
collates batches of 32 into its own tensors. An epoch is one fresh
``iter(loader)`` run to the end, worker start-up included, as a training loop
without persistent workers pays it. Settings are timed in blocks (all epochs of
one library and setting together), never alternating batch by batch.

The second table times the trip of one batch from a worker process to the main
process: plain pickling through a ``multiprocessing`` queue (the arrays in the
message) against :mod:`chainrule.data.shm` (arrays written into ``/dev/shm``,
mapped in the main process without a copy). It prints the batches per second
and the main process's CPU time per batch (what the training loop loses).

Print the 1-minute load average beside the figures: numbers taken on a loaded
machine (test suites, other benchmarks) are not results.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pickle
import statistics
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import chainrule.data as crd
from chainrule.data import shm

ROUNDS = 32  # FFT filter passes per item: ~5 ms on one core of the reference machine


class Decoded:
    """``n`` items, each a deterministic 3x64x64 float32 image filtered ROUNDS times, and a label."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        x = np.random.default_rng(i).standard_normal((3, 64, 64)).astype(np.float32)
        h = np.fft.rfft2(np.outer(np.hanning(64), np.hanning(64)))  # a smoothing kernel's spectrum
        for _ in range(ROUNDS):
            x = np.fft.irfft2(np.fft.rfft2(x) * h, s=(64, 64)).astype(np.float32)
            x /= np.abs(x).max() + 1e-6
        return x, i % 10


def _epoch(loader: Any) -> float:
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def epoch_times(n: int, batch: int, epochs: int) -> list[tuple[int, float, float]]:
    import torch
    import torch.utils.data as tud

    torch.set_num_threads(1)
    ds = Decoded(n)
    rows = []
    for workers in (0, 1, 2):
        ours = crd.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)
        theirs = tud.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)
        _epoch(ours)  # warm-up: imports, page cache, first fork
        t_ours = statistics.median(_epoch(ours) for _ in range(epochs))
        _epoch(theirs)
        t_theirs = statistics.median(_epoch(theirs) for _ in range(epochs))
        rows.append((workers, t_ours, t_theirs))
    return rows


# ------------------------------------------------------------------ batch transport
def _sender(q: Any, nbytes: int, count: int, shared: bool, prefix: str) -> None:
    batch = [np.ones(nbytes // 4, dtype=np.float32), np.arange(32)]
    for k in range(count):
        if shared:
            q.put(pickle.dumps(shm.pack(batch, f"{prefix}-{k}", min_bytes=1), pickle.HIGHEST_PROTOCOL))
        else:
            q.put(batch)  # the queue pickles it in its feeder thread
    q.put(None)


def transport(nbytes: int, count: int, shared: bool) -> tuple[float, float]:
    """(batches per second, main-process CPU seconds per batch) for one worker streaming ``count`` batches."""
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue(maxsize=4)
    prefix = shm.block_prefix()
    p = ctx.Process(target=_sender, args=(q, nbytes, count, shared, prefix), daemon=True)
    start, cpu = time.perf_counter(), time.process_time()
    p.start()
    received = 0
    while (item := q.get()) is not None:
        batch = shm.unpack(pickle.loads(item)) if shared else item
        batch[0][::1024].sum()  # look at it, one element per 4 KiB page
        received += 1
        del batch
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    p.join()
    shm.remove_blocks(prefix)
    return received / wall, cpu / received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=320)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per setting (median)")
    parser.add_argument("--skip-transport", action="store_true")
    args = parser.parse_args()

    ds = Decoded(8)
    start = time.perf_counter()
    for i in range(8):
        ds[i]
    item_ms = (time.perf_counter() - start) / 8 * 1e3
    print(
        f"load average {os.getloadavg()[0]:.2f}; one item {item_ms:.1f} ms; "
        f"{args.items} items, batch {args.batch_size}"
    )
    rows = epoch_times(args.items, args.batch_size, args.epochs)
    print(f"\n{'num_workers':>11}  {'chainrule s':>11}  {'PyTorch s':>9}  {'chainrule/PyTorch':>17}")
    for workers, ours, theirs in rows:
        print(f"{workers:>11}  {ours:>11.3f}  {theirs:>9.3f}  {ours / theirs:>17.2f}")
    t = {w: (o, p) for w, o, p in rows}
    print(
        f"speed-up of 2 workers over 0: chainrule {t[0][0] / t[2][0]:.2f}x, PyTorch {t[0][1] / t[2][1]:.2f}x"
        f"   (load average {os.getloadavg()[0]:.2f})"
    )

    if args.skip_transport or shm.shm_dir() is None:
        return
    print(f"\nbatch transport worker -> main (load average {os.getloadavg()[0]:.2f})")
    print(f"{'batch':>8}  {'pickled/s':>9}  {'shared/s':>9}  {'main CPU ms: pickled':>20}  {'shared':>7}")
    for nbytes, count in ((64 << 10, 400), (256 << 10, 300), (1 << 20, 200), (16 << 20, 30), (64 << 20, 10)):
        rate_p, cpu_p = transport(nbytes, count, shared=False)
        rate_s, cpu_s = transport(nbytes, count, shared=True)
        size = f"{nbytes >> 20} MiB" if nbytes >= 1 << 20 else f"{nbytes >> 10} KiB"
        print(f"{size:>8}  {rate_p:>9.0f}  {rate_s:>9.0f}  {cpu_p * 1e3:>20.3f}  {cpu_s * 1e3:>7.3f}")


if __name__ == "__main__":
    main()
