"""The IP-XACT component (NAME.xml), read back by ipyxact and checked against the Verilog.

ipyxact's object model reads names, directions, bus types, port maps and file sets; it has no
place for IEEE 1685-2009's ``wire/vector`` (it knows 2014's ``wire/vectors``), for
``master``/``slave`` (an empty element reads as ``""`` either way) or for bus-interface
parameters, so those are read with :mod:`xml.etree.ElementTree` from the same file.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
from ipyxact.ipyxact import Component

from logdot.generators.engine import generate_verilog, manifest
from logdot.generators.ipxact import AXIS_BUS, IPXACT_NAMESPACE, component_xml
from logdot.generators.layer import generate_layer_verilog, layer_manifest
from tests.support.configs import cfg_of
from tests.support.layers import small_layer

NS = {"spirit": IPXACT_NAMESPACE}


def verilog_ports(text, name):
    """``{port: (direction, width)}`` of module ``name``'s declarations in the Verilog."""
    body = re.search(rf"^module {name}\((.*?)\);(.*?)^endmodule", text, re.S | re.M)
    header = [p.strip() for p in body.group(1).split(",")]
    decls = {}
    for m in re.finditer(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", body.group(2), re.M):
        decls[m.group(3)] = ("in" if m.group(1) == "input" else "out", int(m.group(2) or 0) + 1)
    assert sorted(decls) == sorted(header)
    return header, decls


def check_component(xml_text, verilog, name, *, reset, polarity, streams):
    comp = Component()
    comp.load(io.StringIO(xml_text))
    assert (comp.vendor, comp.library, comp.name, comp.version) == (
        "logdot",
        "generated",
        name,
        "1.0",
    )
    order, ports = verilog_ports(verilog, name)
    # Every model port: name, direction (ipyxact), width (ElementTree), in header order.
    assert [p.name for p in comp.model.ports.port] == order
    assert {p.name: p.wire.direction for p in comp.model.ports.port} == {
        p: d for p, (d, _) in ports.items()
    }
    root = ET.fromstring(xml_text)
    widths = {}
    for port in root.iterfind("spirit:model/spirit:ports/spirit:port", NS):
        vec = port.find("spirit:wire/spirit:vector", NS)
        left = 0 if vec is None else int(vec.find("spirit:left", NS).text)
        assert vec is None or vec.find("spirit:right", NS).text == "0"
        widths[port.find("spirit:name", NS).text] = left + 1
    assert widths == {p: w for p, (_, w) in ports.items()}
    # Bus interfaces: the streams (axis), the reset and the clock; port maps name real ports.
    buses = {b.name: b for b in comp.busInterfaces.busInterface}
    assert sorted(buses) == sorted([*streams, reset, "clk" if reset == "rst" else "aclk"])
    for prefix in streams:
        b = buses[prefix]
        bt, at = b.busType, b.abstractionType
        assert (bt.vendor, bt.library, bt.name, bt.version) == AXIS_BUS
        assert (at.vendor, at.library, at.name, at.version) == (
            "xilinx.com",
            "interface",
            "axis_rtl",
            "1.0",
        )
        maps = {m.logicalPort.name: m.physicalPort.name for m in b.portMaps.portMap}
        assert maps == {s.upper(): f"{prefix}_{s}" for s in ("tvalid", "tready", "tlast", "tdata")}
        assert set(maps.values()) <= set(ports)
        # Directions agree with the role: a slave's TREADY is an output, a master's an input.
        master = prefix.startswith("m_")
        assert ports[maps["TREADY"]][0] == ("in" if master else "out")
        assert ports[maps["TDATA"]][0] == ("out" if master else "in")
    clk = "clk" if reset == "rst" else "aclk"
    for bus, logical, physical in ((clk, "CLK", clk), (reset, "RST", reset)):
        maps = {m.logicalPort.name: m.physicalPort.name for m in buses[bus].portMaps.portMap}
        assert maps == {logical: physical} and ports[physical] == ("in", 1)
    assert buses[clk].busType.name == "clock" and buses[reset].busType.name == "reset"
    params, roles = {}, {}
    for b in root.iterfind("spirit:busInterfaces/spirit:busInterface", NS):
        bname = b.find("spirit:name", NS).text
        roles[bname] = [r for r in ("master", "slave") if b.find(f"spirit:{r}", NS) is not None]
        for p in b.iterfind("spirit:parameters/spirit:parameter", NS):
            params[bname, p.find("spirit:name", NS).text] = p.find("spirit:value", NS).text
    assert roles == {
        **{s: ["master" if s.startswith("m_") else "slave"] for s in streams},
        reset: ["slave"],
        clk: ["slave"],
    }
    assert params == {
        (reset, "POLARITY"): polarity,
        (clk, "ASSOCIATED_BUSIF"): ":".join(streams),
        (clk, "ASSOCIATED_RESET"): reset,
    }
    # The file set: the Verilog, next to the XML.
    for fs in comp.fileSets.fileSet:
        assert [(f.name, f.fileType) for f in fs.file] == [(f"{name}.v", "verilogSource")]
    views = [v.find("spirit:modelName", NS).text for v in root.iterfind(".//spirit:view", NS)]
    assert views == [name, name]


@pytest.mark.parametrize("axi_names", [False, True])
def test_engine_component_matches_the_verilog(axi_names):
    cfg = cfg_of(lanes=3, act_bits=5, weight_bits=4)
    kw = {"name": "eng", "axi_names": axi_names}
    check_component(
        component_xml(manifest(cfg, **kw)),
        generate_verilog(cfg, **kw),
        "eng",
        reset="aresetn" if axi_names else "rst",
        polarity="ACTIVE_LOW" if axi_names else "ACTIVE_HIGH",
        streams=["s_axis", "m_axis"],
    )


def test_layer_component_with_the_weight_port_matches_the_verilog():
    layer = small_layer(2)
    kw = {"name": "lay", "weight_port": True}
    check_component(
        component_xml(layer_manifest(layer, **kw)),
        generate_layer_verilog(layer, **kw),
        "lay",
        reset="rst",
        polarity="ACTIVE_HIGH",
        streams=["s_axis", "m_axis", "w_axis"],
    )


def test_network_component_matches_the_verilog():
    from logdot.generators.network import compile_network
    from tests.support.networks import TILED_FOLD, small_cnn

    text, man = compile_network(small_cnn(), fold=TILED_FOLD, name="net")
    xml_text = component_xml(man)
    check_component(
        xml_text,
        text,
        "net",
        reset="rst",
        polarity="ACTIVE_HIGH",
        streams=["s_axis", "m_axis"],
    )
    assert "<spirit:name>frame_error</spirit:name>" in xml_text


def test_the_check_fails_on_a_wrong_component():
    cfg = cfg_of(lanes=3, act_bits=5, weight_bits=4)
    man = manifest(cfg, name="eng")
    verilog = generate_verilog(cfg, name="eng")
    kw = {"reset": "rst", "polarity": "ACTIVE_HIGH", "streams": ["s_axis", "m_axis"]}
    good = component_xml(man)
    wrong_width = good.replace("<spirit:left>23</spirit:left>", "<spirit:left>22</spirit:left>")
    assert wrong_width != good
    wrong_dir = re.sub(
        r"(<spirit:name>m_axis_tready</spirit:name>\s*<spirit:wire>\s*<spirit:direction>)in",
        r"\1out",
        good,
    )
    assert wrong_dir != good
    wrong_map = good.replace(
        "<spirit:name>s_axis_tlast</spirit:name>\n          </spirit:physicalPort>",
        "<spirit:name>s_axis_tvalid</spirit:name>\n          </spirit:physicalPort>",
        1,
    )
    assert wrong_map != good
    wrong_polarity = good.replace("ACTIVE_HIGH", "ACTIVE_LOW")
    for bad in (wrong_width, wrong_dir, wrong_map, wrong_polarity):
        with pytest.raises(AssertionError):
            check_component(bad, verilog, "eng", **kw)
    check_component(good, verilog, "eng", **kw)
