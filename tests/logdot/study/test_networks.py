"""logdot.study.networks: the float models shared by tests, cocotb benches and benchmarks."""

import torch
from torch import nn

from logdot.study.networks import small_cnn_layers


def test_small_cnn_layers_shapes():
    for channels in (1, 2):
        layers = small_cnn_layers(channels)
        assert [type(m) for m in layers] == [
            nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Conv2d, nn.ReLU, nn.Flatten, nn.Linear
        ]  # fmt: skip
        assert layers[0].in_channels == channels
        assert (layers[3].stride, layers[3].padding) == ((2, 2), (1, 1))
        out = nn.Sequential(*layers)(torch.zeros(2, channels, 8, 8))
        assert tuple(out.shape) == (2, 3)


def test_small_cnn_layers_are_fresh_modules():
    a, b = small_cnn_layers(), small_cnn_layers()
    assert all(x is not y for x, y in zip(a, b, strict=True))
