"""Multi-beat accumulator driven by ``last``, with wrap or saturation, and the sqrt(2) combine."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.formats import EngineConfig, signed_width

from .lane import parities

__all__ = ["Accumulator", "accumulator_latency", "combine_depth", "csd_digits"]


def csd_digits(value):
    """Canonical signed-digit (non-adjacent form) of ``value >= 0``: ``[(shift, +1 | -1), ...]``.

    ``sum(d << s for s, d in csd_digits(v)) == v`` with no two adjacent non-zero digits, so a
    constant multiplication needs the fewest shifted adds/subtracts.
    """
    if value < 0:
        raise ValueError(f"value must be >= 0, not {value!r}")
    digits = []
    shift = 0
    while value:
        if value & 1:
            d = 2 - (value & 3)  # +1 if value % 4 == 1, -1 if value % 4 == 3
            digits.append((shift, d))
            value -= d
        value >>= 1
        shift += 1
    return digits


def combine_depth(config):
    """Adder levels of the sqrt(2) combine ``(A_even << F) + R * A_odd`` (0 in base 2).

    ``R`` has ``len(csd_digits(R))`` non-zero digits, so the combine sums that many shifted
    copies of ``A_odd`` and ``A_even << F`` in a balanced tree.
    """
    if config.weight_base == 2:
        return 0
    return len(csd_digits(config.sqrt2_r)).bit_length()  # ceil(log2(1 + digits))


def accumulator_latency(config):
    """:attr:`Accumulator.latency` for ``config``: 0 (base 2), or 1 plus the combine's
    registers, ``combine_depth // register_every`` (sqrt2)."""
    if config.weight_base == 2:
        return 0
    k = config.register_every
    return 1 + (combine_depth(config) // k if k else 0)


def _sum_signed_terms(m, terms, name, *, en, register_every):
    """Balanced exact sum of shifted, signed terms, with exact-width adders.

    ``terms`` is ``[(value, shift, lo, hi, negative), ...]``, each standing for
    ``(-1 if negative else 1) * (value << shift)`` with ``value`` in ``[lo, hi]``; the first
    term is positive. Adding two terms factors out the smaller shift (its low bits are zeros,
    no adder needed there) and sizes the adder to ``signed_width`` of the exact range of the
    partial sum. Registers (enabled by ``en``) after every ``register_every``-th level.

    Returns ``(value, shift, regs)``: the sum is ``value << shift``; ``regs`` register levels.
    """
    level = 0
    regs = 0
    while len(terms) > 1:
        level += 1
        reg = bool(register_every) and level % register_every == 0
        nxt = []
        for i in range(0, len(terms), 2):
            if i + 1 == len(terms):
                a, sh, lo, hi, neg = terms[i]
                expr, kind = a, "pass"
            else:
                (a, sa, la, ha, na), (b, sb, lb, hb, nb) = terms[i], terms[i + 1]
                sh = min(sa, sb)
                a, la, ha = a << (sa - sh), la << (sa - sh), ha << (sa - sh)
                b, lb, hb = b << (sb - sh), lb << (sb - sh), hb << (sb - sh)
                kind = "sum"
                if na == nb:
                    expr, lo, hi, neg = a + b, la + lb, ha + hb, na
                elif nb:
                    expr, lo, hi, neg = a - b, la - hb, ha - lb, False
                else:
                    expr, lo, hi, neg = b - a, lb - ha, hb - la, False
            if kind == "pass" and not reg:
                nxt.append(terms[i])
                continue
            node = Signal(
                signed(signed_width(lo, hi)),
                name=f"{name}_{kind}_l{level}_{i // 2}",
                reset_less=True,
                attrs={"keep": 1} if kind == "sum" else {},  # carry chains, see AdderTree
            )
            if reg:
                with m.If(en):
                    m.d.sync += node.eq(expr)
            else:
                m.d.comb += node.eq(expr)
            nxt.append((node, sh, lo, hi, neg))
        regs += reg
        terms = nxt
    value, sh, _, _, neg = terms[0]
    assert not neg
    return value, sh, regs


class Accumulator(wiring.Component):
    """Accumulates beat sums until ``last``; emits the dot product.

    Per parity (one in base 2; even and odd in base sqrt(2)) an ``acc_bits`` register holds
    the running sum of the beats of the current dot product; the beat sum arrives as
    ``sum{p} + carry{p}`` from the adder tree. ``acc_next = acc + sum + carry`` wraps modulo
    ``2**acc_bits`` when ``acc_bits`` is the exact width, or saturates at the
    two's-complement limits after every beat when ``config.saturating``, as
    :class:`golden.formats.EngineConfig` specifies. The register is cleared after a beat with
    ``last``, so the first beat of a dot product starts from 0.

    Base 2: ``result`` is ``acc_next`` itself, combinationally, and ``o_valid`` is
    ``valid & last`` (latency 0 cycles). Base sqrt(2): the final even and odd sums are
    registered, and ``result = (A_even << F) + R * A_odd`` (``R = config.sqrt2_r``, by
    canonical-signed-digit shifts and adds in a balanced tree, no multiplier) follows,
    registered every ``config.register_every`` levels like the adder tree (latency
    ``1 + combine_depth // register_every`` cycles, see :func:`accumulator_latency`).

    Parameters
    ----------
    config : golden.formats.EngineConfig
        Engine configuration.
    sum_bits : list of int
        Width of the adder tree's ``sum`` output, per parity.

    Attributes
    ----------
    en : In(1)
        Pipeline advance; nothing changes while it is low.
    valid, last : In(1)
        A beat is present; it is the last of its dot product.
    sum{p}, carry{p} : In(signed(sum_bits[p])), In(1)
        Beat sum of parity ``p`` is ``sum{p} + carry{p}``.
    o_valid : Out(1)
        ``result`` holds a finished dot product.
    result : Out(signed(config.result_bits))
        The dot product (with ``F`` fraction bits in base sqrt(2)).
    """

    def __init__(self, *, config, sum_bits):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {config!r}")
        sum_bits = list(sum_bits)
        if len(sum_bits) != len(parities(config)):
            raise ValueError(
                f"sum_bits must have {len(parities(config))} entries, not {sum_bits!r}"
            )
        self._config = config
        self._sum_bits = sum_bits
        members = {"en": In(1), "valid": In(1), "last": In(1)}
        for p in parities(config):
            members[f"sum{p}"] = In(signed(sum_bits[p]))
            members[f"carry{p}"] = In(1)
        members["o_valid"] = Out(1)
        members["result"] = Out(signed(config.result_bits))
        super().__init__(members)

    @property
    def config(self):
        """The engine configuration."""
        return self._config

    @property
    def latency(self):
        """Cycles from a beat with ``last`` (``valid & en``) to ``o_valid``."""
        return accumulator_latency(self._config)

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        lo, hi = cfg.acc_range
        step = self.en & self.valid
        rst = ResetSignal()
        nexts = []
        for p in parities(cfg):
            acc = Signal(signed(cfg.acc_bits), name=f"acc{p}", reset_less=True)
            nxt = Signal(signed(cfg.acc_bits), name=f"acc{p}_next")
            beat, carry = getattr(self, f"sum{p}"), getattr(self, f"carry{p}")
            if cfg.saturating:
                full = Signal.like(acc + beat + carry, name=f"acc{p}_full")
                m.d.comb += full.eq(acc + beat + carry)
                m.d.comb += nxt.eq(Mux(full > hi, hi, Mux(full < lo, lo, full)))
            else:
                m.d.comb += nxt.eq(acc + beat + carry)  # wraps modulo 2**acc_bits
            # Cleared after the last beat and by rst. The register is reset_less and rst is
            # folded into its enable and clear, so it maps to one enabled, synchronously
            # cleared flip-flop per bit (an extra reset priority would cost a LUT per bit).
            with m.If(step | rst):
                m.d.sync += acc.eq(Mux(self.last | rst, 0, nxt))
            nexts.append(nxt)

        if cfg.weight_base == 2:
            m.d.comb += [self.o_valid.eq(self.valid & self.last), self.result.eq(nexts[0])]
            return m

        # sqrt(2): register the final even/odd sums, then combine with shifts and adds.
        fin = []
        for p, nxt in zip(parities(cfg), nexts, strict=True):
            f = Signal(signed(cfg.acc_bits), name=f"final{p}", reset_less=True)
            with m.If(step & self.last):
                m.d.sync += f.eq(nxt)
            fin.append(f)
        fin_valid = Signal(name="final_valid")
        with m.If(self.en):
            m.d.sync += fin_valid.eq(self.valid & self.last)
        terms = [(fin[0], cfg.frac_bits, lo, hi, False)]
        terms += [(fin[1], s, lo, hi, d < 0) for s, d in csd_digits(cfg.sqrt2_r)]
        value, shift, regs = _sum_signed_terms(
            m, terms, "combine", en=self.en, register_every=cfg.register_every
        )
        assert 1 + regs == self.latency
        valid = fin_valid
        for k in range(regs):
            v = Signal(name=f"combine_valid{k}")
            with m.If(self.en):
                m.d.sync += v.eq(valid)
            valid = v
        m.d.comb += [self.result.eq(value << shift), self.o_valid.eq(valid)]
        return m
