"""The computation graph behind a result, as a picture (``cr.viz.graph(loss)``, like torchviz's ``make_dot``).

One box per op (the Function that made a tensor: its name and output shape),
one per leaf tensor (a model's parameter by name when ``params`` names it,
with its shape), arrows from inputs down to the result, and on each arrow
the norm of the gradient flowing along it. The graph is read from the
tensors' recorded history, so it must still exist: draw before
``backward()``, or after ``backward(retain_graph=True)``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autograd import Function, no_grad, recorded_inputs, unbroadcast
from chainrule.io import atomic_write
from chainrule.tensor import Tensor

__all__ = ["GraphEdge", "GraphNode", "GraphPicture", "graph"]

# what a box is: an op, a named parameter, an unnamed tensor that requires grad,
# a tensor that does not (data, targets, masks), or the stand-in for nodes cut by max_nodes
KINDS = ("op", "param", "leaf", "input", "more")


@dataclass(frozen=True)
class GraphNode:
    """One box: ``kind`` is one of ``op``, ``param``, ``leaf``, ``input``, ``more``; ``shape`` is the
    output shape of an op, the shape of a tensor, None for ``more``."""

    id: str
    kind: str
    name: str
    shape: tuple[int, ...] | None

    @property
    def label(self) -> str:
        """The text in the box: the name, and the shape on a second line."""
        return self.name if self.shape is None else f"{self.name}\n{_shape_text(self.shape)}"


@dataclass(frozen=True)
class GraphEdge:
    """One arrow, from the node whose output is consumed to the op consuming it.

    ``grad_norm`` is the L2 norm of the gradient that flows back along it (see
    :func:`graph`), None when gradients are not shown.
    """

    source: str
    target: str
    grad_norm: float | None = None

    @property
    def label(self) -> str:
        return "" if self.grad_norm is None else f"{self.grad_norm:.3g}"


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


class GraphPicture:
    """A computation graph ready to show: DOT text, SVG, PNG, or inline in Jupyter.

    ``nodes`` and ``edges`` list what is drawn; ``output`` is the id of the
    node that made the result. SVG and PNG are drawn with matplotlib by a
    layered layout (:mod:`chainrule.viz.layout`), so they need no Graphviz;
    ``source`` is the same graph in Graphviz's DOT language, for ``dot`` or
    any DOT viewer.
    """

    def __init__(self, nodes: list[GraphNode], edges: list[GraphEdge], output: str) -> None:
        self.nodes = nodes
        self.edges = edges
        self.output = output
        self._figure: Any = None

    @property
    def source(self) -> str:
        """The graph in the DOT language (Graphviz), top to bottom from the inputs to the result."""
        lines = [
            "digraph chainrule {",
            '  graph [rankdir=TB, fontname="Helvetica"];',
            '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
            '  edge [fontname="Helvetica", fontsize=8];',
        ]
        for n in self.nodes:
            fill = NODE_COLORS["output"] if n.id == self.output else NODE_COLORS[n.kind]
            extra = ", style=dashed" if n.kind == "more" else ""
            lines.append(f'  {n.id} [label="{_dot_escape(n.label)}", fillcolor="{fill}"{extra}];')
        for e in self.edges:
            label = f' [label="{e.label}"]' if e.label else ""
            lines.append(f"  {e.source} -> {e.target}{label};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def figure(self) -> Any:
        """The picture as a matplotlib Figure (drawn once, then kept)."""
        if self._figure is None:
            from chainrule.viz.draw import draw_graph

            self._figure = draw_graph(self)
        return self._figure

    def svg(self) -> str:
        """The picture as SVG text, labels kept as text (searchable, selectable)."""
        import matplotlib

        buf = io.StringIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "chainrule"}):
            self.figure().savefig(buf, format="svg")
        return buf.getvalue()

    def png(self, *, dpi: int = 100) -> bytes:
        """The picture as PNG bytes."""
        buf = io.BytesIO()
        self.figure().savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the picture to ``path`` atomically, in the format its suffix names (.dot/.gv, .svg, .png)."""
        target = Path(os.fspath(path))
        suffix = target.suffix.lower()
        if suffix in (".dot", ".gv"):
            data: str | bytes = self.source
        elif suffix == ".svg":
            data = self.svg()
        elif suffix == ".png":
            data = self.png()
        else:
            raise ValueError(
                f"GraphPicture.save: cannot tell the format of {str(target)!r}; "
                "use a path ending in .dot, .gv, .svg or .png"
            )
        with atomic_write(target, "w" if isinstance(data, str) else "wb") as f:
            f.write(data)
        return target

    def _repr_svg_(self) -> str:
        return self.svg()

    def __repr__(self) -> str:
        ops = sum(1 for n in self.nodes if n.kind == "op")
        return f"GraphPicture(ops={ops}, leaves={len(self.nodes) - ops}, edges={len(self.edges)})"


