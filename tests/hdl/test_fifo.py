"""Tests of the stream FIFO: order and count under random idles and back-pressure, one beat
per cycle, latency, level and peak level, reset, validation, and Verilog that Icarus
builds."""

from __future__ import annotations

import random

import pytest
from amaranth.back import verilog
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from logdot.hdl.fifo import StreamFIFO, fifo_latency
from logdot.hdl.window import pixel_layout
from logdot.tools.lint import iverilog_check, verilator_lint
from tests.support.stream import compare, run_stream

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def test_fifo_validation():
    with pytest.raises(ValueError, match=r"depth must be an integer in \[1, 65536\], not 0"):
        StreamFIFO(shape=8, depth=0, buffered=False)
    with pytest.raises(ValueError, match=r"depth must be an integer in \[3, 65536\], not 2"):
        StreamFIFO(shape=8, depth=2)
    with pytest.raises(TypeError, match="buffered must be a bool, not 1"):
        StreamFIFO(shape=8, depth=4, buffered=1)
    with pytest.raises(TypeError):
        StreamFIFO(shape="wide", depth=4)
    f = StreamFIFO(shape=pixel_layout(12), depth=5)
    assert (f.width, f.depth, f.buffered, f.latency) == (13, 5, True, 2)
    assert StreamFIFO(shape=8, depth=2, buffered=False).latency == fifo_latency(False) == 1


@pytest.mark.parametrize(
    ("depth", "buffered"), [(3, True), (5, True), (1, False), (2, False), (3, False)]
)
def test_fifo_order_idles_backpressure(depth, buffered, seed):
    rng = random.Random(seed)
    beats = [(rng.randrange(1 << 12), rng.random() < 0.2) for _ in range(120)]
    log = run_stream(
        StreamFIFO(shape=pixel_layout(12), depth=depth, buffered=buffered),
        beats,
        expected=len(beats),
        rng=rng,
        idle=0.3,
        backpressure=0.4,
    )
    assert compare(log["out"], beats) is None, compare(log["out"], beats)


@pytest.mark.parametrize(("depth", "buffered"), [(3, True), (4, True), (2, False)])
def test_fifo_full_rate_and_latency(depth, buffered):
    """No idles, no back-pressure: one beat per cycle, the first after the latency."""
    beats = [(k, False) for k in range(40)]
    log = run_stream(StreamFIFO(shape=8, depth=depth, buffered=buffered), beats, expected=40)
    assert log["in_cycles"] == list(range(40))
    lat = fifo_latency(buffered)
    assert log["out_cycles"] == list(range(lat, 40 + lat))
    assert [b for b, _ in log["out"]] == list(range(40))


def test_fifo_of_depth_one_moves_a_beat_every_other_cycle():
    """Depth 1 (one register): a beat is refused while one is held, even one leaving, so
    beats go in at cycles 0, 2, 4, ... and out one cycle later, in order."""
    beats = [(k, False) for k in range(20)]
    log = run_stream(StreamFIFO(shape=8, depth=1, buffered=False), beats, expected=20)
    assert log["in_cycles"] == list(range(0, 40, 2))
    assert log["out_cycles"] == list(range(1, 41, 2))
    assert [b for b, _ in log["out"]] == list(range(20))


def test_fifo_level_peak_and_reset():
    dut = StreamFIFO(shape=8, depth=4)
    top = Module()
    top.domains.sync = cd = ClockDomain("sync")
    top.submodules.dut = dut

    async def bench(ctx):
        ctx.set(dut.o.ready, 0)
        ctx.set(dut.i.valid, 1)
        for k in range(6):  # the FIFO fills up to its depth, then refuses
            ctx.set(dut.i.payload, k)
            await ctx.tick()
        assert ctx.get(dut.level) == 4 and ctx.get(dut.max_level) == 4
        assert not ctx.get(dut.i.ready) and ctx.get(dut.o.valid)
        ctx.set(dut.i.valid, 0)
        ctx.set(dut.o.ready, 1)
        got = []
        for _ in range(6):
            if ctx.get(dut.o.valid):
                got.append(ctx.get(dut.o.payload))
            await ctx.tick()
        assert got == [0, 1, 2, 3]
        assert ctx.get(dut.level) == 0 and ctx.get(dut.max_level) == 4
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.o.ready, 0)
        await ctx.tick().repeat(2)
        ctx.set(cd.rst, 1)
        await ctx.tick()
        ctx.set(cd.rst, 0)
        ctx.set(dut.i.valid, 0)
        assert ctx.get(dut.level) == 0 and ctx.get(dut.max_level) == 0
        assert not ctx.get(dut.o.valid) and ctx.get(dut.i.ready)

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_fifo_verilog_builds(tmp_path):
    path = tmp_path / "stream_fifo.v"
    path.write_text(
        verilog.convert(
            StreamFIFO(shape=pixel_layout(8), depth=16), name="stream_fifo", emit_src=False
        )
    )
    iverilog_check(path)
    verilator_lint(path)
