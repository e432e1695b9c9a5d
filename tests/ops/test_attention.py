"""scaled_dot_product_attention, rms_norm/RMSNorm and MultiheadAttention against PyTorch and gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812 (the usual alias)
from helpers import check_against_torch, check_gradcheck

TF = torch.nn.functional


def _randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- SDPA
def _sdpa_pair(**kw):
    def ours(q, k, v, m=None):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, **kw)

    def theirs(q, k, v, m=None):
        return TF.scaled_dot_product_attention(q, k, v, attn_mask=m, **kw)

    return ours, theirs


@pytest.mark.parametrize("scale", [None, 0.3])
def test_sdpa_plain_and_scale(scale):
    rng = np.random.default_rng(1)
    ours, theirs = _sdpa_pair(scale=scale)
    check_against_torch(
        ours, theirs, [_randn(rng, 2, 3, 5, 4), _randn(rng, 2, 3, 7, 4), _randn(rng, 2, 3, 7, 6)]
    )


def test_sdpa_causal_rectangular():
    rng = np.random.default_rng(2)
    ours, theirs = _sdpa_pair(is_causal=True)
    check_against_torch(ours, theirs, [_randn(rng, 2, 6, 4), _randn(rng, 2, 4, 4), _randn(rng, 2, 4, 3)])
    check_against_torch(ours, theirs, [_randn(rng, 2, 4, 4), _randn(rng, 2, 6, 4), _randn(rng, 2, 6, 3)])


def test_sdpa_bool_mask_with_fully_masked_row():
    rng = np.random.default_rng(3)
    mask = rng.random((5, 7)) > 0.4
    mask[2] = False  # a query that may see nothing: PyTorch returns zeros (and zero gradients)
    mask[:, 0] |= np.arange(5) != 2
    ours, theirs = _sdpa_pair()
    out = check_against_torch(
        ours, theirs, [_randn(rng, 2, 3, 5, 4), _randn(rng, 2, 3, 7, 4), _randn(rng, 2, 3, 7, 6), mask]
    )
    assert np.all(out[0].cpu().numpy()[:, :, 2] == 0)


def test_sdpa_float_mask_gets_gradient():
    rng = np.random.default_rng(4)
    ours, theirs = _sdpa_pair()
    mask = _randn(rng, 2, 1, 5, 7)
    mask[0, 0, 1, 3] = -np.inf
    check_against_torch(
        ours, theirs, [_randn(rng, 2, 3, 5, 4), _randn(rng, 2, 3, 7, 4), _randn(rng, 2, 3, 7, 6), mask]
    )


@given(
    lead=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    bcast=st.sampled_from(["none", "k", "v", "q"]),
    n_q=st.integers(1, 5),
    n_k=st.integers(1, 6),
    e=st.integers(1, 5),
    ev=st.integers(1, 4),
    mask=st.sampled_from(["none", "bool", "float", "causal"]),
    seed=st.integers(0, 2**16),
)
def test_sdpa_shapes_hypothesis(lead, bcast, n_q, n_k, e, ev, mask, seed):
    rng = np.random.default_rng(seed)
    lead = tuple(lead)
    # one operand drops its leading dims (broadcast over them)
    ql, kl, vl = (() if bcast == w else lead for w in ("q", "k", "v"))
    inputs = [_randn(rng, *ql, n_q, e), _randn(rng, *kl, n_k, e), _randn(rng, *vl, n_k, ev)]
    kw = {}
    if mask == "bool":
        m = rng.random((n_q, n_k)) > 0.3
        m[:, 0] = True  # every query sees at least one key
        inputs.append(m)
    elif mask == "float":  # the scores are (*lead, n_q, n_k) whichever operand broadcasts
        inputs.append(_randn(rng, *lead[-1:], n_q, n_k))
    elif mask == "causal":
        kw["is_causal"] = True
    ours, theirs = _sdpa_pair(**kw)
    check_against_torch(ours, theirs, inputs, rtol=1e-4, atol=1e-5)


def test_sdpa_gradcheck_mask_and_causal():
    rng = np.random.default_rng(5)
    q, k, v = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 4, 3))
    m = rng.standard_normal((3, 4))
    check_gradcheck(lambda a, b, c, d: F.scaled_dot_product_attention(a, b, c, attn_mask=d), [q, k, v, m])
    check_gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True), [q, k, v])
    bm = rng.random((3, 4)) > 0.5
    bm[:, 0] = True
    check_gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=cr.tensor(bm)), [q, k, v]
    )


def test_sdpa_dropout_is_seeded_and_float32_stays():
    rng = np.random.default_rng(6)
    q, k, v = (cr.tensor(_randn(rng, 2, 5, 4), requires_grad=True) for _ in range(3))
    cr.manual_seed(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    cr.manual_seed(3)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    c = F.scaled_dot_product_attention(q, k, v)
    assert a.dtype == np.float32
    np.testing.assert_array_equal(a._array, b._array)
    assert not np.allclose(a._array, c._array)
    a.sum().backward()
    assert q.grad.shape == q.shape and np.isfinite(q.grad._array).all()


def test_sdpa_dropout_gradcheck():
    # the dropout mask is drawn in forward; reseeding before each call makes it a fixed function
    rng = np.random.default_rng(7)
    q, k, v = rng.standard_normal((3, 2)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))

    def fn(a, b, c):
        cr.manual_seed(11)
        return F.scaled_dot_product_attention(a, b, c, dropout_p=0.3)

    check_gradcheck(fn, [q, k, v])


def test_sdpa_grouped_query_heads():
    rng = np.random.default_rng(8)
    ours, theirs = _sdpa_pair(enable_gqa=True)
    check_against_torch(
        ours, theirs, [_randn(rng, 2, 4, 5, 3), _randn(rng, 2, 2, 6, 3), _randn(rng, 2, 2, 6, 3)]
    )


def test_sdpa_errors_name_the_function():
    rng = np.random.default_rng(9)
    q, k, v = (
        cr.tensor(_randn(rng, 2, 5, 4)),
        cr.tensor(_randn(rng, 2, 6, 3)),
        cr.tensor(_randn(rng, 2, 6, 3)),
    )
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention.*feature size"):
        F.scaled_dot_product_attention(q, k, v)
    k = cr.tensor(_randn(rng, 2, 6, 4))
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention.*attn_mask of shape"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(np.ones((5, 5), bool)))
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention.*same length"):
        F.scaled_dot_product_attention(q, k, cr.tensor(_randn(rng, 2, 5, 3)))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(np.ones((5, 6), bool)), is_causal=True)
    with pytest.raises(TypeError, match=r"scaled_dot_product_attention.*dtype"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(np.ones((5, 6), np.int64)))


# ---------------------------------------------------------------- RMSNorm
@pytest.mark.parametrize("shape,norm", [((3, 5), (5,)), ((2, 3, 4), (3, 4)), ((4, 6), (6,))])
@pytest.mark.parametrize("affine", [True, False])
def test_rms_norm_against_torch(shape, norm, affine):
    rng = np.random.default_rng(10)
    inputs = [_randn(rng, *shape)] + ([_randn(rng, *norm)] if affine else [])
    check_against_torch(
        lambda x, w=None: F.rms_norm(x, norm, w), lambda x, w=None: TF.rms_norm(x, norm, w), inputs
    )
    check_against_torch(
        lambda x, w=None: F.rms_norm(x, norm, w, eps=1e-3),
        lambda x, w=None: TF.rms_norm(x, norm, w, eps=1e-3),
        inputs,
    )


def test_rms_norm_gradcheck_and_module(op_device):
    rng = np.random.default_rng(11)
    check_gradcheck(
        lambda x, w: F.rms_norm(x, (4,), w, 1e-5), [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    )
    theirs = torch.nn.RMSNorm((3, 4), eps=1e-6)
    ours = cr.nn.RMSNorm((3, 4), eps=1e-6)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    ours.to(op_device)
    check_against_torch(ours, theirs, [_randn(rng, 2, 3, 4)])
    assert repr(ours) == repr(theirs)
    assert cr.nn.RMSNorm(4, elementwise_affine=False).weight is None
    with pytest.raises(ValueError, match=r"rms_norm.*normalized_shape"):
        F.rms_norm(cr.randn(2, 3), (4,))


# ---------------------------------------------------------------- MultiheadAttention
def _copy(theirs, ours):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())


def _check_mha(theirs, ours, q, k, v, self_attn=False, rtol=1e-5, atol=1e-6, **kw):
    """Outputs (and weights), input gradients and every parameter's gradient, as in PyTorch."""
    _copy(theirs, ours)
    tq = torch.tensor(q, requires_grad=True)
    cq = cr.tensor(q, requires_grad=True)
    if self_attn:
        tk = tv = tq
        ck = cv = cq
    else:
        tk, tv = torch.tensor(k, requires_grad=True), torch.tensor(v, requires_grad=True)
        ck, cv = cr.tensor(k, requires_grad=True), cr.tensor(v, requires_grad=True)
    tkw = {n: torch.tensor(m) if isinstance(m, np.ndarray) else m for n, m in kw.items()}
    ckw = {n: cr.tensor(m) if isinstance(m, np.ndarray) else m for n, m in kw.items()}
    to, tw = theirs(tq, tk, tv, **tkw)
    co, cw = ours(cq, ck, cv, **ckw)
    np.testing.assert_allclose(co._array, to.detach().numpy(), rtol=rtol, atol=atol)
    rng = np.random.default_rng(0)
    g = rng.standard_normal(to.shape).astype(np.float32)
    lt, lc = (to * torch.tensor(g)).sum(), (co * cr.tensor(g)).sum()
    assert (tw is None) == (cw is None)
    if tw is not None:
        assert cw.shape == tuple(tw.shape)
        np.testing.assert_allclose(cw._array, tw.detach().numpy(), rtol=rtol, atol=atol)
        gw = rng.standard_normal(tw.shape).astype(np.float32)
        lt, lc = lt + (tw * torch.tensor(gw)).sum(), lc + (cw * cr.tensor(gw)).sum()
    lt.backward()
    lc.backward()
    for a, b in ((cq, tq), (ck, tk), (cv, tv)):
        np.testing.assert_allclose(a.grad._array, b.grad.numpy(), rtol=rtol, atol=atol * 10)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(
            p.grad._array, tp[name].grad.numpy(), rtol=rtol, atol=atol * 10, err_msg=name
        )


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_cross_attention(batch_first, need_weights, average):
    rng = np.random.default_rng(12)
    n, lq, s, e = 3, 5, 6, 8
    shape = (lambda length: (n, length, e)) if batch_first else (lambda length: (length, n, e))
    theirs = torch.nn.MultiheadAttention(e, 2, batch_first=batch_first)
    ours = cr.nn.MultiheadAttention(e, 2, batch_first=batch_first)
    _check_mha(
        theirs, ours, _randn(rng, *shape(lq)), _randn(rng, *shape(s)), _randn(rng, *shape(s)),
        need_weights=need_weights, average_attn_weights=average,
    )  # fmt: skip


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_self_attention_with_masks(need_weights):
    rng = np.random.default_rng(13)
    n, length, e = 3, 6, 8
    theirs = torch.nn.MultiheadAttention(e, 4, batch_first=True)
    ours = cr.nn.MultiheadAttention(e, 4, batch_first=True)
    x = _randn(rng, n, length, e)
    bool_mask = rng.random((length, length)) > 0.7
    np.fill_diagonal(bool_mask, False)
    kpm = np.zeros((n, length), bool)
    kpm[0, 4:] = True
    kw = dict(need_weights=need_weights)
    _check_mha(theirs, ours, x, x, x, self_attn=True, attn_mask=bool_mask, **kw)
    _check_mha(theirs, ours, x, x, x, self_attn=True, key_padding_mask=kpm, **kw)
    _check_mha(theirs, ours, x, x, x, self_attn=True, attn_mask=bool_mask, key_padding_mask=kpm, **kw)
    float_mask3 = _randn(rng, n * 4, length, length)
    _check_mha(theirs, ours, x, x, x, self_attn=True, attn_mask=float_mask3, **kw)
    causal = np.triu(np.ones((length, length), bool), 1)
    _check_mha(theirs, ours, x, x, x, self_attn=True, attn_mask=causal, is_causal=True, **kw)


