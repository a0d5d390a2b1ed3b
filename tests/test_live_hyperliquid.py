"""Hyperliquid: parsers for its real message shapes, plan(), and the live feed against a loopback
server speaking its protocol (subscribe frames + subscriptionResponse, {"method":"ping"} →
{"channel":"pong"}, POST /info by body type), drops, malformed frames, record/replay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from support.loopback import Loopback, loopback_settings, send_json, stop, wait_until

from liqtui.config import Endpoint, Settings
from liqtui.events import BookDepth, MarketEvent, MarkPrice, OpenInterest, TradeFlow
from liqtui.exchanges import hyperliquid
from liqtui.exchanges.hyperliquid import NOTE, Parser, coin_of, market_of, plan
from liqtui.exchanges.spec import NotTracked, ParseError, PollSpec
from liqtui.feeds.dispatch import deliver
from liqtui.feeds.live import LiveSource
from liqtui.feeds.recording import Recorder, read_recording
from liqtui.feeds.replay import ReplaySource
from liqtui.feeds.stream import Backoff, RestPoller
from liqtui.health import FeedHealth
from liqtui.model.engine import Engine

EX = "hyperliquid"
# Live events carry current times: trades of a minute well in the past, closed by the next one.
NOW = int(time.time() * 1000)
M0 = NOW - NOW % 60_000 - 180_000  # start of a closed minute three minutes ago
M1 = M0 + 60_000
CLOCK = 1_767_225_600_000  # a fixed receive clock for unit tests (2026-01-01 UTC)


# -- real message shapes (Hyperliquid docs: websocket subscriptions, info endpoint) ------------
def ctx(
    mark: str = "97000.0", oi: str = "12345.6", funding: str = "0.0000125", **extra: object
) -> dict[str, object]:
    return {"funding": funding, "openInterest": oi, "prevDayPx": "95210.0",
            "dayNtlVlm": "2315190045.55", "premium": "0.00010309", "oraclePx": "96990.0",
            "markPx": mark, "midPx": "97000.5", "impactPxs": ["96999.0", "97002.0"],
            "dayBaseVlm": "24115.8", **extra}  # fmt: skip


def ctx_msg(coin: str = "BTC", **kw: str) -> dict[str, object]:
    return {"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": ctx(**kw)}}


def trade(side: str, px: str, sz: str, t: int, tid: int, coin: str = "BTC") -> dict[str, object]:
    return {"coin": coin, "side": side, "px": px, "sz": sz, "time": t,
            "hash": "0x3f0a5c4b0e1b6c2b7a4f2e5d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b",
            "tid": tid, "users": ["0x5b5d51203a0f9079f8aeb098a6523a13f298c060",
                                  "0x31ca8395cf837de08b24da3f660e77761dfb974b"]}  # fmt: skip


def trades_msg(*items: dict[str, object]) -> dict[str, object]:
    return {"channel": "trades", "data": list(items)}


def sub_ack(sub: dict[str, object]) -> dict[str, object]:
    return {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": sub}}


UNIVERSE = [
    {"name": "BTC", "szDecimals": 5, "maxLeverage": 40, "marginTableId": 56},
    {"name": "ETH", "szDecimals": 4, "maxLeverage": 25, "marginTableId": 55},
    {"name": "kPEPE", "szDecimals": 0, "maxLeverage": 10, "marginTableId": 10},
    {"name": "HPOS", "szDecimals": 0, "maxLeverage": 3, "onlyIsolated": True, "isDelisted": True},
]


def meta_and_ctxs(btc_oi: str = "23456.7") -> list[object]:
    return [
        {"universe": UNIVERSE, "marginTables": [], "collateralToken": 0},
        [ctx(mark="97010.0", oi=btc_oi), ctx(mark="3400.5", oi="510000.0"),
         ctx(mark="0.0185", oi="9000000000"), ctx(mark="0.05", oi="0.0", funding="0.0")],
    ]  # fmt: skip


def l2_book(coin: str = "BTC", t: int = CLOCK) -> dict[str, object]:
    return {
        "coin": coin,
        "time": t,
        "levels": [
            [{"px": "96990.0", "sz": "2.0", "n": 3}, {"px": "96500.0", "sz": "4.0", "n": 7}],
            [{"px": "97010.0", "sz": "1.5", "n": 2}, {"px": "98000.0", "sz": "3.0", "n": 5}],
        ],
    }


def fixed_parser() -> Parser:
    return Parser(clock=lambda: CLOCK)


# -- parser unit tests --------------------------------------------------------------------------
def test_active_asset_ctx_gives_mark_with_funding_and_one_side_oi_at_receive_time() -> None:
    mark, oi = fixed_parser()(ctx_msg())  # type: ignore[misc]
    assert mark == MarkPrice(EX, "BTC", CLOCK, 97000.0, 0.0000125)
    assert oi == OpenInterest(EX, "BTC", CLOCK, 12345.6)  # coin units, unchanged


def test_receive_ms_overrides_the_clock() -> None:
    parser = fixed_parser()
    parser.receive_ms = CLOCK + 1234  # what deliver sets (the recorded time in replay)
    events = parser(ctx_msg())
    assert events is not None and {e.time_ms for e in events} == {CLOCK + 1234}


def test_trades_aggregate_per_closed_minute_both_sides() -> None:
    parser = fixed_parser()
    # One push with several trades, all kept; "B" = taker buy, "A" = taker sell.
    first = trades_msg(
        trade("B", "97000.0", "0.5", M0 + 1_000, 1),
        trade("A", "96900.0", "0.2", M0 + 2_000, 2),
        trade("B", "97100.0", "0.3", M0 + 59_999, 3),
    )
    assert parser(first) == []  # data, but the minute is still open
    (flow,) = parser(trades_msg(trade("A", "97050.0", "1.0", M1 + 5, 4)))  # type: ignore[misc]
    assert isinstance(flow, TradeFlow)
    assert (flow.exchange, flow.symbol, flow.time_ms, flow.interval_ms) == (EX, "BTC", M1, 60_000)
    assert flow.taker_buy_base == pytest.approx(0.8)
    assert flow.taker_sell_base == pytest.approx(0.2)
    vwap = (97000.0 * 0.5 + 96900.0 * 0.2 + 97100.0 * 0.3) / 1.0
    assert flow.vwap == pytest.approx(vwap)
    assert (flow.high, flow.low) == (97100.0, 96900.0)


def test_trades_spanning_minutes_unsorted_duplicates_and_late_ones() -> None:
    parser = fixed_parser()
    events = parser(
        trades_msg(
            trade("B", "100", "1", M1 + 10, 12),  # out of order within the push
            trade("A", "99", "2", M0 + 10, 10),
            trade("B", "101", "3", M0 + 20, 11),
            trade("A", "98", "4", M1 + 60_000, 13),  # closes M1 too
        )
    )
    assert events is not None and [e.time_ms for e in events] == [M1, M1 + 60_000]
    first, second = events
    assert isinstance(first, TradeFlow) and isinstance(second, TradeFlow)
    assert (first.taker_buy_base, first.taker_sell_base) == (3.0, 2.0)
    assert (second.taker_buy_base, second.taker_sell_base) == (1.0, 0.0)
    # A resubscription replays recent trades: the same tid is counted once, older minutes dropped.
    assert parser(trades_msg(trade("A", "98", "4", M1 + 60_000, 13))) == []
    assert parser(trades_msg(trade("B", "99", "9", M0 + 30, 99))) == []
    assert (parser.duplicate_trades, parser.late_trades) == (1, 1)
    (third,) = parser(trades_msg(trade("B", "97", "1", M1 + 120_000, 14)))  # type: ignore[misc]
    assert isinstance(third, TradeFlow)
    assert (third.taker_buy_base, third.taker_sell_base) == (0.0, 4.0)


def test_trades_of_coins_are_kept_apart() -> None:
    parser = fixed_parser()
    parser(trades_msg(trade("B", "97000", "1", M0, 1), trade("A", "3400", "5", M0, 2, "ETH")))
    events = parser(trades_msg(trade("B", "3401", "1", M1, 3, "ETH")))
    assert events is not None and [(e.symbol, e.taker_sell_base) for e in events] == [("ETH", 5.0)]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "msg",
    [
        sub_ack({"type": "trades", "coin": "BTC"}),
        {"channel": "pong"},
        "Websocket connection established.",
        {"channel": "l2Book", "data": {"coin": "BTC", "time": CLOCK, "levels": [[], []]}},
        {"channel": "activeSpotAssetCtx", "data": {"coin": "@107", "ctx": {}}},
    ],
)
def test_acks_pongs_and_other_channels_are_ignored(msg: object) -> None:
    assert fixed_parser()(msg) is None


def test_names_map_to_market_keys() -> None:
    assert (market_of("BTC"), market_of("kPEPE"), coin_of("1000PEPE"), coin_of("ETH")) == (
        "BTC", "1000PEPE", "kPEPE", "ETH",
    )  # fmt: skip
    assert coin_of("1000000MOG") == "1000000MOG"
    for untracked in ("@107", "PURR/USDC", "xyz:TSLA"):
        with pytest.raises(NotTracked):
            market_of(untracked)
    with pytest.raises(NotTracked):
        fixed_parser()(ctx_msg(coin="xyz:TSLA"))
    # Spot trades in a push are skipped, perpetual ones kept.
    parser = fixed_parser()
    parser(trades_msg(trade("B", "1", "1", M0, 1, "@107"), trade("B", "2", "1", M0, 2)))
    assert parser(trades_msg(trade("B", "2", "1", M1, 3)))[0].taker_buy_base == 1.0  # type: ignore[index,union-attr]


def test_meta_and_asset_ctxs_gives_watched_coins_and_keeps_max_leverage() -> None:
    parser = fixed_parser()
    events = parser.rest("/info?type=metaAndAssetCtxs&coins=BTC,kPEPE", meta_and_ctxs())
    assert events == [
        MarkPrice(EX, "BTC", CLOCK, 97010.0, 0.0000125),
        OpenInterest(EX, "BTC", CLOCK, 23456.7),
        MarkPrice(EX, "1000PEPE", CLOCK, 0.0185, 0.0000125),
        OpenInterest(EX, "1000PEPE", CLOCK, 9e9),
    ]
    assert parser.max_leverage == {"BTC": 40.0, "ETH": 25.0, "PEPE": 10.0, "HPOS": 3.0}
    assert 1 / (2 * parser.max_leverage["BTC"]) == 0.0125  # Hyperliquid's maintenance rate
    everything = fixed_parser().rest("/info?type=metaAndAssetCtxs", meta_and_ctxs())
    assert everything is not None and len(everything) == 8  # no coin list: every perpetual


def test_l2_book_gives_book_depth() -> None:
    (depth,) = fixed_parser().rest("/info?type=l2Book&coin=BTC", l2_book())  # type: ignore[misc]
    assert isinstance(depth, BookDepth)
    assert (depth.symbol, depth.time_ms, depth.mid) == ("BTC", CLOCK, 97000.0)
    # Within 0.5% of mid: the best bid and ask only (96500 and 98000 are ~0.5% and ~1% away).
    assert depth.bid_usd[0] == pytest.approx(96990.0 * 2.0)
    assert depth.ask_usd[0] == pytest.approx(97010.0 * 1.5)
    assert depth.bid_usd[-1] == pytest.approx(96990.0 * 2.0 + 96500.0 * 4.0)
    assert fixed_parser().rest("/exchange", {}) is None
    assert fixed_parser().rest("/info?type=clearinghouseState", {}) is None


def _without(d: dict[str, object], key: str) -> dict[str, object]:
    return {k: v for k, v in d.items() if k != key}


def _ctx_msg_with(**ctx_fields: object) -> dict[str, object]:
    return {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {**ctx(), **ctx_fields}}}


BAD_WS: list[object] = [
    "not json",
    42,
    ["activeAssetCtx"],
    {"data": {}},
    {"channel": "error", "data": 'Invalid subscription {"type":"trades"}'},
    {"channel": "activeAssetCtx"},
    {"channel": "activeAssetCtx", "data": []},
    {"channel": "activeAssetCtx", "data": {"coin": "BTC"}},
    {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": "x"}},
    {"channel": "activeAssetCtx", "data": {"coin": None, "ctx": ctx()}},
    {"channel": "activeAssetCtx", "data": {"coin": "btc?", "ctx": ctx()}},
    {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": _without(ctx(), "markPx")}},
    {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": _without(ctx(), "openInterest")}},
    _ctx_msg_with(markPx="0"),
    _ctx_msg_with(markPx="NaN"),
    _ctx_msg_with(openInterest="-1"),
    _ctx_msg_with(openInterest=None),
    _ctx_msg_with(funding="abc"),
    _ctx_msg_with(funding=True),
    {"channel": "trades"},
    {"channel": "trades", "data": {"coin": "BTC"}},
    {"channel": "trades", "data": [None]},
    {"channel": "trades", "data": [trade("X", "1", "1", M0, 1)]},
    {"channel": "trades", "data": [trade("B", "-1", "1", M0, 1)]},
    {"channel": "trades", "data": [trade("B", "1", "0", M0, 1)]},
    {"channel": "trades", "data": [trade("B", "1", "1", 17, 1)]},
    {"channel": "trades", "data": [trade("B", "1", "1", M0, "7")]},  # type: ignore[arg-type]
    {"channel": "trades", "data": [_without(trade("B", "1", "1", M0, 1), "tid")]},
    {"channel": "trades", "data": [trade("B", "1", "1", M0, 1), trade("B", "1", "1", "x", 2)]},  # type: ignore[arg-type]
]


@pytest.mark.parametrize("msg", BAD_WS)
def test_ws_schema_violations_raise_parse_error(msg: object) -> None:
    parser = fixed_parser()
    with pytest.raises(ParseError):
        parser(msg)
    assert parser._flows.open_minutes == 0  # a bad push leaves no half-counted trades behind


META = "/info?type=metaAndAssetCtxs&coins=BTC"
BOOK = "/info?type=l2Book&coin=BTC"
_meta, _ctxs = meta_and_ctxs()
BAD_REST: list[tuple[str, object]] = [
    (META, {"universe": UNIVERSE}),
    (META, [_meta]),
    (META, ["x", _ctxs]),
    (META, [{"universe": "x"}, _ctxs]),
    (META, [{}, _ctxs]),
    (META, [_meta, _ctxs[:2]]),  # not aligned with the universe
    (META, [{"universe": [None, *UNIVERSE[1:]]}, _ctxs]),
    (META, [{"universe": [{"name": "BTC", "maxLeverage": 0}, *UNIVERSE[1:]]}, _ctxs]),
    (META, [{"universe": [{"name": "BTC"}, *UNIVERSE[1:]]}, _ctxs]),
    (META, [{"universe": [{"maxLeverage": 40}, *UNIVERSE[1:]]}, _ctxs]),
    (META, [_meta, [ctx(mark="0"), *_ctxs[1:]]]),
    (META, [_meta, [None, *_ctxs[1:]]]),
    (BOOK, None),  # what the server answers for an unknown coin
    (BOOK, {"coin": "BTC", "time": CLOCK}),
    (BOOK, {"coin": "BTC", "time": CLOCK, "levels": [[]]}),
    (BOOK, {**l2_book(), "levels": [[], l2_book()["levels"][1]]}),  # type: ignore[index]
    (BOOK, {**l2_book(), "levels": [[{"px": "1"}], []]}),
    (BOOK, {**l2_book(), "levels": [[["96990.0", "1"]], [["97010.0", "1"]]]}),
    (
        BOOK,
        {
            **l2_book(),
            "levels": [[{"px": "x", "sz": "1", "n": 1}], [{"px": "2", "sz": "1", "n": 1}]],
        },
    ),
    (BOOK, {**l2_book(), "levels": list(reversed(l2_book()["levels"]))}),  # type: ignore[arg-type] # crossed
    (BOOK, {**l2_book(), "time": "soon"}),
    (BOOK, {**l2_book(), "coin": "btc?"}),
]


@pytest.mark.parametrize(("endpoint", "msg"), BAD_REST)
def test_rest_schema_violations_raise_parse_error(endpoint: str, msg: object) -> None:
    parser = fixed_parser()
    with pytest.raises(ParseError):
        parser.rest(endpoint, msg)
    assert parser.max_leverage == {}


# -- plan ---------------------------------------------------------------------------------------
def test_plan_uses_configured_endpoints_one_frame_per_subscription_and_post_polls() -> None:
    s = Settings()
    p = plan(["BTC", "1000PEPE"], s.exchanges["hyperliquid"], s.feeds)
    (stream,) = p.streams
    assert stream.url == "wss://api.hyperliquid.xyz/ws"
    assert list(stream.subscribe) == [
        {"method": "subscribe", "subscription": {"type": t, "coin": c}}
        for c in ("BTC", "kPEPE")
        for t in ("activeAssetCtx", "trades")
    ]
    assert stream.ping_frame == {"method": "ping"} and stream.ping_interval_s == 20.0
    assert stream.stale_after_s == 60.0 and stream.liquidations_complete is None
    assert p.note == NOTE and "no public liquidation feed" in p.note and not p.startup
    assert [(q.endpoint, q.method, q.body, q.interval_s) for q in p.polls] == [
        ("/info?type=metaAndAssetCtxs&coins=BTC,kPEPE", "POST", {"type": "metaAndAssetCtxs"}, 10.0),
        ("/info?type=l2Book&coin=BTC", "POST", {"type": "l2Book", "coin": "BTC"}, 15.0),
        ("/info?type=l2Book&coin=kPEPE", "POST", {"type": "l2Book", "coin": "kPEPE"}, 15.0),
    ]
    assert {q.url for q in p.polls} == {"https://api.hyperliquid.xyz/info"}
    custom = plan(["ETH"], Endpoint("ws://127.0.0.1:9/hl/ws", "http://127.0.0.1:9/hl"), s.feeds)
    assert custom.streams[0].url == "ws://127.0.0.1:9/hl/ws"
    assert custom.polls[0].url == "http://127.0.0.1:9/hl/info"


def test_plan_stays_within_the_subscription_limit() -> None:
    s = Settings()
    p = plan([f"C{i}" for i in range(600)], s.exchanges["hyperliquid"], s.feeds)
    per_connection = [len(st.subscribe) for st in p.streams]
    assert sum(per_connection) == 1000 and "first 500 markets" in p.note
    assert max(per_connection) <= s.feeds.streams_per_connection


# -- loopback exchange --------------------------------------------------------------------------
Script = Callable[[web.WebSocketResponse, int], Awaitable[None]]


class HyperliquidServer:
    """The WebSocket and info endpoint, checking what the client sends like the real one."""

    def __init__(
        self,
        script: Script,
        *,
        tick: dict[str, object] | None = None,
        coins: tuple[str, ...] = ("BTC",),
        pong: bool = True,
    ) -> None:
        self.script = script
        self.tick = tick  # pushed every 100 ms after the script, as the exchange pushes contexts
        self.expected = [
            {"type": t, "coin": c} for c in coins for t in ("activeAssetCtx", "trades")
        ]
        self.pong = pong
        self.subscriptions: list[list[dict[str, object]]] = []  # per connection
        self.pings = 0
        self.violations: list[str] = []
        self.info_bodies: list[dict[str, object]] = []
        self.meta = meta_and_ctxs()

    def install(self, loop: Loopback) -> None:
        loop.ws("/ws", self.ws)
        loop.rest("/info", self.info, method="POST")

    async def ws(self, ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        conn = len(self.subscriptions)
        subs: list[dict[str, object]] = []
        self.subscriptions.append(subs)
        subscribed = asyncio.Event()
        await ws.send_str("Websocket connection established.")

        async def reader() -> None:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                loop.received.append(msg.data)
                frame = json.loads(msg.data)
                if frame == {"method": "ping"}:
                    self.pings += 1
                    if self.pong:
                        await send_json(ws, {"channel": "pong"})
                elif (
                    frame.get("method") == "subscribe"
                    and frame.get("subscription") in self.expected
                ):
                    subs.append(frame["subscription"])
                    if self.pong:
                        await send_json(ws, sub_ack(frame["subscription"]))
                    if len(subs) == len(self.expected):
                        subscribed.set()
                else:
                    self.violations.append(msg.data)
                    await send_json(
                        ws, {"channel": "error", "data": f"Invalid request: {msg.data}"}
                    )

        read = asyncio.create_task(reader())
        try:
            await asyncio.wait_for(subscribed.wait(), 5)
            await self.script(ws, conn)
            while self.tick is not None and not ws.closed:
                await asyncio.sleep(0.1)
                with contextlib.suppress(ConnectionResetError):
                    await send_json(ws, self.tick)
            if not ws.closed:
                await read
        finally:
            read.cancel()

    async def info(self, request: web.Request, loop: Loopback) -> web.StreamResponse:
        body = await request.json()
        self.info_bodies.append(body)
        if body == {"type": "metaAndAssetCtxs"}:
            return web.json_response(self.meta)
        if body.get("type") == "l2Book" and body.get("coin") == "BTC" and len(body) == 2:
            return web.json_response(l2_book(t=NOW))
        return web.json_response(None)  # like the real server for an unknown coin


class Capture(Engine):
    """An engine that also keeps every applied event (BookDepth leaves no model state)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[MarketEvent] = []

    def apply(self, event: MarketEvent) -> None:
        self.events.append(event)
        super().apply(event)

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events if isinstance(e, kind)]


