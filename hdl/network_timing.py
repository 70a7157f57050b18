"""Cycle-exact timing of a network top: latency, cycles per image and FIFO occupancy.

:func:`network_timing` follows every item (pixel, activation beat, engine result) of
back-to-back images through the stages of :func:`logdot.hdl.network.network_plan`, stage by
stage, from each unit's own timing rules and latency:

* window unit (:class:`~logdot.hdl.window.SlidingWindow`): one step per padded position, a
  real position waits for its pixel, the first position of an image for the image's first
  pixel; a step that completes a window hands it to the hold register
  ``window_latency() - 1`` cycles later at the earliest and ``tiles * beats`` cycles after
  the previous hand-over at the earliest, and the next step waits for the hand-over; the
  window's beats leave one per cycle after it (the rules of
  :func:`logdot.hdl.window.window_cycles`);
* layer engine: one result ``layer_latency(config)`` cycles after the last beat of its dot
  product (:func:`logdot.hdl.layer.layer_latency`);
* pixel gearbox, output assembler, flatten feeder: :func:`logdot.hdl.gearbox.adapter_latency`
  cycles after the input that completes a pixel, word or vector (the output assembler:
  :func:`~logdot.hdl.gearbox.assembler_latency`, 0 with one pixel per image); the feeder
  writes one code per cycle (a pixel is taken ``channels - 1`` cycles after it is valid)
  and the last pixel of an image waits for the previous vector's last beat;
* max pool: one pixel per cycle, a pooled pixel :func:`logdot.hdl.pool.pool_latency` cycles
  after the pixel completing its window;
* FIFO: an item entered at cycle ``e`` is valid at ``e + fifo_latency`` and at the earliest
  one cycle after the previous item left (:func:`logdot.hdl.fifo.fifo_latency`; one output
  register); it occupies the FIFO from ``e + 1`` to the cycle it leaves.

Between two FIFOs every unit is always ready (the layer engine, the gearbox and a FIFO that
is not full take a beat in every cycle), so each stage's output times follow from its input
times alone, provided no FIFO fills: :attr:`NetworkTiming.fits` says whether every FIFO's
peak occupancy is within its depth, and the figures are exact then (the input always
valid, the output always ready). When a FIFO fills (a stage faster than the next one over
many images, e.g. the first stage of a network whose bottleneck comes later), the real top
back-pressures and its outputs can only come later than the model's, which are then lower
bounds (measured in the tests: still the same cycles when the full FIFO's consumer sets the
pace). Time is counted in cycles, the first cycle out of reset being 0; a transfer "at cycle
``t``" is the ``valid & ready`` of that cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..golden.formats import check_int
from ..golden.window import WindowGeometry, pool_kernel
from .fifo import fifo_buffered, fifo_latency
from .gearbox import adapter_latency, assembler_latency
from .layer import layer_latency
from .pool import pool_latency
from .window import completes_window, window_latency

__all__ = ["NetworkTiming", "network_timing"]


@dataclass(frozen=True)
class NetworkTiming:
    """What :func:`network_timing` gives.

    Attributes
    ----------
    first_input : int
        Cycle of the first pixel's transfer on ``s_axis``.
    outputs : tuple of int
        Cycle of each image's output transfer on ``m_axis``.
    inputs_last : tuple of int
        Cycle of each image's last pixel transfer.
    fifo_peaks : tuple of int
        The largest occupancy of each FIFO (stream order), as the FIFO's ``max_level``.
    fifo_depths : tuple of int
        Their depths.
    fifo_busy : tuple of int
        The largest number of items each FIFO holds at a write, the written one included
        (item ``k`` counted from its entry cycle to the cycle it leaves): at most 1, a FIFO
        of depth 1 (which refuses a write while it holds an item, also one leaving) never
        refuses one.
    """

    first_input: int
    outputs: tuple
    inputs_last: tuple
    fifo_peaks: tuple
    fifo_depths: tuple
    fifo_busy: tuple = ()

    @property
    def latency(self):
        """Cycles from the first pixel's transfer to the first output transfer."""
        return self.outputs[0] - self.first_input

    @property
    def fits(self):
        """True when no FIFO fills (every peak within its depth, and no write to a FIFO of
        depth 1 while it holds an item): the figures are exact."""
        busy = self.fifo_busy or self.fifo_peaks
        return all(
            p <= d and (d > 1 or b <= 1)
            for p, d, b in zip(self.fifo_peaks, self.fifo_depths, busy, strict=True)
        )

    def cycles_per_image(self, skip=1):
        """Mean cycles between output transfers after the first ``skip`` images."""
        out = self.outputs
        if len(out) < skip + 2:
            raise ValueError(f"needs at least {skip + 2} images, not {len(out)}")
        return (out[-1] - out[skip]) / (len(out) - 1 - skip)


class _Source:
    """The items a stage takes, in order: item ``k`` entered its FIFO at ``entries[k]`` and
    is valid from ``entries[k] + latency``, and at the earliest one cycle after item
    ``k - 1`` was taken."""

    def __init__(self, entries, latency):
        self.entries = entries
        self.latency = latency
        self.taken = []

    def valid_at(self, k):
        t = self.entries[k] + self.latency
        return max(t, self.taken[-1] + 1) if self.taken else t

    def take(self, t):
        self.taken.append(t)
        return t


