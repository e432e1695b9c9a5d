"""The layered layout: sources above sinks, long edges bent through each layer, few crossings, no overlaps."""

from __future__ import annotations

import itertools

import pytest

from chainrule.viz.layout import count_crossings, layered_layout

SIZE = (40.0, 20.0)


def _layout(nodes, edges, **kw):
    return layered_layout(nodes, edges, {v: SIZE for v in nodes}, **kw)


def test_every_edge_points_down():
    nodes = ["x", "w", "mm", "b", "add", "loss"]
    edges = [("x", "mm"), ("w", "mm"), ("mm", "add"), ("b", "add"), ("add", "loss")]
    lay = _layout(nodes, edges)
    for u, v in edges:
        assert lay.positions[u][1] > lay.positions[v][1]
    assert lay.layers[-1] == ["loss"]
    # a leaf sits just above the op that uses it, not on the top row
    assert "b" in lay.layers[1] and "x" in lay.layers[0]


def test_a_chain_is_a_straight_column():
    nodes = list("abcde")
    lay = _layout(nodes, list(itertools.pairwise(nodes)))
    xs = {round(lay.positions[v][0], 6) for v in nodes}
    assert len(xs) == 1
    assert [row for row in lay.layers] == [[v] for v in nodes]


def test_a_long_edge_bends_once_per_layer_it_passes():
    nodes = ["a", "b", "c", "d"]
    edges = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]
    lay = _layout(nodes, edges)
    assert len(lay.routes[("a", "d")]) == 2
    assert lay.routes[("a", "b")] == []
    ys = [lay.positions["a"][1], *(y for _, y in lay.routes[("a", "d")]), lay.positions["d"][1]]
    assert ys == sorted(ys, reverse=True)


def test_count_crossings():
    assert count_crossings(["a", "b"], ["c", "d"], [("a", "c"), ("b", "d")]) == 0
    assert count_crossings(["a", "b"], ["c", "d"], [("a", "d"), ("b", "c")]) == 1
    links = [(u, v) for u in "ab" for v in "cd"]  # K2,2 always crosses once
    assert count_crossings(["a", "b"], ["c", "d"], links) == 1


def test_barycentre_ordering_untangles_a_crossed_start():
    # listed in an order whose first placement crosses every pair of edges
    nodes = ["a", "b", "c", "z", "y", "x"]
    edges = [("a", "x"), ("b", "y"), ("c", "z")]
    lay = _layout(nodes, edges)
    top, bottom = lay.layers
    assert count_crossings(top, bottom, edges) == 0


def test_boxes_in_a_layer_never_overlap():
    nodes = [f"n{i}" for i in range(12)] + ["sink"]
    sizes = {v: (20.0 + 7 * (i % 4), 18.0) for i, v in enumerate(nodes)}
    edges = [(v, "sink") for v in nodes[:-1]] + [("n0", "n5"), ("n1", "n7")]
    lay = layered_layout(nodes, edges, sizes, node_gap=10.0)
    for row in lay.layers:
        spans = sorted(
            (lay.positions[v][0] - sizes[v][0] / 2, lay.positions[v][0] + sizes[v][0] / 2) for v in row
        )
        for (_, right), (left, _) in itertools.pairwise(spans):
            assert left - right >= 10.0 - 1e-9
    lefts = [lay.positions[v][0] - sizes[v][0] / 2 for v in nodes]
    rights = [lay.positions[v][0] + sizes[v][0] / 2 for v in nodes]
    assert min(lefts) == pytest.approx(0.0) and max(rights) <= lay.width + 1e-9


def test_a_cycle_is_still_laid_out():
    lay = _layout(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a")])
    assert set(lay.positions) == {"a", "b", "c"}
    assert set(lay.routes) == {("a", "b"), ("b", "c"), ("c", "a")}


def test_bad_edges_are_named():
    with pytest.raises(ValueError, match="'q'"):
        _layout(["a"], [("a", "q")])
    with pytest.raises(ValueError, match="distinct"):
        _layout(["a", "a"], [])
