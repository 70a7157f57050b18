"""``logdot compile``: one streaming Verilog design (pixels in, outputs out) from a network file."""

from __future__ import annotations

import os
import re

from logdot.options import CliError, add_output_arguments, check_name_arg, plural, write_error

__all__ = [
    "DESCRIPTION",
    "add_arguments",
    "add_network_arguments",
    "folding_from_args",
    "parse_fold",
    "run",
]

DESCRIPTION = (
    "Write DIR/NAME.v (one top module: a window unit per convolution, the layer engines, "
    "pools, FIFOs, all running concurrently) and DIR/NAME.json (the manifest: every layer, its "
    "folding, FIFO depths, line buffers, memory contents, stream layouts, output scale, "
    "cycles_per_image, latency_cycles), DIR/NAME.vlt (Verilator waivers), DIR/NAME.core + "
    "DIR/NAME_tb.v (FuseSoC core, self-checking test bench) and DIR/NAME.xml (IP-XACT) "
    "for the network in NET.pt "
    "(logdot.golden.network_torch.export_network). --fold sets lanes x PEs per layer; the "
    "other layers get the smallest engine that needs at most --target-cycles cycles per "
    "image (default: the pipeline's unavoidable bound, the largest padded image), or the "
    "fastest folding whose predicted LUTs (a cost model calibrated against Yosys) fit "
    "--lut-budget. Nothing is written on error; existing files are kept unless --force."
)

_ITEM = re.compile(r"\s*([^=,\s]+)\s*=\s*(\d+)\s*[xX]\s*(\d+)\s*\Z")


def parse_fold(text, net):
    """``{layer index: (lanes, pes)}`` of a ``--fold`` value ``KEY=LANESxPES,...``.

    ``KEY`` is a layer's name (the source model's module name, the manifest's ``"name"``)
    or, when no layer has that name, the index of the layer in the network. Raises
    :class:`CliError` naming ``--fold``.
    """
    fold = {}
    names = {layer.name: i for i, layer in enumerate(net.layers) if layer.name}
    for item in text.split(","):
        match = _ITEM.match(item)
        if match is None:
            raise CliError(f"--fold: {item.strip()!r} is not KEY=LANESxPES (e.g. conv1=9x4)")
        key, lanes, pes = match.group(1), int(match.group(2)), int(match.group(3))
        if key in names:
            index = names[key]
        elif key.isdigit() and int(key) < len(net.layers):
            index = int(key)
        else:
            raise CliError(f"--fold: no layer named {key!r}")
        layer = net.layers[index]
        if not layer.is_engine:
            raise CliError(f"--fold: layer {index} ({layer.type}) {key!r} is not a conv2d/linear")
        if index in fold:
            raise CliError(f"--fold: layer {key!r} is given twice")
        fold[index] = (lanes, pes)
    return fold


def folding_from_args(args, net):
    """The folding of every engine layer from ``--fold``, ``--target-cycles`` and
    ``--lut-budget`` (the last two are mutually exclusive), ``{index: (lanes, pes)}``.

    Shared by ``logdot compile`` and ``logdot synth --network``; raises :class:`CliError`
    naming the flag.
    """
    from logdot.generators.network import resolve_fold

    fold = parse_fold(args.fold, net) if args.fold else None
    budget = getattr(args, "lut_budget", None)
    if budget is not None and args.target_cycles is not None:
        raise CliError("--lut-budget and --target-cycles are mutually exclusive; give one")
    if getattr(args, "lut_family", None) is not None and budget is None:
        raise CliError("--lut-family needs --lut-budget")
    if args.target_cycles is not None and args.target_cycles < 1:
        raise CliError(f"--target-cycles: must be a positive integer, not {args.target_cycles}")
    if budget is not None and budget < 1:
        raise CliError(f"--lut-budget: must be a positive integer, not {budget}")
    try:
        if budget is not None:
            from logdot.generators.cost import budget_fold

            return budget_fold(net, budget, fold=fold, family=args.lut_family or "ecp5")
        return resolve_fold(net, fold, args.target_cycles)
    except (TypeError, ValueError) as exc:
        flag = "--lut-budget" if budget is not None else "--fold" if fold else "--network"
        raise CliError(f"{flag}: {exc}") from None


