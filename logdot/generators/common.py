"""What every logdot generator shares: names, port order, manifests' common parts, file writing.

The engine generator (:mod:`logdot.generators.engine`) and the layer generator
(:mod:`logdot.generators.layer`) both

- validate the top-module name (:func:`check_name`: a plain Verilog identifier, also the file
  stem),
- convert an Amaranth top module to Verilog (:func:`convert`) and rewrite its header so the
  ports are in contract order (:func:`reorder_ports`),
- describe the ports, clock and reset in the manifest the same way (:func:`port_entries`,
  :func:`stream_port_widths`, :func:`contract_ports`, :func:`clock_reset`) and record the
  tool versions (:func:`tool_versions`),
- start the Verilog with a comment block and its own ```timescale`` (:func:`banner`,
  :data:`TIMESCALE`),
- write ``NAME.v``, ``NAME.json``, ``NAME.vlt`` (Verilator lint waivers scoped to
  ``NAME.v``, :func:`logdot.tools.lint.verilator_config`), ``NAME.core`` and ``NAME_tb.v``
  (the FuseSoC core and its self-checking test bench, :mod:`logdot.generators.fusesoc`) and
  ``NAME.xml`` (IP-XACT, :mod:`logdot.generators.ipxact`) atomically, never overwriting
  without ``force`` (:func:`write_outputs`, built on :func:`atomic_write_texts`).

This module imports neither Amaranth (until :func:`convert` runs) nor torch.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import re
import tempfile

from logdot.tools import interrupt

__all__ = [
    "AXI_CLOCK",
    "AXI_RESET",
    "CLOCK",
    "LONG_CONVERSION_LANES",
    "OUTPUT_SUFFIXES",
    "RESET",
    "STREAM_OUTPUTS",
    "TIMESCALE",
    "atomic_write_texts",
    "banner",
    "bit_fields",
    "check_bool",
    "check_name",
    "clock_reset",
    "contract_ports",
    "conversion_notice",
    "convert",
    "manifest_parameters",
    "output_paths",
    "padding",
    "port_entries",
    "project_summary",
    "reorder_ports",
    "reset_words",
    "stream_port_widths",
    "tool_versions",
    "top_verilog",
    "write_design",
    "write_outputs",
]

#: The clock of every generated top module (manifest ``"clock"``).
CLOCK = {"name": "clk", "edge": "rising"}
#: The reset of every generated top module (manifest ``"reset"``).
RESET = {"name": "rst", "synchronous": True, "active": "high"}
#: The clock with ``--axi-names`` (manifest ``"clock"``).
AXI_CLOCK = {"name": "aclk", "edge": "rising"}
#: The reset with ``--axi-names``: synchronous, active low (manifest ``"reset"``).
AXI_RESET = {"name": "aresetn", "synchronous": True, "active": "low"}

#: The output ports of the ``s_axis`` -> ``m_axis`` stream pair every generated top has
#: (manifest ``"direction": "output"``; every other port of the pair is an input).
STREAM_OUTPUTS = ("s_axis_tready", "m_axis_tvalid", "m_axis_tlast", "m_axis_tdata")

#: Port names with ``--axi-names`` (the Vivado IP-integrator names).
_AXI_NAMES = {"clk": "aclk", "rst": "aresetn"}


def clock_reset(axi_names):
    """Manifest ``"clock"`` and ``"reset"`` entries (new dicts) for the port naming.

    Parameters
    ----------
    axi_names : bool
        ``aclk``/``aresetn`` (:data:`AXI_CLOCK`, :data:`AXI_RESET`) instead of ``clk``/``rst``
        (:data:`CLOCK`, :data:`RESET`).
    """
    check_bool(axi_names, "axi_names")
    return (dict(AXI_CLOCK), dict(AXI_RESET)) if axi_names else (dict(CLOCK), dict(RESET))


def reset_words(axi_names):
    """The reset's description in a generated file's banner."""
    check_bool(axi_names, "axi_names")
    if axi_names:
        return "aresetn is synchronous (aclk), active low"
    return "rst is synchronous, active high"


def contract_ports(ports, axi_names):
    """``ports`` (contract order) with ``clk``/``rst`` renamed ``aclk``/``aresetn`` when
    ``axi_names``."""
    check_bool(axi_names, "axi_names")
    return [_AXI_NAMES.get(p, p) for p in ports] if axi_names else list(ports)


def manifest_parameters(parameters):
    """Configuration parameters for a manifest: ``weight_base`` as a string, ``"2"`` or
    ``"sqrt2"`` (one JSON type in every manifest; ``EngineConfig`` accepts both spellings)."""
    out = dict(parameters)
    if "weight_base" in out:
        out["weight_base"] = str(out["weight_base"])
    return out


#: The time unit and precision of every generated file (its own, so that a testbench with a
#: ```timescale`` does not pass it on to the engine's modules, which simulators warn about).
TIMESCALE = "1ns/1ps"

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_NAME = 64
# Verilog-2005 and SystemVerilog-2017 keywords (a top module must not be named like one).
_VERILOG_KEYWORDS = frozenset(
    """
    accept_on alias always always_comb always_ff always_latch and assert assign assume automatic
    before begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle
    checker class clocking cmos config const constraint context continue cover covergroup
    coverpoint cross deassign default defparam design disable dist do edge else end endcase
    endchecker endclass endclocking endconfig endfunction endgenerate endgroup endinterface
    endmodule endpackage endprimitive endprogram endproperty endsequence endspecify endtable
    endtask enum event eventually expect export extends extern final first_match for force
    foreach forever fork forkjoin function generate genvar global highz0 highz1 if iff ifnone
    ignore_bins illegal_bins implements implies import incdir include initial inout input inside
    instance int integer interconnect interface intersect join join_any join_none large let
    liblist library local localparam logic longint macromodule matches medium modport module nand
    negedge nettype new nexttime nmos nor noshowcancelled not notif0 notif1 null or output package
    packed parameter pmos posedge primitive priority program property protected pull0 pull1
    pulldown pullup pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase randsequence
    rcmos real realtime ref reg reject_on release repeat restrict return rnmos rpmos rtran
    rtranif0 rtranif1 s_always s_eventually s_nexttime s_until s_until_with scalared sequence
    shortint shortreal showcancelled signed small soft solve specify specparam static string
    strong strong0 strong1 struct super supply0 supply1 sync_accept_on sync_reject_on table
    tagged task this throughout time timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1
    triand trior trireg type typedef union unique unique0 unsigned until until_with untyped use
    uwire var vectored virtual void wait wait_order wand weak weak0 weak1 while wildcard wire
    with within wor xnor xor
    """.split()  # noqa: SIM905
)


def check_name(name):
    """Validate a top-module name: a plain Verilog identifier (also the file stem).

    Letters, digits and ``_``, not starting with a digit, at most 64 characters, not a
    Verilog/SystemVerilog keyword.

    Parameters
    ----------
    name : str
        The name to check.

    Returns
    -------
    str
        ``name``.

    Raises
    ------
    TypeError, ValueError
        Naming ``name``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, not {name!r}")
    if not _IDENT.match(name) or len(name) > _MAX_NAME or name in _VERILOG_KEYWORDS:
        raise ValueError(
            f"name must be a Verilog identifier (letters, digits and '_', not starting with a "
            f"digit, at most {_MAX_NAME} characters, not a keyword), not {name!r}"
        )
    return name


