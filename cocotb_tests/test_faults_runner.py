"""Run the cocotb fault and edge tests (test_faults.py) on Icarus and Verilator (pytest).

Each configuration is generated and built with :func:`support.cosim` into the build
directory of its id (the same directory as the engine runner's configuration of that id,
which must then have the same parameters: :func:`test_config_list`) and runs every cocotb
test of ``test_faults.py``. ``test_mutant_caught_by_cosim`` generates a mutated engine (one lane's
sign flipped, :mod:`tests.support.mutants`) and requires the co-simulation to FAIL.

Replay: ``COCOTB_RANDOM_SEED=<printed seed> python -m pytest cocotb_tests/test_faults_runner.py
-k <id>``.
"""

from __future__ import annotations

import os

import pytest
import support
import test_runner as tr

from logdot.golden.formats import EngineConfig

TEST_MODULE = "test_faults"
EXPECTED_TESTS = 4

CONFIGS = [
    # the default engine (exact accumulator, 1024-beat dot products at its limits)
    dict(id="l16_a8_w4", lanes=16, act_bits=8, weight_bits=4),
    # narrow saturating accumulators: linear signed, unsigned, sqrt2, log
    dict(id="l3_a8_w4_sat12", lanes=3, act_bits=8, weight_bits=4, acc_bits=12),
    dict(id="l2_u6_w3_sat9_re1", lanes=2, act_bits=6, weight_bits=3, act_signed=False,
         acc_bits=9, register_every=1),
    dict(id="l4_a6_w4_sqrt2_sat11", lanes=4, act_bits=6, weight_bits=4, weight_base="sqrt2",
         frac_bits=5, acc_bits=11, register_every=1),
    dict(id="l5_log4_w3_sat8", lanes=5, act_bits=4, weight_bits=3, act_format="log",
         acc_bits=8),
    # exact accumulator reached exactly at max_beats = 256
    dict(id="l2_a5_w3_mb256_noreg", lanes=2, act_bits=5, weight_bits=3, max_beats=256,
         register_terms=False),
]  # fmt: skip

#: (simulator, config ids): Icarus runs every configuration (X/Z meaningful there),
#: Verilator the default engine (its build dominates the time).
RUNS = [("icarus", c["id"]) for c in CONFIGS] + [("verilator", CONFIGS[0]["id"])]


def run_faults(sim, entry, *, testcase=None):
    """Generate, build and run test_faults.py for one configuration; return (ok, report)."""
    cid = entry["id"]
    config = EngineConfig(**tr.config_params(entry))
    result = support.cosim(
        sim,
        name=cid,
        seed_key="faults/" + cid,
        write=tr.engine_writer(config),
        toplevel=tr.TOPLEVEL,
        test_module=TEST_MODULE,
        manifest_env="LOGDOT_MANIFEST",
        env={},
        expected_tests=EXPECTED_TESTS,
        testcase=testcase,
        header=f"config {config}",
        replay=f"cocotb_tests/test_faults_runner.py -k '{sim}-{cid}'",
    )
    return result.ok, result.report


@pytest.mark.parametrize(("sim", "cid"), RUNS, ids=[f"{s}-{c}" for s, c in RUNS])
def test_faults(sim, cid):
    entry = next(c for c in CONFIGS if c["id"] == cid)
    ok, report = run_faults(sim, entry)
    assert ok, report


@pytest.mark.parametrize("kind", ["sign", "shift"])
def test_mutant_caught_by_cosim(kind):
    """A mutated engine must FAIL the co-simulation (the checker can fail)."""
    from tests.support.mutants import generating_mutant

    entry = dict(CONFIGS[1], id=f"mutant_{kind}")
    with generating_mutant(kind, lane=1):
        ok, report = run_faults("icarus", entry, testcase="test_random_short")
    assert not ok, f"the {kind} mutant was NOT caught by co-simulation"
    assert "MISMATCH" in report, report


def test_config_list():
    """Every entry is valid; an id shared with the engine runner's list names the same
    parameters (the two runners share its build directory)."""
    engine = {c["id"]: tr.config_params(c) for c in tr.CONFIGS}
    for c in CONFIGS:
        EngineConfig(**tr.config_params(c))
        if c["id"] in engine:
            assert tr.config_params(c) == engine[c["id"]], c["id"]
    assert any(EngineConfig(**tr.config_params(c)).saturating for c in CONFIGS)
    assert os.path.basename(__file__) != TEST_MODULE + ".py"
