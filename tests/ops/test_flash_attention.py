"""The blocked (FlashAttention) path of scaled_dot_product_attention: PyTorch, gradcheck, a memory bound.

The ``tiny_tiles`` fixture sends every call through the blocked kernels with
5-query by 7-key tiles, so that small, fast inputs cross many tile borders: a
length that is not a multiple of the tile, a causal diagonal inside a tile, a
mask row that hides every key of one tile but not of the next.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812 (the usual alias)
from chainrule.ops import attention as sdpa_module
from chainrule.ops import flash_attention as flash
from helpers import check_against_torch, check_gradcheck

TF = torch.nn.functional


def _randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def _pair(**kw):
    def ours(q, k, v, m=None):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, **kw)

    def theirs(q, k, v, m=None):
        return TF.scaled_dot_product_attention(q, k, v, attn_mask=m, **kw)

    return ours, theirs


def _force_tiles(monkeypatch: pytest.MonkeyPatch, bq: int, bk: int, tile: int) -> None:
    monkeypatch.setattr(sdpa_module, "DIRECT_MAX_SCORES", 0)
    monkeypatch.setattr(flash, "BLOCK_Q", bq)
    monkeypatch.setattr(flash, "BLOCK_K", bk)
    monkeypatch.setattr(flash, "TILE_ELEMENTS", tile)


@pytest.fixture
def tiny_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call takes the blocked path, in 5 x 7 tiles, two heads per task and per forward stage."""
    _force_tiles(monkeypatch, 5, 7, 70)
    monkeypatch.setattr(flash, "_STAGE_BYTES", 1)


def _uses_tiles(out: cr.Tensor) -> bool:
    return isinstance(out._ctx, sdpa_module.FlashAttention)


# ---------------------------------------------------------------- values and gradients
@pytest.mark.parametrize("n_q,n_k", [(1, 1), (1, 9), (9, 1), (5, 7), (12, 23), (23, 12), (30, 30)])
@pytest.mark.parametrize("causal", [False, True])
def test_tiles_match_torch_across_lengths(tiny_tiles, n_q, n_k, causal):
    rng = np.random.default_rng(n_q * 100 + n_k)
    ours, theirs = _pair(is_causal=causal)
    inputs = [_randn(rng, 2, 3, n_q, 4), _randn(rng, 2, 3, n_k, 4), _randn(rng, 2, 3, n_k, 6)]
    out = check_against_torch(ours, theirs, inputs, rtol=1e-5, atol=2e-6)
    assert _uses_tiles(out[0])


@pytest.mark.parametrize("scale", [None, 0.3, 2.0])
def test_tiles_scale_and_broadcast_batch(tiny_tiles, scale):
    rng = np.random.default_rng(1)
    ours, theirs = _pair(scale=scale)
    # keys shared by every head and sample, values by every sample
    inputs = [_randn(rng, 2, 3, 11, 4), _randn(rng, 16, 4), _randn(rng, 3, 16, 5)]
    check_against_torch(ours, theirs, inputs, rtol=1e-5, atol=2e-6)


def test_tiles_key_padding_mask_with_a_sample_that_sees_nothing(tiny_tiles):
    rng = np.random.default_rng(2)
    n, h, n_q, n_k = 3, 2, 9, 17
    mask = rng.random((n, 1, 1, n_k)) > 0.3
    mask[0, ..., 7:] = False  # sample 0: every key after the first tile is padding
    mask[1] = False  # sample 1: nothing to attend to at all -> zeros, as PyTorch
    ours, theirs = _pair()
    out = check_against_torch(
        ours, theirs, [_randn(rng, n, h, n_q, 4), _randn(rng, n, h, n_k, 4), _randn(rng, n, h, n_k, 3), mask]
    )
    assert np.all(out[0].cpu().numpy()[1] == 0)


