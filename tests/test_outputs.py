"""Files the tools write and the lines they print: permissions and wording.

* ``save_spec`` writes a ``layer.pt`` with mode 0644 under a 022 umask, like every other output
  (``tempfile.mkstemp`` alone would leave it 0600).
* ``logdot generate-layer``'s summary line counts beats, tiles, PEs, lanes and cycles in the
  singular when there is one of them.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat

import pytest
import torch
from torch import nn

from logdot.cli import main
from logdot.golden.spec_io import load_spec, save_spec, spec_from_module
from tests.support.layers import quantize_log2


def _spec():
    """A 6-input, 4-output Linear layer with a ReLU, quantized as the README's steps do."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    q = quantize_log2(model, torch.rand(32, 6))
    return spec_from_module(q[0], relu=True, next_quant=q[2].input_quant)


@contextlib.contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_save_spec_writes_mode_0644(tmp_path):
    path = tmp_path / "layer.pt"
    with umask(0o022):
        save_spec(_spec(), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert torch.equal(load_spec(path).weight_codes, _spec().weight_codes)
    assert [p.name for p in tmp_path.iterdir()] == ["layer.pt"]  # no temporary file left


def _generate_layer(tmp_path, lanes, pes):
    path = tmp_path / "layer.pt"
    save_spec(_spec(), path)
    out, err = io.StringIO(), io.StringIO()
    argv = ["generate-layer", "--weights", str(path), "--lanes", str(lanes), "--pes", str(pes)]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv, "--out", str(tmp_path / f"out{lanes}x{pes}")])
    assert code == 0, err.getvalue()
    return out.getvalue()


@pytest.mark.parametrize(
    ("lanes", "pes", "expected"),
    [
        # 4 outputs x 6 inputs: one PE, one beat per dot product at 8 lanes ...
        (8, 1, "1 PE x 8 lanes, 1 beat per dot product, 4 output-channel tiles, latency "),
        # ... two of each at 4 lanes x 2 PEs, one tile at 8 lanes x 4 PEs.
        (4, 2, "2 PEs x 4 lanes, 2 beats per dot product, 2 output-channel tiles, latency "),
        (8, 4, "4 PEs x 8 lanes, 1 beat per dot product, 1 output-channel tile, latency "),
    ],
)
def test_generate_layer_summary_counts_in_the_singular(tmp_path, lanes, pes, expected):
    text = _generate_layer(tmp_path, lanes, pes)
    assert expected in text, text
    assert re.search(r"latency (1 cycle|\d+ cycles), output log 4 bits; FuseSoC core ", text), text
    assert not re.search(r"\b1 \w+s\b", text), text
