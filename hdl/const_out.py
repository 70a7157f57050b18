"""Output register with one skid register, for a pipeline whose last stage is a register."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .params import read_only

__all__ = ["OutputRegister"]


class OutputRegister(wiring.Component):
    """Stream buffer: ``o.payload`` is a register, ``i.ready`` the inverse of a flip-flop.

    Two registers: the output register (``o.valid`` and ``o.payload`` are flip-flops) and a
    skid register that takes the input while it is empty (``i.ready`` is "skid empty"). The
    output register loads when it is empty or read (``~o.valid | o.ready``), from the skid
    register if that holds a beat, else from the input; the skid register keeps a beat that
    arrives while the output register is full and not read. Every register enable is one
    LUT of flip-flops away (``i.ready``: the skid's inverted valid, the enable of a pipeline
    in front; the output register's: ``~o.valid | o.ready``), and there is no combinational
    path from ``o.ready`` to ``i.ready``. The 2:1 multiplexer is on the output register's
    input, so the producer's last stage should be a register (a pipeline; a combinational
    producer is better served by :class:`~logdot.hdl.skid.SkidBuffer`, whose inputs run
    straight into flip-flops). Throughput one transfer per cycle without back-pressure;
    order kept, nothing dropped or duplicated; ``o.payload`` holds while ``o.valid &
    ~o.ready``.

    Latency: :attr:`latency` = 1 cycle. Throughput: one transfer per cycle.

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
        out_valid = Signal(name="out_valid")
        out_data = Signal(self._shape, name="out_data", reset_less=True)
        skid_valid = Signal(name="skid_valid")
        skid_data = Signal(self._shape, name="skid_data", reset_less=True)
        load = Signal(name="load")
        m.d.comb += [
            load.eq(~out_valid | self.o.ready),
            self.i.ready.eq(~skid_valid),
            self.o.valid.eq(out_valid),
            self.o.payload.eq(out_data),
        ]
        with m.If(~skid_valid):
            m.d.sync += skid_data.eq(self.i.payload)
        with m.If(load):
            m.d.sync += out_data.eq(Mux(skid_valid, skid_data, self.i.payload))
        m.d.sync += [
            out_valid.eq(~load | skid_valid | self.i.valid),
            skid_valid.eq(~load & (skid_valid | self.i.valid)),
        ]
        return m
