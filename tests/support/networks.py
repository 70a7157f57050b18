"""Small quantized networks shared by the network tests (golden, hdl, compiler, simulators).

Each builder seeds torch, quantizes a tiny ``nn.Sequential`` with log weights and log
activations on random calibration data and exports it with
:func:`logdot.golden.network_torch.export_network`, so every suite tests the same designs.
"""

from __future__ import annotations

import torch
from torch import nn

from logdot.golden.network import network_forward
from logdot.golden.network_stream import output_beat
from logdot.golden.network_torch import export_network
from logdot.golden.nn import quantize_model
from logdot.study.networks import small_cnn_layers

__all__ = [
    "LINEAR_FOLD",
    "TILED_FOLD",
    "board_net",
    "check_words",
    "cnn8_c2",
    "cnn8_c2_twoterm",
    "conv_pool",
    "golden_words",
    "linear_cnn",
    "mlp",
    "quantized_network",
    "random_images",
    "rect_net",
    "small_cnn",
    "small_cnn_layers",
    "small_cnn_model",
    "twoterm_cnn",
]

#: A folding of :func:`small_cnn` with every stage tiled (window replay, gearbox, several
#: beats per dot product), as ``{layer index: (lanes, PEs)}``.
TILED_FOLD = {0: (3, 2), 2: (9, 2), 4: (5, 2)}


def quantized_network(
    make_layers,
    input_shape,
    *,
    seed=0,
    act_bits=4,
    weight_bits=4,
    weight_format="log2",
    act_format="log2",
):
    """Quantize ``nn.Sequential(*make_layers())`` (log2 weights and activations unless told
    otherwise), export it.

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
        Widths of the activation and weight codes.
    weight_format, act_format : str
        Formats of :func:`logdot.golden.nn.quantize_model`.

    Returns
    -------
    logdot.golden.network.Network
    """
    torch.manual_seed(seed)
    model = nn.Sequential(*make_layers())
    q = quantize_model(
        model,
        weight_format=weight_format,
        weight_bits=weight_bits,
        act_format=act_format,
        act_bits=act_bits,
        calib_data=torch.rand(8, *input_shape),
    )
    return export_network(q, tuple(input_shape))


#: A folding of :func:`linear_cnn` (the same network as :func:`small_cnn`).
LINEAR_FOLD = TILED_FOLD


def small_cnn(seed=0):
    """8x8 image: conv 3x3 (pad 1) + ReLU + pool 2, strided conv (stride 2) + ReLU, fc 16->3."""
    return quantized_network(small_cnn_layers, (1, 8, 8), seed=seed)


def cnn8_c2(seed=0):
    """:func:`small_cnn` on 8x8 images of 2 channels."""
    return quantized_network(lambda: small_cnn_layers(2), (2, 8, 8), seed=seed)


def cnn8_c2_twoterm(seed=0):
    """:func:`cnn8_c2` with 5-bit two-term weights and 4-bit unsigned linear activations."""
    return quantized_network(
        lambda: small_cnn_layers(2),
        (2, 8, 8),
        seed=seed,
        weight_format="twoterm",
        weight_bits=5,
        act_format="linear",
    )


def small_cnn_model(seed=0):
    """The float model of :func:`small_cnn` (seeded the same way)."""
    torch.manual_seed(seed)
    return nn.Sequential(*small_cnn_layers())


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


def golden_words(net, images):
    """The golden output word of each image (:func:`logdot.golden.network.network_forward`)."""
    return [output_beat(net, o) for o in network_forward(net, images)]


def check_words(got, want):
    """Compare output words with the golden ones; AssertionError naming the first bad image."""
    assert len(got) == len(want), f"{len(got)} output words, expected {len(want)}"
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"image {k}: hardware {g:#x} != golden {w:#x}"
