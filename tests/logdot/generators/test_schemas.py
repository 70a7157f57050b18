"""logdot.generators.schemas: the manifest schema names, importable without Amaranth."""

import subprocess
import sys

from logdot.generators import const, engine, schemas


def test_the_generators_write_these_schemas():
    assert engine.MANIFEST_SCHEMA == schemas.ENGINE_MANIFEST_SCHEMA == "logdot.engine/2"
    assert const.MANIFEST_SCHEMA == schemas.CONST_MANIFEST_SCHEMA == "logdot.const_engine/1"


def test_importing_the_schemas_imports_no_amaranth():
    code = "import sys, logdot.generators.schemas; print('amaranth' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
