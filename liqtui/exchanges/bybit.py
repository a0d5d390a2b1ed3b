"""Bybit v5 linear (USDT perpetuals): parse functions for its public streams (feeds.md §2.2, §2.7).

Topics, one set per watched symbol (Bybit has no all-symbols wildcard):
- `allLiquidation.<SYM>`: every liquidation (the complete feed), batched every 500 ms; `data` is a
  list and every valid item is kept (a malformed item is counted as skipped on its own, the
  others still count). `S` is the *position* side: "Buy" means a LONG was liquidated — the
  opposite of Binance's order side. `p` (documented as the bankruptcy
  price) is carried as reported and the print is placed there (docs/feeds.md says why).
- `liquidation.<SYM>` (deprecated, old recordings): `data` is one object; same conventions.
- `tickers.<SYM>`: a snapshot, then deltas in which a missing field means "unchanged", so the
  parser keeps per-symbol state. Open interest is documented as the sum of both sides: one side
  is `singleOpenInterest` when present, else half of `openInterest` (base units for linear).
- `publicTrade.<SYM>`: `S` is the taker side; aggregated into one TradeFlow per closed minute.
REST `/v5/market/orderbook` → BookDepth. Bybit reports API errors with HTTP 200 and retCode ≠ 0.

History (backfill, docs/exchanges.md "History"), every list newest first:
- `/v5/market/open-interest` (intervalTime 5min, 200 a page, `nextPageCursor`): read like the
  ticker, one side = `singleOpenInterest` when present, else half of `openInterest`;
- `/v5/market/kline` 1m (1,000 a request): [start, open, high, low, close, volume, turnover].
  Bybit's klines carry NO taker split: half of each minute's volume is taken as bought and half
  as sold (no imbalance is invented; the map's OI attribution then leans on price moves alone);
  VWAP = turnover / volume;
- `/v5/market/funding/history` (200 a request): settled rates, carried by the closing marks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import msgspec

from liqtui.events import Liquidation, MarketEvent, MarkPrice, OpenInterest, Side
from liqtui.exchanges.common import (
    FundingHistory,
    MinuteFlows,
    Trade,
    bar_events,
    batch,
    book_message,
    ccxt_usdt_market,
    field,
    from_usdt_symbol,
    guard,
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
    Frame,
    GetJson,
    HistoryPage,
    HistoryPlan,
    HistoryRequest,
    HistorySeries,
    MarginRule,
    NotTracked,
    ParseError,
    PartlyBad,
    PollSpec,
    RateLimit,
    RawJSON,
    Refused,
    StreamSpec,
    parse_duration,
)
from liqtui.markets import exchange_symbol, from_exchange_symbol, market_of_symbol

EXCHANGE = "bybit"
# Position side (allLiquidation docs: "When you receive a Buy update, this means that a long
# position has been liquidated"); the deprecated topic is read the same way (feeds.md §2.8).
_POSITION_SIDE: dict[object, Side] = {"Buy": "long", "Sell": "short"}
_TAKER_SIDES = ("Buy", "Sell")
# Real Bybit contracts that are not USDT perpetuals: USDC perpetuals (BTCPERP), inverse
# (BTCUSD, BTCUSDH25), USDT and USDC dated futures (BTCUSDT-26DEC25, BTC-26DEC25).
_UNTRACKED_RE = re.compile(
    r"^[A-Z0-9]{1,30}(PERP|USDC|USD|USD[FGHJKMNQUVXZ][0-9]{2}|(USDT)?-[0-9]{1,2}[A-Z]{3}[0-9]{2})$"
)
SUBSCRIBE_ARGS_PER_FRAME = 10  # Bybit rejects larger subscribe requests
# "For one public connection, you cannot have length of args array over 21,000 characters."
ARGS_CHARS_PER_CONNECTION = 20_000
DEPTH_LIMIT = 500  # linear books: 1..500 levels
# REST: 600 requests in any 5-second window per IP, for every endpoint together.
REST_LIMIT = RateLimit(weight=600, per_s=5.0)
LISTING_ENDPOINT = "/v5/market/instruments-info?category=linear&limit=1000"
_CHANNELS = ("allLiquidation", "tickers", "publicTrade")
_TOPIC_RE = re.compile(r"\b(?:allLiquidation|tickers|publicTrade|liquidation)\.([A-Z0-9]+)\b")


def _market(symbol: object) -> str:
    market = from_exchange_symbol(EXCHANGE, symbol)
    if market is not None:
        return market
    if isinstance(symbol, str) and _UNTRACKED_RE.match(symbol):
        raise NotTracked(symbol)  # a real market, but not a USDT perpetual
    raise ParseError(f"unknown symbol {symbol!r}")


def _liquidation(
    symbol: object, time: object, side_raw: object, size: object, bankruptcy: object, where: str
) -> Liquidation:
    side = _POSITION_SIDE.get(side_raw)
    if side is None:
        raise ParseError(f"{where}: side {side_raw!r} is not Buy or Sell")
    price = positive(bankruptcy, f"{where}.price")  # as reported: no conversion here
    quantity = positive(size, f"{where}.size")  # linear contracts are sized in base units
    return Liquidation(
        exchange=EXCHANGE,
        symbol=_market(symbol),
        time_ms=timestamp_ms(time, f"{where}.time"),
        side=side,
        price=price,
        quantity=quantity,
        notional_usd=quantity * price,
    )


def _batch_item(item: dict[str, object]) -> Liquidation:
    where = "allLiquidation"
    return _liquidation(
        field(item, "s", where),
        field(item, "T", where),
        field(item, "S", where),
        field(item, "v", where),
        field(item, "p", where),
        where,
    )


def parse_all_liquidation(msg: dict[str, object]) -> list[Liquidation]:
    """Every item of an `allLiquidation` push (a batch of up to 500 ms of prints)."""
    data = field(msg, "data", "allLiquidation")
    if not isinstance(data, list):
        raise ParseError("allLiquidation: 'data' is not a list")
    events: list[Liquidation] = []
    errors: list[str] = []
    untracked: NotTracked | None = None
    for item in data:
        try:
            if not isinstance(item, dict):
                raise ParseError("allLiquidation: an item is not an object")
            events.append(guard(partial(_batch_item, item), "allLiquidation: "))
        except NotTracked as exc:
            untracked = exc  # a USDC or dated contract in the batch: drop it, keep the rest
        except ParseError as exc:
            errors.append(str(exc))  # one bad item costs only itself
    if errors:
        raise PartlyBad(list(events), errors)
    if untracked is not None and not events:
        raise untracked
    return events


def parse_old_liquidation(msg: dict[str, object]) -> list[Liquidation]:
    """The deprecated `liquidation` topic: `data` is one object (a list is accepted too)."""
    data = field(msg, "data", "liquidation")
    items = data if isinstance(data, list) else [data]
    events: list[Liquidation] = []
    for item in items:
        if not isinstance(item, dict):
            raise ParseError("liquidation: 'data' is not an object")
        events.append(
            _liquidation(
                field(item, "symbol", "liquidation"),
                item.get("updatedTime", item.get("updateTime")),
                field(item, "side", "liquidation"),
                field(item, "size", "liquidation"),
                field(item, "price", "liquidation"),
                "liquidation",
            )
        )
    return events


def parse_public_trades(msg: dict[str, object]) -> list[Trade]:
    """The trades of one `publicTrade` push, in matching-time order (validated, not yet used)."""
    data = field(msg, "data", "publicTrade")
    if not isinstance(data, list):
        raise ParseError("publicTrade: 'data' is not a list")
    trades: list[Trade] = []
    for item in data:
        if not isinstance(item, dict):
            raise ParseError("publicTrade: an item is not an object")
        taker = field(item, "S", "publicTrade")
        if taker not in _TAKER_SIDES:
            raise ParseError(f"publicTrade: side {taker!r} is not Buy or Sell")
        trade_id = item.get("i")
        trades.append(
            Trade(
                market=_market(field(item, "s", "publicTrade")),
                time_ms=timestamp_ms(field(item, "T", "publicTrade"), "publicTrade.T"),
                price=positive(field(item, "p", "publicTrade"), "publicTrade.p"),
                base=positive(field(item, "v", "publicTrade"), "publicTrade.v"),
                taker_buy=taker == "Buy",
                trade_id=trade_id if isinstance(trade_id, str) and trade_id else None,
            )
        )
    return trades


_TICKER_FIELDS = ("markPrice", "fundingRate", "openInterest", "singleOpenInterest")


def _ticker_value(name: str, raw: object) -> float:
    if name == "markPrice":
        return positive(raw, "tickers.markPrice")
    value = number(raw, f"tickers.{name}")
    if name != "fundingRate" and value < 0:
        raise ParseError(f"tickers.{name}: {raw!r} is negative")
    return value


class TickerState:
    """Per-symbol ticker fields across snapshot and deltas (a missing field is unchanged)."""

    def __init__(self) -> None:
        self._fields: dict[str, dict[str, float]] = {}
        self._sent_mark: dict[str, tuple[float, float | None]] = {}
        self._sent_oi: dict[str, float] = {}

    def apply(self, msg: dict[str, object]) -> list[MarketEvent] | None:
        kind = field(msg, "type", "tickers")
        if kind not in ("snapshot", "delta"):
            raise ParseError(f"tickers: type {kind!r} is not snapshot or delta")
        time = timestamp_ms(field(msg, "ts", "tickers"), "tickers.ts")
        data = field(msg, "data", "tickers")
        if not isinstance(data, dict):
            raise ParseError("tickers: 'data' is not an object")
        symbol = field(data, "symbol", "tickers")
        market = _market(symbol)
        snapshot = kind == "snapshot"
        # Validate everything before touching the state: a bad delta changes nothing.
        merged = {} if snapshot else dict(self._fields.get(market, {}))
        for name in _TICKER_FIELDS:
            raw = data.get(name)
            if raw is not None and raw != "":
                merged[name] = _ticker_value(name, raw)
        self._fields[market] = merged

        events: list[MarketEvent] = []
        mark = merged.get("markPrice")
        if mark is not None:
            sent = (mark, merged.get("fundingRate"))
            if snapshot or self._sent_mark.get(market) != sent:
                self._sent_mark[market] = sent
                events.append(MarkPrice(EXCHANGE, market, time, mark, sent[1]))
        if "singleOpenInterest" in merged:
            oi: float | None = merged["singleOpenInterest"]
        elif "openInterest" in merged:
            oi = merged["openInterest"] / 2  # documented as the sum of both sides
        else:
            oi = None
        if oi is not None and (snapshot or self._sent_oi.get(market) != oi):
            self._sent_oi[market] = oi
            events.append(OpenInterest(EXCHANGE, market, time, oi))
        return events or None


def _control(msg: dict[str, object]) -> None:
    """Acks and pongs ({"success": true, "op": …}); a refused request is worth reporting, and
    the markets a refused subscription names are not subscribed again."""
    if msg.get("success") is False:
        text = str(msg.get("ret_msg"))
        if msg.get("op") == "subscribe":
            markets = {market_of_symbol(EXCHANGE, s) for s in _TOPIC_RE.findall(text)}
            raise Refused(f"bybit: {text}", tuple(sorted(m for m in markets if m)))
        raise ParseError(f"{msg.get('op')} refused: {text}")


def parse_order_book(endpoint: str, msg: object) -> list[MarketEvent] | None:
    """A REST response; only `/v5/market/orderbook` is used."""
    path = urlsplit(endpoint).path
    if not isinstance(msg, dict):
        raise ParseError(f"REST {path}: expected a JSON object")
    code = field(msg, "retCode", f"REST {path}")
    if code != 0:
        raise ParseError(f"REST {path}: retCode {code}: {msg.get('retMsg')}")
    if not path.endswith("/v5/market/orderbook"):
        return None
    result = field(msg, "result", "orderbook")
    if not isinstance(result, dict):
        raise ParseError("orderbook: 'result' is not an object")
    symbol = result.get("s") or parse_qs(urlsplit(endpoint).query).get("symbol", [None])[0]
    bids = levels_array(field(result, "b", "orderbook"), "orderbook.b")
    asks = levels_array(field(result, "a", "orderbook"), "orderbook.a")
    when = timestamp_ms(field(result, "ts", "orderbook"), "orderbook.ts")
    return [reduce_book(EXCHANGE, _market(symbol), when, bids, asks)]


# -- history ------------------------------------------------------------------------------------
OI_HISTORY_PATH = "/v5/market/open-interest"
KLINE_PATH = "/v5/market/kline"
FUNDING_PATH = "/v5/market/funding/history"
OI_HISTORY_LIMIT = 200
KLINE_LIMIT = 1000
FUNDING_LIMIT = 200
_HISTORY_PATHS = (OI_HISTORY_PATH, KLINE_PATH, FUNDING_PATH)


def _oi_request(sym: str, start: int, end: int, cursor: str | None) -> HistoryRequest:
    # Both bounds: a lone startTime is ignored (the list is anchored at its end).
    query: dict[str, object] = {
        "category": "linear", "symbol": sym, "intervalTime": "5min", "startTime": start,
        "endTime": end, "limit": OI_HISTORY_LIMIT,
    }  # fmt: skip
    if cursor:
        query["cursor"] = cursor
    return HistoryRequest(f"{OI_HISTORY_PATH}?{urlencode(query)}")


def _kline_request(sym: str, start: int, end: int, cursor: str | None) -> HistoryRequest:
    query = {"category": "linear", "symbol": sym, "interval": "1", "start": start, "end": end,
             "limit": KLINE_LIMIT}  # fmt: skip
    return HistoryRequest(f"{KLINE_PATH}?{urlencode(query)}")


def _funding_request(sym: str, start: int, end: int, cursor: str | None) -> HistoryRequest:
    query = {"category": "linear", "symbol": sym, "startTime": start, "endTime": end,
             "limit": FUNDING_LIMIT}  # fmt: skip
    return HistoryRequest(f"{FUNDING_PATH}?{urlencode(query)}")


def _result(msg: object, where: str) -> dict[str, object]:
    if not isinstance(msg, dict):
        raise ParseError(f"{where}: expected a JSON object")
    code = field(msg, "retCode", where)
    if code != 0:
        raise ParseError(f"{where}: retCode {code}: {msg.get('retMsg')}")
    result = field(msg, "result", where)
    if not isinstance(result, dict) or not isinstance(result.get("list"), list):
        raise ParseError(f"{where}: no 'result.list'")
    return result


def _page(read: str | int) -> Callable[[object], HistoryPage]:
    def page(msg: object) -> HistoryPage:
        try:
            result = _result(msg, "history")
        except ParseError as exc:
            return HistoryPage(error=str(exc))
        cursor = result.get("nextPageCursor")
        return HistoryPage(
            item_times(result["list"], lambda item: item[read]),  # type: ignore[index]
            cursor if isinstance(cursor, str) and cursor else None,
        )

    return page


def _oi_point(market: str, item: object) -> list[MarketEvent]:
    if not isinstance(item, dict):
        raise ParseError("an item is not an object")
    single = item.get("singleOpenInterest")
    if single not in (None, ""):
        amount = number(single, "singleOpenInterest")
    else:  # documented as the sum of both sides, as on the ticker
        amount = number(field(item, "openInterest", "open-interest"), "openInterest") / 2
    if amount < 0:
        raise ParseError(f"openInterest {amount} is negative")
    when = timestamp_ms(field(item, "timestamp", "open-interest"), "open-interest.timestamp")
    return [OpenInterest(EXCHANGE, market, when, amount)]


def _kline_row(market: str, funding: FundingHistory, row: object) -> list[MarketEvent]:
    """[startTime, open, high, low, close, volume, turnover], strings."""
    if not isinstance(row, list) or len(row) < 7:
        raise ParseError("a kline is not an array of 7 fields")
    start = timestamp_ms(row[0], "kline.startTime")
    bar = ohlc(row, ("kline.open", "kline.high", "kline.low", "kline.close"))
    return bar_events(
        EXCHANGE, market, start, bar,
        volume=number(row[5], "kline.volume"),
        quote=number(row[6], "kline.turnover"),
        taker_buy=None,  # no taker split in Bybit's klines: half and half
        funding=funding.at(market, start),
    )  # fmt: skip


def _funding_rate(funding: FundingHistory, item: object) -> list[MarketEvent]:
    if not isinstance(item, dict):
        raise ParseError("an item is not an object")
    market = _market(field(item, "symbol", "funding/history"))
    when = timestamp_ms(field(item, "fundingRateTimestamp", "funding/history"), "funding time")
    funding.add(market, {when: number(field(item, "fundingRate", "funding/history"), "rate")})
    return []


def parse_history(endpoint: str, msg: object, funding: FundingHistory) -> list[MarketEvent] | None:
    """Events of a history answer (None: not a history endpoint); malformed items are skipped
    (PartlyBad)."""
    path = urlsplit(endpoint).path
    if path not in _HISTORY_PATHS:
        return None
    items = _result(msg, f"REST {path}")["list"]
    assert isinstance(items, list)
    if path == FUNDING_PATH:
        return batch(items, lambda item: _funding_rate(funding, item), "funding/history")
    symbol = parse_qs(urlsplit(endpoint).query).get("symbol", [None])[0]
    market = _market(symbol)
    if path == OI_HISTORY_PATH:
        return batch(items, lambda item: _oi_point(market, item), "open-interest")
    return batch(items, lambda row: _kline_row(market, funding, row), "kline")


HISTORY = HistoryPlan(
    series=(
        HistorySeries("funding", 3_600_000, FUNDING_LIMIT, None, _funding_request,
                      _page("fundingRateTimestamp"), dense=False),
        HistorySeries("open_interest", 300_000, OI_HISTORY_LIMIT, None, _oi_request,
                      _page("timestamp")),
        HistorySeries("klines", 60_000, KLINE_LIMIT, None, _kline_request, _page(0)),
    ),
    note="klines carry no taker split: half of each minute's volume counts as bought",
)  # fmt: skip


class _BookResult(msgspec.Struct, forbid_unknown_fields=True):
    book_sides: ClassVar[tuple[str, ...]] = ("b", "a")
    b: list[tuple[float, float]]
    a: list[tuple[float, float]]
    s: Any = msgspec.UNSET
    ts: Any = msgspec.UNSET
    u: Any = msgspec.UNSET
    seq: Any = msgspec.UNSET
    cts: Any = msgspec.UNSET


class _Book(msgspec.Struct, forbid_unknown_fields=True):
    """/v5/market/orderbook as Bybit sends it: the typed shape `book_message` reads."""

    result: _BookResult
    retCode: Any = msgspec.UNSET
    retMsg: Any = msgspec.UNSET
    retExtInfo: Any = msgspec.UNSET
    time: Any = msgspec.UNSET


_BOOK = msgspec.json.Decoder(_Book, strict=False).decode  # strict=False: "1.5" → 1.5


class Parser:
    """Stateful: ticker deltas need the snapshot, trades are aggregated per minute, history
    keeps the settled funding rates it has read."""

    reads_raw = True  # takes RawJSON (dispatch.deliver): order books decode typed

    def __init__(self) -> None:
        self.tickers = TickerState()
        self.trades = MinuteFlows(EXCHANGE)
        self.funding = FundingHistory()

    def __call__(self, msg: object) -> list[MarketEvent] | None:
        if type(msg) is RawJSON:
            msg = msg.value
        return guard(lambda: self._parse(msg), "malformed message: ")

    def rest(self, endpoint: str, msg: object) -> list[MarketEvent] | None:
        if type(msg) is RawJSON:
            book = urlsplit(endpoint).path.endswith("/v5/market/orderbook")
            msg = book_message(msg, _BOOK) if book else msg.value
        history = guard(lambda: parse_history(endpoint, msg, self.funding), "malformed: ")
        if history is not None:
            return history
        return guard(lambda: parse_order_book(endpoint, msg), "malformed response: ")

    def _parse(self, msg: object) -> list[MarketEvent] | None:
        if not isinstance(msg, dict):
            raise ParseError(f"expected a JSON object, got {type(msg).__name__}")
        topic = msg.get("topic")
        if topic is None:
            if "op" in msg:
                _control(msg)
                return None
            raise ParseError("neither 'topic' nor 'op'")
        if not isinstance(topic, str) or "." not in topic:
            raise ParseError(f"bad topic {topic!r}")
        channel = topic.split(".", 1)[0]
        if channel == "allLiquidation":
            return list(parse_all_liquidation(msg)) or None
        if channel == "liquidation":
            return list(parse_old_liquidation(msg)) or None
        if channel == "tickers":
            return self.tickers.apply(msg)
        if channel == "publicTrade":
            # Absorbed trades are data even before their minute closes: [] rather than None.
            return list(self.trades.add(parse_public_trades(msg)))
        return None  # a topic liqtui does not use


def _connections(args: list[str], cap: int) -> list[list[str]]:
    """Split topics so that no connection has more than `cap` of them nor args longer than
    Bybit's per-connection length."""
    groups: list[list[str]] = [[]]
    size = 0
    for arg in args:
        cost = len(json.dumps(arg)) + 1
        if groups[-1] and (size + cost > ARGS_CHARS_PER_CONNECTION or len(groups[-1]) >= cap):
            groups.append([])
            size = 0
        groups[-1].append(arg)
        size += cost
    return groups


