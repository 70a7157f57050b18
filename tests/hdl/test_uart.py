"""The UART receiver and transmitter in Amaranth's simulator, at the bit level."""

from __future__ import annotations

import itertools
import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from logdot.hdl.uart import UARTRx, UARTTx, uart_divisor
from tests.support.uart import UartMonitor, run_uart, uart_line


class Loopback(wiring.Component):
    """rx -> UARTRx -> UARTTx -> tx, with the receiver's pulses counted."""

    def __init__(self, divisor):
        self._divisor = divisor
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "errors": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTRx(divisor=self._divisor)
        m.submodules.tx = tx = UARTTx(divisor=self._divisor)
        wiring.connect(m, rx.o, tx.i)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        with m.If(rx.error):
            m.d.sync += self.errors.eq(self.errors + 1)
        return m


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_loopback_returns_every_byte(divisor, seed):
    rng = random.Random(seed)
    data = bytes([0x00, 0xFF, 0x55, 0xAA] + [rng.randrange(256) for _ in range(12)])
    dut = Loopback(divisor)
    line = uart_line(data, divisor, gap=rng.randrange(3))
    mon = run_uart(dut, line, divisor, expect=len(data), limit=len(line) + 40 * divisor)
    assert bytes(mon.bytes) == data
    assert mon.errors == []


def test_bad_stop_bit_drops_the_byte_and_pulses_error():
    d = 5
    data = bytes([0x12, 0x34, 0x56])
    dut = Loopback(d)
    errors = []
    line = uart_line(data, d, bad_stop={1})
    mon = run_uart(dut, line, d, expect=2, limit=len(line) + 40 * d,
                   extra=lambda ctx, cyc: errors.append(ctx.get(dut.errors)))  # fmt: skip
    assert bytes(mon.bytes) == bytes([0x12, 0x56])
    assert errors[-1] == 1


def test_a_short_glitch_is_not_a_start_bit():
    d = 8
    line = [1] * 5 + [0] * 2 + [1] * 20 + uart_line(b"\x5a", d)
    mon = run_uart(Loopback(d), line, d, expect=1, limit=len(line) + 40 * d)
    assert bytes(mon.bytes) == b"\x5a"


def test_overrun_when_the_byte_is_not_taken():
    """A receiver whose output is never taken: the second byte pulses overrun, the first
    stays offered."""
    d = 4
    dut = UARTRx(divisor=d)
    line = uart_line(b"\x01\x02", d)
    seen = {"overrun": 0}

    async def bench(ctx):
        ctx.set(dut.o.ready, 0)
        for level in [*line, 1, 1, 1, 1]:
            ctx.set(dut.rx, level)
            await ctx.tick()
            seen["overrun"] += ctx.get(dut.overrun)
        assert ctx.get(dut.o.valid) == 1
        assert ctx.get(dut.o.payload) == 0x01

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen["overrun"] == 1


def test_tx_sends_back_to_back_at_the_stated_rate():
    d = 4
    dut = UARTTx(divisor=d)
    data = b"\x80\x01\xc3"
    mon = UartMonitor(d)
    taken = []

    async def bench(ctx):
        k = 0
        for cyc in range(3 * dut.cycles_per_byte + 4 * d):
            ctx.set(dut.i.valid, k < len(data))
            ctx.set(dut.i.payload, data[k] if k < len(data) else 0)
            _, _, ready, tx = await ctx.tick().sample(dut.i.ready, dut.tx)
            if ready and k < len(data):
                taken.append(cyc)
                k += 1
            mon.step(tx)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert bytes(mon.bytes) == data
    assert [b - a for a, b in itertools.pairwise(taken)] == [dut.cycles_per_byte] * 2


def test_uart_divisor():
    assert uart_divisor(12_000_000, 115200) == 104
    assert uart_divisor(25_000_000, 115200) == 217
    with pytest.raises(ValueError, match="more than 2 %"):
        uart_divisor(1_000_000, 220_000)
    with pytest.raises(ValueError, match="outside"):
        uart_divisor(12_000_000, 6_000_000)
    with pytest.raises(ValueError, match="divisor"):
        UARTRx(divisor=3)
