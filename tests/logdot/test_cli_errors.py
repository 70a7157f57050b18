"""Every error path of the ``logdot`` CLI: one line ``logdot: error: ...``, exit code 2, and
no file written; outputs are atomic (temp file + rename), so an exception or an interrupt in
the middle of a write leaves neither a partial file nor a temp file behind.

Over 600 lines on purpose: every error path of the shared CLI flags in one reviewed file.
"""

from __future__ import annotations

import os
import re

import pytest
import torch

import logdot.generators.common
import logdot.generators.engine
from logdot.golden.formats import EngineConfig
from tests.support.cli import IDENT, assert_cli_error, assert_one_line_error, error_cases, files_in
from tests.support.cli import run_cli as run
from tests.support.layers import random_conv_spec

ENGINE = ["--lanes", "3", "--act-bits", "8", "--weight-bits", "4"]
SMALL = ["--lanes", "2", "--act-bits", "4", "--weight-bits", "3"]


# -- logdot generate ----------------------------------------------------------------------------

#: Flags added after ``generate ENGINE --out DIR`` (later flags override) -> the exact error
#: line after ``logdot: error: ``. Every message names the flag as typed and what it expects.
GENERATE_ERRORS = [
    (["--lanes", "abc"], "--lanes must be an integer, not 'abc'"),
    (["--lanes", "0"], "--lanes must be an integer in [1, 1024], not 0"),
    (["--lanes", "100000000"], "--lanes must be an integer in [1, 1024], not 100000000"),
    (["--lanes"], "--lanes needs a value (see 'logdot generate --help')"),
    (["--act-bits", "99"], "--act-bits must be an integer in [2, 32], not 99"),
    (["--act-bits", "1"], "--act-bits must be an integer in [2, 32], not 1"),
    # No 8-bit log activation fits the 64-bit accumulator (the help says 2..7).
    (["--act-format", "log", "--act-bits", "8"],
     "--act-bits must be an integer in [2, 7] with --act-format log, not 8"),
    (["--act-format", "log", "--act-bits", "9"],
     "--act-bits must be an integer in [2, 7] with --act-format log, not 9"),
    (["--act-format", "log", "--act-bits", "7", "--act-unsigned"],
     "--act-bits must be at most 6 with --act-format log --act-unsigned --weight-base 2, not 7: "
     "a wider one needs more than the 64-bit accumulator even with --lanes 1 --max-beats 1"),
    (["--act-format", "log", "--act-bits", "7"],
     "this configuration needs a 81-bit accumulator for --max-beats 1024, beyond logdot's "
     "limit of 64 bits (the golden model computes in int64); reduce --weight-bits, --act-bits, "
     "--lanes or --max-beats"),
    (["--weight-bits", "1"], "--weight-bits must be an integer in [2, 7], not 1"),
    (["--weight-bits", "8"], "--weight-bits must be an integer in [2, 7], not 8"),
    (["--weight-bits", "7"],
     "--weight-bits must be at most 6 with --act-format linear --weight-base 2, not 7: a wider "
     "one needs more than the 64-bit accumulator even with --lanes 1 --max-beats 1"),
    (["--weight-bits", "x"], "--weight-bits must be an integer, not 'x'"),
    (["--act-format", "float"], "--act-format must be one of linear, log, not 'float'"),
    (["--weight-base", "3"], "--weight-base must be one of 2, sqrt2, not '3'"),
    (["--frac-bits", "4"],
     "--frac-bits must be 0 with --weight-base 2 (fraction bits exist only in base sqrt2), not 4"),
    (["--weight-base", "sqrt2", "--frac-bits", "0"],
     "--frac-bits must be an integer in [1, 24] with --weight-base sqrt2, not 0: with 0 the "
     "constant round(sqrt(2) * 2**0) = 1 makes sqrt(2) a power of two"),
    (["--weight-base", "sqrt2", "--frac-bits", "25"],
     "--frac-bits must be an integer in [1, 24] with --weight-base sqrt2, not 25"),
    (["--acc-bits", "1"], "--acc-bits must be an integer in [2, 64], not 1"),
    (["--acc-bits", "65"], "--acc-bits must be an integer in [2, 64], not 65"),
    (["--acc-bits", "60"],
     "--acc-bits must be at most the exact width 26 for --max-beats 1024, not 60; raise "
     "--max-beats instead"),
    (["--max-beats", "0"], "--max-beats must be an integer in [1, 16777216], not 0"),
    (["--lanes", "1024", "--act-bits", "32", "--weight-bits", "6"],
     "this configuration needs a 83-bit accumulator for --max-beats 1024, beyond logdot's "
     "limit of 64 bits (the golden model computes in int64); reduce --weight-bits, --act-bits, "
     "--lanes or --max-beats"),
    (["--weight-base", "sqrt2", "--frac-bits", "24", "--act-bits", "32", "--weight-bits", "5",
      "--lanes", "1", "--max-beats", "1"],
     "this configuration produces 66-bit results, beyond logdot's limit of 64 bits; reduce "
     "--frac-bits or --acc-bits"),
    (["--register-every", "-1"], "--register-every must be an integer in [0, 16], not -1"),
    (["--pipeline", "17"], "--pipeline must be an integer in [0, 16], not 17"),  # as typed
    (["--register-every", "x"], "--register-every must be an integer, not 'x'"),
    (["--name", "module"], f"--name must be a Verilog identifier {IDENT}, not 'module'"),
    (["--name", "9lives"], f"--name must be a Verilog identifier {IDENT}, not '9lives'"),
    (["--bogus"], "unrecognized argument --bogus (see 'logdot generate --help')"),
    (["--lanse", "16"], "unrecognized argument --lanse (did you mean --lanes?)"),
    (["--outt", "x"], "unrecognized argument --outt (did you mean --out?)"),
    (["--wieght-bits", "3", "--bogus"],
     "unrecognized arguments --wieght-bits (did you mean --weight-bits?), --bogus"),
    # The same contract on a smaller engine (2 lanes, 4-bit activations, 3-bit weights).
    ([*SMALL, "--lanes", "0"], "--lanes must be an integer in [1, 1024], not 0"),
    ([*SMALL, "--lanes", "x"], "--lanes must be an integer, not 'x'"),
    ([*SMALL, "--lanes", "100000000"], "--lanes must be an integer in [1, 1024], not 100000000"),
    ([*SMALL, "--act-bits", "40"], "--act-bits must be an integer in [2, 32], not 40"),
    ([*SMALL, "--act-format", "log", "--act-bits", "9"],
     "--act-bits must be an integer in [2, 7] with --act-format log, not 9"),
    ([*SMALL, "--weight-bits", "9"], "--weight-bits must be an integer in [2, 7], not 9"),
    ([*SMALL, "--act-format", "float"], "--act-format must be one of linear, log, not 'float'"),
    ([*SMALL, "--weight-base", "3"], "--weight-base must be one of 2, sqrt2, not '3'"),
    ([*SMALL, "--frac-bits", "3"],
     "--frac-bits must be 0 with --weight-base 2 (fraction bits exist only in base sqrt2), not 3"),
    ([*SMALL, "--weight-base", "sqrt2", "--frac-bits", "99"],
     "--frac-bits must be an integer in [1, 24] with --weight-base sqrt2, not 99"),
    ([*SMALL, "--acc-bits", "1"], "--acc-bits must be an integer in [2, 64], not 1"),
    ([*SMALL, "--acc-bits", "40"],
     "--acc-bits must be at most the exact width 18 for --max-beats 1024, not 40; raise "
     "--max-beats instead"),
    ([*SMALL, "--max-beats", "0"], "--max-beats must be an integer in [1, 16777216], not 0"),
    ([*SMALL, "--register-every", "17"],
     "--register-every must be an integer in [0, 16], not 17"),
    ([*SMALL, "--name", "1bad"], f"--name must be a Verilog identifier {IDENT}, not '1bad'"),
    ([*SMALL, "--name", "module"], f"--name must be a Verilog identifier {IDENT}, not 'module'"),
    ([*SMALL, "--bogus"], "unrecognized argument --bogus (see 'logdot generate --help')"),
    ([*SMALL, "--lanes", "1024", "--act-bits", "32", "--weight-bits", "6"],
     "this configuration needs a 83-bit accumulator for --max-beats 1024, beyond logdot's "
     "limit of 64 bits (the golden model computes in int64); reduce --weight-bits, --act-bits, "
     "--lanes or --max-beats"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "line"), error_cases(GENERATE_ERRORS))
