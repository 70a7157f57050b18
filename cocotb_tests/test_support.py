"""support.py's build directories: a directory without its completion stamp (an
interrupted or failed build) is stale and cleared before the next build; every case writes
its JUnit XML (and with WAVES=1 its waveform) into its own content-hashed build directory;
a design is generated once per session (shared_rtl) and cocotb's Verilator main is reused
between designs of one port count (verilator_main); the model is compiled with a precompiled
verilated.h (verilator_pch)."""

import concurrent.futures
import os
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
import shared_rtl
import support
import test_faults_runner as fr
import test_runner as tr
import verilator_main
import verilator_pch

from logdot.golden.formats import EngineConfig
from logdot.tools import use_on_path


def test_stale_build_dir_is_cleared(tmp_path):
    bdir = tmp_path / "verilator" / "cfg"
    (bdir / "rtl").mkdir(parents=True)
    (bdir / "rtl" / "logdot.v").write_text("module m; endmodule\n")
    (bdir / "verilated.o").write_bytes(b"trunc")  # e.g. killed while copied or compiled
    (bdir / "Vtop.mk").write_text("")
    (bdir / "tmpdir").mkdir()
    assert support.prepare_build_dir(bdir, "verilator", False) is True
    assert sorted(p.name for p in bdir.iterdir()) == ["rtl"]
    assert (bdir / "rtl" / "logdot.v").exists()


def test_complete_build_dir_is_kept_and_unstamped_while_building(tmp_path):
    bdir = tmp_path / "cfg"
    bdir.mkdir()
    (bdir / "Vtop").write_text("binary")
    support.mark_build_complete(bdir, "verilator", False)
    assert (bdir / support.BUILD_STAMP).is_file()
    assert support.prepare_build_dir(bdir, "verilator", False) is False
    assert (bdir / "Vtop").exists()
    # The stamp is gone during the build: an interrupt now leaves a stale directory.
    assert not (bdir / support.BUILD_STAMP).exists()
    assert support.prepare_build_dir(bdir, "verilator", False) is True
    assert not (bdir / "Vtop").exists()


def test_stamp_of_another_trace_setting_is_stale(tmp_path):
    bdir = tmp_path / "cfg"
    bdir.mkdir()
    (bdir / "Vtop").write_text("binary")
    support.mark_build_complete(bdir, "verilator", False)
    assert support.prepare_build_dir(bdir, "verilator", True) is True
    assert not (bdir / "Vtop").exists()


# -- regression outputs: content-hashed build directories, JUnit XML, waveforms -------------

_SMALL = dict(id="l2_u6_w3_sat9_re1", lanes=2, act_bits=6, weight_bits=3, act_signed=False,
              acc_bits=9, register_every=1)  # fmt: skip


def _cosim(sim, name, config):
    return support.cosim(
        sim,
        name=name,
        seed_key="faults/" + name,
        write=tr.engine_writer(config),
        toplevel=tr.TOPLEVEL,
        test_module=fr.TEST_MODULE,
        manifest_env="LOGDOT_MANIFEST",
        env={},
        expected_tests=1,
        testcase="test_random_short",
    )


def _cases(xml_path):
    """``[(classname, name, "passed" | "failure")]`` of a JUnit XML file."""
    root = ET.parse(xml_path).getroot()
    return [
        (
            c.get("classname"),
            c.get("name"),
            "failure" if c.find("failure") is not None else "passed",
        )
        for c in root.iter("testcase")
    ]


def test_each_case_writes_junit_xml_into_its_content_hashed_build_dir(tmp_path, monkeypatch):
    from tests.support.mutants import generating_mutant

    monkeypatch.setenv("LOGDOT_BUILD", str(tmp_path))
    monkeypatch.delenv("WAVES", raising=False)
    config = EngineConfig(**tr.config_params(_SMALL))
    good = _cosim("icarus", "small", config)
    assert good.ok, good.report
    key = support.content_key(sorted((good.build_dir / "rtl").iterdir()), tr.TOPLEVEL)
    assert good.build_dir == tmp_path / "icarus" / f"small-{key}"
    assert good.results_xml == good.build_dir / "test_faults.results.xml"
    assert _cases(good.results_xml) == [("test_faults", "test_random_short", "passed")]
    again = _cosim("icarus", "small", config)  # a rerun: the same directory, a fresh file
    assert again.ok and again.build_dir == good.build_dir
    with generating_mutant("sign", lane=1):
        bad = _cosim("icarus", "small", config)
    assert not bad.ok and "MISMATCH" in bad.report  # the runner exits 1 after the XML
    assert bad.build_dir != good.build_dir and bad.build_dir.name.startswith("small-")
    assert _cases(bad.results_xml) == [("test_faults", "test_random_short", "failure")]
    assert _cases(good.results_xml) == [("test_faults", "test_random_short", "passed")]
    assert not list((tmp_path / "icarus").glob(".generate-*"))  # no temporary folder left


