"""The VGG-19 loss network of AdaIN/StyTr² (`vgg_normalised.pth`), up to relu5_1.

Used only by the training losses: content loss on normalised relu4_1/relu5_1 features, style
loss on the mean and std of relu1_1..relu5_1. Layer indices follow the official file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from export.checks import check_config

# (in, out) channels of the 3×3 convs up to relu5_1; "M" is a 2×2 max-pool (ceil mode).
_LAYOUT = [
    (3, 64),
    (64, 64),
    "M",
    (64, 128),
    (128, 128),
    "M",
    (128, 256),
    (256, 256),
    (256, 256),
    (256, 256),
    "M",
    (256, 512),
    (512, 512),
    (512, 512),
    (512, 512),
    "M",
    (512, 512),
]
# Slices of the sequential ending at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
STAGES = ((0, 4), (4, 11), (11, 18), (18, 31), (31, 44))


@dataclass
class VGGConfig:
    model_type: ClassVar[str] = "vgg-normalised"
    last_layer: str = "relu5_1"

    def __post_init__(self):
        check_config(self)


class VGGEncoder(nn.Module):
    def __init__(self, config: VGGConfig | None = None):
        super().__init__()
        self.config = config or VGGConfig()
        layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                layers += [nn.ReflectionPad2d(1), nn.Conv2d(*item, 3), nn.ReLU()]
        self.layers = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image (B, 3, H, W) in [0, 1] → {"relu1_1": …, …, "relu5_1": …}."""
        out, x = {}, image
        for i, (start, stop) in enumerate(STAGES):
            x = self.layers[start:stop](x)
            out[f"relu{i + 1}_1"] = x
        return out