def settings_for(loop: Loopback, **feeds: str) -> Settings:
    feeds.setdefault("stale_after", "600ms")  # pings every 0.2 s
    endpoint = Endpoint(f"{loop.ws_base}/ws", loop.http)
    return loopback_settings({EX: endpoint}, exchanges=[EX], **feeds)


def minute_burst(n: int, start: int = 0) -> list[dict[str, object]]:
    """n distinct trades in minute M0, one per push, alternating taker sides."""
    return [
        trades_msg(trade("B" if i % 2 else "A", f"{97000 + i}", f"{0.001 * (i + 1):.3f}",
                         M0 + 100 * i, 1_000 + i))
        for i in range(start, start + n)
    ]  # fmt: skip


def burst_flow(n: int) -> tuple[float, float]:
    buy = sum(0.001 * (i + 1) for i in range(n) if i % 2)
    return buy, sum(0.001 * (i + 1) for i in range(n)) - buy


async def test_live_feed_fills_the_model() -> None:
    async def script(ws: web.WebSocketResponse, conn: int) -> None:
        await send_json(ws, ctx_msg())
        for msg in minute_burst(20):
            await send_json(ws, msg)
        await send_json(ws, trades_msg(trade("B", "97100", "0.5", M1 + 1, 5_000)))

    server = HyperliquidServer(script, tick=ctx_msg())
    async with Loopback() as loop:
        server.install(loop)
        engine = Capture()
        task = asyncio.create_task(LiveSource(settings_for(loop), ["BTC"]).run(engine))
        try:
            await wait_until(lambda: bool(engine.of(TradeFlow) and engine.of(BookDepth)))
            await wait_until(lambda: server.pings >= 2)  # keep-alive pings, answered with pongs
            await wait_until(lambda: engine.feeds[EX].ignored >= 1 + 2 + 1)  # greeting, acks, pong
            snap = engine.snapshot("BTC")
            assert snap.price in (97000.0, 97010.0) and snap.price_source == "mark"
            assert snap.open_interest[EX] in (12345.6, 23456.7)  # WS push or the info fallback
            assert snap.funding[EX] == 0.0000125 and snap.realized_count == 0
            (flow,) = engine.of(TradeFlow)
            buy, sell = burst_flow(20)
            assert (flow.time_ms, flow.taker_buy_base, flow.taker_sell_base) == (
                M1, pytest.approx(buy), pytest.approx(sell),
            )  # fmt: skip
            assert engine.of(BookDepth)[0].mid == 97000.0
            marks = engine.of(MarkPrice)
            assert all(abs(m.time_ms - int(time.time() * 1000)) < 10_000 for m in marks)
            health = engine.feeds[EX]
            assert health.note == NOTE and health.liquidations_complete is None
            assert health.state == "connected" and health.skipped == 0
            assert server.subscriptions == [server.expected] and not server.violations
            assert {"type": "metaAndAssetCtxs"} in server.info_bodies
            assert {"type": "l2Book", "coin": "BTC"} in server.info_bodies
        finally:
            await stop(task)


