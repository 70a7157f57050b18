# Over 600 lines on purpose: one test file per module; the cycle-exact response tests sit here.
"""Tests of the sliding-window unit: the golden beat order against the host-side im2col
stream, the hardware (Amaranth simulation) against the golden model under random idles and
back-pressure, reset, malformed frames, the cycle model, the worst-case response (the formal
counterexample of a too tight bound, replayed), and Verilog that Icarus builds.

``run_stream`` and ``compare`` are the stream driver and checker of these tests and of
``tests/test_pool.py``.
"""

from __future__ import annotations

import itertools
import random

import pytest
import torch
from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from logdot.golden.layer import output_tlast, pack_outputs
from logdot.golden.mapping import map_layer
from logdot.golden.window import (
    WindowGeometry,
    frame_images,
    pack_pixel,
    unpack_codes,
    window_beats,
    window_stream,
)
from logdot.hdl.layer import LogLayerEngine
from logdot.hdl.window import (
    SlidingWindow,
    completes_window,
    pixel_layout,
    window_cycles,
    window_latency,
    window_period,
    window_response,
)
from logdot.tools.lint import iverilog_check, verilator_lint
from tests.support.layers import random_conv_spec
from tests.support.stream import check_hold, compare, run_stream, run_testbench

# Property tests build units only to read their properties, never to elaborate them.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

# -- helpers ---------------------------------------------------------------------------------


def random_image(rng, channels, height, width, bits):
    return [
        [[rng.randrange(1 << bits) for _ in range(width)] for _ in range(height)]
        for _ in range(channels)
    ]


def pixel_beats(images, bits):
    """Input beats (pixel word, last) of images ``[c][y][x]``."""
    out = []
    for img in images:
        c, h, w = len(img), len(img[0]), len(img[0][0])
        for y in range(h):
            for x in range(w):
                out.append((pack_pixel([img[k][y][x] for k in range(c)], bits), False))
        out[-1] = (out[-1][0], True)
    return out


def packed(beats, bits):
    """Golden beats ``(codes, last)`` as bus words."""
    return [(pack_pixel(codes, bits), last) for codes, last in beats]


def make_window(geo, bits):
    return SlidingWindow(**_kw(geo), bits=bits)


def _kw(geo):
    g = geo if isinstance(geo, dict) else geo.__dict__
    keys = ("channels", "height", "width", "kernel", "stride", "padding", "lanes", "tiles")
    return {k: g[k] for k in keys if k in g}


def conv_spec(gen, c, out_ch, kernel, stride, padding, fmt, signed, bits):
    """A conv2d LayerSpec with random 4-bit weights (FSR 0), no bias, no ReLU and a raw 16-bit
    linear output."""
    return random_conv_spec(
        gen,
        cin=c,
        cout=out_ch,
        k=kernel,
        stride=_pair(stride),
        padding=_pair(padding),
        act=fmt,
        abits=bits,
        act_signed=signed,
        act_scale=0,
        weight_fsr=0,
        bias=False,
        relu=False,
        out_kind="linear",
        out_bits=16,
        out_scale=None,
    )


def _pair(n):
    return (n, n) if isinstance(n, int) else n


# -- the golden beat order is the host-side im2col stream -----------------------------------

STREAM_CASES = [
    # (channels, h, w, kernel, stride, padding, lanes, pes, out_channels, act_format, signed)
    (1, 6, 6, 3, 1, 1, 9, 4, 8, "log", False),
    (3, 5, 7, 3, 2, 1, 4, 2, 5, "log", True),
    (2, 8, 5, 5, 1, 2, 7, 3, 7, "linear", True),
    (4, 4, 4, 1, 1, 0, 3, 1, 2, "log", False),
    (2, 7, 6, 1, 2, 0, 2, 2, 4, "linear", False),
    (1, 5, 5, 5, 1, 0, 25, 1, 1, "log", False),
    (3, 3, 9, 3, 2, 2, 5, 4, 9, "log", True),
    (2, 6, 4, (3, 1), (1, 2), (1, 0), 4, 2, 3, "log", False),
]


