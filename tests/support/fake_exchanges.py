"""Binance, Bybit, OKX and Hyperliquid on 127.0.0.1, speaking their public protocols, with the
market simulator's data. For end-to-end tests, benchmarks, and a developer's liqtui:

    python tests/support/fake_exchanges.py --port 0  # prints a config file for `liqtui --config`

`FakeExchanges` is one aiohttp server (port 0 by default) with a path prefix per exchange:

    binance      ws   /binance/market/stream?streams=a/b     combined streams (envelopes)
                 ws   /binance/market/ws[/<n>]               JSON SUBSCRIBE frames, raw events
                 GET  /binance/fapi/v1/openInterest, /binance/fapi/v1/depth, exchangeInfo
    bybit        ws   /bybit/v5/public/linear                subscribe + ack, {"op":"ping"} → pong
                 GET  /bybit/v5/market/orderbook, /bybit/v5/market/instruments-info
    okx          ws   /okx/ws/v5/public                      subscribe + ack per arg, ping → pong
                 GET  /okx/api/v5/public/instruments, /okx/api/v5/market/books
    hyperliquid  ws   /hyperliquid/ws                        subscriptionResponse, ping → pong
                 POST /hyperliquid/info                      meta, metaAndAssetCtxs, l2Book,
                                                             candleSnapshot
    history      GET  binance openInterestHist, klines, fundingRate; bybit open-interest, kline,
                      funding/history; okx rubik open-interest-history, history-candles,
                      funding-rate-history (tests/support/fake_history.py: shapes, limits,
                      caps, 429, short pages, gaps; `fake.history.fault(exchange)`)

`endpoints()` gives each exchange's liqtui.config.Endpoint; `write_config()` a TOML file.

Content: `liqtui.demo.MarketSimulator` (deterministic for a seed) produces normalized events
for binance, bybit and okx; each is encoded into the exchange's own message, in its own words:
- Binance: `forceOrder` on `!forceOrder@arr` (every market), S is the order side (SELL closes a
  long), `ap` and `z` in base units; `markPriceUpdate` every second; `kline_1m` (the closed bar,
  then the new bar's first update). Open interest over REST only, as on the real exchange.
- Bybit: `allLiquidation.<SYM>` batches, S is the position side (Buy: a long was liquidated),
  `p` the bankruptcy price = liquidation price × (1 − 0.005) for a long, × (1 + 0.005) for a
  short (liqtui places the print at `p` as reported); `tickers` snapshot then deltas (a missing
  field is unchanged; `singleOpenInterest` one side, `openInterest` both sides); `publicTrade`.
- OKX: `liquidation-orders` for every swap (3 s of prints per push: several `details` per
  instrument in a cascade, plus inverse swaps liqtui skips), `side` the order side, `sz` in
  contracts (quantity / ctVal), `bkPx` = the price (OKX's liquidation mark price);
  `open-interest`, `mark-price`, `funding-rate`, `trades` in contracts; REST instruments (ctVal)
  and books in contracts.
- Hyperliquid: `activeAssetCtx` (mark, hourly funding, one-side OI) and `trades`, derived from the
  simulated Binance market (no liquidations: Hyperliquid has no public liquidation feed).

Time: at start() the simulator is warmed up (not sent), then `history_ms` of market is produced
at once, ending at the wall clock. The first connection to an exchange receives that backlog as
fast as it reads (a burst). After it the market runs at `speed` × real time (None: as fast as the
slowest reader). `pause()`/`resume()` stop and restart the market, `advance(ms)` produces a
stretch at once, `cascade()` starts a market-wide liquidation cascade now.

Connections follow a per-exchange log of messages. `kill()` drops every connection (abruptly by
default: the socket is reset mid-burst, like a network failure) and leaves a resume point: the
next connection to that exchange first receives again the liquidation and trade messages written
in the last `overlap_s` seconds before the drop (some of them the client already has: its dedupe
must count them once), then everything produced since. Latest-value streams (marks, tickers, open
interest, asset contexts) are not replayed; a (re)subscription gets their current value first,
as on the real exchanges. REST answers describe the market at the point the streams have reached.

Accounting for tests: `delivered(exchange)` are the distinct liquidation items written to a
socket, `produced(exchange)` every one the exchange produced, `resent(exchange)` how many were
written again in an overlap; `errors` lists protocol violations by clients.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import dataclasses
import json
import math
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from liqtui import demo
from liqtui.config import Endpoint, parse_duration
from liqtui.demo import MarketSimulator
from liqtui.events import Liquidation, MarketEvent, MarkPrice, OpenInterest, TradeFlow
from liqtui.exchanges.hyperliquid import coin_of
from liqtui.markets import exchange_symbol

try:
    from support.fake_history import HistoryServer, MarketHistory
except ImportError:  # run as a script: python tests/support/fake_exchanges.py
    from fake_history import HistoryServer, MarketHistory  # type: ignore[no-redef]

EXCHANGES: tuple[str, ...] = ("binance", "bybit", "okx", "hyperliquid")
BYBIT_MMR = 0.005  # allLiquidation `p`: the bankruptcy price, the maintenance rate beyond
BINANCE_ORDER_OFFSET = 0.004  # forceOrder `p` (the IOC limit) lies this much beyond the fill `ap`
CT_VAL = {"BTC": 0.01, "ETH": 0.1, "SOL": 1.0, "XRP": 100.0, "DOGE": 1000.0, "BNB": 0.01}
HL_MAX_LEVERAGE = {"BTC": 40, "ETH": 25, "SOL": 20, "XRP": 20, "DOGE": 10, "BNB": 10}
HL_SHARE = 0.25  # Hyperliquid OI and taker flow, relative to Binance's
HL_BASIS = 2e-4  # Hyperliquid mark relative to Binance's
HL_GREETING = "Websocket connection established."
OKX_WINDOW_MS = 3_000  # one liquidation-orders push per 3 s (OKX: one print per contract per s)
BOOK_LEVELS = 200
MINUTE_MS = 60_000

EVENT = "event"  # a print or trade: replayed in a resume overlap (clients dedupe them)
STATE = "state"  # a latest value (mark, ticker, OI): sent on subscribe, never replayed
LIVE = "live"  # neither (kline updates)


def wall_ms() -> int:
    return int(time.time() * 1000)


def num(x: float, decimals: int) -> str:
    """A decimal string with at most `decimals` places and no trailing zeros."""
    s = f"{x:.{max(decimals, 0)}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


def price_str(x: float) -> str:
    """About 8 significant digits, as exchanges quote prices."""
    whole = len(str(int(abs(x)))) if abs(x) >= 1 else 0
    return num(x, max(8 - whole, 1))


def dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class SentLiquidation:
    """One liquidation item as the fake exchange wrote it."""

    exchange: str
    market: str  # liqtui market key ("BTC")
    inst: str  # the exchange's symbol or instId
    raw: dict[str, Any]  # Binance: the `o` object; Bybit: a data[] item; OKX: a details[] item
    key: tuple[object, ...]
    event: Liquidation  # what the simulator produced (before rounding to the exchange's units)


@dataclass(frozen=True, slots=True)
class Cascade:
    """A market-wide cascade: the price moves `move` (fraction, BTC scale) over `duration_ms`,
    then retraces part of it; `start_ms` counts from the start of the history."""

    start_ms: int
    duration_ms: int = 60_000
    move: float = 0.03
    direction: float = -1.0  # -1 down (longs liquidated), +1 up (shorts)
    retrace: float = 0.5
    recovery_ms: int = 180_000


@dataclass(slots=True)
class _Entry:
    seq: int
    topics: tuple[str, ...]
    text: str
    kind: str
    snapshot: str | None = None  # full-state form, first on a connection (Bybit tickers)
    raw: str | None = None  # Binance raw-stream form (no combined-stream envelope)
    liqs: tuple[SentLiquidation, ...] = ()
    sim_ms: int = 0


class _Series:
    """A value over log positions (for REST answers at the point the streams have reached)."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.values: list[Any] = []

    def set(self, seq: int, value: Any) -> None:
        self.seqs.append(seq)
        self.values.append(value)
        if len(self.seqs) > 20_000:
            del self.seqs[:10_000], self.values[:10_000]

    def at(self, seq: int) -> Any:
        i = bisect.bisect_right(self.seqs, seq) - 1
        return self.values[max(i, 0)] if self.values else None


