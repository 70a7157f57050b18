"""logdot.generators.const and the CLI flags: ``logdot generate --const-weights FILE`` writes
the constant-weight engine and its manifest (activations only in ``s_axis_tdata``), every bad
file or combination is one error line naming the flag (exit 2, nothing written);
``logdot generate-layer --const-weights`` replaces the weight memories by wiring."""

from __future__ import annotations

import json
import re

import pytest
import torch

from logdot.cli import main
from logdot.generators.common import OUTPUT_SUFFIXES
from logdot.generators.const import MANIFEST_SCHEMA, manifest, write
from logdot.golden.const import ConstWeights
from logdot.golden.formats import EngineConfig
from logdot.golden.spec_io import save_spec
from logdot.hdl.const import const_engine_latency
from tests.support.layers import random_conv_spec

ENGINE = ["--lanes", "4", "--act-bits", "8", "--weight-bits", "4"]


def _weights_file(path, weights):
    path.write_text(json.dumps({"weights": weights}))
    return str(path)


def test_generate_const_writes_engine_and_manifest(tmp_path, capsys):
    wfile = _weights_file(tmp_path / "w.json", [13, 0, 6, 10])
    out = tmp_path / "out"
    argv = ["generate", *ENGINE, "--const-weights", wfile, "--out", str(out), "--name", "cdot"]
    assert main([*argv, "--register-every", "1"]) == 0
    assert "4 lanes with constant weights (3 used, 1 zero)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"cdot{suffix}" for suffix in OUTPUT_SUFFIXES
    )
    text = (out / "cdot.v").read_text()
    assert "module cdot(clk, rst, s_axis_tvalid, s_axis_tready, s_axis_tlast, s_axis_tdata," in text
    assert "input [31:0] s_axis_tdata;" in text  # 4 x 8 activation bits, no weight field
    m = json.loads((out / "cdot.json").read_text())
    cfg = EngineConfig(lanes=4, act_bits=8, weight_bits=4, register_every=1)
    const = ConstWeights(cfg, [13, 0, 6, 10])
    assert m["schema"] == MANIFEST_SCHEMA == "logdot.const_engine/1"
    assert m["latency_cycles"] == const_engine_latency(const)
    assert m["const_weights"]["weights"] == [13, 0, 6, 10]
    assert m["const_weights"]["zero_lanes"] == [1]
    assert m["const_weights"]["terms"][0] == {"lane": 0, "parity": 0, "shift": 4, "negative": True}
    assert m["const_weights"]["beat_range"] == [list(const.beat_range())]
    # Pipelined every level: a heap cut into chunks (27-bit accumulator, 15-bit beat sum).
    assert [(t["strategy"], t["cuts"]) for t in m["const_weights"]["tree"]] == [
        ("heap", [4, 8, 13])
    ]
    assert "weights" not in m["s_axis"] and m["s_axis"]["used_bits"] == 32
    assert [f["lsb"] for f in m["s_axis"]["activations"]] == [0, 8, 16, 24]
    assert {p["name"]: p["width"] for p in m["ports"]}["s_axis_tdata"] == 32
    assert m["derived"]["in_bits"] == 32 and "term_bits" not in m["derived"]
    assert m == {**manifest(const, name="cdot"), "tools": m["tools"]}


