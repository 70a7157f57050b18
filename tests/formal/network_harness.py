"""Formal harness: the frame protocol of the network top (:class:`logdot.hdl.network.NetworkTop`).

Every input is free in every cycle (``rst``, ``s_axis_*``, ``m_axis_tready``), so the solver
sends exact, short (``tlast`` early) and long (no ``tlast`` on the image's last pixel) frames
in any mix, with idles, back-pressure and resets. The reference follows the frame rules
(:mod:`logdot.golden.network_stream`, :func:`logdot.hdl.window.frame_control`) with a
pixel counter of its own (``N = H * W`` pixels per image): a frame is due an output when
its ``tlast`` comes early (it is completed with zero pixels) or when its ``N``-th pixel is
taken (a longer frame's extra pixels up to its ``tlast`` are dropped). The
properties (:data:`NETWORK_PROPERTIES`) are stated for one due frame, number ``track`` (an
``AnyConst``), so they hold for every frame. The output values are not checked here (they
are tested against the golden model in simulation).
"""

from __future__ import annotations

from amaranth.hdl import Fragment, Signal

from logdot.hdl.network import NetworkTop
from tests.formal.formal_harness import (
    Harness,
    any_index,
    assert_output_stable,
    assert_reset_idle,
    counter,
    free_axis,
)

__all__ = ["NETWORK_PROPERTIES", "NetworkHarness"]

NETWORK_PROPERTIES = {
    "no_extra_output": "no output word without a frame due one (one output per frame)",
    "response": "a due frame's output is valid within `bound` cycles while m_axis_tready "
    "stays high (bounded response: no hang, no lost frame)",
    "error_clean": "frame_error stays 0 while every frame since the reset was exact",
    "error_set": "frame_error is 1 when the output of a short or long frame is transferred",
    "output_tlast": "m_axis_tlast is 1 on every output word",
    "output_stable": "m_axis_tvalid stays high and m_axis_tdata holds while not ready",
    "reset_idle": "the cycle after a reset: m_axis_tvalid and frame_error low",
}


class NetworkHarness(Harness):
    """BMC harness of a network top with free inputs (frame protocol only).

    Parameters
    ----------
    net : logdot.golden.network.Network
    fold : dict or None
    bound : int
        Cycles within which a due frame's output must be valid (``response``).
    make_dut : callable, optional
        ``make_dut(net, fold=)`` returns the top (default :class:`NetworkTop`).
    max_depth : int
    """

    def __init__(self, net, *, bound, fold=None, make_dut=None, max_depth=40):
        self.net = net
        self.fold = fold
        self.bound = bound
        super().__init__(make_dut=make_dut or NetworkTop, max_depth=max_depth)

    def build(self, m, platform):
        dut = self._make_dut(self.net, fold=self.fold)
        m.submodules.dut = Fragment.get(dut, platform)
        _, h, w = self.net.input_shape
        n = h * w
        bits = self._bits
        io = free_axis(m, dut, self.domain)
        rst, s_last, m_ready, take, give = io.rst, io.s_last, io.m_ready, io.take, io.give

        # -- the reference frame rules ----------------------------------------------------
        pix = Signal(range(n + 1), name="f_pix")  # pixels of the frame; n: dropping
        due, bad = Signal(name="f_due"), Signal(name="f_bad")
        m.d.comb += [
            due.eq(take & (pix < n) & ((pix == n - 1) | s_last)),
            bad.eq(take & (((pix < n - 1) & s_last) | ((pix == n - 1) & ~s_last))),
        ]
        with m.If(take):
            with m.If(s_last):
                m.d.sync += pix.eq(0)
            with m.Elif(pix < n):
                m.d.sync += pix.eq(pix + 1)
        bad_seen = Signal(name="f_bad_seen")
        with m.If(bad):
            m.d.sync += bad_seen.eq(1)

        n_due, n_out = counter(m, "f_n_due", bits, due), counter(m, "f_n_out", bits, give)
        track = any_index(m, bits)
        t_pending, t_cont, t_bad = (
            Signal(name="f_t_pending"),
            Signal(name="f_t_cont"),
            Signal(name="f_t_bad"),
        )
        t_run = Signal(range(self.bound + 2), name="f_t_run")
        t_out = give & (n_out == track)
        with m.If(due & (n_due == track)):
            m.d.sync += [t_pending.eq(1), t_cont.eq(m_ready), t_run.eq(0), t_bad.eq(bad)]
        with m.Else():
            with m.If(t_out):
                m.d.sync += t_pending.eq(0)
            m.d.sync += t_cont.eq(t_cont & m_ready)
            with m.If(t_run != self.bound + 1):
                m.d.sync += t_run.eq(t_run + 1)

        live = ~rst
        self._assert(m, "no_extra_output", ~give | (n_out < n_due))
        valid_now = dut.m_axis_tvalid & (n_out == track)
        self._assert(
            m,
            "response",
            ~(live & t_pending & t_cont & (t_run >= self.bound)) | valid_now,
        )
        self._assert(m, "error_clean", ~(live & ~bad_seen) | ~dut.frame_error)
        self._assert(m, "error_set", ~(t_out & t_bad) | dut.frame_error)
        self._assert(m, "output_tlast", ~(live & dut.m_axis_tvalid) | dut.m_axis_tlast)
        prev_rst = assert_output_stable(self, m, rst, dut.m_axis_tvalid, m_ready, dut.m_axis_tdata)
        assert_reset_idle(self, m, prev_rst, ~(dut.m_axis_tvalid | dut.frame_error))
