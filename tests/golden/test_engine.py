"""The golden engine model (:mod:`logdot.golden.engine`) against an independent big-integer
reference.

Over 600 lines on purpose: one test file per module, and every mode of the module is compared
with the one big-integer reference beside it; split, the shared stimulus and the reference's
own worked examples would scatter.

Every mode of the engine (linear / log activations, signed / unsigned, base 2 / sqrt(2), lane
counts 1, 3, 16 and more, multi-beat dot products, saturating narrow accumulators, wrapping
beyond ``max_beats``) is checked on random and extreme vectors against
:func:`logdot.golden.engine.reference_dot` (plain Python ints, no tables, no fixed widths), plus
hand-computed worked examples that check the reference itself, the chunked fast path across
chunk boundaries, the comparison helper, the real-value scaling, and every bad input.
"""

from __future__ import annotations

import math
import random
import re

import numpy as np
import pytest
import torch

import logdot.golden.engine as engine
import logdot.golden.formats
from logdot.golden.engine import (
    EngineConfig,
    check_equal,
    dot,
    output_tlast,
    reference_dot,
    to_real,
)

# Every mode the engine offers; "id" names the case in pytest's output.
CONFIGS = [
    # linear activations, base-2 weights
    dict(lanes=1, act_bits=8, weight_bits=4),
    dict(lanes=3, act_bits=8, weight_bits=4),
    dict(lanes=16, act_bits=8, weight_bits=4),
    dict(lanes=16, act_bits=8, weight_bits=4, act_signed=False),
    dict(lanes=3, act_bits=4, weight_bits=2),
    dict(lanes=5, act_bits=16, weight_bits=6),
    dict(lanes=3, act_bits=32, weight_bits=3, act_signed=False),
    dict(lanes=2, act_bits=32, weight_bits=6, max_beats=1),  # 64-bit accumulator
    # linear activations, base-sqrt(2) weights
    dict(lanes=1, act_bits=8, weight_bits=4, weight_base="sqrt2"),
    dict(lanes=3, act_bits=8, weight_bits=2, weight_base="sqrt2"),  # odd accumulator unused
    dict(lanes=16, act_bits=8, weight_bits=5, weight_base="sqrt2", frac_bits=12),
    dict(lanes=7, act_bits=6, weight_bits=4, weight_base="sqrt2", frac_bits=0, act_signed=False),
    dict(lanes=4, act_bits=16, weight_bits=6, weight_base="sqrt2"),
    # log activations, base-2 weights
    dict(lanes=1, act_bits=4, weight_bits=4, act_format="log"),
    dict(lanes=3, act_bits=4, weight_bits=4, act_format="log"),
    dict(lanes=16, act_bits=4, weight_bits=4, act_format="log", act_signed=False),
    dict(lanes=16, act_bits=2, weight_bits=2, act_format="log"),
    dict(lanes=3, act_bits=5, weight_bits=5, act_format="log"),
    # log activations, base-sqrt(2) weights
    dict(lanes=1, act_bits=4, weight_bits=4, act_format="log", weight_base="sqrt2"),
    dict(
        lanes=3, act_bits=3, weight_bits=5, act_format="log", weight_base="sqrt2", act_signed=False
    ),
    dict(lanes=16, act_bits=4, weight_bits=4, act_format="log", weight_base="sqrt2", frac_bits=16),
    # saturating narrow accumulators
    dict(lanes=16, act_bits=8, weight_bits=4, acc_bits=12),
    dict(lanes=3, act_bits=8, weight_bits=4, acc_bits=2),
    dict(lanes=3, act_bits=8, weight_bits=4, act_signed=False, acc_bits=7),
    dict(lanes=3, act_bits=4, weight_bits=4, act_format="log", acc_bits=6),
    dict(lanes=4, act_bits=8, weight_bits=4, weight_base="sqrt2", acc_bits=9, frac_bits=5),
    dict(
        lanes=3,
        act_bits=4,
        weight_bits=5,
        act_format="log",
        weight_base="sqrt2",
        act_signed=False,
        acc_bits=5,
    ),
    dict(lanes=2, act_bits=32, weight_bits=6, max_beats=1, acc_bits=63),  # widest saturating
    # default (exact) width with a small max_beats: longer dot products wrap
    dict(lanes=3, act_bits=8, weight_bits=4, max_beats=2),
    dict(lanes=2, act_bits=4, weight_bits=4, act_format="log", weight_base="sqrt2", max_beats=1),
    dict(lanes=1, act_bits=32, weight_bits=6, max_beats=3),  # 64-bit accumulator, wraps
]


