"""The network top in Amaranth's simulator against the golden stream model, bit for bit.

Small networks (an 8x8 CNN: conv 3x3 + ReLU + pool 2 + strided conv + flatten + linear, also
with two-term weights and linear activations; a
two-layer MLP whose first stage is the flatten feeder; a conv + pool whose output is a feature
map) with random weights from quantized torch models: random images back to back with random
idles and back-pressure, short and long frames, reset in mid-image, a deliberately wrong
golden, and the cycle model against the measured cycles per image.
"""

from __future__ import annotations

import random

import pytest
from amaranth.sim import Simulator

from logdot.golden.network_stream import Beat, pixel_stream, stream_forward
from logdot.hdl.network import NetworkTop, network_plan
from tests.support.networks import (
    TILED_FOLD,
    check_words,
    conv_pool,
    golden_words,
    mlp,
    random_images,
    rect_net,
    small_cnn,
    twoterm_cnn,
)
from tests.support.stream import drive_network

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: The default folding of the CNN (the smallest engines at the 100 cycles per image the first
#: window unit needs); ``TILED_FOLD`` tiles every stage (replay, gearbox, several beats).
FAST = {0: (9, 3), 2: (5, 1), 4: (1, 1)}  # logdot.generators.network.resolve_fold


@pytest.mark.parametrize(
    "make,fold",
    [
        (small_cnn, TILED_FOLD),
        (mlp, {1: (4, 2), 2: (2, 1)}),
        (conv_pool, {0: (5, 1)}),
        (rect_net, {0: (3, 2), 2: (2, 3), 4: (12, 2)}),
        pytest.param(lambda s: twoterm_cnn(s)[0], TILED_FOLD, marks=pytest.mark.full),
    ],
    ids=["cnn", "mlp", "conv-pool", "rect", "twoterm"],
)
def test_random_images_with_idles_and_back_pressure_are_exact(make, fold, seed):
    net = make(seed % 4)
    images = random_images(net, 4, seed)
    top = NetworkTop(net, fold=fold)
    beats = [b for im in images for b in pixel_stream(net, im)]
    rng = random.Random(seed)
    run = drive_network(top, beats, len(images), rng=rng, idle=0.3, stall=0.4)
    check_words(run["words"], golden_words(net, images))
    assert run["errors"] == [0] * len(images)


def _malformed(net, images, rng):
    """Beats of: exact, short (tlast early), exact, long (extra pixels), exact frames."""
    frames = [list(pixel_stream(net, im)) for im in images]
    n = len(frames[0])
    short = frames[1][: rng.randint(1, n - 1)]
    short[-1] = Beat(short[-1].data, True)
    extra = [Beat(rng.randrange(1 << 8), False) for _ in range(rng.randint(1, 5))]
    long = [Beat(b.data, False) for b in frames[3]] + extra
    long[-1] = Beat(long[-1].data, True)
    return frames[0] + short + frames[2] + long + frames[4]


@pytest.mark.parametrize(
    "make,fold", [(small_cnn, FAST), (mlp, {1: (6, 5), 2: (5, 3)})], ids=["cnn", "mlp"]
)
def test_short_and_long_frames_give_one_output_each_and_resync(make, fold, seed):
    net = make(0)
    rng = random.Random(seed)
    images = random_images(net, 5, seed)
    beats = _malformed(net, images, rng)
    want = stream_forward(net, beats)
    assert len(want.outputs) == 5 and want.errors == [False, True, False, True, False]
    top = NetworkTop(net, fold=fold)
    run = drive_network(top, beats, 5, rng=rng, idle=0.2, stall=0.2)
    got, errors = run["words"], run["errors"]
    check_words(got, want.outputs)
    # frame_error is sticky: set (at the latest) from the output of the short frame on
    assert errors == sorted(errors) and errors[1:] == [1, 1, 1, 1]
    # the exact frames after a malformed one are exact
    assert got[2] == golden_words(net, images[2:3])[0]
    assert got[4] == golden_words(net, images[4:5])[0]


def test_reset_in_mid_image_then_exact(seed):
    net = small_cnn(1)
    top = NetworkTop(net, fold=FAST)
    images = random_images(net, 3, seed)
    frames = [list(pixel_stream(net, im)) for im in images]
    cut = random.Random(seed).randint(1, len(frames[0]) - 1)
    got = []

    async def bench(ctx):
        ctx.set(top.m_axis_tready, 1)
        for b in frames[0][:cut]:
            ctx.set(top.s_axis_tvalid, 1)
            ctx.set(top.s_axis_tdata, b.data)
            ctx.set(top.s_axis_tlast, b.last)
            while True:
                _, _, rdy = await ctx.tick().sample(top.s_axis_tready)
                if rdy:
                    break
        ctx.set(top.s_axis_tvalid, 0)
        await ctx.tick().repeat(3)
        # the reset is the sync domain's: ctx.set on the domain's reset signal
        ctx.set(rst, 1)
        await ctx.tick()
        ctx.set(rst, 0)
        assert ctx.get(top.frame_error) == 0
        beats = frames[1] + frames[2]
        i, cyc = 0, 0
        while len(got) < 2:
            assert cyc < 5000
            ctx.set(top.s_axis_tvalid, i < len(beats))
            if i < len(beats):
                ctx.set(top.s_axis_tdata, beats[i].data)
                ctx.set(top.s_axis_tlast, beats[i].last)
            _, _, rdy, mv, md = await ctx.tick().sample(
                top.s_axis_tready, top.m_axis_tvalid, top.m_axis_tdata
            )
            cyc += 1
            i += bool(rdy and i < len(beats))
            if mv:
                got.append(md)
        assert ctx.get(top.frame_error) == 0

    from amaranth.hdl import ClockDomain, Module

    m = Module()
    m.domains.sync = cd = ClockDomain("sync")
    rst = cd.rst
    m.submodules.top = top
    sim = Simulator(m)
    sim.add_clock(1e-6, domain="sync")
    sim.add_testbench(bench)
    sim.run()
    check_words(got, golden_words(net, images[1:]))


@pytest.fixture(scope="module")
def back_to_back():
    """22 images back to back through the fast CNN, input always valid, output always
    ready: ``(net, top, images, drive_network's record)``. The 20 images measured span more
    cycles than the latency bound (the test checks it): every stage is in its steady state."""
    net = small_cnn(0)
    top = NetworkTop(net, fold=FAST)
    images = random_images(net, 22, 5)
    beats = [b for im in images for b in pixel_stream(net, im)]
    return net, top, images, drive_network(top, beats, len(images))


def test_measured_cycles_per_image_match_the_cycle_model(back_to_back):
    net, top, images, run = back_to_back
    cycles = run["cycles"]
    check_words(run["words"], golden_words(net, images))
    n = len(images)
    measured = (cycles[-1] - cycles[1]) / (n - 2)
    model = top.cycles_per_image
    assert (n - 2) * model > top.latency_bound  # long enough for the steady state
    assert abs(measured - model) <= 0.02 * model, (measured, model)
    # the timing model, to the cycle
    t = top.timing(n)
    assert t.fits and cycles == list(t.outputs) and run["first"] == t.first_input
    assert cycles[0] - t.first_input == top.latency < top.latency_bound


def test_a_wrong_golden_is_reported(back_to_back, seed):
    net, _, images, run = back_to_back
    got = run["words"]
    want = golden_words(net, images)
    check_words(got, want)
    wrong = list(want)
    wrong[1] ^= 1 << random.Random(seed).randrange(net.output_format.bits * 3)
    with pytest.raises(AssertionError, match="image 1: hardware"):
        check_words(got, wrong)
    # the golden of another network (other weights) is caught too
    with pytest.raises(AssertionError, match="image"):
        check_words(got, golden_words(small_cnn(3), images))


def test_plan_states_the_bottleneck_and_line_buffers():
    net = small_cnn(0)
    stages, mapped = network_plan(net, TILED_FOLD)
    kinds = [s.kind for s in stages]
    assert kinds == [
        "window",
        "engine",
        "gearbox",
        "fifo",
        "pool",
        "fifo",
        "window",
        "engine",
        "gearbox",
        "fifo",
        "feeder",
        "engine",
        "gearbox",
        "fifo",
        "output",
    ]
    assert [m is None for m in mapped] == [False, True, False, True, False]
    top = NetworkTop(net, fold=TILED_FOLD)
    top._MustUse__silence = True  # built for its properties only
    assert top.cycles_per_image == max(s.cycles_per_image for s in stages)
    with pytest.raises(ValueError, match="fifo_depths needs 4"):
        NetworkTop(net, fold=TILED_FOLD, fifo_depths=[4])
