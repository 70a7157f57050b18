"""logdot.golden.const: the constant-weight model against an independent big-integer
reference, the decoded terms and ranges, the weight helpers and their errors."""

import itertools
import json
import random

import pytest
import torch

from logdot.golden.const import ConstTerm, ConstWeights, const_dot, read_weights_file, weight_fields
from logdot.golden.formats import EngineConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def big_int_reference(config, weights, acts, last):
    """Plain-Python reference written from docs/formats.md ("Constant weights"): lane ``i``
    adds ``a * value(w_i)`` (value ``+-2**(c-1)``, or ``+-sqrt(2)**(c-1)`` split into the even
    and odd accumulators), beats accumulate with wrap or saturation, sqrt(2) combines."""
    w_bits = config.weight_bits
    half = 1 << (w_bits - 1)
    lo, hi = -(2 ** (config.acc_bits - 1)), 2 ** (config.acc_bits - 1) - 1
    exact = config.acc_bits == config.exact_acc_bits()
    out, acc = [], [0, 0]
    for beat, end in zip(acts, last, strict=True):
        sums = [0, 0]
        for a, w in zip(beat, weights, strict=True):
            code = w % half
            if code == 0:
                continue
            e = code - 1
            sign = -1 if w >= half else 1
            if config.weight_base == 2:
                sums[0] += sign * a * 2**e
            else:
                sums[e % 2] += sign * a * 2 ** (e // 2)
        for p in (0, 1):
            t = acc[p] + sums[p]
            acc[p] = ((t - lo) % 2**config.acc_bits) + lo if exact else min(max(t, lo), hi)
        if end:
            r = (
                acc[0]
                if config.weight_base == 2
                else acc[0] * 2**config.frac_bits + (config.sqrt2_r * acc[1])
            )
            out.append(r)
            acc = [0, 0]
    return out


CONFIGS = [
    dict(lanes=16, act_bits=8, weight_bits=4, max_beats=1),
    dict(lanes=5, act_bits=6, weight_bits=5, max_beats=8),
    dict(lanes=7, act_bits=5, act_signed=False, weight_bits=5, weight_base="sqrt2", frac_bits=6),
    dict(lanes=4, act_bits=8, weight_bits=3, acc_bits=12),
    dict(lanes=3, act_bits=4, weight_bits=4, weight_base="sqrt2", frac_bits=3, acc_bits=9),
]


@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: "_".join(f"{v}" for v in p.values()))
def test_const_dot_matches_big_integer_reference(seed, params):
    """Random weights (a third zero) and activations at the extremes, dot products of 1..5
    beats (also beyond max_beats: wrapping or saturating): equal to the reference."""
    rng = random.Random(seed)
    cfg = EngineConfig(**params)
    w = [
        0 if rng.random() < 1 / 3 else rng.randrange(1 << cfg.weight_bits) for _ in range(cfg.lanes)
    ]
    const = ConstWeights(cfg, w)
    lo, hi = cfg.act_range
    acts = [
        [rng.choice([lo, hi, rng.randint(lo, hi)]) for _ in range(cfg.lanes)] for _ in range(300)
    ]
    last = [rng.random() < 0.4 for _ in range(299)] + [True]
    got = const_dot(const, torch.tensor(acts), torch.tensor(last)).tolist()
    assert got == big_int_reference(cfg, w, acts, last), f"seed {seed}, weights {w}"


def test_reference_catches_a_wrong_model(seed):
    """The comparison can fail: the model with one weight's sign flipped differs."""
    rng = random.Random(seed)
    cfg = EngineConfig(lanes=4, act_bits=8, weight_bits=4, max_beats=4)
    w = [1, 10, 3, 7]
    bad = ConstWeights(cfg, [w[0] ^ 8, *w[1:]])
    acts = [[rng.randint(1, 127) for _ in range(4)] for _ in range(20)]
    last = [True] * 20
    assert const_dot(bad, torch.tensor(acts), torch.tensor(last)).tolist() != big_int_reference(
        cfg, w, acts, last
    )


def test_terms_decode_the_raw_fields():
    """Sign in the top bit, code below; code 0 (either sign) removes the lane; sqrt(2) splits
    the exponent into shift and parity."""
    cfg = EngineConfig(lanes=4, act_bits=8, weight_bits=4)
    const = ConstWeights(cfg, [13, 2, 8, 0])  # -2**4, +2**1, -0, 0
    assert const.terms() == (
        ConstTerm(lane=0, parity=0, shift=4, negative=True),
        ConstTerm(lane=1, parity=0, shift=1, negative=False),
    )
    assert const.zero_lanes == (2, 3)
    s2 = ConstWeights(
        EngineConfig(lanes=2, act_bits=8, weight_bits=4, weight_base="sqrt2"), [4, 15]
    )
    # +sqrt2**3 = 2 * sqrt2 (odd, shift 1); -(sqrt2**6) = -8 (even, shift 3)
    assert s2.terms(0) == (ConstTerm(lane=1, parity=0, shift=3, negative=True),)
    assert s2.terms(1) == (ConstTerm(lane=0, parity=1, shift=1, negative=False),)


def test_beat_range_is_exact_and_attained():
    """beat_range is the min and max over every activation combination (brute force)."""
    cfg = EngineConfig(lanes=3, act_bits=3, weight_bits=4)
    const = ConstWeights(cfg, [13, 2, 9])  # -16, +2, -1
    lo, hi = cfg.act_range
    values = [-16 * a + 2 * b - c for a, b, c in itertools.product(range(lo, hi + 1), repeat=3)]
    assert const.beat_range() == (min(values), max(values))


