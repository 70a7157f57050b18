"""The byte protocol of the board top (``logdot board``): image bytes in, class and logits out.

A board top (:class:`logdot.hdl.board.BoardTop`) puts a compiled network behind a UART
(8 data bits, no parity, 1 stop bit, least significant bit first). This module is the golden
model of what goes over the wire, in plain Python:

* **Request** (host to board): one image is ``H * W * P`` bytes, ``P`` the bytes of one input
  pixel word (:func:`logdot.golden.network_stream.input_bits`): the pixel words of
  :func:`logdot.golden.network_stream.pixel_words` in raster order, each least significant
  byte first (channel ``c`` at bits ``[c*A +: A]`` of the word, zero above). There is no
  header: the board counts bytes (:func:`request_bytes`).
* **Framing**: a request ends after its ``H * W * P``-th byte. When the line is idle for
  ``timeout`` clock cycles in the middle of a request, the board ends the request there: the
  missing bytes are zeros (the missing pixels zero pixels) and the response has
  :data:`STATUS_SHORT` set (:func:`complete_request`). So a lost byte costs one image, never
  the alignment of the following ones. A byte with a bad stop bit is dropped and sets
  :data:`STATUS_FRAMING` (the request is then short by that byte); a byte that arrives
  while the board cannot take it is dropped and sets :data:`STATUS_OVERRUN`. Bytes between
  requests are never lost at or below the documented baud rate.
* **Response** (board to host): ``2 + Q`` bytes per request, ``Q`` the bytes of the output
  word (:func:`logdot.golden.network_stream.output_bits`): the status byte
  (:data:`STATUS_MARKER` in its top four bits, the flags in its low ones), the class (the
  index of the largest output, the first one on ties:
  :func:`logdot.golden.network_torch.predict_outputs`), then the output word of
  :func:`logdot.golden.network_stream.output_beat`, least significant byte first (value ``k``
  at bits ``[k*O +: O]``: the logits) (:func:`response_bytes`, :func:`parse_response`).

Public API
----------
request_bytes, complete_request
    The bytes of an image; a received (possibly short) request as the board completes it.
response_bytes, parse_response, Response
    The bytes the board answers with, and back.
board_forward
    The whole board: the bytes of one request to the bytes of its response.
request_length, response_length, request_cycles
    Bytes per request and per response; clock cycles of a request on the line.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .network import Network
from .network_stream import (
    image_from_pixels,
    input_bits,
    output_beat,
    output_bits,
    output_values,
    pixel_words,
)

__all__ = [
    "STATUS_FLAGS",
    "STATUS_FRAMING",
    "STATUS_MARKER",
    "STATUS_OVERRUN",
    "STATUS_SHORT",
    "Response",
    "board_forward",
    "complete_request",
    "parse_response",
    "pixel_bytes",
    "request_bytes",
    "request_cycles",
    "request_length",
    "response_bytes",
    "response_length",
]

#: The top four bits of every status byte (a response starts with ``0xA_``).
STATUS_MARKER = 0xA0
#: The request ended by the idle timeout before its last byte (zeros completed it).
STATUS_SHORT = 0x01
#: A byte of the request had a bad stop bit and was dropped.
STATUS_FRAMING = 0x02
#: A byte arrived while the board could not take it and was dropped.
STATUS_OVERRUN = 0x04
#: Every flag bit.
STATUS_FLAGS = STATUS_SHORT | STATUS_FRAMING | STATUS_OVERRUN


class Response(NamedTuple):
    """A parsed response: the status flags, the class and the outputs (``output_shape``)."""

    status: int
    label: int
    outputs: torch.Tensor


def _check_net(net):
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, not {type(net).__name__}")


def pixel_bytes(net):
    """Bytes of one input pixel word (``P``)."""
    return input_bits(net)[1] // 8


def request_length(net):
    """Bytes of one request: ``H * W * P``."""
    _, h, w = net.input_shape
    return h * w * pixel_bytes(net)


def request_cycles(net, divisor):
    """Clock cycles one request takes on the line at ``divisor`` cycles per bit (start bit,
    8 data bits, stop bit per byte)."""
    return request_length(net) * 10 * int(divisor)


def response_length(net):
    """Bytes of one response: the status byte, the class byte and the output word."""
    return 2 + output_bits(net)[1] // 8


def request_bytes(net, image):
    """The request of one image of input codes (``input_shape``)."""
    p = pixel_bytes(net)
    return b"".join(int(v).to_bytes(p, "little") for v in pixel_words(net, image))


def complete_request(net, data):
    """``(image codes, status)`` of the request bytes ``data`` as the board completes it.

    At most :func:`request_length` bytes; fewer (the idle timeout ended the request) are
    completed with zero bytes and give :data:`STATUS_SHORT`.
    """
    _check_net(net)
    data = bytes(data)
    n = request_length(net)
    if len(data) > n:
        raise ValueError(f"a request has at most {n} bytes, not {len(data)}")
    status = STATUS_SHORT if len(data) < n else 0
    data = data + bytes(n - len(data))
    p = pixel_bytes(net)
    words = [int.from_bytes(data[i : i + p], "little") for i in range(0, n, p)]
    return image_from_pixels(net, words), status


def _label(net, outputs):
    from .network_torch import predict_outputs

    return int(predict_outputs(net, torch.as_tensor(outputs).unsqueeze(0))[0])


def response_bytes(net, outputs, *, status=0):
    """The response to an image whose network outputs are ``outputs`` (``output_shape``)."""
    _check_net(net)
    if status & ~STATUS_FLAGS:
        raise ValueError(f"status must be a combination of the flag bits, not {status:#x}")
    q = output_bits(net)[1] // 8
    word = output_beat(net, outputs)
    return bytes([STATUS_MARKER | status, _label(net, outputs)]) + word.to_bytes(q, "little")


def parse_response(net, data):
    """The :class:`Response` of the response bytes ``data``; ``ValueError`` when they are not
    one (wrong length, no marker, a class that is not the largest output)."""
    _check_net(net)
    data = bytes(data)
    if len(data) != response_length(net):
        raise ValueError(f"a response has {response_length(net)} bytes, not {len(data)}")
    if data[0] & ~STATUS_FLAGS != STATUS_MARKER:
        raise ValueError(f"the status byte {data[0]:#04x} has not the marker {STATUS_MARKER:#x}")
    outputs = output_values(net, int.from_bytes(data[2:], "little"))
    label = _label(net, outputs)
    if data[1] != label:
        raise ValueError(f"the class byte is {data[1]}, but the largest output is {label}")
    return Response(data[0] & STATUS_FLAGS, label, outputs)


def board_forward(net, data, *, fold=None):
    """The response bytes of the board to one request ``data`` (:func:`complete_request`)."""
    from .network import network_forward

    image, status = complete_request(net, data)
    outputs = network_forward(net, image.unsqueeze(0), fold=fold)[0]
    return response_bytes(net, outputs, status=status)
