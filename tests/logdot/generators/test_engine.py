"""logdot.generators.engine: the Verilog (lint-clean, no multiplier, ports in contract order,
deterministic), the manifest, and the writing of both files (atomic, names checked)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module

from logdot.generators.common import OUTPUT_SUFFIXES
from logdot.generators.engine import MANIFEST_SCHEMA, generate_verilog, manifest, write
from logdot.golden.formats import EngineConfig
from logdot.hdl.engine import LogDotEngine
from logdot.hdl.top import PORTS, LogDotTop
from logdot.tools.lint import LINT_WAIVERS, iverilog_check, verilator_config, verilator_lint
from tests.support.configs import LOG, SQRT2, UNSIGNED, cfg_of
from tests.support.dropin import icarus_with_timescaled_testbench, verilator_with_user_file
from tests.support.once import build_once

# The engines of the manifest tests are built only to read their properties.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

# -- Verilog ---------------------------------------------------------------------------------------

LINT_CONFIGS = [
    dict(lanes=1, act_bits=8, weight_bits=4),
    dict(lanes=3, act_bits=8, weight_bits=4, weight_base="sqrt2", acc_bits=12),
    dict(lanes=3, act_bits=4, weight_bits=3, act_format="log", register_every=1),
    dict(lanes=16, act_bits=8, weight_bits=4),
    dict(lanes=16, act_bits=5, weight_bits=4, **LOG, **UNSIGNED, **SQRT2, register_every=2),
    # log-domain accumulation, a lane count that is not a power of two (the lane multiplexer)
    dict(lanes=3, act_bits=4, weight_bits=3, **LOG, **SQRT2, frac_bits=3, accumulate="log"),
]


def _write_lint_configs(out):
    return [write(cfg_of(**kw), out, name=f"engine{i}")[0] for i, kw in enumerate(LINT_CONFIGS)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The Verilog of every LINT_CONFIGS engine, written once per test run."""
    return build_once(tmp_path_factory, "lint_engines", _write_lint_configs)


@pytest.mark.parametrize("index", range(len(LINT_CONFIGS)))
def test_verilog_lints_clean(generated, index):
    verilator_lint(generated[index])
    iverilog_check(generated[index])


@pytest.mark.parametrize("index", [0, 1, 4])
def test_shipped_vlt_makes_verilator_clean_and_keeps_user_warnings(generated, tmp_path, index):
    """``verilator --lint-only -Wall NAME.vlt NAME.v user.v``, no global flag: no warning in
    ``NAME.v`` (the waivers are scoped to it), the user's width bug is still reported."""
    vpath = generated[index]
    vlt = os.path.splitext(vpath)[0] + ".vlt"
    with open(vlt) as f:
        text = f.read()
    name = os.path.basename(vpath)
    assert text == verilator_config(name) and "`verilator_config" in text
    assert text.count(f'-file "{name}"') == text.count(f'-file "*/{name}"') == len(LINT_WAIVERS)
    found, bug_line, out = verilator_with_user_file(vpath, tmp_path)
    assert name not in found, out
    assert ("WIDTHTRUNC", bug_line) in found["user.v"], out
    assert set(found) == {"user.v"}, out


@pytest.mark.parametrize("index", [0, 1, 4])
def test_timescaled_testbench_compiles_without_icarus_warnings(generated, tmp_path, index):
    """The file has its own ``timescale``: a testbench with one does not pass it on."""
    with open(generated[index]) as f:
        head = f.read().split("module ", 1)[0]
    assert "`timescale 1ns/1ps\n" in head
    assert icarus_with_timescaled_testbench(generated[index], tmp_path) == ""


def _strip_comments_and_attributes(text):
    text = text.replace("always @*", "always")
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"\(\*.*?\*\)", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _has_multiplication(verilog_text):
    return "*" in _strip_comments_and_attributes(verilog_text)


@pytest.mark.parametrize("index", range(len(LINT_CONFIGS)))
def test_no_multiplier(generated, index):
    with open(generated[index]) as f:
        assert not _has_multiplication(f.read())


def test_multiplier_check_can_fail():
    """The same check finds the ``*`` of a design that multiplies."""
    from amaranth.back import verilog
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class Mul(wiring.Component):
        def __init__(self):
            super().__init__({"a": In(8), "b": In(8), "y": Out(16)})

        def elaborate(self, platform):
            m = Module()
            m.d.comb += self.y.eq(self.a * self.b)
            return m

    assert _has_multiplication(verilog.convert(Mul(), emit_src=False))
    il = rtlil.convert(LogDotTop(config=cfg_of(lanes=3, act_bits=6, weight_bits=4, **SQRT2)))
    assert "$mul" not in il and "$add" in il


