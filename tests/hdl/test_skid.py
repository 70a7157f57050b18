# amaranth: UnusedElaboratable=no
"""logdot.hdl.skid: the two-entry output buffer in Amaranth's simulator: order kept, nothing
dropped or duplicated under random valid and ready, the output held while back-pressured, a
registered ``i.ready``, latency 1 and one transfer per cycle."""

from __future__ import annotations

import itertools
import random

import pytest

from logdot.hdl.skid import SkidBuffer
from tests.support.stream import run_testbench


def run_skid(items, *, rng, idle, backpressure, cycles, make=SkidBuffer):
    """Stream ``items`` through a :class:`SkidBuffer` (or ``make(shape=8)``, a buffer with
    its signature); return a per-cycle log.

    The source holds each item until it is transferred. Each log entry is ``(took, gave, r0,
    r1, valid, payload, ready)``: the items transferred in and out (or None), ``i.ready`` read
    with ``o.ready`` low and high in the same cycle, and ``o.valid``, ``o.payload``,
    ``o.ready``.
    """
    dut = make(shape=8)
    log = []

    async def bench(ctx):
        i, held = 0, None
        for _ in range(cycles):
            offer = i < len(items) and (held is not None or rng.random() >= idle)
            if offer:
                held = items[i]
            ctx.set(dut.i.valid, int(offer))
            ctx.set(dut.i.payload, held if offer else 0)
            ready = rng.random() >= backpressure
            ctx.set(dut.o.ready, 0)
            r0 = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, 1)
            r1 = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, int(ready))
            took = held if offer and ctx.get(dut.i.ready) else None
            if took is not None:
                i, held = i + 1, None
            valid, payload = ctx.get(dut.o.valid), ctx.get(dut.o.payload)
            gave = payload if ready and valid else None
            log.append((took, gave, r0, r1, valid, payload, ready))
            await ctx.tick()

    run_testbench(dut, bench)
    return log


@pytest.mark.parametrize(("idle", "backpressure"), [(0.0, 0.0), (0.3, 0.5), (0.0, 0.8), (0.7, 0.1)])
def test_order_kept_nothing_dropped_or_duplicated(idle, backpressure, seed):
    rng = random.Random(seed)
    items = [rng.randrange(256) for _ in range(120)]
    log = run_skid(items, rng=rng, idle=idle, backpressure=backpressure, cycles=2000)
    taken = [t for t, *_ in log if t is not None]
    given = [g for _, g, *_ in log if g is not None]
    assert taken == items
    assert given == items
    # i.ready does not depend on o.ready in the same cycle (it is a flip-flop).
    assert all(r0 == r1 for _, _, r0, r1, *_ in log)
    # o.valid stays and o.payload holds while o.valid and not o.ready.
    for c, (now, nxt) in enumerate(itertools.pairwise(log)):
        valid, payload, ready = now[4:]
        if valid and not ready:
            assert nxt[4] and nxt[5] == payload, f"output changed under back-pressure at {c}"
    if backpressure:
        assert any(r0 == 0 for _, _, r0, *_ in log)  # back-pressure fills the buffer


def test_latency_1_and_one_transfer_per_cycle():
    rng = random.Random(0)
    items = list(range(40))
    log = run_skid(items, rng=rng, idle=0.0, backpressure=0.0, cycles=45)
    in_cycles = [c for c, (t, *_) in enumerate(log) if t is not None]
    out_cycles = [c for c, (_, g, *_) in enumerate(log) if g is not None]
    assert in_cycles == list(range(40))
    assert out_cycles == [c + SkidBuffer(shape=8).latency for c in in_cycles]
    assert [g for _, g, *_ in log if g is not None] == items
