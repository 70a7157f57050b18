"""cocotb tests of one generated layer engine against the golden model (run by
test_layer_runner.py).

The engine under test is described by the manifest named in ``LOGDOT_LAYER_MANIFEST``
(:func:`logdot.generators.layer.layer_from_manifest` rebuilds its golden model, memory contents
included, in the golden service of :mod:`golden_service`: :class:`GoldenLayer`);
``LOGDOT_RANDOM_BEATS`` sets the random beats of ``test_random``. The test bench is
the engine's (:class:`tbbase.StreamTB`: clock, reset, cocotbext-axi source on ``s_axis`` and
sink on ``m_axis``, the per-cycle monitor and its protocol checks) with another model:
:class:`LayerScoreboard` feeds every transferred input beat to
:class:`logdot.golden.layer.Layer` (program counters included) and compares every output beat
field by field, in order; :class:`LayerTB` adds a cocotbext-axi source on the ``w_axis``
weight-load port. The test fails on a mismatch, a missing or extra output, ``X``/``Z`` on
``m_axis_tdata`` while valid (Icarus), ``m_axis_tdata`` changing or ``m_axis_tvalid``
dropping under back-pressure, non-zero padding bits, ``w_axis_tready`` low.
"""

from __future__ import annotations

import collections
import os

import cocotb
import golden_service as golden
from cocotb import Param
from cocotbext.axi import AxiStreamSource
from tbbase import StreamScoreboard, StreamTB, stream_bus

from logdot.golden.formats import EngineConfig

RANDOM_BEATS = int(os.environ.get("LOGDOT_RANDOM_BEATS", "1500"))
MANIFEST_ENV = "LOGDOT_LAYER_MANIFEST"
#: Probability of an idle cycle on the weight-load port.
WEIGHT_IDLE = 0.2

TRAFFIC = [
    Param((0.0, 0.0, False), "none"),
    Param((0.3, 0.5, False), "idle+backpressure"),
    Param((0.2, 0.3, True), "reactive-sink"),
]


class GoldenLayer:
    """The golden model of the layer engine of a manifest (a :class:`logdot.golden.layer.Layer`
    in the golden service), with the plain facts of its :class:`~logdot.golden.layer.LayerConfig`.

    Members
    -------
    engine : EngineConfig
    lanes, pes, depth, dots, out_bits : int
    act_lsb : list of int
        :meth:`LayerConfig.act_lsb` of every lane.
    latency : int
    weight_port : bool
    description : str
        The ``repr`` of the layer configuration.
    """

    #: Output ``tlast`` values asked for at a time.
    TLAST_BATCH = 64

    def __init__(self, manifest_path):
        self.handle, info = golden.call("layer.open", str(manifest_path))
        self.engine = EngineConfig(**info["engine"])
        self.lanes, self.pes, self.depth = info["lanes"], info["pes"], info["depth"]
        self.dots, self.out_bits, self.act_lsb = info["dots"], info["out_bits"], info["act_lsb"]
        self.latency, self.weight_port = info["latency"], info["weight_port"]
        self.description = info["description"]

    def model(self):
        """A new model handle (its own copy of the weight memory) for a scoreboard."""
        return golden.call("layer.model", self.handle)

    def pack_dots(self, dots):
        """The ``s_axis`` words of each dot product (:meth:`LayerConfig.pack_acts`)."""
        return golden.call("layer.pack_dots", self.handle, dots)

    def pack_weight_words(self, codes):
        """``w_axis`` words of lane-code lists (:meth:`LayerConfig.pack_weight_word`)."""
        return golden.call("layer.pack_weight_words", self.handle, codes)

    def weight_words(self):
        """The generated weight memory as words (:meth:`Layer.weight_words`)."""
        return golden.call("layer.weight_words", self.handle)

    def unpack_output(self, word):
        """The output fields of one ``m_axis`` word (:func:`logdot.golden.layer.unpack_outputs`)."""
        return golden.call("layer.unpack_outputs", self.handle, [word])[0]

    def output_tlast(self, count, start_dot):
        """:func:`logdot.golden.layer.output_tlast`."""
        return golden.call("layer.output_tlast", self.handle, count, start_dot)


