"""logdot.hdl.logacc: the log-domain accumulator engines (``accumulate="log"``) in Amaranth's
simulator against the golden model, with idles and back-pressure; throughput (one beat per
``lanes`` cycles) and latency; the layer engine; a mutated table is caught."""

import random
import re

import pytest
import torch

from logdot.golden import engine
from logdot.golden.formats import EngineConfig
from logdot.golden.layer import output_tlast, pack_outputs
from logdot.hdl import logacc as hdl_logacc
from logdot.hdl.engine import LogDotEngine, engine_latency
from logdot.hdl.layer import LogLayerTop, layer_latency
from logdot.hdl.logacc import LogAccumulator, LogSerialPE, log_pe_latency
from logdot.hdl.pe import make_pe
from logdot.hdl.top import LogDotTop
from tests.hdl.test_layer import drive_layer
from tests.support.layers import small_layer
from tests.support.stream import drive_stream, random_stream

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

LOG = dict(act_format="log", accumulate="log")
CONFIGS = {
    "l3_log4_w4_f5": dict(lanes=3, act_bits=4, weight_bits=4, frac_bits=5, max_beats=4),
    "l1_ulog3_w3_f0": dict(
        lanes=1, act_bits=3, weight_bits=3, frac_bits=0, max_beats=3, act_signed=False
    ),
    "l4_log4_w3_sqrt2_f3_rt0": dict(
        lanes=4,
        act_bits=4,
        weight_bits=3,
        frac_bits=3,
        max_beats=4,
        weight_base="sqrt2",
        register_terms=False,
    ),
}


def _cfg(name):
    return EngineConfig(**CONFIGS[name], **LOG)


def test_components_refuse_exact_configs_and_lanes():
    exact = EngineConfig(lanes=2, act_bits=4, weight_bits=4, act_format="log")
    for cls in (LogAccumulator, LogSerialPE):
        with pytest.raises(ValueError, match=re.escape("config must have accumulate='log'")):
            cls(config=exact)
    with pytest.raises(TypeError, match="config must be an EngineConfig"):
        LogAccumulator(config={"lanes": 2})
    with pytest.raises(ValueError, match="make_lane must be None with accumulate='log'"):
        make_pe(_cfg("l3_log4_w4_f5"), make_lane=lambda i: None)


def test_properties_and_latency():
    cfg = _cfg("l3_log4_w4_f5")
    pe = LogSerialPE(config=cfg)
    assert pe.latency == log_pe_latency(cfg) == 3 and pe.cycles_per_beat == 3
    assert LogAccumulator(config=cfg).latency == 2
    e = LogDotEngine(**cfg.parameters())
    assert e.accumulate == "log" and e.cycles_per_beat == 3 and e.latency == 4
    for name in ("latency", "cycles_per_beat", "accumulate"):
        with pytest.raises(AttributeError):
            setattr(e, name, 1)
    assert engine_latency(_cfg("l4_log4_w3_sqrt2_f3_rt0")) == 3


@pytest.mark.parametrize("name", CONFIGS)
def test_simulation_matches_golden(name, seed):
    """Random codes, dot products of 1..4 beats, random idles and back-pressure."""
    cfg = _cfg(name)
    rng = random.Random(seed)
    acts, weights, last = random_stream(cfg, rng, 40, cfg.max_beats)
    log = drive_stream(
        LogDotTop(config=cfg), cfg, acts, weights, last, rng=rng, idle=0.3, backpressure=0.3
    )
    engine.check_equal(
        engine.dot(cfg, acts, weights, last), log["results"], context=f"{name} seed {seed}"
    )
    assert log["tlast"] == [True] * len(log["results"])


@pytest.mark.parametrize("name", ["l3_log4_w4_f5", "l1_ulog3_w3_f0"])
def test_throughput_one_beat_per_lanes_cycles(name, seed):
    """Without idles or back-pressure beat j is taken in cycle lanes - 1 + j * lanes and its
    result is valid exactly ``latency`` cycles later."""
    cfg = _cfg(name)
    rng = random.Random(seed)
    acts, weights, last = random_stream(cfg, rng, 20, 1)
    log = drive_stream(LogDotTop(config=cfg), cfg, acts, weights, last, rng=rng)
    engine.check_equal(engine.dot(cfg, acts, weights, last), log["results"])
    n, lat = cfg.lanes, engine_latency(cfg)
    assert log["in_cycles"] == [n - 1 + j * n for j in range(20)]
    assert log["out_cycles"] == [c + lat for c in log["in_cycles"]]


def test_wrong_golden_and_mutated_table_are_caught(seed, monkeypatch):
    """The comparison fails on a golden value off by one, and on a design whose correction
    table has one entry off by one."""
    cfg = _cfg("l3_log4_w4_f5")
    rng = random.Random(seed)
    acts, weights, last = random_stream(cfg, rng, 30, 2)
    want = engine.dot(cfg, acts, weights, last).tolist()
    log = drive_stream(LogDotTop(config=cfg), cfg, acts, weights, last, rng=rng)
    engine.check_equal(want, log["results"])
    with pytest.raises(AssertionError, match="1 of"):
        engine.check_equal([want[0] + 1, *want[1:]], log["results"])
    good = hdl_logacc.log_add_table

    def wrong(f):
        table = list(good(f))
        table[1] += 1
        return tuple(table)

    monkeypatch.setattr(hdl_logacc, "log_add_table", wrong)
    acts, weights, last = random_stream(cfg, rng, 60, 4)
    log = drive_stream(LogDotTop(config=cfg), cfg, acts, weights, last, rng=rng)
    with pytest.raises(AssertionError, match="results differ"):
        engine.check_equal(engine.dot(cfg, acts, weights, last), log["results"])


@pytest.mark.parametrize(("depth", "dots"), [(3, 3), (1, 1), (4, 2)])
def test_layer_simulation_matches_golden(seed, depth, dots):
    """The layer engine with log-domain PEs (F = 4): output words and tlast, with idles and
    back-pressure; the stage before the PEs holds a beat until they have read its lanes."""
    layer = small_layer(seed, depth=depth, dots=dots, accumulate="log", fsr=17)
    assert layer_latency(layer.config) == 3 + 3 + 2
    rng = random.Random(seed)
    n = 23
    g = torch.Generator().manual_seed(seed)
    acts = torch.randint(0, 16, (n, layer.config.lanes), generator=g)
    last = [rng.random() < 0.5 for _ in range(n - 1)] + [True]
    words = pack_outputs(layer.config, layer.run(acts, torch.tensor(last)))
    expected = list(zip(words, output_tlast(layer.config, len(words)), strict=True))
    got = drive_layer(
        LogLayerTop(layer=layer), acts.tolist(), last, rng=rng, idle=0.2, backpressure=0.4
    )
    assert got == expected
