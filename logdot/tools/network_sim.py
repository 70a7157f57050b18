"""Stream images through a compiled network (``logdot compile``) in Verilator or Icarus Verilog.

The same self-contained Verilog test bench as :mod:`logdot.tools.layer_sim` (input beats from
a text file, seeded pseudo-random idles on ``s_axis`` and back-pressure on ``m_axis``, every
output word written to a file, checks for ``X`` and for data changing under back-pressure),
around the network top of :func:`logdot.generators.network.write_network`. Python compares
the output words with the golden stream model
(:func:`logdot.golden.network_stream.stream_forward`).

:class:`NetworkSim` builds once (``build``) and runs any number of streams (``run``).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from logdot.generators.network import write_network
from logdot.golden.network import Network
from logdot.golden.network_stream import pixel_stream
from logdot.tools import require_tool
from logdot.tools import verilator as vl
from logdot.tools.layer_sim import (
    _ICARUS_CLOCK,
    _RUNTIME_OBJECTS,
    _TB_TEMPLATE,
    _VERILATOR_MAIN,
    SIMULATORS,
    SimulationError,
    _runtime_cache_dir,
)

__all__ = ["NetworkRun", "NetworkSim"]


@dataclass
class NetworkRun:
    """The result of :meth:`NetworkSim.run`.

    Attributes
    ----------
    words : list of int
        The ``m_axis_tdata`` words, in order.
    beats : int
        Input beats transferred.
    cycles : int
        Cycles from the first input transfer to the last output transfer (inclusive).
    seconds : float
        Wall time of the simulator process.
    """

    words: list
    beats: int
    cycles: int
    seconds: float


class NetworkSim:
    """One compiled network, built once for a simulator, run on any number of streams.

    Parameters
    ----------
    net : logdot.golden.network.Network
    build_dir : path-like
    fold : dict or None
        Folding (:func:`logdot.generators.network.compile_network`).
    sim : {"verilator", "icarus"}
    name : str
        Top module name.
    jobs : int
        Parallel C++ compile jobs of a Verilator build.
    precompiled : bool
        Use the ``NAME.v`` and ``NAME.json`` already in ``build_dir`` (written by
        ``logdot compile``, with its folding) instead of compiling ``net`` again; ``fold``
        must then be ``None``.
    """

    def __init__(
        self,
        net,
        build_dir,
        *,
        fold=None,
        sim="verilator",
        name="logdot_network",
        jobs=2,
        precompiled=False,
    ):
        if not isinstance(net, Network):
            raise TypeError(f"net must be a Network, not {type(net).__name__}")
        if sim not in SIMULATORS:
            raise ValueError(f"sim must be 'verilator' or 'icarus', not {sim!r}")
        if precompiled and fold is not None:
            raise ValueError("a precompiled design has its folding: fold must be None")
        self._precompiled = bool(precompiled)
        self._net = net
        self._fold = fold
        self._sim = sim
        self._name = name
        self._jobs = jobs
        self._dir = Path(build_dir)
        self._exe = None
        self.manifest = None
        self.build_seconds = None

    def build(self):
        """Compile the network (unless precompiled), write the test bench and build it
        (skipped when the sources are unchanged and the build exists). Returns ``self``."""
        t0 = time.monotonic()
        d, name = self._dir, self._name
        d.mkdir(parents=True, exist_ok=True)
        if self._precompiled:
            missing = [f for f in (f"{name}.v", f"{name}.json") if not (d / f).is_file()]
            if missing:
                raise FileNotFoundError(f"precompiled design: no {', '.join(missing)} in {d}")
        else:
            write_network(self._net, d, fold=self._fold, name=name, force=True)
        self.manifest = json.loads((d / f"{name}.json").read_text())
        man = self.manifest
        tb = _TB_TEMPLATE.format(
            name=name,
            in_w=man["s_axis"]["tdata_bits"],
            out_w=man["m_axis"]["tdata_bits"],
            tail=man["latency_cycles"] + 8,
        )
        (d / f"tb_{name}.v").write_text(tb)
        sources = [d / f"{name}.v", d / f"tb_{name}.v"]
        if self._sim == "verilator":
            extra = d / f"tb_{name}_main.cpp"
            extra.write_text(_VERILATOR_MAIN.format(name=name))
            exe = d / "obj_dir" / f"Vtb_{name}"
        else:
            extra = d / f"tb_{name}_clock.v"
            extra.write_text(_ICARUS_CLOCK.format(name=name))
            exe = d / f"{name}.vvp"
        sources.append(extra)
        stamp = d / f".{self._sim}.sources"
        signature = "\n".join(p.read_text() for p in sources)
        if not (exe.exists() and stamp.exists() and stamp.read_text() == signature):
            if stamp.exists():
                stamp.unlink()
            if self._sim == "verilator":
                self._build_verilator([str(p) for p in sources])
            else:
                cmd = [require_tool("iverilog"), "-g2012", "-o", str(exe), "-s"]
                cmd += [f"tb_{name}_clock", *map(str, sources)]
                _check(subprocess.run(cmd, capture_output=True, text=True, check=False), cmd)
            stamp.write_text(signature)
        self._exe = exe
        self.build_seconds = time.monotonic() - t0
        return self

    def _build_verilator(self, sources):
        exe = vl.verilator()
        mdir = self._dir / "obj_dir"
        prefix = f"Vtb_{self._name}"
        cmd = [exe, "--cc", "--exe", "-Wno-fatal", *vl.build_args()]
        cmd += ["--top-module", f"tb_{self._name}", "--prefix", prefix, "-O3"]
        cmd += ["--x-assign", "fast", "--Mdir", str(mdir), *sources]
        _check(subprocess.run(cmd, capture_output=True, text=True, check=False), cmd)
        cache = _runtime_cache_dir(exe, mdir, prefix)
        if cache is not None:
            vl.restore_runtime(cache, mdir, _RUNTIME_OBJECTS)
        make = [require_tool("make"), "-s", "-C", str(mdir), "-f", f"{prefix}.mk"]
        make += [f"-j{self._jobs}", "OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1"]
        _check(subprocess.run(make, capture_output=True, text=True, check=False), make)
        if cache is not None:
            vl.store_runtime(cache, mdir, _RUNTIME_OBJECTS)

    def run(self, beats, *, outputs, seed=1, idle=0.0, backpressure=0.0, tag="run"):
        """Stream input beats (``(data, last)`` pairs, e.g. of
        :func:`logdot.golden.network_stream.pixel_stream`) from reset; expect ``outputs``
        output words. Returns a :class:`NetworkRun`."""
        if self._exe is None:
            self.build()
        for v, nm in ((idle, "idle"), (backpressure, "backpressure")):
            if not 0.0 <= v < 1.0:
                raise ValueError(f"{nm} must be in [0, 1), not {v!r}")
        inp = self._dir / f"{tag}_in.txt"
        out = self._dir / f"{tag}_out.txt"
        inp.write_text("".join(f"{int(d):x} {int(bool(last))}\n" for d, last in beats))
        timeout = 1000 + 4 * self.manifest["latency_cycles"]
        args = [f"+in={inp}", f"+out={out}", f"+outputs={outputs}"]
        args += [f"+seed={int(seed) & 0x7FFFFFFF}", f"+idle={round(idle * 1000)}"]
        args += [f"+bp={round(backpressure * 1000)}", f"+timeout={timeout}"]
        if self._sim == "verilator":
            cmd = [str(self._exe), *args]
        else:
            cmd = [require_tool("vvp"), "-n", str(self._exe), *args]
        t0 = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - t0
        text = proc.stdout + proc.stderr
        (self._dir / f"{tag}.log").write_text(text)
        done = [ln for ln in text.splitlines() if ln.startswith("LOGDOT_DONE")]
        errors = [ln for ln in text.splitlines() if "LOGDOT_ERROR" in ln]
        if proc.returncode != 0 or not done or errors:
            tail = "\n".join(text.strip().splitlines()[-20:])
            raise SimulationError(f"{self._sim} run failed (exit {proc.returncode}):\n{tail}")
        stats = dict(kv.split("=") for kv in done[-1].split()[1:])
        return NetworkRun(
            words=[int(ln, 16) for ln in out.read_text().split()],
            beats=int(stats["beats"]),
            cycles=int(stats["last_out"]) - int(stats["first_in"]) + 1,
            seconds=seconds,
        )

    def run_images(self, images, **kw):
        """:meth:`run` on input-code images ``(n, C, H, W)``, one exact frame each."""
        beats = [b for im in images for b in pixel_stream(self._net, im)]
        return self.run(beats, outputs=len(images), **kw)


def _check(proc, cmd):
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip().splitlines()
        raise SimulationError(
            f"{' '.join(cmd[:2])} ... failed (exit {proc.returncode}):\n" + "\n".join(out[-30:])
        )
