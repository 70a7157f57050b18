"""Tests of max pooling: the golden model against PyTorch on decoded values, and the hardware
(Amaranth simulation) against the golden model under random idles and back-pressure, reset,
malformed frames, the cycle model, and Verilog that Icarus builds."""

from __future__ import annotations

import random

import pytest
import torch
from amaranth.back import verilog
from torch.nn import functional as F

from logdot.golden.window import frame_images, maxpool_codes, pack_pixel, pool_key
from logdot.hdl.pool import MaxPool, pool_cycles, pool_latency
from logdot.tools.lint import iverilog_check, verilator_lint
from tests.hdl.test_window import images_of, pixel_beats, random_frames, random_image
from tests.support.stream import compare, run_stream

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

FORMATS = [("log", False), ("log", True), ("linear", True), ("linear", False)]


def keys(img, bits, fmt, signed):
    return torch.tensor(
        [
            [[pool_key(v, bits=bits, act_format=fmt, signed=signed) for v in row] for row in ch]
            for ch in img
        ],
        dtype=torch.float64,
    )


@pytest.mark.parametrize(("fmt", "signed"), FORMATS)
@pytest.mark.parametrize(
    ("h", "w", "k"),
    [(4, 4, 2), (5, 7, 2), (6, 6, 3), (3, 5, 1), (7, 3, 3), (5, 7, (2, 3)), (4, 5, (3, 1))],
)
def test_maxpool_golden_is_max_of_values(fmt, signed, h, w, k, seed):
    rng = random.Random(seed)
    bits = 4
    img = random_image(rng, 3, h, w, bits)
    out = maxpool_codes(
        img, channels=3, height=h, width=w, kernel=k, bits=bits, act_format=fmt, signed=signed
    )
    ref = F.max_pool2d(keys(img, bits, fmt, signed).unsqueeze(0), k).squeeze(0)
    assert torch.equal(keys(out, bits, fmt, signed), ref)
    kh, kw = (k, k) if isinstance(k, int) else k
    assert len(out[0]) == h // kh and len(out[0][0]) == w // kw


def test_pool_key_order_and_ties():
    # Signed log: sign above a magnitude code; -0 and +0 are both zero.
    assert [pool_key(c, bits=4, act_format="log", signed=True) for c in (0b1011, 0b1000, 0, 3)] == [
        -3,
        0,
        0,
        3,
    ]
    assert pool_key(0b1111, bits=4, act_format="linear", signed=True) == -1
    assert pool_key(0b1111, bits=4, act_format="linear", signed=False) == 15
    assert pool_key(0b1111, bits=4, act_format="log", signed=False) == 15
    # Ties keep the first code in raster order.
    img = [[[0b1000, 0], [0b1001, 0b1010]]]
    kw = dict(channels=1, height=2, width=2, kernel=2, bits=4, act_format="log")
    assert maxpool_codes(img, **kw, signed=True) == [[[0b1000]]]
    img = [[[0b1010, 0b1001], [0, 0b1000]]]
    assert maxpool_codes(img, **kw, signed=True) == [[[0]]]
    with pytest.raises(ValueError, match="act_format must be 'log' or 'linear'"):
        pool_key(1, bits=4, act_format="float")


def test_pool_validation():
    with pytest.raises(ValueError, match=r"kernel must be an integer in \[1, 3\], not 4"):
        MaxPool(channels=1, height=3, width=5, kernel=4, bits=4)
    with pytest.raises(ValueError, match=r"bits must be an integer in \[2, 32\], not 1"):
        MaxPool(channels=1, height=3, width=5, kernel=2, bits=1, signed=True)
    with pytest.raises(TypeError, match="signed must be a bool, not 1"):
        MaxPool(channels=1, height=3, width=5, kernel=2, bits=4, signed=1)
    with pytest.raises(ValueError, match="act_format must be 'log' or 'linear', not 'float'"):
        MaxPool(channels=1, height=3, width=5, kernel=2, bits=4, act_format="float")
    p = MaxPool(channels=2, height=5, width=7, kernel=2, bits=4, act_format="linear", signed=True)
    assert (p.out_height, p.out_width, p.line_buffer_words, p.latency) == (2, 3, 3, 1)
    assert (p.channels, p.height, p.width, p.kernel, p.bits, p.act_format, p.signed) == (
        2, 5, 7, 2, 4, "linear", True,
    )  # fmt: skip
    assert p.cycles(3) == pool_cycles(5, 7, 2, 3) == 2 * 35 + 3 * 7 + 5 + pool_latency() + 1


