"""One lane of the log dot-product engine: zero gate, shift and (folded) sign.

A lane turns one activation field and one weight field into the signed term of its product,
in the integer units of :class:`golden.formats.EngineConfig` (the smallest non-zero weight
is 1). No multiplier: a weight with code ``c >= 1`` scales by ``2**(c - 1)`` (base 2) or
``sqrt(2)**(c - 1)`` (base sqrt(2), split into an integer shift and a parity bit), which is a
bounded left shift; a log activation with code ``d >= 1`` adds ``d - 1`` to the exponent, so
a log x log product is a one-hot ``1 << (c + d - 2)``.

Negation is folded into the adder tree: the lane emits ``term`` and a one-bit ``carry`` whose
sum ``term + carry`` is the true term. A negative linear term is emitted as the one's
complement ``~x`` (an XOR with the sign, merged into the shifter's last LUT) with
``carry = 1``; the adder tree absorbs the carries as carry-ins of its adders, so no lane
needs a negation adder. A negative log x log term ``-(1 << e)`` is exact without a carry: it
is the "thermometer" ``~0 << e``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.formats import EngineConfig, signed_width, unsigned_width

__all__ = ["LogLane", "bounded_shift_left", "parities", "term_bits"]


def parities(config):
    """Parity indices of the engine's accumulators: ``[0]`` (base 2) or ``[0, 1]`` (sqrt2).

    In base-sqrt(2) mode index 0 is the even accumulator and 1 the odd one.
    """
    return [0] if config.weight_base == 2 else [0, 1]


def _parity_arg(config, p):
    return None if config.weight_base == 2 else p


def term_bits(config, p):
    """Width of one lane's signed term of parity index ``p`` (from ``config.term_range``)."""
    return signed_width(*config.term_range(_parity_arg(config, p)))


def term_shift_max(config, p):
    """Largest shift of a term of parity index ``p``, or ``None`` when there is no such term."""
    return config.term_shift_range(_parity_arg(config, p))


def bounded_shift_left(m, value, amount, max_amount, *, name):
    """``value << amount`` for ``0 <= amount <= max_amount``, as a log shifter of 2:1 muxes.

    The result has exactly ``len(value) + max_amount`` bits and ``value``'s signedness; it
    never widens to ``2**len(amount)`` as Amaranth's ``value << amount`` does. Amounts above
    ``max_amount`` give a truncated value (callers gate them).

    Parameters
    ----------
    m : Module
        Module that receives the combinational logic.
    value : Value
        Value to shift.
    amount : Value
        Unsigned shift amount.
    max_amount : int
        Largest amount that occurs.
    name : str
        Prefix of the stage signals' names.
    """
    shape = value.shape()
    width = shape.width + max_amount
    cur = Signal(Shape(width, shape.signed), name=f"{name}_in")
    m.d.comb += cur.eq(value)
    for i in range(len(amount)):
        step = 1 << i
        if step > max_amount:
            break
        nxt = Signal(Shape(width, shape.signed), name=f"{name}_s{i}")
        m.d.comb += nxt.eq(Mux(amount[i], cur << step, cur))
        cur = nxt
    return cur


