"""One lane of the log dot-product engine: zero gate, shift and (folded) sign.

A lane turns one activation field and one weight field into the signed term of its product,
in the integer units of :class:`logdot.golden.formats.EngineConfig` (the smallest non-zero weight
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

from ..golden.formats import check_int, signed_width
from ..golden.twoterm import twoterm_fields, twoterm_max_magnitude
from .params import check_config, read_only

__all__ = [
    "Lane",
    "LogLane",
    "TwoTermLane",
    "bounded_shift_left",
    "lane_term_range",
    "make_lane",
    "parities",
    "shift_stages",
    "term_bits",
    "term_shift_max",
]


def parities(config):
    """Parity indices of the engine's accumulators: ``[0]`` (base 2) or ``[0, 1]`` (sqrt2).

    In base-sqrt(2) mode index 0 is the even accumulator and 1 the odd one.
    """
    return [0] if config.weight_base == 2 else [0, 1]


def _parity_arg(config, p):
    return None if config.weight_base == 2 else p


def term_shift_max(config, p):
    """Largest shift of a term of parity index ``p``, or ``None`` when there is no such term."""
    return config.term_shift_range(_parity_arg(config, p))


def lane_term_range(config, p):
    """``(lo, hi)`` of a lane's ``term{p}`` output (the folded term, before its carry).

    Log activations: the exact term, ``config.term_range``. Linear activations: a negative
    term ``-x`` is emitted as ``~x = -x - 1`` (carry 1), so the output lies in
    ``[min(lo << s, -(hi << s) - 1), max(hi << s, -(lo << s) - 1)]`` for the activation range
    ``(lo, hi) = config.act_range`` and the largest shift ``s`` of that parity: for signed
    activations one bit narrower than ``config.term_range`` (``-(-2**(A-1) << s)`` never has
    to be represented).
    """
    s = term_shift_max(config, p)
    if s is None:
        return 0, 0
    if config.act_is_log:
        return config.term_range(_parity_arg(config, p))
    lo, hi = config.act_range
    # The largest weight magnitude: 2**s (one term), 3 * 2**(s - 1) (two terms).
    mag = twoterm_max_magnitude(config.weight_bits) if config.weight_terms == 2 else 1 << s
    return min(lo * mag, -(hi * mag) - 1), max(hi * mag, -(lo * mag) - 1)


def term_bits(config, p):
    """Width of a lane's ``term{p}`` output: ``signed_width(*lane_term_range(config, p))``."""
    return signed_width(*lane_term_range(config, p))


def shift_stages(m, value, stages, max_amount, *, name):
    """Left shift of ``value`` by a sum of conditional constant steps, as 2:1 mux stages.

    ``stages`` is ``[(bit, step), ...]``: shift by ``step`` when ``bit`` is 1. The result has
    exactly ``len(value) + max_amount`` bits and ``value``'s signedness, where ``max_amount``
    is the largest total shift that occurs (larger totals are truncated; callers gate them).
    Never ``value << variable``, which Amaranth widens to ``2**len(variable)`` bits.
    """
    shape = value.shape()
    width = shape.width + max_amount
    cur = Signal(Shape(width, shape.signed), name=f"{name}_in")
    m.d.comb += cur.eq(value)
    for i, (bit, step) in enumerate(stages):
        nxt = Signal(Shape(width, shape.signed), name=f"{name}_s{i}")
        m.d.comb += nxt.eq(Mux(bit, cur << step, cur))
        cur = nxt
    return cur


def bounded_shift_left(m, value, amount, max_amount, *, name):
    """``value << amount`` for ``0 <= amount <= max_amount`` (unsigned ``amount``), exact width
    ``len(value) + max_amount`` (a log shifter of 2:1 muxes, see :func:`shift_stages`)."""
    stages = [(amount[i], 1 << i) for i in range(len(amount)) if (1 << i) <= max_amount]
    return shift_stages(m, value, stages, max_amount, name=name)


