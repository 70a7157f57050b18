# amaranth: UnusedElaboratable=no
"""logdot.hdl.linear: the linear (multiplier) baseline engine, bit-exact in simulation against
its golden model (logdot.golden.linear_engine), latency and ports."""

from __future__ import annotations

import random
import re

import pytest
from amaranth.back import rtlil

from logdot.generators.engine import linear_verilog
from logdot.golden.formats import EngineConfig
from logdot.golden.linear_engine import LinearConfig, linear_dot
from logdot.hdl.engine import engine_latency
from logdot.hdl.linear import LinearDotEngine, LinearDotTop, LinearLane
from tests.support.stream import drive_stream


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
    """Drive LinearDotTop in Amaranth's simulator (:func:`tests.support.stream.drive_stream`)."""
    log = drive_stream(
        LinearDotTop(config=cfg), cfg, acts, weights, last,
        rng=rng, idle=idle, backpressure=backpressure,
    )  # fmt: skip
    return log["results"]


@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_lane_and_engine_refuse_log_config():
    with pytest.raises(TypeError, match=re.escape("config must be a LinearConfig")):
        LinearLane(config=EngineConfig(lanes=1, act_bits=8, weight_bits=4))
    with pytest.raises(TypeError, match=re.escape("config must be a LinearConfig")):
        LinearDotTop(config=EngineConfig(lanes=1, act_bits=8, weight_bits=4))


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
