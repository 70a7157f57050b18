# amaranth: UnusedElaboratable=no
"""logdot.hdl.engine: parameter validation, read-only properties and the latency formula.

The engines here are built only to read their properties, never elaborated.
"""

from __future__ import annotations

import re

import pytest

from logdot.golden.formats import EngineConfig
from logdot.hdl.engine import LogDotEngine, engine_latency
from tests.support.configs import LOG, cfg_of

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

# -- parameters -------------------------------------------------------------------------------

_BASE = dict(lanes=2, act_bits=8, weight_bits=4)
BAD_PARAMS = [
    (dict(lanes=0), ValueError, "lanes must be an integer in [1, 1024], not 0"),
    (dict(lanes=True), TypeError, "lanes must be an integer, not True"),
    (dict(act_bits=1), ValueError, "act_bits must be an integer in [2, 32], not 1"),
    (dict(act_bits=9, **LOG), ValueError, "act_bits must be an integer in [2, 8], not 9"),
    (dict(weight_bits=1), ValueError, "weight_bits must be an integer in [2, 8], not 1"),
    (dict(act_format="float"), ValueError, "act_format must be 'linear' or 'log', not 'float'"),
    (dict(weight_base=3), ValueError, "weight_base must be 2 or 'sqrt2', not 3"),
    (dict(frac_bits=4), ValueError, "frac_bits must be 0 or None with weight_base 2, not 4"),
    (dict(act_signed=1), TypeError, "act_signed must be a bool, not 1"),
    (dict(register_terms="yes"), TypeError, "register_terms must be a bool, not 'yes'"),
    (dict(register_every=-1), ValueError, "register_every must be an integer in [0, 16], not -1"),
    (dict(acc_bits=99), ValueError, "acc_bits must be an integer in [2, 64], not 99"),
    (dict(max_beats=0), ValueError, "max_beats must be an integer in [1, 16777216], not 0"),
]


@pytest.mark.parametrize(("kw", "exc", "msg"), BAD_PARAMS)
def test_bad_parameters_raise_clear_errors(kw, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        LogDotEngine(**{**_BASE, **kw})


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        LogDotEngine(2, 8, 4)


def test_acc_bits_above_exact_width_is_refused():
    exact = cfg_of(lanes=2, act_bits=8, weight_bits=4).acc_bits
    with pytest.raises(
        ValueError, match=re.escape(f"acc_bits must be at most the exact width {exact}")
    ):
        LogDotEngine(lanes=2, act_bits=8, weight_bits=4, acc_bits=exact + 1)


def test_properties_mirror_config_and_are_read_only():
    e = LogDotEngine(lanes=3, act_bits=6, weight_bits=3, weight_base="sqrt2", register_every=1)
    cfg = EngineConfig(lanes=3, act_bits=6, weight_bits=3, weight_base="sqrt2", register_every=1)
    assert e.config == cfg
    for name in cfg.to_dict()["parameters"]:
        assert getattr(e, name) == getattr(cfg, name)
        with pytest.raises(AttributeError):
            setattr(e, name, 1)
    with pytest.raises(AttributeError):
        e.latency = 3
    with pytest.raises(AttributeError):
        e.config = cfg
    assert e.frac_bits == 8 and e.acc_bits == cfg.acc_bits


def test_from_config_roundtrip():
    cfg = cfg_of(lanes=5, act_bits=4, weight_bits=3, act_format="log", act_signed=False)
    assert LogDotEngine.from_config(cfg).config == cfg
    with pytest.raises(TypeError, match="config must be an EngineConfig"):
        LogDotEngine.from_config({"lanes": 5})


@pytest.mark.parametrize(
    ("kw", "latency"),
    [
        (dict(lanes=16, act_bits=8, weight_bits=4), 2),
        (dict(lanes=16, act_bits=8, weight_bits=4, register_terms=False), 1),
        # terms + 4 tree levels + registered final sum + out
        (dict(lanes=16, act_bits=8, weight_bits=4, register_every=1), 7),
        (dict(lanes=16, act_bits=8, weight_bits=4, register_every=3), 4),
        (dict(lanes=3, act_bits=8, weight_bits=4, weight_base="sqrt2"), 3),
        # terms + 2 tree levels + final sums (2 stages) + 3 combine levels (R = 362: 5 CSD
        # digits) + out
        (dict(lanes=3, act_bits=8, weight_bits=4, weight_base="sqrt2", register_every=1), 9),
        (dict(lanes=3, act_bits=8, weight_bits=4, weight_base="sqrt2", register_every=2), 6),
        (dict(lanes=1, act_bits=8, weight_bits=4, register_every=1), 3),
    ],
)
def test_latency_formula(kw, latency):
    assert LogDotEngine(**kw).latency == latency == engine_latency(cfg_of(**kw))
