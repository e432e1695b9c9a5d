"""The architecture as a contract: layers import downward only, and no module takes another's private name.

Both checks read the source with ``ast`` (nothing is imported), so they run in
a blink and fail naming the file, the line and the offending import.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "chainrule"

# Lowest first. A module may import from its own layer and any layer below it,
# never from one above. Names in one layer may import each other, except the
# siblings listed in SIBLINGS_APART. The engine (tensor, autograd, creation,
# ops) is one layer: Tensor's methods call the ops, the ops build Tensors.
LAYERS: list[set[str]] = [
    {"backend", "devices", "runtime", "random", "validation"},
    {"tensor", "autograd", "creation", "ops", "linalg"},
    {"io"},
    {"nn"},
    {"optim", "data"},
    {"train"},
    {"models"},
    {"distributed", "onnx", "viz"},
    {"apps", "demo"},
    {"cli"},
]
SIBLINGS_APART = [{"optim", "data"}]
# ``chainrule`` itself (the package's face) loads only the engine, io and the
# bottom layer eagerly; the layers above it load on first use.
ROOT_LAYER = 1


def _layer_of(top: str) -> int:
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"chainrule.{top} is in no layer: add it to LAYERS in {Path(__file__).name}")


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def _is_package(dotted: str) -> bool:
    return (SRC / Path(*dotted.split("."))).is_dir()


def _is_module(dotted: str) -> bool:
    return _is_package(dotted) or (SRC / Path(*dotted.split("."))).with_suffix(".py").is_file()


def _imports(tree: ast.AST) -> list[tuple[int, str, str | None]]:
    """``(line, module, name)`` for every chainrule import; name is None for ``import x.y``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] == "chainrule"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "chainrule":
            found += [(node.lineno, node.module, a.name) for a in node.names]
    return found


def _target_top(module: str, name: str | None) -> str | None:
    """The top-level part of chainrule an import reaches (``from chainrule import nn`` reaches nn)."""
    parts = module.split(".")
    if len(parts) > 1:
        return parts[1]
    if name is not None and _is_module(f"chainrule.{name}"):
        return name
    return None  # the package's face


def _layer_violations() -> list[str]:
    problems = []
    for dotted, path in _modules():
        if dotted == "chainrule":
            continue
        own = dotted.split(".")[1]
        mine = _layer_of(own)
        for line, module, name in _imports(ast.parse(path.read_text(), str(path))):
            top = _target_top(module, name)
            theirs = ROOT_LAYER if top is None else _layer_of(top)
            what = f"from {module} import {name}" if name else f"import {module}"
            where = f"{path.relative_to(SRC.parent)}:{line}"
            if theirs > mine:
                problems.append(f"{where}: {what} (chainrule.{own} may not import from a layer above it)")
            elif top is not None and top != own and any({own, top} <= pair for pair in SIBLINGS_APART):
                problems.append(f"{where}: {what} (chainrule.{own} and chainrule.{top} stay independent)")
    return problems


def test_every_top_level_module_has_a_layer():
    for dotted, _ in _modules():
        if dotted != "chainrule":
            _layer_of(dotted.split(".")[1])


def test_layers_import_downward_only():
    problems = _layer_violations()
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _private_name_uses() -> list[str]:
    """``from chainrule.x import _y`` and ``x._y`` on an imported chainrule module, in another module."""
    problems = []
    for dotted, path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        module_aliases: dict[str, str] = {}
        for line, module, name in _imports(tree):
            where = f"{path.relative_to(SRC.parent)}:{line}"
            if name is not None and _is_private(name) and module != dotted:
                problems.append(f"{where}: from {module} import {name}")
            if name is not None and _is_module(f"{module}.{name}"):
                module_aliases[name] = f"{module}.{name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "chainrule" and a.asname:
                        module_aliases[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chainrule"):
                for a in node.names:
                    if a.asname and _is_module(f"{node.module}.{a.name}"):
                        module_aliases[a.asname] = f"{node.module}.{a.name}"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in module_aliases
                and module_aliases[node.value.id] != dotted
                and _is_private(node.attr)
            ):
                where = f"{path.relative_to(SRC.parent)}:{node.lineno}"
                problems.append(f"{where}: {node.value.id}.{node.attr} ({module_aliases[node.value.id]})")
    return problems


def test_no_module_uses_another_modules_private_names():
    problems = _private_name_uses()
    assert not problems, (
        "private names used across modules (give the helper a public name and a home):\n"
        + "\n".join(problems)
    )


@pytest.mark.parametrize(
    "layer",
    ["chainrule.train", "chainrule.models", "chainrule.nn", "chainrule.optim", "chainrule.viz", "matplotlib"],
)
def test_import_chainrule_leaves_the_upper_layers_unloaded(layer):
    code = f"import sys, chainrule; assert {layer!r} not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(SRC)})


def test_the_upper_layers_load_on_first_use():
    code = (
        "import sys, chainrule as cr\n"
        "assert cr.nn.Linear and cr.optim.Adam and cr.train.Trainer\n"
        "assert cr.models.MLP and cr.data.DataLoader\n"
        "assert cr.viz.graph and 'matplotlib' not in sys.modules\n"
        "assert cr.save and cr.load\n"
        "import chainrule.nn\n"
        "from chainrule import models\n"
        "assert models is cr.models and chainrule.nn is cr.nn\n"
        "assert {'nn', 'optim', 'train', 'models', 'data', 'viz'} <= set(dir(cr))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(SRC)})


def test_only_runtime_touches_thread_counts():
    """threadpoolctl (and so the BLAS/OpenMP thread counts) is reached through chainrule.runtime alone."""
    problems = []
    for dotted, path in _modules():
        if dotted == "chainrule.runtime":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] == "threadpoolctl" for n in names):
                problems.append(f"{path.relative_to(SRC.parent)}:{node.lineno}: imports threadpoolctl")
    assert not problems, "use chainrule.runtime (limit_threads, set_num_threads):\n" + "\n".join(problems)


def _function_classes() -> list[tuple[str, Path, ast.ClassDef]]:
    """Every class deriving from ``Function`` (directly, or through a class of the same module)."""
    found = []
    for dotted, path in _modules():
        known = {"Function"}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and any(
                (isinstance(b, ast.Name) and b.id in known)
                or (isinstance(b, ast.Attribute) and b.attr == "Function")
                for b in node.bases
            ):
                known.add(node.name)
                found.append((dotted, path, node))
    return found


def test_every_function_lives_in_ops_and_is_named_after_its_op():
    """Where is the gradient of X? Always in ops/, in a class named X in CamelCase (no Fn/Function suffix)."""
    problems = []
    for dotted, path, node in _function_classes():
        where = f"{path.relative_to(SRC.parent)}:{node.lineno}: class {node.name}"
        if not dotted.startswith("chainrule.ops."):
            problems.append(f"{where} is a Function outside chainrule.ops")
        if not node.name[:1].isupper() or node.name.endswith(("Fn", "Function")):
            problems.append(f"{where}: name a Function after its op in CamelCase (public, no suffix)")
    assert not problems, "\n".join(problems)
