"""The board top: a compiled network behind a UART (image bytes in, class and logits out).

Dataflow (every stage a :class:`~amaranth.lib.wiring.Component` with stream ports)::

    rx --> UARTRx --> RequestPacker --(pixels)--> NetworkTop --(one word per image)--+
                           |                                                        v
                           +--(flags, one per request)--> StreamFIFO ------> ResponseFormatter
                                                                                    |
    tx <-- UARTTx <--(bytes)--------------------------------------------------------+

The byte protocol (request length, the idle timeout that ends a short request, the status
flags, the response ``status, class, output word``) is
:mod:`logdot.golden.board_protocol`, whose :func:`~logdot.golden.board_protocol.board_forward`
is the golden model of this top, byte for byte. :class:`BoardPins` connects a top to the
``uart`` resource of an ``amaranth-boards`` platform.
"""

from __future__ import annotations

from amaranth.hdl import Cat, ClockDomain, ClockSignal, Module, Mux, ResetSignal, Signal
from amaranth.lib import io, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.board_protocol import (
    STATUS_FRAMING,
    STATUS_MARKER,
    STATUS_OVERRUN,
    STATUS_SHORT,
    pixel_bytes,
    request_cycles,
)
from ..golden.formats import check_int
from ..golden.network import Network
from ..golden.network_stream import output_bits
from .fifo import StreamFIFO
from .network import NetworkTop
from .params import check_bool, read_only
from .pool import code_key
from .uart import MAX_DIVISOR, MIN_DIVISOR, UARTRx, UARTTx
from .window import pixel_layout

__all__ = ["BoardPins", "BoardTop", "RequestPacker", "ResponseFormatter"]

#: Width of the status flags (:data:`logdot.golden.board_protocol.STATUS_FLAGS`).
FLAG_BITS = 3


