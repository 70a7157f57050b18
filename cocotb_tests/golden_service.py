"""The golden model of a cocotb run, served from the pytest process that started the
simulator.

``import torch`` costs about 3 CPU-seconds per process. The pytest worker that runs a
co-simulation (:func:`support.cosim`) has torch imported already; without this module the
simulator's embedded Python would import it again for every run, only to run the golden
model. Instead :func:`serve` runs a small server thread in the pytest process for the
duration of one simulator run, and the test benches' scoreboards ask it through
:func:`call`, which names an operation of the allow-list :data:`golden_ops.OPERATIONS`
(arguments and results plain Python data; the golden objects stay in the server behind
handles). The golden model is the same PyTorch model; only the process that runs it
changes.

* The server listens on a Unix stream socket in a private temporary directory (mode 0700);
  its address and a random key reach the simulator in the environment (:attr:`Server.env`:
  :data:`ADDRESS_ENV`, :data:`AUTHKEY_ENV`, and :data:`TORCH_FREE_ENV`, which makes every
  :func:`call` fail if torch was imported in the simulator after all).
* Messages are length-prefixed (8 bytes, big endian) pickles; the first message of a
  connection is the key, compared in constant time, before anything is unpickled. A request
  is ``(operation, args)``, a reply ``("ok", result)`` or ``("error", server traceback)``.
* Nothing hangs: a failing operation raises :class:`GoldenServiceError` in the simulator
  (the last line of the server-side traceback first, then the whole traceback); the client
  waits at most :data:`TIMEOUT_ENV` seconds (default :data:`DEFAULT_TIMEOUT`) for a reply and
  fails at once when the server is gone; the server's threads stop when :func:`serve` exits,
  also on an exception.
* Without :data:`ADDRESS_ENV` (a test module run standalone, e.g. by cocotb's Makefile flow)
  :func:`call` executes the same operation in-process (torch is imported there on first
  use): the same results, so the test benches run anywhere.
"""

from __future__ import annotations

import collections
import contextlib
import hmac
import os
import pickle
import secrets
import select
import shutil
import socket
import struct
import sys
import tempfile
import threading
import traceback

import golden_ops

__all__ = [
    "ADDRESS_ENV",
    "AUTHKEY_ENV",
    "DEFAULT_TIMEOUT",
    "TIMEOUT_ENV",
    "TORCH_FREE_ENV",
    "Client",
    "GoldenServiceError",
    "Server",
    "call",
    "serve",
]

#: Environment variable with the server's socket path (unset: run the model in-process).
ADDRESS_ENV = "LOGDOT_GOLDEN_SERVICE"
#: Environment variable with the key a client must present.
AUTHKEY_ENV = "LOGDOT_GOLDEN_AUTHKEY"
#: Environment variable: ``1`` makes :func:`call` fail in a process that imported torch.
TORCH_FREE_ENV = "LOGDOT_GOLDEN_TORCH_FREE"
#: Environment variable with the client's reply timeout in seconds.
TIMEOUT_ENV = "LOGDOT_GOLDEN_TIMEOUT"
DEFAULT_TIMEOUT = 120.0
#: How often the server's threads look at their stop flag (seconds).
_POLL_S = 0.1
_HEADER = struct.Struct("!Q")


class GoldenServiceError(RuntimeError):
    """A golden operation failed on the server, or the server is unreachable or silent."""


# -- framing ---------------------------------------------------------------------------------


def _send(sock, payload):
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return bytes(buf)


