"""Verilog and manifest generation for a layer engine (``logdot generate-layer``).

:func:`write_layer` writes ``NAME.v`` (the AXI4-Stream top module, weights and biases baked
in), ``NAME.json`` (the manifest) and ``NAME.vlt`` (Verilator lint waivers scoped to
``NAME.v``) atomically, never overwriting without ``force``, exactly
like :func:`logdot.generators.engine.write` does for the dot-product engine (both use
:mod:`logdot.generators.common`).

Manifest schema (``"schema": "logdot.layer/2"``; keys are stable, no value twice)::

    name            top module name (also the file stem)
    engine          {"parameters", "derived"}: the EngineConfig of every PE (parameters as in
                    logdot.engine/2; derived without the stand-alone engine's stream widths)
    layer           pes, depth, dots, bias_bits, relu, z_bits, requant {in_bits, kind, out_bits,
                    out_signed, offset, half, shift}, in_bytes, out_bytes, word_bytes (byte
                    widths of s_axis / m_axis / w_axis tdata)
    latency_cycles  clock cycles from a dot product's last beat transfer to m_axis_tvalid of
                    its output beat, without back-pressure (int)
    initiation_interval_cycles   clock cycles between accepted input beats: 1, or lanes
                                 with accumulate "log" (EngineConfig.cycles_per_beat)
    axi_names       true: ports aclk / aresetn (active low) instead of clk / rst
    ports           [{"name", "direction", "width"}] in contract order
    clock, reset    as logdot.engine/2 (reset also has a "note")
    s_axis          {"tdata_bits", "used_bits", "activations": [{"lane", "lsb", "width"}],
                    "padding", "tlast"}
    m_axis          {"tdata_bits", "used_bits", "kind", "field_bits", "signed", "fields":
                    [{"pe", "lsb", "width"}], "padding", "tlast"}
    weights         {"memories": pes, "storage" ("memory", "registers", "constants", or
                    "wiring": compiled into the adder trees, const_weights), "ram_style",
                    "ram_style_requested", "depth", "word_bits", "lanes": [{"lane", "lsb",
                    "width", "sign_bit"}], "format" ("log", "twoterm" or "linear"),
                    "code_fields": {name: {"lsb", "width"}} inside each lane's field
                    (LayerConfig.weight_code_layout), "program",
                    "words": [[hex word of PE p, ...] per address], "load_port": null or
                    {"order", "tlast", "ready"}}
    bias            {"bits", "program", "values": [[int per PE] per dot]}
    mapping         null, or the trained layer it computes: kind, shapes, tiling, weight_format
                    (the layer spec's: "log", "linear" or "twoterm"), scales
                    (result_scale_log2 and result_scale: the real value of one engine result
                    LSB, before bias and requantization)
    tools           {"logdot", "amaranth", "python"}
"""

from __future__ import annotations

import json
import os

from logdot.generators import common
from logdot.golden.layer import Layer
from logdot.golden.mapping import MappedLayer
from logdot.hdl.layer import (
    LAYER_PORTS,
    LogLayerTop,
    check_const_weights_layer,
    check_ram_style,
    layer_latency,
)

__all__ = [
    "LAYER_MANIFEST_SCHEMA",
    "generate_layer_verilog",
    "layer_from_manifest",
    "layer_manifest",
    "layer_options",
    "write_layer",
]

LAYER_MANIFEST_SCHEMA = "logdot.layer/2"
_OUTPUTS = (*common.STREAM_OUTPUTS, "w_axis_tready")
#: Keys of EngineConfig.to_dict()["derived"] that describe the stand-alone engine's streams
#: (not the layer engine's), left out of the layer manifest.
_ENGINE_STREAM_KEYS = ("in_bits", "in_bytes", "out_bytes")


def _split(layer_or_mapped):
    """``(layer, mapped or None)`` from a Layer or a MappedLayer."""
    if isinstance(layer_or_mapped, MappedLayer):
        return layer_or_mapped.layer, layer_or_mapped
    if isinstance(layer_or_mapped, Layer):
        return layer_or_mapped, None
    raise TypeError(
        "layer must be a logdot.golden.layer.Layer or logdot.golden.mapping.MappedLayer, "
        f"not {type(layer_or_mapped).__name__}"
    )


def _ports(weight_port, axi_names=False):
    ports = [p for p in LAYER_PORTS if weight_port or not p.startswith("w_axis")]
    return common.contract_ports(ports, axi_names)