def check_bool(value, name):
    """Return ``value`` if it is a bool, else raise :class:`TypeError` naming ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return value


def tool_versions():
    """Versions of the tools that wrote a file (manifest ``"tools"``).

    Returns
    -------
    dict
        ``{"logdot", "amaranth", "python"}`` version strings (``"unknown"`` for logdot when
        it runs from a source tree without being installed).
    """
    import amaranth

    try:
        from importlib.metadata import version

        logdot_version = version("logdot")
    except Exception:  # not installed (e.g. run from a source tree)
        logdot_version = "unknown"
    return {
        "logdot": logdot_version,
        "amaranth": amaranth.__version__,
        "python": platform.python_version(),
    }


def stream_port_widths(config):
    """Widths of the clock, reset (both namings), ``s_axis_*`` and ``m_axis_*`` ports.

    Parameters
    ----------
    config : object
        Anything with ``in_bytes`` and ``out_bytes`` (an engine or a layer configuration).

    Returns
    -------
    dict
        Port name to width in bits.
    """
    return {
        "clk": 1,
        "rst": 1,
        "aclk": 1,
        "aresetn": 1,
        "s_axis_tvalid": 1,
        "s_axis_tready": 1,
        "s_axis_tlast": 1,
        "s_axis_tdata": 8 * config.in_bytes,
        "m_axis_tvalid": 1,
        "m_axis_tready": 1,
        "m_axis_tlast": 1,
        "m_axis_tdata": 8 * config.out_bytes,
    }


def port_entries(ports, widths, outputs):
    """Manifest ``"ports"``: ``[{"name", "direction", "width"}]`` in the order of ``ports``.

    Parameters
    ----------
    ports : sequence of str
        Port names in contract order.
    widths : dict
        Port name to width (e.g. :func:`stream_port_widths`).
    outputs : collection of str
        The output ports (every other port is an input).
    """
    return [
        {"name": p, "direction": "output" if p in outputs else "input", "width": widths[p]}
        for p in ports
    ]


def bit_fields(count, lsb, width, *, key="lane", sign_bit=False):
    """Manifest bit fields of a stream word: ``[{key: i, "lsb", "width"[, "sign_bit"]}]``.

    Parameters
    ----------
    count : int
        Number of fields.
    lsb : callable
        ``lsb(i)``: the lowest bit of field ``i`` (e.g. ``EngineConfig.act_lsb``).
    width : int
        Width of every field.
    key : str
        Name of the index entry (``"lane"``, ``"pe"``).
    sign_bit : bool
        Also give the field's top bit as ``"sign_bit"``.
    """
    fields = []
    for i in range(count):
        field = {key: i, "lsb": lsb(i), "width": width}
        if sign_bit:
            field["sign_bit"] = field["lsb"] + width - 1
        fields.append(field)
    return fields


def padding(used_bits, nbytes):
    """Manifest ``"padding"`` of a stream word: the bits above ``used_bits`` in ``nbytes``."""
    return {"lsb": used_bits, "width": 8 * nbytes - used_bits}


#: From this many lanes (all PEs together) on, the CLI says that a conversion will take a
#: while (:func:`conversion_notice`): Amaranth's Verilog backend takes about a minute per
#: 1000 lanes (45-75 s for a 1024-lane engine), 15 s or more from here.
LONG_CONVERSION_LANES = 256


def conversion_notice(lanes, what):
    """The line the CLI prints to stderr before a long conversion, or ``None``.

    Parameters
    ----------
    lanes : int
        Lanes of the design (all PEs together).
    what : str
        The design, e.g. ``"a 1024-lane engine"``.

    Returns
    -------
    str or None
        ``"logdot: converting WHAT to Verilog (about a minute per 1000 lanes) ..."`` when
        ``lanes >= LONG_CONVERSION_LANES``, else ``None``.
    """
    if lanes < LONG_CONVERSION_LANES:
        return None
    return f"logdot: converting {what} to Verilog (about a minute per 1000 lanes) ..."


def convert(top, name):
    """Verilog text of an Amaranth top module ``top`` named ``name`` (no source attributes)."""
    from amaranth.back import verilog

    return verilog.convert(top, name=name, emit_src=False, strip_internal_attrs=True)


def top_verilog(top, name, ports, *, axi_names, banner):
    """``banner`` and the Verilog text of the stream top ``top`` named ``name``, its ports in
    the contract order ``ports`` (:func:`contract_ports`, :func:`reorder_ports`); with
    ``axi_names``, ``top`` is wrapped in :class:`logdot.hdl.top.AxiNamesTop` first (``aclk``,
    ``aresetn``)."""
    check_name(name)
    ports = contract_ports(ports, axi_names)
    if axi_names:
        from logdot.hdl.top import AxiNamesTop

        top = AxiNamesTop(inner=top)
    return banner + reorder_ports(convert(top, name), name, ports)


def reorder_ports(text, name, ports):
    """Rewrite the header of module ``name`` in ``text`` so its ports are in ``ports`` order.

    Amaranth orders a top module's ports by its own rules; the Verilog contract fixes the
    order. Raises :class:`RuntimeError` when the header is missing or its port set differs.
    """
    ports = list(ports)
    pat = re.compile(rf"^module {re.escape(name)}\(([^;]*)\);", re.MULTILINE)
    match = pat.search(text)
    if match is None:
        raise RuntimeError(f"generated Verilog has no 'module {name}(...)' header")
    found = [p.strip() for p in match.group(1).split(",")]
    if sorted(found) != sorted(ports):
        raise RuntimeError(f"generated top module has ports {found}, expected {ports}")
    return text[: match.start()] + f"module {name}({', '.join(ports)});" + text[match.end() :]


def banner(lines):
    """The top of a generated Verilog file: ``// line`` per line, then ```timescale``.

    The file's own ```timescale`` (:data:`TIMESCALE`) keeps Icarus quiet when a
    testbench with a ```timescale`` is compiled before it, and gives every module of the
    file a defined time unit.
    """
    return "".join(f"// {line}\n" for line in lines) + f"`timescale {TIMESCALE}\n"