def _id(kw):
    return "-".join(f"{k}={v}" for k, v in kw.items())


def _config_params():
    return [pytest.param(kw, id=_id(kw)) for kw in CONFIGS]


# -- stimulus -----------------------------------------------------------------------------


def act_limits(config):
    """(lo, hi) of what dot() accepts as activations (values, or raw log codes)."""
    if config.act_is_log:
        return 0, (1 << config.act_bits) - 1
    return config.act_range


def random_beats(config, beats, gen):
    lo, hi = act_limits(config)
    acts = torch.randint(lo, hi + 1, (beats, config.lanes), generator=gen)
    weights = torch.randint(0, 1 << config.weight_bits, (beats, config.lanes), generator=gen)
    return acts, weights


def random_last(beats, gen, max_len):
    """Random dot-product lengths in 1..max_len covering ``beats`` beats."""
    last = torch.zeros(beats, dtype=torch.bool)
    pos = -1
    while pos < beats - 1:
        pos = min(beats - 1, pos + int(torch.randint(1, max_len + 1, (1,), generator=gen)))
        last[pos] = True
    return last


def extreme_beats(config):
    """Named single beats at the corners of the code space."""
    n = config.lanes
    wsign = 1 << config.weight_code_bits
    wmax = wsign - 1  # largest positive weight code
    wneg = wsign | wmax  # largest negative weight
    if config.act_is_log:
        if config.act_signed:
            asign = 1 << config.act_code_bits
            amax, aneg, azero_neg = asign - 1, (asign << 1) - 1, asign
        else:
            amax, aneg, azero_neg = (1 << config.act_bits) - 1, (1 << config.act_bits) - 1, 0
        azero, amin_pos = 0, 1
    else:
        lo, hi = config.act_range
        amax, aneg, azero, azero_neg, amin_pos = hi, lo, 0, 0, 1
    alt_w = [wmax if i % 2 == 0 else wneg for i in range(n)]
    alt_a = [amax if i % 3 == 0 else aneg for i in range(n)]
    return {
        "max codes x max acts": ([amax] * n, [wmax] * n),
        "max codes x most negative acts": ([aneg] * n, [wmax] * n),
        "negative weights x max acts": ([amax] * n, [wneg] * n),
        "most negative acts x negative weights": ([aneg] * n, [wneg] * n),
        "all zero": ([azero] * n, [0] * n),
        "negative-zero weights": ([amax] * n, [wsign] * n),
        "zero acts x max weights": ([azero] * n, [wmax] * n),
        "negative-zero acts x negative weights": ([azero_neg] * n, [wneg] * n),
        "smallest codes": ([amin_pos] * n, [1] * n),
        "alternating signs": ([amax] * n, alt_w),
        "alternating signs both": (alt_a, alt_w),
        "single hot lane": ([amax] + [azero] * (n - 1), [wneg] + [wmax] * (n - 1)),
    }


def stacked(beats):
    acts = torch.tensor([a for a, _ in beats], dtype=torch.int64)
    weights = torch.tensor([w for _, w in beats], dtype=torch.int64)
    return acts, weights


def assert_model(config, acts, weights, last=None, context=""):
    """dot() equals the reference; return the results."""
    got = dot(config, acts, weights, last)
    assert got.dtype == torch.int64 and got.ndim == 1
    expected = reference_dot(config, acts, weights, last)
    check_equal(expected, got, context=f"{config} {context}")
    return expected


# -- the model against the reference, every mode ------------------------------------------


@pytest.mark.parametrize("kw", _config_params())
def test_random_single_beats(kw, seed):
    config = EngineConfig(**kw)
    gen = torch.Generator().manual_seed(seed)
    acts, weights = random_beats(config, 400, gen)
    assert len(assert_model(config, acts, weights, context=f"seed {seed}")) == 400


@pytest.mark.parametrize("kw", _config_params())
def test_random_multi_beat(kw, seed):
    config = EngineConfig(**kw)
    gen = torch.Generator().manual_seed(seed)
    acts, weights = random_beats(config, 500, gen)
    for max_len in (1, 3, 17):
        last = random_last(500, gen, max_len)
        expected = assert_model(config, acts, weights, last, context=f"seed {seed}")
        assert len(expected) == int(last.sum())
    # One dot product spanning the whole stream.
    last = torch.zeros(500, dtype=torch.bool)
    last[-1] = True
    assert len(assert_model(config, acts, weights, last, context=f"seed {seed}")) == 1


