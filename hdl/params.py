"""Parameter checks and property helpers shared by the components of :mod:`logdot.hdl`.

:func:`check_bool`, :func:`read_only` and :func:`read_only_params` are those of
:mod:`logdot.golden.formats`.
"""

from __future__ import annotations

from ..golden.formats import EngineConfig, check_bool, read_only, read_only_params

__all__ = ["check_bool", "check_config", "read_only", "read_only_params"]


def check_config(config, kind=EngineConfig, *, name="config"):
    """Return ``config`` if it is an instance of ``kind``, else raise :exc:`TypeError`."""
    if not isinstance(config, kind):
        article = "an" if kind.__name__[0] in "AEIOU" else "a"
        raise TypeError(f"{name} must be {article} {kind.__name__}, not {config!r}")
    return config
