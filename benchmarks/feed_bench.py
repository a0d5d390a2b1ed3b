"""Feed throughput: liquidation messages parsed, normalized and applied to the model, per second.

Run: python benchmarks/feed_bench.py            (prints a table; loopback only, no exchange host)
     python benchmarks/feed_bench.py --binance 50000 --bybit 10000 --items 10 --no-ccxt

Two bursts, shaped like the exchanges' own messages (tests/support/fake_exchanges.py):
  (i)  Binance `!forceOrder@arr`: N forceOrder combined-stream envelopes, one print each;
  (ii) Bybit `allLiquidation.BTCUSDT`: N batches of K prints each.
Each is measured
  - in process: decode + parser + Engine.apply for every message, no network (one core);
  - end to end: liqtui's StreamClient reading a local WebSocket server that sends the burst as
    fast as it can, into the Engine;
  - and, on the same server and the same messages, ccxt.pro's watch_liquidations (binanceusdm,
    bybit; URLs and markets per feeds.md §1.6), read in a loop the way its docs show, and the same
    loop with newUpdates=False plus a dedupe (the workaround feeds.md §1.5 describes).
The server runs in its own process (the machine's other core); each client runs alone.
Throughput counts from the first to the last message the client handled. "received" is what
reached the caller (liqtui: distinct prints in the model; ccxt: the items watch_liquidations
returned); "lost" is sent − received after a settle period with no progress.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib.util
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("liqtui") is None:  # not installed: the checkout's
    sys.path.insert(0, str(ROOT))

from liqtui.config import Endpoint, Feeds  # noqa: E402
from liqtui.events import MarketEvent  # noqa: E402
from liqtui.exchanges import (  # noqa: E402
    binance,
    bybit,
    make_parsers,
)
from liqtui.feeds.dispatch import deliver  # noqa: E402
from liqtui.feeds.stream import Backoff, StreamClient, decode_frame  # noqa: E402
from liqtui.model.engine import Engine  # noqa: E402

SETTLE_S = 2.0  # no progress for this long after the burst: whatever is missing is lost


# -- the bursts ---------------------------------------------------------------------------------
def binance_burst(n: int, t0: int, seed: int = 1) -> tuple[list[str], list[str]]:
    """(combined-stream envelopes, raw events) of n distinct BTCUSDT forceOrders."""
    rng = random.Random(seed)
    price = 97_000.0
    envelopes, raws = [], []
    for i in range(n):
        price *= 1 + rng.gauss(-2e-5, 3e-4)
        long = rng.random() < 0.8  # a cascade down: mostly longs
        qty = f"{rng.randint(1, 2_000) / 1000:.3f}"
        ap = f"{price:.2f}"
        o = {"s": "BTCUSDT", "S": "SELL" if long else "BUY", "o": "LIMIT", "f": "IOC", "q": qty,
             "p": f"{price * (0.996 if long else 1.004):.2f}", "ap": ap, "X": "FILLED", "l": qty,
             "z": qty, "T": t0 + i}  # fmt: skip
        event = {"e": "forceOrder", "E": t0 + i + 7, "o": o}
        raws.append(json.dumps(event, separators=(",", ":")))
        envelopes.append(
            json.dumps({"stream": "!forceOrder@arr", "data": event}, separators=(",", ":"))
        )
    return envelopes, raws


def bybit_burst(n: int, items: int, t0: int, seed: int = 2) -> list[str]:
    """n allLiquidation.BTCUSDT pushes of `items` distinct prints each."""
    rng = random.Random(seed)
    price = 97_000.0
    out = []
    for b in range(n):
        data = []
        for k in range(items):
            price *= 1 + rng.gauss(-2e-5, 3e-4)
            long = rng.random() < 0.8
            bankruptcy = price * (0.995 if long else 1.005)
            data.append({"T": t0 + b * items + k, "s": "BTCUSDT", "S": "Buy" if long else "Sell",
                         "v": f"{rng.randint(1, 2_000) / 1000:.3f}",
                         "p": f"{bankruptcy:.2f}"})  # fmt: skip
        msg = {"topic": "allLiquidation.BTCUSDT", "type": "snapshot",
               "ts": t0 + (b + 1) * items + 300, "data": data}  # fmt: skip
        out.append(json.dumps(msg, separators=(",", ":")))
    return out


# -- the loopback server (its own process) ------------------------------------------------------
EXCHANGE_INFO = {"timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [],
  "assets": [], "symbols": [{"symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL",
  "deliveryDate": 4133404800000, "onboardDate": 1569398400000, "status": "TRADING",
  "baseAsset": "BTC", "quoteAsset": "USDT", "marginAsset": "USDT", "pricePrecision": 2,
  "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
  "filters": [{"filterType": "PRICE_FILTER", "minPrice": "556.80", "maxPrice": "4529764",
               "tickSize": "0.10"},
              {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
              {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120",
               "stepSize": "0.001"},
              {"filterType": "MIN_NOTIONAL", "notional": "100"}],
  "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC"]}]}  # fmt: skip
BYBIT_INSTRUMENT = {"symbol": "BTCUSDT", "contractType": "LinearPerpetual", "status": "Trading",
  "baseCoin": "BTC", "quoteCoin": "USDT", "launchTime": "1585526400000", "deliveryTime": "0",
  "deliveryFeeRate": "", "priceScale": "2",
  "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
  "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
  "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": "0.001", "qtyStep": "0.001",
                    "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000",
                    "minNotionalValue": "5"},
  "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT",
  "copyTrading": "both", "upperFundingRate": "0.005", "lowerFundingRate": "-0.005"}  # fmt: skip


def _serve(conn: mp.connection.Connection, bursts: dict[str, list[str]], cpu: int | None) -> None:
    """The server process: every WebSocket client gets the whole burst as fast as it takes it."""
    from aiohttp import WSMsgType, web

    if cpu is not None:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, {cpu})

    async def send_all(ws: web.WebSocketResponse, texts: list[str]) -> None:
        for i, text in enumerate(texts):
            await ws.send_str(text)
            if i % 256 == 255:
                await asyncio.sleep(0)

    async def drain(ws: web.WebSocketResponse, on_text: Callable[[str], object] | None) -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                break
            if on_text is not None:
                await on_text(msg.data)  # type: ignore[misc]

    async def binance_stream(request: web.Request) -> web.StreamResponse:  # liqtui: URL streams
        ws = web.WebSocketResponse(max_msg_size=1 << 22)
        await ws.prepare(request)
        sender = asyncio.create_task(send_all(ws, bursts["binance_env"]))
        await drain(ws, None)
        sender.cancel()
        return ws

    async def binance_ws(request: web.Request) -> web.StreamResponse:  # ccxt: SUBSCRIBE frames
        ws = web.WebSocketResponse(max_msg_size=1 << 22)
        await ws.prepare(request)
        tasks: list[asyncio.Task[None]] = []

        async def on_text(text: str) -> None:
            req = json.loads(text)
            await ws.send_str(json.dumps({"result": None, "id": req.get("id")}))
            if req.get("method") == "SUBSCRIBE" and not tasks:
                tasks.append(asyncio.create_task(send_all(ws, bursts["binance_raw"])))

        await drain(ws, on_text)
        for t in tasks:
            t.cancel()
        return ws

    async def bybit_ws(request: web.Request) -> web.StreamResponse:  # both: op subscribe + ack
        ws = web.WebSocketResponse(max_msg_size=1 << 22)
        await ws.prepare(request)
        tasks: list[asyncio.Task[None]] = []

        async def on_text(text: str) -> None:
            req = json.loads(text)
            op = req.get("op")
            ack = {"success": True, "ret_msg": "pong" if op == "ping" else "",
                   "conn_id": "bench", "req_id": req.get("req_id", ""), "op": op}  # fmt: skip
            await ws.send_str(json.dumps(ack))
            if req.get("op") == "subscribe" and not tasks:
                await asyncio.sleep(0.05)  # the rest of the client's subscribe frames
                tasks.append(asyncio.create_task(send_all(ws, bursts["bybit"])))

        await drain(ws, on_text)
        for t in tasks:
            t.cancel()
        return ws

    async def exchange_info(request: web.Request) -> web.StreamResponse:
        return web.json_response(EXCHANGE_INFO)

    async def instruments(request: web.Request) -> web.StreamResponse:
        rows = [] if request.query.get("status") == "PreLaunch" else [BYBIT_INSTRUMENT]
        return web.json_response({"retCode": 0, "retMsg": "OK", "retExtInfo": {},
                                  "result": {"category": "linear", "list": rows,
                                             "nextPageCursor": ""}, "time": 0})  # fmt: skip

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/binance/market/stream", binance_stream)
        app.router.add_get("/binance/market/ws/{n}", binance_ws)
        app.router.add_get("/binance/fapi/v1/exchangeInfo", exchange_info)
        app.router.add_get("/bybit/v5/public/linear", bybit_ws)
        app.router.add_get("/bybit/v5/market/instruments-info", instruments)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        conn.send(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await runner.cleanup()

    asyncio.run(main())


# -- measurements -------------------------------------------------------------------------------
@dataclass
class Result:
    name: str
    messages: int  # messages handled by the client
    seconds: float
    events_sent: int
    events_received: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("nan")

    @property
    def delivered_rate(self) -> float:
        """Events that reached the caller, per second of the same span."""
        return self.events_received / self.seconds if self.seconds > 0 else float("nan")

    @property
    def lost(self) -> int:
        return self.events_sent - self.events_received


class TimedEngine(Engine):
    """The engine, noting when the first and the last event arrived."""

    first: float | None = None
    last: float = 0.0

    def apply(self, event: MarketEvent) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now
        super().apply(event)


def wall_ms() -> int:
    return int(time.time() * 1000)


def in_process(name: str, exchange: str, texts: list[str], events: int) -> Result:
    """What StreamClient does per message, minus the socket: decode, record-less deliver."""
    engine = Engine()
    parser = make_parsers()[exchange]
    health = engine.feed(exchange)
    start = time.perf_counter()
    for text in texts:
        deliver(decode_frame(text), exchange=exchange, parser=parser, sink=engine, health=health,
                receive_ms=wall_ms())  # fmt: skip
    seconds = time.perf_counter() - start
    received = engine.snapshot("BTC").realized_count
    return Result(name, len(texts), seconds, events, received)


async def _settle(progress: Callable[[], int], target: int, limit_s: float = 120.0) -> None:
    """Until `progress()` reaches `target`, or stops moving for SETTLE_S."""
    last, last_change = -1, time.perf_counter()
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        value = progress()
        now = time.perf_counter()
        if value >= target:
            return
        if value != last:
            last, last_change = value, now
        elif now - last_change > SETTLE_S:
            return
        await asyncio.sleep(0.005)


async def liqtui_e2e(name: str, exchange: str, port: int, n_msgs: int, events: int) -> Result:
    import aiohttp

    base = f"127.0.0.1:{port}/{exchange}"
    if exchange == "binance":
        endpoint = Endpoint(f"ws://{base}/market", f"http://{base}")
        (spec,) = binance.plan(["BTC"], endpoint, Feeds()).streams
    else:
        endpoint = Endpoint(f"ws://{base}/v5/public/linear", f"http://{base}")
        (spec,) = bybit.plan(["BTC"], endpoint, Feeds()).streams
    engine = TimedEngine()
    health = engine.feed(exchange)
    async with aiohttp.ClientSession() as session:
        client = StreamClient(spec, make_parsers()[exchange], engine, session,
                              backoff=Backoff(0.05, 0.2))  # fmt: skip
        task = asyncio.create_task(client.run())
        try:
            # health.messages also counts the subscription ack (Bybit)
            await _settle(lambda: health.messages - health.ignored, n_msgs)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    handled = health.messages - health.ignored - health.skipped
    seconds = engine.last - (engine.first or engine.last)
    return Result(name, handled, seconds, events, engine.snapshot("BTC").realized_count)


async def ccxt_e2e(
    name: str, exchange: str, port: int, n_msgs: int, events: int, *, new_updates: bool
) -> Result:
    import ccxt.pro as ccxtpro  # lazily: only this measurement needs ccxt

    base = f"127.0.0.1:{port}/{exchange}"
    if exchange == "binance":
        parent = ccxtpro.binanceusdm
        config = {"urls": {"api": {"fapiPublic": f"http://{base}/fapi/v1",
                                   "fapiData": f"http://{base}/futures/data",
                                   "ws": {"linear": f"ws://{base}/ws"}}}}  # fmt: skip
    else:
        parent = ccxtpro.bybit
        config = {"urls": {"api": {"public": f"http://{base}",
                                   "ws": {"public": {"linear": f"ws://{base}/v5/public/linear"}}}},
                  "options": {"fetchMarkets": {"types": ["linear"]}}}  # fmt: skip
    config["newUpdates"] = new_updates

    class Counting(parent):  # type: ignore[misc, valid-type]
        handled = 0
        first: float | None = None
        last = 0.0

        def handle_liquidation(self, client: object, message: object) -> None:
            now = time.perf_counter()
            if self.first is None:
                self.first = now
            self.last = now
            self.handled += 1
            super().handle_liquidation(client, message)

    ex = Counting(config)
    await ex.load_markets()
    seen: set[tuple[object, ...]] = set()
    received = 0

    async def consume() -> None:
        nonlocal received
        while True:
            batch = await ex.watch_liquidations("BTC/USDT:USDT")
            if new_updates:
                received += len(batch)
            else:  # the whole cache each time: keep what is new
                for liq in batch:
                    key = (liq["timestamp"], liq["side"], liq["contracts"], liq["price"])
                    if key not in seen:
                        seen.add(key)
                received = len(seen)

    consumer = asyncio.create_task(consume())
    try:
        await _settle(lambda: ex.handled, n_msgs)
        await asyncio.sleep(0.05)  # let the consumer take the last resolution
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await consumer
        await ex.close()
    return Result(name, ex.handled, ex.last - (ex.first or ex.last), events, received)


async def raw_receive(name: str, url: str, subscribe: str | None, n_msgs: int) -> Result:
    """The wire: an aiohttp client that only counts text frames (no JSON, no parsing, no
    heartbeat, no timeout per message): the ceiling any client on this loop can reach."""
    import aiohttp

    count, first, last = 0, 0.0, 0.0

    async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal count, first, last
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                return
            last = time.perf_counter()
            if count == 0:
                first = last
            count += 1

    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        if subscribe:
            await ws.send_str(subscribe)
        reader = asyncio.create_task(read(ws))
        await _settle(lambda: count, n_msgs)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    return Result(name, count, last - first, 0, 0)


# -- report -------------------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import aiohttp

    try:
        import ccxt

        ccxt_version = ccxt.__version__
    except ImportError:
        ccxt_version = "not installed"
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu}), "
            f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
            f"ccxt {ccxt_version}")  # fmt: skip


def _span(values: list[float], fmt: str = ",.0f") -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if lo == hi else f"{lo:{fmt}}–{hi:{fmt}}"


def table(title: str, rows: list[list[Result]]) -> dict[str, float]:
    """One line per measurement: the median rate of its runs and the range; returns medians."""
    print(f"\n{title}")
    print(f"  {'':44} {'msgs/s median':>13} {'(range)':>17} {'events/s':>9} {'sent':>8} "
          f"{'received':>15} {'lost':>15}")  # fmt: skip
    medians: dict[str, float] = {}
    for runs in rows:
        name = runs[0].name
        rates = [r.rate for r in runs]
        medians[name] = statistics.median(rates)
        medians[name + " events"] = statistics.median(r.delivered_rate for r in runs)
        if runs[0].events_sent:
            figures = (
                f"{medians[name + ' events']:9,.0f} {runs[0].events_sent:8,} "
                f"{_span([r.events_received for r in runs]):>15} "
                f"{_span([r.lost for r in runs]):>15}"
            )
        else:
            figures = f"{'-':>9} {'-':>8} {'-':>15} {'-':>15}"
        print(f"  {name:44} {medians[name]:13,.0f} {'(' + _span(rates) + ')':>17} {figures}")
    e2e = next(
        (n for n in medians if n.startswith("liqtui StreamClient") and "events" not in n), None
    )
    for ref in [n for n in medians if n.startswith("ccxt") and not n.endswith(" events")]:
        if e2e is None:
            break
        ref_events = medians[ref + " events"]
        events = medians[e2e + " events"] / ref_events if ref_events else float("inf")
        print(f"  liqtui end to end ÷ {ref}: {medians[e2e] / medians[ref]:.1f}× messages/s, "
              f"{events:,.1f}× events delivered/s")  # fmt: skip
    return medians


async def measure_network(
    args: argparse.Namespace, port: int, sizes: dict[str, tuple[int, int]]
) -> dict[str, list[list[Result]]]:
    """Each client alone against the server, one after the other, on the same bursts; the
    clients take turns, `args.repeat` rounds, so a noisy neighbour hits them all alike."""
    out: dict[str, list[list[Result]]] = {}
    for exchange in ("binance", "bybit"):
        n_msgs, events = sizes[exchange]
        if exchange == "binance":
            url, sub, extra = f"ws://127.0.0.1:{port}/binance/market/stream", None, 0
        else:
            url = f"ws://127.0.0.1:{port}/bybit/v5/public/linear"
            sub = json.dumps({"op": "subscribe", "req_id": "1", "args": ["allLiquidation.BTCUSDT"]})
            extra = 1  # the subscription ack
        clients: list[Callable[[], Awaitable[Result]]] = [
            partial(raw_receive, "wire: aiohttp receive only (no parsing)", url, sub,
                    n_msgs + extra),
            partial(liqtui_e2e, "liqtui StreamClient → Engine (loopback WS)", exchange, port,
                    n_msgs, events),
        ]  # fmt: skip
        if not args.no_ccxt:
            clients += [
                partial(ccxt_e2e, "ccxt.pro watch_liquidations (default)", exchange, port,
                        n_msgs, events, new_updates=True),
                partial(ccxt_e2e, "ccxt.pro newUpdates=False + dedupe", exchange, port,
                        n_msgs, events, new_updates=False),
            ]  # fmt: skip
        rows: list[list[Result]] = [[] for _ in clients]
        for _ in range(args.repeat):
            for row, client in zip(rows, clients, strict=True):
                row.append(await client())
        out[exchange] = rows
    return out


def _as_data(runs: list[Result]) -> list[dict[str, object]]:
    return [{**dataclasses.asdict(r), "rate": r.rate, "delivered_rate": r.delivered_rate,
             "lost": r.lost} for r in runs]  # fmt: skip


def measure(
    *,
    binance: int = 50_000,
    bybit: int = 10_000,
    items: int = 10,
    ccxt: bool = True,
    repeat: int = 3,
    pin: bool = True,
) -> dict[str, object]:
    """Every measurement as data: {"binance"|"bybit": {row name: [one dict per run: messages,
    seconds, events_sent, events_received, rate, delivered_rate, lost]}, "pinned": bool,
    "results": the Result lists}. Rows: in process, wire, liqtui StreamClient end to end and
    (with `ccxt`) both ccxt loops. The process's CPU affinity is restored afterwards."""
    args = argparse.Namespace(binance=binance, bybit=bybit, items=items, no_ccxt=not ccxt,
                              repeat=repeat)  # fmt: skip
    pin = pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    affinity = os.sched_getaffinity(0) if pin else None
    try:
        if pin:
            os.sched_setaffinity(0, {0})
        inproc, network = _run(args, pin)
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
    out: dict[str, object] = {"pinned": pin, "items": items}
    results = {ex: [inproc[ex], *network[ex]] for ex in ("binance", "bybit")}
    for exchange, rows in results.items():
        out[exchange] = {runs[0].name: _as_data(runs) for runs in rows}
    out["results"] = results
    return out


