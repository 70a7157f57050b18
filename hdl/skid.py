"""Two-entry output buffer with registered ready (a "skid buffer")."""

from __future__ import annotations

from amaranth.hdl import Module, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["SkidBuffer"]


class SkidBuffer(wiring.Component):
    """Stream register whose ``i.ready`` is a flip-flop, not a function of ``o.ready``.

    ``o.payload``/``o.valid`` come from the main register. While the main register is held by
    back-pressure, one more transfer is taken into the skid register, and ``i.ready`` drops
    in the next cycle. So there is no combinational path from ``o.ready`` to ``i.ready``,
    throughput is one transfer per cycle without back-pressure, and nothing is dropped,
    duplicated or reordered.

    Latency: 1 cycle (from an input transfer to ``o.valid`` when not back-pressured).

    Parameters
    ----------
    shape : ShapeLike
        Payload shape.

    Attributes
    ----------
    i : In(stream.Signature(shape))
        Input stream; ``i.ready == ~skid_valid``.
    o : Out(stream.Signature(shape))
        Output stream (registered valid and payload).
    """

    def __init__(self, *, shape):
        self._shape = Shape.cast(shape)
        super().__init__(
            {"i": In(stream.Signature(self._shape)), "o": Out(stream.Signature(self._shape))}
        )

    @property
    def shape(self):
        """Payload shape."""
        return self._shape

    @property
    def latency(self):
        """Cycles from an input transfer to ``o.valid`` without back-pressure: 1."""
        return 1

    def elaborate(self, platform):
        m = Module()
        main = Signal(self._shape, name="main_data", reset_less=True)
        skid = Signal(self._shape, name="skid_data", reset_less=True)
        main_valid = Signal(name="main_valid")
        skid_valid = Signal(name="skid_valid")
        take = self.i.valid & ~skid_valid
        main_free = ~main_valid | self.o.ready
        m.d.comb += [
            self.i.ready.eq(~skid_valid),
            self.o.valid.eq(main_valid),
            self.o.payload.eq(main),
        ]
        with m.If(~skid_valid):
            m.d.sync += skid.eq(self.i.payload)
        with m.If(main_free):
            with m.If(skid_valid):
                m.d.sync += [main.eq(skid), main_valid.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [main.eq(self.i.payload), main_valid.eq(take)]
        with m.Elif(take):
            m.d.sync += skid_valid.eq(1)
        return m
