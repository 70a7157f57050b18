"""``logdot generate-layer``: write a layer engine (weights baked in) from a trained layer.pt."""

from __future__ import annotations

import os
import re

from logdot.golden.formats import ACCUMULATE_MODES, LIMITS
from logdot.options import (
    CliError,
    add_output_arguments,
    add_pipeline_arguments,
    arg_values,
    check_name_arg,
    name_flag,
    plural,
    run_generator,
    typed_flags,
    warn,
)

__all__ = ["DESCRIPTION", "add_arguments", "check_weights_file", "idle_warnings", "run"]

DESCRIPTION = (
    "Write DIR/NAME.v, DIR/NAME.json and DIR/NAME.vlt (Verilator lint waivers for NAME.v "
    "only), DIR/NAME.core + DIR/NAME_tb.v (FuseSoC core, self-checking test bench) and "
    "DIR/NAME.xml (IP-XACT): a layer engine (PES output channels x LANES lanes, "
    "the layer's weights and biases baked into on-chip memory, bias + ReLU + requantization "
    "per channel) for the quantized Conv2d/Linear layer in LAYER.pt "
    "(logdot.golden.spec_io.save_spec). Nothing is written on error; existing files are kept "
    "unless --force. See docs/layer.md."
)

#: map_layer parameter -> flag (error messages name the flag the user typed).
_FLAGS = {
    "lanes": "--lanes",
    "pes": "--pes",
    "register_every": "--register-every",
    "accumulate": "--accumulate",
    "frac_bits": "--frac-bits",
}


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
    g.add_argument(
        "--accumulate",
        choices=ACCUMULATE_MODES,
        default="exact",
        help="exact integer sums (default), or log: the paper's log-domain accumulation "
        "(layers with log activations; one term per cycle, so a beat takes --lanes cycles)",
    )
    g.add_argument(
        "--frac-bits",
        type=int,
        default=None,
        metavar="F",
        help="with --accumulate log: fraction bits of the log2 state (0..12, default 8)",
    )
    add_pipeline_arguments(parser)
    add_output_arguments(
        parser,
        default_name="logdot_layer",
        name_help="top module name and file stem (default: logdot_layer)",
    )
    parser.add_argument_group("constant weights").add_argument(
        "--const-weights",
        action="store_true",
        help="compile the weights to wiring (no weight memory: each PE is an adder tree sized "
        "for its constant weights); needs the whole dot product in one beat and every output "
        "channel in parallel (--lanes >= the dot product, --pes >= the output channels), "
        "linear activations, no --weight-port",
    )


#: First bytes of the files torch.save writes: a zip archive, or a (legacy) pickle.
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")


def check_weights_file(path):
    """Refuse a ``--weights`` path that cannot be a layer file, before torch is imported.

    Raises :class:`CliError` for a missing path, a directory, an unreadable or empty file,
    a JSON file (the layer manifest ``generate-layer`` writes is the usual mix-up) and any
    other file that is not a torch archive.
    """
    if os.path.isdir(path):
        raise CliError(f"--weights: {path} is a directory, not a layer file")
    if not os.path.exists(path):
        raise CliError(f"--weights: no such file: {path}")
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as exc:
        raise CliError(f"--weights: cannot read {path}: {exc.strerror or exc}") from None
    if not head:
        raise CliError(f"--weights: {path} is empty, not a layer file written by save_spec")
    if head.startswith(_TORCH_MAGIC):
        return
    if head.lstrip()[:1] in (b"{", b"["):
        if b'"logdot.layer/' in head:
            raise CliError(
                f"--weights: {path} is a layer manifest (JSON); pass the LAYER.pt file "
                "written by save_spec"
            )
        raise CliError(f"--weights: {path} is a JSON file, not a layer file written by save_spec")
    raise CliError(
        f"--weights: {path} is not a layer file written by save_spec (not a torch archive)"
    )


def _load_error(path, exc):
    """The one-line message for ``exc``, raised by ``load_spec(path)``."""
    text = str(exc)
    if "Weights only load failed" in text:
        return (
            f"--weights: {path} holds Python objects beyond tensors and plain values, which "
            "torch.load(weights_only=True) refuses; write it with save_spec"
        )
    if isinstance(exc, ValueError | TypeError):  # LayerSpec.from_dict: a wrong schema or field
        if text.startswith("not a "):
            return f"--weights: {path} is {text}"
        return f"--weights: {path} is not a valid layer spec: {text}"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"--weights: cannot read a layer spec from {path}: {first}"


def _map_error(message, spec, args, flags):
    """The one-line message for an error of ``map_layer``: a flag's value, or a layer (its
    widths, from the file) too wide for logdot's 64-bit arithmetic at any ``--lanes``."""
    if message.split(" ", 1)[0] in flags:
        return name_flag(message, flags)
    widths = (
        f"{spec.weight_bits}-bit weights, {spec.act_bits}-bit {spec.act_format} activations, "
        f"{spec.in_features}-element dot products"
    )
    m = re.search(r"needs a (\d+)-bit accumulator.*limit of (\d+) bits", message)
    if m:
        need = f"a {m.group(1)}-bit accumulator, beyond logdot's limit of {m.group(2)} bits"
    elif m := re.fullmatch(r"in_bits must be an integer in \[\d+, (\d+)\], not (\d+)", message):
        need = f"{m.group(2)}-bit sums (with the bias), beyond logdot's limit of {m.group(1)} bits"
    else:
        return f"--weights: the layer in {args.weights} does not fit a layer engine: {message}"
    return (
        f"--weights: the layer in {args.weights} ({widths}) needs {need} at --lanes "
        f"{args.lanes}; quantize it to fewer weight or activation bits"
    )


