"""IP-XACT (IEEE 1685-2009) component of a generated design: ``NAME.xml`` for Vivado's IP catalog.

:func:`component_xml` describes the top module of a manifest as a component
``logdot:generated:NAME:1.0`` with

- one bus interface per AXI4-Stream port group (``s_axis`` slave, ``m_axis`` master, and the
  layer engine's ``w_axis`` slave), of Xilinx's bus definition
  ``xilinx.com:interface:axis:1.0`` with the abstraction ``axis_rtl``, so Vivado's IP
  integrator connects them (port maps ``TVALID``, ``TREADY``, ``TLAST``, ``TDATA``);
- the reset interface (``xilinx.com:signal:reset:1.0``, ``POLARITY`` ``ACTIVE_HIGH`` for
  ``rst``, ``ACTIVE_LOW`` for ``aresetn`` with ``--axi-names``) and the clock interface
  (``xilinx.com:signal:clock:1.0``, ``ASSOCIATED_BUSIF`` every stream interface,
  ``ASSOCIATED_RESET`` the reset port);
- the model: a synthesis and a simulation view of module ``NAME`` and every port with its
  direction and width (``vector`` ``left`` = width - 1, ``right`` = 0), in contract order;
- the file set ``NAME.v`` (relative to the XML file).

Vivado reads an IP repository folder's ``component.xml``: copy ``NAME.xml`` there under that
name, next to ``NAME.v`` (README, "Use it in your project"). Ports and interfaces come from
the manifest (``"ports"``, ``"clock"``, ``"reset"``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

__all__ = ["AXIS_BUS", "IPXACT_NAMESPACE", "component_xml", "stream_interfaces"]

#: The IEEE 1685-2009 namespace (prefix ``spirit``).
IPXACT_NAMESPACE = "http://www.spiritconsortium.org/XMLSchema/SPIRIT/1685-2009"
_XILINX_NAMESPACE = "http://www.xilinx.com"
#: Xilinx's AXI4-Stream bus definition and its RTL abstraction, ``(vendor, library, name,
#: version)``.
AXIS_BUS = ("xilinx.com", "interface", "axis", "1.0")
_AXIS_RTL = ("xilinx.com", "interface", "axis_rtl", "1.0")
_CLOCK_BUS = ("xilinx.com", "signal", "clock", "1.0")
_CLOCK_RTL = ("xilinx.com", "signal", "clock_rtl", "1.0")
_RESET_BUS = ("xilinx.com", "signal", "reset", "1.0")
_RESET_RTL = ("xilinx.com", "signal", "reset_rtl", "1.0")
_SIGNALS = ("tvalid", "tready", "tlast", "tdata")
_SYNTH_VIEW = ("xilinx_anylanguagesynthesis", "Synthesis", ":vivado.xilinx.com:synthesis")
_SIM_VIEW = (
    "xilinx_anylanguagebehavioralsimulation",
    "Simulation",
    ":vivado.xilinx.com:simulation",
)
_FILESET = "xilinx_anylanguagesynthesis_view_fileset"
_SIM_FILESET = "xilinx_anylanguagebehavioralsimulation_view_fileset"


def stream_interfaces(manifest):
    """``[(interface, "slave" | "master", {logical: physical port})]`` of a manifest's streams.

    An interface is a port prefix (``s_axis``, ``m_axis``, ``w_axis``) with the four
    AXI4-Stream signals; ``m_*`` is a master, the others slaves.
    """
    names = [p["name"] for p in manifest["ports"]]
    out = []
    for prefix in dict.fromkeys(n.rsplit("_", 1)[0] for n in names if n.endswith("_tvalid")):
        ports = {s.upper(): f"{prefix}_{s}" for s in _SIGNALS if f"{prefix}_{s}" in names}
        out.append((prefix, "master" if prefix.startswith("m_") else "slave", ports))
    return out


class _Writer:
    def __init__(self):
        self.s = f"{{{IPXACT_NAMESPACE}}}"

    def el(self, parent, tag, text=None, **attrib):
        e = ET.SubElement(parent, self.s + tag, {self.s + k: v for k, v in attrib.items()})
        if text is not None:
            e.text = str(text)
        return e

    def vlnv_ref(self, parent, tag, vlnv):
        vendor, library, name, version = vlnv
        self.el(parent, tag, vendor=vendor, library=library, name=name, version=version)

    def bus(self, parent, name, bus, rtl, mode, ports, parameters=()):
        b = self.el(parent, "busInterface")
        self.el(b, "name", name)
        self.vlnv_ref(b, "busType", bus)
        self.vlnv_ref(b, "abstractionType", rtl)
        self.el(b, mode)
        maps = self.el(b, "portMaps")
        for logical, physical in ports.items():
            m = self.el(maps, "portMap")
            self.el(self.el(m, "logicalPort"), "name", logical)
            self.el(self.el(m, "physicalPort"), "name", physical)
        if parameters:
            ps = self.el(b, "parameters")
            for key, value in parameters:
                p = self.el(ps, "parameter")
                self.el(p, "name", key)
                self.el(p, "value", value, id=f"BUSIFPARAM_VALUE.{name.upper()}.{key}")


def component_xml(manifest):
    """``NAME.xml``: the IP-XACT 1685-2009 component of a design (module docstring).

    Parameters
    ----------
    manifest : dict
        The design's manifest (``"name"``, ``"ports"``, ``"clock"``, ``"reset"``).

    Returns
    -------
    str
        The XML document (UTF-8 declaration, two-space indentation).
    """
    ET.register_namespace("spirit", IPXACT_NAMESPACE)
    ET.register_namespace("xilinx", _XILINX_NAMESPACE)
    w = _Writer()
    name = manifest["name"]
    clk, rst = manifest["clock"]["name"], manifest["reset"]["name"]
    polarity = "ACTIVE_LOW" if manifest["reset"]["active"] == "low" else "ACTIVE_HIGH"
    streams = stream_interfaces(manifest)
    root = ET.Element(w.s + "component")
    w.el(root, "vendor", "logdot")
    w.el(root, "library", "generated")
    w.el(root, "name", name)
    w.el(root, "version", "1.0")
    buses = w.el(root, "busInterfaces")
    for prefix, mode, ports in streams:
        w.bus(buses, prefix, AXIS_BUS, _AXIS_RTL, mode, ports)
    w.bus(buses, rst, _RESET_BUS, _RESET_RTL, "slave", {"RST": rst}, [("POLARITY", polarity)])
    busif = ":".join(prefix for prefix, _, _ in streams)
    w.bus(
        buses,
        clk,
        _CLOCK_BUS,
        _CLOCK_RTL,
        "slave",
        {"CLK": clk},
        [("ASSOCIATED_BUSIF", busif), ("ASSOCIATED_RESET", rst)],
    )
    model = w.el(root, "model")
    views = w.el(model, "views")
    for (view, display, env), fileset in ((_SYNTH_VIEW, _FILESET), (_SIM_VIEW, _SIM_FILESET)):
        v = w.el(views, "view")
        w.el(v, "name", view)
        w.el(v, "displayName", display)
        w.el(v, "envIdentifier", env)
        w.el(v, "language", "verilog")
        w.el(v, "modelName", name)
        w.el(w.el(v, "fileSetRef"), "localName", fileset)
    ports = w.el(model, "ports")
    for p in manifest["ports"]:
        port = w.el(ports, "port")
        w.el(port, "name", p["name"])
        wire = w.el(port, "wire")
        w.el(wire, "direction", "out" if p["direction"] == "output" else "in")
        if p["width"] > 1:
            vec = w.el(wire, "vector")
            w.el(vec, "left", p["width"] - 1)
            w.el(vec, "right", 0)
    filesets = w.el(root, "fileSets")
    for fileset in (_FILESET, _SIM_FILESET):
        fs = w.el(filesets, "fileSet")
        w.el(fs, "name", fileset)
        f = w.el(fs, "file")
        w.el(f, "name", f"{name}.v")
        w.el(f, "fileType", "verilogSource")
    w.el(root, "description", f"logdot {name}: AXI4-Stream in and out (interface: {name}.json)")
    ext = ET.SubElement(root, w.s + "vendorExtensions")
    core = ET.SubElement(ext, f"{{{_XILINX_NAMESPACE}}}coreExtensions")
    ET.SubElement(core, f"{{{_XILINX_NAMESPACE}}}displayName").text = name
    tax = ET.SubElement(core, f"{{{_XILINX_NAMESPACE}}}taxonomies")
    ET.SubElement(tax, f"{{{_XILINX_NAMESPACE}}}taxonomy").text = "/UserIP"
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=False).join(
        ['<?xml version="1.0" encoding="UTF-8"?>\n', "\n"]
    )
