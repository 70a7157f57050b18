"""benchmarks/const_synth.py: its designs are the comparison's, and the README's cost table is
the one it wrote (results/const_synth.md, from results/const_synth.json)."""

from __future__ import annotations

import json

from tests.support import ROOT, load_script
from tests.support.configs import DA4ML_VECTOR


def _bench():
    return load_script("benchmarks/const_synth.py")


def test_designs_are_the_comparisons():
    bench = _bench()
    assert bench.vector_values() == DA4ML_VECTOR
    matrix = bench.matrix_values()
    assert len(matrix) == 64 and {len(row) for row in matrix} == {16}
    assert {v for row in matrix for v in row} <= set(bench.VALUES)
    layer = bench.matrix_layer()
    assert layer.config.depth == 1 and layer.config.pes == 16 and layer.config.lanes == 64
    const = bench.vector_const(1)
    assert const.config.register_every == 1 and const.config.max_beats == 1


def test_readme_table_is_the_measured_one():
    bench = _bench()
    rows = json.loads((ROOT / "results" / "const_synth.json").read_text())
    table = bench.table(rows)
    assert (ROOT / "results" / "const_synth.md").read_text() == table
    assert table in (ROOT / "README.md").read_text()
    for row in rows:
        if row["fmax_seeds"]:
            assert len(row["fmax_seeds"]) >= 3