class RequestPacker(wiring.Component):
    """Request bytes to pixel beats: ``pixel_bytes`` bytes (least significant first) per
    pixel, ``last`` on the ``pixels``-th pixel, one ``flags`` beat per request.

    When no byte comes for ``timeout`` cycles in the middle of a request, the packer ends it:
    it feeds zero bytes until the current pixel is complete (a zero pixel when no byte of it
    came) and sends that pixel with ``last`` (the network completes the image with zero
    pixels); the request's flags then have :data:`~logdot.golden.board_protocol.STATUS_SHORT`.
    ``framing`` and ``overrun`` pulses (from the receiver) set the other two flags of the
    request in progress (or of the next one, between requests).

    Parameters
    ----------
    pixel_bytes : int
        Bytes per pixel word, ``1 .. 64``.
    pixels : int
        Pixels per image, ``1 .. 2**20``.
    timeout : int
        Idle cycles that end a request, ``1 .. 2**32``.

    Members
    -------
    i : In(stream.Signature(8))
        Request bytes.
    o : Out(stream.Signature(pixel_layout(8 * pixel_bytes)))
        Pixel beats (registered).
    flags : Out(stream.Signature(3))
        The status flags of every request, when its last pixel is sent.
    framing, overrun : In(1)
        Pulses from the receiver.
    """

    def __init__(self, *, pixel_bytes, pixels, timeout):
        self._pixel_bytes = check_int(pixel_bytes, "pixel_bytes", 1, 64)
        self._pixels = check_int(pixels, "pixels", 1, 1 << 20)
        self._timeout = check_int(timeout, "timeout", 1, 1 << 32)
        super().__init__(
            {
                "i": In(stream.Signature(8)),
                "o": Out(stream.Signature(pixel_layout(8 * pixel_bytes))),
                "flags": Out(stream.Signature(FLAG_BITS)),
                "framing": In(1),
                "overrun": In(1),
            }
        )

    pixel_bytes = read_only("pixel_bytes", "Bytes per pixel word.")
    pixels = read_only("pixels", "Pixels per image.")
    timeout = read_only("timeout", "Idle cycles that end a request.")

    def _shift_in(self, word, byte):
        """The pixel word after ``byte``: bytes come least significant first, so each enters
        at the top and the first one ends at the bottom."""
        return Cat(word[8:], byte) if self._pixel_bytes > 1 else byte

    def elaborate(self, platform):
        m = Module()
        p, n = self._pixel_bytes, self._pixels
        word = Signal(8 * p)
        index = Signal(range(p))
        pixel = Signal(range(n))
        idle = Signal(range(self._timeout + 1))
        flush = Signal()
        short = Signal()
        framing = Signal()
        overrun = Signal()
        busy = (index != 0) | (pixel != 0)
        free = ~self.o.valid & ~self.flags.valid
        take = Signal()
        byte = Signal(8)
        m.d.comb += [
            self.i.ready.eq(free & ~flush),
            take.eq(free & (flush | self.i.valid)),
            byte.eq(Mux(flush, 0, self.i.payload)),
        ]
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.flags.ready):
            m.d.sync += self.flags.valid.eq(0)
        with m.If(take & ~flush):
            m.d.sync += idle.eq(0)
        with m.Elif(busy & ~flush):
            with m.If(idle == self._timeout - 1):
                m.d.sync += [flush.eq(1), short.eq(1), idle.eq(0)]
            with m.Else():
                m.d.sync += idle.eq(idle + 1)
        with m.If(take):
            new = self._shift_in(word, byte)
            m.d.sync += [word.eq(new), index.eq(index + 1)]
            with m.If(index == p - 1):
                last = (pixel == n - 1) | flush
                m.d.sync += [
                    index.eq(0),
                    pixel.eq(Mux(last, 0, pixel + 1)),
                    self.o.valid.eq(1),
                    self.o.payload.data.eq(new),
                    self.o.payload.last.eq(last),
                ]
                with m.If(last):
                    m.d.sync += [
                        self.flags.valid.eq(1),
                        self.flags.payload.eq(
                            Mux(short | flush, STATUS_SHORT, 0)
                            | Mux(framing | self.framing, STATUS_FRAMING, 0)
                            | Mux(overrun | self.overrun, STATUS_OVERRUN, 0)
                        ),
                        flush.eq(0),
                        short.eq(0),
                        framing.eq(0),
                        overrun.eq(0),
                    ]
        with m.If(~(take & (index == p - 1) & ((pixel == n - 1) | flush))):
            with m.If(self.framing):
                m.d.sync += framing.eq(1)
            with m.If(self.overrun):
                m.d.sync += overrun.eq(1)
        return m


