"""The base seed of the random tests and the hypothesis settings of the quick ones."""

from __future__ import annotations

import os

from hypothesis import HealthCheck

__all__ = ["SEED", "quick_settings"]

#: Base seed of the hypothesis tests (``LOGDOT_SEED``, default 20161603).
SEED = int(os.environ.get("LOGDOT_SEED", "20161603"))


def quick_settings(max_examples, *health_checks):
    """Keyword arguments of :func:`hypothesis.settings` for a quick, reproducible run.

    Parameters
    ----------
    max_examples : int
        Examples per test.
    *health_checks : hypothesis.HealthCheck
        Health checks suppressed besides ``too_slow``.

    Returns
    -------
    dict
        ``max_examples``, no deadline, no example database, the suppressed health checks.
    """
    return dict(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, *health_checks],
    )