@pytest.mark.parametrize("case", STREAM_CASES, ids=lambda c: "-".join(map(str, c[:9])))
def test_window_beats_equal_mapped_layer_stream(case, seed):
    c, h, w, k, s, p, lanes, pes, out_ch, fmt, signed = case
    kh, kw = (k, k) if isinstance(k, int) else k
    bits = 4
    gen = torch.Generator().manual_seed(seed)
    spec = conv_spec(gen, c, out_ch, (kh, kw), s, p, fmt, signed, bits)
    mapped = map_layer(spec, lanes=lanes, pes=pes)
    if fmt == "linear" and signed:
        x = torch.randint(-8, 8, (2, c, h, w), generator=gen)
    else:
        x = torch.randint(0, 16, (2, c, h, w), generator=gen)
    acts, last, _ = mapped.stream(x)
    host = list(zip((acts & 15).tolist(), last.tolist(), strict=True))
    geo = dict(
        channels=c, height=h, width=w, kernel=k, stride=s, padding=p, lanes=lanes,
        tiles=mapped.tiles,
    )  # fmt: skip
    golden = window_stream((x & 15).tolist(), **geo, bits=bits)
    assert golden == host
    assert len(golden) == 2 * WindowGeometry(**geo).beats_per_image


def test_geometry_validation():
    with pytest.raises(ValueError, match="kernel 5x5 is larger than the padded image 3x6"):
        WindowGeometry(channels=1, height=3, width=6, kernel=5, lanes=1)
    with pytest.raises(ValueError, match=r"stride must be an integer in \[1, 8\], not 0"):
        WindowGeometry(channels=1, height=3, width=6, kernel=1, stride=0, lanes=1)
    with pytest.raises(TypeError, match=r"padding must be an integer, not 1\.0"):
        WindowGeometry(channels=1, height=3, width=6, kernel=1, padding=1.0, lanes=1)
    with pytest.raises(ValueError, match="kernel must be an integer or a pair"):
        WindowGeometry(channels=1, height=3, width=6, kernel=(1, 2, 3), lanes=1)
    with pytest.raises(ValueError, match=r"bits must be an integer in \[1, 32\], not 0"):
        SlidingWindow(channels=1, height=3, width=3, kernel=3, lanes=1, bits=0)
    with pytest.raises(ValueError, match="codes must be in"):
        window_beats([[[16]]], channels=1, height=1, width=1, kernel=1, lanes=1, bits=4)
    g = WindowGeometry(channels=3, height=6, width=5, kernel=3, stride=2, padding=1, lanes=4)
    assert (g.out_height, g.out_width, g.vector, g.beats) == (3, 3, 27, 7)
    assert g.beats_per_image == 63 and g.steps == 56 and g.pixels == 30


def test_properties():
    u = SlidingWindow(channels=3, height=6, width=5, kernel=3, padding=1, lanes=4, bits=4)
    assert (u.pixel_bits, u.beat_bits, u.line_buffer_words, u.line_buffer_bits) == (12, 16, 5, 24)
    assert u.latency == window_latency() == 2
    assert u.geometry.kernel == (3, 3) and u.bits == 4
    assert u.cycles() == window_cycles(u.geometry)
    assert (
        SlidingWindow(channels=1, height=4, width=4, kernel=1, lanes=1, bits=2).line_buffer_words
        == 0
    )


# -- hardware against the golden model --------------------------------------------------------

# (channels, h, w, kernel, stride, padding, lanes, tiles, bits)
HW_CASES = [
    (1, 5, 6, 3, 1, 1, 9, 1, 4),  # one beat per window
    (2, 4, 5, 3, 2, 0, 4, 2, 3),  # stride 2, replay for 2 tiles, several beats
    (1, 5, 5, 5, 1, 2, 7, 1, 2),  # kernel 5, padding 2
    (3, 3, 3, 3, 1, 0, 27, 1, 4),  # width = kernel, one output pixel
    (2, 4, 3, 1, 1, 0, 2, 3, 4),  # kernel 1, tiles 3
    (1, 7, 4, 1, 2, 1, 1, 1, 3),  # kernel 1, stride 2 with padding
    (1, 2, 1, 3, 2, 1, 3, 1, 4),  # width 1 < kernel (padded), transparent line buffer
    (2, 6, 5, 5, 2, 2, 16, 2, 4),  # kernel 5 stride 2, row-end stalls
    (1, 3, 6, (3, 1), (2, 1), (1, 0), 2, 1, 4),  # non-square kernel and stride
]
FULL_CASES = [
    (c, h, w, k, s, p, lanes, t, 3)
    for c in (1, 3)
    for k in (1, 3, 5)
    for s in (1, 2)
    for p in (0, 1, 2)
    for (h, w) in ((k + 1, k), (k + 2, k + 3))
    for lanes, t in ((1, 1), (5, 2))
]


