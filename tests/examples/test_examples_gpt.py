"""examples/char_gpt.py runs: the loss falls below the unigram baseline, the model saves and reloads."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "char_gpt.py"


def test_char_gpt_quick_run_learns_saves_and_samples(tmp_path: Path) -> None:
    out_file = tmp_path / "gpt.safetensors"
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--quick", "--steps", "60", "--out", str(out_file)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    baseline = float(re.search(r"unigram baseline loss (\d+\.\d+)", out).group(1))
    val = [float(v) for v in re.findall(r"val loss (\d+\.\d+)", out)]
    train = [float(v) for v in re.findall(r"train loss (\d+\.\d+)", out)]
    assert len(val) >= 2 and len(train) == len(val)
    final = float(re.search(r"final val loss: (\d+\.\d+)", out).group(1))
    assert final == val[-1] and final < val[0]
    assert final < baseline  # 60 steps already beat character frequencies alone
    assert out_file.stat().st_size > 0 and f"saved to {out_file} and reloaded" in out
    before = re.search(r"--- sample before training ---\n(.*?)\n--- end ---", out, re.S).group(1)
    after = re.search(r"--- sample after training .*?---\n(.*?)\n--- end ---", out, re.S).group(1)
    assert before.startswith("def ") and after.startswith("def ")
    assert len(before) == len(after) == 4 + 80


def test_char_gpt_rejects_bad_steps() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--steps", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "char_gpt: --steps must be at least 1" in result.stderr and "Traceback" not in result.stderr
