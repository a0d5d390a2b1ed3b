"""Binance live feed against a loopback server speaking its protocol: combined-stream envelopes,
REST open interest and depth, drops mid-burst, silence, planned renewal, refusals, 429s."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from aiohttp import web
from support.loopback import Loopback, loopback_settings, read_frames, send_json, stop, wait_until
from support.recordings import envelope, force_order, mark_price

from liqtui.config import Endpoint
from liqtui.exchanges.binance import Parser, plan
from liqtui.exchanges.spec import PollSpec
from liqtui.feeds.live import LiveSource
from liqtui.feeds.stream import Backoff, RestPoller
from liqtui.model.engine import Engine

# Live events carry the current time: the realized window ends at the receive clock.
T0 = int(time.time() * 1000) - 60_000


@pytest.fixture(autouse=True)
def _fresh_t0() -> None:
    """Live data carries the time of the test, not of the import: a long run would otherwise
    make marks look stale (the engine's clock is the wall clock)."""
    global T0
    T0 = int(time.time() * 1000) - 60_000


def burst(n: int, start: int = 0) -> list[dict[str, object]]:
    """n distinct BTC liquidations as combined-stream envelopes."""
    return [
        envelope(force_order(qty=f"{0.001 * (i + 1):.3f}", avg_price=f"{96000 + i}", t=T0 + i))
        for i in range(start, start + n)
    ]


def kline(closed: bool = True) -> dict[str, object]:
    k = {"t": T0, "T": T0 + 59_999, "s": "BTCUSDT", "i": "1m", "o": "96000", "c": "96100",
         "h": "96200", "l": "95900", "v": "100", "V": "60", "q": "9610000", "Q": "5766000",
         "x": closed}  # fmt: skip
    return envelope({"e": "kline", "E": T0 + 60_000, "s": "BTCUSDT", "k": k}, "btcusdt@kline_1m")


def rest_routes(loop: Loopback) -> None:
    loop.rest("/fapi/v1/openInterest", {"symbol": "BTCUSDT", "openInterest": "81234.5", "time": T0})
    loop.rest(
        "/fapi/v1/depth",
        {"lastUpdateId": 1, "E": T0, "T": T0,
         "bids": [["96000", "10"], ["95500", "20"], ["94000", "50"]],
         "asks": [["96010", "8"], ["96500", "30"], ["99000", "40"]]},
    )  # fmt: skip


def settings_for(loop: Loopback, **feeds: str):  # type: ignore[no-untyped-def]
    endpoint = Endpoint(f"{loop.ws_base}/market", loop.http)
    return loopback_settings({"binance": endpoint}, exchanges=["binance"], **feeds)


async def run_source(source: LiveSource, engine: Engine) -> asyncio.Task[None]:
    return asyncio.create_task(source.run(engine))


def test_plan_subscribes_all_market_liquidations_on_the_market_path() -> None:
    from liqtui.config import Settings

    s = Settings()
    p = plan(["BTC", "ETH"], s.exchanges["binance"], s.feeds)
    (stream,) = p.streams
    assert stream.url.startswith("wss://fstream.binance.com/market/stream?streams=!forceOrder@arr/")
    assert "btcusdt@markPrice@1s" in stream.url and "ethusdt@kline_1m" in stream.url
    assert stream.liquidations_complete is False and stream.max_age_s == 23 * 3600
    assert {q.endpoint for q in p.polls} >= {
        "/fapi/v1/openInterest?symbol=BTCUSDT",
        "/fapi/v1/depth?symbol=ETHUSDT&limit=1000",
    }


async def test_live_feed_fills_the_model() -> None:
    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        assert request.query["streams"].startswith("!forceOrder@arr")
        await send_json(ws, envelope(mark_price(price="96005.5", t=T0), "btcusdt@markPrice@1s"))
        await send_json(ws, kline(closed=False))
        await send_json(ws, kline(closed=True))
        for msg in burst(50):
            await send_json(ws, msg)
        await read_frames(ws, loop)

    async with Loopback() as loop:
        loop.ws("/market/stream", stream)
        rest_routes(loop)
        engine = Engine()
        task = await run_source(LiveSource(settings_for(loop), ["BTC"]), engine)
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 50)
            await wait_until(lambda: "binance" in engine.markets["BTC"].open_interest)
            snap = engine.snapshot("BTC")
            assert snap.price == 96005.5 and snap.price_source == "mark"
            assert snap.open_interest["binance"] == 81234.5
            assert snap.realized_long_usd == pytest.approx(
                sum(0.001 * (i + 1) * (96000 + i) for i in range(50))
            )
            health = {f.name: f for f in snap.feeds}["binance"]
            assert health.state == "connected" and health.liquidations_complete is False
            assert health.skipped == 0 and health.ignored >= 1  # the open kline
        finally:
            await stop(task)


