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
