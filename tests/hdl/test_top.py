"""logdot.hdl.top: the engine top in Amaranth's simulator against the golden model (random
streams with idles and back-pressure, corner values and saturation, wrap beyond max_beats),
latency and throughput, reset, and the registered ready.

Fast (no cocotb): the co-simulation of the generated Verilog is in cocotb_tests/.
"""

from __future__ import annotations

import random

import pytest
from amaranth.back import rtlil

from logdot.golden.engine import check_equal, dot, output_tlast, reference_dot
from logdot.hdl.engine import LogDotEngine
from logdot.hdl.top import AxiNamesTop, LogDotTop
from tests.support.configs import LOG, SQRT2, UNSIGNED, cfg_of, config_id
from tests.support.mutants import TlastStuckTop
from tests.support.stream import drive_stream, random_stream, run_testbench

# The latency test builds an engine only to read its latency, never to elaborate it.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def simulate(cfg, acts, weights, last, **kw):
    """Drive :class:`~logdot.hdl.top.LogDotTop` (see :func:`tests.support.stream.drive_stream`)
    and check ``m_axis_tlast`` of every result against :func:`logdot.golden.engine.output_tlast`
    (1 on every result)."""
    log = drive_stream(LogDotTop(config=cfg), cfg, acts, weights, last, **kw)
    assert log["tlast"] == output_tlast(len(log["results"])), log["tlast"]
    return log


# -- simulation against the golden model --------------------------------------------------------

SIM_CONFIGS = [
    dict(lanes=1, act_bits=4, weight_bits=2),
    dict(lanes=3, act_bits=8, weight_bits=4),
    dict(lanes=5, act_bits=6, weight_bits=3, act_signed=False, register_every=1),
    dict(lanes=16, act_bits=8, weight_bits=4, register_every=2),
    dict(lanes=4, act_bits=5, weight_bits=4, act_format="log"),
    dict(lanes=3, act_bits=4, weight_bits=3, **LOG, **UNSIGNED, register_terms=False),
    dict(lanes=3, act_bits=8, weight_bits=4, weight_base="sqrt2"),
    dict(lanes=5, act_bits=4, weight_bits=4, **SQRT2, **LOG, register_every=1),
    dict(lanes=2, act_bits=4, weight_bits=2, weight_base="sqrt2", frac_bits=0),
    dict(lanes=7, act_bits=8, weight_bits=4, acc_bits=12),
    dict(lanes=6, act_bits=8, weight_bits=4, acc_bits=14, weight_base="sqrt2", register_every=2),
    dict(lanes=4, act_bits=3, weight_bits=3, max_beats=2),
]