def test_weight_fields():
    """Powers of two to raw fields, decided exactly; non powers of two and overflow refused."""
    w = [-16, 2, 32, -2, 2, 32, 16, -16, -64, 4, -32, -2, -8, -8, 2, -1]
    fields = weight_fields(w, 4)
    assert fields == [13, 2, 6, 10, 2, 6, 5, 13, 15, 3, 14, 10, 12, 12, 2, 9]
    assert weight_fields([0, 1, -1], 2) == [0, 1, 3]
    with pytest.raises(ValueError, match=r"values\[1\] must be 0 or a signed power of two, not 3"):
        weight_fields([1, 3], 4)
    with pytest.raises(ValueError, match=r"values\[0\] = 128 needs a 4-bit code"):
        weight_fields([128], 4)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(weights=(1, 2)), ValueError, r"weights must have 3 entries \(one per lane\), not 2"),
        (dict(weights=(1, 2, 16)), ValueError, r"weights\[2\] \(a raw 4-bit field\) must be"),
        (dict(weights=(1, 2, -1)), ValueError, r"weights\[2\]"),
        (dict(weights=(1, 2, 1.0)), TypeError, r"weights\[2\]"),
        (dict(weights="abc"), TypeError, "weights must be a sequence"),
        (dict(config=None), TypeError, "config must be an EngineConfig"),
    ],
)
def test_const_weights_errors(kwargs, error, match):
    args = dict(config=EngineConfig(lanes=3, act_bits=8, weight_bits=4), weights=(1, 2, 3))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        ConstWeights(**args)


def test_log_activations_refused():
    cfg = EngineConfig(lanes=2, act_bits=4, weight_bits=4, act_format="log")
    with pytest.raises(ValueError, match="constant weights need linear activations"):
        ConstWeights(cfg, (1, 2))


def test_read_weights_file(tmp_path):
    good = tmp_path / "w.json"
    good.write_text(json.dumps({"weights": [1, 2, 3]}))
    assert read_weights_file(good) == [1, 2, 3]
    for text, match in [
        ("{", "not valid JSON"),
        ("[1, 2]", r'must be a JSON object \{"weights": \[...\]\}'),
        ('{"weights": 3}', '"weights" must be a list of integers, not int'),
        ('{"weights": [1, true]}', r'"weights"\[1\] must be an integer, not True'),
        ('{"weights": [1, 2.5]}', r'"weights"\[1\] must be an integer, not 2.5'),
    ]:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ValueError, match=match):
            read_weights_file(bad)


def test_pack_beat_has_only_activations():
    cfg = EngineConfig(lanes=3, act_bits=4, weight_bits=4)
    const = ConstWeights(cfg, (1, 2, 3))
    assert const.in_bits == 12 and const.in_bytes == 2
    assert const.pack_beat([-1, 2, 3]) == 0xF | (2 << 4) | (3 << 8)
    assert const.pack_beat([1, 1, 1], [1, 2, 3]) == const.pack_beat([1, 1, 1])
    with pytest.raises(ValueError, match="must be the constant weights"):
        const.pack_beat([1, 1, 1], [1, 2, 4])


def test_docs_worked_example():
    """docs/formats.md, "Constant weights", worked example: terms, range, plan, result."""
    from logdot.hdl.const import const_engine_latency, const_tree_plans, plan_tree

    cfg = EngineConfig(lanes=4, act_bits=8, weight_bits=4, max_beats=1)
    const = ConstWeights(cfg, [13, 0, 6, 10])
    assert [(t.lane, t.shift, t.negative) for t in const.terms()] == [
        (0, 4, True),
        (2, 5, False),
        (3, 1, True),
    ]
    assert const.beat_range() == (-6382, 6368) and cfg.acc_bits == 17
    plan = plan_tree(const.terms(0), cfg.act_range)
    assert [(n.shift, n.lo, n.hi) for n in (plan.nodes[1][0], plan.root)] == [
        (1, -1152, 1143),
        (1, -3191, 3184),
    ]
    assert const_dot(const, [[5, -7, 3, 100]]).tolist() == [-184]
    assert const_engine_latency(const) == 2
    (built,), _ = const_tree_plans(const)
    assert plan.cost == 54 and (built.strategy, built.rows, built.width) == ("heap", 1, 17)
    assert built.stages == ((0, 3), (7, 1), (9, 7)) and built.cost == 85 < 54 + 2 * 17 - 1


def test_two_term_weights_are_refused():
    """The constant engine's terms are single-term decodes; a two-term config is refused
    rather than silently decoded as single-term fields."""
    cfg = EngineConfig(lanes=2, act_bits=8, weight_bits=5, weight_terms=2)
    with pytest.raises(ValueError, match="constant weights need single-term weights"):
        ConstWeights(cfg, [3, 5])


def test_linear_weight_configs_are_refused():
    """The multiplier baseline's two's-complement weights are not log codes."""
    from logdot.golden.linear_engine import LinearConfig

    cfg = LinearConfig(lanes=2, act_bits=8, weight_bits=5)
    with pytest.raises(ValueError, match="constant weights need log weights"):
        ConstWeights(cfg, [3, 5])
