"""OKX v5 USDT-margined perpetual swaps (instId BTC-USDT-SWAP): parse functions and feed plan.

Feeds.md §2.3, §2.7, §4. Everything OKX reports about swaps is in *contracts*; the contract size
(`ctVal`, base units per contract) comes from a start-up poll of /api/v5/public/instruments that
is recorded like any REST response, so a replay learns the same sizes before the first push.

Liquidations (`liquidation-orders`, instType SWAP, every swap on the exchange):
- each push holds several instruments (`data[]`), each with several prints (`details[]`);
  every one is kept (ccxt keeps only `details[0]`, feeds.md §0.3b);
- `side` is the liquidation *order* side: "sell" closes a long (`posSide` long/short/net);
- `sz` is in contracts: base quantity = sz × ctVal;
- `bkPx` is the liquidation mark price ("bankruptcy price" in the field name): the print is
  placed at it, as reported (ccxt does the same; docs/feeds.md);
- OKX shows at most one order per contract per second: a lower bound.

History (backfill, docs/exchanges.md "History"), every list newest first, `after`/`end` = older
than, `before`/`begin` = newer than the given time:
- `/api/v5/rubik/stat/contracts/open-interest-history` (instId, period 5m, 100 a request; only
  the latest 1,440 points, so 5 days; 10 requests / 2 s per IP and instrument): [ts, oi, oiCcy,
  oiUsd], one side in base units from `oiCcy` (else oi × ctVal);
- `/api/v5/market/history-candles` 1m (300 a request, paged with `after`): [ts, o, h, l, c, vol,
  volCcy, volCcyQuote, confirm], `volCcy` in base units (else vol × ctVal); an unconfirmed bar is
  skipped. No taker split: half the volume counts as bought (as Bybit); VWAP = volCcyQuote /
  volCcy;
- `/api/v5/public/funding-rate-history` (400 a request, three months): settled rates (1 to 8
  hours apart), on the closing marks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import msgspec

from liqtui.events import Liquidation, MarketEvent, MarkPrice, OpenInterest
from liqtui.exchanges.common import (
    FundingHistory,
    MinuteFlows,
    Trade,
    bar_events,
    batch,
    book_message,
    ccxt_usdt_market,
    field,
    guard,
    item_times,
    levels_array,
    number,
    ohlc,
    positive,
    reduce_book,
    timestamp_ms,
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
    chunked,
    parse_duration,
)
from liqtui.markets import exchange_symbol, from_exchange_symbol, market_of_symbol

EXCHANGE = "okx"
INSTRUMENTS_PATH = "/api/v5/public/instruments"
INSTRUMENTS_ENDPOINT = f"{INSTRUMENTS_PATH}?instType=SWAP"
BOOKS_PATH = "/api/v5/market/books"
BOOK_LEVELS = 400  # the most /market/books returns
PING_FRAME = "ping"  # OKX's keep-alive is the bare text, answered by the text "pong"
PING_INTERVAL_S = 20.0  # OKX drops a connection after 30 s without traffic
MAX_FRAME_BYTES = 4096  # well under OKX's 64 KB subscribe limit (older docs said 4096 bytes)
INSTRUMENTS_REFRESH_S = 3600.0  # learn contract sizes of swaps listed during a long session
# REST limits are per endpoint and IP: instruments 20 requests / 2 s, books 40 / 2 s. One budget
# at the stricter of the two covers both.
REST_LIMIT = RateLimit(weight=20, per_s=2.0)
CLOSE_NOTICE = "64008"  # "The connection will soon be closed for a service upgrade."
_INST_RE = re.compile(r"[A-Z0-9]+-USDT-SWAP")

_ORDER_SIDE_TO_POSITION = {"sell": "long", "buy": "short"}
_SIDES = ("buy", "sell")


# -- helpers ----------------------------------------------------------------------------------
def _obj(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ParseError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _items(value: object, where: str) -> list[object]:
    if not isinstance(value, list):
        raise ParseError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _market(inst_id: object) -> str:
    """Market key of a USDT-margined swap; NotTracked for other real OKX instruments."""
    market = from_exchange_symbol(EXCHANGE, inst_id)
    if market is not None:
        return market
    if isinstance(inst_id, str) and inst_id.count("-") >= 1 and inst_id.isascii():
        # BTC-USD-SWAP (inverse), BTC-USDC-SWAP, BTC-USDT-250328 (futures), spot, options.
        raise NotTracked(inst_id)
    raise ParseError(f"unknown instId {inst_id!r}")


# -- parse results that mutate no state (validated before the parser applies them) ------------
@dataclass(frozen=True, slots=True)
class _Trade:
    inst_id: str
    market: str
    trade_id: str
    time_ms: int
    price: float
    contracts: float
    taker_buy: bool


def parse_instruments(msg: object) -> dict[str, float]:
    """instId → ctVal of the linear, USDT-settled swaps in an instruments response."""
    body = _obj(msg, "instruments")
    code = field(body, "code", "instruments")
    if code != "0":
        raise ParseError(f"instruments: error {code}: {body.get('msg', '')}")
    sizes: dict[str, float] = {}
    for raw in _items(field(body, "data", "instruments"), "instruments.data"):
        inst = _obj(raw, "instruments.data[]")
        inst_id = inst.get("instId")
        market = from_exchange_symbol(EXCHANGE, inst_id)
        if market is None or inst.get("ctType") != "linear" or inst.get("settleCcy") != "USDT":
            continue  # inverse (-USD-SWAP) and USDC swaps: real, not followed
        ccy = inst.get("ctValCcy")
        if ccy not in (None, "", market):
            continue  # ctVal would not be in base units
        try:
            sizes[inst_id] = positive(inst.get("ctVal"), f"{inst_id}.ctVal")  # type: ignore[index]
        except ParseError:
            continue  # one odd entry must not cost every other contract size
    if not sizes:
        raise ParseError("instruments: no linear USDT-settled swap in the response")
    return sizes


def parse_liquidation_entry(entry: dict[str, object], ct_val: float | None) -> list[Liquidation]:
    """Every print in one `data[]` element of a liquidation-orders push."""
    inst_id = field(entry, "instId", "liquidation-orders")
    market = _market(inst_id)
    if ct_val is None:
        raise _UnknownSize(f"contract size unknown for {inst_id}")
    out: list[Liquidation] = []
    for raw in _items(field(entry, "details", "liquidation-orders"), "liquidation-orders.details"):
        d = _obj(raw, "liquidation-orders.details[]")
        order_side = field(d, "side", "liquidation-orders.details")
        side = _ORDER_SIDE_TO_POSITION.get(order_side) if isinstance(order_side, str) else None
        if side is None:
            raise ParseError(f"liquidation-orders: side {order_side!r} is not buy or sell")
        pos_side = d.get("posSide", "net")
        if pos_side not in ("long", "short", "net", ""):
            raise ParseError(f"liquidation-orders: posSide {pos_side!r}")
        if pos_side in ("long", "short") and pos_side != side:
            # A hedge-mode long is closed by a sell: anything else means we misread the message.
            raise ParseError(f"liquidation-orders: side {order_side} with posSide {pos_side}")
        price = positive(field(d, "bkPx", "liquidation-orders"), "liquidation-orders.bkPx")
        quantity = positive(field(d, "sz", "liquidation-orders"), "liquidation-orders.sz") * ct_val
        out.append(
            Liquidation(
                exchange=EXCHANGE,
                symbol=market,
                time_ms=timestamp_ms(field(d, "ts", "liquidation-orders"), "liquidation-orders.ts"),
                side=side,  # type: ignore[arg-type]
                price=price,
                quantity=quantity,
                notional_usd=quantity * price,
            )
        )
    return out


class _UnknownSize(ParseError):
    """A tracked swap whose contract size has not been learned (listed after start-up)."""


def parse_open_interest(item: dict[str, object], ct_val: float | None) -> OpenInterest:
    inst_id = field(item, "instId", "open-interest")
    market = _market(inst_id)
    if ct_val is None:
        raise _UnknownSize(f"contract size unknown for {inst_id}")
    coin = item.get("oiCcy")
    if coin not in (None, ""):
        amount = number(coin, "open-interest.oiCcy")
    else:
        amount = number(field(item, "oi", "open-interest"), "open-interest.oi") * ct_val
    if amount < 0:
        raise ParseError(f"open-interest: negative {amount}")
    return OpenInterest(
        exchange=EXCHANGE,
        symbol=market,
        time_ms=timestamp_ms(field(item, "ts", "open-interest"), "open-interest.ts"),
        open_interest=amount,
    )


def parse_trade(item: dict[str, object]) -> _Trade:
    inst_id = field(item, "instId", "trades")
    market = _market(inst_id)
    side = field(item, "side", "trades")
    if side not in _SIDES:
        raise ParseError(f"trades: side {side!r} is not buy or sell")
    trade_id = field(item, "tradeId", "trades")
    if not isinstance(trade_id, (str, int)) or isinstance(trade_id, bool):
        raise ParseError(f"trades: tradeId {trade_id!r}")
    return _Trade(
        inst_id=inst_id,  # type: ignore[arg-type]
        market=market,
        trade_id=str(trade_id),
        time_ms=timestamp_ms(field(item, "ts", "trades"), "trades.ts"),
        price=positive(field(item, "px", "trades"), "trades.px"),
        contracts=positive(field(item, "sz", "trades"), "trades.sz"),
        taker_buy=side == "buy",
    )


class _BookData(msgspec.Struct, forbid_unknown_fields=True):
    book_sides: ClassVar[tuple[str, ...]] = ("asks", "bids")
    asks: list[tuple[float, float, float, float]]  # price, size, "0" (deprecated), orders
    bids: list[tuple[float, float, float, float]]
    ts: Any = msgspec.UNSET


class _Books(msgspec.Struct, forbid_unknown_fields=True):
    """/api/v5/market/books as OKX sends it: the typed shape `book_message` reads."""

    data: list[_BookData]
    code: Any = msgspec.UNSET
    msg: Any = msgspec.UNSET


_BOOKS = msgspec.json.Decoder(_Books, strict=False).decode  # strict=False: "1.5" → 1.5


class Parser:
    """OKX needs state: contract sizes (from the instruments response), the latest funding rate
    per instrument (attached to mark prices) and the open minute of trades per instrument."""

    reads_raw = True  # takes RawJSON (dispatch.deliver): order books decode typed

    def __init__(self) -> None:
        self.contract_sizes: dict[str, float] = {}
        self.funding: dict[str, float] = {}
        self.settled = FundingHistory()  # from funding-rate history (backfill)
        self._flows = MinuteFlows(EXCHANGE)  # trades → one TradeFlow per closed minute
        self._channels: dict[str, Callable[[list[object]], list[MarketEvent] | None]] = {
            "liquidation-orders": self._liquidations,
            "open-interest": self._open_interest,
            "mark-price": self._mark_price,
            "funding-rate": self._funding_rate,
            "trades": self._trades,
        }

    # -- stream ---------------------------------------------------------------------------------
    def __call__(self, msg: object) -> list[MarketEvent] | None:
        if type(msg) is RawJSON:
            msg = msg.value
        return guard(lambda: self._parse(msg), "malformed message: ")

    def _parse(self, msg: object) -> list[MarketEvent] | None:
        if isinstance(msg, str):
            if msg == "pong":
                return None  # answer to our keep-alive
            raise ParseError(f"unexpected text frame {msg[:40]!r}")
        body = _obj(msg, "message")
        event = body.get("event")
        if event is not None:
            if event == "error":  # a refused subscription names its instId in `msg`
                text = str(body.get("msg"))
                markets = {market_of_symbol(EXCHANGE, i) for i in _INST_RE.findall(text)}
                raise Refused(
                    f"OKX error {body.get('code')}: {text}", tuple(sorted(m for m in markets if m))
                )
            if event in ("subscribe", "unsubscribe", "notice", "channel-conn-count"):
                return None
            raise ParseError(f"unknown event {event!r}")
        arg = _obj(field(body, "arg", "message"), "arg")
        channel = arg.get("channel")
        data = _items(field(body, "data", "message"), f"{channel}.data")
        handler = self._channels.get(channel) if isinstance(channel, str) else None
        if handler is None:
            return None  # a channel liqtui does not use
        return handler(data)

    def _liquidations(self, data: list[object]) -> list[MarketEvent] | None:
        events: list[MarketEvent] = []
        unknown: _UnknownSize | None = None
        untracked = 0
        errors: list[str] = []
        for raw in data:
            # The channel covers every swap: skip others without failing the rest.
            try:
                entry = _obj(raw, "liquidation-orders.data[]")
                ct_val = self.contract_sizes.get(str(entry.get("instId")))
                events.extend(parse_liquidation_entry(entry, ct_val))
            except NotTracked:
                untracked += 1
            except _UnknownSize as exc:
                unknown = exc
            except ParseError as exc:
                errors.append(str(exc))  # one malformed entry costs only itself
        if errors:
            raise PartlyBad(events, errors)
        if events:
            return events
        if unknown is not None:
            raise unknown
        if untracked:
            raise NotTracked("no USDT swap in this liquidation push")
        return None

    def _open_interest(self, data: list[object]) -> list[MarketEvent] | None:
        out: list[MarketEvent] = []
        for raw in data:
            item = _obj(raw, "open-interest.data[]")
            ct_val = self.contract_sizes.get(str(item.get("instId")))
            out.append(parse_open_interest(item, ct_val))
        return out or None

    def _mark_price(self, data: list[object]) -> list[MarketEvent] | None:
        out: list[MarketEvent] = []
        for raw in data:
            item = _obj(raw, "mark-price.data[]")
            inst_id = field(item, "instId", "mark-price")
            out.append(
                MarkPrice(
                    exchange=EXCHANGE,
                    symbol=_market(inst_id),
                    time_ms=timestamp_ms(field(item, "ts", "mark-price"), "mark-price.ts"),
                    mark_price=positive(field(item, "markPx", "mark-price"), "mark-price.markPx"),
                    funding_rate=self.funding.get(str(inst_id)),
                )
            )
        return out or None

    def _funding_rate(self, data: list[object]) -> list[MarketEvent] | None:
        rates: dict[str, float] = {}
        for raw in data:
            item = _obj(raw, "funding-rate.data[]")
            inst_id = field(item, "instId", "funding-rate")
            _market(inst_id)
            if "fundingRate" not in item and "nextFundingRate" in item:
                continue  # OKX has sent pushes with only the next rate: nothing to use
            rates[inst_id] = number(  # type: ignore[index]
                field(item, "fundingRate", "funding-rate"), "funding-rate.fundingRate"
            )
        self.funding.update(rates)
        return [] if rates else None  # used: the rate rides on the next mark price

    def _trades(self, data: list[object]) -> list[MarketEvent] | None:
        trades = [parse_trade(_obj(raw, "trades.data[]")) for raw in data]
        for t in trades:
            if t.inst_id not in self.contract_sizes:
                raise ParseError(f"contract size unknown for {t.inst_id}")
        # Validated first: a bad message leaves the open minutes untouched.
        return list(
            self._flows.add(
                [
                    Trade(
                        market=t.market,
                        time_ms=t.time_ms,
                        price=t.price,
                        base=t.contracts * self.contract_sizes[t.inst_id],
                        taker_buy=t.taker_buy,
                        trade_id=t.trade_id,
                    )
                    for t in trades
                ]
            )
        )

    # -- REST -----------------------------------------------------------------------------------
    def rest(self, endpoint: str, msg: object) -> list[MarketEvent] | None:
        if type(msg) is RawJSON:
            book = urlsplit(endpoint).path == BOOKS_PATH
            msg = book_message(msg, _BOOKS) if book else msg.value
        return guard(lambda: self._rest(endpoint, msg), f"REST {endpoint}: ")

    def _rest(self, endpoint: str, msg: object) -> list[MarketEvent] | None:
        path = urlsplit(endpoint).path
        if path == INSTRUMENTS_PATH:
            self.contract_sizes.update(parse_instruments(msg))
            return []  # used: contract sizes for what follows
        if path == BOOKS_PATH:
            return [self._book(endpoint, msg)]
        if path in _HISTORY_PATHS:
            return self._history(path, endpoint, msg)
        return None

    def _history(self, path: str, endpoint: str, msg: object) -> list[MarketEvent]:
        body = _obj(msg, "history")
        code = field(body, "code", "history")
        if code != "0":
            raise ParseError(f"{path}: error {code}: {body.get('msg', '')}")
        data = _items(field(body, "data", "history"), f"{path}.data")
        if path == FUNDING_PATH:
            return batch(data, self._settled_rate, "funding-rate-history")
        inst_id = parse_qs(urlsplit(endpoint).query).get("instId", [""])[0]
        market = _market(inst_id)
        ct_val = self.contract_sizes.get(inst_id)
        if path == OI_HISTORY_PATH:
            return batch(data, lambda row: _oi_point(market, ct_val, row), "open-interest-history")
        return batch(
            data, lambda row: _candle(market, ct_val, self.settled, row), "history-candles"
        )

    def _settled_rate(self, item: object) -> list[MarketEvent]:
        entry = _obj(item, "funding-rate-history[]")
        market = _market(field(entry, "instId", "funding-rate-history"))
        when = timestamp_ms(field(entry, "fundingTime", "funding-rate-history"), "fundingTime")
        rate = entry.get("realizedRate") or field(entry, "fundingRate", "funding-rate-history")
        self.settled.add(market, {when: number(rate, "fundingRate")})
        return []

    def _book(self, endpoint: str, msg: object) -> MarketEvent:
        body = _obj(msg, "books")
        code = field(body, "code", "books")
        if code != "0":
            raise ParseError(f"books: error {code}: {body.get('msg', '')}")
        values = parse_qs(urlsplit(endpoint).query).get("instId")
        if not values:
            raise ParseError(f"REST {endpoint!r}: no instId in the request")
        inst_id = values[0]
        market = _market(inst_id)
        ct_val = self.contract_sizes.get(inst_id)
        if ct_val is None:
            raise ParseError(f"contract size unknown for {inst_id}")
        data = _items(field(body, "data", "books"), "books.data")
        if not data:
            raise ParseError("books: empty data")
        book = _obj(data[0], "books.data[0]")
        return reduce_book(
            EXCHANGE,
            market,
            timestamp_ms(field(book, "ts", "books"), "books.ts"),
            levels_array(field(book, "bids", "books"), "books.bids"),
            levels_array(field(book, "asks", "books"), "books.asks"),
            size_to_base=ct_val,
        )


# -- history ------------------------------------------------------------------------------------
OI_HISTORY_PATH = "/api/v5/rubik/stat/contracts/open-interest-history"
CANDLES_PATH = "/api/v5/market/history-candles"
FUNDING_PATH = "/api/v5/public/funding-rate-history"
_HISTORY_PATHS = (OI_HISTORY_PATH, CANDLES_PATH, FUNDING_PATH)
HISTORY_LIMIT = 100  # open-interest history: at most 100 a request
CANDLES_LIMIT = 300  # history-candles: "The maximum is 300"
FUNDING_LIMIT = 400  # funding-rate-history: "The maximum is 400"
FUNDING_LOOKBACK_MS = 90 * 86_400_000  # "can return data up to three months"
OI_HISTORY_POINTS = 1440  # "This endpoint can retrieve the latest 1,440 data entries."
# The shared budget is OKX's 20 requests / 2 s; OI and funding history allow 10 / 2 s.
SLOW_WEIGHT = 2


def _oi_request(inst_id: str, start: int, end: int, cursor: str | None) -> HistoryRequest:
    query = {"instId": inst_id, "period": "5m", "begin": start - 1, "end": end + 1,
             "limit": HISTORY_LIMIT}  # fmt: skip
    return HistoryRequest(f"{OI_HISTORY_PATH}?{urlencode(query)}", weight=SLOW_WEIGHT)


def _candles_request(inst_id: str, start: int, end: int, cursor: str | None) -> HistoryRequest:
    query = {"instId": inst_id, "bar": "1m", "after": end + 1, "before": start - 1,
             "limit": CANDLES_LIMIT}  # fmt: skip
    return HistoryRequest(f"{CANDLES_PATH}?{urlencode(query)}")


def _funding_request(inst_id: str, start: int, end: int, cursor: str | None) -> HistoryRequest:
    query = {"instId": inst_id, "after": end + 1, "before": start - 1, "limit": FUNDING_LIMIT}
    return HistoryRequest(f"{FUNDING_PATH}?{urlencode(query)}", weight=SLOW_WEIGHT)


def _history_page(read: str | int) -> Callable[[object], HistoryPage]:
    def page(msg: object) -> HistoryPage:
        if not isinstance(msg, dict) or msg.get("code") != "0":
            code = msg.get("code") if isinstance(msg, dict) else None
            text = msg.get("msg") if isinstance(msg, dict) else "not a JSON object"
            return HistoryPage(error=f"error {code}: {text}")
        return HistoryPage(item_times(msg.get("data"), lambda item: item[read]))  # type: ignore[index]

    return page


def _in_base(row: list[object], coin: int, contracts: int, ct_val: float | None) -> float:
    """A quantity in base units: the coin column, else contracts × ctVal."""
    if len(row) > coin and row[coin] not in (None, ""):
        return number(row[coin], "base quantity")
    if ct_val is None:
        raise _UnknownSize("contract size unknown")
    return number(row[contracts], "contracts") * ct_val


def _oi_point(market: str, ct_val: float | None, row: object) -> list[MarketEvent]:
    """[ts, oi (contracts), oiCcy (base), oiUsd]"""
    if not isinstance(row, list) or len(row) < 2:
        raise ParseError("an open-interest point is not [ts, oi, oiCcy, oiUsd]")
    amount = _in_base(row, 2, 1, ct_val)
    if amount < 0:
        raise ParseError(f"open interest {amount} is negative")
    return [OpenInterest(EXCHANGE, market, timestamp_ms(row[0], "open-interest.ts"), amount)]


def _candle(
    market: str, ct_val: float | None, funding: FundingHistory, row: object
) -> list[MarketEvent]:
    """[ts, o, h, l, c, vol (contracts), volCcy (base), volCcyQuote, confirm]"""
    if not isinstance(row, list) or len(row) < 6:
        raise ParseError("a candle is not [ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm]")
    if len(row) > 8 and row[8] == "0":
        return []  # the bar still open: not history yet
    start = timestamp_ms(row[0], "candle.ts")
    bar = ohlc(row, ("candle.o", "candle.h", "candle.l", "candle.c"))
    quote = number(row[7], "candle.volCcyQuote") if len(row) > 7 and row[7] != "" else None
    return bar_events(
        EXCHANGE, market, start, bar,
        volume=_in_base(row, 6, 5, ct_val),
        quote=quote,
        taker_buy=None,  # no taker split in OKX candles: half and half
        funding=funding.at(market, start),
    )  # fmt: skip


HISTORY = HistoryPlan(
    series=(
        HistorySeries("funding", 3_600_000, FUNDING_LIMIT, FUNDING_LOOKBACK_MS,
                      _funding_request, _history_page("fundingTime"), dense=False),
        HistorySeries("open_interest", 300_000, HISTORY_LIMIT, OI_HISTORY_POINTS * 300_000,
                      _oi_request, _history_page(0)),
        HistorySeries("klines", 60_000, CANDLES_LIMIT, None, _candles_request, _history_page(0)),
    ),
    note="candles carry no taker split: half of each minute's volume counts as bought",
)  # fmt: skip


# -- plan -------------------------------------------------------------------------------------
def subscribe_frames(
    args: Sequence[dict[str, str]], max_bytes: int = MAX_FRAME_BYTES
) -> list[Frame]:
    """{"op":"subscribe","args":[…]} frames, each at most `max_bytes` of compact JSON."""
    frames: list[Frame] = []
    chunk: list[dict[str, str]] = []
    for arg in args:
        candidate = [*chunk, arg]
        size = len(json.dumps({"op": "subscribe", "args": candidate}, separators=(",", ":")))
        if chunk and size > max_bytes:
            frames.append({"op": "subscribe", "args": chunk})
            chunk = [arg]
        else:
            chunk = candidate
    if chunk:
        frames.append({"op": "subscribe", "args": chunk})
    return frames


def close_notice(msg: object) -> bool:
    """OKX's notice that it will close this connection for a service upgrade (30 s ahead)."""
    return (
        isinstance(msg, dict) and msg.get("event") == "notice" and msg.get("code") == CLOSE_NOTICE
    )


