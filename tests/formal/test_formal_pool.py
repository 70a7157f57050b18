"""SymbiYosys proof of max pooling (``tests/formal/pool_harness.py``): a 4 x 4 image, kernel 2,
one channel of 2-bit unsigned codes, every input free (exact, short and long frames, idles,
back-pressure, resets), BMC from reset at depth 20 (a whole frame and its outputs). Under
``make formal``.

Vacuity guard: a pool with an inverted comparison (it keeps the smaller of two codes) must
FAIL on ``value``.
"""

from __future__ import annotations

import pytest

from logdot.hdl.pool import MaxPool
from tests.formal.pool_harness import POOL_PROPERTIES, PoolHarness
from tests.formal.sby_runner import run_sby

pytestmark = [pytest.mark.formal, pytest.mark.full]

DEPTH = 20


class MinPool(MaxPool):
    """A pool whose per-channel comparison is inverted (it keeps the smaller code)."""

    def _later_wins(self, later_key, earlier_key):
        return later_key < earlier_key


def test_pool(tmp_path):
    harness = PoolHarness(max_depth=DEPTH)
    result = run_sby(harness, tmp_path / "pool", depth=DEPTH, timeout=3600)
    assert result.status == "PASS", result.summary()
    assert set(harness.lines.values()) == set(POOL_PROPERTIES)


def test_pool_mutant_fails(tmp_path):
    harness = PoolHarness(max_depth=DEPTH, make_dut=MinPool)
    result = run_sby(harness, tmp_path / "min", depth=DEPTH, timeout=3600)
    assert result.status == "FAIL", result.summary()
    assert result.failed == ["value"], result.failed
