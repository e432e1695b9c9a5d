"""nn.Embedding and F.embedding against PyTorch: lookups, scatter-add gradients, padding, max_norm, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812 (the usual name)
from chainrule.ops.embedding import _scatter_rows
from helpers import check_against_torch, check_gradcheck

TF = torch.nn.functional


def _pair(**kw):
    return (lambda i, w: F.embedding(i, w, **kw)), (lambda i, w: TF.embedding(i, w, **kw))


@given(
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=3),
    rows=st.integers(1, 12),
    dim=st.integers(1, 7),
    pad=st.one_of(st.none(), st.integers(-1, 0)),
    by_freq=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_embedding_matches_torch(shape, rows, dim, pad, by_freq, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, rows, shape).astype(np.int64)  # small tables: many repeated indices
    w = rng.standard_normal((rows, dim)).astype(np.float32)
    ours, theirs = _pair(padding_idx=pad, scale_grad_by_freq=by_freq)
    check_against_torch(ours, theirs, [idx, w])


@pytest.mark.parametrize("runs", [3, 400])  # few repeated rows (Python loop) and many (reduceat)
def test_scatter_rows_equals_add_at(runs):
    rng = np.random.default_rng(1)
    idx = np.concatenate([rng.permutation(5000)[:2000], np.repeat(np.arange(runs), 3)])
    rng.shuffle(idx)
    g = rng.standard_normal((idx.size, 6)).astype(np.float32)
    ref = np.zeros((5000, 6), np.float32)
    np.add.at(ref, idx, g)
    np.testing.assert_allclose(_scatter_rows(idx, g, 5000, False, None), ref, rtol=1e-5, atol=1e-5)
    counts = np.bincount(idx, minlength=5000).astype(np.float32)
    scaled = ref / np.maximum(counts, 1)[:, None]
    np.testing.assert_allclose(
        _scatter_rows(idx, g, 5000, True, 7),
        np.where(np.arange(5000)[:, None] == 7, 0, scaled),
        rtol=1e-5,
        atol=1e-5,
    )


def test_int32_indices_and_repeated_padding():
    idx = np.array([[0, 2, 2, 0], [1, 0, 2, 2]], dtype=np.int32)
    w = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    ours, theirs = _pair(padding_idx=0)
    (out,) = check_against_torch(ours, theirs, [idx, w])
    assert out.shape == (2, 4, 4)


def test_gradcheck_float64():
    idx = np.array([[1, 3, 1], [0, 3, 3]])
    w = np.random.default_rng(2).standard_normal((4, 3))
    # padding_idx and scale_grad_by_freq change the gradient on purpose, so only the plain lookup
    check_gradcheck(lambda i, t: F.embedding(i, t), [idx, w])


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_max_norm_renormalises_like_torch(norm_type):
    rng = np.random.default_rng(3)
    w0 = (3 * rng.standard_normal((6, 5))).astype(np.float32)
    idx = np.array([[0, 2, 2], [5, 1, 0]])
    ours = cr.nn.Embedding(6, 5, max_norm=1.5, norm_type=norm_type, _weight=w0.copy())
    theirs = torch.nn.Embedding(6, 5, max_norm=1.5, norm_type=norm_type, _weight=torch.tensor(w0.copy()))
    out_o, out_t = ours(cr.tensor(idx)), theirs(torch.tensor(idx))
    np.testing.assert_allclose(out_o._array, out_t.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.weight._array, theirs.weight.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_module_init_state_dict_and_gradient_like_torch():
    layer = cr.nn.Embedding(50, 8, padding_idx=3)
    assert layer.weight.shape == (50, 8) and layer.weight.dtype == np.float32
    assert not layer.weight._array[3].any()
    assert 0.7 < layer.weight._array.std() < 1.3  # N(0, 1), as PyTorch
    ref = torch.nn.Embedding(50, 8, padding_idx=3)
    layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    assert list(layer.state_dict()) == ["weight"]
    idx = np.random.default_rng(4).integers(0, 50, (3, 7))
    idx[0, :3] = 3
    out, ref_out = layer(cr.tensor(idx)), ref(torch.tensor(idx))
    c = np.random.default_rng(5).standard_normal(out.shape).astype(np.float32)
    (out * cr.tensor(c)).sum().backward()
    (ref_out * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(layer.weight.grad._array, ref.weight.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert not layer.weight.grad._array[3].any()
    assert repr(layer) == repr(ref) == "Embedding(50, 8, padding_idx=3)"


def test_from_pretrained_freeze_and_padding_row_kept():
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    frozen = cr.nn.Embedding.from_pretrained(cr.tensor(table), padding_idx=1)
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(cr.tensor(np.array([1, 2])))._array, table[[1, 2]])
    trainable = cr.nn.Embedding.from_pretrained(table, freeze=False)
    out = trainable(cr.tensor(np.array([[0, 0, 3]])))
    out.sum().backward()
    np.testing.assert_array_equal(trainable.weight.grad._array[:, 0], [2, 0, 0, 1])
    with pytest.raises(ValueError, match="2-D"):
        cr.nn.Embedding.from_pretrained(np.zeros(3, np.float32))


def test_bad_indices_name_the_layer():
    model = cr.nn.Sequential(cr.nn.Embedding(10, 4))
    with pytest.raises(IndexError, match=r"layer '0' \(Embedding\(10, 4\)\).*index 10 is out of range"):
        model(cr.tensor(np.array([[1, 10]])))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        F.embedding(cr.tensor(np.array([-1])), cr.randn(3, 2))
    with pytest.raises(TypeError, match=r"Embedding\(10, 4\).*integer.*float32"):
        model(cr.tensor(np.array([1.0], dtype=np.float32)))
    with pytest.raises(ValueError, match="padding_idx 10 must be within num_embeddings"):
        cr.nn.Embedding(10, 4, padding_idx=10)


def test_no_grad_lookup_keeps_no_graph():
    layer = cr.nn.Embedding(5, 3)
    with cr.no_grad():
        out = layer(cr.tensor(np.array([1, 2])))
    assert not out.requires_grad and out.grad_fn is None
