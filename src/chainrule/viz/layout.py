"""A layered (Sugiyama-style) drawing of a directed graph: sources on top, sinks at the bottom.

Graphviz's ``dot`` draws a computation graph well but is a system program;
this is its core idea in plain Python, so that pictures need nothing beyond
``pip install``. Four steps: (1) layers by longest path, each node placed
just above its highest consumer, so a parameter sits beside the op that uses
it; (2) a chain of invisible dummy nodes for every edge that spans several
layers, so long edges bend around boxes instead of crossing them; (3) the
order within each layer by repeated barycentre sweeps (each node moves to the
mean position of its neighbours in the layer before), keeping the order with
the fewest crossings; (4) x coordinates that pull each node towards its
neighbours while keeping the order and a gap between boxes (an isotonic
regression per layer, solved exactly by pooling adjacent violators).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Layout", "count_crossings", "layered_layout"]


@dataclass
class Layout:
    """Where everything goes, in the units of the sizes given (y grows upwards, the first layer on top).

    ``positions`` holds each node's centre; ``routes`` holds, for each edge
    ``(source, target)``, the bend points between the two ends (empty for an
    edge between adjacent layers); ``layers`` the nodes of each layer from left
    to right (dummies left out); ``width`` and ``height`` the extent, which
    starts at (0, 0) bottom left.
    """

    positions: dict[Hashable, tuple[float, float]]
    routes: dict[tuple[Hashable, Hashable], list[tuple[float, float]]]
    layers: list[list[Hashable]]
    width: float
    height: float


class _Dummy:
    """A bend point of a long edge: a node of zero size in one layer."""

    __slots__ = ("edge", "step")

    def __init__(self, edge: tuple[Hashable, Hashable], step: int) -> None:
        self.edge, self.step = edge, step


def layered_layout(
    nodes: Sequence[Hashable],
    edges: Sequence[tuple[Hashable, Hashable]],
    sizes: Mapping[Hashable, tuple[float, float]],
    *,
    node_gap: float = 16.0,
    layer_gap: float = 34.0,
    sweeps: int = 8,
) -> Layout:
    """Lay out a directed graph in layers, edges pointing down; see the module's docstring for how.

    ``nodes`` in a preferred order (it seeds the order within layers),
    ``edges`` as ``(source, target)`` pairs of those nodes (repeated pairs
    and self-loops are drawn once or not at all), ``sizes`` the ``(width,
    height)`` of each node's box. A cycle is broken by reversing one of its
    edges for the layout.
    """
    index = {v: i for i, v in enumerate(nodes)}
    if len(index) != len(nodes):
        raise ValueError("layered_layout: the nodes must be distinct")
    pairs: list[tuple[Hashable, Hashable]] = []
    seen: set[tuple[Hashable, Hashable]] = set()
    for u, v in edges:
        if u not in index or v not in index:
            missing = u if u not in index else v
            raise ValueError(f"layered_layout: an edge names {missing!r}, which is not among the nodes")
        if u != v and (u, v) not in seen:
            seen.add((u, v))
            pairs.append((u, v))
    dag = _acyclic(nodes, pairs)
    layer = _longest_path_layers(nodes, dag)
    rows, links, chains = _with_dummies(nodes, dag, layer)
    rows = _order(rows, links, sweeps)
    xs = _x_coordinates(rows, links, sizes, node_gap)
    ys, height = _y_coordinates(rows, sizes, layer_gap)

    positions = {v: (xs[v], ys[v]) for row in rows for v in row if not isinstance(v, _Dummy)}
    left = min((positions[v][0] - sizes[v][0] / 2 for v in positions), default=0.0)
    right = max((positions[v][0] + sizes[v][0] / 2 for v in positions), default=0.0)
    for row in rows:
        for v in row:
            if isinstance(v, _Dummy):
                left, right = min(left, xs[v]), max(right, xs[v])
    positions = {v: (x - left, y) for v, (x, y) in positions.items()}
    routes: dict[tuple[Hashable, Hashable], list[tuple[float, float]]] = {}
    for u, v in pairs:
        if (u, v) in dag:
            routes[(u, v)] = [(xs[d] - left, ys[d]) for d in chains.get((u, v), ())]
        else:  # an edge reversed to break a cycle: its bends in the caller's direction
            routes[(u, v)] = [(xs[d] - left, ys[d]) for d in reversed(chains.get((v, u), ()))]
    real_rows = [[v for v in row if not isinstance(v, _Dummy)] for row in rows]
    return Layout(positions, routes, real_rows, right - left, height)


Edge = tuple[Hashable, Hashable]


def _acyclic(nodes: Sequence[Hashable], pairs: list[Edge]) -> set[Edge]:
    """The edges with every back edge of a depth-first search reversed (a DAG; unchanged if it was one)."""
    succ: dict[Hashable, list[Hashable]] = {v: [] for v in nodes}
    for u, v in pairs:
        succ[u].append(v)
    state: dict[Hashable, int] = {}  # 1 on the stack, 2 done
    back: set[tuple[Hashable, Hashable]] = set()
    for start in nodes:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(succ[start]))]
        while stack:
            v, it = stack[-1]
            for w in it:
                s = state.get(w)
                if s is None:
                    state[w] = 1
                    stack.append((w, iter(succ[w])))
                    break
                if s == 1:
                    back.add((v, w))
            else:
                state[v] = 2
                stack.pop()
    dag = {(u, v) for u, v in pairs if (u, v) not in back}
    dag |= {(v, u) for u, v in back}
    return dag


def _longest_path_layers(nodes: Sequence[Hashable], dag: set[Edge]) -> dict[Hashable, int]:
    """Layer of each node: the sinks at the bottom, every other node one layer above its highest successor."""
    succ: dict[Hashable, list[Hashable]] = {v: [] for v in nodes}
    npred = dict.fromkeys(nodes, 0)
    for u, v in dag:
        succ[u].append(v)
        npred[v] += 1
    # a topological order (Kahn), then heights from the sinks back up
    order = [v for v in nodes if npred[v] == 0]
    for v in order:
        for w in succ[v]:
            npred[w] -= 1
            if npred[w] == 0:
                order.append(w)
    height = dict.fromkeys(nodes, 0)
    for v in reversed(order):
        if succ[v]:
            height[v] = 1 + max(height[w] for w in succ[v])
    top = max(height.values(), default=0)
    return {v: top - h for v, h in height.items()}


def _with_dummies(
    nodes: Sequence[Hashable], dag: set[tuple[Hashable, Hashable]], layer: dict[Hashable, int]
) -> tuple[list[list[Hashable]], list[tuple[Hashable, Hashable]], dict[tuple[Hashable, Hashable], list]]:
    """Rows of nodes per layer, every edge cut into one-layer links through dummy nodes (its chain)."""
    rows: list[list[Hashable]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for v in nodes:
        rows[layer[v]].append(v)
    links: list[tuple[Hashable, Hashable]] = []
    chains: dict[tuple[Hashable, Hashable], list] = {}
    # in node order, so that the dummies' first order follows the nodes'
    rank = {v: i for i, v in enumerate(nodes)}
    for u, v in sorted(dag, key=lambda e: (rank[e[0]], rank[e[1]])):
        span = layer[v] - layer[u]
        prev = u
        chain = []
        for step in range(1, span):
            d = _Dummy((u, v), step)
            rows[layer[u] + step].append(d)
            links.append((prev, d))
            chain.append(d)
            prev = d
        links.append((prev, v))
        if chain:
            chains[(u, v)] = chain
    return rows, links, chains


def count_crossings(upper: Sequence[Hashable], lower: Sequence[Hashable], links: Sequence[tuple]) -> int:
    """How many of the links between two adjacent rows cross (pairs out of order), in O(E log E)."""
    pu = {v: i for i, v in enumerate(upper)}
    pl = {v: i for i, v in enumerate(lower)}
    ends = sorted((pu[u], pl[v]) for u, v in links if u in pu and v in pl)
    # count pairs i < j with ends[i][1] > ends[j][1], with a Fenwick tree over the lower positions
    tree = [0] * (len(lower) + 1)
    crossings = 0
    for seen, (_, b) in enumerate(ends):
        # number seen so far at positions <= b
        i, below = b + 1, 0
        while i > 0:
            below += tree[i]
            i -= i & -i
        crossings += seen - below
        i = b + 1
        while i <= len(lower):
            tree[i] += 1
            i += i & -i
    return crossings


def _all_crossings(rows: list[list[Hashable]], down: list[list[tuple]]) -> int:
    return sum(count_crossings(rows[i], rows[i + 1], down[i]) for i in range(len(rows) - 1))


def _order(rows: list[list[Hashable]], links: list[tuple], sweeps: int) -> list[list[Hashable]]:
    """Reorder each row by the barycentre of its neighbours, down then up, keeping the best order seen."""
    where = {v: i for i, row in enumerate(rows) for v in row}
    down: list[list[tuple]] = [[] for _ in rows]  # links from row i to row i+1
    preds: dict[Hashable, list[Hashable]] = {v: [] for row in rows for v in row}
    succs: dict[Hashable, list[Hashable]] = {v: [] for row in rows for v in row}
    for u, v in links:
        down[where[u]].append((u, v))
        preds[v].append(u)
        succs[u].append(v)
    rows = [list(r) for r in rows]
    best, best_count = [list(r) for r in rows], _all_crossings(rows, down)
    for sweep in range(sweeps):
        if best_count == 0:
            break
        if sweep % 2 == 0:
            for i in range(1, len(rows)):
                rows[i] = _by_barycentre(rows[i], rows[i - 1], preds)
        else:
            for i in range(len(rows) - 2, -1, -1):
                rows[i] = _by_barycentre(rows[i], rows[i + 1], succs)
        count = _all_crossings(rows, down)
        if count < best_count:
            best, best_count = [list(r) for r in rows], count
    return best


def _by_barycentre(row: list[Hashable], fixed: list[Hashable], neighbours: dict) -> list[Hashable]:
    """``row`` sorted by the mean position of each node's neighbours in ``fixed``; a loner stays put."""
    pos = {v: i for i, v in enumerate(fixed)}
    scale = len(fixed) / max(len(row), 1)
    keys = []
    for i, v in enumerate(row):
        ns = [pos[n] for n in neighbours[v] if n in pos]
        keys.append((sum(ns) / len(ns) if ns else i * scale, i))
    return [row[i] for _, i in sorted(keys)]


