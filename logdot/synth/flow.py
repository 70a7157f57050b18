"""The synthesis flow on configuration objects: one engine for several targets, the linear
baseline beside it, and the pipeline search for a target fmax.

:func:`run` takes a :class:`SynthJob` (what ``logdot synth`` builds from its flags, once, in
:mod:`logdot.commands.synth`); the flow never sees the command line.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from logdot.golden.formats import EngineConfig, check_bool, check_int
from logdot.synth.output import check_out_dir, staged_out_dir
from logdot.synth.report import write_report
from logdot.synth.runner import PNR_SEEDS, SynthError, check_tools, synthesize, tool_versions
from logdot.synth.targets import BASELINE_TARGETS, DEFAULT_TARGETS, TARGETS, resolve_targets

__all__ = [
    "SynthJob",
    "engine_verilog",
    "pipeline_candidates",
    "run",
    "synth_config",
]


def engine_verilog(config, *, engine="log", linear_weight_bits=None, name=None):
    """``(verilog, top, in_width, out_width)`` of a log engine or linear baseline."""
    if engine == "log":
        from logdot.generators.engine import generate_verilog

        top = name or "logdot"
        text = generate_verilog(config, name=top)
        in_w, out_w = 8 * config.in_bytes, 8 * config.out_bytes
        return text, top, in_w, out_w
    if engine == "linear":
        from logdot.generators.engine import linear_verilog
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
    seeds=PNR_SEEDS,
    progress=None,
    widelut=True,
):
    """Synthesize one engine configuration for several targets; return a list of results.

    ``engine`` is ``"log"`` (the logdot engine) or ``"linear"`` (the multiplier baseline of
    :mod:`logdot.hdl.linear` with ``linear_weight_bits``-bit weights, default: the log engine's
    ``weight_bits``). Each result is the dict of :func:`~logdot.synth.runner.synthesize` plus
    ``engine``, the configuration, and the latency.
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
    label = engine if engine == "log" else f"linear{linear_weight_bits or config.weight_bits}"
    results = []
    for name in targets:
        r = synthesize(
            verilog,
            top=top,
            target=name,
            workdir=Path(out_dir) / f"{label}_{name}",
            lanes=config.lanes // config.cycles_per_beat,  # products per clock cycle
            in_width=in_w,
            out_width=out_w,
            pnr=pnr,
            freq_mhz=freq_mhz,
            seed=seed,
            seeds=seeds,
            progress=progress,
            label=label,
            widelut=widelut,
        )
        r = {
            "engine": engine,
            "label": label,
            "config": config.parameters(),
            "ecp5_widelut": widelut,
            "linear_weight_bits": (
                (linear_weight_bits or config.weight_bits) if engine == "linear" else None
            ),
            **r,
        }
        results.append(r)
    return results


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


@dataclass(frozen=True)
class SynthJob:
    """One run of the synthesis flow (what ``logdot synth`` does for its flags).

    Attributes
    ----------
    config : EngineConfig
        The log engine (with the pipeline setting used unless ``target_fmax_mhz`` is set).
    out_dir : path-like
        Folder of the tool logs, netlists and ``synth_report.{json,md}``. It must not exist
        or be empty unless ``force`` (:mod:`logdot.synth.output`).
    targets : tuple of str
        Targets of the log engine.
    baseline_targets : tuple of str
        Targets of the linear baseline.
    linear_weight_bits : tuple of int
        Weight widths of the linear baselines to synthesize beside it (empty: none).
    pnr : bool
        Place and route (iCE40, ECP5) for fmax.
    freq_mhz : float or None
        Clock constraint of nextpnr (default: the family's).
    target_fmax_mhz : float or None
        Search the pipeline (:func:`pipeline_candidates`, fewest registers first) until every
        placed and routed target reaches this fmax.
    seed : int
        The first nextpnr placer seed.
    seeds : int
        nextpnr runs per placed target (seeds ``seed ..``); fmax is their median, with the
        min and max beside it (:func:`~logdot.synth.runner.synthesize`).
    widelut : bool
        ECP5: allow the PFU wide-LUT multiplexers (``False``: ``synth_ecp5 -nowidelut``).
    force : bool
        Replace an existing ``out_dir`` of an earlier run (whole: no folder of the earlier
        run is left beside the new report).
    """

    config: EngineConfig
    out_dir: Path = Path("build/synth")
    targets: tuple = DEFAULT_TARGETS
    baseline_targets: tuple = BASELINE_TARGETS
    linear_weight_bits: tuple = ()
    pnr: bool = True
    freq_mhz: float | None = None
    target_fmax_mhz: float | None = None
    seed: int = 1
    seeds: int = PNR_SEEDS
    widelut: bool = True
    force: bool = False
    _placed: tuple = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {self.config!r}")
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        object.__setattr__(self, "targets", resolve_targets(self.targets))
        object.__setattr__(self, "baseline_targets", resolve_targets(self.baseline_targets))
        bits = tuple(check_int(b, "linear_weight_bits", 2, 8) for b in self.linear_weight_bits)
        object.__setattr__(self, "linear_weight_bits", bits)
        check_int(self.seed, "seed", 0)
        check_int(self.seeds, "seeds", 1)
        check_bool(self.widelut, "widelut")
        check_bool(self.force, "force")
        placed = tuple(n for n in self.targets if TARGETS[n].device is not None)
        object.__setattr__(self, "_placed", placed)
        if self.target_fmax_mhz is not None:
            if not self.pnr:
                raise ValueError("target_fmax_mhz needs place and route (pnr=True)")
            if not placed:
                raise ValueError("target_fmax_mhz needs an iCE40 or ECP5 target")

    @property
    def all_targets(self):
        """Every target the job synthesizes for (log engine, then baseline)."""
        return self.targets + (self.baseline_targets if self.linear_weight_bits else ())


