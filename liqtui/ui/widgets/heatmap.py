"""The time × price heat map: one column per period (oldest left), the price line over it.

Rows are price levels (nice steps, from the widget's own `LadderView`); columns are the
history's periods, then a live "now" column from the current snapshot. Each cell is the E in
that row at that time: ▼ longs below the price and ▲ shorts above carry the side's color, the
glyph (░▒▓█) carries intensity, so the map reads without color too; `•` is the price.

Lookbacks (`LOOKBACKS`, the key `w`): "auto" draws the UI's per-minute samples, or the
model's history H over the window once it covers more time; 12h, 24h, 3d, 7d and 30d draw that
span from the model's rings of H (the finest ring covering it, merged to fit the width, empty
columns where nothing was recorded), with each column's price path (its low to high range `·`,
its last price `•`). The time axis names the lookback on its right.

Columns are placed at fixed screen positions: new columns are appended to the right of the
last one, and only when the screen is full does the map shift left by a quarter of its width
(a lookback fits its whole span to the width instead).
Each update refreshes only the cells that changed (usually the newest column), and the color
scale is sticky (its top moves in factors of 2), so appending a column does not repaint the
rest of the map.

Realized prints are drawn where and when they printed: a cell whose period and price band hold
prints shows ▼ (longs liquidated) or ▲ (shorts), bold ▼▲ from the ladder's large-print mark
(`realized_mark_usd`), small ▾▴ below it, over the price's range but not its last price
(small prints come every few seconds and would hide the price line). They come from the UI's
samples (each print's price) or the model's rings of H (R per cell), every exchange, like the
history's E. A cursor (↑↓ price, ←→ time) reads one cell out on the line
above the time axis: its period, its price band, E and R in it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
from textual.geometry import Region
from textual.strip import Strip

from liqtui.durations import parse_duration
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.output.ladder import (
    GLYPHS,
    LEVELS,
    LONG_MARK,
    SHORT_MARK,
    LadderRow,
    compact_usd,
    format_price,
    step_decimals,
)
from liqtui.ui.history import Column, History, Marks, columns_from_model
from liqtui.ui.scale import absolute_level
from liqtui.ui.widgets.axis import PriceAxisView
from liqtui.ui.widgets.status import Part, Seg, fit_line

Cell = tuple[str, str]
PRICE_GLYPH = "•"
RANGE_GLYPH = "·"  # where the price traded during a lookback column's period
# Realized prints in a cell: large (≥ realized_mark_usd) and small, longs and shorts.
MARK_BIG = {0: LONG_MARK, 1: SHORT_MARK}
MARK_SMALL = {0: "▾", 1: "▴"}
CURSOR_GLYPH = "◆"  # the cursor on an empty cell
# The lookbacks the key `w` cycles through (general.lookback at start; config.py lists them).
LOOKBACKS: tuple[str, ...] = ("auto", "12h", "24h", "3d", "7d", "30d")


def lookback_ms(lookback: str) -> int | None:
    """The span of a lookback ("7d" → 7 days in ms); None for "auto" (or an unknown one)."""
    if lookback not in LOOKBACKS or lookback == "auto":
        return None
    return parse_duration(lookback)


def heat_level(value: float, top: float) -> int:
    """Relative to the (sticky) top of the map: the square root spreads mid values out, like
    the ladder's bars."""
    if value <= 0 or top <= 0:
        return 0
    return int(min(max(math.ceil(LEVELS * math.sqrt(min(value / top, 1.0))), 1), LEVELS))


def sticky_top(current: float, peak: float) -> float:
    """The scale's top: a power of two at or above `peak`, kept while the peak stays within
    [top/4, top] so that small changes in the data do not rescale (and repaint) the map."""
    if peak <= 0:
        return current
    if current > 0 and current / 4 <= peak <= current:
        return current
    return 2.0 ** math.ceil(math.log2(peak))


def _merge(cells: Sequence[Cell]) -> tuple[Seg, ...]:
    out: list[Seg] = []
    for glyph, role in cells:
        if out and out[-1][1] == role:
            out[-1] = (out[-1][0] + glyph, role)
        else:
            out.append((glyph, role))
    return tuple(out)


class HeatColumns(NamedTuple):
    """What the heat map draws besides the snapshot: its history columns, their version, and
    the prints since the newest column (the live column's marks)."""

    columns: list[Column]
    version: object
    live_marks: Marks | None = None