def _geo(case):
    c, h, w, k, s, p, lanes, t, bits = case
    return (
        dict(channels=c, height=h, width=w, kernel=k, stride=s, padding=p, lanes=lanes, tiles=t),
        bits,
    )


def check_window(case, rng, *, images=3, idle=0.3, backpressure=0.3):
    geo, bits = _geo(case)
    imgs = [
        random_image(rng, geo["channels"], geo["height"], geo["width"], bits) for _ in range(images)
    ]
    expected = packed(window_stream(imgs, **geo), bits)
    log = run_stream(
        make_window(geo, bits),
        pixel_beats(imgs, bits),
        expected=len(expected),
        rng=rng,
        idle=idle,
        backpressure=backpressure,
    )
    assert len(log["in_cycles"]) == images * geo["height"] * geo["width"]
    assert compare(log["out"], expected) is None, compare(log["out"], expected)
    assert log["frame_error"] == 0
    return log


@pytest.mark.parametrize("case", HW_CASES, ids=lambda c: "-".join(map(str, c)))
def test_window_hw(case, seed):
    rng = random.Random(seed)
    check_window(case, rng)


@pytest.mark.full
@pytest.mark.parametrize("case", FULL_CASES, ids=lambda c: "-".join(map(str, c)))
def test_window_hw_full(case, seed):
    rng = random.Random(seed)
    check_window(case, rng, images=2)


@pytest.mark.parametrize(
    "case", [HW_CASES[0], HW_CASES[1], HW_CASES[7]], ids=["s1", "s2t2", "k5s2"]
)
def test_window_cycles_match_model(case, seed):
    """No idles, no back-pressure: the measured cycles equal the model, for one image and
    for four back to back (no gap: the input is taken every cycle it is needed), and the
    measured cycles per image in steady state equal the closed form."""
    geo, _ = _geo(case)
    g = WindowGeometry(**geo)
    for images in (1, 4):
        log = check_window(case, random.Random(seed), images=images, idle=0.0, backpressure=0.0)
        assert log["cycles"] == window_cycles(g, images)
    bpi = g.beats_per_image
    ends = [log["out_cycles"][n * bpi - 1] for n in range(1, 5)]
    assert {b - a for a, b in itertools.pairwise(ends)} == {window_period(g)}
    assert window_period(g) >= max(g.steps, g.beats_per_image)
    # The first beat leaves window_latency() cycles after the step completing the first window.
    kh, kw = g.kernel
    first_step = (kh - 1) * g.padded_width + (kw - 1)
    assert log["out_cycles"][0] == first_step + window_latency()
    print(f"{geo}: {window_cycles(g, 1)} cycles for one image, {window_period(g)} per image")


def test_window_period_closed_form():
    """The closed form is the step of the exact cycle model from each image to the next."""
    n = 0
    for c, (h, w), k, s, p, lanes, t in itertools.product(
        (1, 3), ((1, 4), (5, 3), (6, 7)), (1, 3, 5), (1, 2, 3), (0, 1, 2), (1, 4, 27), (1, 3)
    ):
        try:
            g = WindowGeometry(
                channels=c, height=h, width=w, kernel=k, stride=s, padding=p, lanes=lanes, tiles=t
            )
        except ValueError:
            continue
        per = window_period(g)
        assert [window_cycles(g, m + 1) - window_cycles(g, m) for m in (1, 2)] == [per, per], g
        assert per >= max(g.steps, g.beats_per_image)
        n += 1
    assert n > 500
    # The padded image limits (one beat per window, stride 1), or the output beats.
    g = WindowGeometry(channels=1, height=28, width=28, kernel=5, padding=2, lanes=25)
    assert window_period(g) == g.steps == 32 * 32
    g = WindowGeometry(channels=4, height=12, width=12, kernel=3, padding=1, lanes=4, tiles=2)
    # 18 beats per window: the output limits, but for the 31-step gap to the next image.
    assert g.beats_per_image == 12 * 12 * 18
    assert window_period(g) == 12 * 12 * 18 + (14 * 14 - 11 * 14 - 11) - 18


