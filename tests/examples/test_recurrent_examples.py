"""The recurrent examples run end to end (in their ``--quick`` form) and show what their docstrings claim."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, *args: str) -> str:
    # The GEMMs here are tiny (batch 64, hidden 32): BLAS threads only add synchronisation, which on a
    # loaded machine made the quick run several times slower. One thread keeps the test short.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_vanishing_gradient_rnn_fails_where_lstm_and_gru_learn(tmp_path: Path) -> None:
    plot = tmp_path / "vanishing_gradient.png"
    out = run_example("vanishing_gradient.py", "--out", str(plot))
    baseline = float(re.search(r"test MSE (\d\.\d+)", out).group(1))
    assert abs(baseline - 1 / 6) < 1e-3
    rows = {}  # model: (test MSE, verdict line, gradient ratio first/last step trained, at init)
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("RNN", "LSTM", "GRU"):
            rows[parts[0]] = (float(parts[1]), line, float(parts[-2]), float(parts[-1]))
    assert set(rows) == {"RNN", "LSTM", "GRU"}, out
    rnn_mse, rnn_line, rnn_ratio, _ = rows["RNN"]
    assert rnn_mse > 0.7 * baseline and "fails" in rnn_line, f"the RNN should fail:\n{out}"
    for kind in ("LSTM", "GRU"):
        mse, line, ratio, at_init = rows[kind]
        assert mse < baseline / 4 and "learns it" in line, f"{kind} should learn the adding problem:\n{out}"
        # trained gates carry the gradient back to the first step; the plain RNN's vanishes
        assert ratio > 1e-3 > rnn_ratio, out
        assert at_init < ratio
    assert plot.stat().st_size > 10_000


def test_forecast_lstm_beats_the_seasonal_naive_and_ridge_baselines(tmp_path: Path) -> None:
    pytest.importorskip("statsmodels", reason="the forecast example reads statsmodels' sunspots data")
    plot = tmp_path / "forecast.png"
    out = run_example("forecast.py", "--out", str(plot))
    scores = {
        m[0].split(" (")[0]: (float(m[1]), float(m[2]))
        for m in re.findall(r"^(seasonal naive|ridge \(alpha=\S+\)|LSTM)\s+(\S+)\s+(\S+)$", out, re.MULTILINE)
    }
    assert set(scores) == {"seasonal naive", "ridge", "LSTM"}, out
    (naive_mae, naive_rmse), (ridge_mae, ridge_rmse), (lstm_mae, lstm_rmse) = (
        scores[k] for k in ("seasonal naive", "ridge", "LSTM")
    )
    assert lstm_mae < 0.7 * naive_mae and lstm_rmse < 0.7 * naive_rmse, out
    assert lstm_mae < ridge_mae and lstm_rmse < ridge_rmse, out
    assert "winner: LSTM, lowest test MAE and RMSE" in out
    assert "EarlyStopping: " in out and "restored the weights of epoch" in out
    assert plot.stat().st_size > 10_000
