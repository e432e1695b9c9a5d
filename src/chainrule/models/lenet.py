"""LeNet-5 (LeCun et al., 1998): the first convolutional network that read handwritten digits."""

from __future__ import annotations

from chainrule import nn
from chainrule.tensor import Tensor

__all__ = ["LeNet5"]


class LeNet5(nn.Module):
    """conv 5x5 (6) -> pool -> conv 5x5 (16) -> pool -> 120 -> 84 -> classes.

    Made for 32x32 inputs; 28x28 images (MNIST) get ``padding=2`` on the first
    convolution, as is customary. ``in_size`` may be 28 or 32 (or any size
    the two conv/pool stages leave at least 1x1). ReLU and max-pooling stand in
    for the original's scaled tanh and subsampling, as in most modern versions.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, in_size: int = 28) -> None:
        super().__init__()
        pad = 2 if in_size == 28 else 0
        side = ((in_size + 2 * pad - 4) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"LeNet5: input size {in_size} is too small for two 5x5 conv + 2x2 pool stages")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * side * side, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
