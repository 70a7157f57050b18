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

from logdot.golden.network import network_forward
from logdot.golden.network_stream import Beat, output_beat, pixel_stream, stream_forward
from logdot.hdl.network import NetworkTop, network_plan
from tests.support.networks import (
    TILED_FOLD,
    conv_pool,
    mlp,
    random_images,
    rect_net,
    small_cnn,
    twoterm_cnn,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: The default folding of the CNN (the smallest engines at the 100 cycles per image the first
#: window unit needs); ``TILED_FOLD`` tiles every stage (replay, gearbox, several beats).
FAST = {0: (9, 3), 2: (5, 1), 4: (1, 1)}  # logdot.generators.network.resolve_fold


def run_top(top, beats, *, rng=None, idle=0.0, stall=0.0, outputs, limit=20000):
    """Drive ``beats`` into ``top`` (random idles on ``s_axis``, random back-pressure on
    ``m_axis``); return ``(words, cycles, frame_error)``: the output words, the cycle of each
    output transfer and ``frame_error`` after each transfer. Stops after ``outputs`` words.
    ``reset_at``: the input beat index at which ``rst`` is pulsed for one cycle (the beats
    before it are lost with the reset)."""
    rng = rng or random.Random(0)
    words, cycles, errors = [], [], []

    async def bench(ctx):
        i, cyc = 0, 0
        while len(words) < outputs:
            assert cyc < limit, f"no output after {cyc} cycles ({len(words)} of {outputs})"
            valid = i < len(beats) and rng.random() >= idle
            ctx.set(top.s_axis_tvalid, valid)
            if valid:
                ctx.set(top.s_axis_tdata, beats[i].data)
                ctx.set(top.s_axis_tlast, beats[i].last)
            ready = rng.random() >= stall
            ctx.set(top.m_axis_tready, ready)
            _, _, s_ready, m_valid, m_data, m_last = await ctx.tick().sample(
                top.s_axis_tready, top.m_axis_tvalid, top.m_axis_tdata, top.m_axis_tlast
            )
            cyc += 1
            if valid and s_ready:
                i += 1
            if m_valid and ready:
                assert m_last == 1
                words.append(m_data)
                cycles.append(cyc)
                errors.append(ctx.get(top.frame_error))

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return words, cycles, errors


def _golden_words(net, images):
    return [output_beat(net, o) for o in network_forward(net, images)]


def check_words(got, want):
    """Compare output words with the golden ones; AssertionError naming the first bad image."""
    assert len(got) == len(want), f"{len(got)} output words, expected {len(want)}"
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g == w, f"image {k}: hardware {g:#x} != golden {w:#x}"


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
    got, _, errors = run_top(top, beats, rng=rng, idle=0.3, stall=0.4, outputs=len(images))
    check_words(got, _golden_words(net, images))
    assert errors == [0] * len(images)


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
    got, _, errors = run_top(top, beats, rng=rng, idle=0.2, stall=0.2, outputs=5)
    check_words(got, want.outputs)
    # frame_error is sticky: set (at the latest) from the output of the short frame on
    assert errors == sorted(errors) and errors[1:] == [1, 1, 1, 1]
    # the exact frames after a malformed one are exact
    assert got[2] == _golden_words(net, images[2:3])[0]
    assert got[4] == _golden_words(net, images[4:5])[0]


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
    check_words(got, _golden_words(net, images[1:]))


@pytest.fixture(scope="module")
def back_to_back():
    """22 images back to back through the fast CNN, input always valid, output always
    ready: ``(net, top, images, words, cycles)``."""
    net = small_cnn(0)
    top = NetworkTop(net, fold=FAST)
    images = random_images(net, 22, 5)
    beats = [b for im in images for b in pixel_stream(net, im)]
    words, cycles, _ = run_top(top, beats, outputs=len(images))
    return net, top, images, words, cycles


def test_measured_cycles_per_image_match_the_cycle_model(back_to_back):
    net, top, images, got, cycles = back_to_back
    check_words(got, _golden_words(net, images))
    n = len(images)
    measured = (cycles[-1] - cycles[1]) / (n - 2)
    model = top.cycles_per_image
    assert abs(measured - model) <= 0.02 * model, (measured, model)
    # the timing model, to the cycle (run_top counts a transfer in cycle c as c + 1)
    t = top.timing(n)
    assert t.fits and [c - 1 for c in cycles] == list(t.outputs)
    assert cycles[0] - 1 - t.first_input == top.latency < top.latency_bound


def test_a_wrong_golden_is_reported(back_to_back, seed):
    net, _, images, got, _ = back_to_back
    want = _golden_words(net, images)
    check_words(got, want)
    wrong = list(want)
    wrong[1] ^= 1 << random.Random(seed).randrange(net.output_format.bits * 3)
    with pytest.raises(AssertionError, match="image 1: hardware"):
        check_words(got, wrong)
    # the golden of another network (other weights) is caught too
    with pytest.raises(AssertionError, match="image"):
        check_words(got, _golden_words(small_cnn(3), images))


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
