"""Mutation score of the golden model and the HDL against a fast test subset (mutmut 3).

``make mutation`` (``python benchmarks/mutation.py``) stages a copy of the repository in
``build/mutation/NAME`` per campaign, laid out as the installed package (``logdot/golden``,
``logdot/hdl``: mutmut names a mutant by its file path, and the tests import
``logdot.golden...``), writes the campaign's ``[tool.mutmut]`` section into the staged
``pyproject.toml`` and runs ``mutmut run`` there.

The campaigns (:data:`CAMPAIGNS`): each entry mutates one module of ``golden/`` or ``hdl/``
(the Amaranth elaboration code of ``hdl/requant.py``) and runs the tests that pin it;
campaign ``rtl`` runs the hardware mutants (:data:`RTL_MUTANTS`: the lane mutants of
``tests/support/mutants.py`` and the formal proofs' mutant designs) against their quick
checkers. ``--campaign NAME`` picks one (repeatable; default: all), ``--jobs N`` mutmut
workers, ``--budget SECONDS`` (default 3600) stops a campaign early (the score is then over
the mutants checked, the rest are reported as not checked), ``--resume`` continues the
campaigns in ``--out`` (the killed mutants keep their verdict, every other mutant is checked
again with the current tests), ``--report`` runs nothing.

Each campaign writes ``summary.json`` and ``survivors.txt`` (the ``mutmut show`` diff of
every mutant not killed) into its directory. The output is one line per campaign (killed +
timed out over checked) and one overall line, ``mutation score: K of N mutants killed``;
``--results`` (default ``results/mutation.md``, and a ``.csv`` beside it) gets the same lines,
the per-campaign table and every survivor's diff. Exit code 0 when the run completed (the
score is a figure, not a gate). The report covers every campaign recorded in ``--out`` (after
a fresh ``make mutation``: all of them; after ``--campaign NAME``: NAME, run now, and the
others as recorded earlier, each with its date).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: name -> (module to mutate, relative to the repository; the tests that pin it)
CAMPAIGNS = {
    "requant": (
        "golden/requant.py",
        ["tests/golden/test_layer.py", "tests/golden/test_requant.py"],
    ),
    "quant": ("golden/quant.py", ["tests/golden/test_quant.py"]),
    "twoterm": ("golden/twoterm.py", ["tests/golden/test_twoterm.py"]),
    "twoterm_quant": ("golden/twoterm_quant.py", ["tests/golden/test_twoterm_quant.py"]),
    "window": ("golden/window.py", ["tests/hdl/test_window.py"]),
    "formats": ("golden/formats.py", ["tests/golden/test_formats.py"]),
    # The Amaranth elaboration code of the requantizers, against the exhaustive Amaranth
    # simulations of the small input widths (the 8- and 10-bit sweeps take 30 s more).
    "hdl_requant": (
        "hdl/requant.py",
        [
            "tests/hdl/test_requant.py::test_rtl_requantizer_validation_messages",
            "tests/hdl/test_requant.py::test_rtl_requantizer_messages_and_members_are_exact",
            *(
                f"tests/hdl/test_requant.py::test_rtl_requantizers_exhaustive[{n}]"
                for n in (2, 3, 5)
            ),
            "tests/hdl/test_requant.py::test_rtl_requantizer_from_scales",
            "tests/hdl/test_requant.py::test_rtl_check_can_fail",
        ],
    ),
}

#: The hardware side: each entry is a deliberately broken design (an RTL mutant built with
#: Amaranth) and the quick test that must catch it (it passes when the checker fails on the
#: mutant). ``--campaign rtl`` runs them; each passing test counts as one mutant killed.
RTL_MUTANTS = {
    "tests/test_fuzz.py::test_fuzz_catches_mutant[sign]": "lane sign flipped (simulation)",
    "tests/test_fuzz.py::test_fuzz_catches_mutant[shift]": "lane shift off by one (simulation)",
    "tests/hdl/test_top.py::test_tlast_is_checked_and_stuck_low_fails": "m_axis_tlast stuck at 0",
    "tests/formal/test_formal_engine.py::test_mutant_fails[sign]": "lane sign flipped (formal)",
    "tests/formal/test_formal_engine.py::test_mutant_fails[shift]": "lane shift off by one "
    "(formal)",
    "tests/formal/test_formal_engine.py::test_tlast_stuck_low_fails": "tlast stuck (formal)",
    "tests/formal/test_formal_twoterm.py::test_two_term_mutant_fails[offset]": "two-term "
    "offset j read as j ^ 1",
    "tests/formal/test_formal_const.py::test_mutant_fails[0]": "constant engine, lane 0 sign",
    "tests/formal/test_formal_const.py::test_mutant_fails[1]": "constant engine, lane 1 sign",
    "tests/formal/test_formal_requant.py::test_mutant_log_threshold_fails": "log requantizer "
    "threshold off by one",
    "tests/formal/test_formal_requant.py::test_mutant_linear_ties_fails": "linear requantizer "
    "rounding ties up",
    "tests/formal/test_formal_glue.py::test_fifo_mutant_fails": "FIFO overwrites when full",
    "tests/formal/test_formal_window.py::test_window_mutant_fails[line_buffer_late]": "window "
    "line buffer read one column late",
    "tests/formal/test_formal_window.py::test_window_mutant_fails[left_pad]": "window takes "
    "the left padding column as image",
}

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "sim_build", ".hypothesis")


def stage(dest, module, tests, *, resume=False):
    """Copy the sources and tests into ``dest`` as the installed layout; configure mutmut.

    ``resume``: keep ``dest`` (mutmut's mutants and their verdicts) and refresh only the
    tests and the configuration."""
    if not resume:
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        shutil.copytree(ROOT / "logdot", dest / "logdot", ignore=_IGNORE)
        for pkg in ("golden", "hdl"):
            shutil.copytree(ROOT / pkg, dest / "logdot" / pkg, ignore=_IGNORE)
    else:
        shutil.rmtree(dest / "tests")
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=_IGNORE)
    target = "logdot/" + module
    conf = (ROOT / "pyproject.toml").read_text()
    conf += (
        "\n[tool.mutmut]\n"
        'source_paths = ["logdot"]\n'
        f"only_mutate = {json.dumps([target])}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not full", "-q", "-x"]\n'
        'process_isolation = "forkserver"\n'
        "use_git_change_detection = false\n"
    )
    (dest / "pyproject.toml").write_text(conf)
    return target


def mutmut(dest, *args, capture=False):
    cmd = [sys.executable, "-m", "mutmut", *args]
    return subprocess.run(cmd, cwd=dest, check=False, text=True, capture_output=capture)


def run_campaign(dest, jobs, budget, names=()):
    """``mutmut run`` in ``dest`` (only, and again, the mutants ``names`` when given); stopped
    (its whole process group) after ``budget`` seconds (mutmut records every finished mutant
    as it goes: the rest keep their verdict or stay "not checked").
    Returns ``(log text, finished)``."""
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *names]
    proc = subprocess.Popen(
        cmd,
        cwd=dest,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=budget)
        return out, True
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate()
        return out, False


def results(dest):
    """``{status: [mutant names]}`` from ``mutmut results --all true``."""
    out = mutmut(dest, "results", "--all", "true", capture=True).stdout
    by = {}
    for line in out.splitlines():
        if ":" not in line:
            continue
        name, status = (s.strip() for s in line.rsplit(":", 1))
        by.setdefault(status, []).append(name)
    return by


#: The verdicts of a mutant that no test killed.
_SURVIVED = ("survived", "no tests", "suspicious")

_DIFFS = """
import json, sys
from mutmut.__main__ import find_mutant, get_diff_for_mutant
names = json.load(sys.stdin)
print(json.dumps({n: get_diff_for_mutant(n, path=find_mutant(n).path) for n in names}))
"""


def diffs(dest, names):
    """``{mutant name: diff}`` of ``mutmut show``, for many mutants in one process (one
    ``mutmut show`` each as the fallback: seconds apiece on a loaded machine)."""
    if not names:
        return {}
    proc = subprocess.run([sys.executable, "-c", _DIFFS], cwd=dest, input=json.dumps(names),
                          text=True, capture_output=True, check=False)  # fmt: skip
    try:
        return json.loads(proc.stdout.splitlines()[-1])
    except (IndexError, ValueError):
        return {m: mutmut(dest, "show", m, capture=True).stdout for m in names}


def run_rtl(dest, budget):
    """Run :data:`RTL_MUTANTS` (pytest, every marker selected, JUnit XML into ``dest``).
    Returns ``{node id: "killed" | "survived" | "not checked"}``."""
    dest.mkdir(parents=True, exist_ok=True)
    xml = dest / "rtl.xml"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "",
           f"--junitxml={xml}", *RTL_MUTANTS]  # fmt: skip
    try:
        out = subprocess.run(
            cmd, cwd=ROOT, text=True, capture_output=True, timeout=budget, check=False
        ).stdout
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout or ""
    (dest / "rtl.log").write_text(out if isinstance(out, str) else out.decode())
    status = dict.fromkeys(RTL_MUTANTS, "not checked")
    if xml.is_file():
        import xml.etree.ElementTree as ET

        for case in ET.parse(xml).getroot().iter("testcase"):
            path = case.get("classname", "").replace(".", "/") + ".py"
            node = f"{path}::{case.get('name')}"
            if node in status:
                bad = any(c.tag in ("failure", "error", "skipped") for c in case)
                status[node] = "survived" if bad else "killed"
    return status


def _summary(name, what, tests, by, seconds, finished, survivors):
    """The record of one campaign (``summary.json`` in its directory)."""
    killed = len(by.get("killed", [])) + len(by.get("timeout", []))
    return {
        "campaign": name,
        "mutated": what,
        "tests": tests,
        "counts": {k: len(v) for k, v in sorted(by.items())},
        "killed": killed,
        "checked": sum(len(v) for k, v in by.items() if k != "not checked"),
        "total": sum(len(v) for v in by.values()),
        "seconds": round(seconds),
        "finished": finished,
        "survivors": survivors,
    }


def campaign_rtl(out, budget):
    """Run campaign ``rtl``; returns its summary."""
    t0 = time.monotonic()
    status = run_rtl(out / "rtl", budget)
    by = {}
    for node, v in status.items():
        by.setdefault(v, []).append(node)
    survivors = [
        {"name": node, "status": v, "diff": RTL_MUTANTS[node]}
        for node, v in status.items()
        if v == "survived"
    ]
    finished = "not checked" not in by
    return _summary("rtl", "RTL mutant designs (tests/support/mutants.py, the formal "
                    "mutants)", ["the checker named by each mutant"], by,
                    time.monotonic() - t0, finished, survivors)  # fmt: skip


def campaign_mutmut(name, out, jobs, budget, *, resume=False, only=()):
    """Stage and run one mutmut campaign of :data:`CAMPAIGNS`; returns its summary.

    ``resume`` (when ``out / name`` holds an earlier run): keep the killed mutants' verdicts
    (tests are only ever added, so a killed mutant stays killed) and run every other mutant
    again against the current tests; the seconds add up. ``only``: check just the mutants
    matching these ``fnmatch`` patterns of mutant names (the others stay as they were, or
    not checked)."""
    module, tests = CAMPAIGNS[name]
    dest = out / name
    record = dest / "summary.json"
    resume = resume and record.is_file() and (dest / "mutants").is_dir()
    names, before = [], 0.0
    if resume:
        by = results(dest)
        names = [m for status in (*_SURVIVED, "not checked") for m in by.get(status, [])]
        before = json.loads(record.read_text())["seconds"]
    if only:
        names = [m for m in names if any(fnmatch.fnmatch(m, p) for p in only)] if resume else only
    stage(dest, module, tests, resume=resume)
    t0 = time.monotonic()
    log, finished = run_campaign(dest, jobs, budget, names) if names or not resume else ("", True)
    seconds = before + time.monotonic() - t0
    with open(dest / "mutmut_run.log", "a" if resume else "w") as f:
        f.write(log)
    s = summarize(name, dest, seconds, finished)
    s["only"] = list(only)
    return s


def summarize(name, dest, seconds, finished):
    """The summary of the mutmut campaign ``name`` run in ``dest`` (its survivors' diffs
    also into ``dest / "survivors.txt"``)."""
    module, tests = CAMPAIGNS[name]
    by = results(dest)
    names = {m: status for status in _SURVIVED for m in by.get(status, [])}
    diff = diffs(dest, list(names))
    survivors = [{"name": m, "status": st, "diff": diff[m]} for m, st in names.items()]
    with open(dest / "survivors.txt", "w") as f:
        f.writelines(f"{s['name']}: {s['status']}\n{s['diff']}\n" for s in survivors)
    if not by:
        print(f"  {name}: no mutant checked; log {dest / 'mutmut_run.log'}")
    finished = finished and not by.get("not checked")
    return _summary(name, module, tests, by, seconds, finished, survivors)


def _score(killed, checked):
    return f"{100.0 * killed / checked:.1f} %" if checked else "-"


def report(summaries):
    """Lines of the per-campaign and overall score (killed + timeout over checked)."""
    lines = []
    killed = checked = total = 0
    for s in summaries:
        counts = ", ".join(f"{k} {v}" for k, v in s["counts"].items())
        stop = "" if s["finished"] else "; stopped by --budget"
        if s.get("only"):
            stop = f"; only the mutants {' '.join(s['only'])}"
        lines.append(
            f"{s['campaign']:14s} {s['killed']:4d} / {s['checked']:4d} killed "
            f"({_score(s['killed'], s['checked'])}) of {s['total']} mutants ({counts}) in "
            f"{s['seconds']} s{stop} ({s.get('date', '?')})"
        )
        killed, checked, total = killed + s["killed"], checked + s["checked"], total + s["total"]
    lines.append(
        f"mutation score: {killed} of {checked} mutants killed ({_score(killed, checked)}) "
        f"over {len(summaries)} campaigns; {total - checked} of {total} not checked"
    )
    return lines


def write_results(path, summaries, lines):
    """``path`` (Markdown): the score lines, a per-campaign table and every survivor's diff;
    a ``.csv`` with the per-campaign counts beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    md = ["# Mutation score (`make mutation`, `benchmarks/mutation.py`)", "", "```", *lines,
          "```", "", "| campaign | mutated | tests | killed | checked | total | score | "
          "finished | seconds |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    rows = ["campaign,mutated,killed,checked,total,survived,no_tests,timeout,finished,seconds"]
    for s in summaries:
        c = s["counts"]
        md.append(
            f"| {s['campaign']} | `{s['mutated']}` | {' '.join(s['tests'])} | {s['killed']} | "
            f"{s['checked']} | {s['total']} | {_score(s['killed'], s['checked'])} | "
            f"{'yes' if s['finished'] else 'no (--mutants)' if s.get('only') else 'no (budget)'}"
            f" | {s['seconds']} |"
        )
        rows.append(
            f"{s['campaign']},{s['mutated']},{s['killed']},{s['checked']},{s['total']},"
            f"{c.get('survived', 0)},{c.get('no tests', 0)},{c.get('timeout', 0)},"
            f"{int(s['finished'])},{s['seconds']}"
        )
    why = "Why each one is equivalent, unreachable or now killed by a test: `docs/verification.md`"
    md += ["", "## Survivors", "", why + ", section 4b.", ""]
    for s in summaries:
        for m in s["survivors"]:
            md += [f"### {s['campaign']}: `{m['name']}` ({m['status']})", "", "```diff",
                   m["diff"].strip(), "```", ""]  # fmt: skip
    if not any(s["survivors"] for s in summaries):
        md.append("None.")
    path.write_text("\n".join(md) + "\n")
    path.with_suffix(".csv").write_text("\n".join(rows) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--campaign", choices=sorted([*CAMPAIGNS, "rtl"]), action="append")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--budget", type=float, default=3600.0, help="seconds per campaign")
    p.add_argument("--out", default=str(ROOT / "build" / "mutation"))
    p.add_argument(
        "--report",
        action="store_true",
        help="run nothing: report the campaigns already run into --out (their summary.json)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the mutmut campaigns in --out: check again only the mutants not "
        "killed (survivors with the current tests, and those a --budget left unchecked)",
    )
    p.add_argument(
        "--mutants",
        action="append",
        default=[],
        metavar="PATTERN",
        help="check only the mutants whose names match (fnmatch, repeatable), e.g. "
        "'logdot.golden.quant.x__int_thresholds*'",
    )
    p.add_argument(
        "--results",
        default=str(ROOT / "results" / "mutation.md"),
        help="write the score, the per-campaign table and the survivors here (and a .csv)",
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    every = [*sorted(CAMPAIGNS), "rtl"]
    if not args.report:
        for name in args.campaign or every:
            if name == "rtl":
                s = campaign_rtl(out, args.budget)
            else:
                s = campaign_mutmut(
                    name, out, args.jobs, args.budget, resume=args.resume, only=args.mutants
                )
            s["date"] = time.strftime("%Y-%m-%d %H:%M")
            (out / name).mkdir(parents=True, exist_ok=True)
            (out / name / "summary.json").write_text(json.dumps(s, indent=1) + "\n")
            print(report([s])[0], flush=True)
    # The score covers every campaign recorded in --out (a fresh run: all of them).
    summaries = []
    for name in args.campaign if args.report and args.campaign else every:
        record = out / name / "summary.json"
        if record.is_file():
            summaries.append(json.loads(record.read_text()))
        else:
            print(f"  {name}: not run (no {record})")
    lines = report(summaries)
    print("\n".join(lines))
    if summaries:
        write_results(args.results, summaries, lines)
        print(f"results: {args.results} (and {Path(args.results).with_suffix('.csv').name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