def _port_widths(cfg):
    return {
        **common.stream_port_widths(cfg),
        "w_axis_tvalid": 1,
        "w_axis_tready": 1,
        "w_axis_tlast": 1,
        "w_axis_tdata": 8 * cfg.word_bytes,
    }


def _banner(layer, name, weight_port, axi_names=False):
    cfg = layer.config
    rq = cfg.requant
    e = cfg.engine
    return common.banner(
        [
            f"{name}: logdot layer engine (generated, do not edit): {cfg.pes} PEs x "
            f"{e.lanes} lanes, weights and biases baked in.",
            f"Activations {e.act_bits}-bit {e.act_format}"
            f"{'' if e.act_signed else ' unsigned'}, weights {_weight_words(cfg)}; "
            f"weight program depth {cfg.depth}, bias program {cfg.dots}; "
            f"ReLU {'on' if cfg.relu else 'off'}; output {rq.kind} {rq.out_bits} bits.",
            f"Latency {layer_latency(cfg)} cycles; s_axis_tdata {8 * cfg.in_bytes} bits, "
            f"m_axis_tdata {8 * cfg.out_bytes} bits"
            f"{f', w_axis_tdata {8 * cfg.word_bytes} bits' if weight_port else ''}; "
            f"{common.reset_words(axi_names)}; "
            f"m_axis_tlast is 1 on output beat i with i mod {cfg.dots} == {cfg.dots - 1}.",
            f"Interface, bit layout and memory contents: {name}.json.",
        ]
    )


def layer_options(
    layer,
    *,
    name="logdot_layer",
    weight_port=False,
    ram_style=None,
    axi_names=False,
    const_weights=False,
):
    """Check the options of the layer generators; return ``(layer, mapped, options)``.

    The one list of the options (and their defaults) of :func:`generate_layer_verilog`,
    :func:`layer_manifest` and :func:`write_layer`: ``name`` (the top module), ``weight_port``
    (a ``w_axis`` port loads the weight memories), ``ram_style`` (the memories' attribute,
    :func:`logdot.hdl.layer.check_ram_style`), ``axi_names`` (``aclk`` / ``aresetn``) and
    ``const_weights`` (the weights as wiring, :func:`logdot.hdl.layer.check_const_weights_layer`).
    ``layer`` is a :class:`~logdot.golden.layer.Layer` or a
    :class:`~logdot.golden.mapping.MappedLayer` (``mapped`` is then that, else None); the
    returned ``options`` dict holds every option.
    """
    layer, mapped = _split(layer)
    options = {
        "name": common.check_name(name),
        "weight_port": common.check_bool(weight_port, "weight_port"),
        "ram_style": check_ram_style(ram_style),
        "axi_names": common.check_bool(axi_names, "axi_names"),
        "const_weights": common.check_bool(const_weights, "const_weights"),
    }
    if const_weights:
        check_const_weights_layer(layer.config, weight_port=weight_port)
    return layer, mapped, options


def generate_layer_verilog(layer, **options):
    """Verilog text of the layer engine's AXI4-Stream top module ``name``.

    Ports, in this order: ``clk, rst, s_axis_tvalid, s_axis_tready, s_axis_tlast,
    s_axis_tdata, m_axis_tvalid, m_axis_tready, m_axis_tlast, m_axis_tdata`` and, with
    ``weight_port``, ``w_axis_tvalid, w_axis_tready, w_axis_tlast, w_axis_tdata``; with
    ``axi_names``, ``aclk`` and ``aresetn`` (synchronous, active low) replace ``clk`` and
    ``rst`` (:class:`logdot.hdl.top.AxiNamesTop`). ``const_weights``: the weights as wiring
    (:class:`logdot.hdl.layer.LogLayerEngine`). ``options``: as :func:`layer_options`.
    """
    layer, _, o = layer_options(layer, **options)
    name, weight_port, axi_names = o["name"], o["weight_port"], o["axi_names"]
    top = LogLayerTop(
        layer=layer,
        weight_port=weight_port,
        ram_style=o["ram_style"],
        const_weights=o["const_weights"],
    )
    banner = _banner(layer, name, weight_port, axi_names)
    return common.top_verilog(top, name, _ports(weight_port), axi_names=axi_names, banner=banner)


def _half_int(x2):
    """``x2 / 2`` as an int when whole, else a float (a half-integer)."""
    return x2 // 2 if x2 % 2 == 0 else x2 / 2