async def test_drop_mid_burst_resubscribes_and_counts_the_overlap_once() -> None:
    messages = minute_burst(200)

    async def script(ws: web.WebSocketResponse, conn: int) -> None:
        if conn == 0:
            await send_json(ws, ctx_msg())
            for msg in messages[:120]:
                await send_json(ws, msg)
            await ws.close()  # dropped in the middle of the burst
            return
        for msg in messages[110:]:  # the new connection replays 10 trades already seen
            await send_json(ws, msg)
        await send_json(ws, trades_msg(trade("A", "97100", "0.5", M1 + 1, 5_000)))

    server = HyperliquidServer(script, tick=ctx_msg())
    async with Loopback() as loop:
        server.install(loop)
        engine = Capture()
        source = LiveSource(settings_for(loop), ["BTC"])
        task = asyncio.create_task(source.run(engine))
        try:
            await wait_until(lambda: bool(engine.of(TradeFlow)))
            (flow,) = engine.of(TradeFlow)
            buy, sell = burst_flow(200)
            assert flow.taker_buy_base == pytest.approx(buy)
            assert flow.taker_sell_base == pytest.approx(sell)
            assert source.clients[0].connections == 2
            assert server.subscriptions == [server.expected, server.expected]  # resubscribed
            assert not server.violations
        finally:
            await stop(task)


