"""The ``accumulate="log"`` engine model (:func:`logdot.golden.logacc.engine_dot` through
:func:`logdot.golden.engine.dot`): parameters, tables, the state bound, the study's order,
and the golden model against the independent big-integer reference (a wrong golden is
caught)."""

import random
import re
from decimal import Decimal, getcontext

import pytest
import torch

from logdot.golden import engine, logacc
from logdot.golden.formats import EngineConfig, log_state_max

LOG = dict(act_format="log", accumulate="log")


def _random_config(rng):
    base = rng.choice([2, "sqrt2"])
    while True:
        try:
            return EngineConfig(
                lanes=rng.randint(1, 6),
                act_bits=rng.randint(2, 5),
                weight_bits=rng.randint(2, 5),
                act_signed=rng.random() < 0.7,
                weight_base=base,
                frac_bits=rng.randint(1 if base == "sqrt2" else 0, 9),
                max_beats=rng.randint(1, 6),
                **LOG,
            )
        except ValueError:  # results beyond 64 bits: draw again
            continue


def _random_stream(cfg, rng, beats):
    a = [[rng.randrange(1 << cfg.act_bits) for _ in range(cfg.lanes)] for _ in range(beats)]
    w = [[rng.randrange(1 << cfg.weight_bits) for _ in range(cfg.lanes)] for _ in range(beats)]
    last, left = [], rng.randint(1, cfg.max_beats)
    for _ in range(beats):
        left -= 1
        last.append(left == 0)
        if left == 0:
            left = rng.randint(1, cfg.max_beats)
    last[-1] = True
    return a, w, last


BAD = [
    (dict(act_format="linear", accumulate="log"), "accumulate='log' needs act_format='log'"),
    (dict(accumulate="float"), "accumulate must be one of 'exact', 'log', not 'float'"),
    (dict(frac_bits=13, **LOG), "frac_bits must be an integer in [0, 12], not 13"),
    (dict(frac_bits=0, weight_base="sqrt2", **LOG), "frac_bits must be an integer in [1, 12]"),
    (dict(register_every=1, **LOG), "register_every must be 0 with accumulate='log'"),
    (dict(acc_bits=20, **LOG), "acc_bits must be None (or the resolved"),
    (dict(act_bits=8, weight_bits=8, **LOG), "bit results with accumulate='log', beyond"),
]


