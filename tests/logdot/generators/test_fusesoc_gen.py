"""logdot's FuseSoC generator: a user's core asks for an engine by parameters."""

from __future__ import annotations

import re
import sys

import pytest
import yaml

from logdot.generators.fusesoc_gen import (
    GENERATOR,
    GENERATOR_VLNV,
    engine_request,
    generator_core_text,
    run_generator,
    write_library,
)
from logdot.golden.formats import EngineConfig
from tests.support.fusesoc import fusesoc_run

USER_TOP = """\
`timescale 1ns/1ps
module user_top (input clk, input rst, input [31:0] in_data, input in_valid,
                 output in_ready, output [23:0] result, output result_valid);
  wire unused_tlast;
  my_dot dot (.clk(clk), .rst(rst), .s_axis_tvalid(in_valid), .s_axis_tready(in_ready),
              .s_axis_tlast(1'b1), .s_axis_tdata(in_data), .m_axis_tvalid(result_valid),
              .m_axis_tready(1'b1), .m_axis_tlast(unused_tlast), .m_axis_tdata(result));
endmodule
"""


def _user_core(parameters):
    return f"""\
CAPI=2:
name: user:demo:user_top:1.0
filesets:
  rtl:
    files: [user_top.v]
    file_type: verilogSource
    depend: [{GENERATOR_VLNV.rsplit(":", 1)[0]}]
generate:
  dot:
    generator: {GENERATOR}
    parameters: {parameters}
targets:
  default:
    filesets: [rtl]
    generate: [dot]
    toplevel: user_top
  lint:
    flow: lint
    flow_options: {{tool: verilator, verilator_options: [-Wall]}}
    filesets: [rtl]
    generate: [dot]
    toplevel: user_top
  sim:
    flow: sim
    flow_options: {{tool: icarus}}
    filesets: [rtl]
    generate: [dot]
    toplevel: my_dot_tb
"""


@pytest.fixture
def library(tmp_path):
    gen = tmp_path / "gen"
    core, script = write_library(gen, python=sys.executable)
    assert (core, script) == (str(gen / "logdot_gen.core"), str(gen / "logdot_gen.py"))
    user = tmp_path / "user"
    user.mkdir()
    (user / "user_top.v").write_text(USER_TOP)
    return gen, user


def test_generator_core_defines_the_generator():
    core = yaml.safe_load(generator_core_text("/usr/bin/python3"))
    assert core["name"] == GENERATOR_VLNV
    gen = core["generators"][GENERATOR]
    assert (gen["interpreter"], gen["command"]) == ("/usr/bin/python3", "logdot_gen.py")
    assert yaml.safe_load(generator_core_text())["generators"][GENERATOR]["interpreter"] == (
        sys.executable
    )


def test_a_user_core_gets_an_engine_by_parameters(library, tmp_path):
    gen, user = library
    params = "{lanes: 4, act_bits: 4, weight_bits: 3, name: my_dot, testbench: true}"
    (user / "user.core").write_text(_user_core(params))
    vlnv = "user:demo:user_top"
    lint = fusesoc_run(tmp_path / "lint", [gen, user], "lint", vlnv)
    assert lint.returncode == 0, lint.stdout
    (vc,) = (tmp_path / "lint" / "build").glob("*/lint/*.vc")
    files = vc.read_text().split()
    assert [f.rsplit("/", 1)[-1] for f in files if "/" in f] == [
        "my_dot.vlt",
        "user_top.v",
        "my_dot.v",
        "my_dot_tb.v",
    ]
    sim = fusesoc_run(tmp_path / "sim", [gen, user], "sim", vlnv)
    assert sim.returncode == 0, sim.stdout
    assert "LOGDOT_TB_PASS my_dot: 7 outputs" in sim.stdout
    (core,) = (tmp_path / "sim" / "build").glob("*/sim/generator_cache/*/my_dot.core")
    assert yaml.safe_load(core.read_text())["name"] == "user:demo:user_top-dot:1.0"


def test_a_bad_parameter_fails_the_fusesoc_run(library, tmp_path):
    gen, user = library
    (user / "user.core").write_text(_user_core("{lanes: 4, act_bits: 4, weight_bitz: 3}"))
    run = fusesoc_run(tmp_path / "w", [gen, user], "sim", "user:demo:user_top")
    assert run.returncode != 0
    assert f"{GENERATOR}: unknown parameter 'weight_bitz'" in run.stdout, run.stdout


def test_engine_request_reads_the_parameters():
    config, name, axi, tb = engine_request(
        {"lanes": 8, "act_bits": 4, "weight_bits": 4, "weight_base": "sqrt2", "frac_bits": 4}
    )
    assert config == EngineConfig(
        lanes=8, act_bits=4, weight_bits=4, weight_base="sqrt2", frac_bits=4
    )
    assert (name, axi, tb) == ("logdot", False, False)
    _, name, axi, tb = engine_request(
        {"lanes": 1, "act_bits": 2, "weight_bits": 2, "name": "x", "axi_names": True}
    )
    assert (name, axi, tb) == ("x", True, False)
    with pytest.raises(ValueError, match="parameter 'act_bits' is required"):
        engine_request({"lanes": 1, "weight_bits": 2})
    with pytest.raises(ValueError, match=re.escape("not 'module'")):
        engine_request({"lanes": 1, "act_bits": 2, "weight_bits": 2, "name": "module"})
    with pytest.raises(TypeError, match="testbench must be a bool"):
        engine_request({"lanes": 1, "act_bits": 2, "weight_bits": 2, "testbench": "yes"})
    with pytest.raises(TypeError, match="parameters must be a mapping"):
        engine_request([1])


def test_run_generator_reports_one_line(tmp_path, capsys):
    (tmp_path / "in.yml").write_text("parameters: {lanes: 0, act_bits: 4, weight_bits: 3}\n")
    assert run_generator(str(tmp_path / "in.yml"), str(tmp_path)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{GENERATOR}: ") and err.count("\n") == 1 and "lanes" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.yml"]


def test_write_library_refuses_to_overwrite(tmp_path):
    write_library(tmp_path)
    with pytest.raises(FileExistsError, match="use force=True"):
        write_library(tmp_path)
    write_library(tmp_path, force=True)


def test_cli_writes_the_library_and_refuses_to_overwrite(tmp_path, capsys):
    from logdot.cli import main

    out = tmp_path / "gen"
    assert main(["fusesoc-gen", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["logdot_gen.core", "logdot_gen.py"]
    assert f"FuseSoC generator {GENERATOR}" in capsys.readouterr().out
    before = (out / "logdot_gen.core").read_text()
    assert main(["fusesoc-gen", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "use --force" in err
    assert (out / "logdot_gen.core").read_text() == before
    assert main(["fusesoc-gen", "--out", str(out), "--force"]) == 0
