"""Formal harness: the stream FIFO (:class:`logdot.hdl.fifo.StreamFIFO`) as a queue.

Every input of the FIFO comes from ``AnySeq`` in every cycle (``rst``, ``i.valid``,
``i.payload``, ``o.ready``). The reference is a count of transfers in and out and one
tracked beat, number ``track`` (an ``AnyConst``, counted from the last reset): its payload
is recorded when it goes in, and the ``track``-th output must carry it. Since the solver
picks ``track``, the properties hold for every beat:

=================  ===========================================================================
``order``          the ``track``-th output transfer is the ``track``-th input's payload (no
                   loss, duplication or reordering)
``no_extra``       no output transfer without a beat held
``occupancy``      ``level`` equals beats in minus beats out, and never exceeds ``depth``
``ready_if_room``  ``i.ready`` is high while fewer than ``depth - 1`` beats are held
``response``       a held beat leaves within ``depth + latency`` cycles of ``o.ready`` high
                   (bounded response: no beat stuck)
``stable``         under back-pressure ``o.valid`` stays high and ``o.payload`` holds
``reset``          in the cycle after a reset ``o.valid`` is low and ``level`` is 0
=================  ===========================================================================
"""

from __future__ import annotations

import sys

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Assert, ClockDomain, Elaboratable, Module, Shape, Signal

from logdot.hdl.fifo import StreamFIFO

__all__ = ["FIFO_PROPERTIES", "FifoHarness", "track_counter"]

FIFO_PROPERTIES = ("order", "no_extra", "occupancy", "ready_if_room", "response", "stable", "reset")


def track_counter(m, name, bits, event):
    """A saturating count of ``event`` pulses (reset by the domain's reset)."""
    cnt = Signal(bits, name=name)
    with m.If(event & (cnt != (1 << bits) - 1)):
        m.d.sync += cnt.eq(cnt + 1)
    return cnt


class FifoHarness(Elaboratable):
    """BMC harness of a :class:`~logdot.hdl.fifo.StreamFIFO` with free inputs.

    Parameters
    ----------
    depth : int
        FIFO entries.
    buffered : bool
        Block-RAM FIFO or asynchronous-read FIFO.
    width : int
        Payload bits.
    make_dut : callable, optional
        ``make_dut(shape=, depth=, buffered=)`` returns the FIFO to check (default
        :class:`StreamFIFO`); the mutant test passes a broken one.
    max_depth : int
        Largest BMC depth (sizes the counters).

    Attributes
    ----------
    domain : ClockDomain
    lines : dict
        Source line of each assertion -> property name.
    """

    def __init__(self, *, depth, buffered, width=3, make_dut=None, max_depth=32):
        self.depth = depth
        self.buffered = buffered
        self.width = width
        self._make_dut = make_dut or StreamFIFO
        self._bits = max(4, (max_depth + 1).bit_length())
        self.domain = ClockDomain("sync")
        self.lines = {}

    def _assert(self, m, name, cond):
        self.lines[sys._getframe(1).f_lineno] = name
        m.d.comb += Assert(cond, name, src_loc_at=1)

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = self.domain
        dut = self._make_dut(shape=self.width, depth=self.depth, buffered=self.buffered)
        m.submodules.dut = dut
        width = Shape.cast(dut.i.payload.shape()).width
        rst = Signal(name="f_rst")
        m.d.comb += [
            rst.eq(AnySeq(1)),
            cd.rst.eq(rst),
            dut.i.valid.eq(AnySeq(1)),
            dut.i.payload.eq(AnySeq(width)),
            dut.o.ready.eq(AnySeq(1)),
        ]
        take = Signal(name="f_take")
        give = Signal(name="f_give")
        m.d.comb += [
            take.eq(dut.i.valid & dut.i.ready & ~rst),
            give.eq(dut.o.valid & dut.o.ready & ~rst),
        ]
        bits = self._bits
        n_in = track_counter(m, "f_n_in", bits, take)
        n_out = track_counter(m, "f_n_out", bits, give)
        track = Signal(bits, name="f_track")
        m.d.comb += track.eq(AnyConst(bits))
        t_data = Signal(width, name="f_t_data", reset_less=True)
        t_pending = Signal(name="f_t_pending")
        t_run = Signal(range(self.depth + 8), name="f_t_run")  # ready cycles while pending
        t_out = give & (n_out == track)
        with m.If(take & (n_in == track)):
            m.d.sync += [t_data.eq(dut.i.payload), t_pending.eq(1), t_run.eq(0)]
        with m.Else():
            with m.If(t_out):
                m.d.sync += t_pending.eq(0)
            with m.If(t_pending & dut.o.ready & (t_run != self.depth + 7)):
                m.d.sync += t_run.eq(t_run + 1)
        prev_rst = Signal(init=1, name="f_prev_rst", reset_less=True)
        prev_hold = Signal(name="f_prev_hold", reset_less=True)
        prev_data = Signal(width, name="f_prev_data", reset_less=True)
        m.d.sync += [
            prev_rst.eq(rst),
            prev_hold.eq(dut.o.valid & ~dut.o.ready),
            prev_data.eq(dut.o.payload),
        ]
        held = (n_in - n_out)[:bits]
        live = ~rst
        self._assert(m, "order", ~t_out | (t_pending & (dut.o.payload == t_data)))
        self._assert(m, "no_extra", ~give | (n_out < n_in))
        self._assert(m, "occupancy", ~live | ((dut.level == held) & (held <= self.depth)))
        self._assert(m, "ready_if_room", ~(live & (held < self.depth - 1)) | dut.i.ready)
        self._assert(m, "response", ~(live & t_pending) | (t_run <= self.depth + dut.latency))
        self._assert(
            m,
            "stable",
            ~(prev_hold & ~prev_rst) | (dut.o.valid & (dut.o.payload == prev_data)),
        )
        self._assert(m, "reset", ~prev_rst | (~dut.o.valid & (dut.level == 0)))
        return m
