"""The common co-simulation test bench: clock, reset, AXI-Stream drivers, per-cycle monitor.

:class:`StreamTB` is the base of the engine bench (:class:`tb.TB`) and of the layer bench
(``test_layer.LayerTB``); they differ only in the scoreboard (the golden model) and the
layer's extra weight-load port. It owns

* the clock and the synchronous active-high reset ``rst``;
* a cocotbext-axi :class:`~cocotbext.axi.AxiStreamSource` on the ``s_axis`` port prefix with
  seeded random idle cycles (its pause generator), and random garbage (or ``X``/``Z``) on
  ``tdata`` and ``tlast`` in every cycle with ``tvalid`` low;
* a cocotbext-axi :class:`~cocotbext.axi.AxiStreamSink` on ``m_axis`` with seeded random
  back-pressure (its pause generator), an explicit hold (:attr:`StreamTB.output_held`) and a
  *reactive* mode that raises ``tready`` only after it saw ``tvalid``;
* ONE per-cycle monitor coroutine that, in the ``ReadOnly`` phase of every cycle, samples
  the settled handshakes (a ``valid & ready`` seen there is the transfer of the next rising
  edge), feeds every transferred input beat and output word to the scoreboard with its
  cycle number, and checks the output protocol: no ``X``/``Z`` on ``m_axis_tdata`` while
  ``m_axis_tvalid`` nor on the handshake outputs (Icarus; Verilator is two-state),
  ``tvalid`` never dropped and ``tdata``/``tlast`` never changed while back-pressured, and
  ``m_axis_tlast`` of every output transfer equal to the contract's rule
  (:meth:`StreamScoreboard.expected_tlast`: the golden model's ``output_tlast``).

Every port is bound by its prefix (``AxiStreamBus.from_prefix``) with ``byte_lanes=1``: one
bus "byte" is one whole beat, so port widths that are not a multiple of 8 (the layer's
``w_axis_tdata``) need no byte packing. On ``s_axis`` the design's ``tlast`` is carried as
cocotbext-axi's per-beat ``tuser`` sideband, so a stream may end without ``tlast`` (a
dot product cut by a reset); ``m_axis_tlast`` is bound the same way on the sink (one frame
per beat, its ``tlast`` in ``tuser``, compared word by word with the monitor's);
``w_axis`` has its ``tlast`` bound as ``tlast`` (a load frame).

The drivers sample handshakes at the rising edge (cocotbext-axi), the monitor in
``ReadOnly``; :meth:`StreamTB.drain` cross-checks them: the beats the monitor saw since the
last reset equal the beats queued since then, and the words the sink received (with their
``tlast``) equal the words the monitor saw, in order.

Reset semantics (checked by the scoreboards): a synchronous reset discards everything in
flight; the queued beats are dropped (``source.clear()``, and cocotbext-axi flushes the
frame in progress), the scoreboard forgets its expectations.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import warnings
from typing import ClassVar

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge
from cocotb.types import Logic, LogicArray

# cocotbext-axi 0.1.28 calls APIs that cocotb 2.1 deprecates (setimmediatevalue, Edge); the
# runners turn DeprecationWarnings into errors, so those of cocotbext only are silenced.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\.")

from cocotbext.axi import (  # noqa: E402
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)

__all__ = [
    "CLOCK_PERIOD_NS",
    "Checker",
    "StreamScoreboard",
    "StreamTB",
    "stream_bus",
    "test_seed",
]

CLOCK_PERIOD_NS = 10
MAX_LOGGED_ERRORS = 10
#: ``idle_fill`` modes: what ``s_axis_tdata``/``tlast`` carry while ``tvalid`` is low.
IDLE_FILLS = ("random", "xz", None)


def test_seed():
    """Seed of the running cocotb test.

    cocotb 2.x reseeds for every test from ``COCOTB_RANDOM_SEED`` and the test's full name
    (``cocotb.RANDOM_SEED``), so a test replays identically whether it runs alone
    (``COCOTB_TEST_FILTER``) or in the whole module.
    """
    return cocotb.RANDOM_SEED


test_seed.__test__ = False  # not a pytest test


class _TlastAsUserBus(AxiStreamBus):
    """An AXI-Stream bus whose ``tlast`` port is bound as the per-beat ``tuser`` sideband."""

    _optional_signals: ClassVar = {"tvalid": "tvalid", "tready": "tready", "tuser": "tlast"}


def stream_bus(dut, prefix, *, tlast_per_beat=False):
    """The :class:`~cocotbext.axi.AxiStreamBus` of the ports ``<prefix>_t*`` of ``dut``.

    ``tlast_per_beat`` binds ``<prefix>_tlast`` as ``tuser``, so every beat's ``tlast`` is set
    explicitly (a frame of cocotbext-axi then need not end with ``tlast``).
    """
    if tlast_per_beat:
        return _TlastAsUserBus.from_prefix(dut, prefix)
    return AxiStreamBus.from_prefix(dut, prefix)


def _pauses(rng, prob):
    while True:
        yield rng.random() < prob


class Checker:
    """Error collection shared by the scoreboards: :meth:`error` logs and records."""

    def __init__(self, log):
        self.log = log
        self.errors = []

    def error(self, message):
        self.errors.append(message)
        if len(self.errors) <= MAX_LOGGED_ERRORS:
            self.log.error(message)


class StreamScoreboard(Checker):
    """The input side shared by the scoreboards: transferred beats are decoded
    (:meth:`decode`) and grouped into dot products at ``tlast``; counts since the last reset.

    ``_closed`` holds the closed dot products not yet run through the model, as ``(beats,
    cycle of the last beat)``; :meth:`forget` drops everything in flight (a reset).
    """

    def __init__(self, log):
        super().__init__(log)
        self._open = []  # beats of the dot product in progress
        self._closed = []  # (beats, last beat cycle) of closed, not yet modelled dot products
        self.dots_in = 0  # closed dot products since the last reset
        self.results_out = 0  # results transferred since the last reset
        self.checked = 0  # results compared over the whole test
        self.discarded = 0  # dot products dropped by resets

    def decode(self, word):
        """One beat's values from ``s_axis_tdata`` (subclasses)."""
        raise NotImplementedError

    def add_beat(self, word, last, cycle):
        self._open.append(self.decode(word))
        if last:
            self._closed.append((self._open, cycle))
            self._open = []
            self.dots_in += 1

    @property
    def open_beats(self):
        """Beats of a dot product whose ``tlast`` has not been seen."""
        return len(self._open)

    def expected_tlast(self, index):
        """``m_axis_tlast`` the contract gives output transfer ``index`` (counted from 0
        since the last reset; subclasses: the golden rule of the engine kind)."""
        raise NotImplementedError

    def forget(self, expected):
        """Drop the beats in flight and ``expected`` (a container of the expected results,
        cleared); return the number of dot products dropped."""
        dropped = len(self._closed) + len(expected) + (1 if self._open else 0)
        self.discarded += dropped
        self._open, self._closed = [], []
        expected.clear()
        self.dots_in = self.results_out = 0
        return dropped