NODE_COLORS = {
    "op": "#dbe9f6",
    "output": "#f9d9a8",
    "param": "#d5efcf",
    "leaf": "#fff1b8",
    "input": "#ececec",
    "more": "#ffffff",
}


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def graph(
    output: Tensor,
    *,
    show_grad: bool = True,
    max_nodes: int = 500,
    params: Mapping[str, Tensor] | None = None,
) -> GraphPicture:
    """Draw the computation graph that produced ``output``.

    One box per op (its name and output shape) and per leaf tensor (named
    when ``params``, e.g. ``dict(model.named_parameters())``, names it; a
    tensor that does not require grad, such as the data, is drawn grey),
    arrows from the inputs down to ``output``. With ``show_grad``, each arrow
    is labelled with the L2 norm of the gradient flowing along it in a
    backward pass from ``output``: what that op's backward hands to that
    input (an arrow into a leaf used once carries exactly the leaf's
    ``.grad`` after one ``output.backward()`` from zero). The engine keeps no
    per-edge gradients, so they are recomputed by running each op's backward
    once more on the recorded graph, seeded with ones as ``backward()`` does
    for a scalar (for a non-scalar output: the gradient of ``output.sum()``);
    gradient hooks are not called and nothing is written to ``.grad``.

    The graph must still be recorded: draw before ``backward()`` or after
    ``backward(retain_graph=True)``. When it has more than ``max_nodes``
    boxes, those farthest from ``output`` are left out and one box says how
    many.
    """
    if not isinstance(output, Tensor):
        raise TypeError(
            f"graph: expected a Tensor (the result of a computation), got {type(output).__name__}"
        )
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"graph: max_nodes must be a positive int, got {max_nodes!r}")
    if output._ctx is None and not output.requires_grad:
        raise ValueError(
            f"graph: the tensor of shape {_shape_text(output.shape)} has no computation graph (it does not "
            "require grad); compute it from tensors with requires_grad=True, outside no_grad()"
        )
    names = _param_names(params)
    walk = _Walk(output, names)
    norms = _replay(output, walk) if show_grad and output._ctx is not None else {}
    nodes = walk.nodes
    edges = [GraphEdge(src, dst, norms.get((dst, slot))) for src, dst, slot in walk.edges]
    if len(nodes) > max_nodes:
        nodes, edges = _cut(nodes, edges, max_nodes)
    return GraphPicture(nodes, edges, walk.output)


def _param_names(params: Mapping[str, Tensor] | None) -> dict[int, str]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise TypeError(
            "graph: params must map names to tensors, e.g. dict(model.named_parameters()); "
            f"got {type(params).__name__}"
        )
    names = {}
    for name, t in params.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"graph: params[{name!r}] is a {type(t).__name__}, expected a Tensor")
        names.setdefault(id(t), str(name))
    return names


