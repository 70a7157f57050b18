"""Verilog and manifest generation for a constant-weight dot-product engine.

:func:`write` (``logdot generate --const-weights FILE``) writes ``NAME.v`` (the top module of
:class:`logdot.hdl.const.ConstDotTop`), ``NAME.json`` and ``NAME.vlt`` atomically, like
:func:`logdot.generators.engine.write`.

Manifest schema ``"logdot.const_engine/1"``: the keys of ``logdot.engine/2``
(:mod:`logdot.generators.engine`) with these differences:

    schema          "logdot.const_engine/1"
    const_weights   {"weights" (the N raw W-bit fields of the file), "terms" ([{"lane",
                    "parity", "shift", "negative"}] of the non-zero lanes), "zero_lanes",
                    "beat_range" ([lo, hi] of one beat's exact sum, per parity),
                    "tree" ([{"parity", "strategy", "depth", "estimated_ice40_cells", "cuts"}])}
    derived         in_bits / in_bytes are those of the activations only (N * A bits);
                    tree_bits the exact width of one beat's sum for these weights, per
                    parity; no term_bits
    latency_cycles  logdot.hdl.const.const_engine_latency
    s_axis          {"tdata_bits", "used_bits", "activations", "padding", "tlast"}: no
                    "weights" (they are wired in)
"""

from __future__ import annotations

from logdot.generators import common
from logdot.generators import engine as engine_gen
from logdot.golden.const import ConstWeights
from logdot.golden.formats import signed_width
from logdot.hdl.const import ConstDotTop, const_engine_latency, const_tree_plans
from logdot.hdl.top import PORTS

__all__ = ["MANIFEST_SCHEMA", "generate_verilog", "manifest", "write"]

MANIFEST_SCHEMA = "logdot.const_engine/1"


def _check_const(const):
    if not isinstance(const, ConstWeights):
        raise TypeError(f"const must be a ConstWeights, not {const!r}")
    return const


def _banner(const, name, axi_names):
    cfg = const.config
    params = ", ".join(f"{k}={v!r}" for k, v in cfg.parameters().items())
    return common.banner(
        [
            f"{name}: logdot CONSTANT-WEIGHT dot-product engine (generated, do not edit).",
            f"Parameters: {params}",
            f"Weights (raw {cfg.weight_bits}-bit fields, wired in): {list(const.weights)}",
            f"Latency {const_engine_latency(const)} cycles; s_axis_tdata {8 * const.in_bytes} "
            f"bits (activations only), m_axis_tdata {8 * const.out_bytes} bits; "
            f"{common.reset_words(axi_names)}; m_axis_tlast is 1 on every result.",
            f"Interface and bit layout: {name}.json.",
        ]
    )


def generate_verilog(const, *, name="logdot", axi_names=False):
    """Verilog text of the constant-weight engine's AXI4-Stream top module ``name``.

    Same ports, in the same order, as :func:`logdot.generators.engine.generate_verilog`;
    ``s_axis_tdata`` carries only the activations.
    """
    _check_const(const)
    common.check_name(name)
    top = ConstDotTop(config=const)
    banner = _banner(const, name, axi_names)  # checks axi_names
    return common.top_verilog(top, name, PORTS, axi_names=axi_names, banner=banner)


def manifest(const, *, name="logdot", axi_names=False):
    """The constant engine's manifest (schema in this module's docstring)."""
    _check_const(const)
    cfg = const.config
    out = engine_gen.manifest(cfg, name=name, axi_names=axi_names)
    widths = common.stream_port_widths(const)
    for port in out["ports"]:
        port["width"] = widths[port["name"]]
    out["schema"] = MANIFEST_SCHEMA
    derived = {k: v for k, v in out["derived"].items() if k != "term_bits"}
    derived.update(
        in_bits=const.in_bits,
        in_bytes=const.in_bytes,
        tree_bits=[signed_width(*const.beat_range(p)) for p in const.parities],
    )
    out["derived"] = derived
    out["latency_cycles"] = const_engine_latency(const)
    out["s_axis"] = {
        "tdata_bits": 8 * const.in_bytes,
        "used_bits": const.in_bits,
        "activations": common.bit_fields(cfg.lanes, const.act_lsb, cfg.act_bits),
        "padding": common.padding(const.in_bits, const.in_bytes),
        "tlast": "1 on the last beat of a dot product",
    }
    plans, _ = const_tree_plans(const)
    trees = [
        {
            "parity": p,
            "strategy": plan.strategy,
            "depth": plan.depth,
            "estimated_ice40_cells": plan.cost,
            "cuts": list(getattr(plan, "cuts", ())),
        }
        for p, plan in zip(const.parities, plans, strict=True)
    ]
    out["const_weights"] = {**const.to_dict(), "tree": trees}
    return out


def write(const, out_dir, *, name="logdot", force=False, axi_names=False, before_convert=None):
    """Write the design files of :func:`logdot.generators.common.output_paths` (``NAME.v``,
    ``NAME.json``, ``NAME.vlt``, the FuseSoC core and test bench, IP-XACT) into ``out_dir``;
    return ``(NAME.v, NAME.json)``.

    Atomic and refusing existing files without ``force``, exactly as
    :func:`logdot.generators.engine.write` (:func:`logdot.generators.common.write_outputs`).
    """
    _check_const(const)
    kw = {"name": common.check_name(name), "axi_names": common.check_bool(axi_names, "axi_names")}
    from logdot.generators.fusesoc import const_vectors

    parts = (generate_verilog, manifest, const_vectors)
    return common.write_design(
        out_dir, const, parts, force=force, before_convert=before_convert, **kw
    )
