"""cocotb tests of one compiled network top (``logdot compile``) against the golden stream
model (run by test_network_runner.py).

The design under test is described by the manifest named in ``LOGDOT_NETWORK_MANIFEST``; its
golden model is the network file named in ``LOGDOT_NETWORK_FILE``
(:func:`logdot.golden.network_file.load_network`) and
:func:`logdot.golden.network_stream.stream_forward`, run in the golden service of
:mod:`golden_service`; beats are ``(data, last)`` pairs. The test bench is the engines' and
layers' (:class:`tbbase.StreamTB`: clock, synchronous reset, cocotbext-axi source on
``s_axis`` with seeded random idles and garbage while ``tvalid`` is low, sink on ``m_axis``
with seeded random back-pressure, the per-cycle monitor with its protocol checks) with the
network's model: :class:`NetworkScoreboard` groups the transferred input beats into frames at
``tlast`` (every frame gives exactly one output beat, whatever its length), runs them through
the golden stream model and compares every output word, in order; the monitor also samples
``frame_error`` every cycle. ``LOGDOT_RANDOM_IMAGES`` sets the images of ``test_random``.

A test fails on: a wrong output word, a missing or extra output, an output beat without
``tlast``, ``X``/``Z`` on the outputs (Icarus), data changing or ``tvalid`` dropping under
back-pressure, padding bits above the used width that are not the contract's, counts of
frames in and words out that differ, ``frame_error`` high with no malformed frame since
the reset, low after one, or falling outside a reset.
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import cocotb
import golden_service as golden
from cocotb import Param
from tbbase import StreamScoreboard, StreamTB

MANIFEST_ENV = "LOGDOT_NETWORK_MANIFEST"
NETWORK_ENV = "LOGDOT_NETWORK_FILE"
RANDOM_IMAGES = int(os.environ.get("LOGDOT_RANDOM_IMAGES", "6"))

TRAFFIC = [
    Param((0.0, 0.0, False), "none"),
    Param((0.3, 0.5, False), "idle+backpressure"),
    Param((0.2, 0.3, True), "reactive-sink"),
]


class NetworkScoreboard(StreamScoreboard):
    """In-order scoreboard of a network top: frames (input beats up to ``tlast``) -> golden
    stream model -> one expected output word per frame.

    ``fault=("flip", k)`` flips bit 0 of expected output ``k`` (a deliberately wrong golden
    model). The frames' error flags (wrong length) are kept for the ``frame_error`` check.
    """

    def __init__(self, net, input_shape, log, *, fault=None):
        super().__init__(log)
        self.net = net  # the golden network's handle
        self.pixels = input_shape[1] * input_shape[2]
        self.fault = fault
        self.expected = collections.deque()
        self.frame_errors = []  # per frame since the last reset: malformed
        self.output_cycles = []  # cycle of every output transfer (whole test)
        self._index = 0
        self._early = False  # the open (long) frame's output is already expected

    def decode(self, word):
        return word

    def add_beat(self, word, last, cycle):
        super().add_beat(word, last, cycle)
        if last:
            self.frame_errors.append(len(self._closed[-1][0]) != self.pixels)
            if self._early:  # its output was checked before its tlast came
                self._closed.pop()
                self._early = False

    @property
    def open_malformed(self):
        """The frame in progress already runs long (the hardware flags it at pixel H*W)."""
        return len(self._open) >= self.pixels

    def expected_tlast(self, index):
        return True  # one beat per image, tlast = 1

    @property
    def outstanding(self):
        return len(self._closed) + len(self.expected)

    def compare(self):
        """Run the golden stream model on every closed frame."""
        if self._closed:
            self._expect([frame for frame, _ in self._closed])
            self._closed = []

    def _expect(self, frames):
        beats = []
        for frame in frames:
            beats += [(w, k == len(frame) - 1) for k, w in enumerate(frame)]
        outputs = golden.call("network.forward", self.net, beats)
        if len(outputs) != len(frames):
            self.error(f"test bug: {len(frames)} frames gave {len(outputs)} words")
        for word in outputs:
            if self.fault == ("flip", self._index):
                word ^= 1
            self.expected.append((self._index, word))
            self._index += 1

    def output(self, word, cycle, valid_cycle=None, strict_latency=False):
        n = self.checked
        self.checked += 1
        self.results_out += 1
        self.output_cycles.append(cycle)
        if not self.expected:
            self.compare()
        if not self.expected and not self._early and self.open_malformed:
            # A long frame's output leaves once its H*W pixels are in, before its tlast.
            self._expect([self._open[: self.pixels]])
            self._early = True
        if not self.expected:
            self.error(f"extra output #{n} {word:#x} at cycle {cycle}")
            return
        index, want = self.expected.popleft()
        if word != want:
            self.error(
                f"MISMATCH output #{n} (frame {index}, cycle {cycle}): expected {want:#x}, "
                f"DUT {word:#x}"
            )

    def discard(self):
        self.frame_errors = []
        self._early = False
        return self.forget(self.expected)


class NetworkTB(StreamTB):
    """The stream test bench with the network scoreboard and the ``frame_error`` checks."""

    def __init__(self, dut, name, *, fault=None, **traffic):
        man_path, net_path = os.environ.get(MANIFEST_ENV), os.environ.get(NETWORK_ENV)
        if not man_path or not net_path:
            raise RuntimeError(f"{MANIFEST_ENV} / {NETWORK_ENV} unset: run test_network_runner")
        self.manifest = json.loads(Path(man_path).read_text())
        self.net, info = golden.call("network.open", net_path)
        shape = info["input_shape"]
        self.config = f"network {self.manifest['name']} {shape}"
        man = self.manifest
        super().__init__(
            dut,
            name,
            kind="network",
            make_scoreboard=lambda log: NetworkScoreboard(self.net, shape, log, fault=fault),
            latency=man["latency_cycles"],  # first pixel to output: bounds last pixel to it
            result_bits=info["result_bits"],
            info={"cycles_per_image": man["cycles_per_image"]},
            **traffic,
        )
        self.sb = self.scoreboard
        self.flag = 0  # frame_error in the previous cycle out of reset

    def _on_reset(self):
        super()._on_reset()
        self.flag = 0

    def _monitor_extra(self, cycle):
        value = self.dut.frame_error.value
        if not value.is_resolvable:
            self.sb.error(f"frame_error is {value} at cycle {cycle}")
            return
        flag = int(value)
        sb = self.sb
        if self.flag and not flag:
            sb.error(f"frame_error fell at cycle {cycle} without a reset (it is sticky)")
        if flag and not (any(sb.frame_errors) or sb.open_malformed):
            sb.error(f"frame_error high at cycle {cycle} with no malformed frame since reset")
        k = sb.results_out  # outputs transferred before this cycle
        if not flag and any(sb.frame_errors[:k]):
            sb.error(f"frame_error low at cycle {cycle} after a malformed frame's output")
        self.flag = flag

    # -- stimulus --------------------------------------------------------------------------

    def random_image(self):
        """The beats ``(data, last)`` of a random image (codes over the whole input range,
        a seed from the test's generator)."""
        return golden.call("network.image_stream", self.net, self.rng.randrange(1 << 31))

    def send_images(self, n):
        """Queue ``n`` random images as exact frames."""
        for _ in range(n):
            self.send_beats(self.random_image())

    def send_beats(self, beats):
        return self.send_words([(data, last) for data, last in beats])

    def report(self):
        self.log.info(
            "%d outputs checked, %d frames dropped by reset, %d cycles",
            self.sb.checked,
            self.sb.discarded,
            self.cycle,
        )


# -- the tests ---------------------------------------------------------------------------


@cocotb.test(timeout_time=200, timeout_unit="ms")
@cocotb.parametrize(traffic=TRAFFIC)
async def test_random(dut, traffic):
    """Random images back to back (codes over the whole input range), with idles and
    back-pressure: every output word exact, ``frame_error`` never set."""
    idle, bp, reactive = traffic
    tb = NetworkTB(dut, f"random/{idle}/{bp}", idle_prob=idle, backpressure=bp, reactive=reactive)
    await tb.start()
    tb.send_images(-(-RANDOM_IMAGES // len(TRAFFIC)))
    await tb.drain()
    assert not tb.flag, "frame_error set by exact frames"
    tb.report()


@cocotb.test(timeout_time=200, timeout_unit="ms")
async def test_short_and_long_frames(dut):
    """Exact, short (``tlast`` early, down to one pixel), long (extra pixels, ``tlast`` late)
    frames: exactly one output each (the golden stream model's: zero-completed, truncated),
    ``frame_error`` set from the first malformed frame on and sticky until ``rst``; the
    exact frames after them are exact; after a reset ``frame_error`` is clear and the next
    frame exact."""
    tb = NetworkTB(dut, "frames", idle_prob=0.2, backpressure=0.3)
    await tb.start()
    rng, n = tb.rng, tb.sb.pixels
    tb.send_images(1)
    await tb.drain()
    assert not tb.flag
    for kind in ("short", "exact", "long", "one", "long1", "exact"):
        beats = tb.random_image()
        if kind == "short":
            beats = beats[: rng.randint(2, n - 1)]
        elif kind == "one":
            beats = beats[:1]
        elif kind.startswith("long"):
            extra = 1 if kind == "long1" else rng.randint(2, n)
            beats = beats + [(rng.getrandbits(len(dut.s_axis_tdata)), False)] * extra
        beats = [(data, k == len(beats) - 1) for k, (data, _) in enumerate(beats)]
        tb.send_beats(beats)
    await tb.drain()
    assert tb.sb.frame_errors == [False, True, False, True, True, True, False]
    assert tb.flag, "frame_error not set after malformed frames"
    await tb.reset(2)
    await tb.wait_cycles(2)
    assert not tb.flag and int(dut.frame_error.value) == 0, "frame_error not cleared by rst"
    tb.send_images(1)
    await tb.drain()
    assert not tb.flag
    tb.report()


@cocotb.test(timeout_time=200, timeout_unit="ms")
async def test_reset_mid_image(dut):
    """A reset at a random cycle in mid-image (with results in flight) drops everything;
    the images after it are exact, twice."""
    tb = NetworkTB(dut, "reset", idle_prob=0.2, backpressure=0.3)
    await tb.start()
    sb, n = tb.sb, tb.sb.pixels
    for _ in range(2):
        base = tb._beats_seen
        tb.send_images(2)
        cut = base + tb.rng.randint(n + 1, 2 * n - 1)  # inside the second image
        await tb.wait_until(lambda c=cut: tb._beats_seen >= c, 20 * n, "the cut")
        await tb.wait_cycles(tb.rng.randrange(4))
        await tb.reset(tb.rng.randint(1, 3))
        tb.send_images(1)
        await tb.drain()
    assert sb.discarded >= 2, f"the resets dropped only {sb.discarded} frames"
    tb.report()


@cocotb.test(timeout_time=200, timeout_unit="ms")
async def test_latency_and_throughput(dut):
    """Input always valid, output always ready: the first output comes exactly
    ``latency_cycles`` after the first pixel, and back-to-back images leave every
    ``cycles_per_image`` cycles (over the images after the first, within 2 %)."""
    tb = NetworkTB(dut, "timing")
    await tb.start()
    k = 4
    tb.send_images(k)
    await tb.drain()
    man, out = tb.manifest, tb.sb.output_cycles
    latency = out[0] - tb.first_in_cycle
    assert latency == man["latency_cycles"], f"latency {latency} != {man['latency_cycles']}"
    period = (out[-1] - out[1]) / (k - 2)
    cpi = man["cycles_per_image"]
    assert abs(period - cpi) <= 0.02 * cpi, f"{period} cycles per image, model {cpi}"
    tb.report()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def test_scoreboard_catches_wrong_golden(dut):
    """The checker can fail: expected output 2 deliberately off by one bit must be reported."""
    tb = NetworkTB(dut, "fault", fault=("flip", 2))
    await tb.start()
    tb.send_images(3)
    try:
        await tb.drain()
    except AssertionError as exc:
        assert "MISMATCH output #2" in str(exc), str(exc)
        tb.log.info("the wrong golden was reported: %s", str(exc).splitlines()[1].strip())
    else:
        raise AssertionError("a deliberately wrong golden model was NOT detected")