def test_top_module_ports_in_contract_order(generated):
    cfg = cfg_of(**LINT_CONFIGS[3])
    with open(generated[3]) as f:
        text = f.read()
    assert f"module engine3({', '.join(PORTS)});" in text
    top = text.split("module engine3(", 1)[1].split("endmodule", 1)[0]
    decl = re.compile(r"^\s*(input|output)\s*(?:\[(\d+):0\])?\s*(\w+);", re.M)
    found = {m[2]: (m[0], int(m[1]) + 1 if m[1] else 1) for m in decl.findall(top)}
    assert found == {
        "clk": ("input", 1),
        "rst": ("input", 1),
        "s_axis_tvalid": ("input", 1),
        "s_axis_tready": ("output", 1),
        "s_axis_tlast": ("input", 1),
        "s_axis_tdata": ("input", 8 * cfg.in_bytes),
        "m_axis_tvalid": ("output", 1),
        "m_axis_tready": ("input", 1),
        "m_axis_tlast": ("output", 1),
        "m_axis_tdata": ("output", 8 * cfg.out_bytes),
    }  # fmt: skip
    # rst is synchronous: every always block is clocked by posedge clk alone.
    assert "posedge rst" not in text and "negedge" not in text
    assert "always @(posedge clk)" in text


def test_generate_verilog_is_deterministic_and_named():
    cfg = cfg_of(lanes=2, act_bits=4, weight_bits=3)
    a = generate_verilog(cfg, name="my_engine")
    assert a == generate_verilog(cfg, name="my_engine")
    assert "module my_engine(clk, rst," in a
    assert "/work/" not in a  # no source paths


# -- manifest and files ------------------------------------------------------------------------


def test_manifest_contents():
    cfg = cfg_of(lanes=3, act_bits=6, weight_bits=4, weight_base="sqrt2", frac_bits=5, acc_bits=14)
    m = manifest(cfg, name="eng")
    json.dumps(m)  # serializable
    assert m["schema"] == MANIFEST_SCHEMA and m["name"] == "eng"
    assert EngineConfig(**m["parameters"]) == cfg
    assert m["derived"] == cfg.to_dict()["derived"]
    assert m["latency_cycles"] == LogDotEngine.from_config(cfg).latency == 3
    assert m["initiation_interval_cycles"] == 1 and m["axi_names"] is False
    # No value twice: the byte widths only under "derived", the old keys are gone.
    assert not {"latency", "in_bytes", "out_bytes"} & set(m)
    assert [p["name"] for p in m["ports"]] == list(PORTS)
    assert {p["name"]: p["direction"] for p in m["ports"]}["m_axis_tlast"] == "output"
    s = m["s_axis"]
    assert s["tdata_bits"] == 8 * cfg.in_bytes and s["used_bits"] == 3 * (6 + 4)
    assert [(a["lsb"], a["width"]) for a in s["activations"]] == [(0, 6), (6, 6), (12, 6)]
    assert [(w["lsb"], w["width"], w["sign_bit"]) for w in s["weights"]] == [
        (18, 4, 21),
        (22, 4, 25),
        (26, 4, 29),
    ]
    assert s["padding"] == {"lsb": 30, "width": 2}
    assert m["m_axis"]["tlast"].startswith("always 1")
    assert m["reset"] == {"name": "rst", "synchronous": True, "active": "high"}
    assert set(m["tools"]) == {"logdot", "amaranth", "python"}


def test_manifest_weight_base_is_one_type():
    """weight_base is the string "2" or "sqrt2" in every manifest, and rebuilds the config."""
    for base in (2, "sqrt2"):
        cfg = cfg_of(lanes=2, act_bits=4, weight_bits=4, weight_base=base)
        m = json.loads(json.dumps(manifest(cfg)))
        assert m["parameters"]["weight_base"] == str(base)
        assert EngineConfig(**m["parameters"]) == cfg


@pytest.mark.parametrize(
    "kw",
    [
        dict(lanes=2, act_bits=4, weight_bits=4),
        dict(lanes=3, act_bits=6, weight_bits=5, weight_base="sqrt2", frac_bits=5),
        dict(lanes=2, act_bits=5, weight_bits=4, act_format="log"),
        dict(lanes=2, act_bits=4, weight_bits=3, act_format="log", act_signed=False, **SQRT2),
    ],
    ids=["lin-b2", "lin-sqrt2", "log-b2", "log-sqrt2"],
)
def test_manifest_scale_is_a_closed_form(kw):
    """result.scale_log2 computes EngineConfig.result_scale_log2 for every FSR without Python:
    weight_fsr_coeff * weight_fsr + (act_exp or act_fsr) + offset."""
    cfg = cfg_of(**kw)
    sc = json.loads(json.dumps(manifest(cfg)))["result"]["scale_log2"]
    assert sc["act_input"] == ("act_fsr" if cfg.act_is_log else "act_exp")
    for wf in (-3, 0, 2):
        for act in (-5, 0, 1):
            expected = cfg.result_scale_log2(weight_fsr=wf, **{sc["act_input"]: act})
            assert sc["weight_fsr_coeff"] * wf + act + sc["offset"] == expected
    off = sc["offset"]
    assert sc["real_value"] == (
        f"result * 2**({sc['weight_fsr_coeff']} * weight_fsr + {sc['act_input']} "
        f"{'-' if off < 0 else '+'} {abs(off)})"
    )


