"""Bybit v5 linear: parser units on the documented message shapes, plan(), and the live feed
against a loopback server speaking Bybit's protocol (subscribe frames checked and acked,
{"op":"ping"} answered with the public pong, batched allLiquidation pushes, ticker deltas)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from support.loopback import Loopback, loopback_settings, send_json, stop, wait_until
from support.recordings import line, write_recording

from liqtui.config import Endpoint, Settings
from liqtui.events import BookDepth, Liquidation, MarkPrice, OpenInterest, TradeFlow
from liqtui.exchanges import bybit
from liqtui.exchanges.spec import NotTracked, ParseError, PartlyBad, PollSpec
from liqtui.feeds.live import LiveSource
from liqtui.feeds.recording import Recorder
from liqtui.feeds.replay import ReplaySource
from liqtui.feeds.stream import Backoff, RestPoller, StreamClient
from liqtui.model.engine import Engine

# Parser units use fixed times; live tests use the current time, because the realized window
# ends at the receive clock.
TS = 1_739_502_303_204
T0 = int(time.time() * 1000) - 60_000


@pytest.fixture(autouse=True)
def _fresh_t0() -> None:
    """Live data carries the time of the test, not of the import: a long run would otherwise
    make marks look stale (the engine's clock is the wall clock)."""
    global T0
    T0 = int(time.time() * 1000) - 60_000


TOPICS = ("allLiquidation", "tickers", "publicTrade")


# -- message builders (shapes as in Bybit's docs) ----------------------------------------------
def liq_item(
    t: int, side: str = "Buy", v: str = "0.5", p: str = "96000", s: str = "BTCUSDT"
) -> dict[str, object]:
    return {"T": t, "s": s, "S": side, "v": v, "p": p}


def all_liq(items: list[dict[str, object]], symbol: str = "BTCUSDT") -> dict[str, object]:
    ts = max((int(i["T"]) for i in items), default=TS) + 300  # type: ignore[call-overload]
    return {"topic": f"allLiquidation.{symbol}", "type": "snapshot", "ts": ts, "data": items}


def ticker(kind: str, ts: int, symbol: str = "BTCUSDT", **fields: str) -> dict[str, object]:
    return {
        "topic": f"tickers.{symbol}",
        "type": kind,
        "data": {"symbol": symbol, **fields},
        "cs": 24987956059,
        "ts": ts,
    }


def trade(t: int, side: str, v: str, p: str, i: str, s: str = "BTCUSDT") -> dict[str, object]:
    return {"T": t, "s": s, "S": side, "v": v, "p": p, "L": "PlusTick", "i": i, "BT": False}


def trades(items: list[dict[str, object]], symbol: str = "BTCUSDT") -> dict[str, object]:
    ts = int(items[-1]["T"]) + 3  # type: ignore[call-overload]
    return {"topic": f"publicTrade.{symbol}", "type": "snapshot", "ts": ts, "data": items}


def book(
    bids: list[list[str]] | None = None, asks: list[list[str]] | None = None, ts: int = TS
) -> dict[str, object]:
    return {
        "retCode": 0,
        "retMsg": "OK",
        "result": {
            "s": "BTCUSDT",
            "b": bids if bids is not None else [["96000", "10"], ["95500", "20"]],
            "a": asks if asks is not None else [["96010", "8"], ["96500", "30"]],
            "ts": ts,
            "u": 230704,
            "seq": 1432604333,
            "cts": ts - 100,
        },
        "retExtInfo": {},
        "time": ts + 300,
    }


LINEAR_SNAPSHOT = {  # the official tickers sample (linear)
    "topic": "tickers.BTCUSDT",
    "type": "snapshot",
    "data": {
        "symbol": "BTCUSDT", "tickDirection": "PlusTick", "price24hPcnt": "0.017103",
        "lastPrice": "17216.00", "prevPrice24h": "16926.50", "highPrice24h": "17281.50",
        "lowPrice24h": "16915.00", "prevPrice1h": "17238.00", "markPrice": "17217.33",
        "indexPrice": "17227.36", "openInterest": "68744.761",
        "openInterestValue": "1183601235.91", "turnover24h": "1570383121.943499",
        "volume24h": "91705.276", "nextFundingTime": "1673280000000", "fundingRate": "-0.000212",
        "bid1Price": "17215.50", "bid1Size": "84.489", "ask1Price": "17216.00",
        "ask1Size": "83.020",
    },
    "cs": 24987956059,
    "ts": 1673272861686,
}  # fmt: skip
BOOK_PATH = "/v5/market/orderbook?category=linear&symbol=BTCUSDT&limit=500"


# -- liquidations --------------------------------------------------------------------------------
def test_official_all_liquidation_sample_sell_is_a_short_at_the_trigger_price() -> None:
    msg = {"topic": "allLiquidation.ROSEUSDT", "type": "snapshot", "ts": 1739502303204,
           "data": [{"T": 1739502302929, "s": "ROSEUSDT", "S": "Sell", "v": "20000",
                     "p": "0.04499"}]}  # fmt: skip
    (ev,) = bybit.Parser()(msg)  # type: ignore[misc]
    assert isinstance(ev, Liquidation)
    assert (ev.exchange, ev.symbol, ev.side, ev.time_ms) == (
        "bybit",
        "ROSE",
        "short",
        1739502302929,
    )
    assert ev.price == 0.04499  # `p`, placed as Bybit reported it (docs/feeds.md says why)
    assert ev.quantity == 20_000  # linear: base units
    assert ev.notional_usd == pytest.approx(20_000 * ev.price)


def test_buy_is_a_long_and_every_item_of_a_batch_is_kept() -> None:
    items = [
        liq_item(TS, "Buy", "0.5", "95000"),
        liq_item(TS, "Buy", "0.5", "95000.5"),  # same time, another print: kept
        liq_item(TS + 10, "Sell", "1.25", "97000"),
        liq_item(TS + 20, "Buy", "0.001", "94000"),
    ]
    events = bybit.Parser()(all_liq(items))
    assert events is not None and len(events) == 4
    assert [e.side for e in events] == ["long", "long", "short", "long"]  # type: ignore[union-attr]
    long = events[0]
    assert isinstance(long, Liquidation)
    assert long.price == 95_000
    assert long.notional_usd == pytest.approx(0.5 * 95_000)
    assert events[2].quantity == 1.25  # type: ignore[union-attr]


def test_a_malformed_item_costs_only_itself_in_a_batch(tmp_path: Any) -> None:
    """A batch of 3 with a malformed middle item: the first and last are applied, the middle
    one is counted as skipped (once), and the message is not lost as a whole."""
    items = [
        liq_item(TS, "Buy", "0.5", "95000"),
        {"T": TS + 5, "s": "BTCUSDT", "S": "Buy", "v": "not-a-size", "p": "95000"},
        liq_item(TS + 10, "Sell", "1.25", "97000"),
    ]
    with pytest.raises(PartlyBad) as caught:
        bybit.Parser()(all_liq(items))
    assert [(e.side, e.quantity) for e in caught.value.events] == [("long", 0.5), ("short", 1.25)]  # type: ignore[union-attr]
    assert len(caught.value.errors) == 1 and "size" in caught.value.errors[0]

    path = write_recording(tmp_path / "rec.jsonl", [line(all_liq(items), TS + 400, "bybit")])
    engine = Engine()
    ReplaySource(path, speed=None).run_sync(engine)
    snap = engine.snapshot("BTC")
    assert snap.realized_count == 2
    long_print, short_print = caught.value.events
    assert snap.realized_long_usd == pytest.approx(long_print.notional_usd)  # type: ignore[union-attr]
    assert snap.realized_short_usd == pytest.approx(short_print.notional_usd)  # type: ignore[union-attr]
    health = engine.feeds["bybit"]
    assert (health.messages, health.skipped) == (1, 1)
    assert "size" in (health.last_error or "")


def test_tardis_captured_sample_and_an_empty_batch() -> None:
    msg = {"topic": "allLiquidation.PIPPINUSDT", "type": "snapshot", "ts": 1740480207578,
           "data": [{"T": 1740480207110, "s": "PIPPINUSDT", "S": "Sell", "v": "2846",
                     "p": "0.02456"}]}  # fmt: skip
    (ev,) = bybit.Parser()(msg)  # type: ignore[misc]
    assert (ev.symbol, ev.side, ev.quantity) == ("PIPPIN", "short", 2846)  # type: ignore[union-attr]
    assert bybit.Parser()(all_liq([])) is None


def test_deprecated_liquidation_topic_object_data() -> None:
    msg = {"data": {"price": "0.03803", "side": "Buy", "size": "1637", "symbol": "GALAUSDT",
                    "updatedTime": 1673251091822},
           "topic": "liquidation.GALAUSDT", "ts": 1673251091822, "type": "snapshot"}  # fmt: skip
    (ev,) = bybit.Parser()(msg)  # type: ignore[misc]
    assert isinstance(ev, Liquidation)
    assert (ev.symbol, ev.side, ev.quantity, ev.time_ms) == ("GALA", "long", 1637, 1673251091822)
    assert ev.price == 0.03803


def test_non_usdt_perpetuals_are_not_tracked() -> None:
    parser = bybit.Parser()
    for symbol in ("BTCPERP", "BTCUSDT-26DEC25", "ETH-26DEC25"):
        with pytest.raises(NotTracked):
            parser(all_liq([liq_item(TS, s=symbol)], symbol))
        with pytest.raises(NotTracked):
            parser(ticker("snapshot", TS, symbol=symbol, markPrice="96000"))
        with pytest.raises(NotTracked):
            parser(trades([trade(TS, "Buy", "1", "96000", "x", s=symbol)], symbol))
    # In a batch an untracked item is dropped and the others are kept.
    events = parser(all_liq([liq_item(TS, s="BTCPERP"), liq_item(TS)]))
    assert [e.symbol for e in events or []] == ["BTC"]


# -- tickers: snapshot, then deltas where a missing field is unchanged ---------------------------
def test_official_ticker_snapshot_gives_mark_funding_and_one_side_oi() -> None:
    events = bybit.Parser()(LINEAR_SNAPSHOT)
    assert events is not None
    mark, oi = events
    assert mark == MarkPrice("bybit", "BTC", 1673272861686, 17217.33, -0.000212)
    assert isinstance(oi, OpenInterest)
    assert oi.open_interest == pytest.approx(68744.761 / 2)  # "sum of both sides" halved


def test_single_open_interest_is_preferred() -> None:
    msg = ticker("snapshot", TS, markPrice="96000", openInterest="60000",
                 singleOpenInterest="30001.5", fundingRate="0.0001")  # fmt: skip
    events = bybit.Parser()(msg) or []
    assert [e.open_interest for e in events if isinstance(e, OpenInterest)] == [30001.5]


def test_deltas_keep_earlier_values_and_emit_only_changes() -> None:
    parser = bybit.Parser()
    parser(ticker("snapshot", TS, markPrice="96000", fundingRate="0.0001", openInterest="50000"))
    # Mark only: funding is kept from the snapshot; OI unchanged → no OpenInterest.
    assert parser(ticker("delta", TS + 100, markPrice="96010.5")) == [
        MarkPrice("bybit", "BTC", TS + 100, 96010.5, 0.0001)
    ]
    # Nothing liqtui uses changed.
    assert parser(ticker("delta", TS + 200, bid1Price="96000", ask1Price="96001")) is None
    assert parser(ticker("delta", TS + 300, markPrice="96010.5")) is None  # same value
    # OI only: the mark is not re-sent; OI is still halved.
    assert parser(ticker("delta", TS + 400, openInterest="50010")) == [
        OpenInterest("bybit", "BTC", TS + 400, 25005.0)
    ]
    # Funding only: a MarkPrice with the kept mark.
    assert parser(ticker("delta", TS + 500, fundingRate="-0.0002")) == [
        MarkPrice("bybit", "BTC", TS + 500, 96010.5, -0.0002)
    ]
    # A bad delta is skipped and does not disturb the state.
    with pytest.raises(ParseError):
        parser(ticker("delta", TS + 600, markPrice="-5", openInterest="1"))
    assert parser(ticker("delta", TS + 700, openInterest="50010")) is None
    # A new snapshot (after a reconnect) is always emitted, even with equal values.
    again = parser(ticker("snapshot", TS + 800, markPrice="96010.5", fundingRate="-0.0002",
                          openInterest="50010"))  # fmt: skip
    assert again is not None and len(again) == 2


def test_ticker_state_is_per_symbol() -> None:
    parser = bybit.Parser()
    parser(ticker("snapshot", TS, markPrice="96000", openInterest="100"))
    eth = parser(ticker("delta", TS + 1, symbol="ETHUSDT", markPrice="3400"))
    assert eth == [MarkPrice("bybit", "ETH", TS + 1, 3400.0, None)]
    assert parser(ticker("delta", TS + 2, openInterest="100")) is None  # BTC's OI unchanged


# -- trades → one TradeFlow per closed minute -----------------------------------------------------
def test_official_trade_sample_is_absorbed_until_its_minute_closes() -> None:
    msg = {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1672304486868,
           "data": [{"T": 1672304486865, "s": "BTCUSDT", "S": "Buy", "v": "0.001",
                     "p": "16578.50", "L": "PlusTick",
                     "i": "20f43950-d8dd-5b31-9112-a178eb6023af", "BT": False}]}  # fmt: skip
    assert bybit.Parser()(msg) == []  # data, not an ignored message


def test_trades_aggregate_per_minute_with_taker_sides_vwap_high_low() -> None:
    m0 = TS - TS % 60_000
    parser = bybit.Parser()
    first = trades(
        [trade(m0 + 1_000, "Buy", "1", "100", "a"), trade(m0 + 2_000, "Sell", "3", "104", "b")]
    )
    assert parser(first) == []
    # The same trades again (an overlapping connection): counted once.
    assert parser(first) == []
    second = trades(
        [trade(m0 + 59_999, "Buy", "2", "98", "c"), trade(m0 + 60_000, "Sell", "5", "99", "d")]
    )
    (flow,) = parser(second)  # type: ignore[misc]
    assert flow == TradeFlow(
        "bybit", "BTC", m0 + 60_000, 60_000, taker_buy_base=3.0, taker_sell_base=3.0,
        vwap=pytest.approx((100 + 3 * 104 + 2 * 98) / 6), high=104.0, low=98.0,
        close=98.0,  # the minute's last trade
    )  # fmt: skip
    # A gap of several minutes: the open minute closes at its own end.
    (flow2,) = parser(trades([trade(m0 + 300_000, "Buy", "1", "101", "e")]))  # type: ignore[misc]
    assert (flow2.time_ms, flow2.taker_sell_base, flow2.taker_buy_base) == (m0 + 120_000, 5.0, 0.0)


# -- control frames, REST -------------------------------------------------------------------------
def test_acks_pongs_and_other_topics_are_ignored_but_refusals_are_reported() -> None:
    parser = bybit.Parser()
    assert parser({"success": True, "ret_msg": "subscribe", "conn_id": "c1", "req_id": "1",
                   "op": "subscribe"}) is None  # fmt: skip
    assert parser({"success": True, "ret_msg": "pong", "conn_id": "c1", "req_id": "",
                   "op": "ping"}) is None  # fmt: skip
    assert parser({"success": True, "ret_msg": "pong", "conn_id": "c1", "op": "ping"}) is None
    assert parser({"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": TS,
                   "data": {"s": "BTCUSDT", "b": [], "a": []}}) is None  # fmt: skip
    with pytest.raises(ParseError, match="Invalid symbol"):
        parser({"success": False, "ret_msg": "Invalid symbol :[allLiquidation.FOOUSDT]",
                "conn_id": "c1", "req_id": "2", "op": "subscribe"})  # fmt: skip


def test_rest_order_book_and_errors() -> None:
    parser = bybit.Parser()
    (depth,) = parser.rest(BOOK_PATH, book())  # type: ignore[misc]
    assert isinstance(depth, BookDepth)
    assert (depth.exchange, depth.symbol, depth.time_ms) == ("bybit", "BTC", TS)
    assert depth.mid == pytest.approx(96_005.0)
    assert depth.bid_usd[0] == pytest.approx(96_000 * 10)  # 95 500 is 0.53 % below mid
    assert depth.bid_usd[1] == pytest.approx(96_000 * 10 + 95_500 * 20)
    assert depth.ask_usd[1] == pytest.approx(96_010 * 8 + 96_500 * 30)
    with pytest.raises(ParseError, match="Too many visits"):
        parser.rest(BOOK_PATH, {"retCode": 10006, "retMsg": "Too many visits!", "result": {},
                                "retExtInfo": {}, "time": TS})  # fmt: skip
    assert parser.rest("/v5/market/time", {"retCode": 0, "retMsg": "OK", "result": {}}) is None


def _with(base: dict[str, Any], **data: object) -> dict[str, Any]:
    msg = json.loads(json.dumps(base))
    target = msg["data"][0] if isinstance(msg["data"], list) else msg["data"]
    target.update(data)
    return msg


_LIQ = all_liq([liq_item(TS)])
_TRADE = trades([trade(TS, "Buy", "1", "100", "x")])
_TICK = ticker("snapshot", TS, markPrice="96000", openInterest="10")
_OLD = {"topic": "liquidation.BTCUSDT", "type": "snapshot", "ts": TS,
        "data": {"price": "96000", "side": "Buy", "size": "1", "symbol": "BTCUSDT",
                 "updatedTime": TS}}  # fmt: skip


@pytest.mark.parametrize(
    "msg",
    [
        None, 5, "pong", [], [_LIQ], {}, {"topic": 5}, {"topic": "allLiquidation"},
        {"success": True},
        {"topic": "allLiquidation.BTCUSDT", "type": "snapshot", "ts": TS},
        {"topic": "allLiquidation.BTCUSDT", "data": {"T": TS, "s": "BTCUSDT"}},
        {"topic": "allLiquidation.BTCUSDT", "data": ["x"]},
        _with(_LIQ, S="Long"), _with(_LIQ, S="buy"), _with(_LIQ, v="0"), _with(_LIQ, v="-1"),
        _with(_LIQ, v=None), _with(_LIQ, p="abc"), _with(_LIQ, p="NaN"), _with(_LIQ, p="inf"),
        _with(_LIQ, p=True), _with(_LIQ, p=[1]), _with(_LIQ, T="soon"), _with(_LIQ, T=12),
        _with(_LIQ, T=None), _with(_LIQ, s=42), _with(_LIQ, s="FOOBAR"), _with(_LIQ, s=""),
        {k: v for k, v in _LIQ.items() if k != "data"} | {"data": [{"T": TS}]},
        _with(_OLD, side="Hold"), _with(_OLD, size="0"), _with(_OLD, updatedTime=None),
        {**_OLD, "data": "x"},
        _with(_TRADE, S="Hold"), _with(_TRADE, v="0"), _with(_TRADE, p=None),
        _with(_TRADE, T="x"), {**_TRADE, "data": {"T": TS}}, {**_TRADE, "data": [None]},
        _with(_TICK, markPrice="-1"), _with(_TICK, markPrice="x"), _with(_TICK, markPrice=["1"]),
        _with(_TICK, openInterest="-3"), _with(_TICK, fundingRate="nan"),
        _with(_TICK, symbol=None), {**_TICK, "type": "partial"}, {**_TICK, "ts": "x"},
        {k: v for k, v in _TICK.items() if k != "ts"}, {**_TICK, "data": [_TICK["data"]]},
        {"success": False, "ret_msg": "error:handler not found", "op": "subscribe"},
    ],
)  # fmt: skip
def test_malformed_messages_raise_parse_error(msg: object) -> None:
    with pytest.raises(ParseError):
        bybit.Parser()(msg)


@pytest.mark.parametrize(
    "msg",
    [
        None, [], "x", {}, {"retCode": 10001, "retMsg": "params error: symbol invalid"},
        {"retMsg": "OK"}, {"retCode": 0, "result": None},
        {"retCode": 0, "result": {"s": "BTCUSDT"}},
        book(bids="x"), book(bids=[["x", "1"]]), book(bids=[[1]]), book(asks=[]),  # type: ignore[arg-type]
        book(bids=[["96020", "1"]]),  # crossed
        {**book(), "result": {**book()["result"], "ts": None}},  # type: ignore[dict-item]
        {**book(), "result": {**book()["result"], "s": "NOPE"}},  # type: ignore[dict-item]
    ],
)  # fmt: skip
def test_malformed_rest_responses_raise_parse_error(msg: object) -> None:
    with pytest.raises(ParseError):
        bybit.Parser().rest(BOOK_PATH, msg)


# -- plan ------------------------------------------------------------------------------------------
def test_plan_uses_the_configured_endpoint_and_chunks_subscriptions() -> None:
    s = Settings()
    markets = ["BTC", "ETH", "SOL", "DOGE", "1000PEPE"]
    p = bybit.plan(markets, s.exchanges["bybit"], s.feeds)
    (stream,) = p.streams
    assert stream.url == "wss://stream.bybit.com/v5/public/linear"
    assert stream.ping_frame == {"op": "ping"} and stream.ping_interval_s == 20
    assert stream.liquidations_complete is True and stream.stale_after_s == 60
    frames = stream.subscribe
    assert all(f["op"] == "subscribe" and len(f["args"]) <= 10 for f in frames)  # type: ignore[index]
    assert [len(f["args"]) for f in frames] == [10, 5]  # type: ignore[index]
    assert [f["req_id"] for f in frames] == ["1", "2"]  # type: ignore[index]
    args = [a for f in frames for a in f["args"]]  # type: ignore[index]
    assert args == [f"{t}.{m}USDT" for m in markets for t in TOPICS]
    assert [q.endpoint for q in p.polls][:2] == [
        BOOK_PATH,
        "/v5/market/orderbook?category=linear&symbol=ETHUSDT&limit=500",
    ]
    assert p.polls[0].url == "https://api.bybit.com" + BOOK_PATH and p.polls[0].interval_s == 15

    custom = Endpoint("ws://127.0.0.1:9/v5/public/linear", "http://127.0.0.1:9")
    p2 = bybit.plan(["BTC"], custom, s.feeds)
    assert p2.streams[0].url == custom.ws_url
    assert p2.polls[0].url == "http://127.0.0.1:9" + BOOK_PATH


def test_plan_splits_very_long_watchlists_over_connections() -> None:
    s = Settings()
    markets = [f"COIN{i}" for i in range(400)]
    p = bybit.plan(markets, s.exchanges["bybit"], s.feeds)
    assert len(p.streams) > 1
    for stream in p.streams:
        args = [a for f in stream.subscribe for a in f["args"]]  # type: ignore[index]
        assert len(json.dumps(args)) <= 21_000
    total = [a for st in p.streams for f in st.subscribe for a in f["args"]]  # type: ignore[index]
    assert len(total) == 1200 and len(set(total)) == 1200


# -- loopback exchange ---------------------------------------------------------------------------
class FakeBybit:
    """Checks subscriptions, acks them, answers pings with the public pong, records problems."""

    def __init__(self, symbols: list[str]) -> None:
        self.expected = {f"{t}.{s}USDT" for s in symbols for t in TOPICS}
        self.subscribed: list[set[str]] = []  # per connection
        self.pings = 0
        self.errors: list[str] = []

    async def handshake(self, ws: web.WebSocketResponse, loop: Loopback) -> asyncio.Task[None]:
        got: set[str] = set()
        conn = f"conn-{loop.ws_connections}"
        while got != self.expected:
            msg = await ws.receive(timeout=5)
            if msg.type != WSMsgType.TEXT:
                self.errors.append(f"connection ended before subscribing: {msg.type}")
                raise ConnectionResetError
            loop.received.append(msg.data)
            frame = json.loads(msg.data)
            if frame.get("op") == "ping":
                await self._pong(ws, conn, frame)
                continue
            args = frame.get("args")
            if frame.get("op") != "subscribe" or not isinstance(args, list):
                self.errors.append(f"unexpected frame {msg.data}")
                continue
            if not 1 <= len(args) <= 10 or not isinstance(frame.get("req_id"), str):
                self.errors.append(f"bad subscribe frame {msg.data}")
            if not set(args) <= self.expected:
                self.errors.append(f"unexpected topics {sorted(set(args) - self.expected)}")
            got |= set(args)
            await send_json(ws, {"success": True, "ret_msg": "subscribe", "conn_id": conn,
                                 "req_id": frame.get("req_id", ""), "op": "subscribe"})  # fmt: skip
        self.subscribed.append(got)
        return asyncio.create_task(self._serve(ws, loop, conn))

    async def _pong(self, ws: web.WebSocketResponse, conn: str, frame: dict[str, Any]) -> None:
        if frame != {"op": "ping"}:
            self.errors.append(f"unexpected ping frame {frame}")
        self.pings += 1
        await send_json(ws, {"success": True, "ret_msg": "pong", "conn_id": conn,
                             "req_id": "", "op": "ping"})  # fmt: skip

    async def _serve(self, ws: web.WebSocketResponse, loop: Loopback, conn: str) -> None:
        with contextlib.suppress(ConnectionResetError):
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                loop.received.append(msg.data)
                frame = json.loads(msg.data)
                if frame.get("op") == "ping":
                    await self._pong(ws, conn, frame)
                else:
                    self.errors.append(f"unexpected frame {msg.data}")


def settings_for(loop: Loopback, **feeds: str) -> Settings:
    endpoint = Endpoint(f"{loop.ws_base}/v5/public/linear", loop.http)
    return loopback_settings({"bybit": endpoint}, exchanges=["bybit"], **feeds)


def batches(n: int, per: int = 5) -> list[dict[str, object]]:
    """n allLiquidation pushes of `per` distinct BTC prints each, alternating sides."""
    out = []
    for b in range(n):
        items = []
        for k in range(per):
            i = b * per + k
            side = "Buy" if i % 3 else "Sell"
            items.append(liq_item(T0 + i, side, f"{0.001 * (i + 1):.3f}", f"{96000 + i}"))
        out.append(all_liq(items))
    return out


def expected_totals(msgs: list[dict[str, object]]) -> tuple[float, float, int]:
    long_usd = short_usd = 0.0
    count = 0
    for msg in msgs:
        for item in msg["data"]:  # type: ignore[attr-defined]
            side = "long" if item["S"] == "Buy" else "short"
            notional = float(item["v"]) * float(item["p"])  # p as reported
            long_usd += notional if side == "long" else 0.0
            short_usd += notional if side == "short" else 0.0
            count += 1
    return long_usd, short_usd, count


def market_data(start: int) -> list[dict[str, object]]:
    """A ticker snapshot, deltas with missing fields, and trades over two minutes."""
    m0 = start - start % 60_000
    return [
        ticker("snapshot", start, markPrice="96000", fundingRate="0.0001",
               openInterest="100000", openInterestValue="9600000000"),
        ticker("delta", start + 100, markPrice="96005.5"),
        ticker("delta", start + 200, bid1Price="96004", ask1Price="96005"),
        trades([trade(m0 + 1_000, "Buy", "2", "96000", "t1"),
                trade(m0 + 2_000, "Sell", "1", "96003", "t2")]),
        trades([trade(m0 + 61_000, "Sell", "1", "96001", "t3")]),
    ]  # fmt: skip


async def test_live_feed_subscribes_and_fills_the_model() -> None:
    fake = FakeBybit(["BTC"])
    liqs = batches(10)

    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        reader = await fake.handshake(ws, loop)
        for msg in market_data(T0):
            await send_json(ws, msg)
        for msg in liqs:
            await send_json(ws, msg)
        await reader

    async with Loopback() as loop:
        loop.ws("/v5/public/linear", stream)
        loop.rest("/v5/market/orderbook", book(ts=T0))
        engine = Engine()
        task = asyncio.create_task(LiveSource(settings_for(loop), ["BTC"]).run(engine))
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 50)
            await wait_until(lambda: BOOK_PATH in loop.requests)
            snap = engine.snapshot("BTC")
            long_usd, short_usd, _ = expected_totals(liqs)
            assert snap.realized_long_usd == pytest.approx(long_usd)
            assert snap.realized_short_usd == pytest.approx(short_usd)
            assert snap.realized_by_exchange["bybit"][0] == pytest.approx(long_usd)
            # The deltas kept the snapshot's funding and OI; OI is one side.
            assert snap.price == 96005.5 and snap.price_source == "mark"
            assert snap.funding["bybit"] == pytest.approx(0.0001)
            assert snap.open_interest == {"bybit": 50_000.0}
            health = engine.feeds["bybit"]
            assert health.state == "connected" and health.liquidations_complete is True
            assert health.skipped == 0
            assert health.ignored >= 2  # the ack and the bid/ask-only delta
            assert fake.subscribed == [fake.expected] and fake.errors == []
        finally:
            await stop(task)


