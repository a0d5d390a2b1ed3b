"""Connections, rate limits, listings and failures (issue 11: items 22, 23, 25 and 26), against
loopback servers speaking each exchange's protocol.

- 60 watched markets: Binance's streams go over several connections, none above the cap, and the
  REST server sees a request weight within Binance's budget, timed on a faster clock.
- A market listed on only two exchanges is subscribed on those two; the others show it as not
  listed. Without listings, each exchange's refusal is counted, shown, and not sent again.
- Offline: a snapshot gives up as soon as every exchange failed; health carries the next retry
  and the status line shows it; proxies come from the environment.
- OKX's 64008 notice starts the overlapping replacement connection at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web
from support.loopback import (
    Loopback,
    free_port,
    loopback_settings,
    read_frames,
    send_json,
    wait_until,
)
from support.recordings import envelope, mark_price

from liqtui.cli import main
from liqtui.config import Endpoint, Settings
from liqtui.exchanges import binance, bybit, hyperliquid, ids, okx
from liqtui.exchanges.spec import RateLimit
from liqtui.feeds import stream
from liqtui.feeds.budget import Clock, RestBudget
from liqtui.feeds.live import CONNECT_SPACING_S, LiveSource
from liqtui.markets import exchange_symbol
from liqtui.model.engine import Engine
from liqtui.output.snapshot import snapshot_dict
from liqtui.ui.widgets.status import fit_line, status_parts

EXCHANGES = ids()
T0 = int(time.time() * 1000) - 60_000


@pytest.fixture(autouse=True)
def _fresh_t0() -> None:
    global T0
    T0 = int(time.time() * 1000) - 60_000


async def stop(source: LiveSource, task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# -- clocks -----------------------------------------------------------------------------------
class DrivenClock(Clock):
    """Time moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)