def _synth_kwargs(job, say):
    """The :func:`synth_config` options every run of a job shares."""
    return {"seed": job.seed, "seeds": job.seeds, "progress": say, "widelut": job.widelut}


def _pipeline_search(job, say, out_dir):
    """``(config, search, reused)``: the cheapest pipeline setting that meets the target fmax.

    Fewest pipeline registers first; stops at the first setting that meets the target on
    every placed target (else takes the deepest). ``reused`` holds the placed targets'
    results of the chosen setting, so they are not synthesized again.
    """
    target = job.target_fmax_mhz
    rt = job.config.register_terms
    search, reused, chosen = [], {}, None
    for k in pipeline_candidates(job.config.lanes):
        cfg = dataclasses.replace(job.config, register_every=k)
        say(f"[synth] pipeline search: register_terms={rt}, register_every={k}")
        rs = synth_config(
            cfg,
            **_synth_kwargs(job, say),
            targets=job._placed,
            out_dir=out_dir / f"search_every{k}",
            pnr=True,
            freq_mhz=job.freq_mhz if job.freq_mhz is not None else target,
        )
        fm = {r["target"]: r["fmax_mhz"] for r in rs}
        search.append({"register_terms": rt, "register_every": k, "fmax_mhz": fm})
        reused = {r["target"]: r for r in rs}
        if all(v >= target for v in fm.values()):
            chosen = k
            break
    if chosen is None:
        say(f"[synth] no pipeline setting reaches {target:g} MHz; using the deepest")
        chosen = search[-1]["register_every"]
    say(f"[synth] pipeline search chose register_every={chosen}")
    return dataclasses.replace(job.config, register_every=chosen), search, reused


def _run_in(job, say, work):
    """The report of ``job``, every target built in the folder ``work``."""
    t0 = time.monotonic()
    config, search, reused = job.config, [], {}
    if job.target_fmax_mhz is not None:
        config, search, reused = _pipeline_search(job, say, work)
    common = {
        **_synth_kwargs(job, say),
        "out_dir": work,
        "pnr": job.pnr,
        "freq_mhz": job.freq_mhz,
    }
    rest = tuple(n for n in job.targets if n not in reused)
    done = synth_config(config, targets=rest, **common) if rest else []
    by_target = {r["target"]: r for r in done} | reused
    results = [by_target[n] for n in job.targets]
    for wb in job.linear_weight_bits:
        results += synth_config(
            config, targets=job.baseline_targets, engine="linear", linear_weight_bits=wb, **common
        )
    return {
        "config": config.parameters(),
        "results": results,
        "pipeline_search": search or None,
        "target_fmax_mhz": job.target_fmax_mhz,
        "tools": tool_versions(),
        "seconds": round(time.monotonic() - t0, 1),
    }


def _relative_cwds(report, root):
    """Make each result's recorded command folders relative to the report's folder ``root``
    (the run is staged in a temporary folder first, then moved)."""
    root = Path(root).resolve()
    for r in report["results"]:
        for c in r.get("commands", []):
            c["cwd"] = Path(os.path.relpath(c["cwd"], root)).as_posix()


def run(job, *, progress=None, out=None):
    """Run a :class:`SynthJob`: synthesize, write the report files, print the table.

    Parameters
    ----------
    job : SynthJob
    progress : callable, optional
        Called with one line per step (default: print to stderr).
    out : file, optional
        Where the table goes (default: stdout).

    Returns
    -------
    dict
        The report (also ``job.out_dir/synth_report.json``): ``config, results,
        pipeline_search, target_fmax_mhz, tools, seconds``.

    Raises
    ------
    FileExistsError, NotADirectoryError
        Before anything runs, when ``job.out_dir`` exists and is not empty and
        ``job.force`` is false, or holds files the flow does not write
        (:func:`logdot.synth.output.check_out_dir`).
    logdot.tools.ToolNotFoundError
        Before anything runs, when a tool is missing.
    logdot.synth.SynthError
        When a tool fails; ``job.out_dir`` is unchanged, and the run's folder so far (the
        logs the message names) is kept in a temporary sibling folder.

    Notes
    -----
    The run is built in a temporary sibling of ``job.out_dir`` and moved in place of it when
    it has finished (:func:`logdot.synth.output.staged_out_dir`), so the folder holds
    exactly this run's target folders and report.
    """
    if not isinstance(job, SynthJob):
        raise TypeError(f"job must be a SynthJob, not {job!r}")
    out = out or sys.stdout
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    check_out_dir(job.out_dir, force=job.force)
    check_tools(job.all_targets, pnr=job.pnr)
    with staged_out_dir(job.out_dir, force=job.force, keep_on=(SynthError,)) as work:
        report = _run_in(job, say, work)
        _relative_cwds(report, work)
        table = write_report(report, work)
    print(table, file=out)
    print(f"\nreport: {job.out_dir / 'synth_report.json'} ({report['seconds']:.0f} s)", file=out)
    return report