def _recv(sock):
    (n,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    return _recv_exact(sock, n)


# -- server ----------------------------------------------------------------------------------


class Server:
    """The golden service of one simulator run (use :func:`serve`).

    Members
    -------
    address : str
        The socket path.
    env : dict
        The environment a client process needs.
    session : golden_ops.Session
        The golden objects of this run.
    requests : collections.Counter
        Requests answered, by operation.
    errors : list of str
        The last traceback line of every failed request.
    """

    def __init__(self):
        self._dir = tempfile.mkdtemp(prefix="logdot-golden-")
        self.address = os.path.join(self._dir, "socket")
        self._key = secrets.token_hex(16)
        self.session = golden_ops.Session()
        self.requests = collections.Counter()
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._handlers = []
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.address)
        self._listener.listen(4)
        self._listener.settimeout(_POLL_S)
        self._acceptor = threading.Thread(target=self._accept, name="golden-service", daemon=True)

    @property
    def env(self):
        return {ADDRESS_ENV: self.address, AUTHKEY_ENV: self._key, TORCH_FREE_ENV: "1"}

    @property
    def key(self):
        return self._key

    @property
    def threads(self):
        """The server's threads (the acceptor and one per connection)."""
        return [self._acceptor, *self._handlers]

    def start(self):
        self._acceptor.start()

    def stop(self):
        """Stop every thread (they poll the stop flag), close and remove the socket."""
        self._stop.set()
        for t in self.threads:
            if t.is_alive():
                t.join(timeout=10 * _POLL_S + 5)
        self._listener.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._handlers.append(t)
            t.start()

    def _next_message(self, conn):
        """The next message, or None at the stop flag or the end of the connection."""
        while not self._stop.is_set():
            if select.select([conn], [], [], _POLL_S)[0]:
                try:
                    return _recv(conn)
                except (EOFError, OSError):
                    return None
        return None

    def _serve(self, conn):
        with conn:
            conn.settimeout(DEFAULT_TIMEOUT)
            key = self._next_message(conn)
            if key is None or not hmac.compare_digest(key, self._key.encode()):
                return
            while (data := self._next_message(conn)) is not None:
                try:
                    _send(conn, self._answer(data))
                except OSError:
                    return

    def _answer(self, data):
        op = "?"
        try:
            op, args = pickle.loads(data)
            with self._lock:
                result = golden_ops.execute(self.session, op, args)
            reply = pickle.dumps(("ok", result))
        except Exception:
            text = traceback.format_exc()
            self.errors.append(text.strip().splitlines()[-1])
            reply = pickle.dumps(("error", text))
        self.requests[op] += 1
        return reply


@contextlib.contextmanager
def serve():
    """Run a golden service for the duration of the ``with`` block; yield its
    :class:`Server` (pass :attr:`Server.env` to the simulator)."""
    server = Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- client ----------------------------------------------------------------------------------


class Client:
    """One connection to a golden service.

    Parameters
    ----------
    address, key : str
        :attr:`Server.address` and its key.
    timeout : float
        Seconds to wait for a connection or a reply.
    """

    def __init__(self, address, key, *, timeout=DEFAULT_TIMEOUT):
        self.address = address
        self.timeout = timeout
        self._broken = None
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(address)
            _send(self._sock, key.encode())
        except OSError as exc:
            self._sock.close()
            raise GoldenServiceError(
                f"cannot reach the golden service at {address}: {exc}"
            ) from None

    def call(self, op, *args):
        """The result of golden operation ``op`` on ``args`` (plain data)."""
        if self._broken:
            raise GoldenServiceError(f"golden service connection unusable: {self._broken}")
        try:
            _send(self._sock, pickle.dumps((op, args)))
            status, value = pickle.loads(_recv(self._sock))
        except TimeoutError:
            self._broken = f"no reply to {op} within {self.timeout} s"
        except (EOFError, OSError) as exc:
            self._broken = f"the golden service at {self.address} is gone ({op}: {exc})"
        if self._broken:
            self._sock.close()
            raise GoldenServiceError(self._broken)
        if status == "ok":
            return value
        last = value.strip().splitlines()[-1]
        raise GoldenServiceError(
            f"golden operation {op} failed in the golden service: {last}\n"
            f"--- server-side traceback ---\n{value}"
        )

    def close(self):
        self._sock.close()


_client = None
_local = None


def call(op, *args):
    """Golden operation ``op`` (:data:`golden_ops.OPERATIONS`) on ``args``: from the service
    named in the environment, else in-process.

    Raises
    ------
    GoldenServiceError
        The operation failed on the server, the server is gone or silent, or torch is
        imported in this process although :data:`TORCH_FREE_ENV` is set.
    """
    global _client, _local
    address = os.environ.get(ADDRESS_ENV)
    if not address:
        if _local is None:
            _local = golden_ops.Session()
        return golden_ops.execute(_local, op, args)
    if os.environ.get(TORCH_FREE_ENV) == "1" and "torch" in sys.modules:
        raise GoldenServiceError(
            "torch is imported in this simulator process although the golden model runs in "
            "the golden service (a test bench module imports it)"
        )
    if _client is None:
        timeout = float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT)
        _client = Client(address, os.environ.get(AUTHKEY_ENV, ""), timeout=timeout)
    return _client.call(op, *args)
