"""cocotb fault and edge tests of one generated engine (run by test_faults_runner.py).

* ``test_reset_random_points``: a synchronous reset asserted at random cycles of a busy
  stream (random length, idles, back-pressure): right after it the outputs are in the
  defined idle state (``m_axis_tvalid`` 0, ``s_axis_tready`` 1), nothing stale ever comes
  out, and the next stream is exact.
* ``test_xz_inputs_while_invalid``: ``s_axis_tdata`` and ``s_axis_tlast`` are X or Z in every
  cycle with ``s_axis_tvalid`` low (Icarus; Verilator is two-state and sees 0): no X/Z may
  reach a valid output and every result stays exact.
* ``test_accumulator_edges``: maximum-length dot products of extreme products (the exact
  accumulator reaches its limits exactly at ``max_beats``), and for narrow accumulators dot
  products that land exactly on the saturation limits, cross them by one, stay saturated and
  come back, all compared with the golden model (which says exactly where it saturates;
  :func:`logdot.golden.engine.dot` through :mod:`golden_service`).
* ``test_random_short``: a short random stream (used to show that a mutated engine fails).
"""

from __future__ import annotations

import os

import cocotb
import golden_service as golden
import stimulus as st
from cocotb.triggers import ReadOnly, RisingEdge
from tb import TB

SIM = os.environ.get("LOGDOT_SIM", "")
MAX_EDGE_BEATS = 4096


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def test_reset_random_points(dut):
    tb = TB(dut, "reset_random_points", idle_prob=0.2, backpressure=0.3)
    await tb.start()
    cfg, rng, sb = tb.config, tb.rng, tb.scoreboard
    resets = 0
    for _ in range(12):
        tb.send(st.random_stream(rng, cfg, rng.randint(5, 60), longest=12))
        await tb.wait_cycles(rng.randint(0, 40))  # anywhere: mid-dot product, mid-result ...
        await tb.reset(rng.randint(1, 3))
        resets += 1
        await ReadOnly()
        assert dut.m_axis_tvalid.value == 0, "m_axis_tvalid high right after reset"
        assert dut.s_axis_tready.value == 1, "s_axis_tready low right after reset"
        await RisingEdge(dut.clk)
        if rng.random() < 0.5:  # sometimes a clean stream must then come out exactly
            tb.send(st.random_stream(rng, cfg, 40, longest=8))
            await tb.drain()
    tb.send(st.random_stream(rng, cfg, 80, longest=8))
    await tb.drain()
    assert sb.discarded >= 1, "the resets never dropped anything in flight"
    tb.log.info("%d resets at random points, %d dot products dropped", resets, sb.discarded)
    tb.report()


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def test_xz_inputs_while_invalid(dut):
    # idle_fill="xz": s_axis_tdata and s_axis_tlast all X, then all Z, in every cycle with
    # s_axis_tvalid low.
    tb = TB(dut, "xz_inputs", idle_prob=0.4, backpressure=0.3, idle_fill="xz")
    await tb.start()
    tb.send(st.random_stream(tb.rng, tb.config, 400, longest=16))
    await tb.drain()
    n = tb.filled_cycles
    assert n > 50, f"only {n} poisoned cycles"
    tb.log.info("%d cycles with X/Z on s_axis_tdata/tlast while tvalid low (%s)", n, SIM)
    tb.report()


def _edge_dots(cfg, rng):
    """Dot products at the accumulator's edges (see module docstring)."""
    n = cfg.lanes
    lo_a, hi_a = st.act_extremes(cfg)
    neg_w, pos_w = st.weight_extremes(cfg)
    most_pos = ([hi_a] * n, [pos_w] * n)
    most_neg = ([hi_a] * n, [neg_w] * n)
    if cfg.act_format == "linear" and cfg.act_signed:
        most_neg = ([lo_a] * n, [pos_w] * n)
        most_pos = ([lo_a] * n, [neg_w] * n)
    length = min(cfg.max_beats, MAX_EDGE_BEATS)
    dots = [[most_pos] * length, [most_neg] * length]
    if not cfg.saturating or cfg.act_format != "linear":
        dots.append([st.random_beat(rng, cfg) for _ in range(length)])
        return dots
    # Narrow accumulator, linear activations: land exactly on each limit with single-lane
    # beats (weight code 1 = +1 or its negative = -1, in the even accumulator), cross it by
    # one, stay saturated, come back.
    acc_lo, acc_hi = cfg.acc_range
    a_hi = cfg.act_range[1]
    zero = [0] * n

    def beats_summing_to(total):
        beats = []
        w = 1 if total > 0 else st.neg_weight(cfg, 1)
        left = abs(total)
        while left:
            step = min(a_hi, left)
            acts, weights = list(zero), list(zero)
            acts[0], weights[0] = step, w
            beats.append((acts, weights))
            left -= step
        return beats

    for limit, sign in ((acc_hi, 1), (acc_lo, -1)):
        to_limit = beats_summing_to(limit)
        if len(to_limit) > MAX_EDGE_BEATS:
            continue
        one = beats_summing_to(sign)
        back = beats_summing_to(-sign)
        dots += [
            to_limit,  # exactly at the limit: no saturation
            to_limit + one,  # one beyond: saturates at the limit
            to_limit + one + back,  # saturated, then back: limit - sign
            to_limit + one * 3 + back * 2,  # stays saturated while pushed further
        ]
    return dots


@cocotb.test(timeout_time=500, timeout_unit="ms")
async def test_accumulator_edges(dut):
    tb = TB(dut, "accumulator_edges", backpressure=0.2)
    await tb.start()
    cfg = tb.config
    dots = _edge_dots(cfg, tb.rng)
    # The stimulus really hits the edges (golden model): exact limits, saturation.
    acts = [a for d in dots for a, _ in d]
    weights = [w for d in dots for _, w in d]
    last = [k == len(d) - 1 for d in dots for k in range(len(d))]
    expected = golden.call("engine.dot", cfg, acts, weights, last)
    lo, hi = cfg.acc_range
    if not cfg.saturating:
        # max-length runs of one extreme beat: exactly length x the beat, no wrap
        for d, value in zip(dots[:2], expected[:2], strict=True):
            (one,) = golden.call("engine.dot", cfg, [d[0][0]], [d[0][1]], None)
            assert value == len(d) * one, (value, len(d), one)
            assert lo <= value <= hi
    elif cfg.act_format == "linear" and cfg.weight_base == 2:
        assert {hi, hi - 1, lo, lo + 1} <= set(expected), (expected, lo, hi)
    tb.send(dots)
    await tb.drain()
    tb.log.info("%d edge dot products (%d beats), results %s", len(dots), len(acts),
                expected[:8])  # fmt: skip
    tb.report()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def test_random_short(dut):
    tb = TB(dut, "random_short", idle_prob=0.2, backpressure=0.3)
    await tb.start()
    tb.send(st.random_stream(tb.rng, tb.config, 300, longest=8))
    await tb.drain()
    tb.report()
