"""support.py's build directories: a directory without its completion stamp (an
interrupted or failed build) is stale and cleared before the next build."""

import support


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