async def test_malformed_frames_are_counted_and_the_stream_goes_on() -> None:
    async def script(ws: web.WebSocketResponse, conn: int) -> None:
        await ws.send_str('{"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {')
        await send_json(ws, {"channel": "activeAssetCtx", "data": {"coin": "BTC", "ctx": {}}})
        await send_json(ws, trades_msg(trade("X", "1", "1", M0, 1)))
        await ws.send_bytes(b"\xff\xfe")
        await send_json(ws, ctx_msg(mark="97123.0"))

    server = HyperliquidServer(script, tick=ctx_msg(mark="97123.0"))
    async with Loopback() as loop:
        server.install(loop)
        engine = Engine()
        task = asyncio.create_task(LiveSource(settings_for(loop), ["BTC"]).run(engine))
        try:
            await wait_until(lambda: engine.snapshot("BTC").price == 97123.0)
            health = engine.feeds[EX]
            assert health.skipped == 4 and health.state == "connected"
            assert "bad message" in (health.last_error or "")
        finally:
            await stop(task)


async def test_a_hung_server_is_reconnected() -> None:
    async def script(ws: web.WebSocketResponse, conn: int) -> None:
        await send_json(ws, ctx_msg(mark="97500.0"))

    server = HyperliquidServer(script, tick=ctx_msg(mark="97500.0"))
    hung_frames: list[str] = []

    async def route(request: web.Request, loop: Loopback) -> web.StreamResponse:
        # The first connection hangs after the greeting: it answers neither {"method":"ping"}
        # nor WebSocket pings (autoping off), the others behave.
        hung = not hung_frames
        ws = web.WebSocketResponse(autoping=not hung)
        await ws.prepare(request)
        if hung:
            await ws.send_str("Websocket connection established.")
            async for msg in ws:
                hung_frames.append(str(msg.data))
                if msg.type == WSMsgType.CLOSE:
                    break
        else:
            with contextlib.suppress(ConnectionResetError):
                await server.ws(ws, request, loop)
        return ws

    async with Loopback() as loop:
        loop.rest("/ws", route)  # serves the upgrade itself to control autoping
        loop.rest("/info", server.info, method="POST")
        engine = Engine()
        source = LiveSource(settings_for(loop, stale_after="300ms"), ["BTC"])
        task = asyncio.create_task(source.run(engine))
        try:
            await wait_until(lambda: engine.snapshot("BTC").price == 97500.0)
            assert source.clients[0].connections == 2 and len(server.subscriptions) == 1
            assert '{"method":"ping"}' in hung_frames  # pinged, never answered
            assert engine.feeds[EX].state == "connected"
        finally:
            await stop(task)


