"""cocotb tests of one generated constant-weight engine against the golden model (run by
test_const_runner.py).

The engine is described by the manifest (schema ``logdot.const_engine/1``) named in
``LOGDOT_CONST_MANIFEST``; ``LOGDOT_RANDOM_BEATS`` sets the random beats of ``test_random``.
The test bench is the engine's (:class:`tbbase.StreamTB`: clock, reset, cocotbext-axi
source and sink, the per-cycle monitor and its protocol checks) with the engine's in-order
scoreboard (:class:`tb.Scoreboard`, :func:`logdot.golden.engine.dot`), fed with the
constant weights on every beat: an input word carries only the activations.
"""

from __future__ import annotations

import os

import cocotb
import golden_service as golden
import stimulus as st
from cocotb import Param
from tb import Scoreboard
from tbbase import StreamTB

from logdot.golden.const import ConstWeights
from logdot.golden.formats import EngineConfig

RANDOM_BEATS = int(os.environ.get("LOGDOT_RANDOM_BEATS", "2000"))
MANIFEST_ENV = "LOGDOT_CONST_MANIFEST"

TRAFFIC = [
    Param((0.0, 0.0, False), "none"),
    Param((0.3, 0.5, False), "idle+backpressure"),
    Param((0.2, 0.3, True), "reactive-sink"),
]


def load_const_manifest():
    """``(ConstWeights, latency)`` of the manifest named by ``LOGDOT_CONST_MANIFEST`` (read by
    the golden service, ``manifest.read``: its schema is the generator's)."""
    manifest = golden.call("manifest.read", "const", os.environ[MANIFEST_ENV])
    config = EngineConfig(**manifest["parameters"])
    return ConstWeights(config, manifest["const_weights"]["weights"]), manifest["latency_cycles"]


class ConstScoreboard(Scoreboard):
    """The engine's scoreboard; a beat decodes to its activations and the constant weights."""

    def __init__(self, const, log, **kw):
        super().__init__(const.config, log, **kw)
        self._const = const

    def decode(self, word):
        cfg = self._const.config
        mask = (1 << cfg.act_bits) - 1
        acts = []
        for i in range(cfg.lanes):
            v = (word >> self._const.act_lsb(i)) & mask
            if cfg.act_signed and v >> (cfg.act_bits - 1):
                v -= 1 << cfg.act_bits
            acts.append(v)
        return acts, list(self._const.weights)


class ConstTB(StreamTB):
    """Test bench of one constant-weight engine (``fault``: see :class:`tb.Scoreboard`)."""

    def __init__(self, dut, name, *, fault=None, **traffic):
        self.const, latency = load_const_manifest()
        self.config = self.const.config
        super().__init__(
            dut,
            name,
            kind="const",
            make_scoreboard=lambda log: ConstScoreboard(
                self.const, log, latency=latency, fault=fault
            ),
            latency=latency,
            result_bits=8 * self.const.out_bytes,
            info={"latency": latency, "weights": list(self.const.weights)},
            **traffic,
        )

    def dots(self, dots):
        """The dot products with the constant weights in every beat."""
        w = list(self.const.weights)
        return [[(acts, w) for acts, _ in dot] for dot in dots]

    def send(self, dots):
        """Queue dot products (lists of ``(acts, weights)`` beats; the weights are replaced by
        the constant ones); return the number of beats."""
        words = st.beats_to_words(self.const, self.dots(dots))
        return self.send_words(words)


@cocotb.test(timeout_time=50, timeout_unit="ms")
@cocotb.parametrize(traffic=TRAFFIC)
async def test_random(dut, traffic):
    """Random activations (corners included), dot products of 1..64 beats."""
    idle, bp, reactive = traffic
    tb = ConstTB(dut, f"random/{idle}/{bp}", idle_prob=idle, backpressure=bp, reactive=reactive)
    await tb.start()
    tb.send(st.random_stream(tb.rng, tb.config, -(-RANDOM_BEATS // len(TRAFFIC))))
    await tb.drain()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def test_extremes(dut):
    """Every lane at its most negative, then most positive activation, and the signs that
    reach the beat sum's limits; no idles: every result meets the exact latency."""
    tb = ConstTB(dut, "extremes")
    await tb.start()
    lo, hi = tb.config.act_range
    n = tb.config.lanes
    half = 1 << (tb.config.weight_bits - 1)
    low = [hi if w & half else lo for w in tb.const.weights]  # the beat sum's minimum
    high = [lo if w & half else hi for w in tb.const.weights]  # and maximum
    beats = [[lo] * n, [hi] * n, low, high, [0] * n]
    tb.send([[(b, None)] for b in beats])
    m = min(tb.config.max_beats, 64)
    tb.send([[(low, None)] * m, [(high, None)] * m])
    await tb.drain()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def test_throughput(dut):
    """No idles, no backpressure: K single-beat dot products in exactly K + latency cycles,
    s_axis_tready never low."""
    tb = ConstTB(dut, "throughput")
    await tb.start()
    k = 200
    assert tb.send([st.random_dot(tb.rng, tb.config, 1) for _ in range(k)]) == k
    await tb.drain()
    cycles = tb.last_out_cycle - tb.first_in_cycle + 1
    assert tb.s_ready_low_cycles == 0, "s_axis_tready low without backpressure"
    assert cycles == k + tb.latency, f"{k} beats took {cycles} cycles, not {k + tb.latency}"


@cocotb.test(timeout_time=10, timeout_unit="ms")
async def test_scoreboard_catches_wrong_golden(dut):
    """The checker can fail: expected result 5 deliberately off by one must be reported."""
    tb = ConstTB(dut, "fault", fault=("plus_one", 5))
    await tb.start()
    tb.send([st.random_dot(tb.rng, tb.config, 1) for _ in range(12)])
    try:
        await tb.drain()
    except AssertionError as exc:
        assert "MISMATCH result #5" in str(exc) and "diff -1;" in str(exc), str(exc)
    else:
        raise AssertionError("deliberately wrong golden model was NOT detected")
