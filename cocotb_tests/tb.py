"""The co-simulation test bench: AXI-Stream driver and sink, monitors, golden model, scoreboard.

One :class:`TB` per cocotb test. It owns the clock, the synchronous reset, an AXI4-Stream
source with seeded random idle cycles, a sink with seeded random backpressure, a monitor on
each stream and an in-order :class:`Scoreboard` that feeds every transferred input beat to
the golden model (:func:`logdot.golden.engine.dot`) and compares every result with it as integers.

Timing discipline (identical on Icarus and Verilator): everything runs in ONE coroutine per
clock cycle. Right after the rising edge it drives the inputs for the new cycle (source
``tvalid/tdata/tlast``, sink ``tready``, ``rst``); in the ``ReadOnly`` phase of the same
cycle it samples the settled outputs. A handshake seen there (``valid & ready``) is the
transfer that the next rising edge performs. Verilator updates registers before cocotb's
rising-edge callback while Icarus does not, so nothing is ever sampled at the edge itself.

Reset semantics checked here: a synchronous reset discards everything in flight. Input
beats transferred before the reset (also the beats of a dot product whose ``tlast`` has not
arrived yet) and results not yet transferred on the output are dropped; the first output
after the reset must be the result of the first dot product sent after it. The scoreboard
forgets its expectations on reset, so a stale result shows up as a mismatch or an extra
output.

The test bench fails (:meth:`TB.finish` raises ``AssertionError``) on any value mismatch,
any extra or missing output, ``X``/``Z`` on ``m_axis_tdata`` while ``m_axis_tvalid`` (and on
the handshake outputs) out of reset (Icarus; Verilator is two-state), an output that drops
``tvalid`` or changes ``tdata`` while back-pressured, and a transfer count mismatch.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import random
from pathlib import Path

import cocotb
import torch
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from stimulus import beats_to_words, unpack_beat

from logdot.golden.engine import dot as golden_dot
from logdot.golden.formats import EngineConfig

__all__ = ["TB", "AxisSink", "AxisSource", "Scoreboard", "load_manifest", "test_seed"]

#: Environment variable naming the manifest JSON of the engine under test (set by the runner).
MANIFEST_ENV = "LOGDOT_MANIFEST"
CLOCK_PERIOD_NS = 10
_MAX_LOGGED_ERRORS = 10


def load_manifest(path=None):
    """Read the engine manifest; return ``(config, latency, manifest)``.

    ``path`` defaults to the ``LOGDOT_MANIFEST`` environment variable.
    """
    if path is None:
        path = os.environ.get(MANIFEST_ENV)
        if not path:
            raise RuntimeError(
                f"{MANIFEST_ENV} is not set: run the engine tests via test_runner.py"
            )
    manifest = json.loads(Path(path).read_text())
    config = EngineConfig(**manifest["parameters"])
    latency = manifest["latency"]
    if isinstance(latency, bool) or not isinstance(latency, int) or latency < 1:
        raise ValueError(f"manifest latency must be a positive integer, not {latency!r}")
    return config, latency, manifest


def test_seed():
    """Seed of the running cocotb test.

    cocotb 2.x reseeds for every test from ``COCOTB_RANDOM_SEED`` and the test's full name
    (``cocotb.RANDOM_SEED``), so a test replays identically whether it runs alone
    (``COCOTB_TEST_FILTER``) or in the whole module.
    """
    return cocotb.RANDOM_SEED


test_seed.__test__ = False  # not a pytest test


def _fmt_beats(beats, limit=4):
    shown = [f"acts={a} weights={w}" for a, w in beats[:limit]]
    more = f" ... (+{len(beats) - limit} beats)" if len(beats) > limit else ""
    return "; ".join(shown) + more


class AxisSource:
    """AXI4-Stream master driving ``s_axis_*`` with seeded random idle cycles.

    A beat, once presented (``tvalid`` high), stays unchanged until it is transferred. On an
    idle cycle ``tdata`` and ``tlast`` carry random garbage that the DUT must ignore.

    Parameters
    ----------
    dut : cocotb handle of the top level.
    rng : random.Random
    idle_prob : float
        Probability of inserting an idle cycle before presenting each beat.
    """

    def __init__(self, dut, rng, idle_prob=0.0):
        if not 0.0 <= idle_prob < 1.0:
            raise ValueError(f"idle_prob must be in [0, 1), not {idle_prob!r}")
        self._dut = dut
        self._rng = rng
        self.idle_prob = idle_prob
        self._bits = len(dut.s_axis_tdata)
        self._queue = collections.deque()
        self._current = None
        self._driven = None
        self.transferred = 0

    def send(self, words):
        """Queue ``(tdata, tlast)`` words."""
        self._queue.extend(words)

    def clear(self):
        """Drop every queued beat and the one presented (used with reset)."""
        self._queue.clear()
        self._current = None

    @property
    def idle(self):
        """True when nothing is queued or presented."""
        return self._current is None and not self._queue

    def drive(self, in_reset):
        dut = self._dut
        if in_reset:
            self._current = None
        elif (
            self._current is None
            and self._queue
            and not (self.idle_prob and self._rng.random() < self.idle_prob)
        ):
            self._current = self._queue.popleft()
        if self._current is not None:
            if self._driven is not self._current:
                data, last = self._current
                dut.s_axis_tdata.value = data
                dut.s_axis_tlast.value = int(last)
                dut.s_axis_tvalid.value = 1
                self._driven = self._current
        else:
            if self._driven is not None or self.idle_prob:
                dut.s_axis_tvalid.value = 0
                if self.idle_prob:
                    dut.s_axis_tdata.value = self._rng.getrandbits(self._bits)
                    dut.s_axis_tlast.value = self._rng.getrandbits(1)
            self._driven = None

    def sample(self, ready):
        if self._current is not None and ready:
            self._current = None
            self.transferred += 1


class AxisSink:
    """AXI4-Stream slave driving ``m_axis_tready`` with seeded random backpressure.

    Parameters
    ----------
    dut : cocotb handle of the top level.
    rng : random.Random
    backpressure : float
        Probability that ``tready`` is low in a cycle.
    reactive : bool
        Raise ``tready`` only in cycles after ``tvalid`` was seen high, so a DUT whose
        ``tvalid`` waited for ``tready`` would deadlock (AXI4-Stream forbids the wait).
    """

    def __init__(self, dut, rng, backpressure=0.0, reactive=False):
        if not 0.0 <= backpressure < 1.0:
            raise ValueError(f"backpressure must be in [0, 1), not {backpressure!r}")
        self._dut = dut
        self._rng = rng
        self.backpressure = backpressure
        self.reactive = reactive
        self._paused = False
        self.ever_paused = False
        self._driven = None
        self.ready = False

    @property
    def paused(self):
        """Hold ``tready`` low (set by a test)."""
        return self._paused

    @paused.setter
    def paused(self, value):
        self._paused = bool(value)
        self.ever_paused |= self._paused

    def drive(self, in_reset, valid_seen):
        ready = not in_reset and not self._paused
        if ready and self.reactive and not valid_seen:
            ready = False
        if ready and self.backpressure and self._rng.random() < self.backpressure:
            ready = False
        if ready != self._driven:
            self._dut.m_axis_tready.value = int(ready)
            self._driven = ready
        self.ready = ready


class Scoreboard:
    """In-order scoreboard: input beats -> golden model -> expected results <-> outputs.

    The input monitor feeds every transferred beat (:meth:`add_beat`); the output monitor
    every transferred result (:meth:`check`). Results are compared in batches of
    :attr:`batch` (and at every :meth:`compare`, which :meth:`TB.drain` calls): the closed dot
    products are run through :func:`logdot.golden.engine.dot` in one call per batch, then expected
    and actual results are paired in order. A result can never precede the ``tlast`` of its
    dot product, so an actual result left without an expected one is an extra output.

    With ``latency`` given, a result received while the sink never back-pressured must appear
    exactly ``latency`` cycles after its last input beat.

    ``fault`` deliberately corrupts the model for the checks that the scoreboard can fail:
    ``("plus_one", k)`` adds 1 to expected result ``k``, ``("drop", k)`` forgets result ``k``,
    ``("extra", k)`` expects a phantom result after result ``k`` (``k`` counts from 0 over the
    whole test).
    """

    batch = 64

    def __init__(self, config, log, *, latency=None, fault=None):
        self._config = config
        self._log = log
        self._latency = latency
        self.fault = fault
        self._partial = []
        self._pending = []  # closed dot products: (beats, last_beat_cycle)
        self._expected = collections.deque()  # (value, info dict)
        self._actual = collections.deque()  # (value, cycle, first_valid_cycle, strict)
        self.errors = []
        self.dots_in = 0  # closed dot products since the last reset
        self.results_out = 0  # results transferred since the last reset
        self.checked = 0  # results compared over the whole test
        self.discarded = 0  # dot products dropped by resets
        self._model_index = 0
        self.latencies = []  # (dot product index, first-valid cycle - last-beat cycle)

    # -- input side -----------------------------------------------------------------------

    def add_beat(self, word, last, cycle):
        self._partial.append(unpack_beat(self._config, word))
        if last:
            self._pending.append((self._partial, cycle))
            self._partial = []
            self.dots_in += 1

    @property
    def open_beats(self):
        """Beats of a dot product whose ``tlast`` has not been seen."""
        return len(self._partial)

    @property
    def outstanding(self):
        """Results expected but not received yet (negative: more received than expected)."""
        return len(self._pending) + len(self._expected) - len(self._actual)

    def _run_model(self):
        if not self._pending:
            return
        acts, weights, last = [], [], []
        for beats, _ in self._pending:
            for k, (a, w) in enumerate(beats):
                acts.append(a)
                weights.append(w)
                last.append(k == len(beats) - 1)
        values = golden_dot(
            self._config,
            torch.tensor(acts, dtype=torch.int64),
            torch.tensor(weights, dtype=torch.int64),
            torch.tensor(last, dtype=torch.bool),
        ).tolist()
        if len(values) != len(self._pending):
            raise AssertionError(
                f"golden model returned {len(values)} results for {len(self._pending)} dot products"
            )
        for (beats, cycle), value in zip(self._pending, values, strict=True):
            index = self._model_index
            self._model_index += 1
            info = {"index": index, "beats": beats, "last_cycle": cycle}
            kind, k = self.fault if self.fault else (None, None)
            if kind == "plus_one" and index == k:
                value += 1
            if kind == "drop" and index == k:
                continue
            self._expected.append((int(value), info))
            if kind == "extra" and index == k:
                self._expected.append((0, {"index": -1, "beats": [], "last_cycle": cycle}))
        self._pending = []

    # -- output side ----------------------------------------------------------------------

    def error(self, message):
        self.errors.append(message)
        if len(self.errors) <= _MAX_LOGGED_ERRORS:
            self._log.error(message)

    def check(self, actual, cycle, valid_cycle, strict_latency=False):
        """Queue one transferred result (signed integer) for in-order comparison."""
        self.results_out += 1
        self._actual.append((actual, cycle, valid_cycle, strict_latency))
        if len(self._actual) >= self.batch:
            self.compare()

    def compare(self):
        """Run the model on every closed dot product and compare all received results."""
        self._run_model()
        while self._actual and self._expected:
            actual, cycle, valid_cycle, strict = self._actual.popleft()
            value, info = self._expected.popleft()
            n = self.checked
            self.checked += 1
            latency = valid_cycle - info["last_cycle"]
            self.latencies.append((info["index"], latency))
            if actual != value:
                self.error(
                    f"MISMATCH result #{n} (dot product {info['index']}, {len(info['beats'])} "
                    f"beats, last beat cycle {info['last_cycle']}, output cycle {cycle}): "
                    f"expected {value} ({value & (1 << 64) - 1:#x}), DUT {actual} "
                    f"({actual & (1 << 64) - 1:#x}), diff {actual - value}; "
                    f"{_fmt_beats(info['beats'])}"
                )
            elif strict and self._latency is not None and latency != self._latency:
                self.error(
                    f"latency {latency} != manifest latency {self._latency} for result #{n} "
                    f"(last beat cycle {info['last_cycle']}, valid from cycle {valid_cycle}, "
                    "no backpressure)"
                )
        while self._actual:
            actual, cycle, _, _ = self._actual.popleft()
            n = self.checked
            self.checked += 1
            self.error(
                f"extra output #{n}: {actual} (cycle {cycle}) with no dot product outstanding"
            )

    def discard(self):
        """Compare what was received, then forget everything in flight (reset)."""
        self.compare()
        dropped = len(self._pending) + len(self._expected) + (1 if self._partial else 0)
        self.discarded += dropped
        self._partial = []
        self._pending = []
        self._expected.clear()
        self.dots_in = 0
        self.results_out = 0
        return dropped


class TB:
    """Test bench for one engine (the DUT built from the manifest in ``LOGDOT_MANIFEST``).

    Parameters
    ----------
    dut : cocotb handle of the ``logdot`` top level.
    name : str
        Test label for the log (the seed comes from cocotb, see :func:`test_seed`).
    idle_prob : float
        Source idle-cycle probability (explicit option, 0 disables).
    backpressure : float
        Sink ``tready``-low probability (explicit option, 0 disables).
    reactive : bool
        Sink raises ``tready`` only after it saw ``tvalid`` (see :class:`AxisSink`).
    fault : tuple or None
        Deliberate model corruption (see :class:`Scoreboard`), for the can-fail checks.
    """

    def __init__(self, dut, name, *, idle_prob=0.0, backpressure=0.0, reactive=False, fault=None):
        self.dut = dut
        self.config, self.latency, self.manifest = load_manifest()
        self.seed = test_seed()
        self.rng = random.Random(self.seed)
        self.log = logging.getLogger(f"cocotb.tb.{name}")
        self.log.setLevel(logging.INFO)
        self.log.info(
            "test %s: seed %d (COCOTB_RANDOM_SEED=%s), idle %.2f, backpressure %.2f%s, "
            "latency %d, config %s",
            name,
            self.seed,
            os.environ.get("COCOTB_RANDOM_SEED", "?"),
            idle_prob,
            backpressure,
            " (reactive)" if reactive else "",
            self.latency,
            self.config,
        )
        self.source = AxisSource(dut, self.rng, idle_prob)
        self.sink = AxisSink(dut, self.rng, backpressure, reactive)
        self.scoreboard = Scoreboard(self.config, self.log, latency=self.latency, fault=fault)
        self.cycle = 0
        self.beats_in = 0
        self.s_ready_low_cycles = 0  # out-of-reset cycles with tvalid & !tready
        self.first_in_cycle = None
        self.last_out_cycle = None
        self._rst_left = 0
        self._rst_driven = None
        self._valid_seen = False
        self._stalled = None  # m_axis_tdata held under backpressure
        self._valid_since = None
        self._task = None

    # -- set-up ---------------------------------------------------------------------------

    async def start(self, reset_cycles=3):
        """Start the clock and the per-cycle loop, then reset the DUT."""
        dut = self.dut
        dut.rst.value = 1
        dut.s_axis_tvalid.value = 0
        dut.s_axis_tlast.value = 0
        dut.s_axis_tdata.value = 0
        dut.m_axis_tready.value = 0
        self._rst_driven = True
        Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start(start_high=False)
        self._rst_left = reset_cycles
        self._task = cocotb.start_soon(self._run())
        await ClockCycles(dut.clk, reset_cycles + 1)

    async def reset(self, cycles=2):
        """Assert ``rst`` for ``cycles`` cycles from the next edge; drop everything in flight."""
        self._rst_left = cycles
        await ClockCycles(self.dut.clk, cycles + 1)

    # -- the per-cycle loop ---------------------------------------------------------------

    async def _run(self):
        dut = self.dut
        edge, read_only = RisingEdge(dut.clk), ReadOnly()
        sb = self.scoreboard
        out_bits = 8 * self.config.out_bytes
        while True:
            await edge
            self.cycle += 1
            in_reset = self._rst_left > 0
            if in_reset:
                self._rst_left -= 1
                if not self._rst_driven:
                    dropped = sb.discard()
                    self.source.clear()
                    self.log.info("reset at cycle %d: %d dot products dropped", self.cycle, dropped)
            if in_reset != self._rst_driven:
                dut.rst.value = int(in_reset)
                self._rst_driven = in_reset
            self.source.drive(in_reset)
            self.sink.drive(in_reset, self._valid_seen)
            await read_only
            if in_reset:
                self._stalled = None
                self._valid_since = None
                self._valid_seen = False
                continue
            cycle = self.cycle
            # input side
            s_valid = dut.s_axis_tvalid.value
            s_ready = dut.s_axis_tready.value
            if not s_ready.is_resolvable:
                sb.error(f"s_axis_tready is {s_ready} at cycle {cycle}")
                s_ready = False
            if s_valid:
                if s_ready:
                    self.beats_in += 1
                    if self.first_in_cycle is None:
                        self.first_in_cycle = cycle
                    sb.add_beat(
                        dut.s_axis_tdata.value.to_unsigned(), bool(dut.s_axis_tlast.value), cycle
                    )
                else:
                    self.s_ready_low_cycles += 1
            self.source.sample(bool(s_ready))
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
                if self._stalled is not None and word != self._stalled:
                    sb.error(
                        f"m_axis_tdata changed under backpressure at cycle {cycle}: "
                        f"{self._stalled:#x} -> {word:#x}"
                    )
                if self.sink.ready:
                    value = self.config.unpack_result(word)
                    if word >> out_bits:
                        sb.error(f"m_axis_tdata {word:#x} wider than {out_bits} bits")
                    sb.check(value, cycle, self._valid_since, self.strict_latency)
                    self.last_out_cycle = cycle
                    self._stalled = None
                    self._valid_since = None
                else:
                    self._stalled = word
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
        sink = self.sink
        return not (sink.backpressure or sink.reactive or sink.ever_paused)

    def send(self, dots, *, open_last=False):
        """Queue dot products (lists of ``(acts, weights)`` beats) on the source; return the
        number of beats. ``open_last`` sends the last dot product without its ``tlast`` (only
        useful before a reset)."""
        words = beats_to_words(self.config, dots)
        if open_last and words:
            words[-1] = (words[-1][0], False)
        self.source.send(words)
        return len(words)

    def check_errors(self):
        """Raise ``AssertionError`` listing the scoreboard's errors, if any."""
        errors = self.scoreboard.errors
        if errors:
            shown = "\n  ".join(errors[:_MAX_LOGGED_ERRORS])
            more = (
                f"\n  ... and {len(errors) - _MAX_LOGGED_ERRORS} more"
                if len(errors) > _MAX_LOGGED_ERRORS
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

    async def drain(self, tail=None):
        """End-of-stream check: wait for every queued beat and every result, then check that
        no extra output appears for ``tail`` more cycles and that the counts agree."""
        sb = self.scoreboard
        slack = 1.0 / ((1.0 - self.source.idle_prob) * (1.0 - self.sink.backpressure))
        left = len(self.source._queue) + 1 + max(0, sb.outstanding)
        timeout = int(100 + 4 * self.latency + 8 * slack * left)
        await self.wait_until(lambda: self.source.idle, timeout, "the source to send every beat")
        if sb.open_beats:
            raise AssertionError(
                f"test bug: the stream ended inside a dot product ({sb.open_beats} beats "
                "without tlast)"
            )
        sb.compare()  # every dot product is closed now: run the model on all of them
        self.check_errors()
        timeout = int(100 + 4 * self.latency + 8 * slack * (max(0, sb.outstanding) + 1))
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
        if self.beats_in != self.source.transferred:
            sb.error(
                f"count mismatch: source transferred {self.source.transferred} beats, "
                f"monitor saw {self.beats_in}"
            )
        self.check_errors()

    def report(self):
        sb = self.scoreboard
        self.log.info(
            "%d beats in, %d results checked, %d dot products dropped by reset, %d cycles",
            self.beats_in,
            sb.checked,
            sb.discarded,
            self.cycle,
        )
