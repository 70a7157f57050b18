"""FuseSoC files of a generated design: ``NAME.core`` (CAPI2) and its self-checking ``NAME_tb.v``.

Every generator (:func:`logdot.generators.common.write_outputs`) writes, next to ``NAME.v``,
``NAME.json`` and ``NAME.vlt``:

``NAME.core``
    A FuseSoC CAPI2 core ``logdot:generated:NAME:1.0.0`` (:func:`core_text`) with the
    filesets ``rtl`` (``NAME.v``), ``lint_waivers`` (``NAME.vlt``) and ``tb`` (``NAME_tb.v``)
    and the targets ``default`` (the RTL and its waivers, what a depending core gets),
    ``lint`` (Verilator ``--lint-only -Wall``), ``sim`` (Icarus Verilog, the test bench),
    ``synth`` (Yosys ``synth_ice40``) and ``synth_ecp5`` (Yosys ``synth_ecp5``), all edalize
    flows (the synthesis targets stop after Yosys, ``pnr: none``; edalize runs a native
    ``yosys`` with Tcl, which the YoWASP build lacks: ``logdot synth`` is the flow that uses
    YoWASP)::

        fusesoc --cores-root DIR run --target sim logdot:generated:NAME

``NAME_tb.v``
    A self-checking Verilog test bench (:func:`testbench_text`): a few input beats and the
    golden model's exact output beats (``tdata`` and ``tlast``) as constants; it drives
    ``s_axis`` with idle cycles, back-pressures ``m_axis_tready`` (both on a fixed pattern,
    every AXI4-Stream handshake rule kept: ``tvalid`` and the payload hold until
    ``tready``), compares every transferred output beat and stops with ``$fatal`` (a
    nonzero exit status) on a mismatch, an extra output, an ``X``, a changed payload under
    back-pressure, a ``frame_error`` or a timeout; it prints ``LOGDOT_TB_PASS`` and
    ``$finish``-es otherwise.

The vectors come from the golden model: :func:`engine_vectors`, :func:`layer_vectors`,
:func:`network_vectors` (seeded by :data:`VECTOR_SEED`, printed by the test bench on a
mismatch). Ports, widths, clock and reset come from the manifest (``"ports"``,
``"clock"``, ``"reset"``): the one description of the interface.
"""

from __future__ import annotations

import random
from typing import NamedTuple

__all__ = [
    "CORE_LIBRARY",
    "CORE_VERSION",
    "VECTOR_SEED",
    "StreamVectors",
    "const_vectors",
    "core_text",
    "core_vlnv",
    "engine_vectors",
    "layer_vectors",
    "network_vectors",
    "project_files",
    "testbench_name",
    "testbench_text",
]

#: Vendor and library of a generated core's VLNV (``logdot:generated:NAME:1.0.0``).
CORE_LIBRARY = "logdot:generated"
#: Version of a generated core's VLNV.
CORE_VERSION = "1.0.0"
#: Seed of the test-bench vectors (:mod:`random`), printed by the test bench on a mismatch.
VECTOR_SEED = 1

#: Reset cycles the test bench holds before streaming.
_RESET_CYCLES = 4
#: The test bench stops this many cycles after the last expected output (to catch extras).
_TAIL_CYCLES = 16


class StreamVectors(NamedTuple):
    """Input beats and the exact output beats the golden model gives for them.

    Members
    -------
    inputs : list of (int, bool)
        ``(s_axis_tdata, s_axis_tlast)`` per input beat.
    outputs : list of (int, bool)
        ``(m_axis_tdata, m_axis_tlast)`` per output beat.
    latency : int
        Cycles from an input transfer to its output without back-pressure (a bound), for
        the test bench's timeout.
    """

    inputs: list
    outputs: list
    latency: int


def testbench_name(name):
    """The test bench's module and file stem of design ``name``: ``NAME_tb``."""
    return f"{name}_tb"