def atomic_write_texts(items, force):
    """Write ``[(path, text), ...]`` via temporary files in the same folders + :func:`os.replace`.

    Every text goes to a temporary file first (flushed and synced); only when all are
    written are they moved into place, so an error or an interrupt never leaves a partial
    file or a temporary file behind.

    Raises
    ------
    FileExistsError
        When a target exists and ``force`` is false (nothing is replaced).
    """
    temps = []
    try:
        for path, text in items:
            fd, tmp = tempfile.mkstemp(
                prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path)
            )
            temps.append(tmp)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
        if not force:
            for path, _ in items:
                _refuse_existing(path)
        for (path, _), tmp in zip(items, temps, strict=True):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)


def _refuse_existing(path):
    if os.path.lexists(path):
        raise FileExistsError(f"{path} exists; use force=True (--force) to overwrite")


#: What :func:`write_outputs` writes, as suffixes of the name: the Verilog, the manifest, the
#: Verilator lint waivers, the FuseSoC core, its test bench and the IP-XACT component.
OUTPUT_SUFFIXES = (".v", ".json", ".vlt", ".core", "_tb.v", ".xml")


def output_paths(out_dir, name):
    """The paths :func:`write_outputs` writes in ``out_dir``, in :data:`OUTPUT_SUFFIXES` order:
    ``(NAME.v, NAME.json, NAME.vlt, NAME.core, NAME_tb.v, NAME.xml)``."""
    out_dir = os.fspath(out_dir)
    return tuple(os.path.join(out_dir, f"{name}{ext}") for ext in OUTPUT_SUFFIXES)


