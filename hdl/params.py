"""Parameter checks shared by the components of :mod:`logdot.hdl`."""

from __future__ import annotations

from ..golden.formats import EngineConfig

__all__ = ["check_bool", "check_config"]


def check_config(config, kind=EngineConfig, *, name="config"):
    """Return ``config`` if it is an instance of ``kind``, else raise :exc:`TypeError`."""
    if not isinstance(config, kind):
        article = "an" if kind.__name__[0] in "AEIOU" else "a"
        raise TypeError(f"{name} must be {article} {kind.__name__}, not {config!r}")
    return config


def check_bool(value, name):
    """Return ``value`` if it is a :class:`bool`, else raise :exc:`TypeError`."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return value
