"""Stream FIFO: :mod:`amaranth.lib.fifo` behind :mod:`amaranth.lib.stream` interfaces."""

from __future__ import annotations

from amaranth.hdl import Module, Shape, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.formats import check_int
from .params import check_bool, read_only

__all__ = ["StreamFIFO", "fifo_buffered", "fifo_latency"]

#: Largest FIFO depth.
MAX_DEPTH = 1 << 16


def fifo_latency(buffered=True):
    """Cycles from an input transfer into an empty FIFO to ``o.valid``: 2 for the buffered
    FIFO (block RAM read, then the output register), 1 for the unbuffered one."""
    return 2 if buffered else 1


class StreamFIFO(wiring.Component):
    """A first-in first-out queue of stream beats, ``depth`` entries.

    ``buffered=True`` uses :class:`amaranth.lib.fifo.SyncFIFOBuffered` (synchronous memory
    reads, maps to block RAM; ``depth - 1`` entries in the memory plus an output register),
    ``buffered=False`` :class:`amaranth.lib.fifo.SyncFIFO` (asynchronous reads: LUT RAM or
    flip-flops, for small depths). Either way ``o.valid`` and ``i.ready`` are registered
    (``o.valid`` never depends on ``o.ready``, ``i.ready`` never on ``i.valid``), one beat
    per cycle in and out, order kept, nothing dropped or duplicated.

    Latency: :func:`fifo_latency` (2 buffered, 1 unbuffered). Full rate needs a depth of at
    least 3 buffered, 2 unbuffered; an unbuffered FIFO of depth 1 (one register) refuses a
    beat while it holds one, even one leaving in that cycle, so it moves one beat every
    other cycle at most: for sparse streams only (a network top's wide, slow last FIFO).

    Parameters
    ----------
    shape : ShapeLike
        Payload shape (e.g. :func:`logdot.hdl.window.pixel_layout`).
    depth : int
        Entries, ``3 .. 65536`` (buffered) or ``1 .. 65536``.
    buffered : bool
        Block-RAM FIFO (``True``) or asynchronous-read FIFO (``False``).

    Members
    -------
    i, o : In(stream.Signature(shape)), Out(stream.Signature(shape))
        Input and output beats.
    level : Out(range(depth + 1))
        Entries held.
    max_level : Out(range(depth + 1))
        The largest ``level`` since reset (for FIFO sizing in simulation; unused logic is
        removed by synthesis when the port is left open).
    """

    def __init__(self, *, shape, depth, buffered=True):
        Shape.cast(shape)  # a ShapeLike, or a TypeError naming it
        self._shape = shape
        self._buffered = check_bool(buffered, "buffered")
        self._depth = check_int(depth, "depth", 3 if buffered else 1, MAX_DEPTH)
        super().__init__(
            {
                "i": In(stream.Signature(shape)),
                "o": Out(stream.Signature(shape)),
                "level": Out(range(depth + 1)),
                "max_level": Out(range(depth + 1)),
            }
        )

    shape = read_only("shape", "Payload shape.")
    depth = read_only("depth", "Entries.")
    buffered = read_only(
        "buffered", "Whether the output is registered (block RAM read, then a register)."
    )

    @property
    def width(self):
        """Bits per entry."""
        return Shape.cast(self._shape).width

    @property
    def latency(self):
        """:func:`fifo_latency`."""
        return fifo_latency(self._buffered)

    def elaborate(self, platform):
        m = Module()
        if self._depth == 1:
            # One register and its full flag: SyncFIFO's behaviour at depth 1 (a write only
            # when empty), without its zero-width pointers (Verilog ranges [-1:0]).
            full = Signal(name="full")
            data = Signal(self.width, name="data", reset_less=True)
            with m.If(self.i.valid & ~full):
                m.d.sync += [data.eq(self.i.payload), full.eq(1)]
            with m.Elif(self.o.ready & full):
                m.d.sync += full.eq(0)
            m.d.comb += [
                self.i.ready.eq(~full),
                self.o.payload.eq(data),
                self.o.valid.eq(full),
                self.level.eq(full),
            ]
            level = full
        else:
            cls = fifo.SyncFIFOBuffered if self._buffered else fifo.SyncFIFO
            q = m.submodules.fifo = cls(width=self.width, depth=self._depth)
            m.d.comb += [
                q.w_data.eq(self.i.payload),
                q.w_en.eq(self.i.valid),
                self.i.ready.eq(q.w_rdy),
                self.o.payload.eq(q.r_data),
                self.o.valid.eq(q.r_rdy),
                q.r_en.eq(self.o.ready),
                self.level.eq(q.level),
            ]
            level = q.level
        peak = Signal(range(self._depth + 1), name="peak")
        with m.If(level > peak):
            m.d.sync += peak.eq(level)
        m.d.comb += self.max_level.eq(peak)
        return m


def fifo_buffered(depth):
    """Whether the network's FIFO of ``depth`` entries is the block-RAM one (depth above 8) or
    the asynchronous-read one (:class:`StreamFIFO` ``buffered``)."""
    return depth > 8
