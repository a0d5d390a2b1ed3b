"""The liquidation tape: the newest realized prints across every market the engine follows.

The engine keeps each market's deduplicated prints in its realized window (`RealizedLog`); the
tape reads them from there, so the tape, the ladder's R columns and `liqtui snapshot` count the
same prints. Filtering and ordering are vectorised per market (prints can arrive out of time
order: a REST poll's answer after newer stream prints), then merged across markets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liqtui.model.density import EXCHANGE_INDEX, LONG
from liqtui.model.engine import Engine

EXCHANGE_NAMES: dict[int, str] = {i: name for name, i in EXCHANGE_INDEX.items()}
MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class TapePrint:
    """One realized liquidation print."""

    time_ms: int
    exchange: str
    symbol: str
    side: str  # the liquidated position: "long" (a forced sell) or "short" (a forced buy)
    price: float
    notional_usd: float


@dataclass(frozen=True, slots=True)
class MinuteTotal:
    """Realized notional of the prints that pass the filters in the last minute of the clock."""

    long_usd: float = 0.0
    short_usd: float = 0.0
    count: int = 0

    @property
    def total_usd(self) -> float:
        return self.long_usd + self.short_usd


def _selected(
    engine: Engine, symbol: str, min_usd: float, exchange: str | None, since_ms: int | None
) -> tuple[np.ndarray, ...] | None:
    model = engine.markets.get(symbol)
    if model is None:
        return None
    t, side, exch, price, notional = model.realized.columns()
    keep = notional >= min_usd
    if exchange is not None:
        keep &= exch == EXCHANGE_INDEX.get(exchange, -1)
    if since_ms is not None:
        keep &= t >= since_ms
    if not keep.any():
        return None
    return t[keep], side[keep], exch[keep], price[keep], notional[keep]


def recent_prints(
    engine: Engine,
    *,
    limit: int,
    min_usd: float = 0.0,
    exchange: str | None = None,
    symbols: list[str] | None = None,
    since_ms: int | None = None,
) -> list[TapePrint]:
    """The `limit` newest prints of `symbols` (None: every market), newest first, of at least
    `min_usd`, of `exchange` (None: every exchange), at or after `since_ms`."""
    if limit <= 0:
        return []
    found: list[TapePrint] = []
    for symbol in symbols if symbols is not None else list(engine.markets):
        cols = _selected(engine, symbol, min_usd, exchange, since_ms)
        if cols is None:
            continue
        t, side, exch, price, notional = cols
        if t.size > limit:  # only the newest `limit` of this market can make the tape
            top = np.argpartition(t, t.size - limit)[t.size - limit :]
            t, side, exch, price, notional = t[top], side[top], exch[top], price[top], notional[top]
        # Newest first; the bigger print first within one millisecond (stable across frames).
        order = np.lexsort((-notional, -t))
        found.extend(
            TapePrint(
                int(t[i]),
                EXCHANGE_NAMES.get(int(exch[i]), "other"),
                symbol,
                "long" if side[i] == LONG else "short",
                float(price[i]),
                float(notional[i]),
            )
            for i in order
        )
    found.sort(key=lambda p: (-p.time_ms, -p.notional_usd, p.symbol))
    return found[:limit]


def minute_total(
    engine: Engine,
    *,
    min_usd: float = 0.0,
    exchange: str | None = None,
    symbols: list[str] | None = None,
) -> MinuteTotal:
    """The prints of the last minute of the engine's clock that pass the same filters."""
    since = engine.clock_ms - MINUTE_MS
    long_usd = short_usd = 0.0
    count = 0
    for symbol in symbols if symbols is not None else list(engine.markets):
        cols = _selected(engine, symbol, min_usd, exchange, since)
        if cols is None:
            continue
        _t, side, _exch, _price, notional = cols
        is_long = side == LONG
        long_usd += float(notional[is_long].sum())
        short_usd += float(notional[~is_long].sum())
        count += int(notional.size)
    return MinuteTotal(long_usd, short_usd, count)


@dataclass(frozen=True, slots=True)
class TapeTotals:
    """Realized notional per side over two windows (the last minute and the last hour), with
    the prints counted over the hour, for one market or one exchange."""

    name: str
    minute_long_usd: float
    minute_short_usd: float
    hour_long_usd: float
    hour_short_usd: float
    hour_prints: int

    @property
    def hour_usd(self) -> float:
        return self.hour_long_usd + self.hour_short_usd


HOUR_MS = 3_600_000


def tape_totals(
    engine: Engine, *, min_usd: float = 0.0, exchange: str | None = None
) -> tuple[list[TapeTotals], list[TapeTotals]]:
    """Per market and per exchange: the last minute's and the last hour's prints that pass
    the tape's filters (busiest hour first; markets and exchanges without any left out)."""
    now = engine.clock_ms
    by_exchange: dict[int, list[float]] = {}
    markets: list[TapeTotals] = []
    for symbol in list(engine.markets):
        cols = _selected(engine, symbol, min_usd, exchange, now - HOUR_MS)
        if cols is None:
            continue
        t, side, exch, _price, notional = cols
        is_long = side == LONG
        recent = t >= now - MINUTE_MS
        sums = _sums(is_long, recent, notional)
        markets.append(TapeTotals(symbol, *sums, int(t.size)))
        for ex in np.unique(exch):
            mine = exch == ex
            acc = by_exchange.setdefault(int(ex), [0.0, 0.0, 0.0, 0.0, 0.0])
            for i, v in enumerate(_sums(is_long[mine], recent[mine], notional[mine])):
                acc[i] += v
            acc[4] += int(mine.sum())
    exchanges = [
        TapeTotals(EXCHANGE_NAMES.get(i, "other"), acc[0], acc[1], acc[2], acc[3], int(acc[4]))
        for i, acc in by_exchange.items()
    ]
    key = lambda x: (-x.hour_usd, x.name)  # noqa: E731
    return sorted(markets, key=key), sorted(exchanges, key=key)


def _sums(
    is_long: np.ndarray, recent: np.ndarray, notional: np.ndarray
) -> tuple[float, float, float, float]:
    return (
        float(notional[is_long & recent].sum()),
        float(notional[~is_long & recent].sum()),
        float(notional[is_long].sum()),
        float(notional[~is_long].sum()),
    )
