"""Parameter-space fuzzing of the generator (hypothesis).

A cross-cutting suite (configuration, generator, lint, simulation, CLI at once), so it stays
at the top of tests/.

* Random VALID configurations: the Verilog is generated, passes ``verilator --lint-only
  -Wall`` with only the documented waivers (:data:`logdot.tools.lint.LINT_WAIVERS`) and ``iverilog
  -g2012 -Wall``, and a brief co-simulation in Amaranth's simulator (random codes, random
  idles and back-pressure, multi-beat dot products) equals :func:`logdot.golden.engine.dot`.
* Random INVALID configurations: a clear ``ValueError``/``TypeError`` naming the parameter
  (raised by logdot's own validation, never from inside Amaranth), the CLI exits with code
  2 and one line naming the flag, and no file is written.
* The fuzz run can fail: the same property with a mutated lane (:mod:`tests.support.mutants`)
  must be falsified.

``make test`` runs a few examples per property; ``make test-full`` (``-m full``) many more.
Seeds: hypothesis is seeded from ``LOGDOT_SEED`` (printed in the pytest header), no example
database is used, so a run replays exactly; a failure prints the falsifying configuration.
"""

from __future__ import annotations

import functools
import random
import re
import traceback

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import seed as hyp_seed
from hypothesis import strategies as st

from logdot.cli import main as cli_main
from logdot.generators.engine import write
from logdot.golden.engine import dot
from logdot.golden.formats import LIMITS, EngineConfig
from logdot.hdl.engine import LogDotEngine
from logdot.hdl.top import LogDotTop
from logdot.tools.lint import iverilog_check, verilator_lint
from tests.support.mutants import mutant_top
from tests.support.seeds import SEED, quick_settings
from tests.support.stream import drive_stream, random_stream

QUICK = quick_settings(5, HealthCheck.filter_too_much)
FULL = dict(QUICK, max_examples=60)
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

# -- strategies ---------------------------------------------------------------------------


