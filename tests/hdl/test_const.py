# amaranth: UnusedElaboratable=no
"""logdot.hdl.const: the constant-weight engine in Amaranth's simulator gives exactly the
run-time engine's results for the same weights (and the golden model's), at II = 1 and its
stated latency; the planned trees have exact node ranges; the layer engine with
``const_weights`` equals the one with weight memories."""

import itertools
import random

import pytest
import torch

from logdot.golden.const import ConstWeights, const_dot, weight_fields
from logdot.golden.engine import check_equal
from logdot.golden.formats import EngineConfig
from logdot.golden.layer import output_tlast, pack_outputs
from logdot.hdl.const import (
    ConstDotTop,
    ConstProcessingElement,
    const_engine_latency,
    const_tree_plans,
    plan_tree,
)
from logdot.hdl.engine import engine_latency
from logdot.hdl.layer import LogLayerTop
from logdot.hdl.top import LogDotTop
from tests.hdl.test_layer import drive_layer
from tests.support.configs import DA4ML_VECTOR
from tests.support.layers import small_layer
from tests.support.stream import drive_stream, random_stream

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIGS = [
    dict(lanes=16, act_bits=8, weight_bits=4, max_beats=1, register_terms=False),
    dict(lanes=16, act_bits=8, weight_bits=4, max_beats=8, register_every=1),
    dict(lanes=6, act_bits=5, weight_bits=5, act_signed=False, register_every=2),
    dict(lanes=7, act_bits=6, weight_bits=5, weight_base="sqrt2", frac_bits=5, register_every=1),
    dict(lanes=5, act_bits=8, weight_bits=3, acc_bits=12, max_beats=4),
    dict(lanes=3, act_bits=4, weight_bits=4, weight_base="sqrt2", frac_bits=3, acc_bits=9),
]


def _random_weights(rng, cfg, zero=1 / 4):
    top = 1 << cfg.weight_bits
    return [0 if rng.random() < zero else rng.randrange(top) for _ in range(cfg.lanes)]


@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: "_".join(map(str, p.values())))
def test_const_engine_equals_runtime_engine(seed, params):
    """Same random activation stream (extremes included, dot products of 1..3 beats, idles
    and back-pressure) into the constant engine and into the run-time engine fed the same
    weights on every beat: identical results, both equal to the golden model."""
    rng = random.Random(seed)
    cfg = EngineConfig(**params)
    const = ConstWeights(cfg, _random_weights(rng, cfg))
    acts, _, last = random_stream(cfg, rng, 60, 3, corners=True)
    weights = [list(const.weights)] * len(acts)
    expected = const_dot(const, torch.tensor(acts), torch.tensor(last)).tolist()
    got = drive_stream(
        ConstDotTop(config=const), const, acts, weights, last, rng=rng, idle=0.3, backpressure=0.4
    )
    runtime = drive_stream(
        LogDotTop(config=cfg), cfg, acts, weights, last, rng=rng, idle=0.3, backpressure=0.4
    )
    context = f"seed {seed}, {cfg}, weights {list(const.weights)}"
    check_equal(runtime["results"], got["results"], context=context)
    check_equal(expected, got["results"], context=context)
    assert all(got["tlast"])


def test_simulation_catches_a_wrong_engine(seed):
    """The comparison can fail: an engine built with one weight's sign flipped differs."""
    rng = random.Random(seed)
    cfg = EngineConfig(lanes=4, act_bits=8, weight_bits=4, max_beats=2)
    const = ConstWeights(cfg, (1, 10, 3, 7))
    mutant = ConstWeights(cfg, (9, 10, 3, 7))
    acts = [[rng.randint(1, 127) for _ in range(4)] for _ in range(10)]
    last = [True] * 10
    got = drive_stream(ConstDotTop(config=mutant), mutant, acts, [None] * 10, last, rng=rng)
    with pytest.raises(AssertionError, match="10 of 10 results differ"):
        check_equal(const_dot(const, torch.tensor(acts)).tolist(), got["results"])


