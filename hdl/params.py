"""Parameter checks shared by the components of :mod:`logdot.hdl`."""

from __future__ import annotations

from operator import attrgetter

from ..golden.formats import EngineConfig

__all__ = ["check_bool", "check_config", "read_only"]


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


def read_only(attr, doc=None):
    """A read-only :class:`property` whose value is the instance attribute ``attr``.

    Parameters
    ----------
    attr : str
        Name of the attribute the property reads (set in ``__init__``, e.g. ``"_config"``).
    doc : str or None
        The property's docstring.

    Returns
    -------
    property
        Assigning to it raises :exc:`AttributeError`.
    """
    return property(attrgetter(attr), doc=doc)