def test_tiles_bool_mask_rows_hidden_in_some_tiles(tiny_tiles):
    rng = np.random.default_rng(3)
    mask = rng.random((11, 20)) > 0.5
    mask[2] = False  # a query that sees nothing
    mask[4, :14] = False  # a query whose first two key tiles are all hidden
    mask[4, 19] = True
    ours, theirs = _pair()
    out = check_against_torch(
        ours, theirs, [_randn(rng, 2, 3, 11, 4), _randn(rng, 2, 3, 20, 4), _randn(rng, 2, 3, 20, 6), mask]
    )
    assert np.all(out[0].cpu().numpy()[:, :, 2] == 0)


@pytest.mark.parametrize(
    "shape", [(2, 3, 11, 19), (3, 11, 19), (11, 19), (2, 1, 1, 19), (2, 3, 11, 1), (1, 19)]
)
def test_tiles_float_mask_gets_gradient_summed_over_broadcasts(tiny_tiles, shape):
    rng = np.random.default_rng(4)
    mask = _randn(rng, *shape)
    mask.reshape(-1)[3] = -np.inf
    ours, theirs = _pair()
    check_against_torch(
        ours, theirs, [_randn(rng, 2, 3, 11, 4), _randn(rng, 2, 3, 19, 4), _randn(rng, 2, 3, 19, 6), mask]
    )


@given(
    lead=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    n_q=st.integers(1, 16),
    n_k=st.integers(1, 16),
    e=st.integers(1, 5),
    mask=st.sampled_from(["none", "bool", "float", "causal", "padding"]),
    tiles=st.sampled_from([(1, 1, 1), (3, 4, 12), (5, 7, 70), (8, 3, 1000)]),
    seed=st.integers(0, 2**16),
)
def test_tiles_hypothesis(lead, n_q, n_k, e, mask, tiles, seed):
    rng = np.random.default_rng(seed)
    with pytest.MonkeyPatch.context() as mp:
        _force_tiles(mp, *tiles)
        lead = tuple(lead)
        inputs = [_randn(rng, *lead, n_q, e), _randn(rng, *lead, n_k, e), _randn(rng, *lead, n_k, 3)]
        kw = {}
        if mask == "bool":
            m = rng.random((n_q, n_k)) > 0.3
            m[:, 0] = True
            inputs.append(m)
        elif mask == "float":
            inputs.append(_randn(rng, *lead[-1:], n_q, n_k))
        elif mask == "padding" and lead:
            m = rng.random((lead[0],) + (1,) * len(lead) + (n_k,)) > 0.3
            inputs.append(m)
        elif mask == "causal":
            kw["is_causal"] = True
        ours, theirs = _pair(**kw)
        check_against_torch(ours, theirs, inputs, rtol=1e-4, atol=1e-5)


def test_tiles_gradcheck_float64(tiny_tiles):
    rng = np.random.default_rng(5)
    q, k, v = rng.standard_normal((2, 8, 3)), rng.standard_normal((2, 12, 3)), rng.standard_normal((2, 12, 2))
    m = rng.standard_normal((8, 12))
    check_gradcheck(lambda a, b, c, d: F.scaled_dot_product_attention(a, b, c, attn_mask=d), [q, k, v, m])
    check_gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True, scale=0.7), [q, k, v]
    )
    bm = rng.random((2, 1, 12)) > 0.5
    bm[..., 0] = True
    check_gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=cr.tensor(bm)), [q, k, v]
    )