def test_axi_names(tmp_path):
    """--axi-names: ports aclk / aresetn in the Verilog header and the manifest, the reset
    recorded as active low; the default names stay clk / rst."""
    cfg = cfg_of(lanes=2, act_bits=4, weight_bits=3)
    v, j = write(cfg, tmp_path, name="eng", axi_names=True)
    verilator_lint(v)
    iverilog_check(v)
    text = Path(v).read_text()
    ports = ["aclk", "aresetn", *PORTS[2:]]
    assert f"module eng({', '.join(ports)});" in text
    top = text.split("module eng(", 1)[1].split("endmodule", 1)[0]
    assert "input aresetn;" in top and "input aclk;" in top
    assert not re.search(r"^\s*input\s+(clk|rst);", top, re.MULTILINE)
    assert "assign rst = ~ aresetn;" in top
    m = json.loads(Path(j).read_text())
    assert [p["name"] for p in m["ports"]] == ports and m["axi_names"] is True
    assert m["clock"] == {"name": "aclk", "edge": "rising"}
    assert m["reset"] == {"name": "aresetn", "synchronous": True, "active": "low"}
    assert "module eng(clk, rst," in generate_verilog(cfg, name="eng")


def test_write_creates_the_files_and_refuses_to_overwrite(tmp_path):
    cfg = cfg_of(lanes=2, act_bits=4, weight_bits=3)
    out = tmp_path / "sub" / "dir"
    vpath, jpath = write(cfg, out, name="eng")
    assert (vpath, jpath) == (str(out / "eng.v"), str(out / "eng.json"))
    assert sorted(os.listdir(out)) == sorted(f"eng{s}" for s in OUTPUT_SUFFIXES)
    with open(jpath) as f:
        assert json.load(f) == json.loads(json.dumps(manifest(cfg, name="eng")))
    before = (out / "eng.v").read_text()
    (out / "eng.json").write_text("old")
    with pytest.raises(FileExistsError, match=re.escape(f"{vpath} exists; use force=True")):
        write(cfg_of(lanes=3, act_bits=4, weight_bits=3), out, name="eng")
    assert (out / "eng.v").read_text() == before and (out / "eng.json").read_text() == "old"
    for suffix in [".vlt", ".core", "_tb.v", ".xml"]:  # each of the other files alone is refused
        for other in OUTPUT_SUFFIXES:
            if other != suffix and (out / f"eng{other}").exists():
                os.remove(out / f"eng{other}")
        with pytest.raises(FileExistsError, match=re.escape(f"{out / f'eng{suffix}'} exists")):
            write(cfg, out, name="eng")
        assert sorted(os.listdir(out)) == [f"eng{suffix}"]
        write(cfg, out, name="eng", force=True)
    os.remove(out / "eng.core")
    write(cfg, out, name="eng", force=True)
    assert (out / "eng.vlt").read_text() == verilator_config("eng.v")
    (out / "eng.json").write_text("old")
    write(cfg, out, name="eng", force=True)
    assert (out / "eng.json").read_text() != "old"
    assert sorted(os.listdir(out)) == sorted(
        f"eng{s}" for s in OUTPUT_SUFFIXES
    )  # no temp files left


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "module", "wire", "a b", "x" * 65, "a$b"])
def test_bad_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match=re.escape(f"not {name!r}")):
        write(cfg_of(lanes=1, act_bits=4, weight_bits=2), tmp_path, name=name)
    assert os.listdir(tmp_path) == []


def test_write_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="config must be an EngineConfig"):
        write({"lanes": 1}, tmp_path)
    with pytest.raises(TypeError, match=re.escape("name must be a string, not 3")):
        write(cfg_of(lanes=1, act_bits=4, weight_bits=2), tmp_path, name=3)
    assert os.listdir(tmp_path) == []


def test_before_convert_runs_after_the_checks_and_before_any_file(tmp_path):
    cfg = cfg_of(lanes=2, act_bits=4, weight_bits=3)
    calls = []
    write(cfg, tmp_path, name="eng", before_convert=lambda: calls.append(os.listdir(tmp_path)))
    assert calls == [[]]
    with pytest.raises(FileExistsError):
        write(cfg, tmp_path, name="eng", before_convert=lambda: calls.append("again"))
    assert calls == [[]]  # a refused write does not announce a conversion
