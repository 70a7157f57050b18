"""Mutation score of the golden model and the HDL against a fast test subset (mutmut 3).

``make mutation`` (``python benchmarks/mutation.py``) stages a copy of the repository in
``build/mutation`` laid out as the installed package (``logdot/golden``, ``logdot/hdl``:
mutmut names a mutant by its file path, and the tests import ``logdot.golden...``), writes the
campaign's ``[tool.mutmut]`` section into the staged ``pyproject.toml``, runs ``mutmut run``
there and reports, per mutated file, the mutants killed, survived, timed out and not covered,
and the score (killed + timed out over all mutants). Survivors are listed with ``mutmut
show`` diffs in ``build/mutation/survivors.txt``.

The campaigns (:data:`CAMPAIGNS`): each entry mutates one module of ``golden/`` and runs the
tests that pin it; campaign ``rtl`` runs the hardware mutants (:data:`RTL_MUTANTS`: the lane
mutants of ``tests/support/mutants.py`` and the formal proofs' mutant designs) against their
quick checkers. ``--campaign NAME`` picks one (default: all), ``--jobs N`` mutmut workers.
Exit code 0 when the run completed (the score is a figure, not a gate). ``--budget SECONDS``
(default 3600) stops a campaign early; the score is then over the mutants checked.
"""

from __future__ import annotations

import argparse
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


def stage(dest, module, tests):
    """Copy the sources and tests into ``dest`` as the installed layout; configure mutmut."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copytree(ROOT / "logdot", dest / "logdot", ignore=_IGNORE)
    for pkg in ("golden", "hdl"):
        shutil.copytree(ROOT / pkg, dest / "logdot" / pkg, ignore=_IGNORE)
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


def run_campaign(dest, jobs, budget):
    """``mutmut run`` in ``dest``; stopped (its whole process group) after ``budget`` seconds
    (mutmut records every finished mutant as it goes: the rest stay "not checked").
    Returns ``(log text, finished)``."""
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)]
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--campaign", choices=sorted([*CAMPAIGNS, "rtl"]), action="append")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--budget", type=float, default=3600.0, help="seconds per campaign")
    p.add_argument("--out", default=str(ROOT / "build" / "mutation"))
    args = p.parse_args(argv)
    total_k = total = 0
    for name in args.campaign or [*sorted(CAMPAIGNS), "rtl"]:
        if name == "rtl":
            status = run_rtl(Path(args.out) / "rtl", args.budget)
            killed = sum(v == "killed" for v in status.values())
            n = sum(v != "not checked" for v in status.values())
            for node, v in status.items():
                if v != "killed":
                    print(f"  RTL mutant {v}: {RTL_MUTANTS[node]} ({node})")
            score = 100.0 * killed / n if n else 0.0
            print(f"RTL mutants (tests/support/mutants.py and the formal mutants): {n} checked, "
                  f"{killed} killed, score {score:.1f} %")  # fmt: skip
            total_k, total = total_k + killed, total + n
            continue
        module, tests = CAMPAIGNS[name]
        dest = Path(args.out) / name
        stage(dest, module, tests)
        t0 = time.monotonic()
        log, finished = run_campaign(dest, args.jobs, args.budget)
        seconds = time.monotonic() - t0
        (dest / "mutmut_run.log").write_text(log)
        by = results(dest)
        killed = len(by.get("killed", [])) + len(by.get("timeout", []))
        n = sum(len(v) for k, v in by.items() if k != "not checked")
        surv = by.get("survived", []) + by.get("no tests", [])
        with open(dest / "survivors.txt", "w") as f:
            for m in surv:
                f.write(mutmut(dest, "show", m, capture=True).stdout + "\n")
        counts = ", ".join(f"{k} {len(v)}" for k, v in sorted(by.items()))
        score = 100.0 * killed / n if n else 0.0
        print(
            f"{module} against {' '.join(tests)}: {n} mutants ({counts}), "
            f"score {score:.1f} % in {seconds:.0f} s; survivors: {dest / 'survivors.txt'}"
        )
        if not finished:
            print(
                f"  stopped after the --budget of {args.budget:.0f} s: the score is over the "
                f"{n} mutants checked, {len(by.get('not checked', []))} not checked"
            )
        if n == 0:
            print(f"  no mutant checked; log {dest / 'mutmut_run.log'}")
        total_k, total = total_k + killed, total + n
    if total:
        print(
            f"mutation score: {total_k} of {total} mutants killed ({100.0 * total_k / total:.1f} %)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