def test_mha_kdim_vdim_no_bias_bias_kv_zero_attn():
    rng = np.random.default_rng(14)
    theirs = torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=5)
    ours = cr.nn.MultiheadAttention(8, 2, kdim=3, vdim=5)
    assert ours.in_proj_weight is None and ours.q_proj_weight.shape == (8, 8)
    _check_mha(theirs, ours, _randn(rng, 4, 2, 8), _randn(rng, 6, 2, 3), _randn(rng, 6, 2, 5))
    theirs = torch.nn.MultiheadAttention(8, 2, bias=False, add_bias_kv=True, add_zero_attn=True)
    ours = cr.nn.MultiheadAttention(8, 2, bias=False, add_bias_kv=True, add_zero_attn=True)
    kpm = np.zeros((2, 6), bool)
    kpm[1, 3:] = True
    mask = rng.random((4, 6)) > 0.7
    x, y = _randn(rng, 4, 2, 8), _randn(rng, 6, 2, 8)
    _check_mha(theirs, ours, x, y, y, key_padding_mask=kpm, attn_mask=mask)


def test_mha_batch_first_kdim_vdim_bias_kv_zero_attn():
    # batch-first inputs are projected in their own layout: the extra key goes on axis 1
    rng = np.random.default_rng(17)
    theirs = torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True, batch_first=True)
    ours = cr.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True, batch_first=True)
    kpm = np.zeros((2, 6), bool)
    kpm[0, 4:] = True
    q, k, v = _randn(rng, 2, 4, 8), _randn(rng, 2, 6, 3), _randn(rng, 2, 6, 5)
    _check_mha(theirs, ours, q, k, v, key_padding_mask=kpm)
    theirs = torch.nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, batch_first=True)
    ours = cr.nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, batch_first=True)
    x = _randn(rng, 3, 5, 8)
    for need_weights in (False, True):
        mask = rng.random((5, 5)) > 0.7
        _check_mha(theirs, ours, x, x, x, self_attn=True, attn_mask=mask, need_weights=need_weights)


