"""cocotb's Verilator main compiled in the model's translation unit (one C++ compile per build).

cocotb's Verilator runner passes its ``verilator.cpp`` (the simulation main) to Verilator as a
user file, which the generated makefile compiles on its own: a second C++ translation unit
that parses ``verilated.h`` and the model header again (about 1.8 of its 1.9 CPU seconds;
a cocotb build of a small engine compiles ~0.6 s of its own code). With
``--output-split 0`` (:data:`logdot.tools.verilator.PCH_WORKAROUND`) the model is one unit,
``Vtop__ALL.cpp``, which includes every model file listed in ``Vtop_classes.mk``:
:func:`merge_main` moves the main from the user files into that list, so the main is compiled
as part of the model (about 2 CPU seconds less per build; ``main`` is linked from
``Vtop__ALL.a``). :func:`compile_main_with_model` makes a cocotb runner do it between its
Verilator and make steps.

Run as a script: ``python vlmain.py <build dir> <main.cpp>`` (the step the runner runs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["compile_main_with_model", "merge_main"]


def _rewrite(path, text):
    """Write ``text`` to ``path`` keeping its modification time (make's view of it)."""
    st = path.stat()
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def merge_main(build_dir, main_cpp):
    """Make ``Vtop.mk`` in ``build_dir`` compile ``main_cpp`` inside ``Vtop__ALL.cpp``.

    Removes the main's class from ``VM_USER_CLASSES`` (``Vtop.mk``) and lists it among the
    model's fast support files (``Vtop_classes.mk``); a ``Vtop__ALL.cpp`` of an earlier build
    without the main is deleted (make writes it again). Nothing changes when the makefiles do
    not list the main as expected.

    Returns
    -------
    bool
        True when the main is compiled with the model.
    """
    build_dir, main_cpp = Path(build_dir), Path(main_cpp)
    top_mk, classes_mk = build_dir / "Vtop.mk", build_dir / "Vtop_classes.mk"
    user = f"VM_USER_CLASSES = \\\n  {main_cpp.stem} \\\n\n"
    listed = f"VM_SUPPORT_FAST += {main_cpp.with_suffix('')}\n"
    top, classes = top_mk.read_text(), classes_mk.read_text()
    if listed not in classes:
        if top.count(user) != 1:
            return False
        _rewrite(top_mk, top.replace(user, "VM_USER_CLASSES = \\\n\n"))
        _rewrite(classes_mk, classes + listed)
    unit = build_dir / "Vtop__ALL.cpp"
    if unit.is_file() and f'"{main_cpp}"' not in unit.read_text():
        unit.unlink()
    return True


def compile_main_with_model(runner, main_cpp):
    """Make a cocotb Verilator ``runner`` run :func:`merge_main` between its Verilator and
    make steps (unchanged when its build commands are not these two)."""
    build_command = runner._build_command

    def command():
        cmds = list(build_command())
        if len(cmds) != 2 or cmds[1][:1] != ["make"] or str(main_cpp) not in cmds[0]:
            return cmds
        step = [sys.executable, str(Path(__file__).resolve()), str(runner.build_dir), str(main_cpp)]
        return [cmds[0], step, cmds[1]]

    runner._build_command = command
    return runner


if __name__ == "__main__":
    if not merge_main(sys.argv[1], sys.argv[2]):
        print(f"vlmain: {sys.argv[2]} not merged (unexpected makefiles)", file=sys.stderr)
