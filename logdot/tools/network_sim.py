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
from logdot.tools.bench import build_testbench, check_probabilities, check_simulator, run_testbench
from logdot.tools.layer_sim import _TB_TEMPLATE

__all__ = ["NetworkBench", "NetworkRun", "NetworkSim", "check_network"]


def check_network(net):
    """``net`` if it is a :class:`logdot.golden.network.Network`; else raises ``TypeError``."""
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, not {type(net).__name__}")
    return net


class NetworkBench:
    """What the stream benches of a compiled network share: the network, its folding, the
    simulator and the build folder (:class:`NetworkSim`, and the soak bench
    :class:`logdot.tools.network_soak.NetworkSoak`).

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

    The keyword parameters and their defaults are the ones of every bench: a subclass takes
    its own and passes the rest on (``**bench``).

    Attributes
    ----------
    manifest : dict or None
        The compiled network's manifest (after ``build``).
    """

    def __init__(
        self, net, build_dir, *, fold=None, sim="verilator", name="logdot_network", jobs=2
    ):
        self._net = check_network(net)
        self._sim = check_simulator(sim)
        self._fold, self._name, self._jobs, self._dir = fold, name, jobs, Path(build_dir)
        self._exe = None
        self.manifest = None

    def _build_bench(self, template, *, precompiled=False, **fields):
        """Compile the network into the build folder and build a bench around it.

        The network top ``NAME.v`` and its manifest ``NAME.json`` come from
        :func:`logdot.generators.network.write_network` (or, ``precompiled``, are the ones
        already there); the bench ``tb_NAME.v`` is ``template`` formatted with ``name``, the
        stream widths ``in_w`` / ``out_w`` and ``tail`` (the cycles to wait for stray outputs
        after the last expected one) from the manifest, and ``fields``; it is built with
        :func:`logdot.tools.bench.build_testbench`.
        """
        d, name = self._dir, self._name
        d.mkdir(parents=True, exist_ok=True)
        if precompiled:
            missing = [f for f in (f"{name}.v", f"{name}.json") if not (d / f).is_file()]
            if missing:
                raise FileNotFoundError(f"precompiled design: no {', '.join(missing)} in {d}")
        else:
            write_network(self._net, d, fold=self._fold, name=name, force=True)
        self.manifest = man = json.loads((d / f"{name}.json").read_text())
        tb = template.format(
            name=name,
            in_w=man["s_axis"]["tdata_bits"],
            out_w=man["m_axis"]["tdata_bits"],
            tail=man["latency_cycles"] + 8,
            **fields,
        )
        (d / f"tb_{name}.v").write_text(tb)
        sources = [d / f"{name}.v", d / f"tb_{name}.v"]
        self._exe, _ = build_testbench(d, name, sources, sim=self._sim, jobs=self._jobs)


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


class NetworkSim(NetworkBench):
    """One compiled network, built once for a simulator, run on any number of streams.

    Parameters
    ----------
    net, build_dir, fold, sim, name, jobs
        As :class:`NetworkBench`.
    precompiled : bool
        Use the ``NAME.v`` and ``NAME.json`` already in ``build_dir`` (written by
        ``logdot compile``, with its folding) instead of compiling ``net`` again; ``fold``
        must then be ``None``.
    """

    def __init__(self, net, build_dir, *, precompiled=False, **bench):
        super().__init__(net, build_dir, **bench)
        if precompiled and self._fold is not None:
            raise ValueError("a precompiled design has its folding: fold must be None")
        self._precompiled = bool(precompiled)
        self.build_seconds = None

    def build(self):
        """Compile the network (unless precompiled), write the test bench and build it
        (skipped when the sources are unchanged and the build exists). Returns ``self``."""
        t0 = time.monotonic()
        self._build_bench(_TB_TEMPLATE, precompiled=self._precompiled)
        self.build_seconds = time.monotonic() - t0
        return self

    def run(self, beats, *, outputs, seed=1, idle=0.0, backpressure=0.0, tag="run"):
        """Stream input beats (``(data, last)`` pairs, e.g. of
        :func:`logdot.golden.network_stream.pixel_stream`) from reset; expect ``outputs``
        output words. Returns a :class:`NetworkRun`."""
        if self._exe is None:
            self.build()
        check_probabilities(idle=idle, backpressure=backpressure)
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
