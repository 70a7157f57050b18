"""Small quantized CNNs exported as networks, log or with the multiplier baseline's weights."""

from __future__ import annotations

import torch
from torch import nn

from logdot.golden.network_torch import export_network
from logdot.golden.nn import quantize_model

__all__ = ["LINEAR_FOLD", "linear_cnn", "small_cnn_model"]

#: A folding of :func:`linear_cnn` that tiles every stage (window replay, several beats,
#: output-channel tiles).
LINEAR_FOLD = {0: (3, 2), 2: (9, 2), 4: (5, 2)}


def small_cnn_model(seed=0):
    """The float 8x8 CNN of the network tests (conv + ReLU + pool + strided conv + fc)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16, 3),
    )


def linear_cnn(seed=0, *, weight_bits=5, act_bits=6, path=None):
    """:func:`small_cnn_model` with linear two's-complement weights and unsigned linear
    activations (the multiplier baseline), calibrated on seeded random images, exported."""
    model = small_cnn_model(seed)
    g = torch.Generator().manual_seed(seed)
    q = quantize_model(
        model,
        weight_format="linear",
        weight_bits=weight_bits,
        act_format="linear",
        act_bits=act_bits,
        calib_data=torch.rand(16, 1, 8, 8, generator=g),
    )
    return export_network(q, (1, 8, 8), path), q
