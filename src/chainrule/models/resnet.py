"""Residual networks (He et al., 2015) with torchvision's module names, so its weights load unchanged.

A residual block learns a correction ``F(x)`` to its input and outputs
``relu(x + F(x))``: the identity path lets gradients reach early layers
undiminished, which is what makes 18, 50 or 152 layers trainable. ``BasicBlock``
(two 3x3 convolutions) builds ResNet-18/34; ``Bottleneck`` (1x1 reduce, 3x3,
1x1 expand by 4) builds ResNet-50. ``resnet_small`` adapts the design to
28x28 or 32x32 images (a 3x3 stem, no max-pool).
"""

from __future__ import annotations

from collections.abc import Sequence

from chainrule import nn
from chainrule.tensor import Tensor

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50", "resnet_small"]


def _conv3x3(
    in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    return nn.Conv2d(
        in_planes,
        out_planes,
        3,
        stride=stride,
        padding=dilation,
        groups=groups,
        bias=False,
        dilation=dilation,
    )


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """``relu(x + bn(conv3x3(relu(bn(conv3x3(x))))))``; ``downsample`` reshapes x when the size changes."""

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None, **_: object
    ) -> None:
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 conv down to ``planes``, 3x3 conv (strided), 1x1 conv up to ``4 * planes``, plus the shortcut."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = _conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride, groups, dilation)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """The ResNet trunk: stem, four stages of residual blocks, global average pool, classifier.

    ``small_input=True`` replaces the 7x7/2 stem and its max-pool with one
    3x3/1 convolution, so 28x28 or 32x32 images keep their resolution.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        in_channels: int = 3,
        zero_init_residual: bool = False,
        width: int = 64,
        small_input: bool = False,
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNet: layers must list 4 stage depths, got {list(layers)}")
        self.inplanes = width
        if small_input:
            self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)

        # torchvision's initialisation: He-normal convolutions, unit batch-norm scales
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:  # each block starts as the identity
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def _no_pretrained(weights: object, name: str) -> None:
    """Accept torchvision's ``weights=None``; refuse named pretrained weights, which are not bundled."""
    if weights is None or weights is False:
        return
    raise ValueError(
        f"{name}(weights={weights!r}): pretrained weights are not bundled with chainrule and are not "
        f"downloaded. Build the model with weights=None and load a local safetensors file: "
        f"model = {name}(weights=None); model.load_state_dict(cr.load('{name}.safetensors')) "
        "(a torchvision state_dict saved with safetensors.torch.save_file loads unchanged)"
    )


def resnet18(
    num_classes: int = 1000, *, weights: object = None, progress: bool = True, **kwargs: object
) -> ResNet:
    """ResNet-18: BasicBlocks [2, 2, 2, 2]; state_dict keys and shapes as torchvision's ``resnet18``.

    ``weights`` is torchvision's argument: None (random init) only, since no
    pretrained weights are bundled; ``progress`` is accepted and unused.
    """
    _no_pretrained(weights, "resnet18")
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, **kwargs)


def resnet34(
    num_classes: int = 1000, *, weights: object = None, progress: bool = True, **kwargs: object
) -> ResNet:
    """ResNet-34: BasicBlocks [3, 4, 6, 3] (``weights``: None only, as in :func:`resnet18`)."""
    _no_pretrained(weights, "resnet34")
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


def resnet50(
    num_classes: int = 1000, *, weights: object = None, progress: bool = True, **kwargs: object
) -> ResNet:
    """ResNet-50: Bottlenecks [3, 4, 6, 3] (``weights``: None only, as in :func:`resnet18`)."""
    _no_pretrained(weights, "resnet50")
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes=num_classes, **kwargs)


def resnet_small(num_classes: int = 10, in_channels: int = 1, width: int = 16, blocks: int = 1) -> ResNet:
    """A small ResNet for 28x28 / 32x32 images: 3x3 stem, ``blocks`` BasicBlocks per stage."""
    return ResNet(
        BasicBlock,
        [blocks] * 4,
        num_classes=num_classes,
        in_channels=in_channels,
        width=width,
        small_input=True,
    )
