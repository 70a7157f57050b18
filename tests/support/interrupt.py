"""Ctrl-C tests: run a command in a subprocess, send it SIGINT at a chosen point, measure how
long it takes to end, and find the processes it left behind.

Every process the command starts inherits a marker environment variable (unique per run),
so survivors are found by scanning ``/proc/*/environ``, whatever process group or session
they moved to.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass

from tests.support import ROOT

__all__ = ["MARK_VAR", "Interrupted", "Run", "assert_interrupted", "marked_processes"]

#: The marker variable (its value is unique per :class:`Run`).
MARK_VAR = "LOGDOT_INTERRUPT_TEST"


def marked_processes(mark):
    """Pids of live (not zombie) processes whose environment holds ``MARK_VAR=mark``."""
    needle = f"{MARK_VAR}={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state != "Z":
            found.append(int(entry))
    return found


@dataclass
class Interrupted:
    """Outcome of :meth:`Run.interrupt`."""

    returncode: int
    stdout: str
    stderr: str
    #: Seconds from the SIGINT to the end of the process.
    seconds: float
    #: Marked processes alive after the command ended (and a short grace period).
    survivors: list


class Run:
    """A command running in a subprocess, its output collected as it comes.

    Parameters
    ----------
    args : list of str
        Arguments of ``python`` (e.g. ``["-m", "logdot", "generate", ...]``).
    env : dict, optional
        Extra environment.
    """

    def __init__(self, args, env=None):
        self.mark = uuid.uuid4().hex
        self.stdout, self.stderr = [], []
        full_env = {**os.environ, **(env or {}), MARK_VAR: self.mark}
        full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), full_env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(s, out), daemon=True)
            for s, out in ((self.proc.stdout, self.stdout), (self.proc.stderr, self.stderr))
        ]
        for t in self._readers:
            t.start()

    @staticmethod
    def _read(stream, out):
        for line in stream:
            out.append(line)

    def wait_for(self, predicate, timeout=600, what="the condition"):
        """Poll ``predicate(run)`` until it is true; fail when the process ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"process ended (exit {self.proc.returncode}) before {what}:\n"
                    + "".join(self.stdout + self.stderr)
                )
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError(f"timeout waiting for {what}")

    def printed(self, text):
        """True once ``text`` appeared on stdout."""
        return any(text in line for line in self.stdout)

    def children(self):
        """Names (``comm``) of the live marked processes but the command itself."""
        names = []
        for pid in marked_processes(self.mark):
            if pid == self.proc.pid:
                continue
            try:
                with open(f"/proc/{pid}/comm") as f:
                    names.append(f.read().strip())
            except OSError:
                pass
        return names

    def interrupt(self, timeout=60):
        """Send SIGINT; wait for the end; return an :class:`Interrupted`."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        seconds = time.monotonic() - t0
        for t in self._readers:
            t.join(timeout=10)
        # Grand-children that outlive the command would still be there after a moment.
        time.sleep(0.5)
        survivors = marked_processes(self.mark)
        for pid in survivors:  # do not leave them to the next test
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return Interrupted(
            self.proc.returncode, "".join(self.stdout), "".join(self.stderr), seconds, survivors
        )


def assert_interrupted(res, prog, *, before=""):
    """The Ctrl-C contract of an :class:`Interrupted` run of ``prog``: exit status 130 within
    10 seconds, stderr exactly ``before`` and then the one line ``<prog>: interrupted``, no
    process left behind."""
    assert res.returncode == 130, res.stdout + res.stderr
    assert res.stderr == f"{before}{prog}: interrupted\n"
    assert res.seconds < 10
    assert not res.survivors