async def test_drop_mid_burst_loses_nothing_and_counts_overlap_once() -> None:
    messages = burst(200)

    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        if loop.ws_connections == 1:
            for msg in messages[:120]:
                await send_json(ws, msg)
            await ws.close()  # dropped in the middle of the burst
            return
        for msg in messages[110:]:  # the new connection overlaps the old one by 10
            await send_json(ws, msg)
        await read_frames(ws, loop)

    async with Loopback() as loop:
        loop.ws("/market/stream", stream)
        rest_routes(loop)
        engine = Engine()
        source = LiveSource(settings_for(loop), ["BTC"])
        task = await run_source(source, engine)
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count >= 200)
            await asyncio.sleep(0.1)
            snap = engine.snapshot("BTC")
            assert snap.realized_count == 200 and snap.duplicates == 10
            assert source.clients[0].connections == 2
            assert engine.feeds["binance"].reconnects == 1
        finally:
            await stop(task)


async def test_malformed_messages_are_counted_and_skipped() -> None:
    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        await ws.send_str('{"stream": "!forceOrder@arr", "data": {"e": "forceOrder", "o": {')
        await ws.send_str("not json")
        await send_json(ws, envelope({"e": "forceOrder", "o": {"s": "BTCUSDT", "S": "SELL"}}))
        await ws.send_bytes(b"\xff\xfe")
        await send_json(ws, burst(1)[0])
        await read_frames(ws, loop)

    async with Loopback() as loop:
        loop.ws("/market/stream", stream)
        rest_routes(loop)
        engine = Engine()
        task = await run_source(LiveSource(settings_for(loop), ["BTC"]), engine)
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 1)
            health = engine.feeds["binance"]
            assert health.skipped == 4 and health.state == "connected"
        finally:
            await stop(task)


async def test_silent_stream_is_reconnected() -> None:
    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        if loop.ws_connections > 1:
            await send_json(ws, burst(1)[0])
        await read_frames(ws, loop)  # the first connection says nothing

    async with Loopback() as loop:
        loop.ws("/market/stream", stream)
        rest_routes(loop)
        engine = Engine()
        settings = settings_for(loop, stale_after="300ms")
        task = await run_source(LiveSource(settings, ["BTC"]), engine)
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 1)
            assert loop.ws_connections == 2
            assert "no data for 0.3 s" in (engine.feeds["binance"].last_error or "")
        finally:
            await stop(task)


async def test_planned_renewal_overlaps_without_a_gap() -> None:
    produced: list[dict[str, object]] = []

    async def produce() -> None:
        for i in range(400):
            produced.append(burst(1, start=i)[0])
            await asyncio.sleep(0.002)

    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        # Like the exchange: every connection gets every message produced while it is open.
        sent = len(produced)
        while not ws.closed:
            while sent < len(produced):
                await send_json(ws, produced[sent])
                sent += 1
            await asyncio.sleep(0.001)

    async with Loopback() as loop:
        loop.ws("/market/stream", stream)
        rest_routes(loop)
        engine = Engine()
        source = LiveSource(settings_for(loop, renew_after="150ms"), ["BTC"])
        task = await run_source(source, engine)
        try:
            await wait_until(lambda: loop.ws_connections == 1)
            await produce()
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 400)
            assert loop.ws_connections >= 3  # renewed several times during the stream
            assert engine.snapshot("BTC").duplicates > 0  # the overlaps, counted once
        finally:
            await stop(task)


async def test_unreachable_exchange_is_down_and_keeps_retrying() -> None:
    async with Loopback() as loop:
        port = loop.port
    settings = loopback_settings(
        {"binance": Endpoint(f"ws://127.0.0.1:{port}/market", f"http://127.0.0.1:{port}")},
        exchanges=["binance"],
    )
    engine = Engine()
    source = LiveSource(settings, ["BTC"])
    task = await run_source(source, engine)
    try:
        await wait_until(lambda: engine.feeds.get("binance") is not None
                         and engine.feeds["binance"].state == "down")  # fmt: skip
        await asyncio.sleep(0.5)
        health = engine.feeds["binance"]
        # the stream's last attempt or a REST poll, whichever failed last: the dead host
        assert f"Cannot connect to host 127.0.0.1:{port}" in (health.last_error or "")
        assert health.failures >= 2  # it keeps retrying (connection attempts, 50-200 ms apart)
        assert source.clients[0].connections == 0
    finally:
        await stop(task)


