"""cocotb tests of one generated engine against the golden model (run by test_runner.py).

The engine under test is described by the manifest JSON named in ``LOGDOT_MANIFEST``; the
runner also sets ``LOGDOT_RANDOM_BEATS`` (random beats over all ``test_random`` variants).
Every test builds its own :class:`tb.TB`, seeded from ``COCOTB_RANDOM_SEED`` and its name.
"""

from __future__ import annotations

import os

import cocotb
import stimulus as st
from cocotb import Param
from tb import TB

RANDOM_BEATS = int(os.environ.get("LOGDOT_RANDOM_BEATS", "2000"))
#: Length sweep: every length 1..SWEEP_ALL, then SWEEP_MORE (up to 64), all capped at
#: max_beats; one more dot product at max_beats when it is at most st.MAX_BEATS_DIRECTED.
SWEEP_ALL = 24
SWEEP_MORE = (31, 32, 33, 47, 48, 63, 64)
SWEEP_MAX = 64

# (idle probability, backpressure probability, reactive sink): explicit test options.
TRAFFIC = [
    Param((0.0, 0.0, False), "none"),
    Param((0.3, 0.0, False), "idle"),
    Param((0.0, 0.5, False), "backpressure"),
    Param((0.3, 0.5, False), "idle+backpressure"),
    Param((0.2, 0.3, True), "reactive-sink"),
]


