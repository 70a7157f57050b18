"""Tests of the ``logdot`` command line (logdot/cli.py, logdot/commands/): generate, --help,
every error path, and what the command line imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch

from logdot.cli import COMMANDS, main
from logdot.generators.common import OUTPUT_SUFFIXES
from logdot.golden.formats import EngineConfig
from logdot.golden.spec_io import save_spec
from tests.support.cli import assert_one_line_error
from tests.support.layers import random_conv_spec

SMALL = ["--lanes", "2", "--act-bits", "4", "--weight-bits", "3"]
#: The repository (not tests/, whose tests/logdot package would shadow logdot for -m).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _files(name):
    """The sorted file names a generator writes for design ``name``."""
    return sorted(f"{name}{suffix}" for suffix in OUTPUT_SUFFIXES)


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_writes_verilog_and_manifest(tmp_path, capsys):
    out = tmp_path / "build"
    code, stdout, err = run(["generate", *SMALL, "--weight-base", "sqrt2", "--frac-bits", "4",
                             "--act-unsigned", "--register-every", "1", "--no-register-terms",
                             "--name", "eng", "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    assert err == ""
    assert sorted(os.listdir(out)) == _files("eng")
    assert "wrote" in stdout and "eng.v" in stdout and "eng.vlt" in stdout
    with open(out / "eng.json") as f:
        m = json.load(f)
    cfg = EngineConfig(**m["parameters"])
    assert cfg == EngineConfig(
        lanes=2,
        act_bits=4,
        weight_bits=3,
        act_signed=False,
        weight_base="sqrt2",
        frac_bits=4,
        register_every=1,
        register_terms=False,
    )
    # no term registers, 1 tree level, final sums (2 stages when pipelined) + 2 combine levels
    # (R = 23 = 32 - 8 - 1), output buffer
    assert m["latency_cycles"] == 0 + 1 + (2 + 2) + 1
    assert "module eng(clk, rst," in (out / "eng.v").read_text()


def test_generate_axi_names(tmp_path, capsys):
    """--axi-names: the top module's clock and reset are aclk / aresetn (active low)."""
    code, _, err = run(["generate", *SMALL, "--axi-names", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert "module logdot(aclk, aresetn, s_axis_tvalid," in (tmp_path / "logdot.v").read_text()
    m = json.loads((tmp_path / "logdot.json").read_text())
    assert m["reset"]["name"] == "aresetn" and m["reset"]["active"] == "low"


def test_generate_defaults_and_pipeline_alias(tmp_path, capsys):
    code, _, err = run(["generate", *SMALL, "--pipeline", "2", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    with open(tmp_path / "logdot.json") as f:
        m = json.load(f)
    p = m["parameters"]
    assert (p["register_every"], p["register_terms"], p["act_format"]) == (2, True, "linear")
    assert (p["weight_base"], p["frac_bits"], p["max_beats"]) == ("2", 0, 1024)


def test_existing_files_need_force(tmp_path, capsys):
    argv = ["generate", *SMALL, "--out", str(tmp_path)]
    assert run(argv, capsys)[0] == 0
    (tmp_path / "logdot.v").write_text("keep me")
    code, _, err = run(argv, capsys)
    assert_one_line_error(code, err, "logdot.v exists; use --force to overwrite")
    assert (tmp_path / "logdot.v").read_text() == "keep me"
    assert run([*argv, "--force"], capsys)[0] == 0
    assert (tmp_path / "logdot.v").read_text() != "keep me"
    assert sorted(os.listdir(tmp_path)) == _files("logdot")


def test_missing_required_flags(tmp_path, capsys):
    code, _, err = run(["generate", "--lanes", "2", "--out", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "the following arguments are required: --act-bits")
    code, _, err = run(["generate", *SMALL], capsys)
    assert_one_line_error(code, err, "--out")
    assert os.listdir(tmp_path) == []


def test_unwritable_output(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(["generate", *SMALL, "--out", str(blocker / "sub")], capsys)
    assert_one_line_error(code, err, "cannot write to")
    code, _, err = run(["generate", *SMALL, "--out", str(blocker)], capsys)
    assert_one_line_error(code, err, "cannot write to")
    assert blocker.read_text() == "x"


def test_no_or_unknown_subcommand(capsys):
    code, _, err = run([], capsys)
    assert_one_line_error(code, err, "required")
    code, _, err = run(["frobnicate"], capsys)
    assert_one_line_error(code, err, "unknown command 'frobnicate' (commands: generate, synth")


@pytest.mark.parametrize("argv", [["--help"]] + [[c.name, "--help"] for c in COMMANDS])
def test_help_for_every_subcommand(argv, capsys):
    code, out, err = run(argv, capsys)
    assert code == 0 and err == ""
    assert out.startswith("usage: logdot")
    if argv[0] == "generate":
        flags = ["--lanes", "--act-unsigned", "--weight-base", "--register-every", "--pipeline"]
        flags += ["--no-register-terms", "--force", "--out", "--name", "--max-beats"]
        for flag in flags:
            assert flag in out


def test_console_script_runs(tmp_path):
    """The installed entry point (python -m logdot is the same main)."""
    proc = subprocess.run(
        [sys.executable, "-m", "logdot", "generate", "--lanes", "0", "--act-bits", "4",
         "--weight-bits", "3", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("logdot: error: --lanes must be an integer in [1, 1024], not 0")
    assert not (tmp_path / "o").exists()


def _import_times(argv, cwd):
    """``{module: cumulative microseconds}`` of the top-level imports of ``python -m logdot``
    (``-X importtime``), and the process' return code."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "logdot", *argv],
        capture_output=True, text=True, check=False, cwd=cwd,
    )  # fmt: skip
    times = {}
    top_level = 0
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        times[name.strip()] = int(cumulative)
        if not name[1:].startswith(" "):  # a top-level import (nested ones are indented)
            top_level += int(cumulative)
    return times, top_level, proc.returncode


#: Generous bounds of the import time (seconds, by -X importtime) of a command on a loaded
#: 2-core machine; idle, ``--help`` imports in about 0.15 s and ``generate`` (Amaranth) in 0.5 s,
#: and torch alone would add 2.3 s.
IMPORT_SECONDS = {"help": 1.0, "generate": 2.0}


@pytest.mark.parametrize("command", sorted(IMPORT_SECONDS))
def test_cli_does_not_import_torch(tmp_path, command):
    """``logdot --help`` and ``logdot generate`` import neither torch nor the layer model,
    and their imports stay fast (measured by -X importtime, not by the wall clock)."""
    argv = ["--help"] if command == "help" else ["generate", *SMALL, "--out", str(tmp_path)]
    times, total_us, code = _import_times(argv, cwd=tmp_path)
    assert code == 0
    assert "logdot.cli" in times
    if command == "generate":
        assert "logdot.generators.engine" in times and (tmp_path / "logdot.v").is_file()
    assert not [m for m in times if m == "torch" or m.startswith("torch.")]
    assert "logdot.golden.layer" not in times
    assert total_us < IMPORT_SECONDS[command] * 1e6, f"imports took {total_us / 1e6:.2f} s"


# -- logdot generate-layer ------------------------------------------------------------------


def test_cli_generate_layer(tmp_path, seed):
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g)
    save_spec(spec, tmp_path / "layer.pt")
    out = tmp_path / "out"
    args = ["generate-layer", "--weights", str(tmp_path / "layer.pt"), "--out", str(out)]
    assert main([*args, "--lanes", "4", "--pes", "2", "--name", "conv"]) == 0
    assert sorted(p.name for p in out.iterdir()) == _files("conv")
    m = json.loads((out / "conv.json").read_text())
    assert m["mapping"]["tiles"] == 3 and m["mapping"]["beats_per_dot"] == 7
    assert m["mapping"]["result_scale"] == 2.0 ** m["mapping"]["result_scale_log2"]
    axi = ["generate-layer", "--weights", str(tmp_path / "layer.pt"), "--out", str(tmp_path / "a")]
    assert main([*axi, "--lanes", "4", "--pes", "2", "--axi-names"]) == 0
    text = (tmp_path / "a" / "logdot_layer.v").read_text()
    assert "module logdot_layer(aclk, aresetn, s_axis_tvalid," in text
    assert main([*args, "--lanes", "4", "--pes", "2", "--name", "conv"]) == 2  # exists
    assert main([*args, "--lanes", "0", "--pes", "2", "--name", "x"]) == 2
    assert main([*args, "--lanes", "4", "--pes", "2", "--name", "1x"]) == 2
    bad = ["generate-layer", "--weights", str(tmp_path / "none.pt"), "--out", str(out)]
    assert main([*bad, "--lanes", "4", "--pes", "2"]) == 2
    (tmp_path / "junk.pt").write_text("not a torch file")
    junk = ["generate-layer", "--weights", str(tmp_path / "junk.pt"), "--out", str(out)]
    assert main([*junk, "--lanes", "4", "--pes", "2", "--name", "j"]) == 2
    assert sorted(p.name for p in out.iterdir()) == _files("conv")


def test_cli_error_messages(tmp_path, capsys, seed):
    g = torch.Generator().manual_seed(seed)
    save_spec(random_conv_spec(g), tmp_path / "layer.pt")
    rc = main(["generate-layer", "--weights", str(tmp_path / "layer.pt"), "--lanes", "0",
               "--pes", "1", "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err == "logdot: error: --lanes must be an integer in [1, 1024], not 0"
    rc = main(["generate-layer", "--weights", str(tmp_path / "x.pt"), "--lanes", "1",
               "--pes", "1", "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    assert capsys.readouterr().err.strip().startswith("logdot: error: --weights: no such file")


@pytest.mark.parametrize("after", [0.0, 2.0], ids=["start", "conversion"])
def test_generate_interrupted(tmp_path, after):
    """Ctrl-C as ``logdot generate --lanes 256`` starts its conversion (its one note on stderr)
    and ``after`` seconds into it (the conversion takes tens of seconds): after the note one
    line, exit status 130 within seconds, nothing written, no process left. The interrupt
    follows the note, not a fixed delay from the start, so a slow start on a busy machine
    cannot move it before the command is running."""
    from logdot.generators.common import conversion_notice
    from tests.support.interrupt import Run, assert_interrupted

    notice = conversion_notice(256, "a 256-lane engine") + "\n"
    out = tmp_path / "o"
    run = Run(["-m", "logdot", "generate", "--lanes", "256", "--act-bits", "4",
               "--weight-bits", "5", "--out", str(out)])  # fmt: skip
    run.wait_for(lambda r: "".join(r.stderr) == notice, what="the conversion note")
    time.sleep(after)
    assert run.proc.poll() is None, "".join(run.stdout + run.stderr)
    res = run.interrupt()
    print(f"logdot generate --lanes 256, SIGINT {after} s after the note: ended in "
          f"{res.seconds:.2f} s")  # fmt: skip
    assert_interrupted(res, "logdot", before=notice)
    assert not out.exists()


def test_interrupt_swallowed_by_a_finalizer(monkeypatch, capsys):
    """A SIGINT that lands in a ``__del__`` (Amaranth's unused-elaboratable check) is
    swallowed by Python; the command must still end as interrupted, with one line."""
    import signal

    from logdot.commands import generate

    class Finalized:
        def __del__(self):
            # What Python does when a SIGINT arrives while a finalizer runs: the
            # SIGINT handler runs (and raises) inside __del__.
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)

    def run_(args):
        Finalized()
        return 0

    monkeypatch.setattr(generate, "run", run_)
    code, _, err = run(["generate", *SMALL, "--out", "unused"], capsys)
    assert code == 130
    assert err == "logdot: interrupted\n"


# -- the note before a long conversion -------------------------------------------------------


def test_long_conversion_prints_one_note_first(tmp_path, capsys, monkeypatch):
    """From LONG_CONVERSION_LANES lanes on, one line on stderr before the conversion starts
    (--quiet: none); a refused run prints only its error. The threshold is lowered here so
    the test converts a 4-lane engine, not a 256-lane one."""
    from logdot.generators import common

    assert common.conversion_notice(common.LONG_CONVERSION_LANES - 1, "x") is None
    assert common.conversion_notice(1024, "a 1024-lane engine") == (
        "logdot: converting a 1024-lane engine to Verilog (about a minute per 1000 lanes) ..."
    )
    monkeypatch.setattr(common, "LONG_CONVERSION_LANES", 4)
    argv = ["generate", "--lanes", "4", "--act-bits", "4", "--weight-bits", "3"]
    code, _, err = run([*argv, "--out", str(tmp_path / "a")], capsys)
    assert code == 0 and err == (
        "logdot: converting a 4-lane engine to Verilog (about a minute per 1000 lanes) ...\n"
    )
    code, _, err = run([*argv, "--out", str(tmp_path / "a")], capsys)
    assert_one_line_error(code, err, "exists; use --force")
    code, _, err = run([*argv, "--quiet", "--out", str(tmp_path / "b")], capsys)
    assert code == 0 and err == ""
    code, _, err = run(["generate", *SMALL, "--out", str(tmp_path / "c")], capsys)
    assert code == 0 and err == ""  # 2 lanes: below the threshold


def test_long_layer_conversion_prints_one_note_first(tmp_path, capsys, monkeypatch, seed):
    from logdot.generators import common

    save_spec(random_conv_spec(torch.Generator().manual_seed(seed)), tmp_path / "layer.pt")
    monkeypatch.setattr(common, "LONG_CONVERSION_LANES", 8)
    args = ["generate-layer", "--weights", str(tmp_path / "layer.pt"), "--lanes", "4"]
    code, _, err = run([*args, "--pes", "2", "--out", str(tmp_path / "a")], capsys)
    assert code == 0 and err == (
        "logdot: converting a 2 PEs x 4 lanes layer engine (8 lanes) to Verilog (about a "
        "minute per 1000 lanes) ...\n"
    )
    code, _, err = run([*args, "--pes", "2", "--quiet", "--out", str(tmp_path / "b")], capsys)
    assert code == 0 and err == ""