@pytest.mark.parametrize("kw", _config_params())
def test_extreme_vectors(kw):
    config = EngineConfig(**kw)
    corners = extreme_beats(config)
    acts, weights = stacked(list(corners.values()))
    assert_model(config, acts, weights, context="single-beat corners")
    # Each corner repeated for k beats in one dot product: up to, at and beyond max_beats.
    lengths = sorted({1, 2, 3, config.max_beats, config.max_beats + 1, 40} - {0})
    lengths = [k for k in lengths if k <= 40]
    for name, beat in corners.items():
        for k in lengths:
            acts, weights = stacked([beat] * k)
            last = torch.zeros(k, dtype=torch.bool)
            last[-1] = True
            assert_model(config, acts, weights, last, context=f"{name} x {k} beats")


def random_config(rng):
    """A random valid configuration (seeded ``random.Random``)."""
    while True:
        log = rng.random() < 0.4
        kw = dict(
            lanes=rng.choice([1, 2, 3, 4, 5, 7, 8, 11, 16, 33]),
            act_format="log" if log else "linear",
            act_bits=rng.randint(2, 5) if log else rng.choice([2, 3, 4, 6, 8, 12, 16, 24, 32]),
            act_signed=rng.random() < 0.7,
            weight_bits=rng.randint(2, 6),
            weight_base=rng.choice([2, "sqrt2"]),
            max_beats=rng.choice([1, 2, 5, 1024]),
        )
        if kw["weight_base"] == "sqrt2":
            kw["frac_bits"] = rng.randint(0, 16)
        try:
            config = EngineConfig(**kw)
            if rng.random() < 0.4:
                config = EngineConfig(**kw, acc_bits=rng.randint(2, config.acc_bits))
        except ValueError:
            continue  # wider than 64 bits: rejected by EngineConfig, draw again
        return config