def heatmap_columns(
    engine: Engine,
    history: History,
    snap: MarketSnapshot,
    *,
    window_ms: int | None,
    exchange: str | None,
    lookback: str = "auto",
    columns: int | None = None,
) -> HeatColumns:
    """The heat map's columns and their version, and the prints since the newest column."""
    cols, version = _history_columns(
        engine,
        history,
        snap,
        window_ms=window_ms,
        exchange=exchange,
        lookback=lookback,
        columns=columns,
    )
    since = cols[-1].t_ms if cols else snap.as_of_ms - history.period_ms
    prints = getattr(engine, "prints", None)
    live = Marks.of_prints(prints(snap.symbol, since)) if callable(prints) else None
    return HeatColumns(cols, version, live)


def _history_columns(
    engine: Engine,
    history: History,
    snap: MarketSnapshot,
    *,
    window_ms: int | None,
    exchange: str | None,
    lookback: str = "auto",
    columns: int | None = None,
) -> tuple[list[Column], object]:
    """The history columns and their version. A lookback ("12h" … "30d"): its span from the
    model's rings of H, at most `columns` columns, with H's own price path. "auto": the
    model's history H over the window when it covers more time than the UI's own per-minute
    samples (e.g. a long replay), else the samples."""
    span_ms = lookback_ms(lookback)
    if span_ms is not None:
        view = engine.snapshot(
            snap.symbol,
            window_ms=window_ms,
            exchange=exchange,
            history=True,
            lookback_ms=span_ms,
            columns=columns,
        ).history
        cols = columns_from_model(view, [], own_prices=True) if view is not None else []
        last = (cols[-1].t_ms, cols[-1].price) if cols else None
        return cols, ("lookback", lookback, columns, len(cols), last)
    ui = history.columns(snap.symbol)
    try:
        model_view = engine.snapshot(
            snap.symbol, window_ms=window_ms, exchange=exchange, history=True
        ).history
    except TypeError:  # an engine without H
        model_view = None
    model = columns_from_model(model_view, ui) if model_view is not None else []

    def span(cols: list[Column]) -> int:
        return cols[-1].t_ms - cols[0].t_ms if len(cols) > 1 else 0

    if model and span(model) > span(ui) * 1.5:
        return model, ("model", len(model), model[-1].t_ms)
    return ui, ("ui", history.version)


