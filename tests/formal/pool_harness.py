"""Formal harness: max pooling (:class:`logdot.hdl.pool.MaxPool`) of a 4 x 4 image, kernel 2,
one channel of unsigned codes, against a reference written here.

Every input is free in every cycle (``rst``, ``s.valid``, ``s.payload`` with ``last``,
``o.ready``): exact, short and long frames, idles, back-pressure, resets. The reference keeps
its own frame position (``N = 16`` pixels per frame; an early ``last`` ends the frame, the
missing pixels count as code 0; pixels after the 16th are dropped up to the frame's
``last``). One output is tracked, number ``track`` (an ``AnyConst``) from the reset: it is
window ``track mod 4`` (raster order) of frame ``track div 4``, so its expected code is the
largest code the frame brought to the window's four positions (0 if none came), and it is
complete once the frame's pixel at the window's last position was taken or the frame ended
early. Since the solver picks ``track``, the properties hold for every output:

==============  ===========================================================================
``value``       the ``track``-th output transfer carries the window's maximum (the pixels of
                the right frame at the right positions, image edges included) and ``last``
                exactly on the frame's 4th window (no loss, duplication or reordering)
``no_early``    it is not transferred before its window is complete
``response``    once complete it is valid within ``N + 4`` cycles of ``o.ready`` high
``stable``      under back-pressure ``o.valid`` stays high and ``o.payload`` holds
``reset``       in the cycle after a reset ``o.valid`` and ``frame_error`` are low
==============  ===========================================================================
"""

from __future__ import annotations

from amaranth.hdl import Signal

from logdot.hdl.pool import MaxPool
from tests.formal.formal_harness import (
    Harness,
    assert_output_stable,
    assert_reset_idle,
    assert_response,
    free_pixels,
)

__all__ = ["POOL_PROPERTIES", "PoolHarness"]

POOL_PROPERTIES = ("value", "no_early", "response", "stable", "reset")
SIDE, KERNEL = 4, 2


class PoolHarness(Harness):
    """BMC harness of a 4 x 4, kernel 2, one-channel :class:`MaxPool` of ``bits``-bit codes.

    Parameters
    ----------
    bits : int
    make_dut : callable, optional
        ``make_dut(**params)`` returns the pool (default :class:`MaxPool`).
    max_depth : int
    """

    def __init__(self, *, bits=2, make_dut=None, max_depth=32):
        self.bits = bits
        super().__init__(make_dut=make_dut or MaxPool, max_depth=max_depth, min_bits=5)
        #: Ready cycles within which a complete window is output: an early ``last`` makes
        #: the pool fill the rest of the frame with zero pixels (up to ``N - 1`` cycles).
        self.bound = SIDE * SIDE + 4

    def build(self, m, platform):
        dut = self._make_dut(
            channels=1, height=SIDE, width=SIDE, kernel=KERNEL, bits=self.bits, act_format="log"
        )
        m.submodules.dut = dut
        n = SIDE * SIDE
        windows = (SIDE // KERNEL) ** 2
        bits = self._bits
        io = free_pixels(m, dut, self.domain, pixels=n, bits=bits)
        rst, s_last, s_data, m_ready, take, give = (
            io.rst, io.s_last, io.s_data, io.m_ready, io.take, io.give
        )  # fmt: skip
        pix, frame, track = io.pix, io.frame, io.track  # pix == n: dropping

        t_frame = track >> 2
        t_win = track[:2]
        row, col = pix // SIDE, pix % SIDE
        in_window = (pix < n) & ((row >> 1) == t_win[1]) & ((col >> 1) == t_win[0])
        last_pos = (2 * t_win[1] + 1) * SIDE + 2 * t_win[0] + 1
        this_frame = take & (frame == t_frame)
        t_max = Signal(self.bits, name="f_t_max")
        t_done = Signal(name="f_t_done")
        with m.If(this_frame & in_window & (s_data > t_max)):
            m.d.sync += t_max.eq(s_data)
        with m.If(this_frame & ((pix == last_pos) | (s_last & (pix < last_pos)))):
            m.d.sync += t_done.eq(1)
        n_out = Signal(bits, name="f_n_out")
        with m.If(give):
            m.d.sync += n_out.eq(n_out + 1)
        t_out = give & (n_out == track)
        self._assert(
            m,
            "value",
            ~t_out
            | ((dut.o.payload.data == t_max) & (dut.o.payload.last == (t_win == windows - 1))),
        )
        self._assert(m, "no_early", ~t_out | t_done)
        assert_response(
            self, m, rst=rst, complete=t_done, ready=m_ready, t_out=t_out,
            valid_now=dut.o.valid & (n_out == track), bound=self.bound, limit=63,
        )  # fmt: skip
        prev_rst = assert_output_stable(
            self, m, rst, dut.o.valid, m_ready, dut.o.payload.as_value(), name="stable"
        )
        assert_reset_idle(self, m, prev_rst, ~(dut.o.valid | dut.frame_error), name="reset")
