"""vlmain.py: cocotb's Verilator main moved into the model's translation unit (no compiler;
the real builds are every Verilator case of the runners, and test_support.py checks that
a build compiles no separate main)."""

import os
import sys

import vlmain

MAIN = "/site/cocotb/share/lib/verilator/verilator.cpp"
TOP_MK = """VM_PREFIX = Vtop
# User .cpp files (from .cpp's on Verilator command line)
VM_USER_CLASSES = \\
  verilator \\

# User .cpp directories (from .cpp's on Verilator command line)
VM_USER_DIR = \\
  . \\
"""
CLASSES_MK = """VM_SUPPORT_FAST += \\
  Vtop__Dpi \\

"""


def _build_dir(tmp_path, top=TOP_MK):
    (tmp_path / "Vtop.mk").write_text(top)
    (tmp_path / "Vtop_classes.mk").write_text(CLASSES_MK)
    for name in ("Vtop.mk", "Vtop_classes.mk"):
        os.utime(tmp_path / name, ns=(10**18, 10**18))
    return tmp_path


def test_main_moves_into_the_model_unit(tmp_path):
    bdir = _build_dir(tmp_path)
    (bdir / "Vtop__ALL.cpp").write_text('#include "Vtop.cpp"\n')  # of an unmerged build
    assert vlmain.merge_main(bdir, MAIN) is True
    top = (bdir / "Vtop.mk").read_text()
    assert "VM_USER_CLASSES = \\\n\n" in top and "  verilator \\" not in top
    assert (bdir / "Vtop_classes.mk").read_text() == (
        CLASSES_MK + "VM_SUPPORT_FAST += /site/cocotb/share/lib/verilator/verilator\n"
    )
    # make's view of the makefiles is unchanged (the runtime objects depend on Vtop.mk)
    assert all(os.stat(bdir / f).st_mtime_ns == 10**18 for f in ("Vtop.mk", "Vtop_classes.mk"))
    assert not (bdir / "Vtop__ALL.cpp").exists()
    before = [(bdir / f).read_text() for f in ("Vtop.mk", "Vtop_classes.mk")]
    (bdir / "Vtop__ALL.cpp").write_text(f'#include "Vtop.cpp"\n#include "{MAIN}"\n')
    assert vlmain.merge_main(bdir, MAIN) is True  # again: nothing more
    assert [(bdir / f).read_text() for f in ("Vtop.mk", "Vtop_classes.mk")] == before
    assert (bdir / "Vtop__ALL.cpp").exists()


def test_unexpected_makefiles_are_left_alone(tmp_path):
    other = TOP_MK.replace("  verilator \\\n", "  verilator \\\n  mine \\\n")
    bdir = _build_dir(tmp_path, other)
    assert vlmain.merge_main(bdir, MAIN) is False
    assert (bdir / "Vtop.mk").read_text() == other
    assert (bdir / "Vtop_classes.mk").read_text() == CLASSES_MK


class _Runner:
    def __init__(self, cmds, build_dir):
        self._cmds, self.build_dir = cmds, build_dir

    def _build_command(self):
        return self._cmds


def test_runner_runs_the_merge_between_verilator_and_make(tmp_path):
    verilate, make = ["verilator", "-cc", "--exe", MAIN, "top.v"], ["make", "-C", str(tmp_path)]
    runner = vlmain.compile_main_with_model(_Runner([verilate, make], tmp_path), MAIN)
    cmds = runner._build_command()
    assert cmds[0] == verilate and cmds[2] == make
    assert cmds[1] == [sys.executable, vlmain.__file__, str(tmp_path), MAIN]
    odd = vlmain.compile_main_with_model(_Runner([verilate], tmp_path), MAIN)
    assert odd._build_command() == [verilate]