async def test_keepalive_ping_is_answered_and_the_pong_ignored() -> None:
    fake = FakeBybit(["BTC"])

    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        await (await fake.handshake(ws, loop))

    async with Loopback() as loop:
        loop.ws("/v5/public/linear", stream)
        settings = settings_for(loop)
        (spec,) = bybit.plan(["BTC"], settings.exchanges["bybit"], settings.feeds).streams
        assert spec.ping_frame == {"op": "ping"}
        spec = dataclasses.replace(spec, ping_interval_s=0.05)  # 20 s in production
        engine = Engine()
        async with aiohttp.ClientSession() as session:
            client = StreamClient(spec, bybit.Parser(), engine, session)
            task = asyncio.create_task(client.run())
            try:
                await wait_until(lambda: fake.pings >= 3)
                await wait_until(lambda: engine.feeds["bybit"].ignored >= 1 + 3)
                health = engine.feeds["bybit"]
                assert health.skipped == 0 and health.state == "connected"
                assert client.connections == 1 and fake.errors == []
                assert '{"op":"ping"}' in loop.received
            finally:
                await stop(task)


async def test_drop_mid_burst_resubscribes_loses_nothing_and_counts_overlap_once() -> None:
    fake = FakeBybit(["BTC"])
    liqs = batches(40)  # 200 prints, 5 per push

    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        reader = await fake.handshake(ws, loop)
        if loop.ws_connections == 1:
            for msg in liqs[:24]:
                await send_json(ws, msg)
            await ws.close()  # dropped in the middle of the burst
            return
        for msg in liqs[22:]:  # the new connection repeats 2 pushes (10 prints)
            await send_json(ws, msg)
        await reader

    async with Loopback() as loop:
        loop.ws("/v5/public/linear", stream)
        loop.rest("/v5/market/orderbook", book(ts=T0))
        engine = Engine()
        source = LiveSource(settings_for(loop), ["BTC"])
        task = asyncio.create_task(source.run(engine))
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count >= 200)
            await asyncio.sleep(0.1)
            snap = engine.snapshot("BTC")
            long_usd, short_usd, count = expected_totals(liqs)
            assert count == 200 and snap.realized_count == 200 and snap.duplicates == 10
            assert snap.realized_long_usd == pytest.approx(long_usd)
            assert snap.realized_short_usd == pytest.approx(short_usd)
            assert source.clients[0].connections == 2
            assert fake.subscribed == [fake.expected, fake.expected]  # resubscribed
            assert fake.errors == []
        finally:
            await stop(task)