# (channels, h, w, kernel, bits, act_format, signed)
HW_CASES = [
    (1, 4, 4, 2, 4, "log", False),
    (3, 5, 7, 2, 4, "log", True),  # trailing row and column dropped
    (2, 6, 6, 3, 5, "linear", True),
    (2, 3, 5, 1, 3, "linear", False),  # kernel 1
    (1, 6, 3, 3, 4, "log", True),  # one output column
    (2, 5, 7, (2, 3), 4, "log", False),  # non-square kernel, row and column dropped
    (1, 4, 6, (1, 2), 4, "linear", True),  # one row, no line buffer
    (1, 7, 4, (3, 1), 3, "log", True),  # one column per window, last row dropped
]
FULL_CASES = [
    (c, h, w, k, 4, fmt, signed)
    for c in (1, 3)
    for k in (1, 2, 3)
    for (h, w) in ((k, k), (2 * k + 1, 3 * k))
    for fmt, signed in FORMATS
]


def pooled_beats(images, case):
    c, h, w, k, bits, fmt, signed = case
    out = []
    for img in images:
        p = maxpool_codes(
            img, channels=c, height=h, width=w, kernel=k, bits=bits, act_format=fmt, signed=signed
        )
        out.extend(pixel_beats([p], bits))
    return out


def make_pool(case):
    c, h, w, k, bits, fmt, signed = case
    return MaxPool(
        channels=c, height=h, width=w, kernel=k, bits=bits, act_format=fmt, signed=signed
    )


def check_pool(case, rng, *, images=3, idle=0.3, backpressure=0.3):
    c, h, w, _, bits, _, _ = case
    imgs = [random_image(rng, c, h, w, bits) for _ in range(images)]
    expected = pooled_beats(imgs, case)
    log = run_stream(
        make_pool(case),
        pixel_beats(imgs, bits),
        expected=len(expected),
        rng=rng,
        idle=idle,
        backpressure=backpressure,
    )
    assert len(log["in_cycles"]) == images * h * w
    assert compare(log["out"], expected) is None, compare(log["out"], expected)
    assert log["frame_error"] == 0
    return log


@pytest.mark.parametrize("case", HW_CASES, ids=lambda c: "-".join(map(str, c)))
def test_pool_hw(case, seed):
    check_pool(case, random.Random(seed))


@pytest.mark.full
@pytest.mark.parametrize("case", FULL_CASES, ids=lambda c: "-".join(map(str, c)))
def test_pool_hw_full(case, seed):
    check_pool(case, random.Random(seed), images=2)


@pytest.mark.parametrize("case", [HW_CASES[1], HW_CASES[2], HW_CASES[5]], ids=["k2", "k3", "k2x3"])
def test_pool_cycles_match_model(case, seed):
    _, h, w, k, *_ = case
    for images in (1, 4):
        log = check_pool(case, random.Random(seed), images=images, idle=0.0, backpressure=0.0)
        assert log["cycles"] == pool_cycles(h, w, k, images)
        assert log["in_cycles"] == list(range(images * h * w))  # one pixel per cycle, no gap


