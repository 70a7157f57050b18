"""Constant-weight engines on iCE40 HX8K against da4ml: the README's cost table.

Synthesizes, with the register-shell method of ``logdot synth`` (:func:`logdot.synth.runner.
synthesize`: Yosys ``synth_ice40``, the engine kept as its own hierarchy level, nextpnr
``--hx8k`` inside a shell of flip-flops), three designs:

* the 16-lane power-of-two vector of the comparison, 8-bit signed activations, as a
  constant-weight dot-product engine, combinational (no register inside the tree,
  ``register_terms`` off: the shell's flip-flops feed the tree) and fully pipelined
  (``--register-every 1``, activation registers on); ``max_beats 1`` (one dot product per
  beat, as da4ml computes; ``tlast`` still groups beats, wrapping beyond one);
* the same vector through the run-time engine with ``--weight-bits 4`` fed constant weights
  by a wrapper (what constant propagation alone gives), for reference;
* the 64 x 16 matrix ``numpy.random.default_rng(23456).choice(VALUES, (64, 16))`` as a layer
  engine with ``--const-weights`` (64 lanes, 16 PEs, raw linear outputs, no ReLU, zero bias),
  pipelined.

For each: SB_LUT4, SB_CARRY, DFF (the engine's own module) and fmax (nextpnr, median of
``--seeds`` placer seeds, default 3). Writes ``results/const_synth.json`` and
``results/const_synth.md`` (the table in the README) below ``--out`` (default: the
repository root) and prints the table. About 10 minutes on an idle 2-core machine, most of
it the 1024-lane layer (Yosys, and nextpnr if it fits).

    python benchmarks/const_synth.py [--seeds 3] [--only vector] [--out .]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

#: The weight values of the comparison (``numpy.random.default_rng(seed).choice(VALUES, ...)``).
VALUES = [0, 1, -1, 2, -2, 4, -4, 8, -8, 16, -16, 32, -32, 64, -64]
#: The 16-lane vector, ``numpy.random.default_rng(12345).choice(VALUES, (16, 1))``.
VECTOR_SEED = 12345
#: The 64 x 16 matrix, ``numpy.random.default_rng(23456).choice(VALUES, (64, 16))``.
MATRIX_SEED = 23456

#: da4ml 0.6.0 on the same machine, tools and device (research figures of the comparison).
DA4ML = {
    "vector, combinational": {"luts": 270, "carry": 58, "ffs": None, "fmax_mhz": 88},
    "vector, pipelined": {"luts": 187, "carry": 149, "ffs": 322, "fmax_mhz": 206},
    "64 x 16 layer, pipelined": {"luts": 9068, "carry": 6812, "ffs": None, "fmax_mhz": None},
}


def vector_values():
    """The 16 weight values of the comparison vector."""
    import numpy as np

    return [int(v) for v in np.random.default_rng(VECTOR_SEED).choice(VALUES, (16, 1))[:, 0]]


def matrix_values():
    """The 64 x 16 weight matrix (input lane, output)."""
    import numpy as np

    return np.random.default_rng(MATRIX_SEED).choice(VALUES, (64, 16)).tolist()


def vector_const(register_every):
    """The comparison vector as :class:`~logdot.golden.const.ConstWeights`."""
    from logdot.golden.const import ConstWeights, weight_fields
    from logdot.golden.formats import EngineConfig

    cfg = EngineConfig(
        lanes=16,
        act_bits=8,
        weight_bits=4,
        max_beats=1,
        register_every=register_every,
        register_terms=bool(register_every),
    )
    return ConstWeights(cfg, weight_fields(vector_values(), 4))


def matrix_layer():
    """The 64 x 16 matrix as a :class:`~logdot.golden.layer.Layer` (raw linear outputs)."""
    import torch

    from logdot.golden.const import weight_fields
    from logdot.golden.formats import EngineConfig
    from logdot.golden.layer import Layer, LayerConfig, z_bits
    from logdot.golden.requant import Requant

    eng = EngineConfig(lanes=64, act_bits=8, weight_bits=4, max_beats=1, register_every=1)
    zb = z_bits(eng, 2)
    rq = Requant(in_bits=zb, kind="linear", out_bits=zb, out_signed=True, shift=0)
    cfg = LayerConfig(engine=eng, pes=16, depth=1, dots=1, bias_bits=2, relu=False, requant=rq)
    rows = matrix_values()  # [lane][output]
    weights = [[weight_fields([rows[i][p] for i in range(64)], 4) for p in range(16)]]
    return Layer(
        config=cfg,
        weights=torch.tensor(weights, dtype=torch.int64),
        bias=torch.zeros((1, 16), dtype=torch.int64),
    )


def _runtime_wrapper(const, name):
    """Verilog of the run-time engine with the constant weights tied to its weight lanes."""
    from logdot.generators.engine import generate_verilog

    cfg = const.config
    inner = generate_verilog(cfg, name=f"{name}_rt")
    word = 0
    for i, w in enumerate(const.weights):
        word |= w << cfg.weight_lsb(i)
    ib, ob = 8 * const.in_bytes, 8 * cfg.out_bytes
    wrapper = f"""