@pytest.mark.parametrize("kw", SIM_CONFIGS, ids=config_id)
def test_simulation_matches_golden_with_idles_and_backpressure(kw, seed):
    cfg = cfg_of(**kw)
    rng = random.Random(seed)
    acts, weights, last = random_stream(cfg, rng, beats=80, max_len=4)
    expected = dot(cfg, acts, weights, last).tolist()
    assert expected == reference_dot(cfg, acts, weights, last)
    log = simulate(cfg, acts, weights, last, rng=rng, idle=0.3, backpressure=0.4)
    check_equal(expected, log["results"], context=f"{cfg} seed={seed}")
    # A wrong golden value is caught.
    wrong = list(expected)
    wrong[len(wrong) // 2] += 1
    with pytest.raises(AssertionError):
        check_equal(wrong, log["results"])


def test_corner_values_and_saturation(seed):
    """Most negative activations with the largest weights, both signs; narrow saturating
    accumulator hit at both rails; all-zero codes; long dot products."""
    cfg = cfg_of(lanes=4, act_bits=8, weight_bits=4, acc_bits=16)
    big_pos, big_neg = 0b0111, 0b1111  # code 7 = 2**6, sign 0 / 1
    acts = [[-128] * 4] * 6 + [[127] * 4] * 6 + [[0] * 4] * 2 + [[-128, 127, -1, 1]] * 3
    weights = [[big_pos] * 4] * 6 + [[big_pos] * 4] * 6 + [[0b1000] * 4] * 2 + [[big_neg] * 4] * 3
    last = [False] * 5 + [True] + [False] * 5 + [True] + [True, True] + [False, False, True]
    expected = dot(cfg, acts, weights, last).tolist()
    lo, hi = cfg.acc_range
    assert expected[0] == lo and expected[1] == hi and expected[2:4] == [0, 0]
    log = simulate(cfg, acts, weights, last, rng=random.Random(seed), backpressure=0.5)
    check_equal(expected, log["results"])


@pytest.mark.parametrize(("max_beats", "register_every"), [(1, 0), (4, 0), (4, 1), (4, 2)])
def test_wrap_beyond_max_beats(seed, max_beats, register_every):
    """Wrap modulo 2**acc_bits; pipelined with max_beats=4 the accumulator is split (low part,
    high part, pending carry), so both halves, the pending carry and the wrap are hit."""
    cfg = cfg_of(lanes=2, act_bits=8, weight_bits=4, max_beats=max_beats)
    cfg = cfg_of(**{**cfg.to_dict()["parameters"], "register_every": register_every})
    assert not cfg.saturating
    n = 9
    acts = [[-128, -128]] * n + [[127, -128]] * n + [[-128, 127]] * 3
    weights = [[0b0111, 0b0111]] * n + [[0b0111, 0b1111]] * n + [[0b1111, 0b1111]] * 3
    last = ([False] * (n - 1) + [True]) * 2 + [False, False, True]
    expected = dot(cfg, acts, weights, last).tolist()
    assert expected[0] != n * 2 * -128 * 64 and expected[1] != n * 255 * 64  # it really wraps
    log = simulate(cfg, acts, weights, last, rng=random.Random(seed), backpressure=0.3)
    check_equal(expected, log["results"])
    il = rtlil.convert(LogDotTop(config=cfg))
    assert ("acc0_cp" in il) == (register_every > 0 and max_beats == 4)


@pytest.mark.parametrize(
    "kw",
    [
        dict(lanes=16, act_bits=8, weight_bits=4),
        dict(lanes=3, act_bits=8, weight_bits=4, register_every=1, weight_base="sqrt2"),
        dict(lanes=2, act_bits=4, weight_bits=3, register_terms=False),
    ],
)
def test_latency_and_throughput_match_simulation(kw, seed):
    cfg = cfg_of(**kw)
    latency = LogDotEngine(**kw).latency
    rng = random.Random(seed)
    # One single-beat dot product: its result is valid `latency` cycles after the transfer.
    acts, weights, last = random_stream(cfg, rng, beats=1, max_len=1)
    log = simulate(cfg, acts, weights, last, rng=rng)
    assert log["in_cycles"] == [0]
    assert log["out_cycles"] == [latency]
    # A burst of K single-beat dot products: K + latency cycles, one beat per cycle (II = 1).
    k = 40
    acts, weights, last = random_stream(cfg, rng, beats=k, max_len=1)
    log = simulate(cfg, acts, weights, last, rng=rng)
    assert log["in_cycles"] == list(range(k))
    assert log["out_cycles"] == [latency + j for j in range(k)]
    assert log["cycles"] == k + latency
    check_equal(dot(cfg, acts, weights, last).tolist(), log["results"])


def test_reset_mid_stream_recovers(seed):
    cfg = cfg_of(lanes=3, act_bits=6, weight_bits=4, weight_base="sqrt2")
    rng = random.Random(seed)
    acts, weights, last = random_stream(cfg, rng, beats=40, max_len=5)
    log = simulate(cfg, acts, weights, last, rng=rng, idle=0.2, backpressure=0.5, reset_at=17)
    check_equal(dot(cfg, acts, weights, last).tolist(), log["results"])


def test_ready_is_registered():
    """s_axis_tready does not depend combinationally on m_axis_tready."""
    cfg = cfg_of(lanes=2, act_bits=4, weight_bits=3)
    dut = LogDotTop(config=cfg)
    seen = []

    async def bench(ctx):
        ctx.set(dut.s_axis_tvalid, 1)
        ctx.set(dut.s_axis_tlast, 1)
        ctx.set(dut.s_axis_tdata, cfg.pack_beat([1, 1], [1, 1]))
        for _ in range(8):
            ctx.set(dut.m_axis_tready, 0)
            a = ctx.get(dut.s_axis_tready)
            ctx.set(dut.m_axis_tready, 1)
            b = ctx.get(dut.s_axis_tready)
            ctx.set(dut.m_axis_tready, 0)
            seen.append((a, b))
            await ctx.tick()

    run_testbench(dut, bench)
    assert all(a == b for a, b in seen)
    assert (0, 0) in seen  # back-pressure does stop the input after the skid fills


def test_tlast_is_checked_and_stuck_low_fails(seed):
    """The tlast check of :func:`simulate` catches a top whose m_axis_tlast is stuck at 0."""

    cfg = cfg_of(lanes=2, act_bits=4, weight_bits=3)
    rng = random.Random(seed)
    acts, weights, last = random_stream(cfg, rng, beats=6, max_len=2)
    log = drive_stream(TlastStuckTop(config=cfg), cfg, acts, weights, last, rng=rng)
    check_equal(dot(cfg, acts, weights, last).tolist(), log["results"])
    assert log["tlast"] and not any(log["tlast"])
    assert log["tlast"] != output_tlast(len(log["results"]))


def test_axi_names_reset_is_active_low(seed):
    """AxiNamesTop: while aresetn is low (synchronous, sampled on aclk) the design is held in
    reset (no output, a beat offered meanwhile is lost with the pipeline); after aresetn
    rises a dot product is exact and its m_axis_tlast is 1."""
    cfg = cfg_of(lanes=3, act_bits=6, weight_bits=4, register_every=1)
    dut = AxiNamesTop(inner=LogDotTop(config=cfg))
    rng = random.Random(seed)
    acts, weights, last = random_stream(cfg, rng, beats=3, max_len=3)
    last = [False, False, True]
    expected = dot(cfg, acts, weights, last).tolist()
    seen = []

    async def tick(ctx):
        ctx.set(dut.aclk, 1)
        await ctx.delay(5e-7)
        ctx.set(dut.aclk, 0)
        await ctx.delay(5e-7)

    async def bench(ctx):
        ctx.set(dut.m_axis_tready, 1)
        ctx.set(dut.aresetn, 0)
        # Held in reset: a whole dot product offered now must not produce a result.
        for i in range(3):
            ctx.set(dut.s_axis_tvalid, 1)
            ctx.set(dut.s_axis_tdata, cfg.pack_beat(acts[i], [w ^ 1 for w in weights[i]]))
            ctx.set(dut.s_axis_tlast, int(last[i]))
            await tick(ctx)
        ctx.set(dut.s_axis_tvalid, 0)
        for _ in range(6):
            seen.append(("reset", ctx.get(dut.m_axis_tvalid)))
            await tick(ctx)
        ctx.set(dut.aresetn, 1)
        i = 0
        for _ in range(40):
            if i < 3:
                ctx.set(dut.s_axis_tvalid, 1)
                ctx.set(dut.s_axis_tdata, cfg.pack_beat(acts[i], weights[i]))
                ctx.set(dut.s_axis_tlast, int(last[i]))
            else:
                ctx.set(dut.s_axis_tvalid, 0)
            if i < 3 and ctx.get(dut.s_axis_tready):
                i += 1
            if ctx.get(dut.m_axis_tvalid):
                word = ctx.get(dut.m_axis_tdata)
                seen.append((cfg.unpack_result(word), ctx.get(dut.m_axis_tlast)))
            await tick(ctx)

    run_testbench(dut, bench, clock=False)
    assert [v for tag, v in seen if tag == "reset"] == [0] * 6
    assert [x for x in seen if x[0] != "reset"] == [(expected[0], 1)]


# -- two-term weights ------------------------------------------------------------------------------

TWOTERM_CONFIGS = [
    dict(lanes=3, act_bits=8, weight_bits=5, weight_terms=2),
    dict(lanes=5, act_bits=6, weight_bits=4, act_signed=False, register_every=1, weight_terms=2),
    dict(lanes=4, act_bits=8, weight_bits=6, acc_bits=12, weight_terms=2),
    dict(lanes=2, act_bits=4, weight_bits=3, max_beats=2, register_terms=False, weight_terms=2),
]


@pytest.mark.parametrize("kw", TWOTERM_CONFIGS, ids=config_id)
def test_two_term_simulation_matches_golden(kw, seed):
    """Two-term weights through the whole top, idles and back-pressure, corner activations;
    a wrong golden value is caught."""
    cfg = cfg_of(**kw)
    rng = random.Random(seed)
    acts, weights, last = random_stream(cfg, rng, beats=80, max_len=4, corners=True)
    expected = dot(cfg, acts, weights, last).tolist()
    assert expected == reference_dot(cfg, acts, weights, last)
    log = simulate(cfg, acts, weights, last, rng=rng, idle=0.3, backpressure=0.4)
    check_equal(expected, log["results"], context=f"{cfg} seed={seed}")
    wrong = list(expected)
    wrong[len(wrong) // 2] ^= 1
    with pytest.raises(AssertionError):
        check_equal(wrong, log["results"])


def test_two_term_latency_and_throughput(seed):
    cfg = cfg_of(lanes=16, act_bits=8, weight_bits=5, register_every=1, weight_terms=2)
    latency = LogDotEngine.from_config(cfg).latency
    assert latency == 7
    rng = random.Random(seed)
    k = 40
    acts, weights, last = random_stream(cfg, rng, beats=k, max_len=1)
    log = simulate(cfg, acts, weights, last, rng=rng)
    assert log["in_cycles"] == list(range(k))  # II = 1
    assert log["out_cycles"] == [latency + j for j in range(k)]
    check_equal(dot(cfg, acts, weights, last).tolist(), log["results"])
