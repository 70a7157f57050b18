"""Tests of the shared processing element (hdl/pe.py) and its adder tree's array ports:
parameters, latency from the properties, and an Amaranth simulation against the golden model
with the pipeline enable toggling."""

from __future__ import annotations

import gc
import random
import re

import pytest
from amaranth.hdl import ClockDomain, Fragment, Module
from amaranth.sim import Simulator

from logdot.golden.engine import check_equal, dot
from logdot.golden.formats import EngineConfig
from logdot.golden.linear_engine import LinearConfig
from logdot.hdl.engine import engine_latency
from logdot.hdl.lane import LogLane
from logdot.hdl.linear import LinearLane
from logdot.hdl.pe import ProcessingElement, pe_latency
from logdot.hdl.tree import AdderTree

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

CONFIGS = [
    dict(lanes=3, act_bits=4, weight_bits=4),
    dict(lanes=4, act_bits=5, weight_bits=4, register_every=1, max_beats=8),
    dict(lanes=3, act_bits=4, weight_bits=4, weight_base="sqrt2", register_every=1),
    dict(lanes=2, act_bits=4, weight_bits=3, act_format="log", weight_base="sqrt2"),
    dict(lanes=5, act_bits=4, weight_bits=4, acc_bits=8, register_terms=False),
]


def simulate_pe(pe, cfg, acts, weights, last, *, rng, stall):
    """Drive ``pe`` one beat per enabled cycle (``en`` low with probability ``stall``).

    Returns ``(results, out_steps, last_steps)``: the results in order, and the enabled-cycle
    index of each ``o_valid`` and of each beat with ``last``.
    """
    m = Module()
    m.domains.sync = ClockDomain("sync")
    m.submodules.pe = pe
    mask = (1 << cfg.act_bits) - 1
    results, out_steps, last_steps = [], [], []

    async def bench(ctx):
        step, i = 0, 0
        while i < len(acts) or len(results) < sum(last):
            assert step < 10 * len(acts) + 50, "the processing element stopped"
            en = rng.random() >= stall
            ctx.set(pe.en, en)
            if i < len(acts):
                ctx.set(pe.valid, 1)
                ctx.set(pe.last, last[i])
                for k in range(cfg.lanes):
                    ctx.set(pe.act[k], acts[i][k] & mask)
                    ctx.set(pe.weight[k], weights[i][k])
            else:
                ctx.set(pe.valid, 0)
            if en:
                if ctx.get(pe.o_valid):
                    results.append(ctx.get(pe.result))
                    out_steps.append(step)
                if i < len(acts):
                    if last[i]:
                        last_steps.append(step)
                    i += 1
                step += 1
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return results, out_steps, last_steps


def random_beats(cfg, rng, beats):
    lo, hi = cfg.act_range
    if cfg.act_is_log:
        acts = [[rng.randrange(1 << cfg.act_bits) for _ in range(cfg.lanes)] for _ in range(beats)]
    else:
        acts = [[rng.randint(lo, hi) for _ in range(cfg.lanes)] for _ in range(beats)]
    codes = 1 << cfg.weight_bits
    weights = [[rng.randrange(codes) for _ in range(cfg.lanes)] for _ in range(beats)]
    last = [rng.random() < 0.4 for _ in range(beats)]
    last[-1] = True
    return acts, weights, last


@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_pe_matches_golden_with_latency(kw, stall):
    """Results equal the golden model; each is valid ``pe.latency`` enabled cycles after its
    last beat, also when ``en`` stalls the pipeline."""
    cfg = EngineConfig(**kw)
    rng = random.Random(f"{kw}-{stall}")
    acts, weights, last = random_beats(cfg, rng, 40)
    pe = ProcessingElement(config=cfg)
    results, out_steps, last_steps = simulate_pe(pe, cfg, acts, weights, last, rng=rng, stall=stall)
    check_equal(dot(cfg, acts, weights, last).tolist(), results, context=f"{kw}")
    assert out_steps == [s + pe.latency for s in last_steps]