class _Walk:
    """The recorded graph behind a tensor, breadth first from it: nodes, and (source, target, slot) edges."""

    def __init__(self, output: Tensor, names: dict[int, str]) -> None:
        self.nodes: list[GraphNode] = []
        self.edges: list[tuple[str, str, int]] = []
        self.ops: list[Function] = []  # in the order found, the output's first
        self.inputs: dict[int, tuple] = {}  # id(op) -> its recorded inputs
        self._ids: dict[int, str] = {}
        self._keep: list[Any] = []  # what ids were taken of stays alive while walking
        self.output = self._id_of(output, names)
        queue = [output._ctx] if output._ctx is not None else []
        for ctx in queue:
            if ctx.inputs is None:
                raise RuntimeError(
                    f"graph: backward() has already freed the graph at {ctx.name()}; draw before "
                    "backward(), or call backward(retain_graph=True) to keep the graph for drawing"
                )
            inputs = recorded_inputs(ctx)
            self.ops.append(ctx)
            self.inputs[id(ctx)] = inputs
            target = self._ids[id(ctx)]
            for slot, x in enumerate(inputs):
                if not isinstance(x, Tensor):
                    continue
                new = x._ctx is not None and id(x._ctx) not in self._ids
                self.edges.append((self._id_of(x, names), target, slot))
                if new:
                    queue.append(x._ctx)

    def _id_of(self, t: Tensor, names: dict[int, str]) -> str:
        """The node of ``t``: its op's box when an op made it, its own box when it is a leaf."""
        ctx = t._ctx
        key = id(ctx) if ctx is not None else id(t)
        found = self._ids.get(key)
        if found is not None:
            return found
        shape = tuple(t.shape)
        if ctx is not None:
            node = GraphNode(f"op{len(self.nodes)}", "op", type(ctx).__name__, shape)
            self._keep.append(ctx)
        else:
            name = names.get(id(t))
            if name is not None:
                node = GraphNode(f"t{len(self.nodes)}", "param", name, shape)
            elif t.requires_grad:
                node = GraphNode(f"t{len(self.nodes)}", "leaf", "tensor", shape)
            else:
                node = GraphNode(f"t{len(self.nodes)}", "input", "input", shape)
            self._keep.append(t)
        self._ids[key] = node.id
        self.nodes.append(node)
        return node.id

    def id_of_op(self, ctx: Function) -> str:
        return self._ids[id(ctx)]


def _replay(output: Tensor, walk: _Walk) -> dict[tuple[str, int], float]:
    """The norm of the gradient each op's backward hands to each input slot, from a ones seed at ``output``.

    The same order as the engine's backward: an op runs once every consumer
    of its output has handed it its gradient (dependency counts).
    """
    deps = dict.fromkeys((id(c) for c in walk.ops), 0)
    for ctx in walk.ops:
        for x in walk.inputs[id(ctx)]:
            if isinstance(x, Tensor) and x._ctx is not None:
                deps[id(x._ctx)] += 1
    root = output._ctx
    grads: dict[int, np.ndarray] = {id(root): np.ones(output.shape, dtype=output._array.dtype)}
    ready = [root]
    norms: dict[tuple[str, int], float] = {}
    with no_grad():
        while ready:
            ctx = ready.pop()
            g = grads.pop(id(ctx), None)
            inputs = walk.inputs[id(ctx)]
            if g is None:
                in_grads: tuple = (None,) * len(inputs)
            else:
                in_grads = ctx.backward(g)
                if type(in_grads) is not tuple:
                    in_grads = (in_grads,)
            target = walk.id_of_op(ctx)
            for slot, (x, gx) in enumerate(zip(inputs, in_grads)):
                if not isinstance(x, Tensor) or not x.requires_grad:
                    continue
                c = x._ctx
                if gx is not None:
                    gx = np.asarray(gx)
                    if gx.shape != x.shape:
                        gx = unbroadcast(gx, tuple(x.shape))
                    norms[(target, slot)] = _norm(gx)
                    if c is not None:
                        prev = grads.get(id(c))
                        grads[id(c)] = gx if prev is None else prev + gx
                if c is not None:
                    deps[id(c)] -= 1
                    if deps[id(c)] == 0:
                        ready.append(c)
    return norms


def _norm(g: np.ndarray) -> float:
    a = np.abs(g) if np.iscomplexobj(g) else g
    return math.sqrt(float(np.sum(np.square(a, dtype=np.float64))))


def _cut(
    nodes: list[GraphNode], edges: list[GraphEdge], max_nodes: int
) -> tuple[list[GraphNode], list[GraphEdge]]:
    """Keep the ``max_nodes - 1`` boxes nearest the output and one box standing for the rest."""
    kept = nodes[: max_nodes - 1]
    ids = {n.id for n in kept}
    more = GraphNode("more", "more", f"... {len(nodes) - len(kept)} more nodes", None)
    out = [e for e in edges if e.source in ids and e.target in ids]
    cut_into = []
    for e in edges:
        if e.source not in ids and e.target in ids and e.target not in cut_into:
            cut_into.append(e.target)
    out += [GraphEdge(more.id, t) for t in cut_into]
    return [*kept, more], out