class FastClock(Clock):
    """Monotonic time running `speed` times faster than the wall clock."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.start = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self.start) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.speed)


def peak_in_window(spent: list[tuple[float, float]], window_s: float) -> float:
    """The most weight spent in any window of `window_s` (sliding, starting at a request)."""
    spent = sorted(spent)
    peak, j, total = 0.0, 0, 0.0
    for t, w in spent:
        total += w
        while spent[j][0] <= t - window_s:
            total -= spent[j][1]
            j += 1
        peak = max(peak, total)
    return peak


# -- item 22: the REST budget ------------------------------------------------------------------
async def test_budget_holds_any_window_within_its_share_on_a_driven_clock() -> None:
    clock = DrivenClock()
    budget = RestBudget(binance.REST_LIMIT, 0.5, clock)
    spent: list[tuple[float, float]] = []

    async def poller(weight: float, n: int) -> None:
        for _ in range(n):
            await budget.acquire(weight)
            spent.append((clock.now(), weight))

    # More demand than the budget: 5 pollers asking all at once, light and heavy requests.
    await asyncio.gather(*(poller(w, 300) for w in (1, 20, 20, 1, 10)))
    duration = clock.now()
    assert budget.rate == 20.0 and budget.capacity == 40.0  # 2,400 / min × 0.5; 2 s of burst
    assert peak_in_window(spent, 60.0) <= 1200 + budget.capacity  # never near 2,400
    assert sum(w for _, w in spent) / duration == pytest.approx(20.0, rel=0.01)
    # Heavy requests are not starved by light ones: requests leave in the order they queued.
    heavy_done = max(t for t, w in spent if w == 20)
    assert heavy_done <= duration


def test_budget_never_fills_the_headroom_of_short_windows() -> None:
    """OKX allows 20 requests in 2 s: half of it, plus the burst, stays under the limit."""
    budget = RestBudget(okx.REST_LIMIT, 0.5)
    assert budget.capacity + budget.rate * okx.REST_LIMIT.per_s < okx.REST_LIMIT.weight
    for limit in (binance.REST_LIMIT, bybit.REST_LIMIT, hyperliquid.REST_LIMIT, RateLimit(5, 1)):
        for share in (0.05, 0.5, 0.9):
            b = RestBudget(limit, share)
            assert b.capacity + b.rate * limit.per_s < limit.weight, (limit, share)


def sixty() -> list[str]:
    return [f"M{i:02d}" for i in range(60)]


def test_sixty_markets_stretch_binance_polls_to_fit_the_budget() -> None:
    s = Settings()
    p = binance.plan(sixty(), s.exchanges["binance"], s.feeds)
    weights = {q.endpoint.split("?")[0]: q.weight for q in p.polls}
    assert weights == {"/fapi/v1/openInterest": 1, "/fapi/v1/depth": 20}  # limit=1000 → 20
    demand = sum(q.weight / q.interval_s for q in p.polls)
    assert demand == pytest.approx(60 * (1 / 10 + 20 / 15))  # 86 weight/s: 5,160 a minute
    budget = RestBudget(binance.REST_LIMIT, s.feeds.rest_share)
    assert budget.stretch(demand) == pytest.approx(86 / 18)  # 90 % of 20 weight/s planned


class BinanceForSixty:
    """Binance's combined streams and REST: records each connection's streams and each
    request's weight on the test's clock."""

    def __init__(self, loop: Loopback, clock: Clock, markets: list[str]) -> None:
        self.clock = clock
        self.markets = markets
        self.connections: list[list[str]] = []
        self.opened: list[float] = []  # wall clock (monotonic) of each connection
        self.spent: list[tuple[float, float]] = []
        loop.ws("/market/stream", self.stream)
        loop.rest("/fapi/v1/exchangeInfo", self.exchange_info)
        loop.rest("/fapi/v1/openInterest", self.open_interest)
        loop.rest("/fapi/v1/depth", self.depth)

    async def stream(self, ws: web.WebSocketResponse, request: web.Request, lb: Loopback) -> None:
        streams = request.query["streams"].split("/")
        self.connections.append(streams)
        self.opened.append(time.monotonic())
        for name in streams:
            if name.endswith("@markPrice@1s"):
                symbol = name.split("@")[0].upper()
                await send_json(ws, envelope(mark_price(symbol, "100.5", T0), name))
        await read_frames(ws, lb)

    async def exchange_info(self, request: web.Request, _: Loopback) -> web.StreamResponse:
        self.spent.append((self.clock.now(), 1))
        symbols = [{"symbol": exchange_symbol("binance", m), "contractType": "PERPETUAL",
                    "status": "TRADING", "quoteAsset": "USDT"} for m in self.markets]  # fmt: skip
        return web.json_response({"symbols": symbols})

    async def open_interest(self, request: web.Request, _: Loopback) -> web.StreamResponse:
        self.spent.append((self.clock.now(), 1))
        return web.json_response({"symbol": request.query["symbol"], "openInterest": "1000.5",
                                  "time": int(time.time() * 1000)})  # fmt: skip

    async def depth(self, request: web.Request, _: Loopback) -> web.StreamResponse:
        self.spent.append((self.clock.now(), binance.DEPTH_WEIGHT[int(request.query["limit"])]))
        now = int(time.time() * 1000)
        return web.json_response({"lastUpdateId": 1, "E": now, "T": now,
                                  "bids": [["100", "5"]], "asks": [["101", "5"]]})  # fmt: skip


async def test_sixty_markets_use_several_connections_and_stay_within_the_weight_budget() -> None:
    """Binance, 60 watched markets, default settings (100 streams a connection, half of the
    2,400 weight a minute). The REST server times every request on a clock 25× faster than the
    wall clock, for 150 s of it: any minute's weight stays within the budget, and the polls
    still use most of it."""
    clock = FastClock(25.0)
    markets = sixty()
    async with Loopback() as loop:
        server = BinanceForSixty(loop, clock, markets)
        endpoint = Endpoint(f"{loop.ws_base}/market", loop.http)
        settings = loopback_settings({"binance": endpoint}, exchanges=["binance"])
        engine = Engine()
        source = LiveSource(settings, markets, rng=random.Random(1), clock=clock)
        task = asyncio.create_task(source.run(engine))
        try:
            await wait_until(lambda: clock.now() >= 150.0, timeout=30)
            health = engine.feeds["binance"]
        finally:
            await stop(source, task)
    cap = settings.feeds.streams_per_connection
    streams = [s for conn in server.connections for s in conn]
    assert len(server.connections) >= 2 and all(len(c) <= cap for c in server.connections)
    assert len(streams) == len(set(streams)) == 1 + 2 * 60 and streams.count("!forceOrder@arr") == 1
    gaps = [b - a for a, b in zip(server.opened, server.opened[1:], strict=False)]
    assert min(gaps) >= CONNECT_SPACING_S - 0.05  # not a burst of connections
    assert health.poll_stretch == pytest.approx(86 / 18)
    assert "polls ×4.8 slower (rate limit)" in health.remarks()
    peak = peak_in_window(server.spent, 60.0)
    total = sum(w for _, w in server.spent)
    budget = source.budgets["binance"]
    print(  # the figures for the record (pytest -s)
        f"\nbinance, 60 markets: {len(server.connections)} connections "
        f"({[len(c) for c in server.connections]} streams); peak weight in a minute {peak:g} "
        f"(budget {budget.rate * 60:g} + burst {budget.capacity:g}; Binance allows 2400); "
        f"mean {total / clock.now() * 60:.0f} weight/min over {clock.now():.0f} s"
    )
    # A request arrives a few ms (×25) after its turn: allow that much on top of the burst.
    assert peak <= budget.rate * 60 + budget.capacity + 60 < 2400
    assert total / clock.now() >= 0.6 * budget.rate  # not starved either


# -- item 23: listings and refusals ------------------------------------------------------------
class Venues:
    """Binance, Bybit, OKX and Hyperliquid on one loopback server, one path prefix each.

    `listed[ex]`: the markets its listing names (None: it serves no listing: 404);
    `accepts[ex]`: the markets its WebSocket accepts subscriptions for (others are refused the
    way that exchange refuses them). `topics[ex]` holds each connection's subscriptions."""

    def __init__(
        self,
        loop: Loopback,
        listed: dict[str, set[str] | None],
        accepts: dict[str, set[str]],
    ) -> None:
        self.listed, self.accepts = listed, accepts
        self.topics: dict[str, list[list[str]]] = {ex: [] for ex in EXCHANGES}
        loop.ws("/binance/market/stream", self.binance_ws)
        loop.ws("/bybit/v5/public/linear", self.bybit_ws)
        loop.ws("/okx/ws/v5/public", self.okx_ws)
        loop.ws("/hyperliquid/ws", self.hl_ws)
        loop.rest("/binance/fapi/v1/exchangeInfo", self.binance_listing)
        loop.rest("/bybit/v5/market/instruments-info", self.bybit_listing)
        loop.rest("/okx/api/v5/public/instruments", self.okx_listing)
        loop.rest("/hyperliquid/info", self.hl_info, method="POST")

    def endpoints(self, loop: Loopback) -> dict[str, Endpoint]:
        ws, http = loop.ws_base, loop.http
        return {
            "binance": Endpoint(f"{ws}/binance/market", f"{http}/binance"),
            "bybit": Endpoint(f"{ws}/bybit/v5/public/linear", f"{http}/bybit"),
            "okx": Endpoint(f"{ws}/okx/ws/v5/public", f"{http}/okx"),
            "hyperliquid": Endpoint(f"{ws}/hyperliquid/ws", f"{http}/hyperliquid"),
        }

    def _listing(self, ex: str) -> set[str]:
        listed = self.listed[ex]
        if listed is None:
            raise web.HTTPNotFound()
        return listed

    # Binance: subscriptions are in the URL; an unknown symbol is accepted and stays silent.
    async def binance_ws(self, ws: web.WebSocketResponse, req: web.Request, lb: Loopback) -> None:
        streams = req.query["streams"].split("/")
        self.topics["binance"].append(streams)
        for name in streams:
            symbol = name.split("@")[0].upper()
            if name.endswith("@markPrice@1s") and symbol[:-4] in self.accepts["binance"]:
                await send_json(ws, envelope(mark_price(symbol, "100.5", T0), name))
        await read_frames(ws, lb)

    async def binance_listing(self, req: web.Request, _: Loopback) -> web.StreamResponse:
        symbols = [{"symbol": f"{m}USDT", "contractType": "PERPETUAL", "status": "TRADING",
                    "quoteAsset": "USDT"} for m in sorted(self._listing("binance"))]  # fmt: skip
        return web.json_response({"symbols": symbols})

    # Bybit: a frame naming an unknown topic is refused as a whole.
    async def bybit_ws(self, ws: web.WebSocketResponse, req: web.Request, lb: Loopback) -> None:
        got: list[str] = []
        self.topics["bybit"].append(got)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            if frame.get("op") != "subscribe":
                continue
            args = frame["args"]
            bad = [a for a in args if a.split(".")[1][:-4] not in self.accepts["bybit"]]
            ok = not bad
            text = "" if ok else f"error:handler not found,topic:{bad[0]}"
            await send_json(ws, {"success": ok, "ret_msg": text, "conn_id": "c",
                                 "req_id": frame.get("req_id"), "op": "subscribe"})  # fmt: skip
            if ok:
                got += args
                for a in args:
                    if a.startswith("tickers."):
                        data = {"symbol": a[8:], "markPrice": "100.5", "openInterest": "10"}
                        await send_json(ws, {"topic": a, "type": "snapshot", "ts": T0,
                                             "data": data})  # fmt: skip

    async def bybit_listing(self, req: web.Request, _: Loopback) -> web.StreamResponse:
        items = [{"symbol": f"{m}USDT", "contractType": "LinearPerpetual", "status": "Trading",
                  "quoteCoin": "USDT"} for m in sorted(self._listing("bybit"))]  # fmt: skip
        return web.json_response({"retCode": 0, "retMsg": "OK",
                                  "result": {"list": items, "nextPageCursor": ""}})  # fmt: skip

    # OKX: each argument is acked or refused on its own (60018).
    async def okx_ws(self, ws: web.WebSocketResponse, req: web.Request, lb: Loopback) -> None:
        got: list[str] = []
        self.topics["okx"].append(got)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            if msg.data == "ping":
                await ws.send_str("pong")
                continue
            for arg in json.loads(msg.data)["args"]:
                inst = arg.get("instId", "SWAP")
                if inst != "SWAP" and inst.split("-")[0] not in self.accepts["okx"]:
                    await send_json(ws, {"event": "error", "code": "60018", "connId": "c",
                                         "msg": f"channel:{arg['channel']},instId:{inst} "
                                                "doesn't exist"})  # fmt: skip
                    continue
                got.append(f"{arg['channel']}:{inst}")
                await send_json(ws, {"event": "subscribe", "arg": arg, "connId": "c"})
                if arg["channel"] == "mark-price":
                    item = {"instType": "SWAP", "instId": inst, "markPx": "100.5", "ts": str(T0)}
                    await send_json(ws, {"arg": arg, "data": [item]})

    async def okx_listing(self, req: web.Request, _: Loopback) -> web.StreamResponse:
        data = [{"instType": "SWAP", "instId": f"{m}-USDT-SWAP", "ctVal": "1", "ctValCcy": m,
                 "ctType": "linear", "settleCcy": "USDT", "state": "live"}
                for m in sorted(self._listing("okx"))]  # fmt: skip
        return web.json_response({"code": "0", "msg": "", "data": data})

    # Hyperliquid: an unknown coin answers on the error channel.
    async def hl_ws(self, ws: web.WebSocketResponse, req: web.Request, lb: Loopback) -> None:
        got: list[str] = []
        self.topics["hyperliquid"].append(got)
        await ws.send_str("Websocket connection established.")
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            frame = json.loads(msg.data)
            sub = frame.get("subscription")
            if sub is None:
                continue
            if sub["coin"] not in self.accepts["hyperliquid"]:
                refusal = f"Invalid subscription {json.dumps(sub)}"
                await send_json(ws, {"channel": "error", "data": refusal})
                continue
            got.append(f"{sub['type']}:{sub['coin']}")
            await send_json(ws, {"channel": "subscriptionResponse", "data": frame})
            if sub["type"] == "activeAssetCtx":
                ctx = {"markPx": "100.5", "openInterest": "10", "funding": "0.0001"}
                await send_json(ws, {"channel": "activeAssetCtx",
                                     "data": {"coin": sub["coin"], "ctx": ctx}})  # fmt: skip

    async def hl_info(self, req: web.Request, _: Loopback) -> web.StreamResponse:
        body = await req.json()
        if body.get("type") != "meta":
            raise web.HTTPNotFound()
        universe = [{"name": m, "szDecimals": 2, "maxLeverage": 20}
                    for m in sorted(self._listing("hyperliquid"))]  # fmt: skip
        return web.json_response({"universe": universe})

    def subscribed(self, ex: str) -> set[str]:
        return {t for conn in self.topics[ex] for t in conn}