class HeatmapWidget(PriceAxisView):
    """Price rows × time columns, a readout line for the cursor cell, the time axis."""

    def __init__(
        self,
        *,
        span_pct: float = 0.08,
        absolute_top_usd: float | None = None,
        realized_mark_usd: float = 100_000.0,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(span_pct=span_pct, name=name, id=id)
        self.absolute_top_usd = absolute_top_usd  # None: relative (sticky) scale
        self.realized_mark_usd = realized_mark_usd  # prints from this size get the bold mark
        self.lookback = "auto"  # one of LOOKBACKS
        self.top = 0.0
        # The cursor: its absolute row group (None: no cursor) and its column's time (None:
        # the live column), so it stays on its period as columns are appended.
        self.cursor_t: int | None = None
        self.readout: CellReadout | None = None
        self._cells: list[list[Cell]] = []  # what is on screen, per row
        self._keys: list[tuple[Seg, ...]] = []
        self._base_t: int | None = None  # time of the column at the left edge
        self._key: object = None
        self._symbol: str | None = None
        self.last_dirty_cells = 0
        self.total_dirty_cells = 0
        self.updates = 0
        self.message: str | None = None
        self._last: tuple[MarketSnapshot, Sequence[Column]] | None = None
        self._live_marks: Marks | None = None
        self._version: object = None
        self._sums_cache: dict[object, np.ndarray] = {}
        self._sums_layout: object = None
        self._col_cells: dict[object, list[Cell]] = {}  # a history column's cells, by its key
        self._cells_style: object = None  # what they depend on besides the column
        self._shown_times: list[int | None] = []  # distinct column times on screen (None: live)

    @property
    def rows_text(self) -> list[str]:
        return ["".join(c for c, _ in row) for row in self._cells]

    def reset_view(self) -> None:
        super().reset_view()
        self._base_t = None
        self.top = 0.0
        self.clear_cursor()

    def redraw(self) -> None:
        if self._last is not None:
            self.show(*self._last, self._version, live_marks=self._live_marks)

    def set_lookback(self, lookback: str) -> None:
        """Draw another lookback (the columns come with the next `show`)."""
        if lookback in LOOKBACKS and lookback != self.lookback:
            self.lookback = lookback
            self._base_t = None
            self.cursor_t = None  # other periods: back to the live column
            self._cells = []  # repaint all: every column moves

    def max_columns(self) -> int:
        """About how many history columns fit beside the price labels and the live column."""
        return max(self.size.width - 12, 4)

    # -- the cursor -----------------------------------------------------------------------------
    def action_cursor(self, rows: int) -> None:
        """The cursor up (positive) or down by rows; the first press starts from the price in
        the live column."""
        self.move_cursor(rows)

    def action_cursor_time(self, columns: int) -> None:
        """The cursor to an earlier (negative) or later column; the first press starts from the
        price row of the live column."""
        if self.cursor_group is None:
            self.action_cursor(0)
            if self.cursor_group is None:
                return
        times = self._shown_times
        if not times:
            return
        x = self._cursor_index(times)
        self.cursor_t = times[min(max(x + columns, 0), len(times) - 1)]

    def action_page(self, direction: int) -> None:
        page = max(1, self.size.height - 4)
        start = self.cursor_group
        self.view.scroll(direction * page)
        if start is not None:
            self.cursor_group = start + direction * page

    def to_edge(self, group: int, direction: int) -> None:
        if self.cursor_group is None:
            super().to_edge(group, direction)
        else:
            self.action_cursor(group - self.cursor_group)

    def clear_cursor(self) -> None:
        super().clear_cursor()
        self.cursor_t = None

    def _cursor_index(self, times: Sequence[int | None]) -> int:
        """Index in `times` (distinct, oldest first, live last) of the cursor's column: its
        period, or the first one after it once it scrolled off, or the live column."""
        if self.cursor_t is None:
            return len(times) - 1
        for i, t in enumerate(times):
            if t is not None and t >= self.cursor_t:
                return i
        return len(times) - 1

    # -- drawing --------------------------------------------------------------------------------
    def show(
        self,
        snap: MarketSnapshot,
        columns: Sequence[Column],
        version: object,
        *,
        live_marks: Marks | None = None,
    ) -> None:
        self.snapshot = snap
        key = self._show_key(snap, version)
        if key == self._key:
            return  # nothing new to draw
        full = snap.symbol != self._symbol
        self._symbol = snap.symbol
        self._last = (snap, columns)
        self._live_marks = live_marks
        self._version = version
        self._draw(snap, columns, full=full)
        # Drawing anchors the view on its first rows: key what is now on screen, or the next
        # tick would draw the same rows again.
        self._key = self._show_key(snap, version)

    def _show_key(self, snap: MarketSnapshot, version: object) -> object:
        view = self.view  # zoom and scroll keys change the rows without new data
        return (
            snap.symbol,
            snap.as_of_ms,
            snap.price,
            (snap.preset, snap.tier_filter, snap.exchange_filter),  # same time, other E
            version,
            self.size,
            self.absolute_top_usd,
            self.realized_mark_usd,
            self.lookback,
            (view.span_pct, view.anchor_group, view.following),
            (self.cursor_group, self.cursor_t),
        )

    def on_resize(self) -> None:
        # Through `show`, so the new size is remembered and the next timer tick draws nothing.
        self._key = None
        self._cells = []  # a full repaint: every row moves
        if self._last is not None:
            self.show(*self._last, self._version, live_marks=self._live_marks)

    def _draw(self, snap: MarketSnapshot, columns: Sequence[Column], *, full: bool) -> None:
        width, height = self.size.width, self.size.height
        if width <= 0 or height <= 0:
            return
        cells = self._layout(snap, columns, width, height)
        old = self._cells
        regions: list[Region] = []
        changed = 0
        if (
            full
            or len(old) != len(cells)
            or any(len(a) != len(b) for a, b in zip(old, cells, strict=False))
        ):
            changed = width * height
            self.refresh()
        else:
            for y, (a, b) in enumerate(zip(old, cells, strict=True)):
                if a == b:
                    continue
                x0 = next(i for i in range(width) if a[i] != b[i])
                x1 = next(i for i in range(width - 1, -1, -1) if a[i] != b[i])
                regions.append(Region(x0, y, x1 - x0 + 1, 1))
                changed += x1 - x0 + 1
            if changed * 2 > width * height:
                self.refresh()
            elif regions:
                self.refresh(*regions)
        self._cells = cells
        self._keys = [_merge(row) for row in cells]
        self.last_dirty_cells = changed
        self.total_dirty_cells += changed
        self.updates += 1

    def _layout(
        self, snap: MarketSnapshot, columns: Sequence[Column], width: int, height: int
    ) -> list[list[Cell]]:
        blank = [(" ", "empty")] * width
        # the last line is the time axis, the one above it the cursor readout (from 6 lines)
        n_info = 2 if height >= 6 else 1
        n_rows = height - n_info
        rows = self.view.rows(snap, n_rows) if n_rows > 0 else []
        self.rows = rows
        self.readout = None
        if not rows:
            waiting = [list(blank) for _ in range(height)]
            msg = f"waiting for data for {snap.symbol}…"[:width]
            start = (width - len(msg)) // 2
            for i, ch in enumerate(msg):
                waiting[height // 2][start + i] = (ch, "message")
            self._shown_times = []
            return waiting
        step = rows[0].price_high - rows[0].price_low
        decimals = step_decimals(step)
        labels = [format_price(r.price_low, decimals) for r in rows]
        label_w = max(len(s) for s in labels) + 1
        if label_w + 4 > width:
            label_w = 0
        plot_w = width - label_w - (1 if label_w else 0)
        # fixed positions (by time, so a full history dropping its oldest column does not
        # move the rest): append to the right, shift left by a quarter of the width when full
        n_hist = len(columns)
        first = 0
        if self.lookback != "auto":  # the whole span, fitted to the width (newest kept)
            first = max(0, n_hist + 1 - plot_w)
            self._base_t = None
        elif self._base_t is not None:
            first = bisect.bisect_left([c.t_ms for c in columns], self._base_t)
        if self.lookback == "auto" and (self._base_t is None or n_hist - first + 1 > plot_w):
            chunk = max(1, plot_w // 4)
            first = max(0, n_hist + 1 - plot_w + chunk - 1) if n_hist + 1 > plot_w else 0
            self._base_t = columns[first].t_ms if first < n_hist else snap.as_of_ms
        shown_cols = list(columns[first:n_hist])
        newest = columns[-1].t_ms if columns else None
        live = Column(
            t_ms=snap.as_of_ms,
            price=snap.price,
            oi_usd=0.0,
            origin_bin=snap.grid.origin_bin if snap.grid else 0,
            width=snap.grid.width if snap.grid else 0.0,
            long=snap.estimated_long,  # type: ignore[arg-type]
            short=snap.estimated_short,  # type: ignore[arg-type]
            marks=self._live_marks,
            period_ms=snap.as_of_ms - newest if newest is not None else 0,
        )
        shown_cols.append(live)
        shown_cols = shown_cols[:plot_w]
        # values per (row, column); a history column's sums are cached (only the live one
        # is summed every frame)
        lows = np.array([r.price_low for r in rows])
        highs = np.array([r.price_high for r in rows])
        # what a cached column's sums depend on besides the column: its rows, and the preset
        # and filters (the model's columns are rebuilt, with the same times, when they change)
        layout = (
            float(lows[0]),
            float(highs[0] - lows[0]),
            len(rows),
            (snap.preset, snap.tier_filter, snap.exchange_filter, self.lookback),
        )
        if layout != self._sums_layout:
            self._sums_cache = {}
            self._sums_layout = layout
        per_col = []
        col_keys: list[object] = []
        for col in shown_cols:
            # the period too: a merged column's R is its rows' sum (E is its newest row's)
            key = (col.t_ms, col.period_ms, col.origin_bin, col.price) if col is not live else None
            sums = self._sums_cache.get(key) if key is not None else None
            col_keys.append(key)
            if sums is None:  # [E long, E short, R long, R short] per row
                sums = np.concatenate(
                    [col.row_sums(lows, highs), col.realized_row_sums(lows, highs)]
                )
                if key is not None:
                    self._sums_cache[key] = sums
            per_col.append(sums)
        if len(self._sums_cache) > 4 * max(plot_w, 1):
            self._sums_cache = {}
        self._shown_times = [c.t_ms if c is not live else None for c in shown_cols]
        if self.lookback != "auto" and 0 < len(shown_cols) < plot_w:
            # a lookback spans the width: its columns (equal periods) widened to fill it
            idx = (np.arange(plot_w) * len(shown_cols)) // plot_w
            shown_cols = [shown_cols[i] for i in idx]
            per_col = [per_col[i] for i in idx]
            col_keys = [col_keys[i] for i in idx]
        values = np.stack(per_col, axis=2)  # [E long, E short, R long, R short] × row × column
        peak = float(values[:2].max(initial=0.0))
        if self.absolute_top_usd:
            self.top = self.absolute_top_usd
        else:
            self.top = sticky_top(self.top, peak)
        # each history column's cells are kept while its rows and the scale stay: only the
        # live column is laid out every frame
        style = (layout, self.top, self.absolute_top_usd, self.realized_mark_usd)
        if style != self._cells_style or len(self._col_cells) > 4 * max(plot_w, 1):
            self._col_cells = {}
            self._cells_style = style
        col_cells: list[list[Cell]] = []
        for col, ckey, sums in zip(shown_cols, col_keys, per_col, strict=True):
            cells = self._col_cells.get(ckey) if ckey is not None else None
            if cells is None:
                cells = self._column_cells(rows, col, sums)
                if ckey is not None:
                    self._col_cells[ckey] = cells
            col_cells.append(cells)
        # the cursor's cell: its row and its (first) column on screen
        cursor_y = cursor_x = -1
        cursor_col: Column | None = None
        if self.cursor_group is not None:
            groups = [round(r.price_low / step) for r in rows]
            if self.cursor_group in groups:
                cursor_y = groups.index(self.cursor_group)
            distinct = self._shown_times
            target = distinct[self._cursor_index(distinct)]
            cursor_x = next(
                i for i, c in enumerate(shown_cols) if (c.t_ms if c is not live else None) == target
            )
            cursor_col = shown_cols[cursor_x]
        out: list[list[Cell]] = []
        for y in range(len(rows)):
            line: list[Cell] = []
            if label_w:
                role = "cursor" if y == cursor_y else "label"
                line.extend((ch, role) for ch in labels[y].rjust(label_w - 1))
                line.append((" ", "empty"))
                line.append(("│", "axis"))
            start = len(line)
            line.extend([cells[y] for cells in col_cells])
            if y == cursor_y and cursor_x >= 0:
                glyph = line[start + cursor_x][0]
                line[start + cursor_x] = (CURSOR_GLYPH if glyph == " " else glyph, "cursor")
            line.extend([(" ", "empty")] * (width - len(line)))
            out.append(line[:width])
        if cursor_col is not None and cursor_y >= 0:
            self.readout = _readout(
                rows[cursor_y], cursor_col, cursor_col is live, values, cursor_x, cursor_y
            )
        if n_info == 2:
            out.append(self._info_line(width, decimals))
        out.append(self._axis(shown_cols, label_w, width))
        return out

    def _column_cells(self, rows: Sequence[LadderRow], col: Column, sums: np.ndarray) -> list[Cell]:
        """One column's cells, top row first."""
        big = self.realized_mark_usd
        return [self._cell(r, col, v, big) for r, v in zip(rows, sums.T.tolist(), strict=True)]

    def _cell(self, r: LadderRow, col: Column, v: Sequence[float], big: float) -> Cell:
        """One cell: a realized mark, else the price (•) or its range (·), else E's heat."""
        e_long, e_short, r_long, r_short = v
        on_price = col.price is not None and r.price_low <= col.price < r.price_high
        if r_long > 0 or r_short > 0:
            side = 0 if r_long >= r_short else 1
            usd = max(r_long, r_short)
            role = "realized-long" if side == 0 else "realized-short"
            if usd >= big:
                return (MARK_BIG[side], f"{role}-big")
            if not on_price:  # small prints come every few seconds: keep the price line legible
                return (MARK_SMALL[side], role)
        if on_price:
            return (PRICE_GLYPH, "price")
        if (
            col.price_low is not None
            and col.price_high is not None
            and r.price_high > col.price_low
            and r.price_low <= col.price_high
        ):
            return (RANGE_GLYPH, "price")
        e = max(e_long, e_short)
        lv = absolute_level(e, self.top) if self.absolute_top_usd else heat_level(e, self.top)
        if lv == 0:
            return (" ", "empty")
        side_name = "long" if e_long >= e_short else "short"
        return (GLYPHS[(lv + 1) // 2], f"{side_name}{lv}")

    def _info_line(self, width: int, decimals: int) -> list[Cell]:
        """The cursor readout, or how to get one and what the marks mean."""
        readout = self.readout
        if readout is None:
            big = compact_usd(self.realized_mark_usd)
            parts = [
                Part.of("cursor: ↑↓←→ a cell's E and R", "muted", 8, short="↑↓←→ cursor"),
                Part(
                    (
                        (f"{LONG_MARK}{SHORT_MARK}", "realized-long-big"),
                        (f" realized ≥{big}  ", "muted"),
                        (f"{MARK_SMALL[0]}{MARK_SMALL[1]}", "realized-long"),
                        (" smaller", "muted"),
                    ),
                    6,
                    ((f"{LONG_MARK}{SHORT_MARK}", "realized-long-big"), (f"R≥{big}", "muted")),
                ),
            ]
        else:
            parts = readout_parts(readout, decimals, self.lookback)
        return [(ch, role) for text, role in fit_line(parts, width) for ch in text]

    def _axis(self, cols: Sequence[Column], label_w: int, width: int) -> list[Cell]:
        line: list[Cell] = [(" ", "empty")] * width
        offset = label_w + (1 if label_w else 0)
        # the lookback, on the right: "lookback 7d" ("7d" when narrow)
        tag = f"lookback {self.lookback}" if width >= 60 else self.lookback
        tag = tag if len(tag) + 2 <= width - offset else ""
        end = width - len(tag) - 1 if tag else width
        for i, ch in enumerate(tag):
            line[end + 1 + i] = (ch, "muted")
        fmt = _time_format(self.lookback)
        x = 0
        while x < len(cols):
            stamp = datetime.fromtimestamp(cols[x].t_ms / 1000, tz=UTC).strftime(fmt)
            text = "└" + stamp if x < len(cols) - 1 else "└now"
            if offset + x + len(text) > end:
                break
            for i, ch in enumerate(text):
                line[offset + x + i] = (ch, "muted")
            x += max(len(text) + 4, 12)
        # the scale's legend on the left
        legend = ("abs " if self.absolute_top_usd else "≤") + _compact(self.top)
        for i, ch in enumerate(legend[: max(label_w - 1, 0)]):
            line[i] = (ch, "muted")
        return line

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y >= len(self._keys) or width <= 0:
            return Strip.blank(max(width, 0), self.palette["empty"])
        return self.strip_for(self._keys[y], width)


class CellReadout(NamedTuple):
    """What the cursor's cell holds: its period, its price band, E and R in it."""

    start_ms: int | None  # the period (start_ms, end_ms]; None: not known
    end_ms: int
    live: bool  # the live column: from the newest history column to now
    price_low: float
    price_high: float
    e_long: float
    e_short: float
    r_long: float
    r_short: float


def _readout(
    row: LadderRow, col: Column, live: bool, values: np.ndarray, x: int, y: int
) -> CellReadout:
    e_long, e_short, r_long, r_short = (float(v) for v in values[:, y, x])
    start = col.t_ms - col.period_ms if col.period_ms > 0 or live else None
    return CellReadout(
        start, col.t_ms, live, row.price_low, row.price_high, e_long, e_short, r_long, r_short
    )


def _time_format(lookback: str) -> str:
    span = lookback_ms(lookback)
    day = 86_400_000
    return "%H:%M" if span is None or span <= day else "%a %Hh" if span <= 7 * day else "%m-%d"


def _stamp(ms: int, fmt: str) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(fmt)


def readout_parts(readout: CellReadout, decimals: int, lookback: str) -> list[Part]:
    """The cursor cell: "14:15–14:30  97,200–97,300  E ▼1.2M ▲0  R ▼450k ▲12k"."""
    span = lookback_ms(lookback)
    fmt = "%H:%M" if span is None or span <= 86_400_000 else "%a %d %H:%M"
    end = "now" if readout.live else _stamp(readout.end_ms, fmt)
    when = f"{_stamp(readout.start_ms, fmt)}–{end}" if readout.start_ms is not None else end
    low = format_price(readout.price_low, decimals)
    high = format_price(readout.price_high, decimals)

    def usd(v: float) -> str:
        return compact_usd(v) if v > 0 else "0"

    e_segs: tuple[Seg, ...] = (
        ("E ", "text"),
        (f"{LONG_MARK}{usd(readout.e_long)}", "long"),
        (" ", "empty"),
        (f"{SHORT_MARK}{usd(readout.e_short)}", "short"),
    )
    realized = readout.r_long > 0 or readout.r_short > 0
    r_segs: tuple[Seg, ...] = (
        (
            ("R ", "realized"),
            (f"{LONG_MARK}{usd(readout.r_long)}", "realized"),
            (" ", "empty"),
            (f"{SHORT_MARK}{usd(readout.r_short)}", "realized"),
        )
        if realized
        else (("R none", "muted"),)
    )
    return [
        Part.of(when, "text", 10),
        Part(((f"{low}–{high}", "label"),), 9, ((low, "label"),)),
        Part(e_segs, 8),
        Part(r_segs, 8),
    ]


def _compact(v: float) -> str:
    return compact_usd(v)
