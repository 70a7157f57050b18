"""A bit-level UART model for the simulation tests: bytes to line levels, line levels to bytes,
and a testbench that runs a design with ``rx``/``tx`` ports in Amaranth's simulator."""

from __future__ import annotations

from amaranth.sim import Simulator

__all__ = ["UartMonitor", "run_uart", "uart_line"]


def uart_line(data, divisor, *, gap=0, bad_stop=(), gaps=None):
    """Line levels, one per clock cycle, of the bytes ``data`` sent 8N1 at ``divisor`` cycles
    per bit, ``gap`` idle cycles after each byte (``gaps``: ``{byte index: cycles}`` extra
    idle cycles before that byte); the bytes at the indices in ``bad_stop`` get a low stop
    bit."""
    gaps = gaps or {}
    levels = []
    for k, b in enumerate(data):
        levels += [1] * gaps.get(k, 0)
        bits = [0] + [(b >> i) & 1 for i in range(8)] + [0 if k in bad_stop else 1]
        for bit in bits:
            levels += [bit] * divisor
        if k in bad_stop:
            levels += [1] * divisor  # back to idle, so the receiver sees the break end
        levels += [1] * gap
    return levels


class UartMonitor:
    """Decodes a ``tx`` line one cycle at a time (samples each bit in its middle).

    ``bytes`` collects the received bytes; ``errors`` the indices of bytes whose stop bit was
    low (those are not in ``bytes``).
    """

    def __init__(self, divisor):
        self.divisor = divisor
        self.bytes = []
        self.errors = []
        self._count = None  # cycles since the start edge
        self._bits = []
        self._prev = 1

    def step(self, level):
        """Feed one cycle's line level."""
        d = self.divisor
        if self._count is None:
            if self._prev == 1 and level == 0:
                self._count, self._bits = 0, []
        else:
            self._count += 1
            if self._count >= d // 2 and (self._count - d // 2) % d == 0:
                k = (self._count - d // 2) // d  # 0 start, 1..8 data, 9 stop
                if k == 0 and level != 0:
                    self._count = None  # a glitch
                elif 1 <= k <= 8:
                    self._bits.append(level)
                elif k == 9:
                    if level:
                        self.bytes.append(sum(b << i for i, b in enumerate(self._bits)))
                    else:
                        self.errors.append(len(self.bytes))
                    self._count = None
        self._prev = level


def run_uart(dut, levels, divisor, *, expect, limit, extra=None):
    """Drive ``levels`` into ``dut.rx`` (idle high afterwards) and decode ``dut.tx`` until
    ``expect`` bytes came back (and then 12 bit times more, so an extra byte would be seen)
    or ``limit`` cycles passed; return the :class:`UartMonitor`.

    ``extra(ctx, cycle)``, when given, is awaited every cycle (e.g. to sample more ports).
    """
    mon = UartMonitor(divisor)

    async def bench(ctx):
        done = None
        for cyc in range(limit):
            ctx.set(dut.rx, levels[cyc] if cyc < len(levels) else 1)
            await ctx.tick()
            mon.step(ctx.get(dut.tx))
            if extra is not None:
                extra(ctx, cyc)
            if done is None and cyc >= len(levels) and len(mon.bytes) >= expect:
                done = cyc
            if done is not None and cyc >= done + 12 * divisor:
                return

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return mon
