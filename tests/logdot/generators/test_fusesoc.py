"""The FuseSoC core and test bench every generator writes, run by the real ``fusesoc``."""

from __future__ import annotations

import re

import pytest
import torch
import yaml

from logdot.generators.common import OUTPUT_SUFFIXES, output_paths
from logdot.generators.engine import manifest, write
from logdot.generators.fusesoc import (
    VECTOR_SEED,
    core_text,
    core_vlnv,
    engine_vectors,
    layer_vectors,
)
from logdot.generators.layer import write_layer
from logdot.golden.engine import dot
from logdot.golden.engine import output_tlast as engine_tlast
from logdot.golden.layer import output_tlast, unpack_outputs
from tests.support.configs import cfg_of
from tests.support.fusesoc import fusesoc_run
from tests.support.layers import small_layer

ENGINE = {"lanes": 4, "act_bits": 4, "weight_bits": 3}


@pytest.fixture(scope="module")
def engine_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("engine") / "out"
    write(cfg_of(**ENGINE), out, name="eng")
    return out


def _tb_lines(text, array):
    return [ln for ln in text.splitlines() if re.match(rf"\s*{array}\[\d+\] = ", ln)]


def test_every_output_file_is_written(engine_dir):
    names = sorted(p.name for p in engine_dir.iterdir())
    assert names == sorted(f"eng{s}" for s in OUTPUT_SUFFIXES)
    assert [str(p) for p in output_paths(engine_dir, "eng")] == [
        str(engine_dir / f"eng{s}") for s in OUTPUT_SUFFIXES
    ]


def test_core_is_capi2_with_the_files_and_targets(engine_dir):
    text = (engine_dir / "eng.core").read_text()
    assert text.startswith("CAPI=2:\n")
    core = yaml.safe_load(text)
    assert core["name"] == core_vlnv("eng") == "logdot:generated:eng:1.0.0"
    files = {k: (v["files"], v["file_type"]) for k, v in core["filesets"].items()}
    assert files == {
        "rtl": (["eng.v"], "verilogSource"),
        "lint_waivers": (["eng.vlt"], "vlt"),
        "tb": (["eng_tb.v"], "verilogSource"),
    }
    targets = core["targets"]
    assert sorted(targets) == ["default", "lint", "sim", "synth", "synth_ecp5"]
    assert targets["default"] == {"filesets": ["lint_waivers", "rtl"], "toplevel": "eng"}
    assert (targets["lint"]["flow"], targets["lint"]["flow_options"]["tool"]) == (
        "lint",
        "verilator",
    )
    assert (targets["sim"]["flow"], targets["sim"]["toplevel"]) == ("sim", "eng_tb")
    assert targets["sim"]["flow_options"]["tool"] == "icarus"
    assert (targets["synth"]["flow"], targets["synth_ecp5"]["flow"]) == ("icestorm", "trellis")
    gen = yaml.safe_load(
        core_text(manifest(cfg_of(**ENGINE), name="x"), vlnv="a:b:c:1", testbench=True)
    )
    assert gen["name"] == "a:b:c:1"
    assert gen["targets"]["default"]["filesets"] == ["lint_waivers", "rtl", "tb"]


def test_engine_vectors_are_the_golden_model():
    cfg = cfg_of(**ENGINE)
    vec = engine_vectors(cfg)
    acts, weights, last = [], [], []
    for word, tlast in vec.inputs:
        acts.append([(word >> cfg.act_lsb(i)) & 15 for i in range(4)])
        weights.append([(word >> cfg.weight_lsb(i)) & 7 for i in range(4)])
        last.append(tlast)
    acts = [[a - 16 if a >= 8 else a for a in row] for row in acts]  # signed 4-bit
    assert sum(last) == len(vec.outputs) == 7 and last[-1]
    expect = dot(cfg, torch.tensor(acts), torch.tensor(weights), torch.tensor(last)).tolist()
    assert [cfg.unpack_result(w) for w, _ in vec.outputs] == expect
    assert [t for _, t in vec.outputs] == engine_tlast(7)
    assert expect[:2] == [4 * 7 * 4, 4 * 8 * 4]  # the extremes: 4 lanes of 7 * 4, -8 * -4
    assert vec == engine_vectors(cfg, seed=VECTOR_SEED)  # deterministic
    assert vec != engine_vectors(cfg, seed=VECTOR_SEED + 1)


def test_layer_vectors_are_the_golden_layer():
    layer = small_layer(3, depth=4, dots=2)
    vec = layer_vectors(layer)
    assert len(vec.inputs) == 8 and [t for _, t in vec.inputs] == [False, True] * 4
    words = [w for w, _ in vec.outputs]
    acts = torch.tensor(
        [[(w >> (4 * i)) & 15 for i in range(3)] for w, _ in vec.inputs], dtype=torch.int64
    )
    last = torch.tensor([t for _, t in vec.inputs])
    assert unpack_outputs(layer.config, words).tolist() == layer.run(acts, last).tolist()
    assert [t for _, t in vec.outputs] == output_tlast(layer.config, 4) == [False, True] * 2


