"""Batch augmentation (``chainrule.data.transforms``), checked on known images.

Each transform is run on images whose answer is known: an asymmetric image
for flips, a planted unique pixel for crops, ``np.rot90`` and integer shifts
for the affine warp (whose sampling is also compared with PyTorch's
``grid_sample`` on torchvision's grid and matrix), rectangles of a value no
image pixel has for erasing, and moments over many pixels for noise.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF  # noqa: N812
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.data as crd
from chainrule.data import transforms as T  # noqa: N812
from chainrule.random import Generator


def image_batch(n: int = 8, c: int = 3, h: int = 6, w: int = 7, dtype: type = np.float32) -> np.ndarray:
    """Distinct positive values everywhere: no two pixels (or mirror images) alike."""
    return (np.arange(n * c * h * w).reshape(n, c, h, w) + 1).astype(dtype)


# ------------------------------------------------------------------ common behaviour
@pytest.mark.parametrize(
    "transform",
    [
        T.RandomHorizontalFlip(),
        T.RandomVerticalFlip(),
        T.RandomCrop(4, padding=1),
        T.RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5),
        T.RandomAffine(15, interpolation="bilinear"),
        T.GaussianNoise(),
        T.RandomErasing(p=1.0),
        T.Normalize(0.5, 0.25),
    ],
    ids=repr,
)
def test_batch_single_image_dtype_and_no_grad(transform) -> None:
    x = image_batch(4, 2, 6, 6) / 200
    out = transform(cr.tensor(x, requires_grad=True))
    assert isinstance(out, cr.Tensor) and out.dtype == np.float32 and not out.requires_grad
    assert out.shape[:2] == (4, 2)
    single = transform(x[0])  # a NumPy (C, H, W) image
    assert isinstance(single, cr.Tensor) and single.shape == out.shape[1:]
    x64 = transform(x.astype(np.float64))
    assert x64.dtype == np.float64
    before = x.copy()
    transform(x)
    np.testing.assert_array_equal(x, before)  # the input is never modified without inplace=True


def test_same_seed_same_output_and_generators() -> None:
    x = image_batch(16, 3, 8, 8) / 1000
    aug = T.Compose(
        [
            T.RandomCrop(8, padding=2),
            T.RandomHorizontalFlip(),
            T.RandomAffine(20, translate=(0.2, 0.2), scale=(0.8, 1.2)),
            T.RandomErasing(p=0.7),
            T.GaussianNoise(sigma=0.05),
        ]
    )
    cr.manual_seed(3)
    a = aug(x).numpy()
    cr.manual_seed(3)
    b = aug(x).numpy()
    cr.manual_seed(4)
    c = aug(x).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # a private generator: reproducible on its own, and untouched by the global seed
    g1 = T.RandomAffine(30, generator=Generator(7))(x).numpy()
    cr.manual_seed(99)
    g2 = T.RandomAffine(30, generator=Generator(7))(x).numpy()
    np.testing.assert_array_equal(g1, g2)


@pytest.mark.parametrize("bad", [np.zeros((4, 4)), np.zeros((1, 1, 1, 4, 4)), np.zeros(3)])
def test_wrong_rank_is_a_clear_error(bad) -> None:
    with pytest.raises(ValueError, match=r"RandomCrop: expected an image batch of shape \(N, C, H, W\)"):
        T.RandomCrop(2)(bad)


def test_wrong_input_type_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="RandomHorizontalFlip: expected a Tensor or NumPy array"):
        T.RandomHorizontalFlip()([[[[1.0]]]])


# ------------------------------------------------------------------ flips
def test_horizontal_flip_flips_some_samples_and_leaves_the_others() -> None:
    x = image_batch(64, 2, 3, 5)
    out = T.RandomHorizontalFlip(p=0.5)(cr.tensor(x)).numpy()
    flipped = np.array([np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)])
    same = np.array([np.array_equal(o, xi) for o, xi in zip(out, x)])
    assert np.all(flipped ^ same)  # every sample is exactly one of the two
    assert 0 < flipped.sum() < 64


def test_vertical_flip() -> None:
    x = image_batch(4, 1, 3, 5)
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(x).numpy(), x[:, :, ::-1])


def test_flip_edge_probabilities_and_rate() -> None:
    x = image_batch(5)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x).numpy(), x)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x).numpy(), x[..., ::-1])
    # about p of many samples flip: a 1x1x2 image [0, 1] flipped starts with 1
    many = np.tile(np.array([0.0, 1.0], dtype=np.float32), (20000, 1, 1, 1))
    rate = T.RandomHorizontalFlip(p=0.3)(many).numpy()[:, 0, 0, 0].mean()
    assert abs(rate - 0.3) < 0.02


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", None])
def test_probability_out_of_range(p) -> None:
    with pytest.raises(ValueError, match="RandomHorizontalFlip: p should be a probability between 0 and 1"):
        T.RandomHorizontalFlip(p=p)
    with pytest.raises(ValueError, match="RandomErasing: p should be a probability between 0 and 1"):
        T.RandomErasing(p=p)


# ------------------------------------------------------------------ RandomCrop
def test_crop_with_padding_places_a_planted_pixel_at_every_offset() -> None:
    n, pad = 400, 2
    x = np.zeros((n, 1, 5, 5), dtype=np.float32)
    x[:, 0, 1, 3] = 7.0  # the unique pixel, at row 1, column 3
    out = T.RandomCrop(5, padding=pad)(x).numpy()
    offsets = set()
    for o in out:
        rows, cols = np.nonzero(o[0] == 7.0)
        if rows.size == 0:  # cropped away: only possible when the offset leaves it outside
            continue
        assert rows.size == 1
        top, left = 1 + pad - rows[0], 3 + pad - cols[0]
        assert 0 <= top <= 2 * pad and 0 <= left <= 2 * pad
        padded = np.pad(x[0, 0], pad)
        np.testing.assert_array_equal(o[0], padded[top : top + 5, left : left + 5])
        offsets.add((int(top), int(left)))
    # every offset that keeps the pixel (row 3, column 5 of the padded 9x9) inside turns up
    assert offsets == {(t, lft) for t in range(0, 4) for lft in range(1, 5)}


@given(
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    pad=st.lists(st.integers(0, 3), min_size=4, max_size=4),
    mode=st.sampled_from(["constant", "edge", "reflect", "symmetric"]),
)
@settings(max_examples=25)
def test_crop_of_the_whole_padded_image_is_np_pad(h, w, pad, mode) -> None:
    # a crop as large as the padded image has one place to go: it must equal np.pad
    if mode == "reflect" and (max(pad[0], pad[2]) >= w or max(pad[1], pad[3]) >= h):
        pad = [0, 0, 0, 0]
    x = image_batch(3, 2, h, w)
    left, top, right, bottom = pad
    crop = T.RandomCrop((h + top + bottom, w + left + right), padding=pad, fill=-1, padding_mode=mode)
    kwargs = {"constant_values": -1} if mode == "constant" else {}
    want = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=mode, **kwargs)
    np.testing.assert_array_equal(crop(x).numpy(), want)


def test_crop_padding_forms_and_per_channel_fill() -> None:
    x = image_batch(2, 2, 3, 4)
    # (1, 2): 1 on the left and right, 2 on the top and bottom
    two = T.RandomCrop((3 + 2 * 2, 4 + 2 * 1), padding=(1, 2), fill=(5, 6))(x).numpy()
    assert two.shape == (2, 2, 7, 6)
    np.testing.assert_array_equal(two[:, :, 2:5, 1:5], x)
    assert np.all(two[:, 0, :2] == 5) and np.all(two[:, 1, :, 0] == 6)


def test_crop_pad_if_needed_and_size_forms() -> None:
    x = image_batch(2, 1, 3, 3)
    out = T.RandomCrop((5, 7), pad_if_needed=True)(x).numpy()
    assert out.shape == (2, 1, 5, 7)
    assert all(np.isin(x[i], out[i]).all() for i in range(2))  # the whole image survives
    assert T.RandomCrop([2])(x).shape == (2, 1, 2, 2)
    uint8 = T.RandomCrop(3, padding=1, fill=9)(x.astype(np.uint8))
    assert uint8.dtype == np.uint8


def test_crop_errors() -> None:
    with pytest.raises(ValueError, match="RandomCrop: size should be positive"):
        T.RandomCrop(-2)
    with pytest.raises(ValueError, match="RandomCrop: size should be positive"):
        T.RandomCrop((3, 0))
    with pytest.raises(ValueError, match="RandomCrop: padding should be non-negative"):
        T.RandomCrop(3, padding=-1)
    with pytest.raises(ValueError, match="RandomCrop: padding should be an int or a sequence of 1, 2 or 4"):
        T.RandomCrop(3, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="RandomCrop: padding_mode should be one of"):
        T.RandomCrop(3, padding_mode="wrap")
    with pytest.raises(ValueError, match=r"RandomCrop: crop size \(9, 9\) is larger than the padded image"):
        T.RandomCrop(9, padding=1)(image_batch(2, 1, 5, 5))
    with pytest.raises(ValueError, match=r"RandomCrop: crop size \(9, 9\) is larger than the image size"):
        T.RandomCrop(9)(image_batch(2, 1, 5, 5))
    with pytest.raises(ValueError, match="RandomCrop: fill has 2 values but the images have 3 channels"):
        T.RandomCrop(3, padding=1, fill=(1, 2))(image_batch(2, 3, 5, 5))


# ------------------------------------------------------------------ RandomAffine
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_affine_identity(interpolation) -> None:
    x = image_batch(4, 3, 5, 7)
    out = T.RandomAffine(0, translate=(0, 0), scale=(1, 1), shear=0, interpolation=interpolation)(x)
    np.testing.assert_array_equal(out.numpy(), x)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize(("angle", "k"), [(90, -1), (-90, 1), (180, 2), (270, 1)])
def test_affine_right_angles_are_rot90(interpolation, angle, k) -> None:
    # torchvision's affine angle turns the picture clockwise: np.rot90 with k = -angle / 90
    x = image_batch(3, 2, 6, 6)
    out = T.RandomAffine((angle, angle), interpolation=interpolation)(x).numpy()
    np.testing.assert_allclose(out, np.rot90(x, k=k, axes=(2, 3)), atol=1e-3)


@pytest.mark.parametrize(("tx", "ty"), [(2, 0), (0, 3), (-1, 2)])
def test_affine_translation_shifts_by_whole_pixels(tx, ty) -> None:
    x = image_batch(2, 1, 5, 6)
    out = T.affine(x, angle=0, translate=(tx, ty), scale=1, shear=0, fill=-1).numpy()
    want = np.full_like(x, -1)
    src = x[:, :, max(0, -ty) : 5 - max(0, ty), max(0, -tx) : 6 - max(0, tx)]
    want[:, :, max(0, ty) : 5 - max(0, -ty), max(0, tx) : 6 - max(0, -tx)] = src
    np.testing.assert_array_equal(out, want)


def test_random_translation_is_a_whole_pixel_shift_within_bounds() -> None:
    n, h, w = 200, 8, 10
    x = np.zeros((n, 1, h, w), dtype=np.float32)
    x[:, 0, 4, 5] = 1.0
    out = T.RandomAffine(0, translate=(0.2, 0.25))(x).numpy()
    shifts = set()
    for o in out:
        r, c = np.nonzero(o[0])
        assert r.size == 1 and o[0].sum() == 1.0  # moved, not blurred
        dy, dx = int(r[0]) - 4, int(c[0]) - 5
        assert abs(dx) <= 0.2 * w and abs(dy) <= 0.25 * h
        shifts.add((dy, dx))
    assert len(shifts) > 10


def test_affine_scale_and_per_sample_parameters() -> None:
    x = np.ones((2, 1, 8, 8), dtype=np.float32)
    for interpolation in ("nearest", "bilinear"):
        out = T.affine(x, 0, (0, 0), 0.5, 0, interpolation=interpolation, fill=3).numpy()
        want = np.full_like(x, 3)
        want[:, :, 2:6, 2:6] = 1
        np.testing.assert_array_equal(out, want)
    y = image_batch(2, 1, 4, 4)
    both = T.affine(y, angle=np.array([90.0, 0.0]), translate=np.array([[0, 0], [1, 0]]), scale=1, shear=0)
    np.testing.assert_array_equal(both.numpy()[0], np.rot90(y[0], k=-1, axes=(1, 2)))
    np.testing.assert_array_equal(both.numpy()[1, :, :, 1:], y[1, :, :, :-1])


def _torchvision_inverse_matrix(center, angle, translate, scale, shear):
    """torchvision.transforms.functional._get_inverse_affine_matrix, written out independently."""
    rot, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [x / scale for x in [d, -b, 0.0, -c, a, 0.0]]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty) + cx
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty) + cy
    return m


def _torch_affine(img, angle, translate, scale, shear, interpolation, fill):
    """torchvision's grid (its ``_gen_affine_grid``) sampled by PyTorch's grid_sample.

    Points outside the image take ``fill``: ``grid_sample(img - fill) + fill``
    with zero padding. (torchvision itself blends bilinear borders with a
    mask, which darkens them: pytorch/vision#8083; chainrule does not copy it.)
    """
    _, h, w = img.shape
    m = _torchvision_inverse_matrix((0.0, 0.0), angle, translate, scale, shear)
    theta = torch.tensor(m).reshape(1, 2, 3)
    base = torch.empty(1, h, w, 3, dtype=torch.float64)
    base[..., 0] = torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, steps=w)
    base[..., 1] = torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, steps=h).unsqueeze(-1)
    base[..., 2] = 1
    half = torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float64)
    grid = base.view(1, h * w, 3).bmm(theta.transpose(1, 2) / half).view(1, h, w, 2)
    t = torch.tensor(img, dtype=torch.float64)[None] - fill
    out = TF.grid_sample(t, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    return (out + fill)[0].numpy()


@given(
    angle=st.floats(-180, 180),
    tx=st.integers(-3, 3),
    ty=st.integers(-3, 3),
    scale=st.floats(0.5, 1.5),
    shear=st.tuples(st.floats(-20, 20), st.floats(-20, 20)),
    size=st.tuples(st.integers(3, 9), st.integers(3, 9)),
    interpolation=st.sampled_from(["nearest", "bilinear"]),
)
def test_affine_matches_torch_grid_sample(angle, tx, ty, scale, shear, size, interpolation) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, *size))
    ours = T.affine(x, angle, (tx, ty), scale, shear, interpolation=interpolation, fill=0.5).numpy()
    for i in range(2):
        want = _torch_affine(x[i], angle, (tx, ty), scale, shear, interpolation, 0.5)
        if interpolation == "nearest":
            # a sample point exactly halfway between pixels may round either way: allow a few
            assert np.mean(np.isclose(ours[i], want, atol=1e-6)) > 0.9
        else:
            np.testing.assert_allclose(ours[i], want, atol=1e-6)


def test_affine_integer_images_and_center() -> None:
    x = image_batch(2, 1, 4, 4, dtype=np.uint8)
    out = T.affine(x, 17, (1, 0), 1.1, 0, interpolation="bilinear", fill=255)
    exact = T.affine(x.astype(np.float64), 17, (1, 0), 1.1, 0, interpolation="bilinear", fill=255)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out.numpy(), np.rint(exact.numpy()))  # interpolated, then rounded
    rgb = T.affine(image_batch(2, 3, 4, 4), 0, (2, 0), 1, 0, fill=(-1, -2, -3)).numpy()
    np.testing.assert_array_equal(
        rgb[:, :, :, :2], np.broadcast_to(np.array([-1.0, -2, -3])[:, None, None], (2, 3, 4, 2))
    )
    # shrinking by 2 about the top-left corner keeps every other pixel in the top-left quarter
    y = image_batch(2, 1, 6, 6, dtype=np.uint8)
    corner = T.affine(y, 0, (0, 0), 0.5, 0, center=(0, 0), fill=0).numpy()
    want = np.zeros_like(y)
    want[:, :, :3, :3] = y[:, :, ::2, ::2]
    np.testing.assert_array_equal(corner, want)
    # the middle of the image (W/2, H/2) is the default centre
    middle = T.affine(y, 90, (0, 0), 1, 0, center=(3, 3)).numpy()
    np.testing.assert_array_equal(middle, np.rot90(y, k=-1, axes=(2, 3)))


def test_affine_errors() -> None:
    with pytest.raises(ValueError, match="RandomAffine: if degrees is a single number, it must be non-neg"):
        T.RandomAffine(-5)
    with pytest.raises(ValueError, match="RandomAffine: translate values should be between 0 and 1"):
        T.RandomAffine(0, translate=(0.5, 1.5))
    with pytest.raises(ValueError, match="RandomAffine: translate values should be at least 0"):
        T.RandomAffine(0, translate=(-0.1, 0.1))
    with pytest.raises(ValueError, match="RandomAffine: scale values should be greater than 0"):
        T.RandomAffine(0, scale=(0, 1))
    with pytest.raises(ValueError, match=r"RandomAffine: degrees should be a finite \(min, max\) pair"):
        T.RandomAffine((10, -10))
    with pytest.raises(ValueError, match="RandomAffine: interpolation should be one of"):
        T.RandomAffine(0, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"affine: angle should be a number or an array of shape \(2,\)"):
        T.affine(image_batch(2), np.zeros(3), (0, 0), 1, 0)
    with pytest.raises(ValueError, match="affine: scale should be positive"):
        T.affine(image_batch(2), 0, (0, 0), -1, 0)


# ------------------------------------------------------------------ GaussianNoise
def test_noise_has_the_requested_moments() -> None:
    x = np.zeros((50, 2, 50, 40), dtype=np.float32)
    out = T.GaussianNoise(mean=0.1, sigma=0.2, clip=False)(x).numpy()
    assert out.dtype == np.float32
    assert abs(out.mean() - 0.1) < 0.005 and abs(out.std() - 0.2) < 0.005
    clipped = T.GaussianNoise(mean=0.0, sigma=0.5)(x + 0.5).numpy()
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    np.testing.assert_array_equal(T.GaussianNoise(sigma=0.0, clip=False)(x + 0.25).numpy(), x + 0.25)


def test_noise_errors() -> None:
    with pytest.raises(ValueError, match="GaussianNoise: sigma should be a non-negative number"):
        T.GaussianNoise(sigma=-0.1)
    with pytest.raises(TypeError, match="GaussianNoise: expected floating-point images, got uint8"):
        T.GaussianNoise()(np.zeros((1, 1, 2, 2), dtype=np.uint8))


# ------------------------------------------------------------------ RandomErasing
def _erased_boxes(out: np.ndarray, value: float) -> list[tuple[int, int] | None]:
    """(h, w) of each sample's erased rectangle, checking it is one full rectangle in every channel."""
    boxes = []
    for o in out:
        hit = o == value
        assert np.all(hit == hit[0])  # the same pixels in every channel
        rows, cols = np.nonzero(hit[0])
        if rows.size == 0:
            boxes.append(None)
            continue
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert rows.size == h * w  # a full rectangle
        boxes.append((int(h), int(w)))
    return boxes


def test_erasing_sets_a_rectangle_within_the_bounds() -> None:
    x = image_batch(300, 3, 20, 24)
    scale, ratio = (0.05, 0.3), (0.5, 2.0)
    out = T.RandomErasing(p=1.0, scale=scale, ratio=ratio, value=-1)(x).numpy()
    boxes = _erased_boxes(out, -1.0)
    assert all(b is not None for b in boxes)
    np.testing.assert_array_equal(out[out != -1], x[out != -1])  # nothing else changes
    for h, w in boxes:
        # h and w are rounded to whole pixels: allow half a pixel on each
        area = 20 * 24
        assert (h - 0.5) * (w - 0.5) / area <= scale[1] and (h + 0.5) * (w + 0.5) / area >= scale[0]
        assert (h - 0.5) / (w + 0.5) <= ratio[1] and (h + 0.5) / (w - 0.5) >= ratio[0]
    assert len({b for b in boxes}) > 20  # sizes vary per sample


def test_erasing_probability_values_and_inplace() -> None:
    x = image_batch(4000, 1, 10, 10)
    out = T.RandomErasing(p=0.25, scale=(0.1, 0.1), ratio=(1, 1), value=-1)(x).numpy()
    rate = np.mean([b is not None for b in _erased_boxes(out, -1.0)])
    assert abs(rate - 0.25) < 0.03
    np.testing.assert_array_equal(T.RandomErasing(p=0.0)(x[:5]).numpy(), x[:5])
    # a box that cannot fit (the whole image) is never erased, as in torchvision
    np.testing.assert_array_equal(T.RandomErasing(p=1.0, scale=(1, 1), ratio=(1, 1))(x[:5]).numpy(), x[:5])
    rgb = T.RandomErasing(p=1.0, value=(-1, -2, -3))(image_batch(5, 3, 8, 8)).numpy()
    for ch, v in enumerate((-1, -2, -3)):
        assert np.any(rgb[:, ch] == v) and not np.any(np.isin(rgb[:, ch], [-1, -2, -3]) & (rgb[:, ch] != v))
    noisy = T.RandomErasing(p=1.0, value="random")(image_batch(5, 2, 8, 8)).numpy()
    assert np.any(noisy < 0)  # image values are positive; the standard-normal fill is not
    y = image_batch(3, 1, 8, 8)
    out = T.RandomErasing(p=1.0, value=0, inplace=True)(y)
    assert np.shares_memory(out.numpy(), y) and np.any(y == 0)


def test_erasing_errors() -> None:
    with pytest.raises(ValueError, match="RandomErasing: scale should be between 0 and 1"):
        T.RandomErasing(scale=(0.5, 2))
    with pytest.raises(ValueError, match=r"RandomErasing: scale should be a finite \(min, max\) pair"):
        T.RandomErasing(scale=(0.5, 0.1))
    with pytest.raises(ValueError, match="RandomErasing: ratio values should be greater than 0"):
        T.RandomErasing(ratio=(0, 1))
    with pytest.raises(ValueError, match="RandomErasing: value should be a number, a sequence of numbers or"):
        T.RandomErasing(value="noise")
    with pytest.raises(ValueError, match="RandomErasing: value has 2 values but the images have 3 channels"):
        T.RandomErasing(p=1.0, value=(1, 2))(image_batch(2, 3, 8, 8))
    with pytest.raises(TypeError, match="RandomErasing with value='random': expected floating-point images"):
        T.RandomErasing(value="random")(image_batch(2, 3, 8, 8, dtype=np.uint8))
    with pytest.raises(ValueError, match="RandomErasing: inplace=True needs a writable array"):
        T.RandomErasing(inplace=True)(np.broadcast_to(image_batch(1), (2, 3, 6, 7)))


# ------------------------------------------------------------------ Normalize and Compose
def test_normalize_matches_per_channel_formula() -> None:
    x = np.random.default_rng(0).random((5, 3, 4, 4)).astype(np.float32)
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 2.0]
    want = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(T.Normalize(mean, std)(cr.tensor(x)).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(T.Normalize(0.5, 2)(x).numpy(), (x - 0.5) / 2, rtol=1e-6)
    y = x.copy()
    out = T.Normalize(mean, std, inplace=True)(y)
    assert np.shares_memory(out.numpy(), y)
    np.testing.assert_allclose(y, want, rtol=1e-6)


def test_normalize_errors() -> None:
    with pytest.raises(ValueError, match="Normalize: std should be finite and non-zero"):
        T.Normalize([0.5, 0.5], [1.0, 0.0])
    with pytest.raises(ValueError, match="Normalize: mean has 2 values but the images have 3 channels"):
        T.Normalize([0.5, 0.5], [1.0, 1.0])(image_batch(1, 3, 2, 2))
    with pytest.raises(TypeError, match="Normalize: expected floating-point images, got int64"):
        T.Normalize(0, 1)(np.zeros((1, 1, 2, 2), dtype=np.int64))
    with pytest.raises(TypeError, match="Normalize: mean should be a number or a sequence of numbers"):
        T.Normalize("a", 1)
    # a std that is not 0 but rounds to 0 in the images' dtype, as torchvision checks (no inf images)
    tiny = T.Normalize(0.0, [1.0, 1e-50])
    assert np.isfinite(tiny(image_batch(1, 2, 2, 2, dtype=np.float64)).numpy()).all()
    with pytest.raises(ValueError, match=r"Normalize: std .* evaluated to zero after conversion to float32"):
        tiny(image_batch(1, 2, 2, 2))
    with pytest.raises(ValueError, match="evaluated to zero after conversion to float16"):
        T.Normalize(0.0, 1e-8)(np.ones((1, 1, 2, 2), np.float16))


def test_compose_applies_in_order() -> None:
    x = image_batch(2, 1, 3, 3)
    first, second = T.Normalize(1.0, 2.0), T.Normalize(3.0, 1.0)
    out = T.Compose([first, second])(x).numpy()
    np.testing.assert_allclose(out, (x - 1) / 2 - 3, rtol=1e-6)
    assert not np.allclose(out, (x - 3 - 1) / 2)
    calls = []
    T.Compose([lambda b: calls.append("a") or b, lambda b: calls.append("b") or b])(x)
    assert calls == ["a", "b"]
    assert T.Compose([])(x) is x
    with pytest.raises(TypeError, match=r"Compose: transforms\[1\] is not callable"):
        T.Compose([first, 3])


def test_custom_transform_subclass() -> None:
    class Invert(T.Transform):
        def _apply(self, x: np.ndarray) -> np.ndarray:
            return 1 - x

    x = image_batch(2, 1, 2, 2) / 10
    np.testing.assert_allclose(Invert()(x[0]).numpy(), 1 - x[0])
    assert repr(Invert()) == "Invert()"
    with pytest.raises(TypeError):
        T.Transform()


def test_reprs() -> None:
    aug = T.Compose([T.RandomCrop(28, padding=4), T.RandomHorizontalFlip(p=0.25), T.Normalize([0.5], [0.2])])
    assert repr(aug) == (
        "Compose(\n"
        "    RandomCrop(size=(28, 28), padding=4, pad_if_needed=False, fill=0, padding_mode='constant')\n"
        "    RandomHorizontalFlip(p=0.25)\n"
        "    Normalize(mean=[0.5], std=[0.2], inplace=False)\n"
        ")"
    )
    assert repr(T.GaussianNoise()) == "GaussianNoise(mean=0.0, sigma=0.1, clip=True)"
    assert repr(T.RandomErasing()) == (
        "RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False)"
    )
    assert repr(T.RandomAffine(10, translate=(0.1, 0.1))).startswith(
        "RandomAffine(degrees=(-10.0, 10.0), translate=(0.1, 0.1), scale=None"
    )


# ------------------------------------------------------------------ with the DataLoader
def test_dataloader_applies_the_transform_to_inputs_only() -> None:
    x = image_batch(10, 1, 4, 5)
    y = np.arange(10)
    ds = crd.TensorDataset(cr.tensor(x), cr.tensor(y))
    train = crd.DataLoader(ds, batch_size=4, transform=T.Compose([T.RandomHorizontalFlip(p=1.0)]))
    val = crd.DataLoader(ds, batch_size=4)
    for (xb, yb), (xv, yv) in zip(train, val, strict=True):
        np.testing.assert_array_equal(xb.numpy(), xv.numpy()[..., ::-1])
        np.testing.assert_array_equal(yb.numpy(), yv.numpy())
        assert xb.dtype == np.float32
