"""Verilog and manifest generation for a log dot-product engine.

:func:`write` is what the CLI and the co-simulation use: it writes ``NAME.v`` (the top
module of the engine's Verilog contract), ``NAME.json`` (the manifest) and ``NAME.vlt``
(Verilator lint waivers scoped to ``NAME.v``) atomically, and never overwrites without
``force`` (:func:`logdot.generators.common.write_outputs`).

Manifest schema (``"schema": "logdot.engine/2"``; keys are stable, no value twice)::

    name          top module name (also the file stem)
    parameters    every EngineConfig parameter: EngineConfig(**parameters) rebuilds the config;
                  weight_base is the string "2" or "sqrt2"
    derived       EngineConfig.to_dict()["derived"]: exact_acc_bits, saturating, result_bits,
                  sqrt2_r, in_bits, in_bytes, out_bytes (byte widths of s_axis_tdata /
                  m_axis_tdata), term_bits, tree_bits, log_state_bits (None unless
                  accumulate is "log"), cycles_per_beat
    latency_cycles               clock cycles from the last input beat's transfer to
                                 m_axis_tvalid of its result, without back-pressure (int)
    initiation_interval_cycles   clock cycles between accepted input beats: 1, or lanes
                                 with accumulate "log" (EngineConfig.cycles_per_beat)
    axi_names     true: ports aclk / aresetn (active low) instead of clk / rst
    ports         [{"name", "direction", "width"}] in contract order
    clock, reset  {"name", "edge"}, {"name", "synchronous": true, "active": "high" | "low"}
    s_axis        tdata layout: {"tdata_bits", "used_bits", "activations": [{"lane", "lsb",
                  "width"}], "weights": [{"lane", "lsb", "width", "sign_bit"}],
                  "padding": {"lsb", "width"}, "tlast"}
    m_axis        {"tdata_bits", "signed": true, "sign_extended": true, "tlast": "always 1"}
    result        {"signed": true, "scale_log2", "encoding"}: the real dot product is
                  result * 2**(weight_fsr_coeff * weight_fsr + act_input + offset), with
                  scale_log2 = {"real_value" (that formula, numbers filled in),
                  "weight_fsr_coeff", "act_input", "offset"}; the
                  FSRs are the quantizers' (no default), see EngineConfig.result_scale_log2
    tools         {"logdot", "amaranth", "python"} versions
"""

from __future__ import annotations

from logdot.generators import common
from logdot.golden.formats import EngineConfig
from logdot.hdl.engine import engine_latency
from logdot.hdl.top import PORTS, LogDotTop

__all__ = [
    "MANIFEST_SCHEMA",
    "generate_verilog",
    "linear_verilog",
    "manifest",
    "result_scale",
    "write",
]

MANIFEST_SCHEMA = "logdot.engine/2"


#: The manifest's ``result.encoding``, per ``accumulate`` mode.
_ENCODINGS = {
    "exact": "the exact dot product (wrapping or saturating as acc_bits says)",
    "log": "log-domain accumulation: D(Lpos) - D(Lneg) with frac_bits fraction bits, the "
    "terms added one per cycle in stream order (docs/formats.md, Log-domain accumulation)",
}


def _check_config(config):
    if not isinstance(config, EngineConfig):
        raise TypeError(f"config must be an EngineConfig, not {config!r}")
    return config


def _banner(config, name, axi_names=False):
    params = ", ".join(f"{k}={v!r}" for k, v in config.parameters().items())
    return common.banner(
        [
            f"{name}: logdot multiplier-free log dot-product engine (generated, do not edit).",
            f"Parameters: {params}",
            f"Latency {engine_latency(config)} cycles; s_axis_tdata {8 * config.in_bytes} bits, "
            f"m_axis_tdata {8 * config.out_bytes} bits; "
            f"{common.reset_words(axi_names)}; m_axis_tlast is 1 on every result.",
            f"Interface and bit layout: {name}.json.",
        ]
    )


def generate_verilog(config, *, name="logdot", axi_names=False):
    """Verilog text of the engine's AXI4-Stream top module ``name`` (plus its submodules).

    The top module's ports are exactly, in this order, ``clk, rst, s_axis_tvalid,
    s_axis_tready, s_axis_tlast, s_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tlast,
    m_axis_tdata``; with ``axi_names``, ``aclk`` and ``aresetn`` (synchronous, active low)
    replace ``clk`` and ``rst`` (:class:`logdot.hdl.top.AxiNamesTop`). Submodules are named
    ``name.engine``, ``name.engine.lane0`` and so on (``name.top.engine...`` with
    ``axi_names``).
    """
    _check_config(config)
    common.check_name(name)
    top = LogDotTop(config=config)
    banner = _banner(config, name, axi_names)  # checks axi_names
    return common.top_verilog(top, name, PORTS, axi_names=axi_names, banner=banner)


