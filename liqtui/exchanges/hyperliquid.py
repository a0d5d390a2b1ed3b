"""Hyperliquid perpetuals: parsers for its public WebSocket and info endpoint (feeds.md §2.5).

Hyperliquid has NO public market-wide liquidation feed: liquidations reach only the liquidated
wallet (`userFills`/`userEvents`), so this module never emits a Liquidation. It gives what the
model can still use: mark price and funding plus open interest (`activeAssetCtx`, fallback
`metaAndAssetCtxs`), taker flow aggregated from `trades`, and order-book depth (`l2Book`).

- Coins are the market keys ("BTC"); Hyperliquid's kilo-coins ("kPEPE", priced per 1000 PEPE)
  are read as the listing key "1000PEPE", which dispatch turns into the market "PEPE" (per 1 PEPE,
  liqtui.markets), so they combine with Binance 1000PEPEUSDT and OKX PEPE-USDT-SWAP.
- `openInterest` is in coin units and counts one side (a long and a short make one unit).
- `funding` is Hyperliquid's HOURLY rate (it settles every hour), passed through unchanged.
- Trade `side` is the aggressor's: "B" = taker bought, "A" = taker sold.
- Asset contexts carry no timestamp: they are stamped with the receive time (`Parser.now_ms`).

History (backfill): there is NO public open-interest history, so a backfill gives Hyperliquid no
E (the local store is its only history); `candleSnapshot` 1m bars (only the latest 5,000, about
3.5 days; weight 20 plus 1 per 60 bars) give the price path and volume. Candles carry no quote
volume and no taker split: VWAP is taken as the close, half the volume as bought.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from liqtui.events import MarketEvent, MarkPrice, OpenInterest
from liqtui.exchanges.common import (
    MinuteFlows,
    Trade,
    bar_events,
    batch,
    field,
    guard,
    item_times,
    levels_array,
    number,
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
    HistoryPage,
    HistoryPlan,
    HistoryRequest,
    HistorySeries,
    MarginRule,
    NotTracked,
    ParseError,
    PollSpec,
    RateLimit,
    Refused,
    StreamSpec,
    chunked,
    parse_duration,
)
from liqtui.markets import (
    canonical,
    from_exchange_symbol,
    listing_key,
    remember_listing,
    split_multiple,
)

EXCHANGE = "hyperliquid"
NOTE = "no public liquidation feed: open interest and mark price only"
PING_FRAME: dict[str, object] = {"method": "ping"}
MAX_SUBSCRIPTIONS = 1000  # per IP (Hyperliquid rate limits); two per market
# REST: 1,200 weight a minute per IP; info `l2Book` weighs 2, `meta` and `metaAndAssetCtxs` 20.
REST_LIMIT = RateLimit(weight=1200, per_s=60.0)
L2_BOOK_WEIGHT = 2
META_WEIGHT = 20
_COIN_RE = re.compile(r'"coin"\s*:\s*"([^"]+)"')
# Sent by the server right after the WebSocket opens (a plain text frame, not JSON).
_GREETING = "Websocket connection established."
_KILO_RE = re.compile(r"^k([A-Z][A-Z0-9]*)$")  # kPEPE: 1000 PEPE per unit
_THOUSAND_RE = re.compile(r"^1000([A-Z][A-Z0-9]*)$")
# Real Hyperliquid names that are not its USDC perpetuals liqtui follows: spot pairs ("@107",
# "PURR/USDC") and builder-deployed (HIP-3) perp dexes ("xyz:TSLA").
_UNTRACKED_RE = re.compile(r"^(@[0-9]+|[^/\s]+/[^/\s]+|[a-z0-9]+:[^:\s]+)$")


def _wall_ms() -> int:
    return int(time.time() * 1000)


def coin_of(market: str) -> str:
    """Hyperliquid's coin name for a market ("PEPE" → "kPEPE", "BTC" → "BTC")."""
    m = _THOUSAND_RE.match(listing_key(EXCHANGE, market))
    return f"k{m.group(1)}" if m else market


def market_of(coin: object) -> str:
    """Listing key for a Hyperliquid coin name ("kPEPE" → "1000PEPE": its market is
    `canonical` of it). Raises NotTracked or ParseError."""
    if not isinstance(coin, str) or not coin:
        raise ParseError(f"coin {coin!r} is not a name")
    m = _KILO_RE.match(coin)
    if m:
        remember_listing(EXCHANGE, f"1000{m.group(1)}")
        return f"1000{m.group(1)}"
    market = from_exchange_symbol(EXCHANGE, coin)
    if market is not None:
        return market
    if _UNTRACKED_RE.match(coin):
        raise NotTracked(coin)
    raise ParseError(f"unknown coin {coin!r}")


