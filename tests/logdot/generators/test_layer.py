"""logdot.generators.layer: the layer engine's Verilog (lint-clean on Verilator and Icarus, ports
in contract order, no multiplier), the manifest round trip, and atomic writes."""

import json
import re
from pathlib import Path

import pytest
import torch

from logdot.generators.common import OUTPUT_SUFFIXES
from logdot.generators.layer import layer_from_manifest, write_layer
from logdot.hdl.layer import layer_latency
from logdot.tools.lint import iverilog_check, verilator_config, verilator_lint
from tests.support.dropin import icarus_with_timescaled_testbench, verilator_with_user_file
from tests.support.layers import small_layer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    "depth,dots,weight_port", [(3, 2, False), (1, 1, False), (4, 3, True), (1, 1, True)]
)
def test_generated_layer_verilog_is_lint_clean(tmp_path, seed, depth, dots, weight_port):
    layer = small_layer(seed, depth=depth, dots=dots)
    v, j = write_layer(layer, tmp_path, name="lay", weight_port=weight_port)
    verilator_lint(v)
    iverilog_check(v)
    text = Path(v).read_text()
    header = re.search(r"^module lay\((.*)\);", text, re.MULTILINE).group(1)
    ports = [p.strip() for p in header.split(",")]
    assert ports[:10] == [
        "clk", "rst", "s_axis_tvalid", "s_axis_tready", "s_axis_tlast", "s_axis_tdata",
        "m_axis_tvalid", "m_axis_tready", "m_axis_tlast", "m_axis_tdata",
    ]  # fmt: skip
    assert ports[10:] == (
        ["w_axis_tvalid", "w_axis_tready", "w_axis_tlast", "w_axis_tdata"] if weight_port else []
    )
    # No multiplier: no binary '*' outside comments, attributes and 'always @*'.
    code = re.sub(r"/\*.*?\*/|\(\*.*?\*\)|//[^\n]*|always @\*", "", text, flags=re.DOTALL)
    assert not re.search(r"[\w)\]]\s*\*\s*[\w(]", code)
    m = json.loads(Path(j).read_text())
    assert m["schema"] == "logdot.layer/2"
    assert [p["name"] for p in m["ports"]] == ports
    assert [lane["lsb"] for lane in m["weights"]["lanes"]] == [0, 4, 8]
    assert [lane["sign_bit"] for lane in m["weights"]["lanes"]] == [3, 7, 11]
    back, latency, wp = layer_from_manifest(j)
    assert wp == weight_port and latency == m["latency_cycles"]
    assert back.config == layer.config
    assert torch.equal(back.weights, layer.weights) and torch.equal(back.bias, layer.bias)


@pytest.mark.parametrize("weight_port", [False, True])
def test_layer_drops_into_a_user_project(tmp_path, seed, weight_port):
    """The shipped ``NAME.vlt`` makes ``verilator -Wall NAME.vlt NAME.v user.v`` clean for
    ``NAME.v`` while the user's width bug is reported; a timescaled testbench compiles
    without an Icarus warning."""
    layer = small_layer(seed, depth=3, dots=2)
    v, _ = write_layer(layer, tmp_path / "rtl", name="lay", weight_port=weight_port)
    assert Path(v).with_suffix(".vlt").read_text() == verilator_config("lay.v")
    found, bug_line, out = verilator_with_user_file(v, tmp_path)
    assert set(found) == {"user.v"} and ("WIDTHTRUNC", bug_line) in found["user.v"], out
    assert icarus_with_timescaled_testbench(v, tmp_path) == ""


def test_write_layer_is_atomic_and_keeps_files(tmp_path, seed):
    layer = small_layer(seed)
    v, _ = write_layer(layer, tmp_path)
    before = Path(v).read_text()
    with pytest.raises(FileExistsError, match="exists; use force=True"):
        write_layer(small_layer(seed + 1), tmp_path)
    assert Path(v).read_text() == before
    with pytest.raises(TypeError, match=re.escape("layer must be a logdot.golden.layer.Layer or")):
        write_layer("x", tmp_path / "new")
    assert not (tmp_path / "new").exists()
    with pytest.raises(ValueError, match=re.escape("name must be a Verilog identifier")):
        write_layer(layer, tmp_path / "new2", name="module")
    assert not (tmp_path / "new2").exists()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"logdot_layer{s}" for s in OUTPUT_SUFFIXES)


@pytest.mark.parametrize(
    ("depth", "weight_port", "storage", "built"),
    [(1, False, "constants", None), (1, True, "registers", None), (3, False, "memory", "block")],
)
def test_manifest_reports_the_weight_storage_built(
    tmp_path, seed, depth, weight_port, storage, built
):
    """--ram-style block on a depth-1 layer builds no memory: the manifest says what was built
    (storage, ram_style) and keeps the request (ram_style_requested)."""
    layer = small_layer(seed, depth=depth, dots=1)
    _, j = write_layer(layer, tmp_path, name="lay", weight_port=weight_port, ram_style="block")
    w = json.loads(Path(j).read_text())["weights"]
    assert (w["storage"], w["ram_style"], w["ram_style_requested"]) == (storage, built, "block")
    text = (tmp_path / "lay.v").read_text()
    assert ('ram_style = "block"' in text) == (built == "block")


def test_manifest_v2_fields_once_with_units(tmp_path, seed):
    """logdot.layer/2: latency and initiation interval in cycles, byte widths once (under
    "layer"), weight_base a string, m_axis_tlast an output with its rule; --axi-names ports."""
    layer = small_layer(seed)
    v, j = write_layer(layer, tmp_path, name="lay", axi_names=True)
    verilator_lint(v)
    iverilog_check(v)
    assert "module lay(aclk, aresetn, s_axis_tvalid," in Path(v).read_text()
    m = json.loads(Path(j).read_text())
    assert not {"latency", "in_bytes", "out_bytes", "word_bytes"} & set(m)
    assert m["latency_cycles"] == layer_latency(layer.config)
    assert m["initiation_interval_cycles"] == 1
    lay = m["layer"]
    cfg = layer.config
    assert (lay["in_bytes"], lay["out_bytes"], lay["word_bytes"]) == (
        cfg.in_bytes,
        cfg.out_bytes,
        cfg.word_bytes,
    )
    assert not {"in_bits", "in_bytes", "out_bytes"} & set(m["engine"]["derived"])
    assert m["engine"]["parameters"]["weight_base"] == "2"
    assert "i mod dots == dots - 1" in m["m_axis"]["tlast"]
    ports = {p["name"]: p["direction"] for p in m["ports"]}
    assert list(ports)[:2] == ["aclk", "aresetn"] and ports["m_axis_tlast"] == "output"
    assert m["reset"]["name"] == "aresetn" and m["reset"]["active"] == "low"
    back, latency, _ = layer_from_manifest(m)
    assert back.config == cfg and latency == m["latency_cycles"]
