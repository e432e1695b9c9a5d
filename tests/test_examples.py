"""The examples run end to end and learn what they claim to learn."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_logistic_regression_learns_the_digits() -> None:
    out = run_example("logistic_regression.py")
    losses = [float(m) for m in re.findall(r"loss (\d+\.\d+)", out)]
    assert losses[-1] < losses[0] / 5, f"loss did not fall enough: {losses}"
    accuracy = float(re.search(r"test accuracy: (\d\.\d+)", out).group(1))
    assert accuracy > 0.93


def test_chain_rule_example_agrees_with_the_hand_derivation() -> None:
    out = run_example("chain_rule.py")
    assert "gradcheck against finite differences: passed" in out