def names_xyz(topics: set[str]) -> set[str]:
    return {t for t in topics if "XYZ" in t.upper()}


async def test_a_market_listed_on_two_exchanges_is_subscribed_on_those_two_only() -> None:
    both, btc = {"BTC", "XYZ"}, {"BTC"}
    listed: dict[str, set[str] | None] = {
        "binance": both, "bybit": both, "okx": btc, "hyperliquid": btc,
    }  # fmt: skip
    async with Loopback() as loop:
        venues = Venues(loop, listed, {ex: set(v or ()) for ex, v in listed.items()})
        settings = loopback_settings(venues.endpoints(loop), depth_poll="1h", oi_poll="1h")
        engine = Engine()
        source = LiveSource(settings, ["BTC", "XYZ"], rng=random.Random(1))
        task = asyncio.create_task(source.run(engine))
        try:
            await wait_until(
                lambda: all(
                    engine.feeds.get(ex) and engine.feeds[ex].state == "connected"
                    for ex in EXCHANGES
                ),
                timeout=10,
            )
            await wait_until(lambda: "XYZ" in engine.markets and "BTC" in engine.markets)
            health = {ex: engine.feeds[ex] for ex in EXCHANGES}
        finally:
            await stop(source, task)
    assert "xyzusdt@markPrice@1s" in venues.subscribed("binance")
    assert {"allLiquidation.XYZUSDT", "tickers.XYZUSDT"} <= venues.subscribed("bybit")
    assert names_xyz(venues.subscribed("okx")) == set()
    assert names_xyz(venues.subscribed("hyperliquid")) == set()
    assert "mark-price:BTC-USDT-SWAP" in venues.subscribed("okx")
    assert "activeAssetCtx:BTC" in venues.subscribed("hyperliquid")
    for ex in ("binance", "bybit"):
        assert health[ex].unlisted == () and health[ex].refused == 0
    for ex in ("okx", "hyperliquid"):
        assert health[ex].unlisted == ("XYZ",) and health[ex].refused == 0
        assert "XYZ not listed" in health[ex].remarks()
    feeds = {f["name"]: f for f in snapshot_dict(engine.snapshot("XYZ"))["feeds"]}
    assert feeds["okx"]["unlisted"] == ["XYZ"] and feeds["binance"]["unlisted"] == []