def test_generate_errors(tmp_path, extra, line):
    out = tmp_path / "out"
    assert_cli_error(["generate", *ENGINE, "--out", str(out), *extra], out, line)


def test_unknown_flag_is_reported_before_missing_required_ones(tmp_path):
    """``--lanse 16`` is a typo of ``--lanes``: say so, not that ``--lanes`` is missing."""
    argv = ["generate", "--lanse", "16", "--act-bits", "4", "--weight-bits", "3"]
    code, _, err = run([*argv, "--out", str(tmp_path / "o")])
    assert (code, err) == (
        2,
        "logdot: error: unrecognized argument --lanse (did you mean --lanes?)\n",
    )
    code, _, err = run(["generate", "--lanes", "2", "--pse", "1"])
    assert (code, err) == (
        2,
        "logdot: error: unrecognized argument --pse (see 'logdot generate --help')\n",
    )
    code, _, err = run(["generat", "--lanes", "2"])
    assert err == (
        "logdot: error: unknown command 'generat' (did you mean generate?) (commands: generate, "
        "synth, generate-layer, compile, fusesoc-gen, board)\n"
    )
    assert files_in(tmp_path) == []


def _help(command):
    code, out, _ = run([command, "--help"])
    assert code == 0
    return " ".join(out.split())


