"""logdot.synth.board: the board table's platforms come from amaranth-boards."""

from __future__ import annotations

import sys

import pytest

from logdot.synth.board import BOARDS
from logdot.tools import ToolNotFoundError


def test_every_board_names_a_platform_of_amaranth_boards():
    for board in BOARDS.values():
        platform = board.make_platform()
        assert type(platform).__name__ == board.platform
        assert board.module.startswith("amaranth_boards.")


def test_missing_amaranth_boards_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "amaranth_boards", None)
    for name in ("amaranth_boards.icebreaker", "amaranth_boards.ulx3s"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(ToolNotFoundError, match=r"^--board icebreaker needs the amaranth-boards"):
        BOARDS["icebreaker"].make_platform()