def core_vlnv(name):
    """The VLNV of the core of design ``name``: ``logdot:generated:NAME:1.0.0``."""
    return f"{CORE_LIBRARY}:{name}:{CORE_VERSION}"


# -- vectors ------------------------------------------------------------------------------


def _random_acts(rng, engine, beats):
    """``beats`` rows of ``engine.lanes`` activations (codes or linear values) in range,
    with the extremes in the first rows."""
    if engine.act_is_log:
        lo, hi = 0, (1 << engine.act_bits) - 1
    else:
        lo, hi = engine.act_range
    rows = [[hi] * engine.lanes, [lo] * engine.lanes]
    rows += [[rng.randint(lo, hi) for _ in range(engine.lanes)] for _ in range(beats)]
    return rows[:beats]


def _random_weights(rng, engine, beats):
    """``beats`` rows of weight codes: the largest positive and negative first, then random."""
    w = engine.weight_bits
    top = (1 << (w - 1)) - 1
    rows = [[top] * engine.lanes, [(1 << (w - 1)) | top] * engine.lanes]
    rows += [[rng.randrange(1 << w) for _ in range(engine.lanes)] for _ in range(beats)]
    return rows[:beats]


def _lasts(lengths):
    return [i == n - 1 for n in lengths for i in range(n)]


def engine_vectors(config, *, seed=VECTOR_SEED):
    """Test-bench vectors of an engine: seven dot products of 1 to 4 beats (the extremes first).

    The results are :func:`logdot.golden.reference.reference_dot`'s (bit-exact with
    :func:`logdot.golden.engine.dot`, and free of torch, which ``logdot generate`` does not
    import).

    Parameters
    ----------
    config : EngineConfig
    seed : int
        Seed of :class:`random.Random`.

    Returns
    -------
    StreamVectors
    """
    from logdot.golden.reference import reference_dot  # torch-free: logdot generate
    from logdot.hdl.engine import engine_latency

    rng = random.Random(seed)
    lengths = [min(n, config.max_beats) for n in (1, 1, 2, 3, 1, 4, 2)]
    beats = sum(lengths)
    acts = _random_acts(rng, config, beats)
    weights = _random_weights(rng, config, beats)
    last = _lasts(lengths)
    results = reference_dot(config, acts, weights, last)
    mask = (1 << (8 * config.out_bytes)) - 1
    inputs = [(config.pack_beat(a, w), t) for a, w, t in zip(acts, weights, last, strict=True)]
    # tlast is 1 on every result (logdot.golden.engine.output_tlast; that module needs torch).
    outputs = [(r & mask, True) for r in results]
    return StreamVectors(inputs, outputs, engine_latency(config))


def const_vectors(const, *, seed=VECTOR_SEED):
    """Test-bench vectors of a constant-weight engine (:class:`logdot.golden.const.ConstWeights`):
    :func:`engine_vectors`' dot products with the constant weights in every beat, the input
    beats carrying the activations only (:meth:`~logdot.golden.const.ConstWeights.pack_beat`).

    Returns
    -------
    StreamVectors
    """
    from logdot.golden.reference import reference_dot  # torch-free: logdot generate
    from logdot.hdl.const import const_engine_latency

    config = const.config
    rng = random.Random(seed)
    lengths = [min(n, config.max_beats) for n in (1, 1, 2, 3, 1, 4, 2)]
    acts = _random_acts(rng, config, sum(lengths))
    last = _lasts(lengths)
    results = reference_dot(config, acts, [list(const.weights)] * len(acts), last)
    mask = (1 << (8 * const.out_bytes)) - 1
    inputs = [(const.pack_beat(a), t) for a, t in zip(acts, last, strict=True)]
    outputs = [(r & mask, True) for r in results]
    return StreamVectors(inputs, outputs, const_engine_latency(const))