def drive_cycles(dut, inputs, *, extra, limit=2000):
    """Drive ``dut`` cycle by cycle: ``inputs`` is a list of ``(s_valid, s_last, s_data,
    o_ready)`` per cycle from the first one after reset (a cycle is counted at its clock edge),
    then ``extra`` cycles with ``s`` idle and ``o.ready`` high (or a callable ``extra(cycle,
    log)`` giving those inputs until it returns ``None``). Returns the input transfers, the
    output transfers ``(cycle, data, last)`` and the first cycle each output beat was valid;
    more than ``limit`` cycles is a hang."""
    log = {"takes": [], "gives": [], "valid_from": []}

    async def bench(ctx):
        cycle, pending = 0, False
        while True:
            assert cycle < limit, f"no end after {limit} cycles: {log}"
            if cycle < len(inputs):
                now = inputs[cycle]
            elif callable(extra):
                now = extra(cycle, log)
                if now is None:
                    break
            elif cycle < len(inputs) + extra:
                now = (0, 0, 0, 1)
            else:
                break
            valid, last, data, ready = now
            ctx.set(dut.s.valid, valid)
            ctx.set(dut.s.payload.last, last)
            ctx.set(dut.s.payload.data, data)
            ctx.set(dut.o.ready, ready)
            if ctx.get(dut.s.valid) and ctx.get(dut.s.ready):
                log["takes"].append((cycle, data, last))
            if ctx.get(dut.o.valid):
                if not pending:
                    log["valid_from"].append(cycle)
                    pending = True
                if ready:
                    out = (ctx.get(dut.o.payload.data), ctx.get(dut.o.payload.last))
                    log["gives"].append((cycle, *out))
                    pending = False
            await ctx.tick()
            cycle += 1
        log["frame_error"] = ctx.get(dut.frame_error)

    run_testbench(dut, bench)
    return log


# The counterexample of the first 4 x 4 formal run (stride 1, padding 1, one beat per window),
# cycles 0 .. 27 after reset: (s.valid, s.last, s.data, o.ready). The only input transfer is
# pixel 0 with ``last`` in cycle 7; the rest of the image is filled with zeros.
TRACE_4X4 = list(
    zip(
        [1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0],
        strict=True,
    )
)


