"""Synthesis and place and route of a whole streaming network (``logdot synth --network``).

The network top of :func:`logdot.generators.network.compile_network` (the design
``logdot compile`` writes for the same network and folding) is synthesized inside the register
shell (:mod:`logdot.synth.shell`, ``frame_error`` observed too) by the engine flow's own tools
(:func:`logdot.synth.runner.synthesize`): once per synthesis setting (family, DSPs allowed),
because Yosys' ``synth_ice40`` / ``synth_ecp5`` netlist does not depend on the device. Every
device of that family then gets place and route (:func:`logdot.synth.runner.place_and_route`)
with several nextpnr seeds; fmax is reported as the median, minimum and maximum over the seeds,
and images/s as ``fmax / cycles_per_image`` (the compiler's cycle model, checked against
simulation by the tests).

A device that the synthesized counts already overflow (LUT4s, block RAMs, DSP blocks of
:data:`logdot.synth.targets.DEVICE_CAPACITY`) is reported as not fitting without running
nextpnr; one where nextpnr fails for lack of resources likewise (its log is kept).

Report (``out_dir/synth_report.json`` and ``synth_report.md``, schema
``logdot.network_synth/1``): the network, folding, ``cycles_per_image``, ``bottleneck``, tool
versions, and one row per target: ``target, device, fits, reason, luts, lut4_equiv, carry,
ffs, bram, lutram, dsps, mul_cells, fmax_mhz`` (per seed), ``fmax_median_mhz``,
``fmax_min_mhz``, ``fmax_max_mhz``, ``images_per_s`` (at the median fmax) and
``images_per_s_min`` / ``_max``.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from logdot.golden.formats import check_bool, check_int
from logdot.synth.output import check_out_dir, staged_out_dir
from logdot.synth.runner import (
    SynthError,
    check_tools,
    place_and_route,
    synthesize,
    tool_versions,
)
from logdot.synth.targets import DEVICE_CAPACITY, TARGETS, resolve_targets

__all__ = [
    "NETWORK_SYNTH_SCHEMA",
    "NETWORK_TARGETS",
    "NetworkSynthJob",
    "format_network_table",
    "network_label",
    "run_network",
]

NETWORK_SYNTH_SCHEMA = "logdot.network_synth/1"
#: Default targets of a network: the devices of the issue's table (DSPs allowed; a log network
#: must still use none).
NETWORK_TARGETS = ("ice40", "ice40-up5k", "ecp5", "ecp5-45k", "ecp5-85k")

#: nextpnr's messages when a design does not fit its device.
_NO_FIT = re.compile(
    r"(Unable to place cell|Unable to find legal placement|utilisation limit|not enough|"
    r"exceeds|Failed to find a placement|"
    r"Design uses more|too many|> *100%|[1-9]\d{2,}%)",
    re.IGNORECASE,
)


#: A nextpnr utilisation line above 100 % (``Info:  TRELLIS_COMB: 25545/ 24288  105%``).
_OVER_FULL = re.compile(r"Info:\s+\w+:\s+\d+/\s*\d+\s+(1\d\d|[2-9]\d\d)%")


def network_label(net):
    """``"log"`` when every engine layer has log weights, ``"linear<W>"`` with linear weights
    (the widest two's-complement weight), else ``"twoterm<W>"`` with two-term weights (the
    widest): the prefix of the target folders and the report's label."""
    specs = [layer.spec for layer in net.engines]
    linear = [s.weight_bits for s in specs if s.weight_format == "linear"]
    twoterm = [s.weight_bits for s in specs if s.weight_format == "twoterm"]
    if linear:
        return f"linear{max(linear)}"
    return f"twoterm{max(twoterm)}" if twoterm else "log"


