"""Configuration factories shared by the tests: keyword-argument fragments and pytest ids."""

from __future__ import annotations

from logdot.golden.formats import EngineConfig

__all__ = ["DA4ML_VECTOR", "LOG", "SQRT2", "UNSIGNED", "cfg_of", "config_id"]

#: Keyword-argument fragments of :class:`~logdot.golden.formats.EngineConfig`, to combine
#: as ``dict(lanes=3, act_bits=4, weight_bits=3, **LOG, **SQRT2)``.
LOG = dict(act_format="log")
SQRT2 = dict(weight_base="sqrt2")
UNSIGNED = dict(act_signed=False)

#: The 16-lane power-of-two weight vector of the README's da4ml comparison
#: (``numpy.random.default_rng(12345).choice([0, 1, -1, 2, -2, ..., 64, -64], (16, 1))``;
#: measured by ``benchmarks/const_synth.py``).
DA4ML_VECTOR = [-16, 2, 32, -2, 2, 32, 16, -16, -64, 4, -32, -2, -8, -8, 2, -1]


def cfg_of(**kw):
    """An :class:`~logdot.golden.formats.EngineConfig` from keyword arguments."""
    return EngineConfig(**kw)


def config_id(kw):
    """A pytest id naming a configuration's keyword arguments: ``lanes=3-act_bits=8-...``."""
    return "-".join(f"{k}={v}" for k, v in kw.items())
