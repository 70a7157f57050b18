"""The multiplier baseline in hardware: layer engines with linear two's-complement weights
multiplied in logic (:class:`logdot.hdl.linear.LinearLane`), in a whole network top, against
the golden stream model bit for bit (Amaranth's simulator, Icarus and Verilator)."""

from __future__ import annotations

import dataclasses
import random

import pytest

from logdot.golden.network_stream import pixel_stream
from logdot.hdl.layer import LogLayerEngine
from logdot.hdl.network import NetworkTop
from logdot.tools.network_sim import NetworkSim
from tests.support.networks import (
    LINEAR_FOLD,
    check_words,
    golden_words,
    linear_cnn,
    random_images,
)
from tests.support.stream import drive_network

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_linear_layer_engine_multiplies_and_the_log_one_does_not():
    """With linear weights every lane is a real multiplier (``$mul`` cells in the netlist);
    the log layer engine of the same layer has none."""
    from amaranth.back import rtlil

    from tests.support.networks import small_cnn

    net, _ = linear_cnn(0)
    ml = net.mapped(LINEAR_FOLD)[0]
    text = rtlil.convert(LogLayerEngine(layer=ml.layer))
    assert text.count("cell $mul") == ml.config.pes * ml.config.lanes
    log = small_cnn(0).mapped(LINEAR_FOLD)[0]
    assert "cell $mul" not in rtlil.convert(LogLayerEngine(layer=log.layer))


@pytest.mark.parametrize("weight_bits", [8, 5])
def test_linear_network_top_is_exact_with_idles_and_back_pressure(weight_bits, seed):
    net, _ = linear_cnn(seed % 3, weight_bits=weight_bits)
    images = random_images(net, 3, seed)
    top = NetworkTop(net, fold=LINEAR_FOLD)
    beats = [b for im in images for b in pixel_stream(net, im)]
    run = drive_network(top, beats, len(images), rng=random.Random(seed), idle=0.3, stall=0.3)
    check_words(run["words"], golden_words(net, images))
    assert run["errors"] == [0] * len(images)


def test_a_wrong_golden_is_reported(seed):
    """The comparison fails when the golden network computes something else: one weight of
    the last layer changed by one (two's complement) in the golden model only."""
    net, _ = linear_cnn(0, weight_bits=5)
    images = random_images(net, 2, seed)
    top = NetworkTop(net, fold=LINEAR_FOLD)
    beats = [b for im in images for b in pixel_stream(net, im)]
    got = drive_network(top, beats, len(images))["words"]
    last = net.layers[-1]
    w = last.spec.weight_codes.clone()
    w[0, :] = (w[0, :] + 1) % 32  # every weight of output 0: a different result on any image
    wrong_spec = dataclasses.replace(last.spec, weight_codes=w)
    wrong = dataclasses.replace(
        net, layers=(*net.layers[:-1], dataclasses.replace(last, spec=wrong_spec))
    )
    check_words(got, golden_words(net, images))
    with pytest.raises(AssertionError, match="image 0: hardware"):
        check_words(got, golden_words(wrong, images))


# Icarus in the quick suite; the Verilator build takes about two minutes on a busy machine.
@pytest.mark.parametrize("sim", ["icarus", pytest.param("verilator", marks=pytest.mark.full)])
def test_compiled_linear_network_is_exact_in_rtl(sim, tmp_path, seed):
    net, _ = linear_cnn(1, weight_bits=8, act_bits=8)
    rtl = NetworkSim(net, tmp_path / sim, fold=LINEAR_FOLD, sim=sim, name="lin_net").build()
    images = random_images(net, 5, seed)
    beats = [b for im in images for b in pixel_stream(net, im)]
    got = rtl.run(beats, outputs=len(images), seed=seed, idle=0.3, backpressure=0.3)
    assert got.words == golden_words(net, images)
