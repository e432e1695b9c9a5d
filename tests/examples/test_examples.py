"""The examples run end to end and learn what they claim to learn."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


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


def test_perceptron_learns_and_or_but_not_xor() -> None:
    out = run_example("perceptron.py")
    accuracy = {m[0]: float(m[1]) for m in re.findall(r"(AND|OR|XOR)\s+accuracy (\d\.\d+)", out)}
    assert accuracy["AND"] == 1.0 and accuracy["OR"] == 1.0
    assert accuracy["XOR"] <= 0.75  # no line separates XOR
    with_tanh = float(re.search(r"with tanh between them:\s+accuracy (\d\.\d+)", out).group(1))
    without = float(re.search(r"without a non-linearity:\s+accuracy (\d\.\d+)", out).group(1))
    assert with_tanh == 1.0 and without <= 0.75
    gap = float(re.search(r"largest difference (\S+)\)", out).group(1))
    assert gap < 1e-5


def test_chainrule_demo_command_trains_saves_and_reloads(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chainrule.cli", "demo", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    accuracy = float(re.search(r"test accuracy: (\d\.\d+)", result.stdout).group(1))
    assert accuracy >= 0.985
    cnn, mlp = re.search(r"CNN (\d\.\d+) vs MLP (\d\.\d+) test accuracy", result.stdout).groups()
    assert float(cnn) == accuracy and float(mlp) >= 0.95
    for name in ("digits_cnn.safetensors", "curves.png", "diagnosis.txt", "history.csv", "log.csv"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert any((tmp_path / "checkpoints").glob("*.safetensors"))
    reloaded = float(re.search(r"reloaded from .*, it scores (\d\.\d+)", result.stdout).group(1))
    assert reloaded == accuracy
    assert "diagnosis: " in result.stdout and str(tmp_path) in result.stdout


def test_the_gpu_example_trains_on_the_stand_in_device_like_on_the_cpu() -> None:
    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "on_a_gpu.py"), *args],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    on_device, on_cpu = run("--device", "strict"), run("--device", "cpu")
    assert "parameters on strict:0" in on_device and "parameters on cpu" in on_cpu
    for out in (on_device, on_cpu):
        accuracy = float(re.search(r"test accuracy: (\d\.\d+)", out).group(1))
        assert accuracy > 0.93
        assert f"the saved weights on the CPU: test accuracy {accuracy:.3f}" in out
    same = [line.replace("on cpu", "on strict:0") for line in on_cpu.splitlines()[1:]]
    assert on_device.splitlines()[1:] == same  # the same figures on both devices
