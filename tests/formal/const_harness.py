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

from amaranth.hdl import Array, Fragment, Signal
from amaranth.hdl import signed as sgn

from logdot.golden.const import ConstWeights
from logdot.hdl.const import ConstDotTop
from tests.formal.formal_harness import (
    Harness,
    assert_output_stable,
    free_axis,
    reference_accumulator,
    run_length,
)

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


class ConstHarness(Harness):
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
        self._depth = fifo_depth
        super().__init__(make_dut=make_dut or (lambda: ConstDotTop(config=const)), max_depth=0)

    def build(self, m, platform):
        cfg = self.const.config
        dut = self._make_dut()
        m.submodules.dut = Fragment.get(dut, platform)

        io = free_axis(m, dut, self.domain)
        rst, s_data, m_ready, xfer_in, xfer_out = io.rst, io.s_data, io.m_ready, io.take, io.give

        # Reference beat sum: real multipliers by the decoded constant values.
        beat = 0
        values = reference_values(cfg.weight_bits, self.const.weights)
        for i, v in enumerate(values):
            raw = s_data[i * cfg.act_bits : (i + 1) * cfg.act_bits]
            a = raw.as_signed() if cfg.act_signed else raw
            beat = beat + a * v
        _, nxt = reference_accumulator(
            m, "f_acc", beat, xfer_in, io.s_last, acc_bits=cfg.acc_bits, saturating=cfg.saturating
        )

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
        m.d.comb += push.eq(xfer_in & io.s_last)
        with m.If(push):
            m.d.sync += [fifo[tail].eq(nxt), stamps[tail].eq(now), tail.eq((tail + 1) % n)]
        with m.If(xfer_out & (count != 0)):
            m.d.sync += head.eq((head + 1) % n)
        m.d.sync += count.eq(count + push - (xfer_out & (count != 0)))

        out = dut.m_axis_tdata.as_signed()
        self._assert(m, "result_value", ~xfer_out | (count == 0) | (out == fifo[head]))
        self._assert(m, "no_extra_output", ~xfer_out | (count != 0))
        assert len(out) == width

        assert_output_stable(self, m, rst, dut.m_axis_tvalid, m_ready, dut.m_axis_tdata)

        # exact_latency: the oldest result, with ready high since its last beat, is valid
        # exactly `latency` cycles after it (and not before).
        ready_run = run_length(m, m_ready, 63, "f_ready_run")  # cycles since ready was low
        age = Signal(6, name="f_age")
        m.d.comb += age.eq(now - stamps[head])
        clean = (count != 0) & (ready_run >= age)
        on_time = (dut.m_axis_tvalid == (age == self.latency)) & (age <= self.latency)
        self._assert(m, "exact_latency", rst | ~clean | on_time)
