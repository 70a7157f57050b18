"""cocotb tests of one generated layer engine against the golden model (run by
test_layer_runner.py).

The engine under test is described by the manifest named in ``LOGDOT_LAYER_MANIFEST``
(:func:`logdot.generators.layer.layer_from_manifest` rebuilds its golden model, memory contents
included); ``LOGDOT_RANDOM_BEATS`` sets the random beats of ``test_random``. The AXI-Stream
source and sink are those of the engine test bench (:mod:`tb`); :class:`LayerTB` adds the
layer scoreboard: every transferred input beat goes to :class:`logdot.golden.layer.Layer` (program
counters included), and every output beat is compared field by field, in order. The test
fails on a mismatch, a missing or extra output, ``X``/``Z`` on ``m_axis_tdata`` while valid
(Icarus), ``m_axis_tdata`` changing or ``m_axis_tvalid`` dropping under back-pressure.
"""

from __future__ import annotations

import collections
import logging
import os
import random

import cocotb
import torch
from cocotb import Param
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from tb import CLOCK_PERIOD_NS, AxisSink, AxisSource, test_seed

from logdot.generators.layer import layer_from_manifest
from logdot.golden.layer import unpack_outputs

RANDOM_BEATS = int(os.environ.get("LOGDOT_RANDOM_BEATS", "1500"))
MANIFEST_ENV = "LOGDOT_LAYER_MANIFEST"
_MAX_LOGGED = 10

TRAFFIC = [
    Param((0.0, 0.0, False), "none"),
    Param((0.3, 0.5, False), "idle+backpressure"),
    Param((0.2, 0.3, True), "reactive-sink"),
]


class LayerScoreboard:
    """In-order scoreboard of a layer engine: input beats -> golden layer -> expected rows.

    The golden model runs lazily on the closed dot products, with the program counters
    (beats and dot products since reset) carried over between batches. Weight writes through
    the load port update the model's weight memory (after flushing what was computed with
    the old weights). ``fault=("plus_one", k)`` adds 1 to field 0 of expected output ``k``.
    """

    def __init__(self, layer, log, *, fault=None):
        self.layer = layer
        self.config = layer.config
        self.weights = layer.weights.clone()
        self.log = log
        self.fault = fault
        self.errors = []
        self.expected = collections.deque()
        self._open = []  # beats of the dot product in progress
        self._closed = []  # (acts rows, last flags) of closed, not yet modelled dot products
        self.beats_done = 0  # beats since reset already modelled
        self.dots_done = 0
        self.dots_in = 0
        self.results_out = 0
        self.checked = 0
        self.discarded = 0
        self._index = 0

    def _unpack_acts(self, word):
        e = self.config.engine
        mask = (1 << e.act_bits) - 1
        vals = [(word >> self.config.act_lsb(k)) & mask for k in range(e.lanes)]
        if e.act_format == "linear" and e.act_signed:
            vals = [v - (1 << e.act_bits) if v >> (e.act_bits - 1) else v for v in vals]
        return vals

    def add_beat(self, word, last):
        self._open.append(self._unpack_acts(word))
        if last:
            self._closed.append(self._open)
            self._open = []
            self.dots_in += 1

    @property
    def open_beats(self):
        return len(self._open)

    @property
    def outstanding(self):
        return len(self._closed) + len(self.expected)

    def flush(self):
        """Run the golden model on every closed dot product."""
        if not self._closed:
            return
        acts, last = [], []
        for dot in self._closed:
            acts += dot
            last += [False] * (len(dot) - 1) + [True]
        model = type(self.layer)(config=self.config, weights=self.weights, bias=self.layer.bias)
        rows = model.run(
            torch.tensor(acts, dtype=torch.int64),
            torch.tensor(last),
            start_beat=self.beats_done,
            start_dot=self.dots_done,
        ).tolist()
        self.beats_done += len(acts)
        self.dots_done += len(self._closed)
        self._closed = []
        for row in rows:
            if self.fault == ("plus_one", self._index):
                row = [row[0] + 1, *row[1:]]
            self.expected.append((self._index, row))
            self._index += 1

    def write_weight(self, addr, pe, word):
        self.flush()
        wb = self.config.engine.weight_bits
        mask = (1 << wb) - 1
        for k in range(self.config.lanes):
            self.weights[addr, pe, k] = (word >> (k * wb)) & mask

    def error(self, message):
        self.errors.append(message)
        if len(self.errors) <= _MAX_LOGGED:
            self.log.error(message)

    def check(self, word, cycle):
        n = self.checked
        self.checked += 1
        self.results_out += 1
        if not self.expected:
            self.flush()
        if not self.expected:
            self.error(f"extra output #{n} {word:#x} at cycle {cycle}")
            return
        index, row = self.expected.popleft()
        got = unpack_outputs(self.config, [word])[0].tolist()
        if got != row:
            self.error(
                f"MISMATCH output #{n} (dot product {index}, cycle {cycle}): expected {row}, "
                f"DUT {got}"
            )

    def discard(self):
        dropped = len(self._closed) + len(self.expected) + (1 if self._open else 0)
        self.discarded += dropped
        self._open, self._closed = [], []
        self.expected.clear()
        self.beats_done = self.dots_done = 0
        self.dots_in = self.results_out = 0
        return dropped


