"""logdot: multiplier-free logarithmic dot-product engines for FPGAs.

The package's parts:

- :mod:`logdot.golden`: the bit-exact integer model (number formats, quantizers, engine,
  requantizer and layer models) that predicts every output bit of the hardware;
- :mod:`logdot.hdl`: the Amaranth components (lanes, adder trees, accumulators, engines,
  layer engines);
- the generators (:mod:`logdot.generate`, :mod:`logdot.generate_layer`), the synthesis flow
  (:mod:`logdot.synth`) and the external tools (:mod:`logdot.tools`), which the command line
  (``logdot``, ``python -m logdot``) drives.
"""

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("logdot")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"
