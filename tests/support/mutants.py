"""Deliberately broken engines: every checker (formal, fuzz, co-simulation) must catch them.

A mutant is the real :class:`logdot.hdl.top.LogDotTop` whose engine builds one lane through a
wrapper that corrupts the lane's folded term ``term + carry``:

* ``"sign"``: the lane's sign is flipped (the term is negated);
* ``"shift"``: an off-by-one shift (the term is shifted left by one more place, truncated to
  the term's width, as a shifter using ``c`` instead of ``c - 1`` would do);
* ``"top_code"``: the off-by-one shift only for the largest weight code (a corner mutant);
* ``"offset"`` (two-term weights only, :class:`TwoTermMutantLane`): the second term's offset
  ``j`` is read as ``j ^ 1`` (a wrong second shift, or a dropped second term for ``j = 1``).

:class:`TlastStuckTop` is the real top with ``m_axis_tlast`` stuck at 0 (every result is
right, no packet ever closes).

Usage: ``mutant_top(kind, lane)`` is a drop-in replacement for ``LogDotTop`` (pass it as
``make_dut`` to the formal harness, or build it directly for a simulation), and
``with generating_mutant(kind, lane): logdot.generators.engine.write(...)`` writes a
mutant's Verilog.
"""

from __future__ import annotations

import contextlib

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib.wiring import Flow

import logdot.generators.engine
import logdot.hdl.top
from logdot.golden.twoterm import twoterm_fields
from logdot.hdl.engine import LogDotEngine
from logdot.hdl.lane import LogLane, TwoTermLane, parities, term_bits
from logdot.hdl.top import LogDotTop

__all__ = [
    "KINDS",
    "TWOTERM_KINDS",
    "MutantLane",
    "TlastStuckTop",
    "TwoTermMutantLane",
    "generating_mutant",
    "mutant_top",
]

KINDS = ("sign", "shift", "top_code")
#: Mutants of a two-term lane.
TWOTERM_KINDS = ("sign", "shift", "offset")


def _checked_kind(kind, kinds):
    if kind not in kinds:
        raise ValueError(f"kind must be one of {kinds}, not {kind!r}")
    return kind


def _corrupt(kind, value, is_top=None):
    """The mutated term: ``value`` negated (``"sign"``), doubled (``"shift"``), doubled at the
    top weight code only (``"top_code"``), else unchanged (``"offset"`` mutates the input)."""
    if kind == "sign":
        return -value
    if kind == "shift":
        return value << 1
    if kind == "top_code":
        return Mux(is_top, value << 1, value)
    return value


class _Mutant:
    """A lane that wraps the true lane of its class (``_inner``) and corrupts its term."""

    #: The mutant kinds of the class, and its true lane's class.
    _kinds, _true_lane = (), None

    def __init__(self, *, config, kind):
        self._kind = _checked_kind(kind, self._kinds)
        self._inner = self._true_lane(config=config)
        super().__init__(config=config)

    def _wrap(self):
        """A module holding the true lane: ``(module, inner lane)``."""
        m = Module()
        m.submodules.inner = self._inner
        return m, self._inner


class MutantLane(_Mutant, LogLane):
    """A :class:`~logdot.hdl.lane.LogLane` whose folded term is corrupted (see module docstring)."""

    _kinds, _true_lane = KINDS, LogLane

    def elaborate(self, platform):
        cfg = self._config
        m, inner = self._wrap()
        m.d.comb += [inner.act.eq(self.act), inner.weight.eq(self.weight)]
        top_code = (1 << cfg.weight_code_bits) - 1
        is_top = self.weight[: cfg.weight_code_bits] == top_code
        for p, (t, c), (term, carry) in zip(parities(cfg), inner.terms, self.terms, strict=True):
            value = Signal(signed(term_bits(cfg, p) + 2), name=f"true_term{p}")
            m.d.comb += value.eq(t + c)
            bad = _corrupt(self._kind, value, is_top)
            m.d.comb += [term.eq(bad), carry.eq(0)]  # truncated to the term's width
        return m


class TwoTermMutantLane(_Mutant, TwoTermLane):
    """A :class:`~logdot.hdl.lane.TwoTermLane` whose term is corrupted: ``"sign"`` and
    ``"shift"`` as :class:`MutantLane`, ``"offset"`` reads the offset ``j`` as ``j ^ 1``."""

    _kinds, _true_lane = TWOTERM_KINDS, TwoTermLane

    def elaborate(self, platform):
        cfg = self._config
        m, inner = self._wrap()
        m.d.comb += inner.act.eq(self.act)
        _, b2 = twoterm_fields(cfg.weight_bits)
        j = self.weight[:b2]
        if self._kind == "offset":
            m.d.comb += inner.weight.eq(Cat(Mux(j != 0, j ^ 1, j), self.weight[b2:]))
        else:
            m.d.comb += inner.weight.eq(self.weight)
        value = Signal(signed(term_bits(cfg, 0) + 2), name="true_term0")
        m.d.comb += value.eq(inner.term0 + inner.carry0)
        bad = _corrupt(self._kind, value)
        m.d.comb += [self.term0.eq(bad), self.carry0.eq(0)]  # truncated to the term's width
        return m


def _mutant_engine(kind, lane):
    class MutantEngine(LogDotEngine):
        def _make_lane(self, index):
            if index == lane % self.lanes:
                if self.config.weight_terms == 2:
                    return TwoTermMutantLane(config=self.config, kind=kind)
                return MutantLane(config=self.config, kind=kind)
            return super()._make_lane(index)

    return MutantEngine


def mutant_top(kind, lane=0):
    """A ``LogDotTop``-compatible class whose lane ``lane`` (modulo the lanes) is mutated
    (``kind`` in :data:`KINDS`, or in :data:`TWOTERM_KINDS` for a two-term engine)."""
    if kind not in KINDS + TWOTERM_KINDS:
        raise ValueError(f"kind must be one of {KINDS + TWOTERM_KINDS}, not {kind!r}")
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
