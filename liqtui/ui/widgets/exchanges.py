"""Per-exchange contribution: each price level's E split by exchange, and the totals.

A Line API table: one row per price level (the same nice price steps as the ladder, with its
own `LadderView` so zoom and scroll work here too), one column per exchange with data, and a
total column. Cells show the dominant side's mark (▼ long, ▲ short) and the amount, colored by
side with the intensity of its percentile in the table. Under the table: per-exchange totals of
E and R and each feed's note (e.g. Hyperliquid has no public liquidation feed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liqtui.exchanges import ids as exchange_ids
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.output.ladder import (
    LONG_MARK,
    PRICE_MARK,
    SHORT_MARK,
    LadderRow,
    compact_usd,
    crop_segments,
    format_price,
    step_decimals,
)
from liqtui.ui.scale import percentile_level
from liqtui.ui.widgets.axis import PriceAxisView
from liqtui.ui.widgets.status import Seg

RowKey = tuple[Seg, ...]
FOOTER_LINES = 2


@dataclass(frozen=True, slots=True)
class ExchangeData:
    name: str
    snapshot: MarketSnapshot
    note: str = ""


def exchange_data(
    engine: Engine, snap: MarketSnapshot, *, window_ms: int | None, exchange: str | None
) -> list[ExchangeData]:
    """Each exchange's snapshot of the market (those with data or a feed note; only
    `exchange` when the app filters on one)."""
    notes = {f.name: f.remarks() for f in snap.feeds}
    names = [
        ex
        for ex in exchange_ids()
        if ex in snap.estimated_by_exchange or ex in snap.realized_by_exchange or ex in notes
    ]
    if exchange is not None:
        names = [ex for ex in names if ex == exchange]
    return [
        ExchangeData(
            ex, engine.snapshot(snap.symbol, window_ms=window_ms, exchange=ex), notes.get(ex, "")
        )
        for ex in names
    ]


def row_sums(snap: MarketSnapshot, rows: Sequence[LadderRow]) -> tuple[np.ndarray, np.ndarray]:
    """E long and short of `snap` within each row's price range."""
    grid = snap.grid
    n = len(rows)
    if grid is None or not snap.estimated_long.size or not rows:
        return np.zeros(n), np.zeros(n)
    lo = np.array([round((r.price_low - grid.origin) / grid.width) for r in rows])
    hi = np.array([round((r.price_high - grid.origin) / grid.width) for r in rows])
    lo, hi = np.clip(lo, 0, grid.n_bins), np.clip(hi, 0, grid.n_bins)

    def sums(values: np.ndarray) -> np.ndarray:
        cs = np.concatenate(([0.0], np.cumsum(values)))
        return cs[hi] - cs[lo]

    return sums(snap.estimated_long), sums(snap.estimated_short)


def _cell(long_usd: float, short_usd: float, width: int, sorted_vals: list[float]) -> Seg:
    total = long_usd + short_usd
    if total <= 0:
        return (" " * width, "empty")
    long_major = long_usd >= short_usd
    mark = LONG_MARK if long_major else SHORT_MARK
    level = percentile_level(sorted_vals, total)
    side = "long" if long_major else "short"
    text = f"{mark}{compact_usd(total)}"
    return (f"{text:>{width}}"[:width], f"{side}{max(level, 1)}")