def result_scale(config):
    """The real value of one result LSB as a closed form (manifest ``result.scale_log2``).

    ``result * 2**(weight_fsr_coeff * weight_fsr + act + offset)`` is the real dot product,
    where ``act`` is ``act_exp`` (linear activations: their scale ``2**act_exp``) or
    ``act_fsr`` (log activations), and ``weight_fsr`` is the weight quantizer's full-scale
    exponent; equal to :meth:`EngineConfig.result_scale_log2` for every FSR.

    Returns
    -------
    dict
        ``{"real_value", "weight_fsr_coeff", "act_input", "offset"}`` (``weight_fsr_coeff`` is
        1 in base 2, 0.5 in base sqrt(2); ``offset`` is an int or a half-integer).
    """
    coeff = 1 if config.weight_base == 2 else 0.5
    offset = coeff * config.weight_unit_offset - config.frac_bits
    if config.act_is_log:
        act = "act_fsr"
        offset += 1 - (1 << config.act_code_bits)
    else:
        act = "act_exp"
    if float(offset).is_integer():
        offset = int(offset)
    sign = "-" if offset < 0 else "+"
    return {
        "real_value": f"result * 2**({coeff} * weight_fsr + {act} {sign} {abs(offset)})",
        "weight_fsr_coeff": coeff,
        "act_input": act,
        "offset": offset,
    }


def manifest(config, *, name="logdot", axi_names=False):
    """The engine's manifest (a JSON-serializable dict; schema in this module's docstring)."""
    _check_config(config)
    common.check_name(name)
    d = config.to_dict()
    a, w, n = config.act_bits, config.weight_bits, config.lanes
    clock, reset = common.clock_reset(axi_names)
    ports = common.contract_ports(PORTS, axi_names)
    return {
        "schema": MANIFEST_SCHEMA,
        "name": name,
        "parameters": common.manifest_parameters(d["parameters"]),
        "derived": d["derived"],
        "latency_cycles": engine_latency(config),
        "initiation_interval_cycles": config.cycles_per_beat,
        "axi_names": axi_names,
        "ports": common.port_entries(
            ports, common.stream_port_widths(config), common.STREAM_OUTPUTS
        ),
        "clock": clock,
        "reset": reset,
        "s_axis": {
            "tdata_bits": 8 * config.in_bytes,
            "used_bits": config.in_bits,
            "activations": common.bit_fields(n, config.act_lsb, a),
            "weights": common.bit_fields(n, config.weight_lsb, w, sign_bit=True),
            "padding": common.padding(config.in_bits, config.in_bytes),
            "tlast": "1 on the last beat of a dot product",
        },
        "m_axis": {
            "tdata_bits": 8 * config.out_bytes,
            "signed": True,
            "sign_extended": True,
            "tlast": "always 1: every result closes its dot product (one result per packet)",
        },
        "result": {
            "signed": True,
            "scale_log2": result_scale(config),
            "encoding": _ENCODINGS[config.accumulate],
        },
        "tools": common.tool_versions(),
    }


def write(config, out_dir, *, name="logdot", force=False, axi_names=False, before_convert=None):
    """Write ``out_dir/NAME.v``, ``NAME.json``, ``NAME.vlt``, ``NAME.core``, ``NAME_tb.v`` and
    ``NAME.xml`` (:func:`logdot.generators.common.write_outputs`); return
    ``(NAME.v, NAME.json)``.

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
    kw = {"name": common.check_name(name), "axi_names": common.check_bool(axi_names, "axi_names")}
    from logdot.generators.fusesoc import engine_vectors

    parts = (generate_verilog, manifest, engine_vectors)
    return common.write_design(
        out_dir, config, parts, force=force, before_convert=before_convert, **kw
    )


def linear_verilog(config, *, name="logdot_linear"):
    """Verilog text of the baseline's AXI4-Stream top module ``name`` (logdot port order).

    The linear baseline (and with it numpy) is imported here, not when the module loads, so
    that ``logdot generate`` does not pay for it.
    """
    from logdot.golden.linear_engine import LinearConfig
    from logdot.hdl.linear import LinearDotTop

    if not isinstance(config, LinearConfig):
        raise TypeError(f"config must be a LinearConfig, not {config!r}")
    common.check_name(name)
    text = common.convert(LinearDotTop(config=config), name)
    header = common.banner(
        [
            f"{name}: logdot LINEAR BASELINE engine (real multipliers; generated, do not edit).",
            f"{config.lanes} lanes, {config.act_bits}-bit activations x {config.weight_bits}-bit "
            f"two's-complement weights; latency {engine_latency(config)} cycles.",
        ]
    )
    return header + common.reorder_ports(text, name, PORTS)