@dataclass(eq=False)
class _Conn:
    venue: _Venue
    ws: web.WebSocketResponse
    request: web.Request
    ident: str
    raw_events: bool = False
    topics: set[str] = field(default_factory=set)
    cursor: int = 0
    start_cursor: int = 0
    fresh_from: int = 0
    started: bool = False
    starting: bool = False
    killed: bool = False
    closed: bool = False
    last_subscribe: float = 0.0
    first_sent: set[str] = field(default_factory=set)
    checkpoints: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=4096))
    follower: asyncio.Task[None] | None = None
    sent: int = 0

    def wants(self, entry: _Entry) -> bool:
        return any(t in self.topics for t in entry.topics)

    def text_for(self, entry: _Entry) -> str:
        if entry.snapshot is not None:
            topic = entry.topics[0]
            if topic not in self.first_sent:
                self.first_sent.add(topic)
                return entry.snapshot
        if self.raw_events and entry.raw is not None:
            return entry.raw
        return entry.text


class _Venue:
    """One exchange's message log, connections and accounting."""

    def __init__(self, name: str, max_entries: int) -> None:
        self.name = name
        self.max_entries = max_entries
        self.entries: list[_Entry] = []
        self.base = 0
        self.grew = asyncio.Event()
        self.state: dict[str, list[int]] = {}  # topic → seqs of its STATE entries
        self.series: dict[tuple[str, str], _Series] = {}
        self.conns: set[_Conn] = set()
        self.connections = 0  # WebSocket connections accepted, ever
        self.served = False
        self.resume: tuple[int, int] | None = None  # (cursor, fresh_from) after a kill
        self.present = 0  # the furthest log position any connection reached
        self.delivered: dict[tuple[object, ...], SentLiquidation] = {}
        self.produced: list[SentLiquidation] = []
        self.liq_messages = 0  # liquidation messages produced
        self.resent = 0
        self.liq_messages_sent = 0
        self.messages_sent = 0
        self.kills = 0
        self.dropped = 0  # entries trimmed before a slow connection sent them

    @property
    def head(self) -> int:
        return self.base + len(self.entries)

    def append(
        self,
        topics: tuple[str, ...],
        text: str,
        kind: str,
        sim_ms: int,
        *,
        snapshot: str | None = None,
        raw: str | None = None,
        liqs: tuple[SentLiquidation, ...] = (),
    ) -> None:
        entry = _Entry(self.head, topics, text, kind, snapshot, raw, liqs, sim_ms)
        self.entries.append(entry)
        if kind == STATE:
            for topic in topics:
                self.state.setdefault(topic, []).append(entry.seq)
        if liqs:
            self.produced.extend(liqs)
            self.liq_messages += 1
        if len(self.entries) > self.max_entries:
            cut = len(self.entries) // 4
            del self.entries[:cut]
            self.base += cut
            for seqs in self.state.values():
                i = bisect.bisect_left(seqs, self.base)
                del seqs[: max(i - 1, 0)]
        self.grew.set()
        self.grew = asyncio.Event()

    def latest_state(self, topic: str, before: int) -> _Entry | None:
        seqs = self.state.get(topic)
        if not seqs:
            return None
        i = bisect.bisect_left(seqs, before) - 1
        if i < 0 or seqs[i] < self.base:
            return None
        return self.entries[seqs[i] - self.base]

    def record(self, kind: str, market: str, value: Any) -> None:
        self.series.setdefault((kind, market), _Series()).set(self.head, value)

    def now(self, kind: str, market: str) -> Any:
        series = self.series.get((kind, market))
        return None if series is None else series.at(self.present)


@dataclass(frozen=True, slots=True)
class _Market:
    key: str  # liqtui market key
    usdt: str  # Binance and Bybit symbol
    swap: str  # OKX instId
    coin: str  # Hyperliquid coin
    qty_dec: int  # decimals of base quantities (the lot)
    ct_val: float  # OKX contract size, base units


def _market_info(key: str, price: float) -> _Market:
    dec = min(max(math.ceil(math.log10(price)) - 2, 0), 4)
    return _Market(
        key=key,
        usdt=exchange_symbol("binance", key),
        swap=exchange_symbol("okx", key),
        coin=coin_of(key),
        qty_dec=dec,
        ct_val=CT_VAL.get(key, 1.0),
    )


def inject_cascade(sim: MarketSimulator, cascade: Cascade, origin_ms: int) -> None:
    """Add a market-wide cascade to the simulator's own schedule of bursts.

    MarketSimulator has no public way to order a cascade: this uses demo's private burst
    schedule (`_bursts`, `_Burst`), so a change there fails here loudly rather than silently."""
    schedule = sim._bursts
    start = origin_ms + cascade.start_ms
    end = start + cascade.duration_ms
    burst = demo._Burst(
        schedule._count, start, end, float(cascade.direction), float(cascade.move),
        end + cascade.recovery_ms, float(cascade.retrace),
    )  # fmt: skip
    schedule._count += 1
    schedule._bursts.append(burst)


