"""How the ladder's rows are drawn: each side's E and R figure in its own sub-column (in the TUI
and in the text/ansi printers), and monochrome palettes that carry intensity in the glyphs."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from liqtui.ladder import LONG_MARK, SHORT_MARK, LadderRow, LadderView, RowLayout, row_segments
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.snapshot import ansi_palette, render_ansi, render_text

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
