"""Formal harness: the sliding-window unit (:class:`logdot.hdl.window.SlidingWindow`) of a small
image against a reference written here.

Every input is free in every cycle (``rst``, ``s.valid``, ``s.payload`` with ``last``,
``o.ready``): exact, short and long frames, idles, back-pressure, resets. The reference follows
the frame rules of the pixel-stream units (an early ``last`` completes the image with zero
pixels, pixels after the ``H * W``-th are dropped up to the frame's ``last``) with its own
pixel counter, and keeps the pixels of one frame, number ``t_frame``, in an image register
(zero until written, so a short frame's missing pixels read as 0).

One output beat is tracked, number ``track`` (an ``AnyConst``) counted from the reset. Written
here from the unit's contract (``hdl/window.py``, ``docs/network.md``), not from
``logdot.golden.window``: the beats of an image are, for each output position ``(oy, ox)``
in raster order (``Ho = (H + 2 p - k) // s + 1`` rows, ``Wo`` alike), ``tiles`` copies of the
im2col vector, element ``e = (c * k + ky) * k + kx`` = channel ``c`` of the image pixel
``(oy * s + ky - p, ox * s + kx - p)`` (0 outside the image: the zero padding), zero-padded to
``beats * lanes`` codes and cut into ``beats`` beats of ``lanes`` codes, ``last`` on the
vector's last beat. With ``per_frame`` beats per image (a power of two here), beat ``track``
is beat ``track mod per_frame`` of frame ``track div per_frame``. Since the solver picks
``track``, the properties hold for every beat:

==============  ===========================================================================
``value``       the ``track``-th output transfer carries the reference beat: the right
                pixels of the right frame, zero padding at the image edges, ``last`` on the
                vector's last beat (no loss, duplication or reordering)
``no_early``    it is not transferred before the pixels of its window were all taken (or
                its frame ended early)
``occupancy``   when an image pixel is taken, at most ``occupancy`` beats of windows already
                complete are still owed: ``tiles * beats`` times 2 (window and hold
                registers) plus the windows whose last pixel came but whose own position
                (in the bottom or right padding) is still ahead; the unit throttles its
                input, no buffer overruns
``response``    once its window is *due* (the pixel at the last real position up to the
                window's own one was taken, or its frame ended), the beat is valid within
                ``bound`` ready cycles (bounded response under any idles and back-pressure:
                no hang); ``bound`` is the unit's stated tight worst case (below)
``stable``,     as for max pooling (:mod:`tests.formal.pool_harness`): the output holds
``reset``       under back-pressure; nothing is valid and no error is set after a reset
==============  ===========================================================================

Why ``due`` and not complete: a window whose bottom row is padding is complete once the
pixel under its bottom-right real tap came, but the unit reaches its position only after the
rest of that image row (4 x 4, stride 1: the window at ``(3, 0)`` needs pixel 13 and is
reached after pixels 14 and 15), which an idle producer may hold back for ever.

The bound, :func:`logdot.hdl.window.window_response` (its derivation is there): a cycle with
``o.ready`` low never costs a ready cycle later, so the worst case has ``o.ready`` high from
the due cycle on, from the worst state then: ``last`` on the frame's first pixel (every
window of the image due at once, the unit completing the image with zero pixels, one step
per cycle), the hold register loaded in that cycle (the previous image's last window, all
its beats still owed), the tracked beat the last one of the image's last window. 4 x 4,
stride 1, padding 1 (``Wp = 6``, one beat per window): the first pixel is at position 7,
the last window at 35, so the last beat is valid 35 - 7 + 1 = 29 cycles after the due
cycle; 2 x 2: 15 - 5 + 1 = 11; 4 x 4, stride 2, 2 tiles of 2 beats: the windows are handed
over 7, 11, 21 and 25 cycles after the due cycle (positions 14, 16, 26, 28; 4 beats apart at
least), the last beat 4 cycles later, 29. ``tests/hdl/test_window.py`` reaches the bound in
simulation with that stimulus on its hardware cases; the proof shows it is never exceeded,
and ``test_window_response_tight`` that ``bound - 1`` fails. The formal run that first
failed here (``response`` at step 27 with the former bound ``2 * Wp + 3 * tiles * beats +
4`` = 19 at 4 x 4) was that case: ``last`` on pixel 0 in cycle 7, then 19 steps at one per
cycle, the tracked window 14 still seven positions ahead (a correct unit needs 28).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Signal

from logdot.hdl.window import SlidingWindow
from tests.formal.formal_harness import (
    Harness,
    assert_output_stable,
    assert_reset_idle,
    assert_response,
    counter,
    free_pixels,
)

__all__ = ["WINDOW_PROPERTIES", "WindowHarness", "reference_windows"]

WINDOW_PROPERTIES = ("value", "no_early", "occupancy", "response", "stable", "reset")


def reference_windows(height, width, kernel, stride, padding):
    """Per output position in raster order: ``(taps, last_pos)``, where ``taps[ky][kx]`` is
    the pixel index ``y * width + x`` under kernel tap ``(ky, kx)`` or ``None`` (padding) and
    ``last_pos`` the largest pixel index of the window (it is complete once that pixel is
    taken)."""
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    out = []
    for oy in range(out_h):
        for ox in range(out_w):
            taps = []
            for ky in range(kernel):
                row = []
                for kx in range(kernel):
                    y, x = oy * stride + ky - padding, ox * stride + kx - padding
                    inside = 0 <= y < height and 0 <= x < width
                    row.append(y * width + x if inside else None)
                taps.append(row)
            pos = [p for r in taps for p in r if p is not None]
            out.append((taps, max(pos)))
    return out


class WindowHarness(Harness):
    """BMC harness of a square-kernel :class:`SlidingWindow` with free inputs.

    Parameters
    ----------
    channels, height, width, kernel, stride, padding, lanes, tiles, bits
        The unit's geometry (``tiles * beats * windows`` a power of two).
    make_dut : callable, optional
        ``make_dut(**params)`` returns the unit (default :class:`SlidingWindow`); the mutant
        tests pass a broken one.
    bound : int, optional
        The ``response`` bound (default: the unit's :attr:`SlidingWindow.response`); the
        tightness test passes one less.
    max_depth : int

    Attributes
    ----------
    bound : int
        Ready cycles within which a due window's beat is valid (``response``).
    occupancy : int
        Beats owed at most when a pixel is taken (``occupancy``).
    due : list of int
        Per window: the pixel after whose transfer it is due (``response``).
    """

    def __init__(
        self, *, channels, height, width, kernel, stride, padding, lanes, tiles=1, bits,
        make_dut=None, bound=None, max_depth=40,
    ):  # fmt: skip
        self.params = dict(
            channels=channels, height=height, width=width, kernel=kernel, stride=stride,
            padding=padding, lanes=lanes, tiles=tiles, bits=bits,
        )  # fmt: skip
        self.windows = reference_windows(height, width, kernel, stride, padding)
        self.vector = channels * kernel * kernel
        self.beats = -(-self.vector // lanes)
        self.per_frame = len(self.windows) * tiles * self.beats
        if self.per_frame & (self.per_frame - 1):
            raise ValueError(f"beats per image must be a power of two, not {self.per_frame}")
        self.dut = (make_dut or SlidingWindow)(**self.params)
        tb = tiles * self.beats
        # Response: the unit's stated worst case (see the module docstring), or a given one.
        self.bound = self.dut.response if bound is None else bound
        # Occupancy: besides the window and hold registers, windows whose last pixel was
        # taken but whose own position (bottom or right padding) is still ahead are owed.
        wp = width + 2 * padding

        def step_of_window(w):
            oy, ox = divmod(w, (width + 2 * padding - kernel) // stride + 1)
            return (oy * stride + kernel - 1) * wp + ox * stride + kernel - 1

        def position(i):
            return (i // width + padding) * wp + i % width + padding

        ahead = 0
        for i in range(height * width):
            ahead = max(ahead, sum(1 for w, (_, lp) in enumerate(self.windows)
                                   if lp <= i and step_of_window(w) > position(i)))  # fmt: skip
        self.occupancy = (2 + ahead) * tb
        # Due: the pixel at the last real position up to the window's own one.
        self.due = [
            max((i for i in range(height * width) if position(i) <= step_of_window(w)), default=0)
            for w in range(len(self.windows))
        ]
        # The unit is built here (its response bound sizes the property); build() adds it.
        super().__init__(max_depth=max_depth, min_bits=5)

    def build(self, m, platform):
        p = self.params
        ch, bits, lanes, tiles = p["channels"], p["bits"], p["lanes"], p["tiles"]
        k = p["kernel"]
        n = p["height"] * p["width"]
        pix_bits = ch * bits
        tb = tiles * self.beats
        m.submodules.dut = dut = self.dut
        cnt_bits = self._bits

        io = free_pixels(m, dut, self.domain, pixels=n, bits=cnt_bits)
        rst, m_ready, take, give = io.rst, io.m_ready, io.take, io.give
        pix, frame, track = io.pix, io.frame, io.track  # pix == n: dropping

        # -- the tracked beat: frame, window, beat; the frame's pixels --------------------------
        shift = self.per_frame.bit_length() - 1
        t_frame = track >> shift
        rem = track[:shift] if shift else Const(0, 1)
        t_win = Signal(range(max(len(self.windows), 2)), name="f_t_win")
        t_beat = Signal(range(max(self.beats, 2)), name="f_t_beat")
        m.d.comb += [t_win.eq(rem // tb), t_beat.eq(rem % self.beats)]
        this_frame = take & (frame == t_frame) & (pix < n)
        image = [Signal(pix_bits, name=f"f_img{i}") for i in range(n)]
        for i, reg in enumerate(image):
            with m.If(this_frame & (pix == i)):
                m.d.sync += reg.eq(io.s_data)

        def code(index, c):
            return Const(0, bits) if index is None else image[index][c * bits :][:bits]

        expected = Signal(lanes * bits, name="f_expected")
        complete = Signal(name="f_t_complete")  # the tracked beat's window is complete
        due = Signal(name="f_t_due")  # ... and the unit needs no more input to reach it
        ended = frame > t_frame  # frame t_frame has ended
        with m.Switch(t_win):
            for w, (taps, last_pos) in enumerate(self.windows):
                with m.Case(w):
                    m.d.comb += [
                        complete.eq(ended | ((frame == t_frame) & (pix > last_pos))),
                        due.eq(ended | ((frame == t_frame) & (pix > self.due[w]))),
                    ]
                    with m.Switch(t_beat):
                        for b in range(self.beats):
                            with m.Case(b):
                                codes = []
                                for e in range(b * lanes, (b + 1) * lanes):
                                    if e >= self.vector:
                                        codes.append(Const(0, bits))
                                        continue
                                    c, ky, kx = e // (k * k), (e // k) % k, e % k
                                    codes.append(code(taps[ky][kx], c))
                                m.d.comb += expected.eq(Cat(*codes))

        # -- beats owed: windows completed by taken pixels (or by an early last) ----------------
        owed = Signal(cnt_bits + 1, name="f_owed")
        n_out = counter(m, "f_n_out", cnt_bits, give)
        add = Signal(range(len(self.windows) * tb + 1), name="f_owed_add")
        with m.Switch(pix):
            for i in range(n):
                with m.Case(i):
                    exact = sum(1 for _, lp in self.windows if lp == i) * tb
                    rest = sum(1 for _, lp in self.windows if lp >= i) * tb
                    m.d.comb += add.eq(Mux(io.s_last, rest, exact))
        this_pixel = take & (pix < n)  # a pixel of the image (not one dropped)
        with m.If(this_pixel):
            m.d.sync += owed.eq(owed + add)

        t_out = give & (n_out == track)
        self._assert(
            m,
            "value",
            ~t_out
            | (
                (dut.o.payload.data == expected)
                & (dut.o.payload.last == (t_beat == self.beats - 1))
            ),
        )
        self._assert(m, "no_early", ~t_out | complete)
        occ = (owed - n_out)[: cnt_bits + 1]
        self._assert(m, "occupancy", ~this_pixel | (occ <= self.occupancy))
        assert_response(
            self, m, rst=rst, complete=due, ready=m_ready, t_out=t_out,
            valid_now=dut.o.valid & (n_out == track), bound=self.bound,
        )  # fmt: skip
        prev_rst = assert_output_stable(
            self, m, rst, dut.o.valid, m_ready, dut.o.payload.as_value(), name="stable"
        )
        assert_reset_idle(self, m, prev_rst, ~(dut.o.valid | dut.frame_error), name="reset")
