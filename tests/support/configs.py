"""Configuration factories shared by the tests: keyword-argument fragments and pytest ids."""

from __future__ import annotations

from logdot.golden.formats import EngineConfig

__all__ = ["LOG", "SQRT2", "UNSIGNED", "cfg_of", "config_id"]

#: Keyword-argument fragments of :class:`~logdot.golden.formats.EngineConfig`, to combine
#: as ``dict(lanes=3, act_bits=4, weight_bits=3, **LOG, **SQRT2)``.
LOG = dict(act_format="log")
SQRT2 = dict(weight_base="sqrt2")
UNSIGNED = dict(act_signed=False)


def cfg_of(**kw):
    """An :class:`~logdot.golden.formats.EngineConfig` from keyword arguments."""
    return EngineConfig(**kw)


def config_id(kw):
    """A pytest id naming a configuration's keyword arguments: ``lanes=3-act_bits=8-...``."""
    return "-".join(f"{k}={v}" for k, v in kw.items())