def test_axi_names_and_force(tmp_path):
    const = ConstWeights(EngineConfig(lanes=2, act_bits=4, weight_bits=3), (1, 6))
    vpath, _ = write(const, tmp_path, name="c", axi_names=True)
    with open(vpath) as f:
        assert "module c(aclk, aresetn, s_axis_tvalid," in f.read()
    with pytest.raises(FileExistsError):
        write(const, tmp_path, name="c")
    write(const, tmp_path, name="c", force=True)


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (None, [], "--const-weights {f}: cannot read the file: No such file or directory"),
        ("{", [], "--const-weights {f}: not valid JSON (Expecting property name enclosed in"),
        ("[1]", [], '--const-weights {f}: must be a JSON object {{"weights": [...]}}'),
        ('{"weights": [1, 2]}', [], '--const-weights {f}: "weights" must have 4 entries (--lanes'),
        (
            '{"weights": [1, 2, 3, 16]}',
            [],
            '--const-weights {f}: "weights"[3] must be a raw 4-bit field in [0, 15]',
        ),
        (
            '{"weights": [1, 2, 3, "a"]}',
            [],
            "--const-weights {f}: \"weights\"[3] must be an integer, not 'a'",
        ),
        (
            '{"weights": [1, 2, 3, 4]}',
            ["--act-format", "log", "--act-bits", "4"],
            "--const-weights {f} needs --act-format linear, not --act-format log",
        ),
        (
            '{"weights": [1, 2, 3, 4]}',
            ["--weight-terms", "2"],
            "--const-weights {f} needs --weight-terms 1, not --weight-terms 2",
        ),
    ],
)
def test_const_weights_errors(tmp_path, capsys, content, extra, message):
    """One line naming the flag and the file, exit 2, nothing written."""
    f = tmp_path / "w.json"
    if content is not None:
        f.write_text(content)
    out = tmp_path / "out"
    rc = main(["generate", *ENGINE, *extra, "--const-weights", str(f), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1, err
    assert err.startswith("logdot: error: " + message.format(f=f)), err
    assert not out.exists()


def test_generate_layer_const_weights(tmp_path, capsys, seed):
    """The weight memories become wiring (manifest storage "wiring"); refused where there is
    more than one weight word per PE or with --weight-port, one line, nothing written."""
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, cin=2, cout=3, k=1, act="linear", abits=6, kind="linear")
    save_spec(spec, tmp_path / "fc.pt")
    base = ["generate-layer", "--weights", str(tmp_path / "fc.pt"), "--const-weights"]
    out = tmp_path / "out"
    assert main([*base, "--lanes", "2", "--pes", "3", "--out", str(out), "--name", "fc"]) == 0
    m = json.loads((out / "fc.json").read_text())
    assert m["weights"]["storage"] == "wiring"
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main([*base, "--lanes", "1", "--pes", "3", "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("logdot: error: --const-weights needs one weight word per PE"), err
    assert err.count("\n") == 1
    assert main([*base, "--lanes", "2", "--pes", "3", "--weight-port", "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == "logdot: error: --const-weights and --weight-port exclude each other\n"
    log_spec = random_conv_spec(g, cin=2, cout=3, k=1, kind="linear")
    save_spec(log_spec, tmp_path / "log.pt")
    argv = ["generate-layer", "--weights", str(tmp_path / "log.pt"), "--const-weights"]
    assert main([*argv, "--lanes", "2", "--pes", "3", "--out", str(bad)]) == 2
    assert "--const-weights needs linear activations" in capsys.readouterr().err
    assert not bad.exists()


def test_const_core_sim_target_passes_and_a_wrong_expected_value_fails(tmp_path):
    """The FuseSoC core of a constant-weight engine: its test bench (activations only in,
    the golden results of the constant weights out) passes in Icarus; one corrupted
    expected result makes it fail."""
    from logdot.generators.fusesoc import core_vlnv
    from tests.support.fusesoc import fusesoc_run

    wfile = _weights_file(tmp_path / "w.json", [13, 0, 6, 10])
    out = tmp_path / "out"
    argv = ["generate", *ENGINE, "--const-weights", wfile, "--out", str(out), "--name", "cdot"]
    assert main([*argv, "--quiet"]) == 0
    sim = fusesoc_run(tmp_path / "fs", [out], "sim", core_vlnv("cdot"))
    assert sim.returncode == 0, sim.stdout
    assert "LOGDOT_TB_PASS cdot: 7 outputs" in sim.stdout
    tb = out / "cdot_tb.v"
    text = tb.read_text()
    line = [ln for ln in text.splitlines() if re.match(r"\s*out_data\[\d+\] = ", ln)][3]
    width, value = re.search(r"(\d+)'h([0-9a-f]+)", line).groups()
    bad = line.replace(f"{width}'h{value}", f"{width}'h{int(value, 16) ^ 1:0{len(value)}x}")
    tb.write_text(text.replace(line, bad))
    fail = fusesoc_run(tmp_path / "fs2", [out], "sim", core_vlnv("cdot"))
    assert fail.returncode != 0 and "LOGDOT_TB_FAIL output 3 is" in fail.stdout, fail.stdout
