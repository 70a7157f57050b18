"""``logdot compile`` and :mod:`logdot.generators.network`: the Verilog of a whole network
builds with Icarus and Verilator, runs bit-exact in Icarus against the golden stream model,
the manifest describes the design, and every CLI error is one line, exit 2, nothing written.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import torch

from logdot.generators.common import OUTPUT_SUFFIXES
from logdot.generators.fusesoc import core_vlnv
from logdot.generators.network import auto_fold, compile_network, resolve_fold
from logdot.golden.network_file import save_network
from logdot.golden.network_stream import Beat, pixel_stream, stream_forward
from logdot.hdl.layer import layer_latency
from logdot.hdl.network import FIFO_MODEL, MIN_FIFO_DEPTH, NETWORK_PORTS, NetworkTop
from logdot.tools import require_tool
from logdot.tools.lint import iverilog_check, verilator_lint
from tests.support.cli import NETWORK_FLAG_ERRORS, assert_cli_error, error_cases
from tests.support.cli import run_cli as run
from tests.support.fusesoc import fusesoc_run
from tests.support.networks import TILED_FOLD, rect_net, small_cnn
from tests.support.once import build_once

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def net():
    return small_cnn()


@pytest.fixture(scope="module")
def compiled(net, tmp_path_factory):
    """``logdot compile`` of the small CNN (text, manifest), once per test run."""
    return build_once(
        tmp_path_factory,
        "compile_small_net",
        lambda _: compile_network(net, fold=TILED_FOLD, name="small_net"),
    )


def test_manifest_describes_the_design(net, compiled):
    text, man = compiled
    assert text.startswith("// small_net: logdot streaming network")
    assert f"module small_net({', '.join(NETWORK_PORTS)});" in text
    top = NetworkTop(net, fold=TILED_FOLD)
    top._MustUse__silence = True  # built for its properties only
    assert man["cycles_per_image"] == top.cycles_per_image
    assert man["latency_cycles"] == top.latency < man["latency_bound"] == top.latency_bound
    assert man["bottleneck"] == [{"kind": "window", "layer": 0}]
    assert [p["name"] for p in man["ports"]] == list(NETWORK_PORTS)
    assert man["s_axis"]["tdata_bits"] == 8 and man["s_axis"]["used_bits"] == 4
    assert man["m_axis"]["tdata_bits"] % 8 == 0 and man["m_axis"]["signed"]
    assert man["output_scale"] == 2.0 ** (net.output_scale_x2 / 2)
    engines = [x for x in man["layers"] if x["type"] in ("conv2d", "linear")]
    assert [(x["lanes"], x["pes"]) for x in engines] == list(TILED_FOLD.values())
    assert all(x["weights"]["words"] and x["bias"]["values"] for x in engines)
    # each engine's entry as the layer manifest (logdot.layer/2): latency_cycles, string base
    for x, ml in zip(engines, [m for m in top.mapped if m is not None], strict=True):
        assert x["latency_cycles"] == layer_latency(ml.config)
        assert isinstance(x["engine"]["parameters"]["weight_base"], str)
    fifos = [s for s in man["stages"] if s["kind"] == "fifo"]
    assert man["fifo_depths"] == [s["depth"] for s in fifos] and len(fifos) == 4
    # the rule the manifest states is the one the depths follow
    assert man["fifo_model"] == FIFO_MODEL and f"at least {MIN_FIFO_DEPTH};" in FIFO_MODEL
    assert all(d == 1 or d >= MIN_FIFO_DEPTH for d in man["fifo_depths"])
    windows = [s for s in man["stages"] if s["kind"] == "window"]
    assert windows[0]["line_buffer"] == {"words": 8, "word_bits": 8}
    json.dumps(man)  # serializable


def test_auto_fold_is_the_smallest_engine_within_the_bound(net):
    fold = resolve_fold(net)
    assert set(fold) == {0, 2, 4}
    top = NetworkTop(net, fold=fold)
    top._MustUse__silence = True
    # the padded 10x10 image of the first window bounds the pipeline, no engine slows it
    assert top.cycles_per_image == 100
    for i, (lanes, pes) in fold.items():
        smaller = [(lanes - 1, pes), (lanes, pes - 1)]
        for lp in smaller:
            if min(lp) >= 1:
                t = NetworkTop(net, fold={**fold, i: lp})
                t._MustUse__silence = True
                assert t.cycles_per_image > 100 or lp[0] * lp[1] == lanes * pes
    assert auto_fold(net, 4, target=10**6) == (1, 1)
    with pytest.raises(ValueError, match="not an engine layer"):
        auto_fold(net, 1)


def test_verilog_builds_with_icarus_and_verilator(compiled, tmp_path):
    path = tmp_path / "small_net.v"
    path.write_text(compiled[0])
    iverilog_check(path)
    verilator_lint(path)


_TB = """
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 1;
  reg s_valid = 0, s_last = 0, m_ready = 0;
  reg [{IN}-1:0] s_data = 0;
  wire s_ready, m_valid, m_last, frame_error;
  wire [{OUT}-1:0] m_data;
  reg [{IN}:0] beats [0:{NB}-1];
  integer i = 0, got = 0, cyc = 0, f;
  reg [31:0] lfsr = 32'h1234567;
  small_net dut(.clk(clk), .rst(rst), .s_axis_tvalid(s_valid), .s_axis_tready(s_ready),
    .s_axis_tlast(s_last), .s_axis_tdata(s_data), .m_axis_tvalid(m_valid),
    .m_axis_tready(m_ready), .m_axis_tlast(m_last), .m_axis_tdata(m_data),
    .frame_error(frame_error));
  always #5 clk = ~clk;
  initial begin
    $readmemh("beats.hex", beats);
    f = $fopen("out.txt", "w");
    @(posedge clk); @(posedge clk); #1 rst = 0;
    while (got < {NO} && cyc < 100000) begin
      lfsr = {{lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]}};
      s_valid = (i < {NB}) && lfsr[2:0] != 0;
      if (i < {NB}) begin s_data = beats[i][{IN}-1:0]; s_last = beats[i][{IN}]; end
      m_ready = lfsr[5:4] != 0;
      @(posedge clk);
      if (s_valid && s_ready) i = i + 1;
      if (m_valid && m_ready) begin
        $fwrite(f, "%h %0d %0d\\n", m_data, m_last, frame_error);
        got = got + 1;
      end
      cyc = cyc + 1;
      #1;
    end
    $fclose(f);
    $finish;
  end