def _accepted(**kw):
    try:
        EngineConfig(**kw)
    except ValueError:
        return False
    return True


def _ever_accepted(param, act_format, value):
    """Does any configuration (any other width, signedness, base, fraction bits >= 1) accept
    ``param=value``? Brute force over the most permissive geometry (1 lane, 1 beat)."""
    other = "weight_bits" if param == "act_bits" else "act_bits"
    for signed in (True, False):
        for base, frac in ((2, None), *(("sqrt2", f) for f in range(1, 25))):
            for o in range(2, 9):
                kw = dict(lanes=1, max_beats=1, act_format=act_format, act_signed=signed,
                          weight_base=base, frac_bits=frac, **{param: value, other: o})  # fmt: skip
                if _accepted(**kw):
                    return True
    return False


def test_help_states_the_real_width_ranges():
    """The widths ``--help`` lists are exactly those some configuration accepts (log
    activations: 2..7, as every 8-bit log configuration needs more than 64 bits)."""
    text = _help("generate")
    m = re.search(
        r"--act-bits A activation width .*?\(linear (\d+)\.\.(\d+), log (\d+)\.\.(\d+);", text
    )
    assert m, text
    lin_lo, lin_hi, log_lo, log_hi = map(int, m.groups())
    w = re.search(
        r"--weight-bits W weight width: sign bit \+ W-1 bit log code \((\d+)\.\.(\d+);", text
    )
    assert w, text
    w_lo, w_hi = map(int, w.groups())
    for param, fmt, lo, hi in (
        ("act_bits", "linear", lin_lo, lin_hi),
        ("act_bits", "log", log_lo, log_hi),
        ("weight_bits", "linear", w_lo, w_hi),
    ):
        assert _ever_accepted(param, fmt, lo) and _ever_accepted(param, fmt, hi), (param, fmt)
        assert not _ever_accepted(param, fmt, lo - 1) and not _ever_accepted(param, fmt, hi + 1)
    assert not _ever_accepted("weight_bits", "log", w_hi + 1)
    assert (log_hi, w_hi) == (7, 7)
    assert "(1..24, default 8)" in text  # --frac-bits with sqrt2: 0 makes sqrt(2) == 1