def layer_vectors(layer, *, seed=VECTOR_SEED):
    """Test-bench vectors of a layer engine: two passes over its weight and bias programs.

    Dot products are ``depth // dots`` beats long when ``dots`` divides ``depth`` (a mapped
    layer's tiling), else one beat; there are ``2 * dots`` of them (at least 4).

    Parameters
    ----------
    layer : Layer or MappedLayer
    seed : int

    Returns
    -------
    StreamVectors
    """
    import torch

    from logdot.golden.layer import output_tlast, pack_outputs
    from logdot.hdl.layer import layer_latency

    layer = getattr(layer, "layer", layer)  # a MappedLayer's Layer
    cfg = layer.config
    per_dot = cfg.depth // cfg.dots if cfg.depth % cfg.dots == 0 else 1
    per_dot = min(per_dot, cfg.engine.max_beats)
    lengths = [per_dot] * max(4, 2 * cfg.dots)
    rng = random.Random(seed)
    acts = _random_acts(rng, cfg.engine, sum(lengths))
    last = _lasts(lengths)
    out = layer.run(torch.tensor(acts, dtype=torch.int64), torch.tensor(last))
    words = pack_outputs(cfg, out)
    inputs = list(zip(cfg.pack_acts(acts), last, strict=True))
    outputs = list(zip(words, output_tlast(cfg, len(words)), strict=True))
    return StreamVectors(inputs, outputs, layer_latency(cfg))


def network_vectors(net, fold, latency, *, images=2, seed=VECTOR_SEED):
    """Test-bench vectors of a network: ``images`` random input images, one frame each.

    Parameters
    ----------
    net : Network
    fold : dict
        The complete folding the design was built with (the golden model needs it).
    latency : int
        The design's latency bound (manifest ``"latency_cycles"``).
    images : int
    seed : int

    Returns
    -------
    StreamVectors
    """
    import torch

    from logdot.golden.network_stream import pixel_stream, stream_forward

    gen = torch.Generator().manual_seed(seed)
    lo, hi = net.input_format.range
    pics = torch.randint(lo, hi + 1, (images, *net.input_shape), generator=gen)
    beats = [tuple(b) for im in pics for b in pixel_stream(net, im)]
    result = stream_forward(net, beats, fold=fold)
    outputs = [(int(w), True) for w in result.outputs]
    return StreamVectors([(int(d), bool(t)) for d, t in beats], outputs, latency)


# -- the test bench -----------------------------------------------------------------------


def _port_map(manifest):
    return {p["name"]: p for p in manifest["ports"]}


def _hex(value, width):
    return f"{width}'h{value:0{-(-width // 4)}x}"


