"""Tests of the hardware generator (hdl/): parameters, Amaranth simulation against the golden
model, latency and throughput, handshake, reset, Verilog lint, manifest and file writing.

Fast (no cocotb): the co-simulation of the generated Verilog is in cocotb_tests/.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from logdot.generate import MANIFEST_SCHEMA, generate_verilog, manifest, write
from logdot.golden.engine import check_equal, dot, reference_dot
from logdot.golden.formats import EngineConfig
from logdot.hdl.accumulator import csd_digits
from logdot.hdl.engine import LogDotEngine, engine_latency
from logdot.hdl.lane import LogLane, lane_term_range, parities, term_shift_max
from logdot.hdl.top import PORTS, LogDotTop
from logdot.tools.lint import LINT_WAIVERS, LintError, iverilog_check, verilator_lint, waiver_flags

# Parameter tests build engines only to read their properties, never to elaborate them.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

# -- helpers ----------------------------------------------------------------------------------


def random_stream(cfg, rng, beats, max_len):
    """Random beats over the whole code space; dot products of 1..max_len beats."""
    lo, hi = cfg.act_range
    acts, weights, last = [], [], []
    left = rng.randint(1, max_len)
    for _ in range(beats):
        if cfg.act_is_log:
            acts.append([rng.randrange(1 << cfg.act_bits) for _ in range(cfg.lanes)])
        else:
            acts.append([rng.randint(lo, hi) for _ in range(cfg.lanes)])
        weights.append([rng.randrange(1 << cfg.weight_bits) for _ in range(cfg.lanes)])
        left -= 1
        last.append(left == 0)
        if left == 0:
            left = rng.randint(1, max_len)
    last[-1] = True
    return acts, weights, last


def simulate(cfg, acts, weights, last, *, rng, idle=0.0, backpressure=0.0, reset_at=None):
    """Drive LogDotTop in Amaranth's simulator; return results and a cycle log.

    The driver holds valid and data until a transfer (AXI4-Stream); idles and back-pressure
    are random with the given probabilities. The sink checks that m_axis_tdata holds while
    valid and not ready, and that valid never drops without a transfer. ``reset_at``: cycle
    at which rst is pulsed for one cycle (the stream restarts from beat 0 after it).
    """
    dut = LogDotTop(config=cfg)
    top = Module()
    top.domains.sync = cd = ClockDomain("sync")
    top.submodules.dut = dut
    n_beats = len(acts)
    log = {"results": [], "in_cycles": [], "out_cycles": [], "cycles": 0}
    expected_outputs = sum(1 for x in last if x)

    async def bench(ctx):
        i, pending, held = 0, False, None
        for cycle in range(50 * n_beats + 200):
            if reset_at is not None and cycle == reset_at:
                ctx.set(cd.rst, 1)
                ctx.set(dut.s_axis_tvalid, 0)
                await ctx.tick()
                ctx.set(cd.rst, 0)
                assert ctx.get(dut.m_axis_tvalid) == 0, "m_axis_tvalid high after reset"
                i, pending, held = 0, False, None
                log["results"].clear()
                log["in_cycles"].clear()
                log["out_cycles"].clear()
                continue
            if not pending and i < n_beats and rng.random() >= idle:
                pending = True
                ctx.set(dut.s_axis_tvalid, 1)
                ctx.set(dut.s_axis_tdata, cfg.pack_beat(acts[i], weights[i]))
                ctx.set(dut.s_axis_tlast, int(last[i]))
            elif not pending:
                ctx.set(dut.s_axis_tvalid, 0)
            ready = rng.random() >= backpressure
            ctx.set(dut.m_axis_tready, int(ready))
            if pending and ctx.get(dut.s_axis_tready):
                log["in_cycles"].append(cycle)
                i += 1
                pending = False
            valid = ctx.get(dut.m_axis_tvalid)
            if held is not None:
                assert valid, f"m_axis_tvalid dropped without a transfer at cycle {cycle}"
                assert ctx.get(dut.m_axis_tdata) == held, f"m_axis_tdata changed at {cycle}"
            held = None
            if valid:
                word = ctx.get(dut.m_axis_tdata)
                if ready:
                    log["results"].append(cfg.unpack_result(word))
                    log["out_cycles"].append(cycle)
                else:
                    held = word
            await ctx.tick()
            log["cycles"] = cycle + 1
            if i == n_beats and len(log["results"]) == expected_outputs and not pending:
                break

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return log


def cfg_of(**kw):
    return EngineConfig(**kw)


# -- parameters -------------------------------------------------------------------------------

LOG, SQRT2, UNSIGNED = dict(act_format="log"), dict(weight_base="sqrt2"), dict(act_signed=False)
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


def test_csd_digits():
    for v in range(0, 2000):
        digits = csd_digits(v)
        assert sum(d << s for s, d in digits) == v
        shifts = [s for s, _ in digits]
        assert all(b - a >= 2 for a, b in itertools.pairwise(shifts))
    with pytest.raises(ValueError, match=re.escape("value must be >= 0, not -1")):
        csd_digits(-1)


# -- the lane, exhaustively ----------------------------------------------------------------


def _spec_terms(cfg, a, w):
    """One lane's true terms per accumulator, straight from the spec (golden/formats.py)."""
    wcb = cfg.weight_code_bits
    neg, c = w >> wcb, w & ((1 << wcb) - 1)
    if cfg.act_is_log:
        acb = cfg.act_code_bits
        d = a & ((1 << acb) - 1)
        if cfg.act_signed:
            neg ^= (a >> acb) & 1
        if c == 0 or d == 0:
            return [0] * len(parities(cfg))
        mant, h = 1, (c - 1) + (1 if cfg.weight_base == 2 else 2) * (d - 1)
    else:
        if c == 0:
            return [0] * len(parities(cfg))
        mant, h = a, c - 1
    value = -mant if neg else mant
    if cfg.weight_base == 2:
        return [value * 2**h]
    terms = [0, 0]
    terms[h % 2] = value * 2 ** (h // 2)
    return terms


@pytest.mark.parametrize(
    "kw",
    [
        dict(lanes=1, act_bits=6, weight_bits=4),
        dict(lanes=1, act_bits=5, weight_bits=3, **UNSIGNED, **SQRT2),
        dict(lanes=1, act_bits=4, weight_bits=4, **SQRT2),
        dict(lanes=1, act_bits=4, weight_bits=4, **LOG),
        dict(lanes=1, act_bits=3, weight_bits=4, **LOG, **UNSIGNED, **SQRT2),
        dict(lanes=1, act_bits=4, weight_bits=2, **LOG, **SQRT2),
    ],
    ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()),
)
def test_lane_exhaustive(kw):
    """Every (activation, weight) code pair: ``term + carry`` of each accumulator equals the
    spec, ``term`` stays in ``lane_term_range``, and the golden reference agrees."""
    cfg = cfg_of(**kw)
    lane = LogLane(config=cfg)
    ps = parities(cfg)
    if cfg.act_is_log:
        acts = range(1 << cfg.act_bits)
    else:
        acts = range(cfg.act_range[0], cfg.act_range[1] + 1)
    pairs = [(a, w) for a in acts for w in range(1 << cfg.weight_bits)]
    got = []

    async def bench(ctx):
        for a, w in pairs:
            ctx.set(lane.act, a & ((1 << cfg.act_bits) - 1))
            ctx.set(lane.weight, w)
            got.append([(ctx.get(term), ctx.get(carry)) for term, carry in lane.terms])

    sim = Simulator(lane)
    sim.add_testbench(bench)
    sim.run()
    ranges = [lane_term_range(cfg, p) for p in ps]
    for (a, w), outs in zip(pairs, got, strict=True):
        spec = _spec_terms(cfg, a, w)
        assert [t + c for t, c in outs] == spec, (a, w, outs, spec)
        assert all(lo <= t <= hi for (t, _), (lo, hi) in zip(outs, ranges, strict=True))
        if cfg.weight_base == 2:
            golden = spec[0]
        else:
            golden = (spec[0] << cfg.frac_bits) + cfg.sqrt2_r * spec[1]
        assert reference_dot(cfg, [[a]], [[w]]) == [golden]
    # The folded range is tight: both ends occur (linear, signed: one bit under term_range).
    for i, (lo, hi) in enumerate(ranges):
        if term_shift_max(cfg, ps[i]) is not None and not cfg.act_is_log:
            assert {lo, hi} <= {out[i][0] for out in got}


