"""The overview: every watchlist market in one table, what a trader leaves on a second monitor.

One row per market (`liqtui.model.overview.OverviewRow`, the same figures `liqtui snapshot`
writes): price and its 24 h change, realized long and short USD over 1 h and 24 h, the nearest
large estimated cluster above and below (distance and E), R_X at 2% per side, feed health.
`s` sorts by the next column (each column starts in the order a trader wants first: biggest R
first, nearest cluster first, worst health first), `S` reverses, ↑/↓ (and PgUp/PgDn) move the
cursor, enter opens the market under it in the ladder.

Computing a row means a snapshot of the market (≈ 0.3–0.9 ms) and its R_X (≈ 0.8 ms), so the
rows are computed again at most once every `REFRESH_S`, or less often when computing them took
more than `ROWS_BUDGET` of that time (a long watchlist: 40 ms of rows → every 2 s), and at once
when the watchlist, the window or a model filter changes; the timer's other frames re-lay out
the rows they have. A
Line API widget: only lines whose content changed are refreshed. Narrow terminals use shorter
column forms, then drop the 1 h columns, then R 24 h, then R_X (`Column.drop`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.style import Style

from liqtui.model.clusters import LARGE_MULTIPLE, LEVEL_PCT, REACH_PCT, Cluster
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.model.overview import HEALTH_ORDER, RISK_DISTANCE, OverviewRow, overview_row
from liqtui.output.ladder import LONG_MARK, SHORT_MARK, compact_usd, crop_segments, format_price
from liqtui.output.render import format_age, price_decimals
from liqtui.ui.widgets.status import Part, Seg, ThemedLines, fit_line

REFRESH_S = 1.0
ROWS_BUDGET = 0.02  # share of a core the rows may take: a long watchlist refreshes less often
CURSOR = "@cursor"  # role suffix of the cells of the cursor's row
FOOTER_LINES = 2
RowKey = tuple[Seg, ...]
SortKey = tuple[int, float | str]


def overview_rows(
    engine: Engine,
    symbols: Sequence[str],
    *,
    window_ms: int | None,
    exchange: str | None,
    current: MarketSnapshot | None = None,
) -> list[OverviewRow]:
    """Each market's row, in watchlist order (`current`: a snapshot already pulled, reused)."""
    rows = []
    for symbol in symbols:
        if current is not None and current.symbol == symbol:
            snap = current
        else:
            snap = engine.snapshot(symbol, window_ms=window_ms, exchange=exchange, activity=False)
        rows.append(overview_row(engine, snap))
    return rows


# -- cells -------------------------------------------------------------------------------------


def _usd(value: float, role: str) -> list[Seg]:
    return [(compact_usd(value), role)] if value > 0 else [("0", "muted")]


def _change(row: OverviewRow, narrow: bool) -> list[Seg]:
    if row.change_pct is None:
        return [("—", "muted")]
    pct = row.change_pct
    text = f"{pct:+.1f}%" if narrow or abs(pct) >= 100 else f"{pct:+.2f}%"
    segs: list[Seg] = [(text, "up" if pct > 0 else "down" if pct < 0 else "text")]
    if not row.change_full:
        segs.append(("*", "muted"))  # over a shorter history (the footer says how long)
    return segs


def _cluster(cluster: Cluster | None, narrow: bool) -> list[Seg]:
    if cluster is None:
        return [("—", "muted")]
    d = cluster.distance_pct
    dist = f"{d:+.1f}%" if narrow or abs(d) >= 10 else f"{d:+.2f}%"
    role = "short" if cluster.side == "short" else "long"
    return [(dist, "text"), (" ", "empty"), (compact_usd(cluster.usd), role)]


def ratio_text(value: float | None, narrow: bool = False) -> str:
    """R_X in at most 5 cells (4 when narrow): 0.045, 1.2, 37."""
    if value is None:
        return "—"
    if value >= 9.95:
        return f"{value:.0f}"
    if narrow or value >= 0.995:
        return f"{value:.1f}" if value >= 0.995 else f"{value:.2f}"
    return f"{value:.2g}" if value >= 0.01 else f"{value:.3f}"


def _risk(row: OverviewRow, narrow: bool) -> list[Seg]:
    long_r, short_r = row.r_x
    if long_r is None and short_r is None:
        return [("—", "muted")]
    sep = "/" if narrow else " "
    return [
        (ratio_text(long_r, narrow), "long"),
        (sep, "muted"),
        (ratio_text(short_r, narrow), "short"),
    ]


_HEALTH_ROLES = {"ok": "ok", "degraded": "warning", "stale": "warning", "down": "error"}