def testbench_text(manifest, vectors):
    """The self-checking test bench ``NAME_tb`` of a design (module docstring).

    Parameters
    ----------
    manifest : dict
        The design's manifest (``"name"``, ``"ports"``, ``"clock"``, ``"reset"``).
    vectors : StreamVectors

    Returns
    -------
    str
        Verilog-2005 text, one module ``NAME_tb`` without ports.
    """
    name = manifest["name"]
    tb = testbench_name(name)
    ports = _port_map(manifest)
    clk, rst = manifest["clock"]["name"], manifest["reset"]["name"]
    active_low = manifest["reset"]["active"] == "low"
    iw = ports["s_axis_tdata"]["width"]
    ow = ports["m_axis_tdata"]["width"]
    n_in, n_out = len(vectors.inputs), len(vectors.outputs)
    timeout = 4 * (n_in + n_out) + 2 * vectors.latency + 100
    lines = [
        f"// Self-checking test bench of {name} (generated by logdot, do not edit): "
        f"{n_in} input beats, {n_out} output beats",
        f"// from the golden model (vector seed {VECTOR_SEED}). Exit status 0 and "
        "LOGDOT_TB_PASS, or $fatal.",
        "`timescale 1ns/1ps",
        f"module {tb};",
        f"  reg {clk} = 1'b0;",
        f"  always #5 {clk} = ~{clk};",
        f"  reg {rst} = 1'b{0 if active_low else 1};",
    ]
    decl = []
    conns = []
    for p in manifest["ports"]:
        pn, width = p["name"], p["width"]
        conns.append(f".{pn}({pn})")
        if pn in (clk, rst):
            continue
        vec = f"[{width - 1}:0] " if width > 1 else ""
        if p["direction"] == "output":
            decl.append(f"  wire {vec}{pn};")
        else:  # every input the bench does not drive (w_axis_*) stays 0
            decl.append(f"  reg {vec}{pn} = {width}'d0;")
    lines += decl
    lines += [
        f"  reg [{iw - 1}:0] in_data [0:{n_in - 1}];",
        f"  reg in_last [0:{n_in - 1}];",
        f"  reg [{ow - 1}:0] out_data [0:{max(n_out, 1) - 1}];",
        f"  reg out_last [0:{max(n_out, 1) - 1}];",
        "  integer sent, received, cycle, done_at;",
        f"  reg [{ow - 1}:0] held_data;",
        "  reg held;",
        "  initial begin",
        "    sent = 0; received = 0; cycle = 0; done_at = -1; held = 1'b0;",
    ]
    for i, (data, last) in enumerate(vectors.inputs):
        lines.append(f"    in_data[{i}] = {_hex(data, iw)}; in_last[{i}] = 1'b{int(last)};")
    for i, (data, last) in enumerate(vectors.outputs):
        lines.append(f"    out_data[{i}] = {_hex(data, ow)}; out_last[{i}] = 1'b{int(last)};")
    lines += [
        "  end",
        f"  {name} dut ({', '.join(conns)});",
        f"  always @(posedge {clk}) begin",
        "    cycle = cycle + 1;",
        f"    if (cycle == {_RESET_CYCLES}) {rst} <= 1'b{1 if active_low else 0};",
        f"    if (cycle > {_RESET_CYCLES}) begin",
        "      // Input: a transfer at this edge; the next beat after it (idle every 3rd cycle).",
        "      if (s_axis_tvalid && s_axis_tready) sent = sent + 1;",
        "      if (!s_axis_tvalid || s_axis_tready) begin",
        f"        if (sent < {n_in} && cycle % 3 != 0) begin",
        "          s_axis_tvalid <= 1'b1;",
        "          s_axis_tdata <= in_data[sent];",
        "          s_axis_tlast <= in_last[sent];",
        "        end else begin",
        "          s_axis_tvalid <= 1'b0;",
        "        end",
        "      end",
        "      // Output: compare every transfer; check the handshake under back-pressure.",
        "      if (m_axis_tvalid && ^{m_axis_tlast, m_axis_tdata} === 1'bx)",
        '        $fatal(1, "LOGDOT_TB_FAIL X on m_axis at cycle %0d", cycle);',
        "      if (held && (!m_axis_tvalid || m_axis_tdata !== held_data))",
        '        $fatal(1, "LOGDOT_TB_FAIL m_axis changed under back-pressure at cycle %0d",'
        " cycle);",
        "      if (m_axis_tvalid && m_axis_tready) begin",
        f"        if (received >= {n_out})",
        '          $fatal(1, "LOGDOT_TB_FAIL extra output %h at cycle %0d", m_axis_tdata, cycle);',
        "        if (m_axis_tdata !== out_data[received] || m_axis_tlast !== out_last[received])",
        '          $fatal(1, "LOGDOT_TB_FAIL output %0d is %h tlast %b, expected %h tlast %b'
        f' (vector seed {VECTOR_SEED})",',
        "                 received, m_axis_tdata, m_axis_tlast, out_data[received],"
        " out_last[received]);",
        "        received = received + 1;",
        "      end",
        "      held = m_axis_tvalid && !m_axis_tready;",
        "      held_data = m_axis_tdata;",
        "      m_axis_tready <= cycle % 4 != 1;",
    ]
    if "frame_error" in ports:
        lines += [
            "      if (frame_error)",
            '        $fatal(1, "LOGDOT_TB_FAIL frame_error at cycle %0d", cycle);',
        ]
    lines += [
        f"      if (received == {n_out} && sent == {n_in} && done_at < 0) done_at = cycle;",
        f"      if (done_at >= 0 && cycle - done_at > {_TAIL_CYCLES}) begin",
        f'        $display("LOGDOT_TB_PASS {name}: %0d outputs in %0d cycles", received, cycle);',
        "        $finish;",
        "      end",
        f"      if (cycle > {timeout})",
        '        $fatal(1, "LOGDOT_TB_FAIL timeout: %0d of %0d inputs sent, %0d of %0d outputs",'
        f" sent, {n_in}, received, {n_out});",
        "    end",
        "  end",
        "endmodule",
        "",
    ]
    return "\n".join(lines)


