"""Verilog and manifest of a whole network (``logdot compile``).

:func:`compile_network` turns a golden :class:`~logdot.golden.network.Network` into the
Verilog of one top module (:class:`logdot.hdl.network.NetworkTop`, every submodule inside)
and its manifest; :func:`write_network` writes ``NAME.v`` and ``NAME.json`` atomically
(:func:`logdot.generators.common.write_outputs`: nothing is written on error, existing files
are kept unless ``force``).

Folding: explicit ``{layer index or name: (lanes, pes)}``; the engine layers it leaves out
get :func:`auto_fold`: the smallest engine (fewest ``lanes * pes``) whose stage is not
slower than a target (``target_cycles``), by default the pipeline's unavoidable bound (the
largest padded image a window unit steps through, or the most pixels a pool, flatten or
output stage takes per image), so no engine limits the throughput more than the image size
does.

Manifest schema (``"schema": "logdot.network_rtl/1"``; keys are stable)::

    name, ports, clock, reset, tools
    network         input_shape, output_shape, input_format, output_format
    s_axis          tdata_bits, used_bits, channels [{"channel", "lsb", "width"}], order, tlast
    m_axis          tdata_bits, used_bits, values [{"index", "lsb", "width"}], kind, signed,
                    order, padding ("sign extension" or "zero"), tlast
    output_scale_x2, output_scale   twice the log2 of one output LSB, and the LSB (raw
                    linear outputs), else null
    frame_error     the framing rules
    layers          per network layer: index, type, name, source, in_shape, out_shape and, for
                    engines, lanes, pes, beats, tiles, scale_x2, the layer engine's
                    configuration, latency_cycles, weight words and biases (as logdot.layer/2)
    stages          per hardware stage in stream order: kind, layer, params, cycles_per_image,
                    line_buffer {words, word_bits} (windows and pools), depth (FIFOs)
    fifo_depths     the FIFO depths, in order
    cycles_per_image   steady-state cycles per image (the slowest stage's)
    bottleneck      the stage(s) that bound it
    latency_cycles  exact cycles from the first pixel in to the output word out of an idle
                    design (latency_model); latency_bound the sum of the stages' one-image
                    cycles
    fifo_model      how the FIFO depths are derived
    cost            only with ``logdot compile --lut-budget``: the cost model's predicted
                    LUT4s (total and per stage), the family, the budget, the model's stated
                    tolerance, and the layer(s) that bound the throughput
"""

from __future__ import annotations

from logdot.generators.common import (
    CLOCK,
    RESET,
    STREAM_OUTPUTS,
    banner,
    bit_fields,
    check_name,
    convert,
    port_entries,
    reorder_ports,
    tool_versions,
    write_outputs,
)

__all__ = [
    "NETWORK_MANIFEST_SCHEMA",
    "auto_fold",
    "compile_network",
    "resolve_fold",
    "write_network",
]

NETWORK_MANIFEST_SCHEMA = "logdot.network_rtl/1"
_OUTPUTS = (*STREAM_OUTPUTS, "frame_error")


def _check_net(net):
    from logdot.golden.network import Network

    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, not {type(net).__name__}")


def _lower_bound(net):
    """The fewest cycles per image any folding can reach: the largest padded image a window
    steps through, or the most pixels a pool, flatten or output stage takes."""
    bound = net.input_shape[1] * net.input_shape[2]
    for layer in net.layers:
        if layer.type == "conv2d":
            _, h, w = layer.in_shape
            ph, pw = layer.spec.padding
            bound = max(bound, (h + 2 * ph) * (w + 2 * pw))
        elif layer.type == "maxpool":
            bound = max(bound, layer.in_shape[1] * layer.in_shape[2])
    return bound


