"""The board's byte protocol: request and response bytes, framing, parsing."""

from __future__ import annotations

import pytest
import torch

from logdot.golden.board_protocol import (
    STATUS_MARKER,
    STATUS_SHORT,
    board_forward,
    complete_request,
    parse_response,
    pixel_bytes,
    request_bytes,
    request_length,
    response_bytes,
    response_length,
)
from logdot.golden.network import network_forward
from logdot.golden.network_stream import output_beat
from tests.support.networks import board_net, random_images

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def net():
    return board_net()


def test_request_is_the_pixel_words_least_significant_byte_first(net):
    image = torch.zeros(net.input_shape, dtype=torch.int64)
    image[0, 0, 0], image[1, 0, 0], image[2, 0, 0] = 0x1, 0x2, 0x3  # 12-bit word 0x321
    image[2, 3, 3] = 0xF
    data = request_bytes(net, image)
    assert pixel_bytes(net) == 2 and len(data) == request_length(net) == 32
    assert data[:2] == bytes([0x21, 0x03])
    assert data[-2:] == bytes([0x00, 0x0F])
    assert data[2:-2] == bytes(28)
    codes, status = complete_request(net, data)
    assert status == 0 and torch.equal(codes, image)


def test_response_layout(net, seed):
    (image,) = random_images(net, 1, seed)
    outputs = network_forward(net, image.unsqueeze(0))[0]
    data = response_bytes(net, outputs)
    assert len(data) == response_length(net)
    assert data[0] == STATUS_MARKER
    assert data[1] == int(outputs.argmax())  # torch: the first largest
    assert int.from_bytes(data[2:], "little") == output_beat(net, outputs)
    r = parse_response(net, data)
    assert (r.status, r.label) == (0, data[1]) and torch.equal(r.outputs, outputs)


def test_ties_give_the_first_class(net):
    outputs = torch.tensor([3, 7, 7, -2, 7])
    assert response_bytes(net, outputs)[1] == 1


def test_a_short_request_is_completed_with_zeros(net, seed):
    (image,) = random_images(net, 1, seed)
    data = request_bytes(net, image)[:7]
    codes, status = complete_request(net, data)
    assert status == STATUS_SHORT
    full = data + bytes(request_length(net) - 7)
    assert torch.equal(codes, complete_request(net, full)[0])
    assert board_forward(net, data)[0] == STATUS_MARKER | STATUS_SHORT
    assert board_forward(net, data)[1:] == board_forward(net, full)[1:]


def test_parse_response_rejects_damaged_responses(net, seed):
    (image,) = random_images(net, 1, seed)
    good = board_forward(net, request_bytes(net, image))
    with pytest.raises(ValueError, match="bytes, not"):
        parse_response(net, good[:-1])
    with pytest.raises(ValueError, match="marker"):
        parse_response(net, bytes([0x00]) + good[1:])
    wrong = (good[1] + 1) % 5
    with pytest.raises(ValueError, match="largest output"):
        parse_response(net, good[:1] + bytes([wrong]) + good[2:])
    with pytest.raises(ValueError, match="at most"):
        complete_request(net, bytes(request_length(net) + 1))
    with pytest.raises(ValueError, match="flag bits"):
        response_bytes(net, torch.zeros(5, dtype=torch.int64), status=0x10)