def parse_asset_ctx(coin: object, ctx: object, time_ms: int, where: str) -> list[MarketEvent]:
    """A perpetual's asset context → its mark price (with funding) and open interest."""
    market = market_of(coin)
    if not isinstance(ctx, dict):
        raise ParseError(f"{where}: ctx is not an object")
    funding = ctx.get("funding")
    oi = number(field(ctx, "openInterest", where), f"{where}.openInterest")
    if oi < 0:
        raise ParseError(f"{where}.openInterest: {oi!r} is negative")
    return [
        MarkPrice(
            exchange=EXCHANGE,
            symbol=market,
            time_ms=time_ms,
            mark_price=positive(field(ctx, "markPx", where), f"{where}.markPx"),
            funding_rate=None if funding in (None, "") else number(funding, f"{where}.funding"),
        ),
        OpenInterest(exchange=EXCHANGE, symbol=market, time_ms=time_ms, open_interest=oi),
    ]


def parse_active_asset_ctx(data: object, time_ms: int) -> list[MarketEvent]:
    """The `activeAssetCtx` channel's data: {"coin": "BTC", "ctx": {...}}."""
    if not isinstance(data, dict):
        raise ParseError("activeAssetCtx: data is not an object")
    return parse_asset_ctx(
        field(data, "coin", "activeAssetCtx"), field(data, "ctx", "activeAssetCtx"), time_ms,
        "activeAssetCtx",
    )  # fmt: skip


def parse_trade(item: object) -> Trade:
    """One element of the `trades` channel's data list."""
    if not isinstance(item, dict):
        raise ParseError("trades: element is not an object")
    side = field(item, "side", "trades")
    if side not in ("B", "A"):
        raise ParseError(f"trades: side {side!r} is not B or A")
    tid = field(item, "tid", "trades")
    if isinstance(tid, bool) or not isinstance(tid, int):
        raise ParseError(f"trades: tid {tid!r} is not an integer")
    return Trade(
        market=market_of(field(item, "coin", "trades")),
        time_ms=timestamp_ms(field(item, "time", "trades"), "trades.time"),
        price=positive(field(item, "px", "trades"), "trades.px"),
        base=positive(field(item, "sz", "trades"), "trades.sz"),
        taker_buy=side == "B",  # "B": the aggressor bought (hit the ask)
        trade_id=tid,
    )


def parse_trades(data: object) -> list[Trade]:
    """All trades of one push, validated before any of them is counted."""
    if not isinstance(data, list):
        raise ParseError("trades: data is not a list")
    trades: list[Trade] = []
    for item in data:
        try:
            trades.append(parse_trade(item))
        except NotTracked:
            continue
    return trades


