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
import time
from dataclasses import dataclass
from pathlib import Path

from logdot.generators.network import write_network
from logdot.golden.network import Network
from logdot.golden.network_stream import pixel_stream
from logdot.tools.layer_sim import (
    _TB_TEMPLATE,
    SIMULATORS,
    build_testbench,
    run_testbench,
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
        exe, _ = build_testbench(d, name, sources, sim=self._sim, jobs=self._jobs)
        self._exe = exe
        self.build_seconds = time.monotonic() - t0
        return self

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
        stats, seconds = run_testbench(self._sim, self._exe, args, self._dir / f"{tag}.log")
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