async def test_info_errors_are_counted_not_raised() -> None:
    calls = {"n": 0}

    async def info(request: web.Request, loop: Loopback) -> web.StreamResponse:
        calls["n"] += 1
        if calls["n"] == 1:
            return web.Response(status=500, text="internal error")
        if calls["n"] == 2:
            return web.json_response(None)
        return web.json_response(l2_book(t=NOW))

    async with Loopback() as loop:
        loop.rest("/info", info, method="POST")
        engine = Capture()
        async with aiohttp.ClientSession() as session:
            spec = PollSpec(EX, EX, BOOK, f"{loop.http}/info", interval_s=1.0, method="POST",
                            body={"type": "l2Book", "coin": "BTC"})  # fmt: skip
            backoff = Backoff(initial_s=0.5, cap_s=2.0)
            poller = RestPoller(
                spec, Parser(), engine, session, backoff=backoff, rng=random.Random(1)
            )
            assert 0 < await poller.poll_once() <= 2.0 * 1.3
            assert "HTTP 500" in (engine.feeds[EX].last_error or "")
            assert await poller.poll_once() == 1.0 and engine.feeds[EX].skipped == 1
            assert await poller.poll_once() == 1.0 and len(engine.of(BookDepth)) == 1


# -- recording and replay -----------------------------------------------------------------------
def test_deliver_hands_the_receive_time_to_the_parser() -> None:
    parser = Parser(clock=lambda: 0)
    kwargs = {"exchange": EX, "sink": Engine(), "health": FeedHealth(EX)}
    deliver({"channel": "pong"}, parser=parser, receive_ms=CLOCK + 1, **kwargs)  # type: ignore[arg-type]
    assert parser.receive_ms == CLOCK + 1
    deliver(None, parser=parser, rest=BOOK, receive_ms=CLOCK + 2, **kwargs)  # type: ignore[arg-type]
    assert parser.receive_ms == CLOCK + 2


