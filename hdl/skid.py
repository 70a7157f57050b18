"""Two-entry output buffer with registered ready (a skid buffer built as a tiny FIFO)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .params import read_only

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Stream buffer whose ``i.ready`` is a flip-flop, not a function of ``o.ready``.

    Two entries written in turn (each entry's data input is ``i.payload`` itself, with only
    a clock enable, so the producer's last adder runs straight into flip-flops) and read in
    turn (``o.payload`` is a 2:1 multiplexer of the entries, selected by a flip-flop).
    ``i.ready`` is "not full" and ``o.valid`` "not empty", both registered: there is no
    combinational path from ``o.ready`` to ``i.ready`` nor from any input to any output.
    Throughput is one transfer per cycle without back-pressure; the order is kept and nothing
    is dropped or duplicated; ``o.payload`` holds while ``o.valid & ~o.ready``.

    Latency: :attr:`latency` = 1 cycle (from an input transfer to ``o.valid`` when the buffer
    is empty). Throughput: one transfer per cycle.

    Parameters
    ----------
    shape : ShapeLike
        Payload shape (keyword-only).

    Members
    -------
    i, o : In(stream.Signature(shape)), Out(stream.Signature(shape))
        Input and output streams.
    """

    def __init__(self, *, shape):
        self._shape = Shape.cast(shape)
        super().__init__(
            {"i": In(stream.Signature(self._shape)), "o": Out(stream.Signature(self._shape))}
        )

    shape = read_only("shape", "Payload shape.")

    @property
    def latency(self):
        """Cycles from an input transfer to ``o.valid`` without back-pressure: 1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        entry = [Signal(self._shape, name=f"entry{k}_data", reset_less=True) for k in range(2)]
        wr = Signal(name="wr_sel")
        rd = Signal(name="rd_sel")
        full = Signal(name="full")
        empty = Signal(name="empty", init=1)
        count = Signal(range(3), name="count")
        write = self.i.valid & ~full
        read = self.o.ready & ~empty
        m.d.comb += [
            self.i.ready.eq(~full),
            self.o.valid.eq(~empty),
            self.o.payload.eq(Mux(rd, entry[1], entry[0])),
        ]
        for k in range(2):
            with m.If(write & (wr == k)):
                m.d.sync += entry[k].eq(self.i.payload)
        with m.If(write):
            m.d.sync += wr.eq(~wr)
        with m.If(read):
            m.d.sync += rd.eq(~rd)
        nxt = Signal(range(4), name="count_next")
        m.d.comb += nxt.eq(count + write - read)
        m.d.sync += [count.eq(nxt), full.eq(nxt == 2), empty.eq(nxt == 0)]
        return m
