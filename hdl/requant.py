"""Requantizers of the layer engine's output stage: log code or linear fixed point.

Both are combinational :class:`~amaranth.lib.wiring.Component` s built from a
:class:`logdot.golden.requant.Requant`, which holds every constant, so hardware and model cannot
disagree on one. ``docs/layer.md`` describes the arithmetic.

* :class:`LogRequantizer`: ``|z|``, exact leading-one detection (a priority encoder), the
  log-domain rounding decision ``|z| >= ceil(2**(e + 1/2))`` as one comparison with a
  constant per leading-one position ``e`` (no float, no multiplier), the constant offset
  (FSR), flush to code 0 and saturation at the largest code, and the sign bit.
* :class:`LinearRequantizer`: arithmetic right shift with round-half-to-even (or a left
  shift), then saturation.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.formats import signed_width, unsigned_width
from ..golden.requant import Requant, log_thresholds
from .params import read_only

__all__ = ["LinearRequantizer", "LogRequantizer", "make_requantizer"]


class _RequantBase(wiring.Component):
    #: The kind of :class:`logdot.golden.requant.Requant` a subclass implements.
    _kind = None

    def __init__(self, *, requant):
        if not isinstance(requant, Requant):
            raise TypeError(f"requant must be a logdot.golden.requant.Requant, not {requant!r}")
        if requant.kind != self._kind:
            raise ValueError(f"requant.kind must be {self._kind!r}, not {requant.kind!r}")
        self._requant = requant
        super().__init__(
            {
                "z": In(signed(requant.in_bits)),
                "out": Out(unsigned(requant.out_bits)),
            }
        )

    requant = read_only(
        "requant", "The :class:`logdot.golden.requant.Requant` this block implements."
    )

    @property
    def latency(self):
        """Cycles from ``z`` to ``out``: 0 (combinational)."""
        return 0

    def elaborate(self, platform):
        m = Module()
        self._build(m, self._requant, self._requant.in_bits)
        return m

    def _build(self, m, rq, n):
        """Add the datapath from ``z`` (``n = rq.in_bits`` bits) to ``out`` to module ``m``."""
        raise NotImplementedError


class LogRequantizer(_RequantBase):
    """Signed integer ``z`` -> base-2 log code, bit-exact with
    :class:`logdot.golden.requant.Requant`.

    Combinational (latency 0 cycles, one value per cycle).

    Parameters
    ----------
    requant : logdot.golden.requant.Requant
        A requantizer of kind ``"log"``.

    Members
    -------
    z : In(signed(requant.in_bits))
        The input.
    out : Out(requant.out_bits)
        The raw code: sign bit (when ``out_signed``) above the magnitude code.
    """

    _kind = "log"

    def _build(self, m, rq, n):
        cb = rq.code_bits
        top = (1 << cb) - 1

        neg = Signal(name="negative")
        m.d.comb += neg.eq(self.z[n - 1])
        # Magnitude |z|: n bits for signed outputs (|-2**(n-1)| = 2**(n-1)); for unsigned
        # outputs a negative z gives code 0, so only the n-1 bits of a non-negative z matter.
        mbits = n if rq.out_signed else n - 1
        mag = Signal(mbits, name="mag")
        if rq.out_signed:
            m.d.comb += mag.eq(Mux(neg, -self.z, self.z))
        else:
            m.d.comb += mag.eq(self.z[:mbits])

        # Leading one e (priority encoder) and the rounding bit up = |z| >= T_e, compared
        # with the one constant of that position. Written as Mux chains (continuous
        # assignments in Verilog), not If blocks: an `always @*` block whose inputs never
        # change after time 0 is never evaluated by an event-driven simulator.
        # The rounding bit only matters where the code is neither flushed nor saturated
        # whatever it is: 0 <= e + offset <= top - 1 (e + offset <= -1 gives k <= 0, code
        # 0; e + offset >= top gives k >= top, code top). No comparator elsewhere: on wide
        # sums that is most of them (each is a carry chain of e + 1 bits).
        thresholds = log_thresholds(mbits)
        ebits = unsigned_width(mbits - 1)
        nonzero = Signal(name="nonzero")
        m.d.comb += nonzero.eq(mag != 0)
        e_val, up_val = Const(0, ebits), Const(0, 1)
        for j in range(mbits):
            if rq.half:
                u = Const(1, 1)
            elif not 0 <= j + rq.offset <= top - 1 or thresholds[j] >= 1 << (j + 1):
                # flushed or saturated either way; or j = 0 (T_0 = 2): never rounds up
                u = Const(0, 1)
            else:
                # mag[j] is the leading one here: mag >= T_j iff the bits below it are at
                # least T_j - 2**j (one carry fewer).
                u = mag[:j] >= thresholds[j] - (1 << j)
            cmp = Signal(name=f"round_at{j}")
            m.d.comb += cmp.eq(u)
            e_val = Mux(mag[j], j, e_val)
            up_val = Mux(mag[j], cmp, up_val)
        e = Signal(ebits, name="lead")
        up = Signal(name="round_up")
        m.d.comb += [e.eq(e_val), up.eq(up_val)]

        # code = e + up + offset, flushed at <= 0, saturated at >= top.
        lo = rq.offset
        hi = mbits + rq.offset
        kbits = signed_width(min(lo, 0), max(hi, top))
        k = Signal(signed(kbits), name="code_full")
        m.d.comb += k.eq(e + up + Const(rq.offset, signed(kbits)))
        code = Signal(cb, name="code")
        m.d.comb += code.eq(Mux(~nonzero | (k <= 0), 0, Mux(k >= top, top, k[:cb])))
        if rq.out_signed:
            m.d.comb += self.out.eq(Mux(neg & (code != 0), code | (1 << cb), code))
        else:
            m.d.comb += self.out.eq(Mux(neg, 0, code))


class LinearRequantizer(_RequantBase):
    """Signed integer ``z`` -> saturated fixed point, bit-exact with
    :class:`logdot.golden.requant.Requant`.

    ``shift > 0``: ``round_half_even(z / 2**shift)``; ``shift <= 0``: ``z << -shift``; then
    saturation to the output range. Combinational (latency 0 cycles, one value per cycle).

    Parameters
    ----------
    requant : logdot.golden.requant.Requant
        As for :class:`LogRequantizer`, of kind ``"linear"``.

    Members
    -------
    z, out
        As :class:`LogRequantizer`; ``out`` is two's complement (``out_signed``) or
        unsigned.
    """

    _kind = "linear"

    def _build(self, m, rq, n):
        s = rq.shift
        lo, hi = rq.out_range
        if s > 0:
            # Sign-extend so that the quotient keeps at least one bit and the remainder s.
            width = max(n, s + 2)
            ze = Signal(signed(width), name="z_ext")
            m.d.comb += ze.eq(self.z)
            q = Signal(signed(width - s), name="quotient")
            rem = Signal(s, name="remainder")
            m.d.comb += [q.eq(ze[s:].as_signed()), rem.eq(ze[:s])]
            half = 1 << (s - 1)
            rup = Signal(name="round_up")
            m.d.comb += rup.eq((rem > half) | ((rem == half) & q[0]))
            value = Signal(signed(width - s + 1), name="rounded")
            m.d.comb += value.eq(q + rup)
        else:
            value = Signal(signed(n - s), name="shifted")
            m.d.comb += value.eq(self.z << -s)
        vlo, vhi = -(1 << (len(value) - 1)), (1 << (len(value) - 1)) - 1
        sat = Signal(signed(len(value) + 1), name="saturated")
        if lo > vlo and hi < vhi:
            m.d.comb += sat.eq(Mux(value > hi, hi, Mux(value < lo, lo, value)))
        elif hi < vhi:
            m.d.comb += sat.eq(Mux(value > hi, hi, value))
        elif lo > vlo:
            m.d.comb += sat.eq(Mux(value < lo, lo, value))
        else:
            m.d.comb += sat.eq(value)
        # Truncate to the field, or sign-extend a narrower value (Signal.eq of a signed value).
        m.d.comb += self.out.eq(sat[: rq.out_bits] if rq.out_bits <= len(sat) else sat)


def make_requantizer(requant):
    """The requantizer component for a :class:`logdot.golden.requant.Requant` of either kind."""
    if not isinstance(requant, Requant):
        raise TypeError(f"requant must be a logdot.golden.requant.Requant, not {requant!r}")
    if requant.kind == "log":
        return LogRequantizer(requant=requant)
    return LinearRequantizer(requant=requant)
