# amaranth: UnusedElaboratable=no
"""The documented limits (logdot.golden.formats.LIMITS) are enforced with clear errors, at once.

A cross-cutting suite (the configuration, the golden model, the quantizers and the engine
against the same table), so it stays at the top of tests/.

Every bound is accepted and one beyond it is refused with a ``ValueError`` naming the
parameter, its range and the bad value; derived limits (the accumulator and the result must
fit 64 bits, because the golden model computes in int64) are refused with a message saying
what to reduce. The golden model is exact at the 64-bit edge (checked against the
big-integer reference). docs/verification.md, section "Limits", lists what the generator,
the golden model and the simulators can really handle.
"""

from __future__ import annotations

import re
import time

import pytest
import torch

from logdot.golden.engine import dot, reference_dot
from logdot.golden.formats import LIMITS, EngineConfig
from logdot.golden.quant import linear_quant, log_quant
from logdot.hdl.engine import LogDotEngine

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

BASE = dict(lanes=2, act_bits=8, weight_bits=4)

#: (LIMITS key, EngineConfig parameter, extra keyword arguments)
ENGINE_LIMITS = [
    ("lanes", "lanes", dict(act_bits=2, weight_bits=2)),
    ("act_bits_linear", "act_bits", dict(lanes=1, weight_bits=2)),
    ("act_bits_log", "act_bits", dict(lanes=1, weight_bits=2, act_format="log")),
    ("weight_bits", "weight_bits", dict(lanes=1, act_bits=2, max_beats=1)),
    ("frac_bits", "frac_bits", dict(lanes=1, act_bits=2, weight_bits=2, weight_base="sqrt2")),
    ("max_beats", "max_beats", dict(lanes=1, act_bits=2, weight_bits=2)),
    ("register_every", "register_every", {}),
]


def _message(param, lo, hi, bad):
    return f"{param} must be an integer in [{lo}, {hi}], not {bad!r}"


@pytest.mark.parametrize(
    ("key", "param", "extra"), ENGINE_LIMITS, ids=[e[0] for e in ENGINE_LIMITS]
)
def test_every_engine_limit_is_inclusive_and_enforced(key, param, extra):
    lo, hi = LIMITS[key]
    kw = dict(BASE, **extra)
    for ok in (lo, hi):
        if (key, ok) in (("act_bits_log", hi), ("weight_bits", hi)):
            # Allowed by the formats (quantizers), but 8-bit log activations or 8-bit log
            # weights shift by up to 126 places: the derived 64-bit accumulator limit
            # refuses them, clearly (see test_largest_log_codes_the_engine_takes).
            with pytest.raises(ValueError, match=r"needs a \d+-bit accumulator"):
                EngineConfig(**dict(kw, **{param: ok}))
            continue
        assert getattr(EngineConfig(**dict(kw, **{param: ok})), param) == ok
    for bad in (lo - 1, hi + 1, hi * 1000 + 7):
        with pytest.raises(ValueError, match=re.escape(_message(param, lo, hi, bad))):
            EngineConfig(**dict(kw, **{param: bad}))
        with pytest.raises(ValueError, match=re.escape(_message(param, lo, hi, bad))):
            LogDotEngine(**dict(kw, **{param: bad}))


def _config_with_exact_acc(bits):
    """A configuration whose exact accumulator is exactly ``bits`` wide."""
    for act_bits in range(32, 1, -1):
        for max_beats in (1 << 24, 1 << 20, 1 << 16, 1 << 12, 1024, 64, 1):
            kw = dict(lanes=1024, act_bits=act_bits, weight_bits=5, max_beats=max_beats)
            try:
                cfg = EngineConfig(**kw)
            except ValueError:
                continue
            if cfg.exact_acc_bits() == bits:
                return kw
    raise AssertionError(f"no configuration with a {bits}-bit exact accumulator")


def test_largest_log_codes_the_engine_takes():
    """One lane, one beat: log activations up to 7 bits signed or 6 unsigned (a one-hot
    term 1 << 62 in 64 bits); log weights up to 6 bits in base 2 (shift 30 of a 2-bit
    activation) or 7 in base sqrt(2) (shift 31). One more bit needs a > 64-bit accumulator
    and is refused."""
    ok = [
        dict(act_bits=7, weight_bits=2, act_format="log"),
        dict(act_bits=6, weight_bits=2, act_format="log", act_signed=False),
        dict(act_bits=2, weight_bits=6),
        dict(act_bits=2, weight_bits=7, weight_base="sqrt2", frac_bits=0),
    ]
    bad = [
        dict(act_bits=8, weight_bits=2, act_format="log"),
        dict(act_bits=7, weight_bits=2, act_format="log", act_signed=False),
        dict(act_bits=2, weight_bits=7),
        dict(act_bits=2, weight_bits=8, weight_base="sqrt2", frac_bits=0),
    ]
    for kw in ok:
        assert EngineConfig(lanes=1, max_beats=1, **kw)
    for kw in bad:
        with pytest.raises(ValueError, match=r"needs a \d+-bit accumulator"):
            EngineConfig(lanes=1, max_beats=1, **kw)