def subscribe_frames(args: Sequence[str], first_req_id: int = 1) -> list[Frame]:
    """{"op":"subscribe","req_id":"<n>","args":[…]} with at most 10 args each."""
    return [
        {
            "op": "subscribe",
            "req_id": str(first_req_id + n),
            "args": list(args[i : i + SUBSCRIBE_ARGS_PER_FRAME]),
        }
        for n, i in enumerate(range(0, len(args), SUBSCRIBE_ARGS_PER_FRAME))
    ]


def without(frame: Frame, markets: frozenset[str]) -> Frame | None:
    """A subscribe frame without the topics of `markets` (None when none is left)."""
    old_args = frame.get("args") if isinstance(frame, dict) else None
    if not isinstance(frame, dict) or not isinstance(old_args, list):
        return frame
    args = [
        a for a in old_args if market_of_symbol(EXCHANGE, str(a).partition(".")[2]) not in markets
    ]
    return {**frame, "args": args} if args else None


def listing(endpoint: Endpoints) -> PollSpec:
    """The request that says which markets Bybit lists (before anything is subscribed)."""
    return PollSpec(
        feed=EXCHANGE,
        exchange=EXCHANGE,
        endpoint=LISTING_ENDPOINT,
        url=f"{endpoint.rest_url}{LISTING_ENDPOINT}",
        interval_s=0,
        deliver=False,
    )


