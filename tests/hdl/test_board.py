"""The whole board top (UART, request packer, network, class and response) in Amaranth's
simulator: bytes in at the bit level, the golden response bytes out
(:func:`logdot.golden.board_protocol.board_forward`), byte for byte.

A small network with two-byte input pixels (3 channels of 4-bit codes) and signed linear
outputs; back-to-back requests, a short request ended by the idle timeout, a byte with a bad
stop bit, and two mutants (input bytes in the wrong order, the output word big-endian) that
must fail. ``-m full`` adds one real MNIST image through the MNIST network file of
``examples/mnist_network.py``.
"""

from __future__ import annotations

import pytest
import torch

import logdot.hdl.board as board
from logdot.golden.board_protocol import (
    STATUS_FRAMING,
    STATUS_SHORT,
    board_forward,
    complete_request,
    parse_response,
    request_bytes,
    request_length,
    response_bytes,
    response_length,
)
from logdot.golden.network import network_forward
from logdot.hdl.board import BoardTop, RequestPacker, ResponseFormatter
from tests.support.networks import board_net, random_images
from tests.support.uart import run_uart, uart_line

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DIVISOR = 4
FOLD = {0: (9, 2), 3: (4, 2)}
TIMEOUT = 30 * DIVISOR


@pytest.fixture(scope="module")
def net():
    return board_net()


def run_board(net, data, *, expect, gaps=None, bad_stop=(), top=None):
    """The response bytes of the board top to the request bytes ``data``."""
    top = top or BoardTop(net, fold=FOLD, divisor=DIVISOR, timeout=TIMEOUT)
    line = uart_line(data, DIVISOR, gaps=gaps, bad_stop=bad_stop)
    limit = len(line) + 40 * TIMEOUT + expect * 12 * DIVISOR + 4000
    mon = run_uart(top, line, DIVISOR, expect=expect, limit=limit)
    assert mon.errors == [], f"bytes {mon.errors} of the response have a bad stop bit"
    return bytes(mon.bytes)


def check_responses(net, got, want):
    """Whole responses compared, their count first; names the first bad response."""
    n = response_length(net)
    assert len(got) % n == 0 and len(got) // n == len(want), (
        f"{len(got)} response bytes, expected {len(want)} responses of {n}"
    )
    for k, w in enumerate(want):
        g = got[k * n : (k + 1) * n]
        assert g == w, f"response {k}: board {g.hex()} != golden {w.hex()}"


def test_the_tiny_network_has_multi_byte_pixels(net):
    assert request_length(net) == 4 * 4 * 2  # two bytes per pixel: the byte order matters
    assert response_length(net) > 3


def test_back_to_back_requests_give_the_golden_responses(net, seed):
    images = random_images(net, 3, seed)
    data = b"".join(request_bytes(net, im) for im in images)
    want = [board_forward(net, request_bytes(net, im), fold=FOLD) for im in images]
    got = run_board(net, data, expect=len(want) * response_length(net))
    check_responses(net, got, want)
    outs = network_forward(net, images)
    for k, o in enumerate(outs):  # the class and logits, parsed back
        r = parse_response(net, want[k])
        assert r.status == 0 and torch.equal(r.outputs, o)


def test_a_short_request_ends_at_the_timeout_and_the_next_one_is_exact(net, seed):
    images = random_images(net, 2, seed)
    first = request_bytes(net, images[0])[:13]  # 6.5 pixels: a partial pixel is completed
    second = request_bytes(net, images[1])
    want = [board_forward(net, first, fold=FOLD), board_forward(net, second, fold=FOLD)]
    assert want[0][0] & STATUS_SHORT and not want[1][0] & STATUS_SHORT
    got = run_board(net, first + second, expect=2 * response_length(net),
                    gaps={len(first): 3 * TIMEOUT})  # fmt: skip
    check_responses(net, got, want)


def test_a_byte_with_a_bad_stop_bit_is_dropped_and_flagged(net, seed):
    (image,) = random_images(net, 1, seed)
    data = request_bytes(net, image)
    kept = data[:5] + data[6:]  # byte 5 is dropped: the request is one byte short
    codes, status = complete_request(net, kept)
    assert status == STATUS_SHORT
    want = response_bytes(
        net, network_forward(net, codes.unsqueeze(0))[0], status=STATUS_SHORT | STATUS_FRAMING
    )
    got = run_board(net, data, expect=response_length(net), bad_stop={5})
    check_responses(net, got, [want])


class SwappedPacker(RequestPacker):
    """Mutant: the bytes of a pixel word in the wrong order (most significant first)."""

    def _shift_in(self, word, byte):
        from amaranth.hdl import Cat

        return Cat(byte, word[:-8])


class BigEndianFormatter(ResponseFormatter):
    """Mutant: the output word's bytes sent most significant first."""

    def _response(self, status, label, word):
        from amaranth.hdl import Cat

        return Cat(status, label, *[word[i : i + 8] for i in reversed(range(0, len(word), 8))])


@pytest.mark.parametrize("name,cls", [("RequestPacker", SwappedPacker),
                                      ("ResponseFormatter", BigEndianFormatter)])  # fmt: skip
def test_a_wrong_byte_order_fails(net, seed, monkeypatch, name, cls):
    images = random_images(net, 2, seed)
    data = b"".join(request_bytes(net, im) for im in images)
    want = [board_forward(net, request_bytes(net, im), fold=FOLD) for im in images]
    monkeypatch.setattr(board, name, cls)
    got = run_board(net, data, expect=len(want) * response_length(net))
    with pytest.raises(AssertionError, match="response 0: board"):
        check_responses(net, got, want)


def test_a_wrong_golden_is_reported(net, seed):
    (image,) = random_images(net, 1, seed)
    data = request_bytes(net, image)
    good = board_forward(net, data, fold=FOLD)
    got = run_board(net, data, expect=response_length(net))
    bad = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(AssertionError, match="response 0"):
        check_responses(net, got, [bad])


@pytest.mark.full
def test_one_mnist_image_through_the_board_top(tmp_path):
    """A real MNIST test image through the MNIST network of ``examples/mnist_network.py``
    behind the UART (``logdot compile``'s default folding, so the network keeps up with a
    4-cycle bit); the class is the label's."""
    import subprocess
    import sys

    from logdot.generators.network import resolve_fold
    from logdot.golden.network import encode_input
    from logdot.golden.network_file import load_network
    from logdot.study.mnist import load_split
    from tests.support import ROOT

    path = tmp_path / "mnist.net.pt"
    script = ROOT / "examples" / "mnist_network.py"
    cmd = [sys.executable, str(script), "--out", str(path), "--images", "10"]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=900)
    net = load_network(path)
    _, _, x_te, y_te = load_split("mnist")
    codes = encode_input(net, x_te[:1])
    top = BoardTop(net, fold=resolve_fold(net), divisor=DIVISOR, timeout=TIMEOUT)
    data = request_bytes(net, codes[0])
    want = [board_forward(net, data)]
    got = run_board(net, data, expect=response_length(net), top=top)
    check_responses(net, got, want)
    assert parse_response(net, got).label == int(y_te[0])
