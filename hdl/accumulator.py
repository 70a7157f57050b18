"""Multi-beat accumulator driven by ``last``, with wrap or saturation, and the sqrt(2) combine."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.formats import check_int, signed_width
from .lane import parities
from .params import check_bool, check_config, read_only

__all__ = [
    "Accumulator",
    "accumulator_fusable",
    "accumulator_latency",
    "combine_depth",
    "csd_digits",
]


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


def accumulator_fusable(config):
    """Whether :class:`Accumulator` can take its next state from the caller (``fused``):
    base 2, wrapping (not saturating), combinational (``register_every`` 0)."""
    return config.weight_base == 2 and not config.saturating and not config.register_every


def accumulator_latency(config):
    """:attr:`Accumulator.latency` for ``config`` (``k = register_every``).

    Base 2: 0, or 1 when pipelined (``k > 0``: the finished sum is registered, so the
    accumulator's adder runs into flip-flops only). Base sqrt(2): 1 (the final sums), plus 1
    when pipelined, plus the combine's registers ``combine_depth // k``.
    """
    k = config.register_every
    if config.weight_base == 2:
        return 1 if k else 0
    return 1 + (1 + combine_depth(config) // k if k else 0)


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
    :class:`logdot.golden.formats.EngineConfig` specifies. The register is cleared after a beat with
    ``last``, so the first beat of a dot product starts from 0.

    Base 2: ``result`` is ``acc_next`` itself, combinationally, and ``o_valid`` is
    ``valid & last`` (latency 0 cycles). Base sqrt(2): the final even and odd sums are
    registered, and ``result = (A_even << F) + R * A_odd`` (``R = config.sqrt2_r``, by
    canonical-signed-digit shifts and adds in a balanced tree, no multiplier) follows,
    registered every ``config.register_every`` levels like the adder tree (latency
    ``1 + combine_depth // register_every`` cycles, see :func:`accumulator_latency`).

    Parameters
    ----------
    config : logdot.golden.formats.EngineConfig
        Engine configuration.
    sum_bits : list of int
        Width of the adder tree's ``sum`` output, per parity.
    split_bits : int or None
        Pipelined and wrapping: the low part of the split accumulator is at most this many
        bits wide (default: the width of ``sum{p}``), so its carry chain is at most
        ``split_bits + 1`` long.
    fused : bool
        The adder is the caller's (:func:`accumulator_fusable` configurations only): the
        register is the ``state0`` output and ``sum0 + carry0`` is its next value ``state0 +
        beat`` (modulo ``2**acc_bits``), e.g. one bit heap over the terms and the state.

    Throughput: one beat per cycle.

    Members
    -------
    en : In(1)
        Pipeline advance; nothing changes while it is low.
    valid, last : In(1)
        A beat is present; it is the last of its dot product.
    sum{p}, carry{p} : In(signed(sum_bits[p])), In(1)
        Beat sum of parity ``p`` is ``sum{p} + carry{p}`` (the parities have different
        widths, hence separate members; :attr:`beats` lists them).
    state0 : Out(signed(config.acc_bits))
        With ``fused`` only: the running sum before this beat.
    o_valid : Out(1)
        ``result`` holds a finished dot product.
    result : Out(signed(config.result_bits))
        The dot product (with ``F`` fraction bits in base sqrt(2)).
    """

    def __init__(self, *, config, sum_bits, split_bits=None, fused=False):
        self._config = check_config(config)
        if split_bits is not None:
            check_int(split_bits, "split_bits", 1)
        self._split_bits = split_bits
        self._fused = check_bool(fused, "fused")
        if fused and not accumulator_fusable(config):
            raise ValueError(
                "fused needs base-2 weights, a wrapping accumulator and register_every 0"
            )
        sum_bits = list(sum_bits)
        if len(sum_bits) != len(parities(config)):
            raise ValueError(
                f"sum_bits must have {len(parities(config))} entries, not {sum_bits!r}"
            )
        for b in sum_bits:
            check_int(b, "sum_bits entries", 1)
        self._sum_bits = tuple(sum_bits)
        members = {"en": In(1), "valid": In(1), "last": In(1)}
        for p in parities(config):
            members[f"sum{p}"] = In(signed(sum_bits[p]))
            members[f"carry{p}"] = In(1)
        if fused:
            members["state0"] = Out(signed(config.acc_bits))
        members["o_valid"] = Out(1)
        members["result"] = Out(signed(config.result_bits))
        super().__init__(members)

    fused = read_only("fused", "Whether ``sum0 + carry0`` is the next state itself.")

    config = read_only("config", "The engine configuration.")
    sum_bits = read_only("sum_bits", "Width of ``sum{p}``, per parity (a tuple).")

    @property
    def latency(self):
        """Cycles from a beat with ``last`` (``valid & en``) to ``o_valid``."""
        return accumulator_latency(self._config)

    @property
    def beats(self):
        """``((sum0, carry0), ...)``: the beat-sum input members, per parity."""
        return tuple(
            (getattr(self, f"sum{p}"), getattr(self, f"carry{p}")) for p in parities(self._config)
        )

    def elaborate(self, platform):
        cfg = self._config
        k = cfg.register_every
        m = Module()
        lo, hi = cfg.acc_range
        step = self.en & self.valid
        rst = ResetSignal()
        clear = self.last | rst

        def accumulate(acc, value):
            # Cleared after the last beat and by rst. The register is reset_less and rst is
            # folded into its enable and clear, so it maps to one enabled, synchronously
            # cleared flip-flop per bit (an extra reset priority would cost a LUT per bit).
            with m.If(step | rst):
                m.d.sync += acc.eq(Mux(clear, 0, value))

        finals = []  # per parity: the finished sum, as a value of registers (pipelined)
        nexts = []  # per parity: acc_next, combinational (not pipelined)
        for p, (beat, carry) in zip(parities(cfg), self.beats, strict=True):
            if self._fused:
                acc = Signal(signed(cfg.acc_bits), name=f"acc{p}", reset_less=True)
                nxt = Signal(signed(cfg.acc_bits), name=f"acc{p}_next")
                m.d.comb += [nxt.eq(beat + carry), self.state0.eq(acc)]
                accumulate(acc, nxt)
                nexts.append(nxt)
                continue
            split = min(len(beat), self._split_bits or len(beat))
            if k and not cfg.saturating and cfg.acc_bits > split + 1:
                finals.append(self._split_accumulator(m, p, beat, carry, accumulate, step, split))
                continue
            acc = Signal(signed(cfg.acc_bits), name=f"acc{p}", reset_less=True)
            nxt = Signal(signed(cfg.acc_bits), name=f"acc{p}_next")
            if cfg.saturating:
                full = Signal.like(acc + beat + carry, name=f"acc{p}_full")
                m.d.comb += full.eq(acc + beat + carry)
                m.d.comb += nxt.eq(Mux(full > hi, hi, Mux(full < lo, lo, full)))
            else:
                m.d.comb += nxt.eq(acc + beat + carry)  # wraps modulo 2**acc_bits
            accumulate(acc, nxt)
            nexts.append(nxt)
            if k:
                fin = Signal(signed(cfg.acc_bits), name=f"final{p}", reset_less=True)
                with m.If(step & self.last):
                    m.d.sync += fin.eq(nxt)
                finals.append(fin)

        if k or cfg.weight_base == "sqrt2":
            fin_valid = Signal(name="final_valid")
            with m.If(self.en):
                m.d.sync += fin_valid.eq(self.valid & self.last)

        if cfg.weight_base == 2:
            if k:
                m.d.comb += [self.o_valid.eq(fin_valid), self.result.eq(finals[0])]
            else:
                m.d.comb += [self.o_valid.eq(self.valid & self.last), self.result.eq(nexts[0])]
            return m

        # sqrt(2): the final even/odd sums in registers (pipelined: one more register stage,
        # so that resolving a split accumulator's carry is not in series with the combine).
        if k:
            res = []
            for p, value in zip(parities(cfg), finals, strict=True):
                r = Signal(signed(cfg.acc_bits), name=f"final{p}_resolved", reset_less=True)
                with m.If(self.en):
                    m.d.sync += r.eq(value)
                res.append(r)
            res_valid = Signal(name="final_resolved_valid")
            with m.If(self.en):
                m.d.sync += res_valid.eq(fin_valid)
            fin, valid = res, res_valid
        else:
            fin = []
            for p, nxt in zip(parities(cfg), nexts, strict=True):
                f = Signal(signed(cfg.acc_bits), name=f"final{p}", reset_less=True)
                with m.If(step & self.last):
                    m.d.sync += f.eq(nxt)
                fin.append(f)
            valid = fin_valid
        terms = [(fin[0], cfg.frac_bits, lo, hi, False)]
        terms += [(fin[1], s, lo, hi, d < 0) for s, d in csd_digits(cfg.sqrt2_r)]
        value, shift, regs = _sum_signed_terms(m, terms, "combine", en=self.en, register_every=k)
        assert (1 if not k else 2) + regs == self.latency
        for j in range(regs):
            v = Signal(name=f"combine_valid{j}")
            with m.If(self.en):
                m.d.sync += v.eq(valid)
            valid = v
        m.d.comb += [self.result.eq(value << shift), self.o_valid.eq(valid)]
        return m

    def _split_accumulator(self, m, p, beat, carry, accumulate, step, lw):
        """Pipelined wrapping accumulator whose carry chain is only ``lw + 1`` bits long.

        The register is split at ``L = lw <= len(beat)``: ``acc_lo`` (``L`` bits), ``acc_hi``
        and a pending carry ``acc_cp`` from the low part into the high part, so the value is
        ``acc_lo + ((acc_hi + acc_cp) << L)`` modulo ``2**acc_bits``. Per beat the low part
        adds the beat's low ``L`` bits, the high part adds the beat's bits above them (sign
        extended) and the pending carry,
        and the low part's carry out becomes the new pending carry: two short adders side
        by side instead of one ``acc_bits`` chain. The finished sum is registered in the same
        form and resolved (``hi + carry``) from those registers.

        Returns the finished sum as a value of registers.
        """
        cfg = self._config
        hw = cfg.acc_bits - lw
        acc_lo = Signal(lw, name=f"acc{p}_lo", reset_less=True)
        acc_hi = Signal(hw, name=f"acc{p}_hi", reset_less=True)
        acc_cp = Signal(name=f"acc{p}_cp", reset_less=True)
        lo_sum = Signal(lw + 1, name=f"acc{p}_lo_sum", attrs={"keep": 1})
        hi_sum = Signal(hw, name=f"acc{p}_hi_sum", attrs={"keep": 1})
        m.d.comb += [
            lo_sum.eq(acc_lo + beat[:lw] + carry),
            hi_sum.eq(
                acc_hi + beat[lw:].as_signed() + acc_cp
                if lw < len(beat)
                else acc_hi + beat[-1].replicate(hw) + acc_cp
            ),
        ]
        accumulate(acc_lo, lo_sum[:lw])
        accumulate(acc_hi, hi_sum)
        accumulate(acc_cp, lo_sum[lw])
        fin_lo = Signal(lw, name=f"final{p}_lo", reset_less=True)
        fin_hi = Signal(hw, name=f"final{p}_hi", reset_less=True)
        fin_c = Signal(name=f"final{p}_cp", reset_less=True)
        with m.If(step & self.last):
            m.d.sync += [fin_lo.eq(lo_sum[:lw]), fin_hi.eq(hi_sum), fin_c.eq(lo_sum[lw])]
        value = Signal(signed(cfg.acc_bits), name=f"final{p}")
        m.d.comb += value.eq(Cat(fin_lo, fin_hi + fin_c))
        return value