def listed_markets(msg: object) -> frozenset[str] | None:
    """Market keys of the USDT perpetuals trading now (None: the answer has more pages, so
    a market missing from it may still be listed)."""
    if not isinstance(msg, dict) or msg.get("retCode") != 0:
        raise ParseError(f"instruments-info: {msg.get('retMsg') if isinstance(msg, dict) else msg}")
    result = msg.get("result")
    items = result.get("list") if isinstance(result, dict) else None
    if not isinstance(items, list):
        raise ParseError("instruments-info: no 'list'")
    if result.get("nextPageCursor"):  # type: ignore[union-attr]
        return None
    return listed(
        EXCHANGE, items, contractType="LinearPerpetual", quoteCoin="USDT", status="Trading"
    )


def plan(symbols: Sequence[str], endpoint: Endpoints, feeds: FeedOptions) -> FeedPlan:
    """Liquidations, tickers and trades of the watched markets on the public linear stream
    (app-level {"op":"ping"} every 20 s), at most `feeds.streams_per_connection` topics per
    connection, and REST order-book polls for depth."""
    args: list[str] = []
    for market in symbols:
        sym = exchange_symbol(EXCHANGE, market)
        args += [f"{channel}.{sym}" for channel in _CHANNELS]
    streams = [
        StreamSpec(
            feed=EXCHANGE,
            exchange=EXCHANGE,
            url=endpoint.ws_url,
            subscribe=subscribe_frames(group),
            ping_frame={"op": "ping"},
            ping_interval_s=20.0,
            stale_after_s=parse_duration(feeds.stale_after) / 1000,
            max_age_s=parse_duration(feeds.renew_after) / 1000,
            liquidations_complete=SPEC.liquidations_complete,
            without=without,
        )
        for group in _connections(args, feeds.streams_per_connection)
        if group
    ]
    polls = []
    for market in symbols:
        path = "/v5/market/orderbook"
        query = f"category=linear&symbol={exchange_symbol(EXCHANGE, market)}&limit={DEPTH_LIMIT}"
        polls.append(
            PollSpec(
                feed=EXCHANGE,
                exchange=EXCHANGE,
                endpoint=f"{path}?{query}",
                url=f"{endpoint.rest_url}{path}?{query}",
                interval_s=parse_duration(feeds.depth_poll) / 1000,
            )
        )
    return FeedPlan(streams=streams, polls=polls)


