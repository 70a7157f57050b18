"""Deliberately broken engines: every checker (formal, fuzz, co-simulation) must catch them.

A mutant is the real :class:`logdot.hdl.top.LogDotTop` whose engine builds one lane through a
wrapper that corrupts the lane's folded term ``term + carry``:

* ``"sign"``: the lane's sign is flipped (the term is negated);
* ``"shift"``: an off-by-one shift (the term is shifted left by one more place, truncated to
  the term's width, as a shifter using ``c`` instead of ``c - 1`` would do);
* ``"top_code"``: the off-by-one shift only for the largest weight code (a corner mutant).

:class:`TlastStuckTop` is the real top with ``m_axis_tlast`` stuck at 0 (every result is
right, no packet ever closes).

Usage: ``mutant_top(kind, lane)`` is a drop-in replacement for ``LogDotTop`` (pass it as
``make_dut`` to the formal harness, or build it directly for a simulation), and
``with generating_mutant(kind, lane): logdot.generators.engine.write(...)`` writes a
mutant's Verilog.
"""

from __future__ import annotations

import contextlib

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib.wiring import Flow

import logdot.generators.engine
import logdot.hdl.top
from logdot.hdl.engine import LogDotEngine
from logdot.hdl.lane import LogLane, parities, term_bits
from logdot.hdl.top import LogDotTop

__all__ = ["KINDS", "MutantLane", "TlastStuckTop", "generating_mutant", "mutant_top"]

KINDS = ("sign", "shift", "top_code")


class MutantLane(LogLane):
    """A :class:`~logdot.hdl.lane.LogLane` whose folded term is corrupted (see module docstring)."""

    def __init__(self, *, config, kind):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self._kind = kind
        self._inner = LogLane(config=config)
        super().__init__(config=config)

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        m.submodules.inner = inner = self._inner
        m.d.comb += [inner.act.eq(self.act), inner.weight.eq(self.weight)]
        top_code = (1 << cfg.weight_code_bits) - 1
        is_top = self.weight[: cfg.weight_code_bits] == top_code
        for p, (t, c), (term, carry) in zip(parities(cfg), inner.terms, self.terms, strict=True):
            value = Signal(signed(term_bits(cfg, p) + 2), name=f"true_term{p}")
            m.d.comb += value.eq(t + c)
            if self._kind == "sign":
                bad = -value
            elif self._kind == "shift":
                bad = value << 1
            else:
                bad = Mux(is_top, value << 1, value)
            m.d.comb += [
                term.eq(bad),  # truncated to the term's width
                carry.eq(0),
            ]
        return m


def _mutant_engine(kind, lane):
    class MutantEngine(LogDotEngine):
        def _make_lane(self, index):
            if index == lane % self.lanes:
                return MutantLane(config=self.config, kind=kind)
            return super()._make_lane(index)

    return MutantEngine


def mutant_top(kind, lane=0):
    """A ``LogDotTop``-compatible class whose lane ``lane`` (modulo the lanes) is mutated."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    engine_cls = _mutant_engine(kind, lane)

    class MutantTop(LogDotTop):
        def elaborate(self, platform):
            saved = logdot.hdl.top.LogDotEngine
            logdot.hdl.top.LogDotEngine = engine_cls
            try:
                return super().elaborate(platform)
            finally:
                logdot.hdl.top.LogDotEngine = saved

    MutantTop.__name__ = f"MutantTop_{kind}_{lane}"
    return MutantTop


class TlastStuckTop(LogDotTop):
    """A ``LogDotTop`` whose ``m_axis_tlast`` is stuck at 0 (everything else is the real top)."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.top = inner = LogDotTop(config=self.config)
        for name, member in inner.signature.members.items():
            ours, theirs = getattr(self, name), getattr(inner, name)
            if name == "m_axis_tlast":
                m.d.comb += ours.eq(0)
            elif member.flow == Flow.In:
                m.d.comb += theirs.eq(ours)
            else:
                m.d.comb += ours.eq(theirs)
        return m


@contextlib.contextmanager
def generating_mutant(kind, lane=0):
    """Within the block, :mod:`logdot.generators.engine` builds the mutant instead of the engine."""
    saved = logdot.generators.engine.LogDotTop
    logdot.generators.engine.LogDotTop = mutant_top(kind, lane)
    try:
        yield
    finally:
        logdot.generators.engine.LogDotTop = saved
