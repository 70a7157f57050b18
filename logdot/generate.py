"""Verilog and manifest generation for a log dot-product engine.

:func:`write` is what the CLI and the co-simulation use: it writes ``NAME.v`` (the top
module of the stable Verilog contract) and ``NAME.json`` (the manifest) atomically, and never
overwrites without ``force``.

Manifest schema (``"schema": "logdot.engine/1"``; keys are stable)::

    name          top module name (also the file stem)
    parameters    every EngineConfig parameter: EngineConfig(**parameters) rebuilds the config
    derived       EngineConfig.to_dict()["derived"]: exact_acc_bits, saturating, result_bits,
                  sqrt2_r, in_bits, in_bytes, out_bytes, term_bits, tree_bits
    latency       cycles from the last input beat's transfer to m_axis_tvalid (int)
    in_bytes, out_bytes   byte widths of s_axis_tdata / m_axis_tdata
    ports         [{"name", "direction", "width"}] in contract order
    clock, reset  {"name": "clk"}, {"name": "rst", "synchronous": true, "active": "high"}
    s_axis        tdata layout: {"tdata_bits", "used_bits", "activations": [{"lane", "lsb",
                  "width"}], "weights": [{"lane", "lsb", "width", "sign_bit"}],
                  "padding": {"lsb", "width"}, "act_format", "act_signed", "weight_base"}
    m_axis        {"tdata_bits", "result_bits", "signed": true, "sign_extended": true}
    result        {"bits", "frac_bits", "signed", "scale"}: value = result * 2**scale_log2,
                  see EngineConfig.result_scale_log2
    tools         {"logdot", "amaranth", "python"} versions
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import re
import tempfile

from amaranth.back import verilog

from logdot.golden.formats import EngineConfig
from logdot.golden.linear_engine import LinearConfig
from logdot.hdl.engine import engine_latency
from logdot.hdl.linear import LinearDotTop
from logdot.hdl.top import PORTS, LogDotTop

__all__ = [
    "MANIFEST_SCHEMA",
    "check_name",
    "generate_verilog",
    "linear_verilog",
    "manifest",
    "write",
]

MANIFEST_SCHEMA = "logdot.engine/1"

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
    Verilog/SystemVerilog keyword. Raises :class:`TypeError` / :class:`ValueError` naming
    ``name``; returns ``name``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, not {name!r}")
    if not _IDENT.match(name) or len(name) > _MAX_NAME or name in _VERILOG_KEYWORDS:
        raise ValueError(
            f"name must be a Verilog identifier (letters, digits and '_', not starting with a "
            f"digit, at most {_MAX_NAME} characters, not a keyword), not {name!r}"
        )
    return name


def _check_config(config):
    if not isinstance(config, EngineConfig):
        raise TypeError(f"config must be an EngineConfig, not {config!r}")
    return config


def _tool_versions():
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


def _port_widths(config):
    return {
        "clk": 1,
        "rst": 1,
        "s_axis_tvalid": 1,
        "s_axis_tready": 1,
        "s_axis_tlast": 1,
        "s_axis_tdata": 8 * config.in_bytes,
        "m_axis_tvalid": 1,
        "m_axis_tready": 1,
        "m_axis_tdata": 8 * config.out_bytes,
    }


_OUTPUTS = ("s_axis_tready", "m_axis_tvalid", "m_axis_tdata")


def _reorder_ports(text, name):
    """Rewrite the top module's header so its ports are in contract order (:data:`PORTS`)."""
    pat = re.compile(rf"^module {re.escape(name)}\(([^;]*)\);", re.MULTILINE)
    match = pat.search(text)
    if match is None:
        raise RuntimeError(f"generated Verilog has no 'module {name}(...)' header")
    ports = [p.strip() for p in match.group(1).split(",")]
    if sorted(ports) != sorted(PORTS):
        raise RuntimeError(f"generated top module has ports {ports}, expected {list(PORTS)}")
    header = f"module {name}({', '.join(PORTS)});"
    return text[: match.start()] + header + text[match.end() :]


def _banner(config, name):
    p = config.to_dict()["parameters"]
    params = ", ".join(f"{k}={v!r}" for k, v in p.items())
    return (
        f"// {name}: logdot multiplier-free log dot-product engine (generated, do not edit).\n"
        f"// Parameters: {params}\n"
        f"// Latency {engine_latency(config)} cycles; s_axis_tdata {8 * config.in_bytes} bits, "
        f"m_axis_tdata {8 * config.out_bytes} bits; rst is synchronous, active high.\n"
        f"// Interface and bit layout: {name}.json.\n"
    )


def generate_verilog(config, *, name="logdot"):
    """Verilog text of the engine's AXI4-Stream top module ``name`` (plus its submodules).

    The top module's ports are exactly, in this order, ``clk, rst, s_axis_tvalid,
    s_axis_tready, s_axis_tlast, s_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tdata``.
    Submodules are named ``name.engine``, ``name.engine.lane0`` and so on.
    """
    _check_config(config)
    check_name(name)
    text = verilog.convert(
        LogDotTop(config=config), name=name, emit_src=False, strip_internal_attrs=True
    )
    return _banner(config, name) + _reorder_ports(text, name)


