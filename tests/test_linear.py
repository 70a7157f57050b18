# amaranth: UnusedElaboratable=no
"""The linear (multiplier) baseline engine: geometry, golden model, and bit-exact simulation."""

from __future__ import annotations

import random
import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from logdot.generators.engine import linear_verilog
from logdot.golden.formats import EngineConfig
from logdot.golden.linear_engine import LinearConfig, linear_dot
from logdot.hdl.engine import engine_latency
from logdot.hdl.linear import LinearDotEngine, LinearDotTop, LinearLane


def _stream(cfg, rng, beats, max_len):
    alo, ahi = cfg.act_range
    wlo, whi = cfg.weight_range
    acts, weights, last = [], [], []
    for b in range(beats):
        # Corners often: the extreme products are where a width bug shows.
        acts.append([rng.choice((alo, ahi, 0, rng.randint(alo, ahi))) for _ in range(cfg.lanes)])
        weights.append([rng.choice((wlo, whi, rng.randint(wlo, whi))) for _ in range(cfg.lanes)])
        last.append(rng.random() < 1 / max_len or b == beats - 1)
    return acts, weights, last


def _simulate(cfg, acts, weights, last, rng, backpressure=0.3, idle=0.2):
    """Drive LinearDotTop in Amaranth's simulator (AXI4-Stream driver and sink)."""
    dut = LinearDotTop(config=cfg)
    top = Module()
    top.domains.sync = ClockDomain("sync")
    top.submodules.dut = dut
    results, n = [], len(acts)
    want = sum(last)

    async def bench(ctx):
        i, pending = 0, False
        for _ in range(20 * n + 100):
            if not pending and i < n and rng.random() >= idle:
                pending = True
                ctx.set(dut.s_axis_tvalid, 1)
                ctx.set(dut.s_axis_tdata, cfg.pack_beat(acts[i], weights[i]))
                ctx.set(dut.s_axis_tlast, int(last[i]))
            elif not pending:
                ctx.set(dut.s_axis_tvalid, 0)
            ready = rng.random() >= backpressure
            ctx.set(dut.m_axis_tready, int(ready))
            if pending and ctx.get(dut.s_axis_tready):
                i += 1
                pending = False
            if ready and ctx.get(dut.m_axis_tvalid):
                results.append(cfg.unpack_result(ctx.get(dut.m_axis_tdata)))
            await ctx.tick()
            if i == n and len(results) == want and not pending:
                break

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return results


def test_config_geometry():
    cfg = LinearConfig(lanes=16, act_bits=8, weight_bits=4)
    assert cfg.weight_range == (-8, 7)
    assert cfg.term_range() == (-1016, 1024)  # -128*-8 is the largest product
    assert cfg.tree_range() == (-16 * 1016, 16 * 1024)
    assert cfg.in_bits == 16 * (8 + 4)
    assert cfg.weight_lsb(3) == 16 * 8 + 3 * 4
    assert cfg.to_dict()["parameters"]["engine"] == "linear"
    u = LinearConfig(lanes=2, act_bits=8, weight_bits=8, act_signed=False)
    assert u.term_range() == (255 * -128, 255 * 127)


def test_from_log_keeps_geometry():
    log = EngineConfig(lanes=5, act_bits=6, weight_bits=4, register_every=1, max_beats=7)
    lin = LinearConfig.from_log(log, weight_bits=8)
    assert (lin.lanes, lin.act_bits, lin.weight_bits) == (5, 6, 8)
    assert (lin.register_every, lin.register_terms, lin.max_beats) == (1, True, 7)
    assert not lin.saturating
    assert LinearConfig.from_log(log).weight_bits == 4


@pytest.mark.parametrize(
    ("kw", "exc", "msg"),
    [
        ({"act_format": "log"}, ValueError, "act_format must be 'linear' for the linear baseline"),
        ({"weight_base": "sqrt2"}, ValueError, "weight_base must be 2 for the linear baseline"),
        ({"weight_bits": 9}, ValueError, "weight_bits must be an integer in [2, 8], not 9"),
    ],
)
def test_bad_config_raises(kw, exc, msg):
    args = {"lanes": 4, "act_bits": 8, "weight_bits": 4, **kw}
    with pytest.raises(exc, match=re.escape(msg)):
        LinearConfig(**args)