def _x_coordinates(
    rows: list[list[Hashable]], links: list[tuple], sizes: Mapping[Hashable, tuple[float, float]], gap: float
) -> dict[Hashable, float]:
    """Pull each node towards the mean x of its neighbours, keeping row order and the gaps (a few passes)."""

    def width(v: Hashable) -> float:
        return 0.0 if isinstance(v, _Dummy) else sizes[v][0]

    preds: dict[Hashable, list[Hashable]] = {v: [] for row in rows for v in row}
    succs: dict[Hashable, list[Hashable]] = {v: [] for row in rows for v in row}
    for u, v in links:
        preds[v].append(u)
        succs[u].append(v)
    def sep(a: Hashable, b: Hashable) -> float:
        both_dummies = isinstance(a, _Dummy) and isinstance(b, _Dummy)
        return (width(a) + width(b)) / 2 + (gap / 2 if both_dummies else gap)

    seps = [[sep(a, b) for a, b in itertools.pairwise(row)] for row in rows]
    x: dict[Hashable, float] = {}
    for row, sep in zip(rows, seps):
        offs = [0.0]
        for s in sep:
            offs.append(offs[-1] + s)
        mid = offs[-1] / 2
        for v, o in zip(row, offs):
            x[v] = o - mid
    order = list(range(len(rows)))
    for sweep in range(6):
        if sweep % 3 == 0:
            passes, which = order[1:], (preds,)
        elif sweep % 3 == 1:
            passes, which = order[-2::-1], (succs,)
        else:
            passes, which = order, (preds, succs)
        for i in passes:
            row = rows[i]
            wanted = []
            for v in row:
                ns = [x[n] for nb in which for n in nb[v]]
                wanted.append(sum(ns) / len(ns) if ns else x[v])
            for v, xv in zip(row, _place_in_order(wanted, seps[i])):
                x[v] = xv
    return x


def _place_in_order(wanted: list[float], seps: list[float]) -> list[float]:
    """The x nearest ``wanted`` (least squares) with ``x[i+1] - x[i] >= seps[i]``: pool adjacent violators."""
    offs = [0.0]
    for s in seps:
        offs.append(offs[-1] + s)
    targets = [w - o for w, o in zip(wanted, offs)]
    blocks: list[list[float]] = []  # [sum, count]
    for t in targets:
        blocks.append([t, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    y: list[float] = []
    for s, c in blocks:
        y += [s / c] * int(c)
    return [a + o for a, o in zip(y, offs)]


def _y_coordinates(
    rows: list[list[Hashable]], sizes: Mapping[Hashable, tuple[float, float]], gap: float
) -> tuple[dict[Hashable, float], float]:
    """The centre height of each row (first row on top) and the total height."""
    heights = [max((sizes[v][1] for v in row if not isinstance(v, _Dummy)), default=0.0) for row in rows]
    total = sum(heights) + gap * max(len(rows) - 1, 0)
    y: dict[Hashable, float] = {}
    top = total
    for row, h in zip(rows, heights):
        for v in row:
            y[v] = top - h / 2
        top -= h + gap
    return y, total
