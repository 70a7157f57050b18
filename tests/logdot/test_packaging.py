"""Packaging: the import rules of the source tree (from its AST) and the built wheel in a
fresh virtual environment.

* ``hdl/`` and ``golden/`` (installed as ``logdot.hdl`` / ``logdot.golden``) import each
  other relatively, never by an absolute name; ``hdl/`` imports no tooling (no processes,
  files or Verilog back end, no ``logdot`` module outside ``hdl/`` and ``golden/``).
* Only ``logdot/__main__.py`` imports ``logdot.cli``; the import graph of the package, with
  the imports inside functions, has no cycle.
* The wheel, installed without its dependencies into a new virtual environment outside the
  repository (the runtime dependencies come from this environment through a ``.pth`` file),
  generates an engine from a directory outside the repository; ``import hdl`` and
  ``import golden`` fail there.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

from logdot.generators.common import OUTPUT_SUFFIXES
from tests.support import ROOT

# -- the source tree ------------------------------------------------------------------------


def package_dirs():
    """``{package: source folder}`` of every package the wheel installs (pyproject.toml)."""
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    where = setup.get("package-dir", {})
    out = {}
    for pkg in setup["packages"]:
        parent, _, tail = pkg.rpartition(".")
        if pkg in where:
            out[pkg] = ROOT / where[pkg]
        elif parent in out:
            out[pkg] = out[parent] / tail
        else:
            out[pkg] = ROOT.joinpath(*pkg.split("."))
    return out


def package_modules():
    """``{module name: path}`` of every module of the ``logdot`` distribution."""
    mods = {}
    for pkg, folder in package_dirs().items():
        for path in sorted(folder.glob("*.py")):
            mods[pkg if path.stem == "__init__" else f"{pkg}.{path.stem}"] = path
    return mods


def imports_of(source, module, *, is_package=False, known=()):
    """Every import of ``source`` (module ``module``), at any depth (functions included).

    Returns a list of ``(target, absolute, lineno)``: ``target`` is the full module name
    (relative imports resolved against ``module``; ``from X import n`` names ``X.n`` when
    that is one of the ``known`` modules), ``absolute`` whether the import statement named
    it absolutely.
    """
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(alias.name, True, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            for alias in node.names:
                sub = f"{name}.{alias.name}"
                out.append((sub if sub in known else name, node.level == 0, node.lineno))
    return out


def is_within(name, prefixes):
    """``name`` is one of ``prefixes`` or a submodule of one."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def all_imports():
    """``{module: [(target, absolute, lineno), ...]}`` for the whole package."""
    mods = package_modules()
    return {
        name: imports_of(
            path.read_text(), name, is_package=path.stem == "__init__", known=set(mods)
        )
        for name, path in mods.items()
    }


BARE = ("hdl", "golden", "logdot.hdl", "logdot.golden")
HDL_FORBIDDEN = ("subprocess", "shutil", "os", "pathlib", "tempfile", "amaranth.back")


def absolute_self_imports(imports):
    """Absolute imports of ``hdl``/``golden`` (by either name) in modules of hdl/, golden/."""
    return [
        (mod, target, line)
        for mod, found in imports.items()
        if is_within(mod, ("logdot.hdl", "logdot.golden"))
        for target, absolute, line in found
        if absolute and is_within(target, BARE)
    ]


def tooling_imports_of_hdl(imports):
    """Imports of ``hdl/`` modules that pull in tooling (see the module docstring)."""
    return [
        (mod, target, line)
        for mod, found in imports.items()
        if is_within(mod, ("logdot.hdl",))
        for target, _, line in found
        if is_within(target, HDL_FORBIDDEN)
        or (is_within(target, ("logdot",)) and not is_within(target, BARE[2:]))
    ]


def cli_imports(imports, allowed=("logdot.__main__",)):
    """Modules (other than ``allowed`` and the CLI itself) that import ``logdot.cli``."""
    return [
        (mod, target, line)
        for mod, found in imports.items()
        if mod not in allowed and mod != "logdot.cli"
        for target, _, line in found
        if is_within(target, ("logdot.cli",))
    ]


