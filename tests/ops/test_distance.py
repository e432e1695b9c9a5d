"""cosine_similarity, pairwise_distance (and their layers) and F.normalize's every p against PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F  # noqa: N812
from chainrule import nn
from helpers import check_against_torch, check_gradcheck

_P = [2.0, 1.0, 3.0, 0.5, -1.0, -0.5, float("inf"), float("-inf"), 0.0]


@settings(max_examples=30, deadline=None)
@given(
    p=st.sampled_from(_P),
    shape=st.sampled_from([(4,), (3, 4), (2, 3, 4)]),
    seed=st.integers(0, 99),
    data=st.data(),
)
def test_normalize_any_p(p, shape, seed, data):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    check_against_torch(
        lambda t: F.normalize(t, p=p, dim=dim),
        lambda t: TF.normalize(t, p=p, dim=dim),
        [x],
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("p", [-1.0, 0.5, float("-inf")])
def test_normalize_gradcheck_new_p(p):
    x = np.random.default_rng(1).standard_normal((3, 4))
    check_gradcheck(lambda t: F.normalize(t, p=p, dim=1), [x])


@settings(max_examples=30, deadline=None)
@given(
    shapes=st.sampled_from([((3, 5), (3, 5)), ((3, 5), (1, 5)), ((5,), (5,)), ((2, 3, 5), (3, 5))]),
    p=st.sampled_from(_P[:-1]),
    keepdim=st.booleans(),
    seed=st.integers(0, 99),
)
def test_pairwise_distance(shapes, p, keepdim, seed):
    rng = np.random.default_rng(seed)
    x1, x2 = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    check_against_torch(
        lambda a, b: F.pairwise_distance(a, b, p, keepdim=keepdim),
        lambda a, b: TF.pairwise_distance(a, b, p, keepdim=keepdim), [x1, x2], rtol=1e-4, atol=1e-5,
    )  # fmt: skip
    ours = nn.PairwiseDistance(p, keepdim=keepdim)(cr.tensor(x1), cr.tensor(x2))
    theirs = torch.nn.PairwiseDistance(p, keepdim=keepdim)(torch.tensor(x1), torch.tensor(x2))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), 1e-4, 1e-5)


@settings(max_examples=30, deadline=None)
@given(
    shapes=st.sampled_from([((3, 5), (3, 5)), ((3, 5), (1, 5)), ((5,), (5,)), ((2, 3, 5), (3, 5))]),
    seed=st.integers(0, 99),
    data=st.data(),
)
def test_cosine_similarity(shapes, seed, data):
    rng = np.random.default_rng(seed)
    x1, x2 = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    n = max(len(s) for s in shapes)
    dim = data.draw(st.integers(-1, n - 1)) if shapes[0] == shapes[1] else -1
    check_against_torch(
        lambda a, b: F.cosine_similarity(a, b, dim), lambda a, b: TF.cosine_similarity(a, b, dim), [x1, x2],
        rtol=1e-4, atol=1e-5,
    )  # fmt: skip
    ours = nn.CosineSimilarity(dim)(cr.tensor(x1), cr.tensor(x2))
    np.testing.assert_allclose(
        ours.numpy(), torch.nn.CosineSimilarity(dim)(torch.tensor(x1), torch.tensor(x2)), 1e-4, 1e-5
    )


def test_gradchecks():
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    check_gradcheck(lambda a, b: F.cosine_similarity(a, b), [x1, x2])
    for p in (1.0, 2.0, 3.0, float("inf")):
        check_gradcheck(lambda a, b, p=p: F.pairwise_distance(a, b, p), [x1, x2])


def test_errors():
    with pytest.raises(ValueError, match=r"pairwise_distance: x1 of shape \(3, 4\) and x2 of shape \(2, 4\)"):
        F.pairwise_distance(cr.zeros(3, 4), cr.zeros(2, 4))
    with pytest.raises(TypeError, match=r"cosine_similarity: expected floating-point"):
        F.cosine_similarity(cr.tensor(np.zeros((2, 3), np.int64)), cr.zeros(2, 3))
