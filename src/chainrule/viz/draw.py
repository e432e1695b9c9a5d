"""Draw a laid-out computation graph with matplotlib: rounded boxes with text, arrows, gradient labels.

Everything is placed in points (1/72 inch), boxes sized from their text, and
the figure sized to the layout, so text never overlaps however large the
graph; a very large graph is scaled down as a whole to keep the figure
within what a renderer accepts. Each box's text carries the node's id as its
``gid``, so in SVG output a label is the ``<g id="...">`` group of its node.
"""

from __future__ import annotations

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
MAX_INCHES = 150.0  # Agg refuses images past 2**16 pixels a side
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
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as MplPath

    from chainrule.viz.graph import NODE_COLORS

    sizes = {n.id: box_size(n.label) for n in picture.nodes}
    layout = layered_layout(
        [n.id for n in picture.nodes], [(e.source, e.target) for e in picture.edges], sizes
    )
    width, height = layout.width + 2 * MARGIN, layout.height + 2 * MARGIN
    scale = min(1.0, MAX_INCHES * 72 / width, MAX_INCHES * 72 / height)
    fig = Figure(figsize=(width * scale / 72, height * scale / 72))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-MARGIN, layout.width + MARGIN)
    ax.set_ylim(-MARGIN, layout.height + MARGIN)
    ax.set_axis_off()

    # arrows first, under the boxes; parallel edges (x * x) drawn once with their labels joined
    labels: dict[tuple[str, str], list[str]] = {}
    for e in picture.edges:
        labels.setdefault((e.source, e.target), [])
        if e.label:
            labels[(e.source, e.target)].append(e.label)
    for (src, dst), texts in labels.items():
        (x0, y0), (x1, y1) = layout.positions[src], layout.positions[dst]
        points = [(x0, y0 - sizes[src][1] / 2), *layout.routes[(src, dst)], (x1, y1 + sizes[dst][1] / 2)]
        ax.add_patch(
            FancyArrowPatch(
                path=MplPath(points),
                arrowstyle="-|>",
                mutation_scale=9 * scale,
                linewidth=0.8 * scale,
                color=EDGE_COLOR,
                shrinkA=0,
                shrinkB=0,
            )
        )
        if texts:
            (px, py), (qx, qy) = points[-2], points[-1]
            ax.text(
                (px + qx) / 2,
                (py + qy) / 2,
                ", ".join(texts),
                ha="center",
                va="center",
                fontsize=0.78 * FONT_SIZE * scale,
                color=GRAD_COLOR,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
            )
    for n in picture.nodes:
        x, y = layout.positions[n.id]
        w, h = sizes[n.id]
        fill = NODE_COLORS["output"] if n.id == picture.output else NODE_COLORS[n.kind]
        ax.add_patch(
            FancyBboxPatch(
                (x - w / 2, y - h / 2),
                w,
                h,
                boxstyle="round,pad=0,rounding_size=4",
                facecolor=fill,
                edgecolor=BORDER[n.kind],
                linewidth=0.9 * scale,
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
            fontsize=FONT_SIZE * scale,
            fontweight="bold" if n.kind == "op" else "normal",
        )
        text.set_gid(n.id)
    return fig
