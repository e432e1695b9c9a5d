"""cr.viz.graph: boxes and arrows match the ops called, gradient labels match backward, all formats render."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.image import imread

import chainrule as cr
from chainrule import nn

SVG = "{http://www.w3.org/2000/svg}"


def _mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 1))


def _mlp_loss(model):
    x, y = cr.randn(5, 4), cr.randn(5, 1)
    return nn.functional.mse_loss(model(x), y)


def _ops(picture):
    return sorted(n.name for n in picture.nodes if n.kind == "op")


def _norm(t):
    return float(np.linalg.norm(t.numpy().astype(np.float64)))


def test_an_mlp_has_one_box_per_op_and_per_leaf():
    model = _mlp()
    pic = cr.viz.graph(_mlp_loss(model), params=dict(model.named_parameters()))
    # Linear x3, ReLU, Tanh, MSE loss; six parameters, the input and the target
    assert _ops(pic) == ["Linear", "Linear", "Linear", "MseLoss", "Relu", "Tanh"]
    assert sorted(n.name for n in pic.nodes if n.kind == "param") == sorted(
        name for name, _ in model.named_parameters()
    )
    assert [n.kind for n in pic.nodes].count("input") == 2
    assert len(pic.nodes) == 14
    assert len(pic.edges) == 13  # every box but the loss feeds exactly one op
    by_id = {n.id: n for n in pic.nodes}
    assert by_id[pic.output].name == "MseLoss" and by_id[pic.output].shape == ()
    assert {n.shape for n in pic.nodes if n.name == "0.weight"} == {(8, 4)}


def test_unnamed_leaves_and_inputs_are_told_apart():
    w = cr.randn(3, requires_grad=True)
    x = cr.randn(3)
    pic = cr.viz.graph((w * x).sum())
    kinds = sorted(n.kind for n in pic.nodes)
    assert kinds == ["input", "leaf", "op", "op"]


def test_edge_labels_are_the_gradients_backward_computes():
    model = _mlp()
    x, y = cr.randn(5, 4), cr.randn(5, 1)
    h = model[1](model[0](x))
    h.retain_grad()
    loss = nn.functional.mse_loss(model[4](model[3](model[2](h))), y)
    pic = cr.viz.graph(loss, params=dict(model.named_parameters()))
    loss.backward()
    names = {n.id: n.name for n in pic.nodes}
    into_params = {names[e.source]: e.grad_norm for e in pic.edges if names[e.source][0].isdigit()}
    for name, p in model.named_parameters():
        assert into_params[name] == pytest.approx(_norm(p.grad), rel=1e-5)
    # the arrow out of the ReLU carries h's gradient
    (relu_out,) = [e for e in pic.edges if names[e.source] == "Relu"]
    assert relu_out.grad_norm == pytest.approx(_norm(h.grad), rel=1e-5)
    # nothing flows to the data
    assert all(e.grad_norm is None for e in pic.edges if names[e.source] == "input")


def test_drawing_leaves_the_gradients_alone():
    model = _mlp()
    loss = _mlp_loss(model)
    cr.viz.graph(loss)
    assert all(p.grad is None for p in model.parameters())
    loss.backward()  # the graph is still whole
    assert all(p.grad is not None for p in model.parameters())


def test_a_tensor_used_twice_gets_two_arrows_labelled_apart():
    w = cr.randn(4, requires_grad=True)
    a = (w * 2.0).sum()
    b = (w * w).sum()
    pic = cr.viz.graph(a + b)
    (leaf,) = [n for n in pic.nodes if n.kind == "leaf"]
    out_of_leaf = [e for e in pic.edges if e.source == leaf.id]
    assert len(out_of_leaf) == 3  # w * 2, and both sides of w * w
    (a + b).backward()
    wn = w.numpy().astype(np.float64)
    expected = sorted([2 * np.sqrt(4), np.linalg.norm(wn), np.linalg.norm(wn)])
    assert sorted(e.grad_norm for e in out_of_leaf) == pytest.approx(expected, rel=1e-5)
    assert _norm(w.grad) == pytest.approx(np.linalg.norm(2 + 2 * wn), rel=1e-5)


def test_show_grad_false_leaves_the_arrows_bare():
    pic = cr.viz.graph(_mlp_loss(_mlp()), show_grad=False)
    assert all(e.grad_norm is None and e.label == "" for e in pic.edges)
    assert "label=\"0." not in pic.source.split("->", 1)[1]


def test_a_non_scalar_output_is_labelled_with_the_gradient_of_its_sum():
    w = cr.randn(3, requires_grad=True)
    pic = cr.viz.graph(w * 3.0)
    (edge,) = pic.edges
    assert edge.grad_norm == pytest.approx(3.0 * np.sqrt(3), rel=1e-6)


def test_in_place_changes_are_drawn_as_backward_sees_them():
    w = cr.randn(3, requires_grad=True)
    a = w * 1.0
    b = a * 3.0  # consumed a before the change below
    a.add_(1.0)
    loss = (a + b).sum()
    pic = cr.viz.graph(loss)
    assert _ops(pic) == ["Add", "Add", "Mul", "Mul", "Sum"]
    loss.backward()
    (into_w,) = [e for e in pic.edges if e.source == next(n.id for n in pic.nodes if n.kind == "leaf")]
    assert into_w.grad_norm == pytest.approx(_norm(w.grad), rel=1e-6)


def test_recurrent_layers_show_their_fused_op_and_every_weight():
    seq = cr.randn(6, 2, 3)
    for layer, op in ((nn.RNN(3, 4, num_layers=2), "RNNLayer"), (nn.LSTM(3, 4, num_layers=2), "LSTMLayer")):
        out, _ = layer(seq)
        pic = cr.viz.graph(out.sum(), params=dict(layer.named_parameters()))
        assert _ops(pic) == sorted(["Sum", "GetItem", "GetItem", op, op])
        assert sorted(n.name for n in pic.nodes if n.kind == "param") == sorted(
            name for name, _ in layer.named_parameters()
        )


def test_max_nodes_keeps_the_nearest_and_says_how_many_are_left_out():
    x = cr.randn(2, requires_grad=True)
    y = x
    for _ in range(20):
        y = y * 1.5
    pic = cr.viz.graph(y.sum(), max_nodes=6)
    assert len(pic.nodes) == 6
    more = pic.nodes[-1]
    assert more.kind == "more" and "17 more" in more.name  # 22 boxes in all, 5 kept
    ids = {n.id for n in pic.nodes}
    assert all(e.source in ids and e.target in ids for e in pic.edges)
    assert any(e.source == more.id for e in pic.edges)
    assert pic.svg().startswith("<?xml")


def test_the_dot_source_declares_every_node_it_connects():
    pic = cr.viz.graph(_mlp_loss(_mlp()))
    src = pic.source
    assert src.startswith("digraph") and src.count("{") == src.count("}") == 1
    declared = re.findall(r"^\s*(\w+) \[label=", src, flags=re.M)
    assert sorted(declared) == sorted(n.id for n in pic.nodes)
    arrows = re.findall(r"^\s*(\w+) -> (\w+)", src, flags=re.M)
    assert len(arrows) == len(pic.edges)
    assert all(a in declared and b in declared for a, b in arrows)
    assert '\\n(8, 4)"' in src  # a shape on the label's second line


def test_the_svg_is_xml_with_each_label_as_text():
    pic = cr.viz.graph(_mlp_loss(_mlp()))
    root = ET.fromstring(pic.svg())
    groups = {g.get("id"): g for g in root.iter(f"{SVG}g")}
    for n in pic.nodes:
        texts = [t.text for t in groups[n.id].iter(f"{SVG}text")]
        assert texts == n.label.split("\n")
    assert pic._repr_svg_() == pic.svg()


def test_the_png_decodes_to_an_image():
    data = cr.viz.graph(_mlp_loss(_mlp())).png()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(io.BytesIO(data))
    assert image.ndim == 3 and image.shape[2] in (3, 4) and image.shape[0] > image.shape[1] / 4


def test_save_writes_the_format_its_suffix_names(tmp_path):
    pic = cr.viz.graph(_mlp_loss(_mlp()))
    assert pic.save(tmp_path / "g.dot").read_text() == pic.source
    assert (tmp_path / "g.png").exists() is False
    pic.save(tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    ET.fromstring(pic.save(tmp_path / "g.svg").read_text())
    with pytest.raises(ValueError, match=r"\.dot, \.gv, \.svg or \.png"):
        pic.save(tmp_path / "g.jpg")


def test_errors_name_what_was_expected():
    with pytest.raises(TypeError, match=r"expected a Tensor.*got list"):
        cr.viz.graph([1.0, 2.0])
    with pytest.raises(ValueError, match="no computation graph"):
        cr.viz.graph(cr.randn(3).sum())
    with pytest.raises(ValueError, match="max_nodes"):
        cr.viz.graph(cr.randn(3, requires_grad=True).sum(), max_nodes=0)
    with pytest.raises(TypeError, match="named_parameters"):
        cr.viz.graph(cr.randn(3, requires_grad=True).sum(), params=[1, 2])


def test_a_graph_freed_by_backward_asks_for_retain_graph():
    loss = _mlp_loss(_mlp())
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        cr.viz.graph(loss)
    kept = _mlp_loss(_mlp())
    kept.backward(retain_graph=True)
    assert len(cr.viz.graph(kept).nodes) == 14


def test_a_leaf_alone_is_one_box():
    w = cr.randn(2, 3, requires_grad=True)
    pic = cr.viz.graph(w, params={"w": w})
    assert [(n.kind, n.name, n.shape) for n in pic.nodes] == [("param", "w", (2, 3))]
    assert pic.edges == [] and pic.png()[:4] == b"\x89PNG"
