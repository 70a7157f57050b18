"""Float models of the small networks that the tests, the cocotb benches and the benchmarks
share (quantized with :func:`logdot.golden.nn.quantize_model` and exported with
:func:`logdot.golden.network_torch.export_network` by their users).

The benchmarks cannot import ``tests/``; ``tests/support/networks.py`` builds its networks
from these.
"""

from __future__ import annotations

from torch import nn

__all__ = ["small_cnn_layers"]


def small_cnn_layers(in_channels=1):
    """The modules of the 8x8-image CNN: conv 3x3 (pad 1, 3 channels) + ReLU + pool 2, a
    strided conv 3x3 (stride 2, 4 channels) + ReLU, flatten, fc 16 -> 3 (a list, in order)."""
    return [
        nn.Conv2d(in_channels, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16, 3),
    ]