@cocotb.test(timeout_time=50, timeout_unit="ms")
@cocotb.parametrize(traffic=TRAFFIC)
async def test_random(dut, traffic):
    """Random dot products over the whole code space, lengths 1..64 beats."""
    idle, bp, reactive = traffic
    tb = TB(
        dut,
        f"random/{idle}/{bp}/{reactive}",
        idle_prob=idle,
        backpressure=bp,
        reactive=reactive,
    )
    await tb.start()
    beats = -(-RANDOM_BEATS // len(TRAFFIC))
    tb.send(st.random_stream(tb.rng, tb.config, beats))
    await tb.drain()
    tb.report()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def test_corners(dut):
    """Directed corners: zero codes, extreme codes x extreme activations, all-negative weights,
    single lane hot, alternating signs; then extreme multi-beat runs (accumulator limits and
    saturation). No idles, no backpressure: every result also meets the exact latency."""
    tb = TB(dut, "corners")
    await tb.start()
    beats = st.corner_beats(tb.config, tb.rng)
    tb.send([[b] for b in beats])  # each a single-beat dot product
    m = tb.config.max_beats  # and all of them accumulated, in dot products of <= max_beats
    tb.send([beats[i : i + m] for i in range(0, len(beats), m)])
    tb.send(st.extreme_dots(tb.config, tb.rng))
    await tb.drain()
    tb.report()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def test_lengths(dut):
    """Dot products of every length 1..24 and of 31, 32, 33, 47, 48, 63, 64 beats (random
    codes; never beyond max_beats), plus one at max_beats for small configurations; light
    idles and backpressure."""
    tb = TB(dut, "lengths", idle_prob=0.1, backpressure=0.2)
    await tb.start()
    cfg = tb.config
    lengths = [n for n in (*range(1, SWEEP_ALL + 1), *SWEEP_MORE) if n <= cfg.max_beats]
    dots = [st.random_dot(tb.rng, cfg, n) for n in lengths]
    if SWEEP_MAX < cfg.max_beats <= st.MAX_BEATS_DIRECTED:
        dots.append(st.random_dot(tb.rng, cfg, cfg.max_beats))
    tb.send(dots)
    await tb.drain()
    tb.report()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def test_reset_midstream(dut):
    """A reset in the middle of a stream discards every beat and result in flight; the next
    stream is then computed exactly, with no stale output.

    Three resets, each followed by a fresh stream that must match exactly: (a) results stuck
    behind a paused sink, pipeline full, a dot product half sent; (b) a dot product whose
    first beats have reached the accumulator (its tlast never sent); (c) a dot product whose
    last beat was transferred a cycle before the reset (its result still in the pipeline).
    """
    tb = TB(dut, "reset_midstream", idle_prob=0.1, backpressure=0.2)
    await tb.start()
    cfg, rng, sb = tb.config, tb.rng, tb.scoreboard
    partial = max(1, min(cfg.max_beats - 1, 5))
    timeout = 2000

    async def run_clean_stream():
        tb.send(st.random_stream(rng, cfg, 60, longest=8))
        await tb.drain()

    # (a) results stuck at the output, the pipeline stalled, a dot product half sent
    tb.output_held = True
    tb.send(st.random_stream(rng, cfg, 4, longest=1))
    tb.send([st.random_dot(rng, cfg, partial)], open_last=True)
    await tb.wait_until(lambda: sb.outstanding >= 1, timeout, "a result in flight")
    await tb.wait_cycles(partial + 3 * tb.latency + 4)
    stuck = sb.outstanding
    await tb.reset(2)
    tb.output_held = False
    assert stuck >= 1, "reset (a) should have had results in flight"
    await run_clean_stream()

    # (b) the first beats of a dot product accumulated, then a reset instead of its tlast
    tb.send(st.random_stream(rng, cfg, 6, longest=3))
    tb.send([st.random_dot(rng, cfg, partial)], open_last=True)
    await tb.wait_until(tb.source.idle, timeout, "the partial dot product sent")
    await tb.wait_cycles(tb.latency + 3)
    assert sb.open_beats == partial
    await tb.reset(1)
    await run_clean_stream()

    # (c) the last beat of a dot product transferred one cycle before the reset
    base = sb.dots_in
    tb.send([st.random_dot(rng, cfg, 1), st.random_dot(rng, cfg, min(2, cfg.max_beats))])
    await tb.wait_until(lambda: sb.dots_in == base + 2, timeout, "both dot products sent")
    await tb.reset(2)
    await run_clean_stream()
    assert sb.discarded >= 3, f"resets dropped only {sb.discarded} dot products"
    tb.report()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def test_throughput(dut):
    """No idles, no backpressure: one input beat per II = cycles_per_beat clocks (II = 1:
    tready never low; II = lanes with log-domain accumulation: each beat waits exactly II - 1
    cycles) and K beats complete in exactly (K - 1) * II + latency + 1 cycles (K + latency
    for II = 1), for single-beat and multi-beat dot products."""
    tb = TB(dut, "throughput")
    await tb.start()
    cfg, rng = tb.config, tb.rng
    k = 200
    ii = cfg.cycles_per_beat  # the manifest's initiation_interval_cycles (checked by TB)
    phases = [
        ("single-beat", [st.random_dot(rng, cfg, 1) for _ in range(k)]),
        ("multi-beat", st.random_stream(rng, cfg, k, longest=16)),
    ]
    for label, dots in phases:
        tb.first_in_cycle = None
        tb.s_ready_low_cycles = 0
        assert tb.send(dots) == k
        await tb.drain()
        cycles = tb.last_out_cycle - tb.first_in_cycle + 1
        tb.log.info(
            "throughput %s: %d beats, %d dot products in %d cycles (latency %d)",
            label,
            k,
            len(dots),
            cycles,
            tb.latency,
        )
        assert tb.s_ready_low_cycles == k * (ii - 1), (
            f"{label}: s_axis_tready low in {tb.s_ready_low_cycles} cycles with no "
            f"backpressure, expected K * (II - 1) = {k * (ii - 1)}"
        )
        want = (k - 1) * ii + tb.latency + 1
        assert cycles == want, (
            f"{label}: {k} beats took {cycles} cycles, expected (K - 1) * II + latency + 1 = {want}"
        )
    tb.report()


FAULT_DOTS = 12
FAULTS = [
    Param(("plus_one", 5), "plus_one"),
    Param(("drop", FAULT_DOTS - 1), "drop"),
    Param(("extra", FAULT_DOTS - 1), "extra"),
    Param(("tlast", 5), "tlast"),
]


@cocotb.test(timeout_time=10, timeout_unit="ms")
@cocotb.parametrize(fault=FAULTS)
async def test_scoreboard_catches_wrong_golden(dut, fault):
    """The checker can fail: a deliberately corrupted golden model (expected value + 1, a
    forgotten result, a phantom result, tlast 0 expected on one result) must be reported.
    Passes only if it is."""
    kind, index = fault
    tb = TB(dut, f"fault/{kind}", fault=fault)
    await tb.start()
    lengths = [min(1 + i % 3, tb.config.max_beats) for i in range(FAULT_DOTS)]
    tb.send([st.random_dot(tb.rng, tb.config, n) for n in lengths])
    try:
        await tb.drain()
    except AssertionError as exc:
        message = str(exc)
    else:
        raise AssertionError(f"deliberately wrong golden model ({kind}) was NOT detected")
    expected = {
        "plus_one": f"MISMATCH result #{index}",
        "drop": f"extra output #{index}",
        "extra": "1 missing result",
        "tlast": f"m_axis_tlast 1 != 0 on output #{index} since reset",
    }[kind]
    assert expected in message, f"wrong golden ({kind}) reported as: {message}"
    if kind == "plus_one":
        assert "diff -1;" in message, message
    tb.log.info(
        "deliberately wrong golden (%s) detected: %s", kind, message.splitlines()[-1].strip()
    )