def find_cycle(imports):
    """One import cycle of the package as a list of modules (first == last), or None."""
    graph = {
        mod: sorted({t for t, _, _ in found if t in imports and t != mod})
        for mod, found in imports.items()
    }
    state, stack = {}, []

    def visit(mod):
        state[mod] = "open"
        stack.append(mod)
        for dep in graph[mod]:
            if state.get(dep) == "open":
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[mod] = "done"
        return None

    for mod in graph:
        if mod not in state and (cycle := visit(mod)):
            return cycle
    return None


def test_package_layout_is_the_one_in_pyproject():
    mods = package_modules()
    assert package_dirs()["logdot.hdl"] == ROOT / "hdl"
    assert package_dirs()["logdot.golden"] == ROOT / "golden"
    for name in ("logdot.cli", "logdot.hdl.engine", "logdot.golden.formats", "logdot.tools.lint"):
        assert name in mods, name
    # Every folder of Python modules under logdot/, hdl/, golden/ is a listed package.
    listed = set(package_dirs().values())
    for top in (ROOT / "logdot", ROOT / "hdl", ROOT / "golden"):
        for path in top.rglob("*.py"):
            assert path.parent in listed, f"{path.relative_to(ROOT)}: not in a listed package"


def test_hdl_and_golden_import_each_other_relatively():
    assert absolute_self_imports(all_imports()) == []


def test_hdl_imports_no_tooling():
    assert tooling_imports_of_hdl(all_imports()) == []


