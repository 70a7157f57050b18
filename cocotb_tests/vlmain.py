"""cocotb's Verilator main compiled in the model's translation unit (one C++ compile per build).

cocotb's Verilator runner passes its ``verilator.cpp`` (the simulation main) to Verilator as a
user file, which the generated makefile compiles on its own: a second C++ translation unit
that parses ``verilated.h`` and the model header again (about 1.7 of its 1.9 CPU seconds; a
cocotb build of a small engine compiles ~0.6 s of its own code). With ``--output-split 0``
(:data:`logdot.tools.verilator.PCH_WORKAROUND`) the model is one unit, ``Vtop__ALL.cpp``,
which includes every file of ``VM_FAST`` and ``VM_SLOW``. :func:`write_makefile` writes
:data:`MAKEFILE`, which includes Verilator's ``Vtop.mk`` with the main moved from the user
files (``VM_USER_CLASSES``, overridden empty) into ``VM_FAST``: the main is compiled as part of
the model and ``main`` linked from ``Vtop__ALL.a``. Verilator's own outputs are not edited, so
its ``--skip-identical`` check and make's dates (the cached runtime objects depend on
``Vtop.mk``) see what they saw before. :func:`compile_main_with_model` makes a cocotb runner's
make step use it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MAKEFILE", "compile_main_with_model", "write_makefile"]

#: The makefile the build runs instead of ``Vtop.mk`` (in the build directory).
MAKEFILE = "Vtop_onetu.mk"


def write_makefile(build_dir, main_cpp):
    """Write :data:`MAKEFILE` into ``build_dir`` for the main ``main_cpp``; delete a
    ``Vtop__ALL.cpp`` of an earlier build that does not include the main (make writes it
    again)."""
    build_dir, main_cpp = Path(build_dir), Path(main_cpp)
    text = (
        f"# Written by cocotb_tests/vlmain.py: Vtop.mk with {main_cpp.name} in Vtop__ALL.cpp.\n"
        "override VM_USER_CLASSES :=\n"
        f"VM_FAST := {main_cpp.with_suffix('')}\n"
        "include Vtop.mk\n"
        "ifneq ($(VM_PARALLEL_BUILDS),0)\n"
        "$(error vlmain: needs Verilator's one-unit build (--output-split 0))\n"
        "endif\n"
    )
    path = build_dir / MAKEFILE
    if not (path.is_file() and path.read_text() == text):
        path.write_text(text)
    unit = build_dir / "Vtop__ALL.cpp"
    if unit.is_file() and f'"{main_cpp}"' not in unit.read_text():
        unit.unlink()
    return path


def compile_main_with_model(runner, main_cpp):
    """Make a cocotb Verilator ``runner``'s make step build :func:`write_makefile`'s makefile
    (its commands unchanged when they are not Verilator with ``main_cpp``, then ``make -f
    Vtop.mk``)."""
    build_command = runner._build_command

    def command():
        cmds = [list(c) for c in build_command()]
        if (
            len(cmds) != 2
            or str(main_cpp) not in cmds[0]
            or cmds[1][:1] != ["make"]
            or cmds[1].count("Vtop.mk") != 1
        ):
            return cmds
        write_makefile(runner.build_dir, main_cpp)
        make = cmds[1]
        make[make.index("Vtop.mk")] = MAKEFILE
        return [cmds[0], make]

    runner._build_command = command
    return runner