async def test_malformed_frames_are_counted_and_the_stream_keeps_going() -> None:
    fake = FakeBybit(["BTC"])
    good = batches(2)

    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        reader = await fake.handshake(ws, loop)
        await send_json(ws, good[0])
        await ws.send_str('{"topic": "allLiquidation.BTCUSDT", "data": [{"T": ')
        await ws.send_str("not json")
        await send_json(ws, _with(all_liq([liq_item(T0)]), S="Long"))
        await send_json(ws, ticker("delta", T0, markPrice="zero"))
        await ws.send_bytes(b"\xff\xfe")
        await send_json(ws, good[1])
        await reader

    async with Loopback() as loop:
        loop.ws("/v5/public/linear", stream)
        loop.rest("/v5/market/orderbook", book(ts=T0))
        engine = Engine()
        task = asyncio.create_task(LiveSource(settings_for(loop), ["BTC"]).run(engine))
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 10)
            health = engine.feeds["bybit"]
            assert health.skipped == 5 and health.state == "connected"
            assert "bad message" in (health.last_error or "")
        finally:
            await stop(task)


async def test_rest_error_code_is_counted_with_its_message() -> None:
    calls = {"n": 0}

    async def orderbook(request: web.Request, loop: Loopback) -> web.StreamResponse:
        calls["n"] += 1
        assert request.query["category"] == "linear" and request.query["limit"] == "500"
        if calls["n"] == 1:  # Bybit reports errors with HTTP 200
            return web.json_response({"retCode": 10006, "retMsg": "Too many visits!",
                                      "result": {}, "retExtInfo": {}, "time": T0})  # fmt: skip
        return web.json_response(book(ts=T0))

    async with Loopback() as loop:
        loop.rest("/v5/market/orderbook", orderbook)
        engine = Engine()
        async with aiohttp.ClientSession() as session:
            spec = PollSpec("bybit", "bybit", BOOK_PATH, loop.http + BOOK_PATH, interval_s=1.0)
            poller = RestPoller(spec, bybit.Parser(), engine, session,
                                backoff=Backoff(0.5, 2.0), rng=random.Random(1))  # fmt: skip
            assert await poller.poll_once() == 1.0
            health = engine.feeds["bybit"]
            assert health.skipped == 1 and "Too many visits!" in (health.last_error or "")
            await poller.poll_once()
            assert health.skipped == 1 and health.last_event_ms is not None