def test_generate_layer_help_states_the_pes_limit():
    from logdot.golden.layer import MAX_PES

    assert f"output channels in parallel (1..{MAX_PES})" in _help("generate-layer")


def test_generate_huge_lanes_fails_at_once(tmp_path):
    """A typo such as --lanes 100000000 is refused before any elaboration (fast)."""
    import time

    t0 = time.monotonic()
    code, _, err = run(["generate", "--lanes", "100000000", "--act-bits", "8",
                        "--weight-bits", "4", "--out", str(tmp_path / "o")])  # fmt: skip
    assert time.monotonic() - t0 < 2.0
    assert_one_line_error(code, err, "--lanes")


def test_generate_missing_flags_and_subcommand(tmp_path):
    code, _, err = run(["generate", "--lanes", "3", "--out", str(tmp_path)])
    assert_one_line_error(code, err, "--act-bits", "--weight-bits")
    code, _, err = run([])
    assert_one_line_error(code, err)
    code, _, err = run(["frobnicate"])
    assert_one_line_error(code, err, "frobnicate")


def test_generate_existing_file_without_force(tmp_path):
    code, _, err = run(["generate", *ENGINE, "--out", str(tmp_path)])
    assert code == 0, err
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    code, _, err = run(["generate", *ENGINE, "--lanes", "4", "--out", str(tmp_path)])
    assert_one_line_error(code, err, "exists", "--force")
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before  # untouched
    code, _, err = run(["generate", *ENGINE, "--lanes", "4", "--out", str(tmp_path), "--force"])
    assert code == 0, err


def test_generate_unwritable_output(tmp_path):
    """An output path that is a file, below a file, or in a read-only file system."""
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for out in (a_file, a_file / "sub", "/proc/logdot_out"):
        code, _, err = run(["generate", *ENGINE, "--out", str(out)])
        assert_one_line_error(code, err, "cannot write to")
    assert a_file.read_text() == "x"
    assert files_in(tmp_path) == ["file.txt"]


class Boom(Exception):
    pass


@pytest.mark.parametrize("when", ["fsync", "replace_second"])
def test_write_is_atomic_when_interrupted(tmp_path, monkeypatch, when):
    """An exception (or KeyboardInterrupt) in the middle of writing leaves no partial
    file, no temp file, and (with --force) the previous files intact."""
    cfg = EngineConfig(lanes=2, act_bits=4, weight_bits=3)
    out = tmp_path / "out"
    logdot.generators.engine.write(cfg, out, name="keep")
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    real_fsync, real_replace = os.fsync, os.replace
    calls = {"n": 0}

    def bad_fsync(fd):
        real_fsync(fd)
        raise KeyboardInterrupt  # an interrupt after the data went to the temp file

    def bad_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Boom("disk gone")
        return real_replace(src, dst)

    if when == "fsync":
        monkeypatch.setattr(logdot.generators.common.os, "fsync", bad_fsync)
        exc = KeyboardInterrupt
    else:
        monkeypatch.setattr(logdot.generators.common.os, "replace", bad_replace)
        exc = Boom
    with pytest.raises(exc):
        logdot.generators.engine.write(
            EngineConfig(lanes=3, act_bits=4, weight_bits=3), out, name="fresh"
        )
    calls["n"] = 0
    with pytest.raises(exc):
        logdot.generators.engine.write(
            EngineConfig(lanes=3, act_bits=4, weight_bits=3), out, name="keep", force=True
        )
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.endswith(".tmp")], names  # no temp file left
    for name in names:  # every file present is whole: either the old one or a complete new one
        text = (out / name).read_text()
        if name.endswith(".v"):
            assert text.rstrip().endswith("endmodule"), name
        elif name.endswith(".vlt"):
            from logdot.tools.lint import verilator_config

            assert text == verilator_config(name[: -len(".vlt")] + ".v"), name
        elif name.endswith(".core"):
            assert text.startswith("CAPI=2:\n") and text.rstrip().endswith("toplevel: " + name[:-5])
        elif name.endswith(".xml"):
            import xml.etree.ElementTree as ET

            ET.fromstring(text)
        else:
            import json

            json.loads(text)
    if when == "fsync":
        assert names == sorted(old) and {n: (out / n).read_bytes() for n in names} == old