@pytest.mark.parametrize("params", CONFIGS[:4], ids=lambda p: "_".join(map(str, p.values())))
def test_throughput_and_latency(seed, params):
    """Back-to-back single-beat dot products, no back-pressure: one beat per cycle and K
    beats in K + latency cycles; each result exactly latency cycles after its beat."""
    rng = random.Random(seed)
    cfg = EngineConfig(**params)
    const = ConstWeights(cfg, _random_weights(rng, cfg, zero=0))
    k = 24
    acts = [[rng.randint(*cfg.act_range) for _ in range(cfg.lanes)] for _ in range(k)]
    log = drive_stream(ConstDotTop(config=const), const, acts, [None] * k, [True] * k, rng=rng)
    lat = const_engine_latency(const)
    assert log["in_cycles"] == list(range(k))
    assert [o - i for i, o in zip(log["in_cycles"], log["out_cycles"], strict=True)] == [lat] * k
    assert log["cycles"] == k + lat
    check_equal(const_dot(const, torch.tensor(acts)).tolist(), log["results"])


def test_latency_formula():
    """register_terms + depth // k + accumulator latency + 1 with the chosen plan's depth:
    16 terms as a bit heap (6 Dadda stages, 3 per level, then the adder) are 3 levels, one
    fewer than the adder tree's ceil(log2(16)) = 4, so one cycle less than the run-time
    engine's latency (saturating: one carry-propagate adder). Wrapping, the adder is cut
    into 4 chunks of the 29-bit accumulator (top chunk from column 15, the 15 columns below
    in 3 chunks of 5), one level each: 2 + 4 levels, two cycles more than the run-time
    engine."""
    weights = [1, 2, 3, 4, 5, 6, 7, 1] * 2
    sat = EngineConfig(lanes=16, act_bits=8, weight_bits=4, register_every=1, acc_bits=16)
    const = ConstWeights(sat, weights)
    (plan,), depth = const_tree_plans(const)
    assert plan.strategy == "heap" and len(plan.stages) == 6 and not plan.cuts
    assert depth == plan.depth == 3
    assert plan_tree(const.terms(0), sat.act_range).depth == 4
    assert const_engine_latency(const) == 1 + 3 + 1 + 1 == engine_latency(sat) - 1
    cfg = EngineConfig(lanes=16, act_bits=8, weight_bits=4, register_every=1)
    const = ConstWeights(cfg, weights)
    (plan,), depth = const_tree_plans(const)
    assert cfg.acc_bits == 29 and plan.cuts == (5, 10, 15)
    assert depth == plan.depth == 2 + 4
    assert const_engine_latency(const) == 1 + 6 + 1 + 1 == engine_latency(cfg) + 2
    lone = ConstWeights(EngineConfig(lanes=16, act_bits=8, weight_bits=4), [0] * 15 + [3])
    assert const_engine_latency(lone) == 1 + 0 + 0 + 1


def _node_values(plan, level, index, acts):
    """The exact value ``v`` of node ``index`` after ``level`` by its definition."""
    node = plan.nodes[level][index]
    total = 0
    for leaf in plan.leaves:
        if leaf.lanes[0] in node.lanes:
            sign = -1 if leaf.negative != node.negative else 1
            total += sign * acts[leaf.lanes[0]] * 2 ** (leaf.shift - node.shift)
    return total


@pytest.mark.parametrize("weights", [(13, 2, 6, 10), (1, 9, 2, 10), (9, 10, 11, 12)])
def test_plan_node_ranges_are_exact(weights):
    """Every node's [lo, hi] is the min and max of its value over all activations (brute
    force over 3-bit activations): exact, so every node is exactly as wide as needed."""
    cfg = EngineConfig(lanes=4, act_bits=3, weight_bits=4)
    const = ConstWeights(cfg, weights)
    plan = plan_tree(const.terms(0), cfg.act_range)
    lo, hi = cfg.act_range
    combos = list(itertools.product(range(lo, hi + 1), repeat=4))
    for level, nodes in enumerate(plan.nodes):
        for index, node in enumerate(nodes):
            values = [_node_values(plan, level, index, a) for a in combos]
            assert (node.lo, node.hi) == (min(values), max(values)), (level, index, node)
            assert node.shift >= 0 and all(v % 1 == 0 for v in values)
    root = plan.root
    assert sorted(root.lanes) == [0, 1, 2, 3]


