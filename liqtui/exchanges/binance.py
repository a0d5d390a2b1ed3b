"""Binance USDⓈ-M futures: pure parse functions for its market streams (feeds.md §2.1).

Accepts the raw event and the combined-stream envelope {"stream": …, "data": …}.
`S` on a forceOrder is the liquidation *order* side: SELL closes (liquidates) a long.
Realized notional is the filled quantity `z` × the average price `ap`, placed at `ap`
(`p` is the protective order price, about the maintenance rate beyond the fill).

History (backfill, docs/exchanges.md "History"): `/futures/data/openInterestHist` (5-minute
`sumOpenInterest`, base units, 500 a request, the last 30 days only), `/fapi/v1/klines` 1m (1,500
a request; the taker-buy base volume column gives the taker split, VWAP = quote volume /
volume), `/fapi/v1/fundingRate` (settled rates, 1,000 a request).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import msgspec

from liqtui.events import Liquidation, MarketEvent, MarkPrice, OpenInterest, TradeFlow
from liqtui.exchanges.common import (
    FundingHistory,
    bar_events,
    batch,
    book_message,
    ccxt_usdt_market,
    field,
    from_usdt_symbol,
    item_times,
    levels_array,
    listed,
    number,
    ohlc,
    positive,
    reduce_book,
    timestamp_ms,
    to_usdt_symbol,
)
from liqtui.exchanges.spec import (
    Endpoints,
    ExchangeSpec,
    FeedOptions,
    FeedPlan,
    HistoryPage,
    HistoryPlan,
    HistoryRequest,
    HistorySeries,
    MarginRule,
    NotTracked,
    ParseError,
    PollSpec,
    RateLimit,
    RawJSON,
    Refused,
    StreamSpec,
    chunked,
    parse_duration,
)
from liqtui.markets import exchange_symbol, from_exchange_symbol

EXCHANGE = "binance"
_ORDER_SIDE_TO_POSITION = {"SELL": "long", "BUY": "short"}
# Real Binance futures that are not USDT perpetuals: USDC-margined, coin-margined, dated.
_UNTRACKED_RE = re.compile(r"^[A-Z0-9]{1,30}(USDC|FDUSD|BUSD|USD_PERP|USDT?_[0-9]{6})$")
# REST: 2,400 request weight a minute per IP (the `rateLimits` of /fapi/v1/exchangeInfo).
REST_LIMIT = RateLimit(weight=2400, per_s=60.0)
MAX_STREAMS_PER_CONNECTION = 200  # "a single connection can listen to a maximum of 200 streams"
LISTING_PATH = "/fapi/v1/exchangeInfo"  # weight 1
DEPTH_LIMIT = 1000
# /fapi/v1/depth weight by `limit`: 5-50 levels 2, 100 → 5, 500 → 10, 1000 → 20.
DEPTH_WEIGHT = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}


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
    raw_side = order.get("S")
    side = _ORDER_SIDE_TO_POSITION.get(raw_side) if isinstance(raw_side, str) else None
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


def parse_kline(event: dict[str, object]) -> TradeFlow | None:
    """A closed 1m kline → taker buy/sell volume and VWAP (None while the bar is open)."""
    k = field(event, "k", "kline")
    if not isinstance(k, dict):
        raise ParseError("kline: 'k' is not an object")
    if k.get("x") is not True:
        return None
    volume = number(field(k, "v", "kline"), "kline.v")
    taker_buy = number(field(k, "V", "kline"), "kline.V")
    quote = number(field(k, "q", "kline"), "kline.q")
    if volume < 0 or not 0 <= taker_buy <= volume * (1 + 1e-9) or quote < 0:
        raise ParseError("kline: inconsistent volumes")
    high = positive(field(k, "h", "kline"), "kline.h")
    low = positive(field(k, "l", "kline"), "kline.l")
    start = timestamp_ms(field(k, "t", "kline"), "kline.t")
    end = timestamp_ms(field(k, "T", "kline"), "kline.T")
    close = positive(field(k, "c", "kline"), "kline.c")
    return TradeFlow(
        exchange=EXCHANGE,
        symbol=_market(field(k, "s", "kline")),
        time_ms=end + 1,
        interval_ms=end + 1 - start,
        taker_buy_base=taker_buy,
        taker_sell_base=max(volume - taker_buy, 0.0),
        vwap=quote / volume if volume > 0 else close,
        high=high,
        low=low,
        close=close,
        source="kline",
    )


_EVENT_PARSERS: dict[str, Callable[[dict[str, object]], MarketEvent | None]] = {
    "forceOrder": parse_force_order,
    "markPriceUpdate": parse_mark_price,
    "kline": parse_kline,
}


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
    if kind is not None and not isinstance(kind, str):
        raise ParseError(f"event type {kind!r} is not a string")
    if kind is None:
        if "result" in msg and "id" in msg:
            return None  # subscription acknowledgement
        error = msg.get("error")
        if isinstance(error, dict):  # {"error":{"code":2,"msg":"Invalid request: …"},"id":1}
            raise Refused(f"error {error.get('code')}: {error.get('msg')} (id {msg.get('id')})")
        raise ParseError("no event type 'e'")
    parser = _EVENT_PARSERS.get(kind)
    if parser is None:
        return None  # a stream liqtui does not use (yet)
    event = parser(msg)
    return None if event is None else [event]


def _query_symbol(endpoint: str) -> str:
    values = parse_qs(urlsplit(endpoint).query).get("symbol")
    if not values:
        raise ParseError(f"REST {endpoint!r}: no symbol in the request")
    return _market(values[0])


# -- history ------------------------------------------------------------------------------------
OI_HISTORY_PATH = "/futures/data/openInterestHist"
KLINES_PATH = "/fapi/v1/klines"
FUNDING_PATH = "/fapi/v1/fundingRate"
OI_HISTORY_LIMIT = 500
OI_HISTORY_LOOKBACK_MS = 30 * 86_400_000  # "Only the data of the latest 30 days is available"
KLINES_LIMIT = 1500
# /fapi/v1/klines weight by limit: [1,100) 1, [100,500) 2, [500,1000] 5, > 1000 10.
KLINES_WEIGHT = 10
FUNDING_LIMIT = 1000
FUNDING_STEP_MS = 3_600_000  # settlements are 1 to 8 hours apart (by symbol)
FIVE_MINUTES_MS = 300_000


def _history_request(path: str, weight: float, **query: object) -> HistoryRequest:
    return HistoryRequest(endpoint=f"{path}?{urlencode(query)}", weight=weight)


def _oi_request(sym: str, start: int, end: int, cursor: str | None) -> HistoryRequest:
    return _history_request(
        OI_HISTORY_PATH, 1, symbol=sym, period="5m", limit=OI_HISTORY_LIMIT, startTime=start,
        endTime=end,
    )  # fmt: skip


def _klines_request(sym: str, start: int, end: int, cursor: str | None) -> HistoryRequest:
    return _history_request(
        KLINES_PATH, KLINES_WEIGHT, symbol=sym, interval="1m", startTime=start, endTime=end,
        limit=KLINES_LIMIT,
    )  # fmt: skip


def _funding_request(sym: str, start: int, end: int, cursor: str | None) -> HistoryRequest:
    return _history_request(
        FUNDING_PATH, 1, symbol=sym, startTime=start, endTime=end, limit=FUNDING_LIMIT
    )


def _error_text(msg: object) -> str | None:
    if isinstance(msg, dict) and "code" in msg:
        return f"error {msg.get('code')}: {msg.get('msg')}"
    if not isinstance(msg, list):
        return f"expected a JSON array, got {type(msg).__name__}"
    return None


def _page(read: str | int) -> Callable[[object], HistoryPage]:
    def page(msg: object) -> HistoryPage:
        error = _error_text(msg)
        if error is not None:
            return HistoryPage(error=error)
        return HistoryPage(item_times(msg, lambda item: item[read]))  # type: ignore[index]

    return page


def _oi_point(item: object) -> list[MarketEvent]:
    if not isinstance(item, dict):
        raise ParseError("an item is not an object")
    amount = number(field(item, "sumOpenInterest", "openInterestHist"), "sumOpenInterest")
    if amount < 0:
        raise ParseError(f"sumOpenInterest {amount} is negative")
    return [
        OpenInterest(
            exchange=EXCHANGE,
            symbol=_market(field(item, "symbol", "openInterestHist")),
            time_ms=timestamp_ms(field(item, "timestamp", "openInterestHist"), "timestamp"),
            open_interest=amount,  # one side, base units, as /fapi/v1/openInterest
        )
    ]


def _kline_row(market: str, funding: FundingHistory, row: object) -> list[MarketEvent]:
    """[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades,
    takerBuyBase, takerBuyQuote, ignore]"""
    if not isinstance(row, list) or len(row) < 10:
        raise ParseError("a kline is not an array of at least 10 fields")
    start = timestamp_ms(row[0], "kline.openTime")
    bar = ohlc(row, ("kline.open", "kline.high", "kline.low", "kline.close"))
    return bar_events(
        EXCHANGE, market, start, bar,
        volume=number(row[5], "kline.volume"),
        quote=number(row[7], "kline.quoteVolume"),
        taker_buy=number(row[9], "kline.takerBuyBase"),
        funding=funding.at(market, start),
    )  # fmt: skip


def _funding_rate(funding: FundingHistory, item: object) -> list[MarketEvent]:
    """{"symbol", "fundingTime", "fundingRate", "markPrice"}: learned, no event of its own."""
    if not isinstance(item, dict):
        raise ParseError("an item is not an object")
    market = _market(field(item, "symbol", "fundingRate"))
    when = timestamp_ms(field(item, "fundingTime", "fundingRate"), "fundingTime")
    rate = number(field(item, "fundingRate", "fundingRate"), "fundingRate")
    funding.add(market, {when: rate})
    return []


def parse_history(endpoint: str, msg: object, funding: FundingHistory) -> list[MarketEvent] | None:
    """Events of a history answer (None: not a history endpoint). Malformed items are skipped
    (PartlyBad); funding rates are learned, and ride on the closing marks of later klines."""
    path = urlsplit(endpoint).path
    if path not in (OI_HISTORY_PATH, KLINES_PATH, FUNDING_PATH):
        return None
    error = _error_text(msg)
    if error is not None:
        raise ParseError(f"REST {path}: {error}")
    assert isinstance(msg, list)
    if path == OI_HISTORY_PATH:
        return batch(msg, _oi_point, "openInterestHist")
    if path == FUNDING_PATH:
        return batch(msg, lambda item: _funding_rate(funding, item), "fundingRate")
    market = _query_symbol(endpoint)
    return batch(msg, lambda row: _kline_row(market, funding, row), "klines")


HISTORY = HistoryPlan(
    series=(
        HistorySeries("funding", FUNDING_STEP_MS, FUNDING_LIMIT, None, _funding_request,
                      _page("fundingTime"), dense=False),
        HistorySeries("open_interest", FIVE_MINUTES_MS, OI_HISTORY_LIMIT, OI_HISTORY_LOOKBACK_MS,
                      _oi_request, _page("timestamp")),
        HistorySeries("klines", 60_000, KLINES_LIMIT, None, _klines_request, _page(0)),
    )
)  # fmt: skip


def parse_rest(endpoint: str, msg: object) -> list[MarketEvent] | None:
    """Events in a REST response; `endpoint` is the requested path and query."""
    path = urlsplit(endpoint).path
    if not isinstance(msg, dict):
        raise ParseError(f"REST {path}: expected a JSON object")
    if "code" in msg and "msg" in msg and len(msg) <= 3:
        raise ParseError(f"REST {path}: error {msg.get('code')}: {msg.get('msg')}")
    if path.endswith("/openInterest"):
        return [
            OpenInterest(
                exchange=EXCHANGE,
                symbol=_market(field(msg, "symbol", "openInterest")),
                time_ms=timestamp_ms(field(msg, "time", "openInterest"), "openInterest.time"),
                open_interest=positive(field(msg, "openInterest", "openInterest"), "openInterest"),
            )
        ]
    if path.endswith("/depth"):
        bids = levels_array(field(msg, "bids", "depth"), "depth.bids")
        asks = levels_array(field(msg, "asks", "depth"), "depth.asks")
        when = msg.get("T") or msg.get("E")
        return [
            reduce_book(
                EXCHANGE,
                _query_symbol(endpoint),
                timestamp_ms(when, "depth.T"),
                bids,
                asks,
            )
        ]
    return None


class _Depth(msgspec.Struct, forbid_unknown_fields=True):
    """/fapi/v1/depth as Binance sends it: the typed shape `book_message` reads."""

    book_sides: ClassVar[tuple[str, ...]] = ("bids", "asks")
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    lastUpdateId: Any = msgspec.UNSET
    E: Any = msgspec.UNSET
    T: Any = msgspec.UNSET


_DEPTH = msgspec.json.Decoder(_Depth, strict=False).decode  # strict=False: "1.5" → 1.5


class Parser:
    """The streams need no state; history keeps the settled funding rates it has read."""

    reads_raw = True  # takes RawJSON (dispatch.deliver): order books decode typed

    def __init__(self) -> None:
        self.funding = FundingHistory()

    def __call__(self, msg: object) -> list[MarketEvent] | None:
        return parse_message(msg.value if type(msg) is RawJSON else msg)

    def rest(self, endpoint: str, msg: object) -> list[MarketEvent] | None:
        if type(msg) is RawJSON:
            depth = urlsplit(endpoint).path.endswith("/depth")
            msg = book_message(msg, _DEPTH) if depth else msg.value
        history = parse_history(endpoint, msg, self.funding)
        return history if history is not None else parse_rest(endpoint, msg)


def listing(endpoint: Endpoints) -> PollSpec:
    """The request that says which markets Binance lists (before anything is subscribed)."""
    return PollSpec(
        feed=EXCHANGE,
        exchange=EXCHANGE,
        endpoint=LISTING_PATH,
        url=f"{endpoint.rest_url}{LISTING_PATH}",
        interval_s=0,
        weight=1,
        deliver=False,
    )


def listed_markets(msg: object) -> frozenset[str]:
    """Market keys of the USDT perpetuals trading now, from /fapi/v1/exchangeInfo."""
    symbols = msg.get("symbols") if isinstance(msg, dict) else None
    if not isinstance(symbols, list):
        raise ParseError("exchangeInfo: no 'symbols' list")
    return listed(EXCHANGE, symbols, contractType="PERPETUAL", quoteAsset="USDT", status="TRADING")


def plan(symbols: Sequence[str], endpoint: Endpoints, feeds: FeedOptions) -> FeedPlan:
    """Combined-stream connections (at most `feeds.streams_per_connection` streams each) for
    liquidations (all markets), mark price and 1m klines of the watched markets; REST polls for
    open interest (there is no OI stream) and depth, within Binance's request weight."""
    ids = [exchange_symbol(EXCHANGE, s).lower() for s in symbols]
    streams = ["!forceOrder@arr"]
    for i in ids:
        streams += [f"{i}@markPrice@1s", f"{i}@kline_1m"]
    cap = min(feeds.streams_per_connection, MAX_STREAMS_PER_CONNECTION)
    connections = [
        StreamSpec(
            feed=EXCHANGE,
            exchange=EXCHANGE,
            url=f"{endpoint.ws_url}/stream?streams={'/'.join(group)}",
            stale_after_s=parse_duration(feeds.stale_after) / 1000,
            max_age_s=parse_duration(feeds.renew_after) / 1000,
            liquidations_complete=SPEC.liquidations_complete,
        )
        for group in chunked(streams, cap)
    ]
    polls = []
    for market in symbols:
        sym = exchange_symbol(EXCHANGE, market)
        for path, query, every, weight in (
            ("/fapi/v1/openInterest", f"symbol={sym}", feeds.oi_poll, 1),
            (
                "/fapi/v1/depth",
                f"symbol={sym}&limit={DEPTH_LIMIT}",
                feeds.depth_poll,
                DEPTH_WEIGHT[DEPTH_LIMIT],
            ),
        ):
            polls.append(
                PollSpec(
                    feed=EXCHANGE,
                    exchange=EXCHANGE,
                    endpoint=f"{path}?{query}",
                    url=f"{endpoint.rest_url}{path}?{query}",
                    interval_s=parse_duration(every) / 1000,
                    weight=weight,
                )
            )
    return FeedPlan(streams=connections, polls=polls)