def test_cli_reports_an_interrupted_write_as_one_line(tmp_path, monkeypatch):
    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(logdot.generators.common.os, "fsync", full_disk)
    out = tmp_path / "out"
    code, _, err = run(["generate", *ENGINE, "--out", str(out)])
    assert_one_line_error(code, err, "No space left on device")
    assert files_in(out) == []


# -- logdot generate-layer ----------------------------------------------------------------------


def _layer_dict(cin=6, cout=4):
    g = torch.Generator().manual_seed(1)
    return random_conv_spec(g, kind="linear", cin=cin, cout=cout, padding=(0, 0)).to_dict()


def _layer_file(tmp_path, mutate=None, raw=None, cin=6, cout=4):
    path = tmp_path / "layer.pt"
    if raw is not None:
        path.write_bytes(raw)
        return path
    d = _layer_dict(cin, cout)
    if mutate:
        mutate(d)
    torch.save(d, path)
    return path


LAYER = ["--lanes", "4", "--pes", "2"]


def _nan_bias(d):
    d["bias"][1] = float("nan")


def _inf_bias(d):
    d["bias"][0] = float("inf")


def _nan_weights(d):
    d["weight_codes"] = d["weight_codes"].double()
    d["weight_codes"][0, 0] = float("nan")


def _bias_shape(d):
    d["bias"] = d["bias"][:3]


def _weight_shape(d):
    d["weight_codes"] = d["weight_codes"].reshape(2, 2, 6)


def _code_range(d):
    d["weight_codes"][0, 0] = 99


def _schema(d):
    d["schema"] = "something else"


def _wide(weight_bits, act_bits):
    """A valid spec too wide for the engine's 64-bit arithmetic."""

    def mutate(d):
        d["weight_bits"], d["act_bits"] = weight_bits, act_bits

    return mutate


class _NotAPlainValue:
    pass


def _python_object(d):
    d["extra"] = _NotAPlainValue()


_SPEC = "{path} is not a valid layer spec: "

