"""logdot.tools.interrupt: children in their own process group, killed with their
grand-children; interrupts that a finalizer swallows are still seen."""

import signal
import subprocess
import threading
import time

import pytest

from logdot.tools import interrupt
from tests.support.interrupt import marked_processes

MARK = "LOGDOT_INTERRUPT_TEST"


def test_run_is_subprocess_run():
    proc = interrupt.run(["sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True,
                         text=True)  # fmt: skip
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")
    with pytest.raises(subprocess.CalledProcessError):
        interrupt.run(["false"], check=True)


def test_kill_children_kills_grandchildren_of_a_worker_thread(monkeypatch):
    """A worker thread's child that started grand-children (as make starts compilers): one
    kill_children ends them all, quickly, and the thread's run raises KeyboardInterrupt."""
    mark = f"kill-{time.monotonic_ns()}"
    monkeypatch.setenv(MARK, mark)
    outcome = []

    def work():
        try:
            interrupt.run(["sh", "-c", "sleep 60 & sleep 60 & wait"])
        except KeyboardInterrupt:
            outcome.append("interrupted")

    monkeypatch.setattr(interrupt, "_state", {"interrupted": False, "aborting": False})
    with interrupt.handling_interrupts():
        t = threading.Thread(target=work)
        t.start()
        deadline = time.monotonic() + 10
        while len(marked_processes(mark)) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(marked_processes(mark)) == 3  # sh + two sleeps
        t0 = time.monotonic()
        interrupt.kill_children()
        t.join(timeout=10)
        assert time.monotonic() - t0 < 5
        assert outcome == ["interrupted"]
        assert marked_processes(mark) == []
        with pytest.raises(KeyboardInterrupt):  # nothing new starts after kill_children
            interrupt.run(["true"])
    with pytest.raises(KeyboardInterrupt):  # not even after the region
        interrupt.run(["true"])
    interrupt.reset()
    assert interrupt.run(["true"]).returncode == 0


@pytest.fixture
def default_sigint():
    """SIGINT at Python's default handler for the test, whatever the process inherited (a job
    started in the background by a non-interactive shell starts with SIGINT ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_interrupt_swallowed_by_a_finalizer_is_recorded(capsys, default_sigint):
    class Finalized:
        def __del__(self):
            # What Python does when a SIGINT arrives while a finalizer runs: the
            # SIGINT handler runs (and raises) inside __del__.
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)

    with interrupt.handling_interrupts():
        assert not interrupt.interrupted()
        Finalized()
        assert interrupt.interrupted()
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
    assert capsys.readouterr().err == ""  # no "Exception ignored in ..."
    assert not interrupt.interrupted()  # consumed: later work outside the region runs
    interrupt.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
