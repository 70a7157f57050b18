"""The stream view of the network accelerator: pixel beats, output words with sign extension,
the framing rules (short, long, back-to-back and unfinished frames) and the whole accelerator
on a stream of beats (one output beat per frame, sticky ``frame_error``).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from logdot.golden.network import network_forward
from logdot.golden.network_stream import (
    Beat,
    frames_from_stream,
    image_from_pixels,
    input_bits,
    output_beat,
    output_bits,
    output_values,
    pixel_stream,
    stream_forward,
)
from logdot.golden.network_torch import export_network
from logdot.golden.nn import quantize_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- the stream view --------------------------------------------------------------------------


def _stream_net(act_signed=False, act_format="log2"):
    q = quantize_model(
        nn.Sequential(
            nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3)
        ),
        weight_format="log2",
        weight_bits=4,
        act_format=act_format,
        act_bits=5,
        act_signed=act_signed,
        calib_data=torch.rand(8, 3, 4, 4) * (2 if act_signed else 1) - (1 if act_signed else 0),
    )
    return export_network(q, (3, 4, 4))


@pytest.mark.parametrize("act", [("log2", False), ("linear", True), ("log2", True)])
def test_pixel_stream_layout_and_round_trip(act, seed):
    net = _stream_net(act_signed=act[1], act_format=act[0])
    fmt = net.input_format
    lo, hi = fmt.range
    img = torch.randint(lo, hi + 1, (3, 4, 4))
    beats = pixel_stream(net, img)
    assert len(beats) == 16 and [b.last for b in beats] == [False] * 15 + [True]
    a = fmt.bits
    assert input_bits(net) == (3 * a, 16)
    for i, b in enumerate(beats):
        y, x = divmod(i, 4)
        for c in range(3):
            assert (b.data >> (c * a)) & ((1 << a) - 1) == int(img[c, y, x]) & ((1 << a) - 1)
        assert b.data >> (3 * a) == 0
    assert torch.equal(image_from_pixels(net, [b.data for b in beats]), img)


def test_output_beat_sign_extension_and_round_trip(seed):
    net = _stream_net()
    fmt = net.output_format
    o = fmt.bits
    used, width = output_bits(net)
    assert fmt.kind == "linear" and fmt.signed and used == 3 * o and width == -(-used // 8) * 8
    lo, hi = fmt.range
    for vals in ([1, -2, 3], [5, 6, -1], [lo, hi, 0], [0, 0, lo], [hi, lo, hi]):
        t = torch.tensor(vals)
        word = output_beat(net, t)
        assert 0 <= word < 1 << width
        for k, v in enumerate(vals):
            assert (word >> (k * o)) & ((1 << o) - 1) == v & ((1 << o) - 1)
        assert word >> used == ((1 << (width - used)) - 1 if vals[-1] < 0 else 0)
        # Read as a whole-byte two's-complement number, the word has the last value's sign.
        assert (word >> (width - 1)) == (1 if vals[-1] < 0 else 0)
        assert torch.equal(output_values(net, word), t)
    if width > used:
        with pytest.raises(ValueError, match="not a sign extension"):
            output_values(net, 1 << used)
    with pytest.raises(ValueError, match=r"outputs must be in"):
        output_beat(net, torch.tensor([hi + 1, 0, 0]))


def test_frames_from_stream_rules():
    b = [Beat(10 + i, False) for i in range(6)]
    last = lambda v: Beat(v, True)  # noqa: E731
    # Exact frames back to back.
    fr = frames_from_stream([*b[:3], last(13), *b[:3], last(14)], 2, 2)
    assert fr == [((10, 11, 12, 13), False), ((10, 11, 12, 14), False)]
    # A short frame is completed with zeros; the next is exact again.
    fr = frames_from_stream([b[0], last(7), *b[:3], last(13)], 2, 2)
    assert fr == [((10, 7, 0, 0), True), ((10, 11, 12, 13), False)]
    # A lone tlast is a frame of zeros.
    assert frames_from_stream([last(5)], 1, 3) == [((5, 0, 0), True)]
    # A long frame is truncated at H x W and the rest dropped up to its tlast.
    fr = frames_from_stream([*b[:6], last(99), *b[:3], last(13)], 2, 2)
    assert fr == [((10, 11, 12, 13), True), ((10, 11, 12, 13), False)]
    # One extra pixel carrying the tlast.
    fr = frames_from_stream([*b[:4], last(99), last(1)], 2, 2)
    assert fr == [((10, 11, 12, 13), True), ((1, 0, 0, 0), True)]
    # Unfinished frames at the end produce nothing yet.
    assert frames_from_stream(b[:3], 2, 2) == []
    assert frames_from_stream(b[:5], 2, 2) == [((10, 11, 12, 13), True)]
    assert frames_from_stream([(1, 0), (2, 1)], 1, 2) == [((1, 2), False)]
    with pytest.raises(ValueError, match="h must be a positive integer"):
        frames_from_stream([], 0, 2)


def test_stream_forward_one_output_per_frame(seed):
    net = _stream_net()
    lo, hi = net.input_format.range
    imgs = torch.randint(lo, hi + 1, (3, 3, 4, 4))
    gold = network_forward(net, imgs)
    s0, s1, s2 = (pixel_stream(net, im) for im in imgs)
    res = stream_forward(net, [*s0, *s1])
    assert res.outputs == [output_beat(net, gold[0]), output_beat(net, gold[1])]
    assert res.errors == [False, False] and not res.frame_error
    # Short frame (its first 5 pixels), long frame (s1 plus 3 extra pixels), then s2 exact.
    short = [*s0[:4], Beat(s0[4].data, True)]
    long_ = [*s1[:-1], Beat(s1[-1].data, False), *s2[:2], Beat(0, True)]
    res = stream_forward(net, [*short, *long_, *s2])
    padded = imgs[0].clone().permute(1, 2, 0).reshape(16, 3)
    padded[5:] = 0
    padded = padded.reshape(4, 4, 3).permute(2, 0, 1)
    assert res.outputs == [
        output_beat(net, network_forward(net, padded)),
        output_beat(net, gold[1]),
        output_beat(net, gold[2]),
    ]
    assert res.errors == [True, True, False] and res.frame_error
    assert stream_forward(net, []) == ([], [], False)
