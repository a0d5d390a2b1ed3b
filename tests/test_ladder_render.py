"""How the ladder's rows are drawn: each side's E and R figure in its own sub-column (in the TUI
and in the text/ansi printers), and monochrome palettes that carry intensity in the glyphs."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from rich.color import Color as RichColor
from rich.style import Style
from support.engines import demo_engine_and_history

from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.output.ladder import (
    LONG_MARK,
    SHORT_MARK,
    LadderRow,
    LadderView,
    RowLayout,
    row_segments,
)
from liqtui.output.snapshot import render_ansi, render_text
from liqtui.ui.app import LiqApp
from liqtui.ui.themes import ansi_palette

ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


def both_sides_row(*, price_row: bool = False) -> LadderRow:
    return LadderRow(
        price_low=96_000.0,
        price_high=97_000.0,
        long_usd=1_530_000.0,
        short_usd=534_000.0,
        realized_long_usd=20_000_000.0,
        realized_short_usd=10_600.0,
        is_price_row=price_row,
        long_level=3,
        short_level=1,
        bar_long=300,
        bar_short=100,
    )


def test_a_row_with_both_sides_shows_each_sides_figure_at_80_columns() -> None:
    row = both_sides_row()
    layout = RowLayout.for_width(80, [row], 0)
    assert layout.est and layout.real  # both columns fit at 80
    segs = row_segments(row, layout, realized_mark_usd=100_000.0)
    text = "".join(t for t, _ in segs)
    assert len(text) == 80
    cells = {role: t.strip() for t, role in segs if role.startswith(("est-", "realized-"))}
    assert cells == {
        "est-long": f"{LONG_MARK}1.53M",
        "est-short": f"{SHORT_MARK}534k",
        "realized-long-big": f"●{LONG_MARK}20M",  # at or above the mark: ●
        "realized-short": f"{SHORT_MARK}10.6k",  # below it: no ●
    }
    # longs then shorts, never one figure for both sides (1.53M + 534k would read 2.06M)
    assert text.index(f"{LONG_MARK}1.53M") < text.index(f"{SHORT_MARK}534k")
    assert "2.06M" not in text and "20M" in text and "20.0M" not in text


def test_a_one_sided_row_leaves_the_other_sub_column_blank() -> None:
    row = dataclasses.replace(both_sides_row(), short_usd=0.0, realized_long_usd=0.0)
    layout = RowLayout.for_width(80, [row], 0)
    segs = row_segments(row, layout, realized_mark_usd=100_000.0)
    text = "".join(t for t, _ in segs)
    assert SHORT_MARK not in text.split(f"{LONG_MARK}1.53M")[1].split(f"{SHORT_MARK}10.6k")[0]
    assert text.count(LONG_MARK) == 1 and text.count(SHORT_MARK) == 1
    # the columns stay aligned with a two-sided row
    both = "".join(t for t, _ in row_segments(both_sides_row(), layout, realized_mark_usd=1e5))
    assert text.index(f"{LONG_MARK}1.53M") == both.index(f"{LONG_MARK}1.53M")
    assert text.index(f"{SHORT_MARK}10.6k") == both.index(f"{SHORT_MARK}10.6k")


def test_narrow_widths_drop_r_then_e_and_keep_the_width() -> None:
    row = both_sides_row()
    for width in (20, 30, 40, 52, 60, 80, 120):
        layout = RowLayout.for_width(width, [row], 0)
        segs = row_segments(row, layout, realized_mark_usd=1e5)
        assert sum(len(t) for t, _ in segs) == width
    assert RowLayout.for_width(40, [row], 0).real == 0  # R dropped first
    assert RowLayout.for_width(40, [row], 0).est > 0
    assert RowLayout.for_width(20, [row], 0).est == 0


def _two_sided_snapshot(seeded_engine: Engine) -> MarketSnapshot:
    """The seeded BTC snapshot with E on both sides in the bins of the price row."""
    snap = seeded_engine.snapshot("BTC")
    assert snap.grid is not None and snap.price is not None
    at = snap.grid.index_of(snap.price)
    e_long, e_short = np.array(snap.estimated_long), np.array(snap.estimated_short)
    e_long[at] += 4_000_000.0
    e_short[at] += 1_500_000.0
    r_long, r_short = np.array(snap.realized_long), np.array(snap.realized_short)
    r_long[at] += 250_000.0
    r_short[at] += 40_000.0
    return dataclasses.replace(
        snap,
        estimated_long=e_long,
        estimated_short=e_short,
        realized_long=r_long,
        realized_short=r_short,
    )


def test_text_and_ansi_printers_show_both_sides_of_the_price_row(seeded_engine: Engine) -> None:
    snap = _two_sided_snapshot(seeded_engine)
    text = render_text(snap, width=80, height=24, view=LadderView())
    header = next(ln for ln in text.splitlines() if "price" in ln and "usd" in ln)
    assert all(c in header for c in ("E▼usd", "E▲usd", "R▼usd", "R▲usd"))
    price_line = next(ln for ln in text.splitlines() if "▶" in ln)
    figures = re.findall(r"●?[▼▲][\d.]+[kMB]?", price_line)
    assert [f.lstrip("●")[0] for f in figures] == ["▼", "▲", "▼", "▲"]  # E long, short; R
    assert "●▼" in price_line  # 250k + the seed's own R ≥ the 100k mark
    assert max(len(ln) for ln in text.splitlines()) <= 80
    ansi = render_ansi(snap, palette=ansi_palette(), width=80, height=24, view=LadderView())
    assert [ln.rstrip() for ln in ANSI_RE.sub("", ansi).splitlines()] == text.splitlines()


# -- monochrome: --color none / NO_COLOR ----------------------------------------------------------

SGR_RE = re.compile(r"\x1b\[([0-9;]*)m")


def explicit_colors(ansi: str) -> list[str]:
    """The SGR codes in `ansi` that set a foreground or background color (39/49, the terminal's
    own colors, are not explicit)."""
    found = []
    for params in SGR_RE.findall(ansi):
        codes = [int(c) for c in params.split(";") if c]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c in (38, 48):  # 38;5;n or 38;2;r;g;b
                found.append(params)
                i += 3 if i + 1 < len(codes) and codes[i + 1] == 5 else 5
                continue
            if 30 <= c <= 37 or 40 <= c <= 47 or 90 <= c <= 97 or 100 <= c <= 107:
                found.append(params)
            i += 1
    return found


def test_monochrome_palette_has_attributes_and_no_color() -> None:
    from liqtui.ui.themes import build_palette

    palette = build_palette({}, base=Style(color="white", bgcolor="black"), monochrome=True)
    assert all(s.color is None and s.bgcolor is None for s in palette.values())
    # intensity: dim at the low levels, plain in the middle, bold at the top (and the glyphs)
    assert palette["long1"].dim and palette["short2"].dim
    assert not palette["long4"].dim and not palette["long4"].bold
    assert palette["long8"].bold and palette["short7"].bold
    assert palette["price-row"].reverse and palette["cursor"].reverse


def _explicit_screen_colors(app: LiqApp) -> list[tuple[str, str]]:
    """Cells of the screen, as sent to the terminal (Textual's filters applied), that carry
    an explicit color rather than the terminal's own foreground/background."""

    def explicit(color: RichColor | None) -> bool:
        return color is not None and not color.is_default

    return [
        (seg.text, str(seg.style))
        for strip in app.screen._compositor.render_strips()
        for seg in strip
        if seg.style is not None and (explicit(seg.style.color) or explicit(seg.style.bgcolor))
    ]


@pytest.mark.parametrize("theme", ["liqtui-ansi", "liqtui-dark"])
async def test_no_color_tui_is_monochrome_with_glyph_intensity(
    theme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # what --color none sets before the app starts
    engine, history = demo_engine_and_history()
    app = LiqApp(engine, None, history=history, watchlist=["BTC"], theme=theme)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.refresh_now()
        await pilot.pause()
        ladder = app.ladder
        styles = [
            seg.style
            for y in range(ladder.size.height)
            for seg in ladder.render_line(y)
            if seg.style is not None
        ]
        assert styles and all(s.color is None and s.bgcolor is None for s in styles)
        glyphs = {ch for row in ladder.rows_text for ch in row if ch in "░▒▓█"}
        assert len(glyphs) >= 3  # intensity still reads in the glyphs
        # by level: ░ dim, █ bold
        segs = [seg for y in range(ladder.size.height) for seg in ladder.render_line(y)]
        assert all(s.style.dim for s in segs if s.text and set(s.text) == {"░"})
        assert all(s.style.bold for s in segs if s.text and set(s.text) == {"█"})
        # nor anywhere on screen: Textual's own widgets (the footer) were black on black
        assert _explicit_screen_colors(app) == []
        await pilot.press("t")  # the theme picker: its highlighted line must still show
        await pilot.pause()
        await pilot.pause()
        assert _explicit_screen_colors(app) == []
        styles = [seg.style for strip in app.screen._compositor.render_strips() for seg in strip]
        assert any(s is not None and s.underline and s.bold for s in styles)


def test_ansi_snapshot_color_none_is_attributes_only(
    seeded_engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    from liqtui.cli import main

    frame = ["--demo", "--symbol", "BTC", "--width", "80", "--height", "24"]
    assert main(["snapshot", *frame]) == 0
    text = capsys.readouterr().out
    for argv in (
        ["snapshot", *frame, "--format", "ansi", "--color", "none"],
        ["--color", "none", "snapshot", *frame, "--format", "ansi"],  # the TUI's flag
    ):
        assert main(argv) == 0
        mono = capsys.readouterr().out
        assert "\x1b[" in mono and explicit_colors(mono) == []
        assert "\x1b[1m" in mono and "\x1b[2m" in mono  # bold and dim carry the levels
        assert [ln.rstrip() for ln in ANSI_RE.sub("", mono).splitlines()] == text.splitlines()
    assert main(["snapshot", *frame, "--format", "ansi", "--color", "always"]) == 0
    assert explicit_colors(capsys.readouterr().out)  # the colored one does have colors