class LayerScoreboard(StreamScoreboard):
    """In-order scoreboard of a layer engine: input beats -> golden layer -> expected rows.

    The golden model runs lazily on the closed dot products, with the program counters
    (beats and dot products since reset) carried over between batches. Weight writes through
    the load port update the model's weight memory (after flushing what was computed with
    the old weights). ``fault=("plus_one", k)`` adds 1 to field 0 of expected output ``k``.
    """

    def __init__(self, layer, log, *, fault=None):
        super().__init__(log)
        self.layer = layer
        self.config = layer
        self.model = layer.model()  # the golden layer with this scoreboard's weight memory
        self.fault = fault
        self._tlast_from, self._tlast = 0, []  # output_tlast of outputs _tlast_from ...
        self.expected = collections.deque()
        self.beats_done = 0  # beats since reset already modelled
        self.dots_done = 0
        self._index = 0
        self.weight_addr = self.weight_pe = 0  # the load port's write pointer

    def expected_tlast(self, index):
        """High on output ``index`` (since reset) with ``index mod dots == dots - 1``
        (:func:`logdot.golden.layer.output_tlast`, :attr:`GoldenLayer.TLAST_BATCH` outputs
        at a time)."""
        k = index - self._tlast_from
        if not 0 <= k < len(self._tlast):
            self._tlast_from, k = index, 0
            self._tlast = self.layer.output_tlast(self.layer.TLAST_BATCH, index)
        return self._tlast[k]

    @property
    def weights(self):
        """``(the weight memory as this scoreboard wrote it, the generated one)``, nested
        lists ``[address][pe][lane]``."""
        return tuple(golden.call("layer.weights", self.model))

    def decode(self, word):
        e = self.config.engine
        mask = (1 << e.act_bits) - 1
        vals = [(word >> self.layer.act_lsb[k]) & mask for k in range(e.lanes)]
        if e.act_format == "linear" and e.act_signed:
            vals = [v - (1 << e.act_bits) if v >> (e.act_bits - 1) else v for v in vals]
        return vals

    @property
    def outstanding(self):
        return len(self._closed) + len(self.expected)

    def compare(self):
        """Run the golden model on every closed dot product (outputs are compared as they
        arrive)."""
        if not self._closed:
            return
        acts, last = [], []
        for dot, _ in self._closed:
            acts += dot
            last += [False] * (len(dot) - 1) + [True]
        rows = golden.call("layer.run", self.model, acts, last, self.beats_done, self.dots_done)
        self.beats_done += len(acts)
        self.dots_done += len(self._closed)
        self._closed = []
        for row in rows:
            if self.fault == ("plus_one", self._index):
                row = [row[0] + 1, *row[1:]]
            self.expected.append((self._index, row))
            self._index += 1

    def weight_beat(self, word, last):
        """One transferred ``w_axis`` word: written at the pointer, which then advances
        (PE first, then address) or, after ``tlast``, rewinds to 0."""
        self.compare()
        golden.call("layer.write_weight", self.model, self.weight_addr, self.weight_pe, word)
        if last:
            self.weight_addr = self.weight_pe = 0
        else:
            self.weight_pe += 1
            if self.weight_pe == self.config.pes:
                self.weight_pe = 0
                self.weight_addr = (self.weight_addr + 1) % self.config.depth

    def output(self, word, cycle, valid_cycle=None, strict_latency=False):
        n = self.checked
        self.checked += 1
        self.results_out += 1
        if not self.expected:
            self.compare()
        if not self.expected:
            self.error(f"extra output #{n} {word:#x} at cycle {cycle}")
            return
        index, row = self.expected.popleft()
        got = self.layer.unpack_output(word)
        if got != row:
            self.error(
                f"MISMATCH output #{n} (dot product {index}, cycle {cycle}): expected {row}, "
                f"DUT {got}"
            )

    def discard(self):
        dropped = self.forget(self.expected)
        self.beats_done = self.dots_done = 0
        self.weight_addr = self.weight_pe = 0
        return dropped


