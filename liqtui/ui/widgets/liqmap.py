"""The cumulative liquidation map (Coinglass's "liquidation map"), price on the vertical axis.

Each row is a price level (the ladder's nice steps, from the widget's own `LadderView`). Its
bar is the CUMULATIVE estimated notional E between that level and the price: the longs that
would be liquidated if price fell to it (rows below the price) or the shorts if it rose to it
(rows above), stacked per exchange (one color each, and one glyph each without color). The
bars therefore grow away from the price; the row's figure is the total. Realized prints R in
the window are overlaid: a dot after the bar (● at or above the large-print mark) and the
row's own R on the right.

A cursor (the price views' row keys) reads out "price X: $Y of longs between here and the
price", with each exchange's share; without a cursor the line gives the totals to the edges
of the screen. The figures are the same as the ladder's cursor readout (`cumulative_to`).

`cumulative_map` is the data preparation (pure: bins in, per-row cumulative sums out) and
`map_data` gathers its input from the engine (one snapshot per exchange, as the per-exchange
view). The widget repaints only rows whose content changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from liqtui.exchanges import ids as exchange_ids
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.model.grid import PriceGrid
from liqtui.output.ladder import (
    LONG_MARK,
    PRICE_MARK,
    SHORT_MARK,
    compact_usd,
    crop_segments,
    format_price,
    step_decimals,
)
from liqtui.ui.widgets.axis import PriceAxisView
from liqtui.ui.widgets.status import Part, Seg, fit_line

RowKey = tuple[Seg, ...]
HEADER_LINES = 1
FOOTER_LINES = 2
BAR_GLYPH = "█"
# Without color, exchanges are told apart by glyph (in the order of the exchange registry).
MONO_GLYPHS = "█▓▒░"
SMALL_PRINT, LARGE_PRINT = "•", "●"

Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class MapColumns:
    """The cumulative map over a list of rows (top first).

    `side` is +1 for a row above the price (shorts from the price up to the row's top edge),
    -1 below it (longs from the row's bottom edge up to the price), 0 for the row holding the
    price. `cum[e, i]` is exchange `exchanges[e]`'s cumulative E for row i on that side;
    `total[i]` their sum. `realized_long/short[i]` are the R prints within row i itself and
    `realized_cum[i]` the R of the row's side between the row and the price."""

    exchanges: tuple[str, ...]
    lows: Floats
    highs: Floats
    side: NDArray[np.int64]
    cum: Floats  # (exchanges, rows)
    total: Floats
    realized_long: Floats
    realized_short: Floats
    realized_cum: Floats

    @property
    def peak(self) -> float:
        return float(self.total.max(initial=0.0))

    def levels(self, price: float) -> Floats:
        """The price each row's cumulative figure reaches, which labels the row: the top edge
        above the price, the bottom edge below it, the price itself on its row."""
        return np.where(self.side > 0, self.highs, np.where(self.side < 0, self.lows, price))


def _prefix(values: Floats) -> Floats:
    """Prefix sums along the last axis with a leading 0: P[..., j] = sum of values[..., :j]."""
    shape = (*values.shape[:-1], 1)
    return np.concatenate([np.zeros(shape), np.cumsum(values, axis=-1)], axis=-1)


def cumulative_map(
    grid: PriceGrid,
    price: float,
    estimated: Mapping[str, tuple[Floats, Floats]],
    lows: Sequence[float] | Floats,
    highs: Sequence[float] | Floats,
    realized: tuple[Floats, Floats] | None = None,
) -> MapColumns:
    """Cumulative E per exchange for rows [low, high) (top first), with the rows' R.

    `estimated`: exchange → (E long, E short) per bin of `grid`; `realized`: (R long, R short)
    per bin. A bin counts by its centre, as in the ladder's readout
    (`liqtui.ui.scale.cumulative_to`): above the price, bins with centre in (price, high);
    below it, in [low, price)."""
    lo = np.asarray(lows, dtype=np.float64)
    hi = np.asarray(highs, dtype=np.float64)
    n_rows = lo.size
    names = tuple(estimated)
    centres = grid.origin + (np.arange(grid.n_bins) + 0.5) * grid.width
    above = lo > price
    below = hi <= price
    side = np.where(above, 1, np.where(below, -1, 0)).astype(np.int64)
    # Bin index ranges [start, stop) between each row and the price.
    p_right = int(np.searchsorted(centres, price, side="right"))  # first centre > price
    p_left = int(np.searchsorted(centres, price, side="left"))  # first centre >= price
    up_stop = np.maximum(np.searchsorted(centres, hi, side="left"), p_right)
    down_start = np.minimum(np.searchsorted(centres, lo, side="left"), p_left)

    def between(prefix: Floats, short_side: bool) -> Floats:
        """prefix: (k, bins+1) → (k, rows): the side's sum between each row and the price."""
        if short_side:
            return prefix[:, up_stop] - prefix[:, [p_right]]
        return prefix[:, [p_left]] - prefix[:, down_start]

    if names:
        longs = np.stack([np.asarray(estimated[n][0], dtype=np.float64) for n in names])
        shorts = np.stack([np.asarray(estimated[n][1], dtype=np.float64) for n in names])
        cum = np.where(
            above,
            between(_prefix(shorts), True),
            np.where(below, between(_prefix(longs), False), 0.0),
        )
    else:
        cum = np.zeros((0, n_rows))
    # R within each row's own bins (by the bin's low edge, as the ladder's rows) and between
    # the row and the price (by centre, as above).
    r_long, r_short = realized if realized is not None else (np.zeros(0), np.zeros(0))
    if r_long.size == grid.n_bins:
        first = np.clip(np.round((lo - grid.origin) / grid.width).astype(np.int64), 0, grid.n_bins)
        last = np.clip(np.round((hi - grid.origin) / grid.width).astype(np.int64), 0, grid.n_bins)
        rp = _prefix(np.stack([r_long, r_short]))
        row_long = rp[0, last] - rp[0, first]
        row_short = rp[1, last] - rp[1, first]
        r_cum = np.where(
            above, between(rp[1:2], True)[0], np.where(below, between(rp[0:1], False)[0], 0.0)
        )
    else:
        row_long = row_short = r_cum = np.zeros(n_rows)
    return MapColumns(
        exchanges=names,
        lows=lo,
        highs=hi,
        side=side,
        cum=cum,
        total=cum.sum(axis=0) if names else np.zeros(n_rows),
        realized_long=row_long,
        realized_short=row_short,
        realized_cum=r_cum,
    )


@dataclass(frozen=True, slots=True)
class MapInput:
    """What the map draws besides the total snapshot: each exchange's E per bin, and what
    it was computed from (`key`)."""

    estimated: dict[str, tuple[Floats, Floats]]
    key: tuple[object, ...] = ()


def map_data(
    engine: Engine,
    snap: MarketSnapshot,
    *,
    window_ms: int | None,
    exchange: str | None,
    previous: MapInput | None = None,
) -> MapInput:
    """Each exchange's E per bin (in registry order; only `exchange` when the app filters on
    one; only exchanges with an estimate). E changes only when the market's model steps or
    moves its grid, so `previous` is handed back while neither happened (nor a setting)."""
    model = engine.markets.get(snap.symbol)
    key = (
        snap.symbol,
        id(model),
        getattr(model, "steps", None),
        snap.grid,
        snap.preset,
        snap.tier_filter,
        exchange,
        engine.fitted_weights,
    )
    if previous is not None and previous.key == key:
        return previous
    names = [ex for ex in exchange_ids() if ex in snap.estimated_by_exchange]
    if exchange is not None:
        names = [ex for ex in names if ex == exchange]
    out: dict[str, tuple[Floats, Floats]] = {}
    for ex in names:
        one = engine.snapshot(snap.symbol, window_ms=window_ms, exchange=ex)
        if one.grid == snap.grid and one.estimated_long.size == snap.estimated_long.size:
            out[ex] = (one.estimated_long, one.estimated_short)
    return MapInput(out, key)


# -- laying rows out ---------------------------------------------------------------------------


def stacked_bar(
    cum: Sequence[float] | Floats,
    peak: float,
    width: int,
    roles: Sequence[str],
    glyphs: Sequence[str],
) -> list[Seg]:
    """One row's bar: each exchange's part of `width` cells (a full bar is `peak`). Cell
    boundaries come from the running sum, so the parts add up to the total's length."""
    if peak <= 0 or width <= 0:
        return []
    segs: list[Seg] = []
    running, start = 0.0, 0
    for value, role, glyph in zip(cum, roles, glyphs, strict=True):
        running += max(value, 0.0)
        end = min(width, math.ceil(width * running / peak - 1e-9)) if running > 0 else 0
        if end > start:
            segs.append((glyph * (end - start), role))
            start = end
    return segs


def _print_mark(usd: float, mark_usd: float) -> Seg | None:
    if usd <= 0:
        return None
    return (LARGE_PRINT, "realized-long-big") if usd >= mark_usd else (SMALL_PRINT, "realized")


@dataclass(frozen=True, slots=True)
class MapLayout:
    label: int
    bar: int
    total: int  # the cumulative figure ("▼12.3M"), 0: dropped
    real: int  # the row's R ("●▲1.2M"), 0: dropped

    @classmethod
    def for_width(cls, width: int, label: int) -> MapLayout:
        total, real = 8, 8
        bar = width - label - 2 - total - real
        if bar < 8:
            real = 0
            bar = width - label - 2 - total
        if bar < 4:
            total = 0
            bar = width - label - 2
        return cls(label, max(bar, 0), total, real)


def map_row(
    cols: MapColumns,
    i: int,
    layout: MapLayout,
    *,
    decimals: int,
    price: float,
    peak: float,
    roles: Sequence[str],
    glyphs: Sequence[str],
    realized_mark_usd: float,
    cursor: bool,
) -> RowKey:
    """Row i as (text, role) segments of exactly the layout's width."""
    side = int(cols.side[i])
    level = float(cols.levels(price)[i])
    label = f"{format_price(level, decimals):>{layout.label}}"
    segs: list[Seg] = []
    if side == 0:
        segs.append((label, "price-row"))
        segs.append((" " + PRICE_MARK, "price-row"))
        segs.append(("─ price ".ljust(layout.bar, "─")[: layout.bar], "price"))
    else:
        segs.append((label, "cursor" if cursor else "label"))
        segs.append((" ◆" if cursor else " │", "cursor-mark" if cursor else "axis"))
        bar = stacked_bar(cols.cum[:, i], peak, layout.bar, roles, glyphs)
        used = sum(len(t) for t, _ in bar)
        segs.extend(bar)
        real = float(cols.realized_long[i] + cols.realized_short[i])
        dot = _print_mark(real, realized_mark_usd)
        if dot is not None and used < layout.bar:
            segs.append(dot)
            used += 1
        if used < layout.bar:
            segs.append((" " * (layout.bar - used), "empty"))
    if layout.total:
        total = float(cols.total[i])
        if side == 0 or total <= 0:
            segs.append((" " * layout.total, "empty"))
        else:
            mark = SHORT_MARK if side > 0 else LONG_MARK
            text = f"{mark}{compact_usd(total)}"
            segs.append((f"{text:>{layout.total}}", "est-short" if side > 0 else "est-long"))
    if layout.real:
        rl, rs = float(cols.realized_long[i]), float(cols.realized_short[i])
        if rl + rs <= 0:
            segs.append((" " * layout.real, "empty"))
        else:
            mark = LONG_MARK if rl >= rs else SHORT_MARK
            big = rl + rs >= realized_mark_usd
            text = f"{LARGE_PRINT if big else ' '}{mark}{compact_usd(rl + rs)}"
            segs.append((f"{text:>{layout.real}}", "realized-long-big" if big else "realized"))
    width = layout.label + 2 + layout.bar + layout.total + layout.real
    return tuple(crop_segments(segs, width, pad=True))


def header_parts(
    exchanges: Sequence[str],
    roles: Sequence[str],
    glyphs: Sequence[str],
    *,
    scale_label: str,
    peak: float,
    realized_mark_usd: float,
) -> list[Part]:
    """The line above the rows: what the bars are, the exchanges' colors, the scale."""
    keys: list[Seg] = []
    short: list[Seg] = []
    for name, role, glyph in zip(exchanges, roles, glyphs, strict=True):
        keys.extend(((glyph * 2, role), (f" {name} ", "text")))
        short.extend(((glyph, role), (f"{name[:3]} ", "text")))
    parts = [
        Part(
            (
                ("Cumulative", "heading"),
                (" E from the price: ", "text"),
                (f"{SHORT_MARK} shorts above", "short"),
                (", ", "text"),
                (f"{LONG_MARK} longs below", "long"),
            ),
            10,
            (("Cumulative E ", "heading"), (f"{SHORT_MARK}above {LONG_MARK}below", "text")),
        ),
    ]
    if keys:
        parts.append(Part(tuple(keys), 8, tuple(short)))
    if peak > 0:
        parts.append(Part.of(f"full bar {compact_usd(peak)}", "muted", 4))
    parts.append(Part.of(f"E {scale_label}", "muted", 3))
    parts.append(
        Part.of(
            f"R: {SMALL_PRINT} print {LARGE_PRINT} ≥{compact_usd(realized_mark_usd)}", "realized", 2
        )
    )
    return parts


def readout_parts(
    cols: MapColumns, i: int | None, *, decimals: int, price: float
) -> tuple[list[Part], list[Part]]:
    """The two lines under the map: the cursor's readout and its split by exchange; without a
    cursor (i None), the totals from the price to the screen's top and bottom rows."""
    if i is None or cols.side[i] == 0:
        lines: list[Part] = []
        levels = cols.levels(price)
        for j, (mark, word, role) in (
            (0, (SHORT_MARK, "shorts", "short")),
            (len(cols.total) - 1, (LONG_MARK, "longs", "long")),
        ):
            if j < 0 or cols.side[j] == 0:
                continue
            edge = float(levels[j])
            pct = edge / price - 1.0
            lines.append(
                Part(
                    (
                        (f"{mark} to {format_price(edge, decimals)} ", "text"),
                        (f"{pct * 100:+.1f}%", "muted"),
                        (": ", "text"),
                        (f"${compact_usd(float(cols.total[j]))} {word}", role),
                    ),
                    9 if word == "shorts" else 8,
                )
            )
        hint = Part.of("↑↓ cursor: E from the price to a level", "muted", 5, short="↑↓ cursor")
        edges = [j for j in (0, len(cols.total) - 1) if cols.side[j] != 0]
        return [*lines, hint], _split(cols, edges, "to the edges:")
    side = int(cols.side[i])
    up = side > 0
    edge = float(cols.levels(price)[i])
    pct = edge / price - 1.0
    word, role, mark = ("shorts", "short", SHORT_MARK) if up else ("longs", "long", LONG_MARK)
    main = Part(
        (
            (f"{mark} price {format_price(edge, decimals)} ", "text"),
            (f"{pct * 100:+.2f}%", "muted"),
            (": ", "text"),
            (f"${compact_usd(float(cols.total[i]))} of {word}", role),
            (" between here and the price", "text"),
        ),
        10,
        (
            (f"{mark}{format_price(edge, decimals)} ", "text"),
            (f"{pct * 100:+.1f}%", "muted"),
            (" ", "text"),
            (f"${compact_usd(float(cols.total[i]))} {word}", role),
        ),
    )
    first = [main]
    r = float(cols.realized_cum[i])
    if r > 0:
        first.append(
            Part.of(f"R ${compact_usd(r)} printed", "realized", 6, short=f"R {compact_usd(r)}")
        )
    return first, _split(cols, [i], "by exchange:")


def _split(cols: MapColumns, rows: Sequence[int], title: str) -> list[Part]:
    """Each exchange's share of the cumulative E of `rows` (summed)."""
    per = cols.cum[:, list(rows)].sum(axis=1) if rows else np.zeros(len(cols.exchanges))
    total = float(per.sum())
    if total <= 0:
        return []
    parts = [Part.of(title, "muted", 3)]
    for name, v in zip(cols.exchanges, per.tolist(), strict=True):
        if v > 0:
            parts.append(
                Part(
                    (
                        (f"{name} ", f"exchange-{name}"),
                        (f"{compact_usd(v)} {v / total:.0%}", "text"),
                    ),
                    5,
                    ((f"{name[:3]} ", f"exchange-{name}"), (f"{v / total:.0%}", "text")),
                )
            )
    return parts


class LiqMapWidget(PriceAxisView):
    """The cumulative map with a cursor; drawn from the last snapshot shown."""

    def __init__(
        self,
        *,
        span_pct: float = 0.08,
        realized_mark_usd: float = 100_000.0,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(span_pct=span_pct, name=name, id=id)
        self.realized_mark_usd = realized_mark_usd
        self.data = MapInput({})
        self.columns: MapColumns | None = None
        self.cursor_row: int | None = None  # its index in `columns` when on screen
        self._shown_symbol: str | None = None
        self.last_dirty_rows = 0
        self.total_dirty_rows = 0
        self.updates = 0

    # -- public ---------------------------------------------------------------------------------
    @property
    def readout_text(self) -> str:
        """The cursor readout line as shown (plain text)."""
        h = self.size.height
        return self.rows_text[h - FOOTER_LINES].rstrip() if h > 6 and self._shown else ""

    def show(self, snap: MarketSnapshot, data: MapInput) -> None:
        full = snap.symbol != self._shown_symbol
        self.snapshot = snap
        self.data = data
        self._update(full=full)

    def redraw(self) -> None:
        self._update()

    def on_resize(self) -> None:
        self._update(full=True)

    def reset_view(self) -> None:
        super().reset_view()
        self.cursor_group = None

    # -- cursor: the row keys move it, the view scrolls to keep it on screen ----------------------
    def _row_step(self) -> float | None:
        return self.row_step

    def action_cursor(self, rows: int) -> None:
        self.move_cursor(rows)

    def action_page(self, direction: int) -> None:
        page = max(1, len(self.rows) - 1)
        start = self.cursor_group if self.cursor_group is not None else self.price_group()
        self.view.scroll(direction * page)
        if start is not None:
            self.cursor_group = start + direction * page

    def to_edge(self, group: int, direction: int) -> None:
        self.cursor_to(group)

    # -- layout ---------------------------------------------------------------------------------
    def _exchange_style(self, names: Sequence[str]) -> tuple[list[str], list[str]]:
        """Each exchange's role, and its glyph (distinct glyphs only without color)."""
        order = list(exchange_ids())
        roles = [f"exchange-{n}" for n in names]
        mono = bool(self.is_attached and self.app.no_color)
        glyphs = [
            MONO_GLYPHS[(order.index(n) if n in order else k) % len(MONO_GLYPHS)]
            if mono
            else BAR_GLYPH
            for k, n in enumerate(names)
        ]
        return roles, glyphs

    def _compute(self, width: int, height: int) -> list[RowKey]:
        snap = self.snapshot
        blank: RowKey = ((" " * width, "empty"),)
        self.columns = None
        self.cursor_row = None
        if width <= 0 or height <= 0:
            self.rows = []
            return []
        framed = height > 6
        n_rows = height - HEADER_LINES - FOOTER_LINES if framed else height
        self.rows = self.view.rows(snap, n_rows) if snap is not None else []
        if not self.rows or snap is None or snap.grid is None or snap.price is None:
            keys = [blank] * height
            msg = "waiting for data…" if snap is None else f"waiting for data for {snap.symbol}…"
            keys[height // 2] = ((msg[:width].center(width), "message"),)
            return keys
        step = self.rows[0].price_high - self.rows[0].price_low
        decimals = step_decimals(step)
        cols = cumulative_map(
            snap.grid,
            snap.price,
            self.data.estimated,
            [r.price_low for r in self.rows],
            [r.price_high for r in self.rows],
            (snap.realized_long, snap.realized_short),
        )
        self.columns = cols
        roles, glyphs = self._exchange_style(cols.exchanges)
        label = max(len(format_price(p, decimals)) for p in cols.levels(snap.price))
        layout = MapLayout.for_width(width, label)
        peak = cols.peak
        if self.cursor_group is not None:
            groups = [round(r.price_low / step) for r in self.rows]
            if self.cursor_group in groups:
                self.cursor_row = groups.index(self.cursor_group)
        keys = [
            map_row(
                cols,
                i,
                layout,
                decimals=decimals,
                price=snap.price,
                peak=peak,
                roles=roles,
                glyphs=glyphs,
                realized_mark_usd=self.realized_mark_usd,
                cursor=i == self.cursor_row,
            )
            for i in range(len(self.rows))
        ]
        if not framed:
            return keys
        head = header_parts(
            cols.exchanges,
            roles,
            glyphs,
            scale_label=snap.scale_label,
            peak=peak,
            realized_mark_usd=self.realized_mark_usd,
        )
        first, second = readout_parts(cols, self.cursor_row, decimals=decimals, price=snap.price)
        return [fit_line(head, width), *keys, fit_line(first, width), fit_line(second, width)]

    def _update(self, *, full: bool = False) -> None:
        width, height = self.size.width, self.size.height
        self.last_dirty_rows = self.repaint_lines(self._compute(width, height), full=full)
        self._shown_symbol = self.snapshot.symbol if self.snapshot is not None else None
        self.updates += 1
        self.total_dirty_rows += self.last_dirty_rows