module {name} (input clk, input rst, input s_axis_tvalid, output s_axis_tready,
  input s_axis_tlast, input [{ib - 1}:0] s_axis_tdata, output m_axis_tvalid,
  input m_axis_tready, output m_axis_tlast, output [{ob - 1}:0] m_axis_tdata);
  wire [{8 * cfg.in_bytes - 1}:0] beat = {{{cfg.lanes * cfg.weight_bits}'h{word >> cfg.weight_lsb(0):x}, s_axis_tdata[{const.in_bits - 1}:0]}};
  {name}_rt engine (.clk(clk), .rst(rst), .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready), .s_axis_tlast(s_axis_tlast), .s_axis_tdata(beat),
    .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),
    .m_axis_tlast(m_axis_tlast), .m_axis_tdata(m_axis_tdata));
endmodule
"""  # noqa: E501
    return inner + wrapper


def measure(label, verilog, top, lanes, in_w, out_w, workdir, seeds):
    """Synthesize once, place and route per seed; return the row dict."""
    from logdot.synth.runner import SynthError, place_and_route, synthesize

    slug = label.replace(" ", "_").replace(",", "")
    wd = Path(workdir) / slug
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    # One synthesis inside the register shell, then nextpnr once per seed (fmax: the median).
    shell = {"lanes": lanes, "in_width": in_w, "out_width": out_w}
    r = synthesize(verilog, top=top, target="ice40", workdir=wd, place=False, progress=say, **shell)
    fmax, fits = [], True
    for seed in seeds:
        try:
            fmax.append(round(place_and_route(wd, "ice40", seed=seed, progress=say)["fmax_mhz"], 2))
        except SynthError as exc:
            print(f"{label}: place and route failed: {str(exc).splitlines()[0]}", file=sys.stderr)
            fits = False
            break
    counts = {k: r[k] for k in ("luts", "carry", "ffs")}
    return {
        "design": label,
        **counts,
        "fmax_mhz": statistics.median(fmax) if fmax else None,
        "fmax_seeds": fmax,
        "fits_hx8k": fits,
    }


def _cell(v, unit=""):
    return "-" if v is None else f"{v:,}{unit}" if isinstance(v, int) else f"{v:.0f}{unit}"


def table(rows):
    """The README table (markdown) of the measured rows against da4ml."""
    lines = [
        "| design | logdot SB_LUT4 + SB_CARRY (sum) | DFF | fmax | da4ml LUT4 + carry (sum) | "
        "da4ml fmax |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        d = DA4ML.get(r["key"]) if r.get("key") else None
        ours = f"{r['luts']:,} + {r['carry']:,} ({r['luts'] + r['carry']:,})"
        fmax = _cell(r["fmax_mhz"], " MHz") if r["fits_hx8k"] else "does not fit HX8K"
        theirs = f"{d['luts']:,} + {d['carry']:,} ({d['luts'] + d['carry']:,})" if d else "-"
        lines.append(
            f"| {r['design']} | {ours} | {r['ffs']:,} | {fmax} | {theirs} | "
            f"{_cell(d['fmax_mhz'], ' MHz') if d else '-'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="nextpnr seeds (median fmax)")
    parser.add_argument("--only", choices=("vector", "layer"), help="one part only")
    parser.add_argument("--out", default=".", help="folder that gets results/const_synth.*")
    parser.add_argument("--build", default=None, help="build folder (default: a temp dir)")
    args = parser.parse_args(argv)

    from logdot.generators.common import convert
    from logdot.generators.const import generate_verilog
    from logdot.hdl.layer import LogLayerTop

    seeds = list(range(1, args.seeds + 1))
    build = Path(args.build or tempfile.mkdtemp(prefix="const_synth_"))
    rows = []
    if args.only in (None, "vector"):
        for k, key in ((0, "vector, combinational"), (1, "vector, pipelined")):
            const = vector_const(k)
            stage = key.split(", ")[1]
            designs = (
                ("const", generate_verilog(const, name="cdot"), "cdot", key),
                (
                    "run-time engine + constant inputs",
                    _runtime_wrapper(const, "rtdot"),
                    "rtdot",
                    None,
                ),
            )
            for what, verilog, top, row_key in designs:
                row = measure(
                    f"16-lane vector, {what}, {stage}",
                    verilog,
                    top,
                    16,
                    8 * const.in_bytes,
                    8 * const.out_bytes,
                    build,
                    seeds,
                )
                rows.append({**row, "key": row_key, "register_every": k})
    if args.only in (None, "layer"):
        layer = matrix_layer()
        cfg = layer.config
        v = convert(LogLayerTop(layer=layer, const_weights=True), "clayer")
        row = measure(
            "64 x 16 layer (64 lanes, 16 PEs), const, pipelined",
            v,
            "clayer",
            64 * 16,
            8 * cfg.in_bytes,
            8 * cfg.out_bytes,
            build,
            seeds,
        )
        rows.append({**row, "key": "64 x 16 layer, pipelined", "register_every": 1})
    text = table(rows)
    print(text)
    out = Path(args.out) / "results"
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.only is None else f"_{args.only}"
    (out / f"const_synth{suffix}.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / f"const_synth{suffix}.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
