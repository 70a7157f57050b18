"""A compiled network in Verilator and Icarus (:mod:`logdot.tools.network_sim`): random
images with idles and back-pressure, short and long frames, bit-exact against the golden
stream model; the measured cycles per image against the compiler's cycle model."""

from __future__ import annotations

import random

import pytest
import torch

from logdot.golden.network_stream import Beat, pixel_stream, stream_forward
from logdot.hdl.network import NetworkTop
from logdot.tools.network_sim import NetworkSim
from tests.support.networks import TILED_FOLD, small_cnn

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_compiled_network_is_exact_in_rtl(sim, tmp_path, seed):
    net = small_cnn()
    rtl = NetworkSim(net, tmp_path / sim, fold=TILED_FOLD, sim=sim, name="small_net").build()
    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 16, (6, *net.input_shape), generator=g)
    frames = [list(pixel_stream(net, im)) for im in images]
    short = frames[1][: rng.randint(1, 63)]
    short[-1] = Beat(short[-1].data, True)
    long = [Beat(b.data, False) for b in frames[3]] + [Beat(rng.randrange(16), False)] * 3
    long[-1] = Beat(long[-1].data, True)
    beats = frames[0] + short + frames[2] + long + frames[4] + frames[5]
    want = stream_forward(net, beats)
    got = rtl.run(beats, outputs=len(want.outputs), seed=seed, idle=0.3, backpressure=0.3)
    assert got.words == want.outputs
    # the cycle model: the steady-state period over 20 images, input valid, output ready
    many = torch.randint(0, 16, (22, *net.input_shape), generator=g)
    full = rtl.run_images(many, tag="full")
    two = rtl.run_images(many[:2], tag="two")
    assert (
        full.words == stream_forward(net, [b for im in many for b in pixel_stream(net, im)]).outputs
    )
    period = (full.cycles - two.cycles) / 20
    model = rtl.manifest["cycles_per_image"]
    assert abs(period - model) <= 0.02 * model, (period, model)
    # the timing model, exactly: first input transfer to last output transfer, inclusive
    top = NetworkTop(net, fold=TILED_FOLD)
    top._MustUse__silence = True  # built for its timing only
    for run, n in ((full, 22), (two, 2)):
        t = top.timing(n)
        assert t.fits and run.cycles == t.outputs[-1] - t.first_input + 1, (run.cycles, n)
    assert rtl.manifest["latency_cycles"] == top.latency


def test_precompiled_design_is_used_as_written(tmp_path):
    """``precompiled=True`` takes the design ``logdot compile`` wrote (the example's path): its
    folding is the design's (no ``fold``), and a missing file is named."""
    net = small_cnn()
    with pytest.raises(ValueError, match="fold must be None"):
        NetworkSim(net, tmp_path, fold={0: (3, 2)}, precompiled=True)
    sim = NetworkSim(net, tmp_path, sim="icarus", name="absent", precompiled=True)
    with pytest.raises(FileNotFoundError, match=r"no absent\.v, absent\.json in"):
        sim.build()
    assert not (tmp_path / "absent.v").exists()
