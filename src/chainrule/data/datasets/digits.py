"""The 8x8 handwritten digits bundled with scikit-learn: a small real dataset that needs no download.

1797 grey-scale images of the digits 0-9 (about 180 per class), pixels 0-16.
Small enough to train on in seconds, real enough to show over-fitting, which
makes it the dataset of chainrule's examples and end-to-end tests.
"""

from __future__ import annotations

import numpy as np

from chainrule.data.dataset import TensorDataset
from chainrule.tensor import Tensor

SPLIT_SEED = 0


def load_digits(test_size: float | int = 0.2, flatten: bool = True) -> tuple[TensorDataset, TensorDataset]:
    """The digits as ``(train, test)`` TensorDatasets of ``(pixels, label)``.

    Pixels are float32 in [0, 1] (the raw 0-16 values divided by 16), shape
    ``(N, 64)``, or ``(N, 1, 8, 8)`` images with ``flatten=False``; labels are
    int64 in 0-9. The split is fixed: scikit-learn's
    ``train_test_split(X, y, test_size=test_size, stratify=y, random_state=0)``,
    so every class keeps its share in both parts and the split is the same in
    every run, whatever chainrule's global seed. ``test_size`` is a fraction in
    (0, 1) or a number of test samples (at least 10, one per class); the
    default 0.2 gives 1437 training and 360 test images.
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ImportError(
            "load_digits needs scikit-learn: pip install 'chainrule[datasets]'"
        ) from None
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"load_digits: test_size should be a float or an int, got {type(test_size).__name__}")
    if isinstance(test_size, (float, np.floating)) and not 0 < test_size < 1:
        raise ValueError(f"load_digits: test_size as a fraction should be in (0, 1), got {test_size}")
    x, y = _sk_load_digits(return_X_y=True)
    try:
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=test_size, stratify=y, random_state=SPLIT_SEED
        )
    except ValueError as e:
        raise ValueError(
            f"load_digits: cannot split {len(y)} images with test_size={test_size}: {e}"
        ) from None
    shape = (-1, 64) if flatten else (-1, 1, 8, 8)

    def part(pixels: np.ndarray, labels: np.ndarray) -> TensorDataset:
        images = (pixels.astype(np.float32) / np.float32(16)).reshape(shape)
        return TensorDataset(Tensor._make(images, None), Tensor._make(labels.astype(np.int64), None))

    return part(x_train, y_train), part(x_test, y_test)