def test_acc_bits_limits():
    lo, hi = LIMITS["acc_bits"]
    kw = _config_with_exact_acc(hi)
    assert EngineConfig(**dict(kw, acc_bits=hi)).acc_bits == hi
    assert EngineConfig(**dict(kw, acc_bits=lo)).saturating
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ValueError, match=re.escape(_message("acc_bits", lo, hi, bad))):
            EngineConfig(**dict(kw, acc_bits=bad))


def test_accumulator_beyond_64_bits_is_refused_with_advice():
    with pytest.raises(ValueError) as info:
        EngineConfig(lanes=1024, act_bits=32, weight_bits=8)
    msg = str(info.value)
    assert re.search(r"needs a \d+-bit accumulator for max_beats=1024, beyond logdot's limit "
                     r"of 64 bits", msg), msg  # fmt: skip
    assert "reduce weight_bits, act_bits, lanes or max_beats" in msg


def test_result_beyond_64_bits_is_refused_with_advice():
    kw = _config_with_exact_acc(60)
    kw = dict(kw, weight_base="sqrt2", weight_bits=2, act_bits=32, frac_bits=24)
    with pytest.raises(ValueError, match=r"produces \d+-bit results, beyond logdot's limit of 64"):
        EngineConfig(**kw)


def test_huge_values_fail_at_once():
    """A typo (--lanes 100000000, a max_beats of 10**15) costs no memory and no time."""
    t0 = time.monotonic()
    for kw in (dict(lanes=10**8), dict(max_beats=10**15), dict(act_bits=10**6)):
        with pytest.raises(ValueError):
            LogDotEngine(**dict(BASE, **kw))
    assert time.monotonic() - t0 < 1.0


def test_quantizer_limits():
    x = torch.tensor([0.5, -1.0])
    lo, hi = LIMITS["quant_bits"]
    flo, fhi = LIMITS["fsr"]
    log_quant(x, hi, fhi)
    log_quant(x, lo, flo)
    with pytest.raises(ValueError, match=re.escape(_message("bits", lo, hi, hi + 1))):
        log_quant(x, hi + 1, 0)
    with pytest.raises(ValueError, match=re.escape(_message("fsr", flo, fhi, fhi + 1))):
        log_quant(x, 4, fhi + 1)
    alo, ahi = LIMITS["act_bits_linear"]
    linear_quant(x, ahi, 0)
    with pytest.raises(ValueError, match=re.escape(_message("bits", alo, ahi, ahi + 1))):
        linear_quant(x, ahi + 1, 0)


@pytest.mark.parametrize("signed", [True, False])
def test_golden_model_is_exact_at_the_64_bit_edge(signed, seed):
    """Widest accumulator, extreme activations and weights: int64 golden == big integers."""
    kw = _config_with_exact_acc(64)
    kw = dict(kw, lanes=1024, act_signed=signed)
    try:
        cfg = EngineConfig(**kw)
    except ValueError:
        cfg = EngineConfig(**dict(kw, max_beats=kw["max_beats"] // 2))
    lo, hi = cfg.act_range
    top = (1 << cfg.weight_code_bits) - 1
    neg = (1 << cfg.weight_code_bits) | top
    g = torch.Generator().manual_seed(seed)
    beats = 6
    acts = torch.randint(lo, hi + 1, (beats, cfg.lanes), generator=g, dtype=torch.int64)
    acts[:3] = lo if signed else hi
    weights = torch.randint(0, 1 << cfg.weight_bits, (beats, cfg.lanes), generator=g)
    weights[:3] = top
    weights[1] = neg
    last = torch.tensor([False, False, True, False, False, True])
    got = dot(cfg, acts, weights, last).tolist()
    assert got == reference_dot(cfg, acts, weights, last)
    wrong = list(got)
    wrong[0] += 1
    assert wrong != reference_dot(cfg, acts, weights, last)
