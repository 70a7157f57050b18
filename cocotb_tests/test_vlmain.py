"""vlmain.py: cocotb's Verilator main moved into the model's translation unit (no compiler:
the real builds are every Verilator case of the runners; test_support.py checks that a build
compiles no separate main, ``test_make_links_the_main_from_the_model_unit`` runs make -n)."""

import subprocess

import vlmain

MAIN = "/site/cocotb/share/lib/verilator/verilator.cpp"


class _Runner:
    def __init__(self, cmds, build_dir):
        self._cmds, self.build_dir = cmds, build_dir

    def _build_command(self):
        return self._cmds


def test_make_step_uses_the_one_unit_makefile(tmp_path):
    (tmp_path / "Vtop__ALL.cpp").write_text('#include "Vtop.cpp"\n')  # of an unmerged build
    verilate = ["verilator", "-cc", "--exe", MAIN, "top.v"]
    make = ["make", "-j", "2", "-C", str(tmp_path), "-f", "Vtop.mk", "VM_TRACE=0"]
    runner = vlmain.compile_main_with_model(_Runner([verilate, make], tmp_path), MAIN)
    cmds = runner._build_command()
    assert cmds == [verilate, [*make[:6], vlmain.MAKEFILE, "VM_TRACE=0"]]
    text = (tmp_path / vlmain.MAKEFILE).read_text()
    assert "override VM_USER_CLASSES :=\n" in text
    assert "VM_FAST := /site/cocotb/share/lib/verilator/verilator\ninclude Vtop.mk\n" in text
    assert not (tmp_path / "Vtop__ALL.cpp").exists()
    (tmp_path / "Vtop__ALL.cpp").write_text(f'#include "Vtop.cpp"\n#include "{MAIN}"\n')
    assert runner._build_command() == cmds  # again: the merged unit is kept
    assert (tmp_path / "Vtop__ALL.cpp").exists()


def test_other_commands_are_left_alone(tmp_path):
    verilate = ["verilator", "-cc", "--exe", MAIN, "top.v"]
    for cmds in ([verilate], [verilate, ["make", "-f", "Other.mk"]], [["verilator"], ["make"]]):
        runner = vlmain.compile_main_with_model(_Runner(cmds, tmp_path), MAIN)
        assert runner._build_command() == cmds
    assert not (tmp_path / vlmain.MAKEFILE).exists()


def test_make_links_the_main_from_the_model_unit(tmp_path):
    """A stand-in Vtop.mk (the generated one's user-file and link rules) under make -n: the
    main is in the unit's file list and no separate object is built or linked."""
    (tmp_path / "Vtop.mk").write_text(
        "VM_PARALLEL_BUILDS = 0\n"
        "VM_USER_CLASSES = \\\n  verilator \\\n\n"
        "VM_FAST += Vtop Vtop__Dpi\n"
        "VK_USER_OBJS = $(addsuffix .o, $(VM_USER_CLASSES))\n"
        "logdot: $(VK_USER_OBJS) Vtop__ALL.a\n\t@echo link $^\n"
        "Vtop__ALL.a:\n\t@echo unit $(VM_FAST)\n"
        "verilator.o:\n\t@echo separate main\n"
    )
    vlmain.write_makefile(tmp_path, MAIN)
    out = subprocess.run(
        ["make", "-s", "-C", str(tmp_path), "-f", vlmain.MAKEFILE],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.splitlines() == [
        "unit /site/cocotb/share/lib/verilator/verilator Vtop Vtop__Dpi",
        "link Vtop__ALL.a",
    ]
