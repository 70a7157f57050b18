"""Small quantized networks shared by the network tests (golden, hdl, compiler, simulators).

Each builder seeds torch, quantizes a tiny ``nn.Sequential`` with log weights and log
activations on random calibration data and exports it with
:func:`logdot.golden.network_torch.export_network`, so every suite tests the same designs.
"""

from __future__ import annotations

import torch
from torch import nn

from logdot.golden.network_torch import export_network
from logdot.golden.nn import quantize_model

__all__ = [
    "LINEAR_FOLD",
    "TILED_FOLD",
    "board_net",
    "conv_pool",
    "linear_cnn",
    "mlp",
    "quantized_network",
    "random_images",
    "rect_net",
    "small_cnn",
    "small_cnn_model",
    "twoterm_cnn",
]

#: A folding of :func:`small_cnn` with every stage tiled (window replay, gearbox, several
#: beats per dot product), as ``{layer index: (lanes, PEs)}``.
TILED_FOLD = {0: (3, 2), 2: (9, 2), 4: (5, 2)}


def quantized_network(make_layers, input_shape, *, seed=0, act_bits=4, weight_bits=4):
    """Quantize ``nn.Sequential(*make_layers())`` (log2 weights and activations), export it.

    Parameters
    ----------
    make_layers : callable
        Returns the float model's modules, in order; called after ``torch.manual_seed(seed)``
        (the calibration batch is drawn next from the same generator).
    input_shape : tuple of int
        ``(C, H, W)`` of one image.
    seed : int
        Seeds the modules' initial weights and the calibration batch.
    act_bits, weight_bits : int
        Widths of the log activation and weight codes.

    Returns
    -------
    logdot.golden.network.Network
    """
    torch.manual_seed(seed)
    model = nn.Sequential(*make_layers())
    q = quantize_model(
        model,
        weight_format="log2",
        weight_bits=weight_bits,
        act_format="log2",
        act_bits=act_bits,
        calib_data=torch.rand(8, *input_shape),
    )
    return export_network(q, tuple(input_shape))


#: A folding of :func:`linear_cnn` (the same network as :func:`small_cnn`).
LINEAR_FOLD = TILED_FOLD


def _small_cnn_layers():
    return [
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16, 3),
    ]


def small_cnn(seed=0):
    """8x8 image: conv 3x3 (pad 1) + ReLU + pool 2, strided conv (stride 2) + ReLU, fc 16->3."""
    return quantized_network(_small_cnn_layers, (1, 8, 8), seed=seed)


def small_cnn_model(seed=0):
    """The float model of :func:`small_cnn` (seeded the same way)."""
    torch.manual_seed(seed)
    return nn.Sequential(*_small_cnn_layers())


def linear_cnn(seed=0, *, weight_bits=5, act_bits=6, path=None):
    """:func:`small_cnn_model` with linear two's-complement weights and unsigned linear
    activations (the multiplier baseline), calibrated on seeded random images, exported;
    ``(network, quantized model)``."""
    return _small_cnn_linear_acts(seed, "linear", weight_bits, act_bits, path)


def _small_cnn_linear_acts(seed, weight_format, weight_bits, act_bits, path):
    """:func:`small_cnn_model` quantized with ``weight_format`` weights and unsigned linear
    activations, calibrated on 16 seeded random images, exported; ``(network, model)``."""
    model = small_cnn_model(seed)
    g = torch.Generator().manual_seed(seed)
    q = quantize_model(
        model,
        weight_format=weight_format,
        weight_bits=weight_bits,
        act_format="linear",
        act_bits=act_bits,
        calib_data=torch.rand(16, 1, 8, 8, generator=g),
    )
    return export_network(q, (1, 8, 8), path), q


def twoterm_cnn(seed=0, *, weight_bits=4, act_bits=4, path=None):
    """:func:`small_cnn_model` with two-term power-of-two weights and unsigned linear
    activations (the engine with two shifters per lane), calibrated on seeded random images,
    exported (a ``logdot.network/2`` file when ``path``); ``(network, quantized model)``."""
    return _small_cnn_linear_acts(seed, "twoterm", weight_bits, act_bits, path)


def mlp(seed=0):
    """Flatten feeders first (frames) and after a linear layer; 2 and 1 pixels per image."""
    return quantized_network(
        lambda: [nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3)],
        (3, 1, 2),
        seed=seed,
        act_bits=3,
    )


def conv_pool(seed=0):
    """A feature map out (2x2 pixels, C, H, W order), pooled on signed linear outputs."""
    return quantized_network(
        lambda: [nn.Conv2d(2, 3, 3, padding=1), nn.MaxPool2d(2)], (2, 4, 4), seed=seed, act_bits=3
    )


def board_net(seed=0):
    """3x4x4 input, conv 3x3 + ReLU + pool 2 + linear to 5 signed outputs, 4-bit log input
    codes: 12-bit pixel words, two bytes per pixel on the board's UART."""
    return quantized_network(
        lambda: [
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(16, 5),
        ],
        (3, 4, 4),
        seed=seed,
    )


def rect_net(seed=0):
    """Nothing square: a 7x10 image of 2 channels, a 1x3 kernel with stride (2, 1) and
    padding (0, 1), a 2x3 pool that does not divide its 4x10 input (floor: the last column
    dropped), a 2x1 kernel with padding (1, 0), then fc."""
    return quantized_network(
        lambda: [
            nn.Conv2d(2, 3, (1, 3), stride=(2, 1), padding=(0, 1)),
            nn.ReLU(),
            nn.MaxPool2d((2, 3)),
            nn.Conv2d(3, 4, (2, 1), padding=(1, 0)),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(36, 3),
        ],
        (2, 7, 10),
        seed=seed,
    )


def random_images(net, n, seed):
    """``n`` random input images of ``net`` (every code of its input format possible)."""
    g = torch.Generator().manual_seed(seed)
    hi = net.input_format.range[1]
    return torch.randint(0, hi + 1, (n, *net.input_shape), generator=g)
