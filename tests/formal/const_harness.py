"""Formal harness (Amaranth) for SymbiYosys: the constant-weight engine against an
independent reference.

The harness instantiates the generated top module (:class:`logdot.hdl.const.ConstDotTop`)
and drives every input from ``AnySeq`` in every cycle (``rst``, ``s_axis_tvalid``,
``s_axis_tlast``, all of ``s_axis_tdata`` with its padding, ``m_axis_tready``). The reference
does not use ``hdl/`` nor :mod:`logdot.golden.const`: each lane's product is
``activation * value`` with a real multiplier, the value ``+-2**(c - 1)`` (base 2) decoded
here from the raw weight field; the beat sum is accumulated on every input transfer
(wrapping modulo ``2**acc_bits`` or saturating, beat by beat), and every transfer with
``tlast`` pushes the finished result into a reference FIFO. Properties (``Assert``):

* ``result_value``: every output transfer equals the head of the FIFO (value and order);
* ``no_extra_output``: no output transfer while the FIFO is empty;
* ``output_stable``: ``m_axis_tvalid`` stays high and ``m_axis_tdata`` holds while
  ``m_axis_tvalid & ~m_axis_tready``;
* ``exact_latency``: when ``m_axis_tready`` was high in every cycle since the last beat of
  the oldest outstanding dot product, ``m_axis_tvalid`` is low before ``latency`` cycles and
  high exactly ``latency`` cycles after that beat (never later).

A synchronous reset in any cycle clears the reference with the design. Base 2 only (the
sqrt(2) combine is covered by co-simulation and by the run-time engine's proof).
"""

from __future__ import annotations

from amaranth.asserts import AnySeq
from amaranth.hdl import Array, Assert, ClockDomain, Elaboratable, Fragment, Module, Mux, Signal
from amaranth.hdl import signed as sgn

from logdot.golden.const import ConstWeights
from logdot.hdl.const import ConstDotTop

__all__ = ["PROPERTIES", "ConstHarness", "reference_values"]

PROPERTIES = ("result_value", "no_extra_output", "output_stable", "exact_latency")


def reference_values(weight_bits, weights):
    """Integer value of each raw base-2 weight field: ``0`` or ``+-2**(code - 1)``."""
    half = 1 << (weight_bits - 1)
    out = []
    for raw in weights:
        code = raw % half
        out.append(0 if code == 0 else (-1 if raw >= half else 1) * 2 ** (code - 1))
    return out


