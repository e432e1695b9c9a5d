"""docs/ops-table.md (op -> Function -> file) is current; regenerate: ``python docs/gen_ops_table.py``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_ops_table", ROOT / "docs" / "gen_ops_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ops_table_is_current():
    gen = _generator()
    stale = "docs/ops-table.md is stale: run python docs/gen_ops_table.py"
    assert gen.TABLE.read_text() == gen.render(), stale


def test_every_function_has_an_op_or_a_user():
    missing = [name for name, ops, _ in _generator().rows() if not ops]
    assert not missing, f"Functions that no op applies: {missing}"