def _run(
    args: argparse.Namespace, pin: bool
) -> tuple[dict[str, list[Result]], dict[str, list[list[Result]]]]:
    t0 = wall_ms() - 600_000  # prints in the last ten minutes: inside the realized window
    binance_env, binance_raw = binance_burst(args.binance, t0)
    bybit_msgs = bybit_burst(args.bybit, args.items, t0)
    sizes = {
        "binance": (args.binance, args.binance),
        "bybit": (args.bybit, args.bybit * args.items),
    }
    label = "liqtui in process (decode+parse+apply)"
    inproc = {
        "binance": [in_process(label, "binance", binance_env, args.binance)
                    for _ in range(args.repeat)],
        "bybit": [in_process(label, "bybit", bybit_msgs, args.bybit * args.items)
                  for _ in range(args.repeat)],
    }  # fmt: skip

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    bursts = {"binance_env": binance_env, "binance_raw": binance_raw, "bybit": bybit_msgs}
    server = ctx.Process(target=_serve, args=(child, bursts, 1 if pin else None), daemon=True)
    server.start()
    try:
        port = parent.recv()
        network = asyncio.run(measure_network(args, port, sizes))
    finally:
        parent.send("stop")
        server.join(10)
        if server.is_alive():
            server.terminate()
    return inproc, network


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binance", type=int, default=50_000, help="forceOrder messages (50000)")
    p.add_argument("--bybit", type=int, default=10_000, help="allLiquidation messages (10000)")
    p.add_argument("--items", type=int, default=10, help="prints per Bybit message (10)")
    p.add_argument("--no-ccxt", action="store_true", help="skip the ccxt comparison")
    p.add_argument("--repeat", type=int, default=3, help="rounds of every measurement (3)")
    p.add_argument("--no-pin", action="store_true", help="do not pin client and server to CPUs")
    args = p.parse_args()

    print(f"liqtui feed benchmark — {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print(f"machine: {machine()}")
    print(f"bursts: Binance {args.binance:,} forceOrder messages; Bybit {args.bybit:,} "
          f"allLiquidation messages × {args.items} prints", flush=True)  # fmt: skip
    data = measure(binance=args.binance, bybit=args.bybit, items=args.items,
                   ccxt=not args.no_ccxt, repeat=args.repeat, pin=not args.no_pin)  # fmt: skip
    print("client pinned to CPU 0, server process to CPU 1" if data["pinned"] else "not pinned")
    results: dict[str, list[list[Result]]] = data["results"]  # type: ignore[assignment]
    for exchange, title in (
        ("binance", f"(i) Binance !forceOrder@arr, {args.binance:,} messages (1 print each)"),
        ("bybit", f"(ii) Bybit allLiquidation, {args.bybit:,} messages × {args.items} prints"),
    ):
        table(title, results[exchange])
    print(
        f"\n{args.repeat} run(s) of each. msgs/s: messages the client handled ÷ the time from its"
    )
    print("first to its last one (median, range);")
    print("events/s: prints that reached the caller (liqtui: distinct prints in the model; ccxt:")
    print("items watch_liquidations returned) ÷ the same time (median); lost: sent − received.")


if __name__ == "__main__":
    main()