def idle_warnings(spec, lanes, pes):
    """Warnings for an engine wider than the layer: lanes or PEs that never do any work.

    Parameters
    ----------
    spec : logdot.golden.mapping.LayerSpec
        The layer.
    lanes, pes : int
        ``--lanes`` and ``--pes``.

    Returns
    -------
    list of str
        One message per flag that exceeds the layer (empty if none).
    """
    out = []
    k, n = spec.in_features, spec.out_channels
    if lanes > k:
        out.append(
            f"--lanes {lanes} exceeds the layer's dot product of {k} elements; "
            f"{plural(lanes - k, 'lane')} stay{'s' if lanes - k == 1 else ''} idle"
        )
    if pes > n:
        out.append(
            f"--pes {pes} exceeds the layer's {plural(n, 'output channel')}; "
            f"{plural(pes - n, 'PE')} stay{'s' if pes - n == 1 else ''} idle"
        )
    return out


def _check_accumulate(args, spec):
    """Refuse ``--frac-bits`` without ``--accumulate log``, and log accumulation of a layer
    with linear activations."""
    if args.accumulate != "log":
        if args.frac_bits is not None:
            raise CliError("--frac-bits needs --accumulate log (the log2 state's fraction bits)")
        return
    if spec.act_format != "log":
        raise CliError(
            f"--accumulate log needs a layer with log activations; the layer in {args.weights} "
            f"has {spec.act_format} activations"
        )


def _check_const_weights(cfg, args):
    """Refuse ``--const-weights`` where the weights cannot be wiring (one line, the flags)."""
    if args.weight_port:
        raise CliError("--const-weights and --weight-port exclude each other")
    if cfg.engine.weight_terms != 1:
        raise CliError(
            f"--const-weights needs single-term weights; the layer in {args.weights} has "
            "two-term weights"
        )
    if cfg.engine.act_format != "linear":
        raise CliError(
            f"--const-weights needs linear activations; the layer in {args.weights} has "
            f"{cfg.engine.act_format} activations"
        )
    if cfg.depth != 1:
        raise CliError(
            f"--const-weights needs one weight word per PE: the layer in {args.weights} takes "
            f"{plural(cfg.depth, 'weight word')} per PE at --lanes {args.lanes} --pes "
            f"{args.pes} (raise --lanes to the dot product's length and --pes to the output "
            "channels)"
        )


def run(args):
    """Write the layer engine of the parsed ``args``; return the exit code.

    Raises :class:`CliError` on bad input. torch (through the layer model) is imported here,
    not when the parser is built.
    """
    check_name_arg(args.name)
    check_weights_file(args.weights)
    from logdot.generators.common import project_summary
    from logdot.generators.layer import write_layer
    from logdot.golden.mapping import map_layer
    from logdot.golden.spec_io import load_spec
    from logdot.hdl.layer import layer_latency

    try:
        spec = load_spec(args.weights)
    except Exception as exc:  # a torch pickle error, a wrong schema, a bad field
        raise CliError(_load_error(args.weights, exc)) from None
    flags = typed_flags(args, _FLAGS)
    _check_accumulate(args, spec)
    try:
        mapped = map_layer(
            spec,
            log_frac_bits=args.frac_bits,
            **arg_values(args, "lanes", "pes", "register_terms", "register_every", "accumulate"),
        )
    except (TypeError, ValueError) as exc:
        raise CliError(_map_error(str(exc), spec, args, flags)) from None
    cfg = mapped.config
    if args.const_weights:
        _check_const_weights(cfg, args)
    lanes = cfg.pes * cfg.lanes
    what = f"a {plural(cfg.pes, 'PE')} x {plural(cfg.lanes, 'lane')} layer engine ({lanes} lanes)"
    vpath, jpath = run_generator(
        write_layer,
        mapped,
        args,
        lanes=lanes,
        what=what,
        weight_port=args.weight_port,
        ram_style=None if args.ram_style == "auto" else args.ram_style,
        const_weights=args.const_weights,
    )
    print(
        f"wrote {vpath}, {jpath} and {os.path.splitext(vpath)[0]}.vlt: "
        f"{plural(cfg.pes, 'PE')} x {plural(cfg.lanes, 'lane')}, "
        f"{plural(mapped.beats, 'beat')} per dot product, "
        f"{plural(mapped.tiles, 'output-channel tile')}, "
        f"latency {plural(layer_latency(cfg), 'cycle')}, "
        f"output {cfg.requant.kind} {plural(cfg.requant.out_bits, 'bit')}; "
        f"{project_summary(vpath)}"
    )
    for message in idle_warnings(spec, args.lanes, args.pes):  # after the one error line
        warn(message)
    return 0