def test_random_configurations(seed):
    """Seeded random configurations and streams (different seeds explore new corners)."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    for i in range(40):
        config = random_config(rng)
        acts, weights = random_beats(config, 120, gen)
        corners = extreme_beats(config)
        ea, ew = stacked([corners[rng.choice(list(corners))] for _ in range(60)])
        acts, weights = torch.cat((acts, ea)), torch.cat((weights, ew))
        last = random_last(180, gen, rng.choice([1, 4, 30]))
        assert_model(config, acts, weights, last, context=f"seed {seed}, case {i}")


def test_exact_width_holds_max_beats_of_extremes():
    """Within max_beats the default accumulator never wraps: result = exact sum of terms."""
    config = EngineConfig(lanes=3, act_bits=8, weight_bits=4, max_beats=5)
    beats = 5
    acts = torch.full((beats, 3), -128)
    weights = torch.full((beats, 3), 15)  # -2**6
    last = torch.zeros(beats, dtype=torch.bool)
    last[-1] = True
    exact = 5 * 3 * (-128) * -(2**6)
    assert exact <= config.acc_range[1] < 2 * exact  # the width is tight: exactly enough
    check_equal([exact], dot(config, acts, weights, last))
    check_equal([exact], reference_dot(config, acts, weights, last))


# -- hand-computed worked examples (they check the reference too) -------------------------


@pytest.mark.parametrize("fn", [dot, reference_dot], ids=["dot", "reference_dot"])
def test_worked_examples(fn):
    # Base 2, linear: weights 3 -> +4, 8|2 -> -2, 0 -> 0: 5*4 - 7*2 + 0 = 6.
    c = EngineConfig(lanes=3, act_bits=8, weight_bits=4)
    check_equal([6], fn(c, torch.tensor([[5, 7, 100]]), torch.tensor([[3, 10, 0]])))
    # Negative zero weight (code 0 with sign) is 0; -128 * -(2**6) = 8192.
    check_equal([8192], fn(c, torch.tensor([[-128, 1, 1]]), torch.tensor([[15, 8, 0]])))
    # sqrt2, F = 8, R = 362: code 2 (h = 1, odd) x 3 -> A_odd = 3; code 3 (h = 2) x 5 ->
    # A_even = 5 << 1 = 10. y = 10 * 256 + 362 * 3 = 3646 (~ 256 * (10 + 3 sqrt 2) = 3646.1).
    c = EngineConfig(lanes=2, act_bits=8, weight_bits=4, weight_base="sqrt2")
    assert c.sqrt2_r == 362
    check_equal([3646], fn(c, torch.tensor([[3, 5]]), torch.tensor([[2, 3]])))
    # Log x log, base 2, signed 4-bit acts: c = 3, d = 2 -> 1 << 3 = 8; act sign -> -8.
    c = EngineConfig(lanes=1, act_bits=4, weight_bits=4, act_format="log")
    check_equal([8, -8, 8, 0], fn(c, [[2], [8 | 2], [8 | 2], [8]], [[3], [3], [8 | 3], [15]]))
    # Log x log, sqrt2: c = 2, d = 3: h = 1 + 4 = 5, odd, shift 2 -> A_odd = 4 -> y = 4 R.
    c = EngineConfig(lanes=1, act_bits=4, weight_bits=4, act_format="log", weight_base="sqrt2")
    check_equal([4 * 362], fn(c, [[3]], [[2]]))
    # Unsigned log acts: all 4 bits are the code: d = 15 -> shift 14, times c = 1.
    c = EngineConfig(lanes=1, act_bits=4, weight_bits=4, act_format="log", act_signed=False)
    check_equal([1 << 14, -(1 << 14)], fn(c, [[15], [15]], [[1], [9]]))


@pytest.mark.parametrize("fn", [dot, reference_dot], ids=["dot", "reference_dot"])
def test_saturation_worked_examples(fn):
    # acc_bits 8: [-128, 127]. Beat sums +128, -27: saturates to 127, then 100 (exact: 101).
    c = EngineConfig(lanes=1, act_bits=8, weight_bits=4, acc_bits=8)
    assert c.saturating
    acts, weights = [[2], [27], [2], [27]], [[7], [9], [7], [9]]
    check_equal([100, 127, -27], fn(c, acts, weights, [False, True, True, True]))
    # Both rails: 3 beats of -(127 << 6) -> -128; 3 beats of +(127 << 6) -> 127.
    acts = [[127]] * 6
    weights = [[15]] * 3 + [[7]] * 3
    check_equal([-128, 127], fn(c, acts, weights, [0, 0, 1, 0, 0, 1]))
    # sqrt2, acc_bits 9: [-256, 255], F = 5, R = 45. Lane 0: code 3 (h = 2, even, << 1) x 127
    # = +254 per beat; lane 1: code 8|2 (h = 1, odd) x 127 = -127 per beat. After 3 beats:
    # A_even = 255 (saturated), A_odd = -256 (saturated): y = 255 * 32 - 256 * 45 = -3360.
    c = EngineConfig(
        lanes=2, act_bits=8, weight_bits=4, weight_base="sqrt2", frac_bits=5, acc_bits=9
    )
    assert (c.saturating, c.sqrt2_r, c.acc_range) == (True, 45, (-256, 255))
    check_equal([-3360], fn(c, [[127, 127]] * 3, [[3, 10]] * 3, [0, 0, 1]))


@pytest.mark.parametrize("fn", [dot, reference_dot], ids=["dot", "reference_dot"])
def test_wrap_beyond_max_beats_worked_examples(fn):
    # W = 2: term = +-a. Exact width for 1 beat: 9 bits, [-256, 255]. Three beats of -128
    # sum to -384, which wraps modulo 512 to 128.
    c = EngineConfig(lanes=1, act_bits=8, weight_bits=2, max_beats=1)
    assert (c.acc_bits, c.saturating) == (9, False)
    check_equal([128], fn(c, [[-128]] * 3, [[1]] * 3, [0, 0, 1]))
    # 64-bit accumulator: ten beats of -2**31 << 30 = -10 * 2**61, modulo 2**64: -2**62.
    c = EngineConfig(lanes=1, act_bits=32, weight_bits=6, max_beats=3)
    assert (c.acc_bits, c.saturating) == (64, False)
    check_equal([-(1 << 62)], fn(c, [[-(1 << 31)]] * 10, [[31]] * 10, [0] * 9 + [1]))
    # The default engine (max_beats 1024, 29 bits) wraps only well past max_beats: 16 lanes of
    # -128 x -(2**6) = 2**17 per beat; 1024 and 1976 beats fit, 3000 beats wrap modulo 2**29.
    c = EngineConfig(lanes=16, act_bits=8, weight_bits=4)
    assert c.acc_bits == 29
    acts = torch.full((3000, 16), -128)
    weights = torch.full((3000, 16), 15)
    last = torch.zeros(3000, dtype=torch.bool)
    last[[1023, 2999]] = True
    check_equal([1024 << 17, 1976 << 17], fn(c, acts, weights, last))
    last[1023] = False
    check_equal([(3000 << 17) - (1 << 29)], fn(c, acts, weights, last))


def test_saturating_configs_hit_both_rails():
    for kw in CONFIGS:
        config = EngineConfig(**kw)
        if not config.saturating or config.weight_base != 2:
            continue
        corners = extreme_beats(config)
        k = 40
        results = []
        for name in ("max codes x max acts", "negative weights x max acts"):
            acts, weights = stacked([corners[name]] * k)
            last = torch.zeros(k, dtype=torch.bool)
            last[-1] = True
            results += assert_model(config, acts, weights, last, context=name)
        lo, hi = config.acc_range
        assert results == [hi, lo], (kw, results)


# -- the fast path's internals: chunk boundaries, int32/int64 -----------------------------


@pytest.mark.parametrize(
    "kw",
    [
        dict(lanes=3, act_bits=8, weight_bits=4, acc_bits=9),
        dict(lanes=2, act_bits=8, weight_bits=4, weight_base="sqrt2", acc_bits=8, frac_bits=3),
        dict(lanes=3, act_bits=8, weight_bits=4, max_beats=2),
        dict(lanes=1, act_bits=32, weight_bits=6, max_beats=3),
    ],
    ids=["sat-base2", "sat-sqrt2", "wrap", "wrap64"],
)
@pytest.mark.parametrize("tail", [0, 2, 10**9])
def test_chunk_boundaries(kw, tail, seed, monkeypatch):
    """Dot products spanning many small chunks, vectorized and scalar saturation paths."""
    config = EngineConfig(**kw)
    gen = torch.Generator().manual_seed(seed)
    acts, weights = random_beats(config, 600, gen)
    last = random_last(600, gen, 30)
    whole = dot(config, acts, weights, last)
    monkeypatch.setattr(engine, "_CHUNK_ELEMS", 7 * config.lanes)
    monkeypatch.setattr(engine, "_SCALAR_TAIL", tail)
    chunked = dot(config, acts, weights, last)
    expected = reference_dot(config, acts, weights, last)
    check_equal(expected, chunked, context=f"chunked, seed {seed}")
    check_equal(expected, whole, context=f"whole, seed {seed}")
    check_equal(reference_dot(config, acts, weights), dot(config, acts, weights))


@pytest.mark.parametrize(
    ("lanes", "dtype"), [(1023, torch.int32), (1024, torch.int64)], ids=["int32", "int64"]
)
def test_int32_path_boundary(lanes, dtype, seed):
    """Lane sums up to 1023 * 2**21 < 2**31 use int32; 1024 lanes need int64. Both exact."""
    config = EngineConfig(lanes=lanes, act_bits=16, weight_bits=4)
    assert engine._plan(config).dtype == dtype
    acts = torch.tensor([[-(1 << 15)] * lanes, [(1 << 15) - 1] * lanes, [-(1 << 15)] * lanes])
    weights = torch.tensor([[7] * lanes, [7] * lanes, [15] * lanes])
    expected = [-lanes << 21, lanes * ((1 << 15) - 1) << 6, lanes << 21]
    check_equal(expected, reference_dot(config, acts, weights))
    check_equal(expected, dot(config, acts, weights))
    gen = torch.Generator().manual_seed(seed)
    acts, weights = random_beats(config, 20, gen)
    check_equal(reference_dot(config, acts, weights), dot(config, acts, weights))


# -- input types --------------------------------------------------------------------------


def test_input_types_agree(seed):
    config = EngineConfig(lanes=3, act_bits=8, weight_bits=4, act_signed=False)
    gen = torch.Generator().manual_seed(seed)
    acts, weights = random_beats(config, 50, gen)
    last = random_last(50, gen, 4)
    expected = reference_dot(config, acts, weights, last)
    variants = []
    for dt in (np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
        variants.append((acts.numpy().astype(dt), weights.numpy().astype(dt), last.numpy()))
    for dt in (torch.uint8, torch.int16, torch.int32, torch.int64):
        variants.append((acts.to(dt), weights.to(dt), last.to(torch.int64)))
    variants.append((acts.tolist(), weights.tolist(), last.tolist()))
    # Non-contiguous and read-only arrays.
    a_t = np.ascontiguousarray(acts.numpy().T).T
    w_ro = weights.numpy().copy()
    w_ro.flags.writeable = False
    variants.append((a_t, w_ro, last.numpy().astype(np.uint8)))
    for a, w, lt in variants:
        check_equal(expected, dot(config, a, w, lt), context=f"{type(a)} {getattr(a, 'dtype', '')}")
    log_config = EngineConfig(lanes=2, act_bits=4, weight_bits=4, act_format="log")
    a8 = torch.tensor([[15, 7], [0, 8]], dtype=torch.int8)
    w8 = torch.tensor([[15, 7], [0, 8]], dtype=torch.int8)
    check_equal(reference_dot(log_config, a8, w8), dot(log_config, a8, w8))


def test_zero_beats():
    config = EngineConfig(lanes=3, act_bits=8, weight_bits=4)
    empty = torch.zeros((0, 3), dtype=torch.int64)
    for last in (None, torch.zeros(0, dtype=torch.bool)):
        r = dot(config, empty, empty, last)
        assert r.dtype == torch.int64 and tuple(r.shape) == (0,)
    assert reference_dot(config, empty, empty) == []


def test_engine_config_is_the_formats_one():
    assert engine.EngineConfig is logdot.golden.formats.EngineConfig


# -- the comparison helper ----------------------------------------------------------------


def test_check_equal_catches_a_wrong_golden_value(seed):
    config = EngineConfig(lanes=16, act_bits=8, weight_bits=4)
    gen = torch.Generator().manual_seed(seed)
    acts, weights = random_beats(config, 50, gen)
    acts[0, 0], weights[0, 0] = 5, 3
    got = dot(config, acts, weights)
    expected = reference_dot(config, acts, weights)
    check_equal(expected, got)  # the honest comparison passes
    wrong = list(expected)
    wrong[17] += 1
    msg = f"seed {seed}: 1 of 50 results differ: [17] expected {wrong[17]}, actual {expected[17]}"
    with pytest.raises(AssertionError, match=re.escape(msg)):
        check_equal(wrong, got, context=f"seed {seed}")
    with pytest.raises(
        AssertionError, match=re.escape("count mismatch: expected 49 results, got 50")
    ):
        check_equal(expected[:49], got)
    with pytest.raises(
        AssertionError, match=re.escape("count mismatch: expected 50 results, got 49")
    ):
        check_equal(expected, got[:49])
    # A model bug (one wrong table entry) is caught too.
    plan = engine._plan(config)
    bad_lut = plan.luts[0].clone()
    bad_lut[3] += 1
    bad_plan = engine._Plan(**{**plan.__dict__, "luts": (bad_lut,)})
    bad = engine._beat_sums(bad_plan, acts, weights)[:, 0]
    with pytest.raises(AssertionError, match=re.escape("results differ: [0] expected")):
        check_equal(expected, bad)


def test_check_equal_lists_first_mismatches():
    expected = list(range(30))
    actual = [v + (1 if v % 2 else 0) for v in expected]
    with pytest.raises(AssertionError) as info:
        check_equal(expected, torch.tensor(actual))
    text = str(info.value)
    assert text.startswith("15 of 30 results differ: [1] expected 1, actual 2; [3] expected 3")
    assert text.endswith("[19] expected 19, actual 20 (and 5 more)")


# -- real values --------------------------------------------------------------------------


def _real_weight(config, code, fsr):
    s, c = code >> config.weight_code_bits, code & ((1 << config.weight_code_bits) - 1)
    if c == 0:
        return 0.0
    e = fsr - (1 << config.weight_code_bits) + c
    mag = 2.0**e if config.weight_base == 2 else 2.0 ** (e / 2)
    return -mag if s else mag


def _real_act(config, x, exp_or_fsr):
    if not config.act_is_log:
        return x * 2.0**exp_or_fsr
    if config.act_signed:
        t, d = x >> config.act_code_bits, x & ((1 << config.act_code_bits) - 1)
    else:
        t, d = 0, x
    if d == 0:
        return 0.0
    mag = 2.0 ** (exp_or_fsr - (1 << config.act_code_bits) + d)
    return -mag if t else mag


# Real arithmetic has no rails: only configurations that cannot saturate or wrap here.
REAL_CONFIGS = [
    pytest.param(kw, id=_id(kw))
    for kw in CONFIGS
    if not EngineConfig(**kw).saturating and EngineConfig(**kw).max_beats >= 4
]


@pytest.mark.parametrize("kw", REAL_CONFIGS)
@pytest.mark.parametrize("fsr", [0, 3, -5])
def test_to_real_matches_real_arithmetic(kw, fsr, seed):
    """to_real(dot(...)) is the real dot product of the decoded values (sqrt2: within 2**-F)."""
    config = EngineConfig(**kw)
    gen = torch.Generator().manual_seed(seed)
    acts, weights = random_beats(config, 30, gen)
    last = random_last(30, gen, 4)
    aparam = -2 if config.act_is_log else -3
    kwargs = {"act_fsr": aparam} if config.act_is_log else {"act_exp": aparam}
    got = to_real(config, dot(config, acts, weights, last), weight_fsr=fsr, **kwargs)
    assert got.dtype == torch.float64
    reals, mags, total, mag = [], [], 0.0, 0.0
    for beat_a, beat_w, end in zip(acts.tolist(), weights.tolist(), last.tolist(), strict=True):
        for x, code in zip(beat_a, beat_w, strict=True):
            term = _real_weight(config, code, fsr) * _real_act(config, x, aparam)
            total += term
            mag += abs(term)
        if end:
            reals.append(total)
            mags.append(mag)
            total = mag = 0.0
    for i, (g, r, m) in enumerate(zip(got.tolist(), reals, mags, strict=True)):
        tol = m * (2.0**-config.frac_bits if config.weight_base == "sqrt2" else 0.0) + m * 1e-14
        assert abs(g - r) <= tol, (i, g, r, tol)


def test_to_real_scale_examples():
    c = EngineConfig(lanes=16, act_bits=8, weight_bits=4)
    # Code 1 is 2**(fsr - 8 + 1) = 2**-7 at fsr 0; with act_exp -3 one LSB is 2**-10.
    assert to_real(c, [1024, -3], weight_fsr=0, act_exp=-3).tolist() == [1.0, -3 / 1024]
    s = EngineConfig(lanes=1, act_bits=8, weight_bits=4, weight_base="sqrt2", frac_bits=8)
    # Code 1 at fsr 0 is sqrt2**-7: one LSB is 2**(-3.5 - 8) = 2**-11.5.
    got = to_real(s, torch.tensor([1 << 12]), weight_fsr=0, act_exp=0).item()
    assert math.isclose(got, 2**0.5, rel_tol=1e-15)
    with pytest.raises(ValueError, match=re.escape("act_exp is required for linear activations")):
        to_real(c, [1], weight_fsr=0)


# -- bad input ----------------------------------------------------------------------------

C3 = EngineConfig(lanes=3, act_bits=8, weight_bits=4)
GOOD = torch.zeros((5, 3), dtype=torch.int64)


@pytest.mark.parametrize(
    ("call", "exc", "msg"),
    [
        (
            lambda: dot({"lanes": 3}, GOOD, GOOD),
            TypeError,
            "config must be an EngineConfig, not dict",
        ),
        (
            lambda: dot(C3, GOOD.float(), GOOD),
            TypeError,
            "acts must have an integer dtype, not torch.float32",
        ),
        (
            lambda: dot(C3, GOOD, GOOD.bool()),
            TypeError,
            "weights must have an integer dtype, not torch.bool",
        ),
        (
            lambda: dot(C3, np.zeros((5, 3)), GOOD),
            TypeError,
            "acts must have an integer dtype, not float64",
        ),
        (
            lambda: dot(C3, GOOD, np.zeros((5, 3), dtype=bool)),
            TypeError,
            "weights must have an integer dtype, not bool",
        ),
        (
            lambda: dot(C3, 7, GOOD),
            TypeError,
            "acts must be an integer torch tensor or numpy array, not int",
        ),
        (
            lambda: dot(C3, torch.zeros((5, 4), dtype=torch.int64), GOOD),
            ValueError,
            "acts must have shape (beats, 3), not (5, 4)",
        ),
        (
            lambda: dot(C3, GOOD, torch.zeros(3, dtype=torch.int64)),
            ValueError,
            "weights must have shape (beats, 3), not (3,)",
        ),
        (
            lambda: dot(C3, GOOD, GOOD[:4]),
            ValueError,
            "acts and weights must have the same number of beats, not 5 and 4",
        ),
        (
            lambda: dot(
                C3, GOOD, torch.tensor([[0, 0, 0], [0, 0, 0], [0, 16, 0]])[[0, 1, 2, 0, 0]]
            ),
            ValueError,
            "weights must be 4-bit weight codes in [0, 15], not 16 (at beat 2, lane 1)",
        ),
        (
            lambda: dot(C3, GOOD, np.array([[0, 0, 0]] * 4 + [[0, 0, -1]])),
            ValueError,
            "weights must be 4-bit weight codes in [0, 15], not -1 (at beat 4, lane 2)",
        ),
        (
            lambda: dot(C3, np.array([[128, 0, 0]] + [[0, 0, 0]] * 4, dtype=np.int16), GOOD),
            ValueError,
            "acts must be 8-bit signed linear activations in [-128, 127], not 128 "
            "(at beat 0, lane 0)",
        ),
        (
            lambda: dot(
                EngineConfig(lanes=3, act_bits=8, weight_bits=4, act_signed=False),
                np.array([[0, 0, 0]] * 3 + [[0, -1, 0]] + [[0, 0, 0]]),
                GOOD,
            ),
            ValueError,
            "acts must be 8-bit unsigned linear activations in [0, 255], not -1 "
            "(at beat 3, lane 1)",
        ),
        (
            lambda: dot(
                EngineConfig(lanes=3, act_bits=4, weight_bits=4, act_format="log"),
                np.array([[0, 0, 0]] * 4 + [[0, 0, 16]]),
                GOOD,
            ),
            ValueError,
            "acts must be 4-bit signed log activation codes in [0, 15], not 16 (at beat 4, lane 2)",
        ),
        (
            lambda: dot(
                EngineConfig(
                    lanes=3, act_bits=4, weight_bits=4, act_format="log", act_signed=False
                ),
                np.array([[0, -3, 0]] * 5),
                GOOD,
            ),
            ValueError,
            "acts must be 4-bit unsigned log activation codes in [0, 15], not -3 "
            "(at beat 0, lane 1)",
        ),
        (
            lambda: dot(C3, GOOD, np.array([[0, 0, 0]] * 4 + [[2**64 - 1, 0, 0]], dtype=np.uint64)),
            ValueError,
            "weights must be 4-bit weight codes in [0, 15], not 18446744073709551615 (at beat 4, "
            "lane 0)",
        ),
        (
            lambda: dot(C3, GOOD, torch.tensor([[1, 1, 1]] * 4 + [[1, 200, 1]], dtype=torch.uint8)),
            ValueError,
            "weights must be 4-bit weight codes in [0, 15], not 200 (at beat 4, lane 1)",
        ),
        (
            lambda: dot(
                EngineConfig(lanes=3, act_bits=8, weight_bits=4, act_signed=False),
                torch.tensor([[1, 1, -1]] * 5, dtype=torch.int8),
                GOOD,
            ),
            ValueError,
            "acts must be 8-bit unsigned linear activations in [0, 255], not -1 "
            "(at beat 0, lane 2)",
        ),
        (
            lambda: dot(C3, GOOD, GOOD, torch.ones(5)),
            TypeError,
            "last must have a bool or integer dtype, not float32",
        ),
        (
            lambda: dot(C3, GOOD, GOOD, "yes"),
            TypeError,
            "last must be a bool torch tensor or numpy array, not str",
        ),
        (
            lambda: dot(C3, GOOD, GOOD, torch.ones(4, dtype=torch.bool)),
            ValueError,
            "last must have shape (5,) (one flag per beat), not (4,)",
        ),
        (
            lambda: dot(C3, GOOD, GOOD, torch.tensor([0, 2, 0, 0, 1])),
            ValueError,
            "last must hold only 0/1 or True/False, not 2 (at beat 1)",
        ),
        (
            lambda: dot(C3, GOOD, GOOD, torch.tensor([True, False, True, True, False])),
            ValueError,
            "last[-1] must be True: the stream ends inside a dot product (beat 4, the final one, "
            "is not marked last)",
        ),
        (
            lambda: to_real("config", [1], weight_fsr=0, act_exp=0),
            TypeError,
            "config must be an EngineConfig, not str",
        ),
        (
            lambda: to_real(C3, torch.tensor([1.5]), weight_fsr=0, act_exp=0),
            TypeError,
            "results must have an integer dtype, not torch.float32",
        ),
    ],
)
def test_bad_input(call, exc, msg):
    with pytest.raises(exc, match=re.escape(msg) + "$"):
        call()


def test_output_tlast_is_one_on_every_result():
    """m_axis_tlast of the dot-product engine: every result is one packet."""
    assert output_tlast(3) == [True, True, True]
    assert output_tlast(0) == []
    with pytest.raises(TypeError, match="count"):
        output_tlast(1.0)