@pytest.mark.parametrize("batch_first", [True, False])
def test_mha_self_attention_projects_with_one_gemm(batch_first, monkeypatch):
    from chainrule.nn import attention

    calls = []
    real = attention.linear
    monkeypatch.setattr(attention, "linear", lambda x, w, b=None: calls.append(w.shape) or real(x, w, b))
    mha = cr.nn.MultiheadAttention(8, 2, batch_first=batch_first)
    x = cr.tensor(np.random.default_rng(18).standard_normal((3, 4, 8)).astype(np.float32))
    mha(x, x, x, need_weights=False)
    assert calls == [(24, 8), (8, 8)]  # queries, keys and values in one GEMM, then the output projection
    calls.clear()
    other = (3, 5, 8) if batch_first else (5, 4, 8)  # another length, the same batch
    y = cr.tensor(np.random.default_rng(19).standard_normal(other).astype(np.float32))
    mha(x, y, y, need_weights=False)
    assert calls == [(8, 8), (16, 8), (8, 8)]  # keys and values share one


def test_mha_unbatched_and_key_is_value():
    rng = np.random.default_rng(15)
    theirs, ours = torch.nn.MultiheadAttention(8, 2), cr.nn.MultiheadAttention(8, 2)
    _check_mha(theirs, ours, _randn(rng, 4, 8), _randn(rng, 5, 8), _randn(rng, 5, 8))
    _copy(theirs, ours)
    q, kv = _randn(rng, 4, 2, 8), _randn(rng, 5, 2, 8)
    co = ours(cr.tensor(q), cr.tensor(kv), cr.tensor(kv))[0]  # keys and values share one GEMM
    to = theirs(torch.tensor(q), torch.tensor(kv), torch.tensor(kv))[0]
    np.testing.assert_allclose(co._array, to.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask_dtype", [bool, np.float32])
@pytest.mark.parametrize("batch_first", [True, False])
def test_mha_unbatched_with_key_padding_mask(mask_dtype, batch_first):
    # an unbatched (S,) key_padding_mask raised a TypeError from a helper's missing argument
    rng = np.random.default_rng(16)
    theirs = torch.nn.MultiheadAttention(8, 2, kdim=3, batch_first=batch_first)
    ours = cr.nn.MultiheadAttention(8, 2, kdim=3, batch_first=batch_first)
    kpm = np.array([False, True, False, True, False])
    if mask_dtype is not bool:
        kpm = np.where(kpm, -2.0, 0.5).astype(np.float32)
    mask = np.triu(np.ones((4, 5), bool), 2)
    q, k, v = _randn(rng, 4, 8), _randn(rng, 5, 3), _randn(rng, 5, 8)
    _check_mha(
        theirs,
        ours,
        q,
        k,
        v,
        key_padding_mask=kpm,
        attn_mask=mask.astype(mask_dtype),
        average_attn_weights=False,
    )


def test_mha_gradcheck_tiny():
    rng = np.random.default_rng(16)
    mha = cr.nn.MultiheadAttention(4, 2, batch_first=True).double()
    mha.in_proj_bias._array[:] = rng.standard_normal(12)
    mask = cr.tensor(np.triu(np.ones((3, 3), bool), 1))
    for need in (False, True):
        check_gradcheck(
            lambda a, need=need: mha(a, a, a, attn_mask=mask, need_weights=need)[0],
            [rng.standard_normal((2, 3, 4))],
        )
    check_gradcheck(
        lambda a, b: mha(a, b, b, need_weights=False)[0],
        [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))],
    )