def test_pe_linear_lanes():
    """With ``make_lane`` returning multiplier lanes the PE is the baseline's datapath."""
    cfg = LinearConfig(lanes=3, act_bits=6, weight_bits=5, register_every=1)
    pe = ProcessingElement(config=cfg, make_lane=lambda index: LinearLane(config=cfg))
    assert all(isinstance(lane, LinearLane) for lane in pe.lane_stages)
    rng = random.Random(7)
    lo, hi = cfg.act_range
    acts = [[rng.randint(lo, hi) for _ in range(3)] for _ in range(12)]
    weights = [[rng.randrange(32) for _ in range(3)] for _ in range(12)]
    last = [k % 3 == 2 for k in range(12)]
    results, out_steps, last_steps = simulate_pe(pe, cfg, acts, weights, last, rng=rng, stall=0.0)
    signed_w = [[w - 32 if w >= 16 else w for w in row] for row in weights]
    expected = []
    acc = 0
    for a_row, w_row, end in zip(acts, signed_w, last, strict=True):
        acc += sum(a * w for a, w in zip(a_row, w_row, strict=True))
        if end:
            expected.append(acc)
            acc = 0
    assert results == expected
    assert out_steps == [s + pe.latency for s in last_steps]


@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_latencies_derive_from_pe(kw):
    cfg = EngineConfig(**kw)
    pe = ProcessingElement(config=cfg)
    Fragment.get(pe, None)  # elaboration checks its registers against pe.latency
    assert pe.latency == pe_latency(cfg) == engine_latency(cfg) - 1
    assert pe.config is cfg
    assert len(pe.lane_stages) == cfg.lanes
    assert all(isinstance(lane, LogLane) for lane in pe.lane_stages)
    with pytest.raises(AttributeError):
        pe.latency = 1


def test_pe_parameters_are_validated():
    cfg = EngineConfig(lanes=2, act_bits=4, weight_bits=4)
    with pytest.raises(TypeError, match="config must be an EngineConfig, not 3"):
        ProcessingElement(config=3)
    with pytest.raises(TypeError, match="make_lane must be callable, not 'lane'"):
        ProcessingElement(config=cfg, make_lane="lane")
    with pytest.raises(TypeError, match=re.escape("make_lane(0) must return a Lane, not None")):
        ProcessingElement(config=cfg, make_lane=lambda index: None)
    sqrt2 = EngineConfig(lanes=2, act_bits=4, weight_bits=4, weight_base="sqrt2")
    with pytest.raises(ValueError, match=re.escape("lane with 2 parities, not 1")):
        ProcessingElement(config=sqrt2, make_lane=lambda index: LogLane(config=cfg))
    with pytest.raises(TypeError):
        ProcessingElement(cfg)  # keyword-only
    gc.collect()  # the lanes of the refused PEs are never elaborated: warn here, not later


def test_adder_tree_array_ports():
    """``term`` and ``carry_in`` are arrays; ``sum + carry`` is the exact sum of the terms."""
    tree = AdderTree(n=5, lo=-8, hi=7, register_every=2)
    assert len(tree.term) == len(tree.carry_in) == 5
    assert (tree.n, tree.lo, tree.hi, tree.carries, tree.latency) == (5, -8, 7, True, 1)
    m = Module()
    m.domains.sync = ClockDomain("sync")
    m.submodules.tree = tree
    rng = random.Random(3)
    cases = [
        ([rng.randint(-8, 7) for _ in range(5)], [rng.randrange(2) for _ in range(5)])
        for _ in range(30)
    ]
    got = []

    async def bench(ctx):
        ctx.set(tree.en, 1)
        for step in range(len(cases) + tree.latency):
            if step < len(cases):
                terms, carries = cases[step]
                for i in range(5):
                    ctx.set(tree.term[i], terms[i])
                    ctx.set(tree.carry_in[i], carries[i])
            if step >= tree.latency:
                got.append(ctx.get(tree.sum) + ctx.get(tree.carry))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == [sum(t) + sum(c) for t, c in cases]
