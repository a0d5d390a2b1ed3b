"""Backfill answers as history, without the network stack: which recorded REST lines are
backfill answers, and the events they give as the backfill gives them (liqtui.feeds.backfill
fetches; replay, which must not load aiohttp, reads recorded answers with these)."""

from __future__ import annotations

from liqtui import exchanges as registry
from liqtui.events import MarketEvent, OpenInterest, TradeFlow, implausible
from liqtui.markets import to_market_units


def is_history(exchange: str, endpoint: str) -> bool:
    """Whether a recorded REST line (`ex`, `rest`) is a backfill answer: its events are history,
    to be applied as the backfill's are (`tidy`), not at the line's receive time."""
    spec = registry.find(exchange)
    return spec is not None and spec.history.answers(endpoint)


def maybe_history(endpoint: str) -> bool:
    """Whether a REST line with this endpoint may be a backfill answer, whatever its exchange
    (replay's pass for them reads only such lines)."""
    return any(spec.history.answers(endpoint) for spec in registry.specs())


def tidy(events: list[MarketEvent]) -> list[MarketEvent]:
    """What `fetch` does to the parsers' events: market units, plausible ones only, one per
    time and kind, in time order (for replayed backfill answers)."""
    return _tidy(events)


def _tidy(events: list[MarketEvent]) -> list[MarketEvent]:
    """Market units, plausible, one per time and kind (overlapping pages), in time order."""
    seen: dict[object, MarketEvent] = {}
    for raw in events:
        event = to_market_units(raw)
        if implausible(event) is not None:
            continue
        if isinstance(event, (OpenInterest, TradeFlow)):
            key: object = (type(event), event.exchange, event.symbol, event.time_ms)
        else:
            key = event
        seen.setdefault(key, event)
    return sorted(seen.values(), key=lambda e: e.time_ms)