class WeightSource:
    """Drives the ``w_axis_*`` weight-load port with queued ``(tdata, tlast)`` words and
    seeded random idle cycles (``tready`` is always 1 by contract; checked)."""

    def __init__(self, dut, rng, idle_prob=0.0):
        self.dut = dut
        self.rng = rng
        self.idle_prob = idle_prob
        self.queue = collections.deque()
        self.current = None
        self.addr = 0
        self.pe = 0

    @property
    def idle(self):
        return self.current is None and not self.queue

    def drive(self, in_reset):
        if in_reset:
            self.current = None
        elif self.current is None and self.queue and self.rng.random() >= self.idle_prob:
            self.current = self.queue.popleft()
        if self.current is None:
            self.dut.w_axis_tvalid.value = 0
        else:
            data, last = self.current
            self.dut.w_axis_tdata.value = data
            self.dut.w_axis_tlast.value = int(last)
            self.dut.w_axis_tvalid.value = 1


class LayerTB:
    """Clock, reset, sources, sink, monitor and scoreboard for one layer engine."""

    def __init__(self, dut, name, *, idle_prob=0.0, backpressure=0.0, reactive=False, fault=None):
        self.dut = dut
        path = os.environ.get(MANIFEST_ENV)
        if not path:
            raise RuntimeError(f"{MANIFEST_ENV} is not set: run via test_layer_runner.py")
        self.layer, self.latency, self.weight_port = layer_from_manifest(path)
        self.config = self.layer.config
        self.seed = test_seed()
        self.rng = random.Random(self.seed)
        self.log = logging.getLogger(f"cocotb.layer.{name}")
        self.log.setLevel(logging.INFO)
        self.log.info(
            "test %s: seed %d (COCOTB_RANDOM_SEED=%s), idle %.2f, backpressure %.2f, config %s",
            name,
            self.seed,
            os.environ.get("COCOTB_RANDOM_SEED", "?"),
            idle_prob,
            backpressure,
            self.config,
        )
        self.source = AxisSource(dut, self.rng, idle_prob)
        self.sink = AxisSink(dut, self.rng, backpressure, reactive)
        self.wsource = WeightSource(dut, self.rng, 0.2) if self.weight_port else None
        self.sb = LayerScoreboard(self.layer, self.log, fault=fault)
        self.cycle = 0
        self.first_in = None
        self.last_out = None
        self.ready_low = 0
        self._rst_left = 0
        self._valid_seen = False
        self._stalled = None

    async def start(self, reset_cycles=3):
        dut = self.dut
        dut.rst.value = 1
        dut.s_axis_tvalid.value = 0
        dut.s_axis_tlast.value = 0
        dut.s_axis_tdata.value = 0
        dut.m_axis_tready.value = 0
        if self.weight_port:
            dut.w_axis_tvalid.value = 0
            dut.w_axis_tlast.value = 0
            dut.w_axis_tdata.value = 0
        Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start(start_high=False)
        self._rst_left = reset_cycles
        cocotb.start_soon(self._run())
        await ClockCycles(dut.clk, reset_cycles + 1)

    async def reset(self, cycles=2):
        self._rst_left = cycles
        await ClockCycles(self.dut.clk, cycles + 1)

    async def _run(self):
        dut, sb = self.dut, self.sb
        edge, read_only = RisingEdge(dut.clk), ReadOnly()
        out_bits = 8 * self.config.out_bytes
        driven_rst = True
        while True:
            await edge
            self.cycle += 1
            in_reset = self._rst_left > 0
            if in_reset:
                self._rst_left -= 1
                if not driven_rst:
                    sb.discard()
                    self.source.clear()
                    if self.wsource:
                        self.wsource.queue.clear()
                        self.wsource.addr = self.wsource.pe = 0
            if in_reset != driven_rst:
                dut.rst.value = int(in_reset)
                driven_rst = in_reset
            self.source.drive(in_reset)
            self.sink.drive(in_reset, self._valid_seen)
            if self.wsource:
                self.wsource.drive(in_reset)
            await read_only
            if in_reset:
                self._stalled = None
                self._valid_seen = False
                continue
            cycle = self.cycle
            if self.wsource and self.wsource.current is not None:
                if not dut.w_axis_tready.value:
                    sb.error(f"w_axis_tready low at cycle {cycle}")
                ws = self.wsource
                data, last = ws.current
                sb.write_weight(ws.addr, ws.pe, data)
                if last:
                    ws.addr = ws.pe = 0
                else:
                    ws.pe += 1
                    if ws.pe == self.config.pes:
                        ws.pe = 0
                        ws.addr = (ws.addr + 1) % self.config.depth
                ws.current = None
            s_valid, s_ready = dut.s_axis_tvalid.value, dut.s_axis_tready.value
            if not s_ready.is_resolvable:
                sb.error(f"s_axis_tready is {s_ready} at cycle {cycle}")
                s_ready = False
            if s_valid:
                if s_ready:
                    if self.first_in is None:
                        self.first_in = cycle
                    sb.add_beat(dut.s_axis_tdata.value.to_unsigned(), bool(dut.s_axis_tlast.value))
                else:
                    self.ready_low += 1
            self.source.sample(bool(s_ready))
            m_valid = dut.m_axis_tvalid.value
            if not m_valid.is_resolvable:
                sb.error(f"m_axis_tvalid is {m_valid} at cycle {cycle}")
                continue
            if m_valid:
                self._valid_seen = True
                data = dut.m_axis_tdata.value
                if not data.is_resolvable:
                    sb.error(f"m_axis_tdata is {data} while m_axis_tvalid at cycle {cycle}")
                    continue
                word = data.to_unsigned()
                if self._stalled is not None and word != self._stalled:
                    sb.error(f"m_axis_tdata changed under back-pressure at cycle {cycle}")
                if self.sink.ready:
                    if word >> out_bits:
                        sb.error(f"m_axis_tdata {word:#x} wider than {out_bits} bits")
                    if word >> self.config.out_bits:
                        sb.error(f"m_axis_tdata padding bits not zero: {word:#x}")
                    sb.check(word, cycle)
                    self.last_out = cycle
                    self._stalled = None
                else:
                    self._stalled = word
            else:
                self._valid_seen = False
                if self._stalled is not None:
                    sb.error(f"m_axis_tvalid dropped under back-pressure at cycle {cycle}")
                    self._stalled = None

    # -- test-facing helpers ---------------------------------------------------------------

    def random_act(self):
        e = self.config.engine
        if e.act_format == "log":
            return self.rng.randrange(1 << e.act_bits)
        lo, hi = e.act_range
        if self.rng.random() < 0.15:
            return self.rng.choice([lo, hi, 0, 1])
        return self.rng.randint(lo, hi)

    def random_beats(self, n):
        return [[self.random_act() for _ in range(self.config.lanes)] for _ in range(n)]

    def send(self, dots):
        """Queue dot products (lists of activation rows)."""
        words = []
        for dot in dots:
            packed = self.config.pack_acts(dot)
            words += [(w, k == len(dot) - 1) for k, w in enumerate(packed)]
        self.source.send(words)
        return len(words)

    def random_dots(self, beats, longest):
        top = max(1, min(longest, self.config.engine.max_beats))
        dots, left = [], beats
        while left > 0:
            k = min(left, self.rng.randint(1, top))
            dots.append(self.random_beats(k))
            left -= k
        return dots

    def check_errors(self):
        if self.sb.errors:
            shown = "\n  ".join(self.sb.errors[:_MAX_LOGGED])
            raise AssertionError(
                f"{len(self.sb.errors)} scoreboard error(s) (COCOTB_RANDOM_SEED="
                f"{os.environ.get('COCOTB_RANDOM_SEED', '?')}):\n  {shown}"
            )

    async def wait_until(self, predicate, timeout, what):
        start = self.cycle
        while not predicate():
            await RisingEdge(self.dut.clk)
            self.check_errors()
            if self.cycle - start > timeout:
                raise AssertionError(f"timeout after {timeout} cycles waiting for {what}")

    async def drain(self):
        sb = self.sb
        slack = 1.0 / ((1.0 - self.source.idle_prob) * (1.0 - self.sink.backpressure))
        left = len(self.source._queue) + 1 + sb.outstanding
        timeout = int(200 + 4 * self.latency + 8 * slack * left)
        await self.wait_until(lambda: self.source.idle, timeout, "the source to send every beat")
        if self.wsource:
            await self.wait_until(lambda: self.wsource.idle, timeout, "the weight load")
        assert sb.open_beats == 0, "test bug: the stream ended inside a dot product"
        timeout = int(200 + 4 * self.latency + 8 * slack * (sb.outstanding + 1))
        await self.wait_until(
            lambda: sb.outstanding == 0,
            timeout,
            f"missing outputs (dot products in {sb.dots_in}, outputs {sb.results_out})",
        )
        await ClockCycles(self.dut.clk, 2 * self.latency + 16)
        self.check_errors()
        if self._valid_seen:
            sb.error("extra output: m_axis_tvalid high after every output was received")
        if sb.dots_in != sb.results_out:
            sb.error(f"count mismatch: {sb.dots_in} dot products in, {sb.results_out} outputs")
        self.check_errors()

    def report(self):
        self.log.info(
            "%d outputs checked, %d dot products dropped by reset, %d cycles",
            self.sb.checked,
            self.sb.discarded,
            self.cycle,
        )