#: (id, mutation of a good spec dict, raw file bytes, the exact error after "--weights: ")
LAYER_FILE_ERRORS = [
    ("corrupt", None, b"\x00\x01 definitely not a torch file",
     "{path} is not a layer file written by save_spec (not a torch archive)"),
    ("empty", None, b"", "{path} is empty, not a layer file written by save_spec"),
    ("text", None, b"my notes\n",
     "{path} is not a layer file written by save_spec (not a torch archive)"),
    ("manifest", None, b'{\n  "schema": "logdot.layer/1",\n  "mapping": {}\n}\n',
     "{path} is a layer manifest (JSON); pass the LAYER.pt file written by save_spec"),
    ("json", None, b'[1, 2, 3]', "{path} is a JSON file, not a layer file written by save_spec"),
    ("nan_bias", _nan_bias, None, _SPEC + "bias must contain only finite values"),
    ("inf_bias", _inf_bias, None, _SPEC + "bias must contain only finite values"),
    ("nan_weights", _nan_weights, None,
     _SPEC + "weight_codes must be a 2-d integer tensor for kind 'linear', not torch.float64 of "
     "shape (4, 6)"),
    ("bias_shape", _bias_shape, None, _SPEC + "bias must have shape (4,), not (3,)"),
    ("weight_shape", _weight_shape, None,
     _SPEC + "weight_codes must be a 2-d integer tensor for kind 'linear', not torch.int64 of "
     "shape (2, 2, 6)"),
    ("code_range", _code_range, None, _SPEC + "weight_codes must be in [0, 15], not 99"),
    ("schema", _schema, None,
     "{path} is not a logdot layer spec (schema 'logdot.layer_spec/1' expected)"),
    ("wide_accumulator", _wide(6, 6), None,
     "the layer in {path} (6-bit weights, 6-bit log activations, 6-element dot products) needs "
     "a 97-bit accumulator, beyond logdot's limit of 64 bits at --lanes 4; quantize it to fewer "
     "weight or activation bits"),
    ("wide_by_one_bit", _wide(6, 5), None,
     "the layer in {path} (6-bit weights, 5-bit log activations, 6-element dot products) needs "
     "a 65-bit accumulator, beyond logdot's limit of 64 bits at --lanes 4; quantize it to fewer "
     "weight or activation bits"),
    ("python_objects", _python_object, None,
     "{path} holds Python objects beyond tensors and plain values, which "
     "torch.load(weights_only=True) refuses; write it with save_spec"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutate", "raw", "line"),
    [e[1:] for e in LAYER_FILE_ERRORS],
    ids=[e[0] for e in LAYER_FILE_ERRORS],
)
def test_generate_layer_bad_weight_files(tmp_path, mutate, raw, line):
    path = _layer_file(tmp_path, mutate, raw)
    out = tmp_path / "out"
    argv = ["generate-layer", "--weights", str(path), *LAYER, "--out", str(out)]
    assert_cli_error(argv, out, f"--weights: {line.format(path=path)}")


def test_generate_layer_too_wide_with_the_bias(tmp_path):
    """At --lanes 1 the accumulator of the 6-bit/5-bit layer fits, its sum with the bias not."""
    path = _layer_file(tmp_path, _wide(6, 5))
    out = tmp_path / "out"
    code, _, err = run(["generate-layer", "--weights", str(path), "--lanes", "1", "--pes", "1",
                        "--out", str(out)])  # fmt: skip
    assert (code, err) == (2, (
        f"logdot: error: --weights: the layer in {path} (6-bit weights, 5-bit log activations, "
        "6-element dot products) needs 65-bit sums (with the bias), beyond logdot's limit of 64 "
        "bits at --lanes 1; quantize it to fewer weight or activation bits\n"
    ))  # fmt: skip
    assert not out.exists()


def test_generate_layer_weights_is_a_directory_or_missing(tmp_path):
    for path, line in (
        (tmp_path, f"{tmp_path} is a directory, not a layer file"),
        (tmp_path / "nope.pt", f"no such file: {tmp_path / 'nope.pt'}"),
    ):
        out = tmp_path / "out"
        code, _, err = run(["generate-layer", "--weights", str(path), *LAYER, "--out", str(out)])
        assert (code, err) == (2, f"logdot: error: --weights: {line}\n")
        assert not out.exists()


#: Flags after ``generate-layer --weights GOOD --out DIR`` -> the exact error line.
LAYER_FLAG_ERRORS = [
    (["--lanes", "4", "--pes", "0"], "--pes must be an integer in [1, 256], not 0"),
    (["--lanes", "4", "--pes", "300"], "--pes must be an integer in [1, 256], not 300"),
    (["--lanes", "0", "--pes", "2"], "--lanes must be an integer in [1, 1024], not 0"),
    (["--lanes", "x", "--pes", "2"], "--lanes must be an integer, not 'x'"),
    ([*LAYER, "--ram-style", "bram"],
     "--ram-style must be one of auto, block, distributed, logic, not 'bram'"),
    ([*LAYER, "--register-every", "20"], "--register-every must be an integer in [0, 16], not 20"),
    ([*LAYER, "--pipeline", "20"], "--pipeline must be an integer in [0, 16], not 20"),
    ([*LAYER, "--name", "end"], f"--name must be a Verilog identifier {IDENT}, not 'end'"),
    (["--lanes", "4", "--pse", "2"], "unrecognized argument --pse (did you mean --pes?)"),
    ([*LAYER, "--weight-bits", "4"],
     "unrecognized argument --weight-bits (did you mean --weights?)"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "line"), error_cases(LAYER_FLAG_ERRORS))
def test_generate_layer_flag_errors(tmp_path, extra, line):
    out = tmp_path / "out"
    argv = ["generate-layer", "--weights", str(_layer_file(tmp_path)), "--out", str(out), *extra]
    assert_cli_error(argv, out, line)


def test_generate_layer_warns_of_idle_lanes_and_pes(tmp_path):
    """An engine wider than the layer (2-element dot products, 2 output channels: the warnings
    do not depend on the layer's size, a small one elaborates fast) works, but the lanes and
    PEs beyond it never do: one warning line per flag, after the write."""
    path = _layer_file(tmp_path, cin=2, cout=2)
    argv = ["generate-layer", "--weights", str(path), "--out", str(tmp_path / "o")]
    code, stdout, err = run([*argv, "--lanes", "4", "--pes", "4"])
    assert code == 0 and stdout.startswith("wrote "), err
    assert err.splitlines() == [
        "logdot: warning: --lanes 4 exceeds the layer's dot product of 2 elements; 2 lanes "
        "stay idle",
        "logdot: warning: --pes 4 exceeds the layer's 2 output channels; 2 PEs stay idle",
    ]
    code, _, err = run([*argv, "--lanes", "3", "--pes", "3", "--force"])
    assert code == 0
    assert err.splitlines() == [
        "logdot: warning: --lanes 3 exceeds the layer's dot product of 2 elements; 1 lane stays "
        "idle",
        "logdot: warning: --pes 3 exceeds the layer's 2 output channels; 1 PE stays idle",
    ]
    code, _, err = run([*argv, "--lanes", "2", "--pes", "2", "--force"])
    assert (code, err) == (0, "")


def test_generate_layer_good_file_then_error_paths(tmp_path):
    path = _layer_file(tmp_path)
    out = tmp_path / "out"
    code, _, err = run(["generate-layer", "--weights", str(path), *LAYER, "--out", str(out)])
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # existing files without --force
    code, _, err = run(["generate-layer", "--weights", str(path), *LAYER, "--out", str(out)])
    assert_one_line_error(code, err, "exists", "--force")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # missing file, bad lanes / pes, bad name, unwritable output
    cases = [
        (["--weights", str(tmp_path / "nope.pt"), *LAYER], "--weights: no such file"),
        (["--weights", str(path), "--lanes", "0", "--pes", "2"], "--lanes"),
        (["--weights", str(path), "--lanes", "100000000", "--pes", "2"], "--lanes"),
        (["--weights", str(path), "--lanes", "4", "--pes", "0"], "--pes"),
        (["--weights", str(path), *LAYER, "--name", "end"], "--name"),
        (["--weights", str(path), "--lanes", "x", "--pes", "2"], "--lanes"),
    ]
    for argv, fragment in cases:
        o2 = tmp_path / "o2"
        code, _, err = run(["generate-layer", *argv, "--out", str(o2)])
        assert_one_line_error(code, err, fragment)
        assert files_in(o2) == []
    code, _, err = run(["generate-layer", "--weights", str(path), *LAYER, "--out", str(path)])
    assert_one_line_error(code, err, "cannot write to")
    assert re.search(r"logdot: error: ", err)


# -- logdot synth ---------------------------------------------------------------------------------

#: Flags after ``synth ENGINE --out DIR`` -> the exact error line; all refused before any tool
#: runs. A flag the others make meaningless is an error, not silently ignored.
SYNTH_ERRORS = [
    (["--linear-weight-bits", "8"],
     "--linear-weight-bits needs --baseline linear (it sets the linear baseline's weight bits)"),
    (["--baseline", "linear", "--linear-weight-bits", "1"],
     "--linear-weight-bits must be an integer in [2, 8], not 1"),
    (["--no-pnr", "--freq", "100"], "--freq is for place and route; drop it or --no-pnr"),
    (["--no-pnr", "--seed", "2"], "--seed is for place and route; drop it or --no-pnr"),
    (["--target-fmax", "100", "--register-every", "2"],
     "--target-fmax searches the pipeline itself; drop --register-every or --target-fmax"),
    (["--target-fmax", "100", "--pipeline", "2"],
     "--target-fmax searches the pipeline itself; drop --pipeline or --target-fmax"),
    (["--ecp5-nowidelut", "--targets", "ice40,xilinx"],
     "--ecp5-nowidelut needs an ECP5 target; the selected ones are ice40, xilinx"),
    (["--targets", "ice40,nope"],
     "--targets must be among ice40, ecp5, ecp5-nodsp, xilinx, xilinx-nodsp, ecp5-85k, "
     "ecp5-85k-nodsp, ecp5-45k, ecp5-45k-nodsp, ice40-up5k, not 'nope'"),
    (["--targets", ","], "--targets must name at least one target, not an empty list"),
    (["--family", "stratix"], "--family must be one of ice40, ecp5, xilinx, not 'stratix'"),
    (["--seed", "-1"], "--seed must be an integer >= 0, not -1"),
    (["--freq", "abc"], "--freq must be a frequency in MHz (0 < f < 10000), not 'abc'"),
    (["--baseline", "lin"], "--baseline must be one of none, linear, not 'lin'"),
    (["--lanse", "4"], "unrecognized argument --lanse (did you mean --lanes?)"),
    (["--act-format", "log"],
     "--act-bits must be an integer in [2, 7] with --act-format log, not 8"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "line"), error_cases(SYNTH_ERRORS))
def test_synth_errors(tmp_path, extra, line):
    out = tmp_path / "out"
    argv = ["synth", "--lanes", "4", "--act-bits", "8", "--weight-bits", "4", "--out", str(out)]
    assert_cli_error([*argv, *extra], out, line)


# -- two-term weights ------------------------------------------------------------------------------

TWOTERM_ERRORS = [
    (["--weight-terms", "3"], "--weight-terms: invalid choice: 3 (choose from 1, 2)"),
    (["--weight-terms", "2", "--weight-bits", "2"], "--weight-bits must be at least 3 with "),
    (["--weight-terms", "2", "--weight-base", "sqrt2"], "--weight-terms 2 needs --weight-base 2"),
    (["--weight-terms", "2", "--act-format", "log"], "--weight-terms 2 needs --act-format"),
]


@pytest.mark.parametrize(("extra", "message"), TWOTERM_ERRORS)
def test_weight_terms_errors_name_the_flag_and_write_nothing(tmp_path, extra, message):
    out = tmp_path / "o"
    assert_cli_error(
        ["generate", *ENGINE, "--out", str(out), *extra], out, message, match="contains"
    )


def test_weight_terms_2_writes_a_two_term_engine(tmp_path):
    import json

    argv = ["generate", "--lanes", "3", "--act-bits", "8", "--weight-bits", "5"]
    code, _, err = run([*argv, "--weight-terms", "2", "--out", str(tmp_path), "--quiet"])
    assert code == 0, err
    manifest = json.loads((tmp_path / "logdot.json").read_text())
    assert manifest["parameters"]["weight_terms"] == 2
    assert EngineConfig(**manifest["parameters"]).weight_terms == 2
    # The unit of a 5-bit two-term weight is 2**(fsr - 2**2 + 1 - 3) = 2**(fsr - 6).
    assert manifest["result"]["scale_log2"]["offset"] == -6
    assert "shl2" in (tmp_path / "logdot.v").read_text()  # the second shifter is there
