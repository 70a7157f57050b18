"""The output folder of a synthesis run: refused when it exists, replaced whole with ``force``.

The same policy as the generators' (:func:`logdot.generators.common.write_outputs`): an
existing report is never overwritten without ``force``. With ``force`` a run never mixes
with the previous one either: :func:`staged_out_dir` builds the new run in a temporary sibling
folder and only when it has finished swaps it in place of the old folder, so no target folder
of an earlier run (``log_ecp5/`` beside an iCE40-only report) survives, and a failed or
interrupted run leaves the old folder as it was.

Only a folder the flow could have written is ever replaced (:func:`flow_owned`): every entry
must be a report file or a target or search folder of the flow; a folder holding anything
else is refused even with ``force``, so ``--out .`` never deletes a user's files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

from logdot.synth.targets import TARGETS

__all__ = ["REPORT_FILES", "OutDirExistsError", "check_out_dir", "flow_owned", "staged_out_dir"]

#: The report files of a run (:func:`logdot.synth.report.write_report`).
REPORT_FILES = ("synth_report.json", "synth_report.md")

# Target folders (flow.synth_config: LABEL_TARGET) and pipeline-search folders.
_OWNED_DIR = re.compile(
    rf"(?:log|linear\d+)_(?:{'|'.join(map(re.escape, TARGETS))})|search_every\d+"
)


class OutDirExistsError(FileExistsError):
    """The output folder holds an earlier run (needs ``force``) or files the flow does not write.

    Attributes
    ----------
    path : pathlib.Path
        The folder.
    foreign : tuple of str
        The entries the flow does not write, sorted (empty: an earlier run, ``force``
        replaces it).
    """

    def __init__(self, path, foreign=()):
        self.path = Path(path)
        self.foreign = tuple(foreign)
        if self.foreign:
            shown = ", ".join(self.foreign[:3]) + (", ..." if len(self.foreign) > 3 else "")
            msg = (
                f"{path} holds files a synthesis run did not write ({shown}); choose a new or "
                "empty folder"
            )
        else:
            msg = (
                f"{path} exists (an earlier synthesis run); use force=True (--force) to replace it"
            )
        super().__init__(msg)

    def __str__(self):
        return self.args[0]


def flow_owned(name, is_dir):
    """Whether a folder entry ``name`` is one the synthesis flow writes.

    Parameters
    ----------
    name : str
        The entry's name.
    is_dir : bool
        Whether it is a folder (the target and search folders) or a file (the reports).
    """
    if is_dir:
        return _OWNED_DIR.fullmatch(name) is not None
    return name in REPORT_FILES


def _foreign_entries(path):
    return sorted(e.name for e in os.scandir(path) if not flow_owned(e.name, e.is_dir()))


def check_out_dir(out_dir, *, force):
    """Check that a run may write ``out_dir``; change nothing.

    A missing or empty folder is always fine. An existing one needs ``force``, and then must
    hold only what the flow writes.

    Raises
    ------
    OutDirExistsError
        When ``out_dir`` exists, is not empty and ``force`` is false, or when it holds
        entries the flow does not write (even with ``force``; ``foreign`` lists them).
    NotADirectoryError
        When ``out_dir`` exists and is not a folder.
    """
    path = Path(out_dir)
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    if not any(path.iterdir()):
        return
    foreign = _foreign_entries(path)
    if foreign or not force:
        raise OutDirExistsError(path, foreign)


@contextlib.contextmanager
def staged_out_dir(out_dir, *, force, keep_on=()):
    """Build a run in a temporary sibling of ``out_dir``; swap it in when the block succeeds.

    :func:`check_out_dir` runs first (nothing is created when it raises). The block gets the
    temporary folder (``.NAME.XXXX.tmp`` beside ``out_dir``) and writes everything there. When
    it returns, the new folder is renamed to ``out_dir`` if that does not exist; otherwise the
    entries of the old ``out_dir`` (only the flow's, :func:`check_out_dir`) are moved aside
    and deleted and the new ones moved in. Either way ``out_dir`` then holds exactly this
    run's files.

    Parameters
    ----------
    out_dir : path-like
        The final folder.
    force : bool
        Replace an existing run.
    keep_on : tuple of exception classes
        When the block raises one of these, the temporary folder is kept (it holds the tool
        logs the error names); on any other exception it is deleted. ``out_dir`` is
        untouched either way.

    Yields
    ------
    pathlib.Path
        The temporary folder.
    """
    final = Path(out_dir)
    check_out_dir(final, force=force)
    parent = Path(os.path.abspath(final)).parent  # also for "." and "dir/.."
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{_stem(final)}.", suffix=".tmp", dir=parent))
    try:
        yield tmp
    except keep_on:
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.chmod(tmp, 0o755)  # mkdtemp makes it private
    check_out_dir(final, force=force)  # nothing foreign appeared while the run was going
    if not final.exists():
        os.rename(tmp, final)
        return
    # An existing folder (an earlier run, or empty) keeps its identity (permissions, a
    # symbolic link to it, a shell standing in it): its entries are replaced, not the folder.
    old = Path(tempfile.mkdtemp(prefix=f".{_stem(final)}.", suffix=".old", dir=parent))
    for entry in os.scandir(final):
        os.rename(entry.path, old / entry.name)
    for entry in os.scandir(tmp):
        os.rename(entry.path, final / entry.name)
    os.rmdir(tmp)
    shutil.rmtree(old, ignore_errors=True)


def _stem(path):
    return Path(os.path.abspath(path)).name or "out"
