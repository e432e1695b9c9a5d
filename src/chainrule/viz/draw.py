"""Draw a laid-out computation graph with matplotlib: rounded boxes with text, arrows, gradient labels.

Everything is placed in points (1/72 inch), boxes sized from their text, and
the figure sized to the layout, so text never overlaps however large the
graph (a PNG of a very large one is rendered at a lower resolution instead,
see ``GraphPicture.png``). Each box's text carries the node's id as its
``gid``, so in SVG output a label is the ``<g id="...">`` group of its node.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from chainrule.viz.layout import layered_layout

if TYPE_CHECKING:
    from chainrule.viz.graph import GraphPicture

__all__ = ["draw_graph"]

FONT_SIZE = 9.0  # points
CHAR_WIDTH = 0.62 * FONT_SIZE  # DejaVu Sans, a generous average
LINE_HEIGHT = 1.3 * FONT_SIZE
PAD_X, PAD_Y = 8.0, 5.0
MARGIN = 12.0
HEAD_LENGTH = 7.0
EDGE_COLOR = "#555555"
GRAD_COLOR = "#9c2b1f"
BORDER = {"op": "#4a6f95", "param": "#4b8a3e", "leaf": "#a88a1d", "input": "#8a8a8a", "more": "#8a8a8a"}


def box_size(label: str) -> tuple[float, float]:
    """Width and height in points of a box that holds ``label`` (one or more lines)."""
    lines = label.split("\n")
    return max(len(line) for line in lines) * CHAR_WIDTH + 2 * PAD_X, len(lines) * LINE_HEIGHT + 2 * PAD_Y


def draw_graph(picture: GraphPicture) -> Any:
    """A Figure of ``picture``: inputs on top, the result at the bottom, gradient norms on the arrows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch

    from chainrule.viz.graph import NODE_COLORS

    sizes = {n.id: box_size(n.label) for n in picture.nodes}
    layout = layered_layout(
        [n.id for n in picture.nodes], [(e.source, e.target) for e in picture.edges], sizes
    )
    width, height = layout.width + 2 * MARGIN, layout.height + 2 * MARGIN
    fig = Figure(figsize=(width / 72, height / 72))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-MARGIN, layout.width + MARGIN)
    ax.set_ylim(-MARGIN, layout.height + MARGIN)
    ax.set_axis_off()

    # arrows first, under the boxes, all in two collections (fast for large graphs);
    # parallel edges (x * x) are drawn once, their labels joined
    labels: dict[tuple[str, str], list[str]] = {}
    for e in picture.edges:
        labels.setdefault((e.source, e.target), [])
        if e.label:
            labels[(e.source, e.target)].append(e.label)
    ends = _ports(list(labels), layout, sizes)
    lines, heads = [], []
    for (src, dst), texts in labels.items():
        points = [ends[(src, dst)][0], *layout.routes[(src, dst)], ends[(src, dst)][1]]
        head, neck = _arrow_head(points[-2], points[-1])
        lines.append([*points[:-1], neck])
        heads.append(head)
        if texts:  # on the last leg, nearer its start, where arrows into one box are still apart
            (px, py), (qx, qy) = points[-2], points[-1]
            ax.text(
                px + 0.45 * (qx - px),
                py + 0.45 * (qy - py),
                ", ".join(texts),
                ha="center",
                va="center",
                fontsize=0.78 * FONT_SIZE,
                color=GRAD_COLOR,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            )
    ax.add_collection(LineCollection(lines, colors=EDGE_COLOR, linewidths=0.8), autolim=False)
    ax.add_collection(PolyCollection(heads, facecolors=EDGE_COLOR, edgecolors="none"), autolim=False)
    for n in picture.nodes:
        x, y = layout.positions[n.id]
        w, h = sizes[n.id]
        fill = NODE_COLORS["output"] if n.id == picture.output else NODE_COLORS[n.kind]
        ax.add_artist(  # add_artist, not add_patch: the limits are set, no autoscaling per box
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0,rounding_size=4",
                facecolor=fill,
                edgecolor=BORDER[n.kind],
                linewidth=0.9,
                linestyle="--" if n.kind == "more" else "-",
            )
        )
        text = ax.text(
            x,
            y,
            n.label,
            ha="center",
            va="center",
            multialignment="center",
            fontsize=FONT_SIZE,
            fontweight="bold" if n.kind == "op" else "normal",
        )
        text.set_gid(n.id)
    return fig


def _ports(
    pairs: list[tuple[str, str]], layout: Any, sizes: dict[str, tuple[float, float]]
) -> dict[tuple[str, str], tuple[tuple[float, float], tuple[float, float]]]:
    """Where each arrow leaves its source's bottom and enters its target's top.

    The arrows of one box are spread along its side in the left-to-right
    order of where they come from or go to, so that they neither cross at
    the box nor meet in one point.
    """
    pos = layout.positions

    def toward(pair: tuple[str, str], outgoing: bool) -> float:
        route = layout.routes[pair]
        if route:
            return route[0][0] if outgoing else route[-1][0]
        return pos[pair[1]][0] if outgoing else pos[pair[0]][0]

    starts: dict[tuple[str, str], tuple[float, float]] = {}
    stops: dict[tuple[str, str], tuple[float, float]] = {}
    for outgoing, table in ((True, starts), (False, stops)):
        groups: dict[str, list[tuple[str, str]]] = {}
        for pair in pairs:
            groups.setdefault(pair[0] if outgoing else pair[1], []).append(pair)
        for node, group in groups.items():
            group.sort(key=lambda p: toward(p, outgoing))
            (x, y), (w, h) = pos[node], sizes[node]
            span = min(0.7 * w, 10.0 * (len(group) - 1))
            for i, pair in enumerate(group):
                dx = 0.0 if len(group) == 1 else span * (i / (len(group) - 1) - 0.5)
                table[pair] = (x + dx, y - h / 2 if outgoing else y + h / 2)
    return {pair: (starts[pair], stops[pair]) for pair in pairs}


def _arrow_head(
    tail: tuple[float, float], tip: tuple[float, float]
) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """The triangle of an arrowhead at ``tip`` pointing away from ``tail``, and where the line meets it."""
    dx, dy = tip[0] - tail[0], tip[1] - tail[1]
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    size = min(HEAD_LENGTH, 0.8 * length)
    bx, by = tip[0] - ux * size, tip[1] - uy * size
    half = 0.45 * size
    return [tip, (bx - uy * half, by + ux * half), (bx + uy * half, by - ux * half)], (bx, by)