class ResponseFormatter(wiring.Component):
    """Network output words and request flags to response bytes: the status byte, the class
    (index of the largest of the ``count`` values, the first on ties), the word's bytes
    (least significant first).

    The class is found one value per cycle (``count - 1`` cycles), then the ``2 + Q`` bytes
    go out; the next word is taken after the last byte.

    Parameters
    ----------
    count : int
        Values per word, ``1 .. 256``.
    bits : int
        Bits per value, ``1 .. 64``.
    act_format : {"log", "linear"}
        Value format.
    signed : bool
        Signed values.
    word_bits : int
        Bits of the output word, a multiple of 8 and at least ``count * bits``.

    Members
    -------
    i : In(stream.Signature(word_bits))
        Output words (one per image).
    flags : In(stream.Signature(3))
        The request's status flags (one per image, in the same order).
    o : Out(stream.Signature(8))
        Response bytes.
    """

    def __init__(self, *, count, bits, act_format, signed, word_bits):
        self._count = check_int(count, "count", 1, 256)
        self._bits = check_int(bits, "bits", 1, 64)
        self._act_format = act_format
        self._signed = check_bool(signed, "signed")
        self._word_bits = check_int(word_bits, "word_bits", count * bits, 1 << 16)
        if word_bits % 8:
            raise ValueError(f"word_bits must be a multiple of 8, not {word_bits}")
        super().__init__(
            {
                "i": In(stream.Signature(word_bits)),
                "flags": In(stream.Signature(FLAG_BITS)),
                "o": Out(stream.Signature(8)),
            }
        )

    count = read_only("count", "Values per word.")
    bits = read_only("bits", "Bits per value.")
    word_bits = read_only("word_bits", "Bits of the output word.")

    @property
    def response_bytes(self):
        """Bytes per response: ``2 + word_bits // 8``."""
        return 2 + self._word_bits // 8

    def _response(self, status, label, word):
        """The response bytes, the first at the bottom: status, class, the word's bytes least
        significant first."""
        return Cat(status, label, word)

    def _key(self, code):
        return code_key(code, bits=self._bits, act_format=self._act_format, signed=self._signed)

    def elaborate(self, platform):
        m = Module()
        k, o, wb = self._count, self._bits, self._word_bits
        rest = Signal(wb)  # the values not yet compared, value 1 at the bottom first
        best = Signal(o)
        label = Signal(8)
        index = Signal(range(k + 1))
        status = Signal(8)
        word = Signal(wb)
        out = Signal(16 + wb)
        left = Signal(range(self.response_bytes + 1))
        m.d.comb += [self.o.payload.eq(out[:8]), self.o.valid.eq(left != 0)]
        with m.FSM():
            with m.State("idle"):
                m.d.comb += [
                    self.i.ready.eq(self.flags.valid),
                    self.flags.ready.eq(self.i.valid),
                ]
                with m.If(self.i.valid & self.flags.valid):
                    m.d.sync += [
                        word.eq(self.i.payload),
                        rest.eq(self.i.payload >> o),
                        best.eq(self.i.payload[:o]),
                        label.eq(0),
                        index.eq(1),
                        status.eq(STATUS_MARKER | self.flags.payload),
                    ]
                    m.next = "argmax"
            with m.State("argmax"):
                with m.If(index == k):
                    m.d.sync += [
                        out.eq(self._response(status, label, word)),
                        left.eq(self.response_bytes),
                    ]
                    m.next = "send"
                with m.Else():
                    cur = rest[:o]
                    with m.If(self._key(cur) > self._key(best)):
                        m.d.sync += [best.eq(cur), label.eq(index)]
                    m.d.sync += [rest.eq(rest >> o), index.eq(index + 1)]
            with m.State("send"), m.If(self.o.ready):
                m.d.sync += [out.eq(out >> 8), left.eq(left - 1)]
                with m.If(left == 1):
                    m.next = "idle"
        return m


