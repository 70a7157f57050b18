"""Run the cocotb fault and edge tests (test_faults.py) on Icarus and Verilator (pytest).

Each configuration is generated into ``sim_build/faults/<sim>/<id>/`` with the helpers of
:mod:`test_runner` (same Verilog, waivers and seeds) and runs every cocotb test of
``test_faults.py``. ``test_mutant_caught_by_cosim`` generates a mutated engine (one lane's
sign flipped, tests/formal/mutants.py) and requires the co-simulation to FAIL.

Replay: ``COCOTB_RANDOM_SEED=<printed seed> python -m pytest cocotb_tests/test_faults_runner.py
-k <id>``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import test_runner as tr

from logdot.golden.formats import EngineConfig
from logdot.tools.verilator import build_args

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "formal"))

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


def run_faults(sim, entry, *, testcase=None, build_tag=""):
    """Generate, build and run test_faults.py for one configuration; return (ok, report)."""
    from cocotb_tools.runner import get_runner

    cid = entry["id"]
    config = EngineConfig(**tr.config_params(entry))
    if sim == "verilator":
        tr.check_verilator()
    if sys.path[0] != str(tr.HERE):
        sys.path.insert(0, str(tr.HERE))
    build_dir = tr.SIM_BUILD / "faults" / sim / (cid + build_tag)
    seed = tr.cosim_seed(sim, "faults/" + cid)
    print(f"\n[{sim}/{cid}{build_tag}] config {config}; replay: COCOTB_RANDOM_SEED={seed}")
    verilog, manifest = tr._generate(config, build_dir / "rtl")
    runner = get_runner(sim)
    runner.build(
        sources=[verilog],
        hdl_toplevel=tr.TOPLEVEL,
        build_dir=build_dir,
        build_args=build_args() if sim == "verilator" else ["-Wall"],
        timescale=("1ns", "1ps"),
        always=True,
        log_file=build_dir / "build.log",
    )
    env = {"LOGDOT_MANIFEST": str(manifest), "LOGDOT_SIM": sim}
    problems, log_path = tr.run_cocotb_module(
        runner,
        test_module=TEST_MODULE,
        hdl_toplevel=tr.TOPLEVEL,
        build_dir=build_dir,
        seed=seed,
        env=env,
        testcase=testcase,
        expected_tests=EXPECTED_TESTS,
    )
    return not problems, tr.problem_report(sim, cid, problems, seed, log_path)


@pytest.mark.parametrize(("sim", "cid"), RUNS, ids=[f"{s}-{c}" for s, c in RUNS])
def test_faults(sim, cid):
    entry = next(c for c in CONFIGS if c["id"] == cid)
    ok, report = run_faults(sim, entry)
    assert ok, report


@pytest.mark.parametrize("kind", ["sign", "shift"])
def test_mutant_caught_by_cosim(kind):
    """A mutated engine must FAIL the co-simulation (the checker can fail)."""
    from mutants import generating_mutant

    entry = dict(CONFIGS[1], id=f"mutant_{kind}")
    with generating_mutant(kind, lane=1):
        ok, report = run_faults("icarus", entry, testcase="test_random_short")
    assert not ok, f"the {kind} mutant was NOT caught by co-simulation"
    assert "MISMATCH" in report, report


def test_config_list():
    for c in CONFIGS:
        EngineConfig(**tr.config_params(c))
    assert any(EngineConfig(**tr.config_params(c)).saturating for c in CONFIGS)
    assert os.path.basename(__file__) != TEST_MODULE + ".py"
