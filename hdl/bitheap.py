"""Bit-heap (carry-save) sums of shifted, signed activations: a constant adder tree in LUTs.

A constant-weight beat sum ``S = sum((-1 if negative else 1) * (a_t << shift_t))`` is a heap of
bits: each activation contributes its ``A`` bits (some inverted) in columns ``shift ..
shift + A - 1`` plus an integer constant, by the two's-complement identities (``b_i`` the
bits of ``a``, ``~`` the inversion of one bit)::

    signed a   =  sum(b_i 2^i, i < A-1) + ~b_{A-1} 2^{A-1} - 2^{A-1}
    signed -a  =  sum(~b_i 2^i, i < A-1) + b_{A-1} 2^{A-1} - 2^{A-1} + 1
    unsigned a =  sum(b_i 2^i)
    unsigned -a = sum(~b_i 2^i) - (2^A - 1)

The constants of all terms add up to one integer ``K``, whose bits (modulo ``2**width``)
join the heap. The heap is computed modulo ``2**width`` with ``width =
signed_width(lo, hi)`` of the exact range of ``S``, so the ``width``-bit two's-complement
result is ``S`` itself. Dadda's reduction (full adders ``3 -> 2`` and half adders ``2 -> 2``
bits, each two LUTs: a sum and a carry) lowers every column to at most two bits, stage by
stage with the heights ``..., 9, 6, 4, 3, 2``; one carry-propagate adder (the carry chain)
adds the two rows from the lowest column that has two bits (the columns below are wires).
Inverted bits and constant bits cost nothing extra: they are inputs of the LUTs.

Pipelined, the carry-propagate adder may be cut into chunks at given columns (``cuts``):
chunk ``j`` adds its columns of the two rows and the registered carry out of chunk ``j - 1``
one level after it, so no carry chain is longer than a chunk plus its carry out, and the
sum leaves the heap skewed (chunk ``j`` one level after chunk ``j - 1``), as a chunked
accumulator (:class:`logdot.hdl.const_acc.ChunkedAccumulator`) consumes it.

:func:`plan_heap` plans the reduction from the terms alone (the counts and the depth);
:func:`build_heap` builds it in Amaranth, registered like the run-time adder tree.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Signal, signed

from ..golden.formats import check_int, signed_width

__all__ = ["STAGES_PER_LEVEL", "HeapPlan", "build_heap", "plan_heap"]

#: Reduction stages (LUT levels) per pipeline level; the carry-propagate adder is one level.
STAGES_PER_LEVEL = 3


def _literals(term, act_bits, act_signed):
    """``(bits, constant)``: ``[(bit index, inverted), ...]`` and the term's integer constant
    (before the shift), by the identities of the module docstring."""
    a = act_bits
    if act_signed:
        if term.negative:
            bits = [(i, True) for i in range(a - 1)] + [(a - 1, False)]
            return bits, 1 - (1 << (a - 1))
        return [(i, False) for i in range(a - 1)] + [(a - 1, True)], -(1 << (a - 1))
    if term.negative:
        return [(i, True) for i in range(a)], 1 - (1 << a)
    return [(i, False) for i in range(a)], 0


def _dadda_targets(height):
    """Dadda's column heights, from the largest below ``height`` down to 2."""
    seq = [2]
    while seq[-1] < height:
        seq.append(seq[-1] * 3 // 2)
    return list(reversed(seq[:-1]))


def _reduce(cols, is_const, full, half, after_stage):
    """Dadda reduction of ``cols`` (lists of bits, LSB column first) to heights <= 2.

    ``full(x, y, z)`` and ``half(x, y)`` return ``(sum, carry)``; ``after_stage(cols, fa,
    ha)`` sees the columns after each stage (it may replace them: registers). Variable bits
    are consumed before constant ones. Carries out of the top column are dropped (the heap is
    computed modulo ``2**len(cols)``). Returns the final columns.
    """
    width = len(cols)
    for target in _dadda_targets(max((len(c) for c in cols), default=0)):
        new = [[] for _ in range(width)]
        fa = ha = 0
        for c in range(width):
            bits = sorted(cols[c], key=is_const)  # stable: variable bits first
            height = len(bits) + len(new[c])  # new[c]: carries from column c - 1
            out, j = [], 0
            while height > target:
                if height - target >= 2 and len(bits) - j >= 3:
                    s, co = full(*bits[j : j + 3], c)
                    j, height, fa = j + 3, height - 2, fa + 1
                else:
                    s, co = half(*bits[j : j + 2], c)
                    j, height, ha = j + 2, height - 1, ha + 1
                out.append(s)
                if c + 1 < width:
                    new[c + 1].append(co)
            new[c] = out + bits[j:] + new[c]
        cols = after_stage(new, fa, ha)
    return cols


@dataclass(frozen=True)
class HeapPlan:
    """A planned bit-heap sum of the terms of one parity.

    Attributes
    ----------
    terms : tuple of logdot.golden.const.ConstTerm
        The terms summed.
    lo, hi : int
        Exact range of the sum (attained).
    width : int
        ``signed_width(lo, hi)``: the heap's columns and the sum's width.
    constant : int
        ``K mod 2**width``, the constant bits added to the heap.
    heights : tuple of int
        Column heights before the reduction (constant bits included).
    stages : tuple of (int, int)
        ``(full adders, half adders)`` of each reduction stage.
    cpa_lsb : int or None
        Lowest column of the carry-propagate adder (``None``: no column has two bits).
    act_bits : int
        Width of one activation.
    act_signed : bool
        Whether the activations are signed.
    rows : int
        Further ``width``-bit rows added (e.g. an accumulator's state); the sum is then
        computed modulo ``2**width``.
    cuts : tuple of int
        Columns (ascending, in ``1 .. width - 1``) where the carry-propagate adder is cut
        into chunks, one pipeline level each (empty: one adder).
    strategy : str
        ``"heap"``.
    """

    terms: tuple
    lo: int
    hi: int
    width: int
    constant: int
    heights: tuple
    stages: tuple
    cpa_lsb: int | None
    act_bits: int
    act_signed: bool
    rows: int = 0
    cuts: tuple = ()
    strategy: str = "heap"

    @property
    def depth(self):
        """Pipeline levels: ``ceil(stages / STAGES_PER_LEVEL)``, plus 1 for the adder (plus
        one per cut: a level per chunk, see :attr:`chunks`)."""
        cpa = len(self.chunks) if self.cuts else int(self.cpa_lsb is not None)
        return math.ceil(len(self.stages) / STAGES_PER_LEVEL) + cpa

    @property
    def chunks(self):
        """``((lo, hi), ...)``: the columns of each chunk of the carry-propagate adder."""
        bounds = (0, *self.cuts, self.width)
        return tuple(itertools.pairwise(bounds))

    @property
    def cost(self):
        """Estimated iCE40 cells: two LUTs per full or half adder, a LUT4 and a carry per
        bit of the carry-propagate adder (no carry out of the top bit; one more carry out
        per cut)."""
        adders = sum(fa + ha for fa, ha in self.stages)
        cpa = 0 if self.cpa_lsb is None else 2 * (self.width - self.cpa_lsb) - 1
        return 2 * adders + cpa + len(self.cuts)

    @property
    def lanes(self):
        """The lanes summed, a tuple."""
        return tuple(t.lane for t in self.terms)


def _heap_columns(terms, act_bits, act_signed, width, bit, rows=()):
    """The heap's columns: ``bit(lane, index, inverted)`` per literal, the bits of each of
    ``rows`` (``width``-bit values), then ``K``'s bits as ``Const(1, 1)``; returns ``(cols,
    K mod 2**width)``."""
    cols = [[] for _ in range(width)]
    for row in rows:
        for c in range(width):
            cols[c].append(row[c])
    k = 0
    for t in terms:
        lits, const = _literals(t, act_bits, act_signed)
        k += const << t.shift
        for i, inverted in lits:
            if i + t.shift < width:
                cols[i + t.shift].append(bit(t.lane, i, inverted))
    k %= 1 << width
    for c in range(width):
        if (k >> c) & 1:
            cols[c].append(Const(1, 1))
    return cols, k


def _is_const(b):
    return isinstance(b, Const)


def plan_heap(terms, *, act_bits, act_signed, width=None, rows=0, cuts=()):
    """Plan the bit-heap sum of ``terms`` (:class:`logdot.golden.const.ConstTerm`, one parity)
    of ``act_bits``-bit activations; return a :class:`HeapPlan` (deterministic).

    ``width`` (default: the exact width of the sum), ``rows`` further ``width``-bit
    variable rows and ``cuts`` (columns where the adder is cut, those below ``width``
    are kept): see :class:`HeapPlan`.
    """
    check_int(act_bits, "act_bits", 1)
    check_int(rows, "rows", 0)
    cuts = tuple(cuts)
    for c in cuts:
        check_int(c, "cuts entries", 1)
    if list(cuts) != sorted(set(cuts)):
        raise ValueError(f"cuts must be strictly ascending, not {cuts!r}")
    terms = tuple(terms)
    if not terms:
        raise ValueError("terms must not be empty")
    a_lo, a_hi = (-(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1) if act_signed else (
        0, (1 << act_bits) - 1)  # fmt: skip
    lo = hi = 0
    for t in terms:
        t_lo, t_hi = a_lo << t.shift, a_hi << t.shift
        lo, hi = (lo - t_hi, hi - t_lo) if t.negative else (lo + t_lo, hi + t_hi)
    exact = signed_width(lo, hi)
    width = exact if width is None else check_int(width, "width", exact)
    cuts = tuple(c for c in cuts if c < width)
    cols, k = _heap_columns(
        terms, act_bits, act_signed, width, lambda *key: key, [[None] * width] * rows
    )
    heights = tuple(len(c) for c in cols)
    stages = []

    def token(*_):
        return object(), object()

    def after(new, fa, ha):
        stages.append((fa, ha))
        return new

    final = _reduce(cols, _is_const, token, token, after)
    cpa = next((c for c in range(width) if len(final[c]) == 2), None)
    return HeapPlan(
        terms=terms, lo=lo, hi=hi, width=width, constant=k, heights=heights,
        stages=tuple(stages), cpa_lsb=cpa, act_bits=act_bits, act_signed=bool(act_signed),
        rows=rows, cuts=cuts,
    )  # fmt: skip


def build_heap(m, plan, acts, *, name, en, register_every, depth, rows=()):
    """Build ``plan`` in module ``m``; return the sum, a ``signed(plan.width)`` value.

    Parameters
    ----------
    m : Module
    plan : HeapPlan
    acts : dict
        Lane -> its activation value (``act_bits`` wide).
    name : str
        Prefix of the signals' names.
    en : Value
        Clock enable of the registers.
    register_every : int
        ``k``: the heap (its variable bits) or the sum is registered after every level ``L``
        with ``L % k == 0`` (none when ``k == 0``).
    depth : int
        Levels in all (at least ``plan.depth``): the sum passes the levels after the adder.
    rows : sequence of Value
        ``plan.rows`` values of ``plan.width`` bits, added to the heap.

    The reduction groups :data:`STAGES_PER_LEVEL` stages per level, the carry-propagate
    adder is level ``plan.depth``, and levels beyond pass the sum on.

    With ``plan.cuts`` (``register_every`` must be 1) the result is a tuple, one value per
    chunk of :attr:`HeapPlan.chunks` (the top one signed, the others unsigned): chunk ``j``
    of ``n`` is the sum's columns ``lo .. hi - 1`` and is registered ``n - 1 - j`` levels
    before the last, ``depth``; the sum is ``sum(chunk_j << lo_j)`` of one beat's chunks.
    """
    check_int(depth, "depth", plan.depth)
    if plan.cuts and register_every != 1:
        raise ValueError("a heap with cuts needs register_every 1")
    if len(rows) != plan.rows:
        raise ValueError(f"rows must have {plan.rows} entries, not {len(rows)}")
    k = register_every
    count = [0]

    def sig(prefix):
        count[0] += 1
        return Signal(name=f"{name}_{prefix}{count[0]}")

    def full(x, y, z, c):
        s, co = sig(f"c{c}_fs"), sig(f"c{c}_fc")
        m.d.comb += [s.eq(x ^ y ^ z), co.eq((x & y) | (x & z) | (y & z))]
        return s, co

    def half(x, y, c):
        s, co = sig(f"c{c}_hs"), sig(f"c{c}_hc")
        m.d.comb += [s.eq(x ^ y), co.eq(x & y)]
        return s, co

    def register(value, label):
        r = Signal.like(value, name=label, reset_less=True)
        with m.If(en):
            m.d.sync += r.eq(value)
        return r

    stage = [0]

    def after(cols, fa, ha):
        stage[0] += 1
        level = -(-stage[0] // STAGES_PER_LEVEL)
        last = stage[0] == len(plan.stages)
        if not (k and (stage[0] % STAGES_PER_LEVEL == 0 or last) and level % k == 0):
            return cols
        return [
            [b if _is_const(b) else register(b, f"{name}_q{level}_c{c}_{i}") for i, b in
             enumerate(col)]
            for c, col in enumerate(cols)
        ]  # fmt: skip

    def bit(lane, i, inverted):
        b = acts[lane][i]
        return ~b if inverted else b

    cols, _ = _heap_columns(
        plan.terms, plan.act_bits, plan.act_signed, plan.width, bit,
        [[row[c] for c in range(plan.width)] for row in rows],
    )  # fmt: skip
    cols = _reduce(cols, _is_const, full, half, after)
    if plan.cuts:
        return _chunked_sum(m, plan, cols, name=name, register=register, pad=depth - plan.depth)
    zero = Const(0, 1)
    total = Signal(signed(plan.width), name=f"{name}_sum")
    if plan.cpa_lsb is None:
        m.d.comb += total.eq(Cat(*(col[0] if col else zero for col in cols)))
    else:
        lsb = plan.cpa_lsb
        low = [col[0] if col else zero for col in cols[:lsb]]
        rows = [Cat(*(col[r] if len(col) > r else zero for col in cols[lsb:])) for r in (0, 1)]
        # keep: the adder stays one carry chain (see logdot.hdl.tree.AdderTree).
        cpa = Signal(plan.width - lsb, name=f"{name}_cpa", attrs={"keep": 1})
        m.d.comb += [cpa.eq(rows[0] + rows[1]), total.eq(Cat(*low, cpa))]
    value = total
    first = plan.depth if plan.cpa_lsb is not None else plan.depth + 1
    for level in range(max(first, 1), depth + 1):
        if k and level % k == 0:
            value = register(value, f"{name}_sum_q{level}")
    return value


def _chunked_sum(m, plan, cols, *, name, register, pad):
    """The carry-propagate adder of the reduced ``cols`` in chunks, skewed one level apart
    (see :func:`build_heap`); returns the chunk values, each then delayed ``pad`` levels."""
    zero = Const(0, 1)
    carry, out = None, []
    last = len(plan.chunks) - 1
    for j, (lo, hi) in enumerate(plan.chunks):
        seg = cols[lo:hi]
        rows = [Cat(*(col[r] if len(col) > r else zero for col in seg)) for r in (0, 1)]
        for level in range(j):  # wait for the carry of the chunk below
            rows = [register(v, f"{name}_k{j}_r{r}_q{level}") for r, v in enumerate(rows)]
        bits = hi - lo
        # Without a carry in, the columns below the first with two bits are wires.
        wires = 0
        if carry is None:
            wires = next((c for c, col in enumerate(seg) if len(col) > 1), bits)
        if wires == bits:
            value, carry_out = rows[0], None
        else:
            width = bits - wires + (j < last)
            # keep: each chunk stays one carry chain (see logdot.hdl.tree.AdderTree).
            s = Signal(width, name=f"{name}_cpa{j}", attrs={"keep": 1})
            total = rows[0][wires:] + rows[1][wires:] + (0 if carry is None else carry)
            m.d.comb += s.eq(total)
            value = Cat(rows[0][:wires], s[: bits - wires])
            carry_out = s[bits - wires] if j < last else None
        value = register(value, f"{name}_chunk{j}")
        carry = None if carry_out is None else register(carry_out, f"{name}_carry{j}")
        for level in range(pad):
            value = register(value, f"{name}_chunk{j}_q{level}")
        out.append(value.as_signed() if j == last else value)
    return tuple(out)
