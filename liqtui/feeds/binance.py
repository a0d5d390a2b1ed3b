"""Binance USDⓈ-M futures: pure parse functions for its market streams (feeds.md §2.1).

Accepts the raw event and the combined-stream envelope {"stream": …, "data": …}.
`S` on a forceOrder is the liquidation *order* side: SELL closes (liquidates) a long.
Realized notional is the filled quantity `z` × the average price `ap`, placed at `ap`
(`p` is the protective order price, about the maintenance rate beyond the fill).
"""

from __future__ import annotations

import re

from liqtui.events import Liquidation, MarketEvent, MarkPrice
from liqtui.feeds.base import NotTracked, ParseError, field, number, positive, timestamp_ms
from liqtui.markets import from_exchange_symbol

EXCHANGE = "binance"
_ORDER_SIDE_TO_POSITION = {"SELL": "long", "BUY": "short"}
# Real Binance futures that are not USDT perpetuals: USDC-margined, coin-margined, dated.
_UNTRACKED_RE = re.compile(r"^[A-Z0-9]{1,30}(USDC|FDUSD|BUSD|USD_PERP|USDT?_[0-9]{6})$")


def _market(symbol: object) -> str:
    market = from_exchange_symbol(EXCHANGE, symbol)
    if market is not None:
        return market
    if isinstance(symbol, str) and _UNTRACKED_RE.match(symbol):
        raise NotTracked(symbol)  # a real market, but not a USDT perpetual
    raise ParseError(f"unknown symbol {symbol!r}")


def parse_force_order(event: dict[str, object]) -> Liquidation:
    order = field(event, "o", "forceOrder")
    if not isinstance(order, dict):
        raise ParseError("forceOrder: 'o' is not an object")
    side = _ORDER_SIDE_TO_POSITION.get(order.get("S"))  # type: ignore[arg-type]
    if side is None:
        raise ParseError(f"forceOrder: side {order.get('S')!r} is not BUY or SELL")
    price = positive(field(order, "ap", "forceOrder"), "forceOrder.ap")
    quantity = positive(field(order, "z", "forceOrder"), "forceOrder.z")
    return Liquidation(
        exchange=EXCHANGE,
        symbol=_market(field(order, "s", "forceOrder")),
        time_ms=timestamp_ms(field(order, "T", "forceOrder"), "forceOrder.T"),
        side=side,  # type: ignore[arg-type]
        price=price,
        quantity=quantity,
        notional_usd=quantity * price,
    )


def parse_mark_price(event: dict[str, object]) -> MarkPrice:
    funding = event.get("r")
    return MarkPrice(
        exchange=EXCHANGE,
        symbol=_market(field(event, "s", "markPriceUpdate")),
        time_ms=timestamp_ms(field(event, "E", "markPriceUpdate"), "markPriceUpdate.E"),
        mark_price=positive(field(event, "p", "markPriceUpdate"), "markPriceUpdate.p"),
        funding_rate=None if funding in (None, "") else number(funding, "markPriceUpdate.r"),
    )


_EVENT_PARSERS = {"forceOrder": parse_force_order, "markPriceUpdate": parse_mark_price}


def parse_message(msg: object) -> list[MarketEvent] | None:
    """Events in one Binance message; None when it is valid but carries nothing liqtui uses.

    Raises ParseError when the message violates the schema, NotTracked when it is about a
    market liqtui does not follow.
    """
    if isinstance(msg, dict) and "stream" in msg and "data" in msg:
        msg = msg["data"]
    if isinstance(msg, list):  # array streams (!markPrice@arr) deliver a list of events
        events: list[MarketEvent] = []
        for item in msg:
            try:
                parsed = parse_message(item)
            except NotTracked:
                continue
            if parsed:
                events.extend(parsed)
        return events
    if not isinstance(msg, dict):
        raise ParseError(f"expected a JSON object, got {type(msg).__name__}")
    kind = msg.get("e")
    if kind is None:
        if "result" in msg and "id" in msg:
            return None  # subscription acknowledgement
        raise ParseError("no event type 'e'")
    parser = _EVENT_PARSERS.get(kind)  # type: ignore[arg-type]
    if parser is None:
        return None  # a stream liqtui does not use (yet)
    return [parser(msg)]