@pytest.mark.parametrize("sim", support.SIMULATORS)
def test_waves_writes_one_waveform_per_case(tmp_path, monkeypatch, sim):
    monkeypatch.setenv("LOGDOT_BUILD", str(tmp_path))
    monkeypatch.setenv("WAVES", "1")
    result = _cosim(sim, "small", EngineConfig(**tr.config_params(_SMALL)))
    assert result.ok, result.report
    fmt = support.wave_format(sim)
    assert result.waves == result.build_dir / f"test_faults.{fmt}"
    data = result.waves.read_bytes()
    if fmt == "fst":
        assert data[0] == 0 and len(data) > 200  # FST: a header block (type 0) first
    else:
        assert data.startswith(b"$") and b"$enddefinitions" in data
    waves = sorted(p.name for p in result.build_dir.iterdir() if p.suffix in (".fst", ".vcd"))
    assert waves == [result.waves.name]  # one per case, nothing else
    assert fmt == "fst" or sim == "verilator"


# -- one generation per session and design (shared_rtl) -------------------------------------


def _counting_writer(calls, text="module m; endmodule\n", delay=0.0):
    def write(directory):
        calls.append(directory)
        time.sleep(delay)
        (directory / "m.v").write_text(text)
        (directory / "m.json").write_text('{"schema": "x"}')
        return directory / "m.v", directory / "m.json"

    return write