async def test_recording_replays_to_the_same_model(tmp_path: Any) -> None:
    fake = FakeBybit(["BTC"])
    liqs = batches(12)

    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        reader = await fake.handshake(ws, loop)
        data = market_data(T0)
        for msg in [*data[:3], *liqs[:6], *data[3:], *liqs[6:]]:
            await send_json(ws, msg)
        await send_json(ws, ticker("delta", T0 + 500, openInterest="100200"))
        await reader

    path = tmp_path / "rec.jsonl"
    async with Loopback() as loop:
        loop.ws("/v5/public/linear", stream)
        loop.rest("/v5/market/orderbook", book(ts=T0))
        live = Engine()
        recorder = Recorder(path)
        task = asyncio.create_task(
            LiveSource(settings_for(loop), ["BTC"], recorder=recorder).run(live)
        )
        try:
            await wait_until(lambda: live.snapshot("BTC").realized_count == 60)
            await wait_until(lambda: live.snapshot("BTC").open_interest.get("bybit") == 50_100)
            await wait_until(lambda: BOOK_PATH in loop.requests)
            await asyncio.sleep(0.05)
        finally:
            await stop(task)
            recorder.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert {x["ex"] for x in lines} == {"bybit"}
    assert any(x.get("rest") == BOOK_PATH for x in lines)

    replayed = Engine()
    ReplaySource(path, speed=None).run_sync(replayed)
    a, b = live.snapshot("BTC"), replayed.snapshot("BTC")
    assert b.realized_count == a.realized_count == 60
    assert b.realized_long_usd == pytest.approx(a.realized_long_usd)
    assert b.realized_short_usd == pytest.approx(a.realized_short_usd)
    assert b.open_interest == a.open_interest == {"bybit": 50_100.0}
    assert b.funding == a.funding and b.price == a.price
    assert replayed.feeds["bybit"].skipped == live.feeds["bybit"].skipped == 0
