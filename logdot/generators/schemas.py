"""The schema names of the manifests the engine generators write, in a module without
Amaranth: a reader of a manifest (the co-simulation test benches, which start a fresh Python
per simulator run) checks the schema without elaborating anything.

:mod:`logdot.generators.engine` and :mod:`logdot.generators.const` export them as their
``MANIFEST_SCHEMA``.
"""

from __future__ import annotations

__all__ = ["CONST_MANIFEST_SCHEMA", "ENGINE_MANIFEST_SCHEMA"]

#: Schema of the manifest of a dot-product engine (:func:`logdot.generators.engine.manifest`).
ENGINE_MANIFEST_SCHEMA = "logdot.engine/2"
#: Schema of the manifest of a constant-weight engine (:func:`logdot.generators.const.manifest`).
CONST_MANIFEST_SCHEMA = "logdot.const_engine/1"
