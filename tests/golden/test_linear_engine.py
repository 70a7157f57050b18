"""logdot.golden.linear_engine: the linear (multiplier) baseline's geometry and golden model."""

from __future__ import annotations

import re

import pytest

from logdot.golden.formats import EngineConfig
from logdot.golden.linear_engine import LinearConfig, linear_dot


def test_config_geometry():
    cfg = LinearConfig(lanes=16, act_bits=8, weight_bits=4)
    assert cfg.weight_range == (-8, 7)
    assert cfg.term_range() == (-1016, 1024)  # -128*-8 is the largest product
    assert cfg.tree_range() == (-16 * 1016, 16 * 1024)
    assert cfg.in_bits == 16 * (8 + 4)
    assert cfg.weight_lsb(3) == 16 * 8 + 3 * 4
    assert cfg.to_dict()["parameters"]["engine"] == "linear"
    u = LinearConfig(lanes=2, act_bits=8, weight_bits=8, act_signed=False)
    assert u.term_range() == (255 * -128, 255 * 127)


def test_from_log_keeps_geometry():
    log = EngineConfig(lanes=5, act_bits=6, weight_bits=4, register_every=1, max_beats=7)
    lin = LinearConfig.from_log(log, weight_bits=8)
    assert (lin.lanes, lin.act_bits, lin.weight_bits) == (5, 6, 8)
    assert (lin.register_every, lin.register_terms, lin.max_beats) == (1, True, 7)
    assert not lin.saturating
    assert LinearConfig.from_log(log).weight_bits == 4


@pytest.mark.parametrize(
    ("kw", "exc", "msg"),
    [
        ({"act_format": "log"}, ValueError, "act_format must be 'linear' for the linear baseline"),
        ({"weight_base": "sqrt2"}, ValueError, "weight_base must be 2 for the linear baseline"),
        ({"weight_bits": 9}, ValueError, "weight_bits must be an integer in [2, 8], not 9"),
    ],
)
def test_bad_config_raises(kw, exc, msg):
    args = {"lanes": 4, "act_bits": 8, "weight_bits": 4, **kw}
    with pytest.raises(exc, match=re.escape(msg)):
        LinearConfig(**args)


# The refused objects were already allocated when __init__ raised: Amaranth warns about them.
def test_golden_linear_dot_by_hand():
    cfg = LinearConfig(lanes=2, act_bits=8, weight_bits=4)
    # Two dot products: (3*-2 + 5*7) + (1*1 + -128*-8) = 29 + 1025; then -128*7 + 127*-8.
    got = linear_dot(cfg, [[3, 5], [1, -128], [-128, 127]], [[-2, 7], [1, -8], [7, 0b1000]],
                     [False, True, True])  # fmt: skip
    assert got == [29 + 1025, -896 - 1016]
    sat = LinearConfig(lanes=2, act_bits=8, weight_bits=4, acc_bits=10)
    assert linear_dot(sat, [[127, 127], [127, 127]], [[7, 7], [7, 7]], [False, True]) == [511]
    assert linear_dot(sat, [[-128, -128]], [[7, 7]]) == [-512]


def test_golden_rejects_bad_input():
    cfg = LinearConfig(lanes=2, act_bits=8, weight_bits=4)
    with pytest.raises(ValueError, match=re.escape("acts must be in [-128, 127], not")):
        linear_dot(cfg, [[128, 0]], [[0, 0]])
    with pytest.raises(ValueError, match=re.escape("last[-1] must be True")):
        linear_dot(cfg, [[1, 0]], [[1, 0]], [False])
    with pytest.raises(TypeError, match=re.escape("acts must have an integer dtype")):
        linear_dot(cfg, [[1.5, 0]], [[1, 0]])