class Lane(wiring.Component):
    """Base of a lane stage: one activation and one weight field in, one folded term per
    accumulator parity out.

    A lane is combinational (latency 0 cycles, one product per cycle). Its term of parity
    ``p`` is ``term{p} + carry{p}``; the terms of different parities have different ranges,
    hence separate members rather than an array. :class:`LogLane` and the multiplier lane
    :class:`logdot.hdl.linear.LinearLane` are lanes; a
    :class:`~logdot.hdl.pe.ProcessingElement` takes any.

    Parameters
    ----------
    config : logdot.golden.formats.EngineConfig
        Engine configuration (the field widths).
    term_ranges : sequence of (int, int)
        ``(lo, hi)`` of ``term{p}``, per parity ``p``; ``term{p}`` is exactly
        ``signed_width(lo, hi)`` wide.

    Members
    -------
    act : In(config.act_bits)
        Raw activation field.
    weight : In(config.weight_bits)
        Raw weight field.
    term{p}, carry{p} : Out(signed(signed_width(*term_ranges[p]))), Out(1)
        The term of parity ``p`` is ``term{p} + carry{p}``.
    """

    def __init__(self, *, config, term_ranges):
        self._config = check_config(config)
        self._term_ranges = tuple(tuple(r) for r in term_ranges)
        if len(self._term_ranges) not in (1, 2):
            raise ValueError(f"term_ranges must have 1 or 2 entries, not {term_ranges!r}")
        for lo, hi in self._term_ranges:
            check_int(lo, "term_ranges lo")
            check_int(hi, "term_ranges hi")
            if lo > hi:
                raise ValueError(f"term_ranges must have lo <= hi, not {term_ranges!r}")
        members = {
            "act": In(config.act_bits),
            "weight": In(config.weight_bits),
        }
        for p, (lo, hi) in enumerate(self._term_ranges):
            members[f"term{p}"] = Out(signed(signed_width(lo, hi)))
            members[f"carry{p}"] = Out(1)
        super().__init__(members)

    config = read_only("config", "The configuration this lane was built for.")

    @property
    def latency(self):
        """Cycles from inputs to outputs: 0 (combinational)."""
        return 0

    def term_range(self, p):
        """``(lo, hi)`` of the ``term{p}`` output (the folded term, before its carry)."""
        return self._term_ranges[p]

    @property
    def terms(self):
        """``((term0, carry0), ...)``: the output members, per parity."""
        return tuple(
            (getattr(self, f"term{p}"), getattr(self, f"carry{p}"))
            for p in range(len(self._term_ranges))
        )


def _check_weight_terms(config, terms):
    """Check ``config`` and that its weights have ``terms`` terms (the lane class for them)."""
    check_config(config)
    if config.weight_terms != terms:
        mine, other = ("LogLane", "TwoTermLane") if terms == 1 else ("TwoTermLane", "LogLane")
        what = "single-term" if terms == 1 else "two-term"
        raise ValueError(
            f"{mine} takes {what} weights (weight_terms={terms}), not weight_terms="
            f"{config.weight_terms!r}; use {other}"
        )
    return config