def without(frame: Frame, markets: frozenset[str]) -> Frame | None:
    """A subscribe frame without the instruments of `markets` (None when nothing is left)."""
    old_args = frame.get("args") if isinstance(frame, dict) else None
    if not isinstance(frame, dict) or not isinstance(old_args, list):
        return frame
    args = [
        a
        for a in old_args
        if not isinstance(a, dict) or market_of_symbol(EXCHANGE, a.get("instId")) not in markets
    ]
    return {**frame, "args": args} if args else None


def listing(endpoint: Endpoints) -> PollSpec:
    """Which swaps OKX lists: the instruments request, which also gives the contract sizes (so
    it is recorded and parsed like any REST answer)."""
    rest = endpoint.rest_url.rstrip("/")
    return PollSpec(
        feed=EXCHANGE,
        exchange=EXCHANGE,
        endpoint=INSTRUMENTS_ENDPOINT,
        url=f"{rest}{INSTRUMENTS_ENDPOINT}",
        interval_s=0,
    )


def listed_markets(msg: object) -> frozenset[str]:
    """Market keys of the linear USDT swaps in an instruments answer."""
    return frozenset(
        m for m in (market_of_symbol(EXCHANGE, i) for i in parse_instruments(msg)) if m
    )


def subscription_args(symbols: Sequence[str]) -> list[dict[str, str]]:
    args = [{"channel": "liquidation-orders", "instType": "SWAP"}]  # instType only (feeds.md §2.3)
    for market in symbols:
        inst_id = exchange_symbol(EXCHANGE, market)
        for channel in ("open-interest", "mark-price", "funding-rate", "trades"):
            args.append({"channel": channel, "instId": inst_id})
    return args