# -- the tests -------------------------------------------------------------------------------


@cocotb.test(timeout_time=100, timeout_unit="ms")
@cocotb.parametrize(traffic=TRAFFIC)
async def test_random(dut, traffic):
    """Random activations over the whole code space, dot products of 1..16 beats (the
    program counters make any stream valid), with idles and back-pressure."""
    idle, bp, reactive = traffic
    tb = LayerTB(dut, f"random/{idle}/{bp}", idle_prob=idle, backpressure=bp, reactive=reactive)
    await tb.start()
    tb.send(tb.random_dots(-(-RANDOM_BEATS // len(TRAFFIC)), 16))
    await tb.drain()
    tb.report()


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def test_program_and_corners(dut):
    """Program-aligned dot products (``depth // dots`` beats each, as a conv layer streams
    them), all-zero and extreme activations, with idles and back-pressure."""
    tb = LayerTB(dut, "program", idle_prob=0.2, backpressure=0.3)
    await tb.start()
    cfg = tb.config
    e = cfg.engine
    per = max(1, cfg.depth // cfg.dots)
    if e.act_format == "log":
        top = (1 << e.act_code_bits) - 1
        extremes = [top, top | (1 << e.act_code_bits)] if e.act_signed else [top]
    else:
        extremes = list(e.act_range)
    dots = []
    for rep in range(3 * cfg.dots):
        if rep % 3 == 0:
            dots.append([[0] * cfg.lanes for _ in range(per)])
        elif rep % 3 == 1:
            dots.append([[extremes[rep % len(extremes)]] * cfg.lanes for _ in range(per)])
        else:
            dots.append(tb.random_beats(per))
    dots += [tb.random_beats(per) for _ in range(4 * cfg.dots)]
    tb.send(dots)
    await tb.drain()
    tb.report()


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def test_reset_midstream(dut):
    """A reset drops everything in flight and rewinds the program counters; the next
    stream then starts from weight word 0 and bias entry 0, exactly."""
    tb = LayerTB(dut, "reset", idle_prob=0.1, backpressure=0.2)
    await tb.start()
    sb = tb.sb
    tb.sink.paused = True
    tb.send(tb.random_dots(7, 3))
    await tb.wait_until(lambda: sb.dots_in >= 2, 2000, "two dot products in")
    await ClockCycles(dut.clk, 3 * tb.latency)
    await tb.reset(2)
    tb.sink.paused = False
    tb.send(tb.random_dots(40, 4))
    await tb.drain()
    # A reset with a dot product half sent.
    tb.send([tb.random_beats(3)])
    tb.source._queue[-1] = (tb.source._queue[-1][0], False)
    await tb.wait_until(lambda: tb.source.idle, 2000, "the partial dot product")
    await tb.reset(1)
    tb.send(tb.random_dots(40, 4))
    await tb.drain()
    assert sb.discarded >= 2, f"resets dropped only {sb.discarded} dot products"
    tb.report()


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def test_throughput(dut):
    """No idles, no back-pressure: tready never drops and K beats complete in exactly
    K + latency cycles (II = 1)."""
    tb = LayerTB(dut, "throughput")
    await tb.start()
    k = 150
    tb.send(tb.random_dots(k, 6))
    await tb.drain()
    cycles = tb.last_out - tb.first_in + 1
    assert tb.ready_low == 0, f"s_axis_tready low in {tb.ready_low} cycles"
    assert cycles == k + tb.latency, f"{k} beats took {cycles} cycles, expected {k + tb.latency}"
    tb.report()


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def test_weight_load(dut):
    """With the w_axis port: load random weights, reset (the weights must survive it),
    stream; load again, interrupted by an early tlast that rewinds the pointer, stream;
    restore the generated weights, stream. The golden model follows every write. Without the
    port: the top module must have no w_axis port."""
    tb = LayerTB(dut, "weights", idle_prob=0.1, backpressure=0.2)
    if not tb.weight_port:
        assert not hasattr(dut, "w_axis_tvalid"), "w_axis port present but not in the manifest"
        return
    await tb.start()
    cfg = tb.config
    wb = cfg.engine.weight_bits

    def random_word():
        return sum(tb.rng.randrange(1 << wb) << (k * wb) for k in range(cfg.lanes))

    words = [random_word() for _ in range(cfg.depth * cfg.pes)]
    tb.wsource.queue.extend((w, i == len(words) - 1) for i, w in enumerate(words))
    await tb.wait_until(lambda: tb.wsource.idle, 10000, "the weight load")
    # A reset rewinds the program counters but keeps the loaded weights.
    await tb.reset(2)
    tb.send(tb.random_dots(60, 5))
    await tb.drain()
    partial = [random_word() for _ in range(max(1, cfg.pes + 1))]
    tb.wsource.queue.extend((w, i == len(partial) - 1) for i, w in enumerate(partial))
    await tb.wait_until(lambda: tb.wsource.idle, 10000, "the partial weight load")
    tb.send(tb.random_dots(60, 5))
    await tb.drain()
    # Restore the generated contents (the memories outlive this test), and check them.
    original = [w for row in tb.layer.weight_words() for w in row]
    tb.wsource.queue.extend((w, i == len(original) - 1) for i, w in enumerate(original))
    await tb.wait_until(lambda: tb.wsource.idle, 10000, "the restoring weight load")
    assert torch.equal(tb.sb.weights, tb.layer.weights), "scoreboard weights not restored"
    tb.send(tb.random_dots(30, 5))
    await tb.drain()
    tb.report()


@cocotb.test(timeout_time=20, timeout_unit="ms")
async def test_scoreboard_catches_wrong_golden(dut):
    """The checker can fail: expected output 3 deliberately off by one must be reported."""
    tb = LayerTB(dut, "fault", fault=("plus_one", 3))
    await tb.start()
    tb.send(tb.random_dots(12, 2))
    try:
        await tb.drain()
    except AssertionError as exc:
        assert "MISMATCH output #3" in str(exc), str(exc)
    else:
        raise AssertionError("a deliberately wrong golden model was NOT detected")