endmodule
"""


def test_icarus_simulation_is_bit_exact_with_malformed_frames(net, compiled, tmp_path):
    text, man = compiled
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 16, (4, *net.input_shape), generator=g)
    frames = [list(pixel_stream(net, im)) for im in images]
    short = frames[1][:20]
    short[-1] = Beat(short[-1].data, True)
    long = [Beat(b.data, False) for b in frames[2]] + [Beat(5, True)]
    beats = frames[0] + short + long + frames[3]
    want = stream_forward(net, beats)
    in_bits, out_bits = man["s_axis"]["tdata_bits"], man["m_axis"]["tdata_bits"]
    (tmp_path / "small_net.v").write_text(text)
    (tmp_path / "beats.hex").write_text(
        "".join(f"{(int(b.last) << in_bits) | b.data:x}\n" for b in beats)
    )
    tb = _TB.format(IN=in_bits, OUT=out_bits, NB=len(beats), NO=len(want.outputs))
    (tmp_path / "tb.v").write_text(tb)
    iverilog = require_tool("iverilog")
    vvp = os.path.join(os.path.dirname(iverilog), "vvp")
    subprocess.run(
        [iverilog, "-g2012", "-o", "sim", "tb.v", "small_net.v"], cwd=tmp_path, check=True
    )
    subprocess.run([vvp, "-n", "sim"], cwd=tmp_path, check=True, capture_output=True)
    lines = (tmp_path / "out.txt").read_text().split()
    words = [int(x, 16) for x in lines[0::3]]
    assert words == want.outputs
    assert lines[1::3] == ["1"] * len(words)
    assert lines[2::3][-1] == "1"


# -- the CLI -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def net_file(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "small.net.pt"
    save_network(net, path)
    return str(path)


def test_compile_writes_verilog_and_manifest(net_file, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run(
        ["compile", "--network", net_file, "--name", "tiny", "--out", str(out), "--fold",
         "0=3x2,3=9x2,6=5x2"]
    )  # fmt: skip
    assert code == 0, err
    assert "cycles per image" in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(f"tiny{s}" for s in OUTPUT_SUFFIXES)
    man = json.loads((out / "tiny.json").read_text())
    assert man["name"] == "tiny" and man["cycles_per_image"] == 401
    assert "module tiny(" in (out / "tiny.v").read_text()
    # The FuseSoC core's sim target: two golden images through the whole design in Icarus.
    sim = fusesoc_run(tmp_path / "fusesoc", [out], "sim", core_vlnv("tiny"))
    assert sim.returncode == 0, sim.stdout
    assert "LOGDOT_TB_PASS tiny: 2 outputs" in sim.stdout
    code, _, err = run(["compile", "--network", net_file, "--name", "tiny", "--out", str(out)])
    assert code == 2 and "use --force" in err
    code, _, err = run(
        ["compile", "--network", net_file, "--name", "tiny", "--out", str(out), "--force"]
    )
    assert code == 0, err
    assert json.loads((out / "tiny.json").read_text())["cycles_per_image"] == 100


def test_target_cycles_picks_smaller_engines(net_file, tmp_path):
    sizes = {}
    for target in (100, 400):
        out = tmp_path / str(target)
        argv = ["compile", "--network", net_file, "--out", str(out), "--name", "n"]
        code, _, err = run([*argv, "--target-cycles", str(target)])
        assert code == 0, err
        man = json.loads((out / "n.json").read_text())
        assert 100 <= man["cycles_per_image"] <= target
        engines = [x for x in man["layers"] if "lanes" in x]
        sizes[target] = sum(x["lanes"] * x["pes"] for x in engines)
    assert sizes[400] < sizes[100]


#: The errors of ``logdot compile`` beyond the shared network flags.
COMPILE_ERRORS = [
    (["--target-cycles", "0"], "--target-cycles: must be a positive integer, not 0"),
    (["--target-cycles", "x"], "--target-cycles must be an integer, not 'x'"),
    (["--network", "/nonexistent/net.pt"], "--network: no such file: /nonexistent/net.pt"),
]


@pytest.mark.parametrize(("extra", "line"), error_cases(NETWORK_FLAG_ERRORS + COMPILE_ERRORS))
def test_compile_errors_are_one_line_and_write_nothing(net_file, tmp_path, extra, line):
    out = tmp_path / "out"
    argv = ["compile", "--network", net_file, "--out", str(out), *extra]
    assert_cli_error(argv, out, line)


def test_compile_rejects_a_damaged_network_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a network")
    code, _, err = run(["compile", "--network", str(bad), "--out", str(tmp_path / "o")])
    assert code == 2 and err.startswith("logdot: error: --network: ") and err.count("\n") == 1
    assert "not a readable network file" in err
    assert not (tmp_path / "o").exists()


def test_non_square_geometry_and_a_floor_pool_compile(tmp_path):
    """Nothing square (a 1x3 kernel with stride (2, 1), a 2x3 pool that drops a column of its
    4x10 input, a 2x1 kernel): the manifest gives each unit's geometry and line buffer, and
    the Verilog passes Verilator's lint."""
    net = rect_net(1)
    text, man = compile_network(net, name="rect_net")
    assert [x["out_shape"] for x in man["layers"]][:3] == [[3, 4, 10], [3, 2, 3], [4, 3, 3]]
    w1, pool, w2 = [s for s in man["stages"] if s["kind"] in ("window", "pool")]
    assert (w1["params"]["kernel"], w1["params"]["stride"]) == ([1, 3], [2, 1])
    assert w1["line_buffer"] == {"words": 0, "word_bits": 0}  # one kernel row: no rows kept
    assert pool["params"]["kernel"] == [2, 3]
    assert pool["line_buffer"] == {"words": 3, "word_bits": 3 * 4}  # 10 // 3 partial maxima
    assert (w2["params"]["kernel"], w2["line_buffer"]["words"]) == ([2, 1], 3)
    path = tmp_path / "rect_net.v"
    path.write_text(text)
    verilator_lint(path)
