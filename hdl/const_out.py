"""Output register with one skid register, for a pipeline whose last stage is a register."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal

from .skid import SkidBuffer

__all__ = ["OutputRegister"]


class OutputRegister(SkidBuffer):
    """Stream buffer: ``o.payload`` is a register, ``i.ready`` the inverse of a flip-flop.

    The signature, parameters and latency of :class:`~logdot.hdl.skid.SkidBuffer`; another
    structure.

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
        The payload's shape, keyword-only (as for the skid buffer).

    Members
    -------
    i : In(stream.Signature(shape))
        Input stream; ``i.ready`` is high while the skid register is empty.
    o : Out(stream.Signature(shape))
        Output stream; ``o.valid`` and ``o.payload`` are the output register.
    """

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