async def fetch_tiers(get_json: GetJson, rest_url: str, market: str) -> dict[str, Any]:
    """Bybit linear risk limits (GET /v5/market/risk-limit, public) as a brackets.toml table."""
    symbol = f"{market}USDT"
    url = f"{rest_url}/v5/market/risk-limit?category=linear&symbol={symbol}"
    rows: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(20):
        doc = await get_json(url + (f"&cursor={cursor}" if cursor else ""))
        if not isinstance(doc, dict) or doc.get("retCode") not in (0, "0"):
            raise RuntimeError(
                f"bybit risk-limit {symbol}: {doc.get('retMsg') if isinstance(doc, dict) else doc}"
            )
        result = doc.get("result") or {}
        rows += [r for r in result.get("list", []) if r.get("symbol", symbol) == symbol]
        cursor = result.get("nextPageCursor") or ""
        if not cursor:
            break
    tiers = []
    for r in sorted(rows, key=lambda r: float(r["riskLimitValue"])):
        deduction = r.get("mmDeduction") or 0
        tiers.append(
            [
                float(r["riskLimitValue"]),
                float(r["maxLeverage"]),
                float(r["maintenanceMargin"]),
                float(deduction),
            ]
        )
    if not tiers:
        raise RuntimeError(f"bybit risk-limit {symbol}: no tiers")
    return {"exchange": "bybit", "symbol": market, "cap_unit": "usd", "url": url, "tiers": tiers}


