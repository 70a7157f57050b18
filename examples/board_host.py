r"""Send images to a board built by ``logdot board`` over a serial port; check every answer.

The board speaks the protocol of :mod:`logdot.golden.board_protocol`: per image, the request
(``H * W * P`` bytes, the pixel words least significant byte first) in, the response (status,
class, the output word) out. This script sends one image at a time, waits for its response,
and compares it with the golden board (:func:`logdot.golden.board_protocol.board_forward`)
byte for byte; it prints the class, the logits and, for dataset images, the label.

Run, with the board's USB serial port (iCEBreaker: the second FTDI port, e.g.
``/dev/ttyUSB1``; ULX3S: ``/dev/ttyUSB0``)::

    python examples/board_host.py --port /dev/ttyUSB1 --network mnist.net.pt \
        --dataset mnist --images 20

``--random N`` sends N random images of input codes instead (any network). The serial port
is opened with ``pyserial`` when it is installed, else with the POSIX ``termios`` module
(Linux, macOS: raw mode, 8N1, no flow control). The last line is ``mismatches: <k>
accuracy: <x> images: <n>`` (accuracy only for dataset images); the exit code is 1 when a
response differs from the golden one or does not come within ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from logdot.golden.board_protocol import (  # noqa: E402
    board_forward,
    parse_response,
    request_bytes,
    response_length,
)


class PosixSerial:
    """A serial port in raw mode (8N1, no flow control) with ``termios``: ``write``,
    ``read(n, timeout)``, ``close``."""

    def __init__(self, path, baud):
        import termios
        import tty

        self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self._fd)
        attrs = termios.tcgetattr(self._fd)
        speed = getattr(termios, f"B{baud}", None)
        if speed is None:
            raise ValueError(f"termios has no baud rate {baud} (install pyserial)")
        attrs[4] = attrs[5] = speed
        attrs[2] &= ~(termios.PARENB | termios.CSTOPB | termios.CSIZE | termios.CRTSCTS)
        attrs[2] |= termios.CS8 | termios.CLOCAL | termios.CREAD
        attrs[0] &= ~(termios.IXON | termios.IXOFF | termios.IXANY)
        termios.tcsetattr(self._fd, termios.TCSANOW, attrs)
        termios.tcflush(self._fd, termios.TCIOFLUSH)

    def write(self, data):
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def read(self, n, timeout):
        import select

        out = bytearray()
        end = time.monotonic() + timeout
        while len(out) < n:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self._fd], [], [], left)[0]:
                break
            out += os.read(self._fd, n - len(out))
        return bytes(out)

    def close(self):
        os.close(self._fd)


class PySerial:
    """The same interface on ``pyserial``."""

    def __init__(self, path, baud):
        import serial

        self._port = serial.Serial(path, baud, bytesize=8, parity="N", stopbits=1)
        self._port.reset_input_buffer()

    def write(self, data):
        self._port.write(data)
        self._port.flush()

    def read(self, n, timeout):
        self._port.timeout = timeout
        return self._port.read(n)

    def close(self):
        self._port.close()


def open_port(path, baud):
    """:class:`PySerial` when ``pyserial`` is installed, else :class:`PosixSerial`."""
    try:
        import serial  # noqa: F401
    except ImportError:
        return PosixSerial(path, baud)
    return PySerial(path, baud)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", required=True, help="serial port of the board")
    p.add_argument("--network", required=True, help="the network file the board was built from")
    p.add_argument("--baud", type=int, default=115200, help="as logdot board --baud")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", choices=("mnist", "digits"), help="send test images")
    src.add_argument("--random", type=int, metavar="N", help="send N random images of codes")
    p.add_argument("--images", type=int, default=10, help="dataset images to send")
    p.add_argument("--seed", type=int, default=0, help="seed of --random")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    return p


def _images(args, net):
    import torch

    from logdot.golden.network import encode_input

    if args.random is not None:
        g = torch.Generator().manual_seed(args.seed)
        hi = net.input_format.range[1]
        return torch.randint(0, hi + 1, (args.random, *net.input_shape), generator=g), None
    from logdot.study.mnist import load_split

    _, _, x_te, y_te = load_split(args.dataset)
    return encode_input(net, x_te[: args.images]), y_te[: args.images]


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    if args.random is not None and args.random < 1:
        p.error(f"--random must be at least 1, not {args.random}")
    if args.images < 1:
        p.error(f"--images must be at least 1, not {args.images}")
    from logdot.golden.network_file import load_network

    net = load_network(args.network)
    codes, labels = _images(args, net)
    port = open_port(args.port, args.baud)
    n_resp = response_length(net)
    bad = right = 0
    try:
        for k, image in enumerate(codes):
            request = request_bytes(net, image)
            want = board_forward(net, request)
            port.write(request)
            got = port.read(n_resp, args.timeout)
            if len(got) != n_resp:
                print(f"image {k}: {len(got)} of {n_resp} response bytes in {args.timeout} s")
                bad += 1
                break
            try:
                r = parse_response(net, got)
            except ValueError as exc:
                r = None
                print(f"image {k}: not a response ({exc}): {got.hex()}")
            if got != want:
                bad += 1
                print(f"image {k}: board {got.hex()} != golden {want.hex()}")
                continue
            logits = " ".join(str(int(v)) for v in r.outputs.reshape(-1))
            label = "" if labels is None else f" label {int(labels[k])}"
            right += labels is not None and r.label == int(labels[k])
            print(f"image {k}: class {r.label}{label} status {r.status:#x} logits {logits}")
    finally:
        port.close()
    n = len(codes)
    acc = f"{right / n:.4f}" if labels is not None else "-"
    print(f"mismatches: {bad} accuracy: {acc} images: {n}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