class LogLane(wiring.Component):
    """Term of one lane: ``activation * weight`` by zero gate, shift and folded sign.

    Combinational (latency 0 cycles).

    Parameters
    ----------
    config : golden.formats.EngineConfig
        Engine configuration; every width comes from it.

    Attributes
    ----------
    act : In(act_bits)
        Raw activation field (two's complement, unsigned, or sign + log code).
    weight : In(weight_bits)
        Raw weight field: sign in the top bit (1 = negative), log code below.
    term0, carry0 : Out(signed(term_bits(config, 0))), Out(1)
        The (even, in base sqrt(2)) term is ``term0 + carry0``.
    term1, carry1 : Out(signed(term_bits(config, 1))), Out(1)
        Base sqrt(2) only: the odd term is ``term1 + carry1``. At most one of the even and
        odd terms is non-zero.
    """

    def __init__(self, *, config):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {config!r}")
        self._config = config
        members = {
            "act": In(config.act_bits),
            "weight": In(config.weight_bits),
        }
        for p in parities(config):
            members[f"term{p}"] = Out(signed(term_bits(config, p)))
            members[f"carry{p}"] = Out(1)
        super().__init__(members)

    @property
    def config(self):
        """The :class:`~golden.formats.EngineConfig` this lane was built for."""
        return self._config

    @property
    def latency(self):
        """Cycles from inputs to outputs: 0 (combinational)."""
        return 0

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        sqrt2 = cfg.weight_base == "sqrt2"
        wcb = cfg.weight_code_bits
        c = Signal(wcb, name="wcode")
        w_neg = Signal(name="wsign")
        m.d.comb += [c.eq(self.weight[:wcb]), w_neg.eq(self.weight[wcb])]

        smax = {p: term_shift_max(cfg, p) for p in parities(cfg)}
        max_shift = max(s for s in smax.values() if s is not None)
        shift = Signal(unsigned_width(max_shift), name="shift")
        parity = Signal(name="parity") if sqrt2 else None
        nz = Signal(name="nonzero")
        neg = Signal(name="negative")

        # Weight exponent in units of the weight base: h = c - 1 (modulo; gated when c == 0).
        h = Signal(wcb, name="wexp")
        m.d.comb += h.eq(c - 1)

        if cfg.act_is_log:
            acb = cfg.act_code_bits
            d = Signal(acb, name="acode")
            a_neg = Signal(name="asign")
            m.d.comb += d.eq(self.act[:acb])
            if cfg.act_signed:
                m.d.comb += a_neg.eq(self.act[acb])
            m.d.comb += [
                nz.eq((c != 0) & (d != 0)),
                neg.eq(w_neg ^ a_neg),
            ]
            # Shift = weight exponent (integer part) + activation exponent (d - 1).
            wpart = h[1:] if sqrt2 else h
            m.d.comb += shift.eq(wpart + d - 1)
            if sqrt2:
                m.d.comb += parity.eq(h[0])
            for p in parities(cfg):
                tw = term_bits(cfg, p)
                term, carry = getattr(self, f"term{p}"), getattr(self, f"carry{p}")
                m.d.comb += carry.eq(0)
                if smax[p] is None:
                    m.d.comb += term.eq(0)
                    continue
                sel = nz if not sqrt2 else nz & (parity == p)
                # One-hot 1 << shift, or the thermometer ~0 << shift = -(1 << shift).
                bits = []
                for j in range(tw):
                    if j <= smax[p]:
                        bits.append(Mux(neg, shift <= j, shift == j))
                    else:
                        bits.append(neg)
                onehot = Signal(tw, name=f"onehot{p}")
                for j, b in enumerate(bits):
                    m.d.comb += onehot[j].eq(b)
                m.d.comb += term.eq(Mux(sel, onehot, 0))
        else:
            a = Signal(Shape(cfg.act_bits, cfg.act_signed), name="act_value")
            gated = Signal(Shape(cfg.act_bits, cfg.act_signed), name="act_gated")
            m.d.comb += [
                a.eq(self.act),
                nz.eq(c != 0),
                neg.eq(w_neg),
                gated.eq(Mux(nz, a, 0)),
            ]
            if sqrt2:
                m.d.comb += [shift.eq(h[1:]), parity.eq(h[0])]
            else:
                m.d.comb += shift.eq(h)
            x = bounded_shift_left(m, gated, shift, max_shift, name="shl")
            for p in parities(cfg):
                tw = term_bits(cfg, p)
                term, carry = getattr(self, f"term{p}"), getattr(self, f"carry{p}")
                if smax[p] is None:
                    m.d.comb += [term.eq(0), carry.eq(0)]
                    continue
                sel = Const(1) if not sqrt2 else (parity == p)
                xp = Signal(signed(tw), name=f"mag{p}")
                m.d.comb += xp.eq(x)
                # One's complement when negative; the carry completes the negation.
                m.d.comb += [
                    term.eq(Mux(sel, xp ^ neg.replicate(tw), 0)),
                    carry.eq(sel & neg),
                ]
        return m
