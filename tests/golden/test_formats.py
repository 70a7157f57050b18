"""Tests of logdot.golden.formats: widths and constants against brute force, validation messages."""

import itertools
import math
import re

import pytest

from logdot.golden.formats import (
    LIMITS,
    EngineConfig,
    ceil_root_pow2,
    check_bool,
    check_choice,
    check_int,
    normalize_base,
    read_only,
    read_only_params,
    signed_width,
    sqrt2_constant,
    unsigned_width,
)


def raises(exc, msg):
    return pytest.raises(exc, match=re.escape(msg) + "$")


# -- brute-force references -----------------------------------------------------------------


def brute_signed_width(lo, hi):
    """Smallest w whose two's-complement range [-2**(w-1), 2**(w-1) - 1] holds lo and hi."""
    w = 1
    while not (-(2 ** (w - 1)) <= lo and hi <= 2 ** (w - 1) - 1):
        w += 1
    return w


def test_brute_signed_width_by_enumeration():
    def fits(w, lo, hi):
        return all(-(2 ** (w - 1)) <= x <= 2 ** (w - 1) - 1 for x in range(lo, hi + 1))

    for lo in range(-20, 21):
        for hi in range(lo, 21):
            w = brute_signed_width(lo, hi)
            assert fits(w, lo, hi) and (w == 1 or not fits(w - 1, lo, hi))


def brute_terms(cfg):
    """{parity: set of one lane's term values}, by enumerating every activation and weight.

    Follows the engine's arithmetic as specified in docs/formats.md (not
    logdot.golden.formats): a weight with sign s and code c >= 1 is +-base**(c - 1) relative
    to code 1; linear activation a gives +-(a << (c - 1)); log activation code d >= 1 gives
    +-(1 << (c - 1 + d - 1)); in base sqrt(2) the half-step exponent h = (c - 1) [+ 2 (d - 1)]
    splits terms by parity, each accumulator holding +-(a << (h >> 1)). Code 0 (weight or
    activation) is zero.
    """
    wb = cfg.weight_bits - 1
    weights = [(s, c) for s in (0, 1) for c in range(1 << wb)]
    if cfg.act_format == "linear":
        a = cfg.act_bits
        lo, hi = (-(2 ** (a - 1)), 2 ** (a - 1) - 1) if cfg.act_signed else (0, 2**a - 1)
        acts = [("lin", v) for v in range(lo, hi + 1)]
    else:
        ab = cfg.act_bits - 1 if cfg.act_signed else cfg.act_bits
        signs = (0, 1) if cfg.act_signed else (0,)
        acts = [(s, d) for s in signs for d in range(1 << ab)]
    parities = (None,) if cfg.weight_base == 2 else (0, 1)
    terms = {p: {0} for p in parities}
    for (ws, c), act in itertools.product(weights, acts):
        if c == 0:
            continue
        if act[0] == "lin":
            mag, h, sign = abs(act[1]), c - 1, ws ^ (act[1] < 0)
        else:
            s, d = act
            if d == 0:
                continue
            step = 1 if cfg.weight_base == 2 else 2
            mag, h, sign = 1, (c - 1) + step * (d - 1), ws ^ s
        if cfg.weight_base == 2:
            p, shift = None, h
        else:
            p, shift = h & 1, h >> 1
        terms[p].add(-(mag << shift) if sign else mag << shift)
    return terms


small_configs = [
    {
        "lanes": lanes,
        "act_bits": ab,
        "weight_bits": wb,
        "act_format": fmt,
        "act_signed": signed,
        "weight_base": base,
        "max_beats": beats,
    }
    for lanes, ab, wb, fmt, signed, base, beats in itertools.product(
        (1, 3), (2, 3, 4), (2, 3, 4), ("linear", "log"), (True, False), (2, "sqrt2"), (1, 5)
    )
]


