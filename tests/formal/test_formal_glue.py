"""SymbiYosys proofs of the streaming glue: the stream FIFO (``tests/formal/fifo_harness.py``).

Each FIFO configuration is checked by bounded model checking from reset with every input free
in every cycle, deep enough to fill the FIFO, stall it and drain it (``2 * depth + 6``
cycles). A FIFO that claims ready when full (it overwrites: a beat is lost) must FAIL.
"""

from __future__ import annotations

import pytest
from amaranth.hdl import Module

from logdot.hdl.fifo import StreamFIFO
from tests.formal.fifo_harness import FIFO_PROPERTIES, FifoHarness
from tests.formal.sby_runner import run_sby

pytestmark = pytest.mark.formal

#: (depth, buffered); the first runs in ``make test``, the others in ``make formal``.
FIFOS = [(2, False), (3, True), (4, False), (5, True)]


def _fifo_depth(depth):
    return 2 * depth + 6


def _prove_fifo(tmp_path, depth, buffered, **kw):
    bmc = _fifo_depth(depth)
    harness = FifoHarness(depth=depth, buffered=buffered, max_depth=bmc, **kw)
    return harness, run_sby(harness, tmp_path / f"fifo{depth}", depth=bmc, timeout=1800)


@pytest.mark.parametrize(
    "depth,buffered",
    [pytest.param(*f, marks=[] if i < 1 else [pytest.mark.full]) for i, f in enumerate(FIFOS)],
    ids=[f"d{d}_{'buffered' if b else 'lut'}" for d, b in FIFOS],
)
def test_fifo(tmp_path, depth, buffered):
    harness, result = _prove_fifo(tmp_path, depth, buffered)
    assert result.status == "PASS", result.summary()
    assert sorted(harness.lines.values()) == sorted(FIFO_PROPERTIES)


class OverwritingFIFO(StreamFIFO):
    """A FIFO whose ``i.ready`` is always 1: a beat sent while it is full is lost."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.real = real = StreamFIFO(
            shape=self.shape, depth=self.depth, buffered=self.buffered
        )
        m.d.comb += [
            real.i.valid.eq(self.i.valid),
            real.i.payload.eq(self.i.payload),
            self.i.ready.eq(1),
            self.o.valid.eq(real.o.valid),
            self.o.payload.eq(real.o.payload),
            real.o.ready.eq(self.o.ready),
            self.level.eq(real.level),
        ]
        return m


@pytest.mark.full
def test_fifo_mutant_fails(tmp_path):
    _, result = _prove_fifo(tmp_path, 3, True, make_dut=OverwritingFIFO)
    assert result.status == "FAIL", result.summary()
    assert result.failed and set(result.failed) <= {"order", "occupancy", "no_extra"}, result.failed