class LayerTB(StreamTB):
    """The stream test bench of :mod:`tbbase` with the layer scoreboard and, when the
    manifest has it, a source on the ``w_axis`` weight-load port (``tready`` is 1 by
    contract; checked)."""

    def __init__(self, dut, name, *, fault=None, **traffic):
        path = os.environ.get(MANIFEST_ENV)
        if not path:
            raise RuntimeError(f"{MANIFEST_ENV} is not set: run via test_layer_runner.py")
        self.layer = GoldenLayer(path)
        self.config = self.layer
        latency, self.weight_port = self.layer.latency, self.layer.weight_port
        super().__init__(
            dut,
            name,
            kind="layer",
            make_scoreboard=lambda log: LayerScoreboard(self.layer, log, fault=fault),
            latency=latency,
            result_bits=self.config.out_bits,
            info={"config": self.layer.description},
            **traffic,
        )
        self.sb = self.scoreboard
        self.wsource = None
        self._weights_sent = self._weights_seen = 0
        if self.weight_port:
            self.wsource = AxiStreamSource(
                stream_bus(dut, "w_axis"), dut.clk, dut.rst, byte_lanes=1
            )
            self.wsource.log.setLevel("WARNING")
            self.wsource.set_pause_generator(_weight_pauses(self.rng))

    # -- the weight-load port ----------------------------------------------------------------

    def _init_inputs(self):
        super()._init_inputs()
        if self.weight_port:
            self.dut.w_axis_tvalid.value = 0
            self.dut.w_axis_tlast.value = 0
            self.dut.w_axis_tdata.value = 0

    def _on_reset(self):
        super()._on_reset()
        if self.wsource:
            self.wsource.clear()
            self._weights_sent = self._weights_seen = 0

    def _monitor_extra(self, cycle):
        if not self.wsource or not self.dut.w_axis_tvalid.value:
            return
        dut = self.dut
        if not dut.w_axis_tready.value:
            self.sb.error(f"w_axis_tready low at cycle {cycle}")
            return
        self._weights_seen += 1
        self.sb.weight_beat(dut.w_axis_tdata.value.to_unsigned(), bool(dut.w_axis_tlast.value))

    async def _drain_extra(self, timeout):
        if self.wsource:
            await self.load_done(timeout)

    def load_weights(self, words):
        """Queue weight-memory words on ``w_axis`` as one load (``tlast`` on the last)."""
        self.wsource.send_nowait(list(words))
        self._weights_sent += len(words)

    async def load_done(self, timeout=10000):
        """Wait until every queued weight word was transferred; check the count."""
        await self.wait_until(self.wsource.idle, timeout, "the weight load")
        if self._weights_seen != self._weights_sent:
            self.sb.error(
                f"count mismatch: {self._weights_sent} weight words queued, the monitor saw "
                f"{self._weights_seen}"
            )
        self.check_errors()

    # -- stimulus ------------------------------------------------------------------------------

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

    def send(self, dots, *, open_last=False):
        """Queue dot products (lists of activation rows); ``open_last`` sends the last one
        without its ``tlast`` (only useful before a reset)."""
        words = []
        for dot, packed in zip(dots, self.layer.pack_dots(dots), strict=True):
            words += [(w, k == len(dot) - 1) for k, w in enumerate(packed)]
        if open_last and words:
            words[-1] = (words[-1][0], False)
        return self.send_words(words)

    def random_dots(self, beats, longest):
        top = max(1, min(longest, self.config.engine.max_beats))
        dots, left = [], beats
        while left > 0:
            k = min(left, self.rng.randint(1, top))
            dots.append(self.random_beats(k))
            left -= k
        return dots

    def report(self):
        self.log.info(
            "%d outputs checked, %d dot products dropped by reset, %d cycles",
            self.sb.checked,
            self.sb.discarded,
            self.cycle,
        )


def _weight_pauses(rng):
    while True:
        yield rng.random() < WEIGHT_IDLE


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
    tb.output_held = True
    tb.send(tb.random_dots(7, 3))
    await tb.wait_until(lambda: sb.dots_in >= 2, 2000, "two dot products in")
    await tb.wait_cycles(3 * tb.latency)
    await tb.reset(2)
    tb.output_held = False
    tb.send(tb.random_dots(40, 4))
    await tb.drain()
    # A reset with a dot product half sent.
    tb.send([tb.random_beats(3)], open_last=True)
    await tb.wait_until(tb.source.idle, 2000, "the partial dot product")
    await tb.reset(1)
    tb.send(tb.random_dots(40, 4))
    await tb.drain()
    assert sb.discarded >= 2, f"resets dropped only {sb.discarded} dot products"
    tb.report()


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def test_throughput(dut):
    """No idles, no back-pressure: one beat per II = cycles_per_beat clocks (II = 1: tready
    never drops; II = lanes with log-domain accumulation: every beat after the first waits
    II - 1 cycles) and K beats complete in exactly (K - 1) * II + latency + 1 cycles."""
    tb = LayerTB(dut, "throughput")
    await tb.start()
    k = 150
    ii = tb.config.engine.cycles_per_beat
    tb.send(tb.random_dots(k, 6))
    await tb.drain()
    cycles = tb.last_out_cycle - tb.first_in_cycle + 1
    low = (k - 1) * (ii - 1)
    assert tb.s_ready_low_cycles == low, (
        f"s_axis_tready low in {tb.s_ready_low_cycles} cycles, expected {low}"
    )
    want = (k - 1) * ii + tb.latency + 1
    assert cycles == want, f"{k} beats took {cycles} cycles, expected {want}"
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

    def random_words(n):
        codes = [[tb.rng.randrange(1 << wb) for _ in range(cfg.lanes)] for _ in range(n)]
        return cfg.pack_weight_words(codes)

    tb.load_weights(random_words(cfg.depth * cfg.pes))
    await tb.load_done()
    # A reset rewinds the program counters but keeps the loaded weights.
    await tb.reset(2)
    tb.send(tb.random_dots(60, 5))
    await tb.drain()
    tb.load_weights(random_words(max(1, cfg.pes + 1)))
    await tb.load_done()
    tb.send(tb.random_dots(60, 5))
    await tb.drain()
    # Restore the generated contents (the memories outlive this test), and check them.
    tb.load_weights([w for row in tb.layer.weight_words() for w in row])
    await tb.load_done()
    written, generated = tb.sb.weights
    assert written == generated, "scoreboard weights not restored"
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
