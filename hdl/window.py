"""Streaming sliding-window unit: a pixel stream in, a layer engine's activation beats out.

The golden model is :func:`logdot.golden.window.window_beats` (the beats of
:meth:`logdot.golden.layer.MappedLayer.stream`, generated in hardware from the pixels).

Datapath::

    s (one pixel, C codes) --> zero padding (position counters) --> new pixel of column px
                                                                       |
    line buffer: Memory, W words of (kh-1) pixels  <-- shift, write --+--> column (kh pixels)
    (word x = the kh-1 rows above the current one at column x)           |
                                                                         v
                             window register: kw columns of kh pixels (a shift register)
                                                                         | (window complete)
                                                                         v
        hold register (the im2col vector, beats * lanes codes) --rotate by lanes--> o

Why one memory word per column (``kh - 1`` pixels wide, ``W`` deep) and not FINN's
addressable circular buffer: the column history is read and written back at the same
address once per position, so one simple dual-port memory (one synchronous read port, one
write port, no address arithmetic) holds the ``kh - 1`` rows, every stride is only a phase
counter, and the window register gives all ``kh * kw`` taps at once, which the im2col order
(channel-major across pixels) needs. The hold register decouples the two sides: the window
moves on while the previous window is sent ``tiles * beats`` times; the output beats come
from rotating the hold register (no wide multiplexer). The replay for the output-channel
tiles is here, not in the layer engine, because the engine's weight program
(:func:`logdot.golden.layer.map_layer`) expects every vector once per tile on its input.

Costs and limits: each padded position is one cycle (a 28 x 28 image with padding 2 takes
at least 32 x 32 = 1024 cycles for 784 pixels); the window and hold registers are
flip-flops (``kh * kw * channels * bits`` and ``beats * lanes * bits``). On iCE40 (Yosys
``synth_ice40``) a 28 x 28, 5 x 5, padding 2, 1 x 4-bit unit with 25 lanes maps to 73
LUT4, 215 flip-flops and one SB_RAM40_4K; a 14 x 14, 3 x 3, 8 x 4-bit one with 9 lanes and
2 tiles to 414 LUT4, 593 flip-flops and four SB_RAM40_4K.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden.formats import check_int
from ..golden.window import WindowGeometry
from .params import read_only

__all__ = [
    "SlidingWindow",
    "completes_window",
    "frame_control",
    "line_buffer",
    "pixel_layout",
    "window_cycles",
    "window_latency",
    "window_period",
    "window_response",
]

#: Largest code width of a pixel stream.
MAX_BITS = 32


def pixel_layout(width):
    """Payload layout of a stream of ``width``-bit beats with ``last``."""
    return data.StructLayout({"data": width, "last": 1})


def frame_control(m, s, at_last, frame_error):
    """Frame checking shared by the pixel-stream units.

    Creates and returns ``(fill, drop)``: ``fill`` is set by a ``last`` on a pixel before
    the image's last one (the unit then completes the image with zero pixels and clears
    ``fill`` at the image's end); ``drop`` is set when the image's last pixel
    (``at_last``) comes without ``last`` (the unit then accepts and drops pixels up to the
    next ``last``, which clears it). Both set the sticky ``frame_error``.
    """
    fill = Signal(name="fill")
    drop = Signal(name="drop")
    err = Signal(name="frame_error_reg")
    take = s.valid & s.ready
    m.d.comb += frame_error.eq(err)
    with m.If(take & drop & s.payload.last):
        m.d.sync += drop.eq(0)
    with m.If(take & ~drop):
        with m.If(s.payload.last & ~at_last):
            m.d.sync += [fill.eq(1), err.eq(1)]
        with m.If(~s.payload.last & at_last):
            m.d.sync += [drop.eq(1), err.eq(1)]
    return fill, drop


def _at_least(value, bound):
    """``value >= bound`` for an unsigned ``value``; the constant 1 when ``bound <= 0`` (no
    always-true comparison in the Verilog)."""
    return Const(1, 1) if bound <= 0 else value >= bound


def line_buffer(m, name, *, shape, depth, read_addr, write_addr, write_data, write_en):
    """A line buffer of ``depth`` words: :class:`amaranth.lib.memory.Memory` with one
    synchronous read port (always enabled: the returned data is the word at ``read_addr``
    of the previous cycle, before that cycle's write) and one write port; a register when
    ``depth == 1`` (its current value, which is the newest word). Returns the read data.
    """
    if depth == 1:
        reg = Signal(shape, name=f"{name}_word", reset_less=True)
        with m.If(write_en):
            m.d.sync += reg.eq(write_data)
        return reg
    mem = Memory(shape=shape, depth=depth, init=[])
    m.submodules[name] = mem
    wr = mem.write_port()
    rd = mem.read_port()
    m.d.comb += [
        rd.en.eq(1),
        rd.addr.eq(read_addr),
        wr.addr.eq(write_addr),
        wr.data.eq(write_data),
        wr.en.eq(write_en),
    ]
    return rd.data


def window_latency():
    """Cycles from the input transfer (or pad step) that completes a window to ``o.valid``
    of its first beat, without back-pressure: 2 (window register, hold register)."""
    return 2


def window_cycles(geometry, images=1):
    """Cycles a :class:`SlidingWindow` needs for ``images`` back-to-back images.

    Counted from the first cycle after reset (input always valid, output always ready) to
    the transfer of the last output beat, inclusive. The exact cycle model of the hardware:

    * every position ``(py, px)`` of the padded image is one *step* of at least one cycle
      (a pad position takes no input, a real position one input pixel);
    * a step that completes a window (``py >= kh - 1``, ``px >= kw - 1``, on the stride
      grid) hands the window to the hold register at the earliest one cycle later and at
      the earliest ``tiles * beats`` cycles after the previous hand-over; the next step may
      happen in the hand-over cycle, not before;
    * the window's beats leave in the ``tiles * beats`` cycles after its hand-over.

    Steady state: :func:`window_period` cycles per image.

    Parameters
    ----------
    geometry : logdot.golden.window.WindowGeometry
    images : int

    Returns
    -------
    int
    """
    check_int(images, "images", 1)
    g = geometry
    positions = [(py, px) for py in range(g.padded_height) for px in range(g.padded_width)]
    handovers = _handovers(g, positions * images, start=0, busy_until=None)
    return handovers[-1] + g.tiles * g.beats + 1


def window_response(geometry):
    """Cycles from a window's becoming *due* to its last beat's ``o.valid``, at most, under
    any idles and back-pressure, counting only cycles with ``o.ready`` high: the tight
    worst case of a :class:`SlidingWindow`.

    A window is due once the unit needs no further input to reach its position: the pixel
    at the last real position up to it was taken (the image's first pixel if there is none:
    a window all in the padding ahead of it), or its frame ended early with ``last`` (then
    the unit completes the image with zero pixels, one step per cycle); counted from the
    cycle after that transfer. From then on the steps ahead of the window are pad or fill
    steps, and a cycle with ``o.ready`` low never delays a later hand-over in ready cycles
    (steps go on while the window register is free), so the worst case has ``o.ready``
    always high from the worst state at the due cycle, in the cycle model of
    :func:`window_cycles`. That state is: the frame ends with ``last`` on its first pixel
    (every window of the image is then due, and each is at least as far off as from any
    later due pixel), the hold register was loaded in that pixel's cycle (the previous
    image's last window, held by back-pressure until then: all ``tiles * beats`` beats
    still owed), and the tracked beat is the last beat of the image's last window. Its
    ``o.valid`` comes ``handover + tiles * beats`` cycles after the due cycle, where
    ``handover`` is the last window's hand-over in that schedule.

    Parameters
    ----------
    geometry : logdot.golden.window.WindowGeometry

    Returns
    -------
    int
    """
    g = geometry
    first = g.padding[0] * g.padded_width + g.padding[1]  # the first pixel's position
    positions = [(py, px) for py in range(g.padded_height) for px in range(g.padded_width)]
    # The first pixel steps in the cycle before the due cycle 0, when the hold is loaded
    # (hand-over -1: the tracked beat is the held window's if no window comes after it).
    handovers = _handovers(g, positions[first:], start=-1, busy_until=-1)
    return (handovers[-1] if handovers else -1) + g.tiles * g.beats


def _handovers(geometry, positions, *, start, busy_until):
    """The cycle model of :func:`window_cycles`: the hand-over cycle of every window
    completed along ``positions`` (``(py, px)`` of the padded image, stepped in order from
    cycle ``start``, input always there, output always ready), when the hold register last
    took a window in cycle ``busy_until`` (``None``: it is empty)."""
    tb = geometry.tiles * geometry.beats
    t = start  # cycle of the next step
    last_handover = busy_until
    out = []
    for py, px in positions:
        step = t
        t = step + 1
        if completes_window(geometry, py, px):
            h = step + 1 if last_handover is None else max(step + 1, last_handover + tb)
            last_handover = h
            t = max(t, h)
            out.append(h)
    return out


def completes_window(geometry, py, px):
    """Whether the step at position ``(py, px)`` of the padded image completes a window:
    ``py >= kh - 1``, ``px >= kw - 1``, on the stride grid."""
    kh, kw = geometry.kernel
    sh, sw = geometry.stride
    return py >= kh - 1 and px >= kw - 1 and (py - kh + 1) % sh == 0 and (px - kw + 1) % sw == 0


def window_period(geometry):
    """Cycles per image in steady state (images back to back, input always valid, output
    always ready), exactly.

    Window ``i`` is handed over ``max(d_i, tiles * beats)`` cycles after window ``i - 1``,
    where ``d_i`` is the number of steps (padded positions) between them: each step takes
    one cycle, and the hold register takes a new window every ``tiles * beats`` cycles.
    With ``tb = tiles * beats``, ``(sh, sw)`` the stride, ``Ho x Wo`` the output and ``Wp``
    the padded width::

        Ho * (Wo - 1) * max(sw, tb)                          # within an output row
        + (Ho - 1) * max(sh * Wp - (Wo - 1) * sw, tb)         # to the next output row
        + max(steps - (Ho - 1) * sh * Wp - (Wo - 1) * sw, tb)  # to the next image

    It is ``steps = padded_height * padded_width`` (the padded image limits: one position
    per cycle) when ``tb <= sw``, ``beats_per_image = Ho * Wo * tb`` (the output limits:
    one beat per cycle, the layer engine's own rate) when ``tb`` is at least every gap, and
    in between otherwise; never less than either. Equal to ``window_cycles(geometry, n + 1)
    - window_cycles(geometry, n)`` for ``n >= 1``.
    """
    g = geometry
    tb = g.tiles * g.beats
    sh, sw = g.stride
    ho, wo, wp = g.out_height, g.out_width, g.padded_width
    return (
        ho * (wo - 1) * max(sw, tb)
        + (ho - 1) * max(sh * wp - (wo - 1) * sw, tb)
        + max(g.steps - (ho - 1) * sh * wp - (wo - 1) * sw, tb)
    )


class SlidingWindow(wiring.Component):
    """Sliding-window unit: pixels in raster order in, im2col beats for a layer engine out.

    Input ``s``: one beat per pixel, all ``channels`` codes (channel ``c`` at bits ``[c *
    bits +: bits]``), raster order, ``last`` on the last pixel of an image. Zero padding is
    generated inside (pad pixels are not on the stream). Output ``o``: for each output
    position in raster order, the im2col vector (channel, kernel row, kernel column),
    zero-padded to ``beats * lanes`` codes, ``beats`` beats of ``lanes`` codes (lane ``k`` at
    ``[k * bits +: bits]``), ``last`` on the last beat of the vector; the vector is sent
    ``tiles`` times (once per output-channel tile). The output payload has the layout of
    :class:`logdot.hdl.layer.LogLayerEngine`'s input (``data``, ``last``), so ``o`` connects
    to it directly. Exactly :func:`logdot.golden.window.window_beats`.

    Frames: every frame gives one image's beats. A frame whose ``last`` comes early is
    completed with zero pixels; one that runs long is truncated at ``height * width``
    pixels (the rest is accepted and dropped up to its ``last``); both set the sticky
    ``frame_error`` (cleared by reset). An image starts when its first pixel is valid on
    ``s`` (its leading pad positions wait for it, so nothing comes out for an image that
    has not begun); images follow each other with no gap; reset (the ``sync`` domain's)
    at any cycle restarts at the first pixel of an image.

    Handshake: AXI4-Stream rules (``o.valid`` and ``o.payload`` are registers and hold
    until the transfer). ``s.ready`` depends combinationally on ``o.ready``.

    Latency: :func:`window_latency` (2 cycles from the step completing a window to its
    first beat); bounded response: :func:`window_response` (:attr:`response`, ready cycles
    from the last input a window needs to its last beat, at most). Throughput: one step
    (padded position) or one output beat per cycle; cycles :func:`window_cycles`
    (:meth:`cycles`), per image in steady state :func:`window_period`
    (:attr:`cycles_per_image`); limited by the padded image
    (``padded_height * padded_width`` steps, when ``tiles * beats <= stride``) or by the
    output beats (``beats_per_image``, when ``tiles * beats`` exceeds the step gaps between
    windows), a mix of both in between.

    Resources: line buffer ``width`` words of ``(kh - 1) * channels * bits`` bits (none when
    ``kh = 1``); window register ``kh * kw * channels * bits`` flip-flops; hold register
    ``beats * lanes * bits`` flip-flops.

    Parameters
    ----------
    channels, height, width, kernel, stride, padding, lanes, tiles
        The geometry (:class:`logdot.golden.window.WindowGeometry`).
    bits : int
        Bits per code (``1 .. 32``).

    Members
    -------
    s : In(stream.Signature(pixel_layout(channels * bits)))
        Pixel stream.
    o : Out(stream.Signature(pixel_layout(lanes * bits)))
        Activation beats.
    frame_error : Out(1)
        Sticky: a frame had the wrong length.
    """

    def __init__(
        self, *, channels, height, width, kernel, stride=1, padding=0, lanes, tiles=1, bits
    ):
        # Positional: the dataclass's field order is this signature's.
        self._geometry = WindowGeometry(
            channels, height, width, kernel, stride, padding, lanes, tiles
        )
        self._bits = check_int(bits, "bits", 1, MAX_BITS)
        super().__init__(
            {
                "s": In(stream.Signature(pixel_layout(channels * bits))),
                "o": Out(stream.Signature(pixel_layout(lanes * bits))),
                "frame_error": Out(1),
            }
        )

    geometry = read_only("geometry", "The :class:`logdot.golden.window.WindowGeometry`.")
    bits = read_only("bits", "Bits per code.")

    @property
    def pixel_bits(self):
        """Bits of one input beat: ``channels * bits``."""
        return self._geometry.channels * self._bits

    @property
    def beat_bits(self):
        """Bits of one output beat: ``lanes * bits``."""
        return self._geometry.lanes * self._bits

    @property
    def line_buffer_words(self):
        """Words of the line buffer (``width``; 0 when ``kh = 1``)."""
        return self._geometry.width if self._geometry.kernel[0] > 1 else 0

    @property
    def line_buffer_bits(self):
        """Bits per line-buffer word: ``(kh - 1) * channels * bits``."""
        return (self._geometry.kernel[0] - 1) * self.pixel_bits

    @property
    def latency(self):
        """:func:`window_latency`."""
        return window_latency()

    @property
    def response(self):
        """:func:`window_response` of this unit's geometry (ready cycles from a window's
        becoming due to its last beat, at most)."""
        return window_response(self._geometry)

    def cycles(self, images=1):
        """:func:`window_cycles` of this unit's geometry."""
        return window_cycles(self._geometry, images)

    @property
    def cycles_per_image(self):
        """:func:`window_period` of this unit's geometry (steady state)."""
        return window_period(self._geometry)

    def elaborate(self, platform):
        g = self._geometry
        a = self._bits
        pix = self.pixel_bits
        kh, kw = g.kernel
        sh, sw = g.stride
        ph, pw = g.padding
        hp, wp = g.padded_height, g.padded_width
        m = Module()

        # -- position of the next step in the padded image, stride phases ----------------
        px = Signal(range(max(wp, 2)), name="px")
        py = Signal(range(max(hp, 2)), name="py")
        sx = Signal(range(max(sw, 2)), name="sx")
        sy = Signal(range(max(sh, 2)), name="sy")
        real_col = Signal(name="real_col")
        real_row = Signal(name="real_row")
        m.d.comb += [
            real_col.eq(_at_least(px, pw) & (px < pw + g.width)),
            real_row.eq(_at_least(py, ph) & (py < ph + g.height)),
        ]
        at_start = Signal(name="at_start")
        m.d.comb += at_start.eq((px == 0) & (py == 0))
        last_real = (py == ph + g.height - 1) & (px == pw + g.width - 1)
        fill, drop = frame_control(m, self.s, last_real, self.frame_error)
        win_valid = Signal(name="win_valid")
        handoff = Signal(name="handoff")
        can_step = Signal(name="can_step")
        need_input = Signal(name="need_input")
        step = Signal(name="step")
        m.d.comb += [
            can_step.eq(~win_valid | handoff),
            need_input.eq(real_col & real_row & ~fill),
            # The first position of an image waits for the image's first pixel (pad
            # positions take no input, but an image only starts when its frame has begun).
            step.eq(can_step & (~(need_input | at_start) | (self.s.valid & ~drop))),
            self.s.ready.eq(drop | (can_step & need_input)),
        ]
        row_end = px == wp - 1
        img_end = row_end & (py == hp - 1)
        px_next = Signal.like(px, name="px_next")
        m.d.comb += px_next.eq(Mux(row_end, 0, px + 1))
        emit = Signal(name="emit")
        m.d.comb += emit.eq(_at_least(py, kh - 1) & _at_least(px, kw - 1) & (sx == 0) & (sy == 0))

        with m.If(step):
            m.d.sync += px.eq(px_next)
            if sw > 1:
                m.d.sync += sx.eq(Mux((px_next == kw - 1) | (sx == sw - 1), 0, sx + 1))
            with m.If(row_end):
                m.d.sync += py.eq(Mux(img_end, 0, py + 1))
                if sh > 1:
                    nxt_y = Mux(img_end, 0, py + 1)
                    m.d.sync += sy.eq(Mux((nxt_y == kh - 1) | (sy == sh - 1), 0, sy + 1))
            with m.If(img_end):
                m.d.sync += fill.eq(0)

        # -- the new column: line buffer history + the new pixel (zero when padding) -------
        pixel = Signal(pix, name="pixel")
        m.d.comb += pixel.eq(Mux(need_input, self.s.payload.data, 0))
        column = Signal(kh * pix, name="column")
        if kh > 1:
            w = g.width

            def addr(p):
                return Mux(_at_least(p, pw) & (p < pw + w), p - pw, 0)

            history = Signal((kh - 1) * pix, name="history")
            hist = line_buffer(
                m,
                "line_buffer",
                shape=(kh - 1) * pix,
                depth=w,
                read_addr=Mux(step, addr(px_next), addr(px)),
                write_addr=addr(px),
                write_data=history,
                write_en=step & real_col,
            )
            m.d.comb += [
                column.eq(Mux(real_col, Cat(hist, pixel), 0)),
                history.eq(column[pix:]),
            ]
        else:
            m.d.comb += column.eq(Mux(real_col, pixel, 0))

        # -- window register: kw columns, oldest (leftmost) first --------------------------
        cols = [Signal(kh * pix, name=f"win_col{k}", reset_less=True) for k in range(kw)]
        with m.If(step):
            m.d.sync += [cols[k].eq(cols[k + 1]) for k in range(kw - 1)]
            m.d.sync += cols[kw - 1].eq(column)
            m.d.sync += win_valid.eq(emit)
        with m.Elif(handoff):
            m.d.sync += win_valid.eq(0)

        # -- hold register and output: the im2col vector, rotated lanes codes per beat -----
        elems = [
            cols[kx][(ky * g.channels + c) * a :][:a]
            for c in range(g.channels)
            for ky in range(kh)
            for kx in range(kw)
        ]
        span = g.beats * g.lanes * a
        vec = Cat(*elems, Const(0, span - g.vector * a))
        hold = Signal(span, name="hold", reset_less=True)
        hold_full = Signal(name="hold_full")
        beat = Signal(range(max(g.beats, 2)), name="beat")
        tile = Signal(range(max(g.tiles, 2)), name="tile")
        last_beat = beat == g.beats - 1
        done = Signal(name="window_done")
        m.d.comb += [
            self.o.valid.eq(hold_full),
            self.o.payload.data.eq(hold[: self.beat_bits]),
            self.o.payload.last.eq(last_beat),
            done.eq(self.o.ready & hold_full & last_beat & (tile == g.tiles - 1)),
            handoff.eq(win_valid & (~hold_full | done)),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += hold.eq(hold.rotate_right(self.beat_bits))
            if g.beats > 1:
                m.d.sync += beat.eq(Mux(last_beat, 0, beat + 1))
            if g.tiles > 1:
                with m.If(last_beat):
                    m.d.sync += tile.eq(Mux(tile == g.tiles - 1, 0, tile + 1))
        with m.If(handoff):
            m.d.sync += [hold.eq(vec), hold_full.eq(1)]
        with m.Elif(done):
            m.d.sync += hold_full.eq(0)
        return m