def add_network_arguments(group, *, fold_help):
    """Add ``--network NET.pt`` (required) and ``--fold KEY=LxP,...`` (:func:`parse_fold`)
    to the argument group ``group``; ``fold_help`` is the help text of ``--fold``."""
    group.add_argument(
        "--network",
        required=True,
        metavar="NET.pt",
        help="network file (logdot.golden.network_torch.export_network)",
    )
    group.add_argument("--fold", default=None, metavar="KEY=LxP,...", help=fold_help)


def add_arguments(parser):
    """Add the options of ``logdot compile`` to ``parser``."""
    g = parser.add_argument_group("network")
    add_network_arguments(
        g,
        fold_help="lanes x PEs of engine layers, KEY a layer name (the source model's module "
        "name, as in the manifest) or, if no layer has that name, its index "
        "(e.g. 0=9x8,3=72x4)",
    )
    g.add_argument(
        "--target-cycles",
        type=int,
        default=None,
        metavar="N",
        help="cycles per image the automatic folding aims at (default: the fewest any "
        "folding reaches, the largest padded image)",
    )
    g.add_argument(
        "--lut-budget",
        type=int,
        default=None,
        metavar="N",
        help="fold automatically for the fewest cycles per image whose predicted LUT4s "
        "(logdot.generators.cost, calibrated against Yosys for --lut-family) are at most N; "
        "not with --target-cycles",
    )
    g.add_argument(
        "--lut-family",
        choices=("ecp5", "ice40"),
        default=None,
        help="with --lut-budget: whose LUT4s the budget counts (default: ecp5)",
    )
    add_output_arguments(
        parser,
        default_name="logdot_network",
        name_help="top module name and file stem (default: logdot_network)",
    )


def run(args):
    """Compile the network of the parsed ``args``; return the exit code."""
    check_name_arg(args.name)
    if not os.path.isfile(args.network):
        raise CliError(f"--network: no such file: {args.network}")
    from logdot.generators.common import project_summary
    from logdot.generators.network import write_network
    from logdot.golden.network_file import load_network
    from logdot.tools.progress import bar

    with bar(total=3, desc="compile", unit="step", quiet=args.quiet, leave=False) as steps:
        steps.set_postfix_str("loading the network")
        try:
            net = load_network(args.network)
        except (ValueError, OSError) as exc:
            raise CliError(f"--network: {exc}") from None
        steps.update(1)
        steps.set_postfix_str("folding")
        full, stages, budget = _plan(args, net)
        steps.update(1)
        steps.set_postfix_str("elaborating and writing the Verilog")
        try:
            vpath, jpath = write_network(
                net, args.out, fold=full, name=args.name, force=args.force, cost=budget
            )
        except OSError as exc:
            raise write_error(exc, args.out) from None
        steps.update(1)
    cpi = max(s.cycles_per_image for s in stages)
    folds = ", ".join(f"{i}={lanes}x{pes}" for i, (lanes, pes) in full.items())
    print(
        f"wrote {vpath} and {jpath}: {plural(len(net.layers), 'layer')}, fold {folds}, "
        f"{plural(cpi, 'cycle')} per image; {project_summary(vpath)}"
    )
    return 0


def _plan(args, net):
    """``(fold, stages, cost)`` of the parsed flags (CliError naming the flag); ``cost`` is
    the cost model's prediction with ``--lut-budget`` (else ``None``)."""
    from logdot.hdl.network import network_plan

    full = folding_from_args(args, net)
    try:
        stages, _ = network_plan(net, full)
    except (TypeError, ValueError) as exc:
        raise CliError(f"{'--fold' if args.fold else '--network'}: {exc}") from None
    budget = None
    if args.lut_budget is not None:
        from logdot.generators.cost import predict_network

        budget = {
            **predict_network(net, full, family=args.lut_family or "ecp5"),
            "lut_budget": args.lut_budget,
        }
    return full, stages, budget
