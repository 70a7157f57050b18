"""``logdot generate-layer``: write a layer engine (weights baked in) from a trained layer.pt."""

from __future__ import annotations

import os
import sys

from logdot.golden.formats import LIMITS
from logdot.options import (
    CliError,
    add_output_arguments,
    add_pipeline_arguments,
    check_name_arg,
    name_flag,
    plural,
    write_error,
)

__all__ = ["DESCRIPTION", "add_arguments", "run"]

DESCRIPTION = (
    "Write DIR/NAME.v, DIR/NAME.json and DIR/NAME.vlt (Verilator lint waivers for NAME.v "
    "only): a layer engine (PES output channels x LANES lanes, "
    "the layer's weights and biases baked into on-chip memory, bias + ReLU + requantization "
    "per channel) for the quantized Conv2d/Linear layer in LAYER.pt "
    "(logdot.golden.spec_io.save_spec). Nothing is written on error; existing files are kept "
    "unless --force. See docs/layer.md."
)

#: map_layer parameter -> flag (error messages name the flag the user typed).
_FLAGS = {"lanes": "--lanes", "pes": "--pes", "register_every": "--register-every"}


def add_arguments(parser):
    """Add the options of ``logdot generate-layer`` to ``parser``."""
    g = parser.add_argument_group("layer")
    g.add_argument(
        "--weights",
        required=True,
        metavar="LAYER.pt",
        help="trained, quantized layer (logdot.golden.spec_io.save_spec)",
    )
    lo, hi = LIMITS["lanes"]
    g.add_argument(
        "--lanes", type=int, required=True, metavar="N", help=f"activations per beat ({lo}..{hi})"
    )
    g.add_argument(
        "--pes", type=int, required=True, metavar="P", help="output channels in parallel (1..256)"
    )
    g.add_argument(
        "--weight-port",
        action="store_true",
        help="add the w_axis weight-load stream (run-time weights; the baked ones are the "
        "initial contents)",
    )
    g.add_argument(
        "--ram-style",
        choices=("auto", "block", "distributed", "logic"),
        default="auto",
        help="ram_style attribute of the weight memories (default auto: the synthesis tool "
        "decides; Yosys puts large memories in block RAM)",
    )
    add_pipeline_arguments(parser)
    add_output_arguments(
        parser,
        default_name="logdot_layer",
        name_help="top module name and file stem (default: logdot_layer)",
    )


def run(args):
    """Write the layer engine of the parsed ``args``; return the exit code.

    Raises :class:`CliError` on bad input. torch (through the layer model) is imported here,
    not when the parser is built.
    """
    check_name_arg(args.name)
    if not os.path.isfile(args.weights):
        raise CliError(f"--weights: no such file: {args.weights}")
    from logdot.generators.common import conversion_notice
    from logdot.generators.layer import write_layer
    from logdot.golden.mapping import map_layer
    from logdot.golden.spec_io import load_spec
    from logdot.hdl.layer import layer_latency

    try:
        spec = load_spec(args.weights)
    except Exception as exc:  # a torch pickle error, a wrong schema, a bad field
        raise CliError(f"--weights: cannot read a layer spec from {args.weights}: {exc}") from None
    try:
        mapped = map_layer(
            spec,
            lanes=args.lanes,
            pes=args.pes,
            register_terms=args.register_terms,
            register_every=args.register_every,
        )
    except (TypeError, ValueError) as exc:
        raise CliError(name_flag(str(exc), _FLAGS)) from None
    cfg = mapped.config
    lanes = cfg.pes * cfg.lanes
    what = f"a {plural(cfg.pes, 'PE')} x {plural(cfg.lanes, 'lane')} layer engine ({lanes} lanes)"
    notice = None if args.quiet else conversion_notice(lanes, what)
    try:
        vpath, jpath = write_layer(
            mapped,
            args.out,
            name=args.name,
            weight_port=args.weight_port,
            ram_style=None if args.ram_style == "auto" else args.ram_style,
            force=args.force,
            axi_names=args.axi_names,
            before_convert=notice and (lambda: print(notice, file=sys.stderr, flush=True)),
        )
    except OSError as exc:
        raise write_error(exc, args.out) from None
    print(
        f"wrote {vpath}, {jpath} and {os.path.splitext(vpath)[0]}.vlt: "
        f"{plural(cfg.pes, 'PE')} x {plural(cfg.lanes, 'lane')}, "
        f"{plural(mapped.beats, 'beat')} per dot product, "
        f"{plural(mapped.tiles, 'output-channel tile')}, "
        f"latency {plural(layer_latency(cfg), 'cycle')}, "
        f"output {cfg.requant.kind} {plural(cfg.requant.out_bits, 'bit')}"
    )
    return 0