def _window(p, src, images):
    g = WindowGeometry(
        p["channels"],
        p["height"],
        p["width"],
        tuple(p["kernel"]),
        tuple(p["stride"]),
        tuple(p["padding"]),
        p["lanes"],
        p["tiles"],
    )
    ph, pw = g.padding
    tb = g.tiles * g.beats
    out, k, t, last_h = [], 0, 0, None
    for _ in range(images):
        for py in range(g.padded_height):
            for px in range(g.padded_width):
                real = ph <= py < ph + g.height and pw <= px < pw + g.width
                step = t
                if real or (py == 0 and px == 0):
                    step = max(step, src.valid_at(k))
                if real:
                    src.take(step)
                    k += 1
                t = step + 1
                if completes_window(g, py, px):
                    h = step + window_latency() - 1
                    if last_h is not None:
                        h = max(h, last_h + tb)
                    last_h = h
                    t = max(t, h)
                    out += [h + 1 + j for j in range(tb)]
    return out


def _engine(ml, beats):
    lat = layer_latency(ml.config)
    return [beats[j] + lat for j in range(ml.beats - 1, len(beats), ml.beats)]


def _every(times, n, latency):
    """An output ``latency`` cycles after every ``n``-th input (a pixel, word, or vector)."""
    return [times[j] + latency for j in range(n - 1, len(times), n)]


def _one_per_cycle(src, count):
    for k in range(count):
        src.take(src.valid_at(k))
    return src.taken


def _pool(p, src, images):
    h, w = p["height"], p["width"]
    kh, kw = pool_kernel(p["kernel"], h, w)
    taken = _one_per_cycle(src, images * h * w)
    out = []
    for k, t in enumerate(taken):
        y, x = divmod(k % (h * w), w)
        if x < w // kw * kw and y < h // kh * kh and x % kw == kw - 1 and y % kh == kh - 1:
            out.append(t + pool_latency())
    return out


def _feeder(p, src, images):
    n, tb, c = p["pixels"], p["tiles"] * p["beats"], p["channels"]
    out, done = [], None
    for k in range(images * n):
        # One code per cycle from the pixel's first valid cycle; taken with its last code.
        t = src.valid_at(k) + c - 1
        if k % n == n - 1:
            if done is not None:
                t = max(t, done)
            src.take(t)
            first = t + adapter_latency()
            out += [first + j for j in range(tb)]
            done = first + tb - 1
        else:
            src.take(t)
    return out


def _peak(entries, taken, start=1):
    """The largest occupancy: item ``k`` counts from ``entries[k] + start`` to ``taken[k]``
    (``start=0``: also in the cycle of its write, :attr:`NetworkTiming.fifo_busy`)."""
    events = []
    for e, t in zip(entries, taken, strict=True):
        events += [(e + start, 1), (t + 1, -1)]
    level = peak = 0
    for _, d in sorted(events, key=lambda x: (x[0], x[1])):
        level += d
        peak = max(peak, level)
    return peak


def network_timing(stages, mapped, images=1, *, period=None):
    """Follow ``images`` back-to-back images through a network top's stages.

    Parameters
    ----------
    stages, mapped
        :func:`logdot.hdl.network.network_plan` (FIFO depths as built).
    images : int
        Images; the output always ready.
    period : int or None
        ``None``: the input always valid. Else image ``i``'s pixels are valid from cycle
        ``i * period`` on (an input throttled to one image per ``period`` cycles).

    Returns
    -------
    NetworkTiming
    """

    check_int(images, "images", 1)
    if period is not None:
        check_int(period, "period", 1)
    top = stages[0]
    if top.kind not in ("window", "pool", "feeder"):
        raise ValueError(f"a network starts with a window, pool or feeder, not {top.kind}")
    pixels = _first_pixels(top, images)
    n_top = pixels // images
    src = _Source([(k // n_top) * (period or 0) for k in range(pixels)], 0)
    top_src = src
    times = None
    peaks, depths, busy, fifo = [], [], [], None
    for st in stages:
        p = st.params
        if st.kind == "fifo":
            fifo = (times, p["depth"])
            src = _Source(times, fifo_latency(fifo_buffered(p["depth"])))
            continue
        if st.kind == "window":
            times = _window(p, src, images)
        elif st.kind == "pool":
            times = _pool(p, src, images)
        elif st.kind == "feeder":
            times = _feeder(p, src, images)
        elif st.kind == "engine":
            times = _engine(mapped[st.layer], times)
            continue
        elif st.kind == "gearbox":
            times = _every(times, p["tiles"], adapter_latency())
            continue
        else:  # the output assembler
            taken = _one_per_cycle(src, images * p["pixels"])
            times = _every(taken, p["pixels"], assembler_latency(p["pixels"]))
        if fifo is not None:
            peaks.append(_peak(fifo[0], src.taken))
            busy.append(_peak(fifo[0], src.taken, start=0))
            depths.append(fifo[1])
            fifo = None
    last = tuple(top_src.taken[(i + 1) * n_top - 1] for i in range(images))
    return NetworkTiming(
        top_src.taken[0], tuple(times), last, tuple(peaks), tuple(depths), tuple(busy)
    )


def _first_pixels(stage, images):
    p = stage.params
    if stage.kind == "feeder":
        return images * p["pixels"]
    return images * p["height"] * p["width"]