def _storage(cfg, weight_port, ram_style, const_weights=False):
    """What holds the weights, and the ``ram_style`` attribute the memories carry."""
    if const_weights:  # compiled to wiring (logdot.hdl.const)
        return "wiring", None
    if cfg.depth == 1:  # no memory: one word per PE (see LogLayerEngine)
        return ("registers" if weight_port else "constants"), None
    return "memory", ram_style


def _weight_format(cfg):
    """``"log"``, ``"twoterm"`` or ``"linear"``: the weights' format (as a layer spec's)."""
    if "value" in cfg.weight_code_layout:
        return "linear"
    return "twoterm" if cfg.engine.weight_terms == 2 else "log"


def _weight_words(cfg):
    """The banner's description of the weights."""
    e = cfg.engine
    fmt = _weight_format(cfg)
    if fmt == "twoterm":
        return f"{e.weight_bits}-bit two-term power-of-two"
    if fmt == "linear":
        return f"{e.weight_bits}-bit two's-complement"
    return f"{e.weight_bits}-bit log base {e.weight_base}"


def _mapping(mapped):
    if mapped is None:
        return None
    s = mapped.spec
    return {
        "kind": s.kind,
        "weight_shape": list(s.weight_codes.shape),
        "in_features": s.in_features,
        "out_channels": s.out_channels,
        "kernel": list(s.kernel),
        "stride": list(s.stride),
        "padding": list(s.padding),
        "beats_per_dot": mapped.beats,
        "tiles": mapped.tiles,
        "weight_format": s.weight_format,
        "weight_fsr": s.weight_fsr,
        "act_scale": s.act_scale,
        "result_scale_log2": _half_int(mapped.scale_x2),
        "result_scale": 2.0 ** (mapped.scale_x2 / 2),
        "out_kind": s.out_kind,
        "out_scale": s.out_scale,
        "stream_order": (
            "for each input vector (im2col: input channel, kernel row, kernel column), for "
            "each output-channel tile t, beats_per_dot beats of lanes values (zero-padded), "
            "tlast on the last; output beat = channels t*pes .. t*pes+pes-1"
        ),
    }


