"""``logdot synth --network`` (:mod:`logdot.synth.network`): one synthesis per family, place and
route per device and seed, the median fmax, images/s, devices that do not fit; the CLI's flag
errors; and (``-m full``) the real tools on a tiny network."""

from __future__ import annotations

import io
import json

import pytest

from logdot.golden.network_file import save_network
from logdot.synth import network as snet
from logdot.synth.runner import SynthError
from tests.support.cli import assert_cli_error
from tests.support.cli import run_cli as _cli
from tests.support.networks import LINEAR_FOLD, TILED_FOLD, linear_cnn, small_cnn

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _counts(luts, bram=1, dsps=0):
    return {"luts": luts, "lut4_equiv": luts, "carry": 0, "ffs": 10, "bram": bram,
            "lutram": 0, "dsps": dsps, "mul_cells": 0}  # fmt: skip


def test_flow_groups_targets_takes_the_median_and_reports_what_does_not_fit(tmp_path, monkeypatch):
    """One synthesis per (family, DSPs) group, nextpnr per device and seed, the median of the
    seeds' fmax, images/s = fmax / cycles per image; a device the counts overflow gets no
    nextpnr, and one nextpnr refuses for lack of room is reported, not raised."""
    calls = {"synth": [], "pnr": []}
    fmax = {("ecp5", 1): 50.0, ("ecp5", 2): 70.0, ("ecp5", 3): 60.0}

    def fake_synth(verilog, *, top, target, workdir, place, shell_outputs, **kw):
        assert place is False and shell_outputs == ("frame_error",)
        assert f"module {top}(" in verilog
        calls["synth"].append(target)
        return _counts(9000 if target == "ice40" else 20000)

    def fake_pnr(workdir, target, *, seed, netlist, **kw):
        calls["pnr"].append((target, seed))
        assert netlist.name == "shell.json"
        if target == "ecp5-45k":
            workdir.mkdir(parents=True, exist_ok=True)
            (workdir / f"nextpnr_seed{seed}.log").write_text("ERROR: Unable to place cell 'x'\n")
            raise SynthError("nextpnr failed")
        return {"fmax_mhz": fmax[(target, seed)]}

    monkeypatch.setattr(snet, "synthesize", fake_synth)
    monkeypatch.setattr(snet, "place_and_route", fake_pnr)
    monkeypatch.setattr(snet, "check_tools", lambda *a, **k: {})
    monkeypatch.setattr(snet, "tool_versions", lambda: {})
    net = small_cnn(0)
    job = snet.NetworkSynthJob(
        net=net, fold=TILED_FOLD, out_dir=tmp_path / "o", targets=("ecp5", "ice40", "ecp5-45k")
    )
    report = snet.run_network(job, progress=lambda line: None, out=io.StringIO())
    assert calls["synth"] == ["ecp5", "ice40"]  # one Yosys run per family
    assert calls["pnr"] == [("ecp5", 1), ("ecp5", 2), ("ecp5", 3), ("ecp5-45k", 1)]
    rows = {r["target"]: r for r in report["results"]}
    cpi = report["cycles_per_image"]
    assert cpi == 401
    e = rows["ecp5"]
    assert (e["fits"], e["fmax_mhz"], e["fmax_median_mhz"]) == (True, [50.0, 70.0, 60.0], 60.0)
    assert (e["fmax_min_mhz"], e["fmax_max_mhz"]) == (50.0, 70.0)
    assert e["images_per_s"] == round(60e6 / cpi) and e["images_per_s_min"] == round(50e6 / cpi)
    i = rows["ice40"]
    assert (i["fits"], i["reason"], i["images_per_s"]) == (False, "9000 luts > 7680", None)
    assert rows["ecp5-45k"]["fits"] is False
    assert "Unable to place" in rows["ecp5-45k"]["reason"]
    saved = json.loads((tmp_path / "o" / "synth_report.json").read_text())
    assert saved["schema"] == "logdot.network_synth/1" and saved["label"] == "log"
    assert (
        "| log | ECP5 LFE5U-25F CABGA256 | yes |"
        in (tmp_path / "o" / "synth_report.md").read_text()
    )


def test_job_checks_its_fields():
    net = small_cnn(0)
    with pytest.raises(ValueError, match="targets must have a place-and-route device"):
        snet.NetworkSynthJob(net=net, fold=TILED_FOLD, targets=("xilinx",))
    with pytest.raises(ValueError, match="seeds must be distinct"):
        snet.NetworkSynthJob(net=net, fold=TILED_FOLD, seeds=(1, 1))
    with pytest.raises(TypeError, match="net must be a Network"):
        snet.NetworkSynthJob(net=None, fold=TILED_FOLD)
    assert snet.network_label(linear_cnn(0, weight_bits=5)[0]) == "linear5"


@pytest.fixture(scope="module")
def net_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "small.net.pt"
    save_network(small_cnn(0), path)
    return str(path)