@pytest.mark.parametrize("params", small_configs, ids=lambda p: "-".join(map(str, p.values())))
def test_engine_widths_against_brute_force(params):
    cfg = EngineConfig(**params)
    terms = brute_terms(cfg)
    exact = 1
    for p, values in terms.items():
        lo, hi = min(values), max(values)
        assert cfg.term_range(p) == (lo, hi)
        assert cfg.tree_range(p) == (cfg.lanes * lo, cfg.lanes * hi)
        for beats in (1, 2, cfg.max_beats):
            w = brute_signed_width(beats * cfg.lanes * lo, beats * cfg.lanes * hi)
            assert cfg.exact_acc_bits(beats) >= w
        exact = max(
            exact,
            brute_signed_width(cfg.max_beats * cfg.lanes * lo, cfg.max_beats * cfg.lanes * hi),
        )
    assert cfg.exact_acc_bits() == exact == cfg.acc_bits
    assert not cfg.saturating
    d = cfg.to_dict()["derived"]
    assert d["term_bits"] == [brute_signed_width(min(v), max(v)) for v in terms.values()]
    # Result width: every (A_even, A_odd) pair an acc_bits accumulator holds.
    alo, ahi = -(2 ** (cfg.acc_bits - 1)), 2 ** (cfg.acc_bits - 1) - 1
    assert cfg.acc_range == (alo, ahi)
    if cfg.weight_base == 2:
        assert cfg.result_bits == cfg.acc_bits and cfg.sqrt2_r is None
    else:
        f, r = cfg.frac_bits, cfg.sqrt2_r
        ys = [(e << f) + r * o for e in (alo, ahi) for o in (alo, ahi)]
        assert cfg.result_bits == brute_signed_width(min(ys), max(ys))


def test_narrow_accumulator_saturates():
    cfg = EngineConfig(lanes=4, act_bits=8, weight_bits=4, max_beats=16)
    assert cfg.exact_acc_bits() == 21  # +-(4 lanes * 16 beats * 128 << 6) = +-2**19
    narrow = EngineConfig(lanes=4, act_bits=8, weight_bits=4, max_beats=16, acc_bits=12)
    assert narrow.saturating and narrow.acc_range == (-2048, 2047) and narrow.result_bits == 12


def test_sqrt2_default_frac_bits_and_constant():
    cfg = EngineConfig(lanes=2, act_bits=8, weight_bits=4, weight_base="sqrt2")
    assert cfg.frac_bits == 8 and cfg.sqrt2_r == 362
    assert EngineConfig(lanes=2, act_bits=8, weight_bits=4).frac_bits == 0


def test_pack_unpack_and_layout():
    cfg = EngineConfig(lanes=3, act_bits=5, weight_bits=4)
    assert cfg.in_bits == 27 and cfg.in_bytes == 4
    assert [cfg.act_lsb(i) for i in range(3)] == [0, 5, 10]
    assert [cfg.weight_lsb(i) for i in range(3)] == [15, 19, 23]
    word = cfg.pack_beat([-1, 2, -16], [0b1001, 0, 0b0111])
    assert word == 0b0111_0000_1001_10000_00010_11111
    bits = 8 * cfg.out_bytes
    assert cfg.unpack_result((1 << bits) - 3) == -3
    assert cfg.unpack_result(5) == 5


def test_result_scale_log2():
    cfg = EngineConfig(lanes=2, act_bits=8, weight_bits=4)
    # code 1 of a 3-bit magnitude with fsr 0 is 2**-7; activations scaled by 2**-4.
    assert cfg.result_scale_log2(weight_fsr=0, act_exp=-4) == -11
    s2 = EngineConfig(lanes=2, act_bits=8, weight_bits=4, weight_base="sqrt2", frac_bits=6)
    assert s2.result_scale_log2(weight_fsr=1, act_exp=0) == -3 - 6
    lg = EngineConfig(lanes=2, act_bits=4, weight_bits=4, act_format="log")
    assert lg.result_scale_log2(weight_fsr=0, act_fsr=2) == -7 + (2 - 8 + 1)
    with raises(ValueError, "act_exp is required for linear activations"):
        cfg.result_scale_log2(weight_fsr=0)
    with raises(ValueError, "act_fsr is required for log activations"):
        lg.result_scale_log2(weight_fsr=0)
    with raises(TypeError, "weight_fsr must be an integer, not 0.5"):
        cfg.result_scale_log2(weight_fsr=0.5, act_exp=0)


# -- signed_width, unsigned_width, sqrt2_constant, ceil_root_pow2 ----------------------------


def test_signed_width_brute_force():
    for lo in range(-70, 71):
        for hi in range(lo, 71, 3):
            assert signed_width(lo, hi) == brute_signed_width(lo, hi), (lo, hi)
    assert signed_width(-(2**63), 2**63 - 1) == 64
    assert signed_width(0, 2**63) == 65
    with raises(ValueError, "empty range [1, 0]"):
        signed_width(1, 0)


def test_unsigned_width():
    assert [unsigned_width(v) for v in (0, 1, 2, 3, 4, 255, 256)] == [1, 1, 2, 2, 3, 8, 9]


