"""SVG snapshots of every view at 80×24 and 160×50, and of the light, ANSI and colorblind
themes, on a deterministic engine: 3 h of the demo simulator from a fixed start (no wall clock,
no source running). Regenerate with `pytest tests/test_ui_snapshots.py --snapshot-update` and
look at the SVGs before committing them."""

from __future__ import annotations

import functools

import pytest
from support.engines import demo_engine_and_history

from liqtui.model.engine import Engine
from liqtui.ui.app import VIEWS, LiqApp
from liqtui.ui.history import History


@functools.cache
def _demo() -> tuple[Engine, History]:
    return demo_engine_and_history()


def app_for(view: str = "ladder", theme: str = "liqtui-dark") -> LiqApp:
    engine, history = _demo()
    return LiqApp(engine, None, watchlist=["BTC", "ETH"], history=history, view=view, theme=theme)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
@pytest.mark.parametrize("view", VIEWS)
def test_view(snap_compare, view: str, size: tuple[int, int]) -> None:
    press = ["k", "k", "k"] if view in ("ladder", "map") else []  # the cursor and its readout
    assert snap_compare(app_for(view), terminal_size=size, press=press)


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
@pytest.mark.parametrize("theme", ["liqtui-light", "liqtui-ansi", "liqtui-colorblind"])
def test_theme(snap_compare, theme: str, size: tuple[int, int]) -> None:
    assert snap_compare(app_for("ladder", theme), terminal_size=size, press=["j", "j"])


def test_overview_ansi_theme(snap_compare) -> None:
    """The overview in the terminal's own 16 colors (--color 16), the cursor on ETH."""
    assert snap_compare(app_for("overview", "liqtui-ansi"), terminal_size=(80, 24), press=["j"])


def test_heatmap_light_theme(snap_compare) -> None:
    assert snap_compare(app_for("heatmap", "liqtui-light"), terminal_size=(80, 24))


def test_small_terminal_40x12(snap_compare) -> None:
    assert snap_compare(app_for("ladder"), terminal_size=(40, 12))


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_map_cursor_below(snap_compare, size: tuple[int, int]) -> None:
    """The map's cursor on the longs' side: "$Y of longs between here and the price"."""
    assert snap_compare(app_for("map"), terminal_size=size, press=["j"] * 4)


def test_map_ansi_80x24(snap_compare) -> None:
    """--color 16: the exchanges in the terminal's own colors."""
    assert snap_compare(app_for("map", "liqtui-ansi"), terminal_size=(80, 24), press=["k"])


def test_map_no_color_80x24(snap_compare, monkeypatch) -> None:
    """--color none: the exchanges told apart by glyph (█ ▓ ▒ ░)."""
    monkeypatch.setenv("NO_COLOR", "1")  # what --color none sets before the app starts
    assert snap_compare(app_for("map", "liqtui-ansi"), terminal_size=(80, 24), press=["k"])


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_heatmap_cursor(snap_compare, size: tuple[int, int]) -> None:
    """The time × price cursor a few periods back, two bands above the price, and its
    readout; realized marks along the price path."""
    press = ["k", "k", "left", "left", "left", "left", "left"]
    assert snap_compare(app_for("heatmap"), terminal_size=size, press=press)