# ---------------------------------------------------------------- dropout
def test_tiles_dropout_is_seeded_and_has_the_right_statistics(tiny_tiles):
    # with q = 0 every weight is 1/S; with v = I the output is the dropped weight matrix itself
    n, s, p = 3, 40, 0.3
    q = cr.tensor(np.zeros((n, 2, 30, 4), np.float32))
    k = cr.tensor(np.ones((n, 2, s, 4), np.float32))
    v = cr.tensor(np.broadcast_to(np.eye(s, dtype=np.float32), (n, 2, s, s)).copy())
    cr.manual_seed(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    cr.manual_seed(3)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    c = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # the stream moved on: another mask
    np.testing.assert_array_equal(a._array, b._array)
    assert not np.array_equal(a._array, c._array)
    scaled = a._array * (s * (1 - p))  # 1 where kept, 0 where dropped
    np.testing.assert_allclose(scaled[np.abs(scaled) > 0.5], 1.0, rtol=1e-5)
    keep = scaled > 0.5
    assert abs(keep.mean() - (1 - p)) < 0.02  # 7,200 draws: the std of the mean is 0.005
    # no two heads, samples or tiles share a mask
    flat = keep.reshape(n * 2, 30, s)
    assert len({f.tobytes() for f in flat}) == n * 2
    assert not np.array_equal(keep[0, 0, :5, :7], keep[0, 0, :5, 7:14])


def test_tiles_dropout_gradients_match_the_mask_drawn(tiny_tiles):
    """Given the keep mask read off one call, torch's composed attention gives the same values and grads."""
    rng = np.random.default_rng(6)
    p, n_q, n_k = 0.25, 13, 17
    cr.manual_seed(9)
    eye = cr.tensor(np.broadcast_to(np.eye(n_k, dtype=np.float32), (2, 3, n_k, n_k)).copy())
    probe = F.scaled_dot_product_attention(
        cr.tensor(np.zeros((2, 3, n_q, 4), np.float32)),
        cr.tensor(np.zeros((2, 3, n_k, 4), np.float32)),
        eye,
        dropout_p=p,
    )
    keep = torch.tensor(probe._array * (n_k * (1 - p)) > 0.5)

    def ours(q, k, v):
        cr.manual_seed(9)  # the same seed: the same tiles draw the same masks
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p)

    def theirs(q, k, v):
        w = torch.softmax(q @ k.transpose(-1, -2) / 2.0, -1)
        return (w * keep / (1 - p)) @ v

    check_against_torch(
        ours, theirs, [_randn(rng, 2, 3, n_q, 4), _randn(rng, 2, 3, n_k, 4), _randn(rng, 2, 3, n_k, 5)]
    )


def test_tiles_dropout_gradcheck(tiny_tiles):
    rng = np.random.default_rng(7)
    q, k, v = rng.standard_normal((9, 2)), rng.standard_normal((11, 2)), rng.standard_normal((11, 2))

    def fn(a, b, c):
        cr.manual_seed(11)
        return F.scaled_dot_product_attention(a, b, c, dropout_p=0.3)

    check_gradcheck(fn, [q, k, v])


# ---------------------------------------------------------------- dispatch, users, memory
def test_long_sequences_take_the_tiles_and_short_ones_the_direct_path():
    rng = np.random.default_rng(8)
    short = [cr.tensor(_randn(rng, 1, 2, 16, 8), requires_grad=True) for _ in range(3)]
    long = [cr.tensor(_randn(rng, 1, 2, 300, 8), requires_grad=True) for _ in range(3)]
    assert not _uses_tiles(F.scaled_dot_product_attention(*short))
    assert _uses_tiles(F.scaled_dot_product_attention(*long))


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention_long_sequence_with_padding_and_causal(need_weights, op_device):
    torch_mha = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    mha = cr.nn.MultiheadAttention(16, 4, batch_first=True)
    mha.load_state_dict({k: v.detach().numpy() for k, v in torch_mha.state_dict().items()})
    mha.to(op_device)
    rng = np.random.default_rng(9)
    x = _randn(rng, 2, 150, 16)
    pad = np.zeros((2, 150), bool)
    pad[1, 120:] = True
    causal = np.triu(np.full((150, 150), -np.inf, np.float32), 1)

    def ours(x):
        a, w = mha(x, x, x, key_padding_mask=pad, need_weights=need_weights)
        b, _ = mha(x, x, x, attn_mask=causal, is_causal=True, need_weights=False)
        return (a, b) if w is None else (a, b, w)

    def theirs(x):
        a, w = torch_mha(x, x, x, key_padding_mask=torch.tensor(pad), need_weights=need_weights)
        b, _ = torch_mha(x, x, x, attn_mask=torch.tensor(causal), is_causal=True, need_weights=False)
        return (a, b) if w is None else (a, b, w)

    check_against_torch(ours, theirs, [x], rtol=1e-4, atol=1e-5)


