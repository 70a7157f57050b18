"""SymbiYosys proof of the log-domain accumulator (:class:`logdot.hdl.logacc.LogAccumulator`)
against an independent reference, and a mutant that must fail it.

The harness drives every input of the accumulator from ``AnySeq`` in every cycle (``rst``,
``en``, ``valid``, ``last``, ``term``, ``negative``, ``nonzero``; ``term`` assumed at most
the configuration's largest term). Beside it runs a reference written from
``docs/formats.md`` without ``hdl/`` and without the golden tables: its correction
``T[d mod 2**F] >> (d div 2**F)`` and its decode ``E[L mod 2**F] << (L div 2**F)`` are one
lookup table per whole distance ``d`` and per whole state ``L``, every entry computed here
with 60-digit :mod:`decimal` arithmetic; its two states carry an explicit "no term yet"
flag. Properties: ``o_valid`` equals the reference's 2-cycle-delayed "dot product closed"
flag, and ``result`` equals the reference's ``D(Lpos) - D(Lneg)`` whenever it is valid; a
lemma (``lemma_state``) that the running states agree (the accumulator's observability
ports) keeps the solver's steps small.
The BMC depth (8) goes beyond ``lanes * max_beats = 2`` terms per dot product: there the
state wraps at its width, in the accumulator and in the reference alike (both keep
``log_state_bits`` bits), so the proof covers the in-spec lengths and more.
"""

from __future__ import annotations

import decimal

import pytest
from amaranth.hdl import Array, Assume, C, Mux, Signal

from logdot.golden.formats import EngineConfig
from logdot.hdl import logacc as hdl_logacc
from logdot.hdl.logacc import LogAccumulator
from tests.formal.formal_harness import Harness, free_reset, free_signal
from tests.formal.sby_runner import run_sby

# About 4 minutes per proof on a loaded 2-core machine: make formal, not make test.
pytestmark = [pytest.mark.formal, pytest.mark.full]

CONFIG = EngineConfig(
    lanes=1,
    act_bits=2,
    weight_bits=3,
    act_format="log",
    accumulate="log",
    frac_bits=2,
    max_beats=2,
)
DEPTH = 8


def _round_pow2(exponent):
    """``round(2**exponent)`` (half up) with 60-digit decimal arithmetic."""
    ctx = decimal.Context(prec=60)
    v = ctx.power(decimal.Decimal(2), decimal.Decimal(exponent))
    return int(v.to_integral_value(rounding=decimal.ROUND_HALF_UP))


def reference_tables(config):
    """``(corr, dec)``: ``corr[d] = T[d mod n] >> (d div n)`` per distance ``d`` and
    ``dec[L] = E[L mod n] << (L div n)`` per state ``L`` (``n = 2**F``), for every value of
    the state width."""
    f = config.frac_bits
    n = 1 << f
    t = [_round_pow2(decimal.Decimal(f) - decimal.Decimal(r) / n) for r in range(n)]
    e = [_round_pow2(decimal.Decimal(f) + decimal.Decimal(r) / n) for r in range(n)]
    size = 1 << config.log_state_bits
    return [t[d % n] >> (d // n) for d in range(size)], [e[v % n] << (v // n) for v in range(size)]


class LogAccHarness(Harness):
    """The accumulator, its free inputs and the reference (see the module docstring)."""

    def __init__(self, config):
        self.config = config
        super().__init__(max_depth=DEPTH)

    def build(self, m, platform):
        cfg = self.config
        lb = cfg.log_state_bits
        m.submodules.dut = dut = LogAccumulator(config=cfg)
        rst = free_reset(m, self.domain)
        en, valid, last, neg, nz = (
            free_signal(m, f"f_{n}") for n in ("en", "valid", "last", "negative", "nonzero")
        )
        term = free_signal(m, "f_term", len(dut.term))
        m.d.comb += [
            dut.en.eq(en),
            dut.valid.eq(valid),
            dut.last.eq(last),
            dut.negative.eq(neg),
            dut.nonzero.eq(nz),
            dut.term.eq(term),
            Assume(term <= cfg.log_term_max),
        ]

        corr, dec = reference_tables(cfg)
        width = cfg.result_bits
        corr_rom = Array(C(v, cfg.frac_bits + 1) for v in corr)
        dec_rom = Array(C(v, width) for v in dec)
        step = en & valid
        nexts, states = [], []
        for sign in (0, 1):
            s = Signal(lb, name=f"f_ref_state{sign}", reset_less=True)
            have = Signal(name=f"f_ref_have{sign}")
            hit = nz & (neg == sign)
            far = Signal(lb + 1, name=f"f_ref_dist{sign}")
            m.d.comb += far.eq(Mux(s > term, s - term, term - s))
            added = Signal(lb + 1, name=f"f_ref_sum{sign}")
            m.d.comb += added.eq(Mux(s > term, s, term) + corr_rom[far])
            nxt = Signal(lb, name=f"f_ref_next{sign}")
            nxt_have = Signal(name=f"f_ref_next_have{sign}")
            m.d.comb += [
                nxt.eq(Mux(hit, Mux(have, added, term), s)),
                nxt_have.eq(have | hit),
            ]
            with m.If(step):
                m.d.sync += [s.eq(nxt), have.eq(nxt_have & ~last)]
            nexts.append(Mux(nxt_have, dec_rom[nxt], 0))
            states.append((s, have))
        y = Signal(width + 1, name="f_ref_y")
        m.d.comb += y.eq(nexts[0] - nexts[1])
        y1, y2 = Signal(width + 1, name="f_ref_y1"), Signal(width + 1, name="f_ref_y2")
        v1, v2 = Signal(name="f_ref_v1"), Signal(name="f_ref_v2")
        with m.If(step & last):
            m.d.sync += y1.eq(y)
        with m.If(en):
            m.d.sync += [v1.eq(valid & last), v2.eq(v1), y2.eq(y1)]

        after_reset = Signal(name="f_past_reset", init=0)
        m.d.sync += after_reset.eq(1)
        with m.If(after_reset & ~rst):
            # Lemmas: the running states agree (they make the BMC steps cheap for the solver).
            for (s, have), (d_state, d_have) in zip(
                states,
                ((dut.pos_state, dut.pos_nonempty), (dut.neg_state, dut.neg_nonempty)),
                strict=True,
            ):
                self._assert(m, "lemma_state", (d_have == have) & (~have | (d_state == s)))
            self._assert(m, "o_valid", dut.o_valid == v2)
            with m.If(v2):
                self._assert(m, "result", dut.result == y2[:width].as_signed())


def test_log_accumulator_matches_reference(tmp_path):
    """Every input sequence of up to 8 cycles (resets, stalls, any terms and signs)."""
    result = run_sby(LogAccHarness(CONFIG), tmp_path, depth=DEPTH, timeout=900)
    assert result.status == "PASS", result.summary()


@pytest.mark.parametrize(
    ("table", "fails"), [("log_add_table", "lemma_state"), ("exp2_table", "result")]
)
def test_mutant_table_fails(tmp_path, monkeypatch, table, fails):
    """A correction table (or decode table) with entry 1 off by one must make the proof FAIL,
    on the state lemma (or on the result)."""
    good = getattr(hdl_logacc, table)

    def wrong(frac_bits):
        entries = list(good(frac_bits))
        entries[1] += 1
        return tuple(entries)

    monkeypatch.setattr(hdl_logacc, table, wrong)
    result = run_sby(LogAccHarness(CONFIG), tmp_path, depth=DEPTH, timeout=900)
    assert result.status == "FAIL", result.summary()
    assert result.failed == [fails], result.failed