def test_a_design_is_generated_once_per_session(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", "run1")
    calls = []
    write = _counting_writer(calls)
    outs = []
    for k in range(3):
        (tmp_path / f"d{k}").mkdir()
        outs.append(shared_rtl.generate(write, tmp_path / f"d{k}", root=tmp_path, design="a"))
    assert len(calls) == 1
    for out in outs:  # every run gets the files, in the writer's order, in its own folder
        assert [p.name for p in out] == ["m.v", "m.json"]
        assert out[0].read_text() == "module m; endmodule\n"
        assert out[1].read_text() == '{"schema": "x"}'
    assert outs[1][0].parent == tmp_path / "d1"
    shared_rtl.generate(write, tmp_path / "d0", root=tmp_path, design="b")  # another design
    assert len(calls) == 2
    shared_rtl.generate(write, tmp_path / "d0", root=tmp_path)  # no design: always
    shared_rtl.generate(write, tmp_path / "d0", root=tmp_path)
    assert len(calls) == 4
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", "run2")  # another session generates anew
    shared_rtl.generate(write, tmp_path / "d0", root=tmp_path, design="a")
    assert len(calls) == 5


def test_concurrent_runs_of_one_design_generate_once(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", "run1")
    calls = []
    write = _counting_writer(calls, delay=0.3)
    dirs = [tmp_path / f"d{k}" for k in range(3)]
    for d in dirs:
        d.mkdir()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        outs = list(
            pool.map(lambda d: shared_rtl.generate(write, d, root=tmp_path, design="a"), dirs)
        )
    assert len(calls) == 1
    assert [out[0].read_text() for out in outs] == ["module m; endmodule\n"] * 3


def test_old_sessions_are_pruned(tmp_path, monkeypatch):
    old = tmp_path / shared_rtl.SHARED / "old-run"
    old.mkdir(parents=True)
    stamp = time.time() - shared_rtl.KEEP_S - 10
    os.utime(old, (stamp, stamp))
    recent = tmp_path / shared_rtl.SHARED / "recent-run"
    recent.mkdir()
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", "run1")
    (tmp_path / "d").mkdir()
    shared_rtl.generate(_counting_writer([]), tmp_path / "d", root=tmp_path, design="a")
    assert sorted(p.name for p in (tmp_path / shared_rtl.SHARED).iterdir()) == [
        "recent-run",
        "run1",
    ]


# -- cocotb's Verilator main, cached (verilator_main) ---------------------------------------

_PORTS_A = "input wire clk, input wire [7:0] a, output reg [15:0] y"
_PORTS_B = "input wire clk, input wire [47:0] wide_in, output reg [99:0] wide_out"
_PORTS_C = _PORTS_A + ", output reg z"  # one port more


def _verilate(tmp_path, name, ports):
    """Verilator's output for a one-register module with ``ports``, as cocotb's runner makes it
    (its build directory and make command)."""
    import cocotb_tools.config

    bdir = tmp_path / name
    bdir.mkdir()
    src = bdir / "m.v"
    outs = [p.split()[-1] for p in ports.split(",") if "output" in p]
    body = "".join(f"    always @(posedge clk) {o} <= 0;\n" for o in outs)
    src.write_text(f"module m({ports});\n{body}endmodule\n")
    main = cocotb_tools.config.share_dir / "lib" / "verilator" / "verilator.cpp"
    exe = use_on_path("verilator")
    subprocess.run(
        [exe, "-cc", "--exe", "-Mdir", str(bdir), "--top-module", "m", "--vpi",
         "--public-flat-rw", "--prefix", "Vtop", "-o", "m", *support.build_args("verilator"),
         str(main), str(src)],
        check=True, capture_output=True,
    )  # fmt: skip
    return bdir, ["make", "-j", "2", "-C", str(bdir), "-f", "Vtop.mk", "VM_TRACE=0"]


def test_verilator_main_depends_on_the_port_count_only(tmp_path):
    """The premise of the cache: two designs whose ports differ in width, name and order
    compile cocotb's main to the same bytes and get one key; one more port, another key."""
    support.check_verilator()
    a, make_a = _verilate(tmp_path, "a", _PORTS_A)
    b, make_b = _verilate(tmp_path, "b", _PORTS_B)
    c, make_c = _verilate(tmp_path, "c", _PORTS_C)
    assert (a / "Vtop.h").read_text() != (b / "Vtop.h").read_text()
    key = verilator_main.main_key(a, make_a)
    assert verilator_main.main_key(b, make_b) == key
    assert verilator_main.main_key(c, make_c) != key
    assert verilator_main.main_key(a, [*make_a[:-1], "VM_TRACE=1"]) != key  # other flags
    for bdir in (a, b):
        subprocess.run(verilator_main.compile_command(bdir, make_a), cwd=bdir, check=True)
    assert (a / "verilator.o").read_bytes() == (b / "verilator.o").read_bytes()
    # stored from a, restored into b (and not into c): b's build keeps it
    cache = tmp_path / "cache"
    assert verilator_main.restore(cache, a, make_a) is False
    verilator_main.store(cache, a)
    (b / "verilator.o").unlink()
    assert verilator_main.restore(cache, b, make_b) is True
    assert (b / "verilator.o").read_bytes() == (a / "verilator.o").read_bytes()
    assert (b / "verilator.o").stat().st_mtime >= (b / "Vtop.h").stat().st_mtime
    assert verilator_main.restore(cache, c, make_c) is False
    assert not (c / "verilator.o").exists()


def test_the_model_compiles_to_the_same_object_with_the_precompiled_header(tmp_path):
    support.check_verilator()
    bdir, make = _verilate(tmp_path, "a", _PORTS_A)
    subprocess.run(["make", "-f", "Vtop.mk", "Vtop__ALL.cpp"], cwd=bdir, check=True,
                   capture_output=True)  # fmt: skip
    flags = verilator_pch.model_flags(bdir, make)
    subprocess.run([*flags, "-c", "-o", "plain.o", "Vtop__ALL.cpp"], cwd=bdir, check=True)
    header = verilator_pch.prepare(tmp_path / "pch", bdir, make)
    assert header is not None and header.with_name(header.name + ".gch").is_file()
    used = subprocess.run(
        [*flags, "-Winvalid-pch", "-H", "-include", str(header), "-c", "-o", "pch.o",
         "Vtop__ALL.cpp"],
        cwd=bdir, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert f"! {header}.gch" in used.stderr.splitlines()  # -H marks the header used with "!"
    assert (bdir / "pch.o").read_bytes() == (bdir / "plain.o").read_bytes()
    # make compiles the model (and only the model) with it
    dry = subprocess.run(
        ["make", "-n", "-B", "-f", "Vtop.mk", "-f", verilator_pch.MAKEFILE, "Vtop__ALL.o",
         "verilator.o"],
        cwd=bdir, check=True, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip
    model = [ln for ln in dry if "-o Vtop__ALL.o" in ln]
    main = [ln for ln in dry if "-o verilator.o" in ln]
    assert len(model) == len(main) == 1
    assert f"-include {header}" in model[0] and "-include" not in main[0]