def _rest_query(endpoint: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(endpoint)
    return parts.path, parse_qs(parts.query)


def _book_side(levels: object, name: str) -> list[tuple[object, object]]:
    if not isinstance(levels, list):
        raise ParseError(f"{name}: expected a list of levels")
    out = []
    for level in levels:
        if not isinstance(level, dict):
            raise ParseError(f"{name}: level is not an object")
        out.append((field(level, "px", name), field(level, "sz", name)))
    return out


def parse_l2_book(endpoint_coin: str | None, msg: object) -> list[MarketEvent]:
    """info `l2Book` → BookDepth. Sizes are in coin units; `time` is the exchange's."""
    if not isinstance(msg, dict):
        raise ParseError("l2Book: expected an object (unknown coin?)")
    coin = msg.get("coin", endpoint_coin)
    levels = field(msg, "levels", "l2Book")
    if not isinstance(levels, list) or len(levels) != 2:
        raise ParseError("l2Book: levels is not [bids, asks]")
    bids = levels_array(_book_side(levels[0], "l2Book.bids"), "l2Book.bids")
    asks = levels_array(_book_side(levels[1], "l2Book.asks"), "l2Book.asks")
    return [
        reduce_book(
            EXCHANGE,
            market_of(coin),
            timestamp_ms(field(msg, "time", "l2Book"), "l2Book.time"),
            bids,
            asks,
        )
    ]


class Parser:
    """Keeps the open minute of taker flow per market (trades arrive one by one) and the max
    leverage per market from the info `universe`.

    Asset contexts have no timestamp, so they take the receive time: `receive_ms` when the
    caller sets it (the recorded time in replay), else `clock()`.
    """

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self.clock: Callable[[], int] = clock or _wall_ms
        self.receive_ms: int | None = None
        self.max_leverage: dict[str, float] = {}  # market key → max leverage (MMR = 1/(2·L))
        self._flows = MinuteFlows(EXCHANGE)

    def now_ms(self) -> int:
        return self.receive_ms if self.receive_ms is not None else self.clock()

    # -- WebSocket ----------------------------------------------------------------------------
    def __call__(self, msg: object) -> list[MarketEvent] | None:
        return guard(lambda: self._message(msg))

    def _message(self, msg: object) -> list[MarketEvent] | None:
        if msg == _GREETING:
            return None
        if not isinstance(msg, dict):
            raise ParseError(f"expected a JSON object, got {type(msg).__name__}")
        channel = msg.get("channel")
        if not isinstance(channel, str):
            raise ParseError("no 'channel'")
        if channel == "activeAssetCtx":
            return parse_active_asset_ctx(field(msg, "data", channel), self.now_ms())
        if channel == "trades":
            return self._trades(parse_trades(field(msg, "data", channel)))
        if channel == "error":
            raise _refusal(msg.get("data"))
        return None  # subscriptionResponse, pong, channels liqtui does not use

    def _trades(self, trades: list[Trade]) -> list[MarketEvent]:
        """Add trades to their market's open minute; a trade of a later minute closes it."""
        return list(self._flows.add(trades))

    @property
    def duplicate_trades(self) -> int:  # seen again (a resubscription replays recent trades)
        return self._flows.duplicates

    @property
    def late_trades(self) -> int:  # for a minute already closed and emitted
        return self._flows.late

    # -- REST ---------------------------------------------------------------------------------
    def rest(self, endpoint: str, msg: object) -> list[MarketEvent] | None:
        return guard(lambda: self._rest(endpoint, msg), f"REST {endpoint}: ")

    def _rest(self, endpoint: str, msg: object) -> list[MarketEvent] | None:
        path, query = _rest_query(endpoint)
        kind = query.get("type", [None])[0]
        if not path.endswith("/info"):
            return None
        if kind == "metaAndAssetCtxs":
            coins = query.get("coins")
            watched = set(coins[0].split(",")) if coins else None
            return self._meta_and_asset_ctxs(msg, watched)
        if kind == "l2Book":
            return parse_l2_book(query.get("coin", [None])[0], msg)
        if kind == "candleSnapshot":
            return parse_candles(query.get("coin", [None])[0], msg)
        return None

    def _meta_and_asset_ctxs(self, msg: object, watched: set[str] | None) -> list[MarketEvent]:
        """[{"universe": [...]}, [ctx, ...]] (aligned by index) → events for the watched coins
        (all when None); the max leverage of every perpetual is kept."""
        if not isinstance(msg, list) or len(msg) != 2:
            raise ParseError("metaAndAssetCtxs: expected [meta, assetCtxs]")
        meta, ctxs = msg
        if not isinstance(meta, dict):
            raise ParseError("metaAndAssetCtxs: meta is not an object")
        universe = field(meta, "universe", "metaAndAssetCtxs")
        if not isinstance(universe, list) or not isinstance(ctxs, list):
            raise ParseError("metaAndAssetCtxs: universe or assetCtxs is not a list")
        if len(universe) != len(ctxs):
            raise ParseError("metaAndAssetCtxs: universe and assetCtxs differ in length")
        now = self.now_ms()
        leverage: dict[str, float] = {}
        events: list[MarketEvent] = []
        for asset, ctx in zip(universe, ctxs, strict=True):
            if not isinstance(asset, dict):
                raise ParseError("metaAndAssetCtxs: universe entry is not an object")
            coin = field(asset, "name", "universe")
            try:
                market = market_of(coin)
            except (NotTracked, ParseError):
                # Spot, HIP-3 or an unfamiliar new name: skip it unless it is a watched coin.
                if isinstance(coin, str) and (watched is None or coin not in watched):
                    continue
                raise
            leverage[canonical(market)] = positive(
                field(asset, "maxLeverage", "universe"), "universe.maxLeverage"
            )
            if watched is None or coin in watched:
                events += parse_asset_ctx(coin, ctx, now, "assetCtxs")
        self.max_leverage.update(leverage)  # only once the whole response is valid
        return events


def _refusal(data: object) -> Refused:
    """The error channel: a refused subscription names its coin ("Already subscribed" is not a
    refusal of the market)."""
    text = data if isinstance(data, str) else json.dumps(data)
    markets: set[str] = set()
    if not text.startswith("Already subscribed"):
        for coin in _COIN_RE.findall(text):
            try:
                markets.add(canonical(market_of(coin)))
            except (NotTracked, ParseError):
                continue
    return Refused(f"server error: {text[:160]!r}", tuple(sorted(markets)))


def without(frame: Frame, markets: frozenset[str]) -> Frame | None:
    """A subscribe frame, or None when it subscribes a coin of `markets`."""
    sub = frame.get("subscription") if isinstance(frame, dict) else None
    coin = sub.get("coin") if isinstance(sub, dict) else None
    if coin is None:
        return frame
    try:
        return None if canonical(market_of(coin)) in markets else frame
    except (NotTracked, ParseError):
        return frame


def listing(endpoint: Endpoints) -> PollSpec:
    """The request that says which perpetuals Hyperliquid lists (info `meta`)."""
    return PollSpec(
        feed=EXCHANGE,
        exchange=EXCHANGE,
        endpoint="/info?type=meta",
        url=f"{endpoint.rest_url}/info",
        interval_s=0,
        method="POST",
        body={"type": "meta"},
        weight=META_WEIGHT,
        deliver=False,
    )


def listed_markets(msg: object) -> frozenset[str]:
    """Market keys of the perpetuals in an info `meta` answer (delisted ones left out)."""
    universe = msg.get("universe") if isinstance(msg, dict) else None
    if not isinstance(universe, list):
        raise ParseError("meta: no 'universe' list")
    listed = set()
    for asset in universe:
        if not isinstance(asset, dict) or asset.get("isDelisted"):
            continue
        try:
            listed.add(canonical(market_of(asset.get("name"))))
        except (NotTracked, ParseError):
            continue
    return frozenset(listed)


def plan(symbols: Sequence[str], endpoint: Endpoints, feeds: FeedOptions) -> FeedPlan:
    """WebSockets (at most `feeds.streams_per_connection` subscriptions each) with
    `activeAssetCtx` (mark, funding, OI) and `trades` per watched coin; POST /info polls:
    `metaAndAssetCtxs` (fallback OI and mark, max leverage) and `l2Book`."""
    coins = [coin_of(m) for m in symbols][: MAX_SUBSCRIPTIONS // 2]
    note = NOTE
    if len(coins) < len(symbols):
        note += f" (first {len(coins)} markets: subscription limit)"
    subscribe: list[dict[str, object]] = [
        {"method": "subscribe", "subscription": {"type": kind, "coin": coin}}
        for coin in coins
        for kind in ("activeAssetCtx", "trades")
    ]
    stale_after_s = parse_duration(feeds.stale_after) / 1000
    streams = [
        StreamSpec(
            feed=EXCHANGE,
            exchange=EXCHANGE,
            url=endpoint.ws_url,
            subscribe=group,
            ping_frame=PING_FRAME,
            # The server drops connections idle for 60 s; the pong also keeps a quiet stream
            # from looking stale, so ping well within stale_after.
            ping_interval_s=min(20.0, stale_after_s / 3),
            stale_after_s=stale_after_s,
            max_age_s=parse_duration(feeds.renew_after) / 1000,
            liquidations_complete=SPEC.liquidations_complete,  # no liquidation feed at all
            without=without,
        )
        for group in chunked(subscribe, feeds.streams_per_connection)
    ]
    info = f"{endpoint.rest_url}/info"
    polls = [
        PollSpec(
            feed=EXCHANGE,
            exchange=EXCHANGE,
            # The body does not name coins; the endpoint name does, so replay emits the same.
            endpoint=f"/info?type=metaAndAssetCtxs&coins={','.join(coins)}",
            url=info,
            interval_s=parse_duration(feeds.oi_poll) / 1000,
            method="POST",
            body={"type": "metaAndAssetCtxs"},
            weight=META_WEIGHT,
        )
    ]
    for coin in coins:
        polls.append(
            PollSpec(
                feed=EXCHANGE,
                exchange=EXCHANGE,
                endpoint=f"/info?type=l2Book&coin={coin}",
                url=info,
                interval_s=parse_duration(feeds.depth_poll) / 1000,
                method="POST",
                body={"type": "l2Book", "coin": coin},
                weight=L2_BOOK_WEIGHT,
            )
        )
    return FeedPlan(streams=streams, polls=polls if coins else [], note=note)


# -- history ------------------------------------------------------------------------------------
CANDLES_KEPT = 5000  # candleSnapshot serves only the most recent 5,000 bars of an interval
CANDLES_PAGE = 2500
CANDLE_WEIGHT = 20 + CANDLES_PAGE / 60  # 20, plus 1 per 60 bars returned


def _candles_request(symbol: str, start: int, end: int, cursor: str | None) -> HistoryRequest:
    # The body does not go into recordings; the endpoint names what it asked for.
    kilo = _THOUSAND_RE.match(symbol)
    coin = f"k{kilo.group(1)}" if kilo else symbol  # 1000PEPE is the coin kPEPE
    return HistoryRequest(
        endpoint=f"/info?type=candleSnapshot&coin={coin}&interval=1m&startTime={start}"
        f"&endTime={end}",
        method="POST",
        body={"type": "candleSnapshot",
              "req": {"coin": coin, "interval": "1m", "startTime": start, "endTime": end}},
        weight=CANDLE_WEIGHT,
    )  # fmt: skip


def _candles_page(msg: object) -> HistoryPage:
    if not isinstance(msg, list):
        return HistoryPage(error=f"candleSnapshot: {str(msg)[:80]}")
    return HistoryPage(item_times(msg, lambda item: item["t"]))  # type: ignore[index]


def _candle(market: str, item: object) -> list[MarketEvent]:
    """{"t": start, "T": end, "s": coin, "i": "1m", "o", "c", "h", "l", "v": base, "n"}"""
    if not isinstance(item, dict):
        raise ParseError("a candle is not an object")
    start = timestamp_ms(field(item, "t", "candle"), "candle.t")
    bar = (
        positive(field(item, "o", "candle"), "candle.o"),
        positive(field(item, "h", "candle"), "candle.h"),
        positive(field(item, "l", "candle"), "candle.l"),
        positive(field(item, "c", "candle"), "candle.c"),
    )
    volume = number(field(item, "v", "candle"), "candle.v")
    return bar_events(EXCHANGE, market, start, bar, volume=volume, quote=None, taker_buy=None)


def parse_candles(coin: str | None, msg: object) -> list[MarketEvent]:
    """A candleSnapshot answer → each bar's marks and flow (malformed bars: PartlyBad)."""
    if not isinstance(msg, list):
        raise ParseError("candleSnapshot: expected a list of candles")
    market = market_of(coin)  # the listing key ("1000PEPE"): dispatch makes it PEPE units
    return batch(msg, lambda item: _candle(market, item), "candleSnapshot")


HISTORY = HistoryPlan(
    series=(
        HistorySeries("klines", 60_000, CANDLES_PAGE, CANDLES_KEPT * 60_000, _candles_request,
                      _candles_page),
    ),
    note="no public open-interest history: E comes from the local store only",
)  # fmt: skip


def ccxt_market(market: Mapping[str, Any]) -> tuple[str, float] | None:
    """Listing key and units per contract of a ccxt Hyperliquid swap (kPEPE: 1,000 PEPE)."""
    base = str(market.get("baseName") or market.get("base") or "")
    try:
        key = canonical(market_of(base))
    except (NotTracked, ParseError):
        return None
    if base.startswith("k") and base[1:2].isupper():
        return key, 1000.0
    return key, split_multiple(base.upper())[1]


SPEC = ExchangeSpec(
    id=EXCHANGE,
    name="Hyperliquid",
    short="hyperliq",
    ws_url="wss://api.hyperliquid.xyz/ws",
    rest_url="https://api.hyperliquid.xyz",
    liquidations="none",  # liquidations reach only the liquidated wallet
    parser=Parser,
    plan=plan,
    rest_limit=REST_LIMIT,
    listing=listing,
    listed_markets=listed_markets,
    to_symbol=lambda key: key,  # coins are the market keys (kPEPE is the key 1000PEPE)
    from_symbol=lambda symbol: symbol,
    known_multiples=(
        "1000PEPE",
        "1000SHIB",
        "1000BONK",
        "1000FLOKI",
        "1000LUNC",
        "1000DOGS",
        "1000NEIRO",
    ),
    # MMR = 1/(2 × max leverage) of the market's tier (BTC: 40x → 1.25%), no maintenance amount.
    margin=MarginRule(
        form="divided", tier1_mmr=1.0 / (2 * 40), maint_amount=False, mmr_from_max_leverage=True
    ),
    ccxt_id="hyperliquid",
    ccxt_config=lambda rest: {
        "urls": {"api": {"public": rest}},
        "options": {"fetchMarkets": {"types": ["swap"]}},
    },
    ccxt_market=ccxt_market,
    tiers="max leverage per coin: info metaAndAssetCtxs (shipped defaults in brackets.toml)",
    history=HISTORY,
)
