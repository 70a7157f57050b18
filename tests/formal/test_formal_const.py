"""SymbiYosys proof of a small constant-weight engine against an independent reference
(:mod:`tests.formal.const_harness`), and the mutants that must make it FAIL.

Bounded model checking from reset with every input free in every cycle, depth latency + 4
(latency + 3 for the pipelined, saturating configuration).
"""

from __future__ import annotations

import pytest

from logdot.golden.const import ConstWeights
from logdot.golden.formats import EngineConfig
from logdot.hdl.const import ConstDotTop, const_engine_latency, const_tree_plans
from tests.formal.const_harness import PROPERTIES, ConstHarness
from tests.formal.sby_runner import run_sby

pytestmark = pytest.mark.formal

#: 3 lanes of 4-bit activations x 3-bit weights: +1, -2 and a zero lane (removed).
QUICK = ConstWeights(EngineConfig(lanes=3, act_bits=4, weight_bits=3, max_beats=4), (1, 6, 0))
#: 4 lanes of 3-bit activations: -4, +8, -2, +8, two beats: a bit heap with the accumulator's
#: state as one more row (combinational, wrapping).
HEAP = ConstWeights(EngineConfig(lanes=4, act_bits=3, weight_bits=3, max_beats=2), (6, 5, 3, 5))
#: Pipelined, saturating (6 of 8 exact bits), every lane used: -4, +2, -1.
PIPELINED = ConstWeights(
    EngineConfig(lanes=3, act_bits=3, weight_bits=3, acc_bits=6, register_every=1), (7, 2, 5)
)
#: Pipelined every level, wrapping, two beats: +4, -2, +1 as a heap whose adder is cut at
#: column 3 into a chunked 9-bit accumulator (cleared by its registered copy of rst).
CHUNKED = ConstWeights(
    EngineConfig(lanes=3, act_bits=4, weight_bits=3, max_beats=2, register_every=1), (3, 6, 1)
)


def _prove(tmp_path, const, *, make_dut=None, extra=4):
    latency = const_engine_latency(const)
    harness = ConstHarness(const, latency=latency, make_dut=make_dut)
    return run_sby(harness, tmp_path, depth=latency + extra, timeout=900)


@pytest.mark.parametrize(
    ("const", "extra"),
    [
        (QUICK, 4),
        pytest.param(HEAP, 3, marks=pytest.mark.full),
        pytest.param(PIPELINED, 3, marks=pytest.mark.full),
        pytest.param(CHUNKED, 3, marks=pytest.mark.full),
    ],
    ids=["l3_zero_lane", "l4_fused_heap", "l3_re1_sat6", "l3_re1_chunked"],
)
def test_const_bmc(tmp_path, const, extra):
    """Every property holds for every input sequence of latency + extra cycles (the adder
    tree, the bit heap with the accumulator fused, the pipelined bit heap, the chunked heap
    and accumulator with the output register)."""
    result = _prove(tmp_path, const, extra=extra)
    assert result.status == "PASS", result.summary()


def test_configs_cover_both_trees():
    """QUICK is built as an adder tree, HEAP as a heap with the state row, PIPELINED as a
    pipelined heap, CHUNKED as a heap cut into two chunks."""
    plans = [p for c in (QUICK, HEAP, PIPELINED, CHUNKED) for p in const_tree_plans(c)[0]]
    kinds = [(p.strategy, getattr(p, "rows", None), getattr(p, "cuts", None)) for p in plans]
    assert kinds == [("sorted", None, None), ("heap", 1, ()), ("heap", 0, ()), ("heap", 0, (3,))]


@pytest.mark.full
def test_heap_mutant_fails(tmp_path):
    """A heap engine whose last lane has its sign flipped must FAIL on result_value."""
    const = HEAP
    w = list(const.weights)
    lane = max(t.lane for t in const.terms())
    w[lane] ^= 1 << (const.config.weight_bits - 1)
    mutant = ConstWeights(const.config, w)
    result = _prove(tmp_path, const, make_dut=lambda: ConstDotTop(config=mutant), extra=2)
    assert result.status == "FAIL", result.summary()
    assert "result_value" in result.failed, result.failed


def test_properties_named():
    """Every property of PROPERTIES is asserted by the harness."""
    harness = ConstHarness(QUICK, latency=const_engine_latency(QUICK))
    from amaranth.hdl import Fragment

    Fragment.get(harness, None)
    assert set(harness.lines.values()) == set(PROPERTIES)


@pytest.mark.parametrize("lane", [0, 1])
def test_mutant_fails(tmp_path, lane):
    """An engine built with one lane's weight sign flipped must FAIL on result_value."""
    w = list(QUICK.weights)
    w[lane] ^= 1 << (QUICK.config.weight_bits - 1)
    mutant = ConstWeights(QUICK.config, w)
    result = _prove(tmp_path, QUICK, make_dut=lambda: ConstDotTop(config=mutant), extra=2)
    assert result.status == "FAIL", result.summary()
    assert "result_value" in result.failed, result.failed


def test_wrong_latency_fails(tmp_path):
    """A harness stating one cycle less latency than the engine has must FAIL."""
    latency = const_engine_latency(QUICK)
    harness = ConstHarness(QUICK, latency=latency - 1)
    result = run_sby(harness, tmp_path, depth=latency + 3, timeout=900)
    assert result.status == "FAIL", result.summary()
    assert result.failed == ["exact_latency"], result.failed
