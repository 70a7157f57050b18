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

from amaranth.hdl import Shape, Signal

from logdot.hdl.fifo import StreamFIFO
from tests.formal.formal_harness import (
    Harness,
    any_index,
    assert_output_stable,
    assert_reset_idle,
    counter,
    free_reset,
    free_signal,
)

__all__ = ["FIFO_PROPERTIES", "FifoHarness"]

FIFO_PROPERTIES = ("order", "no_extra", "occupancy", "ready_if_room", "response", "stable", "reset")


class FifoHarness(Harness):
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
        super().__init__(make_dut=make_dut or StreamFIFO, max_depth=max_depth)

    def build(self, m, platform):
        dut = self._make_dut(shape=self.width, depth=self.depth, buffered=self.buffered)
        m.submodules.dut = dut
        width = Shape.cast(dut.i.payload.shape()).width
        rst = free_reset(m, self.domain)
        m.d.comb += [
            dut.i.valid.eq(free_signal(m, "f_i_valid")),
            dut.i.payload.eq(free_signal(m, "f_i_payload", width)),
            dut.o.ready.eq(free_signal(m, "f_o_ready")),
        ]
        take = Signal(name="f_take")
        give = Signal(name="f_give")
        m.d.comb += [
            take.eq(dut.i.valid & dut.i.ready & ~rst),
            give.eq(dut.o.valid & dut.o.ready & ~rst),
        ]
        bits = self._bits
        n_in = counter(m, "f_n_in", bits, take)
        n_out = counter(m, "f_n_out", bits, give)
        track = any_index(m, bits)
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
        held = (n_in - n_out)[:bits]
        live = ~rst
        self._assert(m, "order", ~t_out | (t_pending & (dut.o.payload == t_data)))
        self._assert(m, "no_extra", ~give | (n_out < n_in))
        self._assert(m, "occupancy", ~live | ((dut.level == held) & (held <= self.depth)))
        self._assert(m, "ready_if_room", ~(live & (held < self.depth - 1)) | dut.i.ready)
        self._assert(m, "response", ~(live & t_pending) | (t_run <= self.depth + dut.latency))
        prev_rst = assert_output_stable(
            self, m, rst, dut.o.valid, dut.o.ready, dut.o.payload, name="stable"
        )
        assert_reset_idle(self, m, prev_rst, ~dut.o.valid & (dut.level == 0), name="reset")
