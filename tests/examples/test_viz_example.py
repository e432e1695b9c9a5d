"""examples/see_the_gradients.py draws its two pictures and shows the gradient vanishing."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "see_the_gradients.py"


def test_the_example_draws_the_graph_and_the_vanishing_gradient(tmp_path):
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"graph: 16 ops, 18 leaves", result.stdout)
    ratio = float(re.search(r"last layer's: (\S+)", result.stdout).group(1))
    assert ratio < 1e-3  # eight sigmoid layers: the first learns orders of magnitude slower
    ET.fromstring((tmp_path / "graph.svg").read_text())
    assert (tmp_path / "gradient_flow.png").read_bytes()[:4] == b"\x89PNG"