def plan(symbols: Sequence[str], endpoint: Endpoints, feeds: FeedOptions) -> FeedPlan:
    """Contract sizes first; public connections (at most `feeds.streams_per_connection`
    channels each) for liquidations of every swap plus open interest, mark price, funding and
    trades of the watched markets; REST order books."""
    rest = endpoint.rest_url.rstrip("/")
    instruments = listing(endpoint)
    streams = [
        StreamSpec(
            feed=EXCHANGE,
            exchange=EXCHANGE,
            url=endpoint.ws_url,
            subscribe=subscribe_frames(group),
            ping_frame=PING_FRAME,
            ping_interval_s=PING_INTERVAL_S,
            stale_after_s=parse_duration(feeds.stale_after) / 1000,
            max_age_s=parse_duration(feeds.renew_after) / 1000,
            liquidations_complete=SPEC.liquidations_complete,
            renew_when=close_notice,
            without=without,
        )
        for group in chunked(subscription_args(symbols), feeds.streams_per_connection)
    ]
    polls = [
        PollSpec(
            feed=EXCHANGE,
            exchange=EXCHANGE,
            endpoint=INSTRUMENTS_ENDPOINT,
            url=f"{rest}{INSTRUMENTS_ENDPOINT}",
            interval_s=INSTRUMENTS_REFRESH_S,
            initial_delay_s=INSTRUMENTS_REFRESH_S,  # the startup request just fetched them
        )
    ]
    for market in symbols:
        query = f"instId={exchange_symbol(EXCHANGE, market)}&sz={BOOK_LEVELS}"
        polls.append(
            PollSpec(
                feed=EXCHANGE,
                exchange=EXCHANGE,
                endpoint=f"{BOOKS_PATH}?{query}",
                url=f"{rest}{BOOKS_PATH}?{query}",
                interval_s=parse_duration(feeds.depth_poll) / 1000,
            )
        )
    return FeedPlan(streams=streams, polls=polls, startup=[instruments])


