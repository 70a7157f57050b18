"""logdot.golden.engine with two-term weights (``weight_terms=2``): the fast model against the
big-integer reference, extremes, real values, widths, the configuration's checks."""

from __future__ import annotations

import random
import re
from fractions import Fraction

import pytest
import torch

from logdot.golden.engine import EngineConfig, check_equal, dot, reference_dot, to_real
from logdot.golden.formats import signed_width
from logdot.golden.twoterm import twoterm_max_magnitude, twoterm_unit_log2
from logdot.golden.twoterm_quant import twoterm_dequant
from tests.golden.test_twoterm import spec_value
from tests.support.configs import config_id

TT = dict(weight_terms=2)
CONFIGS = [
    dict(lanes=1, act_bits=8, weight_bits=3, **TT),
    dict(lanes=3, act_bits=8, weight_bits=5, **TT),
    dict(lanes=16, act_bits=8, weight_bits=5, **TT),
    dict(lanes=16, act_bits=8, weight_bits=4, act_signed=False, **TT),
    dict(lanes=5, act_bits=16, weight_bits=8, **TT),
    dict(lanes=2, act_bits=32, weight_bits=8, max_beats=4, **TT),
    dict(lanes=4, act_bits=8, weight_bits=6, acc_bits=12, **TT),  # saturating
    dict(lanes=3, act_bits=6, weight_bits=5, max_beats=2, **TT),  # wraps beyond 2 beats
]


def _beats(cfg, rng, n, corners=False):
    lo, hi = cfg.act_range
    pick = (lambda: rng.choice([lo, hi, rng.randint(lo, hi)])) if corners else None
    acts = [[(pick() if pick else rng.randint(lo, hi)) for _ in range(cfg.lanes)] for _ in range(n)]
    weights = [[rng.randrange(1 << cfg.weight_bits) for _ in range(cfg.lanes)] for _ in range(n)]
    return acts, weights


def _last(rng, n, max_len):
    last = [rng.randint(1, max_len) == 1 for _ in range(n)]
    last[-1] = True
    return last


@pytest.mark.parametrize("kw", CONFIGS, ids=config_id)
def test_model_equals_big_integer_reference(kw, seed):
    cfg = EngineConfig(**kw)
    rng = random.Random(seed)
    for corners in (False, True):
        acts, weights = _beats(cfg, rng, 300, corners)
        for max_len in (1, 4, 300):
            last = _last(rng, 300, max_len)
            got = dot(cfg, acts, weights, last)
            check_equal(reference_dot(cfg, acts, weights, last), got, context=f"seed={seed}")


@pytest.mark.parametrize("kw", CONFIGS, ids=config_id)
def test_extremes_fill_the_exact_widths(kw):
    """The largest weights of both signs times both activation extremes: the lane sum reaches
    the ends of tree_range and fits exact_acc_bits over max_beats beats."""
    cfg = EngineConfig(**kw)
    w = cfg.weight_bits
    top = (1 << (w - 1)) - (1 << ((w - 1) // 2)) + 1  # c = 2**B1 - 1, j = 1
    lo, hi = cfg.act_range
    acts = [[hi] * cfg.lanes, [lo] * cfg.lanes, [hi] * cfg.lanes]
    weights = [[top] * cfg.lanes, [top] * cfg.lanes, [top | (1 << (w - 1))] * cfg.lanes]
    got = dot(cfg, acts, weights).tolist()
    assert got == reference_dot(cfg, acts, weights)
    m = twoterm_max_magnitude(w)
    if not cfg.saturating:
        assert got == [cfg.lanes * hi * m, cfg.lanes * lo * m, -cfg.lanes * hi * m]
        t_lo, t_hi = cfg.tree_range()
        assert t_hi == cfg.lanes * max(hi, -lo) * m and t_lo == -t_hi
        beats = cfg.max_beats
        assert cfg.exact_acc_bits() == signed_width(beats * t_lo, beats * t_hi)
    else:
        acc_lo, acc_hi = cfg.acc_range
        assert got == [acc_hi, acc_lo, acc_lo]


@pytest.mark.parametrize("fsr", [0, 2, -3])
def test_to_real_is_the_real_dot_product(fsr, seed):
    cfg = EngineConfig(lanes=16, act_bits=8, weight_bits=5, **TT)
    rng = random.Random(seed)
    acts, weights = _beats(cfg, rng, 20)
    got = to_real(cfg, dot(cfg, acts, weights), weight_fsr=fsr, act_exp=-4).tolist()
    for g, beat_a, beat_w in zip(got, acts, weights, strict=True):
        exact = sum(
            spec_value(cfg.weight_bits, c, fsr) * Fraction(a) * Fraction(2) ** -4
            for a, c in zip(beat_a, beat_w, strict=True)
        )
        assert Fraction(g) == exact
        wf = twoterm_dequant(torch.tensor(beat_w), cfg.weight_bits, fsr)
        assert g == float((wf * torch.tensor(beat_a, dtype=torch.float64)).sum() * 2.0**-4)
    assert cfg.result_scale_log2(weight_fsr=fsr, act_exp=-4) == twoterm_unit_log2(5, fsr) - 4


def test_a_wrong_golden_value_is_caught(seed):
    cfg = EngineConfig(lanes=3, act_bits=8, weight_bits=5, **TT)
    rng = random.Random(seed)
    acts, weights = _beats(cfg, rng, 10)
    expected = reference_dot(cfg, acts, weights)
    wrong = list(expected)
    wrong[3] += 1
    with pytest.raises(AssertionError, match=re.escape("1 of 10 results differ: [3]")):
        check_equal(wrong, dot(cfg, acts, weights))


BAD = [
    (dict(weight_terms=3), ValueError, "weight_terms must be one of 1, 2, not 3"),
    (dict(weight_terms=2, weight_bits=2), ValueError, "weight_bits must be at least 3"),
    (dict(weight_terms=2, weight_base="sqrt2"), ValueError, "needs weight_base 2, not 'sqrt2'"),
    (dict(weight_terms=2, act_format="log"), ValueError, "needs act_format 'linear', not 'log'"),
]


@pytest.mark.parametrize(("kw", "exc", "msg"), BAD)
def test_bad_configurations_are_refused(kw, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        EngineConfig(**{**dict(lanes=2, act_bits=8, weight_bits=5), **kw})


def test_weight_terms_is_a_parameter_with_default_one():
    names = EngineConfig.parameter_names()
    assert "weight_terms" in names
    assert EngineConfig(lanes=2, act_bits=8, weight_bits=4).weight_terms == 1
    cfg = EngineConfig(lanes=2, act_bits=8, weight_bits=5, **TT)
    assert EngineConfig(**cfg.parameters()) == cfg
    assert cfg.to_dict()["parameters"]["weight_terms"] == 2