def test_sqrt2_constant():
    assert [sqrt2_constant(f) for f in (0, 1, 2, 8, 16)] == [1, 3, 6, 362, 92682]
    for f in range(0, 80):
        r = sqrt2_constant(f)
        # |r - sqrt(2) 2**f| < 1/2  <=>  (2r - 1)**2 < 8 * 4**f < (2r + 1)**2
        assert (2 * r - 1) ** 2 < 8 * 4**f < (2 * r + 1) ** 2, f
    with raises(ValueError, "frac_bits must be an integer >= 0, not -1"):
        sqrt2_constant(-1)
    with raises(TypeError, "frac_bits must be an integer, not 2.0"):
        sqrt2_constant(2.0)


def test_ceil_root_pow2_brute_force():
    for root in range(1, 6):
        for n in range(0, 200):
            t = ceil_root_pow2(n, root)
            assert t**root >= 2**n and (t - 1) ** root < 2**n, (n, root)
    for n in range(0, 130):
        assert ceil_root_pow2(n, 2) == math.isqrt(2**n - 1) + 1


# -- check_int, check_bool, check_choice, normalize_base --------------------------------


def test_check_int_messages():
    assert check_int(3, "n", 1, 5) == 3
    with raises(TypeError, "n must be an integer, not True"):
        check_int(True, "n")
    with raises(TypeError, "n must be an integer, not 3.0"):
        check_int(3.0, "n", 1, 5)
    with raises(ValueError, "n must be an integer in [1, 5], not 0"):
        check_int(0, "n", 1, 5)
    with raises(ValueError, "n must be an integer in [1, 5], not 6"):
        check_int(6, "n", 1, 5)
    with raises(ValueError, "n must be an integer >= 1, not 0"):
        check_int(0, "n", 1)


def test_check_bool_and_check_choice_messages():
    assert check_bool(False, "flag") is False
    with raises(TypeError, "flag must be a bool, not 1"):
        check_bool(1, "flag")
    with raises(TypeError, "flag must be a bool, not None"):
        check_bool(None, "flag")
    assert check_choice("log", "kind", ("log", "linear")) == "log"
    with raises(ValueError, "kind must be one of 'log', 'linear', not 'float'"):
        check_choice("float", "kind", ("log", "linear"))
    with raises(ValueError, "n must be one of 1, 2, not 3"):
        check_choice(3, "n", (1, 2))


def test_read_only_property():
    class Thing:
        size = read_only("size", "The size.")

        def __init__(self, size):
            self._size = size

    t = Thing(3)
    assert t.size == 3 and Thing(4).size == 4
    assert Thing.size.__doc__ == "The size."
    with pytest.raises(AttributeError):
        t.size = 5
    assert t.size == 3


def test_read_only_params_adds_one_property_per_name():
    @read_only_params("size", "kind")
    class Thing:
        def __init__(self, size, kind):
            self._size = size
            self._kind = kind

    t = Thing(3, "log")
    assert (t.size, t.kind) == (3, "log")
    assert Thing.kind.__doc__ == "The ``kind`` parameter (see :class:`Thing`), read-only."
    with pytest.raises(AttributeError):
        t.kind = "linear"
    assert (t.size, t.kind) == (3, "log")


def test_read_only_params_of_a_configuration():
    @read_only_params("lanes", "act_bits", of="_config")
    class Engine:
        def __init__(self, config):
            self._config = config

    cfg = EngineConfig(lanes=3, act_bits=6, weight_bits=3)
    e = Engine(cfg)
    assert (e.lanes, e.act_bits) == (3, 6)
    assert Engine.lanes.__doc__ == "The ``lanes`` parameter (see :class:`Engine`), read-only."
    with pytest.raises(AttributeError):
        e.lanes = 4
    assert e.lanes == 3


def test_normalize_base():
    assert normalize_base(2) == 2 and normalize_base("2") == 2
    assert normalize_base("sqrt2") == "sqrt2"
    with raises(ValueError, "base must be 2 or 'sqrt2', not 4"):
        normalize_base(4)
    with raises(ValueError, "wb must be 2 or 'sqrt2', not 'SQRT2'"):
        normalize_base("SQRT2", name="wb")
    with raises(TypeError, "base must be 2 or 'sqrt2', not True"):
        normalize_base(True)
    with raises(TypeError, "base must be 2 or 'sqrt2', not None"):
        normalize_base(None)


# -- EngineConfig validation --------------------------------------------------------------

BASE = {"lanes": 4, "act_bits": 8, "weight_bits": 4}


