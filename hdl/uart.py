"""A UART receiver and transmitter (8 data bits, no parity, 1 stop bit) with stream ports.

Neither the Amaranth standard library nor this project's stack has a UART, so these two small
components are written here for the board top (:mod:`logdot.hdl.board`). Both count
``divisor`` clock cycles per bit (``divisor = clock / baud``, rounded: :func:`uart_divisor`);
bits go least significant first, the line idles high.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from ..golden.formats import check_int
from .params import read_only

__all__ = ["MAX_DIVISOR", "MIN_DIVISOR", "UARTRx", "UARTTx", "uart_divisor"]

#: Fewest clock cycles per bit (the receiver samples in the middle of a bit).
MIN_DIVISOR = 4
#: Most clock cycles per bit.
MAX_DIVISOR = 1 << 24


def uart_divisor(clock_hz, baud):
    """Clock cycles per bit for ``baud`` at ``clock_hz``, rounded to the nearest integer.

    Raises ``ValueError`` when the rounding error exceeds 2 % (a UART tolerates about 4 %
    between both ends) or the divisor is out of ``MIN_DIVISOR .. MAX_DIVISOR``.
    """
    clock_hz, baud = int(clock_hz), check_int(baud, "baud", 1)
    divisor = (2 * clock_hz + baud) // (2 * baud)
    if not MIN_DIVISOR <= divisor <= MAX_DIVISOR:
        raise ValueError(
            f"baud {baud} at {clock_hz} Hz needs {divisor} clock cycles per bit, outside "
            f"{MIN_DIVISOR}..{MAX_DIVISOR}"
        )
    if abs(divisor * baud - clock_hz) * 50 > clock_hz:
        raise ValueError(
            f"baud {baud} at {clock_hz} Hz: {divisor} cycles per bit is "
            f"{abs(divisor * baud - clock_hz) / clock_hz:.1%} off (more than 2 %)"
        )
    return divisor


class UARTRx(wiring.Component):
    """UART receiver: the ``rx`` line in, one stream beat per received byte out.

    The line goes through a two-flip-flop synchronizer. A falling edge starts a byte; the
    start bit is checked in its middle (a shorter low pulse is ignored), the 8 data bits and
    the stop bit are sampled in their middles. A byte whose stop bit is low is dropped and
    ``error`` pulses for one cycle; the receiver then waits for the line to go high again
    (a break). The byte is offered on ``o`` until taken; a byte that completes while the
    previous one is still not taken is dropped and ``overrun`` pulses.

    Latency: the byte is on ``o`` about half a bit after the middle of its stop bit (1.5 + 8 +
    1 bit times after the start edge, plus the 2 synchronizer cycles).

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, ``MIN_DIVISOR .. MAX_DIVISOR`` (:func:`uart_divisor`).

    Members
    -------
    rx : In(1, init=1)
        The serial line.
    o : Out(stream.Signature(8))
        Received bytes.
    error : Out(1)
        One-cycle pulse: a byte with a bad stop bit was dropped.
    overrun : Out(1)
        One-cycle pulse: a byte was dropped because ``o`` still held the previous one.
    """

    def __init__(self, *, divisor):
        self._MustUse__silence = True  # no "never used" warning when the arguments fail
        self._divisor = check_int(divisor, "divisor", MIN_DIVISOR, MAX_DIVISOR)
        del self._MustUse__silence
        super().__init__(
            {
                "rx": In(1, init=1),
                "o": Out(stream.Signature(8)),
                "error": Out(1),
                "overrun": Out(1),
            }
        )

    divisor = read_only("divisor", "Clock cycles per bit.")

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(d))
        bit = Signal(range(9))
        shift = Signal(8)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.sync += [self.error.eq(0), self.overrun.eq(0)]
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.FSM():
            with m.State("idle"), m.If(~rx):
                m.d.sync += timer.eq(d // 2 - 1)
                m.next = "start"
            with m.State("start"), m.If(timer == 0):
                with m.If(rx):
                    m.next = "idle"  # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), bit.eq(0)]
                    m.next = "data"
            with m.State("data"), m.If(timer == 0):
                m.d.sync += [shift.eq(Cat(shift[1:], rx)), timer.eq(d - 1), bit.eq(bit + 1)]
                with m.If(bit == 7):
                    m.next = "stop"
            with m.State("stop"), m.If(timer == 0):
                with m.If(rx):
                    with m.If(self.o.valid & ~self.o.ready):
                        m.d.sync += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1)]
                    m.next = "idle"
                with m.Else():
                    m.d.sync += self.error.eq(1)
                    m.next = "break"
            with m.State("break"), m.If(rx):
                m.next = "idle"
        return m


class UARTTx(wiring.Component):
    """UART transmitter: one stream beat per byte in, the ``tx`` line out.

    A byte is taken from ``i`` when the transmitter is idle (``i.ready`` is a register-driven
    state: high only between bytes) and sent as a start bit, 8 data bits and a stop bit, each
    ``divisor`` cycles (the stop bit one cycle longer); back-to-back bytes take
    :attr:`cycles_per_byte` each.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, as for :class:`UARTRx`.

    Members
    -------
    i : In(stream.Signature(8))
        Bytes to send.
    tx : Out(1, init=1)
        The serial line.
    """

    def __init__(self, *, divisor):
        self._MustUse__silence = True  # no "never used" warning when the arguments fail
        self._divisor = check_int(divisor, "divisor", MIN_DIVISOR, MAX_DIVISOR)
        del self._MustUse__silence
        super().__init__({"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    divisor = read_only("divisor", "Clock cycles per bit.")

    @property
    def cycles_per_byte(self):
        """Clock cycles per byte sent back to back: ``10 * divisor + 1``."""
        return 10 * self._divisor + 1

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        timer = Signal(range(d))
        bits = Signal(range(11))  # bits left to send
        shift = Signal(10, init=(1 << 10) - 1)
        m.d.comb += [self.tx.eq(shift[0]), self.i.ready.eq(bits == 0)]
        with m.If((bits == 0) & self.i.valid):
            m.d.sync += [shift.eq(Cat(0, self.i.payload, 1)), bits.eq(10), timer.eq(d - 1)]
        with m.Elif((bits != 0) & (timer == 0)):
            m.d.sync += [shift.eq(Cat(shift[1:], 1)), bits.eq(bits - 1), timer.eq(d - 1)]
        with m.Elif(bits != 0):
            m.d.sync += timer.eq(timer - 1)
        return m