async def test_rest_429_honours_retry_after_and_html_is_skipped() -> None:
    calls = {"n": 0}

    async def oi(request: web.Request, loop: Loopback) -> web.StreamResponse:
        calls["n"] += 1
        if calls["n"] == 1:
            return web.Response(status=429, headers={"Retry-After": "7"})
        if calls["n"] == 2:
            return web.Response(text="<html>gateway</html>", content_type="text/html")
        if calls["n"] == 3:
            return web.Response(status=503)
        return web.json_response({"symbol": "BTCUSDT", "openInterest": "5", "time": T0})

    async with Loopback() as loop:
        loop.rest("/fapi/v1/openInterest", oi)
        engine = Engine()
        import aiohttp

        async with aiohttp.ClientSession() as session:
            endpoint = "/fapi/v1/openInterest?symbol=BTCUSDT"
            spec = PollSpec(
                "binance", "binance", endpoint, f"{loop.http}{endpoint}", interval_s=1.0
            )
            backoff = Backoff(initial_s=0.5, cap_s=2.0)
            poller = RestPoller(
                spec, Parser(), engine, session, backoff=backoff, rng=random.Random(1)
            )
            assert await poller.poll_once() >= 7.0  # Retry-After wins over the backoff
            assert await poller.poll_once() == 1.0  # HTML: counted as a bad message
            assert engine.feeds["binance"].skipped == 1
            wait = await poller.poll_once()  # 503: backoff
            assert 0 < wait <= 2.0 * 1.3 and "HTTP 503" in (
                engine.feeds["binance"].last_error or ""
            )
            assert await poller.poll_once() == 1.0
            assert engine.markets["BTC"].open_interest["binance"] == 5.0


async def test_acks_and_pongs_alone_do_not_keep_a_stream_alive() -> None:
    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        if loop.ws_connections > 1:
            await send_json(ws, burst(1)[0])
            await read_frames(ws, loop)
            return
        while not ws.closed:  # traffic, but no data
            await send_json(ws, {"result": None, "id": 1})
            await asyncio.sleep(0.05)

    async with Loopback() as loop:
        loop.ws("/market/stream", stream)
        rest_routes(loop)
        engine = Engine()
        task = await run_source(
            LiveSource(settings_for(loop, stale_after="400ms"), ["BTC"]), engine
        )
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 1)
            assert loop.ws_connections == 2 and engine.feeds["binance"].ignored >= 3
        finally:
            await stop(task)


async def test_websocket_pongs_do_not_hide_a_silent_stream() -> None:
    # The server answers protocol pings (aiohttp autoping) but sends no data at all.
    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        await read_frames(ws, loop)

    async with Loopback() as loop:
        loop.ws("/market/stream", stream)
        engine = Engine()
        import aiohttp

        from liqtui.exchanges.spec import StreamSpec
        from liqtui.feeds.stream import StreamClient

        spec = StreamSpec("binance", "binance", f"{loop.ws_base}/market/stream",
                          ping_interval_s=0.05, stale_after_s=0.4)  # fmt: skip
        async with aiohttp.ClientSession() as session:
            client = StreamClient(spec, Parser(), engine, session, backoff=Backoff(0.05, 0.1))
            task = asyncio.create_task(client.run())
            try:
                await wait_until(lambda: loop.ws_connections >= 3, timeout=5)
                assert "no data for 0.4 s" in (engine.feeds["binance"].last_error or "")
            finally:
                await stop(task)


async def test_watching_a_new_market_reconnects_with_its_streams() -> None:
    streams_seen: list[str] = []

    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        streams = request.query["streams"]
        streams_seen.append(streams)
        if "ethusdt@markPrice@1s" in streams:
            await send_json(
                ws, envelope(mark_price("ETHUSDT", "3401.5", T0), "ethusdt@markPrice@1s")
            )
        await send_json(ws, burst(1)[0])
        await read_frames(ws, loop)

    async with Loopback() as loop:
        loop.ws("/market/stream", stream)
        rest_routes(loop)
        engine = Engine()
        source = LiveSource(settings_for(loop), ["BTC"])
        task = await run_source(source, engine)
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 1)
            assert source.watch("ETH") and not source.watch("ETH")
            await wait_until(lambda: engine.snapshot("ETH").price == 3401.5)
            assert "ethusdt" not in streams_seen[0] and "ethusdt@kline_1m" in streams_seen[-1]
            assert engine.snapshot("BTC").realized_count == 1  # the replayed print counted once
        finally:
            await stop(task)