def project_summary(vpath):
    """What the CLI says about the project files next to ``vpath`` (``DIR/NAME.v``):
    ``"FuseSoC core DIR/NAME.core (test bench DIR/NAME_tb.v), IP-XACT DIR/NAME.xml"``."""
    stem = os.fspath(vpath)[: -len(".v")]
    return f"FuseSoC core {stem}.core (test bench {stem}_tb.v), IP-XACT {stem}.xml"


def write_outputs(out_dir, name, make, *, force, vectors, before_convert=None):
    """Write the files of :func:`output_paths` into ``out_dir``; return ``(NAME.v, NAME.json)``.

    Existing files are refused before anything is generated (unless ``force``); then
    ``make()`` returns ``(verilog_text, manifest_dict)``, both generated in memory, and
    ``vectors(manifest_dict)`` the test-bench vectors (a
    :class:`logdot.generators.fusesoc.StreamVectors` from the golden model), and the six
    files are written together with :func:`atomic_write_texts`: ``NAME.v``, ``NAME.json``,
    ``NAME.vlt`` (the Verilator configuration waiving
    :data:`logdot.tools.lint.LINT_WAIVERS` in ``NAME.v`` only,
    :func:`logdot.tools.lint.verilator_config`), ``NAME.core`` and ``NAME_tb.v`` (the FuseSoC
    core and test bench) and ``NAME.xml`` (IP-XACT)
    (:func:`logdot.generators.fusesoc.project_files`). ``out_dir`` is created if missing.

    ``before_convert``, if given, is called with no argument after the checks, right before
    ``make()`` (the CLI prints its :func:`conversion_notice` there, so a refused run prints
    only its error).

    Raises
    ------
    FileExistsError
        When a target file exists and ``force`` is false (nothing is written).
    OSError
        When ``out_dir`` is not a folder or cannot be created or written.
    """
    check_bool(force, "force")
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), out_dir)
    from logdot.generators.fusesoc import project_files
    from logdot.tools.lint import verilator_config

    paths = output_paths(out_dir, name)
    if not force:
        for path in paths:
            _refuse_existing(path)
    if before_convert is not None:
        before_convert()
    vtext, manifest = make()
    extra = project_files(manifest, vectors(manifest))
    interrupt.check()  # a Ctrl-C swallowed during generation: write nothing
    jtext = json.dumps(manifest, indent=2) + "\n"
    ctext = verilator_config(os.path.basename(paths[0]))
    os.makedirs(out_dir, exist_ok=True)
    items = [(paths[0], vtext), (paths[1], jtext), (paths[2], ctext)]
    items += [(os.path.join(out_dir, file), text) for file, text in extra]
    atomic_write_texts(items, force)
    return paths[0], paths[1]


def write_design(out_dir, design, parts, *, force, before_convert=None, **options):
    """:func:`write_outputs` for a generator whose texts are functions of one design.

    ``parts`` is ``(verilog, manifest, vectors)``: ``verilog(design, **options)`` returns the
    Verilog text, ``manifest(design, **options)`` the manifest dict and ``vectors(design)``
    the test-bench vectors; ``options`` hold the top-module ``name`` and the generator's
    other keyword options (already checked). Returns ``(NAME.v, NAME.json)``.
    """
    verilog, manifest, vectors = parts

    def make():
        return verilog(design, **options), manifest(design, **options)

    return write_outputs(
        out_dir,
        options["name"],
        make,
        force=force,
        vectors=lambda _: vectors(design),
        before_convert=before_convert,
    )