# -- simulation against the golden model --------------------------------------------------------

SIM_CONFIGS = [
    dict(lanes=1, act_bits=4, weight_bits=2),
    dict(lanes=3, act_bits=8, weight_bits=4),
    dict(lanes=5, act_bits=6, weight_bits=3, act_signed=False, register_every=1),
    dict(lanes=16, act_bits=8, weight_bits=4, register_every=2),
    dict(lanes=4, act_bits=5, weight_bits=4, act_format="log"),
    dict(lanes=3, act_bits=4, weight_bits=3, **LOG, **UNSIGNED, register_terms=False),
    dict(lanes=3, act_bits=8, weight_bits=4, weight_base="sqrt2"),
    dict(lanes=5, act_bits=4, weight_bits=4, **SQRT2, **LOG, register_every=1),
    dict(lanes=2, act_bits=4, weight_bits=2, weight_base="sqrt2", frac_bits=0),
    dict(lanes=7, act_bits=8, weight_bits=4, acc_bits=12),
    dict(lanes=6, act_bits=8, weight_bits=4, acc_bits=14, weight_base="sqrt2", register_every=2),
    dict(lanes=4, act_bits=3, weight_bits=3, max_beats=2),
]


@pytest.mark.parametrize(
    "kw", SIM_CONFIGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items())
)
def test_simulation_matches_golden_with_idles_and_backpressure(kw, seed):
    cfg = cfg_of(**kw)
    rng = random.Random(seed)
    acts, weights, last = random_stream(cfg, rng, beats=80, max_len=4)
    expected = dot(cfg, acts, weights, last).tolist()
    assert expected == reference_dot(cfg, acts, weights, last)
    log = simulate(cfg, acts, weights, last, rng=rng, idle=0.3, backpressure=0.4)
    check_equal(expected, log["results"], context=f"{cfg} seed={seed}")
    # A wrong golden value is caught.
    wrong = list(expected)
    wrong[len(wrong) // 2] += 1
    with pytest.raises(AssertionError):
        check_equal(wrong, log["results"])


def test_corner_values_and_saturation(seed):
    """Most negative activations with the largest weights, both signs; narrow saturating
    accumulator hit at both rails; all-zero codes; long dot products."""
    cfg = cfg_of(lanes=4, act_bits=8, weight_bits=4, acc_bits=16)
    big_pos, big_neg = 0b0111, 0b1111  # code 7 = 2**6, sign 0 / 1
    acts = [[-128] * 4] * 6 + [[127] * 4] * 6 + [[0] * 4] * 2 + [[-128, 127, -1, 1]] * 3
    weights = [[big_pos] * 4] * 6 + [[big_pos] * 4] * 6 + [[0b1000] * 4] * 2 + [[big_neg] * 4] * 3
    last = [False] * 5 + [True] + [False] * 5 + [True] + [True, True] + [False, False, True]
    expected = dot(cfg, acts, weights, last).tolist()
    lo, hi = cfg.acc_range
    assert expected[0] == lo and expected[1] == hi and expected[2:4] == [0, 0]
    log = simulate(cfg, acts, weights, last, rng=random.Random(seed), backpressure=0.5)
    check_equal(expected, log["results"])


@pytest.mark.parametrize(("max_beats", "register_every"), [(1, 0), (4, 0), (4, 1), (4, 2)])
def test_wrap_beyond_max_beats(seed, max_beats, register_every):
    """Wrap modulo 2**acc_bits; pipelined with max_beats=4 the accumulator is split (low part,
    high part, pending carry), so both halves, the pending carry and the wrap are hit."""
    cfg = cfg_of(lanes=2, act_bits=8, weight_bits=4, max_beats=max_beats)
    cfg = cfg_of(**{**cfg.to_dict()["parameters"], "register_every": register_every})
    assert not cfg.saturating
    n = 9
    acts = [[-128, -128]] * n + [[127, -128]] * n + [[-128, 127]] * 3
    weights = [[0b0111, 0b0111]] * n + [[0b0111, 0b1111]] * n + [[0b1111, 0b1111]] * 3
    last = ([False] * (n - 1) + [True]) * 2 + [False, False, True]
    expected = dot(cfg, acts, weights, last).tolist()
    assert expected[0] != n * 2 * -128 * 64 and expected[1] != n * 255 * 64  # it really wraps
    log = simulate(cfg, acts, weights, last, rng=random.Random(seed), backpressure=0.3)
    check_equal(expected, log["results"])
    il = rtlil.convert(LogDotTop(config=cfg))
    assert ("acc0_cp" in il) == (register_every > 0 and max_beats == 4)


@pytest.mark.parametrize(
    "kw",
    [
        dict(lanes=16, act_bits=8, weight_bits=4),
        dict(lanes=3, act_bits=8, weight_bits=4, register_every=1, weight_base="sqrt2"),
        dict(lanes=2, act_bits=4, weight_bits=3, register_terms=False),
    ],
)
def test_latency_and_throughput_match_simulation(kw, seed):
    cfg = cfg_of(**kw)
    latency = LogDotEngine(**kw).latency
    rng = random.Random(seed)
    # One single-beat dot product: its result is valid `latency` cycles after the transfer.
    acts, weights, last = random_stream(cfg, rng, beats=1, max_len=1)
    log = simulate(cfg, acts, weights, last, rng=rng)
    assert log["in_cycles"] == [0]
    assert log["out_cycles"] == [latency]
    # A burst of K single-beat dot products: K + latency cycles, one beat per cycle (II = 1).
    k = 40
    acts, weights, last = random_stream(cfg, rng, beats=k, max_len=1)
    log = simulate(cfg, acts, weights, last, rng=rng)
    assert log["in_cycles"] == list(range(k))
    assert log["out_cycles"] == [latency + j for j in range(k)]
    assert log["cycles"] == k + latency
    check_equal(dot(cfg, acts, weights, last).tolist(), log["results"])


def test_reset_mid_stream_recovers(seed):
    cfg = cfg_of(lanes=3, act_bits=6, weight_bits=4, weight_base="sqrt2")
    rng = random.Random(seed)
    acts, weights, last = random_stream(cfg, rng, beats=40, max_len=5)
    log = simulate(cfg, acts, weights, last, rng=rng, idle=0.2, backpressure=0.5, reset_at=17)
    check_equal(dot(cfg, acts, weights, last).tolist(), log["results"])


def test_ready_is_registered():
    """s_axis_tready does not depend combinationally on m_axis_tready."""
    cfg = cfg_of(lanes=2, act_bits=4, weight_bits=3)
    dut = LogDotTop(config=cfg)
    seen = []

    async def bench(ctx):
        ctx.set(dut.s_axis_tvalid, 1)
        ctx.set(dut.s_axis_tlast, 1)
        ctx.set(dut.s_axis_tdata, cfg.pack_beat([1, 1], [1, 1]))
        for _ in range(8):
            ctx.set(dut.m_axis_tready, 0)
            a = ctx.get(dut.s_axis_tready)
            ctx.set(dut.m_axis_tready, 1)
            b = ctx.get(dut.s_axis_tready)
            ctx.set(dut.m_axis_tready, 0)
            seen.append((a, b))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert all(a == b for a, b in seen)
    assert (0, 0) in seen  # back-pressure does stop the input after the skid fills


# -- Verilog ---------------------------------------------------------------------------------------

LINT_CONFIGS = [
    dict(lanes=1, act_bits=8, weight_bits=4),
    dict(lanes=3, act_bits=8, weight_bits=4, weight_base="sqrt2", acc_bits=12),
    dict(lanes=3, act_bits=4, weight_bits=3, act_format="log", register_every=1),
    dict(lanes=16, act_bits=8, weight_bits=4),
    dict(lanes=16, act_bits=5, weight_bits=4, **LOG, **UNSIGNED, **SQRT2, register_every=2),
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("verilog")
    paths = []
    for i, kw in enumerate(LINT_CONFIGS):
        vpath, _ = write(cfg_of(**kw), out, name=f"engine{i}")
        paths.append(vpath)
    return paths


@pytest.mark.parametrize("index", range(len(LINT_CONFIGS)))
def test_verilog_lints_clean(generated, index):
    verilator_lint(generated[index])
    iverilog_check(generated[index])


def test_lint_catches_warnings(tmp_path):
    """The lint helpers can fail: an unused input and a width mismatch outside the waivers."""
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input a, output y);\n  reg r;\n  assign y = r;\nendmodule\n")
    with pytest.raises(LintError, match="bad"):
        verilator_lint(bad)
    bad.write_text("module bad(input a, output y);\n  assign y = b;\nendmodule\n")
    with pytest.raises(LintError):
        iverilog_check(bad)
    assert set(LINT_WAIVERS) == {"WIDTH", "UNUSEDSIGNAL", "DECLFILENAME", "PROCASSINIT"}
    assert waiver_flags() == [f"-Wno-{w}" for w in LINT_WAIVERS]
    assert all(len(reason) > 40 for reason in LINT_WAIVERS.values())


def _strip_comments_and_attributes(text):
    text = text.replace("always @*", "always")
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"\(\*.*?\*\)", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _has_multiplication(verilog_text):
    return "*" in _strip_comments_and_attributes(verilog_text)


@pytest.mark.parametrize("index", range(len(LINT_CONFIGS)))
def test_no_multiplier(generated, index):
    with open(generated[index]) as f:
        assert not _has_multiplication(f.read())


def test_multiplier_check_can_fail():
    """The same check finds the ``*`` of a design that multiplies."""
    from amaranth.back import verilog
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Mul(wiring.Component):
        def __init__(self):
            super().__init__({"a": In(8), "b": In(8), "y": Out(16)})

        def elaborate(self, platform):
            m = Module()
            m.d.comb += self.y.eq(self.a * self.b)
            return m

    assert _has_multiplication(verilog.convert(Mul(), emit_src=False))
    il = rtlil.convert(LogDotTop(config=cfg_of(lanes=3, act_bits=6, weight_bits=4, **SQRT2)))
    assert "$mul" not in il and "$add" in il


def test_top_module_ports_in_contract_order(generated):
    cfg = cfg_of(**LINT_CONFIGS[3])
    with open(generated[3]) as f:
        text = f.read()
    assert f"module engine3({', '.join(PORTS)});" in text
    top = text.split("module engine3(", 1)[1].split("endmodule", 1)[0]
    decl = re.compile(r"^\s*(input|output)\s*(?:\[(\d+):0\])?\s*(\w+);", re.M)
    found = {m[2]: (m[0], int(m[1]) + 1 if m[1] else 1) for m in decl.findall(top)}
    assert found == {
        "clk": ("input", 1),
        "rst": ("input", 1),
        "s_axis_tvalid": ("input", 1),
        "s_axis_tready": ("output", 1),
        "s_axis_tlast": ("input", 1),
        "s_axis_tdata": ("input", 8 * cfg.in_bytes),
        "m_axis_tvalid": ("output", 1),
        "m_axis_tready": ("input", 1),
        "m_axis_tdata": ("output", 8 * cfg.out_bytes),
    }  # fmt: skip
    # rst is synchronous: every always block is clocked by posedge clk alone.
    assert "posedge rst" not in text and "negedge" not in text
    assert "always @(posedge clk)" in text


def test_generate_verilog_is_deterministic_and_named():
    cfg = cfg_of(lanes=2, act_bits=4, weight_bits=3)
    a = generate_verilog(cfg, name="my_engine")
    assert a == generate_verilog(cfg, name="my_engine")
    assert "module my_engine(clk, rst," in a
    assert "/work/" not in a  # no source paths


# -- manifest and files ------------------------------------------------------------------------


def test_manifest_contents():
    cfg = cfg_of(lanes=3, act_bits=6, weight_bits=4, weight_base="sqrt2", frac_bits=5, acc_bits=14)
    m = manifest(cfg, name="eng")
    json.dumps(m)  # serializable
    assert m["schema"] == MANIFEST_SCHEMA and m["name"] == "eng"
    assert EngineConfig(**m["parameters"]) == cfg
    assert m["derived"] == cfg.to_dict()["derived"]
    assert m["latency"] == LogDotEngine.from_config(cfg).latency == 3
    assert (m["in_bytes"], m["out_bytes"]) == (cfg.in_bytes, cfg.out_bytes)
    assert [p["name"] for p in m["ports"]] == list(PORTS)
    s = m["s_axis"]
    assert s["tdata_bits"] == 8 * cfg.in_bytes and s["used_bits"] == 3 * (6 + 4)
    assert [(a["lsb"], a["width"]) for a in s["activations"]] == [(0, 6), (6, 6), (12, 6)]
    assert [(w["lsb"], w["width"], w["sign_bit"]) for w in s["weights"]] == [
        (18, 4, 21),
        (22, 4, 25),
        (26, 4, 29),
    ]
    assert s["padding"] == {"lsb": 30, "width": 2}
    assert m["m_axis"]["result_bits"] == cfg.result_bits
    assert m["result"]["frac_bits"] == 5
    assert m["reset"] == {"name": "rst", "synchronous": True, "active": "high"}
    assert set(m["tools"]) == {"logdot", "amaranth", "python"}


def test_write_creates_both_files_and_refuses_to_overwrite(tmp_path):
    cfg = cfg_of(lanes=2, act_bits=4, weight_bits=3)
    out = tmp_path / "sub" / "dir"
    vpath, jpath = write(cfg, out, name="eng")
    assert (vpath, jpath) == (str(out / "eng.v"), str(out / "eng.json"))
    assert sorted(os.listdir(out)) == ["eng.json", "eng.v"]
    with open(jpath) as f:
        assert json.load(f) == json.loads(json.dumps(manifest(cfg, name="eng")))
    before = (out / "eng.v").read_text()
    (out / "eng.json").write_text("old")
    with pytest.raises(FileExistsError, match=re.escape(f"{vpath} exists; use force=True")):
        write(cfg_of(lanes=3, act_bits=4, weight_bits=3), out, name="eng")
    assert (out / "eng.v").read_text() == before and (out / "eng.json").read_text() == "old"
    write(cfg, out, name="eng", force=True)
    assert (out / "eng.json").read_text() != "old"
    assert sorted(os.listdir(out)) == ["eng.json", "eng.v"]  # no temp files left


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "module", "wire", "a b", "x" * 65, "a$b"])
def test_bad_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match=re.escape(f"not {name!r}")):
        write(cfg_of(lanes=1, act_bits=4, weight_bits=2), tmp_path, name=name)
    assert os.listdir(tmp_path) == []


def test_write_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="config must be an EngineConfig"):
        write({"lanes": 1}, tmp_path)
    with pytest.raises(TypeError, match=re.escape("name must be a string, not 3")):
        write(cfg_of(lanes=1, act_bits=4, weight_bits=2), tmp_path, name=3)
    assert os.listdir(tmp_path) == []