# -- the core -----------------------------------------------------------------------------


def core_text(manifest, *, vlnv=None, testbench=False):
    """``NAME.core``: the FuseSoC CAPI2 core of a design (module docstring).

    Parameters
    ----------
    manifest : dict
        The design's manifest (``"name"``; the file names follow from it).
    vlnv : str or None
        The core's VLNV (default :func:`core_vlnv`; a generator gives FuseSoC's).
    testbench : bool
        Also put ``NAME_tb.v`` into the ``default`` target (what a depending core gets).

    Returns
    -------
    str
        YAML text starting with ``CAPI=2:``.
    """
    name = manifest["name"]
    tb = testbench_name(name)
    vlnv = vlnv or core_vlnv(name)
    default = "lint_waivers, rtl, tb" if testbench else "lint_waivers, rtl"
    return f"""\
CAPI=2:
# FuseSoC core of {name} (generated by logdot, do not edit). Interface: {name}.json.
#   fusesoc --cores-root . run --target lint {vlnv}
#   fusesoc --cores-root . run --target sim {vlnv}
name: {vlnv}
description: "logdot {manifest["schema"].split("/")[0].split(".")[-1]} {name} (AXI4-Stream)"

filesets:
  rtl:
    files:
      - {name}.v
    file_type: verilogSource
  lint_waivers:
    files:
      - {name}.vlt
    file_type: vlt
  tb:
    files:
      - {tb}.v
    file_type: verilogSource

targets:
  default:
    filesets: [{default}]
    toplevel: {name}
  lint:
    description: Verilator --lint-only -Wall (waivers for {name}.v only, in {name}.vlt)
    flow: lint
    flow_options:
      tool: verilator
      verilator_options: [-Wall]
    filesets: [lint_waivers, rtl]
    toplevel: {name}
  sim:
    description: Icarus Verilog, the self-checking test bench {tb}.v (golden vectors)
    flow: sim
    flow_options:
      tool: icarus
      iverilog_options: [-g2012]
    filesets: [rtl, tb]
    toplevel: {tb}
  synth:
    description: Yosys synth_ice40 (edalize icestorm flow, synthesis only)
    flow: icestorm
    flow_options:
      pnr: none
    filesets: [rtl]
    toplevel: {name}
  synth_ecp5:
    description: Yosys synth_ecp5 (edalize trellis flow, synthesis only)
    flow: trellis
    flow_options:
      pnr: none
    filesets: [rtl]
    toplevel: {name}
"""


def project_files(manifest, vectors):
    """``[(file name, text)]`` of the FuseSoC and IP-XACT files of a design.

    ``NAME.core`` (:func:`core_text`), ``NAME_tb.v`` (:func:`testbench_text`) and
    ``NAME.xml`` (:func:`logdot.generators.ipxact.component_xml`).
    """
    from logdot.generators.ipxact import component_xml

    name = manifest["name"]
    return [
        (f"{name}.core", core_text(manifest)),
        (f"{testbench_name(name)}.v", testbench_text(manifest, vectors)),
        (f"{name}.xml", component_xml(manifest)),
    ]
