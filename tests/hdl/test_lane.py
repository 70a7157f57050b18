"""logdot.hdl.lane: every (activation, weight) code pair of one lane against the spec."""

from __future__ import annotations

from fractions import Fraction

import pytest

from logdot.golden.engine import reference_dot
from logdot.golden.twoterm import twoterm_unit_log2
from logdot.hdl.lane import (
    LogLane,
    TwoTermLane,
    lane_term_range,
    make_lane,
    parities,
    term_shift_max,
)
from tests.golden.test_twoterm import spec_value
from tests.support.configs import LOG, SQRT2, UNSIGNED, cfg_of, config_id
from tests.support.stream import run_testbench


def _spec_terms(cfg, a, w):
    """One lane's true terms per accumulator, straight from the spec (golden/formats.py)."""
    wcb = cfg.weight_code_bits
    neg, c = w >> wcb, w & ((1 << wcb) - 1)
    if cfg.act_is_log:
        acb = cfg.act_code_bits
        d = a & ((1 << acb) - 1)
        if cfg.act_signed:
            neg ^= (a >> acb) & 1
        if c == 0 or d == 0:
            return [0] * len(parities(cfg))
        mant, h = 1, (c - 1) + (1 if cfg.weight_base == 2 else 2) * (d - 1)
    else:
        if c == 0:
            return [0] * len(parities(cfg))
        mant, h = a, c - 1
    value = -mant if neg else mant
    if cfg.weight_base == 2:
        return [value * 2**h]
    terms = [0, 0]
    terms[h % 2] = value * 2 ** (h // 2)
    return terms


@pytest.mark.parametrize(
    "kw",
    [
        dict(lanes=1, act_bits=6, weight_bits=4),
        dict(lanes=1, act_bits=5, weight_bits=3, **UNSIGNED, **SQRT2),
        dict(lanes=1, act_bits=4, weight_bits=4, **SQRT2),
        dict(lanes=1, act_bits=4, weight_bits=4, **LOG),
        dict(lanes=1, act_bits=3, weight_bits=4, **LOG, **UNSIGNED, **SQRT2),
        dict(lanes=1, act_bits=4, weight_bits=2, **LOG, **SQRT2),
    ],
    ids=config_id,
)
def test_lane_exhaustive(kw):
    """Every (activation, weight) code pair: ``term + carry`` of each accumulator equals the
    spec, ``term`` stays in ``lane_term_range``, and the golden reference agrees."""
    cfg = cfg_of(**kw)
    lane = LogLane(config=cfg)
    ps = parities(cfg)
    if cfg.act_is_log:
        acts = range(1 << cfg.act_bits)
    else:
        acts = range(cfg.act_range[0], cfg.act_range[1] + 1)
    pairs = [(a, w) for a in acts for w in range(1 << cfg.weight_bits)]
    got = []

    async def bench(ctx):
        for a, w in pairs:
            ctx.set(lane.act, a & ((1 << cfg.act_bits) - 1))
            ctx.set(lane.weight, w)
            got.append([(ctx.get(term), ctx.get(carry)) for term, carry in lane.terms])

    run_testbench(lane, bench, clock=False)
    ranges = [lane_term_range(cfg, p) for p in ps]
    for (a, w), outs in zip(pairs, got, strict=True):
        spec = _spec_terms(cfg, a, w)
        assert [t + c for t, c in outs] == spec, (a, w, outs, spec)
        assert all(lo <= t <= hi for (t, _), (lo, hi) in zip(outs, ranges, strict=True))
        if cfg.weight_base == 2:
            golden = spec[0]
        else:
            golden = (spec[0] << cfg.frac_bits) + cfg.sqrt2_r * spec[1]
        assert reference_dot(cfg, [[a]], [[w]]) == [golden]
    # The folded range is tight: both ends occur (linear, signed: one bit under term_range).
    for i, (lo, hi) in enumerate(ranges):
        if term_shift_max(cfg, ps[i]) is not None and not cfg.act_is_log:
            assert {lo, hi} <= {out[i][0] for out in got}


# -- two-term weights ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        dict(lanes=1, act_bits=5, weight_bits=5, weight_terms=2),
        dict(lanes=1, act_bits=4, weight_bits=6, act_signed=False, weight_terms=2),
        dict(lanes=1, act_bits=3, weight_bits=3, weight_terms=2),
        dict(lanes=1, act_bits=3, weight_bits=8, weight_terms=2),
    ],
    ids=config_id,
)
def test_two_term_lane_exhaustive(kw):
    """Every (activation, weight) pair: ``term0 + carry0`` is the spec's product (the value of
    docs/formats.md's two-term layout times the activation), the folded ``term0`` stays in
    ``lane_term_range`` and reaches both of its ends, and the reference agrees."""
    cfg = cfg_of(**kw)
    lane = TwoTermLane(config=cfg)
    lo_a, hi_a = cfg.act_range
    pairs = [(a, w) for a in range(lo_a, hi_a + 1) for w in range(1 << cfg.weight_bits)]
    got = []

    async def bench(ctx):
        for a, w in pairs:
            ctx.set(lane.act, a & ((1 << cfg.act_bits) - 1))
            ctx.set(lane.weight, w)
            got.append((ctx.get(lane.term0), ctx.get(lane.carry0)))

    run_testbench(lane, bench, clock=False)
    lo, hi = lane_term_range(cfg, 0)
    unit = Fraction(2) ** twoterm_unit_log2(cfg.weight_bits, 0)
    for (a, w), (t, c) in zip(pairs, got, strict=True):
        spec = spec_value(cfg.weight_bits, w, 0) / unit * a
        assert t + c == spec, (a, w, t, c, spec)
        assert lo <= t <= hi
        assert reference_dot(cfg, [[a]], [[w]]) == [spec]
    assert {lo, hi} <= {t for t, _ in got}


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_lane_choice_follows_the_config():
    one = cfg_of(lanes=1, act_bits=4, weight_bits=4)
    two = cfg_of(lanes=1, act_bits=4, weight_bits=4, weight_terms=2)
    assert type(make_lane(one)) is LogLane and type(make_lane(two)) is TwoTermLane
    with pytest.raises(ValueError, match="LogLane takes single-term weights"):
        LogLane(config=two)
    with pytest.raises(ValueError, match="TwoTermLane takes two-term weights"):
        TwoTermLane(config=one)
