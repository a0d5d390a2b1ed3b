"""One market's row of the overview: what a trader scans across the watchlist. Pure numpy.

Shared by the overview view and `liqtui snapshot` (its `overview` object), so they agree:

- the price and its change over 24 h: from the per-minute prices the model keeps for the
  cascade detector (`MarketModel.activity`); with less than 24 h of them, the change since the
  oldest one, and `change_span_ms` says over how long;
- realized (R) long and short USD over the last hour and the last 24 h, from the market's
  realized log (the exchange filter applies; the 24 h figures cover at most the model's window,
  `realized_span_ms`);
- the nearest large estimated cluster above and below (`liqtui.model.clusters`);
- the cascade-risk figure R_X at 2% per side (`liqtui.model.risk`: E within 2% ÷ visible book
  depth within 2%; None without fresh depth);
- feed health: of the feeds serving the market (those listing it; the filtered exchange's
  alone), how many are live, and whether the price is stale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liqtui.health import FeedHealth
from liqtui.model.clusters import NearestClusters, nearest_clusters
from liqtui.model.density import EXCHANGE_INDEX, LONG, MarketModel
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.model.history import MINUTE_MS
from liqtui.model.risk import r_x

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
RISK_DISTANCE = 0.02  # R_X at 2%
CHANGE_SLACK_MS = 5 * MINUTE_MS  # a first price this close to 24 h ago counts as 24 h
FEED_STALE_MS = 60_000  # a live feed silent this long is not counted as live (as the status bar)
LIVE_STATES = frozenset({"connected", "replaying", "simulated", "finished"})
# Health, best first (the overview sorts by this rank).
HEALTH_ORDER = ("ok", "degraded", "stale", "down", "no data")


@dataclass(frozen=True, slots=True)
class OverviewRow:
    symbol: str
    price: float | None
    price_stale: bool
    price_age_ms: int | None
    change_pct: float | None  # price change in % over change_span_ms
    change_span_ms: int | None  # 24 h, or the shorter history held
    realized_1h: tuple[float, float]  # R (long, short) USD in the last hour
    realized_24h: tuple[float, float]  # R (long, short) USD in the last 24 h (realized_span_ms)
    realized_span_ms: int
    clusters: NearestClusters
    r_x: tuple[float | None, float | None]  # R_X at RISK_DISTANCE: (longs below, shorts above)
    health: str  # HEALTH_ORDER
    feeds_live: int
    feeds_total: int
    health_note: str  # what is wrong, briefly ("okx reconnecting", "price 5m old")
    scale: str  # how to read E: "relative" or "calibrated ρ=…"

    @property
    def change_full(self) -> bool:
        """The change is over the full 24 h."""
        return self.change_span_ms is not None and self.change_span_ms >= DAY_MS - CHANGE_SLACK_MS

    @property
    def risk(self) -> float | None:
        """The larger R_X of the two sides (None when neither has depth)."""
        known = [r for r in self.r_x if r is not None]
        return max(known) if known else None


def price_change(
    model: MarketModel | None, price: float | None, now_ms: int, span_ms: int = DAY_MS
) -> tuple[float | None, int | None]:
    """(change in %, over how long): the price against the oldest per-minute price within
    `span_ms` (exactly `span_ms` ago when the history reaches that far)."""
    if model is None or price is None:
        return None, None
    ring = model.activity
    ring.flush()
    now_m = now_ms // MINUTE_MS
    first_m = max(now_m - span_ms // MINUTE_MS, now_m - ring.minutes + 1)
    wanted = np.arange(first_m, now_m + 1)  # only the span's slots, oldest first
    slots = wanted % ring.minutes
    ok = np.flatnonzero((ring.minute[slots] == wanted) & np.isfinite(ring.price[slots]))
    if not ok.size:
        return None, None
    then = float(ring.price[slots[ok[0]]])
    if not then > 0:
        return None, None
    return (price / then - 1.0) * 100, int(now_ms - int(wanted[ok[0]]) * MINUTE_MS)


def realized_totals(
    model: MarketModel | None, now_ms: int, span_ms: int, exchange: str | None
) -> tuple[float, float]:
    """R (long, short) USD printed in the last `span_ms` (of `exchange`, or all)."""
    if model is None:
        return 0.0, 0.0
    t, side, exch, _prices, notional = model.realized.columns()
    sel = t >= now_ms - span_ms
    if exchange is not None:
        sel &= exch == EXCHANGE_INDEX.get(exchange, -1)
    is_long = side == LONG
    return float(notional[sel & is_long].sum()), float(notional[sel & ~is_long].sum())


def serving_feeds(snap: MarketSnapshot) -> list[FeedHealth]:
    """The feeds that serve the market: those not saying they do not list it (the filtered
    exchange's alone when there is one and it has a feed)."""
    feeds = [f for f in snap.feeds if snap.symbol not in f.unlisted]
    if snap.exchange_filter is not None:
        mine = [f for f in feeds if f.name == snap.exchange_filter]
        feeds = mine or feeds
    return feeds


def feed_health(snap: MarketSnapshot) -> tuple[str, int, int, str]:
    """(health, live feeds, feeds, note) of the market (module doc)."""
    feeds = serving_feeds(snap)
    live = [
        f
        for f in feeds
        if f.state in LIVE_STATES
        and (
            f.state == "finished"
            or f.last_event_ms is None
            or snap.as_of_ms - f.last_event_ms <= FEED_STALE_MS
        )
    ]
    notes = [
        f"{f.name} {f.state if f.state not in LIVE_STATES else 'silent'}"
        for f in feeds
        if f not in live
    ]
    if snap.price is None:
        return "no data", len(live), len(feeds), "; ".join(notes) or "no price yet"
    age = snap.price_age_ms or 0
    if snap.price_stale:
        notes.insert(0, f"price {age // 60_000}m old")
        return "stale", len(live), len(feeds), "; ".join(notes)
    if feeds and not live:
        return "down", 0, len(feeds), "; ".join(notes)
    return ("degraded" if notes else "ok"), len(live), len(feeds), "; ".join(notes)


def overview_row(engine: Engine, snap: MarketSnapshot) -> OverviewRow:
    """The overview row of `snap`'s market (the snapshot's filters apply)."""
    model = engine.markets.get(snap.symbol)
    now = snap.as_of_ms
    change, change_span = price_change(model, snap.price, now)
    span = min(DAY_MS, engine.params.window_ms)
    ex = snap.exchange_filter
    ratios = r_x(snap, (RISK_DISTANCE,))
    health, live, total, note = feed_health(snap)
    return OverviewRow(
        symbol=snap.symbol,
        price=snap.price,
        price_stale=snap.price_stale,
        price_age_ms=snap.price_age_ms,
        change_pct=change,
        change_span_ms=change_span,
        realized_1h=realized_totals(model, now, min(HOUR_MS, span), ex),
        realized_24h=realized_totals(model, now, span, ex),
        realized_span_ms=span,
        clusters=nearest_clusters(snap),
        r_x=(
            ratios.get("long", {}).get(RISK_DISTANCE),
            ratios.get("short", {}).get(RISK_DISTANCE),
        ),
        health=health,
        feeds_live=live,
        feeds_total=total,
        health_note=note,
        scale=snap.scale_label,
    )
