"""A runner's reviewed configuration list as pytest cases (what the four co-simulation
runners share above :func:`support.cosim`).

Each runner (``test_runner.py``: engines, ``test_const_runner.py``: constant-weight engines,
``test_layer_runner.py``: layer engines, ``test_network_runner.py``: networks) keeps a list of
configuration entries, each a dict with an ``"id"``, and a :class:`Bench` that names its cocotb
module; :func:`cosim_cases` makes one test case per simulator and entry (:func:`cosim_test`: the
runner's whole co-simulation test), :func:`run_case` generates (once for both simulators:
:mod:`gencache`), builds and co-simulates one (AssertionError with the report and the replay
line when it fails), :func:`entry_seed` seeds an entry's random contents, :func:`check_ids`
checks the list's ids and :func:`reviewed` makes every entry's design.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import support

__all__ = ["Bench", "check_ids", "cosim_cases", "cosim_test", "entry_seed", "reviewed", "run_case"]


def entry_seed(kind, entry):
    """Seed of the random contents of a reviewed list's ``entry`` (weights, memories, a
    network): ``LOGDOT_SEED`` plus the CRC-32 of ``"<kind>/<id>"``, 31 bits."""
    return (support.base_seed() + zlib.crc32(f"{kind}/{entry['id']}".encode())) & 0x7FFFFFFF


def check_ids(configs):
    """AssertionError unless every entry of a reviewed list has an id of its own."""
    ids = [c["id"] for c in configs]
    assert len(set(ids)) == len(ids), f"duplicate configuration ids: {sorted(ids)}"


def reviewed(configs, make):
    """:func:`check_ids`, then ``make(entry)`` for every entry of a reviewed list (a list; ``make``
    raises on an invalid entry)."""
    check_ids(configs)
    return [make(c) for c in configs]


def cosim_cases(configs, *, quick=None):
    """Parametrize a runner's test over :data:`support.SIMULATORS` x ``configs`` (arguments ``sim``
    and ``entry``; ids ``<sim>-<entry id>``).

    Parameters
    ----------
    configs : list of dict
        The reviewed list; every entry has an ``"id"``.
    quick : collection of str, optional
        Ids that ``make test`` runs; the others are marked ``full`` (default: all run but the
        entries with ``"full": True``, which are marked ``full`` in any case). An entry's
        ``"full"`` may instead name simulators (``"full": ("icarus",)``): only its cases on
        those are marked ``full``.
    """

    def full(sim, c):
        marked = c.get("full") or False
        if quick is not None and c["id"] not in quick:
            return True
        return marked is True or (not isinstance(marked, bool) and sim in marked)

    cases = [
        pytest.param(sim, c, id=f"{sim}-{c['id']}", marks=pytest.mark.full if full(sim, c) else ())
        for c in configs
        for sim in support.SIMULATORS
    ]

    def decorate(test):
        return pytest.mark.parametrize(("sim", "entry"), cases)(test)

    return decorate


def cosim_test(configs, run, *, quick=None):
    """A runner's co-simulation test: ``run(sim, entry)`` for every case of :func:`cosim_cases`.

    Parameters
    ----------
    configs, quick
        As :func:`cosim_cases`.
    run : callable
        ``run(sim, entry)`` co-simulates one entry (AssertionError when it fails); its docstring
        says what.

    Returns
    -------
    callable
        The test function; bind it to a ``test_*`` name of the runner module.
    """

    @cosim_cases(configs, quick=quick)
    def test(sim, entry):
        run(sim, entry)

    test.__doc__ = f"Every reviewed entry on every simulator: {run.__doc__}"
    return test


@dataclass(frozen=True)
class Bench:
    """What a runner's cocotb test module needs (the :func:`support.cosim` arguments every entry of
    its list shares)."""

    #: The HDL top level.
    toplevel: str
    #: The cocotb test module (in :data:`HERE`).
    test_module: str
    #: Environment variable that names the manifest for the module.
    manifest_env: str
    #: cocotb tests of the module (parametrized ones per variant).
    expected_tests: int


def run_case(sim, entry, bench, *, runner, name=None, env=(), **kwargs):
    """:func:`support.cosim` of one entry of a runner's list; AssertionError with the report when it
    fails.

    Parameters
    ----------
    sim : {"icarus", "verilator"}
    entry : dict
        The configuration (its ``"id"`` names the case).
    bench : Bench
        The runner's cocotb module.
    runner : str
        The runner's file name (``__file__``): the replay line is ``pytest cocotb_tests/<runner>
        -k '<sim>-<id>'``.
    name : str, optional
        Build directory name (default: the id).
    env : dict, optional
        Further environment of the cocotb run.
    **kwargs
        The other arguments of :func:`support.cosim` (``write``, ``header``, ...).

    Returns
    -------
    CosimResult
    """
    cid = entry["id"]
    result = support.cosim(
        sim,
        name=name or cid,
        # the same files for both simulators: the entry (random contents seeded by the base
        # seed) of this runner's list, made by this runner
        share=[Path(runner).name, bench.toplevel, support.base_seed(), entry],
        replay=f"cocotb_tests/{Path(runner).name} -k '{sim}-{cid}'",
        toplevel=bench.toplevel,
        test_module=bench.test_module,
        manifest_env=bench.manifest_env,
        expected_tests=bench.expected_tests,
        env=dict(env),
        **kwargs,
    )
    if not result.ok:
        raise AssertionError(result.report)
    return result
