"""The progress and logging setup (:mod:`logdot.tools.progress`) and ``--quiet``: bars report
counts on stderr when enabled, nothing is printed on stderr with ``--quiet``."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest

from logdot.tools import progress
from tests.support import ROOT


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_bars_enabled(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    assert progress.bars_enabled(stream=_Tty())
    assert not progress.bars_enabled(stream=io.StringIO())  # a pipe or a log file
    assert not progress.bars_enabled(quiet=True, stream=_Tty())
    monkeypatch.setenv(progress.ENV, "1")
    assert progress.bars_enabled(stream=io.StringIO())
    assert not progress.bars_enabled(quiet=True)
    monkeypatch.setenv(progress.ENV, "0")
    assert not progress.bars_enabled(stream=_Tty())


def test_line_bar_counts_finished_steps(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV, "1")
    progress.setup_logging(prog="t")
    lines = ["[synth] a: yosys ...", "[synth] a: 10 LUTs (1.5 s)", "[synth] b: fmax 9 MHz (12 s)"]
    with progress.LineBar(total=2, desc="synth") as steps:
        for line in lines:
            steps(line)
    assert steps.count == 2
    err = capsys.readouterr().err
    assert re.search(r"synth: 100%.*\b2/2\b", err), err
    for line in lines:
        assert f"t: {line}\n" in err


def test_line_bar_quiet_prints_nothing(monkeypatch, capsys):
    monkeypatch.setenv(progress.ENV, "1")
    progress.setup_logging(prog="t", quiet=True)
    with progress.LineBar(total=1, desc="synth", quiet=True) as steps:
        steps("[synth] a: 10 LUTs (1.5 s)")
    assert steps.count == 1
    assert capsys.readouterr().err == ""
    progress.setup_logging(prog="t")


def _logdot(*args, env_progress="1"):
    env = dict(os.environ, **{progress.ENV: env_progress})
    return subprocess.run(
        [sys.executable, "-m", "logdot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def net_file(tmp_path_factory):
    from logdot.golden.network_file import save_network
    from tests.support.networks import board_net

    path = tmp_path_factory.mktemp("net") / "tiny.net.pt"
    save_network(board_net(), path)
    return path


#: One lane and one PE per engine layer (the modules "0" and "4" of board_net): the steps and
#: --quiet do not depend on the folding, and 1x1 engines elaborate in a fraction of the time of
#: the automatic 27x4 one.
SMALL_FOLD = ("--fold", "0=1x1,4=1x1")


def test_compile_shows_its_steps_and_quiet_prints_nothing(net_file, tmp_path):
    compile_ = ("compile", "--network", str(net_file), *SMALL_FOLD)
    proc = _logdot(*compile_, "--out", str(tmp_path / "a"))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"compile: +\d+%.*\b[0-3]/3\b", proc.stderr), proc.stderr
    proc = _logdot(*compile_, "--out", str(tmp_path / "b"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("wrote ")


@pytest.mark.synth
def test_synth_reports_steps_and_quiet_prints_nothing(tmp_path):
    common = ["synth", "--lanes", "2", "--act-bits", "4", "--weight-bits", "3"]
    common += ["--targets", "ice40", "--no-pnr"]
    proc = _logdot(*common, "--out", str(tmp_path / "a"))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"synth: 100%.*\b1/1\b", proc.stderr), proc.stderr
    assert "logdot: [synth] log ice40: yosys synth_ice40" in proc.stderr
    proc = _logdot(*common, "--out", str(tmp_path / "b"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "LUT" in proc.stdout