def _stage_cycles(layer, lanes, pes):
    """Cycles per image of the slowest stage an engine layer folded ``lanes x pes`` adds."""
    from logdot.hdl.window import window_period

    spec = layer.spec
    beats = -(-spec.in_features // lanes)
    tiles = -(-spec.out_channels // pes)
    if layer.type == "conv2d":
        g = layer.window_geometry(lanes=lanes, tiles=tiles)
        return window_period(g)
    return tiles * beats


def fold_options(net, layer_index):
    """``(lanes options, pes options)`` of engine layer ``layer_index``, ascending: every
    lane count that gives a distinct number of beats per dot product (and PE count a distinct
    number of output-channel tiles) within the engine limits."""
    from logdot.golden.formats import LIMITS
    from logdot.golden.layer import MAX_PES

    spec = net.layers[layer_index].spec
    k, out = spec.in_features, spec.out_channels
    max_lanes, max_pes = min(k, LIMITS["lanes"][1]), min(out, MAX_PES)
    lanes_opts = sorted({-(-k // b) for b in range(1, k + 1)} & set(range(1, max_lanes + 1)))
    pes_opts = sorted({-(-out // t) for t in range(1, out + 1)} & set(range(1, max_pes + 1)))
    return lanes_opts, pes_opts


def auto_fold(net, layer_index, target=None):
    """The default ``(lanes, pes)`` of engine layer ``layer_index``: the fewest ``lanes *
    pes`` (then the fewest PEs) whose stage needs at most ``target`` cycles per image
    (default: the network's unavoidable bound, see the module docstring); the fastest
    folding within the engine limits when none does."""
    from logdot.golden.formats import check_int

    _check_net(net)
    layer = net.layers[layer_index]
    if not layer.is_engine:
        raise ValueError(f"layer {layer_index} ({layer.type}) is not an engine layer")
    target = _lower_bound(net) if target is None else check_int(target, "target", 1)
    lanes_opts, pes_opts = fold_options(net, layer_index)
    best = None
    for lanes in lanes_opts:
        for pes in pes_opts:
            if best is not None and lanes * pes > best[0]:
                break
            if _stage_cycles(layer, lanes, pes) <= target:
                key = (lanes * pes, pes)
                if best is None or key < best[:2]:
                    best = (*key, lanes, pes)
                break
    if best is None:
        from logdot.golden.formats import LIMITS
        from logdot.golden.layer import MAX_PES

        spec = layer.spec
        return min(spec.in_features, LIMITS["lanes"][1]), min(spec.out_channels, MAX_PES)
    return best[2], best[3]


def resolve_fold(net, fold=None, target_cycles=None):
    """The folding of every engine layer, ``{index: (lanes, pes)}``: ``fold``'s entries (by
    index or layer name) and :func:`auto_fold` (with ``target_cycles`` as its target) for
    the rest. Raises ``ValueError`` for a key naming no engine layer."""
    _check_net(net)
    fold = dict(fold or {})
    out = {}
    for i, layer in enumerate(net.layers):
        if not layer.is_engine:
            continue
        value = fold.pop(i, None)
        if value is None and layer.name:
            value = fold.pop(layer.name, None)
        out[i] = tuple(value) if value is not None else auto_fold(net, i, target_cycles)
    if fold:
        raise ValueError(f"fold names no engine layer: {', '.join(sorted(map(str, fold)))}")
    return out


def _ports():
    from logdot.hdl.network import NETWORK_PORTS

    return list(NETWORK_PORTS)


def _bytes(bits):
    return -(-bits // 8) * 8


def _stage_entry(st):
    d = {
        "kind": st.kind,
        "layer": st.layer,
        "params": dict(st.params),
        "cycles_per_image": st.cycles_per_image,
    }
    p = st.params
    if st.kind == "window":
        kh = p["kernel"][0]
        d["line_buffer"] = {
            "words": p["width"] if kh > 1 else 0,
            "word_bits": (kh - 1) * p["channels"] * p["bits"],
        }
    elif st.kind == "pool":
        from logdot.golden.window import pool_kernel

        kh, kw = pool_kernel(p["kernel"], p["height"], p["width"])
        d["line_buffer"] = {
            "words": p["width"] // kw if kh > 1 else 0,
            "word_bits": p["channels"] * p["bits"],
        }
    elif st.kind == "fifo":
        d["depth"] = p["depth"]
    return d


def _layer_entry(i, layer, ml, fold):
    from logdot.generators.layer import layer_manifest

    d = {
        "index": i,
        "type": layer.type,
        "name": layer.name,
        "source": layer.source,
        "in_shape": list(layer.in_shape),
        "out_shape": list(layer.out_shape),
    }
    if layer.type == "maxpool":
        d["kernel"] = list(layer.kernel)
    if ml is not None:
        lm = layer_manifest(ml, name=f"layer{i}")
        d.update(
            {
                "lanes": fold[0],
                "pes": fold[1],
                "beats": ml.beats,
                "tiles": ml.tiles,
                "scale_x2": ml.scale_x2,
                "engine": lm["engine"],
                "layer": lm["layer"],
                "latency_cycles": lm["latency_cycles"],
                "weights": lm["weights"],
                "bias": lm["bias"],
                "mapping": lm["mapping"],
            }
        )
    return d


def network_manifest(top, name, fold):
    """The manifest of a built :class:`logdot.hdl.network.NetworkTop` (module docstring)."""
    from logdot.hdl.network import FIFO_MODEL

    net = top.net
    infmt, outfmt = net.input_format, net.output_format
    c = net.input_shape[0]
    n_out = 1
    for d in net.output_shape:
        n_out *= d
    in_used, out_used = c * infmt.bits, n_out * outfmt.bits
    widths = {p: 1 for p in _ports()}
    widths["s_axis_tdata"] = _bytes(in_used)
    widths["m_axis_tdata"] = _bytes(out_used)
    signed_out = outfmt.kind == "linear" and outfmt.signed
    x2 = net.output_scale_x2
    stages = top.stages
    cpi = top.cycles_per_image
    return {
        "schema": NETWORK_MANIFEST_SCHEMA,
        "name": name,
        "ports": port_entries(_ports(), widths, _OUTPUTS),
        "clock": dict(CLOCK),
        "reset": {**RESET, "note": "clears every stage and FIFO, not the weight memories"},
        "network": {
            "input_shape": list(net.input_shape),
            "output_shape": list(net.output_shape),
            "input_format": infmt.to_dict(),
            "output_format": outfmt.to_dict(),
        },
        "s_axis": {
            "tdata_bits": widths["s_axis_tdata"],
            "used_bits": in_used,
            "channels": bit_fields(c, lambda ch: ch * infmt.bits, infmt.bits, key="channel"),
            "order": "one beat per pixel, raster order (row by row, left to right)",
            "tlast": "1 on the last pixel of an image",
        },
        "m_axis": {
            "tdata_bits": widths["m_axis_tdata"],
            "used_bits": out_used,
            "values": bit_fields(n_out, lambda k: k * outfmt.bits, outfmt.bits, key="index"),
            "kind": outfmt.kind,
            "signed": signed_out,
            "order": "one beat per image; values in C, H, W order",
            "padding": "sign extension of the last value" if signed_out else "zero",
            "tlast": "always 1",
        },
        "output_scale_x2": x2,
        "output_scale": None if x2 is None else 2.0 ** (x2 / 2),
        "frame_error": (
            "sticky, cleared by rst: a frame whose tlast comes before pixel H*W is completed "
            "with zero pixels, one without tlast on pixel H*W is truncated there (the rest is "
            "dropped up to its tlast); every frame gives exactly one output beat"
        ),
        "layers": [
            _layer_entry(i, layer, ml, fold.get(i))
            for i, (layer, ml) in enumerate(zip(net.layers, top.mapped, strict=True))
        ],
        "stages": [_stage_entry(s) for s in stages],
        "fifo_depths": [s.params["depth"] for s in stages if s.kind == "fifo"],
        "cycles_per_image": cpi,
        "cycles_model": (
            "max over stages of each stage's steady-state cycles per image: window units "
            "window_period, pools and the output H*W pixels, flatten feeders "
            "max(channels*pixels, tiles*beats), engines one beat per cycle"
        ),
        "bottleneck": [
            {"kind": s.kind, "layer": s.layer} for s in stages if s.cycles_per_image == cpi
        ],
        "latency_cycles": top.latency,
        "latency_model": (
            "exact: cycles from the first pixel's s_axis transfer to the output word's "
            "m_axis transfer of one image into an idle design (input always valid, output "
            "always ready), each stage's timing from its unit's latency and rate"
        ),
        "latency_bound": top.latency_bound,
        "fifo_model": FIFO_MODEL,
        "tools": tool_versions(),
    }


def _banner(top, name):
    net = top.net
    kinds = ", ".join(layer.type for layer in net.layers)
    return banner(
        [
            f"{name}: logdot streaming network (generated, do not edit): {kinds}.",
            f"Input {net.input_shape} one pixel per s_axis beat, output {net.output_shape} "
            f"one m_axis beat per image; {top.cycles_per_image} cycles per image in steady "
            "state; rst is synchronous, active high.",
            f"Interface, folding, FIFO depths and memory contents: {name}.json.",
        ]
    )


def compile_network(
    net, *, fold=None, name="logdot_network", fifo_depths=None, target_cycles=None, cost=None
):
    """Verilog text and manifest of the network top for ``net``.

    Parameters
    ----------
    net : Network
    fold : dict or None
        ``{layer index or name: (lanes, pes)}``; the rest :func:`auto_fold`.
    target_cycles : int or None
        The cycles per image :func:`auto_fold` aims at (default: the unavoidable bound).
    name : str
        Top module name.
    fifo_depths : sequence of int or None
        Override the FIFO depths.
    cost : dict or None
        A LUT prediction (:func:`logdot.generators.cost.predict_network`, plus the
        ``lut_budget`` it was folded for) to state in the manifest as ``"cost"``.

    Returns
    -------
    (str, dict)
    """
    from logdot.hdl.network import NetworkTop

    _check_net(net)
    check_name(name)
    full = resolve_fold(net, fold, target_cycles)
    top = NetworkTop(net, fold=full, fifo_depths=fifo_depths)
    text = convert(top, name)
    verilog = _banner(top, name) + reorder_ports(text, name, _ports())
    manifest = network_manifest(top, name, full)
    if cost is not None:
        bound = sorted({b["layer"] for b in manifest["bottleneck"] if b["layer"] is not None})
        manifest["cost"] = {**cost, "throughput_bound_by_layers": bound}
    return verilog, manifest


def write_network(
    net, out_dir, *, fold=None, name="logdot_network", force=False, target_cycles=None, cost=None
):
    """Write ``out_dir/NAME.v``, ``NAME.json`` and the other files of
    :func:`logdot.generators.common.write_outputs` (atomic); return ``(NAME.v, NAME.json)``.
    ``cost``: as :func:`compile_network`."""
    _check_net(net)
    check_name(name)
    full = resolve_fold(net, fold, target_cycles)  # errors before anything is written

    def make():
        return compile_network(net, fold=full, name=name, cost=cost)

    from logdot.generators.fusesoc import network_vectors

    return write_outputs(
        out_dir,
        name,
        make,
        force=force,
        vectors=lambda man: network_vectors(net, full, man["latency_cycles"]),
    )
