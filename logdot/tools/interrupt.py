"""Ctrl-C for logdot's commands and scripts: one line, exit status 130, no surviving children.

Three problems of a plain ``KeyboardInterrupt`` are handled here:

1. **Child processes.** A simulator or synthesis build (Verilator, make, the C++ compiler,
   vvp, Yosys) started with :func:`subprocess.run` gets the terminal's SIGINT too, but a
   script that kills only its direct child leaves the grand-children (make's compiler jobs)
   running, and a thread pool waits for the builds its threads run. :func:`run` starts each
   child in its own process group (a new session), registers it, and kills the whole group
   when it is interrupted; :func:`kill_children` kills every registered group (from the main
   thread, for the children of worker threads) and makes later :func:`run` calls refuse to
   start anything.
2. **Interrupts swallowed in ``__del__``.** A SIGINT that arrives while Python runs a
   finalizer (Amaranth's ``UnusedElaboratable`` check in ``Elaboratable.__del__``) raises
   ``KeyboardInterrupt`` inside it, where Python prints "Exception ignored in ..." and
   carries on. Inside :func:`handling_interrupts` the SIGINT handler records every
   interrupt first (:func:`interrupted`, :func:`check`), and such a swallowed
   ``KeyboardInterrupt`` is not printed.
3. **Noise on the way out.** After an interrupt, half-built Amaranth designs warn that they
   were never used when they are collected; :func:`quiet` silences warnings and finalizer
   errors for the rest of the process, so the one line stays the only line.

Typical use (the ``logdot`` command line, ``examples/digits_on_rtl.py``)::

    with interrupt.handling_interrupts():
        try:
            code = work()
            interrupt.check()          # an interrupt swallowed in a __del__
        except KeyboardInterrupt:
            interrupt.kill_children()
            interrupt.quiet()
            print("logdot: interrupted", file=sys.stderr)
            code = interrupt.EXIT_INTERRUPTED
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import warnings

__all__ = [
    "EXIT_INTERRUPTED",
    "check",
    "handling_interrupts",
    "interrupted",
    "kill_children",
    "kill_group",
    "quiet",
    "reset",
    "run",
    "run_command",
]

#: Exit status of an interrupted command (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 128 + signal.SIGINT

#: Seconds a process group gets between SIGTERM and SIGKILL.
_GRACE_S = 1.0

_lock = threading.Lock()
_children = set()
_state = {"interrupted": False, "aborting": False}


def interrupted():
    """True once a SIGINT arrived inside :func:`handling_interrupts` (even one swallowed by
    a finalizer)."""
    return _state["interrupted"]


def check():
    """Raise :class:`KeyboardInterrupt` if an interrupt arrived inside the current
    :func:`handling_interrupts` (or :func:`kill_children` ran); call it after work whose
    interrupts a finalizer may have swallowed, and before writing results."""
    if _state["interrupted"] or _state["aborting"]:
        raise KeyboardInterrupt


def _on_sigint(signum, frame):
    _state["interrupted"] = True
    raise KeyboardInterrupt


@contextlib.contextmanager
def handling_interrupts():
    """Record SIGINTs and hide the ``KeyboardInterrupt`` a finalizer swallows (main thread
    only; elsewhere a no-op). Restores the previous handler and hook on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state["interrupted"] = False
    _state["aborting"] = False
    previous_hook = sys.unraisablehook

    def hook(unraisable):
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            _state["interrupted"] = True
            return
        previous_hook(unraisable)

    previous = signal.signal(signal.SIGINT, _on_sigint)
    sys.unraisablehook = hook
    try:
        yield
    finally:
        _state["interrupted"] = False  # consumed by the caller (check, its except clause)
        signal.signal(signal.SIGINT, previous)
        if sys.unraisablehook is hook:
            sys.unraisablehook = previous_hook


def run_command(prog, body, *, silence=True, reset_after=False):
    """Run a command's ``body()`` (which returns its exit code) with Ctrl-C handled.

    Parameters
    ----------
    prog : str
        Program name of the one line printed after an interrupt (``PROG: interrupted``).
    body : callable
        The command; its return value is the exit code.
    silence : bool
        After an interrupt, silence warnings for the rest of the process (:func:`quiet`):
        right when the process is the command, wrong for an in-process caller.
    reset_after : bool
        After an interrupt, :func:`reset`, so that a later in-process call may run tools.

    Returns
    -------
    int
        ``body()``'s exit code, or :data:`EXIT_INTERRUPTED` (130) after Ctrl-C, with children
        terminated and one line on stderr.
    """
    with handling_interrupts():
        try:
            code = body()
            check()  # an interrupt that a finalizer swallowed
            return code
        except KeyboardInterrupt:
            kill_children()
            if reset_after:
                reset()
            if silence:
                quiet()  # no warnings from half-built designs on the way out
            sys.stdout.flush()
            print(f"{prog}: interrupted", file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED


def quiet():
    """Silence warnings and finalizer errors for the rest of the process (after an
    interrupt: half-built Amaranth designs warn when collected)."""
    warnings.simplefilter("ignore")
    sys.unraisablehook = lambda unraisable: None


def kill_group(proc):
    """Terminate the process group of ``proc`` (a child of :func:`run`, which leads its own
    group): SIGTERM, then SIGKILL after a short grace period; reaps ``proc``."""
    # A child of run() leads its own session, so its group id is its pid (Linux does not
    # reuse a pid while a group of that id exists, even after the leader is reaped).
    pgid = proc.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + _GRACE_S
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(pgid):
                break
            time.sleep(0.02)
        if not _group_alive(pgid):
            break
    with contextlib.suppress(Exception):
        proc.wait(timeout=_GRACE_S)


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    # Zombies of the group count as gone (their parent, not us, reaps them).
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def kill_children():
    """Kill the process group of every running child of :func:`run` (any thread) and make
    later :func:`run` and :func:`check` calls raise :class:`KeyboardInterrupt` (the process
    is going down: no thread may start a new tool), until :func:`reset` or the next
    :func:`handling_interrupts`."""
    _state["aborting"] = True
    with _lock:
        procs = list(_children)
    for proc in procs:
        kill_group(proc)


def reset():
    """Forget an earlier :func:`kill_children` and interrupt (tools may start again)."""
    _state["interrupted"] = False
    _state["aborting"] = False


def run(cmd, *, input=None, capture_output=False, text=False, check=False, **kwargs):
    """:func:`subprocess.run` with the child in its own process group, killed (the whole
    group) when the call is interrupted; same arguments and result.

    Raises
    ------
    KeyboardInterrupt
        When interrupted, or when :func:`kill_children` ran before or during the call.
    """
    if _state["aborting"]:
        raise KeyboardInterrupt
    if capture_output:
        kwargs["stdout"] = subprocess.PIPE
        kwargs["stderr"] = subprocess.PIPE
    if input is not None:
        kwargs["stdin"] = subprocess.PIPE
    proc = subprocess.Popen(cmd, start_new_session=True, text=text, **kwargs)
    with _lock:
        _children.add(proc)
    try:
        stdout, stderr = proc.communicate(input)
    except BaseException:
        kill_group(proc)
        raise
    finally:
        with _lock:
            _children.discard(proc)
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()
    if _state["aborting"]:
        raise KeyboardInterrupt
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    if check:
        result.check_returncode()
    return result
