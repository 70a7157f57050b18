# amaranth: UnusedElaboratable=no
"""logdot.hdl.const_out: the output register with a skid register in Amaranth's simulator:
order kept, nothing dropped or duplicated under random valid and ready, the output held while
back-pressured, ``i.ready`` independent of ``o.ready`` in the same cycle, latency 1 and one
transfer per cycle; a buffer that loses the skid register's beat is caught."""

from __future__ import annotations

import itertools
import random

import pytest

from logdot.hdl import const_out
from logdot.hdl.const_out import OutputRegister
from tests.hdl.test_skid import run_skid


def _check_stream(items, log, backpressure):
    taken = [t for t, *_ in log if t is not None]
    given = [g for _, g, *_ in log if g is not None]
    assert taken == items
    assert given == items
    assert all(r0 == r1 for _, _, r0, r1, *_ in log)  # no path o.ready -> i.ready
    for c, (now, nxt) in enumerate(itertools.pairwise(log)):
        valid, payload, ready = now[4:]
        if valid and not ready:
            assert nxt[4] and nxt[5] == payload, f"output changed under back-pressure at {c}"
    if backpressure:
        assert any(r0 == 0 for _, _, r0, *_ in log)  # back-pressure fills the skid register


@pytest.mark.parametrize(("idle", "backpressure"), [(0.0, 0.0), (0.3, 0.5), (0.0, 0.8), (0.7, 0.1)])
def test_order_kept_nothing_dropped_or_duplicated(idle, backpressure, seed):
    rng = random.Random(seed)
    items = [rng.randrange(256) for _ in range(60)]
    log = run_skid(
        items, rng=rng, idle=idle, backpressure=backpressure, cycles=700, make=OutputRegister
    )
    _check_stream(items, log, backpressure)


def test_latency_1_and_one_transfer_per_cycle():
    rng = random.Random(0)
    items = list(range(40))
    log = run_skid(items, rng=rng, idle=0.0, backpressure=0.0, cycles=45, make=OutputRegister)
    in_cycles = [c for c, (t, *_) in enumerate(log) if t is not None]
    out_cycles = [c for c, (_, g, *_) in enumerate(log) if g is not None]
    assert in_cycles == list(range(40))
    assert out_cycles == [c + OutputRegister(shape=8).latency for c in in_cycles]
    assert [g for _, g, *_ in log if g is not None] == items


def test_a_buffer_losing_the_skid_beat_is_caught(seed, monkeypatch):
    """The output register always loading the input (the skid register's beat ignored): under
    back-pressure beats are lost or duplicated and the check fails."""
    monkeypatch.setattr(const_out, "Mux", lambda sel, a, b: b)
    rng = random.Random(seed)
    items = [rng.randrange(256) for _ in range(60)]
    log = run_skid(items, rng=rng, idle=0.2, backpressure=0.5, cycles=700, make=OutputRegister)
    with pytest.raises(AssertionError):
        _check_stream(items, log, 0.5)