def test_window_response_formal_trace():
    """The formal counterexample that failed ``response`` with the former bound (19 ready
    cycles) is the unit at full rate: every padded position one cycle, the beats right; the
    window 14 beat is valid 28 cycles after its frame ended, the last one 29 =
    :func:`window_response` (a harness bound too tight, not a stall)."""
    geo = dict(channels=1, height=4, width=4, kernel=3, stride=1, padding=1, lanes=9)
    u = SlidingWindow(**geo, bits=1)
    log = drive_cycles(u, TRACE_4X4, extra=20)
    assert log["takes"] == [(7, 1, 1)]
    image = [[[1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]]
    expected = packed(window_beats(image, **geo, bits=1), 1)
    assert [(d, last) for _, d, last in log["gives"]] == expected
    due = 8  # the cycle after the transfer that ended the frame
    # Window w completes at padded position 14 + w + 2 * (w // 4), stepped in the cycle of
    # that number (one step per cycle from pixel 0 in cycle 7, through the back-pressure):
    # its beat is valid window_latency() cycles later.
    steps = [14 + w + 2 * (w // 4) for w in range(16)]
    assert log["valid_from"] == [t + window_latency() for t in steps]
    assert log["valid_from"][14] - due == 28 and log["valid_from"][15] - due == 29
    assert u.response == window_response(u.geometry) == 29
    assert log["frame_error"] == 1


def _worst_response(geo, bits):
    """Measure the worst case :func:`window_response` describes: an image A in full, then
    image B, one pixel with ``last``; ``o.ready`` high but from the transfer of the beats of
    the last window ahead of B's pixel (A's last, or B's last one in the padding ahead of it)
    to B's pixel's transfer (that window is held in the hold register), then high again.
    Returns (cycles from the due cycle to B's last beat's ``o.valid``, output beats)."""
    g = WindowGeometry(**geo)
    u = SlidingWindow(**geo, bits=bits)
    rng = random.Random(1)
    a = random_image(rng, g.channels, g.height, g.width, bits)
    words = [w for w, _ in pixel_beats([a], bits)]
    bpi, tb = g.beats_per_image, g.tiles * g.beats
    # Windows of B ahead of its first pixel (all padding: padding >= kernel) come first.
    first = g.padding[0] * g.padded_width + g.padding[1]
    ahead = sum(completes_window(g, *divmod(i, g.padded_width)) for i in range(first))
    held = bpi + (ahead - 1) * tb

    def extra(cycle, log):
        n_in, n_out = len(log["takes"]), len(log["gives"])
        if n_out == 2 * bpi:
            return None
        early = n_out < held  # beats before those of the last window ahead of B's pixel
        if n_in < len(words):
            return (1, int(n_in == len(words) - 1), words[n_in], int(early))
        if n_in == len(words):  # image B: its first pixel, with last
            return (1, 1, words[0], int(early))
        return (0, 0, 0, 1)

    log = drive_cycles(u, [], extra=extra)
    due = log["takes"][-1][0] + 1
    # The last window ahead of B's pixel was still in the hold register when it came.
    assert len([c for c, *_ in log["gives"] if c < due]) == held
    b = [[[a[c][0][0] if (y, x) == (0, 0) else 0 for x in range(g.width)]
          for y in range(g.height)] for c in range(g.channels)]  # fmt: skip
    expected = packed(window_stream([a, b], **geo, bits=bits), bits)
    assert [(d, last) for _, d, last in log["gives"]] == expected
    return log["valid_from"][-1] - due, u.response


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, marks=pytest.mark.full) if c[3] == 5 else c for c in HW_CASES],
    ids=lambda c: "-".join(map(str, c)),
)  # the kernel-5 cases (2 s each) in the full run only
def test_window_response_is_reached(case):
    """:func:`window_response` is reached exactly by the stimulus its derivation names (so
    it is not loose; the formal proof shows it is never exceeded)."""
    geo, bits = _geo(case)
    measured, stated = _worst_response(geo, bits)
    assert measured == stated, (geo, measured, stated)


def test_window_response_hold_backlog():
    """A geometry where the hold register's backlog counts: padding ``kernel - 1`` (the first
    pixel completes the first window) and 18 beats per window."""
    geo = dict(channels=2, height=1, width=1, kernel=3, stride=1, padding=2, lanes=1)
    g = WindowGeometry(**geo)
    measured, stated = _worst_response(geo, 2)
    assert measured == stated
    # The first pixel's window waits for the hold (17 more beats of A's last window), then
    # every window is 18 beats after the previous one; its last beat 18 cycles after that.
    assert g.out_height * g.out_width == 9
    assert stated == 17 + 8 * 18 + 18


def test_window_reset_mid_image(seed):
    rng = random.Random(seed)
    geo, bits = _geo(HW_CASES[1])
    imgs = [random_image(rng, geo["channels"], geo["height"], geo["width"], bits) for _ in range(3)]
    before = pixel_beats(imgs[:2], bits)
    after = imgs[2:] + imgs[:1]
    expected = packed(window_stream(after, **geo), bits)
    for reset_at in (3, 29, 41):
        log = run_stream(
            make_window(geo, bits),
            before,
            expected=len(expected),
            rng=rng,
            idle=0.2,
            backpressure=0.3,
            reset_at=reset_at,
            after_reset=pixel_beats(after, bits),
        )
        assert compare(log["out"], expected) is None, (reset_at, compare(log["out"], expected))