def _health(row: OverviewRow, narrow: bool) -> list[Seg]:
    """ "ok 3/3 …" with what is wrong; narrow: "ok", "2/3" (degraded), "stale", "down", "none"."""
    role = _HEALTH_ROLES.get(row.health, "muted")
    count = f"{row.feeds_live}/{row.feeds_total}" if row.feeds_total else ""
    if narrow:
        short = {"degraded": count or "degr", "no data": "none"}
        return [(short.get(row.health, row.health), role)]
    segs: list[Seg] = [(f"{row.health} {count}".rstrip(), role)]
    if row.health_note:
        segs.append((f" {row.health_note}", "muted"))
    return segs


def _price(row: OverviewRow, narrow: bool) -> list[Seg]:
    if row.price is None:
        return [("—", "muted")]
    return [
        (format_price(row.price, price_decimals(row.price)), "stale" if row.price_stale else "text")
    ]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its header (full / narrow), widths, how it drops and sorts, its cell."""

    id: str
    title: str
    short: str
    width: int
    narrow: int
    drop: int  # narrow terminals drop the lowest first; 0: never dropped
    cell: Callable[[OverviewRow, bool], list[Seg]]
    key: Callable[[OverviewRow], float | str | None]  # sort key (None: always last)
    descending: bool = True  # the order `s` starts the column in
    align: str = ">"


def _health_rank(health: str) -> int:
    return HEALTH_ORDER.index(health) if health in HEALTH_ORDER else len(HEALTH_ORDER)


def _dist(cluster: Cluster | None) -> float | None:
    return abs(cluster.distance_pct) if cluster is not None else None


COLUMNS: tuple[Column, ...] = (
    Column("market", "market", "mkt", 11, 7, 0, lambda r, n: [(r.symbol, "symbol")],
           lambda r: None, descending=False, align="<"),
    Column("price", "price", "price", 12, 9, 9, _price, lambda r: r.price),
    Column("change", "24h", "24h", 9, 7, 6, _change, lambda r: r.change_pct),
    Column("r1h_long", f"R1h{LONG_MARK}", f"R1h{LONG_MARK}", 7, 6, 1,
           lambda r, n: _usd(r.realized_1h[0], "long"), lambda r: r.realized_1h[0]),
    Column("r1h_short", f"R1h{SHORT_MARK}", f"R1h{SHORT_MARK}", 7, 6, 1,
           lambda r, n: _usd(r.realized_1h[1], "short"), lambda r: r.realized_1h[1]),
    Column("r24h_long", f"R24h{LONG_MARK}", f"R24h{LONG_MARK}", 7, 6, 3,
           lambda r, n: _usd(r.realized_24h[0], "long"), lambda r: r.realized_24h[0]),
    Column("r24h_short", f"R24h{SHORT_MARK}", f"R24h{SHORT_MARK}", 7, 6, 3,
           lambda r, n: _usd(r.realized_24h[1], "short"), lambda r: r.realized_24h[1]),
    Column("above", f"{SHORT_MARK} cluster", f"{SHORT_MARK}cluster", 14, 11, 8,
           lambda r, n: _cluster(r.clusters.above, n), lambda r: _dist(r.clusters.above),
           descending=False),
    Column("below", f"{LONG_MARK} cluster", f"{LONG_MARK}cluster", 14, 11, 8,
           lambda r, n: _cluster(r.clusters.below, n), lambda r: _dist(r.clusters.below),
           descending=False),
    Column("risk", f"R_X{RISK_DISTANCE * 100:g}% {LONG_MARK} {SHORT_MARK}",
           f"R_X{RISK_DISTANCE * 100:g}%", 11, 9, 4, _risk, lambda r: r.risk),
    Column("health", "feeds", "feeds", 10, 6, 7, _health, lambda r: _health_rank(r.health),
           align="<"),
)  # fmt: skip
COLUMN_IDS = tuple(c.id for c in COLUMNS)
_BY_ID = {c.id: c for c in COLUMNS}
SORT_TITLES = {c.id: c.title for c in COLUMNS}


@dataclass(frozen=True, slots=True)
class Layout:
    columns: tuple[Column, ...]
    widths: tuple[int, ...]
    narrow: bool


def layout_for(width: int) -> Layout:
    """The columns that fit `width`: full forms, else the narrow ones, dropping the columns of
    lowest `drop` until they fit; the last column takes what is left."""
    cols = list(COLUMNS)
    narrow = False

    def total(ws: Sequence[int]) -> int:
        return sum(ws) + len(ws) - 1

    widths = [c.width for c in cols]
    if total(widths) > width:
        narrow = True
        widths = [c.narrow for c in cols]
    order = sorted((c for c in cols if c.drop), key=lambda c: c.drop)
    while total(widths) > width and order:
        gone = order.pop(0)
        i = cols.index(gone)
        cols.pop(i)
        widths.pop(i)
    if widths and total(widths) < width:
        widths[-1] += width - total(widths)
    return Layout(tuple(cols), tuple(widths), narrow)


def _fit(segs: Sequence[Seg], width: int, align: str) -> list[Seg]:
    """Segments cropped or padded to exactly `width` cells."""
    length = sum(len(t) for t, _ in segs)
    if length > width:
        return crop_segments(segs, width)
    pad = (" " * (width - length), "empty")
    return [*segs, pad] if align == "<" else [pad, *segs]


def sorted_rows(
    rows: Sequence[OverviewRow], column: str, descending: bool, slots: dict[str, int]
) -> list[OverviewRow]:
    """`rows` sorted by a column: markets without a value (or without data at all) last, ties
    and those in watchlist order."""
    col = _BY_ID.get(column, COLUMNS[0])

    def slot(r: OverviewRow) -> int:
        return slots.get(r.symbol, len(slots))

    if col.id == "market":
        return sorted(rows, key=slot, reverse=descending)

    def key(r: OverviewRow) -> float | str | None:
        return col.key(r) if r.price is not None or col.id == "health" else None

    known = sorted((r for r in rows if key(r) is not None), key=slot)
    missing = sorted((r for r in rows if key(r) is None), key=slot)
    known.sort(key=key, reverse=descending)  # type: ignore[arg-type]  # stable: ties by slot
    return known + missing


class OverviewTable(ThemedLines):
    """The overview view: a header line, one line per market, two footer lines."""

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.rows: list[OverviewRow] = []  # watchlist order
        self.slots: dict[str, int] = {}  # market → watchlist slot (1-based)
        self.sort_column = "market"
        self.descending = False
        self.cursor: str | None = None  # the market under the cursor
        self.top = 0  # first market row on screen
        self.computed = 0  # rows computed (for tests and the benchmark)
        self.inputs: object = None
        self._at = -float("inf")
        self.interval = REFRESH_S  # between computations (longer when they cost more)
        self.last_dirty_rows = 0
        self.total_dirty_rows = 0
        self.updates = 0

    # -- data ------------------------------------------------------------------------------------
    def stale(self, key: object, now: float | None = None) -> bool:
        """Whether the rows should be computed again: their inputs (`key`) changed, or they
        are `interval` old."""
        now = time.monotonic() if now is None else now
        return key != self.inputs or now - self._at >= self.interval

    def set_rows(
        self, rows: list[OverviewRow], key: object, now: float | None = None, cost_s: float = 0.0
    ) -> None:
        """New rows, computed from `key` in `cost_s` seconds: the next ones are due after
        REFRESH_S, or after cost_s / ROWS_BUDGET when that is longer."""
        self.rows = rows
        self.inputs = key
        self._at = time.monotonic() if now is None else now
        self.interval = max(REFRESH_S, cost_s / ROWS_BUDGET)
        self.computed += 1

    def show(self, symbols: Sequence[str], current: str | None = None) -> None:
        """Draw the rows held, `symbols` being the watchlist (its order: the slots)."""
        self.slots = {s: i for i, s in enumerate(symbols, 1)}
        if self.cursor is None or self.cursor not in {r.symbol for r in self.rows}:
            self.cursor = current if current in self.slots else (symbols[0] if symbols else None)
        self._update()

    # -- sorting and the cursor ------------------------------------------------------------------
    @property
    def ordered(self) -> list[OverviewRow]:
        return sorted_rows(self.rows, self.sort_column, self.descending, self.slots)

    @property
    def selected(self) -> str | None:
        return self.cursor

    def set_sort(self, column: str) -> None:
        """Sort by `column`, in the order that column starts in."""
        col = _BY_ID.get(column)
        if col is None:
            return
        self.sort_column, self.descending = col.id, col.descending
        self._update()

    def cycle_sort(self) -> None:
        i = COLUMN_IDS.index(self.sort_column) if self.sort_column in COLUMN_IDS else -1
        self.set_sort(COLUMN_IDS[(i + 1) % len(COLUMN_IDS)])

    def reverse_sort(self) -> None:
        self.descending = not self.descending
        self._update()

    def move(self, rows: int) -> None:
        """Move the cursor down (positive) or up by rows, within the table."""
        symbols = [r.symbol for r in self.ordered]
        if not symbols:
            return
        i = symbols.index(self.cursor) if self.cursor in symbols else 0
        self.cursor = symbols[min(max(i + rows, 0), len(symbols) - 1)]
        self._update()

    def page(self, direction: int) -> None:
        self.move(direction * max(1, self._body_height()))

    # -- layout ----------------------------------------------------------------------------------
    def _body_height(self) -> int:
        height = self.size.height
        footer = FOOTER_LINES if height >= 6 else 0
        return max(height - 1 - footer, 0)

    def _header(self, layout: Layout) -> RowKey:
        segs: list[Seg] = []
        for col, w in zip(layout.columns, layout.widths, strict=True):
            if segs:
                segs.append((" ", "empty"))
            title = col.short if layout.narrow else col.title
            if col.id == self.sort_column:
                arrow = "↓" if self.descending else "↑"
                segs.extend(_fit([(title + arrow, "heading")], w, col.align))
            else:
                segs.extend(_fit([(title, "label")], w, col.align))
        return tuple(segs)

    def _line(self, row: OverviewRow, layout: Layout, selected: bool) -> RowKey:
        segs: list[Seg] = []
        for col, w in zip(layout.columns, layout.widths, strict=True):
            if segs:
                segs.append((" ", "empty"))
            if col.id == "market":
                slot = self.slots.get(row.symbol)
                cell: list[Seg] = [(f"{slot} " if slot and slot < 10 else "  ", "muted")]
                cell.append((row.symbol, "symbol"))
            else:
                cell = col.cell(row, layout.narrow)
            segs.extend(_fit(cell, w, col.align))
        if selected:
            segs = [(t, f"{r}{CURSOR}") for t, r in segs]
        return tuple(segs)

    def _footer(self, width: int) -> list[RowKey]:
        held = [r.change_span_ms for r in self.rows if r.change_span_ms and not r.change_full]
        scale = self.rows[0].scale if self.rows else "relative"
        first: list[Part] = [
            Part.of(
                f"cluster: nearest level of {LEVEL_PCT * 100:g}% with ≥{LARGE_MULTIPLE:g}× the "
                f"median E and in the top decile, within {REACH_PCT * 100:g}%: distance, E",
                "muted",
                6,
                short=f"cluster ≥{LARGE_MULTIPLE:g}× median, top decile",
            ),
            Part.of(f"E {scale}", "muted", 5),
            Part.of(
                f"R_X: E ÷ book depth within {RISK_DISTANCE * 100:g}%",
                "muted",
                4,
                short="R_X E÷depth",
            ),
        ]
        if held:
            span = format_age(max(held))
            first.insert(
                0, Part.of(f"* 24h change over the {span} held", "warning", 8, short=f"* {span}")
            )
        direction = "↓" if self.descending else "↑"
        second: list[Part] = [
            Part.of(f"sort {SORT_TITLES[self.sort_column]} {direction}", "heading", 9),
            Part.of("s next column, S reverse", "muted", 7, short="s/S sort"),
            Part.of("↑↓ cursor", "muted", 5),
            Part.of("enter: ladder", "muted", 8, short="⏎ ladder"),
        ]
        return [fit_line(first, width), fit_line(second, width)]

    def _compute(self, width: int, height: int) -> list[RowKey]:
        blank: RowKey = ((" " * max(width, 0), "empty"),)
        if width <= 0 or height <= 0:
            return []
        if not self.rows:
            keys = [blank] * height
            keys[height // 2] = (("waiting for data…".center(width)[:width], "message"),)
            return keys
        layout = layout_for(width)
        ordered = self.ordered
        body = self._body_height()
        symbols = [r.symbol for r in ordered]
        i = symbols.index(self.cursor) if self.cursor in symbols else 0
        if i < self.top:
            self.top = i
        elif body and i >= self.top + body:
            self.top = i - body + 1
        self.top = max(0, min(self.top, max(len(ordered) - body, 0)))
        keys = [tuple(crop_segments(self._header(layout), width, pad=True))]
        for row in ordered[self.top : self.top + body]:
            line = self._line(row, layout, row.symbol == self.cursor)
            keys.append(tuple(crop_segments(line, width, pad=True)))
        footer = self._footer(width) if height >= 6 else []
        while len(keys) < height - len(footer):
            keys.append(blank)
        return (keys + footer)[:height]

    def _update(self, full: bool = False) -> None:
        width, height = self.size.width, self.size.height
        self.last_dirty_rows = self.repaint_lines(self._compute(width, height), full=full)
        self.updates += 1
        self.total_dirty_rows += self.last_dirty_rows

    def on_resize(self) -> None:
        self._update(full=True)

    # -- drawing ---------------------------------------------------------------------------------
    @property
    def palette(self) -> dict[str, Style]:
        """The theme's roles, plus price-change colors and the cursor row's reverse band."""
        fresh = self._palette is None
        palette = super().palette
        if fresh:
            palette["up"] = palette["ok"]
            palette["down"] = palette["error"] + Style(bold=False)
            band = Style(reverse=True)
            for role in list(palette):
                palette[f"{role}{CURSOR}"] = palette[role] + band
        return palette