class ConstHarness(Elaboratable):
    """BMC harness of one constant-weight engine.

    Parameters
    ----------
    const : logdot.golden.const.ConstWeights
        The engine the reference describes (base 2).
    latency : int
        The latency the engine states (``exact_latency``).
    make_dut : callable, optional
        ``make_dut()`` returns the top to check (default: ``ConstDotTop(config=const)``); a
        mutant test passes another engine.
    fifo_depth : int
        Capacity of the reference FIFO (more than the results the engine can hold).

    Attributes
    ----------
    domain : ClockDomain
        The ``sync`` domain (its clock is the RTLIL port).
    lines : dict
        Source line of each assertion -> property name (for failure reports).
    """

    def __init__(self, const, *, latency, make_dut=None, fifo_depth=8):
        if not isinstance(const, ConstWeights) or const.config.weight_base != 2:
            raise ValueError("const must be a base-2 ConstWeights")
        self.const = const
        self.latency = latency
        self._make_dut = make_dut or (lambda: ConstDotTop(config=const))
        self._depth = fifo_depth
        self.domain = ClockDomain("sync")
        self.lines = {}

    def _assert(self, m, name, cond):
        import sys

        self.lines[sys._getframe(1).f_lineno] = name
        m.d.comb += Assert(cond, name, src_loc_at=1)

    def elaborate(self, platform):
        cfg = self.const.config
        m = Module()
        m.domains.sync = cd = self.domain
        dut = self._make_dut()
        m.submodules.dut = Fragment.get(dut, platform)

        rst, s_valid, s_last, m_ready = (Signal(name=f"f_{n}") for n in ("rst", "sv", "sl", "mr"))
        s_data = Signal(len(dut.s_axis_tdata), name="f_s_data")
        m.d.comb += [
            rst.eq(AnySeq(1)),
            s_valid.eq(AnySeq(1)),
            s_last.eq(AnySeq(1)),
            s_data.eq(AnySeq(len(s_data))),
            m_ready.eq(AnySeq(1)),
            cd.rst.eq(rst),
            dut.s_axis_tvalid.eq(s_valid),
            dut.s_axis_tlast.eq(s_last),
            dut.s_axis_tdata.eq(s_data),
            dut.m_axis_tready.eq(m_ready),
        ]
        xfer_in = s_valid & dut.s_axis_tready & ~rst
        xfer_out = Signal(name="f_xfer_out")
        m.d.comb += xfer_out.eq(dut.m_axis_tvalid & m_ready & ~rst)

        # Reference beat sum: real multipliers by the decoded constant values.
        beat = 0
        values = reference_values(cfg.weight_bits, self.const.weights)
        for i, v in enumerate(values):
            raw = s_data[i * cfg.act_bits : (i + 1) * cfg.act_bits]
            a = raw.as_signed() if cfg.act_signed else raw
            beat = beat + a * v
        lo, hi = -(1 << (cfg.acc_bits - 1)), (1 << (cfg.acc_bits - 1)) - 1
        acc = Signal(sgn(cfg.acc_bits), name="f_acc")
        full = Signal(sgn(cfg.acc_bits + 24), name="f_full")
        nxt = Signal(sgn(cfg.acc_bits), name="f_acc_next")
        m.d.comb += full.eq(acc + beat)
        if cfg.saturating:
            m.d.comb += nxt.eq(Mux(full > hi, hi, Mux(full < lo, lo, full)))
        else:
            m.d.comb += nxt.eq(full[: cfg.acc_bits].as_signed())
        with m.If(xfer_in):
            m.d.sync += acc.eq(Mux(s_last, 0, nxt))

        # Reference FIFO of finished results, with the cycle stamp of each last beat.
        width = 8 * self.const.out_bytes
        n = self._depth
        fifo = Array(Signal(sgn(cfg.acc_bits), name=f"f_fifo{k}") for k in range(n))
        stamps = Array(Signal(6, name=f"f_stamp{k}") for k in range(n))
        count = Signal(range(n + 1), name="f_count")
        head = Signal(range(n), name="f_head")
        tail = Signal(range(n), name="f_tail")
        now = Signal(6, name="f_now")
        m.d.sync += now.eq(now + 1)
        push = Signal(name="f_push")
        m.d.comb += push.eq(xfer_in & s_last)
        with m.If(push):
            m.d.sync += [fifo[tail].eq(nxt), stamps[tail].eq(now), tail.eq((tail + 1) % n)]
        with m.If(xfer_out & (count != 0)):
            m.d.sync += head.eq((head + 1) % n)
        m.d.sync += count.eq(count + push - (xfer_out & (count != 0)))

        out = dut.m_axis_tdata.as_signed()
        self._assert(m, "result_value", ~xfer_out | (count == 0) | (out == fifo[head]))
        self._assert(m, "no_extra_output", ~xfer_out | (count != 0))
        assert len(out) == width

        held = Signal(name="f_held")
        held_data = Signal(width, name="f_held_data")
        m.d.sync += [held.eq(dut.m_axis_tvalid & ~m_ready & ~rst), held_data.eq(dut.m_axis_tdata)]
        self._assert(
            m,
            "output_stable",
            rst | ~held | (dut.m_axis_tvalid & (dut.m_axis_tdata == held_data)),
        )

        # exact_latency: the oldest result, with ready high since its last beat, is valid
        # exactly `latency` cycles after it (and not before).
        ready_run = Signal(6, name="f_ready_run")  # cycles since ready was last low
        m.d.sync += ready_run.eq(Mux(m_ready, Mux(ready_run == 63, 63, ready_run + 1), 0))
        age = Signal(6, name="f_age")
        m.d.comb += age.eq(now - stamps[head])
        clean = (count != 0) & (ready_run >= age)
        on_time = (dut.m_axis_tvalid == (age == self.latency)) & (age <= self.latency)
        self._assert(m, "exact_latency", rst | ~clean | on_time)
        return m
