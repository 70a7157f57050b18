"""Chunked, skewed accumulator: a wrapping accumulator without a long carry chain.

The pipelined constant-weight engine (:mod:`logdot.hdl.const`) cuts its beat sum into
column chunks (:attr:`logdot.hdl.bitheap.HeapPlan.chunks`), chunk ``j`` one pipeline level
after chunk ``j - 1`` (a bit heap whose carry-propagate adder is cut the same way,
:func:`logdot.hdl.bitheap.build_heap`). The accumulator keeps the same chunks of its state
and adds chunk ``j`` of a beat one cycle after chunk ``j - 1`` of the same beat, with chunk
``j - 1``'s registered carry out as its carry in, so every carry chain is one chunk long
(plus its carry out) and no carry is left pending: the top chunk's sum completes the beat.

Chunk ``j`` spans the accumulator's columns ``cuts[j - 1] .. cuts[j] - 1`` (``0`` and
``acc_bits`` at the ends); the top chunk takes the beat's top chunk sign-extended.
"""

from __future__ import annotations

import itertools

from amaranth.hdl import Cat, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.formats import check_int
from .params import check_config, read_only

__all__ = ["ChunkedAccumulator"]


class ChunkedAccumulator(wiring.Component):
    """Accumulates skewed beat chunks until ``last``; emits the dot product.

    Base 2, wrapping modulo ``2**acc_bits`` (not saturating), as the pipelined
    :class:`~logdot.hdl.accumulator.Accumulator` but for the chunking: per chunk ``j`` an
    enabled register ``acc{j}`` holds its columns of the running sum; on a beat of chunk
    ``j`` (``valid{j}``, one cycle after ``valid{j-1}`` of the same beat) ``acc{j} + sum{j}
    + carry{j-1}`` is its next value (cleared after a beat with
    ``last{j}``, and by ``rst``) and its carry out is registered as ``carry{j}`` for chunk
    ``j + 1`` of the same beat. The finished lower chunks are delayed to the top chunk's
    cycle; their concatenation with the top chunk's sum is registered as ``result`` (every
    cycle with ``en``) beside ``o_valid``, the registered ``valid{top} & last{top}``.

    The state is cleared by a registered copy of ``rst`` (one flip-flop, so the reset's
    fan-out does not reach the enables through the reset net), one cycle after ``rst``: the
    ``valid{j}`` must come from registers reset by ``rst`` and ``valid0`` be at least one
    register after the engine's input, so that no beat reaches the state in between (tested
    with resets in the middle of dot products; the formal proof of a chunked engine allows a
    reset in every cycle of its bounded depth).

    Latency: :attr:`latency` = 1 cycle from the top chunk's beat (the chunks below arrive
    earlier). Throughput: one beat per cycle.

    Parameters
    ----------
    config : logdot.golden.formats.EngineConfig
        Engine configuration (base 2, not saturating; keyword-only).
    cuts : sequence of int
        Columns where the chunks are cut, strictly ascending in ``1 .. acc_bits - 1``.
    sum_bits : sequence of int
        Width of each beat chunk ``sum{j}`` (``len(cuts) + 1`` entries): at most the
        chunk's width, exactly it below the top chunk; the top one is signed.

    Members
    -------
    en : In(1)
        Pipeline advance; nothing changes while it is low.
    valid{j}, last{j} : In(1)
        Chunk ``j`` of a beat is present; that beat is the last of its dot product.
    sum{j} : In(sum_bits[j]) (the top one signed)
        Chunk ``j`` of the beat sum: the beat sum is ``sum(sum{j} << cuts[j - 1])``.
    o_valid : Out(1)
        ``result`` holds a finished dot product.
    result : Out(signed(config.result_bits))
        The dot product.
    """

    def __init__(self, *, config, cuts, sum_bits):
        self._config = check_config(config)
        if config.weight_base != 2 or config.saturating:
            raise ValueError("ChunkedAccumulator needs base-2 weights and a wrapping accumulator")
        cuts = tuple(cuts)
        for c in cuts:
            check_int(c, "cuts entries", 1, config.acc_bits - 1)
        if list(cuts) != sorted(set(cuts)):
            raise ValueError(f"cuts must be strictly ascending, not {cuts!r}")
        bounds = (0, *cuts, config.acc_bits)
        widths = [hi - lo for lo, hi in itertools.pairwise(bounds)]
        sum_bits = tuple(sum_bits)
        if len(sum_bits) != len(widths):
            raise ValueError(f"sum_bits must have {len(widths)} entries, not {sum_bits!r}")
        for j, (b, w) in enumerate(zip(sum_bits, widths, strict=True)):
            top = j == len(widths) - 1
            check_int(b, "sum_bits entries", 1, w)
            if not top and b != w:
                raise ValueError(f"sum_bits[{j}] must be the chunk's width {w}, not {b}")
        self._cuts, self._sum_bits, self._widths = cuts, sum_bits, tuple(widths)
        top = len(widths) - 1
        chunks = {}
        for j, b in enumerate(sum_bits):
            chunks |= {
                f"valid{j}": In(1),
                f"last{j}": In(1),
                f"sum{j}": In(signed(b) if j == top else b),
            }
        out = {"o_valid": Out(1), "result": Out(signed(config.result_bits))}
        super().__init__({"en": In(1), **chunks, **out})

    cuts = read_only("cuts", "Columns where the chunks are cut (a tuple).")
    sum_bits = read_only("sum_bits", "Width of each beat chunk ``sum{j}`` (a tuple).")
    config = read_only("config", "The engine configuration.")

    @property
    def latency(self):
        """Cycles from the top chunk's beat with ``last`` to ``o_valid``: 1."""
        return 1

    @property
    def chunks(self):
        """``((valid, last, sum), ...)``: the input members of each chunk."""
        return tuple(
            (getattr(self, f"valid{j}"), getattr(self, f"last{j}"), getattr(self, f"sum{j}"))
            for j in range(len(self._widths))
        )

    def elaborate(self, platform):
        m = Module()
        rst = Signal(name="rst_q", reset_less=True)  # reset_less: else rst clears it
        m.d.sync += rst.eq(ResetSignal())
        top = len(self._widths) - 1
        carry, parts = None, []
        for j, ((valid, last, beat), width) in enumerate(zip(self.chunks, self._widths,
                                                             strict=True)):  # fmt: skip
            acc = Signal(width, name=f"acc{j}", reset_less=True)
            addend = beat.as_signed() if j == top else beat
            nxt = Signal(width + (j < top), name=f"acc{j}_sum", attrs={"keep": 1})
            m.d.comb += nxt.eq(acc + addend + (0 if carry is None else carry))
            # Cleared after the last beat and by rst (folded into enable and clear, as the
            # Accumulator does: one enabled, synchronously cleared flip-flop per bit).
            with m.If(self.en & valid | rst):
                m.d.sync += acc.eq(Mux(last | rst, 0, nxt[:width]))
            value = nxt[:width]
            for k in range(top - j):  # to the top chunk's cycle
                r = Signal(width, name=f"acc{j}_done_q{k}", reset_less=True)
                with m.If(self.en):
                    m.d.sync += r.eq(value)
                value = r
            parts.append(value)
            if j < top:
                carry = Signal(name=f"acc{j}_carry", reset_less=True)
                with m.If(self.en):
                    m.d.sync += carry.eq(nxt[width])
        valid, last, _ = self.chunks[top]
        final = Signal(signed(self._config.acc_bits), name="final", reset_less=True)
        final_valid = Signal(name="final_valid")
        with m.If(self.en):
            m.d.sync += [final.eq(Cat(*parts)), final_valid.eq(valid & last)]
        m.d.comb += [self.o_valid.eq(final_valid), self.result.eq(final)]
        return m