def test_window_frames_short_and_long(seed):
    """An early ``last`` completes the image with zeros, a long frame is truncated; one
    image's beats per frame, ``frame_error`` is set, and the next frame is exact."""
    rng = random.Random(seed)
    geo, bits = _geo(HW_CASES[0])
    h, w = geo["height"], geo["width"]
    imgs = [random_image(rng, 1, h, w, bits) for _ in range(3)]
    words = [[p for p, _ in pixel_beats([img], bits)] for img in imgs]
    frames = [words[0][:7], words[1] + words[0][:5], words[2]]
    beats = [(p, k == len(f) - 1) for f in frames for k, p in enumerate(f)]
    got_images, errors, rest = frame_images(
        [p for p, _ in beats], [x for _, x in beats], height=h, width=w
    )
    assert errors == [True, True, False] and rest == []
    as_codes = [[[[p for p in img[y * w : (y + 1) * w]] for y in range(h)]] for img in got_images]
    expected = packed(window_stream(as_codes, **geo), bits)
    log = run_stream(
        make_window(geo, bits), beats, expected=len(expected), rng=rng, idle=0.2, backpressure=0.2
    )
    assert compare(log["out"], expected) is None, compare(log["out"], expected)
    assert log["frame_error"] == 1
    assert len(log["in_cycles"]) == len(beats)


def random_frames(rng, words, n):
    """Frames of random lengths (exact, short, long) cut from the pixel words ``words``."""
    frames, pos = [], 0
    while pos < len(words):
        short = rng.randint(1, n - 1) if n > 1 else 1
        length = rng.choice([n, n, short, rng.randint(n + 1, 2 * n)])
        frames.append(words[pos : pos + length])
        pos += length
    return [(p, k == len(f) - 1) for f in frames for k, p in enumerate(f)]


def images_of(beats, h, w, channels, bits):
    """The images ``[c][y][x]`` a unit makes of a frame stream (``frame_images``), and
    whether a frame was malformed."""
    got, errors, rest = frame_images(
        [p for p, _ in beats], [x for _, x in beats], height=h, width=w
    )
    assert rest == []
    mask = (1 << bits) - 1
    imgs = [
        [
            [[(img[y * w + x] >> (c * bits)) & mask for x in range(w)] for y in range(h)]
            for c in range(channels)
        ]
        for img in got
    ]
    return imgs, any(errors)


@pytest.mark.parametrize("case", [HW_CASES[1], HW_CASES[2]], ids=["s2t2", "k5p2"])
def test_window_random_frames(case, seed):
    """Random frame lengths, idles and back-pressure: one image's beats per frame, exact."""
    rng = random.Random(seed)
    geo, bits = _geo(case)
    c, h, w = geo["channels"], geo["height"], geo["width"]
    words = [rng.randrange(1 << (c * bits)) for _ in range(4 * h * w)]
    beats = random_frames(rng, words, h * w)
    imgs, error = images_of(beats, h, w, c, bits)
    expected = packed(window_stream(imgs, **geo), bits)
    log = run_stream(
        make_window(geo, bits), beats, expected=len(expected), rng=rng, idle=0.3, backpressure=0.4
    )
    assert compare(log["out"], expected) is None, compare(log["out"], expected)
    assert log["frame_error"] == int(error)


def test_window_slow_producer_and_consumer(seed):
    """Heavy idles and back-pressure (90 % / 80 %): exact, nothing dropped or duplicated."""
    check_window(HW_CASES[7], random.Random(seed), images=2, idle=0.9, backpressure=0.8)
    check_window(HW_CASES[4], random.Random(seed + 1), images=2, idle=0.0, backpressure=0.9)


def test_sink_check_flags_a_dropped_valid_and_a_changed_payload():
    check_hold(None, False, 1, 0, "o.valid", "o.payload")  # nothing was held
    check_hold(5, True, 5, 3, "o.valid", "o.payload")
    with pytest.raises(AssertionError, match=r"o\.valid dropped without a transfer at cycle 3"):
        check_hold(5, False, 5, 3, "o.valid", "o.payload")
    with pytest.raises(AssertionError, match=r"o\.payload changed without a transfer at cycle 3"):
        check_hold(5, True, 6, 3, "o.valid", "o.payload")