SPEC = ExchangeSpec(
    id=EXCHANGE,
    name="Bybit",
    short="bybit",
    ws_url="wss://stream.bybit.com/v5/public/linear",
    rest_url="https://api.bybit.com",
    liquidations="complete",  # allLiquidation pushes every liquidation
    parser=Parser,
    plan=plan,
    rest_limit=REST_LIMIT,
    listing=listing,
    listed_markets=listed_markets,
    to_symbol=to_usdt_symbol,
    from_symbol=from_usdt_symbol,
    known_multiples=(
        "1000PEPE",
        "SHIB1000",
        "1000BONK",
        "1000FLOKI",
        "1000LUNC",
        "1000XEC",
        "1000RATS",
        "1000CAT",
        "1000000MOG",
        "1000000BABYDOGE",
    ),
    margin=MarginRule(form="linear", tier1_mmr=0.005),
    ccxt_id="bybit",
    ccxt_config=lambda rest: {
        "urls": {"api": {"public": rest}},
        "options": {"fetchMarkets": {"types": ["linear"]}},
    },
    ccxt_market=ccxt_usdt_market,
    fetch_tiers=fetch_tiers,
    tiers="risk limits: GET /v5/market/risk-limit (public; liqtui calibrate --refresh-tiers)",
    history=HISTORY,
)
