"""Streaming max pooling (kernel = stride, ``kh x kw``, no padding, floor mode) on a pixel
stream.

The golden model is :func:`logdot.golden.window.maxpool_codes`.

Datapath::

    s (one pixel, C codes) --> running max over the kernel's columns (register)
                                   |  (last column of a window)
    line buffer: Memory, W // kw words of C codes (partial maxima of the rows so far)
                                   |  (last row of a window)
                                   v
                         output register --> o (one pooled pixel)
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.formats import check_int
from ..golden.window import ACT_FORMATS, MAX_CHANNELS, MAX_SIDE, pool_kernel
from .params import check_bool, read_only_params
from .window import MAX_BITS, frame_control, line_buffer, pixel_layout

__all__ = ["MaxPool", "code_key", "pool_cycles", "pool_latency"]


def pool_latency():
    """Cycles from the transfer of a pool window's last pixel to ``o.valid`` of its pooled
    pixel (no back-pressure): 1."""
    return 1


def pool_cycles(height, width, kernel, images=1):
    """Cycles of a :class:`MaxPool` for ``images`` back-to-back images (input always valid,
    output always ready), from the first input transfer to the last output transfer
    inclusive.

    One pixel per cycle, so ``height * width`` cycles per image in steady state (limited by
    the input); the last output leaves one cycle after the pixel completing it (the last
    pixel of the last used row and column; the rows and columns no window reaches follow).

    Parameters
    ----------
    height, width : int
        Input image size.
    kernel : int or (int, int)
        Pool size and stride, ``k`` or ``(kh, kw)``.
    images : int

    Returns
    -------
    int
    """
    check_int(images, "images", 1)
    kh, kw = pool_kernel(kernel, height, width)
    last_used = (height // kh * kh - 1) * width + width // kw * kw - 1
    return (images - 1) * height * width + last_used + pool_latency() + 1


def code_key(code, *, bits, act_format, signed):
    """A value ordered as the values of the ``bits``-bit code ``code`` (the hardware form of
    :func:`logdot.golden.window.pool_key`): unsigned codes as unsigned, signed log codes as
    sign and magnitude, signed linear codes as two's complement."""
    if not signed:
        return code.as_unsigned()
    if act_format == "linear":
        return code.as_signed()
    mag = code[: bits - 1].as_unsigned()
    return Mux(code[bits - 1], -mag, mag)