async def _record(tmp_path: Path) -> tuple[Capture, Path]:
    async def script(ws: web.WebSocketResponse, conn: int) -> None:
        await send_json(ws, ctx_msg())
        for msg in minute_burst(30):
            await send_json(ws, msg)
        await send_json(ws, trades_msg(trade("B", "97100", "0.5", M1 + 1, 5_000)))
        await asyncio.sleep(0.3)  # a later context with a different receive time
        await send_json(ws, ctx_msg(mark="97200.0", oi="12400.0"))

    server = HyperliquidServer(script, tick=ctx_msg(mark="97200.0", oi="12400.0"))
    path = tmp_path / "rec.jsonl"
    recorder = Recorder(path)
    async with Loopback() as loop:
        server.install(loop)
        engine = Capture()
        task = asyncio.create_task(
            LiveSource(settings_for(loop), ["BTC"], recorder=recorder).run(engine)
        )
        try:
            await wait_until(
                lambda: (
                    bool(engine.of(TradeFlow) and engine.of(BookDepth))
                    and engine.markets["BTC"].marks[EX][0] == 97200.0
                )
            )
        finally:
            await stop(task)
            recorder.close()
    return engine, path


async def test_record_then_replay_gives_the_same_model(tmp_path: Path) -> None:
    live, path = await _record(tmp_path)
    replayed = Capture()
    ReplaySource(path, speed=None).run_sync(replayed)
    a, b = live.snapshot("BTC"), replayed.snapshot("BTC")
    assert (a.realized_long_usd, a.realized_short_usd, a.realized_count) == (
        b.realized_long_usd, b.realized_short_usd, b.realized_count,
    )  # fmt: skip
    assert a.open_interest == b.open_interest and a.open_interest[EX] in (12400.0, 23456.7)
    assert (a.price, a.funding) == (b.price, b.funding)
    assert live.of(TradeFlow) == replayed.of(TradeFlow)  # exchange trade times: identical
    assert [e.mid for e in live.of(BookDepth)] == [e.mid for e in replayed.of(BookDepth)]
    assert replayed.feeds[EX].skipped == 0
    rest = {line.rest for line in read_recording(path)}
    assert {"/info?type=metaAndAssetCtxs&coins=BTC", "/info?type=l2Book&coin=BTC"} <= rest


async def test_replay_stamps_asset_contexts_with_the_recorded_receive_time(
    tmp_path: Path,
) -> None:
    live, path = await _record(tmp_path)
    replayed = Capture()
    ReplaySource(path, speed=None).run_sync(replayed)
    ctx_times = [
        line.t
        for line in read_recording(path)
        if (line.rest is not None and "metaAndAssetCtxs" in line.rest)
        or (isinstance(line.msg, dict) and line.msg.get("channel") == "activeAssetCtx")
    ]
    assert [m.time_ms for m in replayed.of(MarkPrice)] == ctx_times
    assert [m.time_ms for m in replayed.of(OpenInterest)] == ctx_times
    assert live.of(MarkPrice) == replayed.of(MarkPrice)  # live used the same receive times
    assert live.markets["BTC"].marks == replayed.markets["BTC"].marks


def test_module_has_the_exchange_shape() -> None:
    assert hyperliquid.EXCHANGE == EX and callable(hyperliquid.plan)
    assert Parser().max_leverage == {} and Parser().receive_ms is None