@dataclass(frozen=True)
class NetworkSynthJob:
    """One synthesis run of a network (what ``logdot synth --network`` does for its flags).

    Attributes
    ----------
    net : logdot.golden.network.Network
    fold : dict
        ``{layer index: (lanes, pes)}`` of every engine layer
        (:func:`logdot.generators.network.resolve_fold`).
    out_dir : path-like
        Folder of the tool logs, netlists and report; must not exist or be empty unless
        ``force`` (:mod:`logdot.synth.output`).
    targets : tuple of str
        iCE40 / ECP5 targets (each needs a place-and-route device).
    seeds : tuple of int
        nextpnr placer seeds (at least 1; the issue's figures use 3).
    name : str
        Top module name of the network.
    freq_mhz : float or None
        Clock constraint of nextpnr (default: the family's).
    widelut : bool
        ECP5: allow the PFU wide-LUT multiplexers.
    force : bool
        Replace an existing ``out_dir`` of an earlier run.
    jobs : int
        nextpnr runs (seeds of one device) at a time.
    pnr_cache : path-like or None
        A :class:`~logdot.synth.cache.PnrCache` folder: seeds placed and routed before with
        the same netlist and nextpnr are taken from it, finished ones are stored (so a run
        that is stopped resumes where it was).
    """

    net: object
    fold: dict
    out_dir: Path = Path("build/synth")
    targets: tuple = NETWORK_TARGETS
    seeds: tuple = (1, 2, 3)
    name: str = "logdot_network"
    freq_mhz: float | None = None
    widelut: bool = True
    force: bool = False
    jobs: int = 1
    pnr_cache: Path | None = None
    _groups: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        from logdot.golden.network import Network

        if not isinstance(self.net, Network):
            raise TypeError(f"net must be a Network, not {type(self.net).__name__}")
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        targets = resolve_targets(self.targets)
        for n in targets:
            if TARGETS[n].device is None:
                raise ValueError(
                    f"targets must have a place-and-route device (iCE40 or ECP5), not {n!r}"
                )
        object.__setattr__(self, "targets", targets)
        seeds = tuple(self.seeds)
        if not seeds:
            raise ValueError("seeds must name at least one nextpnr seed")
        for s in seeds:
            check_int(s, "seed", 0)
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, not {seeds!r}")
        object.__setattr__(self, "seeds", seeds)
        check_bool(self.widelut, "widelut")
        check_bool(self.force, "force")
        check_int(self.jobs, "jobs", 1, 64)
        if self.pnr_cache is not None:
            object.__setattr__(self, "pnr_cache", Path(self.pnr_cache))
        groups = {}
        for n in targets:
            t = TARGETS[n]
            groups.setdefault((t.family, t.dsp), []).append(n)
        object.__setattr__(self, "_groups", groups)

    @property
    def label(self):
        """:func:`network_label` of the network."""
        return network_label(self.net)


def _overflow(counts, device):
    """Why the synthesized ``counts`` cannot fit ``device`` (``None`` when they may)."""
    cap = DEVICE_CAPACITY.get(device)
    if cap is None:
        return None
    used = {"luts": counts["lut4_equiv"], "bram": counts["bram"], "dsps": counts["dsps"]}
    over = [f"{used[k]} {k} > {cap[k]}" for k in ("luts", "bram", "dsps") if used[k] > cap[k]]
    return ", ".join(over) or None


def _no_fit_reason(err, workdir, seed):
    """The resource complaint of a failed nextpnr run (``None``: some other failure)."""
    log = Path(workdir) / f"nextpnr_seed{seed}.log"  # logdot.synth.runner.place_and_route
    text = log.read_text(errors="replace") if log.exists() else str(err)
    lines = text.splitlines()
    for line in reversed(lines):
        if "ERROR" in line and _NO_FIT.search(line):
            # with the resource nextpnr ran out of (its utilisation above 100 %)
            over = [" ".join(u.split()[1:]) for u in lines if _OVER_FULL.search(u)]
            return "; ".join([line.replace("ERROR:", "").strip().rstrip("."), *over])
    return None


def _row(job, name, counts, cpi, fmaxes, reason):
    t = TARGETS[name]
    row = {
        "label": job.label,
        "target": name,
        "family": t.family,
        "device": t.device,
        "dsp_allowed": t.dsp,
        "fits": reason is None,
        "reason": reason,
        **{k: counts[k] for k in ("luts", "lut4_equiv", "carry", "ffs", "bram", "lutram")},
        "dsps": counts["dsps"],
        "mul_cells": counts["mul_cells"],
        "cycles_per_image": cpi,
        "seeds": list(job.seeds) if fmaxes else [],
        "fmax_mhz": [round(f, 2) for f in fmaxes],
    }
    if fmaxes:
        med = statistics.median(fmaxes)
        row.update(
            {
                "fmax_median_mhz": round(med, 2),
                "fmax_min_mhz": round(min(fmaxes), 2),
                "fmax_max_mhz": round(max(fmaxes), 2),
                "images_per_s": round(med * 1e6 / cpi),
                "images_per_s_min": round(min(fmaxes) * 1e6 / cpi),
                "images_per_s_max": round(max(fmaxes) * 1e6 / cpi),
            }
        )
    else:
        row.update(
            {
                k: None
                for k in (
                    "fmax_median_mhz",
                    "fmax_min_mhz",
                    "fmax_max_mhz",
                    "images_per_s",
                    "images_per_s_min",
                    "images_per_s_max",
                )
            }
        )
    return row