SWAP_SUFFIX = "-USDT-SWAP"


def to_symbol(key: str) -> str:
    return f"{key}{SWAP_SUFFIX}"


def from_symbol(symbol: str) -> str | None:
    return symbol[: -len(SWAP_SUFFIX)] if symbol.endswith(SWAP_SUFFIX) else None


async def fetch_tiers(get_json: GetJson, rest_url: str, market: str) -> dict[str, Any]:
    """OKX swap position tiers (GET /api/v5/public/position-tiers, public) in base units."""
    inst = f"{market}-USDT-SWAP"
    family = f"{market}-USDT"
    doc = await get_json(f"{rest_url}/api/v5/public/instruments?instType=SWAP&instId={inst}")
    data = doc.get("data") if isinstance(doc, dict) else None
    if not data:
        raise RuntimeError(f"okx instruments {inst}: {doc}")
    ct_val = float(data[0]["ctVal"])
    url = (
        f"{rest_url}/api/v5/public/position-tiers?instType=SWAP&tdMode=isolated&instFamily={family}"
    )
    doc = await get_json(url)
    if not isinstance(doc, dict) or str(doc.get("code")) != "0":
        raise RuntimeError(f"okx position-tiers {family}: {doc}")
    rows = [r for r in doc.get("data", []) if r.get("instFamily", family) == family]
    tiers = []
    for r in sorted(rows, key=lambda r: int(r["tier"])):
        cap = float(r["maxSz"]) * ct_val
        tiers.append([cap, float(r["maxLever"]), float(r["mmr"]), 0.0])
    if not tiers:
        raise RuntimeError(f"okx position-tiers {family}: no tiers")
    return {"exchange": "okx", "symbol": market, "cap_unit": "base", "url": url, "tiers": tiers}


SPEC = ExchangeSpec(
    id=EXCHANGE,
    name="OKX",
    short="okx",
    ws_url="wss://ws.okx.com:8443/ws/v5/public",
    rest_url="https://www.okx.com",
    liquidations="throttled",  # at most one order per contract per second
    parser=Parser,
    plan=plan,
    rest_limit=REST_LIMIT,
    listing=listing,
    listed_markets=listed_markets,
    to_symbol=to_symbol,
    from_symbol=from_symbol,
    known_multiples=(),  # OKX lists plain assets (contract sizes carry the multiple)
    # OKX adds the taker fee to the maintenance requirement; its tiers have no amount.
    margin=MarginRule(
        form="divided", tier1_mmr=0.004, fee_in_maintenance=0.0005, maint_amount=False
    ),
    ccxt_id="okx",
    ccxt_config=lambda rest: {
        "urls": {"api": {"rest": rest}},
        "options": {"fetchMarkets": {"types": ["swap"]}},
    },
    ccxt_market=ccxt_usdt_market,
    fetch_tiers=fetch_tiers,
    tiers="position tiers: GET /api/v5/public/position-tiers (public; calibrate --refresh-tiers)",
    history=HISTORY,
)