def layer_manifest(layer, **options):
    """The layer engine's manifest (a JSON-serializable dict; schema in the module docstring).

    ``layer`` is a :class:`~logdot.golden.layer.Layer` or a
    :class:`~logdot.golden.mapping.MappedLayer` (then
    the manifest also describes the trained layer it computes). ``options``: as
    :func:`layer_options`.
    """
    layer, mapped, o = layer_options(layer, **options)
    name, weight_port, ram_style = o["name"], o["weight_port"], o["ram_style"]
    axi_names, const_weights = o["axi_names"], o["const_weights"]
    cfg = layer.config
    e = cfg.engine
    rq = cfg.requant
    hexd = -(-cfg.word_bits // 4)
    clock, reset = common.clock_reset(axi_names)
    ed = e.to_dict()
    derived = {k: v for k, v in ed["derived"].items() if k not in _ENGINE_STREAM_KEYS}
    storage, built_style = _storage(cfg, weight_port, ram_style, const_weights)
    return {
        "schema": LAYER_MANIFEST_SCHEMA,
        "name": name,
        "engine": {"parameters": common.manifest_parameters(ed["parameters"]), "derived": derived},
        "layer": {
            "pes": cfg.pes,
            "depth": cfg.depth,
            "dots": cfg.dots,
            "bias_bits": cfg.bias_bits,
            "relu": cfg.relu,
            "z_bits": cfg.z_bits,
            "requant": rq.to_dict(),
            "in_bytes": cfg.in_bytes,
            "out_bytes": cfg.out_bytes,
            "word_bytes": cfg.word_bytes,
        },
        "latency_cycles": layer_latency(cfg),
        "initiation_interval_cycles": cfg.engine.cycles_per_beat,
        "axi_names": axi_names,
        "ports": common.port_entries(_ports(weight_port, axi_names), _port_widths(cfg), _OUTPUTS),
        "clock": clock,
        "reset": {
            **reset,
            "note": "clears the pipeline and the program counters, not the memories",
        },
        "s_axis": {
            "tdata_bits": 8 * cfg.in_bytes,
            "used_bits": cfg.in_bits,
            "activations": common.bit_fields(e.lanes, cfg.act_lsb, e.act_bits),
            "padding": common.padding(cfg.in_bits, cfg.in_bytes),
            "tlast": "1 on the last beat of a dot product",
        },
        "m_axis": {
            "tdata_bits": 8 * cfg.out_bytes,
            "used_bits": cfg.out_bits,
            "kind": rq.kind,
            "field_bits": rq.out_bits,
            "signed": rq.out_signed,
            "fields": common.bit_fields(cfg.pes, cfg.out_lsb, rq.out_bits, key="pe"),
            "padding": common.padding(cfg.out_bits, cfg.out_bytes),
            "tlast": (
                "1 on output beat i (counted from reset) with i mod dots == dots - 1: the beat "
                "that uses the last bias entry, i.e. the last output-channel tile of an input "
                "vector when mapped (one packet per output position)"
            ),
        },
        "weights": {
            "memories": cfg.pes,
            "storage": storage,
            "ram_style": built_style,
            "ram_style_requested": ram_style,
            "depth": cfg.depth,
            "word_bits": cfg.word_bits,
            "lanes": common.bit_fields(e.lanes, cfg.weight_lsb, e.weight_bits, sign_bit=True),
            "format": _weight_format(cfg),
            "code_fields": {
                k: {"lsb": lsb, "width": w} for k, (lsb, w) in cfg.weight_code_layout.items()
            },
            "program": "input beat j (counted from reset) uses word j mod depth of every PE",
            "words": [[f"{w:0{hexd}x}" for w in row] for row in layer.weight_words()],
            "load_port": (
                {
                    "order": "address-major: beat k writes word k // pes of PE k % pes",
                    "tlast": "rewinds the write pointer to address 0, PE 0",
                    "ready": "always 1",
                }
                if weight_port
                else None
            ),
        },
        "bias": {
            "bits": cfg.bias_bits,
            "program": "output i (counted from reset) adds entry i mod dots of its PE",
            "values": layer.bias.tolist(),
        },
        "mapping": _mapping(mapped),
        "tools": common.tool_versions(),
    }


def layer_from_manifest(manifest):
    """The :class:`logdot.golden.layer.Layer` a manifest describes (the golden model of that RTL).

    ``manifest`` is the dict (or a path to the JSON file) written by :func:`write_layer`.
    Returns ``(layer, latency, weight_port)``.
    """
    import torch

    from logdot.golden.formats import EngineConfig
    from logdot.golden.layer import LayerConfig
    from logdot.golden.requant import Requant

    if isinstance(manifest, str | os.PathLike):
        with open(manifest, encoding="utf-8") as f:
            manifest = json.load(f)
    if manifest.get("schema") != LAYER_MANIFEST_SCHEMA:
        raise ValueError(
            f"manifest schema must be {LAYER_MANIFEST_SCHEMA!r}, not {manifest.get('schema')!r}"
        )
    lay = manifest["layer"]
    engine = EngineConfig(**manifest["engine"]["parameters"])
    rq = {k: v for k, v in lay["requant"].items()}
    config = LayerConfig(
        engine=engine,
        pes=lay["pes"],
        depth=lay["depth"],
        dots=lay["dots"],
        bias_bits=lay["bias_bits"],
        relu=lay["relu"],
        requant=Requant(**rq),
    )
    words = manifest["weights"]["words"]
    weights = torch.tensor(
        [[config.unpack_weight_word(int(w, 16)) for w in row] for row in words],
        dtype=torch.int64,
    )
    bias = torch.tensor(manifest["bias"]["values"], dtype=torch.int64)
    layer = Layer(config=config, weights=weights, bias=bias)
    weight_port = manifest["weights"]["load_port"] is not None
    return layer, manifest["latency_cycles"], weight_port


def write_layer(layer, out_dir, *, force=False, before_convert=None, **options):
    """Write ``out_dir/NAME.v``, ``NAME.json``, ``NAME.vlt``, ``NAME.core``, ``NAME_tb.v`` and
    ``NAME.xml`` (:func:`logdot.generators.common.write_outputs`); return
    ``(NAME.v, NAME.json)``.

    Same guarantees as :func:`logdot.generators.engine.write`: both texts are generated in
    memory first, then moved into place atomically; nothing is written on error; an existing
    file is kept unless ``force``; ``before_convert`` is called right before the conversion.
    ``options``: as :func:`layer_options`.
    """
    common.check_bool(force, "force")
    _, _, kw = layer_options(layer, **options)

    from logdot.generators.fusesoc import layer_vectors

    parts = (generate_layer_verilog, layer_manifest, layer_vectors)
    return common.write_design(
        out_dir, layer, parts, force=force, before_convert=before_convert, **kw
    )