@pytest.mark.parametrize(("kw", "msg"), BAD)
def test_bad_log_parameters(kw, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        EngineConfig(**{"lanes": 4, "act_bits": 4, "weight_bits": 4, **kw})


def test_log_config_widths_and_roundtrip():
    cfg = EngineConfig(lanes=16, act_bits=4, weight_bits=4, **LOG)
    assert "accumulate" in cfg.parameter_names()
    assert EngineConfig(**cfg.parameters()) == cfg
    # 8 fraction bits; largest term 2**(6 + 6); 16 * 1024 terms.
    assert cfg.frac_bits == 8 and cfg.log_term_max == 12 << 8 and cfg.log_term_shift == 8
    assert cfg.log_state_max == log_state_max(12 << 8, 8, 16 * 1024) == 3072 + (14 << 8) + 13
    assert cfg.acc_bits == cfg.log_state_bits == 13
    assert cfg.result_bits == 8 + 2 + (cfg.log_state_max >> 8) == 36
    assert not cfg.saturating and cfg.sqrt2_r is None and cfg.cycles_per_beat == 16
    exact = EngineConfig(lanes=16, act_bits=4, weight_bits=4, act_format="log")
    assert exact.accumulate == "exact" and exact.cycles_per_beat == 1
    assert exact.log_state_bits is None and exact.to_dict()["derived"]["log_state_bits"] is None
    # base sqrt(2): one weight step is half a log2 unit
    s = EngineConfig(lanes=2, act_bits=3, weight_bits=3, weight_base="sqrt2", frac_bits=3, **LOG)
    assert s.log_term_shift == 2 and s.log_term_max == (2 + 2 * 2) << 2


@pytest.mark.parametrize("f", [0, 1, 3, 6, 8])
def test_exp2_table_exact(f):
    """Each decode entry within 1/2 of 2**(F + r / 2**F) (60-digit decimal)."""
    getcontext().prec = 60
    table = logacc.exp2_table(f)
    assert len(table) == 1 << f and table[0] == 1 << f and max(table) < 2 << f
    for r, e in enumerate(table):
        v = Decimal(2) ** (Decimal(f) + Decimal(r) / Decimal(1 << f))
        assert abs(Decimal(e) - v) < Decimal("0.5"), (r, e, v)


@pytest.mark.parametrize("f", [0, 2, 5, 8])
def test_tables_match_nested_square_roots(f):
    """The golden tables (downward / upward integer search) equal the reference's own
    (nested integer square roots)."""
    n = 1 << f
    assert logacc.log_add_table(f) == tuple(logacc._round_root(f * n - r, f) for r in range(n))
    assert logacc.exp2_table(f) == tuple(logacc._round_root(f * n + r, f) for r in range(n))


@pytest.mark.parametrize("f", [0, 2, 3, 5, 8])
def test_state_bound_holds_and_is_reached(f, seed):
    """The worst sequences (every term the largest; random terms near it) stay within
    log_state_max, which is at most a few log2 units above log2 of the exact sum."""
    rng = random.Random(seed)
    tmax, k = 12 << f, 1024
    bound = log_state_max(tmax, f, k)
    for terms in ([tmax] * k, [tmax - rng.randrange(1 << f) for _ in range(k)]):
        t = torch.tensor([terms], dtype=torch.int64)
        pos, _ = logacc.log_accumulate(
            t,
            torch.zeros_like(t, dtype=torch.bool),
            torch.ones_like(t, dtype=torch.bool),
            frac_bits=f,
        )
        assert int(pos) <= bound, (seed, f, int(pos), bound)
    if f >= 3:  # the refined bound: within (n0 // 2 + 2**F) of log2(k) + tmax
        assert bound - (tmax + (10 << f)) <= (tmax + (1 << f)) // (1 << (f - 1)) // 2 + 1


def test_engine_order_is_the_study_order():
    """A dot product of B beats is the study's log_matmul_states over its B * lanes terms
    in stream order (beat by beat, lane 0 first): the same states, exactly."""
    g = torch.Generator().manual_seed(7)
    cfg = EngineConfig(lanes=5, act_bits=4, weight_bits=4, max_beats=8, frac_bits=6, **LOG)
    a = torch.randint(0, 16, (8, 5), generator=g)
    w = torch.randint(0, 16, (8, 5), generator=g)
    last = torch.zeros(8, dtype=torch.bool)
    last[-1] = True
    w_fmt, a_fmt = logacc._engine_operands(cfg)
    pos, neg = logacc.log_matmul_states(
        w.reshape(1, -1), w_fmt, a.reshape(1, -1, 1), a_fmt, frac_bits=6
    )
    want = logacc.decode_fixed(pos, 6) - logacc.decode_fixed(neg, 6)
    assert engine.dot(cfg, a, w, last).tolist() == want.flatten().tolist()
    # ...and the order matters: reversing the lanes changes the result for this seed
    assert engine.dot(cfg, a.flip(1), w.flip(1), last).tolist() != want.flatten().tolist()


@pytest.mark.parametrize("case", range(6))
def test_golden_matches_reference(case, seed):
    """Random configurations (bases, signedness, F, lengths) against the reference."""
    rng = random.Random(seed * 100 + case)
    for _ in range(15):
        cfg = _random_config(rng)
        a, w, last = _random_stream(cfg, rng, rng.randint(1, 25))
        got = engine.dot(cfg, a, w, last)
        want = engine.reference_dot(cfg, a, w, last)
        engine.check_equal(want, got, context=f"seed {seed} case {case} {cfg}")
        lo, hi = -(1 << (cfg.result_bits - 1)), (1 << (cfg.result_bits - 1)) - 1
        assert all(lo <= v <= hi for v in want)


def test_single_values_by_hand():
    """Worked examples of docs/formats.md (F = 2, base 2, signed 3-bit codes)."""
    cfg = EngineConfig(lanes=2, act_bits=3, weight_bits=3, frac_bits=2, max_beats=2, **LOG)
    # 2 * 2 + 2 * 2: two equal terms L = 2 << 2 = 8 -> 8 + T[0] = 12; D(12) = E[0] << 3 = 32
    assert engine.dot(cfg, [[2, 2]], [[2, 2]]).tolist() == [32]  # 8.0 with F = 2
    # 2 * 2 + 1 * 1: d = 8, q = 2, r = 0 -> 8 + (4 >> 2) = 9; D(9) = E[1] << 2 = 5 << 2 = 20
    assert logacc.exp2_table(2) == (4, 5, 6, 7) and logacc.log_add_table(2) == (4, 3, 3, 2)
    assert engine.dot(cfg, [[2, 1]], [[2, 1]]).tolist() == [20]  # 5.0 (exact 5)
    # 4 - 1: Lpos = 8 -> 16, Lneg = 0 -> 4: y = 12 (3.0); a zero code is skipped
    assert engine.dot(cfg, [[2, 5]], [[2, 1]]).tolist() == [12]
    assert engine.dot(cfg, [[0, 5]], [[2, 1]]).tolist() == [-4]
    # the same three products (1, 1, 2) in two orders: 4.0 and 3.5
    cfg3 = EngineConfig(lanes=3, act_bits=3, weight_bits=3, frac_bits=2, max_beats=1, **LOG)
    assert engine.dot(cfg3, [[1, 1, 2]], [[1, 1, 1]]).tolist() == [16]
    assert engine.dot(cfg3, [[2, 1, 1]], [[1, 1, 1]]).tolist() == [14]


def test_wrong_golden_is_caught(monkeypatch, seed):
    """A golden decode table with one entry off by one disagrees with the reference."""
    cfg = EngineConfig(lanes=3, act_bits=4, weight_bits=4, frac_bits=3, max_beats=4, **LOG)
    rng = random.Random(seed)
    a, w, last = _random_stream(cfg, rng, 60)
    good = logacc.exp2_table(3)
    monkeypatch.setattr(logacc, "exp2_table", lambda f: (good[0], good[1] + 1, *good[2:]))
    with pytest.raises(AssertionError, match="results differ"):
        engine.check_equal(engine.reference_dot(cfg, a, w, last), engine.dot(cfg, a, w, last))
