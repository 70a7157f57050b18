"""The stream adapters of the network top, alone in Amaranth's simulator: the gearbox (1, 2
and 3 tiles), the flatten feeder (C, H, W order, replay, frames) and the output assembler
(C, H, W order, sign extension), with random idles and back-pressure."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from logdot.hdl.gearbox import FlattenFeeder, OutputAssembler, PixelGearbox


def _run(dut, inputs, n_out, rng, *, payload):
    """Drive ``inputs`` (payload values) into ``dut``'s sink with random idles, take ``n_out``
    outputs with random back-pressure; return the output payloads."""
    sink = dut.i if hasattr(dut, "i") else dut.s
    got = []

    async def bench(ctx):
        i = 0
        for _ in range(20000):
            if len(got) == n_out:
                return
            valid = i < len(inputs) and rng.random() < 0.7
            ctx.set(sink.valid, valid)
            if valid:
                payload(ctx, sink, inputs[i])
            ready = rng.random() < 0.6
            ctx.set(dut.o.ready, ready)
            _, _, s_ready, o_valid, o_payload = await ctx.tick().sample(
                sink.ready, dut.o.valid, dut.o.payload
            )
            i += bool(valid and s_ready)
            if o_valid and ready:
                got.append(o_payload)
        raise AssertionError(f"{len(got)} of {n_out} outputs")

    top = Module()  # a sync domain also for a combinational dut
    top.submodules.dut = dut
    toggle = Signal()
    top.d.sync += toggle.eq(~toggle)
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("tiles", [1, 2, 3])
def test_gearbox_joins_tiles_into_pixels(tiles, seed):
    rng = random.Random(seed)
    pes, bits, pixels = 2, 3, 3
    channels = pes * tiles - 1  # the last tile's last PE is dropped
    dut = PixelGearbox(channels=channels, pes=pes, tiles=tiles, bits=bits, pixels=pixels)
    n = 2 * pixels
    beats = [rng.randrange(1 << (pes * bits)) for _ in range(n * tiles)]
    # the engine's ``last``: on the last tile of each output position
    stream = [(b, k % tiles == tiles - 1) for k, b in enumerate(beats)]
    got = _run(dut, stream, n, rng, payload=_pixel_put)
    for k, word in enumerate(got):
        full = sum(beats[k * tiles + t] << (t * pes * bits) for t in range(tiles))
        assert word.data == full & ((1 << (channels * bits)) - 1)
        assert word.last == (k % pixels == pixels - 1)


def _pixel_put(ctx, sink, v):
    data, last = v
    ctx.set(sink.payload.data, data)
    ctx.set(sink.payload.last, last)


@pytest.mark.parametrize("pixels", [1, 2, 5])
def test_flatten_feeder_sends_the_chw_vector_per_tile(pixels, seed):
    rng = random.Random(seed)
    channels, bits, lanes, tiles = 3, 4, 4, 2
    beats = -(-channels * pixels // lanes)
    dut = FlattenFeeder(
        channels=channels, pixels=pixels, bits=bits, lanes=lanes, beats=beats, tiles=tiles
    )
    images = [[[rng.randrange(16) for _ in range(channels)] for _ in range(pixels)]]
    images.append([[rng.randrange(16) for _ in range(channels)] for _ in range(pixels)])
    stream = []
    for im in images:
        for i, px in enumerate(im):
            word = sum(c << (k * bits) for k, c in enumerate(px))
            stream.append((word, i == pixels - 1))
    got = _run(dut, stream, 2 * tiles * beats, rng, payload=_pixel_put)
    for n, im in enumerate(images):
        vec = [im[i][c] for c in range(channels) for i in range(pixels)]
        vec += [0] * (beats * lanes - len(vec))
        want = []
        for _ in range(tiles):
            for b in range(beats):
                word = sum(v << (k * bits) for k, v in enumerate(vec[b * lanes : (b + 1) * lanes]))
                want.append((word, b == beats - 1))
        part = got[n * tiles * beats : (n + 1) * tiles * beats]
        assert [(w.data, bool(w.last)) for w in part] == want


def test_flatten_feeder_completes_short_frames_and_truncates_long_ones(seed):
    rng = random.Random(seed)
    dut = FlattenFeeder(channels=1, pixels=4, bits=4, lanes=4, beats=1, tiles=1)
    stream = [(1, 0), (2, 1), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0), (8, 1), (9, 0)]
    stream += [(10, 0), (11, 0), (12, 1)]
    got = _run(dut, stream, 3, rng, payload=_pixel_put)
    assert [w.data for w in got] == [0x0021, 0x6543, 0xCBA9]


@pytest.mark.parametrize("pixels", [3, 1])
@pytest.mark.parametrize("signed", [False, True])
def test_output_assembler_packs_chw_and_sign_extends(signed, pixels, seed):
    """Several pixels per image (collected, then a register) and one (passed through)."""
    rng = random.Random(seed)
    channels, bits = 2, 5
    width = channels * pixels * bits + 2  # 2 padding bits
    dut = OutputAssembler(channels=channels, pixels=pixels, bits=bits, signed=signed, width=width)
    images = [[[rng.randrange(32) for _ in range(channels)] for _ in range(pixels)] for _ in "ab"]
    images[0][-1][-1] |= 16  # the last value negative (when signed)
    stream = []
    for im in images:
        for i, px in enumerate(im):
            stream.append((sum(c << (k * bits) for k, c in enumerate(px)), i == pixels - 1))
    got = _run(dut, stream, 2, rng, payload=_pixel_put)
    for word, im in zip(got, images, strict=True):
        vals = [im[i][c] for c in range(channels) for i in range(pixels)]
        want = sum(v << (k * bits) for k, v in enumerate(vals))
        if signed and vals[-1] >> (bits - 1):
            want |= 0b11 << (width - 2)
        assert word == want


def test_flatten_feeder_selects_channels_without_a_multiplier():
    """Picking a pixel's channel is a case, not ``code * bits``: the Verilog has no ``*``."""
    from amaranth.back import verilog

    dut = FlattenFeeder(channels=3, pixels=4, bits=4, lanes=4, beats=3, tiles=1)
    text = verilog.convert(dut, name="feeder")
    assert " * " not in text
