"""Generators of Verilog and manifests: :mod:`~logdot.generators.engine` (the dot-product
engine and the linear baseline), :mod:`~logdot.generators.layer` (layer engines with their
weights baked in), both built on :mod:`~logdot.generators.common` (names, port order,
manifest parts, atomic file writing)."""
