"""The stream-level view of the network accelerator: pixel beats in, one output beat per frame.

This is the top-level contract of a compiled network (bit for bit what the hardware's AXI4-Stream
ports carry), modelled in plain Python on top of :func:`logdot.golden.network.network_forward`:

* input ``s_axis``: one beat per pixel, in raster order (row by row, left to right); the beat
  holds the input codes of every channel, channel ``c`` at bits ``[c*A +: A]`` (``A`` the input
  format's width; two's complement for signed linear inputs), zero padding up to whole bytes;
  ``tlast`` on the last pixel of each image (:func:`pixel_stream`);
* output ``m_axis``: one beat per image with the last layer's integer outputs, value ``k`` (in
  C, H, W order when the output is a feature map) at bits ``[k*O +: O]`` (``O`` the output
  format's width), two's complement, the bits above the last value sign-extending it up to
  whole bytes, ``tlast = 1`` (:func:`output_beat`);
* framing (:func:`frames_from_stream`): every frame gives exactly one output beat. A frame of
  exactly ``H x W`` pixels (``tlast`` on pixel ``H*W``) gives the exact result. A frame whose
  ``tlast`` comes early is completed with zero pixels (code 0, the value 0 in every format);
  one that runs long is truncated at ``H x W`` pixels and the rest, up to and including its
  ``tlast``, is dropped. Both set the sticky ``frame_error``; the next frame is exact again.

Public API
----------
Beat, Frame, StreamResult
    One stream beat ``(data, last)``; one frame as the hardware sees it; the model's output.
pixel_words, pixel_stream, image_from_pixels
    An image of codes to pixel words / beats, and back.
output_beat, output_values
    The output word of one image's outputs, and back.
frames_from_stream
    What the hardware makes of an arbitrary input beat stream.
stream_forward
    The whole accelerator: input beats to output beats and ``frame_error``.
input_bits, output_bits
    Used bits and byte-padded widths of the two stream words.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .network import Network, check_codes, network_forward

__all__ = [
    "Beat",
    "Frame",
    "StreamResult",
    "frames_from_stream",
    "image_from_pixels",
    "input_bits",
    "output_beat",
    "output_bits",
    "output_values",
    "pixel_stream",
    "pixel_words",
    "stream_forward",
]


class Beat(NamedTuple):
    """One AXI4-Stream beat: ``tdata`` as an integer and ``tlast``."""

    data: int
    last: bool


class Frame(NamedTuple):
    """One frame as the hardware takes it: exactly ``H * W`` pixel words, and whether it was
    malformed (``tlast`` early or late: ``frame_error``)."""

    pixels: tuple
    error: bool


class StreamResult(NamedTuple):
    """Output of :func:`stream_forward`: one output word per frame, each frame's error flag,
    and the sticky ``frame_error`` after the stream."""

    outputs: list
    errors: list
    frame_error: bool


def _bytes(bits):
    return -(-bits // 8) * 8


def _check_net(net):
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, not {type(net).__name__}")


def input_bits(net):
    """``(used, width)`` of an input beat: ``C * A`` bits, and that rounded up to bytes."""
    _check_net(net)
    used = net.input_shape[0] * net.input_format.bits
    return used, _bytes(used)


def output_bits(net):
    """``(used, width)`` of an output beat: ``K * O`` bits (``K`` outputs per image), and that
    rounded up to bytes."""
    _check_net(net)
    k = 1
    for d in net.output_shape:
        k *= d
    used = k * net.output_format.bits
    return used, _bytes(used)


def pixel_words(net, image):
    """The ``s_axis_tdata`` words of one image of input codes ``(C, H, W)``, raster order."""
    _check_net(net)
    fmt = net.input_format
    x = check_codes(torch.as_tensor(image).unsqueeze(0), fmt, net.input_shape, "image")[0]
    a = fmt.bits
    c, h, w = x.shape
    fields = (x & ((1 << a) - 1)).permute(1, 2, 0).reshape(h * w, c).tolist()
    words = []
    for row in fields:
        word = 0
        for ch, v in enumerate(row):
            word |= v << (ch * a)
        words.append(word)
    return words


def pixel_stream(net, image):
    """The input beats of one image: one :class:`Beat` per pixel, ``tlast`` on the last."""
    words = pixel_words(net, image)
    return [Beat(v, i == len(words) - 1) for i, v in enumerate(words)]


def image_from_pixels(net, words):
    """Input codes ``(C, H, W)`` (int64) of ``H * W`` pixel words (inverse of
    :func:`pixel_words`; bits above ``C * A`` are ignored, as the hardware ignores them)."""
    _check_net(net)
    c, h, w = net.input_shape
    words = list(words)
    if len(words) != h * w:
        raise ValueError(f"an image needs {h * w} pixel words, not {len(words)}")
    fmt = net.input_format
    a = fmt.bits
    rows = [[fmt.from_word(int(v) >> (ch * a)) for ch in range(c)] for v in words]
    return torch.tensor(rows, dtype=torch.int64).reshape(h, w, c).permute(2, 0, 1).contiguous()


def output_beat(net, outputs):
    """The ``m_axis_tdata`` word of one image's outputs (shape ``output_shape``).

    Value ``k`` of the flattened outputs at ``[k*O +: O]`` (two's complement); the bits from
    ``K*O`` up to the byte boundary repeat the sign of the last value (sign extension), so the
    word read as a whole-byte integer has the last value's sign.
    """
    _check_net(net)
    fmt = net.output_format
    o = check_codes(torch.as_tensor(outputs).unsqueeze(0), fmt, net.output_shape, "outputs")
    vals = o.reshape(-1).tolist()
    ob = fmt.bits
    used, width = output_bits(net)
    word = 0
    for k, v in enumerate(vals):
        word |= fmt.to_word(v) << (k * ob)
    if fmt.kind == "linear" and fmt.signed and vals and vals[-1] < 0:
        word |= ((1 << (width - used)) - 1) << used
    return word


def output_values(net, word):
    """The outputs (int64, ``output_shape``) of an output word (inverse of
    :func:`output_beat`); ``ValueError`` when the padding bits are not the sign extension."""
    _check_net(net)
    fmt = net.output_format
    used, width = output_bits(net)
    word = int(word)
    if word < 0 or word >> width:
        raise ValueError(f"an output word has {width} bits, not {word.bit_length()}")
    n = used // fmt.bits
    vals = [fmt.from_word(word >> (k * fmt.bits)) for k in range(n)]
    pad = word >> used
    neg = fmt.kind == "linear" and fmt.signed and n and vals[-1] < 0
    if pad != (((1 << (width - used)) - 1) if neg else 0):
        raise ValueError(f"the padding bits {pad:#x} above bit {used} are not a sign extension")
    return torch.tensor(vals, dtype=torch.int64).reshape(net.output_shape)


def frames_from_stream(beats, h, w):
    """The frames the hardware takes from a stream of input beats (the framing rules).

    Parameters
    ----------
    beats : iterable of Beat or (data, last)
    h, w : int
        The image size.

    Returns
    -------
    list of Frame
        Every completed frame, in order: ``H * W`` pixel words each. A frame is complete at its
        ``H * W``-th pixel (``error`` unless that pixel has ``tlast``; the beats after it up
        to and including the next ``tlast`` are dropped) or at an early ``tlast`` (completed
        with zero words, ``error``). Beats at the end of the stream that complete no frame
        (fewer than ``H * W`` pixels and no ``tlast`` yet, or dropped beats still waiting for
        their ``tlast``) give no frame: the hardware is still waiting for them.
    """
    for v, name in ((h, "h"), (w, "w")):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, not {v!r}")
    size = h * w
    frames, cur, dropping = [], [], False
    for beat in beats:
        data, last = beat
        if dropping:
            dropping = not last
            continue
        cur.append(int(data))
        if len(cur) == size:
            frames.append(Frame(tuple(cur), not last))
            cur, dropping = [], not last
        elif last:
            frames.append(Frame(tuple(cur + [0] * (size - len(cur))), True))
            cur = []
    return frames


def stream_forward(net, beats, *, fold=None):
    """The whole accelerator on a stream of input beats: one output word per frame.

    Frames as :func:`frames_from_stream` takes them; each frame's pixels unpacked
    (:func:`image_from_pixels`), run through :func:`network_forward` and packed
    (:func:`output_beat`). ``frame_error`` is sticky: set by the first malformed frame.
    """
    _check_net(net)
    _, h, w = net.input_shape
    frames = frames_from_stream(beats, h, w)
    if not frames:
        return StreamResult([], [], False)
    images = torch.stack([image_from_pixels(net, f.pixels) for f in frames])
    outs = network_forward(net, images, fold=fold)
    words = [output_beat(net, o) for o in outs]
    errors = [f.error for f in frames]
    return StreamResult(words, errors, any(errors))
