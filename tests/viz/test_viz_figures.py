"""The figure functions of cr.viz: one mark per parameter, head or filter, clear errors, SVG output."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import chainrule as cr
from chainrule import nn
from chainrule.train.history import History


def _images(fig):
    return [im for ax in fig.axes for im in ax.images]


def _svg_parses(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")
    ET.fromstring(buf.getvalue())


def _bars_and_marks(ax):
    bars = [p for c in ax.containers for p in c]
    marks = sum(len(col.get_offsets()) for col in ax.collections)
    return bars, marks


def _tiny_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5 * 4 * 4, 2)
    )


# ---------------------------------------------------------------- gradient_flow
def test_gradient_flow_draws_one_bar_per_parameter():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    nn.functional.mse_loss(model(cr.randn(6, 4)), cr.randn(6, 1)).backward()
    fig = cr.viz.gradient_flow(model)
    (ax,) = fig.axes
    bars, marks = _bars_and_marks(ax)
    params = list(model.named_parameters())
    assert len(bars) == len(params) and marks == 0
    assert [t.get_text() for t in ax.get_xticklabels()] == [name for name, _ in params]
    assert ax.get_yscale() == "log"
    assert bars[0].get_height() == pytest.approx(float(np.linalg.norm(params[0][1].grad.numpy())), rel=1e-5)
    # weights and biases in two colours
    assert bars[0].get_facecolor() != bars[1].get_facecolor()
    assert bars[0].get_facecolor() == bars[2].get_facecolor()
    _svg_parses(fig)


def test_gradient_flow_marks_parameters_without_a_gradient():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    unused = nn.Linear(2, 2)
    model.add_module("unused", unused)
    model[0].bias.requires_grad_(False)
    model[1](model[0](cr.randn(2, 3))).sum().backward()
    fig = cr.viz.gradient_flow(model, kind="mean")
    bars, marks = _bars_and_marks(fig.axes[0])
    assert len(bars) == 3 and marks == 3  # frozen bias, both parameters of the unused layer
    assert fig.axes[0].get_ylabel() == "mean |gradient|"


def test_gradient_flow_marks_an_exploded_gradient_at_the_top():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model(cr.randn(2, 3)).sum().backward()
    model[0].weight.grad.fill_(float("nan"))
    ax = cr.viz.gradient_flow(model).axes[0]
    bars, marks = _bars_and_marks(ax)
    assert len(bars) == 3 and marks == 1
    (mark,) = ax.collections
    assert mark.get_offsets()[0][1] > max(b.get_height() for b in bars)


def test_gradient_flow_draws_into_given_axes():
    model = nn.Linear(3, 2)
    model(cr.randn(2, 3)).sum().backward()
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2, 2)
    assert cr.viz.gradient_flow(model, ax=ax, kind="max") is fig
    assert len(_bars_and_marks(ax)[0]) == 2


def test_gradient_flow_errors():
    model = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match=r"call loss\.backward\(\) first"):
        cr.viz.gradient_flow(model)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        cr.viz.gradient_flow(cr.randn(3))
    model(cr.randn(1, 3)).sum().backward()
    with pytest.raises(ValueError, match="kind"):
        cr.viz.gradient_flow(model, kind="median")


# ---------------------------------------------------------------- attention
def test_attention_draws_one_heatmap_per_head():
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    q = cr.randn(3, 5, 8)
    _, w = mha(q, q, q, average_attn_weights=False)  # (N, H, L, S)
    tokens = ["the", "cat", "sat", "on", "it"]
    fig = cr.viz.attention(w, tokens)
    images = _images(fig)
    assert len(images) == 2
    np.testing.assert_allclose(images[1].get_array(), w.numpy()[0, 1], rtol=1e-6)
    ax = images[0].axes
    assert [t.get_text() for t in ax.get_xticklabels()] == tokens
    assert [t.get_text() for t in ax.get_yticklabels()] == tokens
    _svg_parses(fig)
    assert len(_images(cr.viz.attention(w[0]))) == 2  # (H, L, S)
    assert len(_images(cr.viz.attention(w, head=1))) == 1
    _, avg = mha(q, q, q)  # (N, L, S) averaged: pick a sample to get (L, S)
    assert len(_images(cr.viz.attention(avg[0].numpy()))) == 1


def test_attention_takes_query_labels_for_cross_attention():
    w = np.full((2, 3), 1 / 3)
    fig = cr.viz.attention(w, ["a", "b", "c"], query_tokens=["x", "y"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y"]


def test_attention_errors():
    with pytest.raises(ValueError, match=r"\(L, S\), \(H, L, S\) or \(N, H, L, S\).*\(4,\)"):
        cr.viz.attention(np.ones(4))
    with pytest.raises(ValueError, match="3 labels but the weights have 4 keys"):
        cr.viz.attention(np.ones((4, 4)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="head must be an int in \\[0, 2\\)"):
        cr.viz.attention(np.ones((2, 3, 3)), head=2)
    fig = Figure()
    with pytest.raises(ValueError, match="pass head="):
        cr.viz.attention(np.ones((2, 3, 3)), ax=fig.add_subplot())
    with pytest.raises(TypeError, match="list of strings"):
        cr.viz.attention(np.ones((3, 3)), "abc")


# ---------------------------------------------------------------- filters / feature maps
def test_filters_draws_each_kernel_in_colour_for_rgb_input():
    conv = nn.Conv2d(3, 5, 3)
    fig = cr.viz.filters(conv)
    images = _images(fig)
    assert len(images) == 5
    arr = images[0].get_array()
    assert arr.shape == (3, 3, 3) and arr.min() == pytest.approx(0) and arr.max() == pytest.approx(1)
    _svg_parses(fig)


def test_filters_stops_at_max_filters_and_grays_other_inputs():
    conv = nn.Conv2d(2, 12, 3)
    images = _images(cr.viz.filters(conv))
    assert len(images) == 12 and images[0].get_array().shape == (3, 3)
    mean0 = conv.weight.numpy()[0].mean(axis=0)
    expected = (mean0 - mean0.min()) / (mean0.max() - mean0.min())
    np.testing.assert_allclose(images[0].get_array(), expected, rtol=1e-5, atol=1e-6)
    assert len(_images(cr.viz.filters(conv, max_filters=5))) == 5


def test_filters_into_given_axes_is_one_mosaic():
    fig = Figure()
    ax = fig.add_subplot()
    assert cr.viz.filters(nn.Conv2d(1, 4, 3), ax=ax) is fig
    assert len(ax.images) == 1 and ax.images[0].get_array().shape == (7, 7)


def test_filters_errors():
    with pytest.raises(TypeError, match=r"expected an nn\.Conv2d, got Linear"):
        cr.viz.filters(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="max_filters"):
        cr.viz.filters(nn.Conv2d(1, 2, 3), max_filters=0)


def test_feature_maps_draws_the_channels_of_the_chosen_layer():
    model = _tiny_cnn()
    x = cr.randn(2, 3, 8, 8)
    fig = cr.viz.feature_maps(model, x, layer="1")
    images = _images(fig)
    assert len(images) == 5
    expected = nn.functional.relu(model[0](x)).numpy()[0, 3]
    np.testing.assert_allclose(images[3].get_array(), expected, rtol=1e-5)
    assert model[1]._forward_hooks == []  # the hook is gone
    assert len(_images(cr.viz.feature_maps(model, x, layer=model[2], max_maps=2))) == 2
    assert len(_images(cr.viz.feature_maps(model[0], x.numpy()[0]))) == 5  # a layer alone, (C, H, W)
    _svg_parses(fig)


def test_feature_maps_errors():
    model = _tiny_cnn()
    x = cr.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="no layer 'conv1'; its layers: '0', '1'"):
        cr.viz.feature_maps(model, x, layer="conv1")
    with pytest.raises(ValueError, match=r"shape \(1, 2\); expected feature maps"):
        cr.viz.feature_maps(model, x, layer="4")
    with pytest.raises(ValueError, match="not part of the model"):
        cr.viz.feature_maps(model, x, layer=nn.ReLU())
    with pytest.raises(TypeError, match=r"nn\.Module"):
        cr.viz.feature_maps(lambda t: t, x)


# ---------------------------------------------------------------- learning curves
def test_learning_curves_is_the_history_plot_as_a_figure(tmp_path):
    h = History()
    for epoch, (loss, val) in enumerate([(1.0, 1.1), (0.6, 0.8), (0.4, 0.9), (0.3, 1.0)], start=1):
        h.record(epoch, {"loss": loss, "val_loss": val, "accuracy": 1 - loss})
    fig = cr.viz.learning_curves(h, overfit_epoch=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert titles == ["loss", "accuracy"]
    assert len(fig.axes[0].get_lines()) == 3  # train, validation, the overfitting mark
    _svg_parses(fig)
    assert h.plot(tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(TypeError, match=r"train\.History"):
        cr.viz.learning_curves({"loss": [1.0]})
