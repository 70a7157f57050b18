"""SymbiYosys proof of an engine with two-term power-of-two weights against the independent
reference of :mod:`tests.formal.engine_harness` (every property, free inputs in every cycle),
and mutated two-term lanes that must make it FAIL."""

from __future__ import annotations

import pytest

from logdot.golden.formats import EngineConfig
from logdot.hdl.engine import engine_latency
from tests.formal.engine_harness import LEMMAS, PROPERTIES, EngineHarness
from tests.formal.sby_runner import run_sby, trace_table
from tests.support.mutants import mutant_top

pytestmark = pytest.mark.formal

#: 2 lanes of 4-bit activations x 4-bit two-term weights (B1 = 2, B2 = 1): every code of
#: both fields, both signs and the second term's gate are reachable.
CONFIG = dict(lanes=2, act_bits=4, weight_bits=4, max_beats=16, weight_terms=2)
EXTRA = 4


def test_two_term_engine_bmc(tmp_path):
    cfg = EngineConfig(**CONFIG)
    depth = engine_latency(cfg) + EXTRA
    harness = EngineHarness(cfg, max_depth=depth)
    result = run_sby(harness, tmp_path / "bmc", depth=depth, timeout=900)
    detail = "" if result.status != "FAIL" else "\n" + trace_table(result, ["m_axis_tdata"])
    assert result.status == "PASS", f"{cfg}: depth {depth}\n{result.summary()}{detail}"
    assert set(harness.hints_used) == set(LEMMAS), harness.hints_used
    assert set(harness.lines.values()) == set(PROPERTIES) | set(LEMMAS)


@pytest.mark.parametrize("kind", ["offset", pytest.param("sign", marks=pytest.mark.full)])
def test_two_term_mutant_fails(tmp_path, kind):
    """A wrong second-term offset (``j ^ 1``) or a flipped sign in lane 1 must FAIL the
    end-to-end result check alone (no lemmas)."""
    cfg = EngineConfig(**CONFIG)
    harness = EngineHarness(
        cfg, make_dut=lambda c: mutant_top(kind, 1)(config=c), hints=False, check=["result_value"]
    )
    result = run_sby(harness, tmp_path / kind, depth=harness.latency + 2, timeout=900)
    assert result.status == "FAIL", result.summary()
    assert result.failed == ["result_value"], result.failed
