"""The engine co-simulation test bench: the :class:`tbbase.StreamTB` with the engine's
golden model and in-order scoreboard.

One :class:`TB` per cocotb test. The clock, the synchronous reset, the cocotbext-axi source
on ``s_axis`` (seeded random idles, garbage while ``tvalid`` is low) and sink on ``m_axis``
(seeded random back-pressure) and the per-cycle monitor come from :mod:`tbbase`; this module
adds the :class:`Scoreboard` that feeds every transferred input beat to the golden model
(:func:`logdot.golden.engine.dot`, run by the pytest process through :mod:`golden_service`)
and compares every result with it as integers.

Reset semantics checked here: a synchronous reset discards everything in flight. Input
beats transferred before the reset (also the beats of a dot product whose ``tlast`` has not
arrived yet) and results not yet transferred on the output are dropped; the first output
after the reset must be the result of the first dot product sent after it. The scoreboard
forgets its expectations on reset, so a stale result shows up as a mismatch or an extra
output.

The test bench fails (:meth:`TB.drain` raises ``AssertionError``) on any value mismatch,
any extra or missing output, ``X``/``Z`` on ``m_axis_tdata`` while ``m_axis_tvalid`` (and on
the handshake outputs) out of reset (Icarus; Verilator is two-state), an output that drops
``tvalid`` or changes ``tdata`` while back-pressured, a result later or earlier than the
manifest latency while the sink never back-pressured, and a transfer count mismatch.
"""

from __future__ import annotations

import collections
import os

import golden_service as golden
from stimulus import beats_to_words, unpack_beat
from tbbase import StreamScoreboard, StreamTB, test_seed

from logdot.golden.formats import EngineConfig

__all__ = ["TB", "Scoreboard", "load_manifest", "test_seed"]

#: Environment variable naming the manifest JSON of the engine under test (set by the runner).
MANIFEST_ENV = "LOGDOT_MANIFEST"


def load_manifest(path=None):
    """Read the engine manifest; return ``(config, latency, manifest)``.

    ``path`` defaults to the ``LOGDOT_MANIFEST`` environment variable. The golden service
    reads it (``manifest.read``: its schema is the generator's).
    """
    if path is None:
        path = os.environ.get(MANIFEST_ENV)
        if not path:
            raise RuntimeError(
                f"{MANIFEST_ENV} is not set: run the engine tests via test_runner.py"
            )
    manifest = golden.call("manifest.read", "engine", str(path))
    config = EngineConfig(**manifest["parameters"])
    latency = manifest["latency_cycles"]
    if isinstance(latency, bool) or not isinstance(latency, int) or latency < 1:
        raise ValueError(f"manifest latency must be a positive integer, not {latency!r}")
    if manifest.get("initiation_interval_cycles") != config.cycles_per_beat:
        raise ValueError(
            f"manifest initiation_interval_cycles must be {config.cycles_per_beat}, not "
            f"{manifest.get('initiation_interval_cycles')!r}"
        )
    return config, latency, manifest


def _fmt_beats(beats, limit=4):
    shown = [f"acts={a} weights={w}" for a, w in beats[:limit]]
    more = f" ... (+{len(beats) - limit} beats)" if len(beats) > limit else ""
    return "; ".join(shown) + more