def test_checker_reports_a_wrong_golden(seed):
    """The comparison finds a deliberately wrong golden value, a missing and an extra beat."""
    rng = random.Random(seed)
    geo, bits = _geo(HW_CASES[4])
    imgs = [random_image(rng, geo["channels"], geo["height"], geo["width"], bits)]
    expected = packed(window_stream(imgs, **geo), bits)
    log = run_stream(
        make_window(geo, bits), pixel_beats(imgs, bits), expected=len(expected), rng=rng
    )
    assert compare(log["out"], expected) is None
    wrong = list(expected)
    wrong[5] = (wrong[5][0] ^ 1, wrong[5][1])
    assert compare(log["out"], wrong) == f"beat 5: got {expected[5]}, expected {wrong[5]}"
    assert (
        compare(log["out"], expected[:-1])
        == f"{len(expected)} beats out, {len(expected) - 1} expected"
    )
    assert compare(log["out"][:-1], expected) is not None
    assert unpack_codes(expected[0][0], geo["lanes"], bits) == window_beats(imgs[0], **geo)[0][0]


class WindowLayer(wiring.Component):
    """A window unit feeding a layer engine (``o`` is the engine's output)."""

    def __init__(self, window, engine):
        self._window, self._engine = window, engine
        super().__init__(
            {
                "s": In(stream.Signature(pixel_layout(window.pixel_bits))),
                "o": Out(engine.signature.members["o"].signature),
                "frame_error": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.window, m.submodules.engine = self._window, self._engine
        wiring.connect(m, wiring.flipped(self.s), self._window.s)
        wiring.connect(m, self._window.o, self._engine.i)
        wiring.connect(m, self._engine.o, wiring.flipped(self.o))
        m.d.comb += self.frame_error.eq(self._window.frame_error)
        return m


@pytest.mark.parametrize(
    ("c", "h", "w", "k", "s", "p", "lanes", "pes", "out_ch"),
    [(2, 5, 4, 3, 1, 1, 5, 2, 3), (1, 6, 5, 5, 2, 2, 9, 4, 4)],
    ids=["k3-tiles2", "k5s2"],
)
def test_window_feeds_layer_engine(c, h, w, k, s, p, lanes, pes, out_ch, seed):
    """Pixels -> window unit -> layer engine gives the engine outputs of the host-side
    stream (``MappedLayer.stream`` run through the golden layer engine), two images back
    to back with idles and back-pressure."""
    rng = random.Random(seed)
    bits = 4
    gen = torch.Generator().manual_seed(seed)
    mapped = map_layer(
        conv_spec(gen, c, out_ch, (k, k), s, p, "log", False, bits), lanes=lanes, pes=pes
    )
    x = torch.randint(0, 16, (2, c, h, w), generator=gen)
    acts, last, _ = mapped.stream(x)
    words = pack_outputs(mapped.config, mapped.layer.run(acts, last))
    expected = list(zip(words, output_tlast(mapped.config, len(words)), strict=True))
    window = SlidingWindow(
        channels=c, height=h, width=w, kernel=k, stride=s, padding=p, lanes=lanes,
        tiles=mapped.tiles, bits=bits,
    )  # fmt: skip
    dut = WindowLayer(window, LogLayerEngine(layer=mapped.layer))
    beats = pixel_beats(x.tolist(), bits)
    log = run_stream(dut, beats, expected=len(expected), rng=rng, idle=0.2, backpressure=0.3)
    assert compare(log["out"], expected) is None, compare(log["out"], expected)
    assert log["frame_error"] == 0


@pytest.mark.parametrize(
    "params",
    [
        dict(channels=2, height=5, width=6, kernel=3, stride=2, padding=1, lanes=5, tiles=2),
        dict(channels=1, height=2, width=1, kernel=3, stride=2, padding=1, lanes=9),
        dict(channels=1, height=1, width=1, kernel=1, lanes=1),
    ],
    ids=["k3s2p1", "width1", "one-pixel"],
)
def test_window_verilog_builds(params, tmp_path):
    """The generated Verilog builds with Icarus and lints clean with Verilator, also for
    the degenerate sizes (one-word line buffer, single-value counters)."""
    text = verilog.convert(SlidingWindow(**params, bits=4), name="sliding_window", emit_src=False)
    path = tmp_path / "sliding_window.v"
    path.write_text(text)
    assert "module sliding_window" in text
    iverilog_check(path)
    verilator_lint(path)