@read_only_params("channels", "height", "width", "kernel", "bits", "act_format", "signed")
class MaxPool(wiring.Component):
    """Max pooling of a pixel stream: pixels in, pooled pixels out, raster order.

    Input ``s`` and output ``o`` have the pixel-stream format of
    :class:`logdot.hdl.window.SlidingWindow`'s input: one beat per pixel, all ``channels``
    codes (channel ``c`` at ``[c * bits +: bits]``), raster order, ``last`` on the last pixel
    of an image. The output image is ``height // kh`` x ``width // kw``; rows and columns no
    window reaches are accepted and dropped (PyTorch's floor mode). Per channel the output
    is the code of the largest value of the window, the first in raster order on ties (see
    :func:`logdot.golden.window.pool_key`): an unsigned code compares as unsigned, a signed
    log code as sign and magnitude, a signed linear code as two's complement.

    Frames as the window unit: an early ``last`` completes the image with zero pixels, a
    long frame is truncated (the rest dropped up to its ``last``); both set the sticky
    ``frame_error``.

    Latency: :func:`pool_latency` (1 cycle). Throughput: one input pixel per cycle
    (:func:`pool_cycles`: ``height * width`` cycles per image in steady state), limited by
    the input.
    ``s.ready`` depends combinationally on ``o.ready``.

    Resources: line buffer ``width // kw`` words of ``channels * bits`` bits (none when
    ``kh = 1``), two ``channels * bits`` registers (row maximum, output).

    Parameters
    ----------
    channels : int
        Codes per pixel, ``1 .. 1024``.
    height, width : int
        Input image size, each at least ``kernel``.
    kernel : int or (int, int)
        Pool size and stride: ``k`` (square, ``1 .. min(height, width)``) or ``(kh, kw)``
        (``1 .. height``, ``1 .. width``).
    bits : int
        Bits per code, ``1 .. 32`` (signed formats need at least 2).
    act_format : {"log", "linear"}
        Code format.
    signed : bool
        Signed codes (log: sign above the magnitude code; linear: two's complement).

    Members
    -------
    s, o : In(stream.Signature(pixel_layout(channels * bits))), Out(...)
        Input pixels and pooled pixels (the same layout).
    frame_error : Out(1)
        As :class:`logdot.hdl.window.SlidingWindow`'s.
    """

    def __init__(self, *, channels, height, width, kernel, bits, act_format="log", signed=False):
        self._channels = check_int(channels, "channels", 1, MAX_CHANNELS)
        self._height = check_int(height, "height", 1, MAX_SIDE)
        self._width = check_int(width, "width", 1, MAX_SIDE)
        self._kh, self._kw = pool_kernel(kernel, height, width)
        self._kernel = self._kh if self._kh == self._kw else (self._kh, self._kw)
        self._signed = check_bool(signed, "signed")
        self._bits = check_int(bits, "bits", 2 if signed else 1, MAX_BITS)
        if act_format not in ACT_FORMATS:
            raise ValueError(f"act_format must be 'log' or 'linear', not {act_format!r}")
        self._act_format = act_format
        layout = pixel_layout(channels * bits)
        super().__init__(
            {
                "s": In(stream.Signature(layout)),
                "o": Out(stream.Signature(layout)),
                "frame_error": Out(1),
            }
        )

    @property
    def kernel_size(self):
        """``(kh, kw)``."""
        return self._kh, self._kw

    @property
    def out_height(self):
        return self._height // self._kh

    @property
    def out_width(self):
        return self._width // self._kw

    @property
    def line_buffer_words(self):
        """Words of the line buffer (``width // kw``; 0 when ``kh = 1``)."""
        return self.out_width if self._kh > 1 else 0

    @property
    def latency(self):
        """:func:`pool_latency`."""
        return pool_latency()

    def cycles(self, images=1):
        """:func:`pool_cycles` of this pool."""
        return pool_cycles(self._height, self._width, self._kernel, images)

    def _key(self, code):
        """A signed value ordered as the values of ``code``."""
        return code_key(code, bits=self._bits, act_format=self._act_format, signed=self._signed)

    def _max(self, m, earlier, later, name):
        """Per channel: ``later`` when its value is larger, else ``earlier`` (ties: earlier)."""
        a = self._bits
        out = Signal(self._channels * a, name=name)
        parts = []
        for c in range(self._channels):
            e, n = earlier[c * a :][:a], later[c * a :][:a]
            parts.append(Mux(self._later_wins(self._key(n), self._key(e)), n, e))
        m.d.comb += out.eq(Cat(*parts))
        return out

    def _later_wins(self, later_key, earlier_key):
        """The comparison of :meth:`_max`: whether the later code is kept (it is larger)."""
        return later_key > earlier_key

    def elaborate(self, platform):
        kh, kw, w, h = self._kh, self._kw, self._width, self._height
        wo, ho = self.out_width, self.out_height
        pix = self._channels * self._bits
        m = Module()

        x = Signal(range(max(w, 2)), name="x")
        y = Signal(range(max(h, 2)), name="y")
        kx = Signal(range(max(kw, 2)), name="kx")
        ky = Signal(range(max(kh, 2)), name="ky")
        ox = Signal(range(max(wo, 2)), name="ox")
        ox_next = Signal.like(ox, name="ox_next")
        m.d.comb += ox_next.eq(Mux(ox == wo - 1, 0, ox + 1))
        out_full = Signal(name="out_full")
        out_data = Signal(pix, name="out_data", reset_less=True)
        out_last = Signal(name="out_last", reset_less=True)
        row_end = x == w - 1
        img_end = row_end & (y == h - 1)
        used = (x < wo * kw) & (y < ho * kh)
        fill, drop = frame_control(m, self.s, img_end, self.frame_error)
        can_step = Signal(name="can_step")
        step = Signal(name="step")
        m.d.comb += [
            can_step.eq(~out_full | self.o.ready),
            step.eq(can_step & (fill | (self.s.valid & ~drop))),
            self.s.ready.eq(drop | (can_step & ~fill)),
            self.o.valid.eq(out_full),
            self.o.payload.data.eq(out_data),
            self.o.payload.last.eq(out_last),
        ]

        pixel = Signal(pix, name="pixel")
        m.d.comb += pixel.eq(Mux(fill, 0, self.s.payload.data))

        # -- row maximum over the kernel's columns ----------------------------------------
        acc = Signal(pix, name="row_max", reset_less=True)
        rowmax = Signal(pix, name="row_max_next")
        if kw > 1:
            m.d.comb += rowmax.eq(Mux(kx == 0, pixel, self._max(m, acc, pixel, "row_cmp")))
        else:
            m.d.comb += rowmax.eq(pixel)
        group_end = used & (kx == kw - 1)
        partial = Signal(pix, name="partial")
        if kh > 1:
            rd_data = line_buffer(
                m,
                "line_buffer",
                shape=pix,
                depth=wo,
                # the next group's word when this step ends a group (one cycle ahead: a
                # synchronous read), so a 1-column kernel reads in time too
                read_addr=Mux(step & group_end, ox_next, ox),
                write_addr=ox,
                write_data=partial,
                write_en=step & group_end & (ky != kh - 1),
            )
            m.d.comb += partial.eq(Mux(ky == 0, rowmax, self._max(m, rd_data, rowmax, "col_cmp")))
        else:
            m.d.comb += partial.eq(rowmax)

        with m.If(self.o.valid & self.o.ready):
            m.d.sync += out_full.eq(0)
        with m.If(step):
            m.d.sync += [x.eq(Mux(row_end, 0, x + 1)), acc.eq(rowmax)]
            with m.If(used):
                if kw > 1:
                    m.d.sync += kx.eq(Mux(kx == kw - 1, 0, kx + 1))
                with m.If(kx == kw - 1):
                    if wo > 1:
                        m.d.sync += ox.eq(ox_next)
                    with m.If(ky == kh - 1):
                        m.d.sync += [
                            out_data.eq(partial),
                            out_full.eq(1),
                            out_last.eq((y == ho * kh - 1) & (x == wo * kw - 1)),
                        ]
            with m.If(row_end):
                m.d.sync += y.eq(Mux(img_end, 0, y + 1))
                if kh > 1:
                    with m.If(y < ho * kh):
                        m.d.sync += ky.eq(Mux((ky == kh - 1) | img_end, 0, ky + 1))
            with m.If(img_end):
                m.d.sync += fill.eq(0)
        return m