def manifest(config, *, name="logdot"):
    """The engine's manifest (a JSON-serializable dict; schema in this module's docstring)."""
    _check_config(config)
    check_name(name)
    d = config.to_dict()
    widths = _port_widths(config)
    a, w, n = config.act_bits, config.weight_bits, config.lanes
    scale = (
        "result * 2**EngineConfig.result_scale_log2(weight_fsr=..., act_exp=... | act_fsr=...)"
        f" is the real dot product; the result has {config.frac_bits} fraction bits"
    )
    return {
        "schema": MANIFEST_SCHEMA,
        "name": name,
        "parameters": d["parameters"],
        "derived": d["derived"],
        "latency": engine_latency(config),
        "in_bytes": config.in_bytes,
        "out_bytes": config.out_bytes,
        "ports": [
            {
                "name": p,
                "direction": "output" if p in _OUTPUTS else "input",
                "width": widths[p],
            }
            for p in PORTS
        ],
        "clock": {"name": "clk", "edge": "rising"},
        "reset": {"name": "rst", "synchronous": True, "active": "high"},
        "s_axis": {
            "tdata_bits": 8 * config.in_bytes,
            "used_bits": config.in_bits,
            "act_format": config.act_format,
            "act_signed": config.act_signed,
            "weight_base": config.weight_base,
            "activations": [{"lane": i, "lsb": config.act_lsb(i), "width": a} for i in range(n)],
            "weights": [
                {
                    "lane": i,
                    "lsb": config.weight_lsb(i),
                    "width": w,
                    "sign_bit": config.weight_lsb(i) + w - 1,
                }
                for i in range(n)
            ],
            "padding": {"lsb": config.in_bits, "width": 8 * config.in_bytes - config.in_bits},
            "tlast": "1 on the last beat of a dot product",
        },
        "m_axis": {
            "tdata_bits": 8 * config.out_bytes,
            "result_bits": config.result_bits,
            "signed": True,
            "sign_extended": True,
        },
        "result": {
            "bits": config.result_bits,
            "frac_bits": config.frac_bits,
            "signed": True,
            "scale": scale,
        },
        "tools": _tool_versions(),
    }


def _atomic_texts(items, force):
    """Write ``[(path, text), ...]`` via temp files in the same directories + os.replace."""
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
                if os.path.lexists(path):
                    raise FileExistsError(f"{path} exists; use force=True (--force) to overwrite")
        for (path, _), tmp in zip(items, temps, strict=True):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)


def write(config, out_dir, *, name="logdot", force=False):
    """Write ``out_dir/NAME.v`` and ``out_dir/NAME.json``; return both paths.

    Both texts are generated in memory first; then each file is written to a temporary file
    in ``out_dir`` and moved into place with :func:`os.replace`, so an error or interruption
    never leaves a half-written file. ``out_dir`` is created if missing.

    Raises
    ------
    FileExistsError
        When a target file exists and ``force`` is false (nothing is written).
    TypeError, ValueError
        For a bad ``config`` or ``name`` (nothing is written).
    OSError
        When ``out_dir`` cannot be created or written.
    """
    _check_config(config)
    check_name(name)
    if not isinstance(force, bool):
        raise TypeError(f"force must be a bool, not {force!r}")
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), out_dir)
    vpath = os.path.join(out_dir, f"{name}.v")
    jpath = os.path.join(out_dir, f"{name}.json")
    if not force:
        for path in (vpath, jpath):
            if os.path.lexists(path):
                raise FileExistsError(f"{path} exists; use force=True (--force) to overwrite")
    vtext = generate_verilog(config, name=name)
    jtext = json.dumps(manifest(config, name=name), indent=2) + "\n"
    os.makedirs(out_dir, exist_ok=True)
    _atomic_texts([(vpath, vtext), (jpath, jtext)], force)
    return vpath, jpath


def linear_verilog(config, *, name="logdot_linear"):
    """Verilog text of the baseline's AXI4-Stream top module ``name`` (logdot port order)."""
    if not isinstance(config, LinearConfig):
        raise TypeError(f"config must be a LinearConfig, not {config!r}")
    check_name(name)
    text = verilog.convert(
        LinearDotTop(config=config), name=name, emit_src=False, strip_internal_attrs=True
    )
    header = (
        f"// {name}: logdot LINEAR BASELINE engine (real multipliers; generated, do not edit).\n"
        f"// {config.lanes} lanes, {config.act_bits}-bit activations x {config.weight_bits}-bit "
        f"two's-complement weights; latency {engine_latency(config)} cycles.\n"
    )
    return header + _reorder_ports(text, name)