class ExchangeTable(PriceAxisView):
    """Price rows × exchanges."""

    def __init__(self, *, span_pct: float = 0.08, name: str | None = None, id: str | None = None):
        super().__init__(span_pct=span_pct, name=name, id=id)
        self.exchanges: list[ExchangeData] = []
        self.last_dirty_rows = 0

    def show(self, total: MarketSnapshot, exchanges: list[ExchangeData]) -> None:
        self.snapshot = total
        self.exchanges = exchanges
        self._update()

    def redraw(self) -> None:
        self._update()

    def on_resize(self) -> None:
        self._update(full=True)

    def _compute(self, width: int, height: int) -> list[RowKey]:
        snap = self.snapshot
        blank: RowKey = ((" " * width, "empty"),)
        if width <= 0 or height <= 0:
            return []
        n_rows = max(height - 1 - FOOTER_LINES, 1) if height > 4 else height
        self.rows = self.view.rows(snap, n_rows) if snap is not None else []
        if not self.rows or snap is None:
            waiting = [blank] * height
            msg = "waiting for data…" if snap is None else f"waiting for data for {snap.symbol}…"
            waiting[height // 2] = ((msg[:width].center(width), "message"),)
            return waiting
        step = self.rows[0].price_high - self.rows[0].price_low
        decimals = step_decimals(step)
        label_w = max(len(format_price(r.price_low, decimals)) for r in self.rows)
        shown = [e for e in self.exchanges if e.snapshot.has_estimate] or self.exchanges
        sums = [row_sums(e.snapshot, self.rows) for e in shown]
        tl, ts = row_sums(snap, self.rows)
        avail = width - label_w - 2
        n_cols = len(shown) + 1
        col_w = max(min(avail // max(n_cols, 1), 12), 0)
        while col_w < 6 and shown:  # too narrow: drop exchanges from the right, keep the total
            shown, sums = shown[:-1], sums[:-1]
            n_cols = len(shown) + 1
            col_w = max(min(avail // n_cols, 12), 0)
        vals = [float(v) for a, b in sums for v in (a + b)]
        sorted_vals = sorted(v for v in vals if v > 0)
        sorted_tot = sorted(float(v) for v in (tl + ts) if v > 0)
        keys: list[RowKey] = []
        header: list[Seg] = [(f"{'price':>{label_w}}  ", "label")]
        for e in shown:
            header.append((f"{e.name[: col_w - 1]:>{col_w}}", "label"))
        header.append((f"{'total E':>{col_w}}"[:col_w], "text"))
        keys.append(_fit(header, width))
        price_group = int(np.floor(snap.price / step)) if snap.price else None
        for i, row in enumerate(self.rows):
            is_price = price_group is not None and round(row.price_low / step) == price_group
            segs: list[Seg] = [
                (
                    f"{format_price(row.price_low, decimals):>{label_w}}",
                    "price-row" if is_price else "label",
                ),
                (" " + (PRICE_MARK if is_price else "│"), "price-row" if is_price else "axis"),
            ]
            for long_a, short_a in sums:
                segs.append(_cell(float(long_a[i]), float(short_a[i]), col_w, sorted_vals))
            segs.append(_cell(float(tl[i]), float(ts[i]), col_w, sorted_tot))
            keys.append(_fit(segs, width))
        keys = keys[: height - FOOTER_LINES] if height > 4 else keys[:height]
        if height > 4:
            keys.extend(self._footer(width))
        while len(keys) < height:
            keys.append(blank)
        return keys[:height]

    def _footer(self, width: int) -> list[RowKey]:
        totals: list[Seg] = [("E ", "text")]
        real: list[Seg] = [("R ", "realized")]
        notes: list[Seg] = []
        snap = self.snapshot
        assert snap is not None
        grand = sum(a + b for a, b in snap.estimated_by_exchange.values()) or 1.0
        for name in exchange_ids():
            est = snap.estimated_by_exchange.get(name)
            rl = snap.realized_by_exchange.get(name)
            if est:
                share = (est[0] + est[1]) / grand
                totals.append(
                    (
                        f"{name} {_pair(est)} {share:.0%}  ",
                        "text",
                    )
                )
            if rl:
                real.append(
                    (
                        f"{name} {_pair(rl)}  ",
                        "realized",
                    )
                )
        for e in self.exchanges:
            if e.note:
                notes.append((f"{e.name}: {e.note}  ", "warning"))
        for f in snap.feeds:
            if f.remarks() and not any(e.name == f.name for e in self.exchanges):
                notes.append((f"{f.name}: {f.remarks()}  ", "warning"))
        line2 = real if len(real) > 1 else [("R none in the window  ", "muted")]
        return [_fit(totals, width), _fit(line2 + notes, width)]

    def _update(self, full: bool = False) -> None:
        width, height = self.size.width, self.size.height
        self.last_dirty_rows = self.repaint_lines(self._compute(width, height), full=full)


def _pair(pair: tuple[float, float]) -> str:
    return f"{LONG_MARK}{compact_usd(pair[0])} {SHORT_MARK}{compact_usd(pair[1])}"


def _fit(segs: list[Seg], width: int) -> RowKey:
    return tuple(crop_segments(segs, width, pad=True))