def _run_in(job, say, work):
    from logdot.generators.network import compile_network

    t0 = time.monotonic()
    verilog, manifest = compile_network(job.net, fold=job.fold, name=job.name)
    ports = {p["name"]: p["width"] for p in manifest["ports"]}
    cpi = manifest["cycles_per_image"]
    tools = check_tools(job.targets, pnr=True)
    rows = {}
    for names in job._groups.values():
        first = names[0]
        synth_dir = work / f"{job.label}_{first}"
        counts = synthesize(
            verilog,
            top=job.name,
            target=first,
            workdir=synth_dir,
            lanes=1,
            in_width=ports["s_axis_tdata"],
            out_width=ports["m_axis_tdata"],
            pnr=True,
            place=False,
            progress=say,
            label=job.label,
            widelut=job.widelut,
            shell_outputs=("frame_error",),
        )
        for n in names:
            reason = _overflow(counts, TARGETS[n].device)
            fmaxes = []
            if reason is not None:
                say(f"[synth] {job.label} {n}: does not fit {TARGETS[n].device} ({reason})")
            else:

                def one(seed, n=n, synth_dir=synth_dir):
                    wd = work / f"{job.label}_{n}" / f"seed{seed}"
                    try:
                        pr = place_and_route(
                            wd,
                            n,
                            freq_mhz=job.freq_mhz,
                            seed=seed,
                            tools=tools,
                            progress=say,
                            label=job.label,
                            netlist=synth_dir / "shell.json",
                            cache=job.pnr_cache,
                        )
                    except SynthError as err:
                        why = _no_fit_reason(err, wd, seed)
                        if why is None:
                            raise
                        return None, why
                    return pr["fmax_mhz"], None

                if job.jobs == 1:  # one after the other: stop at the first that does not fit
                    outcomes = []
                    for seed in job.seeds:
                        outcomes.append(one(seed))
                        if outcomes[-1][1] is not None:
                            break
                else:
                    with ThreadPoolExecutor(max_workers=job.jobs) as pool:
                        outcomes = list(pool.map(one, job.seeds))
                whys = [why for _, why in outcomes if why is not None]
                if whys:
                    reason = whys[0]
                    say(f"[synth] {job.label} {n}: does not fit ({reason})")
                else:
                    fmaxes = [f for f, _ in outcomes]
            rows[n] = _row(job, n, counts, cpi, fmaxes, reason)
    return {
        "schema": NETWORK_SYNTH_SCHEMA,
        "name": job.name,
        "label": job.label,
        "network": manifest["network"],
        "fold": {str(i): list(v) for i, v in sorted(job.fold.items())},
        "cycles_per_image": cpi,
        "bottleneck": manifest["bottleneck"],
        "results": [rows[n] for n in job.targets],
        "tools": tool_versions(),
        "seconds": round(time.monotonic() - t0, 1),
    }


def _fmt(v, spec=""):
    return "-" if v is None else format(v, spec)


def format_network_table(results):
    """A Markdown table of network synthesis rows (one per target)."""
    head = (
        "| network | device | fits | LUT4 | FFs | BRAM | DSPs | fmax MHz median (min-max) "
        "| images/s |"
    )
    rows = [head, "|" + "---|" * 9]
    for r in results:
        fm = "-"
        if r["fmax_median_mhz"] is not None:
            fm = (
                f"{r['fmax_median_mhz']:.1f} ({r['fmax_min_mhz']:.1f}-{r['fmax_max_mhz']:.1f}, "
                f"{len(r['fmax_mhz'])} seeds)"
            )
        fits = "yes" if r["fits"] else f"no: {r['reason']}"
        rows.append(
            f"| {r['label']} | {r['device']} | {fits} | {r['lut4_equiv']} | {r['ffs']} "
            f"| {r['bram']} | {r['dsps']} | {fm} | {_fmt(r['images_per_s'], ',')} |"
        )
    return "\n".join(rows)


def run_network(job, *, progress=None, out=None):
    """Run a :class:`NetworkSynthJob`: synthesize, place and route, write the report.

    Returns the report dict (also ``job.out_dir/synth_report.json``). Raises as
    :func:`logdot.synth.run` does (an existing ``out_dir`` without ``force``, a missing tool
    before anything runs, :class:`~logdot.synth.SynthError` when a tool fails for another
    reason than the design not fitting).
    """
    if not isinstance(job, NetworkSynthJob):
        raise TypeError(f"job must be a NetworkSynthJob, not {job!r}")
    out = out or sys.stdout
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    check_out_dir(job.out_dir, force=job.force)
    check_tools(job.targets, pnr=True)
    with staged_out_dir(job.out_dir, force=job.force, keep_on=(SynthError,)) as work:
        report = _run_in(job, say, work)
        table = format_network_table(report["results"])
        (work / "synth_report.json").write_text(json.dumps(report, indent=2) + "\n")
        (work / "synth_report.md").write_text(table + "\n")
    print(table, file=out)
    print(
        f"\n{report['cycles_per_image']} cycles per image; report: "
        f"{job.out_dir / 'synth_report.json'} ({report['seconds']:.0f} s)",
        file=out,
    )
    return report