class LogLane(Lane):
    """Term of one lane: ``activation * weight`` by zero gate, shift and folded sign.

    Combinational (latency 0 cycles, one product per cycle).

    Parameters
    ----------
    config : logdot.golden.formats.EngineConfig
        Engine configuration; every width comes from it.

    Members
    -------
    act : In(act_bits)
        Raw activation field (two's complement, unsigned, or sign + log code).
    weight : In(weight_bits)
        Raw weight field: sign in the top bit (1 = negative), log code below.
    term0, carry0 : Out(signed(term_bits(config, 0))), Out(1)
        The (even, in base sqrt(2)) term is ``term0 + carry0``.
    term1, carry1 : Out(signed(term_bits(config, 1))), Out(1)
        Base sqrt(2) only: the odd term is ``term1 + carry1``. At most one of the even and
        odd terms (``term + carry``) is non-zero.
    """

    def __init__(self, *, config):
        _check_weight_terms(config, 1)
        super().__init__(
            config=config, term_ranges=[lane_term_range(config, p) for p in parities(config)]
        )

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
        nz = Signal(name="nonzero")
        neg = Signal(name="negative")
        # Base sqrt(2): the half-step exponent c - 1 is odd exactly when c is even.
        parity = ~c[0] if sqrt2 else None

        if cfg.act_is_log:
            self._elaborate_log(m, c, w_neg, nz, neg, parity, smax)
            return m

        # Linear activations: x = a << (c - 1) (base 2) or a << ((c - 1) >> 1) (sqrt2), as
        # y = a << k and x = y >> 1, where k = c (base 2) or ceil(c / 2) = c[0] + (c >> 1)
        # (sqrt2) is a sum of the code's bits times constant steps: no subtractor, no adder.
        a = Signal(Shape(cfg.act_bits, cfg.act_signed), name="act_value")
        gated = Signal(Shape(cfg.act_bits, cfg.act_signed), name="act_gated")
        m.d.comb += [
            a.eq(self.act),
            nz.eq(c != 0),
            neg.eq(w_neg),
            gated.eq(Mux(nz, a, 0)),
        ]
        if sqrt2:
            stages = [(c[0], 1)] + [(c[i], 1 << (i - 1)) for i in range(1, wcb)]
        else:
            stages = [(c[i], 1 << i) for i in range(wcb)]
        y = shift_stages(m, gated, stages, max_shift + 1, name="shl")
        x = Signal(Shape(cfg.act_bits + max_shift, cfg.act_signed), name="shifted")
        m.d.comb += x.eq(y[1:])
        for p in parities(cfg):
            tw = term_bits(cfg, p)
            term, carry = self.terms[p]
            if smax[p] is None:
                m.d.comb += [term.eq(0), carry.eq(0)]
                continue
            sel = Const(1) if not sqrt2 else (parity if p else ~parity)
            xp = Signal(signed(tw), name=f"mag{p}")
            m.d.comb += xp.eq(x)
            # One's complement when negative; the carry completes the negation.
            m.d.comb += [
                term.eq(Mux(sel, xp ^ neg.replicate(tw), 0)),
                carry.eq(sel & neg),
            ]
        return m

    def _elaborate_log(self, m, c, w_neg, nz, neg, parity, smax):
        """Log activations: a one-hot ``1 << e`` or the exact thermometer ``-(1 << e)``."""
        cfg = self._config
        sqrt2 = parity is not None
        acb = cfg.act_code_bits
        d = Signal(acb, name="acode")
        a_neg = Signal(name="asign")
        m.d.comb += d.eq(self.act[:acb])
        if cfg.act_signed:
            m.d.comb += a_neg.eq(self.act[acb])
        m.d.comb += [nz.eq((c != 0) & (d != 0)), neg.eq(w_neg ^ a_neg)]
        # e2 = e + 2 with e = (c - 1) + (d - 1) (base 2) or ((c - 1) >> 1) + (d - 1) (sqrt2,
        # where (c - 1) >> 1 = c[0] + (c >> 1) - 1): compared with constants j + 2 below.
        wpart = (c >> 1) + c[0] if sqrt2 else c
        e2_max = ((1 << cfg.weight_code_bits) - 1) + ((1 << acb) - 1)
        e2 = Signal(range(e2_max + 1), name="exp2")
        m.d.comb += e2.eq(wpart + d)
        # Bit j of a term (position q = j + 2 of e2) is sel & (e2 <= q) when negative, else
        # sel & (e2 == q). With e2 = 4 h + l and q = 4 H + L that is
        # lt[H] | (eq[H] & x[L]): lt[H] = sel & neg & (h < H), eq[H] = sel & (h == H),
        # x[L] = (l <= L) if neg else (l == L), predecoded once per lane: one 3-input LUT
        # per term bit instead of a comparison of the whole exponent per bit (65 LUT4 + 3
        # CCU2C against 82 + 5 for a sqrt(2) 5-bit x log2 4-bit lane, synth_ecp5
        # -nowidelut).
        h_max = e2_max >> 2
        hi = Signal(range(h_max + 1), name="exp2_hi")
        lo = Signal(2, name="exp2_lo")
        m.d.comb += [hi.eq(e2 >> 2), lo.eq(e2[:2])]
        x = []
        for low in range(4):
            xs = Signal(name=f"low_sel{low}")
            m.d.comb += xs.eq(Mux(neg, lo <= low, lo == low) if low < 3 else neg | (lo == 3))
            x.append(xs)
        for p in parities(cfg):
            tw = term_bits(cfg, p)
            term, carry = self.terms[p]
            m.d.comb += carry.eq(0)
            if smax[p] is None:
                m.d.comb += term.eq(0)
                continue
            sel = Signal(name=f"sel{p}")
            m.d.comb += sel.eq(nz if not sqrt2 else nz & (parity if p else ~parity))
            below = Signal(name=f"neg_sel{p}")
            m.d.comb += below.eq(sel & neg)
            eq, lt = [], []
            for high in range(h_max + 1):
                e = Signal(name=f"hi_eq{p}_{high}")
                t = Signal(name=f"hi_lt{p}_{high}")
                m.d.comb += [e.eq(sel & (hi == high)), t.eq(below & (hi < high) if high else 0)]
                eq.append(e)
                lt.append(t)
            onehot = Signal(tw, name=f"onehot{p}")
            for j in range(tw):
                high, low = divmod(j + 2, 4)
                if j <= smax[p] and high <= h_max:
                    bit = lt[high] | (eq[high] & x[low])
                else:
                    bit = below  # e2 never reaches q: the thermometer's sign extension
                m.d.comb += onehot[j].eq(bit)
            m.d.comb += term.eq(onehot)


