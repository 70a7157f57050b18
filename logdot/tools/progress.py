"""One progress and logging setup for logdot's commands, examples and benchmarks.

Long work shows a progress bar (:mod:`tqdm`: count, rate and ETA) on stderr, and its step
lines go to the ``logdot`` logger (stderr, above the bar). Both are off with ``quiet``
(``--quiet`` of every command and script); bars are also off when stderr is not a terminal,
so logs and pipes get no carriage-return noise. ``LOGDOT_PROGRESS=1`` forces bars on
(``0`` forces them off) whatever stderr is, e.g. in CI logs or tests.

Public API
----------
bars_enabled
    Whether a bar is drawn.
bar
    A :class:`tqdm.tqdm` bar with the project's settings (stderr, off when quiet).
LineBar
    A ``progress(line)`` callable for flows that report one line per step (the synthesis
    flow): logs each line and advances a bar on the lines that end a step.
setup_logging, get_logger
    The ``logdot`` logger's one handler (stderr, through the bar), and child loggers.
"""

from __future__ import annotations

import logging
import os
import re
import sys

from tqdm import tqdm

__all__ = ["ENV", "LineBar", "bar", "bars_enabled", "get_logger", "setup_logging"]

#: Environment variable that forces bars on (``1``) or off (``0``).
ENV = "LOGDOT_PROGRESS"
_LOGGER = "logdot"


def bars_enabled(quiet=False, stream=None):
    """Whether progress bars are drawn: never with ``quiet``; else as ``LOGDOT_PROGRESS``
    says, or when ``stream`` (default stderr) is a terminal."""
    if quiet:
        return False
    env = os.environ.get(ENV, "").strip()
    if env in ("0", "1"):
        return env == "1"
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def bar(iterable=None, *, total=None, desc=None, unit="it", quiet=False, **kwargs):
    """A :class:`tqdm.tqdm` progress bar on stderr: count, rate and ETA; disabled (nothing
    printed) when :func:`bars_enabled` is false."""
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=not bars_enabled(quiet),
        dynamic_ncols=True,
        **kwargs,
    )


class _TqdmHandler(logging.Handler):
    """Writes log records to stderr through :meth:`tqdm.tqdm.write` (above any bar)."""

    def emit(self, record):
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def setup_logging(*, quiet=False, prog="logdot"):
    """Set up the ``logdot`` logger once per process (later calls only change its level):
    one handler, stderr through the bars, ``PROG: message``; ``quiet`` shows warnings and
    errors only. Returns the logger."""
    log = logging.getLogger(_LOGGER)
    handler = next((h for h in log.handlers if isinstance(h, _TqdmHandler)), None)
    if handler is None:
        handler = _TqdmHandler()
        log.addHandler(handler)
        log.propagate = False
    handler.setFormatter(logging.Formatter(f"{prog}: %(message)s"))
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    return log


def get_logger(name=None):
    """The ``logdot`` logger or its child ``logdot.NAME``."""
    return logging.getLogger(_LOGGER if not name else f"{_LOGGER}.{name}")


class LineBar:
    """A ``progress(line)`` callable: logs each line (``logdot`` logger, info) and advances
    a bar by one on each line that matches ``done`` (by default the lines that end with a
    duration, ``(12.3 s)``: the synthesis flow's finished steps).

    Use as a context manager (closes the bar). ``total`` may be ``None`` (count and rate,
    no ETA).
    """

    def __init__(self, *, total, desc, unit="step", quiet=False, done=r"\(\d+(?:\.\d+)? s\)$"):
        self._log = get_logger()
        self._quiet = quiet
        self._done = re.compile(done)
        self._count = 0
        self._bar = bar(total=total, desc=desc, unit=unit, quiet=quiet)

    def __call__(self, line):
        if not self._quiet:
            self._log.info(line)
        if self._done.search(line):
            self._count += 1
            self._bar.update(1)

    @property
    def count(self):
        """Steps finished so far."""
        return self._count

    def close(self):
        self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