def test_pool_reset_mid_image(seed):
    rng = random.Random(seed)
    case = HW_CASES[1]
    c, h, w, _, bits, _, _ = case
    imgs = [random_image(rng, c, h, w, bits) for _ in range(3)]
    expected = pooled_beats(imgs[1:], case)
    for reset_at in (2, 40, 51):
        log = run_stream(
            make_pool(case),
            pixel_beats(imgs[:2], bits),
            expected=len(expected),
            rng=rng,
            idle=0.2,
            backpressure=0.3,
            reset_at=reset_at,
            after_reset=pixel_beats(imgs[1:], bits),
        )
        assert compare(log["out"], expected) is None, (reset_at, compare(log["out"], expected))


def test_pool_frames_short_and_long_and_wrong_golden(seed):
    rng = random.Random(seed)
    case = (2, 4, 6, 2, 4, "log", True)
    c, h, w, _, bits, _, _ = case
    imgs = [random_image(rng, c, h, w, bits) for _ in range(3)]
    words = [[p for p, _ in pixel_beats([img], bits)] for img in imgs]
    frames = [words[0] + words[1][:3], words[1][:10], words[2]]
    beats = [(p, n == len(f) - 1) for f in frames for n, p in enumerate(f)]
    got, errors, _ = frame_images([p for p, _ in beats], [x for _, x in beats], height=h, width=w)
    assert errors == [True, True, False]
    mask = (1 << bits) - 1
    as_codes = [
        [
            [[(img[y * w + x] >> (ch * bits)) & mask for x in range(w)] for y in range(h)]
            for ch in range(c)
        ]
        for img in got
    ]
    expected = pooled_beats(as_codes, case)
    log = run_stream(
        make_pool(case), beats, expected=len(expected), rng=rng, idle=0.2, backpressure=0.2
    )
    assert compare(log["out"], expected) is None, compare(log["out"], expected)
    assert log["frame_error"] == 1
    wrong = list(expected)
    wrong[-1] = (wrong[-1][0] ^ (1 << bits), True)
    assert (
        compare(log["out"], wrong)
        == f"beat {len(wrong) - 1}: got {expected[-1]}, expected {wrong[-1]}"
    )
    assert pack_pixel([1, 2], bits) == 1 | 2 << bits


@pytest.mark.parametrize("case", [HW_CASES[1], HW_CASES[3]], ids=["k2", "k1"])
def test_pool_random_frames(case, seed):
    """Random frame lengths, idles and back-pressure: one pooled image per frame, exact."""
    rng = random.Random(seed)
    c, h, w, _, bits, _, _ = case
    words = [rng.randrange(1 << (c * bits)) for _ in range(4 * h * w)]
    beats = random_frames(rng, words, h * w)
    imgs, error = images_of(beats, h, w, c, bits)
    expected = pooled_beats(imgs, case)
    log = run_stream(
        make_pool(case), beats, expected=len(expected), rng=rng, idle=0.3, backpressure=0.4
    )
    assert compare(log["out"], expected) is None, compare(log["out"], expected)
    assert log["frame_error"] == int(error)


def test_pool_slow_producer_and_consumer(seed):
    """Heavy idles and back-pressure (90 % / 80 %): exact, nothing dropped or duplicated."""
    check_pool(HW_CASES[2], random.Random(seed), images=2, idle=0.9, backpressure=0.8)


@pytest.mark.parametrize(
    "params",
    [
        dict(channels=2, height=5, width=7, kernel=2, bits=4, act_format="log", signed=True),
        dict(channels=1, height=3, width=4, kernel=3, bits=4, act_format="linear", signed=True),
        dict(channels=1, height=1, width=1, kernel=1, bits=2),
    ],
    ids=["k2", "one-column", "one-pixel"],
)
def test_pool_verilog_builds(params, tmp_path):
    path = tmp_path / "max_pool.v"
    path.write_text(verilog.convert(MaxPool(**params), name="max_pool", emit_src=False))
    iverilog_check(path)
    verilator_lint(path)
