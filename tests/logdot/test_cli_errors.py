"""Every error path of the ``logdot`` CLI: one line ``logdot: error: ...``, exit code 2, and
no file written; outputs are atomic (temp file + rename), so an exception or an interrupt in
the middle of a write leaves neither a partial file nor a temp file behind."""

from __future__ import annotations

import contextlib
import io
import os
import re

import pytest
import torch

import logdot.generators.common
import logdot.generators.engine
from logdot.cli import main
from logdot.golden.formats import EngineConfig
from tests.support.layers import random_conv_spec

ENGINE = ["--lanes", "3", "--act-bits", "8", "--weight-bits", "4"]


def run(argv):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    assert err.startswith("logdot: error: ") and err.count("\n") == 1, repr(err)
    for f in fragments:
        assert f in err, (f, err)


def files_in(path):
    return sorted(p.name for p in path.rglob("*")) if path.exists() else []


# -- logdot generate ----------------------------------------------------------------------------

BAD_FLAGS = [
    (["--lanes", "abc"], "--lanes"),
    (["--lanes", "0"], "--lanes: lanes must be an integer in [1, 1024], not 0"),
    (["--lanes", "100000000"], "--lanes: lanes must be an integer in [1, 1024], not 100000000"),
    (["--act-bits", "99"], "--act-bits: act_bits must be an integer in [2, 32], not 99"),
    (["--weight-bits", "1"], "--weight-bits: weight_bits must be an integer in [2, 8], not 1"),
    (["--act-format", "float"], "--act-format"),
    (["--weight-base", "3"], "--weight-base"),
    (["--frac-bits", "4"], "--frac-bits: frac_bits must be 0 or None with weight_base 2"),
    (["--acc-bits", "1"], "--acc-bits: acc_bits must be an integer in [2, 64], not 1"),
    (["--acc-bits", "60"], "--acc-bits: acc_bits must be at most the exact width"),
    (["--max-beats", "0"], "--max-beats: max_beats must be an integer in [1, 16777216], not 0"),
    (["--register-every", "-1"], "--register-every"),
    (["--name", "module"], "--name: name must be a Verilog identifier"),
    (["--name", "9lives"], "--name: name must be a Verilog identifier"),
    (["--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize(("extra", "fragment"), BAD_FLAGS, ids=[" ".join(b[0]) for b in BAD_FLAGS])
def test_generate_bad_flags(tmp_path, extra, fragment):
    out = tmp_path / "out"
    argv = ["generate", *ENGINE, "--out", str(out)]
    # later flags override the defaults above
    code, _, err = run(argv + extra)
    assert_one_line_error(code, err, fragment)
    assert files_in(out) == []


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


def _layer_dict():
    g = torch.Generator().manual_seed(1)
    return random_conv_spec(g, kind="linear", cin=6, cout=4, padding=(0, 0)).to_dict()


def _layer_file(tmp_path, mutate=None, raw=None):
    path = tmp_path / "layer.pt"
    if raw is not None:
        path.write_bytes(raw)
        return path
    d = _layer_dict()
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


LAYER_FILE_ERRORS = [
    ("corrupt", None, b"\x00\x01 definitely not a torch file"),
    ("empty", None, b""),
    ("nan_bias", _nan_bias, None),
    ("inf_bias", _inf_bias, None),
    ("nan_weights", _nan_weights, None),
    ("bias_shape", _bias_shape, None),
    ("weight_shape", _weight_shape, None),
    ("code_range", _code_range, None),
    ("schema", _schema, None),
]


@pytest.mark.parametrize(
    ("mutate", "raw"), [e[1:] for e in LAYER_FILE_ERRORS], ids=[e[0] for e in LAYER_FILE_ERRORS]
)
def test_generate_layer_bad_weight_files(tmp_path, mutate, raw):
    path = _layer_file(tmp_path, mutate, raw)
    out = tmp_path / "out"
    code, _, err = run(["generate-layer", "--weights", str(path), *LAYER, "--out", str(out)])
    assert_one_line_error(code, err, "--weights")
    assert files_in(out) == []


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
