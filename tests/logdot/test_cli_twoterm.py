"""Two-term weights on the command line: ``logdot generate-layer`` of a two-term layer file and
``logdot compile`` of a network exported with weight format ``"twoterm"`` write the two-term
engines (manifest fields: ``weight_terms``, the weight format and its code fields), refuse
``--const-weights`` with one line naming the flag, and the FuseSoC test benches of both pass
in Icarus (``make test-full``)."""

from __future__ import annotations

import json

import pytest

from logdot.generators.fusesoc import core_vlnv
from logdot.golden.spec_io import save_spec
from tests.logdot.test_cli_errors import assert_one_line_error, files_in, run
from tests.support.fusesoc import fusesoc_run
from tests.support.networks import twoterm_cnn

CODE_FIELDS = {  # 5-bit two-term weights: | sign | c (2 bits) | j (2 bits) |
    "sign": {"lsb": 4, "width": 1},
    "first_code": {"lsb": 2, "width": 2},
    "second_offset": {"lsb": 0, "width": 2},
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A two-term network file and its first layer's layer file (5-bit weights)."""
    d = tmp_path_factory.mktemp("twoterm")
    net, _ = twoterm_cnn(0, weight_bits=5, path=d / "tt.net.pt")
    save_spec(net.layers[0].spec, d / "conv0.pt")
    return d / "tt.net.pt", d / "conv0.pt"


def test_generate_layer_writes_the_twoterm_engine(files, tmp_path):
    _, layer = files
    code, _, err = run(["generate-layer", "--weights", str(layer), "--lanes", "5", "--pes",
                          "2", "--name", "tt", "--out", str(tmp_path), "--quiet"])  # fmt: skip
    assert code == 0, err
    m = json.loads((tmp_path / "tt.json").read_text())
    assert m["engine"]["parameters"]["weight_terms"] == 2
    assert m["weights"]["format"] == "twoterm" and m["mapping"]["weight_format"] == "twoterm"
    assert m["weights"]["code_fields"] == CODE_FIELDS
    assert m["weights"]["lanes"][1] == {"lane": 1, "lsb": 5, "width": 5, "sign_bit": 9}
    assert "weights 5-bit two-term power-of-two;" in (tmp_path / "tt.v").read_text()


def test_const_weights_refuses_twoterm_layers(files, tmp_path):
    _, layer = files
    out = tmp_path / "o"
    code, _, err = run(["generate-layer", "--weights", str(layer), "--lanes", "9", "--pes", "3",
                        "--const-weights", "--out", str(out)])  # fmt: skip
    assert_one_line_error(
        code, err, f"--const-weights needs single-term weights; the layer in {layer} has two-term"
    )
    assert files_in(out) == []


def test_compile_writes_the_twoterm_network(files, tmp_path):
    net_file, _ = files
    code, _, err = run(["compile", "--network", str(net_file), "--name", "ttnet", "--out",
                          str(tmp_path), "--quiet"])  # fmt: skip
    assert code == 0, err
    m = json.loads((tmp_path / "ttnet.json").read_text())
    engines = [x for x in m["layers"] if "engine" in x]
    assert len(engines) == 3
    for x in engines:
        assert x["engine"]["parameters"]["weight_terms"] == 2
        assert x["weights"]["format"] == "twoterm" and x["weights"]["code_fields"] == CODE_FIELDS
    assert m["network"]["input_format"]["kind"] == "linear"


@pytest.mark.full
def test_fusesoc_benches_of_twoterm_designs_pass(files, tmp_path):
    """The self-checking benches (golden vectors) of the layer and the network in Icarus."""
    net_file, layer = files
    for cmd, name, flags, want in [
        ("generate-layer", "ttl", ["--weights", str(layer), "--lanes", "4", "--pes", "2"], ""),
        ("compile", "ttn", ["--network", str(net_file)], "LOGDOT_TB_PASS ttn: 2 outputs"),
    ]:
        out = tmp_path / name
        code, _, err = run([cmd, *flags, "--name", name, "--out", str(out), "--quiet"])
        assert code == 0, err
        sim = fusesoc_run(tmp_path / f"fusesoc_{name}", [out], "sim", core_vlnv(name))
        assert sim.returncode == 0, sim.stdout
        assert f"LOGDOT_TB_PASS {name}" in sim.stdout and want in sim.stdout
