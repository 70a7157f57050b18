"""``logdot board``: a bitstream for a real board, the compiled network behind a UART.

The flags become one :class:`~logdot.synth.board.BoardJob` here; :func:`logdot.synth.board.
build_board` works on that object only.
"""

from __future__ import annotations

import os

from logdot.options import CliError, arg_values, check_name_arg

__all__ = ["DESCRIPTION", "add_arguments", "job_from_args", "run"]

DESCRIPTION = (
    "Build a bitstream for an amaranth-boards board (iCE40: icebreaker; ECP5: ulx3s-12f, "
    "-25f, -45f, -85f) with the YoWASP tools: the network of NET.pt (folded as logdot "
    "compile folds it) behind a UART, image bytes in, status, class and logits out (the "
    "protocol: logdot.golden.board_protocol; host side: examples/board_host.py). Pins and "
    "clock come from amaranth-boards; nextpnr checks timing at the board's clock. Writes "
    "DIR/NAME.bin or .bit, DIR/NAME_board.json and .md (fmax, resources, protocol) and "
    "DIR/build/ (logs). Fails with one line when the design does not fit the device (naming "
    "the resource) or misses the clock."
)


def add_arguments(parser):
    """Add the options of ``logdot board`` to ``parser``."""
    from logdot.commands.compile import add_network_arguments
    from logdot.synth.board import BOARDS

    g = parser.add_argument_group("board")
    g.add_argument("--board", required=True, choices=tuple(BOARDS), help="target board")
    add_network_arguments(g, fold_help="lanes x PEs of engine layers, as logdot compile --fold")
    g.add_argument("--baud", type=int, default=115200, help="UART baud rate (default 115200)")
    g.add_argument(
        "--timeout-ms",
        type=int,
        default=100,
        metavar="MS",
        help="idle milliseconds that end a short request (default 100)",
    )
    g.add_argument("--seed", type=int, default=1, help="nextpnr placer seed (default 1)")
    o = parser.add_argument_group("output")
    o.add_argument("--name", default="logdot_board", help="top module name and file stem")
    o.add_argument("--out", required=True, metavar="DIR", help="output directory")
    o.add_argument("--force", action="store_true", help="replace the outputs of an earlier run")
    o.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def job_from_args(args):
    """The :class:`~logdot.synth.board.BoardJob` of the parsed ``args`` (CliError naming the
    flag on bad input)."""
    from logdot.commands.compile import parse_fold
    from logdot.golden.network_file import load_network
    from logdot.synth.board import BoardJob

    check_name_arg(args.name)
    if not os.path.isfile(args.network):
        raise CliError(f"--network: no such file: {args.network}")
    for flag, value, lo in (("--baud", args.baud, 300), ("--timeout-ms", args.timeout_ms, 1)):
        if value < lo:
            raise CliError(f"{flag} must be at least {lo}, not {value}")
    if args.seed < 0:
        raise CliError(f"--seed must be >= 0, not {args.seed}")
    try:
        net = load_network(args.network)
    except (ValueError, OSError) as exc:
        raise CliError(f"--network: {exc}") from None
    fold = parse_fold(args.fold, net) if args.fold else None
    try:
        return BoardJob(
            net=net,
            out_dir=args.out,
            fold=fold,
            **arg_values(args, "board", "baud", "timeout_ms", "name", "seed", "force"),
        )
    except (TypeError, ValueError) as exc:
        raise CliError(str(exc)) from None


def run(args):
    """Build the bitstream of the parsed ``args``; return the exit code (1 when the design
    does not fit or misses the clock)."""
    import sys

    from logdot.generators.network import resolve_fold
    from logdot.hdl.network import network_plan
    from logdot.hdl.uart import uart_divisor
    from logdot.synth.board import BOARD_STEPS, BOARDS, BoardError, build_board, uart_cycles
    from logdot.tools import ToolNotFoundError
    from logdot.tools.progress import LineBar, setup_logging

    job = job_from_args(args)
    clock = BOARDS[job.board].make_platform().default_clk_frequency
    try:
        divisor = uart_divisor(clock, job.baud)
    except ValueError as exc:
        raise CliError(f"--baud: {exc}") from None
    try:
        network_plan(job.net, resolve_fold(job.net, job.fold, uart_cycles(job.net, divisor)))
    except (TypeError, ValueError) as exc:
        raise CliError(f"{'--fold' if job.fold else '--network'}: {exc}") from None
    if any((job.out_dir / n).exists() for n in job.outputs) and not job.force:
        raise CliError(f"--out: {job.out_dir} holds an earlier board build (use --force)")
    setup_logging(quiet=args.quiet)
    try:
        with LineBar(total=BOARD_STEPS, desc="board", quiet=args.quiet) as steps:
            report = build_board(job, progress=steps)
    except ToolNotFoundError as exc:
        raise CliError(str(exc)) from None
    except BoardError as exc:
        print(f"logdot: board: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    u = report["uart"]
    print(
        f"wrote {job.out_dir / report['bitstream']}: {report['device']}, fmax "
        f"{report['fmax_mhz']:.2f} MHz at a {report['clock_mhz']:g} MHz clock (met); UART "
        f"{u['baud']} baud, {u['request_bytes']} bytes per image, {u['response_bytes']} back"
    )
    return 0