def test_configs_cover_the_heap_the_fused_the_chunked_and_the_split_accumulator():
    """With the da4ml vector, CONFIGS[0] (combinational, wrapping) is built as a bit heap with
    the accumulator's state as one more row and CONFIGS[1] (pipelined every level, 8 beats)
    as a heap whose adder is cut into the chunks of a chunked 22-bit accumulator; CONFIGS[3]
    (sqrt(2), pipelined) has heaps before split accumulators (26 bits, low part at most 14)."""
    from logdot.hdl import const as const_mod

    fields = weight_fields(DA4ML_VECTOR, 4)
    comb, piped = (ConstWeights(EngineConfig(**CONFIGS[i]), fields) for i in (0, 1))
    (plan,), _ = const_tree_plans(comb)
    assert (plan.strategy, plan.rows, plan.width) == ("heap", 1, comb.config.acc_bits)
    (plan,), _ = const_tree_plans(piped)
    assert (plan.strategy, plan.rows, plan.width, plan.cuts) == ("heap", 0, 16, (5, 10, 15))
    assert piped.config.acc_bits == 22
    sqrt2 = EngineConfig(**CONFIGS[3])
    plans, _ = const_tree_plans(ConstWeights(sqrt2, _random_weights(random.Random(1), sqrt2)))
    assert all(p.strategy == "heap" and not p.cuts for p in plans)
    assert sqrt2.acc_bits > const_mod._ACC_SPLIT_BITS + 1


def test_zero_lanes_are_removed():
    """Zero weights (either sign) leave no leaf and no adder: used - 1 adders per tree."""
    cfg = EngineConfig(lanes=8, act_bits=8, weight_bits=4)
    const = ConstWeights(cfg, [0, 3, 8, 0, 13, 0, 2, 8])
    pe = ConstProcessingElement(const=const)
    (plan,) = pe.plans
    assert [leaf.lanes for leaf in plan.leaves] == [(1,), (4,), (6,)]
    adders = sum(len(op) == 2 for ops in plan.levels for op in ops)
    assert adders == 2 and plan.depth == 2


def test_shared_terms_and_one_subtraction():
    """The da4ml vector: 16 terms, 15 adders; where cheaper, positive and negative terms are
    summed apart and joined by a single subtraction."""
    cfg = EngineConfig(lanes=16, act_bits=8, weight_bits=4)
    const = ConstWeights(cfg, weight_fields(DA4ML_VECTOR, 4))
    plan = plan_tree(const.terms(0), cfg.act_range, max_depth=5)
    assert sum(len(op) == 2 for ops in plan.levels for op in ops) == 15
    assert plan.strategy.startswith("split")
    assert not plan.root.negative and (plan.root.lo, plan.root.hi) == const.beat_range()


def test_parameter_errors():
    cfg = EngineConfig(lanes=4, act_bits=8, weight_bits=4)
    const = ConstWeights(cfg, (1, 2, 3, 4))
    with pytest.raises(TypeError, match="const must be a ConstWeights"):
        ConstProcessingElement(const=cfg)
    with pytest.raises(ValueError, match=r"depth must be an integer >= 2"):
        ConstProcessingElement(const=const, depth=1)
    with pytest.raises(TypeError, match="config must be a ConstWeights"):
        ConstDotTop(config=cfg)


@pytest.mark.parametrize(("dots", "register_every"), [(1, 0), (3, 1)])
def test_const_layer_equals_memory_layer(seed, dots, register_every):
    """A layer engine with its weights as wiring gives the golden layer's output words and
    m_axis_tlast, like the layer engine with the same weights in memory."""
    import dataclasses

    layer = small_layer(seed, depth=1, dots=dots, act_format="linear")
    eng = dataclasses.replace(layer.config.engine, register_every=register_every)
    cfg = dataclasses.replace(layer.config, engine=eng)
    layer = type(layer)(config=cfg, weights=layer.weights, bias=layer.bias)
    rng = random.Random(seed)
    n = 16
    lo, hi = eng.act_range
    acts = torch.randint(lo, hi + 1, (n, eng.lanes), generator=torch.Generator().manual_seed(seed))
    last = [rng.random() < 0.5 for _ in range(n - 1)] + [True]
    words = pack_outputs(cfg, layer.run(acts, torch.tensor(last)))
    expected = list(zip(words, output_tlast(cfg, len(words)), strict=True))
    const_top = LogLayerTop(layer=layer, const_weights=True)
    assert const_top.latency == LogLayerTop(layer=layer).latency
    got = drive_layer(const_top, acts.tolist(), last, rng=rng, idle=0.2, backpressure=0.4)
    assert got == expected