@pytest.mark.parametrize(
    ("kwargs", "exc", "msg"),
    [
        ({"lanes": 0}, ValueError, "lanes must be an integer in [1, 1024], not 0"),
        ({"lanes": 2.0}, TypeError, "lanes must be an integer, not 2.0"),
        ({"act_format": "float"}, ValueError, "act_format must be 'linear' or 'log', not 'float'"),
        ({"act_bits": 33}, ValueError, "act_bits must be an integer in [2, 32], not 33"),
        (
            {"act_bits": 9, "act_format": "log"},
            ValueError,
            "act_bits must be an integer in [2, 8], not 9",
        ),
        ({"weight_bits": 1}, ValueError, "weight_bits must be an integer in [2, 8], not 1"),
        ({"act_signed": 1}, TypeError, "act_signed must be a bool, not 1"),
        ({"weight_base": 3}, ValueError, "weight_base must be 2 or 'sqrt2', not 3"),
        ({"frac_bits": 4}, ValueError, "frac_bits must be 0 or None with weight_base 2, not 4"),
        (
            {"frac_bits": 25, "weight_base": "sqrt2"},
            ValueError,
            "frac_bits must be an integer in [0, 24], not 25",
        ),
        ({"max_beats": 0}, ValueError, f"max_beats must be an integer in [1, {1 << 24}], not 0"),
        ({"register_terms": "yes"}, TypeError, "register_terms must be a bool, not 'yes'"),
        (
            {"register_every": 17},
            ValueError,
            "register_every must be an integer in [0, 16], not 17",
        ),
        ({"acc_bits": 1}, ValueError, "acc_bits must be an integer in [2, 64], not 1"),
        (
            {"acc_bits": 30},
            ValueError,
            "acc_bits must be at most the exact width 27 for max_beats=1024, not 30; "
            "raise max_beats instead",
        ),
        (
            {"lanes": 1024, "act_bits": 32, "weight_bits": 8},
            ValueError,
            "this configuration needs a 179-bit accumulator for max_beats=1024, beyond logdot's "
            "limit of 64 bits (the golden model computes in int64); reduce weight_bits, act_bits, "
            "lanes or max_beats",
        ),
        (
            {
                "lanes": 64,
                "act_bits": 32,
                "weight_bits": 4,
                "weight_base": "sqrt2",
                "frac_bits": 24,
            },
            ValueError,
            "this configuration produces 78-bit results, beyond logdot's limit of 64 bits; "
            "reduce frac_bits or acc_bits",
        ),
    ],
)
def test_engine_config_rejects(kwargs, exc, msg):
    with raises(exc, msg):
        EngineConfig(**(BASE | kwargs))


# -- EngineConfig parameters ------------------------------------------------------------


def test_parameter_names_are_the_constructor_parameters():
    assert EngineConfig.parameter_names() == (
        "lanes", "act_bits", "weight_bits", "act_format", "act_signed", "weight_base",
        "frac_bits", "acc_bits", "max_beats", "register_terms", "register_every",
        "accumulate", "weight_terms",
    )  # fmt: skip
    assert "_derived" not in EngineConfig.parameter_names()


def test_parameters_are_the_normalized_values_and_rebuild_the_config():
    cfg = EngineConfig(lanes=3, act_bits=5, weight_bits=4, weight_base="sqrt2", max_beats=16)
    p = cfg.parameters()
    # acc_bits: 16 beats of 3 lanes of |a| <= 16 shifted by at most 3: |sum| <= 6144, 14 bits.
    assert p == {
        "lanes": 3, "act_bits": 5, "weight_bits": 4, "act_format": "linear",
        "act_signed": True, "weight_base": "sqrt2", "frac_bits": 8, "acc_bits": 14,
        "max_beats": 16, "register_terms": True, "register_every": 0, "accumulate": "exact",
        "weight_terms": 1,
    }  # fmt: skip
    assert list(p) == list(EngineConfig.parameter_names())
    assert p == cfg.to_dict()["parameters"]
    assert EngineConfig(**p) == cfg
    # A copy: changing it does not touch the config.
    p["lanes"] = 9
    assert cfg.parameters()["lanes"] == 3
    assert EngineConfig(**{**cfg.parameters(), "lanes": 9}).lanes == 9


def test_exact_acc_bits_argument():
    cfg = EngineConfig(**BASE)
    assert cfg.exact_acc_bits(1) == brute_signed_width(-4 * (128 << 6), 4 * (128 << 6))
    with raises(ValueError, "beats must be an integer >= 1, not 0"):
        cfg.exact_acc_bits(0)
    with raises(ValueError, "parity must be 0 or 1 in sqrt2 mode, not None"):
        EngineConfig(**BASE, weight_base="sqrt2").term_shift_range()


def test_limits_are_consistent():
    for name, (lo, hi) in LIMITS.items():
        assert isinstance(lo, int) and isinstance(hi, int) and lo <= hi, name
