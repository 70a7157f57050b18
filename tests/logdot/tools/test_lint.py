"""logdot.tools.lint: the lint helpers fail on a bad design, and their waivers are documented."""

import pytest

from logdot.tools.lint import LINT_WAIVERS, LintError, iverilog_check, verilator_lint, waiver_flags


def test_lint_catches_warnings(tmp_path):
    """The lint helpers can fail: an unused input and a width mismatch outside the waivers."""
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input a, output y);\n  reg r;\n  assign y = r;\nendmodule\n")
    with pytest.raises(LintError, match="bad"):
        verilator_lint(bad)
    bad.write_text("module bad(input a, output y);\n  assign y = b;\nendmodule\n")
    with pytest.raises(LintError):
        iverilog_check(bad)
    assert set(LINT_WAIVERS) == {"WIDTH", "UNUSEDSIGNAL", "DECLFILENAME", "PROCASSINIT"}
    assert waiver_flags() == [f"-Wno-{w}" for w in LINT_WAIVERS]
    assert all(len(reason) > 40 for reason in LINT_WAIVERS.values())


def test_verilator_config_waives_in_its_file_only(tmp_path):
    """The ``.vlt`` of :func:`verilator_config` waives LINT_WAIVERS in the named file, under
    any path Verilator is given, and nowhere else: a width bug in another file of the same
    run (or in a file whose name merely ends the same) is still reported."""
    import subprocess

    from logdot.tools import require_tool
    from logdot.tools.lint import verilator_config

    text = verilator_config("eng.v")
    assert text.splitlines()[2] == "`verilator_config"
    for rule in LINT_WAIVERS:
        assert f'lint_off -rule {rule} -file "eng.v"\n' in text
        assert f'lint_off -rule {rule} -file "*/eng.v"\n' in text
    assert verilator_config("/some/dir/eng.v") == text
    assert not [line for line in text.splitlines() if line.lower().startswith("// verilator")]
    for bad in ("", "a*.v", 'a".v'):
        with pytest.raises(ValueError, match="file_name must be a plain file name"):
            verilator_config(bad)
    bug = "module {m}(input [7:0] a, output [3:0] y);\n  assign y = a + 8'd1;\nendmodule\n"
    (tmp_path / "rtl").mkdir()
    for m in ("eng", "myeng", "top"):
        (tmp_path / "rtl" / f"{m}.v").write_text(bug.format(m=m))
    (tmp_path / "eng.vlt").write_text(text)
    for eng in ("rtl/eng.v", str(tmp_path / "rtl" / "eng.v")):
        cmd = [require_tool("verilator"), "--lint-only", "-Wall", "-Wno-MULTITOP", "eng.vlt"]
        cmd += [eng, "rtl/myeng.v", "rtl/top.v"]
        p = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)
        warned = {line.split(": ")[1].split(":")[0] for line in p.stderr.splitlines()
                  if line.startswith("%Warning-WIDTH")}  # fmt: skip
        assert warned == {"rtl/myeng.v", "rtl/top.v"}, p.stderr
    # Without the configuration, the file itself warns (the waivers are what silences it).
    with pytest.raises(LintError, match="WIDTH"):
        verilator_lint(tmp_path / "rtl" / "eng.v", waivers=())
    verilator_lint(tmp_path / "rtl" / "eng.v")