@st.composite
def valid_params(draw, *, max_lanes=12, max_act=16, max_weight=6):
    """Keyword arguments of a valid EngineConfig (small enough to simulate briefly)."""
    fmt = draw(st.sampled_from(["linear", "log"]))
    p = {
        "lanes": draw(st.integers(1, max_lanes)),
        "act_format": fmt,
        "act_signed": draw(st.booleans()),
        "act_bits": draw(st.integers(2, max_act if fmt == "linear" else 6)),
        "weight_bits": draw(st.integers(2, max_weight)),
        "weight_base": draw(st.sampled_from([2, "sqrt2"])),
        "max_beats": draw(st.sampled_from([1, 2, 3, 5, 16, 64, 1024])),
        "register_terms": draw(st.booleans()),
        "register_every": draw(st.integers(0, 3)),
    }
    if p["weight_base"] == "sqrt2":
        p["frac_bits"] = draw(st.integers(0, 12))
    try:
        exact = EngineConfig(**p).exact_acc_bits()
    except ValueError:
        assume(False)
    if draw(st.booleans()) and exact > 3:
        p["acc_bits"] = draw(st.integers(max(2, exact // 3), exact - 1))
    try:
        EngineConfig(**p)
    except ValueError:
        assume(False)
    return p


def cosim_matches_golden(cfg, make_top, seed, beats=24):
    """Brief co-simulation of ``make_top(config=cfg)`` against the golden model."""
    rng = random.Random(seed)
    max_len = max(1, min(4, cfg.max_beats))
    acts, weights, last = random_stream(cfg, rng, beats, max_len, corners=True)
    expected = dot(cfg, acts, weights, last).tolist()
    log = drive_stream(
        make_top(config=cfg), cfg, acts, weights, last, rng=rng, idle=0.3, backpressure=0.4
    )
    got = log["results"]
    assert got == expected, f"{cfg}: DUT {got} != golden {expected}"


def _check_valid(params, tmp_path, index):
    cfg = EngineConfig(**params)
    out = tmp_path / f"cfg{index}"
    vpath, _ = write(cfg, out, force=True)
    verilator_lint(vpath)
    iverilog_check(vpath)
    cosim_matches_golden(cfg, LogDotTop, SEED + index)


_counter = iter(range(1 << 30))


@hyp_seed(SEED)
@settings(**QUICK)
@given(params=valid_params())
def test_valid_configs_lint_and_match_golden(params, tmp_path_factory):
    _check_valid(params, tmp_path_factory.mktemp("fuzz"), next(_counter))


@pytest.mark.full
@hyp_seed(SEED + 1)
@settings(**FULL)
@given(params=valid_params(max_lanes=40, max_act=32, max_weight=8))
def test_valid_configs_lint_and_match_golden_full(params, tmp_path_factory):
    _check_valid(params, tmp_path_factory.mktemp("fuzz"), next(_counter))


@pytest.mark.parametrize("kind", ["sign", "shift"])
def test_fuzz_catches_mutant(kind):
    """The same fuzz property, run on a mutated lane, is falsified."""

    @hyp_seed(SEED)
    @settings(**dict(QUICK, phases=[Phase.generate], max_examples=5))
    @given(params=valid_params(max_lanes=4))
    def prop(params):
        cfg = EngineConfig(**params)
        cosim_matches_golden(cfg, mutant_top(kind, lane=params["lanes"] - 1), SEED)

    with pytest.raises(AssertionError, match="!= golden"):
        prop()


# -- invalid configurations -------------------------------------------------------------------

_OK = dict(lanes=3, act_bits=8, weight_bits=4)

#: (parameter, CLI flag or None, strategy of bad values, exception type)
_BAD = [
    ("lanes", "--lanes", st.integers(-5, 0) | st.integers(LIMITS["lanes"][1] + 1, 10**9),
     ValueError),
    ("lanes", None, st.sampled_from([True, 2.5, "3", None]), TypeError),
    ("act_bits", "--act-bits", st.integers(-3, 1) | st.integers(33, 10**6), ValueError),
    ("act_bits", None, st.sampled_from([8.0, "8", False]), TypeError),
    ("weight_bits", "--weight-bits", st.integers(-3, 1) | st.integers(9, 10**6), ValueError),
    ("weight_bits", None, st.sampled_from([4.0, b"4", None]), TypeError),
    ("act_format", "--act-format", st.sampled_from(["lin", "LOG", "float", ""]), ValueError),
    ("act_signed", None, st.sampled_from([0, 1, "yes", None]), TypeError),
    ("weight_base", "--weight-base", st.sampled_from([3, 4, "e", "sqrt3", -2]), ValueError),
    ("frac_bits", "--frac-bits", st.integers(1, 100), ValueError),  # with base 2
    ("max_beats", "--max-beats", st.integers(-10, 0) | st.integers((1 << 24) + 1, 10**12),
     ValueError),
    ("acc_bits", "--acc-bits", st.integers(-10, 1) | st.integers(65, 10**6), ValueError),
    ("register_every", "--register-every", st.integers(-10, -1) | st.integers(17, 10**6),
     ValueError),
    ("register_terms", None, st.sampled_from([0, 1, "no", None]), TypeError),
]  # fmt: skip


def _assert_not_from_amaranth(exc):
    frames = traceback.extract_tb(exc.__traceback__)
    deep = [f.filename for f in frames if "/amaranth/" in f.filename]
    assert not deep, f"error raised from inside Amaranth: {deep[-1]}"


@pytest.mark.parametrize(("param", "flag", "values", "exc"), _BAD, ids=[b[0] for b in _BAD])
@hyp_seed(SEED)
@settings(**dict(QUICK, max_examples=8))
@given(data=st.data())
def test_invalid_configs_raise_naming_the_parameter(
    param, flag, values, exc, data, tmp_path_factory
):
    bad = data.draw(values, label=param)
    kw = dict(_OK, **{param: bad})
    with pytest.raises(exc) as info:
        LogDotEngine(**kw)
    msg = str(info.value)
    assert msg.startswith(param + " ") or f"{param} must" in msg, msg
    assert repr(bad) in msg or str(bad) in msg, msg
    _assert_not_from_amaranth(info.value)
    with pytest.raises(exc):
        EngineConfig(**kw)
    # The CLI: exit 2, one line naming the flag, nothing written.
    if flag is None:
        return
    out = tmp_path_factory.mktemp("bad") / f"out_{param}"
    argv = ["generate", "--lanes", "3", "--act-bits", "8", "--weight-bits", "4"]
    if flag in argv:
        argv[argv.index(flag) + 1] = str(bad)
    else:
        argv += [flag, str(bad)]
    argv += ["--out", str(out)]
    code, err = _run_cli(argv)
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith(f"logdot: error: {flag} "), err
    assert not _PYTHON_NAMES.search(err), err
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())


#: An EngineConfig parameter name with an underscore in a CLI message (a leaked Python name).
_PYTHON_NAMES = re.compile(
    r"(?<![\w-])(" + "|".join(n for n in EngineConfig.parameter_names() if "_" in n) + r")(?!\w)"
)


@st.composite
def cli_engine_values(draw):
    """Engine flag values around and beyond every limit (and their combinations)."""
    return dict(
        lanes=draw(st.sampled_from([0, 1, 2, 3, 64, 1024, 1025])),
        act_bits=draw(st.integers(1, 34)),
        weight_bits=draw(st.integers(1, 9)),
        act_format=draw(st.sampled_from(["linear", "log"])),
        act_signed=draw(st.booleans()),
        weight_base=draw(st.sampled_from(["2", "sqrt2"])),
        frac_bits=draw(st.none() | st.integers(-1, 26)),
        acc_bits=draw(st.none() | st.integers(1, 66)),
        max_beats=draw(st.sampled_from([0, 1, 7, 1024, 1 << 24, (1 << 24) + 1])),
        register_every=draw(st.integers(-1, 17)),
    )


@functools.cache
def _generate_parser():
    """The parser ``logdot generate ...`` gets from :func:`logdot.cli.build_parser` (the same
    for every ``generate`` command line), built once for the 300 examples."""
    from logdot.cli import build_parser

    return build_parser(["generate"])


@hyp_seed(SEED)
@settings(**dict(QUICK, max_examples=300))
@given(values=cli_engine_values())
def test_cli_accepts_exactly_the_valid_engines(values):
    """The CLI builds the same EngineConfig as the Python API, and refuses one only with a
    one-line message in flags (no parameter names); the one configuration the API accepts and
    the CLI refuses is base sqrt2 with too few fraction bits (sqrt(2) would round to 1)."""
    from logdot.options import SQRT2_MIN_FRAC_BITS, CliError, engine_config_from_args

    argv = ["generate", "--out", "unused"]
    for param, value in values.items():
        flag = "--" + param.replace("_", "-")
        if param == "act_signed":
            argv += [] if value else ["--act-unsigned"]
        elif value is not None:
            argv += [flag, str(value)]
    args = _generate_parser().parse_args(argv)
    try:
        expected = EngineConfig(**values)
    except ValueError:
        expected = None
    try:
        got = engine_config_from_args(args)
    except CliError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(("--", "this configuration")), message
        assert not _PYTHON_NAMES.search(message), message
        if expected is not None:  # refused by the CLI only
            assert values["weight_base"] == "sqrt2", (values, message)
            assert values["frac_bits"] is not None and values["frac_bits"] < SQRT2_MIN_FRAC_BITS
        return
    assert got == expected


def _run_cli(argv):
    import contextlib
    import io

    buf_err, buf_out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(buf_err), contextlib.redirect_stdout(buf_out):
        code = cli_main(argv)
    return code, buf_err.getvalue()


@hyp_seed(SEED)
@settings(**dict(QUICK, max_examples=10))
@given(params=valid_params(), name=st.text(min_size=0, max_size=12))
def test_invalid_names_write_nothing(params, name, tmp_path_factory):
    """A bad top-module name is refused before anything is written."""
    assume(not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name))
    out = tmp_path_factory.mktemp("names") / "out"
    with pytest.raises(ValueError, match=re.escape("name must be a Verilog identifier")):
        write(EngineConfig(**params), out, name=name)
    assert not out.exists()
