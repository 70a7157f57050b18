"""logdot: multiplier-free logarithmic dot-product engines for FPGAs.

The package's parts:

- :mod:`logdot.golden`: the bit-exact integer model (number formats, quantizers, engine,
  requantizer and layer models) that predicts every output bit of the hardware;
- :mod:`logdot.hdl`: the Amaranth components (lanes, adder trees, accumulators, engines,
  layer engines);
- the generators (:mod:`logdot.generators`: engine, layer, and what they share), the
  synthesis flow (:mod:`logdot.synth`) and the external tools (:mod:`logdot.tools`), which
  the command line (``logdot``, ``python -m logdot``: :mod:`logdot.cli`, one module per
  subcommand in :mod:`logdot.commands`) drives.
"""

__all__ = ["__version__"]


def __getattr__(name):
    # The version is looked up on first use: importlib.metadata costs a tenth of a second,
    # which every ``logdot`` command would pay at start-up otherwise.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("logdot")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0+unknown"
    raise AttributeError(f"module 'logdot' has no attribute {name!r}")