def test_mha_dropout_train_vs_eval():
    rng = np.random.default_rng(17)
    mha = cr.nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = cr.tensor(_randn(rng, 2, 6, 8))
    for need in (True, False):
        mha.train()
        a = mha(x, x, x, need_weights=need)[0]
        b = mha(x, x, x, need_weights=need)[0]
        assert not np.allclose(a._array, b._array)
        mha.eval()
        c = mha(x, x, x, need_weights=need)[0]
        d = mha(x, x, x, need_weights=need)[0]
        np.testing.assert_array_equal(c._array, d._array)


def test_mha_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"MultiheadAttention.*divisible"):
        cr.nn.MultiheadAttention(10, 3)
    mha = cr.nn.MultiheadAttention(8, 2, batch_first=True)
    x = cr.randn(2, 5, 8)
    with pytest.raises(ValueError, match=r"MultiheadAttention: attn_mask must have shape .*\(5, 5\)"):
        mha(x, x, x, attn_mask=cr.tensor(np.zeros((4, 5), bool)))
    with pytest.raises(ValueError, match=r"MultiheadAttention: key_padding_mask must have shape \(N, S\)"):
        mha(x, x, x, key_padding_mask=cr.tensor(np.zeros((5, 2), bool)))
    with pytest.raises(ValueError, match="MultiheadAttention: expected query features 8"):
        mha(cr.randn(2, 5, 6), x, x)
    with pytest.raises(ValueError, match=r"MultiheadAttention.*3-D"):
        mha(cr.randn(5, 8), x, x)
