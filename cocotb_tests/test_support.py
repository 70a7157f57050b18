"""support.py's build directories: a directory without its completion stamp (an
interrupted or failed build) is stale and cleared before the next build; every case writes
its JUnit XML (and with WAVES=1 its waveform) into its own content-hashed build directory."""

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import support
import test_faults_runner as fr
import test_runner as tr

from logdot.golden.formats import EngineConfig


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
    # the session's Verilator runtime objects (RUNTIME_OBJECTS), not a fresh compile of them
    runtime = support.runtime_cache_root()
    monkeypatch.setattr(support, "runtime_cache_root", lambda: runtime)
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
    if sim == "verilator":  # cocotb's main compiled in the model's unit (vlmain.py)
        assert not (result.build_dir / "verilator.o").exists()
        unit = (result.build_dir / "Vtop__ALL.cpp").read_text()
        assert f'#include "{support.verilator_main()}"' in unit


def _trace_defines(fmt):
    """The ``-DVM_TRACE*`` flags verilated.mk compiles the runtime with for trace format ``fmt``
    ("" without waves)."""
    on = {"VM_TRACE": bool(fmt), "VM_TRACE_FST": fmt == "fst", "VM_TRACE_VCD": fmt == "vcd"}
    return [f"-D{k}={int(v)}" for k, v in on.items()] + ["-DVM_TRACE_SAIF=0"]


def test_runtime_objects_do_not_depend_on_the_trace_setting():
    """The runtime objects a ``WAVES=1`` build shares with the others (support.RUNTIME_OBJECTS)
    are compiled from the same preprocessed sources with and without tracing."""
    from logdot.tools.verilator import verilator

    root = subprocess.run(
        [verilator(), "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True, check=True
    ).stdout.strip()
    include = Path(root) / "include"
    sources = [include / f"{f[:-2]}.cpp" for f in support.RUNTIME_OBJECTS if f.endswith(".o")]
    assert len(sources) == 4 and all(s.is_file() for s in sources)

    def preprocessed(fmt):
        flags = ["-I", str(include), "-I", str(include / "vltstd"), "-DVERILATOR=1"]
        flags += ["-DVM_COVERAGE=0", "-DVM_SC=0", "-DVM_TIMING=0", *_trace_defines(fmt)]
        return [
            subprocess.run(
                ["c++", "-E", "-P", *flags, str(src)], capture_output=True, check=True
            ).stdout
            for src in sources
        ]

    plain = preprocessed("")
    assert b"VerilatedContext" in plain[0]
    assert preprocessed(support.wave_format("verilator")) == plain
