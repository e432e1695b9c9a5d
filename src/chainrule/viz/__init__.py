"""Pictures where people would rather look than read: computation graphs, gradient flow, attention, filters.

``cr.viz.graph(loss)`` draws the graph behind a result (SVG/PNG with no
Graphviz needed, DOT text for those who have it); the other functions return
a matplotlib Figure, drawn without pyplot (no window, no global state), for
``fig.savefig(...)`` or a notebook. matplotlib is imported when a picture is
drawn, not when this package is.
"""

from chainrule.viz.attention import attention
from chainrule.viz.curves import learning_curves
from chainrule.viz.filters import feature_maps, filters
from chainrule.viz.gradients import gradient_flow
from chainrule.viz.graph import GraphEdge, GraphNode, GraphPicture, graph

__all__ = [
    "GraphEdge",
    "GraphNode",
    "GraphPicture",
    "attention",
    "feature_maps",
    "filters",
    "gradient_flow",
    "graph",
    "learning_curves",
]