class BoardTop(wiring.Component):
    """A network behind a UART: the byte protocol of :mod:`logdot.golden.board_protocol`.

    Parameters
    ----------
    net : Network
    fold : dict or None
        ``{layer index: (lanes, pes)}`` (as :class:`logdot.hdl.network.NetworkTop`).
    divisor : int
        Clock cycles per UART bit (:func:`logdot.hdl.uart.uart_divisor`).
    timeout : int
        Idle cycles that end a short request (see :class:`RequestPacker`).

    Members
    -------
    rx : In(1, init=1)
        Serial line from the host.
    tx : Out(1, init=1)
        Serial line to the host.
    frame_error : Out(1)
        The network's sticky ``frame_error`` (set by every short request).
    flags : Out(3)
        Sticky OR of the status flags of every response since reset (for LEDs).
    """

    def __init__(self, net, *, fold=None, divisor, timeout):
        if not isinstance(net, Network):
            raise TypeError(f"net must be a Network, not {type(net).__name__}")
        self._net = net
        self._fold = fold
        self._divisor = check_int(divisor, "divisor", MIN_DIVISOR, MAX_DIVISOR)
        self._timeout = check_int(timeout, "timeout", 1, 1 << 32)
        self._network = NetworkTop(net, fold=fold)
        super().__init__(
            {
                "rx": In(1, init=1),
                "tx": Out(1, init=1),
                "frame_error": Out(1),
                "flags": Out(FLAG_BITS),
            }
        )

    net = read_only("net", "The network.")
    divisor = read_only("divisor", "Clock cycles per UART bit.")
    timeout = read_only("timeout", "Idle cycles that end a short request.")

    @property
    def network(self):
        """The :class:`~logdot.hdl.network.NetworkTop` inside."""
        return self._network

    @property
    def request_cycles(self):
        """Clock cycles one request takes on the line (10 bits per byte): the fastest rate
        at which images can come in."""
        return request_cycles(self._net, self._divisor)

    def elaborate(self, platform):
        m = Module()
        net = self._net
        _, h, w = net.input_shape
        fmt = net.output_format
        used, width = output_bits(net)
        m.submodules.rx = rx = UARTRx(divisor=self._divisor)
        m.submodules.packer = packer = RequestPacker(
            pixel_bytes=pixel_bytes(net), pixels=h * w, timeout=self._timeout
        )
        m.submodules.network = top = self._network
        m.submodules.flags = flags = StreamFIFO(shape=FLAG_BITS, depth=4, buffered=False)
        m.submodules.response = resp = ResponseFormatter(
            count=used // fmt.bits,
            bits=fmt.bits,
            act_format=fmt.kind,
            signed=fmt.signed,
            word_bits=width,
        )
        m.submodules.tx = tx = UARTTx(divisor=self._divisor)
        wiring.connect(m, rx.o, packer.i)
        wiring.connect(m, packer.flags, flags.i)
        wiring.connect(m, flags.o, resp.flags)
        wiring.connect(m, resp.o, tx.i)
        m.d.comb += [
            rx.rx.eq(self.rx),
            packer.framing.eq(rx.error),
            packer.overrun.eq(rx.overrun),
            top.s_axis_tvalid.eq(packer.o.valid),
            packer.o.ready.eq(top.s_axis_tready),
            top.s_axis_tdata.eq(packer.o.payload.data),
            top.s_axis_tlast.eq(packer.o.payload.last),
            resp.i.valid.eq(top.m_axis_tvalid),
            top.m_axis_tready.eq(resp.i.ready),
            resp.i.payload.eq(top.m_axis_tdata),
            self.tx.eq(tx.tx),
            self.frame_error.eq(top.frame_error),
        ]
        with m.If(flags.o.valid & flags.o.ready):
            m.d.sync += self.flags.eq(self.flags | flags.o.payload)
        return m


#: Cycles of the power-on reset of :class:`BoardPins`.
POWER_ON_RESET_CYCLES = 15


class BoardPins(wiring.Component):
    """A :class:`BoardTop` on an ``amaranth-boards`` platform: its ``uart`` resource 0 (and,
    where the board has them, ``uart_tx_enable`` driven high and LED 0 lit on any status
    flag or frame error).

    The ``sync`` domain is the platform's default clock with a synchronous power-on reset
    (:data:`POWER_ON_RESET_CYCLES` cycles after configuration; every family sets register
    initial values at configuration), the same on iCE40 and ECP5 (whose platforms' own
    ``sync`` domain has no reset signal).
    """

    def __init__(self, top):
        if not isinstance(top, BoardTop):
            raise TypeError(f"top must be a BoardTop, not {type(top).__name__}")
        self._top = top
        super().__init__({})

    top = read_only("top", "The board top.")

    def elaborate(self, platform):
        from amaranth.build import ResourceError

        m = Module()
        m.submodules.clk_buf = clk = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        m.domains.sync = ClockDomain("sync")
        m.domains.por = ClockDomain("por", reset_less=True)
        por = Signal(range(POWER_ON_RESET_CYCLES + 1), init=POWER_ON_RESET_CYCLES)
        with m.If(por != 0):
            m.d.por += por.eq(por - 1)
        m.d.comb += [
            ClockSignal("sync").eq(clk.i),
            ClockSignal("por").eq(clk.i),
            ResetSignal("sync").eq(por != 0),
        ]
        m.submodules.top = top = self._top
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        for name, value in (("uart_tx_enable", 1), ("led", top.frame_error | top.flags.any())):
            try:
                pin = platform.request(name, 0, dir="-")
            except ResourceError:
                continue
            m.submodules[f"{name}_buf"] = buf = io.Buffer("o", pin)
            m.d.comb += buf.o.eq(value)
        return m