async def test_refused_subscriptions_are_counted_shown_and_not_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No listing to go by (404; OKX lists XYZ but refuses it, as for a swap not yet open):
    each exchange that refuses XYZ has it counted and shown, renews its connection without
    XYZ (Bybit refused the whole frame, BTC included), and never sends XYZ again."""
    monkeypatch.setattr(stream, "RENEW_MIN_AGE_S", 0.1)
    btc = {"BTC"}
    listed: dict[str, set[str] | None] = {
        "binance": None, "bybit": None, "okx": {"BTC", "XYZ"}, "hyperliquid": None,
    }  # fmt: skip
    accepts = {"binance": btc, "bybit": btc, "okx": btc, "hyperliquid": btc}
    async with Loopback() as loop:
        venues = Venues(loop, listed, accepts)
        settings = loopback_settings(venues.endpoints(loop), depth_poll="1h", oi_poll="1h")
        engine = Engine()
        source = LiveSource(settings, ["BTC", "XYZ"], rng=random.Random(1))
        task = asyncio.create_task(source.run(engine))
        refusing = ("bybit", "okx", "hyperliquid")
        try:
            await wait_until(
                lambda: (
                    all(len(venues.topics[ex]) >= 2 for ex in refusing)
                    and "tickers.BTCUSDT" in venues.topics["bybit"][-1]
                ),
                timeout=10,
            )
            await asyncio.sleep(0.5)  # time enough for a loop of refusals to show
            health = {ex: engine.feeds[ex] for ex in EXCHANGES}
            connections = {ex: len(venues.topics[ex]) for ex in refusing}
            lines = [
                "".join(t for t, _ in fit_line(part, 400))
                for part in status_parts(engine.snapshot("XYZ"))
            ]
        finally:
            await stop(source, task)
    assert connections == {"bybit": 2, "okx": 2, "hyperliquid": 2}  # one renewal, no loop
    for ex in refusing:
        second = venues.topics[ex][1]
        assert names_xyz(set(second)) == set(), (ex, second)  # not sent again
        assert health[ex].unlisted == ("XYZ",) and health[ex].refused >= 1
        assert "XYZ not listed" in health[ex].remarks()
        assert any("BTC" in t.upper() for t in second)
    assert health["okx"].refused == 4  # one 60018 per channel of XYZ
    assert health["bybit"].refused == 1 and health["hyperliquid"].refused == 2
    assert health["binance"].unlisted == () and health["binance"].refused == 0
    assert "okx connected" in lines[1] and "[XYZ not listed]" in lines[1]


def test_refusals_name_their_markets() -> None:
    with pytest.raises(okx.Refused) as caught:
        okx.Parser()({"event": "error", "code": "60018",
                      "msg": "channel:trades,instId:LTC-USDT-SWAP doesn't exist"})  # fmt: skip
    assert caught.value.markets == ("LTC",)
    with pytest.raises(bybit.Refused) as caught:
        bybit.Parser()({"success": False, "ret_msg": "error:handler not found,topic:tickers.XUSDT",
                        "conn_id": "c", "req_id": "2", "op": "subscribe"})  # fmt: skip
    assert caught.value.markets == ("X",)
    data = 'Invalid subscription {"type":"trades","coin":"kPEPE"}'
    with pytest.raises(hyperliquid.Refused) as caught:
        hyperliquid.Parser()({"channel": "error", "data": data})
    assert caught.value.markets == ("PEPE",)  # kPEPE is the market PEPE
    with pytest.raises(hyperliquid.Refused) as caught:  # a duplicate is not a refused market
        again = 'Already subscribed: {"type":"trades","coin":"BTC"}'
        hyperliquid.Parser()({"channel": "error", "data": again})
    assert caught.value.markets == ()
    with pytest.raises(binance.Refused) as caught:
        binance.Parser()({"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 2})
    assert "invalid stream" in str(caught.value) and caught.value.markets == ()


def test_frames_without_refused_markets() -> None:
    s = Settings()
    frames = bybit.plan(["BTC", "XYZ"], s.exchanges["bybit"], s.feeds).streams[0].subscribe
    (kept,) = [bybit.without(f, frozenset({"XYZ"})) for f in frames]
    assert kept["args"] == ["allLiquidation.BTCUSDT", "tickers.BTCUSDT", "publicTrade.BTCUSDT"]  # type: ignore[index]
    assert bybit.without(frames[0], frozenset({"BTC", "XYZ"})) is None
    (frame,) = okx.plan(["XYZ"], s.exchanges["okx"], s.feeds).streams[0].subscribe
    assert okx.without(frame, frozenset({"XYZ"})) == {
        "op": "subscribe", "args": [{"channel": "liquidation-orders", "instType": "SWAP"}],
    }  # fmt: skip
    sub = {"method": "subscribe", "subscription": {"type": "trades", "coin": "kPEPE"}}
    assert hyperliquid.without(sub, frozenset({"PEPE"})) is None  # kPEPE is the market PEPE
    assert hyperliquid.without(sub, frozenset({"BTC"})) == sub


def test_listings_name_only_trading_usdt_perpetuals() -> None:
    def symbol(name: str, kind: str, status: str, quote: str) -> dict[str, str]:
        return {"symbol": name, "contractType": kind, "status": status, "quoteAsset": quote}

    info = {"symbols": [
        symbol("BTCUSDT", "PERPETUAL", "TRADING", "USDT"),
        symbol("ETHUSDC", "PERPETUAL", "TRADING", "USDC"),
        symbol("BTCUSDT_261225", "CURRENT_QUARTER", "TRADING", "USDT"),
        symbol("OLDUSDT", "PERPETUAL", "SETTLING", "USDT"),
    ]}  # fmt: skip
    assert binance.listed_markets(info) == {"BTC"}
    page = {"retCode": 0, "result": {"list": [
        {"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading",
         "quoteCoin": "USDT"},
        {"symbol": "BTCPERP", "contractType": "LinearPerpetual", "status": "Trading",
         "quoteCoin": "USDC"},
    ], "nextPageCursor": ""}}  # fmt: skip
    assert bybit.listed_markets(page) == {"BTC"}
    page["result"]["nextPageCursor"] = "next"  # type: ignore[index]
    assert bybit.listed_markets(page) is None  # a partial listing says nothing of the rest
    meta = {"universe": [{"name": "BTC"}, {"name": "kPEPE"}, {"name": "HPOS", "isDelisted": True}]}
    assert hyperliquid.listed_markets(meta) == {"BTC", "PEPE"}
    with pytest.raises(binance.ParseError):
        binance.listed_markets({"code": -1, "msg": "no"})


# -- item 25: no network -----------------------------------------------------------------------
def offline_config(tmp_path: Path) -> Path:
    """Every exchange at a port that refuses (as with no network); default timings."""
    lines = []
    for ex in EXCHANGES:
        port = free_port()
        lines.append(
            f'[exchanges.{ex}]\nws_url = "ws://127.0.0.1:{port}"\n'
            f'rest_url = "http://127.0.0.1:{port}"\n'
        )
    path = tmp_path / "offline.toml"
    path.write_text("".join(lines))
    return path


def test_offline_snapshot_gives_up_quickly_with_one_line_per_exchange(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = offline_config(tmp_path)
    started = time.monotonic()
    status = main(["snapshot", "--config", str(config), "--symbol", "BTC", "--wait", "30"])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err.strip().splitlines()
    print(f"\noffline snapshot gave up after {elapsed:.2f} s (--wait 30)")
    assert elapsed < 10  # not the 30 s of --wait
    assert status == 1  # documented: no data for any requested market
    gave_up = [ln for ln in err if "gave up after" in ln]
    assert sorted(ln.split(":")[1].strip() for ln in gave_up) == sorted(EXCHANGES)
    assert all("Cannot connect to host 127.0.0.1" in ln for ln in gave_up), gave_up
    assert err[-1].startswith("liqtui: no data for BTC")


async def test_health_carries_the_next_retry_and_the_status_line_shows_it() -> None:
    port = free_port()
    endpoint = Endpoint(f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    settings = loopback_settings({"okx": endpoint}, exchanges=["okx"], reconnect_initial="4s",
                                 reconnect_max="8s")  # fmt: skip
    engine = Engine()
    source = LiveSource(settings, ["BTC"], rng=random.Random(1))
    task = asyncio.create_task(source.run(engine))
    try:
        await wait_until(lambda: engine.feeds.get("okx") is not None
                         and engine.feeds["okx"].next_retry_ms is not None)  # fmt: skip
        engine.advance(int(time.time() * 1000))
        health = engine.feeds["okx"]
        wait_ms = health.next_retry_ms - int(time.time() * 1000)  # type: ignore[operator]
        assert health.state == "down" and health.failures >= 2
        assert 0 < wait_ms <= 4000 * 1.3
        snap = engine.snapshot("BTC")
        line = "".join(t for t, _ in fit_line(status_parts(snap)[1], 80))
        doc = snapshot_dict(snap)
    finally:
        await stop(source, task)
    print(f"\n80 columns: {line!r}")
    assert len(line) == 80
    assert re.search(r"  okx down: Cannot connect to host 127\.0\.… retry in [1-5]s  ", line), line
    (feed,) = doc["feeds"]
    assert feed["next_retry_ms"] == health.next_retry_ms and feed["failures"] >= 2


async def test_http_proxy_from_the_environment_carries_rest_and_websocket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The exchange's host does not resolve; HTTP_PROXY names the loopback server, which serves
    what it is asked for (REST in absolute form, the WebSocket upgrade through it)."""
    hosts: list[str] = []

    async def stream_ws(ws: web.WebSocketResponse, request: web.Request, lb: Loopback) -> None:
        hosts.append(request.host)
        await send_json(ws, envelope(mark_price("BTCUSDT", "96000.5", T0), "btcusdt@markPrice@1s"))
        await read_frames(ws, lb)

    async def open_interest(request: web.Request, _: Loopback) -> web.StreamResponse:
        hosts.append(request.host)
        return web.json_response({"symbol": "BTCUSDT", "openInterest": "1234.5", "time": T0})

    async with Loopback() as loop:
        loop.ws("/market/stream", stream_ws)
        loop.rest("/fapi/v1/openInterest", open_interest)
        for name in ("NO_PROXY", "no_proxy", "WS_PROXY", "ws_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", loop.http)
        endpoint = Endpoint("ws://fapi.exchange.invalid/market", "http://fapi.exchange.invalid")
        settings = loopback_settings({"binance": endpoint}, exchanges=["binance"])
        engine = Engine()
        source = LiveSource(settings, ["BTC"], rng=random.Random(1))
        task = asyncio.create_task(source.run(engine))
        try:
            await wait_until(
                lambda: "BTC" in engine.markets and "binance" in engine.markets["BTC"].open_interest
            )
            await wait_until(lambda: engine.snapshot("BTC").price == 96000.5)
        finally:
            await stop(source, task)
    assert set(hosts) == {"fapi.exchange.invalid"} and len(hosts) >= 2