def test_const_layer_errors(seed):
    with pytest.raises(ValueError, match="one weight word per PE"):
        LogLayerTop(
            layer=small_layer(seed, depth=2, dots=1, act_format="linear"), const_weights=True
        )
    with pytest.raises(ValueError, match="linear activations"):
        LogLayerTop(layer=small_layer(seed, depth=1, dots=1), const_weights=True)
    layer = small_layer(seed, depth=1, dots=1, act_format="linear")
    with pytest.raises(ValueError, match="exclude each other"):
        LogLayerTop(layer=layer, const_weights=True, weight_port=True)


@pytest.mark.parametrize(
    ("params", "weights"),
    [
        (dict(lanes=3, act_bits=4, weight_bits=3, max_beats=4), (0, 3, 0)),  # one lane left (+4)
        (dict(lanes=3, act_bits=4, weight_bits=3, register_every=1), (5, 6, 7)),  # all negative
        (
            dict(lanes=2, act_bits=4, weight_bits=3, max_beats=4),
            (0, 4),
        ),  # all zero (4: negative zero)
        # sqrt(2): both weights odd (even tree empty), one negative
        (dict(lanes=3, act_bits=5, weight_bits=4, weight_base="sqrt2", frac_bits=3), (9, 10, 0)),
    ],
    ids=["one_lane", "all_negative", "all_zero", "sqrt2_empty_even"],
)
def test_edge_weight_sets(seed, params, weights):
    """A single used lane, an all-negative tree (the beat enters as ~x + carry), no used lane
    at all and an empty parity tree: results equal the golden model."""
    rng = random.Random(seed)
    cfg = EngineConfig(**params)
    const = ConstWeights(cfg, weights)
    acts, _, last = random_stream(cfg, rng, 30, 3, corners=True)
    log = drive_stream(
        ConstDotTop(config=const), const, acts, [None] * 30, last, rng=rng, idle=0.2,
        backpressure=0.3,
    )  # fmt: skip
    check_equal(const_dot(const, acts, last).tolist(), log["results"], context=f"seed {seed}")


#: Pipelined every level, wrapping, multi-beat: a chunked heap into a chunked accumulator.
CHUNKED = dict(lanes=5, act_bits=8, weight_bits=4, max_beats=8, register_every=1)


def _reset_runs(seed, resets=(4, 17, 29)):
    rng = random.Random(seed)
    cfg = EngineConfig(**CHUNKED)
    const = ConstWeights(cfg, weight_fields([-16, 2, 32, -2, 64], 4))
    (plan,), _ = const_tree_plans(const)
    assert plan.cuts, plan
    acts, _, last = random_stream(cfg, rng, 40, 4, corners=True)
    expected = const_dot(const, torch.tensor(acts), torch.tensor(last)).tolist()
    for reset_at in resets:
        log = drive_stream(
            ConstDotTop(config=const), const, acts, [None] * len(acts), last, rng=rng,
            idle=0.2, backpressure=0.4, reset_at=reset_at,
        )  # fmt: skip
        check_equal(expected, log["results"], context=f"seed {seed}, reset at {reset_at}")


def test_chunked_engine_recovers_from_a_reset(seed):
    """A reset pulse in the middle of multi-beat dot products (the chunked accumulator is
    cleared by its registered copy of rst, one cycle late): the restarted stream's results
    equal the golden model's."""
    _reset_runs(seed)


def test_chunked_reset_ignored_is_caught(seed, monkeypatch):
    """A chunked accumulator that never sees rst keeps the interrupted dot product's partial
    sum: the results after the reset differ."""
    from amaranth.hdl import Const

    from logdot.hdl import const_acc

    monkeypatch.setattr(const_acc, "ResetSignal", lambda: Const(0, 1))
    with pytest.raises(AssertionError, match="results differ"):
        _reset_runs(seed, resets=(17,))