# The refused objects were already allocated when __init__ raised: Amaranth warns about them.
@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_lane_and_engine_refuse_log_config():
    with pytest.raises(TypeError, match=re.escape("config must be a LinearConfig")):
        LinearLane(config=EngineConfig(lanes=1, act_bits=8, weight_bits=4))
    with pytest.raises(TypeError, match=re.escape("config must be a LinearConfig")):
        LinearDotTop(config=EngineConfig(lanes=1, act_bits=8, weight_bits=4))


def test_golden_linear_dot_by_hand():
    cfg = LinearConfig(lanes=2, act_bits=8, weight_bits=4)
    # Two dot products: (3*-2 + 5*7) + (1*1 + -128*-8) = 29 + 1025; then -128*7 + 127*-8.
    got = linear_dot(cfg, [[3, 5], [1, -128], [-128, 127]], [[-2, 7], [1, -8], [7, 0b1000]],
                     [False, True, True])  # fmt: skip
    assert got == [29 + 1025, -896 - 1016]
    sat = LinearConfig(lanes=2, act_bits=8, weight_bits=4, acc_bits=10)
    assert linear_dot(sat, [[127, 127], [127, 127]], [[7, 7], [7, 7]], [False, True]) == [511]
    assert linear_dot(sat, [[-128, -128]], [[7, 7]]) == [-512]


def test_golden_rejects_bad_input():
    cfg = LinearConfig(lanes=2, act_bits=8, weight_bits=4)
    with pytest.raises(ValueError, match=re.escape("acts must be in [-128, 127], not")):
        linear_dot(cfg, [[128, 0]], [[0, 0]])
    with pytest.raises(ValueError, match=re.escape("last[-1] must be True")):
        linear_dot(cfg, [[1, 0]], [[1, 0]], [False])
    with pytest.raises(TypeError, match=re.escape("acts must have an integer dtype")):
        linear_dot(cfg, [[1.5, 0]], [[1, 0]])


@pytest.mark.parametrize(
    "kw",
    [
        {"lanes": 4, "act_bits": 8, "weight_bits": 4},
        {"lanes": 3, "act_bits": 8, "weight_bits": 8, "register_every": 1},
        {"lanes": 5, "act_bits": 6, "weight_bits": 5, "act_signed": False, "register_terms": False},
        {"lanes": 4, "act_bits": 8, "weight_bits": 4, "acc_bits": 12},  # saturating
    ],
    ids=["4x8x4", "3x8x8-piped", "5xu6x5-comb", "4x8x4-sat12"],
)
def test_baseline_is_bit_exact_in_simulation(kw, seed):
    cfg = LinearConfig(**kw)
    rng = random.Random(seed)
    acts, weights, last = _stream(cfg, rng, 300, 4)
    want = linear_dot(cfg, acts, weights, last)
    got = _simulate(cfg, acts, weights, last, rng)
    assert len(got) == len(want) == sum(last)
    assert got == want
    if cfg.saturating:
        assert max(want) == cfg.acc_range[1] or min(want) == cfg.acc_range[0]
    # The comparison can fail: a deliberately wrong golden value is caught.
    bad = list(want)
    bad[len(bad) // 2] += 1
    assert got != bad


def test_latency_and_ports():
    cfg = LinearConfig(lanes=4, act_bits=8, weight_bits=4, register_every=1)
    eng = LinearDotEngine.from_config(cfg)
    # terms register + 2 tree levels + registered accumulator sum + output buffer
    assert eng.latency == engine_latency(cfg) == 1 + 2 + 1 + 1
    assert eng.config is cfg or eng.config == cfg
    assert eng.weight_bits == 4
    assert "$mul" in rtlil.convert(eng)  # elaborates; the lanes are real multipliers
    text = linear_verilog(cfg, name="lin")
    assert "module lin(clk, rst, s_axis_tvalid, s_axis_tready, s_axis_tlast, s_axis_tdata," in (
        text
    )
    assert " * " in text  # real multipliers
