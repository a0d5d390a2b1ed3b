"""Bounded per-market history: the time × price ring H and the per-minute activity ring.

H (`HistoryRing`) keeps `rows` snapshots of the estimated map E, summed over exchanges but kept
per side and per leverage tier, at a coarser price resolution than the model grid (cells of whole
grid bins, about `cell_pct` of price). Keeping the tier axis means a leverage preset applies to the
history exactly as it does to the live map. One row is written every `row_ms` of source time, so
the ring covers `rows × row_ms` (the model's window). Each row also keeps the price path of its
interval (last, low, high) and the realized prints of its interval per side and cell (R, so the
heat map marks where and when liquidations printed, over any lookback). Memory is fixed at
rows × 2 × (tiers + 1) × cells × 4 bytes (float32) + rows × 32 bytes: ≈ 1.5 MB for the defaults
(96 rows, 6 tiers, ≈ 282 cells at 0.25% over ±35%).

Lookbacks beyond the window (the heat map's 3d, 7d, 30d) come from longer, coarser rings of the
same kind (`ModelParams.lookback_rings`: 84 rows of 2 h = 7 days, 90 rows of 8 h = 30 days;
≈ 1.4 MB + 1.5 MB a market with E), filled as events flow in time order, so a store load or a
backfill fills them on a cold start. `pick_ring` takes the finest ring that covers a lookback;
`HistoryRing.lookback` returns its rows on a dense time axis (a missing row is an empty column),
merged into at most `max_columns` columns aligned to whole multiples of the row time (so the
columns stay put as time goes on). With the defaults one market holds ≈ 4.4 MB of H and R in all.

`ActivityRing` keeps, per minute over `days` (7 by default), realized liquidation notional per
side and the last price: the inputs of the live cascade detector (models.md §3.3 item 5).
10,080 minutes × 16 bytes ≈ 161 kB.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from liqtui.model.grid import PriceGrid, remap

MINUTE_MS = 60_000


def cell_grid(grid: PriceGrid, k: int) -> PriceGrid:
    """A coarser grid whose cells are `k` whole bins of `grid`, aligned to multiples of k·width."""
    width = k * grid.width
    first = grid.origin_bin // k
    last = -(-(grid.origin_bin + grid.n_bins) // k)  # ceil
    return PriceGrid(origin=first * width, width=width, n_bins=last - first)


def bins_per_cell(grid: PriceGrid, cell_pct: float, price: float) -> int:
    return max(1, round(cell_pct * price / grid.width))


@dataclass(frozen=True, slots=True)
class HistoryView:
    """The time × price history of one market, weighted by a preset; oldest row first."""

    times_ms: NDArray[np.int64]  # end of each row's interval (when it was written)
    cells: PriceGrid  # price cells (rows of a heat map)
    long_usd: NDArray[np.float64]  # [time, cell] estimated long liquidation notional (E)
    short_usd: NDArray[np.float64]
    row_ms: int  # time per column
    price: NDArray[np.float64] | None = None  # last price of each column's interval (NaN: none)
    price_low: NDArray[np.float64] | None = None  # its low and high
    price_high: NDArray[np.float64] | None = None
    # [time, cell] realized (R) notional printed during each column's interval, all exchanges
    realized_long: NDArray[np.float64] | None = None
    realized_short: NDArray[np.float64] | None = None


class HistoryRing:
    """Ring buffer H[row, side, tier, cell] of the estimated map (float32, fixed size), and
    beside it R[row, side, cell]: the realized prints of each row's interval, where they
    printed (a flow summed over the interval, where E is the map at its end)."""

    def __init__(
        self,
        grid: PriceGrid,
        price: float,
        *,
        rows: int,
        row_ms: int,
        n_tiers: int,
        cell_pct: float,
    ) -> None:
        self.rows = rows
        self.row_ms = row_ms
        self.n_tiers = n_tiers
        self.cell_pct = cell_pct
        self.k = bins_per_cell(grid, cell_pct, price)
        self.cells = cell_grid(grid, self.k)
        self.grid = grid
        self.data = np.zeros((rows, 2, n_tiers, self.cells.n_bins), dtype=np.float32)
        self.times = np.full(rows, -1, dtype=np.int64)
        self.prices = np.full((rows, 3), np.nan)  # last, low, high of each row's interval
        self.realized = np.zeros((rows, 2, self.cells.n_bins), dtype=np.float32)
        self._open = np.zeros((2, self.cells.n_bins))  # R of the row being filled
        self._written_ms = -1  # time of the newest row written
        self._low, self._high = math.inf, -math.inf  # the row being filled
        self.head = 0  # next row to write
        self.next_ms: int | None = None
        self._index = self._bin_index(grid)

    @property
    def nbytes(self) -> int:
        arrays = (self.data, self.times, self.prices, self._index, self.realized, self._open)
        return sum(a.nbytes for a in arrays)

    @property
    def span_ms(self) -> int:
        """The time the ring covers when full."""
        return self.rows * self.row_ms

    def note_price(self, low: float, high: float) -> None:
        """One step's price range (called every model step; the row keeps the extremes)."""
        if low < self._low:
            self._low = low
        if high > self._high:
            self._high = high

    def add_prints(
        self,
        times: NDArray[np.int64],
        sides: NDArray[np.int64],
        prices: NDArray[np.float64],
        usd: NDArray[np.float64],
    ) -> None:
        """Realized prints (side 0 long, 1 short) into their cells: into the row being filled,
        or a print older than the newest row (it arrived late) into the row written for its
        time if the ring still holds it. Prints off the grid are not kept."""
        cell = np.floor(prices / self.grid.width).astype(np.int64) // self.k
        cell -= self.cells.origin_bin
        ok = (cell >= 0) & (cell < self.cells.n_bins)
        late = times <= self._written_ms
        now = ok & ~late
        if now.any():
            np.add.at(self._open, (sides[now], cell[now]), usd[now])
        if not (ok & late).any():
            return
        written = np.flatnonzero(self.times >= 0)
        order = written[np.argsort(self.times[written])]
        ends = self.times[order]
        sel = np.flatnonzero(ok & late)
        j = np.searchsorted(ends, times[sel], side="left")  # the first row ending at or after
        inside = (j < ends.size) & (ends[np.minimum(j, ends.size - 1)] - self.row_ms < times[sel])
        rows = order[j[inside]]
        np.add.at(self.realized, (rows, sides[sel][inside], cell[sel][inside]), usd[sel][inside])

    def _bin_index(self, grid: PriceGrid) -> NDArray[np.int32]:
        """Flat target of every (side, tier, bin) of the model grid in (side, tier, cell)."""
        cell = (grid.origin_bin + np.arange(grid.n_bins)) // self.k - self.cells.origin_bin
        rows = np.arange(2 * self.n_tiers)[:, None] * self.cells.n_bins
        return (rows + cell[None, :]).ravel().astype(np.int32)

    def due(self, now_ms: int) -> bool:
        if self.next_ms is None:
            self.next_ms = now_ms - now_ms % self.row_ms + self.row_ms
            return False
        return now_ms >= self.next_ms

    def capture(
        self, now_ms: int, estimated: NDArray[np.float64], price: float | None = None
    ) -> None:
        """Write one row from E summed over exchanges: shape (2, tiers, model bins), USD, and
        the row's price path (the last price, the extremes noted since the previous row)."""
        n_cells = self.cells.n_bins
        summed = np.bincount(
            self._index, weights=estimated.ravel(), minlength=2 * self.n_tiers * n_cells
        )
        self.data[self.head] = summed.reshape(2, self.n_tiers, n_cells)
        self.times[self.head] = now_ms
        last = math.nan if price is None else float(price)
        if self._low <= self._high:
            low, high = self._low, self._high
            if price is not None:
                low, high = min(low, last), max(high, last)
        else:
            low = high = last
        self.prices[self.head] = (last, low, high)
        self.realized[self.head] = self._open
        self._open[...] = 0.0
        self._written_ms = max(self._written_ms, now_ms)
        self._low, self._high = math.inf, -math.inf
        self.head = (self.head + 1) % self.rows
        self.next_ms = now_ms - now_ms % self.row_ms + self.row_ms

    def regrid(self, grid: PriceGrid, price: float) -> None:
        """Follow the model grid after a re-centre: cells move with it, mass is conserved."""
        old = self.cells
        if grid.width != self.grid.width:
            self.k = bins_per_cell(grid, self.cell_pct, price)
        self.cells = cell_grid(grid, self.k)
        self.grid = grid
        if self.cells != old:
            moved = remap(self.data.reshape(-1, old.n_bins).astype(np.float64), old, self.cells)
            self.data = moved.astype(np.float32).reshape(self.rows, 2, self.n_tiers, -1)
            r = remap(self.realized.reshape(-1, old.n_bins).astype(np.float64), old, self.cells)
            self.realized = r.astype(np.float32).reshape(self.rows, 2, -1)
            self._open = remap(self._open, old, self.cells)
        self._index = self._bin_index(grid)

    def view(self, weights: NDArray[np.float64], since_ms: int | None = None) -> HistoryView:
        order = (self.head + np.arange(self.rows)) % self.rows
        keep = order[self.times[order] >= (since_ms if since_ms is not None else 0)]
        keep = keep[self.times[keep] >= 0]
        w = weights.astype(np.float32)
        weighted = np.einsum("rstc,t->rsc", self.data[keep], w).astype(np.float64)
        times = self.times[keep].copy()
        for arr in (times, weighted):
            arr.flags.writeable = False
        long_usd, short_usd = weighted[:, 0], weighted[:, 1]
        last, low, high = (_frozen(self.prices[keep, i].copy()) for i in range(3))
        r = self.realized[keep].astype(np.float64)
        return HistoryView(
            times,
            self.cells,
            long_usd,
            short_usd,
            self.row_ms,
            last,
            low,
            high,
            _frozen(r[:, 0]),
            _frozen(r[:, 1]),
        )

    def lookback(
        self,
        weights: NDArray[np.float64],
        since_ms: int,
        now_ms: int,
        max_columns: int | None = None,
    ) -> HistoryView:
        """The rows ending in (since_ms, now_ms] on a dense time axis (one column per row time,
        empty where no row was written), merged into at most `max_columns` columns: a column
        of g rows shows its newest row's E and price and its rows' low and high. Groups are
        aligned to whole multiples of g × row_ms, so columns stay put as time goes on."""
        r = self.row_ms
        first, last = since_ms // r + 1, now_ms // r  # ends (in rows) of the rows in range
        n = max(last - first + 1, 1)
        g = max(1, -(-n // max_columns)) if max_columns else 1
        g0 = (first - 1) // g
        n_groups = (last - 1) // g - g0 + 1
        t = self.times
        present = np.flatnonzero((t > since_ms) & (t <= now_ms))
        present = present[np.argsort(t[present], kind="stable")]
        # a row belongs to the row time it ends (ceil: a row written a step late stays in it)
        group = np.minimum((-(-t[present] // r) - 1) // g - g0, n_groups - 1)
        # the newest row of each group: the first occurrence in the reversed order
        uniq, first_rev = np.unique(group[::-1], return_index=True)
        chosen = present[::-1][first_rev]
        w = weights.astype(np.float32)
        weighted = np.zeros((n_groups, 2, self.cells.n_bins))
        weighted[uniq] = np.einsum("rstc,t->rsc", self.data[chosen], w)
        times = np.minimum((g0 + np.arange(n_groups) + 1) * g * r, now_ms).astype(np.int64)
        times[uniq] = t[chosen]
        price = np.full(n_groups, np.nan)
        price[uniq] = self.prices[chosen, 0]
        low = np.full(n_groups, np.inf)
        high = np.full(n_groups, -np.inf)
        np.fmin.at(low, group, self.prices[present, 1])
        np.fmax.at(high, group, self.prices[present, 2])
        low[~np.isfinite(low)] = np.nan
        high[~np.isfinite(high)] = np.nan
        realized = np.zeros((n_groups, 2, self.cells.n_bins))  # R: every row of the group
        np.add.at(realized, group, self.realized[present])
        if max_columns and n_groups > max_columns:  # the oldest, partial group
            cut = n_groups - max_columns
            times, weighted = times[cut:], weighted[cut:]
            price, low, high = price[cut:], low[cut:], high[cut:]
            realized = realized[cut:]
        return HistoryView(
            _frozen(times),
            self.cells,
            _frozen(weighted[:, 0]),
            _frozen(weighted[:, 1]),
            g * r,
            _frozen(price),
            _frozen(low),
            _frozen(high),
            _frozen(realized[:, 0]),
            _frozen(realized[:, 1]),
        )


def pick_ring(rings: Sequence[HistoryRing], lookback_ms: int) -> HistoryRing | None:
    """The ring for a lookback: the finest one that covers it, else the longest."""
    if not rings:
        return None
    covering = [h for h in rings if h.span_ms >= lookback_ms]
    if covering:
        return min(covering, key=lambda h: h.row_ms)
    return max(rings, key=lambda h: h.span_ms)


def _frozen(a: NDArray[Any]) -> NDArray[Any]:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True)
class ActivityStats:
    """Inputs of the live cascade detector at one moment (computed from ActivityRing)."""

    minute_long_usd: float  # realized (R) notional in the last complete minute
    minute_short_usd: float
    baseline_usd: float | None  # median realized notional of the active minutes over the days kept
    active_minutes: int  # minutes with at least one print in the days kept
    history_minutes: int  # minutes with a price in the days kept
    move_15m: float | None  # price return over the last 15 minutes (0.03 = +3%)
    sigma_15m: float | None  # std of 15-minute returns over the days kept


class ActivityRing:
    """Per-minute realized notional (per side) and last price over `days` (float32, fixed size).

    The current minute is accumulated in Python floats and written to the ring when the next
    minute starts (or when read), so a print costs a few additions, not numpy scalar writes.
    """

    def __init__(self, days: int = 7) -> None:
        self.minutes = days * 1440
        self.minute = np.full(self.minutes, -1, dtype=np.int32)
        self.long_usd = np.zeros(self.minutes, dtype=np.float32)
        self.short_usd = np.zeros(self.minutes, dtype=np.float32)
        self.price = np.full(self.minutes, np.nan, dtype=np.float32)
        self.newest = -1  # the minute being accumulated
        self._long = self._short = 0.0
        self._price = math.nan

    @property
    def nbytes(self) -> int:
        return self.minute.nbytes + self.long_usd.nbytes + self.short_usd.nbytes + self.price.nbytes

    def flush(self) -> None:
        """Write the minute being accumulated into the ring."""
        m = self.newest
        if m < 0:
            return
        slot = m % self.minutes
        if self.minute[slot] != m:
            self.minute[slot] = m
            self.long_usd[slot] = self.short_usd[slot] = 0.0
            self.price[slot] = np.nan
        self.long_usd[slot] += self._long
        self.short_usd[slot] += self._short
        if not math.isnan(self._price):
            self.price[slot] = self._price
        self._long = self._short = 0.0
        self._price = math.nan

    def _at(self, time_ms: int) -> bool:
        """Make `time_ms`'s minute the current one; False if it is older (written directly)."""
        m = time_ms // MINUTE_MS
        if m == self.newest:
            return True
        if m > self.newest:
            self.flush()
            self.newest = m
            return True
        return False

    def _old_slot(self, time_ms: int) -> int | None:
        m = time_ms // MINUTE_MS
        if m <= self.newest - self.minutes:
            return None  # older than the ring
        slot = m % self.minutes
        if self.minute[slot] != m:
            self.minute[slot] = m
            self.long_usd[slot] = self.short_usd[slot] = 0.0
            self.price[slot] = np.nan
        return slot

    def add_liquidation(self, time_ms: int, is_long: bool, usd: float) -> None:
        if self._at(time_ms):
            if is_long:
                self._long += usd
            else:
                self._short += usd
            return
        slot = self._old_slot(time_ms)
        if slot is not None:
            (self.long_usd if is_long else self.short_usd)[slot] += usd

    def add_price(self, time_ms: int, price: float) -> None:
        if self._at(time_ms):
            self._price = price
            return
        slot = self._old_slot(time_ms)
        if slot is not None:
            self.price[slot] = price

    def stats(self, now_ms: int) -> ActivityStats:
        """Detector inputs as of `now_ms`: the last complete minute against the days kept."""
        self.flush()
        last = now_ms // MINUTE_MS - 1
        lo = last - self.minutes + 1
        valid = (self.minute >= lo) & (self.minute <= last)
        minutes = self.minute[valid]
        longs, shorts = self.long_usd[valid], self.short_usd[valid]
        total = longs.astype(np.float64) + shorts
        at_last = np.flatnonzero(minutes == last)
        ml = float(longs[at_last[0]]) if at_last.size else 0.0
        ms = float(shorts[at_last[0]]) if at_last.size else 0.0
        active = total > 0
        baseline = float(np.median(total[active])) if active.any() else None
        # 15-minute returns on a dense minute axis (minutes without a price are gaps).
        dense = np.full(self.minutes, np.nan)
        dense[minutes - lo] = self.price[valid]
        have = np.isfinite(dense)
        move = sigma = None
        if have[-1] and have[-16]:
            move = float(dense[-1] / dense[-16] - 1.0)
        r15 = dense[15:] / dense[:-15] - 1.0
        r15 = r15[np.isfinite(r15)]
        if r15.size >= 60:
            sigma = float(np.std(r15))
        return ActivityStats(
            minute_long_usd=ml,
            minute_short_usd=ms,
            baseline_usd=baseline,
            active_minutes=int(active.sum()),
            history_minutes=int(have.sum()),
            move_15m=move,
            sigma_15m=sigma if sigma is None or math.isfinite(sigma) else None,
        )