NETWORK_FLAG_ERRORS = [
    (["--lanes", "4"], "--lanes is an engine flag; drop it or --network"),
    (["--act-format", "log"], "--act-format is an engine flag; drop it or --network"),
    (["--baseline", "linear"], "--baseline is for an engine; a network's baseline is a network "
     "file with linear weights (QuantSettings weight_format 'linear')"),
    (["--no-pnr"], "--no-pnr: a network is always placed and routed (fmax, fits)"),
    (["--seed", "-1"], "--seed must be an integer >= 0, not -1"),
    (["--seeds", "0"], "--seeds must be an integer >= 1, not 0"),
    (["--targets", "xilinx"], "--targets: xilinx has no place and route (iCE40, ECP5 only)"),
    (["--target-fmax", "50"], "--target-fmax is for an engine; drop it or --network"),
    (["--fold", "9=3x3"], "--fold: no layer named '9'"),
    (["--lut-budget", "100", "--target-cycles", "200"],
     "--lut-budget and --target-cycles are mutually exclusive; give one"),
    (["--top-name", "module"], "--name must be a Verilog identifier"),
]  # fmt: skip


_IDS = [e[1].split()[0] + str(i) for i, e in enumerate(NETWORK_FLAG_ERRORS)]


@pytest.mark.parametrize(("extra", "line"), NETWORK_FLAG_ERRORS, ids=_IDS)
def test_network_flag_errors_are_one_line_before_any_tool_runs(net_file, tmp_path, extra, line):
    out = tmp_path / "out"
    argv = ["synth", "--network", net_file, "--out", str(out), *extra]
    assert_cli_error(argv, out, line, match="contains")


def test_engine_flags_are_required_without_network(tmp_path):
    code, _, err = _cli(["synth", "--lanes", "4", "--out", str(tmp_path / "o")])
    assert (code, err) == (
        2,
        "logdot: error: the following arguments are required: --act-bits, --weight-bits "
        "(or --network NET.pt)\n",
    )
    code, _, err = _cli(["synth", "--lanes", "4", "--act-bits", "8", "--weight-bits", "4",
                         "--fold", "0=1x1", "--out", str(tmp_path / "o")])  # fmt: skip
    assert (code, err) == (2, "logdot: error: --fold needs --network\n")
    engine = ["synth", "--lanes", "4", "--act-bits", "8", "--weight-bits", "4"]
    code, _, err = _cli([*engine, "--pnr-cache", str(tmp_path / "c"), "--out", str(tmp_path / "o")])
    assert (code, err) == (2, "logdot: error: --pnr-cache needs --network\n")
    assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()


@pytest.mark.full
@pytest.mark.synth
def test_tiny_network_through_the_real_tools(tmp_path):
    """Yosys and nextpnr on the 8x8 CNN, log and linear: the log network uses no DSP and no
    multiplier even where DSPs are allowed; the linear one multiplies (``$mul`` cells)."""
    out = io.StringIO()
    log = snet.run_network(
        snet.NetworkSynthJob(net=small_cnn(0), fold=TILED_FOLD, out_dir=tmp_path / "log",
                             targets=("ecp5",), seeds=(1, 2, 3)), out=out)  # fmt: skip
    r = log["results"][0]
    assert r["fits"] and r["dsps"] == 0 and r["mul_cells"] == 0 and len(r["fmax_mhz"]) == 3
    assert r["images_per_s"] == round(r["fmax_median_mhz"] * 1e6 / log["cycles_per_image"])
    lin = snet.run_network(
        snet.NetworkSynthJob(net=linear_cnn(0)[0], fold=LINEAR_FOLD, out_dir=tmp_path / "lin",
                             targets=("ecp5-nodsp",), seeds=(1,)), out=out)  # fmt: skip
    assert lin["results"][0]["mul_cells"] > 0 and lin["results"][0]["dsps"] == 0


def test_network_flags_become_the_job_compile_would_build(net_file, tmp_path, monkeypatch):
    """``logdot synth --network`` folds like ``logdot compile`` and runs the network flow with
    the default devices and three seeds (the flow itself is replaced here)."""
    from logdot.generators.network import resolve_fold

    jobs = []
    monkeypatch.setattr(snet, "run_network", lambda job, **kw: jobs.append(job))
    argv = ["synth", "--network", net_file, "--out", str(tmp_path / "o"), "--target-cycles",
            "400", "--seed", "4", "--seeds", "3"]  # fmt: skip
    code, _, err = _cli(argv)
    assert code == 0, err
    (job,) = jobs
    assert job.fold == resolve_fold(job.net, None, 400)
    assert job.targets == snet.NETWORK_TARGETS and job.seeds == (4, 5, 6)
    assert job.name == "logdot_network" and job.pnr_cache is None
    code, _, err = _cli([*argv, "--pnr-cache", str(tmp_path / "c")])
    assert code == 0, err
    assert jobs[-1].pnr_cache == tmp_path / "c"