SPEC = ExchangeSpec(
    id=EXCHANGE,
    name="Binance",
    short="binance",
    ws_url="wss://fstream.binance.com/market",
    rest_url="https://fapi.binance.com",
    liquidations="throttled",  # at most one print per symbol per second
    parser=Parser,
    plan=plan,
    rest_limit=REST_LIMIT,
    listing=listing,
    listed_markets=listed_markets,
    to_symbol=to_usdt_symbol,
    from_symbol=from_usdt_symbol,
    known_multiples=(
        "1000PEPE",
        "1000SHIB",
        "1000BONK",
        "1000FLOKI",
        "1000LUNC",
        "1000XEC",
        "1000SATS",
        "1000RATS",
        "1000CAT",
        "1000CHEEMS",
        "1000WHY",
        "1000X",
        "1000000MOG",
        "1MBABYDOGE",
    ),
    margin=MarginRule(form="divided", tier1_mmr=0.004),
    ccxt_id="binanceusdm",
    ccxt_config=lambda rest: {
        "urls": {
            "api": {f"fapiPublic{v}": f"{rest}/fapi/{v.lower() or 'v1'}" for v in ("", "V2", "V3")}
        }
    },
    ccxt_market=ccxt_usdt_market,
    # /fapi/v1/leverageBracket needs an API key: the brackets are shipped data.
    tiers="shipped brackets (brackets.toml); /fapi/v1/leverageBracket needs an API key",
    history=HISTORY,
)