# -- item 26: OKX's close notice ---------------------------------------------------------------
async def test_okx_close_notice_overlaps_a_new_connection_and_loses_no_print(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server pushes a print every 10 ms to every subscribed connection. Connection 1 gets
    the 64008 notice, keeps streaming for 2 s, then closes. The client opens connection 2 at
    once: every print is counted once, including those sent after the notice."""
    monkeypatch.setattr(stream, "RENEW_MIN_AGE_S", 0.2)
    prints: list[dict[str, object]] = []
    conns: list[web.WebSocketResponse] = []
    notice_sent = asyncio.Event()

    def push(i: int) -> dict[str, object]:
        detail = {"bkLoss": "0", "bkPx": f"{90000 + i}", "ccy": "", "posSide": "long",
                  "side": "sell", "sz": str(1 + i % 7), "ts": str(T0 + i)}  # fmt: skip
        return {"arg": {"channel": "liquidation-orders", "instType": "SWAP"},
                "data": [{"details": [detail], "instId": "BTC-USDT-SWAP", "instType": "SWAP",
                          "instFamily": "BTC-USDT", "uly": "BTC-USDT"}]}  # fmt: skip

    async def okx_ws(ws: web.WebSocketResponse, request: web.Request, lb: Loopback) -> None:
        index = len(conns)
        conns.append(ws)
        msg = await ws.receive()
        for arg in json.loads(msg.data)["args"]:
            await send_json(ws, {"event": "subscribe", "arg": arg, "connId": str(index)})
        cursor = len(prints)  # from its subscription on, like the exchange
        opened = time.monotonic()
        while not ws.closed:
            while cursor < len(prints):
                await send_json(ws, prints[cursor])
                cursor += 1
            if index == 0 and not notice_sent.is_set() and time.monotonic() - opened > 0.5:
                await send_json(ws, {"event": "notice", "code": "64008", "connId": "0",
                                     "msg": "The connection will soon be closed for a service "
                                            "upgrade. Please reconnect."})  # fmt: skip
                notice_sent.set()
                asyncio.get_running_loop().call_later(2.0, lambda: asyncio.ensure_future(
                    ws.close(code=1012)))  # fmt: skip
            await asyncio.sleep(0.005)

    async with Loopback() as loop:
        loop.ws("/ws/v5/public", okx_ws)
        loop.rest(okx.INSTRUMENTS_PATH, {"code": "0", "msg": "", "data": [
            {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "ctVal": "0.01", "ctValCcy": "BTC",
             "ctType": "linear", "settleCcy": "USDT", "state": "live"}]})  # fmt: skip
        endpoint = Endpoint(f"{loop.ws_base}/ws/v5/public", loop.http)
        settings = loopback_settings({"okx": endpoint}, exchanges=["okx"], depth_poll="1h")
        engine = Engine()
        source = LiveSource(settings, ["BTC"], rng=random.Random(1))
        task = asyncio.create_task(source.run(engine))
        try:
            await wait_until(lambda: len(conns) == 1 and engine.feeds["okx"].state == "connected")
            deadline = time.monotonic() + 4.0
            i = 0
            while time.monotonic() < deadline:  # the notice at 0.5 s, the close at 2.5 s
                prints.append(push(i))
                i += 1
                await asyncio.sleep(0.01)
            await wait_until(lambda: engine.snapshot("BTC").realized_count == len(prints))
            await asyncio.sleep(0.1)  # anything counted twice would show now
            snap = engine.snapshot("BTC")
            health = engine.feeds["okx"]
            client = source.clients[0]
        finally:
            await stop(source, task)
    assert notice_sent.is_set() and len(conns) == 2 and client.connections == 2
    assert snap.realized_count == len(prints) > 300  # none lost, none counted twice
    assert snap.duplicates > 0  # the overlap was real: both connections sent the same prints
    assert health.reconnects == 0 and health.skipped == 0


def test_a_snapshot_does_not_wait_for_an_exchange_listing_none_of_its_markets() -> None:
    from liqtui.commands.snapshot import missing as _missing

    engine = Engine()
    engine.feed("okx")  # lists XYZ, no data yet: missing
    engine.feed("hyperliquid").unlisted = ("XYZ",)  # nothing to give for XYZ
    assert _missing(engine, ["XYZ"], ["okx", "hyperliquid"]) == (["XYZ"], ["okx"])
    assert _missing(engine, ["XYZ", "BTC"], ["hyperliquid"])[1] == ["hyperliquid"]
