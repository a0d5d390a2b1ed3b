"""The nearest large clusters (liqtui.model.clusters) and the overview row
(liqtui.model.overview) on hand-built maps and engines, and the overview table's pure parts
(sorting, column layout)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from support.engines import demo_engine_and_history

from liqtui.events import Liquidation, MarkPrice
from liqtui.health import FeedHealth
from liqtui.model.clusters import NO_ESTIMATE, NO_MAP, TOO_FEW, nearest_clusters
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.model.grid import PriceGrid
from liqtui.model.overview import (
    DAY_MS,
    HOUR_MS,
    feed_health,
    overview_row,
    price_change,
    realized_totals,
)
from liqtui.ui.widgets.overview import COLUMNS, layout_for, ratio_text, sorted_rows

T0 = 1_767_225_600_000
N = 400  # bins 800 … 1200 of width 1: a level of 0.5% of 1000 is 5 bins


def snapshot(
    long_e: np.ndarray,
    short_e: np.ndarray,
    *,
    price: float | None = 1000.0,
    feeds: tuple[FeedHealth, ...] = (),
    symbol: str = "TEST",
    **kw: object,
) -> MarketSnapshot:
    grid = PriceGrid(origin=800.0, width=1.0, n_bins=long_e.size) if long_e.size else None
    zeros = np.zeros(long_e.size)
    return MarketSnapshot(
        symbol, T0, price, "mark" if price else None, grid, long_e, short_e, zeros, zeros, 0.0,
        0.0, 0, 60_000, "high", "all", None, {}, {}, {}, {}, feeds, 0, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def background() -> tuple[np.ndarray, np.ndarray]:
    """E 1 per bin: longs below 1000, shorts above (every 0.5% level holds 5)."""
    lows = 800.0 + np.arange(N)
    return np.where(lows < 1000, 1.0, 0.0), np.where(lows >= 1000, 1.0, 0.0)


def test_a_flat_map_has_no_large_cluster() -> None:
    long_e, short_e = background()
    c = nearest_clusters(snapshot(long_e, short_e), level_pct=0.005)
    assert c.reason is None and c.level_step == 5.0
    assert c.median_usd == pytest.approx(5.0)
    assert c.threshold_usd == pytest.approx(7.5)  # 1.5 × the median binds on a flat map
    assert c.above is None and c.below is None


def test_the_nearest_large_level_on_each_side() -> None:
    long_e, short_e = background()
    short_e[1030 - 800] = 40.0  # a wall at 1030 (+3%) …
    short_e[1060 - 800] = 80.0  # … and a bigger one further out, at +6%
    long_e[980 - 800 + 2] = 30.0  # the level 980–985 below (-1.75% to its mid)
    c = nearest_clusters(snapshot(long_e, short_e), level_pct=0.005)
    assert c.above is not None and c.below is not None
    # the nearest, not the biggest: level 1030–1035 holds 4 + 40
    assert (c.above.price_low, c.above.price_high, c.above.price) == (1030.0, 1035.0, 1032.5)
    assert c.above.usd == pytest.approx(44.0) and c.above.levels == 1
    assert c.above.distance_pct == pytest.approx(3.25)
    assert c.above.side == "short"
    assert c.below.side == "long" and c.below.usd == pytest.approx(34.0)
    assert c.below.price == 982.5 and c.below.distance_pct == pytest.approx(-1.75)


def test_a_cluster_is_the_run_of_adjacent_large_levels() -> None:
    long_e, short_e = background()
    for price, usd in ((1010, 20.0), (1015, 50.0), (1020, 20.0), (1030, 60.0)):
        short_e[price - 800] = usd
    c = nearest_clusters(snapshot(long_e, short_e), level_pct=0.005)
    assert c.above is not None
    assert (c.above.price_low, c.above.price_high, c.above.levels) == (1010.0, 1025.0, 3)
    assert c.above.usd == pytest.approx(24 + 54 + 24)  # the run, not the gap and 1030 after it
    assert c.above.peak_usd == pytest.approx(54.0) and c.above.price == 1017.5


def test_the_level_holding_the_price_is_split_at_the_price() -> None:
    long_e, short_e = background()
    long_e[1000 - 800] = 50.0  # the bin 1000–1001 holds the price 1000.5: half of it is below
    short_e[1000 - 800] = 50.0
    c = nearest_clusters(snapshot(long_e, short_e, price=1000.5), level_pct=0.005)
    assert c.above is not None and c.below is not None
    assert c.above.usd == pytest.approx(25.0 + 4.0)  # half the bin above + 1001–1005
    assert (c.above.price_low, c.above.price_high) == (1000.5, 1005.0)
    assert c.below.usd == pytest.approx(25.0)  # half the bin; 995–1000 are not large
    assert c.below.price_high == 1000.5 and c.below.distance_pct < 0


def test_clusters_beyond_the_reach_are_not_looked_at() -> None:
    long_e, short_e = background()
    short_e[1180 - 800] = 500.0  # +18%
    c = nearest_clusters(snapshot(long_e, short_e), level_pct=0.005)
    assert c.above is None and c.reach_pct == 15.0
    far = nearest_clusters(snapshot(long_e, short_e), level_pct=0.005, reach_pct=0.19)
    assert far.above is not None and far.above.distance_pct == pytest.approx(18.25)


def test_clusters_say_why_there_are_none() -> None:
    empty = np.zeros(0)
    assert nearest_clusters(snapshot(empty, empty, price=None)).reason == NO_MAP
    zeros = np.zeros(N)
    assert nearest_clusters(snapshot(zeros, zeros)).reason == NO_ESTIMATE
    few = np.zeros(N)
    few[[150, 180]] = 5.0
    c = nearest_clusters(snapshot(few, np.zeros(N)), level_pct=0.005)
    assert c.reason == TOO_FEW and c.above is None and c.below is None


def test_default_levels_are_a_quarter_percent() -> None:
    long_e, short_e = background()
    short_e[1050 - 800] = 100.0
    c = nearest_clusters(snapshot(long_e, short_e))
    assert c.level_step == 2.0  # 0.25% of 1000 is 2.5 bins of 1: 2 bins
    assert c.above is not None and c.above.price_low == 1050.0


# -- the overview row ----------------------------------------------------------------------------


@functools.cache
def _demo() -> Engine:
    return demo_engine_and_history()[0]


def test_realized_over_1h_and_24h_are_the_snapshots_own_figures() -> None:
    engine = _demo()
    for symbol in ("BTC", "ETH"):
        row = overview_row(engine, engine.snapshot(symbol))
        hour = engine.snapshot(symbol, window_ms=HOUR_MS)
        day = engine.snapshot(symbol, window_ms=DAY_MS)
        assert row.realized_1h == pytest.approx((hour.realized_long_usd, hour.realized_short_usd))
        assert row.realized_24h == pytest.approx((day.realized_long_usd, day.realized_short_usd))
        assert 0 < sum(row.realized_1h) <= sum(row.realized_24h)
        okx = engine.snapshot(symbol, exchange="okx")
        model = engine.markets[symbol]
        assert realized_totals(model, okx.as_of_ms, DAY_MS, "okx") == pytest.approx(
            (okx.realized_long_usd, okx.realized_short_usd)
        )
        assert row.clusters == nearest_clusters(engine.snapshot(symbol))
        assert all(r is not None and r > 0 for r in row.r_x)  # the demo engine has a book
        assert row.health == "ok" and row.feeds_live == row.feeds_total == 1


def test_price_change_over_24h_and_over_a_shorter_history() -> None:
    engine = Engine()
    engine.apply(MarkPrice("binance", "BTC", T0, 100_000.0))
    engine.advance(T0 + 60_000)
    for minutes, price in ((60, 101_000.0), (24 * 60, 99_000.0), (25 * 60, 103_000.0)):
        t = T0 + minutes * 60_000
        engine.apply(MarkPrice("binance", "BTC", t, price))
        engine.advance(t)
    snap = engine.snapshot("BTC")
    change, span = price_change(engine.markets["BTC"], snap.price, snap.as_of_ms)
    # 24 h before T0 + 25 h is T0 + 1 h: 101,000 → 103,000
    assert change == pytest.approx((103_000 / 101_000 - 1) * 100)
    assert span == DAY_MS
    row = overview_row(engine, snap)
    assert row.change_full and row.change_pct == pytest.approx(change)
    young = Engine()
    young.apply(MarkPrice("binance", "BTC", T0, 100_000.0))
    young.apply(MarkPrice("binance", "BTC", T0 + 3 * HOUR_MS, 98_000.0))
    young.advance(T0 + 3 * HOUR_MS)
    row = overview_row(young, young.snapshot("BTC"))
    assert row.change_pct == pytest.approx(-2.0) and row.change_span_ms == 3 * HOUR_MS
    assert not row.change_full
    assert price_change(None, 1.0, T0) == (None, None)


def test_realized_1h_counts_only_the_last_hour() -> None:
    engine = Engine()
    engine.apply(MarkPrice("binance", "BTC", T0, 100_000.0))
    for minutes, side, usd in ((10, "long", 1e6), (90, "short", 2e6), (150, "long", 3e6)):
        t = T0 + minutes * 60_000
        engine.apply(Liquidation("binance", "BTC", t, side, 100_000.0, usd / 1e5, usd))
    engine.advance(T0 + 160 * 60_000)
    row = overview_row(engine, engine.snapshot("BTC"))
    assert row.realized_1h == (3e6, 0.0)
    assert row.realized_24h == (4e6, 2e6)


def test_feed_health() -> None:
    long_e, short_e = background()

    def health(*feeds: FeedHealth, **kw: object) -> tuple[str, int, int, str]:
        return feed_health(snapshot(long_e, short_e, feeds=feeds, **kw))

    live = FeedHealth("binance", "connected", last_event_ms=T0 - 1_000)
    assert health(live) == ("ok", 1, 1, "")
    silent = FeedHealth("okx", "connected", last_event_ms=T0 - 120_000)
    down = FeedHealth("bybit", "down")
    assert health(live, silent, down) == ("degraded", 1, 3, "okx silent; bybit down")
    assert health(down)[0] == "down"
    unlisted = FeedHealth("hyperliquid", "connected", unlisted=("TEST",))
    assert health(live, unlisted) == ("ok", 1, 1, "")  # it does not serve the market
    stale = health(live, price_time_ms=T0 - 5 * 60_000)
    assert stale[0] == "stale" and stale[3] == "price 5m old"
    assert health(live, price=None)[0] == "no data"


# -- the table's sorting and layout --------------------------------------------------------------


def test_sorting_puts_markets_without_a_value_last() -> None:
    engine = _demo()
    rows = [overview_row(engine, engine.snapshot(s)) for s in ("BTC", "SOL", "ETH")]
    slots = {"BTC": 1, "SOL": 2, "ETH": 3}
    by = {c.id: c for c in COLUMNS}
    assert [r.symbol for r in sorted_rows(rows, "market", False, slots)] == ["BTC", "SOL", "ETH"]
    assert [r.symbol for r in sorted_rows(rows, "market", True, slots)] == ["ETH", "SOL", "BTC"]
    for column in ("price", "r24h_long", "risk", "change"):
        for descending in (True, False):
            order = sorted_rows(rows, column, descending, slots)
            assert order[-1].symbol == "SOL"  # no data: last
            known = [v for r in order[:-1] if (v := by[column].key(r)) is not None]
            assert known == sorted(known, reverse=descending), (column, descending)
    health = sorted_rows(rows, "health", True, slots)
    assert health[0].symbol == "SOL"  # worst first: no data


def test_layout_fits_every_width_and_drops_the_1h_columns_first() -> None:
    wide = layout_for(160)
    assert [c.id for c in wide.columns] == [c.id for c in COLUMNS] and not wide.narrow
    narrow = layout_for(80)
    ids = [c.id for c in narrow.columns]
    assert narrow.narrow and "r1h_long" not in ids and "r1h_short" not in ids
    assert {"market", "price", "change", "above", "below", "risk", "health"} <= set(ids)
    for width in (40, 60, 80, 100, 120, 160, 200):
        layout = layout_for(width)
        assert sum(layout.widths) + len(layout.widths) - 1 == width, width


def test_ratio_text_keeps_to_its_cells() -> None:
    for value, full, narrow in (
        (0.045, "0.045", "0.04"),
        (0.0042, "0.004", "0.00"),
        (1.26, "1.3", "1.3"),
        (37.4, "37", "37"),
        (None, "—", "—"),
    ):
        assert ratio_text(value) == full and ratio_text(value, narrow=True) == narrow


def test_r_x_alone_is_the_risk_reports() -> None:
    from liqtui.model.risk import r_x, risk_report

    engine = _demo()
    for symbol in ("BTC", "ETH"):
        snap = engine.snapshot(symbol)
        assert r_x(snap) == risk_report(snap).r_x
        assert r_x(snap, (0.02,)) == {s: {0.02: v[0.02]} for s, v in risk_report(snap).r_x.items()}
    empty = Engine().snapshot("BTC")
    assert r_x(empty) == {} == risk_report(empty).r_x