class TwoTermLane(Lane):
    """Term of one lane with a two-term power-of-two weight: two bounded shifters, one sum,
    a folded sign; no multiplier.

    Combinational (latency 0 cycles, one product per cycle). The weight field is
    ``| sign | c (B1 bits) | j (B2 bits) |`` (:mod:`logdot.golden.twoterm`, ``J = 2**B2 - 1``);
    the term is ``+-((a << (c - 1 + J)) + (a << (c - 1 + J - j) if j else 0))``:

    * shifter 1: ``y = a << (c - 1)`` for ``c >= 1`` (``a`` gated to 0 for ``c = 0``), as
      ``(a << c) >> 1`` by 2:1 mux stages over the bits of ``c``: no subtractor;
    * the first term is ``y << J`` (a constant shift: wires);
    * shifter 2: ``y << (J - j)``, gated to 0 for ``j = 0``; ``J - j`` is the bitwise
      complement of ``j``'s ``B2`` bits, so the amount needs no subtractor either;
    * one adder sums both terms, and the weight's sign is folded into the adder tree as in
      :class:`LogLane`: a negative term is emitted as the one's complement with ``carry0 = 1``.

    Parameters
    ----------
    config : logdot.golden.formats.EngineConfig
        Engine configuration with ``weight_terms == 2`` (base 2, linear activations).

    Members
    -------
    act : In(act_bits)
        Raw activation field (two's complement or unsigned).
    weight : In(weight_bits)
        Raw two-term weight field.
    term0, carry0 : Out(signed(term_bits(config, 0))), Out(1)
        The term is ``term0 + carry0``.
    """

    def __init__(self, *, config):
        _check_weight_terms(config, 2)
        super().__init__(config=config, term_ranges=[lane_term_range(config, 0)])

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        b1, b2 = twoterm_fields(cfg.weight_bits)
        big_j = (1 << b2) - 1
        c = Signal(b1, name="first_code")
        j = Signal(b2, name="offset")
        neg = Signal(name="negative")
        m.d.comb += [
            j.eq(self.weight[:b2]),
            c.eq(self.weight[b2 : b2 + b1]),
            neg.eq(self.weight[cfg.weight_bits - 1]),
        ]
        shape = Shape(cfg.act_bits, cfg.act_signed)
        a = Signal(shape, name="act_value")
        gated = Signal(shape, name="act_gated")
        m.d.comb += [a.eq(self.act), gated.eq(Mux(c != 0, a, 0))]
        # Shifter 1: y = a << (c - 1) = (a << c) >> 1 (exact: the gated a << c is even).
        max1 = (1 << b1) - 2
        y2 = shift_stages(m, gated, [(c[i], 1 << i) for i in range(b1)], max1 + 1, name="shl1")
        y = Signal(Shape(cfg.act_bits + max1, cfg.act_signed), name="first_base")
        m.d.comb += y.eq(y2[1:])
        # Shifter 2: y << (J - j) for j >= 1, where J - j = ~j (B2 bits) <= J - 1.
        y_gated = Signal(y.shape(), name="second_base")
        m.d.comb += y_gated.eq(Mux(j != 0, y, 0))
        second = shift_stages(
            m, y_gated, [(~j[i], 1 << i) for i in range(b2)], big_j - 1, name="shl2"
        )
        tw = term_bits(cfg, 0)
        total = Signal(signed(tw), name="magnitude")
        m.d.comb += total.eq((y << big_j) + second)
        # One's complement when negative; the tree adds carry0 = 1 to complete the negation.
        m.d.comb += [self.term0.eq(total ^ neg.replicate(tw)), self.carry0.eq(neg)]
        return m


def make_lane(config):
    """The lane stage the engine uses for ``config``: a :class:`TwoTermLane` for two-term
    weights (``config.weight_terms == 2``), else a :class:`LogLane`."""
    check_config(config)
    return TwoTermLane(config=config) if config.weight_terms == 2 else LogLane(config=config)