def test_fusesoc_lint_and_sim_pass_on_the_engine_core(engine_dir, tmp_path):
    vlnv = core_vlnv("eng")
    lint = fusesoc_run(tmp_path, [engine_dir], "lint", vlnv)
    assert lint.returncode == 0, lint.stdout
    assert re.search(r"verilator .*\.vc", lint.stdout) and "-Wall" in (
        next((tmp_path / "build").glob("*/lint/*.vc")).read_text()
    )
    sim = fusesoc_run(tmp_path, [engine_dir], "sim", vlnv)
    assert sim.returncode == 0, sim.stdout
    assert "LOGDOT_TB_PASS eng: 7 outputs" in sim.stdout


def test_a_corrupted_expected_value_fails_the_sim_target(engine_dir, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for path in engine_dir.iterdir():
        (src / path.name).write_bytes(path.read_bytes())
    tb = src / "eng_tb.v"
    text = tb.read_text()
    line = _tb_lines(text, "out_data")[3]
    value = re.search(r"24'h([0-9a-f]+)", line).group(1)
    bad = line.replace(value, f"{int(value, 16) ^ 1:06x}")
    tb.write_text(text.replace(line, bad))
    sim = fusesoc_run(tmp_path / "w1", [src], "sim", core_vlnv("eng"))
    assert sim.returncode != 0
    assert "LOGDOT_TB_FAIL output 3 is" in sim.stdout, sim.stdout
    assert "LOGDOT_TB_PASS" not in sim.stdout
    # A wrong expected tlast fails too.
    tb.write_text(text.replace("out_last[5] = 1'b1", "out_last[5] = 1'b0"))
    sim = fusesoc_run(tmp_path / "w2", [src], "sim", core_vlnv("eng"))
    assert sim.returncode != 0 and "LOGDOT_TB_FAIL output 5 is" in sim.stdout, sim.stdout
    # One expected output too few: the extra one fails.
    n = len(_tb_lines(text, "out_data"))
    short = re.sub(r"out_data \[0:6\]", "out_data [0:5]", text)
    short = short.replace("received >= 7", "received >= 6").replace(
        "received == 7", "received == 6"
    )
    tb.write_text(short.replace(_tb_lines(text, "out_data")[n - 1] + "\n", ""))
    sim = fusesoc_run(tmp_path / "w3", [src], "sim", core_vlnv("eng"))
    assert sim.returncode != 0 and "LOGDOT_TB_FAIL extra output" in sim.stdout, sim.stdout


def test_lint_target_fails_without_the_waivers(engine_dir, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for path in engine_dir.iterdir():
        (src / path.name).write_bytes(path.read_bytes())
    (src / "eng.vlt").write_text("`verilator_config\n")
    lint = fusesoc_run(tmp_path, [src], "lint", core_vlnv("eng"))
    assert lint.returncode != 0 and "%Warning-WIDTH" in lint.stdout, lint.stdout


def test_sim_passes_on_a_layer_with_axi_names_and_weight_port(tmp_path):
    out = tmp_path / "out"
    write_layer(small_layer(4, depth=4, dots=2), out, name="lay", weight_port=True, axi_names=True)
    tb = (out / "lay_tb.v").read_text()
    assert "reg aresetn = 1'b0;" in tb and "aresetn <= 1'b1;" in tb
    assert "reg w_axis_tvalid = 1'd0;" in tb  # the load port idles: the baked weights
    sim = fusesoc_run(tmp_path, [out], "sim", core_vlnv("lay"))
    assert sim.returncode == 0, sim.stdout
    assert "LOGDOT_TB_PASS lay: 4 outputs" in sim.stdout


@pytest.mark.parametrize(
    ("target", "command"), [("synth", "synth_ice40"), ("synth_ecp5", "synth_ecp5")]
)
def test_synth_targets_set_up_yosys(engine_dir, tmp_path, target, command):
    run = fusesoc_run(tmp_path, [engine_dir], target, core_vlnv("eng"), setup=True)
    assert run.returncode == 0, run.stdout
    (work,) = (tmp_path / "build").glob(f"*/{target}")
    procs = (work / "edalize_yosys_procs.tcl").read_text()
    assert "read_verilog {src/logdot_generated_eng_1.0.0/eng.v}" in procs
    assert f"{command}  -top $top" in procs
    assert (
        "set top eng" in procs and "synth $top" in (work / "edalize_yosys_template.tcl").read_text()
    )
    makefile = (work / "Makefile").read_text()
    assert "yosys -l yosys.log -p 'tcl edalize_yosys_template.tcl'" in makefile
