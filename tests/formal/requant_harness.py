"""Formal harness: the requantizers (:mod:`logdot.hdl.requant`) against a reference written
here from ``docs/layer.md`` ("The output stage"), for every input.

One harness holds several requantizers, each with its own free input ``z`` (``AnyConst``),
so a single SymbiYosys run proves each of them equal to its reference for every value of
its input (a combinational equivalence: BMC depth 1 covers every input).

The references do not use :mod:`logdot.golden` or :mod:`logdot.hdl` arithmetic; only the
integer constants of the :class:`logdot.golden.requant.Requant` under proof (``in_bits``,
``out_bits``, ``out_signed``, ``offset``, ``half``, ``shift``) are read.

* **Log code.** The rounded base-2 log of ``m = |z| > 0`` (the mantissa rounded at
  ``sqrt(2)``) is ``k = floor(log2 m + 1/2)``, i.e. the number of ``j >= 1`` with
  ``m >= ceil(2**(j - 1/2))``: a sum of comparisons with constants computed here by
  :func:`math.isqrt` (no priority encoder, no per-position multiplexer as in the design). For
  a half-integer scale (``half``) the value is ``m * sqrt(2)``, whose rounded log is
  ``floor(log2 m) + 1`` = the number of ``j >= 0`` with ``m >= 2**j``. Then ``c = k +
  offset``, code 0 for ``z = 0`` or ``c <= 0``, the largest code for ``c >= 2**b - 1``; a
  signed output sets the sign bit for ``z < 0`` unless the code is 0, an unsigned one gives 0
  for ``z < 0``.
* **Linear.** ``shift > 0``: ``round_half_even(z / 2**s)`` written as the single expression
  ``(z + 2**(s-1) - 1 + ((z >> s) & 1)) >> s`` (the design compares the remainder with the
  half instead); ``shift <= 0``: ``z * 2**-s``; then saturation to the two's-complement or
  unsigned range of ``out_bits``.
"""

from __future__ import annotations

import math
import sys

from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, ClockDomain, Elaboratable, Module, Mux, Signal, signed

from logdot.golden.requant import Requant
from logdot.hdl.requant import make_requantizer

__all__ = [
    "RequantHarness",
    "linear_reference",
    "log_reference",
    "log_reference_thresholds",
    "requant_reference",
]


def log_reference_thresholds(width):
    """``ceil(2**(j - 1/2)) = isqrt(2**(2j - 1) - 1) + 1`` for ``j = 1 .. width``."""
    return [math.isqrt((1 << (2 * j - 1)) - 1) + 1 for j in range(1, width + 1)]


def _count(m, name, conds):
    """The number of true conditions, as a plain adder chain."""
    total = 0
    for c in conds:
        total = total + c
    sig = Signal(range(len(conds) + 1), name=name)
    m.d.comb += sig.eq(total)
    return sig


def log_reference(m, i, rq, z):
    """Reference log code of ``z`` (a signed value of ``rq.in_bits``) for ``rq``; signals
    named with suffix ``i``."""
    n = rq.in_bits
    cb = rq.code_bits
    top = (1 << cb) - 1
    neg = z < 0
    mag = Signal(n, name=f"f_mag{i}")  # |z| < 2**n, unsigned
    m.d.comb += mag.eq(Mux(neg, -z, z))
    if rq.half:
        k = _count(m, f"f_k{i}", [mag >= (1 << j) for j in range(n)])
    else:
        k = _count(m, f"f_k{i}", [mag >= t for t in log_reference_thresholds(n)])
    c = Signal(signed(max(n, abs(rq.offset)).bit_length() + 3), name=f"f_c{i}")
    m.d.comb += c.eq(k + rq.offset)
    code = Signal(cb, name=f"f_code{i}")
    m.d.comb += code.eq(Mux((mag == 0) | (c <= 0), 0, Mux(c >= top, top, c)))
    ref = Signal(rq.out_bits, name=f"f_ref{i}")
    if rq.out_signed:
        m.d.comb += ref.eq(Mux(neg & (code != 0), (1 << cb) | code, code))
    else:
        m.d.comb += ref.eq(Mux(neg, 0, code))
    return ref


def linear_reference(m, i, rq, z):
    """Reference linear output of ``z`` for ``rq`` (see the module docstring)."""
    s = rq.shift
    if rq.out_signed:
        lo, hi = -(1 << (rq.out_bits - 1)), (1 << (rq.out_bits - 1)) - 1
    else:
        lo, hi = 0, (1 << rq.out_bits) - 1
    width = rq.in_bits + abs(s) + rq.out_bits + 4
    q = Signal(signed(width), name=f"f_q{i}")
    if s > 0:
        ze = Signal(signed(width), name=f"f_zext{i}")
        m.d.comb += ze.eq(z)
        m.d.comb += q.eq((ze + (1 << (s - 1)) - 1 + ((ze >> s) & 1)) >> s)
    else:
        m.d.comb += q.eq(z * (1 << -s))
    sat = Signal(signed(width), name=f"f_sat{i}")
    m.d.comb += sat.eq(Mux(q > hi, hi, Mux(q < lo, lo, q)))
    ref = Signal(rq.out_bits, name=f"f_ref{i}")
    m.d.comb += ref.eq(sat[: rq.out_bits])
    return ref


def requant_reference(m, i, rq, z):
    """The reference output field of either kind (a Signal of ``rq.out_bits``)."""
    if rq.kind == "log":
        return log_reference(m, i, rq, z)
    return linear_reference(m, i, rq, z)


class RequantHarness(Elaboratable):
    """Every requantizer of ``requants`` equals its reference for every input.

    Parameters
    ----------
    requants : sequence of logdot.golden.requant.Requant
        The requantizers under proof (input widths up to the free input's width).
    make_dut : callable, optional
        ``make_dut(requant)`` returns the component to check (default
        :func:`logdot.hdl.requant.make_requantizer`); the mutant tests pass a broken one.

    Attributes
    ----------
    domain : ClockDomain
        The ``sync`` domain (only its clock is a port; the check is combinational).
    lines : dict
        Source line of the assertion -> ``"requant_equal"`` (filled in by elaboration).
    asserted : list of str
        ``"requant<i>"`` for each requantizer whose equality was asserted (elaboration).
    """

    def __init__(self, requants, *, make_dut=None):
        self.requants = list(requants)
        for rq in self.requants:
            if not isinstance(rq, Requant):
                raise TypeError(f"requants must hold Requant objects, not {rq!r}")
        self._make_dut = make_dut or make_requantizer
        self.domain = ClockDomain("sync")
        self.lines = {}
        self.asserted = []

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        self.lines, self.asserted = {}, []
        for i, rq in enumerate(self.requants):
            dut = self._make_dut(rq)
            m.submodules[f"dut{i}"] = dut
            z = Signal(signed(rq.in_bits), name=f"f_z{i}")
            m.d.comb += [z.eq(AnyConst(signed(rq.in_bits))), dut.z.eq(z)]
            ref = requant_reference(m, i, rq, z)
            self.lines[sys._getframe().f_lineno + 1] = "requant_equal"
            m.d.comb += Assert(dut.out == ref, f"requant{i}")
            self.asserted.append(f"requant{i}")
        return m
