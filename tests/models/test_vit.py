"""cr.models.ViT: shapes, errors, values and gradients against a PyTorch twin, and learning the digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.data import DataLoader
from chainrule.data.datasets import load_digits
from chainrule.models import ViT, get_model
from chainrule.runtime import limit_threads
from helpers import check_gradcheck


@pytest.fixture(autouse=True, scope="module")
def _single_threaded():
    # These GEMMs are tiny: on a busy machine the BLAS and PyTorch thread pools only add
    # synchronisation (measured 10x slower at load 8 on 2 cores). One thread gives the same numbers.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with limit_threads(1):
        yield
    torch.set_num_threads(threads)


class TorchViT(torch.nn.Module):
    """The same architecture from torch.nn, with the same state_dict keys: the oracle."""

    def __init__(self, image_size, patch_size, in_channels, num_classes, dim, depth, heads, mlp_dim, pool):
        super().__init__()
        (h, w), (ph, pw) = image_size, patch_size
        self.pool = pool
        self.patch_embed = torch.nn.Conv2d(in_channels, dim, (ph, pw), stride=(ph, pw))
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, (h // ph) * (w // pw) + 1, dim))
        layer = torch.nn.TransformerEncoderLayer(
            dim, heads, mlp_dim, 0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = torch.nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(dim)
        self.head = torch.nn.Linear(dim, num_classes)

    def forward(self, x):
        patches = self.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), patches], dim=1) + self.pos_embed
        tokens = self.encoder(tokens)
        pooled = tokens[:, 0] if self.pool == "cls" else tokens.mean(dim=1)
        return self.head(self.norm(pooled))


@pytest.mark.parametrize(
    "image_size,patch_size,pool,tokens", [(8, 2, "cls", 17), (8, 4, "mean", 5), ((6, 8), (3, 2), "cls", 9)]
)
def test_shapes(image_size, patch_size, pool, tokens) -> None:
    model = ViT(
        image_size, patch_size, in_channels=3, num_classes=5, dim=16, depth=1, heads=2, mlp_dim=32, pool=pool
    )
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    out = model(cr.randn(4, 3, h, w))
    assert out.shape == (4, 5) and out.dtype == np.float32
    assert model.pos_embed.shape == (1, tokens, 16) and model.num_patches == tokens - 1


def test_errors_name_the_model() -> None:
    with pytest.raises(ValueError, match="ViT: image_size 8x8 must be divisible by patch_size 3x3"):
        ViT(8, 3)
    with pytest.raises(ValueError, match="ViT: pool must be 'cls' or 'mean'"):
        ViT(8, 2, pool="max")
    with pytest.raises(ValueError, match="ViT: dim \\(10\\) must be divisible by heads \\(4\\)"):
        ViT(8, 2, dim=10)
    with pytest.raises(ValueError, match="ViT: patch_size must be a positive int"):
        ViT(8, 0)
    model = ViT(8, 4, dim=8, depth=1, heads=2, mlp_dim=16)
    with pytest.raises(
        ValueError, match="ViT: expected images of shape \\(N, 1, 8, 8\\), got \\(2, 1, 6, 6\\)"
    ):
        model(cr.randn(2, 1, 6, 6))
    with pytest.raises(ValueError, match="ViT: expected images of shape"):
        model(cr.randn(1, 8, 8))
    with pytest.raises(TypeError, match="ViT: expected a Tensor"):
        model(np.zeros((1, 1, 8, 8), dtype=np.float32))


@given(
    patch=st.sampled_from([(2, 2), (4, 4), (2, 4)]),
    depth=st.integers(1, 2),
    heads=st.sampled_from([1, 2]),
    pool=st.sampled_from(["cls", "mean"]),
    n=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_matches_torch_twin(patch, depth, heads, pool, n, seed) -> None:
    config = dict(
        image_size=(8, 8),
        patch_size=patch,
        in_channels=2,
        num_classes=3,
        dim=8,
        depth=depth,
        heads=heads,
        mlp_dim=12,
        pool=pool,
    )
    cr.manual_seed(seed)
    model = ViT(**config)
    theirs = TorchViT(**config)
    theirs.load_state_dict({k: torch.tensor(v.numpy()) for k, v in model.state_dict().items()})
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2, 8, 8)).astype(np.float32)
    ours_x, theirs_x = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = model(ours_x), theirs(theirs_x)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-4, atol=1e-5)
    c = rng.standard_normal(out.shape).astype(np.float32)
    (out * cr.tensor(c)).sum().backward()
    (tout * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-4, atol=1e-5)
    theirs_params = dict(theirs.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(
            p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name
        )


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_gradcheck_float64(pool) -> None:
    model = ViT(4, 2, in_channels=1, num_classes=2, dim=4, depth=1, heads=2, mlp_dim=6, pool=pool).double()
    x = np.random.default_rng(0).standard_normal((2, 1, 4, 4))
    check_gradcheck(model, [x])
    params = [model.cls_token, model.pos_embed, model.patch_embed.weight]
    xt = cr.tensor(x)
    assert cr.autograd.gradcheck(lambda *_: model(xt), params)


def test_learns_the_digits() -> None:
    train, test = load_digits(flatten=False)
    model = ViT(8, 4, dim=32, depth=1, heads=2, mlp_dim=64)
    optimizer = cr.optim.Adam(model.parameters(), lr=3e-3)
    loader = DataLoader(train, batch_size=64, shuffle=True)
    for _ in range(3):  # about 70 steps
        for x, y in loader:
            loss = cr.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    x, y = test[:]
    with cr.no_grad():
        accuracy = (model(x).argmax(-1) == y).float().mean().item()
    assert accuracy > 0.7  # chance is 0.1


def test_registered_in_the_model_registry() -> None:
    assert isinstance(get_model("ViT", image_size=8, patch_size=4, dim=8, depth=1, heads=2, mlp_dim=8), ViT)