def test_only_main_imports_the_cli():
    assert cli_imports(all_imports()) == []
    # Nor do the scripts and the co-simulation (the tests of the CLI are the exception).
    for folder in ("examples", "benchmarks", "cocotb_tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            found = imports_of(path.read_text(), path.stem, known={"logdot.cli"})
            bad = [(t, line) for t, _, line in found if is_within(t, ("logdot.cli",))]
            assert bad == [], f"{path.relative_to(ROOT)} imports the CLI: {bad}"


def test_import_graph_has_no_cycle():
    assert find_cycle(all_imports()) is None


def test_the_checks_can_fail():
    """Each check finds a violation planted in a module's source."""
    known = {"logdot.hdl.lane", "logdot.golden.formats", "logdot.cli", "logdot.hdl.top"}

    def imp(src, mod, is_package=False):
        return {mod: imports_of(src, mod, is_package=is_package, known=known)}

    assert absolute_self_imports(imp("import golden.formats\n", "logdot.hdl.lane"))
    assert absolute_self_imports(imp("from logdot.hdl import lane\n", "logdot.golden.nn"))
    assert not absolute_self_imports(imp("from ..golden import formats\n", "logdot.hdl.x"))
    # Function-level imports count; relative imports resolve against the module.
    src = "def f():\n    import subprocess\n"
    assert tooling_imports_of_hdl(imp(src, "logdot.hdl.lane")) == [
        ("logdot.hdl.lane", "subprocess", 2)
    ]
    assert tooling_imports_of_hdl(imp("from amaranth.back import rtlil\n", "logdot.hdl.x"))
    assert tooling_imports_of_hdl(imp("from .. import generate\n", "logdot.hdl.x"))
    assert tooling_imports_of_hdl(imp("import os.path\n", "logdot.hdl", is_package=True))
    assert not tooling_imports_of_hdl(imp("from ..golden.formats import x\n", "logdot.hdl.x"))
    assert cli_imports(imp("def g():\n    from . import cli\n", "logdot.synth"))
    assert not cli_imports(imp("from logdot.cli import main\n", "logdot.__main__"))
    graph = {
        "logdot.a": [("logdot.b", True, 1)],
        "logdot.b": [("logdot.c", True, 1)],
        "logdot.c": [("logdot.a", False, 9), ("os", True, 1)],
    }
    assert find_cycle(graph) == ["logdot.a", "logdot.b", "logdot.c", "logdot.a"]
    del graph["logdot.c"][0]
    assert find_cycle(graph) is None


# -- the wheel ------------------------------------------------------------------------------


def dependency_paths():
    """This interpreter's import folders that hold the dependencies but no logdot sources:
    the site-packages (and the folders their .pth files add), never the repository or a
    folder with a ``logdot``, ``hdl`` or ``golden`` of its own."""
    out = []
    for entry in sys.path:
        p = Path(entry or ".").resolve()
        # The repository's own folders stay out, but not its .venv (make test's venv).
        inside = p.is_relative_to(ROOT) and not p.is_relative_to(ROOT / ".venv")
        if not p.is_dir() or inside or str(p) in out:
            continue
        if any((p / name).exists() for name in ("logdot", "hdl", "golden")):
            continue
        out.append(str(p))
    assert any((Path(p) / "amaranth").is_dir() for p in out), out
    return out


def _run(argv, *, cwd, env, timeout=300):
    return _run_all([argv], cwd=cwd, env=env, timeout=timeout)[0]


def _run_all(commands, *, cwd, env, timeout=300):
    """Run ``commands`` concurrently; each must exit 0. Returns their standard outputs."""
    procs = [
        subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for argv in commands
    ]  # fmt: skip
    outs = []
    try:
        for argv, proc in zip(commands, procs, strict=True):
            stdout, stderr = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{stdout}\n{stderr}"
            outs.append(stdout)
    finally:
        for proc in procs:  # on a failure or a timeout, none is left running
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return outs


_IMPORT_CHECK = """
import importlib, sys
import logdot, logdot.hdl.engine
site = sys.argv[1]
for mod in (logdot, logdot.hdl.engine):
    assert mod.__file__.startswith(site), (mod.__name__, mod.__file__)
for bare in ("hdl", "golden"):
    try:
        importlib.import_module(bare)
    except ModuleNotFoundError:
        pass
    else:
        raise AssertionError(f"import {bare} works outside the repository")
print("ok", logdot.__file__)
"""


@pytest.mark.packaging
def test_wheel_installs_and_runs_outside_the_repository(tmp_path):
    """Build the wheel (no network: no build isolation, no dependencies), install it alone
    into a fresh venv whose runtime dependencies come from this venv through a ``.pth``
    file, and run it from a directory outside the repository."""
    t0 = time.perf_counter()
    assert not tmp_path.resolve().is_relative_to(ROOT)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INDEX"] = "1"  # nothing may come from a package index
    # Build from a copy of the sources: setuptools writes build/ and *.egg-info next to
    # pyproject.toml, and the repository's build/ holds generated engines.
    src = tmp_path / "src"
    (src / "README.md").parent.mkdir()
    for name in ("pyproject.toml", "README.md"):
        (src / name).write_bytes((ROOT / name).read_bytes())
    for folder in {p.relative_to(ROOT).parts[0] for p in package_dirs().values()}:
        for path in (ROOT / folder).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            dest = src / path.relative_to(ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)],
         cwd=src, env=env)  # fmt: skip
    (wheel,) = wheels.glob("logdot-*.whl")
    # Only the logdot package: hdl/ and golden/ inside it, no tests, no top-level hdl/golden.
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"logdot"}, tops
    for name in ("logdot/hdl/engine.py", "logdot/golden/formats.py", "logdot/__main__.py"):
        assert name in names, name
    t_build = time.perf_counter() - t0

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                cwd=tmp_path, env=env).strip()  # fmt: skip
    # The runtime dependencies (amaranth, numpy, torch) from this interpreter; a .pth file in
    # a folder added by another .pth is not processed, so this venv's editable logdot stays out.
    (Path(site) / "_logdot_test_deps.pth").write_text("".join(f"{p}\n" for p in dependency_paths()))
    _run([*pip, "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
         cwd=tmp_path, env=env)  # fmt: skip

    work = tmp_path / "work"
    work.mkdir()
    argv = ["generate", "--lanes", "4", "--act-bits", "4", "--weight-bits", "3", "--out", "OUT"]
    # The three runs are independent: run them at once (each starts an interpreter).
    out, help_text, _ = _run_all(
        [
            [str(python), "-c", _IMPORT_CHECK, site],
            [str(python), "-m", "logdot", "--help"],
            [str(venv / "bin" / "logdot"), *argv],
        ],
        cwd=work,
        env=env,
    )
    assert out.startswith("ok " + site), out
    assert "generate" in help_text, help_text
    assert sorted(p.name for p in (work / "OUT").iterdir()) == sorted(
        f"logdot{suffix}" for suffix in OUTPUT_SUFFIXES
    )
    assert "module logdot(" in (work / "OUT" / "logdot.v").read_text()
    print(f"wheel built in {t_build:.1f} s; whole test {time.perf_counter() - t0:.1f} s")
