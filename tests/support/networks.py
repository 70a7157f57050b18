"""Small networks for the board tests (the byte protocol and the board top)."""

from __future__ import annotations

import torch
from torch import nn

from logdot.golden.network_torch import export_network
from logdot.golden.nn import quantize_model

__all__ = ["board_net", "random_images"]


def board_net(seed=0):
    """A 3x4x4 CNN (conv 3x3 + ReLU + pool 2 + linear to 5 signed outputs) with 4-bit log
    input codes: 12-bit pixel words, two bytes per pixel on the UART."""
    torch.manual_seed(seed)
    q = quantize_model(
        nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16, 5),
        ),
        weight_format="log2",
        weight_bits=4,
        act_format="log2",
        act_bits=4,
        calib_data=torch.rand(8, 3, 4, 4),
    )
    return export_network(q, (3, 4, 4))


def random_images(net, n, seed):
    """``n`` random images of input codes of ``net`` (seeded)."""
    g = torch.Generator().manual_seed(seed)
    hi = net.input_format.range[1]
    return torch.randint(0, hi + 1, (n, *net.input_shape), generator=g)