def test_tiles_never_hold_a_length_squared_array(monkeypatch):
    """At 4,096 tokens one head's (L, S) float32 scores take 64 MiB; the tiles stay far below that."""
    monkeypatch.setattr(flash, "TILE_ELEMENTS", 1 << 16)
    rng = np.random.default_rng(10)
    t, e = 4096, 16
    q, k, v = (cr.tensor(_randn(rng, 1, 2, t, e), requires_grad=True) for _ in range(3))
    g = cr.tensor(_randn(rng, 1, 2, t, e))
    tracemalloc.start()
    try:
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        (out * g).sum().backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    inputs_and_outputs = 8 * t * e * 4 * 2  # q, k, v, out, their grads, the cotangent: 2 heads each
    assert _uses_tiles(out)
    assert peak < inputs_and_outputs + (8 << 20), f"peak {peak / 2**20:.1f} MiB"
    assert peak < (t * t * 4) // 4  # a quarter of one head's score matrix


# ---------------------------------------------------------------- the direct path, cut into slabs
@pytest.mark.parametrize("kind", ["none", "causal", "padding", "float"])
def test_direct_path_in_slabs_over_threads_matches_torch(kind):
    """4 x 3 heads of 128 x 128 scores: the direct path, its batch cut into one slab per thread."""
    rng = np.random.default_rng(11)
    n, h, t = 4, 3, 128
    inputs = [_randn(rng, n, h, t, 8), _randn(rng, n, h, t, 8), _randn(rng, n, h, t, 8)]
    kw = {}
    if kind == "causal":
        kw["is_causal"] = True
    elif kind == "padding":
        m = rng.random((n, 1, 1, t)) > 0.3
        m[2] = False
        inputs.append(m)
    elif kind == "float":
        inputs.append(_randn(rng, h, t, t))
    ours, theirs = _pair(**kw)
    out = check_against_torch(ours, theirs, inputs, rtol=1e-5, atol=2e-6)
    assert not _uses_tiles(out[0])


def test_direct_path_dropout_is_seeded():
    rng = np.random.default_rng(12)
    q, k, v = (cr.tensor(_randn(rng, 4, 3, 128, 8), requires_grad=True) for _ in range(3))
    cr.manual_seed(5)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.2)
    cr.manual_seed(5)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.2)
    np.testing.assert_array_equal(a._array, b._array)
    assert not _uses_tiles(a)
    a.sum().backward()
    assert np.isfinite(q.grad._array).all()


def test_tiles_scores_far_above_the_first_tile_and_rows_that_start_hidden(tiny_tiles):
    """Later tiles whose scores overflow exp under the first tile's shift; rows whose first tile is hidden."""
    rng = np.random.default_rng(13)
    q = np.ones((1, 2, 9, 4), np.float32)
    k = _randn(rng, 1, 2, 30, 4) * 0.1
    k[..., 20:, :] += 60.0  # scores ~ +120 in the last key tiles, ~0 in the first: exp(120) overflows
    v = _randn(rng, 1, 2, 30, 3)
    ours, theirs = _pair()
    check_against_torch(ours, theirs, [q, k, v], rtol=1e-4, atol=1e-5)
    mask = _randn(rng, 9, 30) - 300.0  # finite but far below 0: exp(S - 0) would underflow to 0
    mask[:, :7] = -np.inf  # the whole first key tile hidden
    mask[4, :] = -np.inf  # and one query that sees nothing
    # scores near -300 carry float32 rounding of ~3e-5 (one ulp), in either library
    check_against_torch(
        ours, theirs, [_randn(rng, 1, 2, 9, 4), _randn(rng, 1, 2, 30, 4), v, mask], rtol=1e-4, atol=2e-5
    )


@pytest.mark.parametrize("t", [16, 128, 200])
def test_inference_without_a_graph_gives_the_same_output(t):
    """No grad: the direct path normalises the output instead of P, the tiles keep no context."""
    rng = np.random.default_rng(14)
    q, k, v = (cr.tensor(_randn(rng, 4, 3, t, 8), requires_grad=True) for _ in range(3))
    mask = rng.random((4, 1, 1, t)) > 0.3
    mask[1] = False
    with_graph = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    with cr.no_grad():
        without = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    np.testing.assert_allclose(without._array, with_graph._array, rtol=1e-5, atol=1e-6)
    assert np.all(without._array[1] == 0)