class StreamTB:
    """Clock, reset, ``s_axis`` source, ``m_axis`` sink and the per-cycle monitor.

    Parameters
    ----------
    dut : cocotb handle of the top level.
    name : str
        Test label for the log (the seed comes from cocotb, see :func:`test_seed`).
    kind : str
        Logger name part (``cocotb.<kind>.<name>``).
    make_scoreboard : callable
        ``make_scoreboard(log)``: the model side, a :class:`StreamScoreboard` with
        ``output(word, cycle, valid_cycle, strict_latency)``, ``compare()``,
        ``discard()`` and ``outstanding``.
    latency : int
        Cycles from the last input beat to the result (manifest), for the timeouts.
    result_bits : int
        Bits of ``m_axis_tdata`` that may be set; a word with higher bits set is an error.
    info : dict, optional
        Further ``name: value`` pairs logged at the start.
    idle_prob : float
        Probability that the source idles in a cycle (explicit option, 0 disables).
    backpressure : float
        Probability that the sink holds ``tready`` low in a cycle (explicit option, 0
        disables).
    reactive : bool
        The sink raises ``tready`` only in cycles after it saw ``tvalid``: a DUT whose
        ``tvalid`` waited for ``tready`` would deadlock (AXI4-Stream forbids the wait).
    idle_fill : {"random", "xz", None}
        What ``s_axis_tdata``/``tlast`` carry while ``tvalid`` is low: random garbage (when
        ``idle_prob`` > 0), alternately all ``X`` and all ``Z`` (Icarus; Verilator sees 0),
        or whatever the source left there.
    """

    def __init__(
        self,
        dut,
        name,
        *,
        kind,
        make_scoreboard,
        latency,
        result_bits,
        info=None,
        idle_prob=0.0,
        backpressure=0.0,
        reactive=False,
        idle_fill="random",
    ):
        if not 0.0 <= idle_prob < 1.0:
            raise ValueError(f"idle_prob must be in [0, 1), not {idle_prob!r}")
        if not 0.0 <= backpressure < 1.0:
            raise ValueError(f"backpressure must be in [0, 1), not {backpressure!r}")
        if idle_fill not in IDLE_FILLS:
            raise ValueError(f"idle_fill must be one of {IDLE_FILLS}, not {idle_fill!r}")
        self.dut = dut
        self.seed = test_seed()
        self.rng = rng = random.Random(self.seed)
        self.log = logging.getLogger(f"cocotb.{kind}.{name}")
        self.log.setLevel(logging.INFO)
        details = {
            "idle": idle_prob,
            "backpressure": backpressure,
            "reactive": reactive,
            **(info or {}),
        }
        self.log.info(
            "test %s: seed %d (COCOTB_RANDOM_SEED=%s), %s",
            name,
            self.seed,
            os.environ.get("COCOTB_RANDOM_SEED", "?"),
            ", ".join(f"{k} {v}" for k, v in details.items()),
        )
        self.scoreboard = make_scoreboard(self.log)
        self.latency = latency
        self.result_bits = result_bits
        self.idle_prob = idle_prob
        self.backpressure = backpressure
        self.reactive = reactive
        self.idle_fill = idle_fill
        self.source = AxiStreamSource(
            stream_bus(dut, "s_axis", tlast_per_beat=True), dut.clk, dut.rst, byte_lanes=1
        )
        self.sink = AxiStreamSink(
            stream_bus(dut, "m_axis", tlast_per_beat=True), dut.clk, dut.rst, byte_lanes=1
        )
        for port in (self.source, self.sink):
            port.log.setLevel(logging.WARNING)
        if idle_prob:
            self.source.set_pause_generator(_pauses(rng, idle_prob))
        self.sink.set_pause_generator(self._sink_pauses())
        self._held = False
        self.ever_held = False
        self.cycle = 0
        self.beats_in = 0  # input beats the monitor saw (whole test)
        self.s_ready_low_cycles = 0  # out-of-reset cycles with s_axis tvalid & !tready
        self.first_in_cycle = None
        self.last_out_cycle = None
        self.filled_cycles = 0  # cycles with idle_fill data on s_axis while tvalid low
        self._beats_sent = 0  # since the last reset
        self._beats_seen = 0  # since the last reset
        self._out_words = collections.deque()  # monitor's output words, for the sink check
        self._rst_left = 0
        self._rst_driven = None
        self._valid_seen = False
        self._stalled = None  # (m_axis_tdata, m_axis_tlast) held under back-pressure
        self._valid_since = None

    # -- drivers ---------------------------------------------------------------------------

    @property
    def output_held(self):
        """Hold ``m_axis_tready`` low (set by a test)."""
        return self._held

    @output_held.setter
    def output_held(self, value):
        self._held = bool(value)
        self.ever_held |= self._held

    def _sink_pauses(self):
        rng, bp = self.rng, self.backpressure
        while True:
            yield (
                self._held
                or (self.reactive and not self._valid_seen)
                or bool(bp and rng.random() < bp)
            )

    async def _fill_idle(self):
        dut = self.dut
        width = len(dut.s_axis_tdata)
        fall = FallingEdge(dut.clk)
        while True:
            await fall
            if dut.s_axis_tvalid.value != 0:
                continue
            self.filled_cycles += 1
            if self.idle_fill == "xz":
                v = "X" if self.filled_cycles % 2 else "Z"
                dut.s_axis_tdata.value = LogicArray(v * width)
                dut.s_axis_tlast.value = Logic(v)
            else:
                dut.s_axis_tdata.value = self.rng.getrandbits(width)
                dut.s_axis_tlast.value = self.rng.getrandbits(1)

    def send_words(self, words):
        """Queue ``(tdata, tlast)`` words on ``s_axis`` (one frame); return their number."""
        words = list(words)
        if words:
            frame = AxiStreamFrame([w for w, _ in words], tuser=[int(last) for _, last in words])
            self.source.send_nowait(frame)
            self._beats_sent += len(words)
        return len(words)

    # -- set-up ----------------------------------------------------------------------------

    def _init_inputs(self):
        """Drive every input to its idle value before the clock starts (subclasses add)."""
        dut = self.dut
        dut.rst.value = 1
        dut.s_axis_tvalid.value = 0
        dut.s_axis_tlast.value = 0
        dut.s_axis_tdata.value = 0
        dut.m_axis_tready.value = 0

    async def start(self, reset_cycles=3):
        """Start the clock and the per-cycle monitor, then reset the DUT."""
        self._init_inputs()
        self._rst_driven = True
        Clock(self.dut.clk, CLOCK_PERIOD_NS, unit="ns").start(start_high=False)
        self._rst_left = reset_cycles
        cocotb.start_soon(self._run())
        if self.idle_fill == "xz" or (self.idle_fill == "random" and self.idle_prob):
            cocotb.start_soon(self._fill_idle())
        await ClockCycles(self.dut.clk, reset_cycles + 1)

    async def reset(self, cycles=2):
        """Assert ``rst`` for ``cycles`` cycles from the next edge; drop everything in flight."""
        self._rst_left = cycles
        await ClockCycles(self.dut.clk, cycles + 1)

    def _on_reset(self):
        """Forget everything in flight (called at the edge where ``rst`` rises)."""
        dropped = self.scoreboard.discard()
        self.source.clear()
        self._beats_sent = self._beats_seen = 0
        self.log.info("reset at cycle %d: %d dot products dropped", self.cycle, dropped)

    def _monitor_extra(self, cycle):
        """Hook: sample further ports in ``ReadOnly`` (before ``s_axis``)."""

    # -- the per-cycle monitor ------------------------------------------------------------

    async def _run(self):
        dut = self.dut
        edge, read_only = RisingEdge(dut.clk), ReadOnly()
        sb = self.scoreboard
        while True:
            await edge
            self.cycle += 1
            in_reset = self._rst_left > 0
            if in_reset:
                self._rst_left -= 1
                if not self._rst_driven:
                    self._on_reset()
            if in_reset != self._rst_driven:
                dut.rst.value = int(in_reset)
                self._rst_driven = in_reset
            await read_only
            if in_reset:
                self._stalled = None
                self._valid_since = None
                self._valid_seen = False
                continue
            cycle = self.cycle
            self._monitor_extra(cycle)
            # input side
            s_ready = dut.s_axis_tready.value
            if not s_ready.is_resolvable:
                sb.error(f"s_axis_tready is {s_ready} at cycle {cycle}")
                s_ready = False
            if dut.s_axis_tvalid.value:
                if s_ready:
                    self.beats_in += 1
                    self._beats_seen += 1
                    if self.first_in_cycle is None:
                        self.first_in_cycle = cycle
                    sb.add_beat(
                        dut.s_axis_tdata.value.to_unsigned(), bool(dut.s_axis_tlast.value), cycle
                    )
                else:
                    self.s_ready_low_cycles += 1
            # output side
            m_valid = dut.m_axis_tvalid.value
            if not m_valid.is_resolvable:
                sb.error(f"m_axis_tvalid is {m_valid} at cycle {cycle}")
                continue
            if m_valid:
                self._valid_seen = True
                if self._valid_since is None:
                    self._valid_since = cycle
                data = dut.m_axis_tdata.value
                if not data.is_resolvable:
                    sb.error(f"m_axis_tdata is {data} while m_axis_tvalid at cycle {cycle}")
                    continue
                word = data.to_unsigned()
                tlast_value = dut.m_axis_tlast.value
                if not tlast_value.is_resolvable:
                    sb.error(f"m_axis_tlast is {tlast_value} while m_axis_tvalid at cycle {cycle}")
                    continue
                tlast = bool(tlast_value)
                if self._stalled is not None and (word, tlast) != self._stalled:
                    sb.error(
                        f"m_axis_tdata/tlast changed under backpressure at cycle {cycle}: "
                        f"{self._stalled[0]:#x}/{int(self._stalled[1])} -> {word:#x}/{int(tlast)}"
                    )
                if dut.m_axis_tready.value:
                    if word >> self.result_bits:
                        sb.error(f"m_axis_tdata {word:#x} wider than {self.result_bits} bits")
                    want = sb.expected_tlast(sb.results_out)
                    if tlast != want:
                        sb.error(
                            f"m_axis_tlast {int(tlast)} != {int(want)} on output #"
                            f"{sb.results_out} since reset (cycle {cycle})"
                        )
                    self._out_words.append((word, tlast))
                    sb.output(word, cycle, self._valid_since, self.strict_latency)
                    self.last_out_cycle = cycle
                    self._stalled = None
                    self._valid_since = None
                else:
                    self._stalled = (word, tlast)
            else:
                self._valid_seen = False
                if self._stalled is not None:
                    sb.error(f"m_axis_tvalid dropped under backpressure at cycle {cycle}")
                    self._stalled = None
                self._valid_since = None

    # -- test-facing API ------------------------------------------------------------------

    @property
    def strict_latency(self):
        """True while the sink has never back-pressured: every result must then appear
        exactly ``latency`` cycles after its last input beat."""
        return not (self.backpressure or self.reactive or self.ever_held)

    def check_errors(self):
        """Raise ``AssertionError`` listing the scoreboard's errors, if any."""
        errors = self.scoreboard.errors
        if errors:
            shown = "\n  ".join(errors[:MAX_LOGGED_ERRORS])
            more = (
                f"\n  ... and {len(errors) - MAX_LOGGED_ERRORS} more"
                if len(errors) > MAX_LOGGED_ERRORS
                else ""
            )
            raise AssertionError(
                f"{len(errors)} scoreboard error(s) (COCOTB_RANDOM_SEED="
                f"{os.environ.get('COCOTB_RANDOM_SEED', '?')}, config {self.config}):\n"
                f"  {shown}{more}"
            )

    async def wait_cycles(self, n):
        await ClockCycles(self.dut.clk, n)
        self.check_errors()

    async def wait_until(self, predicate, timeout, what):
        """Wait (checking each cycle) until ``predicate()``; fail after ``timeout`` cycles.

        ``what`` (a string, or a callable returning one at the time of the failure) says what
        was awaited.
        """
        start = self.cycle
        clk = self.dut.clk
        while not predicate():
            await RisingEdge(clk)
            self.check_errors()
            if self.cycle - start > timeout:
                text = what() if callable(what) else what
                raise AssertionError(f"timeout after {timeout} cycles waiting for {text}")

    async def _drain_extra(self, timeout):
        """Hook: wait for further sources to finish (before the outputs are awaited)."""

    def _check_sink(self):
        """The words the sink received are the words the monitor saw, in order, each with its
        ``tlast`` (bound as the sink's per-beat ``tuser``: one frame per beat)."""
        got = []
        while not self.sink.empty():
            frame = self.sink.recv_nowait()
            user = frame.tuser  # compact() makes a uniform sideband one int
            user = [user] * len(frame.tdata) if isinstance(user, int) else user
            got += [(d, bool(u)) for d, u in zip(frame.tdata, user, strict=True)]
        seen = [self._out_words.popleft() for _ in range(len(self._out_words))]
        if got != seen:
            pairs = zip(got, seen, strict=False)
            first = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(got), len(seen)))
            self.scoreboard.error(
                f"sink/monitor disagree: the sink received {len(got)} words, the monitor saw "
                f"{len(seen)} transfers (first difference at word {first})"
            )

    async def drain(self, tail=None):
        """End-of-stream check: wait for every queued beat and every result, then check that
        no extra output appears for ``tail`` more cycles and that the counts agree."""
        sb = self.scoreboard
        slack = 1.0 / ((1.0 - self.idle_prob) * (1.0 - self.backpressure))
        left = self.source.queue_occupancy_bytes + 1 + max(0, sb.outstanding)
        timeout = int(200 + 4 * self.latency + 8 * slack * left)
        await self.wait_until(self.source.idle, timeout, "the source to send every beat")
        await self._drain_extra(timeout)
        if sb.open_beats:
            raise AssertionError(
                f"test bug: the stream ended inside a dot product ({sb.open_beats} beats "
                "without tlast)"
            )
        sb.compare()  # every dot product is closed now: run the model on all of them
        self.check_errors()
        timeout = int(200 + 4 * self.latency + 8 * slack * (max(0, sb.outstanding) + 1))
        await self.wait_until(
            lambda: sb.outstanding <= 0,
            timeout,
            lambda: (
                f"{sb.outstanding} missing result(s) (dot products in {sb.dots_in}, "
                f"results out {sb.results_out})"
            ),
        )
        sb.compare()
        self.check_errors()
        tail = 2 * self.latency + 16 if tail is None else tail
        await self.wait_cycles(tail)
        sb.compare()
        if self._valid_since is not None:
            sb.error(
                f"extra output: m_axis_tvalid high since cycle {self._valid_since} after every "
                "result was received"
            )
        if sb.dots_in != sb.results_out:
            sb.error(f"count mismatch: {sb.dots_in} dot products in, {sb.results_out} results out")
        if self._beats_seen != self._beats_sent:
            sb.error(
                f"count mismatch: {self._beats_sent} beats queued since the last reset, the "
                f"monitor saw {self._beats_seen} transferred"
            )
        self._check_sink()
        self.check_errors()