# -- encoding normalized events into each exchange's messages ------------------------------------
class _Encoder:
    """Turns the simulator's events into messages in each exchange's log, in time order."""

    def __init__(
        self, venues: dict[str, _Venue], markets: dict[str, _Market], offset_ms: int
    ) -> None:
        self.v = venues
        self.m = markets
        self.offset_ms = offset_ms  # simulator clock → exchange (wall) clock
        self._t: int | None = None
        self._seen: dict[str, set[tuple[object, ...]]] = {ex: set() for ex in EXCHANGES}
        # Bybit: liquidations of the open tick, ticker fields (current and last sent)
        self._bybit_liqs: dict[str, list[SentLiquidation]] = {}
        self._ticker: dict[str, dict[str, str]] = {k: {} for k in markets}
        self._ticker_sent: dict[str, dict[str, str]] = {k: {} for k in markets}
        self._cs = 1_000_000
        # OKX: the open push window
        self._okx_window: int | None = None
        self._okx_liqs: list[SentLiquidation] = []
        self._okx_funding: dict[str, tuple[str, int]] = {}
        self._okx_detail = 0
        # Hyperliquid: derived from Binance
        self._hl_oi: dict[str, float] = {}
        self._hl_funding: dict[str, float] = {}
        # Binance klines: the open bar's open price
        self._bar_open: dict[str, float] = {}
        self._ids = {"bybit": 0, "okx": 500_000_000, "hyperliquid": 900_000_000}

    # -- state at the start of the history -------------------------------------------------
    def initial(self, sim: MarketSimulator) -> None:
        t = sim.now_ms + self.offset_ms
        for key in self.m:
            price = sim.price(key)
            for ex in ("binance", "bybit", "okx"):
                oi = sim.open_interest(key, ex)
                self.v[ex].record("oi", key, (oi, t))
                self.v[ex].record("mark", key, (price, t))
            oi = sim.open_interest(key, "binance") * HL_SHARE
            self._hl_oi[key] = oi
            mark = price * (1 + HL_BASIS)
            self.v["hyperliquid"].record("ctx", key, (mark, oi, 1e-4 / 8, t))
            self.v["hyperliquid"].record("mark", key, (mark, t))

    # -- dispatch ----------------------------------------------------------------------------
    def feed(self, events: Iterable[MarketEvent], sim_now_ms: int) -> None:
        offset = self.offset_ms
        now_ms = sim_now_ms + offset
        for ev in events:
            if ev.exchange == "hyperliquid":
                continue  # derived from the simulated Binance market here (its own is ignored)
            ev = dataclasses.replace(ev, time_ms=ev.time_ms + offset)
            if ev.time_ms != self._t:
                self._flush_tick()
                self._t = ev.time_ms
            kind = type(ev)
            if kind is MarkPrice:
                self._mark(ev)  # type: ignore[arg-type]
            elif kind is Liquidation:
                self._liquidation(ev)  # type: ignore[arg-type]
            elif kind is OpenInterest:
                self._open_interest(ev)  # type: ignore[arg-type]
            elif kind is TradeFlow:
                self._flow(ev)  # type: ignore[arg-type]
        self._flush_tick()
        if self._okx_window is not None and now_ms >= self._okx_window + OKX_WINDOW_MS:
            self._flush_okx()

    def _flush_tick(self) -> None:
        t = self._t
        if t is None:
            return
        bybit = self.v["bybit"]
        for key, liqs in self._bybit_liqs.items():
            if liqs:
                m = self.m[key]
                msg = {"topic": f"allLiquidation.{m.usdt}", "type": "snapshot", "ts": t + 320,
                       "data": [x.raw for x in liqs]}  # fmt: skip
                bybit.append((f"allLiquidation.{m.usdt}",), dumps(msg), EVENT, t, liqs=tuple(liqs))
        self._bybit_liqs.clear()
        for key, fields in self._ticker.items():
            sent = self._ticker_sent[key]
            changed = {k: v for k, v in fields.items() if sent.get(k) != v}
            if not changed:
                continue
            m = self.m[key]
            self._cs += 1
            topic = f"tickers.{m.usdt}"
            delta = {"topic": topic, "type": "delta", "data": {"symbol": m.usdt, **changed},
                     "cs": self._cs, "ts": t}  # fmt: skip
            snap = {"topic": topic, "type": "snapshot", "data": {"symbol": m.usdt, **fields},
                    "cs": self._cs, "ts": t}  # fmt: skip
            bybit.append((topic,), dumps(delta), STATE, t, snapshot=dumps(snap))
            sent.update(changed)

    # -- marks -------------------------------------------------------------------------------
    def _mark(self, ev: MarkPrice) -> None:
        m = self.m[ev.symbol]
        t, mark = ev.time_ms, ev.mark_price
        funding = ev.funding_rate or 0.0
        if ev.exchange == "binance":
            low = m.usdt.lower()
            next_funding = (t // 28_800_000 + 1) * 28_800_000
            event = {"e": "markPriceUpdate", "E": t, "s": m.usdt, "p": price_str(mark),
                     "i": price_str(mark * (1 - 1e-4)), "P": price_str(mark * (1 + 5e-5)),
                     "r": f"{funding:.8f}", "T": next_funding}  # fmt: skip
            stream = f"{low}@markPrice@1s"
            self.v["binance"].append(
                (stream, f"{low}@markPrice"), dumps({"stream": stream, "data": event}), STATE, t,
                raw=dumps(event),
            )  # fmt: skip
            self.v["binance"].record("mark", m.key, (mark, t))
            self._bar_open.setdefault(m.key, mark)
            self._hyperliquid_ctx(m, mark * (1 + HL_BASIS), funding / 8, t)
        elif ev.exchange == "bybit":
            fields = self._ticker[m.key]
            fields["lastPrice"] = price_str(mark * (1 + 2e-5))
            fields["markPrice"] = price_str(mark)
            fields["indexPrice"] = price_str(mark * (1 - 1e-4))
            fields["fundingRate"] = f"{funding:.6f}"
            fields["nextFundingTime"] = str((t // 28_800_000 + 1) * 28_800_000)
            self.v["bybit"].record("mark", m.key, (mark, t))
        elif ev.exchange == "okx":
            okx = self.v["okx"]
            item = {"instType": "SWAP", "instId": m.swap, "markPx": price_str(mark), "ts": str(t)}
            okx.append(
                (f"mark-price:{m.swap}",),
                dumps({"arg": {"channel": "mark-price", "instId": m.swap}, "data": [item]}),
                STATE, t,
            )  # fmt: skip
            okx.record("mark", m.key, (mark, t))
            rate = f"{funding:.8f}"
            last = self._okx_funding.get(m.key)
            if last is None or (last[0] != rate and t - last[1] >= 30_000):
                self._okx_funding[m.key] = (rate, t)
                nxt = (t // 28_800_000 + 1) * 28_800_000
                item = {"fundingRate": rate, "fundingTime": str(nxt), "instId": m.swap,
                        "instType": "SWAP", "method": "current_period",
                        "maxFundingRate": "0.00375", "minFundingRate": "-0.00375",
                        "nextFundingRate": "", "nextFundingTime": str(nxt + 28_800_000),
                        "premium": "0.0001", "settFundingRate": rate, "settState": "settled",
                        "ts": str(t)}  # fmt: skip
                okx.append(
                    (f"funding-rate:{m.swap}",),
                    dumps({"arg": {"channel": "funding-rate", "instId": m.swap}, "data": [item]}),
                    STATE, t,
                )  # fmt: skip

    def _hyperliquid_ctx(self, m: _Market, mark: float, funding: float, t: int) -> None:
        hl = self.v["hyperliquid"]
        oi = self._hl_oi[m.key]
        self._hl_funding[m.key] = funding
        hl.append(
            (f"activeAssetCtx:{m.coin}",),
            dumps({"channel": "activeAssetCtx",
                   "data": {"coin": m.coin, "ctx": hl_ctx(mark, oi, funding)}}),
            STATE, t,
        )  # fmt: skip
        hl.record("ctx", m.key, (mark, oi, funding, t))
        hl.record("mark", m.key, (mark, t))

    # -- open interest -------------------------------------------------------------------------
    def _open_interest(self, ev: OpenInterest) -> None:
        m = self.m[ev.symbol]
        t, oi = ev.time_ms, ev.open_interest
        if ev.exchange == "binance":
            self.v["binance"].record("oi", m.key, (oi, t))  # REST only, as on Binance
            self._hl_oi[m.key] = oi * HL_SHARE
        elif ev.exchange == "bybit":
            mark = self.v["bybit"].series[("mark", m.key)].values[-1][0]
            fields = self._ticker[m.key]
            fields["openInterest"] = num(2 * oi, 3)  # "the sum of both sides"
            fields["openInterestValue"] = num(2 * oi * mark, 2)
            fields["singleOpenInterest"] = num(oi, 3)
            fields["singleOpenInterestValue"] = num(oi * mark, 2)
            self.v["bybit"].record("oi", m.key, (oi, t))
        elif ev.exchange == "okx":
            okx = self.v["okx"]
            mark = okx.series[("mark", m.key)].values[-1][0]
            contracts = round(oi / m.ct_val)
            coins = contracts * m.ct_val
            item = {"instType": "SWAP", "instId": m.swap, "oi": str(contracts),
                    "oiCcy": num(coins, 6), "oiUsd": num(coins * mark, 2),
                    "ts": str(t)}  # fmt: skip
            okx.append(
                (f"open-interest:{m.swap}",),
                dumps({"arg": {"channel": "open-interest", "instId": m.swap}, "data": [item]}),
                STATE, t,
            )  # fmt: skip
            okx.record("oi", m.key, (coins, t))

    # -- liquidations --------------------------------------------------------------------------
    def _unique(self, ex: str, key: tuple[object, ...]) -> bool:
        seen = self._seen[ex]
        if key in seen:
            return False
        seen.add(key)
        if len(seen) > 500_000:
            seen.clear()
        return True

    def _liquidation(self, ev: Liquidation) -> None:
        m = self.m[ev.symbol]
        long = ev.side == "long"
        t = ev.time_ms
        lot = 10.0**-m.qty_dec
        qty = max(round(ev.quantity, m.qty_dec), lot)
        if ev.exchange == "binance":
            while True:
                z, ap = num(qty, m.qty_dec), price_str(ev.price)
                key: tuple[object, ...] = (m.usdt, t, "SELL" if long else "BUY", z, ap)
                if self._unique("binance", key):
                    break
                qty += lot
            order_px = ev.price * (1 - BINANCE_ORDER_OFFSET if long else 1 + BINANCE_ORDER_OFFSET)
            o = {"s": m.usdt, "S": "SELL" if long else "BUY", "o": "LIMIT", "f": "IOC", "q": z,
                 "p": price_str(order_px), "ap": ap, "X": "FILLED", "l": z, "z": z,
                 "T": t}  # fmt: skip
            event = {"e": "forceOrder", "E": t + 7, "o": o}
            sent = SentLiquidation("binance", m.key, m.usdt, o, key, ev)
            self.v["binance"].append(
                ("!forceOrder@arr", f"{m.usdt.lower()}@forceOrder"),
                dumps({"stream": "!forceOrder@arr", "data": event}), EVENT, t,
                raw=dumps(event), liqs=(sent,),
            )  # fmt: skip
        elif ev.exchange == "bybit":
            bankruptcy = ev.price * (1 - BYBIT_MMR if long else 1 + BYBIT_MMR)
            while True:
                v, p = num(qty, m.qty_dec), price_str(bankruptcy)
                key = (m.usdt, t, "Buy" if long else "Sell", v, p)
                if self._unique("bybit", key):
                    break
                qty += lot
            item = {"T": t, "s": m.usdt, "S": "Buy" if long else "Sell", "v": v, "p": p}
            self._bybit_liqs.setdefault(m.key, []).append(
                SentLiquidation("bybit", m.key, m.usdt, item, key, ev)
            )
        elif ev.exchange == "okx":
            window = t - t % OKX_WINDOW_MS
            if self._okx_window is not None and window != self._okx_window:
                self._flush_okx()
            self._okx_window = window
            contracts = max(round(ev.quantity / m.ct_val), 1)
            while True:
                sz, bk = str(contracts), price_str(ev.price)
                key = (m.swap, t, "sell" if long else "buy", sz, bk)
                if self._unique("okx", key):
                    break
                contracts += 1
            self._okx_detail += 1
            pos = "net" if self._okx_detail % 4 == 0 else ("long" if long else "short")
            detail = {"bkLoss": "0", "bkPx": bk, "ccy": "", "posSide": pos,
                      "side": "sell" if long else "buy", "sz": sz, "ts": str(t)}  # fmt: skip
            self._okx_liqs.append(SentLiquidation("okx", m.key, m.swap, detail, key, ev))

    def _flush_okx(self) -> None:
        liqs, self._okx_liqs = self._okx_liqs, []
        window, self._okx_window = self._okx_window, None
        if not liqs or window is None:
            return
        entries: dict[str, list[SentLiquidation]] = {}
        for liq in liqs:
            entries.setdefault(liq.inst, []).append(liq)
        data = []
        for inst, group in entries.items():
            family = inst.removesuffix("-SWAP")
            details = [liq.raw for liq in group]
            data.append({"details": details, "instFamily": family, "instId": inst,
                         "instType": "SWAP", "uly": family})  # fmt: skip
            # The channel covers every swap: the same market's inverse swap liquidates too.
            first = details[0]
            inverse = inst.replace("-USDT-SWAP", "-USD-SWAP")
            ct_val = self.m[group[0].market].ct_val
            usd = float(first["sz"]) * ct_val * float(first["bkPx"])
            data.append({"details": [{**first, "sz": str(max(round(usd / 100), 1))}],
                         "instFamily": inverse[:-5], "instId": inverse, "instType": "SWAP",
                         "uly": inverse[:-5]})  # fmt: skip
        msg = {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": data}
        t = max(liq.event.time_ms for liq in liqs)
        self.v["okx"].append(("liquidation-orders:SWAP",), dumps(msg), EVENT, t, liqs=tuple(liqs))

    # -- taker flow --------------------------------------------------------------------------
    def _flow(self, ev: TradeFlow) -> None:
        m = self.m[ev.symbol]
        end = ev.time_ms
        start = end - ev.interval_ms
        if ev.exchange == "binance":
            self._kline(m, ev)
            hl = TradeFlow("hyperliquid", ev.symbol, end, ev.interval_ms,
                           ev.taker_buy_base * HL_SHARE, ev.taker_sell_base * HL_SHARE,
                           ev.vwap * (1 + HL_BASIS),
                           ev.high * (1 + HL_BASIS) if ev.high else None,
                           ev.low * (1 + HL_BASIS) if ev.low else None)  # fmt: skip
            self._trades("hyperliquid", m, hl, start)
        else:
            self._trades(ev.exchange, m, ev, start)

    def _kline(self, m: _Market, ev: TradeFlow) -> None:
        t_end = ev.time_ms
        start = t_end - ev.interval_ms
        low = m.usdt.lower()
        stream = f"{low}@kline_1m"
        volume = round(ev.taker_buy_base + ev.taker_sell_base, m.qty_dec)
        buy = min(round(ev.taker_buy_base, m.qty_dec), volume)
        close = self.v["binance"].series[("mark", m.key)].values[-1][0]
        opened = self._bar_open.get(m.key, close)
        high = max(ev.high or close, opened, close)
        lowp = min(ev.low or close, opened, close)
        k = {"t": start, "T": t_end - 1, "s": m.usdt, "i": "1m", "f": 1, "L": 100,
             "o": price_str(opened), "c": price_str(close), "h": price_str(high),
             "l": price_str(lowp), "v": num(volume, m.qty_dec), "n": 100, "x": True,
             "q": num(volume * ev.vwap, 2), "V": num(buy, m.qty_dec),
             "Q": num(buy * ev.vwap, 2), "B": "0"}  # fmt: skip
        event = {"e": "kline", "E": t_end, "s": m.usdt, "k": k}
        venue = self.v["binance"]
        venue.append((stream,), dumps({"stream": stream, "data": event}), LIVE, t_end,
                     raw=dumps(event))  # fmt: skip
        # The new bar's first update: open, nothing traded yet.
        px = price_str(close)
        k2 = {**k, "t": t_end, "T": t_end + MINUTE_MS - 1, "o": px, "c": px, "h": px, "l": px,
              "v": "0", "n": 0, "x": False, "q": "0", "V": "0", "Q": "0"}  # fmt: skip
        event2 = {"e": "kline", "E": t_end + 5, "s": m.usdt, "k": k2}
        venue.append((stream,), dumps({"stream": stream, "data": event2}), LIVE, t_end,
                     raw=dumps(event2))  # fmt: skip
        self._bar_open[m.key] = close

    def _trades(self, ex: str, m: _Market, ev: TradeFlow, start: int) -> None:
        """The minute's taker flow as six trades (three per side) around the VWAP."""
        vwap = ev.vwap
        spread = min(((ev.high or vwap) - (ev.low or vwap)) / 4 / vwap, 5e-4)
        prices = [vwap * (1 - spread), vwap, vwap * (1 + spread)]
        dec = m.qty_dec + (2 if ex == "hyperliquid" else 0)
        trades: list[tuple[int, bool, float, float]] = []
        for i, share in enumerate((0.5, 0.3, 0.2)):
            trades.append((start + 5_000 + 20_000 * i, True, ev.taker_buy_base * share, prices[i]))
            trades.append((start + 15_000 + 20_000 * i, False, ev.taker_sell_base * share,
                           prices[2 - i]))  # fmt: skip
        trades.sort()
        if ex == "bybit":
            items = []
            for t, buy, size, px in trades:
                v = round(size, dec)
                if v <= 0:
                    continue
                self._ids["bybit"] += 1
                items.append({"T": t, "s": m.usdt, "S": "Buy" if buy else "Sell",
                              "v": num(v, dec), "p": price_str(px),
                              "L": "PlusTick" if buy else "MinusTick",
                              "i": str(uuid.UUID(int=self._ids["bybit"])), "BT": False,
                              "RPI": False})  # fmt: skip
            if items:
                msg = {"topic": f"publicTrade.{m.usdt}", "type": "snapshot",
                       "ts": items[-1]["T"] + 3, "data": items}  # fmt: skip
                self.v["bybit"].append((f"publicTrade.{m.usdt}",), dumps(msg), EVENT, ev.time_ms)
        elif ex == "okx":
            for t, buy, size, px in trades:
                contracts = round(size / m.ct_val, 2)
                if contracts <= 0:
                    continue
                self._ids["okx"] += 1
                item = {"instId": m.swap, "tradeId": str(self._ids["okx"]), "px": price_str(px),
                        "sz": num(contracts, 2), "side": "buy" if buy else "sell",
                        "ts": str(t), "count": "1", "source": "0"}  # fmt: skip
                msg = {"arg": {"channel": "trades", "instId": m.swap}, "data": [item]}
                self.v["okx"].append((f"trades:{m.swap}",), dumps(msg), EVENT, ev.time_ms)
        elif ex == "hyperliquid":
            items = []
            for t, buy, size, px in trades:
                sz = round(size, dec)
                if sz <= 0:
                    continue
                self._ids["hyperliquid"] += 1
                tid = self._ids["hyperliquid"]
                items.append({"coin": m.coin, "side": "B" if buy else "A", "px": price_str(px),
                              "sz": num(sz, dec), "time": t, "hash": f"0x{tid:064x}",
                              "tid": tid, "users": [f"0x{tid * 7919:040x}",
                                                    f"0x{tid * 104729:040x}"]})  # fmt: skip
            if items:
                self.v["hyperliquid"].append(
                    (f"trades:{m.coin}",), dumps({"channel": "trades", "data": items}), EVENT,
                    ev.time_ms,
                )  # fmt: skip


def hl_ctx(mark: float, oi: float, funding: float) -> dict[str, Any]:
    return {"funding": num(funding, 10), "openInterest": num(oi, 4),
            "prevDayPx": price_str(mark * 0.99), "dayNtlVlm": num(oi * mark * 1.5, 2),
            "premium": "0.0001", "oraclePx": price_str(mark * (1 - 1e-4)),
            "markPx": price_str(mark), "midPx": price_str(mark * (1 + 2e-5)),
            "impactPxs": [price_str(mark * (1 - 1e-4)), price_str(mark * (1 + 1e-4))],
            "dayBaseVlm": num(oi * 1.5, 2)}  # fmt: skip


def book_levels(mid: float, size: float, n: int, step: float = 2e-4) -> tuple[list, list]:
    """(bids, asks) as (price, size) pairs, `n` levels a side, `step` apart, sizes varying."""
    bids = [(mid * (1 - step * (k + 0.5)), size * (1 + (k % 7) / 3)) for k in range(n)]
    asks = [(mid * (1 + step * (k + 0.5)), size * (1 + (k % 5) / 3)) for k in range(n)]
    return bids, asks


# -- the server ------------------------------------------------------------------------------
class FakeExchanges:
    """All four exchanges on one loopback server. Use `async with FakeExchanges(...) as fake`."""

    def __init__(
        self,
        symbols: Sequence[str] = ("BTC",),
        seed: int = 0,
        *,
        speed: float | None = 1.0,
        history_ms: int = 10 * MINUTE_MS,
        warmup_ms: int = 60 * MINUTE_MS,
        cascades: Sequence[Cascade] = (),
        tick_ms: int = 250,
        overlap_s: float = 3.0,
        overlap_messages: int = 20,
        settle_s: float = 0.05,
        host: str = "127.0.0.1",
        port: int = 0,
        max_entries: int = 300_000,
    ) -> None:
        self.symbols = list(dict.fromkeys(symbols))
        self.seed = seed
        self.speed = speed
        self.history_ms = history_ms
        self.warmup_ms = warmup_ms
        self.cascades = list(cascades)
        self.tick_ms = tick_ms
        self.overlap_s = overlap_s
        self.overlap_messages = overlap_messages
        self.settle_s = settle_s
        self.host = host
        self.port = port
        self.venues = {ex: _Venue(ex, max_entries) for ex in EXCHANGES}
        self.requests: list[tuple[str, str, str]] = []  # (exchange, method, path and query)
        self.errors: list[str] = []  # protocol violations by clients
        self.sim: MarketSimulator | None = None
        self.offset_ms = 0  # exchange time = simulator time + offset_ms
        self.history_start_ms = 0  # exchange time
        self.markets: dict[str, _Market] = {}
        self.history = HistoryServer({})  # REST history (backfill), from start()
        self._encoder: _Encoder | None = None
        self._runner: web.AppRunner | None = None
        self._producer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = asyncio.Event()
        self._trigger: tuple[str, int, bool, asyncio.Event] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> FakeExchanges:
        # The simulator runs on its own fixed clock (so a seed gives the same history whenever
        # it runs); exchange times are shifted by whole minutes to end the history by now.
        sim = self.sim = MarketSimulator(self.symbols, self.seed, demo.DEFAULT_START_MS)
        warm_end = sim.now_ms + self.warmup_ms // 1000 * 1000
        history_end = warm_end + self.history_ms // 1000 * 1000
        self.offset_ms = (wall_ms() - history_end) // MINUTE_MS * MINUTE_MS
        self.markets = {k: _market_info(k, sim.price(k)) for k in self.symbols}
        encoder = self._encoder = _Encoder(self.venues, self.markets, self.offset_ms)
        while sim.now_ms < warm_end:  # warm-up: positions and history, not sent
            sim.step(min(30_000, warm_end - sim.now_ms))
        self.history_start_ms = sim.now_ms + self.offset_ms
        self.history = HistoryServer({
            k: MarketHistory(
                k, self.seed, self.history_start_ms, sim.price(k),
                # the live OI where the history meets it (Hyperliquid's is Binance's share)
                open_interest={
                    **{ex: sim.open_interest(k, ex) for ex in demo.DEMO_EXCHANGES},
                    "hyperliquid": sim.open_interest(k, "binance") * HL_SHARE,
                },
            )
            for k in self.symbols
        })  # fmt: skip
        for cascade in self.cascades:
            inject_cascade(sim, cascade, sim.now_ms)
        encoder.initial(sim)
        self._step(history_end - sim.now_ms)
        app = web.Application(middlewares=[self._log_request])
        self._routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._running.set()
        self._producer = asyncio.create_task(self._produce())
        return self

    async def close(self) -> None:
        if self._producer is not None:
            self._producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._producer
        for venue in self.venues.values():
            for conn in list(venue.conns):
                conn.killed = True
                with contextlib.suppress(Exception):
                    await conn.ws.close(code=WSCloseCode.GOING_AWAY)
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeExchanges:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- what clients connect to ------------------------------------------------------------
    def endpoints(self) -> dict[str, Endpoint]:
        ws, http = f"ws://{self.host}:{self.port}", f"http://{self.host}:{self.port}"
        return {
            "binance": Endpoint(f"{ws}/binance/market", f"{http}/binance"),
            "bybit": Endpoint(f"{ws}/bybit/v5/public/linear", f"{http}/bybit"),
            "okx": Endpoint(f"{ws}/okx/ws/v5/public", f"{http}/okx"),
            "hyperliquid": Endpoint(f"{ws}/hyperliquid/ws", f"{http}/hyperliquid"),
        }

    def write_config(
        self,
        path: str | Path,
        *,
        watchlist: Sequence[str] | None = None,
        feeds: dict[str, str] | None = None,
        model: dict[str, str] | None = None,
    ) -> Path:
        """A liqtui config file pointing every exchange here (plus optional settings)."""
        lines = [
            f"# liqtui against the fake exchanges on {self.host}:{self.port} (seed {self.seed})"
        ]
        if watchlist:
            lines += ["[general]", f"watchlist = {json.dumps(list(watchlist))}"]
        for section, values in (("feeds", feeds), ("model", model)):
            if values:
                lines.append(f"[{section}]")
                lines += [f"{k} = {json.dumps(v)}" for k, v in values.items()]
        for name, ep in self.endpoints().items():
            lines += [
                f"[exchanges.{name}]",
                f'ws_url = "{ep.ws_url}"',
                f'rest_url = "{ep.rest_url}"',
            ]
        out = Path(path)
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return out

    # -- controls ----------------------------------------------------------------------------
    def pause(self) -> None:
        """Stop the market: nothing new is produced (what is logged is still delivered)."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def advance(self, ms: int) -> None:
        """Produce `ms` of market now, at once (a burst)."""
        self._step(ms)

    def cascade(
        self, duration_ms: int = 60_000, move: float = 0.03, direction: float = -1.0,
        *, fast: bool = False,
    ) -> tuple[int, int]:  # fmt: skip
        """Start a market-wide cascade now; with `fast`, produce all of it at once. Returns the
        cascade's (start, end) in exchange time."""
        assert self.sim is not None
        start = self.sim.now_ms
        inject_cascade(
            self.sim, Cascade(0, duration_ms, move, direction, recovery_ms=2 * duration_ms), start
        )
        if fast:
            self._step(duration_ms)
        return start + self.offset_ms, start + self.offset_ms + duration_ms

    def kill(self, exchange: str | None = None, *, abrupt: bool = True) -> int:
        """Drop every connection (of one exchange, or all). Abrupt: reset the TCP connection
        (what was in flight is lost); else a close frame (1012, service restart) after what was
        written. The next connection resumes with an overlap. Returns the number dropped."""
        dropped = 0
        now = asyncio.get_running_loop().time()
        for venue in self.venues.values():
            if exchange is not None and venue.name != exchange:
                continue
            for conn in list(venue.conns):
                if conn.killed or conn.closed:
                    continue
                conn.killed = True
                dropped += 1
                venue.kills += 1
                if conn.started:
                    point = conn.cursor
                    resume = point - self.overlap_messages
                    for t, cursor in conn.checkpoints:
                        if t >= now - self.overlap_s:
                            resume = min(resume, cursor)
                            break
                    resume = max(resume, conn.start_cursor, venue.base)
                    if venue.resume is not None:
                        resume, point = min(resume, venue.resume[0]), min(point, venue.resume[1])
                    venue.resume = (resume, point)
                if conn.follower is not None:
                    conn.follower.cancel()
                transport = conn.request.transport
                if abrupt and transport is not None:
                    transport.abort()
                else:
                    self._spawn(conn.ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"restart"))
        return dropped

    def kill_after(
        self, exchange: str, liquidation_messages: int, *, abrupt: bool = True
    ) -> asyncio.Event:
        """Kill every connection once `exchange` has written this many more liquidation
        messages (mid-burst). The returned event is set when it happened."""
        fired = asyncio.Event()
        target = self.venues[exchange].liq_messages_sent + liquidation_messages
        self._trigger = (exchange, target, abrupt, fired)
        return fired

    # -- accounting --------------------------------------------------------------------------
    def delivered(self, exchange: str, market: str | None = None) -> list[SentLiquidation]:
        items = self.venues[exchange].delivered.values()
        return [x for x in items if market is None or x.market == market]

    def produced(self, exchange: str, market: str | None = None) -> list[SentLiquidation]:
        return [x for x in self.venues[exchange].produced if market is None or x.market == market]

    def resent(self, exchange: str) -> int:
        return self.venues[exchange].resent

    def connections(self, exchange: str) -> int:
        return self.venues[exchange].connections

    def contract_size(self, inst_id: str) -> float:
        for m in self.markets.values():
            if m.swap == inst_id:
                return m.ct_val
        raise KeyError(inst_id)

    def drained(self) -> bool:
        """Every open connection has been sent everything produced so far."""
        for venue in self.venues.values():
            for conn in venue.conns:
                if conn.killed or conn.closed:
                    continue
                if not conn.started or conn.cursor < venue.head:
                    return False
        return True

    async def wait_drained(self, timeout: float = 10.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.drained():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the fake exchanges did not drain within the timeout")
            await asyncio.sleep(0.01)

    # -- producing ---------------------------------------------------------------------------
    def _step(self, ms: int) -> None:
        assert self.sim is not None and self._encoder is not None
        if ms > 0:
            events = self.sim.step(ms)
            self._encoder.feed(events, self.sim.now_ms)

    def _lag(self) -> int:
        lag = 0
        for venue in self.venues.values():
            for conn in venue.conns:
                if conn.started and not conn.killed:
                    lag = max(lag, venue.head - conn.cursor)
        return lag

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        tick = self.tick_ms / 1000
        next_at = loop.time()
        while True:
            if not self._running.is_set():
                await self._running.wait()
                next_at = loop.time()
            if self.speed is None:  # as fast as the slowest reader takes it
                if self._lag() > 20_000:
                    await asyncio.sleep(0.005)
                else:
                    self._step(1_000)
                    await asyncio.sleep(0)
                next_at = loop.time()
                continue
            next_at += tick
            delay = next_at - loop.time()
            if delay < -5.0:
                next_at, delay = loop.time(), 0.0
            await asyncio.sleep(max(delay, 0.0))
            if not self._running.is_set():
                continue
            dt = self.tick_ms * self.speed
            if self.speed == 1.0:  # keep exchange time on the wall clock
                assert self.sim is not None
                lead = self.sim.now_ms + self.offset_ms - wall_ms()
                if lead > 1_000:
                    dt *= 0.5  # a fast cascade got ahead: catch up gently, never go silent
                elif lead < -self.tick_ms:
                    dt = -lead
            self._step(int(dt))

    # -- connections -------------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _begin(self, conn: _Conn) -> None:
        """Start sending: the backlog (first connection), the resume overlap (after a kill), or
        the present with a short overlap."""
        venue = conn.venue
        conn.starting = False
        if venue.resume is not None:
            cursor, fresh = venue.resume
            venue.resume = None
        elif not venue.served:
            cursor = fresh = venue.base
        else:
            fresh = venue.head
            cursor = max(venue.base, fresh - self.overlap_messages)
        venue.served = True
        conn.cursor = conn.start_cursor = max(cursor, venue.base)
        conn.fresh_from = fresh
        conn.started = True
        for topic in sorted(conn.topics):
            self._send_current(conn, topic)
        conn.follower = self._spawn(self._follow(conn))

    def _send_current(self, conn: _Conn, topic: str) -> None:
        """A subscription's current value (latest-value streams), as of where it resumes."""
        entry = conn.venue.latest_state(topic, conn.fresh_from)
        if entry is not None:
            self._spawn(self._send(conn, conn.text_for(entry)))

    async def _send(self, conn: _Conn, text: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            if not conn.ws.closed and not conn.killed:
                await conn.ws.send_str(text)
                conn.venue.messages_sent += 1

    def _subscribed(self, conn: _Conn, topics: Iterable[str]) -> None:
        """Topics added: wait until the client's burst of subscribe frames settles, then begin."""
        new = [t for t in topics if t not in conn.topics]
        conn.topics.update(new)
        if conn.started:
            for topic in new:
                self._send_current(conn, topic)
            return
        conn.last_subscribe = asyncio.get_running_loop().time()
        if not conn.starting:
            conn.starting = True
            self._spawn(self._settle_then_begin(conn))

    async def _settle_then_begin(self, conn: _Conn) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() - conn.last_subscribe < self.settle_s:
            await asyncio.sleep(self.settle_s)
        if not conn.closed and not conn.killed:
            self._begin(conn)

    async def _follow(self, conn: _Conn) -> None:
        venue, ws = conn.venue, conn.ws
        loop = asyncio.get_running_loop()
        try:
            while not ws.closed and not conn.killed:
                grew = venue.grew
                while conn.cursor < venue.head and not conn.killed:
                    if conn.cursor < venue.base:  # trimmed while this reader lagged
                        venue.dropped += venue.base - conn.cursor
                        conn.cursor = venue.base
                    entry = venue.entries[conn.cursor - venue.base]
                    conn.cursor += 1
                    if not conn.wants(entry):
                        continue
                    if entry.seq < conn.fresh_from and entry.kind != EVENT:
                        continue
                    await ws.send_str(conn.text_for(entry))
                    venue.present = max(venue.present, conn.cursor)
                    self._account(conn, entry)
                    if conn.sent % 64 == 0:
                        conn.checkpoints.append((loop.time(), conn.cursor))
                        await asyncio.sleep(0)
                venue.present = max(venue.present, conn.cursor)
                conn.checkpoints.append((loop.time(), conn.cursor))
                if not conn.killed:
                    await grew.wait()
        except (ConnectionError, RuntimeError):
            pass  # the socket went away under us (a kill, or the client left)

    def _account(self, conn: _Conn, entry: _Entry) -> None:
        venue = conn.venue
        conn.sent += 1
        venue.messages_sent += 1
        if not entry.liqs:
            return
        venue.liq_messages_sent += 1
        for liq in entry.liqs:
            if liq.key in venue.delivered:
                venue.resent += 1
            else:
                venue.delivered[liq.key] = liq
        trigger = self._trigger
        if (
            trigger is not None
            and trigger[0] == venue.name
            and venue.liq_messages_sent >= trigger[1]
        ):
            self._trigger = None
            self.kill(abrupt=trigger[2])
            trigger[3].set()

    async def _serve_ws(
        self,
        request: web.Request,
        exchange: str,
        on_frame: Callable[[_Conn, str], Awaitable[None]],
        *,
        topics: Iterable[str] = (),
        raw: bool = False,
        greeting: str | None = None,
    ) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        venue = self.venues[exchange]
        venue.connections += 1
        conn = _Conn(venue, ws, request, f"{exchange}-{venue.connections}", raw_events=raw)
        venue.conns.add(conn)
        try:
            if greeting is not None:
                await ws.send_str(greeting)
            topics = list(topics)
            if topics:
                conn.topics.update(topics)
                self._begin(conn)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await on_frame(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.errors.append(f"{exchange}: binary frame")
        except (ConnectionError, RuntimeError):
            pass
        finally:
            conn.closed = True
            if conn.follower is not None:
                conn.follower.cancel()
            venue.conns.discard(conn)
        return ws

    @web.middleware
    async def _log_request(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        exchange = request.path.strip("/").split("/", 1)[0]
        self.requests.append((exchange, request.method, request.path_qs))
        return await handler(request)

    def _routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/binance/market/stream", self._binance_combined)
        r.add_get("/binance/market/ws", self._binance_raw)
        r.add_get("/binance/market/ws/{n}", self._binance_raw)
        r.add_get("/binance/fapi/v1/openInterest", self._binance_oi)
        r.add_get("/binance/fapi/v1/depth", self._binance_depth)
        r.add_get("/binance/fapi/v1/exchangeInfo", self._binance_exchange_info)
        r.add_get("/bybit/v5/public/linear", self._bybit_ws)
        r.add_get("/bybit/v5/market/orderbook", self._bybit_book)
        r.add_get("/bybit/v5/market/instruments-info", self._bybit_instruments)
        r.add_get("/okx/ws/v5/public", self._okx_ws)
        r.add_get("/okx/api/v5/public/instruments", self._okx_instruments)
        r.add_get("/okx/api/v5/market/books", self._okx_books)
        r.add_get("/hyperliquid/ws", self._hl_ws)
        r.add_post("/hyperliquid/info", self._hl_info)
        for path in ("/binance/futures/data/openInterestHist", "/binance/fapi/v1/klines",
                     "/binance/fapi/v1/fundingRate", "/bybit/v5/market/open-interest",
                     "/bybit/v5/market/kline", "/bybit/v5/market/funding/history",
                     "/okx/api/v5/rubik/stat/contracts/open-interest-history",
                     "/okx/api/v5/market/history-candles",
                     "/okx/api/v5/public/funding-rate-history"):  # fmt: skip
            r.add_get(path, self._history)

    async def _history(self, request: web.Request) -> web.StreamResponse:
        exchange, _, path = request.path.strip("/").partition("/")
        status, body, headers = self.history.answer(exchange, path, request.query, wall_ms())
        return web.json_response(body, status=status, headers=headers)

    def _market_by(self, attr: str, value: object) -> _Market | None:
        return next((m for m in self.markets.values() if getattr(m, attr) == value), None)

    # -- Binance -----------------------------------------------------------------------------
    def _binance_streams(self) -> set[str]:
        names = {"!forceOrder@arr"}
        for m in self.markets.values():
            low = m.usdt.lower()
            names |= {f"{low}@forceOrder", f"{low}@markPrice", f"{low}@markPrice@1s",
                      f"{low}@kline_1m"}  # fmt: skip
        return names

    async def _binance_combined(self, request: web.Request) -> web.StreamResponse:
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        known = self._binance_streams()
        for s in streams:
            if s not in known:
                self.errors.append(f"binance: unknown stream {s!r}")
        topics = [s for s in streams if s in known]
        return await self._serve_ws(request, "binance", self._binance_frame, topics=topics)

    async def _binance_raw(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_ws(request, "binance", self._binance_frame, raw=True)

    async def _binance_frame(self, conn: _Conn, text: str) -> None:
        try:
            req = json.loads(text)
            method, rid = req["method"], req["id"]
        except (ValueError, KeyError, TypeError):
            self.errors.append(f"binance: unexpected frame {text[:80]!r}")
            await self._send(conn, dumps({"error": {"code": 2, "msg": "Invalid request"}}))
            return
        params = req.get("params") or []
        if method == "SUBSCRIBE":
            known = self._binance_streams()
            bad = [p for p in params if p not in known]
            if bad:
                self.errors.append(f"binance: unknown streams {bad}")
            await self._send(conn, dumps({"result": None, "id": rid}))
            self._subscribed(conn, [p for p in params if p in known])
        elif method == "UNSUBSCRIBE":
            conn.topics.difference_update(params)
            await self._send(conn, dumps({"result": None, "id": rid}))
        elif method == "LIST_SUBSCRIPTIONS":
            await self._send(conn, dumps({"result": sorted(conn.topics), "id": rid}))
        else:
            self.errors.append(f"binance: unknown method {method!r}")
            await self._send(
                conn, dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": rid})
            )

    async def _binance_exchange_info(self, request: web.Request) -> web.StreamResponse:
        symbols = [{"symbol": m.usdt, "pair": m.usdt, "contractType": "PERPETUAL",
                    "status": "TRADING", "baseAsset": m.key, "quoteAsset": "USDT",
                    "marginAsset": "USDT"} for m in self.markets.values()]  # fmt: skip
        dated = {"symbol": "BTCUSDT_261225", "pair": "BTCUSDT", "contractType": "CURRENT_QUARTER",
                 "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT"}  # fmt: skip
        symbols.append(dated)  # a real contract, not a perpetual: not a listed market
        limits = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                   "limit": 2400}]  # fmt: skip
        return web.json_response({"timezone": "UTC", "serverTime": wall_ms(),
                                  "rateLimits": limits, "symbols": symbols})  # fmt: skip

    async def _binance_oi(self, request: web.Request) -> web.StreamResponse:
        m = self._market_by("usdt", request.query.get("symbol"))
        if m is None:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        oi, t = self.venues["binance"].now("oi", m.key)
        return web.json_response({"symbol": m.usdt, "openInterest": num(oi, 3), "time": t})

    async def _binance_depth(self, request: web.Request) -> web.StreamResponse:
        m = self._market_by("usdt", request.query.get("symbol"))
        if m is None:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        venue = self.venues["binance"]
        mark, t = venue.now("mark", m.key)
        oi, _ = venue.now("oi", m.key)
        limit = min(int(request.query.get("limit", "500")), BOOK_LEVELS)
        bids, asks = book_levels(mark, oi * 2e-5, limit)
        return web.json_response({
            "lastUpdateId": venue.present, "E": t, "T": t,
            "bids": [[price_str(p), num(q, m.qty_dec + 1)] for p, q in bids],
            "asks": [[price_str(p), num(q, m.qty_dec + 1)] for p, q in asks],
        })  # fmt: skip

    # -- Bybit -------------------------------------------------------------------------------
    async def _bybit_ws(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_ws(request, "bybit", self._bybit_frame)

    async def _bybit_frame(self, conn: _Conn, text: str) -> None:
        try:
            req = json.loads(text)
            op = req["op"]
        except (ValueError, KeyError, TypeError):
            self.errors.append(f"bybit: unexpected frame {text[:80]!r}")
            return
        req_id = req.get("req_id", "")
        if op == "ping":
            await self._send(conn, dumps({"success": True, "ret_msg": "pong",
                                          "conn_id": conn.ident, "req_id": req_id,
                                          "op": "ping"}))  # fmt: skip
            return
        if op != "subscribe":
            self.errors.append(f"bybit: unexpected op {op!r}")
            return
        args = req.get("args")
        symbols = {m.usdt for m in self.markets.values()}
        channels = ("allLiquidation", "tickers", "publicTrade")
        bad = [] if isinstance(args, list) else [args]
        if isinstance(args, list):
            if len(args) > 10:
                bad.append(f"{len(args)} args in one request")
            for arg in args:
                ch, _, sym = str(arg).partition(".")
                if ch not in channels or sym not in symbols:
                    bad.append(arg)
        if bad:
            self.errors.append(f"bybit: bad subscription {bad}")
            await self._send(conn, dumps({"success": False, "ret_msg": f"error:invalid topic {bad}",
                                          "conn_id": conn.ident, "req_id": req_id,
                                          "op": "subscribe"}))  # fmt: skip
            return
        await self._send(conn, dumps({"success": True, "ret_msg": "", "conn_id": conn.ident,
                                      "req_id": req_id, "op": "subscribe"}))  # fmt: skip
        self._subscribed(conn, args)  # type: ignore[arg-type]

    async def _bybit_book(self, request: web.Request) -> web.StreamResponse:
        venue = self.venues["bybit"]
        m = self._market_by("usdt", request.query.get("symbol"))
        if m is None or request.query.get("category") != "linear":
            error = {"retCode": 10001, "retMsg": "params error: symbol invalid", "result": {},
                     "retExtInfo": {}, "time": wall_ms()}  # fmt: skip
            return web.json_response(error)
        mark, t = venue.now("mark", m.key)
        oi, _ = venue.now("oi", m.key)
        limit = min(int(request.query.get("limit", "25")), BOOK_LEVELS)
        bids, asks = book_levels(mark, oi * 2e-5, limit)
        return web.json_response({
            "retCode": 0, "retMsg": "OK",
            "result": {"s": m.usdt,
                       "b": [[price_str(p), num(q, m.qty_dec + 1)] for p, q in bids],
                       "a": [[price_str(p), num(q, m.qty_dec + 1)] for p, q in asks],
                       "ts": t, "u": venue.present, "seq": venue.present, "cts": t - 20},
            "retExtInfo": {}, "time": t + 5,
        })  # fmt: skip

    async def _bybit_instruments(self, request: web.Request) -> web.StreamResponse:
        items = [{"symbol": m.usdt, "contractType": "LinearPerpetual", "status": "Trading",
                  "baseCoin": m.key, "quoteCoin": "USDT", "settleCoin": "USDT"}
                 for m in self.markets.values()]  # fmt: skip
        result = {"category": request.query.get("category"), "list": items, "nextPageCursor": ""}
        return web.json_response({"retCode": 0, "retMsg": "OK", "result": result,
                                  "retExtInfo": {}, "time": wall_ms()})  # fmt: skip

    # -- OKX ---------------------------------------------------------------------------------
    async def _okx_ws(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_ws(request, "okx", self._okx_frame)

    async def _okx_frame(self, conn: _Conn, text: str) -> None:
        if text == "ping":
            await self._send(conn, "pong")
            return
        try:
            req = json.loads(text)
            op, args = req["op"], req["args"]
        except (ValueError, KeyError, TypeError):
            self.errors.append(f"okx: unexpected frame {text[:80]!r}")
            await self._send(conn, dumps({"event": "error", "code": "60012",
                                          "msg": f"Invalid request: {text[:80]}",
                                          "connId": conn.ident}))  # fmt: skip
            return
        if op != "subscribe" or not isinstance(args, list):
            self.errors.append(f"okx: unexpected op {op!r}")
            return
        swaps = {m.swap for m in self.markets.values()}
        topics = []
        for arg in args:
            ch = arg.get("channel") if isinstance(arg, dict) else None
            if ch == "liquidation-orders" and arg.get("instType") == "SWAP" and "instId" not in arg:
                topic = "liquidation-orders:SWAP"
            elif (
                ch in ("open-interest", "mark-price", "funding-rate", "trades")
                and arg.get("instId") in swaps
            ):
                topic = f"{ch}:{arg['instId']}"
            else:
                self.errors.append(f"okx: bad subscription {arg}")
                await self._send(conn, dumps({"event": "error", "code": "60018",
                                              "msg": f"Wrong URL or channel:{dumps(arg)}",
                                              "connId": conn.ident}))  # fmt: skip
                continue
            await self._send(conn, dumps({"event": "subscribe", "arg": arg, "connId": conn.ident}))
            topics.append(topic)
        self._subscribed(conn, topics)

    def _okx_instrument(self, inst: str, ct_val: str, ccy: str, **kw: str) -> dict[str, str]:
        family = inst.removesuffix("-SWAP")
        return {"instType": "SWAP", "instId": inst, "uly": family, "instFamily": family,
                "settleCcy": kw.get("settle", "USDT"), "ctVal": ct_val, "ctMult": "1",
                "ctValCcy": ccy, "ctType": kw.get("ct_type", "linear"), "lever": "100",
                "lotSz": "0.01", "minSz": "0.01", "tickSz": "0.1", "state": "live",
                "listTime": "1611916828000", "expTime": ""}  # fmt: skip

    async def _okx_instruments(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("instType") != "SWAP":
            return web.json_response(
                {"code": "51000", "msg": "Parameter instType error", "data": []}
            )
        data = []
        for m in self.markets.values():
            data.append(self._okx_instrument(m.swap, num(m.ct_val, 6), m.key))
            inverse = m.swap.replace("-USDT-", "-USD-")
            data.append(
                self._okx_instrument(inverse, "100", "USD", settle=m.key, ct_type="inverse")
            )
            usdc = m.swap.replace("-USDT-", "-USDC-")
            data.append(self._okx_instrument(usdc, num(m.ct_val / 100, 8), m.key, settle="USDC"))
        return web.json_response({"code": "0", "msg": "", "data": data})

    async def _okx_books(self, request: web.Request) -> web.StreamResponse:
        m = self._market_by("swap", request.query.get("instId"))
        if m is None:
            return web.json_response({"code": "51001", "msg": "Instrument ID does not exist",
                                      "data": []})  # fmt: skip
        venue = self.venues["okx"]
        mark, t = venue.now("mark", m.key)
        oi, _ = venue.now("oi", m.key)
        limit = min(int(request.query.get("sz", "1")), BOOK_LEVELS)
        bids, asks = book_levels(mark, oi * 2e-5, limit)

        def level(p: float, q: float, k: int) -> list[str]:
            return [price_str(p), num(max(q / m.ct_val, 0.01), 2), "0", str(1 + k % 9)]

        return web.json_response({"code": "0", "msg": "", "data": [{
            "asks": [level(p, q, k) for k, (p, q) in enumerate(asks)],
            "bids": [level(p, q, k) for k, (p, q) in enumerate(bids)],
            "ts": str(t)}]})  # fmt: skip

    # -- Hyperliquid -------------------------------------------------------------------------
    async def _hl_ws(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_ws(request, "hyperliquid", self._hl_frame, greeting=HL_GREETING)

    async def _hl_frame(self, conn: _Conn, text: str) -> None:
        try:
            req = json.loads(text)
        except ValueError:
            req = None
        if req == {"method": "ping"}:
            await self._send(conn, dumps({"channel": "pong"}))
            return
        sub = req.get("subscription") if isinstance(req, dict) else None
        coins = {m.coin for m in self.markets.values()}
        if (
            not isinstance(req, dict)
            or req.get("method") != "subscribe"
            or not isinstance(sub, dict)
            or sub.get("type") not in ("activeAssetCtx", "trades")
            or sub.get("coin") not in coins
        ):
            self.errors.append(f"hyperliquid: bad request {text[:80]!r}")
            await self._send(
                conn, dumps({"channel": "error", "data": f"Invalid subscription {text}"})
            )
            return
        ack = {"channel": "subscriptionResponse",
               "data": {"method": "subscribe", "subscription": sub}}  # fmt: skip
        await self._send(conn, dumps(ack))
        self._subscribed(conn, [f"{sub['type']}:{sub['coin']}"])

    async def _hl_info(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=422, text="Failed to deserialize the JSON body")
        venue = self.venues["hyperliquid"]
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "meta":
            universe = [{"name": m.coin, "szDecimals": m.qty_dec + 2,
                         "maxLeverage": HL_MAX_LEVERAGE.get(m.key, 10), "marginTableId": 50}
                        for m in self.markets.values()]  # fmt: skip
            universe.append({"name": "HPOS", "szDecimals": 0, "maxLeverage": 3,
                             "onlyIsolated": True, "isDelisted": True})  # fmt: skip
            return web.json_response({"universe": universe, "marginTables": []})
        if kind == "metaAndAssetCtxs":
            universe, ctxs = [], []
            for m in self.markets.values():
                mark, oi, funding, _ = venue.now("ctx", m.key)
                universe.append({"name": m.coin, "szDecimals": m.qty_dec + 2,
                                 "maxLeverage": HL_MAX_LEVERAGE.get(m.key, 10),
                                 "marginTableId": 50})  # fmt: skip
                ctxs.append(hl_ctx(mark, oi, funding))
            universe.append({"name": "HPOS", "szDecimals": 0, "maxLeverage": 3,
                             "onlyIsolated": True, "isDelisted": True})  # fmt: skip
            ctxs.append(hl_ctx(0.05, 0.0, 0.0))
            meta = {"universe": universe, "marginTables": [], "collateralToken": 0}
            return web.json_response([meta, ctxs])
        if kind == "candleSnapshot":
            req = body.get("req") if isinstance(body.get("req"), dict) else {}
            m = self._market_by("coin", req.get("coin"))
            req = {**req, "coin": m.key} if m is not None else req
            status, candles, headers = self.history.candle_snapshot(req, wall_ms())
            return web.json_response(candles, status=status, headers=headers)
        if kind == "l2Book":
            m = self._market_by("coin", body.get("coin"))
            if m is None:
                return web.json_response(None)
            mark, oi, _, t = venue.now("ctx", m.key)
            bids, asks = book_levels(mark, oi * 1e-4, 20, step=1e-4)
            dec = m.qty_dec + 2

            def side(levels: list[tuple[float, float]]) -> list[dict[str, object]]:
                return [{"px": price_str(p), "sz": num(q, dec), "n": 1 + k % 6}
                        for k, (p, q) in enumerate(levels)]  # fmt: skip

            return web.json_response(
                {"coin": m.coin, "time": t, "levels": [side(bids), side(asks)]}
            )
        return web.Response(status=422, text="Failed to deserialize the JSON body")


# -- a developer's fake exchanges ---------------------------------------------------------------
def _speed(text: str) -> float | None:
    return None if text == "max" else float(text)


async def _serve_forever(args: argparse.Namespace) -> None:
    fake = FakeExchanges(
        [s.strip().upper() for s in args.symbols.split(",") if s.strip()],
        args.seed,
        speed=args.speed,
        history_ms=parse_duration(args.history),
        warmup_ms=parse_duration(args.warmup),
        port=args.port,
    )
    await fake.start()
    path = (
        Path(args.config)
        if args.config
        else Path(tempfile.mkdtemp(prefix="liqtui-fake-")) / "config.toml"
    )
    fake.write_config(path, watchlist=fake.symbols)
    print(f"fake binance, bybit, okx, hyperliquid on {fake.host}:{fake.port} "
          f"({', '.join(fake.symbols)}; seed {fake.seed})")  # fmt: skip
    print(f"config: {path}")
    print(f"run:    liqtui --config {path}")
    sys.stdout.flush()
    every = parse_duration(args.cascade_every) / 1000 if args.cascade_every else None
    try:
        while True:
            await asyncio.sleep(every or 3600)
            if every:
                fake.cascade(direction=-1.0 if int(time.time()) % 2 else 1.0)
                print("cascade started", flush=True)
    finally:
        await fake.close()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    p.add_argument("--symbols", default="BTC,ETH,SOL", help="simulated markets (BTC,ETH,SOL)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", type=_speed, default=1.0, help="× real time, or 'max' (1)")
    p.add_argument("--history", default="30m", help="market history sent to the first client")
    p.add_argument("--warmup", default="2h", help="simulated before the history (not sent)")
    p.add_argument("--cascade-every", default="10m", help="start a cascade this often ('' off)")
    p.add_argument("--config", help="write the liqtui config here (default: a temp file)")
    args = p.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args))


if __name__ == "__main__":
    main()