class Scoreboard(StreamScoreboard):
    """In-order scoreboard: input beats -> golden model -> expected results <-> outputs.

    The input monitor feeds every transferred beat (:meth:`add_beat`); the output monitor
    every transferred result (:meth:`output`). Results are compared in batches of
    :attr:`batch` (and at every :meth:`compare`, which :meth:`TB.drain` calls): the closed dot
    products are run through :func:`logdot.golden.engine.dot` in one call per batch, then expected
    and actual results are paired in order. A result can never precede the ``tlast`` of its
    dot product, so an actual result left without an expected one is an extra output.

    With ``latency`` given, a result received while the sink never back-pressured must appear
    exactly ``latency`` cycles after its last input beat.

    ``fault`` deliberately corrupts the model for the checks that the scoreboard can fail:
    ``("plus_one", k)`` adds 1 to expected result ``k``, ``("drop", k)`` forgets result ``k``,
    ``("extra", k)`` expects a phantom result after result ``k`` (``k`` counts from 0 over the
    whole test); ``("tlast", k)`` expects ``m_axis_tlast`` 0 on result ``k`` since the last
    reset.
    """

    batch = 64

    def __init__(self, config, log, *, latency=None, fault=None):
        super().__init__(log)
        self._config = config
        self._latency = latency
        self.fault = fault
        self._expected = collections.deque()  # (value, info dict)
        self._actual = collections.deque()  # (value, cycle, first_valid_cycle, strict)
        self._model_index = 0
        self._tlast = []  # golden output_tlast(n): results 0 .. n - 1 after a reset
        self.latencies = []  # (dot product index, first-valid cycle - last-beat cycle)

    # -- input side -----------------------------------------------------------------------

    def decode(self, word):
        return unpack_beat(self._config, word)

    def expected_tlast(self, index):
        """1 on every result (:func:`logdot.golden.engine.output_tlast`, asked for
        :attr:`batch` results more at a time); ``fault=("tlast", k)`` expects 0 on result
        ``k`` since the last reset instead."""
        if index >= len(self._tlast):
            self._tlast = golden.call("engine.output_tlast", index + self.batch)
        want = self._tlast[index]
        return not want if self.fault == ("tlast", index) else want

    @property
    def outstanding(self):
        """Results expected but not received yet (negative: more received than expected)."""
        return len(self._closed) + len(self._expected) - len(self._actual)

    def _run_model(self):
        if not self._closed:
            return
        acts, weights, last = [], [], []
        for beats, _ in self._closed:
            for k, (a, w) in enumerate(beats):
                acts.append(a)
                weights.append(w)
                last.append(k == len(beats) - 1)
        values = golden.call("engine.dot", self._config, acts, weights, last)
        if len(values) != len(self._closed):
            raise AssertionError(
                f"golden model returned {len(values)} results for {len(self._closed)} dot products"
            )
        for (beats, cycle), value in zip(self._closed, values, strict=True):
            index = self._model_index
            self._model_index += 1
            info = {"index": index, "beats": beats, "last_cycle": cycle}
            kind, k = self.fault if self.fault else (None, None)
            if kind == "plus_one" and index == k:
                value += 1
            if kind == "drop" and index == k:
                continue
            self._expected.append((int(value), info))
            if kind == "extra" and index == k:
                self._expected.append((0, {"index": -1, "beats": [], "last_cycle": cycle}))
        self._closed = []

    # -- output side ----------------------------------------------------------------------

    def output(self, word, cycle, valid_cycle, strict_latency=False):
        """One transferred ``m_axis_tdata`` word (the monitor's call)."""
        self.check(self._config.unpack_result(word), cycle, valid_cycle, strict_latency)

    def check(self, actual, cycle, valid_cycle, strict_latency=False):
        """Queue one transferred result (signed integer) for in-order comparison."""
        self.results_out += 1
        self._actual.append((actual, cycle, valid_cycle, strict_latency))
        if len(self._actual) >= self.batch:
            self.compare()

    def compare(self):
        """Run the model on every closed dot product and compare all received results."""
        self._run_model()
        while self._actual and self._expected:
            actual, cycle, valid_cycle, strict = self._actual.popleft()
            value, info = self._expected.popleft()
            n = self.checked
            self.checked += 1
            latency = valid_cycle - info["last_cycle"]
            self.latencies.append((info["index"], latency))
            if actual != value:
                self.error(
                    f"MISMATCH result #{n} (dot product {info['index']}, {len(info['beats'])} "
                    f"beats, last beat cycle {info['last_cycle']}, output cycle {cycle}): "
                    f"expected {value} ({value & (1 << 64) - 1:#x}), DUT {actual} "
                    f"({actual & (1 << 64) - 1:#x}), diff {actual - value}; "
                    f"{_fmt_beats(info['beats'])}"
                )
            elif strict and self._latency is not None and latency != self._latency:
                self.error(
                    f"latency {latency} != manifest latency {self._latency} for result #{n} "
                    f"(last beat cycle {info['last_cycle']}, valid from cycle {valid_cycle}, "
                    "no backpressure)"
                )
        while self._actual:
            actual, cycle, _, _ = self._actual.popleft()
            n = self.checked
            self.checked += 1
            self.error(
                f"extra output #{n}: {actual} (cycle {cycle}) with no dot product outstanding"
            )

    def discard(self):
        """Compare what was received, then forget everything in flight (reset)."""
        self.compare()
        dropped = self.forget(self._expected)
        return dropped


class TB(StreamTB):
    """Test bench for one engine (the DUT built from the manifest in ``LOGDOT_MANIFEST``).

    Parameters
    ----------
    dut : cocotb handle of the ``logdot`` top level.
    name : str
        Test label for the log (the seed comes from cocotb, see :func:`tbbase.test_seed`).
    **traffic
        ``idle_prob``, ``backpressure``, ``reactive``, ``idle_fill``: the traffic options of
        :class:`tbbase.StreamTB` (explicit, 0/False/None disable).
    fault : tuple or None
        Deliberate model corruption (see :class:`Scoreboard`), for the can-fail checks.
    """

    def __init__(self, dut, name, *, fault=None, **traffic):
        self.config, latency, self.manifest = load_manifest()
        super().__init__(
            dut,
            name,
            kind="tb",
            make_scoreboard=lambda log: Scoreboard(self.config, log, latency=latency, fault=fault),
            latency=latency,
            result_bits=8 * self.config.out_bytes,
            info={"latency": latency, "config": self.config},
            **traffic,
        )

    def send(self, dots, *, open_last=False):
        """Queue dot products (lists of ``(acts, weights)`` beats) on the source; return the
        number of beats. ``open_last`` sends the last dot product without its ``tlast`` (only
        useful before a reset)."""
        words = beats_to_words(self.config, dots)
        if open_last and words:
            words[-1] = (words[-1][0], False)
        return self.send_words(words)

    def report(self):
        sb = self.scoreboard
        self.log.info(
            "%d beats in, %d results checked, %d dot products dropped by reset, %d cycles",
            self.beats_in,
            sb.checked,
            sb.discarded,
            self.cycle,
        )
