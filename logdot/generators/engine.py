"""Verilog and manifest generation for a log dot-product engine.

:func:`write` is what the CLI and the co-simulation use: it writes ``NAME.v`` (the top
module of the engine's Verilog contract), ``NAME.json`` (the manifest) and ``NAME.vlt``
(Verilator lint waivers scoped to ``NAME.v``) atomically, and never overwrites without
``force`` (:func:`logdot.generators.common.write_outputs`).

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

from logdot.generators.common import (
    CLOCK,
    RESET,
    banner,
    bit_fields,
    check_name,
    convert,
    padding,
    port_entries,
    reorder_ports,
    stream_port_widths,
    tool_versions,
    write_outputs,
)
from logdot.golden.formats import EngineConfig
from logdot.hdl.engine import engine_latency
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

_OUTPUTS = ("s_axis_tready", "m_axis_tvalid", "m_axis_tdata")


def _check_config(config):
    if not isinstance(config, EngineConfig):
        raise TypeError(f"config must be an EngineConfig, not {config!r}")
    return config


def _banner(config, name):
    params = ", ".join(f"{k}={v!r}" for k, v in config.parameters().items())
    return banner(
        [
            f"{name}: logdot multiplier-free log dot-product engine (generated, do not edit).",
            f"Parameters: {params}",
            f"Latency {engine_latency(config)} cycles; s_axis_tdata {8 * config.in_bytes} bits, "
            f"m_axis_tdata {8 * config.out_bytes} bits; rst is synchronous, active high.",
            f"Interface and bit layout: {name}.json.",
        ]
    )


def generate_verilog(config, *, name="logdot"):
    """Verilog text of the engine's AXI4-Stream top module ``name`` (plus its submodules).

    The top module's ports are exactly, in this order, ``clk, rst, s_axis_tvalid,
    s_axis_tready, s_axis_tlast, s_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tdata``.
    Submodules are named ``name.engine``, ``name.engine.lane0`` and so on.
    """
    _check_config(config)
    check_name(name)
    text = convert(LogDotTop(config=config), name)
    return _banner(config, name) + reorder_ports(text, name, PORTS)


def manifest(config, *, name="logdot"):
    """The engine's manifest (a JSON-serializable dict; schema in this module's docstring)."""
    _check_config(config)
    check_name(name)
    d = config.to_dict()
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
        "ports": port_entries(PORTS, stream_port_widths(config), _OUTPUTS),
        "clock": dict(CLOCK),
        "reset": dict(RESET),
        "s_axis": {
            "tdata_bits": 8 * config.in_bytes,
            "used_bits": config.in_bits,
            "act_format": config.act_format,
            "act_signed": config.act_signed,
            "weight_base": config.weight_base,
            "activations": bit_fields(n, config.act_lsb, a),
            "weights": bit_fields(n, config.weight_lsb, w, sign_bit=True),
            "padding": padding(config.in_bits, config.in_bytes),
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
        "tools": tool_versions(),
    }


def write(config, out_dir, *, name="logdot", force=False, before_convert=None):
    """Write ``out_dir/NAME.v``, ``NAME.json`` and ``NAME.vlt``; return ``(NAME.v, NAME.json)``.

    ``NAME.vlt`` waives :data:`logdot.tools.lint.LINT_WAIVERS` in ``NAME.v`` only:
    ``verilator --lint-only -Wall NAME.vlt NAME.v`` is clean, and other files of the same run
    keep every warning. All texts are generated in memory first; then each file is written to
    a temporary file in ``out_dir`` and moved into place with :func:`os.replace`, so an error
    or interruption never leaves a half-written file. ``out_dir`` is created if missing
    (:func:`logdot.generators.common.write_outputs`; ``before_convert`` is called right before
    the conversion, after every check).

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

    def make():
        return generate_verilog(config, name=name), manifest(config, name=name)

    return write_outputs(out_dir, name, make, force=force, before_convert=before_convert)


def linear_verilog(config, *, name="logdot_linear"):
    """Verilog text of the baseline's AXI4-Stream top module ``name`` (logdot port order).

    The linear baseline (and with it numpy) is imported here, not when the module loads, so
    that ``logdot generate`` does not pay for it.
    """
    from logdot.golden.linear_engine import LinearConfig
    from logdot.hdl.linear import LinearDotTop

    if not isinstance(config, LinearConfig):
        raise TypeError(f"config must be a LinearConfig, not {config!r}")
    check_name(name)
    text = convert(LinearDotTop(config=config), name)
    header = banner(
        [
            f"{name}: logdot LINEAR BASELINE engine (real multipliers; generated, do not edit).",
            f"{config.lanes} lanes, {config.act_bits}-bit activations x {config.weight_bits}-bit "
            f"two's-complement weights; latency {engine_latency(config)} cycles.",
        ]
    )
    return header + reorder_ports(text, name, PORTS)
